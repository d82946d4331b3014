"""Synthetic DICOM images whose pixels show identifying text (issue 10).

Every image draws the same text mask (a patient's name in two spellings,
the Patient ID, the birth date in two spellings, two clinical words far
below them) with a TrueType font (Debian fonts-dejavu-core) over a smooth
background with speckle, then stores it in one native layout (8/16 bits,
signed or not, MONOCHROME1/2, RGB planar 0/1, YBR_FULL, YBR_FULL_422,
PALETTE COLOR, 1 bit, multi-frame, odd size), RLE Lossless (pydicom's
encoder) or JPEG Baseline (dcmtk's img2dcm).  Also: a risk-free CT image,
decoding any of them back to arrays and to an 8-bit grayscale image for
Tesseract, and running the `tesseract` command.

Needs pydicom, numpy and PIL (Debian python3-pydicom, python3-numpy,
python3-pil), the font, and for OCR the `tesseract` command
(tesseract-ocr).  Never prints DICOM values.
"""
import io
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"

# The patient whose identity is drawn.
PATIENT_NAME = "DOE^JOHN"
PATIENT_ID = "PID-4417-XK"
BIRTH_DATE = "19570412"
MANUFACTURER = "Acme Sonics Test"      # no device rule knows it
MODEL = "Phantom 9000"

# (x, y, text) at FONT_SIZE, for a 640x480 image; scaled to other sizes.
IDENTITY_TEXT = [
    (16, 12, "Doe, John"),
    (16, 62, "JOHN DOE"),
    (16, 112, "PID-4417-XK"),
    (380, 12, "12/04/1957"),
    (380, 62, "1957-04-12"),
]
CLINICAL_TEXT = [
    (24, 420, "Liver"),
    (470, 420, "5 cm"),
]
FONT_SIZE = 34

# What must not be readable in a cleaned image: (label, pattern in the
# upper-cased OCR text).  Labels, not values, are what a test prints.
IDENTIFYING = [
    ("family name", "DOE"),
    ("given name", "JOHN"),
    ("patient ID", "4417"),
    ("birth year", "1957"),
]
CLINICAL = [("clinical word", "LIVER")]


def font_available():
    return os.path.isfile(FONT)


