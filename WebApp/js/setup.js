// The Setup tab: profiles (built-in ones read-only, custom ones saved with
// PUT /anonymizer/profiles/{name}) with their burned-in text policy and
// pixel rules, a profile's effective rule table (attributes, then pixels),
// and the export destinations with a connection test.

import { ApiError, del, describe, enc, explain, get, post, put } from './api.js';
import { $, clear, emit, h, setStatus } from './dom.js';

// The options of a profile (doc/rest-api.md, Profiles), the seed's settings first.
const OPTIONS = [
  { key: 'BodyCharacteristics', group: 'seed',
    label: 'Body characteristics', help: 'sex, age, size, weight',
    values: ['keep', 'clear'] },
  { key: 'AgesOver89', group: 'seed', label: 'Ages over 89 (HIPAA)',
    help: 'aggregate: write 90 or older as 090Y; keep: keep ages as they are',
    values: ['aggregate', 'keep'] },
  { key: 'Dates', group: 'seed', label: 'Full dates',
    help: 'shift: moved by a fixed offset per patient',
    values: ['keep', 'shift', 'clear'] },
  { key: 'BirthDate', group: 'seed', label: 'Birth date',
    help: 'clear: 19000101', values: ['keep', 'clear'] },
  { key: 'PrivateTags', group: 'seed', label: 'Private tags',
    help: 'safe: only the private tags known to hold no identity; ' +
      'tcia: those and TCIA\'s knowledge base',
    values: ['keep', 'safe', 'tcia', 'clear'] },
  { key: 'SecondaryCapturesAndReports', group: 'seed',
    label: 'Secondary captures and structured reports',
    help: 'clear: not exported (with encapsulated documents)',
    values: ['keep', 'clear'] },
  { key: 'Descriptions', group: 'seed',
    label: 'Study and series descriptions',
    help: 'clean: identifying words removed', values: ['keep', 'clean', 'clear'] },
  { key: 'Uids', group: 'ps315', label: 'UIDs',
    help: 'Retain UIDs Option: keep; otherwise new UIDs', values: ['remap', 'keep'] },
  { key: 'DeviceIdentity', group: 'ps315', label: 'Device identity',
    help: 'Retain Device Identity Option', values: ['keep', 'clear'] },
  { key: 'InstitutionIdentity', group: 'ps315', label: 'Institution identity',
    help: 'Retain Institution Identity Option', values: ['keep', 'clear'] },
  { key: 'StructuredContent', group: 'ps315', label: 'Structured content',
    help: 'Clean Structured Content Option', values: ['keep', 'clean', 'clear'] },
  { key: 'Graphics', group: 'ps315', label: 'Graphics',
    help: 'Clean Graphics Option', values: ['keep', 'clear'] },
  // A <select> (#opt-BurnedInText), not radio buttons: see BURNED_HELP.
  { key: 'BurnedInText', group: 'pixels', label: 'Burned-in text',
    values: ['clean', 'strict', 'refuse', 'keep'] },
];
// One line per BurnedInText value, shown under the select.
const BURNED_HELP = {
  clean: 'Risky images (ultrasound, screen captures, Burned In Annotation ' +
    'YES…) are cleaned by the device rules, your pixel rules, or OCR of ' +
    'the words that match the patient\'s names, IDs and dates; an image ' +
    'nothing can clear is refused.',
  strict: 'As clean, but OCR blanks every word that is not a common ' +
    'clinical term.',
  refuse: 'Every risky image is refused (not stored), whatever the rules ' +
    'say; the others pass.',
  keep: 'Pixels pass unchanged and Burned In Annotation stays as it was: ' +
    'for teams that review every image by hand.',
};
// What a profile holds besides its options (GET /anonymizer/profiles/{name}).
const NOT_OPTIONS = ['Name', 'BuiltIn', 'Base', 'Keep', 'Remove', 'Replace',
                     'PixelRules'];
const U16_MAX = 65535;
const MAX_RECTANGLES = 64;
const BUILT_IN = ['Default', 'Full', 'Research'];
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

let bases = {};               // "Default"/"Full"/"Research" -> options
let shown = null;             // the profile shown: {Name, BuiltIn, ...}
let mode = 'view';            // 'view' (built-in), 'edit', 'new'
let rules = [];
let info = null;              // GET /anonymizer/info, once
let ruleSeq = 0;              // unique ids of the pixel rule editors
// The options of the profile shown that this page has no control for (a
// newer server's) and that the profile sets itself (they differ from its
// base): saved again as they are, never dropped.
let unknownOptions = {};

// --- profiles --------------------------------------------------------

