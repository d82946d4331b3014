#!/usr/bin/python3
"""Integration test: anonymize on the way out (issue 14).

    /usr/bin/python3 test_wayout.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

A real Orthanc with the plugin holds generated studies.  POST
/anonymizer/export with "Anonymize" reads each original instance, rewrites
it with the engine and sends it straight to the Target; nothing is stored
in Orthanc.  Each target is compared with anonymize-then-export of the
same study (same Orthanc, so the same secret and profile):

  - zip: the same entry paths, every file byte-identical; the job's
    content and report keys; the download route; "Mapping": true puts the
    same uids.csv / patients.csv rows as the anonymization's report;
    "Dicomdir": true makes media whose DICOMDIR names every file;
  - folder: the same tree, byte-identical (the shortcut route with
    "Export": {"Target", "Store": false} too);
  - dicom (dcmtk storescp): the same files received, byte-identical, over
    one association (the plugin's SCU); an SCP that takes only implicit VR
    gets them transcoded by Orthanc, as from anonymize-then-export; an SCP that refuses the association fails the
    job with a clear error; storescp killed in the middle fails the job
    after its retries;
  - peer (a second Orthanc): the same instances stored there;
  - a study whose secondary capture Default drops and one of whose
    instances the leak check refuses: neither is sent, both are reported;
  - a cancel in the middle: no archive left, Orthanc unchanged;
  - Orthanc restarted in the middle (a study of images that Default reads
    with OCR, a job of seconds): the job starts over and sends all;
  - bad input: clear 400 / 404 answers;
  - AutoAnonymize with "Store": false: the study goes to its Export only.

Orthanc's instance count is checked unchanged after every way-out.  Needs
dcmtk (storescp), python3-pydicom and Tesseract (tesseract-ocr-eng) for the
restart.  The checks that act in the middle of a job (cancel, storescp
killed, restart) submit it again, at most ATTEMPTS times in all, printing a
note, when the job ended before the act could land (the tests run beside
others on 2 cores).  Prints one line per check and
"N passed, M failed"; exits non-zero on any failure.  Never prints a DICOM
value.
"""

import base64
import csv
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import deid  # noqa: E402
from oatest import dicomgen as gen  # noqa: E402
from oatest import harness  # noqa: E402
from oatest.trees import files_below, same_files  # noqa: E402
from oatest import servers as es  # noqa: E402
from oatest.harness import (AuthOrthanc, Checks, Orthanc,  # noqa: E402
                            post_json, standard_arguments, wait_for)

import pydicom  # noqa: E402

PEER_PASSWORD = "peer-" + base64.b16encode(os.urandom(8)).decode()
CONTENT_KEYS = {"Report", "Profile", "InstancesTotal", "InstancesDone",
                "Studies", "Failed", "FailedCount", "PixelsCleaned",
                "LeakCheckWarnings", "Stored", "Export", "Name", "Target",
                "Bytes", "Location"}
CANCEL_COUNT = 200              # 512 x 512 instances: a job of seconds
SLOW = 160                      # OCR-read instances (a job of seconds)
ATTEMPTS = harness.ATTEMPTS  # submissions of a job acted on mid-way


def burned(blob):
    """`blob` with Burned In Annotation YES: an image at risk, which
    Default reads with OCR before it goes out (tens of ms each)."""
    ds = pydicom.dcmread(io.BytesIO(blob))
    ds.BurnedInAnnotation = "YES"
    return gen.to_bytes(ds)


def kept_text(blob, text):
    """`blob` with (0070,0081) Content Description `text` (kept verbatim
    by Default: the leak check refuses a patient's name in it)."""
    ds = pydicom.dcmread(io.BytesIO(blob))
    ds.ContentDescription = text
    return gen.to_bytes(ds)


