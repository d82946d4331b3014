#!/usr/bin/env python3
"""Build the seed corpus of fuzz_dicom_reader.

    UnitTests/fuzz/make_seeds.py [--shared DIR]

Writes corpus/fuzz_dicom_reader/syn-*.dcm: minimal synthetic inputs, one
per framing or defect policy of the reader (README "Reader defect
policies"), encoded by hand with struct so that malformed ones can be
made (UnitTests/lib/oatest/dicombytes.py).  With --shared DIR (the
corpus: $OA_CORPUS or ../shared/corpus), also copies the small real files
listed in PICKS, named <source>--<file>.  Seeds are committed; run this
only to regenerate them.  Python 3 standard library only.
"""
import argparse
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from oatest.dicombytes import (  # noqa: E402
    CT_IMAGE, DEFLATED, EBE, ELE, EXPLICIT_BE, EXPLICIT_LE, HTJ2K, ILE,
    IMPLICIT_LE, JPEG_XL, UNDEF, deflate_raw, el, encapsulated, item,
    item_end, item_header, nested, part10, s, seq_end, sq)
OUT = os.path.join(HERE, "corpus", "fuzz_dicom_reader")

# Small real files from the corpus: every transfer syntax family,
# deflate, big endian, no meta, UN sequences, DICOMDIR, known defects.
PICKS = [
    # implicit VR little endian
    "pydicom-test_files/nested_priv_SQ.dcm",
    "dcm4che/Tag-0040-A170-VR-CS.dcm",
    # no meta / no preamble
    "pydicom-test_files/meta_missing_tsyntax.dcm",
    "pydicom-test_files/ExplVR_BigEndNoMeta.dcm",
    "dcm4che/no_preamble_dicm_in_data",
    "pydicom-test_files/rtstruct.dcm",
    # explicit VR little endian
    "fo-dicom/GH1146.dcm",
    "pydicom-test_files/badVR.dcm",
    "dcm4che/DICOMDIR",
    # deflated
    "dcm4che/report_dfl",
    "pydicom-data/liver_deflate.dcm",
    # explicit VR big endian
    "pydicom-test_files/SC_rgb_small_odd_big_endian.dcm",
    "pydicom-test_files/dicomdirtests/DICOMDIR-bigEnd",
    # encapsulated: JPEG, JPEG-LS, JPEG 2000, RLE
    "pydicom-test_files/SC_rgb_jpeg.dcm",
    "pydicom-test_files/UN_sequence.dcm",
    "pydicom-test_files/JPEGLSNearLossless_08.dcm",
    "orthanc-tests/2021-02-19-MalaterreCP246.dcm",
    "pydicom-data/liver_j2k.dcm",
    "pydicom-test_files/JPEG2000-embedded-sequence-delimiter.dcm",
    "pydicom-test_files/SC_rgb_rle.dcm",
]

def patient(enc=ELE):
    return (s(0x00080016, b"UI", CT_IMAGE, enc) +
            s(0x00080018, b"UI", "1.2.3.4.5", enc) +
            s(0x00100010, b"PN", "Doe^John", enc) +
            s(0x00100020, b"LO", "ID123", enc))


def image_header(enc=ELE):
    return (el(0x00280002, b"US", struct.pack(enc.fmt + "H", 1), enc) +
            s(0x00280004, b"CS", "MONOCHROME2", enc) +
            el(0x00280010, b"US", struct.pack(enc.fmt + "H", 2), enc) +
            el(0x00280011, b"US", struct.pack(enc.fmt + "H", 2), enc) +
            el(0x00280100, b"US", struct.pack(enc.fmt + "H", 8), enc))


