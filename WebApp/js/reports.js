// The Reports tab: past anonymizations (GET /anonymizer/reports), each
// with its rows and its CSV file, and the work of every server of the
// cluster (GET /anonymizer/jobs).

import { describe, enc, get, url } from './api.js';
import { $, clear, emit, formatDate, formatDateTime, h, setStatus } from './dom.js';
import { cleanedPreviews } from './previews.js';
import { saveSelection } from './storage.js';
import * as audit from './audit.js';

// A report's Target ({"Type", ...}, never a secret) in words.
function targetWords(t) {
  const target = t && typeof t === 'object' ? t : {};
  switch (target.Type) {
  case 'zip': return 'a ZIP file';
  case 'folder': return 'server folder ' + (target.Folder || '');
  case 'dicom': return 'DICOM modality ' + (target.Modality || '');
  case 'peer': return 'Orthanc peer ' + (target.Peer || '');
  case 'destination': return 'destination ' + (target.Name || '');
  default: return target.Type ? String(target.Type) : 'its target';
  }
}

async function load() {
  const status = $('reports-status');
  setStatus(status, 'Reading the reports…', 'busy');
  let reports;
  try {
    reports = (await get('anonymizer/reports')) || [];
  } catch (e) {
    setStatus(status, 'The reports could not be read: ' + describe(e),
      'error');
    return;
  }
  const body = clear($('reports-body'));
  for (const r of reports) {
    const when = formatDateTime(r.Date);
    body.appendChild(h('tr', { dataset: { report: r.ID } },
      h('th', { scope: 'row', text: when }),
      h('td', null, r.Profile || '', r.Stored === false
        ? h('span', { class: 'badge not-stored',
                      text: 'Not stored, sent to ' + targetWords(r.Target) })
        : null),
      h('td', { class: 'number', text: String(r.Studies ?? '') }),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'small show', text: 'Show',
                      'aria-label': 'Show the report of ' + when,
                      on: { click: () => show(r.ID, when) } }),
        h('a', { class: 'button small csv',
                 href: url('anonymizer/reports/' + enc(r.ID) + '/csv'),
                 download: 'anonymization-' + String(r.Date || r.ID)
                   .replace(/[^A-Za-z0-9._-]/g, '_') + '.csv',
                 'aria-label': 'Download the CSV of the report of ' + when,
                 text: 'CSV' }),
        h('button', { type: 'button', class: 'small', text: 'Export…',
                      'aria-label': 'Export the studies of the report of ' +
                        when,
                      on: { click: () => exportStudies(r.ID) } }))));
  }
  setStatus(status, reports.length ? '' : 'No anonymization yet.', '');
}

async function loadWork() {
  const status = $('work-status');
  let jobs;
  try {
    jobs = (await get('anonymizer/jobs')) || [];
  } catch (e) {
    setStatus(status, 'The list of jobs could not be read: ' + describe(e),
      'error');
    return;
  }
  const body = clear($('work-body'));
  for (const j of jobs) {
    body.appendChild(h('tr', { dataset: { job: j.Job || j.ID,
                                          state: j.State || '' } },
      h('th', { scope: 'row', text: formatDateTime(j.Created) }),
      h('td', { text: (j.Type || '') + (j.Stored === false
        ? ' on the way out, to ' + targetWords(j.Target) : '') }),
      h('td', { text: j.Server || '' }),
      h('td', { text: j.State || '' }),
      h('td', { class: 'number', text: String(j.Progress ?? '') + ' %' })));
  }
  setStatus(status, jobs.length ? '' : 'No job yet.', '');
}

async function show(id, when) {
  let report;
  try {
    report = await get('anonymizer/reports/' + enc(id));
  } catch (e) {
    setStatus($('reports-status'), 'The report could not be read: ' +
      describe(e), 'error');
    return;
  }
  $('report-card').hidden = false;
  $('report-title').textContent = 'Report of ' + when + ' (' +
    (report.Profile || '') + ')' + (report.Stored === false
    ? ': anonymized on the way out to ' + targetWords(report.Target) +
      ', nothing stored in Orthanc' : '');
  const body = clear($('report-body'));
  for (const s of report.Studies || []) {
    body.appendChild(h('tr', null,
      h('td', { text: s.OriginalPatientName || '' }),
      h('td', { text: s.OriginalPatientID || '' }),
      h('td', { text: s.NewPatientName || '' }),
      h('td', { text: s.NewPatientID || '' }),
      h('td', { text: formatDate(s.OriginalStudyDate) }),
      h('td', { text: formatDate(s.NewStudyDate) }),
      h('td', { text: s.OriginalStudyDescription || '' }),
      h('td', { class: 'number', text: String(s.Instances ?? '') }),
      h('td', { class: 'number', text: String(s.Dropped ?? '') }),
      h('td', { class: 'number', text: String(s.Failed ?? '') }),
      h('td', { class: 'number', text: String(s.PixelsCleaned ?? '') })));
  }
  // The images whose pixels were cleaned: before/after previews.
  const box = clear($('report-previews'));
  const previews = cleanedPreviews(report.CleanedImages);
  box.hidden = !previews;
  if (previews) {
    box.appendChild(h('h3', { text: 'Images cleaned' }));
    box.appendChild(previews);
  }
  $('report-title').tabIndex = -1;
  $('report-title').focus();
}

async function exportStudies(id) {
  try {
    const report = await get('anonymizer/reports/' + enc(id));
    const studies = (report.Studies || []).map((s) => s.AnonymizedStudy)
      .filter(Boolean);
    if (studies.length === 0 && report.Stored === false) {
      setStatus($('reports-status'), 'This anonymization was sent on the ' +
        'way out: it stored nothing in Orthanc, so there is nothing to ' +
        'export. To send it elsewhere, anonymize the originals again.', '');
      return;
    }
    saveSelection(studies);
    emit('selection-changed');
    emit('show-tab', 'export');
  } catch (e) {
    setStatus($('reports-status'), describe(e), 'error');
  }
}

export function activate() {
  load();
  loadWork();
  audit.load();
}

export function init() {
  $('reports-refresh').addEventListener('click', () => {
    load();
    loadWork();
    audit.load();
  });
  audit.init();
}