function buildOptions() {
  for (const group of ['seed', 'ps315']) {
    const box = clear($('profile-options-' + group));
    for (const o of OPTIONS.filter((x) => x.group === group)) {
      const helpId = 'opt-' + o.key + '-help';
      box.appendChild(h('fieldset', { class: 'option', 'aria-describedby': helpId },
        h('legend', { text: o.label }),
        h('div', { class: 'choices' }, o.values.map((v) => {
          const id = 'opt-' + o.key + '-' + v;
          return h('span', { class: 'choice' },
            h('input', { type: 'radio', name: 'opt-' + o.key, id, value: v }),
            h('label', { for: id, text: v }));
        })),
        h('span', { class: 'hint', id: helpId, text: o.help })));
    }
  }
}

function optionValue(key) {
  const select = $('opt-' + key);
  if (select && select.tagName === 'SELECT') {
    return select.value || null;
  }
  const r = document.querySelector('input[name="opt-' + key + '"]:checked');
  return r ? r.value : null;
}

function setOption(key, value) {
  const select = $('opt-' + key);
  if (select && select.tagName === 'SELECT') {
    select.value = value || select.options[0].value;
    burnedHelp();
    return;
  }
  for (const r of document.querySelectorAll('input[name="opt-' + key + '"]')) {
    r.checked = r.value === value;
  }
}

function tagList(text) {
  const tokens = String(text || '').match(
    /\(?\s*[0-9A-Fa-fxX]{4}\s*,\s*[0-9A-Fa-fxX]{4}\s*\)?|[^\s,;()]+/g) || [];
  return tokens.map((t) => {
    const m = /^\(?\s*([0-9A-Fa-fxX]{4})\s*,\s*([0-9A-Fa-fxX]{4})\s*\)?$/.exec(t);
    return m ? (m[1] + ',' + m[2]).toUpperCase().replace(/X/g, 'x') : t;
  });
}

function replaceMap(text) {
  const out = {};
  for (const line of String(text || '').split(/\r?\n/)) {
    if (!line.trim()) {
      continue;
    }
    const i = line.indexOf('=');
    const tag = tagList(i < 0 ? line : line.slice(0, i))[0] || line.trim();
    out[tag] = i < 0 ? '' : line.slice(i + 1).trim();
  }
  return out;
}

function burnedHelp() {
  const v = $('opt-BurnedInText').value;
  $('opt-BurnedInText-help').textContent = BURNED_HELP[v] || '';
}

// --- the pixel rules editor ------------------------------------------

// A number input of the editor; `words` names it for a screen reader.
function numberInput(cls, value, words, readOnly) {
  return h('input', { type: 'number', class: cls, min: 0, max: U16_MAX,
                      step: 1, inputmode: 'numeric', 'aria-label': words,
                      value: value === undefined || value === null ? ''
                        : String(value),
                      disabled: readOnly });
}

function rectangleRow(rect, readOnly) {
  const r = rect || [];
  const row = h('tr', { class: 'rect' },
    h('th', { scope: 'row', class: 'rect-n' }),
    ['x', 'y', 'w', 'h'].map((k, i) => h('td', null,
      numberInput('rect-' + k, r[i], k, readOnly))),
    h('td', { class: 'actions' }, readOnly ? null : h('button', {
      type: 'button', class: 'small danger rect-remove', text: 'Remove',
      on: { click: (e) => removeRectangle(e.currentTarget) } })));
  return row;
}

function removeRectangle(button) {
  const row = button.closest('tr');
  const li = button.closest('li.pixel-rule');
  const next = row.nextElementSibling || row.previousElementSibling;
  row.remove();
  renumberRules();
  const target = next ? next.querySelector('input')
    : li.querySelector('button.rect-add');
  target.focus();
}

function addRectangle(li, focus) {
  const body = li.querySelector('tbody');
  if (body.children.length >= MAX_RECTANGLES) {
    setStatus($('pixel-rules-status'), 'A rule holds at most ' +
      MAX_RECTANGLES + ' rectangles.', 'error');
    return;
  }
  const row = rectangleRow(null, false);
  body.appendChild(row);
  renumberRules();
  if (focus) {
    row.querySelector('input').focus();
  }
}

function ruleField(seq, key, label, value, type, readOnly, hint) {
  const id = 'pr-' + seq + '-' + key;
  return h('div', { class: 'field' },
    h('label', { for: id, text: label }),
    h('input', { id, type, class: 'pr-' + key,
                 value: value === undefined || value === null ? ''
                   : String(value),
                 min: type === 'number' ? 0 : null,
                 max: type === 'number' ? U16_MAX : null,
                 step: type === 'number' ? 1 : null,
                 maxlength: type === 'text' ? 64 : null,
                 placeholder: hint || null,
                 disabled: readOnly }));
}