def synthetic():
    seeds = {}
    ds = patient()
    leaf_ile = s(0x00100010, b"PN", "Leaf", ILE)
    leaf_ele = s(0x00100010, b"PN", "Leaf", ELE)
    item_undef = item_header(UNDEF)
    item_delim = item_end()
    seq_undef = el(0x0040A730, b"SQ", b"", length=UNDEF)

    # Framing.
    seeds["syn-empty"] = b""
    seeds["syn-meta-only"] = part10(EXPLICIT_LE, b"")
    seeds["syn-bare-implicit"] = patient(ILE)
    seeds["syn-dicm-at-0"] = part10(EXPLICIT_LE, ds, preamble=False)
    seeds["syn-meta-at-0"] = part10(EXPLICIT_LE, ds, preamble=False,
                                    dicm=False)
    seeds["syn-meta-no-ts"] = part10(EXPLICIT_LE, patient(ILE),
                                     with_ts=False)
    seeds["syn-meta-defects"] = part10("1.2.3.4.5.6.7", ds, group_len=7)
    seeds["syn-ts-mismatch"] = part10(IMPLICIT_LE, ds)
    # Nesting beyond the strict pass's limit (4), both length forms, in
    # each encoding.
    seeds["syn-nested"] = part10(EXPLICIT_LE, ds + nested(6) +
                                 nested(6, defined=True))
    seeds["syn-nested-implicit"] = part10(IMPLICIT_LE,
                                          patient(ILE) + nested(5, ILE))
    seeds["syn-nested-be"] = part10(EXPLICIT_BE, patient(EBE) +
                                    nested(3, EBE, defined=True))
    # UN: CP-246 (undefined length, implicit LE content), explicit content
    # by mistake, a defined-length UN holding items; and both in a big
    # endian dataset, where the UN header is big endian and its content
    # (items and delimiter) implicit little endian.
    seeds["syn-un-undefined"] = part10(EXPLICIT_LE, ds + sq(
        0x00091010, [item(leaf_ile, ILE, False)], ELE, vr=b"UN"))
    seeds["syn-un-explicit-content"] = part10(EXPLICIT_LE, ds + sq(
        0x00091010, [item(leaf_ele, ELE, False)], ELE, vr=b"UN"))
    seeds["syn-un-defined-items"] = part10(EXPLICIT_LE, ds + el(
        0x00091010, b"UN", item(leaf_ile, ILE)))
    seeds["syn-un-undefined-be"] = part10(EXPLICIT_BE, patient(EBE) + el(
        0x00091010, b"UN", b"", EBE, length=UNDEF) + item(leaf_ile, ILE) +
        seq_end(ILE))
    seeds["syn-un-defined-be"] = part10(EXPLICIT_BE, patient(EBE) + el(
        0x00091010, b"UN", item(leaf_ile, ILE), EBE))
    # Defects (README "Reader defect policies").
    seeds["syn-defects-mixed"] = part10(
        EXPLICIT_LE, el(0x00080000, b"UL", b"\0\0\0\0") + ds +
        el(0x00081030, b"LO", b"odd") + seq_end() +
        el(0x00091011, b"OB", b"\1\2\3") +
        el(0x00091012, b"OB", b"", length=UNDEF) + item(b"abcd") +
        seq_end() + b"\1\2\3")
    seeds["syn-wrong-delimiter"] = part10(
        EXPLICIT_LE, ds + seq_undef + item_undef + leaf_ele + seq_end())
    seeds["syn-item-no-delimiter"] = part10(
        EXPLICIT_LE, ds + seq_undef + item_undef + leaf_ele)
    seeds["syn-encap-no-delimiter"] = part10(
        EXPLICIT_LE, ds + image_header() +
        encapsulated([b"\xff\xd8\xff\xd9"], delimiter=False))
    seeds["syn-bad-vr"] = part10(EXPLICIT_LE, ds + b"\x10\x00\x30\x00"
                                 b"ZZ\x08\x0019700101" +
                                 s(0x00200010, b"SH", "S1"))
    seeds["syn-item-overrun"] = part10(EXPLICIT_LE, ds + el(
        0x0040A730, b"SQ", item(leaf_ele + item_delim)))
    seeds["syn-item-past-seq"] = part10(EXPLICIT_LE, ds + el(
        0x0040A730, b"SQ", b"", length=8) + item_undef + leaf_ele +
        item_delim)
    seeds["syn-implicit-sq-not-items"] = part10(
        IMPLICIT_LE, patient(ILE) + el(0x0040A730, b"SQ", b"notitems", ILE))
    seeds["syn-length-past-end"] = part10(EXPLICIT_LE, ds + el(
        0x7FE00010, b"OW", b"\0" * 16, length=0xC0000000))
    # Deflated: raw, with a zlib header, truncated.
    raw = deflate_raw(patient() + nested(2))
    seeds["syn-deflated"] = part10(DEFLATED, raw)
    seeds["syn-deflated-zlib"] = part10(DEFLATED, zlib.compress(patient()))
    seeds["syn-deflated-truncated"] = part10(DEFLATED, raw[:len(raw) // 2])
    # Encapsulated pixel data under syntaxes with no small real sample.
    frames = [b"\xff\xd8" + b"\x55" * 9 + b"\xff\xd9", b"\xff\x0a" * 3]
    for name, ts in (("htj2k", HTJ2K), ("jpeg-xl", JPEG_XL)):
        seeds["syn-encap-" + name] = part10(
            ts, ds + image_header() + encapsulated(frames))
    # Readable repros of fuzzer findings (crash-*.dcm are the raw ones).
    # A transfer syntax UID longer than 64 characters in the compressed
    # family: the writer took strlen() of the family's NULL UID.
    seeds["syn-long-ts-uid"] = part10("1.2.840.10008.1.2.4." + "9" * 50, ds)
    # A valid explicit LE file whose dataset starts with a private group
    # (2001): the encoding guess reads it as big endian.
    seeds["syn-first-group-2001"] = part10(EXPLICIT_LE, s(
        0x20010010, b"LO", "Philips Imaging DD 001") + s(
        0x20011001, b"LO", "X"))
    # The reader accepts it; the writer drops the group length, and the
    # output, now starting with group 6000, is read back as big endian.
    seeds["syn-grouplen-then-6000"] = part10(EXPLICIT_LE, el(
        0x00080000, b"UL", struct.pack("<I", 8)) + el(
        0x60000010, b"US", b"\x02\x00"))
    # A transfer syntax UID with an embedded NUL: the writer's copy of the
    # label stopped at the NUL ("1.2.840.10008.1.2.4.", unknown), so the
    # output was re-read with a guessed, big endian, encoding.
    seeds["syn-ts-uid-nul"] = part10("1.2.840.10008.1.2.4.\x009", s(
        0x20010010, b"LO", "Philips Imaging DD 001"))
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", help="the corpus ($OA_CORPUS or "
                    "../shared/corpus), to copy PICKS")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for name, data in synthetic().items():
        with open(os.path.join(OUT, name + ".dcm"), "wb") as f:
            f.write(data)
    if args.shared:
        for rel in PICKS:
            src = os.path.join(args.shared, rel)
            dst = rel.split("/")[0] + "--" + os.path.basename(rel)
            shutil.copyfile(src, os.path.join(OUT, dst))


if __name__ == "__main__":
    main()
