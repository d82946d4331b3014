#!/usr/bin/python3
"""Integration test: an anonymization job survives an Orthanc restart.

    /usr/bin/python3 test_restart.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc] [--count 400] [--rows 256]

Orthanc runs with "SaveJobs": true and "StorageCompression": true, the
plugin with "Threads": 1 (to make the jobs last a few seconds).  A study of
COUNT generated CT instances is anonymized twice, under two new patient
IDs:

  A. the job is paused in its middle, Orthanc is stopped (SIGTERM, by PID)
     and started again on the same folder: the job must come back under its
     ID, still paused, with the instances it had done (and only those)
     stored; resumed, it must end with exactly COUNT instances;
  B. Orthanc is stopped (SIGTERM) while the job runs, and started again;
     then again, up to MORE_STOPS times, while the resumed job still runs:
     Orthanc must exit 0 each time (the plugin's workers stop calling
     Orthanc when it signals OrthancStopped, before it destroys its REST
     API and context; a worker still storing then made it abort), the job
     must come back under its ID and end with exactly COUNT instances.
     (Orthanc 1.10.1 signals OrthancStopped only after Lua's Finalize and
     LuaScripting::Stop(), which joins Lua's event thread; a job goes on
     storing meanwhile, seen for seconds, and may be done at the restart;
     A is the case that is always interrupted.)

Each time: none missing, none duplicated (distinct SOP Instance UIDs,
instance numbers 1..COUNT once each, every file readable), one anonymized
study per run, the originals untouched, Orthanc exiting 0 each time.

Never prints DICOM values: only tags, statuses and counts.
"""

import io
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

import pydicom  # noqa: E402

from oatest import dicomgen as gen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501


# SIGTERMs in B after the first, while the resumed job still runs.
MORE_STOPS = 2


def submit(o, original, new_patient_id):
    """POST /anonymizer/anonymize of study `original`; the job's ID."""
    status, answer, _ = harness.post_json(o, "/anonymizer/anonymize", {
        "Resources": [{"Level": "Study", "ID": original,
                       "NewPatientID": new_patient_id}]})
    assert status == 200, "HTTP %d" % status
    return answer["ID"]


def check_anonymized(o, checks, what, anonymized, study, count, rows):
    with checks.check("%s: the anonymized study holds exactly %d instances,"
                      " none duplicated, none missing" % (what, count)):
        assert anonymized, "no anonymized study"
        instances = o.get_json("/studies/%s/instances" % anonymized)
        assert len(instances) == count, "%d instances" % len(instances)
        sops = [i["MainDicomTags"].get("SOPInstanceUID") for i in instances]
        assert len(set(sops)) == count, "%d distinct SOP UIDs" % len(
            set(sops))
        numbers = sorted(int(i["MainDicomTags"]["InstanceNumber"])
                         for i in instances)
        assert numbers == list(range(1, count + 1)), \
            "instance numbers are not 1..%d once each" % count
        assert all(s.startswith("2.25.") for s in sops), "UIDs not 2.25"
        originals = {u for _, _, u in study.instances}
        assert not originals & set(sops), "an original SOP UID is kept"

    with checks.check("%s: every anonymized file downloads and parses, "
                      "whole pixel data, UIDs as indexed" % what):
        assert anonymized, "no anonymized study"
        bad = 0
        instances = harness.study_instances(o, anonymized)
        for iid, sop in instances:
            ds = pydicom.dcmread(io.BytesIO(harness.file_of(o, iid)))
            if ds.SOPInstanceUID != sop or \
                    len(ds.PixelData) != rows * rows * 2 or \
                    ds.get("PatientIdentityRemoved") != "YES":
                bad += 1
        assert len(instances) == count and bad == 0, \
            "%d files, %d bad" % (len(instances), bad)


