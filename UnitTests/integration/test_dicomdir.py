#!/usr/bin/python3
"""Integration test: exports as DICOM media ("Dicomdir": true, issue 14).

    /usr/bin/python3 test_dicomdir.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

A real Orthanc with the plugin holds a generated CT study (two series) and
an SR pair (a CT image and a Comprehensive SR); they are anonymized, then exported with
"Dicomdir": true as a ZIP archive and to a server folder.  Each result
must be a File-set as PS3.10 wants it: a DICOMDIR at the root and every
file under DICOM/ with File IDs of at most 8 upper-case characters per
component; dcmtk's dcmdump reads the DICOMDIR, dciodvfy finds no error in
it, pydicom's FileSet lists PATIENT / STUDY / SERIES and IMAGE and SR
DOCUMENT records whose every referenced file loads with
the UIDs the record names, and the files are byte for byte Orthanc's
anonymized instances.  A DICOM or peer target refuses "Dicomdir" with a
400 that says why.  Prints one line per check; exits non-zero on failure.
"""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicomgen  # noqa: E402
from oatest.harness import (Checks, Orthanc, post_json,  # noqa: E402
                            standard_arguments, upload, wait_job)

FILE_ID = re.compile(r"^DICOM(/[A-Z0-9_]{1,8}){1,7}$")


def md5(data):
    return hashlib.md5(data).hexdigest()


def validate_fileset(root, expected, what):
    """Check the File-set in `root` against `expected` (SOP Instance UID ->
    MD5 of Orthanc's file); returns the record types seen."""
    import pydicom
    from pydicom.fileset import FileSet

    dicomdir = os.path.join(root, "DICOMDIR")
    assert os.path.isfile(dicomdir), "%s: no DICOMDIR at the root" % what
    p = subprocess.run(["dcmdump", "-q", dicomdir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    assert p.returncode == 0, "dcmdump: %s" % p.stderr[:200]
    p = subprocess.run(["dciodvfy", dicomdir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    errors = [l for l in p.stdout.decode(errors="replace").splitlines()
              if l.startswith("Error")]
    assert not errors, "dciodvfy: %s" % "; ".join(errors[:3])
    fs = FileSet(pydicom.dcmread(dicomdir))
    seen, types = {}, set()
    for inst in fs:
        rel = os.path.relpath(inst.path, root)
        assert FILE_ID.match(rel), "File ID %s" % rel
        with open(inst.path, "rb") as f:
            data = f.read()
        ds = inst.load()
        assert ds.SOPInstanceUID == inst.ReferencedSOPInstanceUIDInFile
        types.add(inst.node.record_type)
        seen[ds.SOPInstanceUID] = md5(data)
    assert seen == expected, "%s: %d files listed, %d expected, %d differ" % (
        what, len(seen), len(expected),
        len([k for k in expected if seen.get(k) != expected[k]]))
    on_disk = [os.path.relpath(os.path.join(d, n), root)
               for d, _s, names in os.walk(root) for n in names]
    assert sorted(on_disk) == sorted(["DICOMDIR"] + [
        os.path.relpath(i.path, root) for i in fs]), \
        "%s: files on disk that the DICOMDIR does not list" % what
    return types


def main():
    args = standard_arguments(__doc__)
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-dicomdir-")
    exports = os.path.join(work, "exports")
    archives = os.path.join(work, "archives")
    os.makedirs(exports)
    os.makedirs(archives)
    gen = os.path.join(work, "gen")
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      verbose=args.verbose,
                      config={"Anonymizer": {"ExportFolder": exports,
                                             "ArchiveFolder": archives}})
    try:
        with orthanc:
            expected = {}
            anon = None
            with checks.check("a CT study of two series and an SR pair are "
                              "uploaded and anonymized"):
                values = dicomgen.make_study(gen, "dd", count=6)
                files = list(values["Files"])
                os.makedirs(os.path.join(gen, "sr"))
                files += dicomgen.make_sr_pair(os.path.join(gen, "sr"))
                study = None
                for path in files:
                    with open(path, "rb") as f:
                        answer = upload(orthanc, f.read())
                    study = study or answer["ParentStudy"]
                studies = {orthanc.get_json("/instances/%s/study" % i)["ID"]
                           for i in orthanc.get_json("/instances")}
                status, answer, raw = post_json(
                    orthanc, "/anonymizer/anonymize",
                    {"Resources": [{"Level": "Study", "ID": s}
                                   for s in sorted(studies)],
                     "Asynchronous": False,
                     "Profile": {"Base": "Full",
                                 "SecondaryCapturesAndReports": "keep",
                                 "StructuredContent": "clean"}})
                assert status == 200, raw[:300]
                anon = [s["Anonymized"] for s in answer["Studies"]]
                for sid in anon:
                    for inst in orthanc.get_json("/studies/%s/instances"
                                                 % sid):
                        status, _, data = orthanc.request(
                            "GET", "/instances/%s/file" % inst["ID"])
                        assert status == 200
                        expected[inst["MainDicomTags"]["SOPInstanceUID"]] = \
                            md5(data)
                assert len(expected) >= 6, "%d instances" % len(expected)

            def export(target):
                status, answer, raw = post_json(
                    orthanc, "/anonymizer/export",
                    {"Resources": anon, "Target": target})
                assert status == 200, raw[:300]
                job = wait_job(orthanc, answer["ID"], timeout=120)
                assert job["State"] == "Success", json.dumps(
                    job.get("Content"))[:300]
                return job["Content"]

            with checks.check("folder + Dicomdir: a File-set that dcmdump, "
                              "dciodvfy and pydicom's FileSet accept, "
                              "holding exactly the anonymized instances"):
                content = export({"Type": "folder", "Folder": "media",
                                  "Dicomdir": True})
                assert content["Target"].get("Dicomdir") is True
                root = os.path.join(exports, "media", content["Name"])
                types = validate_fileset(root, expected, "folder")
                assert "IMAGE" in types and "SR DOCUMENT" in types, types

            with checks.check("zip + Dicomdir: one archive whose root is "
                              "the same kind of File-set"):
                content = export({"Type": "zip", "Dicomdir": True})
                archives_list = content.get("Archives") or []
                assert len(archives_list) == 1, archives_list
                status, _, data = orthanc.request(
                    "GET", archives_list[0]["Path"], timeout=60)
                assert status == 200
                unzipped = os.path.join(work, "unzipped")
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    names = z.namelist()
                    z.extractall(unzipped)
                tops = {n.split("/")[0] for n in names}
                assert len(tops) == 1, tops
                validate_fileset(os.path.join(unzipped, tops.pop()),
                                 expected, "zip")

            for target, why in (
                    ({"Type": "dicom", "Modality": "nowhere",
                      "Dicomdir": True}, "a DICOM target"),
                    ({"Type": "zip", "Dicomdir": "yes"}, "not a boolean")):
                with checks.check("Dicomdir with %s: 400 that names "
                                  "Dicomdir" % why):
                    status, answer, raw = post_json(
                        orthanc, "/anonymizer/export",
                        {"Resources": anon, "Target": target})
                    assert status == 400, "HTTP %d" % status
                    assert b"Dicomdir" in raw or b"nowhere" in raw, raw[:200]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
