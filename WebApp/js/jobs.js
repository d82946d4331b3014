// A job's card: a progress bar that follows GET /jobs/{id} until the job
// ends, then what it did, or why it failed, in words.

import { ApiError, describe, enc, get, post, url } from './api.js';
import { clear, formatBytes, formatDateTime, h, plural } from './dom.js';
import { cleanedPreviews } from './previews.js';
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
  // "12 of 40 instances · 3.1 per second · about 9 s left"
  const counts = h('p', { class: 'job-counts', 'aria-live': 'off' });
  // failures while the job runs, one click away
  const running = h('div', { class: 'job-running' });
  const result = h('div', { class: 'job-result' });
  const cancel = h('button', { type: 'button', class: 'small', text: 'Cancel' });
  const dismiss = h('button', { type: 'button', class: 'small', text: 'Remove',
                                hidden: true });
  const card = h('li', { class: 'job', dataset: { job: record.ID,
                                                  kind: record.Kind } },
    h('div', { class: 'job-head' },
      h('strong', { class: 'job-title', text: record.Title }),
      record.Stored === false ? h('span', { class: 'badge not-stored',
        text: 'Nothing stored in Orthanc' }) : null,
      h('span', { class: 'job-time', text: formatDateTime(record.Started) })),
    h('div', { class: 'job-progress' }, progress, percent, state, cancel,
      dismiss),
    counts, running, result);
  container.insertBefore(card, container.firstChild);

  let finished = false;
  let first = null;           // {t, done}: the first progress seen
  let shownFailed = -1;
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
    state.textContent = job.State === 'Failure' && cancelled(job)
      ? 'Cancelled' : STATE_WORDS[job.State] || job.State;
    card.dataset.state = job.State;
    const c = job.Content || {};
    const total = Number(c.InstancesTotal) || 0;
    const done = Number(c.InstancesDone) || 0;
    if (total > 0) {
      const now = Date.now();
      if (!first || done < first.done) {
        first = { t: now, done };
      }
      const parts = [done + ' of ' + plural(total, 'instance')];
      const seconds = (now - first.t) / 1000;
      if (!ENDED.has(job.State) && seconds >= 1 && done > first.done) {
        const rate = (done - first.done) / seconds;
        parts.push((rate >= 10 ? Math.round(rate) : rate.toFixed(1)) +
                   ' per second');
        parts.push('about ' + duration((total - done) / rate) + ' left');
      } else if (!ENDED.has(job.State) && done < total) {
        parts.push('measuring the rate…');
      } else if (ENDED.has(job.State) && job.EffectiveRuntime > 0 && done) {
        parts.push('in ' + duration(job.EffectiveRuntime) + ' (' +
          (done / job.EffectiveRuntime).toFixed(1) + ' per second)');
      }
      counts.textContent = parts.join(' · ');
      counts.dataset.done = String(done);
      counts.dataset.total = String(total);
    }
    const failedNow = Number(c.FailedCount) ||
      (Array.isArray(c.Failed) ? c.Failed.length : 0);
    if (!ENDED.has(job.State) && failedNow !== shownFailed) {
      shownFailed = failedNow;
      clear(running);
      const box = failuresBox(c);
      if (box) {
        running.appendChild(box);
      }
    }
    if (ENDED.has(job.State)) {
      clear(running);
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
      describeJob(job, result, record);
    }
    if (onDone) {
      onDone(job, card);
    }
  }

  poll();
  return card;
}

// 75 -> "1 min 15 s"
function duration(seconds) {
  const exact = Math.max(0, Number(seconds) || 0);
  if (exact < 10) {
    return (exact < 1 ? exact.toFixed(1) : Math.round(exact)) + ' s';
  }
  const s = Math.round(exact);
  if (s < 60) {
    return s + ' s';
  }
  if (s < 3600) {
    return Math.floor(s / 60) + ' min' + (s % 60 ? ' ' + s % 60 + ' s' : '');
  }
  return Math.floor(s / 3600) + ' h ' + Math.round(s % 3600 / 60) + ' min';
}

