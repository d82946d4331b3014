#!/usr/bin/python3
"""Integration test: the mapping files of a report (issue 14).

    /usr/bin/python3 test_mapping.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

A real Orthanc with the plugin holds two generated studies of two patients
(one of two series); each instance names a frame of reference, its study
(Referenced Study Sequence, Request Attributes Sequence) and a neighbour
(Referenced Image Sequence).  One job anonymizes both; then:
GET /anonymizer/reports/{id}/uids.csv lists every original UID exactly
once, each with the new UID the engine wrote, and every UID of every
anonymized file (at any depth, the file meta's too) maps back to an
original one, at the same place in the original file; /patients.csv
holds the two Patient IDs with the ones written.  A ZIP export with
"Mapping": true has uids.csv and patients.csv at the archive's root with
the rows of the exported studies only; a folder target refuses
"Mapping".  Prints one line per check; exits non-zero on failure.
"""

import csv
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicomgen  # noqa: E402
from oatest.harness import (Checks, Orthanc, file_of, post_json,  # noqa: E402
                            standard_arguments, upload, wait_job)

WELL_KNOWN = "1.2.840.10008."


def walk_uids(ds, path=()):
    """[(path, uid)] of every UI value of a dataset at any depth; `path`
    names the place (tags and item numbers)."""
    out = []
    for el in ds:
        if el.VR == "SQ":
            for n, item in enumerate(el.value):
                out += walk_uids(item, path + (el.tag, n))
        elif el.VR == "UI" and el.value:
            values = el.value if el.VM > 1 else [el.value]
            for k, v in enumerate(values):
                out.append((path + (el.tag, k), str(v)))
    return out


def file_uids(data):
    """{place: uid} of a Part 10 file, the meta's SOP Instance UID too."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    out = dict(walk_uids(ds))
    out[("meta",)] = str(ds.file_meta.MediaStorageSOPInstanceUID)
    return out


def read_csv(data):
    """The rows of a mapping file, the header checked."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows and rows[0] == ["id_old", "id_new"], rows[:1]
    return rows[1:]


