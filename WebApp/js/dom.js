// DOM helpers.  Every value that comes from DICOM or from the server is
// put into the page as text (textContent, text nodes, attribute values),
// never parsed as HTML: a patient name holding "<script>" stays text.

// h('tr', {class: 'x', dataset: {id: 1}, on: {click: f}}, child, 'text', ...)
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) {
        continue;
      }
      if (key === 'class') {
        node.className = value;
      } else if (key === 'text') {
        node.textContent = String(value);
      } else if (key === 'dataset') {
        Object.assign(node.dataset, value);
      } else if (key === 'on') {
        for (const [event, handler] of Object.entries(value)) {
          node.addEventListener(event, handler);
        }
      } else if (key === 'value' || key === 'checked' || key === 'disabled' ||
                 key === 'hidden' || key === 'selected') {
        node[key] = value;
      } else {
        node.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    if (Array.isArray(child)) {
      append(node, child);
    } else if (child instanceof Node) {
      node.appendChild(child);
    } else {
      node.appendChild(document.createTextNode(String(child)));
    }
  }
}

export function clear(node) {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

// A status line: kind is '', 'ok', 'error' or 'busy'.
export function setStatus(node, text, kind) {
  node.textContent = text || '';
  node.className = 'status' + (kind ? ' ' + kind : '');
}

// "20240105" -> "2024-01-05"; anything else as it is.
export function formatDate(value) {
  const s = String(value || '');
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(s);
  return m ? m[1] + '-' + m[2] + '-' + m[3] : s;
}

// "20261126T101500" (or with fractions) -> "2026-11-26 10:15:00".
export function formatDateTime(value) {
  const s = String(value || '');
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})/.exec(s);
  return m ? m[1] + '-' + m[2] + '-' + m[3] + ' ' + m[4] + ':' + m[5] + ':' +
    m[6] : s;
}

export function formatBytes(n) {
  const v = Number(n) || 0;
  if (v < 1024) {
    return v + ' B';
  }
  const units = ['KB', 'MB', 'GB', 'TB'];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return x.toFixed(x < 10 ? 1 : 0) + ' ' + units[i];
}

export function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : (many || one + 's'));
}

// Tell the other parts of the page that something changed.
export function emit(name, detail) {
  document.dispatchEvent(new CustomEvent('oa:' + name, { detail }));
}

export function on(name, handler) {
  document.addEventListener('oa:' + name, (e) => handler(e.detail));
}