function ruleEditor(rule, readOnly) {
  const seq = ++ruleSeq;
  const r = rule || {};
  const li = h('li', { class: 'pixel-rule', dataset: { seq: String(seq) } });
  const title = h('h4', { class: 'pixel-rule-title', id: 'pr-' + seq +
                          '-title', tabindex: '-1' });
  li.appendChild(h('div', { class: 'pixel-rule-head' }, title,
    readOnly ? null : h('button', { type: 'button',
      class: 'small danger rule-remove', text: 'Remove this rule',
      on: { click: () => removeRule(li) } })));
  li.appendChild(h('div', { class: 'field-row pixel-rule-fields' },
    ruleField(seq, 'Label', 'Label', r.Label, 'text', readOnly,
              'e.g. top banner'),
    ruleField(seq, 'Manufacturer', 'Manufacturer', r.Manufacturer, 'text',
              readOnly),
    ruleField(seq, 'Model', 'Model', r.Model, 'text', readOnly)));
  li.appendChild(h('div', { class: 'field-row pixel-rule-fields size' },
    ruleField(seq, 'Rows', 'Rows (image height)', r.Rows, 'number',
              readOnly, 'any'),
    ruleField(seq, 'Columns', 'Columns (image width)', r.Columns, 'number',
              readOnly, 'any')));
  const body = h('tbody');
  for (const rect of Array.isArray(r.Rectangles) ? r.Rectangles : []) {
    body.appendChild(rectangleRow(rect, readOnly));
  }
  li.appendChild(h('div', { class: 'rects-wrap' }, h('table', {
    class: 'data compact rects' },
    h('caption', { class: 'rects-caption' }),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', text: '#' }),
      h('th', { scope: 'col', text: 'x' }),
      h('th', { scope: 'col', text: 'y' }),
      h('th', { scope: 'col', text: 'width' }),
      h('th', { scope: 'col', text: 'height' }),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden',
                                            text: 'Actions' })))),
    body)));
  if (!readOnly) {
    li.appendChild(h('div', { class: 'toolbar' }, h('button', {
      type: 'button', class: 'small rect-add', text: 'Add a rectangle',
      on: { click: () => addRectangle(li, true) } })));
  }
  return li;
}

// Numbers the rules and their rectangles, and names every input after
// them ("Rule 2, rectangle 1, x").
function renumberRules() {
  const items = $('pixel-rules').querySelectorAll('li.pixel-rule');
  $('pixel-rules-empty').hidden = items.length > 0;
  items.forEach((li, i) => {
    const n = i + 1;
    const label = li.querySelector('input.pr-Label').value.trim();
    li.querySelector('.pixel-rule-title').textContent = 'Rule ' + n +
      (label ? ': ' + label : '');
    const remove = li.querySelector('button.rule-remove');
    if (remove) {
      remove.setAttribute('aria-label', 'Remove rule ' + n);
    }
    const add = li.querySelector('button.rect-add');
    if (add) {
      add.setAttribute('aria-label', 'Add a rectangle to rule ' + n);
    }
    const rows = li.querySelectorAll('tr.rect');
    li.querySelector('.rects-caption').textContent = 'Rectangles of rule ' +
      n + (rows.length ? '' : ': none yet');
    rows.forEach((row, j) => {
      const where = 'Rule ' + n + ', rectangle ' + (j + 1);
      row.querySelector('.rect-n').textContent = String(j + 1);
      for (const [k, words] of [['x', 'x'], ['y', 'y'], ['w', 'width'],
                                ['h', 'height']]) {
        row.querySelector('input.rect-' + k).setAttribute('aria-label',
          where + ', ' + words);
      }
      const b = row.querySelector('button.rect-remove');
      if (b) {
        b.setAttribute('aria-label', 'Remove ' + where.toLowerCase());
      }
    });
  });
}

function showPixelRules(list, readOnly) {
  const box = clear($('pixel-rules'));
  for (const r of Array.isArray(list) ? list : []) {
    box.appendChild(ruleEditor(r, readOnly));
  }
  $('pixel-rule-add').hidden = readOnly;
  setStatus($('pixel-rules-status'), '', '');
  renumberRules();
}

function addRule() {
  const li = ruleEditor({}, false);
  $('pixel-rules').appendChild(li);
  addRectangle(li, false);
  renumberRules();
  li.querySelector('input.pr-Label').focus();
}

function removeRule(li) {
  const next = li.nextElementSibling || li.previousElementSibling;
  li.remove();
  renumberRules();
  if (next) {
    next.querySelector('.pixel-rule-title').focus();
  } else {
    $('pixel-rule-add').focus();
  }
}

// A number typed in the editor: null when empty, NaN when it is not a
// whole number from 0 to 65535.
function u16(input) {
  if (input.validity && input.validity.badInput) {
    return NaN;
  }
  const text = input.value.trim();
  if (text === '') {
    return null;
  }
  const v = Number(text);
  return Number.isInteger(v) && v >= 0 && v <= U16_MAX ? v : NaN;
}