def text_mask(rows=480, cols=640, clinical=True):
    """uint8 rows x cols: 255 where text is drawn, 0 elsewhere."""
    img = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, FONT_SIZE)
    items = IDENTITY_TEXT + (CLINICAL_TEXT if clinical else [])
    for x, y, text in items:
        draw.text((x * cols // 640, y * rows // 480), text, fill=255,
                  font=font)
    return np.asarray(img, dtype=np.uint8).copy()


def background(rows, cols, seed=0):
    """float 0..1: a smooth gradient, speckle in the middle band."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    bg = 0.04 + 0.08 * (x / max(cols - 1, 1)) + 0.04 * (y / max(rows - 1, 1))
    rng = np.random.RandomState(seed)
    band = (y > rows * 0.36) & (y < rows * 0.80)
    bg[band] += 0.25 * rng.random_sample(int(band.sum()))
    return bg


def gray_image(rows=480, cols=640, seed=0, clinical=True):
    """float 0..1 image: background with the text at full intensity."""
    m = text_mask(rows, cols, clinical) / 255.0
    return np.maximum(background(rows, cols, seed), m)


def rgb_image(rows=480, cols=640, seed=0):
    """uint8 rows x cols x 3: yellow text over a blue-ish background."""
    m = text_mask(rows, cols) / 255.0
    bg = background(rows, cols, seed)
    r = np.maximum(bg * 0.6, m)
    gr = np.maximum(bg * 0.8, m)
    b = np.maximum(bg, m * 0.1)
    return (np.stack([r, gr, b], axis=-1) * 255).round().astype(np.uint8)


def rgb_to_ybr_full(rgb):
    """PS3.3 C.7.6.3.1.2 YBR_FULL from RGB (uint8)."""
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.2990 * r + 0.5870 * g + 0.1140 * b
    cb = -0.1687 * r - 0.3313 * g + 0.5000 * b + 128
    cr = 0.5000 * r - 0.4187 * g - 0.0813 * b + 128
    out = np.stack([y, cb, cr], axis=-1)
    return np.clip(out.round(), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------
# Datasets


def base_dataset(sop_class, modality="US", study_uid=None, series_uid=None,
                 instance=1, burned_in="YES", manufacturer=MANUFACTURER,
                 model=MODEL):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "M"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyDate = "20240305"
    ds.StudyTime = "101500"
    ds.StudyID = "S1"
    ds.AccessionNumber = "ACC55213"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = model
    if modality == "CT":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    return ds


def _set_layout(ds, rows, cols, samples, photometric, bits, stored, signed,
                frames=1, planar=None):
    ds.Rows = rows
    ds.Columns = cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = stored
    ds.HighBit = stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if planar is not None:
        ds.PlanarConfiguration = planar
    if frames > 1:
        ds.NumberOfFrames = frames


def _finish(ds):
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=False)
    return buf.getvalue()


def us_image(layout, study_uid=None, manufacturer=MANUFACTURER, seed=1):
    """(Part 10 bytes, pydicom Dataset) of a US image in `layout` (one of
    LAYOUTS) showing the identity text."""
    rows, cols = 480, 640
    if layout == "odd-641x479":
        rows, cols = 479, 641
    multi = layout == "multiframe-3"
    ds = base_dataset(US_MULTIFRAME if multi else US_IMAGE,
                      study_uid=study_uid, manufacturer=manufacturer)
    g = gray_image(rows, cols, seed)
    if layout in ("mono2-8", "odd-641x479", "rle-mono2-8"):
        _set_layout(ds, rows, cols, 1, "MONOCHROME2", 8, 8, False)
        ds.PixelData = (g * 255).round().astype(np.uint8).tobytes()
    elif layout in ("mono2-16u", "rle-mono2-16u"):
        _set_layout(ds, rows, cols, 1, "MONOCHROME2", 16, 12, False)
        ds.PixelData = (g * 4095).round().astype("<u2").tobytes()
    elif layout == "mono2-16s":
        _set_layout(ds, rows, cols, 1, "MONOCHROME2", 16, 12, True)
        ds.PixelData = ((g * 4095).round() - 2048).astype("<i2").tobytes()
    elif layout == "mono1-8":
        _set_layout(ds, rows, cols, 1, "MONOCHROME1", 8, 8, False)
        ds.PixelData = ((1 - g) * 255).round().astype(np.uint8).tobytes()
    elif layout in ("rgb-planar0", "rle-rgb"):
        _set_layout(ds, rows, cols, 3, "RGB", 8, 8, False, planar=0)
        ds.PixelData = rgb_image(rows, cols, seed).tobytes()
    elif layout == "rgb-planar1":
        _set_layout(ds, rows, cols, 3, "RGB", 8, 8, False, planar=1)
        ds.PixelData = np.ascontiguousarray(
            rgb_image(rows, cols, seed).transpose(2, 0, 1)).tobytes()
    elif layout == "ybr-full":
        _set_layout(ds, rows, cols, 3, "YBR_FULL", 8, 8, False, planar=0)
        ds.PixelData = rgb_to_ybr_full(rgb_image(rows, cols, seed)).tobytes()
    elif layout == "ybr-full-422":
        _set_layout(ds, rows, cols, 3, "YBR_FULL_422", 8, 8, False,
                    planar=0)
        ybr = rgb_to_ybr_full(rgb_image(rows, cols, seed)).astype(np.int32)
        out = np.empty((rows, cols // 2, 4), np.uint8)
        out[..., 0] = ybr[:, 0::2, 0]
        out[..., 1] = ybr[:, 1::2, 0]
        out[..., 2] = ((ybr[:, 0::2, 1] + ybr[:, 1::2, 1]) // 2)
        out[..., 3] = ((ybr[:, 0::2, 2] + ybr[:, 1::2, 2]) // 2)
        ds.PixelData = out.tobytes()
    elif layout == "palette":
        _set_layout(ds, rows, cols, 1, "PALETTE COLOR", 8, 8, False)
        ramp = np.arange(256, dtype=np.uint32)
        red = (ramp * 257).astype("<u2")
        green = (ramp * 257).astype("<u2")
        blue = ((255 - ramp // 2) * 257).astype("<u2")
        for colour, lut in (("Red", red), ("Green", green), ("Blue", blue)):
            setattr(ds, "%sPaletteColorLookupTableDescriptor" % colour,
                    [256, 0, 16])
            setattr(ds, "%sPaletteColorLookupTableData" % colour,
                    lut.tobytes())
        ds.PixelData = (g * 255).round().astype(np.uint8).tobytes()
    elif layout == "mono2-1bit":
        from pydicom.pixel_data_handlers.numpy_handler import pack_bits
        _set_layout(ds, rows, cols, 1, "MONOCHROME2", 1, 1, False)
        ds.PixelData = pack_bits((text_mask(rows, cols) > 127)
                                 .astype(np.uint8))
    elif multi:
        _set_layout(ds, rows, cols, 1, "MONOCHROME2", 8, 8, False, frames=3)
        frames = [(gray_image(rows, cols, seed + k) * 255).round()
                  .astype(np.uint8) for k in range(3)]
        ds.PixelData = np.stack(frames).tobytes()
    else:
        raise ValueError("unknown layout %r" % layout)
    if layout.startswith("rle-"):
        ds.compress(RLELossless)
    return _finish(ds), ds


# The native and RLE layouts us_image builds.
LAYOUTS = ["mono2-8", "mono2-16u", "mono2-16s", "mono1-8", "rgb-planar0",
           "rgb-planar1", "ybr-full", "ybr-full-422", "palette",
           "mono2-1bit", "multiframe-3", "odd-641x479", "rle-mono2-8",
           "rle-mono2-16u", "rle-rgb"]


def us_jpeg_image(study_uid=None, seed=1):
    """(Part 10 bytes, Dataset) of a JPEG Baseline grayscale US image made
    by dcmtk's img2dcm from a JPEG written by PIL; None when img2dcm is
    missing."""
    if shutil.which("img2dcm") is None:
        return None
    rows, cols = 480, 640
    g = (gray_image(rows, cols, seed) * 255).round().astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        jpg = os.path.join(tmp, "in.jpg")
        dcm = os.path.join(tmp, "out.dcm")
        Image.fromarray(g, "L").save(jpg, "JPEG", quality=95)
        subprocess.run(["img2dcm", "-q", jpg, dcm], check=True,
                       timeout=60)
        src = pydicom.dcmread(dcm)
    ref = base_dataset(US_IMAGE, study_uid=study_uid)
    for elem in ref:
        if elem.tag.group != 0x0002:
            src[elem.tag] = elem
    src.file_meta.MediaStorageSOPClassUID = US_IMAGE
    src.file_meta.MediaStorageSOPInstanceUID = ref.SOPInstanceUID
    return _finish(src), src


def ct_image(study_uid=None, instance=1):
    """(Part 10 bytes, Dataset): a 256x256 16-bit signed CT slice, no
    risk (ORIGINAL\\PRIMARY, no Burned In Annotation)."""
    ds = base_dataset(CT_IMAGE, modality="CT", study_uid=study_uid,
                      instance=instance, burned_in=None,
                      manufacturer="Acme CT", model="Slice 1")
    _set_layout(ds, 256, 256, 1, "MONOCHROME2", 16, 12, True)
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    y, x = np.mgrid[0:256, 0:256]
    img = ((x * 7 + y * 3) % 1500 - 200).astype("<i2")
    ds.PixelData = img.tobytes()
    return _finish(ds), ds


# ----------------------------------------------------------------------
# Decoding


def _ybr422_frames(ds):
    rows, cols = ds.Rows, ds.Columns
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    raw = np.frombuffer(ds.PixelData, np.uint8)[:n * rows * cols * 2]
    q = raw.reshape(n, rows, cols // 2, 4)
    out = np.empty((n, rows, cols, 3), np.uint8)
    out[:, :, 0::2, 0] = q[..., 0]
    out[:, :, 1::2, 0] = q[..., 1]
    for k, c in ((1, 2), (2, 3)):
        out[:, :, 0::2, k] = q[..., c]
        out[:, :, 1::2, k] = q[..., c]
    return out


def frames_of(ds):
    """The decoded stored values as an array (frames, rows, cols[, 3]);
    YBR_FULL_422 native is expanded here (each pair shares its chroma)."""
    native = not ds.file_meta.TransferSyntaxUID.is_compressed
    if native and ds.PhotometricInterpretation == "YBR_FULL_422":
        return _ybr422_frames(ds)
    arr = ds.pixel_array
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    if n == 1:
        arr = arr[np.newaxis, ...]
    if samples == 1 and arr.ndim == 4:
        arr = arr[..., 0]
    return arr


def gray8(ds, frame=0):
    """An 8-bit grayscale rendering of one frame for OCR: MONOCHROME1
    inverted, RGB as luminance, YBR as its Y, PALETTE through its LUT,
    monochrome stretched to its own range."""
    arr = frames_of(ds)[frame]
    pi = ds.PhotometricInterpretation
    if pi == "PALETTE COLOR":
        from pydicom.pixel_data_handlers.util import apply_color_lut
        rgb = apply_color_lut(arr, ds).astype(np.float64)
        lum = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    elif pi == "RGB":
        f = arr.astype(np.float64)
        lum = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    elif pi.startswith("YBR"):
        lum = arr[..., 0].astype(np.float64)
    else:
        lum = arr.astype(np.float64)
    lo, hi = float(lum.min()), float(lum.max())
    if hi <= lo:
        out = np.zeros(lum.shape, np.uint8)
    else:
        out = ((lum - lo) * 255.0 / (hi - lo)).round().astype(np.uint8)
    if pi == "MONOCHROME1":
        out = 255 - out
    return out


def ocr(gray, scale=1):
    """Upper-cased text the `tesseract` command reads in an 8-bit image
    (rendered dark text on light, as Tesseract prefers)."""
    img = Image.fromarray(255 - gray, "L")
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale),
                         Image.BICUBIC)
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "frame.png")
        img.save(png)
        p = subprocess.run(["tesseract", png, "stdout", "--psm", "11"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=120, env=dict(os.environ,
                                                 OMP_THREAD_LIMIT="1"))
    return p.stdout.decode("utf-8", "replace").upper()


def readable(text, patterns):
    """Labels of `patterns` ((label, upper-case needle)) found in text
    (spaces ignored)."""
    squashed = re.sub(r"\s+", "", text)
    return [label for label, needle in patterns if needle in squashed]


def is_422(ds):
    return str(ds.PhotometricInterpretation).endswith("_422")


def outside_union(shape, boxes, pairs=False):
    """Boolean rows x cols mask, True outside every box {X,Y,W,H} (the
    kept boxes count as boxes too: what they cover may differ).  pairs:
    widen each box to whole pixel pairs (YBR_*_422 shares chroma)."""
    rows, cols = shape[:2]
    mask = np.ones((rows, cols), bool)
    for b in boxes:
        x, y, w, h = int(b["X"]), int(b["Y"]), int(b["W"]), int(b["H"])
        if pairs:
            x1 = (x + w + 1) & ~1
            x &= ~1
            w = x1 - x
        mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = False
    return mask
