#!/usr/bin/python3
"""The DICOMDIR writer over the whole corpus (ctest: corpus_dicomdir).

    dicomdir.py --tool build/oa-anonymize [--corpus DIR] [--keep DIR]

Every file of the corpus goes through `oa-anonymize --dicomdir`, twice:
as it is (--copy: every SOP class of the corpus, SR, RT, presentation
states, encapsulated documents, ...) and anonymized with Full.  Each
output folder must be a valid File-set:

  * every File ID is DICOM/ and at most 8 components of 1-8 characters
    A-Z 0-9 _ (PS3.10 8.2), and the files on disk are exactly those the
    DICOMDIR references;
  * dcmtk's dcmdump reads the DICOMDIR without an error;
  * David Clunie's dciodvfy finds no error in it (Basic Directory IOD: the
    record types, their Type 1 and 2 keys);
  * pydicom's FileSet reads it, and every instance it lists loads, with the
    SOP Instance UID, SOP Class UID and transfer syntax the record names;
  * the hierarchy holds: each IMAGE-level record's file has the patient,
    study and series of the records above it;
  * a second run gives the same DICOMDIR byte for byte.

Prints one line per run and a summary; exits 0 only if both are valid.
Needs Debian's pydicom, dcmtk (dcmdump) and dicom3tools (dciodvfy); exits
77 (skipped) without them or without the corpus.
"""
import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from oatest import SKIP, corpus  # noqa: E402

FILE_ID = re.compile(r"^DICOM(/[A-Z0-9_]{1,8}){1,7}$")
SECRET = "dicomdir-test-secret-0123456789"


def run_tool(tool, mode, inputs, out):
    argv = [tool, "-q", "--dicomdir", "-o", out]
    argv += ["--copy"] if mode == "copy" else [
        "--profile", "Full", "--secret", SECRET, "--no-ocr"]
    p = subprocess.run(argv + inputs, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=900)
    return p


# dciodvfy errors about values copied unchanged from a source file (the
# corpus has made-up UIDs such as "4.5.6"): the input's, not the
# directory's.  Only --copy runs tolerate them; the anonymized run none.
INHERITED = re.compile(r"^Error - (Illegal root for UID|Dicom dataset "
                       r"contains invalid data values|Value invalid for "
                       r"this VR|Missing attribute Type 1C Conditional "
                       r"Element=<VerificationDateTime>)")


