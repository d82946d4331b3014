#!/usr/bin/python3
"""Corpus round trip: every file of the corpus through
`oa-anonymize --copy`, and proof that the copy says the same thing.

For each of the corpus files (INDEX.tsv, plus any file on disk it misses):

  1. oa-anonymize --copy writes it or refuses it (batches under a timeout;
     a crash, a hang, an exit status other than 0/1 or a sanitizer report
     fails the test, and the batch is rerun file by file to name the
     culprit).  A refusal must be in EXPECTED_REFUSALS below, with the
     message given there, and every file of that list must be refused: the
     list stays true.
  2. Every output is a Part 10 file (preamble, DICM, a right (0002,0000))
     and our own reader re-reads it (`--check`) without repairing any
     defect, except those a faithful copy keeps (KEPT_DEFECT_NAMES).
  3. dcmtk's dcmdump must read every output.  If it cannot, the input is
     tried: failing on the output only is a FAILURE; failing on both is
     reported as "input not dcmdump-readable".
  4. pydicom (Debian's 2.x, hence /usr/bin/python3) reads the input (force)
     and the output (no force) and every element must be equal, sequences
     walked recursively:
       - tags: the same set in every dataset and item, except group
         lengths (gggg,0000), which the writer drops by design, and a
         delimiter pydicom keeps as an element where the reader dropped it
         (STRAY_DELIMITER);
       - VR: equal, except where the input's VR was invalid or UN (the
         reader takes the dictionary's VR, policy BAD_VR, or reads a UN
         value that is a sequence as one); a UN value may then be compared
         as a sequence (its content parsed as implicit VR little endian,
         CP-246, or as explicit VR, the UN_EXPLICIT defect), and a
         defined-length SQ pydicom left as bytes is parsed the same way;
       - values as stored (pydicom's raw bytes, so that no value conversion
         can hide a difference): string VRs compare without trailing spaces
         and NULs; other values exactly, except that an odd-length input
         value may gain one NUL pad byte (also per fragment of encapsulated
         pixel data);
       - meta: TransferSyntaxUID equal unless the reader flagged TS_MISMATCH
         or NO_META_TS; then the output must be labelled with the encoding
         pydicom really found (from its raw elements), and a compressed
         syntax must not become a native one.  MediaStorageSOPInstanceUID
         and ...SOPClassUID equal the dataset's SOPInstanceUID / SOPClassUID.
     pydicom is not always the right oracle, so the input may be read in
     other documented ways: as a bare dataset when "DICM" at 128 starts no
     meta group (pydicom takes it for a marker), closed with delimiters at
     EOF when the reader flagged NO_DELIMITER (pydicom drops the element),
     or with the byte patch of INPUT_PATCHES.  Where pydicom cannot read the
     input, or misreads an invalid VR (BAD_VR: it switches to implicit VR),
     dcmdump's dumps of input and output (+L, dataset part, normalized) are
     compared instead.  No oracle at all is a failure.
  5. Bytes: the dataset bytes of input and output (after their meta
     groups; deflated datasets inflated) are compared: "identical", or
     "equivalent" with the reasons found by diffing our own --dump of both
     (group lengths dropped, odd length padded, VR repaired, item length
     recomputed, ...), the defects the reader repaired and "deflate
     recompressed".

Exit status 0 only if no file failed and the refusals are exactly the
expected ones; 77 (ctest: skipped) if dcmdump or pydicom is missing.  Final
line: "<n> files: N identical, M equivalent, R refused, F failed".
"""
import argparse
import concurrent.futures
import difflib
import io
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from oatest import SKIP, part10 as p10  # noqa: E402
from oatest.corpus import listing as corpus_listing  # noqa: E402
from oatest.corpus import require as require_corpus  # noqa: E402
from oatest.tool import (defect_names, describe_defects,  # noqa: E402
                         run_batches, sanitizer_env, sanitizer_report)

try:
    import pydicom
    import pydicom.filereader
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.datadict import dictionary_VR
except ImportError:
    print("roundtrip.py: SKIPPED: needs pydicom 2.x (Debian's "
          "python3-pydicom; run it with /usr/bin/python3)")
    sys.exit(SKIP)

