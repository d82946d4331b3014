// A job's card: a progress bar that follows GET /jobs/{id} until the job
// ends, then what it did, or why it failed, in words.

import { ApiError, describe, enc, get, post, url } from './api.js';
import { formatBytes, formatDateTime, h, plural } from './dom.js';
import { forgetJob } from './storage.js';

const POLL_MS = 600;
const ENDED = new Set(['Success', 'Failure']);
const STATE_WORDS = {
  Pending: 'Waiting to start',
  Running: 'Running',
  Paused: 'Paused',
  Retry: 'Retrying',
  Success: 'Finished',
  Failure: 'Failed',
};

// Adds a card for `record` ({ID, Kind, Title, Started}) to `container`
// (newest first) and follows the job; `onDone(job)` is called once when
// the job ended (job is null if Orthanc no longer knows it).
export function showJob(container, record, onDone) {
  const progress = h('progress', { max: 100, value: 0,
                                   'aria-label': record.Title + ': progress' });
  const percent = h('span', { class: 'percent', text: '0 %' });
  const state = h('span', { class: 'state', text: 'Starting' });
  const result = h('div', { class: 'job-result' });
  const cancel = h('button', { type: 'button', class: 'small', text: 'Cancel' });
  const dismiss = h('button', { type: 'button', class: 'small', text: 'Remove',
                                hidden: true });
  const card = h('li', { class: 'job', dataset: { job: record.ID,
                                                  kind: record.Kind } },
    h('div', { class: 'job-head' },
      h('strong', { class: 'job-title', text: record.Title }),
      h('span', { class: 'job-time', text: formatDateTime(record.Started) })),
    h('div', { class: 'job-progress' }, progress, percent, state, cancel,
      dismiss),
    result);
  container.insertBefore(card, container.firstChild);

  let finished = false;
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      await post('jobs/' + enc(record.ID) + '/cancel', {});
    } catch (e) {
      state.textContent = 'Could not cancel: ' + describe(e);
      cancel.disabled = false;
    }
  });
  dismiss.addEventListener('click', () => {
    forgetJob(record.ID);
    const next = card.nextElementSibling || card.previousElementSibling;
    card.remove();
    container.dispatchEvent(new CustomEvent('jobs-changed'));
    if (next) {
      const button = next.querySelector('button');
      if (button) {
        button.focus();
      }
    }
  });

  async function poll() {
    let job;
    try {
      job = await get('jobs/' + enc(record.ID));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        end(null, 'Orthanc no longer knows this job (it was restarted, ' +
            'or the job is too old).');
        return;
      }
      state.textContent = 'Orthanc does not answer: ' + describe(e) +
        '; trying again';
      setTimeout(poll, POLL_MS * 4);
      return;
    }
    const value = job.State === 'Success' ? 100 : Number(job.Progress) || 0;
    progress.value = value;
    percent.textContent = value + ' %';
    state.textContent = STATE_WORDS[job.State] || job.State;
    card.dataset.state = job.State;
    if (ENDED.has(job.State)) {
      end(job);
    } else {
      setTimeout(poll, POLL_MS);
    }
  }

  function end(job, message) {
    if (finished) {
      return;
    }
    finished = true;
    cancel.hidden = true;
    dismiss.hidden = false;
    if (!job) {
      card.dataset.state = 'Unknown';
      state.textContent = 'Unknown';
      result.appendChild(h('p', { class: 'message error', text: message }));
    } else {
      describeJob(job, result);
    }
    if (onDone) {
      onDone(job, card);
    }
  }

  poll();
  return card;
}

function failureText(job) {
  const content = job.Content || {};
  const parts = [];
  if (content.Error) {
    parts.push(String(content.Error));
  }
  if (job.ErrorDetails && !parts.includes(job.ErrorDetails)) {
    parts.push(String(job.ErrorDetails));
  }
  if (job.ErrorDescription && job.ErrorDescription !== 'Success' &&
      parts.length === 0) {
    parts.push(String(job.ErrorDescription));
  }
  if (job.ErrorCode === 14 || /cancel/i.test(job.ErrorDescription || '')) {
    return 'Cancelled.';
  }
  return parts.join(' — ') || 'The job failed.';
}

// "2 images cleaned, 1 refused (burned-in text)." when either is not 0.
function pixelsLine(content) {
  const cleaned = Number(content.PixelsCleaned) || 0;
  const refused = Number(content.PixelsRefused) || 0;
  if (!cleaned && !refused) {
    return null;
  }
  return h('p', { class: 'message pixels ' + (refused ? 'warn' : 'info'),
    text: plural(cleaned, 'image') + ' cleaned, ' + refused + ' refused ' +
      '(burned-in text).' });
}

