#!/usr/bin/python3
"""The attributes of Table E.1-1 that an IOD requires, as data and as code.

Two steps:

  --probe   asks David Clunie's validator dciodvfy (Debian package
            dicom3tools), for every Storage SOP class of pydicom's UID
            dictionary, which top-level attributes its IOD requires: a
            dataset holding only the SOP Class and Instance UIDs is
            checked, and each "Missing attribute Type 1|2[C] ...
            Element=<Keyword>" is a required attribute; a second probe
            adds Patient Species Description (an animal patient) and
            records what only it asks for (Responsible Person and
            Organization, breed) with the condition "animal".  Only the
            tags that are rows of Table E.1-1 are kept.  Writes
            Resources/Reference/iod_required.tsv:
                sop_class  tag  type (1 or 2)  condition  module
            (needs /usr/bin/python3 with pydicom, and dciodvfy).

  (default) reads iod_required.tsv and writes
            Plugin/anonymizer/iod_table.inc, included by ps315.c: one
            sorted array of {SOP class, tag, type, animal} for
            oa_ps315_required().  The unit test generated_tables
            (UnitTests/check_generated.py) regenerates it and compares.

    /usr/bin/python3 Resources/Scripts/GenerateIodTypes.py --probe [TSV]
    /usr/bin/python3 Resources/Scripts/GenerateIodTypes.py [--reference DIR] [OUT]

Conditional attributes that none of the probes meets and attributes of
modules that the IOD leaves optional (U) are not in the table: they count
as not required.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REFERENCE = os.path.join(ROOT, "Resources", "Reference")
TSV = "iod_required.tsv"
CONDITIONS = {"": 0, "animal": 1, "cond": 2}
OUT = os.path.join(ROOT, "Plugin", "anonymizer", "iod_table.inc")

CONDITIONAL = re.compile(r"^Error - (?:Empty attribute \(no value\)|"
                         r"Attribute present when condition unsatisfied "
                         r"\(which may not be present otherwise\)) "
                         r"Type ([12])C Conditional Element=<(\w+)> "
                         r"Module=<(\w+)>")
MISSING = re.compile(r"^Error - Missing attribute Type ([12])C? "
                     r"(?:Required|Conditional) Element=<(\w+)> "
                     r"Module=<(\w+)>")


def load_dictionary(reference):
    """{keyword: tag as int} of the exact tags of dictionary.tsv."""
    kw = {}
    with open(os.path.join(reference, "dictionary.tsv"),
              encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4 or "x" in parts[0].lower()[1:]:
                continue
            tag = int(parts[0][1:5] + parts[0][6:10], 16)
            kw.setdefault(parts[3], tag)
    return kw


def load_e1_tags(reference):
    """({tags of the exact rows of Table E.1-1}, {those with a combined
    code})."""
    with open(os.path.join(reference, "ps315_table_e1_1.json"),
              encoding="utf-8") as f:
        rows = json.load(f)
    tags, combined = set(), set()
    for r in rows:
        t = r["tag"]
        if re.match(r"^\([0-9A-F]{4},[0-9A-F]{4}\)$", t):
            tags.add(int(t[1:5] + t[6:10], 16))
            if "/" in (r["basic"] or ""):
                combined.add(int(t[1:5] + t[6:10], 16))
    return tags, combined


def probe_one(folder, sop_class, animal, empty=()):
    """{keyword: (type, module)} that dciodvfy reports missing (or, with
    `empty` tags present without a value, conditional), None when it does
    not know the class."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = os.path.join(folder, "probe.dcm")
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = "1.2.3.4"
    if animal:
        ds.PatientSpeciesDescription = "probe"
    if empty:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        for tag in sorted(empty):
            vr = dictionary_VR(tag).split(" or ")[0]
            ds.add_new(tag, vr, Sequence() if vr == "SQ" else None)
    ds.save_as(path, write_like_original=False)
    p = subprocess.run(["dciodvfy", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    text = p.stdout.decode("latin-1")
    if "Information Object Not found" in text:
        return None
    out = {}
    for line in text.splitlines():
        m = (CONDITIONAL if empty else MISSING).match(line)
        if m:
            out.setdefault(m.group(2), (m.group(1), m.group(3)))
    return out


def probe(path):
    from pydicom._uid_dict import UID_dictionary

    kw = load_dictionary(REFERENCE)
    e1, combined = load_e1_tags(REFERENCE)
    combined = [t for t in combined if t in set(kw.values())]
    classes = sorted(uid for uid, v in UID_dictionary.items()
                     if v[1] == "SOP Class" and "Storage" in v[0]
                     and uid.startswith("1.2.840.10008.5.1.4."))
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                              "dicom3tools"], stdout=subprocess.PIPE)
    rows = []
    known = 0
    with tempfile.TemporaryDirectory(prefix="oa-iod-probe-") as folder:
        for uid in classes:
            human = probe_one(folder, uid, False)
            if human is None:
                continue
            known += 1
            animal = probe_one(folder, uid, True) or {}
            for name, (typ, module) in sorted(animal.items()):
                tag = kw.get(name)
                if tag is None or tag not in e1:
                    continue
                cond = "" if name in human else "animal"
                rows.append((uid, tag, typ, cond, module))
            have = set(r[1] for r in rows if r[0] == uid)
            cond = probe_one(folder, uid, False, combined) or {}
            for name, (typ, module) in sorted(cond.items()):
                tag = kw.get(name)
                if tag is None or tag not in e1 or tag in have:
                    continue
                rows.append((uid, tag, typ, "cond", module))
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Attributes of PS3.15 Table E.1-1 that the IOD of a SOP "
                "class requires at the top level, as dciodvfy (dicom3tools "
                "%s) reports them missing from an empty dataset; "
                "condition \"animal\": only when Patient Species Description "
                "is present; \"cond\": Type 1C or 2C with a condition the "
                "probe cannot settle. Generated by Resources/Scripts/"
                "GenerateIodTypes.py --probe; %d SOP classes known to "
                "dciodvfy.\n" % (version.stdout.decode() or "?", known))
        f.write("# sop_class\ttag\ttype\tcondition\tmodule\n")
        for uid, tag, typ, cond, module in rows:
            f.write("%s\t(%04X,%04X)\t%s\t%s\t%s\n"
                    % (uid, tag >> 16, tag & 0xFFFF, typ, cond, module))
    print("%d SOP classes, %d rows -> %s" % (known, len(rows), path))