// What to do after a job failed entirely, from its reason.
function failureAdvice(job, text) {
  if (/cancel/i.test(text)) {
    return '';
  }
  if (/refused the credentials|authenticat|password|login|log-in/i.test(text)) {
    return 'The destination refused the user name, password or key: ' +
      'correct them in Setup, Destinations (type the password again), ' +
      'test the connection, then export again.';
  }
  if (/unreachable|connect|resolve|timed? ?out|timeout/i.test(text)) {
    return 'The destination could not be reached: check its address and ' +
      'that its server is running (Setup, Destinations has a test), then ' +
      'export again.';
  }
  if (job.Type === 'Anonymization') {
    return 'Nothing of this job is kept in Orthanc. Correct what the reason ' +
      'names (the profile, the configuration, the disk), then press ' +
      'Anonymize again; Orthanc\'s log has the details.';
  }
  return 'Correct what the reason names, then export again; Orthanc\'s log ' +
    'has the details.';
}

// The failed instances and why, one click away (a <details>).
function failuresBox(content) {
  const failed = Array.isArray(content.Failed) ? content.Failed : [];
  if (!failed.length) {
    return null;
  }
  const count = Number(content.FailedCount) || failed.length;
  const list = h('ul', { class: 'failures' });
  for (const f of failed.slice(0, 50)) {
    list.appendChild(h('li', null,
      h('span', { class: 'mono', text: String(f.Instance || '') }), ': ',
      String(f.Error || 'failed')));
  }
  if (failed.length > 50 || count > failed.length) {
    list.appendChild(h('li', { text: 'and ' + (count - Math.min(50,
      failed.length)) + ' more' }));
  }
  return h('details', { class: 'failures-box' },
    h('summary', { text: plural(count, 'instance') + ' failed: why' }), list);
}