# Files the reader must refuse, each with (a piece of) the message it gives
# and why refusing is right.  Each claim was checked with xxd, dcmdump
# (dcmtk 3.6.7) and pydicom 2.3.
EXPECTED_REFUSALS = {
    "dcm4che/3gb-bulk-data-truncated": (
        "value length exceeds the remaining input",
        "truncated on purpose: (7FE0,0010) at 1908 claims 3221225472 bytes "
        "in a 100000-byte file (dcmdump: larger than remaining bytes)"),
    "pydicom-test_files/MR_truncated.dcm": (
        "value length exceeds the remaining input",
        "truncated on purpose: (7FE0,0010) at 1488 claims 8192 bytes, "
        "8130 remain (dcmdump: premature end of stream)"),
    "pydicom-test_files/rtplan_truncated.dcm": (
        "sequence length exceeds the remaining input",
        "truncated on purpose: (300A,00B0) at 1410 declares 976 bytes, 711 "
        "remain (dcmdump: (300A,012C) larger than remaining bytes)"),
    "orthanc-tests/2026-05-06-Deeply-Nested-Sequence.dcm": (
        "sequence nesting deeper than the limit",
        "100,000 nested sequences; Orthanc's test expects a rejection "
        "(dcmdump segfaults, pydicom hits RecursionError)"),
    "fo-dicom/FreezePattern.dcm": (
        "item outside a sequence",
        "(0055,040E) SQ has length 0 and is followed by an item at 1320 "
        "that belongs to nothing (dcmdump: parse error at (fffe,e000); "
        "pydicom: unknown VR for (fffe,e000))"),
    "fo-dicom/GH364.dcm": (
        "item outside a sequence",
        "an item at 1136 right after (0018,5020): the sequence header "
        "before it is missing (dcmdump: parse error at (fffe,e000); "
        "pydicom: unknown VR for (fffe,e000))"),
    "fo-dicom/GH179B.dcm": (
        "invalid VR code in explicit VR dataset",
        "corrupt: (0028,0120) twice with VR '  ', then (2031,0028) with VR "
        "'T\\x10' whose length runs past the file (dcmdump fails at the "
        "same element; pydicom reads garbage)"),
    "pydicom-test_files/no_meta.dcm": (
        "(tag (0820,0500), offset 0)",
        "a bare explicit VR dataset preceded by one stray byte (0x20): read "
        "from offset 0 it is (0820,0500), no VR, and a length that runs "
        "past the file however it is read (173228800 as implicit VR); "
        "dcmdump fails the same way, pydicom reads one garbage UN element"),
    "pydicom-test_files/dicomdirtests/DICOMDIR-nooffset": (
        "item length exceeds its sequence",
        "the last record item at 10860 claims 248 bytes but only 224 remain "
        "in its sequence and the file (two offset elements were deleted "
        "without fixing the item length).  dcmdump and pydicom read it; "
        "see the report: a candidate for an ITEM_OVERRUN-at-EOF repair"),
}

# Inputs that no other reader reads right, where the reader's repair makes
# the file consistent: the oracle is pydicom's reading of the input with the
# one faulty field patched as the repair implies.  {path: [(offset, bytes
# there, patched bytes, why)]}.  A patch whose bytes are not found fails.
INPUT_PATCHES = {
    "fo-dicom/GH626.dcm": [
        (820, b"\x00\x01\x00\x00", b"\x04\x01\x00\x00",
         "(2005,140F) UN at 816 declares 256 bytes, but its item (explicit "
         "VR inside, undefined length) ends with its delimiter at 1084; "
         "then (2005,141A) and the pixel data (131072 bytes) end exactly at "
         "the end of the file.  dcmdump and pydicom stop at 1080 "
         "((0000,0000) with a garbage length); the reader lets the item "
         "run past (ITEM_OVERRUN).  Patched length: 260"),
    ],
}

STRING_VRS = frozenset(
    "AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
TS_DEFECTS = ("TS_MISMATCH", "NO_META_TS")
# Defects a faithful copy keeps: in implicit VR the VR is not in the stream,
# so a non-sequence value in a sequence attribute is met again (BAD_VR); an
# undefined-length OB/OW is written back the same (UNDEF_OBOW).  Every
# other defect must be gone from the output.
KEPT_DEFECT_NAMES = ("BAD_VR", "UNDEF_OBOW")
KEPT_DEFECTS = 0

NATIVE_TS = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
             "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")
ENCODING_TS = {  # (implicit, little endian) -> the UID that says it
    (True, True): "1.2.840.10008.1.2",
    (False, True): "1.2.840.10008.1.2.1",
    (False, False): "1.2.840.10008.1.2.2",
}


def tagstr(t):
    return "(%04X,%04X)" % (t >> 16, t & 0xFFFF)


# ------------------------------------------------------------------ #
# pydicom comparison

class Compare:
    def __init__(self, stray_delimiters_dropped=False):
        self.diffs = []
        self.notes = set()
        self.stray_delimiters_dropped = stray_delimiters_dropped

    def diff(self, where, what):
        if len(self.diffs) < 20:
            self.diffs.append("%s: %s" % (where, what))