// The editor as the profile's "PixelRules"; {error, input} when a number
// is not one.  The rest (a manufacturer or model, at least one
// rectangle, sizes above 0) is checked by the server, whose words are
// shown (pixelError).
function collectPixelRules() {
  const out = [];
  for (const el of $('pixel-rules').querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
  }
  const items = $('pixel-rules').querySelectorAll('li.pixel-rule');
  for (let i = 0; i < items.length; i++) {
    const li = items[i];
    li.classList.remove('invalid');
    const rule = {};
    for (const k of ['Label', 'Manufacturer', 'Model']) {
      const v = li.querySelector('input.pr-' + k).value.trim();
      if (v) {
        rule[k] = v;
      }
    }
    for (const [k, words] of [['Rows', 'rows'], ['Columns', 'columns']]) {
      const input = li.querySelector('input.pr-' + k);
      const v = u16(input);
      if (Number.isNaN(v)) {
        return { error: 'Pixel rule ' + (i + 1) + ': ' + words + ' must be ' +
                 'a whole number from 0 to ' + U16_MAX + ', or empty for any ' +
                 'size.', input };
      }
      if (v) {
        rule[k] = v;
      }
    }
    rule.Rectangles = [];
    const rows = li.querySelectorAll('tr.rect');
    for (let j = 0; j < rows.length; j++) {
      const rect = [];
      for (const [k, words] of [['x', 'x'], ['y', 'y'], ['w', 'width'],
                                ['h', 'height']]) {
        const input = rows[j].querySelector('input.rect-' + k);
        const v = u16(input);
        if (v === null || Number.isNaN(v)) {
          return { error: 'Pixel rule ' + (i + 1) + ', rectangle ' + (j + 1) +
                   ': ' + words + ' must be a whole number from 0 to ' +
                   U16_MAX + '.', input };
        }
        rect.push(v);
      }
      rule.Rectangles.push(rect);
    }
    out.push(rule);
  }
  return { rules: out };
}

// The server refused the profile: when its words are about PixelRules,
// they are shown next to the editor too and the rule named is marked.
function pixelError(e) {
  const words = describe(e);
  if (!/PixelRules/.test(words)) {
    return;
  }
  setStatus($('pixel-rules-status'), words, 'error');
  const m = /rule (\d+)/.exec(words);
  const items = $('pixel-rules').querySelectorAll('li.pixel-rule');
  const li = m ? items[Number(m[1]) - 1] : null;
  if (li) {
    li.classList.add('invalid');
    li.setAttribute('aria-invalid', 'true');
  }
}

async function loadInfo() {
  if (info) {
    return info;
  }
  try {
    info = await get('anonymizer/info');
  } catch (e) {
    return null;      // the page works without it
  }
  const pixels = info && info.Pixels;
  $('pixels-ocr-missing').hidden = !(pixels && pixels.OCR === false);
  return info;
}

function showProfile(profile, newMode) {
  shown = profile;
  mode = newMode;
  const readOnly = mode === 'view';
  $('profile-title').textContent = mode === 'new' ? 'New profile'
    : 'Profile ' + profile.Name;
  $('profile-readonly').hidden = !readOnly;
  $('profile-name').value = mode === 'new' ? '' : profile.Name;
  $('profile-name').readOnly = mode !== 'new';
  $('profile-base').value = profile.Base || 'Default';
  for (const o of OPTIONS) {
    setOption(o.key, profile[o.key]);
  }
  $('profile-keep').value = (profile.Keep || []).join(', ');
  $('profile-remove').value = (profile.Remove || []).join(', ');
  $('profile-replace').value = Object.entries(profile.Replace || {})
    .map(([k, v]) => k + ' = ' + v).join('\n');
  showPixelRules(profile.PixelRules, readOnly);
  unknownOptions = {};
  const base = bases[profile.Base] || {};
  for (const [k, v] of Object.entries(profile)) {
    if (!NOT_OPTIONS.includes(k) && !OPTIONS.some((o) => o.key === k) &&
        typeof v === 'string' && v !== base[k]) {
      unknownOptions[k] = v;
    }
  }
  for (const el of $('profile-form').querySelectorAll('input, select, textarea')) {
    if (el.id !== 'profile-name') {
      el.disabled = readOnly;
    }
    // A placeholder in a read-only field would look like a value.
    if (el.dataset.placeholder === undefined) {
      el.dataset.placeholder = el.getAttribute('placeholder') || '';
    }
    if (el.dataset.placeholder) {
      el.placeholder = readOnly ? '' : el.dataset.placeholder;
    }
  }
  $('profile-name').disabled = readOnly;
  $('profile-save').hidden = readOnly;
  $('profile-delete').hidden = mode !== 'edit';
  $('profile-copy').hidden = mode === 'new';
  $('profile-rules-button').hidden = mode === 'new';
  resetDelete();
  for (const b of document.querySelectorAll('#profile-list button')) {
    b.setAttribute('aria-current', String(mode !== 'new' &&
                                          b.dataset.name === profile.Name));
  }
  setStatus($('profile-status'), '', '');
}

