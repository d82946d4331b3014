// The audit trail in the Reports tab (GET /anonymizer/audit): who took
// which studies out, when and where to, filtered by date and kind, with
// its CSV.  The card is built here and added to the Reports panel, so
// that the page's markup and reports.js only call init() and load().

import { describe, get, url } from './api.js';
import { $, clear, h, setStatus } from './dom.js';

const KINDS = [
  ['', 'Every kind'],
  ['anonymization', 'Anonymizations'],
  ['export', 'Exports'],
  ['report-download', 'Report downloads'],
  ['destination', 'Destination changes'],
];

function query(csv) {
  const args = new URLSearchParams();
  const since = $('audit-since').value;
  const until = $('audit-until').value;
  const kind = $('audit-kind').value;
  if (since) args.set('since', since);
  if (until) args.set('until', until);
  if (kind) args.set('kind', kind);
  args.set('limit', '500');
  if (csv) args.set('format', 'csv');
  return 'anonymizer/audit?' + args.toString();
}

function targetText(t) {
  if (!t || typeof t !== 'object') return '';
  return [t.Type, t.Name, t.Modality, t.Peer, t.Folder, t.Url]
    .filter(Boolean).join(' ');
}

function ids(e) {
  const list = [].concat(e.Studies || [], e.Patients || []);
  return list.length <= 2 ? list.join(' ')
    : list.slice(0, 2).join(' ') + ' (+' + (list.length - 2) + ')';
}

export async function load() {
  const status = $('audit-status');
  if (!status) return;
  $('audit-csv').href = url(query(true));
  setStatus(status, 'Reading the audit trail…', 'busy');
  let entries;
  try {
    entries = (await get(query(false))) || [];
  } catch (e) {
    setStatus(status, 'The audit trail could not be read: ' + describe(e),
      'error');
    return;
  }
  const body = clear($('audit-body'));
  for (const e of entries) {
    body.appendChild(h('tr', { dataset: { kind: e.Kind || '' } },
      h('th', { scope: 'row',
                text: String(e.Time || '').replace('T', ' ').replace(/\..*$/, '') }),
      h('td', { text: e.Kind || '' }),
      h('td', { text: e.User || '—' }),
      h('td', { text: e.Remote || '—' }),
      h('td', { text: e.Profile || e.Report || e.Name || '' }),
      h('td', { text: targetText(e.Target) }),
      h('td', { class: 'ids', text: ids(e) })));
  }
  setStatus(status, entries.length ? '' : 'Nothing recorded for this filter.',
    '');
}

export function init() {
  const panel = $('panel-reports');
  if (!panel || $('audit-card')) return;
  const kind = h('select', { id: 'audit-kind' },
    KINDS.map(([value, label]) => h('option', { value, text: label })));
  panel.appendChild(h('div', { class: 'card', id: 'audit-card' },
    h('h2', { text: 'Audit trail' }),
    h('p', { class: 'hint', text: 'Who anonymized, exported or read what, ' +
      'and who changed a destination: Orthanc IDs only, newest first. The ' +
      'user and address come from the request (HTTP authentication, or ' +
      'the reverse proxy).' }),
    h('div', { class: 'toolbar' },
      h('label', { for: 'audit-since', text: 'From ' }),
      h('input', { type: 'date', id: 'audit-since' }),
      h('label', { for: 'audit-until', text: ' to ' }),
      h('input', { type: 'date', id: 'audit-until' }),
      h('label', { for: 'audit-kind', class: 'visually-hidden',
                   text: 'Kind' }),
      kind,
      h('button', { type: 'button', id: 'audit-refresh', text: 'Show',
                    on: { click: load } }),
      h('a', { class: 'button', id: 'audit-csv', href: url('anonymizer/audit.csv'),
               download: 'audit.csv', text: 'CSV' })),
    h('p', { id: 'audit-status', class: 'status', role: 'status',
             'aria-live': 'polite' }),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region',
               'aria-label': 'Audit trail' },
      h('table', { id: 'audit', class: 'data compact' },
        h('thead', null, h('tr', null,
          ['Time (UTC)', 'Kind', 'User', 'Address', 'Profile or report',
           'Target', 'Orthanc IDs'].map((t) =>
            h('th', { scope: 'col', text: t })))),
        h('tbody', { id: 'audit-body' })))));
  for (const id of ['audit-since', 'audit-until', 'audit-kind']) {
    $(id).addEventListener('change', () => {
      $('audit-csv').href = url(query(true));
    });
  }
}