def generate(reference, out):
    rows = []
    with open(os.path.join(reference, TSV), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            uid, tag, typ, cond, _module = line.rstrip("\n").split("\t")
            if not re.match(r"^[0-9.]{1,64}$", uid) or typ not in "12" or \
                    cond not in CONDITIONS:
                raise SystemExit("%s: bad row: %s" % (TSV, line.strip()))
            rows.append((uid, int(tag[1:5] + tag[6:10], 16), int(typ),
                         CONDITIONS[cond]))
    rows.sort(key=lambda r: (r[0].encode(), r[1]))
    lines = [
        "/* Generated by Resources/Scripts/GenerateIodTypes.py from",
        " * Resources/Reference/iod_required.tsv (what dciodvfy requires of",
        " * each IOD among the attributes of PS3.15 Table E.1-1).  Do not",
        " * edit: regenerate.  Included by ps315.c only. */",
        "#define OA_IOD_REQUIRED_COUNT %d" % len(rows),
        "",
        "/* {SOP class UID, tag, type (1 or 2), condition (0 none, 1 only",
        " * for an animal patient, 2 a condition the probe cannot settle)},",
        " * sorted by class (bytes) then tag */",
        "static const oa_iod_required iod_required[OA_IOD_REQUIRED_COUNT] = {",
    ]
    for uid, tag, typ, cond in rows:
        lines.append('    {"%s", 0x%08X, %d, %d},' % (uid, tag, typ, cond))
    lines.append("};")
    data = "\n".join(lines) + "\n"
    if out == "-":
        sys.stdout.write(data)
    else:
        with open(out, "w", encoding="utf-8") as f:
            f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--reference", default=REFERENCE)
    ap.add_argument("out", nargs="?")
    args = ap.parse_args()
    if args.probe:
        probe(args.out or os.path.join(REFERENCE, TSV))
    else:
        generate(args.reference, args.out or OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