def load(path, force):
    """pydicom dataset, or raises.  Warnings are expected on a corpus of
    odd files: they are collected, never printed."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ds = pydicom.dcmread(path, force=force)
        # pydicom parses lazily: make it read everything now, so that an
        # error surfaces here and not in the middle of a comparison.
        walk_all(ds)
    return ds


def walk_all(ds):
    for e in ds._dict.values():
        if isinstance(e, DataElement) and isinstance(e.value,
                                                     pydicom.Sequence):
            for item in e.value:
                walk_all(item)


def effective_vr(e):
    if is_valid_vr(e.VR):
        return str(e.VR)
    try:
        return str(dictionary_VR(e.tag))
    except KeyError:
        return "UN"


def is_valid_vr(vr):
    return vr is not None and str(vr).encode() in p10.VALID_VRS


def is_seq(e):
    # pydicom's DicomDir may hold an empty record sequence as a plain list.
    return isinstance(e, DataElement) and (
        isinstance(e.value, pydicom.Sequence)
        or (e.VR == "SQ" and isinstance(e.value, list)))


def fragments(value, little):
    """Items of an undefined-length value (encapsulated pixel data), or
    None if it is not made of items."""
    out, pos, fmt = [], 0, "<HHI" if little else ">HHI"
    while pos + 8 <= len(value):
        g, el, n = struct.unpack_from(fmt, value, pos)
        if (g, el) != (0xFFFE, 0xE000) or pos + 8 + n > len(value):
            return None
        out.append(value[pos + 8:pos + 8 + n])
        pos += 8 + n
    return out if pos == len(value) else None


def same_bytes(a, b, vr, cmp, where):
    if a is None:
        a = b""
    if b is None:
        b = b""
    if vr in STRING_VRS:
        return a.rstrip(b" \x00") == b.rstrip(b" \x00")
    if a == b:
        return True
    if len(a) % 2 == 1 and len(b) == len(a) + 1 and b[:-1] == a and \
            b[-1:] == b"\x00":
        cmp.notes.add("odd length padded")
        return True
    return False


def normalize_value(v):
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return [normalize_value(x) for x in v]
    if isinstance(v, bytes):
        return v.rstrip(b"\x00")
    if isinstance(v, str) or type(v).__name__ == "PersonName":
        return str(v).rstrip(" \x00")
    return repr(v)


def as_element(e, encoding):
    if isinstance(e, RawDataElement):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dataelem.DataElement_from_raw(e, encoding)
    return e


def as_sequences(e, enc):
    """Readings of an element that is, or may be, a sequence: pydicom's own
    Sequence, a defined-length SQ pydicom left as raw bytes (parsed in the
    element's own encoding), or a UN value (CP-246 says implicit VR little
    endian; explicit VR inside is the known UN_EXPLICIT defect, so both are
    tried).  A list, possibly empty."""
    if is_seq(e):
        return [e.value]
    if not isinstance(e, RawDataElement) or e.length == 0xFFFFFFFF:
        return []
    value = e.value or b""
    if effective_vr(e) == "SQ":
        tries = [(e.is_implicit_VR, e.is_little_endian)]
    else:
        tries = [(True, True), (False, True)]
    out = []
    for implicit, little in tries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seq = pydicom.filereader.read_sequence(
                    io.BytesIO(value), implicit, little, len(value), enc)
                for item in seq:
                    walk_all(item)
            if len(value) == 0 or len(seq) > 0:
                out.append(seq)
        except Exception:  # noqa: BLE001 - any failure: not a sequence
            continue
    return out


def compare_as_sequences(a, b, where, cmp, enc):
    """Compare two elements as sequences, trying each reading of each side;
    False if either side is no sequence at all."""
    ra, rb = as_sequences(a, enc), as_sequences(b, enc)
    if not ra or not rb:
        return False
    best = None
    for sa in ra:
        for sb in rb:
            sub = Compare(cmp.stray_delimiters_dropped)
            compare_sequences(sa, sb, where, sub, enc)
            if not sub.diffs:
                cmp.notes |= sub.notes
                return True
            if best is None:
                best = sub
    cmp.notes |= best.notes
    for d in best.diffs:
        cmp.diff(d.split(": ", 1)[0], d.split(": ", 1)[1])
    return True


def compare_sequences(sa, sb, where, cmp, enc):
    if len(sa) != len(sb):
        cmp.diff(where, "%d items vs %d" % (len(sa), len(sb)))
        return
    for i, (ia, ib) in enumerate(zip(sa, sb)):
        compare_dataset(ia, ib, "%s[%d]" % (where, i), cmp, enc)


def compare_element(a, b, where, cmp, enc):
    vr_a, vr_b = a.VR, b.VR
    if vr_a != vr_b:
        if not is_valid_vr(vr_a) or str(vr_a) == "UN":
            cmp.notes.add("VR %s -> %s" % (vr_a, vr_b))
        elif vr_a is None or vr_b is None:
            # Implicit on one side only: inside a UN sequence whose content
            # was explicit (UN_EXPLICIT), re-encoded as CP-246 says.
            if effective_vr(a) != effective_vr(b):
                cmp.diff(where, "VR %s vs %s" % (vr_a, vr_b))
                return
            cmp.notes.add("implicit/explicit VR inside a UN sequence")
        else:
            cmp.diff(where, "VR %s vs %s" % (vr_a, vr_b))
            return

    if is_seq(a) or is_seq(b) or "SQ" in (effective_vr(a), effective_vr(b)):
        if not compare_as_sequences(a, b, where, cmp, enc):
            cmp.diff(where, "sequence on one side only")
        elif not is_seq(a) and effective_vr(a) == "UN":
            cmp.notes.add("UN value read as a sequence")
        return

    if isinstance(a, RawDataElement) and isinstance(b, RawDataElement) \
            and a.is_little_endian == b.is_little_endian:
        vr = effective_vr(b) if not is_valid_vr(vr_a) else effective_vr(a)
        if same_bytes(a.value, b.value, vr, cmp, where):
            return
        if a.length == 0xFFFFFFFF and b.length == 0xFFFFFFFF:
            fa = fragments(a.value or b"", a.is_little_endian)
            fb = fragments(b.value or b"", b.is_little_endian)
            if fa is not None and fb is not None and len(fa) == len(fb) \
                    and all(same_bytes(x, y, "OB", cmp, where)
                            for x, y in zip(fa, fb)):
                return
        if effective_vr(a) == "UN":
            # A UN value that is a sequence may have been re-encoded (its
            # explicit VR content as implicit, a stray delimiter dropped).
            if compare_as_sequences(a, b, where, cmp, enc):
                cmp.notes.add("UN value read as a sequence")
                return
        cmp.diff(where, "value differs (%d vs %d bytes)"
                 % (len(a.value or b""), len(b.value or b"")))
        return

    # One side already converted by pydicom (or endianness differs):
    # compare converted values.
    try:
        va = normalize_value(as_element(a, enc).value)
        vb = normalize_value(as_element(b, enc).value)
    except Exception as e:  # noqa: BLE001
        cmp.diff(where, "cannot convert: %s" % e)
        return
    if va != vb:
        cmp.diff(where, "value differs")


def compare_dataset(a, b, where, cmp, enc):
    # Group lengths (gggg,0000) are dropped by the writer on purpose.
    ta = {t for t in a._dict if t & 0xFFFF != 0}
    tb = {t for t in b._dict if t & 0xFFFF != 0}
    if len(ta) != len(a._dict):
        cmp.notes.add("group lengths dropped")
    for t in sorted(ta - tb):
        if t >> 16 == 0xFFFE and cmp.stray_delimiters_dropped:
            # pydicom keeps a delimiter met outside a sequence as an
            # element; the reader drops it (policy STRAY_DELIMITER).
            cmp.notes.add("stray delimiter dropped")
            continue
        cmp.diff(where + tagstr(t), "missing in the output")
    for t in sorted(tb - ta):
        cmp.diff(where + tagstr(t), "not in the input")
    for t in sorted(ta & tb):
        compare_element(a._dict[t], b._dict[t], where + tagstr(t), cmp, enc)


def meta_uid(ds, keyword):
    fm = getattr(ds, "file_meta", None)
    if fm is None or keyword not in fm:
        return None
    return str(fm[keyword].value).rstrip(" \x00")


def actual_encoding(ds):
    """(implicit, little endian) as pydicom really read the dataset: from
    its raw elements (pydicom switches to implicit VR when the data says
    so, but keeps the meta's idea in ds.is_implicit_VR)."""
    for e in ds._dict.values():
        if isinstance(e, RawDataElement):
            return (bool(e.is_implicit_VR), bool(e.is_little_endian))
    return (ds.is_implicit_VR, ds.is_little_endian)


# Files whose transfer syntax pydicom gets wrong, with the right one.
KNOWN_TS = {
    # Two meta groups, one after the other.  The first, which its group
    # length ends, names JPEG Lossless, and the pixel data is encapsulated
    # (fragments at 4096): that is the syntax.  pydicom reads on and takes
    # the second meta's Explicit VR Little Endian, which cannot hold
    # fragments.
    "fo-dicom/GH1376.dcm": "1.2.840.10008.1.2.4.70",
}


def compare_pydicom(ds_in, ds_out, defects, names, cmp, rel=None):
    enc = getattr(ds_in, "_character_set", None)
    compare_dataset(ds_in, ds_out, "", cmp, enc)

    # Encoding: the output must be written the way the input really was,
    # except when the data contradicts an encapsulated label
    # (TS_MISMATCH): its fragments need the label, so the writer writes in
    # the label's encoding (explicit VR little endian) under that label.
    enc_in, enc_out = actual_encoding(ds_in), actual_encoding(ds_out)
    ts_in = KNOWN_TS.get(rel) or meta_uid(ds_in, "TransferSyntaxUID")
    ts_out = meta_uid(ds_out, "TransferSyntaxUID")
    if rel in KNOWN_TS:
        cmp.notes.add("transfer syntax from the first of two meta groups")
    mismatch = any(defects & bit for bit, n in names.items()
                   if n == "TS_MISMATCH")
    if mismatch and ts_in is not None and ts_in not in NATIVE_TS:
        if ts_out != ts_in or enc_out != (False, True):
            cmp.diff("meta", "encapsulated label %s not kept: output %s, "
                     "implicit=%s little=%s" % ((ts_in, ts_out) + enc_out))
        cmp.notes.add("written in the encapsulated label's encoding")
        return
    if enc_in != enc_out:
        cmp.diff("meta", "encoding: input read as implicit=%s little=%s, "
                 "output as implicit=%s little=%s" % (enc_in + enc_out))

    ts_flagged = any(defects & bit for bit, n in names.items()
                     if n in TS_DEFECTS)
    if ts_out is None:
        cmp.diff("meta", "output has no TransferSyntaxUID")
    elif ts_in is not None and not ts_flagged:
        if ts_in != ts_out:
            cmp.diff("meta", "TransferSyntaxUID %s vs %s" % (ts_in, ts_out))
    else:
        want = ENCODING_TS.get(enc_in)
        if ts_out != want and not (ts_out in NATIVE_TS and want is None):
            cmp.diff("meta", "TransferSyntaxUID %s, input is encoded as %s"
                     % (ts_out, want))
        cmp.notes.add("transfer syntax detected")
        if ts_in is not None and ts_in not in NATIVE_TS and \
                ts_out in NATIVE_TS:
            # The data's encoding won over the label (TS_MISMATCH), but
            # the label also said how the pixel data is compressed.
            cmp.diff("meta", "compressed transfer syntax %s lost: output "
                     "says %s" % (ts_in, ts_out))

    for meta_kw, ds_kw in (("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
                           ("MediaStorageSOPClassUID", "SOPClassUID")):
        got = meta_uid(ds_out, meta_kw)
        if ds_kw in ds_in:
            want = str(ds_in[ds_kw].value).rstrip(" \x00")
        else:
            want = meta_uid(ds_in, meta_kw)
        if want is not None and got != want:
            cmp.diff("meta", "%s %s, expected %s" % (meta_kw, got, want))


def read_bare(data):
    """pydicom's reading of a bare dataset at offset 0 (dcmread would take
    "DICM" at 128 for a preamble even when no meta group follows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.filereader.read_dataset(io.BytesIO(data), True, True)
        walk_all(ds)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.is_implicit_VR, ds.is_little_endian = actual_encoding(ds)
    return ds


def input_readings(data, fr, defects, names, rel):
    """Ways pydicom may read the input, best first: (note, loader)."""
    out = []
    if rel in INPUT_PATCHES:
        patched = bytearray(data)
        for off, old, new, _ in INPUT_PATCHES[rel]:
            if bytes(data[off:off + len(old)]) != old:
                raise RuntimeError("INPUT_PATCHES: %s does not hold %r at "
                                   "%d" % (rel, old, off))
            patched[off:off + len(old)] = new
        data = bytes(patched)
        out.append(("pydicom reads the input as patched in INPUT_PATCHES",
                    lambda: load(io.BytesIO(data), force=True)))
    if fr.meta_start is None and data[128:132] == b"DICM":
        out.append(("pydicom takes DICM at 128 for a marker: input read as "
                    "the bare dataset it is", lambda: read_bare(data)))
    else:
        out.append((None, lambda: load(io.BytesIO(data), force=True)))
    deflated = p10.uid_str(fr.meta.get(0x0010)) in p10.DEFLATED_TS
    if defects & bit_of(names, "NO_DELIMITER") and not deflated:
        # pydicom drops an undefined-length element cut at the end of the
        # file; the reader closes it (policy NO_DELIMITER).  Read the input
        # closed the same way.
        big = p10.uid_str(fr.meta.get(0x0010)) == "1.2.840.10008.1.2.2"
        fmt = ">HHI" if big else "<HHI"
        item_end = struct.pack(fmt, 0xFFFE, 0xE00D, 0)
        seq_end = struct.pack(fmt, 0xFFFE, 0xE0DD, 0)
        for tail in (seq_end, item_end + seq_end,
                     (item_end + seq_end) * 2, (item_end + seq_end) * 3):
            closed = data + tail
            out.append(("input closed at EOF (%d delimiters added)"
                        % (len(tail) // 8),
                        lambda c=closed: load(io.BytesIO(c), force=True)))
    return out


def bit_of(names, name):
    for bit, n in names.items():
        if n == name:
            return bit
    return 0


def dicomdir_diagnosis(inp, out):
    """Why pydicom cannot read an output DICOMDIR: its record offsets are
    file offsets, and the meta group changed size."""
    with open(inp, "rb") as f:
        a = f.read()
    with open(out, "rb") as f:
        b = f.read()
    fa, fb = p10.framing(a), p10.framing(b)
    if p10.uid_str(fb.meta.get(0x0002)) != "1.2.840.10008.1.3.10":
        return None
    delta = fb.dataset_offset - fa.dataset_offset
    if delta == 0:
        return None
    return ("DICOMDIR record offsets (0004,1200/1202/1400/1420) are file "
            "offsets: the meta group changed size by %+d bytes, so they no "
            "longer point at the records" % delta)


def pydicom_check(inp, out, defects, names, rel):
    """([failure], {note}) from pydicom's reading of input and output."""
    notes = set()
    with open(inp, "rb") as f:
        data = f.read()
    fr = p10.framing(data)
    try:
        readings = input_readings(data, fr, defects, names, rel)
    except RuntimeError as e:
        return [str(e)], notes
    try:
        ds_out = load(out, force=False)
    except Exception as e:  # noqa: BLE001
        ds_out = None
        out_error = "pydicom cannot read the output: %s: %s" % (
            type(e).__name__, e)
        why = dicomdir_diagnosis(inp, out)
        if why:
            return [out_error + "; " + why], notes
    first = None
    readable = False
    for note, loader in readings:
        try:
            ds_in = loader()
        except Exception as e:  # noqa: BLE001
            if first is None:
                first = ["pydicom cannot read the input (%s)"
                         % type(e).__name__]
            continue
        readable = True
        if ds_out is None:
            # pydicom reads the input, not the output: ours to fix.
            return [out_error], notes
        cmp = Compare(bool(defects & bit_of(names, "STRAY_DELIMITER")))
        compare_pydicom(ds_in, ds_out, defects, names, cmp, rel)
        if not cmp.diffs:
            if note:
                notes.add(note)
            return [], notes | cmp.notes
        if first is None or not readable:
            first = cmp.diffs
    # pydicom disagrees.  Where it cannot read the input, or misreads an
    # invalid VR (it then switches to implicit VR for the rest of the
    # dataset, where dcmtk and our reader take a 16-bit length), dcmdump
    # arbitrates.
    if not readable or defects & bit_of(names, "BAD_VR"):
        ok, diffs = dcmdump_compare(inp, out)
        if ok:
            notes.add("pydicom %s; dcmdump reads input and output alike"
                      % ("cannot read the input" if not readable
                         else "misreads the invalid VR"))
            return [], notes
        if diffs:
            return first + diffs, notes
        if not readable:
            # No independent reader at all: nothing proves the copy says
            # what the input says.  Such a file needs an INPUT_PATCHES entry
            # (or to be refused).
            return (first + ["neither pydicom nor dcmdump reads the input: "
                             "no oracle (see INPUT_PATCHES)"], notes)
    return first, notes


# ------------------------------------------------------------------ #
# dcmdump

def dcmdump(path, extra=()):
    """(ok, text): ok when dcmdump exits 0 and prints no error."""
    try:
        p = subprocess.run(["dcmdump", *extra, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    text = p.stdout.decode("latin-1")
    errors = [l for l in text.splitlines() if l.startswith(("E: ", "F: "))]
    if p.returncode != 0 or errors:
        return False, (errors[-1] if errors else
                       "exit status %d" % p.returncode)
    return True, text


def dcmdump_many(paths):
    """{path: (ok, message)} for many files: one dcmdump process per chunk
    (dcmdump's start-up dominates otherwise).  A file failed when dcmdump
    says "reading file: <path>"; if the run ends otherwise badly (a
    signal), its files are run one by one."""
    result = {}
    try:
        p = subprocess.run(["dcmdump", *paths],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=600)
        err = p.stderr.decode("latin-1")
        rc = p.returncode
    except subprocess.TimeoutExpired:
        err, rc = "", -1
    failed = {}
    for line in err.splitlines():
        m = re.match(r"[EF]: .*: reading file: (.*)$", line)
        if m:
            failed[m.group(1)] = line
    if rc < 0 or (rc != 0 and not failed):
        for path in paths:
            ok, text = dcmdump(path)
            result[path] = (ok, "" if ok else text)
        return result
    for path in paths:
        result[path] = (path not in failed, failed.get(path, ""))
    return result


def dcmdump_dataset_lines(text):
    """The dataset part of a dump, normalized for comparison."""
    out, started = [], False
    for line in text.splitlines():
        if line.startswith("# Dicom-Data-Set"):
            started = True
            continue
        s = line.strip()
        if not started or not s or s.startswith("#"):
            continue
        if re.match(r"\([0-9a-f]{4},0000\)", s):
            continue
        s = re.sub(r"\s+#.*$", "", s)       # length, VM, keyword
        s = re.sub(r"\[([^\]]*?)[ \x00]*\]", r"[\1]", s)
        out.append(s)
    return out


def dcmdump_compare(inp, out):
    """(equal, [differences]) of dcmdump's readings of input and output.
    An element dcmdump shows with VR ?? in the input (an invalid VR) may
    show with any VR in the output."""
    ok_in, text_in = dcmdump(inp, ["+L"])
    if not ok_in:
        return False, []
    ok_out, text_out = dcmdump(out, ["+L"])
    if not ok_out:
        return False, ["dcmdump reads the input, not the output: "
                       + text_out]
    la, lb = dcmdump_dataset_lines(text_in), dcmdump_dataset_lines(text_out)
    if len(la) == len(lb):
        diffs = []
        for x, y in zip(la, lb):
            if x == y:
                continue
            fx, fy = x.split(None, 2), y.split(None, 2)
            if len(fx) >= 2 and len(fy) >= 2 and fx[0] == fy[0] and \
                    fx[1] == "??":
                continue
            diffs.append("dcmdump: %s -> %s" % (x[:100], y[:100]))
        return not diffs, diffs[:10]
    return False, ["dcmdump: " + l[:160] for l in
                   list(difflib.unified_diff(la, lb, lineterm="", n=0))[2:12]]


# ------------------------------------------------------------------ #
# Bytes and structure

def dataset_bytes(path):
    """(bytes of the dataset after the meta group, inflated if deflated,
    raw bytes of the dataset as stored)."""
    with open(path, "rb") as f:
        b = f.read()
    fr = p10.framing(b)
    raw = b[fr.dataset_offset:]
    if p10.uid_str(fr.meta.get(0x0010)) in p10.DEFLATED_TS:
        return p10.inflate(raw), raw
    return raw, raw


def output_framing_problem(path):
    """A copy is a Part 10 file: 128-byte preamble, "DICM", a meta group
    that starts with a right (0002,0000) (explicit VR LE, at 132)."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 144 or b[128:132] != b"DICM":
        return "output has no preamble and DICM"
    if b[132:140] != b"\x02\x00\x00\x00UL\x04\x00":
        return "output meta does not start with (0002,0000) UL 4"
    end = 144 + struct.unpack_from("<I", b, 140)[0]
    fr = p10.framing(b)
    if end != fr.dataset_offset:
        return ("output (0002,0000) says the meta group ends at %d, it "
                "ends at %d" % (end, fr.dataset_offset))
    return None


def dump_structure(tool, path):
    p = subprocess.run([tool, "--dump", "-q", path], env=sanitizer_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    report = sanitizer_report(p.stderr.decode("utf-8", "replace"))
    if report:
        raise RuntimeError("sanitizer in --dump %s: %s" % (path, report))
    lines = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        lines.append(re.sub(r" @\d+", "", line).rstrip())
    return lines


def structure_reasons(tool, inp, out):
    """Why the dataset bytes differ, from our own --dump of both."""
    a, b = dump_structure(tool, inp), dump_structure(tool, out)
    reasons = set()
    unexplained = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        left, right = a[i1:i2], b[j1:j2]
        rest_l, rest_r = [], []
        for line in left:
            if re.match(r"\s*\([0-9A-F]{4},0000\) ", line):
                reasons.add("group lengths dropped")
            else:
                rest_l.append(line)
        for line in right:
            rest_r.append(line)
        if len(rest_l) == len(rest_r):
            for x, y in zip(rest_l, rest_r):
                fx, fy = x.split(), y.split()
                if len(fx) >= 3 and len(fy) >= 3 and fx[0] == fy[0]:
                    if fx[1] != fy[1]:
                        reasons.add("VR repaired")
                    if fx[2:] != fy[2:]:
                        if "item" in fx and "defined" in fx:
                            reasons.add("item length recomputed")
                        elif fx[2].isdigit() and fy[2].isdigit() and \
                                int(fy[2]) == int(fx[2]) + 1:
                            reasons.add("odd length padded")
                        elif fx[2].isdigit() and fy[2].isdigit() and \
                                fx[0] == "(FFFE,E000)":
                            reasons.add("item length recomputed")
                        elif fx[1:] != fy[1:] and fx[1] == fy[1]:
                            unexplained.append("%s -> %s" % (x, y))
                else:
                    unexplained.append("%s -> %s" % (x, y))
        else:
            for x in rest_l:
                unexplained.append("- " + x)
            for y in rest_r:
                unexplained.append("+ " + y)
    return reasons, unexplained


# ------------------------------------------------------------------ #

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True, help="oa-anonymize")
    ap.add_argument("--corpus", help="corpus folder (default: "
                    "$OA_CORPUS, else <repo>/../shared/corpus)")
    ap.add_argument("--workdir", help="keep the outputs here")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds for the whole --copy batch")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every file, not only the non-identical")
    args = ap.parse_args()

    corpus = require_corpus(args.corpus)
    tool = os.path.abspath(args.tool)
    if shutil.which("dcmdump") is None:
        print("roundtrip.py: SKIPPED: needs dcmdump (Debian's dcmtk)")
        return SKIP
    if not pydicom.__version__.startswith("2."):
        print("roundtrip.py: note: written for pydicom 2.x, this is %s"
              % pydicom.__version__)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    names = defect_names()
    global KEPT_DEFECTS
    KEPT_DEFECTS = sum(bit_of(names, n) for n in KEPT_DEFECT_NAMES)
    t0 = time.time()

    listed, on_disk = corpus_listing(corpus)
    fatal = []
    for rel in sorted(set(listed) - on_disk):
        fatal.append("listed in INDEX.tsv but missing: %s" % rel)
    for rel in sorted(on_disk - set(listed)):
        print("note: not in INDEX.tsv, tested too: %s" % rel)
    files = [r for r in listed if r in on_disk] + sorted(on_disk -
                                                         set(listed))

    work = args.workdir or tempfile.mkdtemp(prefix="oa-roundtrip-")
    if args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "in"))
    # Base names repeat across the corpus and the tool names each output
    # after its input: give every input a unique link name.
    link = {}
    for i, rel in enumerate(files):
        name = "in/%04d" % i
        os.symlink(os.path.join(corpus, rel), os.path.join(work, name))
        link[rel] = name

    # 1. Copy, in batches (a batch that crashes is rerun file by file).
    rows = {}
    for name, row in run_batches(
            tool, ["--copy", "-o", "out"], [link[r] for r in files], work,
            args.timeout, 1000, "copy", fatal)[0].items():
        rows[name] = row
    result = {}    # rel -> (class, detail)
    written = []
    for rel in files:
        row = rows.get(link[rel])
        if row is None:
            result[rel] = ("FAILED", "no TSV line")
            continue
        status, defects, msg = row
        out = os.path.join(work, "out", os.path.basename(link[rel]))
        if status == "CRASH":
            result[rel] = ("FAILED", msg)
        elif status == "ok":
            if not os.path.exists(out):
                result[rel] = ("FAILED", "status ok but no output")
            else:
                written.append(rel)
        else:
            if os.path.exists(out):
                result[rel] = ("FAILED", "refused but an output exists")
            else:
                result[rel] = ("refused", "%s: %s" % (status, msg))

    outputs = {rel: os.path.join(work, "out", os.path.basename(link[rel]))
               for rel in written}
    inputs = {rel: os.path.join(corpus, rel) for rel in files}

    # 2. Our reader on our outputs: clean files, no defect to repair.
    check_rows = run_batches(
        tool, ["--check"], [os.path.relpath(outputs[r], work)
                            for r in written],
        work, args.timeout, 1000, "check", fatal)[0]

    failures = {}   # rel -> [reasons]
    notes = {}      # rel -> set of notes
    for rel in written:
        notes[rel] = set()
        row = check_rows.get(os.path.relpath(outputs[rel], work))
        if row is None:
            failures.setdefault(rel, []).append("--check: no result")
        elif row[0] == "CRASH":
            failures.setdefault(rel, []).append("--check: " + row[2])
        elif row[0] != "ok":
            failures.setdefault(rel, []).append(
                "our reader refuses the output: %s" % row[2])
        elif row[1] & ~(rows[link[rel]][1] & KEPT_DEFECTS):
            failures.setdefault(rel, []).append(
                "our reader repairs defects in the output: %s"
                % describe_defects(row[1], names))

    # 3. dcmdump, in parallel.
    not_dcmdump_readable = []
    paths = [outputs[r] for r in written]
    chunks = [paths[i::args.jobs] for i in range(args.jobs)]
    dumped_paths = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for part in pool.map(dcmdump_many, [c for c in chunks if c]):
            dumped_paths.update(part)
    dumped = {r: dumped_paths[outputs[r]] for r in written}
    bad = [r for r in written if not dumped[r][0]]
    dumped_in = {r: dcmdump(inputs[r]) for r in bad}
    for rel in bad:
        if dumped_in[rel][0]:
            failures.setdefault(rel, []).append(
                "dcmdump reads the input but not the output: %s"
                % dumped[rel][1])
        else:
            not_dcmdump_readable.append(rel)
            notes[rel].add("input not dcmdump-readable")

    # 4. pydicom, and 5. bytes.
    for rel in written:
        defects = rows[link[rel]][1]
        diffs, found = pydicom_check(inputs[rel], outputs[rel], defects,
                                     names, rel)
        for d in diffs:
            failures.setdefault(rel, []).append(d)
        notes[rel] |= found

        problem = output_framing_problem(outputs[rel])
        if problem:
            failures.setdefault(rel, []).append(problem)
        a, a_raw = dataset_bytes(inputs[rel])
        b, b_raw = dataset_bytes(outputs[rel])
        if a is None or b is None:
            failures.setdefault(rel, []).append("cannot inflate")
            continue
        if a_raw == b_raw:
            result[rel] = ("identical", "")
            continue
        reasons = set()
        if a == b:
            reasons.add("deflate recompressed")
        else:
            try:
                found, unexplained = structure_reasons(tool, inputs[rel],
                                                       outputs[rel])
            except RuntimeError as e:
                failures.setdefault(rel, []).append(str(e))
                found, unexplained = set(), []
            reasons |= found
            if a_raw != a:
                reasons.add("deflate recompressed")
            if unexplained:
                reasons.add("structure: " + "; ".join(unexplained[:3]))
        if defects:
            reasons.add("defect repaired (%s)"
                        % describe_defects(defects, names))
        for n in ("odd length padded", "group lengths dropped"):
            if n in notes[rel]:
                reasons.add(n)
        if not reasons:
            reasons.add("values equal, bytes differ (see --dump)")
        result[rel] = ("equivalent", ", ".join(sorted(reasons)))

    for rel, why in failures.items():
        result[rel] = ("FAILED", "; ".join(why))

    # DICOMDIRs are read but not rewritten (their record offsets count from
    # the start of the file, and the rebuilt meta group changes its size).
    for rel, (cls, detail) in result.items():
        if rel not in EXPECTED_REFUSALS and \
                "a DICOMDIR cannot be rewritten" in detail and \
                os.path.basename(rel).upper().startswith("DICOMDIR"):
            EXPECTED_REFUSALS[rel] = ("a DICOMDIR cannot be rewritten",
                                      "DICOMDIR: refused by policy")

    # Expected refusals: exactly these, for these reasons.
    list_errors = []
    for rel, (cls, detail) in sorted(result.items()):
        exp = EXPECTED_REFUSALS.get(rel)
        if cls == "refused":
            if exp is None:
                list_errors.append("refused, not an expected refusal: "
                                   "%s (%s)" % (rel, detail))
            elif exp[0] not in detail:
                list_errors.append("refused for another reason than "
                                   "expected: %s: %s (expected: %s)"
                                   % (rel, detail, exp[0]))
        elif exp is not None:
            list_errors.append("expected refusal now %s: %s (update "
                               "EXPECTED_REFUSALS)" % (cls, rel))
    for rel in sorted(set(EXPECTED_REFUSALS) - set(result)):
        list_errors.append("expected refusal not in the corpus: %s" % rel)

    # Report.
    counts = {"identical": 0, "equivalent": 0, "refused": 0, "FAILED": 0}
    for rel in files:
        cls, detail = result[rel]
        counts[cls] += 1
        extra = sorted(notes.get(rel, ()))
        if cls == "identical" and not args.verbose:
            continue
        if cls == "refused":
            exp = EXPECTED_REFUSALS.get(rel)
            detail = detail + ("  [expected: %s]" % exp[1] if exp
                               else "  [NOT EXPECTED]")
        line = "%-10s %s" % (cls, rel)
        if detail:
            line += ": " + detail
        if extra:
            line += "  {" + ", ".join(extra) + "}"
        print(line)
    for rel in not_dcmdump_readable:
        print("note: input not dcmdump-readable (nor the output): %s" % rel)
    for msg in fatal + list_errors:
        print("ERROR: " + msg)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print("(%.1f s)" % (time.time() - t0))
    print("%d files: %d identical, %d equivalent, %d refused, %d failed"
          % (len(files), counts["identical"], counts["equivalent"],
             counts["refused"], counts["FAILED"]))
    return 0 if counts["FAILED"] == 0 and not fatal and not list_errors \
        else 1


if __name__ == "__main__":
    sys.exit(main())
