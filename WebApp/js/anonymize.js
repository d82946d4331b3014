// The Anonymize tab: search Orthanc (/tools/find), the anonymization list
// (kept in localStorage), the profile, the Anonymize button and the jobs;
// with "Send to … without keeping an anonymized copy in Orthanc" on, the
// button posts /anonymizer/export with "Anonymize" to the target chosen.

import { ApiError, advice, describe, enc, get, post } from './api.js';
import {
  $, clear, emit, formatDate, formatDateTime, h, on, plural, setStatus,
} from './dom.js';
import { showJob } from './jobs.js';
import { chooser } from './targets.js';
import {
  addToList, clearList, inList, loadJobs, loadList, loadSettings,
  rememberJob, removeFromList, saveSelection, saveSetting, updateInList,
} from './storage.js';

const LIMIT = 100;            // studies shown by one search

function tags(resource, key) {
  return (resource && resource[key]) || {};
}

// "smi" -> "*smi*"; a value with its own * or ? is used as typed.
function wildcard(value) {
  const v = value.trim();
  return /[*?]/.test(v) ? v : '*' + v + '*';
}

function dicomDate(value) {
  return value ? value.replace(/-/g, '') : '';
}

export function patientLabel(p) {
  const name = p.PatientName || '(no name)';
  return p.PatientID ? name + ' (' + p.PatientID + ')' : name;
}

function studyLabel(patient, study) {
  const parts = [patientLabel(patient)];
  if (study.StudyDate) {
    parts.push(formatDate(study.StudyDate));
  }
  if (study.StudyDescription) {
    parts.push(study.StudyDescription);
  }
  return parts.join(' – ');
}

// --- search ----------------------------------------------------------

let lastResults = null;       // [{patientId, patient, studies: [...]}]

async function search(event) {
  if (event) {
    event.preventDefault();
  }
  const status = $('search-status');
  const query = {};
  const name = $('search-name').value.trim();
  const id = $('search-id').value.trim();
  const accession = $('search-accession').value.trim();
  const modality = $('search-modality').value.trim();
  const from = dicomDate($('search-from').value);
  const to = dicomDate($('search-to').value);
  if (name) {
    query.PatientName = wildcard(name);
  }
  if (id) {
    query.PatientID = wildcard(id);
  }
  if (accession) {
    query.AccessionNumber = wildcard(accession);
  }
  if (modality) {
    query.ModalitiesInStudy = modality.toUpperCase();
  }
  if (from || to) {
    query.StudyDate = from === to ? from : from + '-' + to;
  }
  setStatus(status, 'Searching…', 'busy');
  problem(null);
  $('search-button').disabled = true;
  let studies;
  try {
    studies = await post('tools/find', { Level: 'Study', Query: query,
                                         Expand: true, Limit: LIMIT + 1 });
  } catch (e) {
    setStatus(status, 'The search failed.', 'error');
    problem('The search failed: ' + describe(e) + '.',
            advice(e) || 'Check the search fields, then press Search again.',
            'error');
    lastResults = null;
    renderResults();
    return;
  } finally {
    $('search-button').disabled = false;
  }
  if (!Array.isArray(studies)) {
    studies = [];
  }
  const more = studies.length > LIMIT;
  studies = studies.slice(0, LIMIT);
  copies = await findCopies(studies.map((x) => x.ID));
  const byPatient = new Map();
  for (const s of studies) {
    const pid = s.ParentPatient;
    if (!byPatient.has(pid)) {
      byPatient.set(pid, { patientId: pid,
                           patient: tags(s, 'PatientMainDicomTags'),
                           studies: [] });
    }
    byPatient.get(pid).studies.push(s);
  }
  const groups = Array.from(byPatient.values());
  groups.sort((a, b) => String(a.patient.PatientName || '')
    .localeCompare(String(b.patient.PatientName || '')));
  for (const g of groups) {
    g.studies.sort((a, b) => String(tags(b, 'MainDicomTags').StudyDate || '')
      .localeCompare(String(tags(a, 'MainDicomTags').StudyDate || '')));
  }
  lastResults = groups;
  lastMore = more;
  renderResults();
  if (studies.length === 0) {
    setStatus(status, 'Nothing found.', '');
    const count = await studyCount();
    if (count === 0) {
      problem('Orthanc holds no study yet.',
              'Send studies to Orthanc first (from a modality or PACS to ' +
              'its DICOM port, or upload files in Orthanc Explorer), then ' +
              'search again.', 'info');
    } else {
      problem('No study matches this search.',
              'Widen it: clear a field, use part of a name (or * and ?), ' +
              'or widen the date range.', 'info');
    }
  }
  fillModalities(studies);
}