def check_fileset(out, problems, tolerate_values=False):
    """Check one File-set folder; append problems; return counts."""
    import pydicom
    from pydicom.fileset import FileSet

    dicomdir = os.path.join(out, "DICOMDIR")
    if not os.path.isfile(dicomdir):
        problems.append("no DICOMDIR")
        return 0, {}
    d = subprocess.run(["dcmdump", "-q", dicomdir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if d.returncode != 0:
        problems.append("dcmdump: %s" % d.stderr.decode(errors="replace")[:300])
    v = subprocess.run(["dciodvfy", dicomdir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    errors = [l for l in v.stdout.decode(errors="replace").splitlines()
              if l.startswith("Error") and not (
                  tolerate_values and INHERITED.match(l))]
    for e in sorted(set(errors))[:10]:
        problems.append("dciodvfy: " + e)
    fs = FileSet(pydicom.dcmread(dicomdir))
    on_disk = set()
    for root, _dirs, names in os.walk(os.path.join(out, "DICOM")):
        for n in names:
            on_disk.add(os.path.relpath(os.path.join(root, n), out))
    referenced = set()
    types = {}
    for inst in fs:
        rel = os.path.relpath(inst.path, out)
        referenced.add(rel)
        if not FILE_ID.match(rel):
            problems.append("bad File ID %s" % rel)
        try:
            ds = inst.load()
        except Exception as e:  # noqa: BLE001 - any reader failure
            problems.append("%s: pydicom cannot read it: %s" % (rel, e))
            continue
        node = inst.node
        types[node.record_type] = types.get(node.record_type, 0) + 1
        rec = node._record
        if ds.SOPInstanceUID != rec.ReferencedSOPInstanceUIDInFile:
            problems.append("%s: SOP Instance UID differs" % rel)
        if ds.SOPClassUID != rec.ReferencedSOPClassUIDInFile:
            problems.append("%s: SOP Class UID differs" % rel)
        if ds.file_meta.TransferSyntaxUID != \
                rec.ReferencedTransferSyntaxUIDInFile:
            problems.append("%s: transfer syntax differs" % rel)
        series = node.parent._record
        study = node.parent.parent._record
        patient = node.parent.parent.parent._record
        # (an empty Patient ID becomes the patient's rank: Type 1 there)
        if series.SeriesInstanceUID != ds.SeriesInstanceUID or \
                study.StudyInstanceUID != ds.StudyInstanceUID or \
                (ds.get("PatientID") and patient.PatientID != ds.PatientID):
            problems.append("%s: not under its patient/study/series" % rel)
    if referenced != on_disk:
        problems.append("%d files not referenced, %d referenced missing" % (
            len(on_disk - referenced), len(referenced - on_disk)))
    return len(referenced), types


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--keep")
    args = ap.parse_args()
    folder = corpus.require(args.corpus)
    try:
        global pydicom
        import pydicom
    except ImportError:
        print("skipped: Debian's pydicom (python3-pydicom) is missing")
        return SKIP
    for tool in ("dcmdump", "dciodvfy"):
        if shutil.which(tool) is None:
            print("skipped: %s is missing (dcmtk, dicom3tools)" % tool)
            return SKIP
    import warnings
    warnings.simplefilter("ignore")   # pydicom on the corpus's odd values
    listed, _ = corpus.listing(folder)
    # The files pydicom itself reads (the oracle must be able to read what
    # it checks); the others are the reader tests' business.
    inputs = []
    for rel in listed:
        path = os.path.join(folder, rel)
        try:
            pydicom.dcmread(path)
            inputs.append(path)
        except Exception:  # noqa: BLE001 - any reader failure
            pass
    work = args.keep or tempfile.mkdtemp(prefix="oa-dicomdir-")
    os.makedirs(work, exist_ok=True)
    failed = False
    try:
        for mode in ("copy", "Full"):
            out = os.path.join(work, mode)
            again = os.path.join(work, mode + "-again")
            for o in (out, again):
                shutil.rmtree(o, ignore_errors=True)
            p = run_tool(args.tool, mode, inputs, out)
            err = p.stderr.decode(errors="replace").splitlines()
            if p.returncode not in (0, 1) or any(
                    l.startswith("oa-anonymize: DICOMDIR:") for l in err):
                print("FAIL %s: oa-anonymize exited %d: %s" % (
                    mode, p.returncode, "\n".join(err[-5:])))
                failed = True
                continue
            problems = []
            # A file left out of the File-set must really be unfit for one:
            # no SOP Class or Instance UID, or no file meta information.
            left_out = [l.split(": ")[1] for l in err
                        if ": DICOMDIR: a file has no" in l]
            for path in left_out:
                ds = pydicom.dcmread(path, force=True)
                meta = getattr(ds, "file_meta", None)
                if all(ds.get(k) for k in ("SOPClassUID", "SOPInstanceUID",
                                           "StudyInstanceUID",
                                           "SeriesInstanceUID")) and \
                        meta is not None and "TransferSyntaxUID" in meta:
                    problems.append("%s left out of the File-set, but it has "
                                    "its UIDs" % os.path.relpath(path, folder))
            n, types = check_fileset(out, problems, mode == "copy")
            run_tool(args.tool, mode, inputs, again)
            if not filecmp.cmp(os.path.join(out, "DICOMDIR"),
                               os.path.join(again, "DICOMDIR"), shallow=False):
                problems.append("a second run wrote another DICOMDIR")
            kinds = ", ".join("%s %d" % kv for kv in sorted(types.items()))
            kinds += "; %d left out (no SOP, study or series UID, or no " \
                "meta)" % len(left_out)
            kinds += "; of %d corpus files pydicom reads" % len(inputs)
            if problems or n == 0:
                failed = True
                print("FAIL %s: %d files; %s" % (mode, n, kinds))
                for pr in problems[:20]:
                    print("   ", pr)
            else:
                print("PASS %s: %d files in a valid File-set (%s); dcmdump, "
                      "dciodvfy and pydicom's FileSet agree; same DICOMDIR "
                      "twice" % (mode, n, kinds))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("corpus_dicomdir: %s" % ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
