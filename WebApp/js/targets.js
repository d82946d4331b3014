// A target chooser: where an export (Export tab) or an anonymization on
// the way out (Anonymize tab) sends the files.  The same markup twice in
// index.html, told apart by the prefix of its ids:
//
//   <radio>-zip, <radio>-dicom, <radio>-peer, <radio>-destination,
//   <radio>-folder            the radio buttons (name="<radio>")
//   <radio>-dicom-name, ...   their select (modality, peer, destination)
//                             or text field (folder)
//   dicomdir, compression, mapping   the options' ids, given apart
//
// read() gives the Target of POST /anonymizer/export and words for it.

import { get } from './api.js';
import { $, clear, h } from './dom.js';

const NAMED = ['dicom', 'peer', 'destination', 'folder'];

export function chooser(ids) {
  const radio = (kind) => $(ids.radio + '-' + kind);
  const input = (kind) => $(ids.radio + '-' + kind + '-name');

  function kind() {
    const checked = document.querySelector(
      'input[name="' + ids.radio + '"]:checked');
    return (checked || radio('zip')).value;
  }

  async function fillSelect(which, path, none) {
    const select = input(which);
    const current = select.value;
    clear(select);
    let names = [];
    try {
      names = (await get(path)) || [];
    } catch (e) {
      names = [];
    }
    if (!Array.isArray(names)) {
      // ?expand answers an object keyed by name.
      names = Object.keys(names);
    }
    for (const n of names) {
      select.appendChild(h('option', { value: n, text: n }));
    }
    if (names.length === 0) {
      select.appendChild(h('option', { value: '', text: none }));
    }
    if (names.includes(current)) {
      select.value = current;
    }
    select.disabled = names.length === 0;
    radio(which).disabled = names.length === 0;
    if (radio(which).disabled && radio(which).checked) {
      radio('zip').checked = true;
      follow();
    }
  }

  function fill() {
    return Promise.all([
      fillSelect('dicom', 'modalities', 'none configured'),
      fillSelect('peer', 'peers', 'none configured'),
      fillSelect('destination', 'anonymizer/destinations',
                 'none saved (Setup)'),
    ]);
  }

  // "DICOM media": a File-set with a DICOMDIR (zip and folder targets
  // only; the server refuses it elsewhere, and says so).
  function withMedia(t) {
    if ($(ids.dicomdir).checked) {
      t.Dicomdir = true;
    }
    return t;
  }

  // {target, title}: the Target object and its words ("ZIP file").
  function read() {
    switch (kind()) {
    case 'dicom':
      return { target: { Type: 'dicom', Modality: input('dicom').value },
               title: 'DICOM modality ' + input('dicom').value };
    case 'peer':
      return { target: { Type: 'peer', Peer: input('peer').value },
               title: 'Orthanc peer ' + input('peer').value };
    case 'destination':
      return { target: { Type: 'destination',
                         Name: input('destination').value },
               title: 'destination ' + input('destination').value };
    case 'folder':
      return { target: withMedia({ Type: 'folder',
                                   Folder: input('folder').value.trim() }),
               title: 'server folder ' + input('folder').value.trim() };
    default: {
      const t = withMedia({ Type: 'zip' });
      if ($(ids.compression).value !== 'fast') {
        t.Compression = $(ids.compression).value;
      }
      if ($(ids.mapping) && $(ids.mapping).checked) {
        t.Mapping = true;
      }
      return { target: t, title: 'ZIP file' };
    }
    }
  }

  // The options that apply to the chosen target, the others disabled.
  function follow() {
    const k = kind();
    $(ids.dicomdir).disabled = k !== 'zip' && k !== 'folder';
    $(ids.compression).disabled = k !== 'zip';
    if ($(ids.mapping)) {
      $(ids.mapping).disabled = k !== 'zip';
    }
  }

  function init() {
    // Choosing a name in a target's list (or typing a folder) picks that
    // target; passing through it with Tab does not.
    for (const k of NAMED) {
      input(k).addEventListener(k === 'folder' ? 'input' : 'change', () => {
        if (!radio(k).disabled) {
          radio(k).checked = true;
          follow();
        }
      });
    }
    document.querySelectorAll('input[name="' + ids.radio + '"]').forEach(
      (r) => r.addEventListener('change', follow));
    follow();
  }

  return { fill, read, follow, init, kind };
}