def check_content(checks, what, job, original, count):
    """The finished job's content; returns the anonymized study ID."""
    anonymized = None
    with checks.check("%s: job content: %d instances, one study, none "
                      "failed" % (what, count)):
        assert job is not None and job["State"] == "Success", \
            job and job["State"]
        content = job["Content"]
        assert content.get("InstancesTotal") == count, \
            content.get("InstancesTotal")
        assert content.get("InstancesDone") == count, \
            content.get("InstancesDone")
        assert content.get("Failed") == [], "%d failed" % len(
            content.get("Failed"))
        (s,) = content["Studies"]
        assert s["Original"] == original, "Original"
        assert s["Instances"] == count, "Instances %s" % s["Instances"]
        assert s["Dropped"] == 0 and s["Failed"] == 0, s
        anonymized = s["Anonymized"]
    return anonymized


def main():
    def extra(ap):
        ap.add_argument("--count", type=int, default=400)
        ap.add_argument("--rows", type=int, default=256)
    args = standard_arguments(__doc__, extra)
    count = args.count

    checks = Checks()
    config = {"SaveJobs": True, "JobsHistorySize": 20,
              "StorageCompression": True,
              "Anonymizer": {"Threads": 1}}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      config=config, verbose=args.verbose)
    started = time.monotonic()
    with orthanc:
        o = orthanc
        study = gen.Study(gen.PATIENTS[2], 7, date="20220817")
        original = None
        with checks.check("%d generated instances stored" % count):
            ids = []
            for i in range(1, count + 1):
                ids.append(harness.upload(o, gen.make_instance(
                    study, 1, i, count, rows=args.rows,
                    cols=args.rows))["ID"])
            original = harness.study_id(o, ids[0])
            n = len(o.get_json("/studies/%s/instances" % original))
            assert n == count, "%d stored" % n
        if checks.failed:
            orthanc.failed = True
            return checks.finish()
        md5 = {iid: harness.md5(harness.file_of(o, iid)) for iid in ids[:10]}
        anonymized = {}
        reports = {}

        # -- A: paused in its middle, Orthanc restarted, resumed ------
        job_a = None
        done_at_pause = None
        with checks.check("A: job paused with 0 < InstancesDone < %d, "
                          "nothing stored while paused" % count):
            job_a, _ = harness.submit_until_running(
                o, lambda: submit(o, original, "RESTART01"), count // 10,
                count * 3 // 4,
                again=lambda: harness.delete_studies_except(o, [original]))
            status, _, _ = o.request("POST", "/jobs/%s/pause" % job_a,
                                     body=b"")
            assert status == 200, "pause: HTTP %d" % status
            deadline = time.monotonic() + 30
            while True:
                job = o.get_json("/jobs/%s" % job_a)
                if job["State"] != "Running" or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert job["State"] == "Paused", job["State"]
            stored1 = o.get_json("/statistics")["CountInstances"]
            time.sleep(0.6)
            stored2 = o.get_json("/statistics")["CountInstances"]
            assert stored1 == stored2, "%d stored while paused" % (
                stored2 - stored1)
            done_at_pause = stored2 - count
            assert 0 < done_at_pause < count, "%d stored" % done_at_pause

        with checks.check("A: SIGTERM while paused: Orthanc exits 0, starts "
                          "again on the same folder"):
            assert job_a is not None, "no job"
            code = o.restart()
            assert code == 0, "exit status %s" % code
            assert o.get_json("/system").get("Version"), "no /system"

        with checks.check("A: after restart the job is back under its ID, "
                          "Paused, with the instances it had stored"):
            assert job_a is not None, "no job"
            status, _, _ = o.request("GET", "/jobs/%s" % job_a)
            assert status == 200, "GET /jobs/{id}: HTTP %d" % status
            job = o.get_json("/jobs/%s" % job_a)
            assert job.get("Type") == "Anonymization", job.get("Type")
            assert job["State"] == "Paused", job["State"]
            done = job["Content"].get("InstancesDone")
            stored = o.get_json("/statistics")["CountInstances"] - count
            assert stored == done_at_pause, \
                "%d stored before the stop, %d after" % (done_at_pause,
                                                         stored)
            assert done == stored, "InstancesDone %s, %d stored" % (done,
                                                                    stored)

        with checks.check("A: resumed, the job ends with Success"):
            status, _, _ = o.request("POST", "/jobs/%s/resume" % job_a,
                                     body=b"")
            assert status == 200, "resume: HTTP %d" % status
            job = harness.wait_job(o, job_a, timeout=120)
            assert job["State"] == "Success", "%s: %s" % (
                job["State"], job.get("ErrorDescription"))
            assert job["Progress"] == 100, job["Progress"]
        job = o.get_json("/jobs/%s" % job_a) if job_a else None
        anonymized["A"] = check_content(checks, "A", job, original, count)
        reports["A"] = job and job.get("Content", {}).get("Report")
        check_anonymized(o, checks, "A", anonymized["A"], study, count,
                         args.rows)

        # -- B: SIGTERM while the job runs, and while it runs again --
        job_b = None
        stops_b = 0
        with checks.check("B: SIGTERM while the job runs (0 < InstancesDone "
                          "< %d), then again each time the resumed job "
                          "still runs (up to %d times): Orthanc exits 0 each "
                          "time, starts again" % (count, 1 + MORE_STOPS)):
            job_b, _ = harness.submit_until_running(
                o, lambda: submit(o, original, "RESTART02"), 1, count // 2,
                again=lambda: harness.delete_studies_except(
                    o, [original, anonymized.get("A")]))
            code = o.restart()
            stops_b += 1
            assert code == 0, "exit status %s" % code
            # The plugin's workers stop calling Orthanc when it signals
            # OrthancStopped (before it destroys its REST API and server
            # context; one still storing then made Orthanc abort).  Orthanc
            # signals it only after stopping Lua, which lets a job run on
            # for seconds after the SIGTERM: the resumed job may already be
            # done; if not, it is stopped again while it runs.
            for _ in range(MORE_STOPS):
                job = o.get_json("/jobs/%s" % job_b)
                done = job.get("Content", {}).get("InstancesDone", 0)
                if job["State"] not in ("Pending", "Running") or \
                        done >= count - count // 10:
                    break
                if not harness.wait_running(o, job_b, done + 1,
                                            count - count // 20)[1]:
                    break
                code = o.restart()
                stops_b += 1
                assert code == 0, "exit status %s at SIGTERM %d" % (
                    code, stops_b)
        print("B: %d SIGTERM(s) while the job ran" % stops_b)

        with checks.check("B: after restart the job is back under its ID and "
                          "ends with Success"):
            assert job_b is not None, "no job"
            status, _, _ = o.request("GET", "/jobs/%s" % job_b)
            assert status == 200, "GET /jobs/{id}: HTTP %d" % status
            job = harness.wait_job(o, job_b, timeout=120)
            assert job.get("Type") == "Anonymization", job.get("Type")
            assert job["State"] == "Success", "%s: %s" % (
                job["State"], job.get("ErrorDescription"))
        job = o.get_json("/jobs/%s" % job_b) if job_b else None
        anonymized["B"] = check_content(checks, "B", job, original, count)
        reports["B"] = job and job.get("Content", {}).get("Report")
        check_anonymized(o, checks, "B", anonymized["B"], study, count,
                         args.rows)

        with checks.check("only the original and the two anonymized "
                          "studies; %d instances in Orthanc" % (3 * count)):
            studies = harness.studies(o)
            assert studies == {original, anonymized["A"],
                               anonymized["B"]}, "%d studies" % len(studies)
            stats = o.get_json("/statistics")
            assert stats["CountInstances"] == 3 * count, \
                "CountInstances %d" % stats["CountInstances"]

        with checks.check("the reports count %d instances" % count):
            for what in ("A", "B"):
                report = o.get_json("/anonymizer/reports/%s" % reports[what])
                (row,) = report["Studies"]
                assert row["Instances"] == count, row["Instances"]
                assert row["AnonymizedStudy"] == anonymized[what], what

        with checks.check("the originals are unchanged (MD5)"):
            n = len(o.get_json("/studies/%s/instances" % original))
            assert n == count, "%d original instances" % n
            changed = [i for i, d in md5.items()
                       if harness.md5(harness.file_of(o, i)) != d]
            assert not changed, "%d changed" % len(changed)

        if checks.failed:
            orthanc.failed = True

    checks.stopped_cleanly(orthanc)
    print("(%.1f s)" % (time.monotonic() - started))
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