def main():
    args = standard_arguments(__doc__)
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-mapping-")
    exports = os.path.join(work, "exports")
    archives = os.path.join(work, "archives")
    os.makedirs(exports)
    os.makedirs(archives)
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      verbose=args.verbose,
                      config={"Anonymizer": {"ExportFolder": exports,
                                             "ArchiveFolder": archives}})
    try:
        with orthanc:
            gen_a = dicomgen.Study(dicomgen.PATIENTS[0], 1)
            gen_b = dicomgen.Study(dicomgen.PATIENTS[1], 1)
            originals = {}        # SOP Instance UID -> {place: uid}
            study_of = {}         # original Orthanc study -> gen study
            report = None
            anon = {}             # gen study uid -> anonymized Orthanc ID
            uid_rows = patient_rows = None

            with checks.check("two studies (three series, seven instances) "
                              "are uploaded and anonymized in one job"):
                blobs = [dicomgen.make_instance(gen_a, 1, i, 3)
                         for i in range(1, 4)]
                blobs += [dicomgen.make_instance(gen_a, 2, i, 2)
                          for i in range(1, 3)]
                blobs += [dicomgen.make_instance(gen_b, 1, i, 2)
                          for i in range(1, 3)]
                for data in blobs:
                    answer = upload(orthanc, data)
                    uids = file_uids(data)
                    originals[uids[("meta",)]] = uids
                    gen = gen_a if uids[("meta",)].startswith(gen_a.uid) \
                        else gen_b
                    study_of[answer["ParentStudy"]] = gen
                status, answer, raw = post_json(
                    orthanc, "/anonymizer/anonymize",
                    {"Resources": [{"Level": "Study", "ID": s}
                                   for s in sorted(study_of)],
                     "Asynchronous": False})
                assert status == 200, raw[:300]
                assert answer["FailedCount"] == 0, raw[:300]
                report = answer["Report"]
                for st in answer["Studies"]:
                    anon[study_of[st["Original"]].uid] = st["Anonymized"]
                assert len(anon) == 2, anon

            originals_all = {u for inst in originals.values()
                             for u in inst.values()
                             if not u.startswith(WELL_KNOWN)}
            with checks.check("uids.csv: every original UID (study, series, "
                              "instance, frame of reference, references) "
                              "exactly once"):
                status, headers, body = orthanc.request(
                    "GET", "/anonymizer/reports/%s/uids.csv" % report)
                assert status == 200, body[:200]
                assert headers["content-type"].startswith("text/csv")
                assert "uids.csv" in headers.get("content-disposition", "")
                assert "x-anonymizer-mapping" not in headers
                uid_rows = read_csv(body)
                olds = [r[0] for r in uid_rows]
                assert len(olds) == len(set(olds)), "an original twice"
                assert len(set(map(tuple, uid_rows))) == len(uid_rows)
                assert set(olds) == originals_all, (
                    "%d listed, %d in the originals, %d missing, %d extra" % (
                        len(set(olds)), len(originals_all),
                        len(originals_all - set(olds)),
                        len(set(olds) - originals_all)))
                expected = gen_a.uids() | gen_b.uids()
                assert expected <= set(olds), "generator UIDs missing"
                news = [r[1] for r in uid_rows]
                assert len(news) == len(set(news)), "a new UID twice"
                assert all(n.startswith("2.25.") for n in news)
                report_json = orthanc.get_json("/anonymizer/reports/%s"
                                               % report)
                assert report_json["Mapping"] == {
                    "Uids": len(uid_rows), "Patients": 2,
                    "Complete": True}, report_json.get("Mapping")

            with checks.check("every UID of the anonymized files maps back "
                              "to the original at the same place"):
                back = {n: o for o, n in uid_rows}
                seen = 0
                for gen_uid, sid in anon.items():
                    for inst in orthanc.get_json("/studies/%s/instances"
                                                 % sid):
                        out = file_uids(file_of(orthanc, inst["ID"]))
                        orig = originals[back[out[("meta",)]]]
                        for place, uid in out.items():
                            if uid.startswith(WELL_KNOWN):
                                continue
                            assert uid in back, "%s: not in uids.csv" % (
                                place,)
                            assert orig.get(place) == back[uid], \
                                "%s: maps to another UID" % (place,)
                        seen += 1
                assert seen == len(originals), seen

            with checks.check("patients.csv: each Patient ID with the one "
                              "written"):
                status, headers, body = orthanc.request(
                    "GET", "/anonymizer/reports/%s/patients.csv" % report)
                assert status == 200, body[:200]
                patient_rows = read_csv(body)
                want = set()
                for gen in (gen_a, gen_b):
                    st = orthanc.get_json("/studies/%s" % anon[gen.uid])
                    want.add((gen.patient.id,
                              st["PatientMainDicomTags"]["PatientID"]))
                assert set(map(tuple, patient_rows)) == want
                assert len(patient_rows) == 2

            with checks.check("an unknown report: 404 for both files"):
                for name in ("uids", "patients"):
                    status, _, _ = orthanc.request(
                        "GET", "/anonymizer/reports/nope/%s.csv" % name)
                    assert status == 404, status

            def zip_export(resources):
                status, answer, raw = post_json(
                    orthanc, "/anonymizer/export",
                    {"Resources": resources,
                     "Target": {"Type": "zip", "Mapping": True}})
                assert status == 200, raw[:300]
                job = wait_job(orthanc, answer["ID"], timeout=120)
                assert job["State"] == "Success", json.dumps(
                    job.get("Content"))[:300]
                content = job["Content"]
                assert content["Target"].get("Mapping") is True
                assert len(content["Archives"]) == 1
                status, _, data = orthanc.request(
                    "GET", content["Archives"][0]["Path"], timeout=60)
                assert status == 200
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    root = content["Name"]
                    names = z.namelist()
                    assert "%s/uids.csv" % root in names, names[:5]
                    assert "%s/patients.csv" % root in names
                    return (read_csv(z.read("%s/uids.csv" % root)),
                            read_csv(z.read("%s/patients.csv" % root)),
                            len([n for n in names if n.endswith(".dcm")]))

            with checks.check("ZIP with \"Mapping\": true: uids.csv and "
                              "patients.csv at the root, the report's rows"):
                uids, patients, files = zip_export(sorted(anon.values()))
                assert files == len(originals), files
                assert sorted(map(tuple, uids)) == \
                    sorted(map(tuple, uid_rows))
                assert sorted(map(tuple, patients)) == \
                    sorted(map(tuple, patient_rows))

            with checks.check("ZIP of one study: the rows of that study "
                              "only"):
                uids, patients, files = zip_export([anon[gen_b.uid]])
                olds = {r[0] for r in uids}
                b_uids = {u for sop, inst in originals.items()
                          if sop.startswith(gen_b.uid)
                          for u in inst.values()
                          if not u.startswith(WELL_KNOWN)}
                assert olds == b_uids, "%d rows, %d UIDs of the study" % (
                    len(olds), len(b_uids))
                assert [r[0] for r in patients] == [gen_b.patient.id]
                assert files == 2

            with checks.check("\"Mapping\" in a folder target: 400 naming "
                              "Mapping"):
                status, _, raw = post_json(
                    orthanc, "/anonymizer/export",
                    {"Resources": sorted(anon.values()),
                     "Target": {"Type": "folder", "Mapping": True}})
                assert status == 400, status
                assert b"Mapping" in raw, raw[:200]

            with checks.check("the key stays out of Orthanc's log"):
                log = orthanc.log_text()
                for gen in (gen_a, gen_b):
                    assert gen.patient.id not in log
                    assert gen.uid not in log
    finally:
        shutil.rmtree(work, ignore_errors=True)
    checks.stopped_cleanly(orthanc)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
