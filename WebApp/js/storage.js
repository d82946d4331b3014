// What the page keeps in the browser (localStorage), so that it survives
// a reload:
//   orthanc-anonymizer.list    the anonymization list, a JSON array of
//        {"Level": "Patient"|"Study", "ID", "Label",
//         "NewPatientName", "NewPatientID"}; Orthanc Explorer's "Add to
//        anonymization list" button appends {"Level", "ID", "Label"}.
//   orthanc-anonymizer.jobs    the jobs started here: [{"ID", "Kind",
//        "Title", "Started"}], newest first; an anonymization on the way
//        out adds "Stored": false and "Target" (its words).
//   orthanc-anonymizer.export-selection   the Orthanc IDs of the
//        anonymized studies preselected on the Export tab.
//   orthanc-anonymizer.settings   the page's switches: {"ShowCopies":
//        false, "OpenExport": true, "WayOut": false}.

import { emit } from './dom.js';

export const LIST_KEY = 'orthanc-anonymizer.list';
export const JOBS_KEY = 'orthanc-anonymizer.jobs';
export const SELECTION_KEY = 'orthanc-anonymizer.export-selection';
export const SETTINGS_KEY = 'orthanc-anonymizer.settings';
// The switches and their defaults: anonymized copies hidden in the
// search results; the Export tab opened when an anonymization finishes;
// the Anonymize tab stores the anonymized copy in Orthanc (WayOut: sends
// it to a target instead, storing nothing).
const SETTINGS = { ShowCopies: false, OpenExport: true, WayOut: false };
const MAX_JOBS = 20;

function read(key) {
  try {
    const raw = window.localStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch (e) {
    return null;
  }
}

function write(key, value) {
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
  } catch (e) {
    // Storage full or disabled: the page still works, without memory.
  }
}

function str(value) {
  return typeof value === 'string' ? value : '';
}

// The list as stored, cleaned: entries that are not {"Level", "ID"} are
// dropped, duplicates too; unknown fields are kept.
export function loadList() {
  const raw = read(LIST_KEY);
  const out = [];
  const seen = new Set();
  if (!Array.isArray(raw)) {
    return out;
  }
  for (const e of raw) {
    if (!e || typeof e !== 'object' ||
        (e.Level !== 'Patient' && e.Level !== 'Study') ||
        typeof e.ID !== 'string' || e.ID === '') {
      continue;
    }
    const key = e.Level + ':' + e.ID;
    if (seen.has(key)) {
      continue;
    }
    seen.add(key);
    out.push(Object.assign({}, e, {
      Label: str(e.Label) || e.ID,
      NewPatientName: str(e.NewPatientName),
      NewPatientID: str(e.NewPatientID),
    }));
  }
  return out;
}

export function saveList(list, quiet) {
  write(LIST_KEY, list);
  if (!quiet) {
    emit('list-changed');
  }
}

export function inList(level, id) {
  return loadList().some((e) => e.Level === level && e.ID === id);
}

export function addToList(level, id, label) {
  const list = loadList();
  if (list.some((e) => e.Level === level && e.ID === id)) {
    return false;
  }
  list.push({ Level: level, ID: id, Label: label, NewPatientName: '',
              NewPatientID: '' });
  saveList(list);
  return true;
}

// Quiet: typing in a field must not redraw the list under the cursor.
export function updateInList(level, id, fields) {
  const list = loadList();
  const entry = list.find((e) => e.Level === level && e.ID === id);
  if (entry) {
    Object.assign(entry, fields);
    saveList(list, true);
  }
}

export function removeFromList(level, id) {
  saveList(loadList().filter((e) => !(e.Level === level && e.ID === id)));
}

export function clearList() {
  saveList([]);
}

export function loadJobs() {
  const raw = read(JOBS_KEY);
  return Array.isArray(raw)
    ? raw.filter((j) => j && typeof j.ID === 'string' &&
                 (j.Kind === 'Anonymization' || j.Kind === 'Export'))
    : [];
}

export function rememberJob(job) {
  const jobs = loadJobs().filter((j) => j.ID !== job.ID);
  jobs.unshift(job);
  write(JOBS_KEY, jobs.slice(0, MAX_JOBS));
}

export function forgetJob(id) {
  write(JOBS_KEY, loadJobs().filter((j) => j.ID !== id));
}

export function loadSelection() {
  const raw = read(SELECTION_KEY);
  return Array.isArray(raw) ? raw.filter((s) => typeof s === 'string') : [];
}

export function saveSelection(ids) {
  write(SELECTION_KEY, Array.from(new Set(ids)));
}

export function loadSettings() {
  const raw = read(SETTINGS_KEY);
  const out = Object.assign({}, SETTINGS);
  if (raw && typeof raw === 'object') {
    for (const k of Object.keys(SETTINGS)) {
      if (typeof raw[k] === typeof SETTINGS[k]) {
        out[k] = raw[k];
      }
    }
  }
  return out;
}

export function saveSetting(key, value) {
  const settings = loadSettings();
  settings[key] = value;
  write(SETTINGS_KEY, settings);
}