function cancelled(job) {
  return job.ErrorCode === 14 || /cancel/i.test(job.ErrorDescription || '');
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
  if (cancelled(job)) {
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

// Whether the job anonymized on the way out (its content says
// "Stored": false; the page's record says so before the first poll).
function wayOut(job, record) {
  const content = (job && job.Content) || {};
  return content.Stored === false || (!!record && record.Stored === false);
}

// Where an export's files went, in words: " into 1 ZIP archive kept on
// the server: download below", " to <Location>", " to <the target>".
function whereTo(content, record) {
  const archives = Array.isArray(content.Archives) ? content.Archives : [];
  const target = record && (record.Target ||
    (/ to (.*)$/.exec(record.Title || '') || [])[1]);
  if (archives.length) {
    return ' into ' + plural(archives.length, 'ZIP archive') +
      ' kept on the server: download below';
  }
  if (content.Location) {
    return ' to ' + content.Location;
  }
  return target ? ' to ' + target : '';
}

// The download links of a ZIP export's archives (null when none).
function downloads(content) {
  const archives = Array.isArray(content.Archives) ? content.Archives : [];
  if (!archives.length) {
    return null;
  }
  return h('p', { class: 'downloads' }, archives.map((a) =>
    h('a', { class: 'button primary download', href: url(String(a.Path)),
             download: String(a.Name || 'archive.zip'),
             text: 'Download ' + (a.Name || 'archive.zip') +
               (a.Size ? ' (' + formatBytes(a.Size) + ')' : '') })));
}

// An anonymization on the way out that ended: what was sent where, and
// that nothing was stored in Orthanc.
function describeWayOut(job, into, record) {
  const content = job.Content || {};
  const studies = Array.isArray(content.Studies) ? content.Studies : [];
  const failedCount = Number(content.FailedCount) ||
    (Array.isArray(content.Failed) ? content.Failed.length : 0);
  let dropped = 0;
  let sent = 0;
  let counted = false;
  for (const s of studies) {
    dropped += Number(s.Dropped) || 0;
    if (Number.isFinite(Number(s.Instances))) {
      sent += Number(s.Instances);
      counted = true;
    }
  }
  if (!counted) {
    sent = Math.max(0, (Number(content.InstancesDone) || 0) - dropped -
                    failedCount);
  }
  if (job.State === 'Failure') {
    const text = failureText(job);
    // The advice of an anonymization, said for this button (the line
    // below says that nothing was stored).
    const todo = failureAdvice(job, text)
      .replace('Nothing of this job is kept in Orthanc. ', '')
      .replace(/press Anonymize again|export again/,
               'press Anonymize and send again');
    into.appendChild(h('p', { class: 'message error failed-whole' },
      h('strong', { text: cancelled(job) ? 'Cancelled.' : 'Failed: ' }),
      cancelled(job) ? '' : text,
      todo ? h('span', { class: 'todo', text: ' ' + todo }) : null));
    const done = Number(content.InstancesDone) || 0;
    const kind = content.Target && content.Target.Type;
    // A modality or a peer keeps the instances it received (a ZIP, a
    // folder or a destination's upload is never left half-written under
    // its final name).
    const partial = done > 0 && (kind === 'dicom' || kind === 'peer');
    into.appendChild(h('p', { class: 'message info not-stored',
      text: 'Nothing was stored in Orthanc.' + (partial
        ? ' The instances sent before the job stopped (' + done + ' of ' +
          (Number(content.InstancesTotal) || done) + ' done) may be at ' +
          (record && record.Target ? record.Target : 'the target') + '.'
        : '') }));
  } else {
    into.appendChild(h('p', { class: 'message ' + (failedCount ? 'warn' : 'ok'),
      text: 'Done: ' + plural(studies.length, 'study', 'studies') + ', ' +
        plural(sent, 'instance') + ' anonymized and sent' +
        (content.Bytes ? ' (' + formatBytes(content.Bytes) + ')' : '') +
        (dropped ? ', ' + dropped + ' dropped by the profile' : '') +
        (failedCount ? ', ' + failedCount + ' failed (not sent)' : '') +
        '.' }));
    into.appendChild(h('p', { class: 'where not-stored' },
      h('strong', { text: 'Nothing was stored in Orthanc' }),
      ': the anonymized files went' + whereTo(content, record) + '. ' +
      'The key back to the originals is the report on the Reports tab.'));
    const links = downloads(content);
    if (links) {
      into.appendChild(links);
    }
  }
  const pixels = pixelsLine(content);
  if (pixels) {
    into.appendChild(pixels);
  }
  const cleaned = cleanedBox(content);
  if (cleaned) {
    into.appendChild(cleaned);
  }
  const previews = job.State === 'Success'
    ? cleanedPreviews(content.CleanedImages, true) : null;
  if (previews) {
    into.appendChild(previews);
  }
  const box = failuresBox(content);
  if (box) {
    into.appendChild(box);
  }
}

function describeJob(job, into, record) {
  const content = job.Content || {};
  if (job.Type === 'Anonymization' && wayOut(job, record)) {
    describeWayOut(job, into, record);
    return;
  }
  if (job.State === 'Failure') {
    const text = failureText(job);
    into.appendChild(h('p', { class: 'message error failed-whole' },
      h('strong', { text: 'Failed: ' }), text,
      failureAdvice(job, text) ? h('span', { class: 'todo',
        text: ' ' + failureAdvice(job, text) }) : null));
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
    // Where the data went: new studies in this Orthanc.
    const made = studies.filter((s) => s.Anonymized);
    if (made.length) {
      into.appendChild(h('p', { class: 'where' },
        'Stored in this Orthanc as ' + plural(made.length, 'new study',
                                              'new studies') + ': ',
        made.slice(0, 10).map((s, i) => [i ? ', ' : '',
          h('a', { href: url('app/explorer.html#study?uuid=' +
                             encodeURIComponent(s.Anonymized)),
                   class: 'study-link', text: String(s.Anonymized).slice(0, 8) +
                     '…', title: 'Open in Orthanc Explorer' })]),
        made.length > 10 ? ' and ' + (made.length - 10) + ' more' : '',
        content.ExportJob ? '; sent on by the export job ' +
          content.ExportJob : '', '. The key back to the originals is ' +
          'the report on the Reports tab.'));
    }
    const pixels = pixelsLine(content);
    if (pixels) {
      into.appendChild(pixels);
    }
    const cleaned = cleanedBox(content);
    if (cleaned) {
      into.appendChild(cleaned);
    }
    const previews = cleanedPreviews(content.CleanedImages);
    if (previews) {
      into.appendChild(previews);
    }
    const empty = studies.filter((s) => !s.Anonymized).length;
    if (empty) {
      into.appendChild(h('p', { class: 'message warn',
        text: plural(empty, 'study', 'studies') + ' gave nothing to store ' +
          '(every instance was dropped by the profile or failed).' }));
    }
  } else if (job.Type === 'Export') {
    const done = Number(content.InstancesDone) || 0;
    into.appendChild(h('p', { class: 'message ok where',
      text: 'Done: ' + plural(done, 'instance') + ' exported' +
        (content.Bytes ? ' (' + formatBytes(content.Bytes) + ')' : '') +
        whereTo(content, record) + '.' }));
    const links = downloads(content);
    if (links) {
      into.appendChild(links);
    }
  }
  const box = failuresBox(content);
  if (box) {
    into.appendChild(box);
  }
}
