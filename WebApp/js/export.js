// The Export tab: the anonymized studies (from the reports; the ones just
// anonymized preselected), a target (ZIP, DICOM modality, Orthanc peer,
// saved destination, server folder: js/targets.js), the Export button and
// the jobs.

import { describe, enc, explain, get, post } from './api.js';
import { $, clear, formatDate, formatDateTime, h, on, plural, setStatus } from './dom.js';
import { showJob } from './jobs.js';
import { chooser } from './targets.js';
import { loadJobs, loadSelection, rememberJob, saveSelection } from './storage.js';

const REPORTS = 15;           // the newest reports whose studies are listed

let rows = [];                // [{study, name, id, date, description, when}]

async function loadStudies() {
  const status = $('export-studies-status');
  setStatus(status, 'Reading the anonymized studies…', 'busy');
  const seen = new Set();
  const out = [];
  try {
    const reports = (await get('anonymizer/reports')) || [];
    const details = await Promise.all(reports.slice(0, REPORTS).map(
      (r) => get('anonymizer/reports/' + enc(r.ID)).catch(() => null)));
    for (const report of details) {
      if (!report || !Array.isArray(report.Studies)) {
        continue;
      }
      for (const s of report.Studies) {
        if (!s.AnonymizedStudy || seen.has(s.AnonymizedStudy)) {
          continue;
        }
        seen.add(s.AnonymizedStudy);
        out.push({ study: s.AnonymizedStudy, name: s.NewPatientName,
                   id: s.NewPatientID, date: s.NewStudyDate,
                   description: s.NewStudyDescription,
                   when: formatDateTime(report.Date) + ', ' + report.Profile });
      }
    }
    // A preselected study that is not in those reports: read it.
    for (const id of loadSelection()) {
      if (seen.has(id)) {
        continue;
      }
      try {
        const s = await get('studies/' + enc(id));
        const p = s.PatientMainDicomTags || {};
        const t = s.MainDicomTags || {};
        seen.add(id);
        out.unshift({ study: id, name: p.PatientName, id: p.PatientID,
                      date: t.StudyDate, description: t.StudyDescription,
                      when: '' });
      } catch (e) {
        // Deleted since: nothing to export.
      }
    }
  } catch (e) {
    setStatus(status, 'The anonymized studies could not be read: ' +
      describe(e), 'error');
    return;
  }
  rows = out;
  render();
  setStatus(status, rows.length ? '' : 'No anonymized study yet: ' +
    'anonymize some on the Anonymize tab.', '');
}

function render() {
  const selected = new Set(loadSelection());
  const body = clear($('export-studies-body'));
  $('export-studies-wrap').hidden = rows.length === 0;
  rows.forEach((r, i) => {
    const id = 'export-pick-' + i;
    const label = (r.name || '') + ' ' + (r.id || '') + ' ' +
      formatDate(r.date);
    body.appendChild(h('tr', { dataset: { study: r.study } },
      h('td', null, h('input', {
        type: 'checkbox', id, class: 'pick', value: r.study,
        checked: selected.has(r.study), 'aria-label': 'Export ' + label,
        on: { change: saveChecked },
      })),
      h('td', null, h('label', { for: id, text: r.name || '' })),
      h('td', { text: r.id || '' }),
      h('td', { class: 'date', text: formatDate(r.date) }),
      h('td', { text: r.description || '' }),
      h('td', { class: 'muted', text: r.when })));
  });
  updateButton();
}

function checked() {
  return Array.from(document.querySelectorAll('#export-studies-body input.pick'))
    .filter((c) => c.checked).map((c) => c.value);
}

function saveChecked() {
  saveSelection(checked());
  updateButton();
}

function updateButton() {
  const n = checked().length;
  const button = $('export-button');
  button.textContent = n ? 'Export ' + plural(n, 'study', 'studies') : 'Export';
  button.disabled = n === 0;
}

const targets = chooser({ radio: 'target', dicomdir: 'export-dicomdir',
                          compression: 'export-compression',
                          mapping: 'export-mapping' });

export function loadTargets() {
  return targets.fill();
}

async function exportNow(event) {
  event.preventDefault();
  const status = $('export-status');
  const studies = checked();
  if (studies.length === 0) {
    setStatus(status, 'Select at least one study.', 'error');
    return;
  }
  const t = targets.read();
  const button = $('export-button');
  button.disabled = true;
  setStatus(status, 'Starting…', 'busy');
  let answer;
  try {
    answer = await post('anonymizer/export', { Resources: studies,
                                               Target: t.target });
  } catch (e) {
    setStatus(status, 'Export refused: ' + explain(e), 'error');
    updateButton();
    return;
  }
  updateButton();
  const record = {
    ID: answer.ID, Kind: 'Export',
    Title: 'Export ' + plural(studies.length, 'study', 'studies') + ' to ' +
      t.title,
    Started: new Date().toISOString().replace(/[-:]/g, '').slice(0, 15),
  };
  rememberJob(record);
  setStatus(status, 'Export started.', 'ok');
  follow(record);
}

function follow(record) {
  $('export-jobs-empty').hidden = true;
  showJob($('export-jobs'), record, (job, card) => {
    const link = card.querySelector('a.download');
    if (link && !card.dataset.restored) {
      // After the card's own changes, and only if the user is not busy
      // elsewhere (the focus on the page's body or the Export button).
      setTimeout(() => {
        const a = document.activeElement;
        if (!a || a === document.body || a.id === 'export-button') {
          link.focus();
        }
      }, 0);
    }
  });
}

export function activate() {
  loadStudies();
  loadTargets();
}

export function init() {
  $('export-form').addEventListener('submit', exportNow);
  $('export-refresh').addEventListener('click', activate);
  $('export-select-all').addEventListener('click', () => {
    for (const c of document.querySelectorAll('#export-studies-body input.pick')) {
      c.checked = true;
    }
    saveChecked();
  });
  $('export-select-none').addEventListener('click', () => {
    for (const c of document.querySelectorAll('#export-studies-body input.pick')) {
      c.checked = false;
    }
    saveChecked();
  });
  targets.init();
  on('selection-changed', render);
  // An anonymization just finished and opened this tab.
  on('export-arrived', (n) => {
    const box = $('export-arrived');
    box.textContent = 'The ' + (n === 1 ? 'study' : plural(n, 'study',
      'studies')) + ' just anonymized ' + (n === 1 ? 'is' : 'are') +
      ' selected: choose where to send ' + (n === 1 ? 'it' : 'them') +
      ' and press Export.';
    box.hidden = false;
  });
  $('export-form').addEventListener('submit', () => {
    $('export-arrived').hidden = true;
  });
  on('anonymized', () => loadStudies());
  on('destinations-changed', loadTargets);
  updateButton();
  const jobs = loadJobs().filter((j) => j.Kind === 'Export').slice(0, 5)
    .reverse();
  for (const j of jobs) {
    follow(j);
    const card = $('export-jobs').querySelector(
      'li[data-job="' + CSS.escape(j.ID) + '"]');
    if (card) {
      card.dataset.restored = '1';
    }
  }
  $('export-jobs').addEventListener('jobs-changed', () => {
    $('export-jobs-empty').hidden = $('export-jobs').children.length > 0;
  });
}