async function openProfile(name, focusForm) {
  try {
    const p = await get('anonymizer/profiles/' + enc(name));
    showProfile(p, p.BuiltIn ? 'view' : 'edit');
    if (focusForm) {
      $('profile-title').focus();
    }
  } catch (e) {
    setStatus($('profile-status'), 'The profile could not be read: ' +
      describe(e), 'error');
  }
}

async function loadBases() {
  for (const b of BUILT_IN) {
    bases[b] = await get('anonymizer/profiles/' + b);
  }
}

export async function loadProfiles(select) {
  const list = clear($('profile-list'));
  let names = [];
  try {
    names = await get('anonymizer/profiles');
    if (!bases.Default) {
      await loadBases();
    }
  } catch (e) {
    setStatus($('profile-status'), 'The profiles could not be read: ' +
      describe(e), 'error');
    return;
  }
  for (const n of names) {
    const builtIn = BUILT_IN.includes(n);
    list.appendChild(h('li', null, h('button', {
      type: 'button', class: 'pick', dataset: { name: n },
      on: { click: () => openProfile(n, true) },
    }, h('span', { text: n }),
    builtIn ? h('span', { class: 'badge builtin', text: 'built-in' }) : null)));
  }
  const target = select && names.includes(select) ? select
    : (shown && names.includes(shown.Name) ? shown.Name : 'Default');
  if (mode !== 'new' || select) {
    await openProfile(target, false);
  }
}

function newProfile(from) {
  const base = from && BUILT_IN.includes(from.Name) ? from.Name
    : (from ? from.Base : 'Default');
  const p = Object.assign({}, from || bases.Default, { Name: '', Base: base,
                                                       BuiltIn: false });
  showProfile(p, 'new');
  $('profile-name').focus();
}

// The base changed: options that followed the old base follow the new.
function baseChanged() {
  const next = bases[$('profile-base').value];
  const previous = bases[shown && shown.Base] || bases.Default;
  if (!next || !previous) {
    return;
  }
  for (const o of OPTIONS) {
    if (optionValue(o.key) === previous[o.key]) {
      setOption(o.key, next[o.key]);
    }
  }
  shown = Object.assign({}, shown, { Base: $('profile-base').value });
}

async function saveProfile(event) {
  event.preventDefault();
  const status = $('profile-status');
  const name = $('profile-name').value.trim();
  if (!NAME_RE.test(name)) {
    setStatus(status, 'The name must be 1 to 64 letters, digits, “-”, “_” ' +
      'or “.”.', 'error');
    $('profile-name').focus();
    return;
  }
  if (BUILT_IN.includes(name)) {
    setStatus(status, '“' + name + '” is a built-in profile: choose ' +
      'another name.', 'error');
    return;
  }
  const baseName = $('profile-base').value;
  const base = bases[baseName] || {};
  // Only what differs from the base is stored: the profile follows later
  // changes of its base for everything else.
  const body = { Base: baseName };
  for (const [k, v] of Object.entries(unknownOptions)) {
    if (v !== base[k]) {
      body[k] = v;
    }
  }
  for (const o of OPTIONS) {
    const v = optionValue(o.key);
    if (v && v !== base[o.key]) {
      body[o.key] = v;
    }
  }
  const keep = tagList($('profile-keep').value);
  const remove = tagList($('profile-remove').value);
  const replace = replaceMap($('profile-replace').value);
  if (keep.length) {
    body.Keep = keep;
  }
  if (remove.length) {
    body.Remove = remove;
  }
  if (Object.keys(replace).length) {
    body.Replace = replace;
  }
  const pixels = collectPixelRules();
  if (pixels.error) {
    setStatus(status, 'Not saved: ' + pixels.error, 'error');
    setStatus($('pixel-rules-status'), pixels.error, 'error');
    pixels.input.setAttribute('aria-invalid', 'true');
    pixels.input.focus();
    return;
  }
  if (pixels.rules.length) {
    body.PixelRules = pixels.rules;
  }
  if (mode === 'new') {
    try {
      await get('anonymizer/profiles/' + enc(name));
      setStatus(status, 'A profile “' + name + '” exists already: choose ' +
        'another name, or open it to change it.', 'error');
      return;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) {
        setStatus(status, describe(e), 'error');
        return;
      }
    }
  }
  try {
    await put('anonymizer/profiles/' + enc(name), body);
  } catch (e) {
    setStatus(status, 'Not saved: ' + describe(e), 'error');
    pixelError(e);
    return;
  }
  mode = 'edit';
  await loadProfiles(name);
  setStatus(status, 'Profile “' + name + '” saved.', 'ok');
  emit('profiles-changed');
}

let deleteArmed = null;

