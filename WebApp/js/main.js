// The page's entry point: the tabs (Anonymize, Export, Setup, Reports),
// with the keyboard (arrows, Home, End) and the URL's #hash.

import * as anonymize from './anonymize.js';
import * as exporter from './export.js';
import * as setup from './setup.js';
import * as reports from './reports.js';
import { emit, on } from './dom.js';
import { LIST_KEY, SELECTION_KEY } from './storage.js';

const MODULES = { anonymize, export: exporter, setup, reports };
const tabs = Array.from(document.querySelectorAll('[role="tab"]'));

function select(name, focus) {
  const tab = tabs.find((t) => t.dataset.tab === name) || tabs[0];
  for (const t of tabs) {
    const active = t === tab;
    t.setAttribute('aria-selected', String(active));
    t.tabIndex = active ? 0 : -1;
    document.getElementById(t.getAttribute('aria-controls')).hidden = !active;
  }
  if (focus) {
    tab.focus();
  }
  const hash = '#' + tab.dataset.tab;
  if (window.location.hash !== hash) {
    history.replaceState(null, '', hash);
  }
  document.title = tab.textContent + ' – Orthanc Anonymizer';
  const module = MODULES[tab.dataset.tab];
  if (module && module.activate) {
    module.activate();
  }
}

function onKey(event) {
  const i = tabs.indexOf(event.currentTarget);
  let next = null;
  if (event.key === 'ArrowRight') {
    next = tabs[(i + 1) % tabs.length];
  } else if (event.key === 'ArrowLeft') {
    next = tabs[(i - 1 + tabs.length) % tabs.length];
  } else if (event.key === 'Home') {
    next = tabs[0];
  } else if (event.key === 'End') {
    next = tabs[tabs.length - 1];
  }
  if (next) {
    event.preventDefault();
    select(next.dataset.tab, true);
  }
}

function start() {
  for (const t of tabs) {
    t.addEventListener('click', () => select(t.dataset.tab, false));
    t.addEventListener('keydown', onKey);
  }
  for (const m of Object.values(MODULES)) {
    m.init();
  }
  on('show-tab', (name) => select(name, true));
  // Orthanc Explorer (another tab of the same Orthanc) adds to the list.
  window.addEventListener('storage', (e) => {
    if (e.key === LIST_KEY || e.key === null) {
      emit('list-changed');
    }
    if (e.key === SELECTION_KEY) {
      emit('selection-changed');
    }
  });
  window.addEventListener('hashchange', () => {
    select(window.location.hash.slice(1), false);
  });
  select(window.location.hash.slice(1) || 'anonymize', false);
  document.body.dataset.ready = '1';
}

start();