// The number of studies in Orthanc (GET /statistics), or null.
async function studyCount() {
  try {
    const stats = await get('statistics');
    return Number(stats.CountStudies);
  } catch (e) {
    return null;
  }
}

// The search card's message: what happened and what to do (null hides it).
function problem(what, todo, kind) {
  const box = $('search-problem');
  clear(box);
  box.hidden = !what;
  if (what) {
    box.className = 'message ' + (kind || 'error');
    box.appendChild(h('strong', { text: what }));
    if (todo) {
      box.appendChild(document.createTextNode(' ' + todo));
    }
  }
}

// --- anonymized copies -------------------------------------------------

let copies = {};              // study ID -> {By, Original, Profile, Date}
let lastMore = false;
let copiesError = '';         // why the copies could not be marked

// Which of `ids` are anonymized copies (POST /anonymizer/copies); {} if
// the plugin cannot say (the results are then shown unmarked).
async function findCopies(ids) {
  if (ids.length === 0) {
    return {};
  }
  copiesError = '';
  try {
    return (await post('anonymizer/copies', { Studies: ids })) || {};
  } catch (e) {
    copiesError = describe(e);
    return {};
  }
}

// "Anonymized copy" and what made it, for a study row.
function copyBadge(c) {
  const ours = c.By === 'Anonymizer';
  const when = ours && c.Date ? formatDateTime(c.Date).slice(0, 10) : '';
  const detail = ours
    ? [c.Profile, when].filter(Boolean).join(', ')
    : 'by Orthanc';
  return h('span', { class: 'copy-mark' },
    h('span', { class: 'badge copy', text: 'Anonymized copy' }),
    detail ? h('span', { class: 'copy-detail', text: detail }) : null);
}

function showCopies() {
  return $('show-copies').checked;
}

// The results' status line: how many shown, how many copies hidden.
function resultsStatus() {
  const groups = lastResults || [];
  let studies = 0;
  let hidden = 0;
  for (const g of groups) {
    for (const x of g.studies) {
      studies++;
      if (copies[x.ID] && !showCopies()) {
        hidden++;
      }
    }
  }
  if (studies === 0) {
    return;
  }
  const shownPatients = groups.filter((g) => showCopies() ||
    g.studies.some((x) => !copies[x.ID])).length;
  setStatus($('search-status'), plural(shownPatients, 'patient') + ', ' +
    plural(studies - hidden, 'study', 'studies') + ' found' +
    (hidden ? ' (' + plural(hidden, 'anonymized copy', 'anonymized copies') +
      ' hidden: turn on “Show anonymized copies” to see them)' : '') +
    (lastMore ? ' (only the first ' + LIMIT + ' studies are shown: narrow ' +
      'the search)' : '') + '.' +
    (copiesError ? ' Anonymized copies are not marked: ' + copiesError +
      '.' : ''), copiesError ? 'error' : 'ok');
}

// The modalities of each study shown, from its series (a few requests at
// a time).
const modalityCache = new Map();   // study ID -> "CT, MR"

