// Before/after previews of the images whose pixels were cleaned: Orthanc
// renders each image (GET /instances/{id}/preview, a PNG), the page draws
// it into a canvas and outlines the boxes that were blanked (solid red)
// and kept (dashed green, e.g. an ultrasound region restored).
//
// The previews are requested with the user's own credentials (the
// browser's, as every other request of the page): a user Orthanc does not
// let read the original (401, 403) gets a sentence instead of a picture.

import { url } from './api.js';
import { h, plural } from './dom.js';

const MAX_IMAGES = 6;         // pairs shown on a card or a report
const MAX_W = 200;            // canvas size, CSS pixels
const MAX_H = 160;

// The image of `instance` as an ImageBitmap, or {status} when Orthanc
// refuses it.
async function load(instance) {
  let response;
  try {
    response = await fetch(url('instances/' + encodeURIComponent(instance) +
                               '/preview'), { credentials: 'same-origin' });
  } catch (e) {
    return { status: 0 };
  }
  if (!response.ok) {
    return { status: response.status };
  }
  try {
    return { bitmap: await createImageBitmap(await response.blob()) };
  } catch (e) {
    return { status: -1 };
  }
}

function draw(canvas, bitmap, boxes) {
  const scale = Math.min(MAX_W / bitmap.width, MAX_H / bitmap.height, 4);
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const g = canvas.getContext('2d');
  g.imageSmoothingEnabled = scale < 1;
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  for (const b of boxes) {
    const x = Number(b.X) * scale;
    const y = Number(b.Y) * scale;
    const w = Number(b.W) * scale;
    const hh = Number(b.H) * scale;
    g.lineWidth = 2;
    g.setLineDash(b.Keep ? [4, 3] : []);
    g.strokeStyle = b.Keep ? '#22c55e' : '#ff2d2d';
    g.strokeRect(x + 1, y + 1, Math.max(0, w - 2), Math.max(0, hh - 2));
  }
  canvas.dataset.state = 'drawn';
  canvas.dataset.scale = String(scale);
}

function refusedText(status) {
  if (status === 401 || status === 403) {
    return 'Orthanc does not let you see this image (HTTP ' + status +
      '): previews are shown only to users who may read the originals.';
  }
  if (status === 404) {
    return 'This image is no longer in Orthanc.';
  }
  return 'Orthanc could not render this image' +
    (status > 0 ? ' (HTTP ' + status + ')' : '') + '.';
}

// One side of a pair: a canvas filled when the image arrives.
function side(instance, boxes, what, labelText, missing) {
  const canvas = h('canvas', { class: 'preview', width: 1, height: 1,
                               role: 'img', 'aria-label': labelText,
                               dataset: { instance: instance || '',
                                          state: 'loading' } });
  const note = h('p', { class: 'preview-note', hidden: true });
  const figure = h('figure', { class: 'preview-side ' + what },
    canvas, h('figcaption', { text: what === 'before' ? 'Before' : 'After' }),
    note);
  if (!instance) {
    canvas.dataset.state = 'none';
    canvas.hidden = true;
    note.hidden = false;
    note.textContent = missing || 'No anonymized copy is named for this image.';
    return { figure, ready: Promise.resolve(false) };
  }
  const ready = load(instance).then((r) => {
    if (r.bitmap) {
      draw(canvas, r.bitmap, boxes);
      return true;
    }
    canvas.hidden = true;
    canvas.dataset.state = 'refused';
    canvas.dataset.status = String(r.status);
    note.hidden = false;
    note.textContent = refusedText(r.status);
    return false;
  });
  return { figure, ready };
}

// The pairs of `images` (CleanedImages: {Instance, Anonymized, Boxes}),
// in a block to put on a card or a report; null when there is none.
// `notStored`: the job anonymized on the way out (no copy in Orthanc, so
// no "after" image to show: a sentence says where it went).
export function cleanedPreviews(images, notStored) {
  const list = (Array.isArray(images) ? images : []).filter(
    (c) => c && typeof c.Instance === 'string');
  if (!list.length) {
    return null;
  }
  const pairs = h('ul', { class: 'preview-pairs' });
  for (const c of list.slice(0, MAX_IMAGES)) {
    const boxes = (Array.isArray(c.Boxes) ? c.Boxes : []).filter(
      (b) => b && Number.isFinite(Number(b.X)) &&
        Number.isFinite(Number(b.Y)) && Number.isFinite(Number(b.W)) &&
        Number.isFinite(Number(b.H)));
    const blanked = boxes.filter((b) => !b.Keep).length;
    const kept = boxes.length - blanked;
    const outlined = plural(blanked, 'blanked region') +
      (kept ? ' and ' + plural(kept, 'kept region') : '') + ' outlined';
    const before = side(c.Instance, boxes, 'before',
                        'Before: the original image, ' + outlined);
    const after = side(typeof c.Anonymized === 'string' ? c.Anonymized : '',
                       boxes, 'after',
                       'After: the anonymized image, ' + outlined,
                       notStored ? 'Not stored in Orthanc: the cleaned ' +
                         'image went to the target only.' : '');
    pairs.appendChild(h('li', { class: 'preview-pair',
                                dataset: { instance: c.Instance } },
      before.figure, after.figure));
  }
  const more = list.length > MAX_IMAGES
    ? h('p', { class: 'hint', text: 'and ' + (list.length - MAX_IMAGES) +
               ' more cleaned images (not shown)' })
    : null;
  return h('div', { class: 'previews' },
    h('p', { class: 'hint legend' },
      h('span', { class: 'swatch blanked' }), ' blanked  ',
      h('span', { class: 'swatch kept' }), ' kept (restored after the ' +
      'blanking)'),
    pairs, more);
}
