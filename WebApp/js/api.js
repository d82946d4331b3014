// Calls to Orthanc's REST API, by relative URLs only: the page lives at
// <orthanc>/anonymizer/app/, so Orthanc's root is "../../" (which keeps
// working when Orthanc sits behind a reverse proxy at a sub-path).

const ROOT = '../../';

export function url(path) {
  return ROOT + path.replace(/^\/+/, '');
}

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details || '';
  }
}

// A message a person can act on, from the plugin's {"Error", "Details"}
// or Orthanc's own {"Message", "Details"} answers.
function errorFrom(status, statusText, body) {
  let message = '';
  let details = '';
  if (body && typeof body === 'object') {
    message = body.Error || body.Message || '';
    details = body.Details || '';
  }
  if (!message) {
    message = status ? 'HTTP ' + status + (statusText ? ' ' + statusText : '')
      : 'Orthanc could not be reached';
  }
  return new ApiError(status, message, details);
}

export function describe(error) {
  if (error instanceof ApiError) {
    const text = error.details && error.details !== error.message
      ? error.message + ': ' + error.details : error.message;
    return text + (error.status ? ' (HTTP ' + error.status + ')' : '');
  }
  return (error && error.message) || String(error);
}

export async function request(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path), options);
  } catch (e) {
    throw new ApiError(0, 'Orthanc could not be reached', e.message);
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch (e) {
      json = null;
    }
  }
  if (!response.ok) {
    throw errorFrom(response.status, response.statusText, json);
  }
  return json;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body === undefined ? {} : body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

export function enc(value) {
  return encodeURIComponent(String(value));
}

// What to do about an error, in words (the empty string when the error's
// own message says it all).
export function advice(error) {
  if (!(error instanceof ApiError)) {
    return '';
  }
  if (error.status === 0 || error.status === 502 && !/Remote target/.test(
    error.message) || error.status === 503 || error.status === 504) {
    return 'Orthanc cannot be reached: check that it is running and that ' +
      'this computer can reach it (network, proxy), then try again.';
  }
  if (error.status === 401 || error.status === 403) {
    return 'Orthanc refused your user this request: ask its administrator ' +
      'for the right, or log in as another user.';
  }
  if (/refused the credentials/.test(error.message)) {
    return 'The destination refused the user name, password or key: ' +
      'correct them in Setup, Destinations (type the password again), ' +
      'then test the connection.';
  }
  if (error.status === 502) {
    return 'The destination could not be reached or failed: check its ' +
      'address and that its server is running, then test the connection ' +
      'in Setup, Destinations.';
  }
  return '';
}

// describe() and advice() together.
export function explain(error) {
  const what = advice(error);
  return describe(error) + (what ? '. ' + what : '');
}