// What was blanked in each cleaned image: its regions and their rule.
function cleanedBox(content) {
  const images = Array.isArray(content.CleanedImages)
    ? content.CleanedImages : [];
  if (!images.length) {
    return null;
  }
  const list = h('ul', { class: 'cleaned' });
  for (const c of images.slice(0, 50)) {
    const boxes = Array.isArray(c.Boxes) ? c.Boxes : [];
    const blanked = boxes.filter((b) => !b.Keep);
    const kept = boxes.filter((b) => b.Keep);
    const labels = (bs) => Array.from(new Set(bs.map(
      (b) => String(b.Label || 'OCR')))).join(', ');
    const parts = [plural(blanked.length || Number(c.BoxCount) || 0,
                          'region') + ' blanked' +
                   (blanked.length ? ' (' + labels(blanked) + ')' : '')];
    if (kept.length) {
      parts.push(plural(kept.length, 'region') + ' kept (' + labels(kept) +
                 ')');
    }
    if (Number(c.OcrWords)) {
      parts.push(plural(Number(c.OcrWords), 'word') + ' found by OCR');
    }
    list.appendChild(h('li', null,
      h('span', { class: 'mono', text: String(c.Instance || '') }), ': ',
      parts.join('; ')));
  }
  if (images.length > 50) {
    list.appendChild(h('li', { text: 'and ' + (images.length - 50) +
                               ' more' }));
  }
  return h('details', { class: 'cleaned-box' },
    h('summary', { text: 'Images cleaned, and what was blanked' }), list);
}

function describeJob(job, into) {
  const content = job.Content || {};
  if (job.State === 'Failure') {
    into.appendChild(h('p', { class: 'message error',
                              text: 'Failed: ' + failureText(job) }));
    const pixels = job.Type === 'Anonymization' ? pixelsLine(content) : null;
    if (pixels) {
      into.appendChild(pixels);
    }
  } else if (job.Type === 'Anonymization') {
    const studies = Array.isArray(content.Studies) ? content.Studies : [];
    let stored = 0;
    let dropped = 0;
    for (const s of studies) {
      stored += Number(s.Instances) || 0;
      dropped += Number(s.Dropped) || 0;
    }
    const failedCount = Number(content.FailedCount) ||
      (Array.isArray(content.Failed) ? content.Failed.length : 0);
    into.appendChild(h('p', { class: 'message ' + (failedCount ? 'warn' : 'ok'),
      text: 'Done: ' + plural(studies.length, 'study', 'studies') +
        ', ' + plural(stored, 'instance') + ' stored' +
        (dropped ? ', ' + dropped + ' dropped by the profile' : '') +
        (failedCount ? ', ' + failedCount + ' failed' : '') + '.' }));
    const pixels = pixelsLine(content);
    if (pixels) {
      into.appendChild(pixels);
    }
    const cleaned = cleanedBox(content);
    if (cleaned) {
      into.appendChild(cleaned);
    }
    const empty = studies.filter((s) => !s.Anonymized).length;
    if (empty) {
      into.appendChild(h('p', { class: 'message warn',
        text: plural(empty, 'study', 'studies') + ' gave nothing to store ' +
          '(every instance was dropped by the profile or failed).' }));
    }
  } else if (job.Type === 'Export') {
    const archives = Array.isArray(content.Archives) ? content.Archives : [];
    const done = Number(content.InstancesDone) || 0;
    into.appendChild(h('p', { class: 'message ok',
      text: 'Done: ' + plural(done, 'instance') + ' exported' +
        (content.Bytes ? ' (' + formatBytes(content.Bytes) + ')' : '') +
        (content.Location && archives.length === 0
          ? ' to ' + content.Location : '') + '.' }));
    if (archives.length) {
      into.appendChild(h('p', { class: 'downloads' }, archives.map((a) =>
        h('a', { class: 'button primary download', href: url(String(a.Path)),
                 download: String(a.Name || 'archive.zip'),
                 text: 'Download ' + (a.Name || 'archive.zip') +
                   (a.Size ? ' (' + formatBytes(a.Size) + ')' : '') }))));
    }
  }
  const failed = Array.isArray(content.Failed) ? content.Failed : [];
  if (failed.length) {
    const list = h('ul', { class: 'failures' });
    for (const f of failed.slice(0, 50)) {
      list.appendChild(h('li', null,
        h('span', { class: 'mono', text: String(f.Instance || '') }), ': ',
        String(f.Error || 'failed')));
    }
    if (failed.length > 50) {
      list.appendChild(h('li', { text: 'and ' + (failed.length - 50) +
                                 ' more' }));
    }
    into.appendChild(h('details', { class: 'failures-box' },
      h('summary', { text: 'Instances that failed, and why' }), list));
  }
}