async function fillModalities(studies) {
  const queue = studies.filter((x) => !modalityCache.has(x.ID));
  async function worker() {
    while (queue.length) {
      const s = queue.shift();
      const cell = document.querySelector(
        '#results td.modalities[data-study="' + CSS.escape(s.ID) + '"]');
      if (!cell) {
        continue;
      }
      try {
        const series = await get('studies/' + enc(s.ID) + '/series');
        const set = new Set();
        for (const x of series || []) {
          const m = tags(x, 'MainDicomTags').Modality;
          if (m) {
            set.add(m);
          }
        }
        cell.textContent = Array.from(set).sort().join(', ');
        modalityCache.set(s.ID, cell.textContent);
      } catch (e) {
        cell.textContent = '';
      }
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
}

function addButton(level, id, label, what) {
  const present = inList(level, id);
  return h('button', {
    type: 'button', class: 'small add', dataset: { level, id, label },
    disabled: present,
    'aria-label': (present ? 'In the list: ' : 'Add ' + what + ' ') + label,
    text: present ? 'In the list' : 'Add ' + what,
    on: { click: (e) => {
      // The button turns into "In the list" (disabled): keyboard users
      // go on to the next one.
      const all = Array.from(document.querySelectorAll('#results button.add'));
      const after = all.slice(all.indexOf(e.currentTarget) + 1);
      addToList(level, id, label);
      const next = after.find((b) => !b.disabled);
      (next || $('anonymize-profile')).focus();
      setStatus($('search-status'), label + ' added to the list.', 'ok');
    } },
  });
}

// After a change of the list: the result's buttons say what is in it.
function refreshAddButtons() {
  const list = loadList();
  for (const b of document.querySelectorAll('#results button.add')) {
    const present = list.some((e) => e.Level === b.dataset.level &&
                              e.ID === b.dataset.id);
    const what = b.dataset.level === 'Patient' ? 'patient' : 'study';
    b.disabled = present;
    b.textContent = present ? 'In the list' : 'Add ' + what;
    b.setAttribute('aria-label', (present ? 'In the list: ' : 'Add ' + what +
                   ' ') + b.dataset.label);
  }
}

// A person name as text nodes with a line-break opportunity after each
// "^" (its components), so that a narrow column wraps between them.
function breakable(name) {
  const out = [];
  String(name).split('^').forEach((part, i, all) => {
    out.push(part + (i < all.length - 1 ? '^' : ''));
    if (i < all.length - 1) {
      out.push(h('wbr'));
    }
  });
  return out;
}

function renderResults() {
  const table = $('results');
  for (const body of Array.from(table.tBodies)) {
    body.remove();
  }
  const groups = lastResults || [];
  let shown = 0;
  for (const g of groups) {
    const p = g.patient;
    const label = patientLabel(p);
    const visible = g.studies.filter((x) => showCopies() || !copies[x.ID]);
    const allCopies = g.studies.every((x) => copies[x.ID]);
    if (visible.length === 0) {
      continue;
    }
    shown++;
    const body = h('tbody', { class: 'patient-group',
                              dataset: { patient: g.patientId } });
    if (allCopies) {
      body.dataset.copies = '1';
    }
    body.appendChild(h('tr', { class: 'patient-row' },
      h('th', { scope: 'rowgroup', class: 'patient-name' },
        h('span', { class: 'name-text' }, breakable(p.PatientName ||
                                                    '(no name)')),
        allCopies ? h('span', { class: 'badge copy', text: 'Anonymized' })
          : null),
      h('td', { class: 'patient-id', text: p.PatientID || '' }),
      h('td', { class: 'date', text: formatDate(p.PatientBirthDate) }),
      h('td', { class: 'muted', text: plural(g.studies.length, 'study',
                                             'studies') + ' found' }),
      h('td'),
      h('td', { class: 'actions' }, addButton('Patient', g.patientId, label,
                                              'patient'))));
    for (const s of visible) {
      const t = tags(s, 'MainDicomTags');
      const slabel = studyLabel(p, t);
      const copy = copies[s.ID];
      const row = h('tr', { class: 'study-row' + (copy ? ' copy' : ''),
                            dataset: { study: s.ID } },
        h('td', { class: 'indent' + (copy ? ' has-copy' : '') },
          h('span', { class: 'muted kind', text: 'Study' }),
          copy ? copyBadge(copy) : null),
        h('td', { class: 'accession', text: t.AccessionNumber || '' }),
        h('td', { class: 'date', text: formatDate(t.StudyDate) }),
        h('td', { class: 'description', text: t.StudyDescription || '' }),
        h('td', { class: 'modalities', dataset: { study: s.ID },
                  text: modalityCache.has(s.ID) ? modalityCache.get(s.ID)
                    : '…' }),
        h('td', { class: 'actions' }, addButton('Study', s.ID, slabel,
                                                'study')));
      if (copy) {
        row.dataset.copy = copy.By;
      }
      body.appendChild(row);
    }
    table.appendChild(body);
  }
  $('results-wrap').hidden = shown === 0;
  resultsStatus();
}

// --- the anonymization list ------------------------------------------

function renderList() {
  const list = loadList();
  const box = clear($('list-body'));
  $('list-empty').hidden = list.length > 0;
  $('list-count').textContent = list.length ? '(' + list.length + ')' : '';
  $('anonymize-button').disabled = list.length === 0;
  $('list-clear').disabled = list.length === 0;
  list.forEach((e, i) => {
    const field = (key, what) => {
      const id = 'list-' + key + '-' + i;
      return h('div', { class: 'field' },
        h('label', { for: id, text: what }),
        h('input', {
          id, type: 'text', class: 'new-' + key, value: e[key],
          placeholder: 'generated', maxlength: 64, autocomplete: 'off',
          on: { input: (ev) => updateInList(e.Level, e.ID,
                                            { [key]: ev.target.value }) },
        }));
    };
    const labelId = 'list-label-' + i;
    box.appendChild(h('li', { class: 'entry', dataset: { level: e.Level, id: e.ID },
                              'aria-labelledby': labelId },
      h('div', { class: 'entry-head' },
        h('span', { class: 'badge ' + e.Level.toLowerCase(),
                    text: e.Level === 'Patient' ? 'Patient' : 'Study' }),
        h('span', { class: 'label-text', id: labelId, text: e.Label }),
        h('button', {
          type: 'button', class: 'small remove', text: 'Remove',
          'aria-label': 'Remove ' + e.Label + ' from the list',
          on: { click: () => {
            removeFromList(e.Level, e.ID);
            const next = $('list-body').querySelector('button.remove');
            (next || $('search-name')).focus();
          } },
        })),
      h('div', { class: 'entry-fields', role: 'group',
                 'aria-labelledby': labelId },
        field('NewPatientName', 'New name'),
        field('NewPatientID', 'New ID'))));
  });
}

export async function loadProfiles() {
  const select = $('anonymize-profile');
  const current = select.value || 'Default';
  let names;
  try {
    names = await get('anonymizer/profiles');
  } catch (e) {
    setStatus($('anonymize-status'), 'The profiles could not be read: ' +
      describe(e), 'error');
    names = ['Default'];
  }
  clear(select);
  for (const n of names) {
    select.appendChild(h('option', { value: n, text: n }));
  }
  select.value = names.includes(current) ? current : 'Default';
}

// --- on the way out ---------------------------------------------------

// "Send to … without keeping an anonymized copy in Orthanc": the target
// chooser of the Export tab (js/targets.js), here with ids "wayout-...".
const wayOutTargets = chooser({ radio: 'wayout-target',
                                dicomdir: 'wayout-dicomdir',
                                compression: 'wayout-compression',
                                mapping: 'wayout-mapping' });

function wayOutOn() {
  return $('wayout').checked;
}

// The switch shows the targets, names the button after what it does,
// and hides the "Open the Export tab" switch (nothing to export then).
function wayOutChanged() {
  const on = wayOutOn();
  $('wayout-box').hidden = !on;
  $('open-export-row').hidden = on;
  $('anonymize-button').textContent = on ? 'Anonymize and send'
    : 'Anonymize';
  if (on) {
    wayOutTargets.fill();
  }
}

async function anonymize(force) {
  const list = loadList();
  const status = $('anonymize-status');
  const box = clear($('anonymize-problem'));
  box.hidden = true;
  if (list.length === 0) {
    setStatus(status, 'The list is empty.', 'error');
    return;
  }
  const profile = $('anonymize-profile').value || 'Default';
  const resources = list.map((e) => {
    const r = { Level: e.Level, ID: e.ID };
    if (e.NewPatientName.trim()) {
      r.NewPatientName = e.NewPatientName.trim();
    }
    if (e.NewPatientID.trim()) {
      r.NewPatientID = e.NewPatientID.trim();
    }
    return r;
  });
  const button = $('anonymize-button');
  const out = wayOutOn() ? wayOutTargets.read() : null;
  button.disabled = true;
  setStatus(status, 'Starting…', 'busy');
  let answer;
  try {
    if (out) {
      // POST /anonymizer/export with "Anonymize": each instance rewritten
      // on its way to the target, nothing stored in Orthanc.
      const how = { Profile: profile };
      if (force === true) {
        how.Force = true;
      }
      answer = await post('anonymizer/export', { Resources: resources,
                                                 Anonymize: how,
                                                 Target: out.target });
    } else {
      const body = { Resources: resources, Profile: profile };
      if (force === true) {
        body.Force = true;
      }
      answer = await post('anonymizer/anonymize', body);
    }
  } catch (e) {
    button.disabled = false;
    if (e instanceof ApiError && e.status === 409) {
      refusedCopy(e);
      return;
    }
    setStatus(status, 'Anonymization refused: ' + describe(e) +
      (advice(e) ? '. ' + advice(e) : ''), 'error');
    return;
  }
  button.disabled = false;
  const record = {
    ID: answer.ID, Kind: 'Anonymization',
    Title: 'Anonymize ' + plural(list.length, 'item') + ' with ' + profile +
      (out ? ' and send to ' + out.title : ''),
    Started: new Date().toISOString().replace(/[-:]/g, '').slice(0, 15),
  };
  if (out) {
    record.Stored = false;
    record.Target = out.title;
  }
  rememberJob(record);
  setStatus(status, out ? 'Anonymization on the way out started: ' +
    'nothing is stored in Orthanc.' : 'Anonymization started.', 'ok');
  follow(record, true);
}

// The server refused an anonymized copy (409): say so, offer to remove it
// from the list or to anonymize it again anyway.
function refusedCopy(e) {
  const status = $('anonymize-status');
  const box = clear($('anonymize-problem'));
  const m = /study ([0-9a-f-]{20,})/.exec(e.details || '');
  setStatus(status, 'Not started: the list holds an anonymized copy.',
    'error');
  box.hidden = false;
  box.appendChild(h('p', null,
    h('strong', { text: 'Already anonymized. ' }),
    String(e.details || e.message).replace(/^Resources\[\d+\]: /, '') +
    '. Anonymizing it again would make a ' +
    'pseudonym of a pseudonym, with a second key back to the first. ' +
    'Remove it from the list, or anonymize it again if that is what you ' +
    'want.'));
  const actions = h('p', { class: 'toolbar' });
  const entry = m && loadList().find((x) => x.ID === m[1]);
  if (entry) {
    actions.appendChild(h('button', { type: 'button', class: 'remove-copy',
      text: 'Remove it from the list',
      on: { click: () => {
        removeFromList(entry.Level, entry.ID);
        box.hidden = true;
        setStatus(status, 'The anonymized copy was removed from the list.',
          'ok');
        $('anonymize-button').focus();
      } } }));
  }
  actions.appendChild(h('button', { type: 'button', class: 'danger force',
    text: 'Anonymize again anyway',
    on: { click: () => anonymize(true) } }));
  box.appendChild(actions);
  (actions.querySelector('button.remove-copy') ||
   actions.querySelector('button.force')).focus();
}

// `fresh`: started now from this page (its end may open the Export tab).
function follow(record, fresh) {
  $('anonymize-jobs-empty').hidden = true;
  showJob($('anonymize-jobs'), record, (job, card) => {
    if (!job || job.State !== 'Success') {
      return;
    }
    const link = card.querySelector('a.download');
    if (link && fresh && !card.dataset.restored) {
      // On the way out into a ZIP: its download takes the focus, as on
      // the Export tab, unless the user is busy elsewhere.
      setTimeout(() => {
        const a = document.activeElement;
        if (!a || a === document.body || a.id === 'anonymize-button') {
          link.focus();
        }
      }, 0);
    }
    const studies = ((job.Content && job.Content.Studies) || [])
      .map((s) => s.Anonymized).filter(Boolean);
    if (studies.length === 0) {
      return;
    }
    card.querySelector('.job-result').appendChild(h('p', null,
      h('button', { type: 'button', class: 'primary small export-these',
                    text: 'Export these studies',
                    on: { click: () => {
                      saveSelection(studies);
                      emit('selection-changed');
                      emit('show-tab', 'export');
                      emit('export-arrived', studies.length);
                    } } })));
    // Only a job that ended while the page watched it moves the Export
    // tab's selection (a reload must not undo the user's choice).
    if (!card.dataset.restored) {
      saveSelection(studies);
      emit('selection-changed');
    }
    emit('anonymized', studies);
    // The seed's flow: the Export tab opens with them selected, unless
    // turned off, or the user went to another tab meanwhile (the button
    // above stays for that).
    if (fresh && !card.dataset.restored && loadSettings().OpenExport &&
        !$('panel-anonymize').hidden) {
      emit('show-tab', 'export');
      emit('export-arrived', studies.length);
    }
  });
}

export function init() {
  $('search-form').addEventListener('submit', search);
  $('search-form').addEventListener('reset', () => {
    lastResults = null;
    setTimeout(() => {
      renderResults();
      setStatus($('search-status'), '', '');
    });
  });
  $('anonymize-button').addEventListener('click', () => anonymize(false));
  const settings = loadSettings();
  $('show-copies').checked = settings.ShowCopies;
  $('open-export').checked = settings.OpenExport;
  $('show-copies').addEventListener('change', () => {
    saveSetting('ShowCopies', $('show-copies').checked);
    renderResults();
    fillModalities((lastResults || []).flatMap((g) => g.studies));
  });
  $('open-export').addEventListener('change', () => {
    saveSetting('OpenExport', $('open-export').checked);
  });
  wayOutTargets.init();
  $('wayout').checked = settings.WayOut;
  $('wayout').addEventListener('change', () => {
    saveSetting('WayOut', $('wayout').checked);
    wayOutChanged();
  });
  wayOutChanged();
  on('destinations-changed', () => {
    if (wayOutOn()) {
      wayOutTargets.fill();
    }
  });
  $('list-clear').addEventListener('click', () => {
    clearList();
    setStatus($('anonymize-status'), 'The list was cleared.', '');
  });
  on('list-changed', () => {
    renderList();
    refreshAddButtons();
  });
  on('profiles-changed', loadProfiles);
  renderList();
  loadProfiles();
  const jobs = loadJobs().filter((j) => j.Kind === 'Anonymization')
    .slice(0, 5).reverse();
  for (const j of jobs) {
    follow(j, false);
    const card = $('anonymize-jobs').querySelector(
      'li[data-job="' + CSS.escape(j.ID) + '"]');
    if (card) {
      card.dataset.restored = '1';
    }
  }
  $('anonymize-jobs').addEventListener('jobs-changed', () => {
    $('anonymize-jobs-empty').hidden =
      $('anonymize-jobs').children.length > 0;
  });
}