class Run:
    def __init__(self, o, work):
        self.o = o
        self.work = work
        self.exports = os.path.join(work, "exports")
        self.archives = os.path.join(work, "archives")
        self.sid = {}
        self.studies = {}

    def instance_count(self):
        return len(self.o.get_json("/instances"))

    def job(self, path, body, timeout=120):
        """Submit (asynchronous), wait; (job id, final job)."""
        body = dict(body)
        body["Asynchronous"] = True
        status, answer, raw = post_json(self.o, path, body)
        assert status == 200, "POST %s: HTTP %d %s" % (
            path, status, raw[:300].decode("utf-8", "replace"))
        job = harness.wait_job(self.o, answer["ID"], timeout=timeout)
        return answer["ID"], job

    def start_wayout(self, labels, target):
        """POST a way-out of the studies `labels` under Default,
        asynchronous; the job's ID."""
        status, answer, raw = post_json(
            self.o, "/anonymizer/export",
            {"Resources": [self.sid[k] for k in labels],
             "Anonymize": {"Profile": "Default"}, "Target": target,
             "Asynchronous": True})
        assert status == 200, raw[:200]
        return answer["ID"]

    def wayout(self, label, target, profile="Default", extra=None):
        anonymize = {"Profile": profile}
        anonymize.update(extra or {})
        return self.job("/anonymizer/export",
                        {"Resources": [self.sid[label]],
                         "Anonymize": anonymize, "Target": target})

    def export(self, sid, target):
        return self.job("/anonymizer/export",
                        {"Resources": [sid], "Target": target})

    def download(self, job_id):
        status, headers, body = self.o.request(
            "GET", "/anonymizer/exports/%s/archive.zip" % job_id, timeout=60)
        assert status == 200, "download: HTTP %d" % status
        assert headers.get("content-type", "").startswith("application/zip")
        return body