function resetDelete() {
  clearTimeout(deleteArmed);
  deleteArmed = null;
  $('profile-delete').textContent = 'Delete';
}

async function deleteProfile() {
  const name = shown && shown.Name;
  if (!name || mode !== 'edit') {
    return;
  }
  if (!deleteArmed) {
    // A second press confirms (no blocking dialog).
    $('profile-delete').textContent = 'Press again to delete “' + name + '”';
    deleteArmed = setTimeout(resetDelete, 5000);
    return;
  }
  resetDelete();
  try {
    await del('anonymizer/profiles/' + enc(name));
  } catch (e) {
    setStatus($('profile-status'), 'Not deleted: ' + describe(e), 'error');
    return;
  }
  shown = null;
  mode = 'view';
  await loadProfiles('Default');
  setStatus($('profile-status'), 'Profile “' + name + '” deleted.', 'ok');
  emit('profiles-changed');
}

// --- the rule table --------------------------------------------------

async function showRules() {
  const name = shown && shown.Name;
  if (!name) {
    return;
  }
  $('rules-card').hidden = false;
  $('rules-title').textContent = 'Rule table of ' + name;
  setStatus($('rules-status'), 'Reading…', 'busy');
  clear($('rules-body'));
  try {
    rules = (await get('anonymizer/profiles/' + enc(name) + '/rules')) || [];
  } catch (e) {
    setStatus($('rules-status'), 'The rules could not be read: ' +
      describe(e), 'error');
    return;
  }
  renderRules();
  $('rules-title').scrollIntoView({ block: 'start' });
  $('rules-filter').focus();
}

function renderRules() {
  const filter = $('rules-filter').value.trim().toLowerCase();
  const body = clear($('rules-body'));
  const fragment = document.createDocumentFragment();
  let n = 0;
  let total = 0;
  for (const r of rules) {
    if (r.PixelRule) {
      continue;
    }
    total++;
    const cells = [r.Tag, r.Keyword, r.Name, r.Action, r.Source, r.Reason,
                   r.Path]
      .map((x) => (x === undefined || x === null ? '' : String(x)));
    if (r.PrivateCreator) {
      cells[2] += ' [' + r.PrivateCreator + ']';
    }
    if (r.Value !== undefined && r.Value !== null && r.Value !== '') {
      cells[3] += ' “' + r.Value + '”';
    }
    if (filter && !cells.join(' ').toLowerCase().includes(filter)) {
      continue;
    }
    n++;
    // A knowledge base row inside sequences: its path under the tag.
    fragment.appendChild(h('tr', { dataset: { action: r.Action || '',
                                              source: cells[4] } },
      h('td', { class: 'mono' }, h('span', { text: cells[0] }),
        cells[6] ? h('span', { class: 'path', text: 'at ' + cells[6] })
          : null),
      h('td', { text: cells[1] }),
      h('td', { text: cells[2] }),
      h('td', null, h('span', { class: 'action ' + (r.Action || ''),
                                text: cells[3] })),
      h('td', { class: 'source', text: cells[4] }),
      h('td', { class: 'muted', text: cells[5] })));
  }
  body.appendChild(fragment);
  const pixels = renderPixelRules(filter);
  setStatus($('rules-status'), n + ' of ' + total + ' attribute rules and ' +
    pixels.shown + ' of ' + pixels.total + ' pixel rules shown.', '');
}

// The pixel rows (7FE0,0010) of the rule table, in their own section:
// the profile's rules and OCR always in view, the device rules (deid's,
// more than a hundred) in a collapsed <details>.
function renderPixelRules(filter) {
  const own = clear($('pixel-own-body'));
  const device = clear($('pixel-device-body'));
  const all = rules.filter((r) => r.PixelRule);
  // A server without pixel rows (before burned-in text): no section.
  $('pixel-section').hidden = all.length === 0;
  let count = 0;
  let deviceTotal = 0;
  let deviceShown = 0;
  for (const r of all) {
    const cells = [r.Name, r.Action, r.Source, r.Condition, r.Reason]
      .map((x) => (x === undefined || x === null ? '' : String(x)));
    const isDevice = /^deid/.test(cells[2]);
    if (isDevice) {
      deviceTotal++;
    }
    if (filter && !cells.join(' ').toLowerCase().includes(filter)) {
      continue;
    }
    count++;
    const row = h('tr', { dataset: { action: r.Action || '',
                                     source: cells[2] } },
      h('td', { text: cells[0] }),
      h('td', null, h('span', { class: 'action ' + (r.Action || ''),
                                text: cells[1] })),
      h('td', { class: 'source', text: cells[2] }),
      h('td', { class: 'condition', text: cells[3] }),
      isDevice ? null : h('td', { class: 'muted', text: cells[4] }));
    if (isDevice) {
      deviceShown++;
      device.appendChild(row);
    } else {
      own.appendChild(row);
    }
  }
  $('pixel-device-summary').textContent = (filter ? deviceShown + ' of ' : '') +
    deviceTotal + ' device rules (deid.dicom by pydicom/deid, MIT licence)';
  if (filter && deviceShown > 0) {
    $('pixel-device').open = true;
  }
  const burned = (shown && shown.BurnedInText) || 'clean';
  const pixels = info && info.Pixels;
  $('pixel-summary').textContent = 'Burned-in text: ' + burned + '. ' +
    (pixels ? (pixels.OCR ? 'OCR available' + (pixels.OcrVersion
      ? ' (Tesseract ' + pixels.OcrVersion + ')' : '') + '.'
      : 'OCR is not available on this server: risky images that no rule ' +
        'covers will be refused.') : '') +
    ' A risky image is blanked where the profile\'s rules and the device ' +
    'rules that match it say; one that no rule covers is read by OCR.';
  return { shown: count, total: all.length };
}