def zip_entries(data):
    """{path below the export's own folder: bytes} of a ZIP export."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for n in z.namelist():
            head, _, rest = n.partition("/")
            assert head.startswith("Anonymizer-") and rest, "entry name"
            out[rest] = z.read(n)
    return out


def only_export(root):
    """The one finished export folder under `root` (no .partial)."""
    names = [n for n in os.listdir(root)]
    assert len(names) == 1, "%d entries in the folder target" % len(names)
    assert not names[0].endswith(".partial"), "left as .partial"
    return os.path.join(root, names[0])


def upload_data(run):
    o = run.o
    p1, p2, p3 = gen.PATIENTS[0], gen.PATIENTS[1], gen.PATIENTS[2]
    a = run.studies["A"] = gen.Study(p1, 1, date="20240211")
    b = run.studies["B"] = gen.Study(p2, 1, date="20230502")
    c = run.studies["C"] = gen.Study(p3, 1, date="20220817")
    s = run.studies["S"] = gen.Study(gen.PATIENTS[3], 1, date="20210305")
    blobs = {"A": [gen.make_instance(a, 1, i, 5) for i in range(1, 6)] +
             [gen.make_instance(a, 2, i, 3, series_description="CORONAL")
              for i in range(1, 4)]}
    blobs["B"] = [gen.make_instance(b, 1, i, 2) for i in range(1, 3)]
    blobs["B"].append(gen.make_instance(b, 2, 1, 1,
                                        sop_class=gen.SC_IMAGE_STORAGE))
    blobs["C"] = [gen.make_instance(c, 1, i, CANCEL_COUNT, rows=512,
                                    cols=512)
                  for i in range(1, CANCEL_COUNT + 1)]
    blobs["S"] = [burned(gen.make_instance(s, 1, i, SLOW, rows=256,
                                           cols=256))
                  for i in range(1, SLOW + 1)]
    for label, items in blobs.items():
        ids = harness.upload_many(o, items)
        run.sid[label] = harness.study_id(o, ids[0])
    leaky = kept_text(gen.make_instance(b, 3, 1, 1),
                      "FOLLOW UP %s" % p2.family)
    run.leaky = harness.upload(o, leaky)["ID"]


def anonymize_then(run, label):
    """Anonymize study `label` (stored); its anonymized study ID."""
    status, answer, raw = post_json(
        run.o, "/anonymizer/anonymize",
        {"Resources": [{"Level": "Study", "ID": run.sid[label]}],
         "Profile": "Default", "Asynchronous": False})
    assert status == 200, raw[:300]
    return answer["Studies"][0]["Anonymized"], answer


def zip_checks(c, run):
    state = {}
    with c.check("zip: the way-out job succeeds, Orthanc stores nothing"):
        before = run.instance_count()
        job_id, job = run.wayout("A", {"Type": "zip"})
        assert job["State"] == "Success", job.get("ErrorDetails")
        assert job["Type"] == "Anonymization", job["Type"]
        assert run.instance_count() == before, "instances were stored"
        state["job"], state["content"] = job_id, job["Content"]
    content = state.get("content", {})
    with c.check("zip: the content has the anonymization's and the "
                 "export's keys (Stored false, Export = the job)"):
        missing = CONTENT_KEYS - set(content)
        assert not missing, "missing %s" % sorted(missing)
        assert content["Stored"] is False
        assert content["Export"] == state["job"], "Export is not the job"
        assert content["Target"] == {"Type": "zip"}, content["Target"]
        assert content["InstancesTotal"] == 8 and \
            content["InstancesDone"] == 8, "instance counts"
        assert content["FailedCount"] == 0, content["Failed"]
        assert content["Bytes"] > 0
        assert content["Name"].startswith("Anonymizer-")
        arch = content.get("Archives")
        assert isinstance(arch, list) and len(arch) == 1, "Archives"
        assert arch[0]["Path"] == "/anonymizer/exports/%s/archive.zip" % \
            state["job"], arch[0]["Path"]
        st = content["Studies"]
        assert len(st) == 1 and "Anonymized" not in st[0], "Studies"
        assert st[0]["Original"] == run.sid["A"]
        assert st[0]["NewStudyInstanceUID"].startswith("2.25."), \
            "NewStudyInstanceUID"
        assert st[0]["Instances"] == 8
    anon = None
    with c.check("zip: same entry paths and bytes as anonymize-then-export"
                 " (download works)"):
        way = zip_entries(run.download(state["job"]))
        anon, answer = anonymize_then(run, "A")
        run.anon_a = anon
        run.anon_report = answer["Report"]
        _, job = run.export(anon, {"Type": "zip"})
        assert job["State"] == "Success"
        ref = zip_entries(run.download(job["ID"]))
        assert len(way) == 8, "%d entries" % len(way)
        same_files(way, ref, "zip")
        for data in way.values():
            ds = pydicom.dcmread(io.BytesIO(data))
            assert str(ds.StudyInstanceUID) == \
                content["Studies"][0]["NewStudyInstanceUID"], "study UID"
            assert not deid.leaked(data, run.studies["A"].identifying()), \
                "an original value in a file"
        run.way_files = way
    with c.check("zip: the report says Stored false, its Target, no "
                 "anonymized study"):
        r = run.o.get_json("/anonymizer/reports/%s" % content["Report"])
        assert r["Stored"] is False and r["Target"] == {"Type": "zip"}
        row = r["Studies"][0]
        assert row["AnonymizedStudy"] is None, "AnonymizedStudy"
        assert row["NewStudyInstanceUID"] == \
            content["Studies"][0]["NewStudyInstanceUID"]
        assert row["Instances"] == 8
    with c.check("zip with Mapping: uids.csv and patients.csv in the "
                 "archive and in its report, the same rows as the "
                 "anonymization's"):
        job_id, job = run.wayout("A", {"Type": "zip", "Mapping": True})
        assert job["State"] == "Success", job.get("ErrorDetails")
        files = zip_entries(run.download(job_id))
        assert "uids.csv" in files and "patients.csv" in files
        for name in ("uids.csv", "patients.csv"):
            status, _, ref = run.o.request(
                "GET", "/anonymizer/reports/%s/%s" % (run.anon_report, name))
            assert status == 200
            rows = sorted(csv.reader(io.StringIO(files[name].decode())))
            want = sorted(csv.reader(io.StringIO(ref.decode())))
            assert rows == want and len(rows) > 1, "%s differs" % name
            # the way-out's own report has the same mapping files
            status, _, own = run.o.request(
                "GET", "/anonymizer/reports/%s/%s" % (job_id, name))
            assert status == 200, "%s of the way-out's report" % name
            assert sorted(csv.reader(io.StringIO(own.decode()))) == want, \
                "%s of the way-out's report differs" % name
        del files["uids.csv"], files["patients.csv"]
        same_files(files, run.way_files, "zip with mapping")


def dicomdir_checks(c, run):
    with c.check("zip with Dicomdir: DICOM media whose DICOMDIR names every "
                 "file, the files those of anonymize-then-export"):
        job_id, job = run.wayout("A", {"Type": "zip", "Dicomdir": True})
        assert job["State"] == "Success", job.get("ErrorDetails")
        files = zip_entries(run.download(job_id))
        assert "DICOMDIR" in files, "no DICOMDIR"
        dd = pydicom.dcmread(io.BytesIO(files.pop("DICOMDIR")))
        ids = ["/".join(r.ReferencedFileID)
               for r in dd.DirectoryRecordSequence
               if "ReferencedFileID" in r]
        assert sorted(ids) == sorted(files), "DICOMDIR and files differ"
        assert sorted(files.values()) == sorted(run.way_files.values()), \
            "other bytes than anonymize-then-export"


def folder_checks(c, run):
    with c.check("folder: the same tree, byte-identical"):
        before = run.instance_count()
        _, job = run.wayout("A", {"Type": "folder", "Folder": "wo"})
        assert job["State"] == "Success", job.get("ErrorDetails")
        assert run.instance_count() == before, "instances were stored"
        way = files_below(only_export(os.path.join(run.exports, "wo")))
        _, job = run.export(run.anon_a, {"Type": "folder", "Folder": "ate"})
        assert job["State"] == "Success"
        ref = files_below(only_export(os.path.join(run.exports, "ate")))
        same_files(way, ref, "folder")
        same_files(way, run.way_files, "folder against zip")
        assert "Location" in job["Content"]
    with c.check("shortcut route with \"Export\": {\"Target\", \"Store\": "
                 "false}: the same files, nothing stored"):
        before = run.instance_count()
        _, job = run.job("/anonymizer/studies/%s/anonymize" % run.sid["A"],
                         {"Profile": "Default",
                          "Export": {"Target": {"Type": "folder",
                                                "Folder": "short"},
                                     "Store": False}})
        assert job["State"] == "Success", job.get("ErrorDetails")
        assert job["Content"]["Stored"] is False
        assert run.instance_count() == before, "instances were stored"
        same_files(files_below(only_export(os.path.join(run.exports, "short"))),
                   run.way_files, "shortcut folder")


def to_scp(run, scp, modality):
    """Study A on the way out to `modality` (the storescp `scp`), then its
    anonymized copy exported there: (files of the way out, associations
    the way out opened); both runs checked, compared."""
    target = {"Type": "dicom", "Modality": modality}
    scp.clear_data()
    before = run.instance_count()
    associations = scp.associations()
    _, job = run.wayout("A", target)
    assert job["State"] == "Success", job["Content"].get("Error")
    assert run.instance_count() == before, "instances were stored"
    assert job["Content"]["Target"]["Modality"] == modality
    opened = scp.associations() - associations
    way = files_below(scp.data_dir)
    scp.clear_data()
    _, job = run.export(run.anon_a, target)
    assert job["State"] == "Success", job["Content"].get("Error")
    ref = files_below(scp.data_dir)
    assert len(way) == 8, "%d files received" % len(way)
    same_files(way, ref, "storescp (%s)" % modality)
    return way, opened


def dicom_checks(c, run, scp):
    with c.check("dicom: storescp receives the same files as from "
                 "anonymize-then-export, byte-identical, over one "
                 "association (the plugin's SCU)"):
        _, opened = to_scp(run, scp, "scp")
        assert opened == 1, "%d associations for 8 files" % opened


def fallback_checks(c, run, implicit):
    with c.check("dicom: an SCP that takes none of the files' transfer "
                 "syntax gets them transcoded by Orthanc (implicit VR), the "
                 "same as anonymize-then-export"):
        way, _ = to_scp(run, implicit, "scp-implicit")
        for name, data in way.items():
            ds = pydicom.dcmread(io.BytesIO(data))
            assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2", \
                "%s not in implicit VR little endian" % name
        log = run.o.log_text()
        assert re.search(r"DICOM modality scp-implicit: 8 files sent by the "
                         r"plugin's SCU over [12] association\(s\) \(8 "
                         r"transcoded first", log), \
            "no transcoding summary in the log"


def killed_scp_checks(c, run, scp):
    # The 100 MB go out in a fraction of a second: storescp is stopped
    # (SIGSTOP) the moment its first files are seen, so that the transfer
    # is still in the middle when it is killed.  A transfer that ended
    # before the stop (a late look) is a miss: submitted again.
    with c.check("dicom: storescp killed during the way out: the job fails "
                 "with a clear error after its retries, nothing stored"):
        before = run.instance_count()
        try:
            for attempt in range(1, ATTEMPTS + 1):
                scp.restart()
                scp.clear_data()
                job_id = run.start_wayout(["C"], {"Type": "dicom",
                                                  "Modality": "scp"})

                def received():
                    if len(os.listdir(scp.data_dir)) >= 3:
                        scp.freeze()
                        return True
                    return None
                wait_for("storescp to receive files", received, 60,
                         poll=0.005)
                scp.kill()
                t0 = time.monotonic()
                job = harness.wait_job(run.o, job_id, timeout=60)
                seconds = time.monotonic() - t0
                if job["State"] != "Success":
                    break
                harness.miss_note(attempt, ATTEMPTS, "the transfer ended "
                                  "before storescp was stopped (the job "
                                  "succeeded)")
            else:
                raise AssertionError(
                    "every transfer ended before storescp was stopped (%d "
                    "submissions)" % ATTEMPTS)
            assert job["State"] == "Failure", job["State"]
            error = job["Content"].get("Error", "")
            assert re.search(r"DICOM modality scp", error), \
                "the error does not name the modality"
            assert not deid.leaked(error.encode(),
                                   run.studies["C"].identifying())
            assert job["Content"]["InstancesDone"] < CANCEL_COUNT
            assert run.instance_count() == before, "instances were stored"
            print("     note: failed %.1f s after the kill, %d of %d "
                  "instances done" % (seconds,
                                      job["Content"]["InstancesDone"],
                                      CANCEL_COUNT))
        finally:
            scp.restart()


def refused_checks(c, run, refuse):
    with c.check("dicom: an SCP refusing the association fails the job with "
                 "a clear error, nothing stored"):
        before = run.instance_count()
        _, job = run.wayout("A", {"Type": "dicom", "Modality": "scp-refuse"})
        assert job["State"] == "Failure", job["State"]
        error = job["Content"].get("Error", "")
        assert "export failed" in error and re.search(
            r"refus|reject|association|DICOM", error, re.I), \
            "unclear error"
        assert not deid.leaked(error.encode(),
                               run.studies["A"].identifying())
        assert refuse.files() == [], "the refusing SCP got files"
        assert run.instance_count() == before, "instances were stored"


def peer_checks(c, run, peer):
    with c.check("peer: the second Orthanc stores the same instances "
                 "(bytes as the anonymized copy here)"):
        before = run.instance_count()
        _, job = run.wayout("A", {"Type": "peer", "Peer": "peer"})
        assert job["State"] == "Success", job.get("ErrorDetails")
        assert run.instance_count() == before, "instances were stored"
        uid = job["Content"]["Studies"][0]["NewStudyInstanceUID"]
        status, _, raw = peer.request("POST", "/tools/lookup", body=uid)
        assert status == 200
        found = [r for r in json.loads(raw) if r.get("Type") == "Study"]
        assert len(found) == 1, "%d studies on the peer" % len(found)
        got = {}
        for i in peer.get_json("/studies/%s/instances" % found[0]["ID"]):
            status, _, data = peer.request("GET", "/instances/%s/file"
                                           % i["ID"])
            got[i["MainDicomTags"]["SOPInstanceUID"]] = data
        ref = {}
        for iid, sop in harness.study_instances(run.o, run.anon_a):
            ref[sop] = harness.file_of(run.o, iid)
        same_files(got, ref, "peer")


def drop_and_leak_checks(c, run):
    with c.check("dropped (SC) and refused (leak) instances are not sent, "
                 "and reported as in an anonymization"):
        before = run.instance_count()
        job_id, job = run.wayout("B", {"Type": "zip"})
        assert job["State"] == "Success", job.get("ErrorDetails")
        assert run.instance_count() == before, "instances were stored"
        content = job["Content"]
        assert content["FailedCount"] == 1, content["FailedCount"]
        assert [f["Instance"] for f in content["Failed"]] == [run.leaky]
        assert not deid.leaked(json.dumps(content).encode(),
                               run.studies["B"].identifying()), \
            "an original value in the content"
        st = content["Studies"][0]
        assert (st["Instances"], st["Dropped"], st["Failed"]) == (2, 1, 1), \
            (st["Instances"], st["Dropped"], st["Failed"])
        files = zip_entries(run.download(job_id))
        assert len(files) == 2, "%d files sent" % len(files)
        for data in files.values():
            ds = pydicom.dcmread(io.BytesIO(data))
            assert str(ds.SOPClassUID) == gen.CT_IMAGE_STORAGE
        r = run.o.get_json("/anonymizer/reports/%s" % content["Report"])
        row = r["Studies"][0]
        assert (row["Instances"], row["Dropped"], row["Failed"]) == (2, 1, 1)


def cancel_checks(c, run):
    # Orthanc takes a cancel between two steps: the job must outlast the
    # step in which it arrives.  A ZIP at "best" does (about a second
    # here, two or three steps); a folder is written too fast for that
    # (200 instances in 0.15 s): its cancel in the middle is tested on the
    # fake host, step by step (UnitTests/test_jobs.c,
    # test_wayout_cancel_pause_restart).  A late look or a slow cancel on
    # a loaded machine lets the job end first: it is submitted again.
    for target, where, labels in (
            ({"Type": "zip", "Compression": "best"}, None, ("C",)),):
        total = CANCEL_COUNT * len(labels)
        with c.check("cancel in the middle (%s): nothing left, Orthanc "
                     "unchanged" % target["Type"]):
            before = run.instance_count()
            place = run.archives if where is None else \
                os.path.join(run.exports, where)
            for attempt in range(1, ATTEMPTS + 1):
                archives_before = set(os.listdir(run.archives))
                job_id = run.start_wayout(labels, target)

                def writing():
                    """A .partial is there (the export is being written),
                    or the job is over."""
                    names = os.listdir(place) if os.path.isdir(place) \
                        else []
                    if any(n.endswith(".partial") for n in names):
                        return "partial"
                    state = run.o.get_json("/jobs/%s" % job_id)["State"]
                    return state if state in ("Success", "Failure") \
                        else None
                seen = wait_for("the export to be written", writing, 60,
                                poll=0.005)
                assert seen != "Failure", "the job failed before a cancel " \
                    "could be sent"
                if seen == "Success":
                    harness.miss_note(attempt, ATTEMPTS, "the job ended "
                                      "before a cancel could be sent")
                    continue
                status, _, _ = run.o.request(
                    "POST", "/jobs/%s/cancel" % job_id, body=b"")
                assert status == 200, "cancel: HTTP %d" % status
                job = harness.wait_job(run.o, job_id, timeout=60)
                done = job["Content"]["InstancesDone"]
                if job["State"] == "Success":
                    harness.miss_note(attempt, ATTEMPTS, "the cancel came "
                                      "after the job's last step (it "
                                      "succeeded)")
                    continue
                if done < total:
                    break
                # cancelled in its last step, every instance done: not in
                # the middle, but it must leave nothing all the same
                cancelled_cleanly(run, job_id, where, archives_before)
                harness.miss_note(attempt, ATTEMPTS, "the cancel landed "
                                  "after every instance was done")
            else:
                raise AssertionError(
                    "no cancel landed in the middle of the job in %d "
                    "submissions: make the study larger" % ATTEMPTS)
            assert job["State"] == "Failure", "the job %s" % job["State"]
            assert done < total, "every instance was done"
            assert run.instance_count() == before, "instances were stored"
            cancelled_cleanly(run, job_id, where, archives_before)
            print("     note: cancelled after %d of %d instances"
                  % (done, total))


def cancelled_cleanly(run, job_id, where, archives_before):
    """Nothing of the cancelled job `job_id` is left: no file in the
    archive folder that was not in `archives_before`, no download (a
    ZIP); an empty export folder `where` (a folder)."""
    if where is None:
        left = set(os.listdir(run.archives)) - archives_before
        assert not left, "%d files left in the archive folder" % len(left)
        status, _, _ = run.o.request(
            "GET", "/anonymizer/exports/%s/archive.zip" % job_id)
        assert status == 404, "download of a cancelled job: %d" % status
    else:
        folder = os.path.join(run.exports, where)
        left = os.listdir(folder) if os.path.isdir(folder) else []
        assert not left, "%d entries left in the folder" % len(left)


def restart_checks(c, run):
    # A study of images read by OCR (a job of seconds, the same on a loaded
    # machine: it is CPU-bound) is seen running, Orthanc is stopped and
    # started again.  Orthanc may run the job on for a while after SIGTERM
    # (test_restart.py): a job that ended before Orthanc stopped (its
    # export line in the old log, no resume line in the new) is a miss,
    # and a new job is submitted.
    with c.check("Orthanc restarted in the middle of a way-out (%d images "
                 "read by OCR): the job starts over and sends the whole "
                 "study, nothing stored" % SLOW):
        assert run.o.get_json("/anonymizer/info")["Pixels"]["OCR"], \
            "no OCR in the plugin (needs tesseract-ocr-eng)"
        before = run.instance_count()
        for attempt in range(1, ATTEMPTS + 1):
            partials_before = {n for n in os.listdir(run.archives)
                               if n.endswith(".partial")}
            offset = len(run.o.log_text())
            job_id = run.start_wayout(["S"], {"Type": "zip",
                                              "Compression": "best"})
            job, seen = harness.wait_running(run.o, job_id, low=1,
                                             high=SLOW // 2)
            assert job["State"] != "Failure", \
                "the job failed before the restart"
            if not seen:
                harness.miss_note(attempt, ATTEMPTS,
                                  "the job was %s with %d instances done "
                                  "before the restart" % (
                                      job["State"],
                                      job["Content"].get("InstancesDone",
                                                         0)))
                if job["State"] != "Success":
                    run.o.request("POST", "/jobs/%s/cancel" % job_id,
                                  body=b"")
                    harness.wait_job(run.o, job_id, timeout=120)
                continue
            code = run.o.restart()
            assert code == 0, "Orthanc exited with %s" % code
            job = harness.wait_job(run.o, job_id, timeout=180)
            log = run.o.log_text()[offset:]
            if "anonymization %s on the way out resumed: it starts over" \
                    % job_id in log:
                break
            ended = re.search(r"export %s: \d+ files" % re.escape(job_id),
                              log)
            assert job["State"] == "Success" and ended, \
                "no resume line in the log, and the job did not end " \
                "before Orthanc stopped (%s)" % job["State"]
            harness.miss_note(attempt, ATTEMPTS,
                              "the job ended before Orthanc stopped")
        else:
            raise AssertionError("the job ended before Orthanc stopped in "
                                 "%d submissions: make the study larger"
                                 % ATTEMPTS)
        assert job["State"] == "Success", job.get("ErrorDetails")
        content = job["Content"]
        assert content["Stored"] is False
        assert content["InstancesDone"] == SLOW
        assert content["FailedCount"] == 0
        files = zip_entries(run.download(job_id))
        assert len(files) == SLOW, "%d entries" % len(files)
        assert run.instance_count() == before, "instances were stored"
        left = {n for n in os.listdir(run.archives)
                if n.endswith(".partial")} - partials_before
        assert not left, "%d .partial files left" % len(left)


def error_checks(c, run):
    cases = [
        ("\"Anonymize\" not an object",
         "/anonymizer/export", {"Resources": [run.sid["A"]],
                                "Anonymize": "Default",
                                "Target": {"Type": "zip"}}, 400),
        ("an unknown key in \"Anonymize\"",
         "/anonymizer/export", {"Resources": [run.sid["A"]],
                                "Anonymize": {"Profil": "Full"},
                                "Target": {"Type": "zip"}}, 400),
        ("no Target",
         "/anonymizer/export", {"Resources": [run.sid["A"]],
                                "Anonymize": {}}, 400),
        ("a bad Target",
         "/anonymizer/export", {"Resources": [run.sid["A"]],
                                "Anonymize": {},
                                "Target": {"Type": "dicom",
                                           "Modality": "nope"}}, 400),
        ("an unknown profile",
         "/anonymizer/export", {"Resources": [run.sid["A"]],
                                "Anonymize": {"Profile": "NoSuchProfile"},
                                "Target": {"Type": "zip"}}, 400),
        ("an unknown resource",
         "/anonymizer/export", {"Resources": ["0" * 8 + "-" + "1" * 8],
                                "Anonymize": {}, "Target": {"Type": "zip"}},
         404),
        ("\"Store\" not a boolean",
         "/anonymizer/anonymize",
         {"Resources": [{"Level": "Study", "ID": run.sid["A"]}],
          "Export": {"Target": {"Type": "zip"}, "Store": "no"}}, 400),
        ("\"Store\": false without \"Export\"",
         "/anonymizer/anonymize",
         {"Resources": [{"Level": "Study", "ID": run.sid["A"]}],
          "Store": False}, 400),
    ]
    if getattr(run, "anon_a", None) is not None:
        cases.append(("an anonymized copy without \"Force\"",
                      "/anonymizer/export",
                      {"Resources": [run.anon_a], "Anonymize": {},
                       "Target": {"Type": "zip"}}, 409))
        cases.append(("more than 10,000 resources",
                      "/anonymizer/export",
                      {"Resources": [run.sid["A"]] * 10001, "Anonymize": {},
                       "Target": {"Type": "zip"}}, 413))
    for what, path, body, expected in cases:
        with c.check("bad input: %s -> HTTP %d with a message"
                     % (what, expected)):
            before = len(run.o.get_json("/jobs"))
            status, answer, raw = post_json(run.o, path, body)
            assert status == expected, "HTTP %d %s" % (
                status, raw[:200].decode("utf-8", "replace"))
            assert harness.error_body_ok(raw), "no clear error body"
            assert len(run.o.get_json("/jobs")) == before, "a job started"


def force_checks(c, run):
    with c.check("an anonymized copy with \"Force\": true in \"Anonymize\" "
                 "goes out again, nothing stored"):
        before = run.instance_count()
        _, job = run.job("/anonymizer/export",
                         {"Resources": [run.anon_a],
                          "Anonymize": {"Force": True},
                          "Target": {"Type": "folder", "Folder": "force"}})
        assert job["State"] == "Success", job.get("ErrorDetails")
        assert job["Content"]["InstancesDone"] == 8
        assert run.instance_count() == before, "instances were stored"


def auto_checks(c, args, work):
    exports = os.path.join(work, "auto-exports")
    os.makedirs(exports)
    study = gen.Study(gen.PATIENTS[3], 5)
    blobs = [gen.make_instance(study, 1, i, 3) for i in range(1, 4)]
    config = {"StableAge": 2,
              "Anonymizer": {"ExportFolder": exports,
                             "AutoAnonymize": [{
                                 "Profile": "Default",
                                 "Export": {"Type": "folder",
                                            "Folder": "auto"},
                                 "Store": False}]}}
    with Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                 verbose=args.verbose) as o:
        with c.check("AutoAnonymize with \"Store\": false: the stable study "
                     "goes to its Export, nothing is stored"):
            ids = harness.upload_many(o, blobs)
            original = harness.study_id(o, ids[0])
            files = wait_for("the export", lambda: harness.finished_export_files(
                os.path.join(exports, "auto"), 3), 60)
            jobs = wait_for("the job", lambda: [
                j for j in harness.anonymization_jobs(o)
                if j["State"] == "Success"], 30)
            assert jobs[0]["Content"]["Stored"] is False
            time.sleep(3)   # a stored copy would be there by now
            assert harness.studies(o) == {original}, \
                "%d studies" % len(harness.studies(o))
            assert len(o.get_json("/instances")) == 3
            for path in files:
                data = open(path, "rb").read()
                assert not deid.leaked(data, study.identifying())
                assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"
        with c.check("AutoAnonymize: the log holds no identifying value"):
            assert not deid.leaked(o.log_text().encode(),
                                   study.identifying())
    with c.check("AutoAnonymize: \"Store\" not a boolean stops Orthanc "
                 "with a message"):
        bad = dict(config)
        bad["Anonymizer"] = dict(config["Anonymizer"])
        bad["Anonymizer"]["AutoAnonymize"] = [{"Export": "x",
                                               "Store": "no"}]
        o = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=bad,
                    verbose=args.verbose)
        log = o.start_refused()
        assert log is not None, "Orthanc started"
        assert "Store" in log, "the log does not name Store"


def main():
    args = standard_arguments(__doc__.splitlines()[0])
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-test-wayout-")
    os.chmod(work, 0o755)
    try:
        with es.StoreScp(aet="WAYOUTSCP") as scp, \
                es.StoreScp(aet="REFUSESCP", refuse=True) as refuse, \
                es.StoreScp(aet="IMPLICITSCP", syntaxes=("+xi",)) as implicit, \
                AuthOrthanc("oa", PEER_PASSWORD, orthanc=args.orthanc,
                            config={"Name": "oa-wayout-peer"}) as peer:
            run = Run(None, work)
            os.makedirs(run.exports)
            os.makedirs(run.archives, mode=0o700)
            config = {
                "SaveJobs": True,   # the restart check resumes a job
                "Anonymizer": {"ExportFolder": run.exports,
                               "ArchiveFolder": run.archives},
                "DicomModalities": {"scp": scp.modality(),
                                    "scp-refuse": refuse.modality(),
                                    "scp-implicit": implicit.modality()},
                "DicomScuTimeout": 5,
                "OrthancPeers": {"peer": {"Url": peer.url + "/",
                                          "Username": "oa",
                                          "Password": PEER_PASSWORD}},
            }
            with Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                         config=config, verbose=args.verbose) as o:
                run.o = o
                with checks.check("studies uploaded"):
                    upload_data(run)
                if checks.failed:
                    return checks.finish()
                zip_checks(checks, run)
                if getattr(run, "anon_a", None) is not None:
                    dicomdir_checks(checks, run)
                    folder_checks(checks, run)
                    dicom_checks(checks, run, scp)
                    fallback_checks(checks, run, implicit)
                    refused_checks(checks, run, refuse)
                    peer_checks(checks, run, peer)
                drop_and_leak_checks(checks, run)
                cancel_checks(checks, run)
                killed_scp_checks(checks, run, scp)
                restart_checks(checks, run)
                error_checks(checks, run)
                if getattr(run, "anon_a", None) is not None:
                    force_checks(checks, run)
                with checks.check("the log holds no identifying value"):
                    log = o.log_text().encode()
                    for st in run.studies.values():
                        assert not deid.leaked(log, st.identifying()), \
                            "an original value in Orthanc's log"
            checks.stopped_cleanly(o)
        auto_checks(checks, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