// --- destinations ----------------------------------------------------

const URL_HINTS = {
  ftp: 'ftp://host:port/folder',
  ftps: 'ftps://host:port/folder',
  sftp: 'sftp://host:port/folder',
  webdav: 'https://host:port/path/',
  stow: 'https://host:port/dicom-web (the DICOMweb base; a password ' +
    'without a user name is a bearer token)',
  folder: 'a folder under the server\'s export folder, e.g. lab/incoming',
};
let destinations = [];
let editing = null;            // the destination being edited, or null

function typeChanged() {
  const type = $('destination-type').value;
  for (const el of document.querySelectorAll('#destination-form [data-for]')) {
    el.hidden = !el.dataset.for.split(' ').includes(type);
  }
  $('destination-url-label').textContent = type === 'folder' ? 'Folder'
    : 'Address (URL)';
  $('destination-url-hint').textContent = URL_HINTS[type] || '';
}

function editDestination(d) {
  editing = d;
  $('destination-title').textContent = d ? 'Destination ' + d.Name
    : 'New destination';
  $('destination-name').value = d ? d.Name : '';
  $('destination-name').readOnly = !!d;
  $('destination-type').value = d ? d.Type : 'sftp';
  $('destination-url').value = d ? d.Url || '' : '';
  $('destination-username').value = d ? d.Username || '' : '';
  $('destination-password').value = '';
  $('destination-password').placeholder = d && d.HasPassword
    ? 'saved (leave empty to keep it)' : '';
  $('destination-key').value = '';
  $('destination-key').placeholder = d && d.HasPrivateKey
    ? 'saved (leave empty to keep it)' : '';
  $('destination-knownhosts').value = d ? d.KnownHosts || '' : '';
  $('destination-fingerprint').value = d ? d.HostKeySha256 || '' : '';
  $('destination-cafile').value = d ? d.CaFile || '' : '';
  $('destination-timeout').value = d && d.Timeout ? d.Timeout : '';
  const readOnly = !!(d && d.ReadOnly);
  for (const el of $('destination-form').querySelectorAll('input, select, textarea')) {
    el.disabled = readOnly && el.id !== 'destination-name';
  }
  $('destination-save').disabled = readOnly;
  $('destination-test').textContent = readOnly ? 'Test the connection'
    : 'Save and test the connection';
  typeChanged();
  setStatus($('destination-status'), readOnly
    ? 'Configured in Orthanc\'s configuration file: read-only here.' : '', '');
}

async function loadDestinations() {
  const body = clear($('destinations-body'));
  let names;
  try {
    names = (await get('anonymizer/destinations')) || [];
    destinations = await Promise.all(names.map(
      (n) => get('anonymizer/destinations/' + enc(n))
        .then((d) => Object.assign({ Name: n }, d))));
  } catch (e) {
    setStatus($('destinations-status'), 'The destinations could not be ' +
      'read: ' + describe(e), 'error');
    return;
  }
  $('destinations-empty').hidden = destinations.length > 0;
  $('destinations-wrap').hidden = destinations.length === 0;
  for (const d of destinations) {
    body.appendChild(h('tr', { dataset: { name: d.Name } },
      h('th', { scope: 'row', text: d.Name }),
      h('td', { text: d.Type || '' }),
      h('td', { class: 'url' }, h('span', { text: d.Url || '' }),
        d.ReadOnly ? h('span', { class: 'badge builtin', text: 'configured' })
          : null),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'small', text: 'Edit',
                      'aria-label': 'Edit ' + d.Name,
                      on: { click: () => {
                        editDestination(d);
                        $('destination-url').focus();
                      } } }),
        h('button', { type: 'button', class: 'small test', text: 'Test',
                      'aria-label': 'Test the connection to ' + d.Name,
                      on: { click: () => testDestination(d.Name,
                                                         $('destinations-status')) } }),
        h('button', { type: 'button', class: 'small danger', text: 'Delete',
                      'aria-label': 'Delete ' + d.Name, disabled: !!d.ReadOnly,
                      on: { click: (e) => deleteDestination(d.Name,
                                                            e.currentTarget) } }))));
  }
}

function destinationBody() {
  const type = $('destination-type').value;
  const body = { Type: type, Url: $('destination-url').value.trim() };
  const text = (id) => $(id).value.trim();
  if (type !== 'folder') {
    if (text('destination-username')) {
      body.Username = text('destination-username');
    }
    if ($('destination-password').value) {
      body.Password = $('destination-password').value;
    }
    if (text('destination-timeout')) {
      body.Timeout = Number(text('destination-timeout'));
    }
  }
  if (type === 'sftp') {
    if (text('destination-key')) {
      body.PrivateKey = $('destination-key').value.trim() + '\n';
    }
    if (text('destination-knownhosts')) {
      body.KnownHosts = text('destination-knownhosts');
    }
    if (text('destination-fingerprint')) {
      body.HostKeySha256 = text('destination-fingerprint')
        .replace(/^SHA256:/, '');
    }
  }
  if ((type === 'ftps' || type === 'webdav' || type === 'stow') &&
      text('destination-cafile')) {
    body.CaFile = text('destination-cafile');
  }
  return body;
}

async function saveDestination() {
  const status = $('destination-status');
  const name = $('destination-name').value.trim();
  if (!NAME_RE.test(name)) {
    setStatus(status, 'The name must be 1 to 64 letters, digits, “-”, “_” ' +
      'or “.”.', 'error');
    $('destination-name').focus();
    return null;
  }
  if (!editing && destinations.some((d) => d.Name === name)) {
    setStatus(status, 'A destination “' + name + '” exists already: press ' +
      'its “Edit” button to change it.', 'error');
    return null;
  }
  let saved;
  try {
    saved = await put('anonymizer/destinations/' + enc(name),
                      destinationBody());
  } catch (e) {
    setStatus(status, 'Not saved: ' + describe(e), 'error');
    return null;
  }
  await loadDestinations();
  editDestination(Object.assign({ Name: name }, saved));
  setStatus(status, 'Destination “' + name + '” saved.', 'ok');
  emit('destinations-changed');
  return name;
}

async function testDestination(name, status) {
  setStatus(status, 'Testing the connection to “' + name + '”…', 'busy');
  try {
    await post('anonymizer/destinations/' + enc(name) + '/test', {});
    setStatus(status, 'The connection to “' + name + '” works.', 'ok');
  } catch (e) {
    setStatus(status, 'The connection to “' + name + '” failed: ' +
      explain(e), 'error');
  }
}

async function deleteDestination(name, button) {
  if (button.dataset.armed !== '1') {
    button.dataset.armed = '1';
    button.textContent = 'Press again to delete';
    setTimeout(() => {
      button.dataset.armed = '';
      button.textContent = 'Delete';
    }, 5000);
    return;
  }
  try {
    await del('anonymizer/destinations/' + enc(name));
  } catch (e) {
    setStatus($('destinations-status'), 'Not deleted: ' + describe(e),
      'error');
    return;
  }
  if (editing && editing.Name === name) {
    editDestination(null);
  }
  await loadDestinations();
  setStatus($('destinations-status'), 'Destination “' + name + '” deleted.',
    'ok');
  emit('destinations-changed');
  $('destination-new').focus();
}

export function activate() {
  loadInfo();
  loadProfiles();
  loadDestinations();
}

export function init() {
  buildOptions();
  $('profile-title').tabIndex = -1;
  $('profile-form').addEventListener('submit', saveProfile);
  $('profile-new').addEventListener('click', () => newProfile(null));
  $('profile-copy').addEventListener('click', () => newProfile(shown));
  $('profile-delete').addEventListener('click', deleteProfile);
  $('profile-base').addEventListener('change', baseChanged);
  $('profile-rules-button').addEventListener('click', showRules);
  $('opt-BurnedInText').addEventListener('change', burnedHelp);
  $('pixel-rule-add').addEventListener('click', addRule);
  // Rule titles follow their label.
  $('pixel-rules').addEventListener('input', (e) => {
    if (e.target.classList.contains('pr-Label')) {
      renumberRules();
    }
  });
  let timer = null;
  $('rules-filter').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(renderRules, 150);
  });
  $('destination-type').addEventListener('change', typeChanged);
  $('destination-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveDestination();
  });
  $('destination-test').addEventListener('click', async () => {
    const name = editing && editing.ReadOnly ? editing.Name
      : await saveDestination();
    if (name) {
      await testDestination(name, $('destination-status'));
    }
  });
  $('destination-new').addEventListener('click', () => {
    editDestination(null);
    $('destination-name').focus();
  });
  editDestination(null);
}
