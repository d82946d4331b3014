#!/usr/bin/python3
"""Integration test: Resources/Lua/AutoAnonymize.lua anonymizes a study
received over DICOM, once, with no other action, and never loops.

    /usr/bin/python3 test_lua.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc] [--lua Resources/Lua/AutoAnonymize.lua]

Run 1: Orthanc with the plugin, the script and "StableAge": 2; a small
generated study is sent with dcmtk's storescu to Orthanc's DICOM port.
Then an anonymized study must appear by itself (Patient Identity Removed
YES, another Patient ID, Patient Name and Study Instance UID, as many
instances as the original), made by one "Anonymization" job; once that
study has become stable in turn, no third study and no second job may
appear (the script recognizes its own output).  Orthanc's log must hold
none of the study's identifying values.

Run 2: a second script listed after it overrides the settings
(DELETE_ORIGINAL = true, an inline PROFILE): the original is deleted after
the job succeeded, and a study that arrives already de-identified
(Patient Identity Removed YES) is left alone.

Run 3 (issue 12, defect 5): DELETE_ORIGINAL deletes exactly the instances
its job anonymized.  A big study is stored over REST, and two more
instances of it arrive while its job is running (after the job listed the
study's instances): they must survive the job's end, and be anonymized
(then deleted) when the study becomes stable again; in the end the
anonymized study holds every instance and the original none.

Run 4 (issue 14, on the way out): STORE = false with EXPORT a ZIP: the
script posts /anonymizer/export with "Anonymize"; one Anonymization job
("Stored": false) ends Success, Orthanc still holds the original study
only (nothing stored, also once the study could have become stable
again), and the job's archive holds every instance anonymized (Patient
Identity Removed YES, other Patient ID and Name, the job's new Study
Instance UID).

Run 5: STORE = false with DELETE_ORIGINAL and a server folder: the folder
receives the anonymized study, then the original is deleted (Orthanc ends
empty); a second script's STORE = false without EXPORT leaves a study
alone, in words.

Prints one line per check and "N passed, M failed" (never a DICOM value);
exits non-zero on any failure.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import pydicom

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501
from oatest.harness import (anonymization_jobs, finished_export_files,  # noqa: E402,E501
                             wait_for)
from oatest.dicomgen import SMALL_STUDY_INSTANCES, make_study  # noqa: E402
from oatest import dicomgen as gen, harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("OA_SOURCE_DIR") or \
    os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_LUA = os.path.join(SOURCE_DIR, "Resources", "Lua", "AutoAnonymize.lua")
STABLE_AGE = 2
INSTANCES = SMALL_STUDY_INSTANCES   # of each make_study()


def store_scu(orthanc, files):
    """Send `files` to Orthanc's DICOM port with dcmtk's storescu, on
    loopback, with Orthanc's default AE title; returns its exit status."""
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    args = ["storescu", "-aet", "OATESTSCU", "-aec", "ORTHANC",
            "127.0.0.1", str(orthanc.dicom_port)] + list(files)
    done = subprocess.run(args, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60)
    if done.returncode != 0:
        # storescu prints statuses and paths, not values; keep it short.
        sys.stderr.write(done.stdout.decode("utf-8", "replace")[-2000:])
    return done.returncode


# -- Orthanc look-ups (values are compared, never printed) --------------------

def lookup_study(orthanc, study_uid):
    """Orthanc's id of the study with this Study Instance UID, or None."""
    status, _, body = orthanc.request("POST", "/tools/lookup", body=study_uid)
    if status != 200:
        return None
    for hit in json.loads(body):
        if hit.get("Type") == "Study":
            return hit.get("ID")
    return None


def study_ids(orthanc):
    return set(orthanc.get_json("/studies"))


def instance_count(orthanc, study):
    return len(orthanc.get_json("/studies/%s/instances" % study))


def identity_removed(orthanc, study):
    """Patient Identity Removed of the study's first instance ('' if absent)."""
    instances = orthanc.get_json("/studies/%s/instances" % study)
    if not instances:
        return ""
    status, _, body = orthanc.request(
        "GET", "/instances/%s/content/0012-0062" % instances[0]["ID"])
    if status != 200:
        return ""
    return body.decode("ascii", "replace").strip(" \0")


def stable_study_seen(orthanc, study):
    """Whether /changes has a StableStudy event for `study`."""
    since = 0
    while True:
        changes = orthanc.get_json("/changes?since=%d&limit=1000" % since)
        for change in changes.get("Changes", []):
            if change.get("ChangeType") == "StableStudy" and \
                    change.get("ID") == study:
                return True
        if changes.get("Done", True):
            return False
        since = changes.get("Last", since)


def log_leaks(orthanc, values):
    """The names of the identifying values found in Orthanc's log."""
    log = orthanc.log_text()
    leaks = []
    for key in ("PatientID", "AccessionNumber", "StudyInstanceUID"):
        if values[key] in log:
            leaks.append(key)
    for part in values["PatientName"].split("^"):
        if part and part in log:
            leaks.append("PatientName")
            break
    return leaks


# -- the runs -------------------------------------------------------------------

def run_loop_test(args, checks, work):
    """Run 1: default settings; one anonymization, no loop."""
    config = {"LuaScripts": [args.lua], "StableAge": STABLE_AGE}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                      verbose=args.verbose)
    study = make_study(os.path.join(work, "run1"), "alpha")
    with orthanc:
        original = None
        with checks.check("run 1: storescu sends %d instances to Orthanc"
                          % INSTANCES):
            assert store_scu(orthanc, study["Files"]) == 0, "storescu failed"
            original = lookup_study(orthanc, study["StudyInstanceUID"])
            assert original, "the study is not in Orthanc"
            assert instance_count(orthanc, original) == INSTANCES

        anonymized = None
        with checks.check("run 1: an anonymized study appears by itself "
                          "(Patient Identity Removed YES)"):
            assert original, "no original study"

            def find():
                for s in study_ids(orthanc) - {original}:
                    if identity_removed(orthanc, s) == "YES":
                        return s
                return None
            anonymized = wait_for("a second study with Patient Identity "
                                  "Removed YES", find, 60)

        job = None
        with checks.check("run 1: one Anonymization job, ended Success, "
                          "from the original to that study"):
            assert anonymized, "no anonymized study"

            def done():
                jobs = anonymization_jobs(orthanc)
                return jobs if jobs and all(
                    j.get("State") in ("Success", "Failure") for j in jobs) \
                    else None
            jobs = wait_for("the Anonymization job to end", done, 60)
            assert len(jobs) == 1, "%d Anonymization jobs" % len(jobs)
            job = jobs[0]
            assert job.get("State") == "Success", job.get("State")
            studies = (job.get("Content") or {}).get("Studies") or []
            assert [(s.get("Original"), s.get("Anonymized"))
                    for s in studies] == [(original, anonymized)], \
                "job content Studies does not map original -> anonymized"

        with checks.check("run 1: the anonymized study has another "
                          "PatientID, PatientName and StudyInstanceUID"):
            assert anonymized, "no anonymized study"
            a = orthanc.get_json("/studies/%s" % anonymized)
            o = orthanc.get_json("/studies/%s" % original)
            for key in ("PatientID", "PatientName"):
                new = a.get("PatientMainDicomTags", {}).get(key)
                assert new and new != o["PatientMainDicomTags"].get(key), \
                    "%s not replaced" % key
            assert a["MainDicomTags"].get("StudyInstanceUID") != \
                study["StudyInstanceUID"], "StudyInstanceUID kept"

        with checks.check("run 1: the anonymized study has the original's "
                          "instance count"):
            assert anonymized, "no anonymized study"
            assert instance_count(orthanc, original) == INSTANCES
            count = instance_count(orthanc, anonymized)
            assert count == INSTANCES, "%d != %d" % (count, INSTANCES)

        with checks.check("run 1: no loop: once the anonymized study is "
                          "stable, no third study and no second job"):
            assert anonymized, "no anonymized study"
            wait_for("StableStudy of the anonymized study",
                     lambda: stable_study_seen(orthanc, anonymized),
                     STABLE_AGE + 30)
            time.sleep(STABLE_AGE + 2)   # Lua would have posted by now
            assert study_ids(orthanc) == {original, anonymized}, \
                "%d studies" % len(study_ids(orthanc))
            jobs = anonymization_jobs(orthanc)
            assert len(jobs) == 1, "%d Anonymization jobs" % len(jobs)

        with checks.check("run 1: the script logged its job once"):
            log = orthanc.log_text()
            line = "AutoAnonymize: study %s: anonymization job" % original
            assert log.count(line) == 1, "%d times" % log.count(line)
            assert "Lua: Error" not in log, "a Lua REST error in the log"

        with checks.check("run 1: Orthanc's log has no identifying value "
                          "of the study"):
            leaks = log_leaks(orthanc, study)
            assert not leaks, "found in the log: %s" % ", ".join(leaks)

        if checks.failed:
            orthanc.failed = True


def run_delete_test(args, checks, work):
    """Run 2: overrides in a second script; DELETE_ORIGINAL; a study that
    arrives de-identified is left alone."""
    overrides = os.path.join(work, "overrides.lua")
    with open(overrides, "w") as f:
        f.write("-- loaded after AutoAnonymize.lua: its settings win\n"
                "DELETE_ORIGINAL = true\n"
                "PROFILE = { Base = 'Full' }\n"
                "EXPORT = { Type = 'folder', Folder = 'auto' }\n")
    export_folder = os.path.join(work, "exports")
    os.makedirs(export_folder, exist_ok=True)
    config = {"LuaScripts": [args.lua, overrides], "StableAge": STABLE_AGE,
              "Anonymizer": {"ExportFolder": export_folder}}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                      verbose=args.verbose)
    study = make_study(os.path.join(work, "run2a"), "bravo")
    clean = make_study(os.path.join(work, "run2b"), "charlie",
                       identity_removed=True)
    with orthanc:
        original = already = None
        with checks.check("run 2: storescu sends a study and an already "
                          "de-identified study"):
            assert store_scu(orthanc, study["Files"] + clean["Files"]) == 0, \
                "storescu failed"
            original = lookup_study(orthanc, study["StudyInstanceUID"])
            already = lookup_study(orthanc, clean["StudyInstanceUID"])
            assert original and already, "a study is not in Orthanc"

        anonymized = None
        with checks.check("run 2: DELETE_ORIGINAL: the original is deleted "
                          "after the job, the anonymized study stays"):
            assert original, "no original study"

            def swapped():
                ids = study_ids(orthanc)
                if original in ids:
                    return None
                rest = ids - {already}
                return rest.pop() if len(rest) == 1 else None
            anonymized = wait_for("the original replaced by its anonymized "
                                  "study", swapped, 60)
            assert identity_removed(orthanc, anonymized) == "YES"
            count = instance_count(orthanc, anonymized)
            assert count == INSTANCES, "%d != %d" % (count, INSTANCES)

        with checks.check("run 2: EXPORT: the anonymized study is exported "
                          "to the server folder, whole"):
            files = wait_for("the export in the server folder",
                             lambda: finished_export_files(
                                 os.path.join(export_folder, "auto"),
                                 INSTANCES), 60)
            for path in files:
                ds = pydicom.dcmread(path)
                assert ds.PatientIdentityRemoved == "YES", "not anonymized"

        with checks.check("run 2: the job used the inline profile"):
            jobs = anonymization_jobs(orthanc)
            assert len(jobs) == 1, "%d Anonymization jobs" % len(jobs)
            profile = (jobs[0].get("Content") or {}).get("Profile")
            assert profile == "(inline)", "Profile %r" % profile

        with checks.check("run 2: the already de-identified study is left "
                          "alone, and nothing loops"):
            assert anonymized and already, "missing study"
            wait_for("StableStudy of both remaining studies",
                     lambda: stable_study_seen(orthanc, anonymized) and
                     stable_study_seen(orthanc, already), STABLE_AGE + 30)
            time.sleep(STABLE_AGE + 2)
            assert study_ids(orthanc) == {anonymized, already}, \
                "%d studies" % len(study_ids(orthanc))
            assert instance_count(orthanc, already) == INSTANCES
            assert len(anonymization_jobs(orthanc)) == 1, "a second job"

        with checks.check("run 2: the script logged the deletion, and no "
                          "identifying value"):
            log = orthanc.log_text()
            assert ("original study %s deleted" % original) in log, \
                "no deletion line"
            leaks = log_leaks(orthanc, study) + log_leaks(orthanc, clean)
            assert not leaks, "found in the log: %s" % ", ".join(leaks)

        if checks.failed:
            orthanc.failed = True


LATE_BIG = 300   # instances of run 3's study: its job runs for seconds
LATE_EXTRA = 2   # instances that arrive while the job runs
LATE_ATTEMPTS = harness.ATTEMPTS  # studies tried for run 3's window
# Run 3's StableAge: a pause of the 300-instance upload longer than this (a
# loaded machine) would start a job on part of the study.
LATE_STABLE_AGE = 5


def late_study(attempt):
    """Run 3's study for attempt 1, 2, ...: its LATE_BIG first instances
    and its LATE_EXTRA late ones."""
    study = gen.Study(gen.PATIENTS[3], 30 + attempt)
    return ([gen.make_instance(study, 1, i + 1, LATE_BIG)
             for i in range(LATE_BIG)],
            [gen.make_instance(study, 2, i + 1, LATE_EXTRA)
             for i in range(LATE_EXTRA)])


def late_settled(orthanc, original):
    """The one anonymized study once every job ended, `original` is gone
    and the anonymized study holds all its instances; else None."""
    jobs = anonymization_jobs(orthanc)
    if not jobs or any(j.get("State") not in ("Success", "Failure")
                       for j in jobs):
        return None
    ids = study_ids(orthanc)
    if original in ids or len(ids) != 1:
        return None
    only = ids.pop()
    if instance_count(orthanc, only) == LATE_BIG + LATE_EXTRA:
        return only
    return None


def late_round(orthanc, late, seen):
    """Wait for the job of the study just stored (a job not in `seen`, of
    LATE_BIG instances) and store `late` while it runs.  True when the job
    was still running after the upload; False when it ended first (the
    machine was slow to look, or fast to anonymize): the round proves
    nothing and is tried again with a new study."""
    def job_of_study():
        for j in anonymization_jobs(orthanc):
            c = j.get("Content") or {}
            if j["ID"] in seen or c.get("InstancesTotal") != LATE_BIG:
                continue
            if j.get("State") != "Running" or \
                    c.get("InstancesDone", 0) >= LATE_BIG:
                if j.get("State") in ("Success", "Failure"):
                    return j
                continue
            return j
        return None
    job = wait_for("the study's job to be running", job_of_study,
                   LATE_STABLE_AGE + 60, poll=0.05)
    seen.add(job["ID"])
    if job.get("State") == "Failure":
        raise AssertionError("the study's job failed: %s"
                             % harness.job_error_text(job))
    if job.get("State") != "Running":
        return False
    harness.upload_many(orthanc, late)
    after = orthanc.get_json("/jobs/%s" % job["ID"])
    return after.get("State") == "Running"


def run_late_instances_test(args, checks, work):
    """Run 3: instances that arrive during the job are not deleted."""
    overrides = os.path.join(work, "overrides3.lua")
    with open(overrides, "w") as f:
        f.write("DELETE_ORIGINAL = true\nPROFILE = 'Full'\n")
    config = {"LuaScripts": [args.lua, overrides],
              "StableAge": LATE_STABLE_AGE, "Anonymizer": {"Threads": 1}}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                      verbose=args.verbose)
    blobs, late = late_study(1)
    with orthanc:
        original = None
        with checks.check("run 3: a study of %d instances is stored over "
                          "REST" % LATE_BIG):
            ids = harness.upload_many(orthanc, blobs)
            original = harness.study_id(orthanc, ids[0])

        with checks.check("run 3: %d instances of the study arrive while "
                          "its job runs (after it listed the study)"
                          % LATE_EXTRA):
            assert original, "no original study"
            seen = set()
            attempt = 1
            while not late_round(orthanc, late, seen):
                # Bounded: a study whose job ended before its late
                # instances were stored proves nothing; let the script
                # finish with it, remove it, and store a new one.
                harness.miss_note(attempt, LATE_ATTEMPTS, "its job ended "
                                  "before the late instances were stored",
                                  again="trying a new study", kind="study")
                if attempt == LATE_ATTEMPTS:
                    raise AssertionError(
                        "in %d studies the job ended before the late "
                        "instances were stored: the test proves nothing"
                        % LATE_ATTEMPTS)
                harness.upload_many(orthanc, late)
                wait_for("the study's late instances anonymized too",
                         lambda: late_settled(orthanc, original), 120)
                harness.delete_studies_except(orthanc, ())
                attempt += 1
                blobs, late = late_study(attempt)
                ids = harness.upload_many(orthanc, blobs)
                original = harness.study_id(orthanc, ids[0])

        with checks.check("run 3: in the end the anonymized study holds "
                          "all %d instances and the original is gone"
                          % (LATE_BIG + LATE_EXTRA)):
            assert original, "no original study"
            try:
                wait_for("every instance anonymized, the original deleted",
                         lambda: late_settled(orthanc, original), 120)
            except AssertionError:
                ids = study_ids(orthanc) - {original}
                counts = [instance_count(orthanc, s) for s in ids]
                left = instance_count(orthanc, original) \
                    if original in study_ids(orthanc) else 0
                raise AssertionError(
                    "anonymized studies hold %s instances, the original %d:"
                    " %d of %d instances lost" % (
                        counts, left,
                        LATE_BIG + LATE_EXTRA - sum(counts) - left,
                        LATE_BIG + LATE_EXTRA))

        with checks.check("run 3: the script logged the instances it kept"):
            log = orthanc.log_text()
            assert ("kept (they arrived after the job was submitted"
                    in log), "no 'kept' line"

        if checks.failed:
            orthanc.failed = True


def check_anonymized_files(blobs, study, job):
    """Each of `blobs` (DICOM files) is the study anonymized by `job` (a
    way-out job): Patient Identity Removed YES, other Patient ID and Name,
    the job's new Study Instance UID; returns how many."""
    studies = (job.get("Content") or {}).get("Studies") or []
    assert len(studies) == 1, "%d studies in the job" % len(studies)
    new_uid = studies[0].get("NewStudyInstanceUID")
    assert new_uid and new_uid != study["StudyInstanceUID"], \
        "no new Study Instance UID in the job"
    sops = set()
    for data in blobs:
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.PatientIdentityRemoved == "YES", "not anonymized"
        assert str(ds.PatientID) != study["PatientID"], "PatientID kept"
        for part in study["PatientName"].split("^"):
            assert not part or part not in str(ds.PatientName), \
                "PatientName kept"
        assert ds.StudyInstanceUID == new_uid, \
            "StudyInstanceUID is not the job's new one"
        sops.add(ds.SOPInstanceUID)
    assert len(sops) == len(blobs), "the same instance twice"
    return len(blobs)


def ended_jobs(orthanc, count):
    """The Anonymization jobs once `count` of them exist and all ended."""
    jobs = anonymization_jobs(orthanc)
    return jobs if len(jobs) == count and all(
        j.get("State") in ("Success", "Failure") for j in jobs) else None


def run_way_out_zip_test(args, checks, work):
    """Run 4: STORE = false, EXPORT a ZIP: nothing stored, the archive
    holds the anonymized study."""
    overrides = os.path.join(work, "overrides4.lua")
    with open(overrides, "w") as f:
        f.write("STORE = false\nEXPORT = { Type = 'zip' }\n")
    config = {"LuaScripts": [args.lua, overrides], "StableAge": STABLE_AGE,
              "Anonymizer": {"ArchiveFolder": os.path.join(work,
                                                           "archives4")}}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                      verbose=args.verbose)
    study = make_study(os.path.join(work, "run4"), "delta")
    with orthanc:
        original = None
        with checks.check("run 4: storescu sends %d instances to Orthanc"
                          % INSTANCES):
            assert store_scu(orthanc, study["Files"]) == 0, "storescu failed"
            original = lookup_study(orthanc, study["StudyInstanceUID"])
            assert original, "the study is not in Orthanc"

        job = None
        with checks.check("run 4: STORE = false: one Anonymization job on "
                          "the way out (\"Stored\": false) ends Success"):
            assert original, "no original study"
            jobs = wait_for("the way-out job to end",
                            lambda: ended_jobs(orthanc, 1), 60)
            job = jobs[0]
            assert job.get("State") == "Success", "the job ended %s: %s" % (
                job.get("State"), job.get("ErrorDetails"))
            content = job.get("Content") or {}
            assert content.get("Stored") is False, \
                "Stored is %r" % content.get("Stored")
            studies = content.get("Studies") or []
            assert [s.get("Original") for s in studies] == [original], \
                "the job's Studies do not name the original"
            assert not studies[0].get("Anonymized"), \
                "the job names an anonymized study in Orthanc"
            assert content.get("InstancesDone") == INSTANCES, \
                "%r instances done" % content.get("InstancesDone")

        with checks.check("run 4: nothing stored in Orthanc: the original "
                          "study alone, whole, also after StableAge"):
            assert job, "no job"
            time.sleep(STABLE_AGE + 2)   # a stored copy would be here now
            assert study_ids(orthanc) == {original}, \
                "%d studies in Orthanc" % len(study_ids(orthanc))
            assert instance_count(orthanc, original) == INSTANCES
            assert len(anonymization_jobs(orthanc)) == 1, "a second job"

        with checks.check("run 4: the job's ZIP archive holds the %d "
                          "instances, anonymized" % INSTANCES):
            assert job, "no job"
            archives = (job.get("Content") or {}).get("Archives") or []
            assert len(archives) == 1, "%d archives" % len(archives)
            status, _, body = orthanc.request("GET", archives[0]["Path"])
            assert status == 200, "the archive: HTTP %d" % status
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                names = [n for n in z.namelist() if n.endswith(".dcm")]
                assert z.testzip() is None, "a member is corrupt"
                count = check_anonymized_files([z.read(n) for n in names],
                                               study, job)
            assert count == INSTANCES, "%d files, expected %d" % (
                count, INSTANCES)

        with checks.check("run 4: the script logged its way-out job once, "
                          "and no identifying value"):
            log = orthanc.log_text()
            line = ("AutoAnonymize: study %s: anonymization job %s on the "
                    "way out" % (original, job["ID"] if job else "?"))
            assert log.count(line) == 1, "%d times" % log.count(line)
            assert "Lua: Error" not in log, "a Lua REST error in the log"
            leaks = log_leaks(orthanc, study)
            assert not leaks, "found in the log: %s" % ", ".join(leaks)

        if checks.failed:
            orthanc.failed = True


def run_way_out_delete_test(args, checks, work):
    """Run 5: STORE = false, DELETE_ORIGINAL, a server folder; then
    STORE = false without EXPORT."""
    overrides = os.path.join(work, "overrides5.lua")
    with open(overrides, "w") as f:
        f.write("STORE = false\nDELETE_ORIGINAL = true\n"
                "EXPORT = { Type = 'folder', Folder = 'wayout' }\n"
                "PROFILE = 'Full'\n"
                # The study described "NO EXPORT" meets EXPORT = nil.
                "local before = OnStableStudy\n"
                "function OnStableStudy(id, tags, metadata)\n"
                "  local saved = EXPORT\n"
                "  if tags['StudyDescription'] == 'NO EXPORT' then\n"
                "    EXPORT = nil\n"
                "  end\n"
                "  before(id, tags, metadata)\n"
                "  EXPORT = saved\n"
                "end\n")
    export_folder = os.path.join(work, "exports5")
    os.makedirs(export_folder, exist_ok=True)
    config = {"LuaScripts": [args.lua, overrides], "StableAge": STABLE_AGE,
              "Anonymizer": {"ExportFolder": export_folder}}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                      verbose=args.verbose)
    study = make_study(os.path.join(work, "run5a"), "echo")
    alone = make_study(os.path.join(work, "run5b"), "foxtrot")
    for path in alone["Files"]:
        ds = pydicom.dcmread(path)
        ds.StudyDescription = "NO EXPORT"
        ds.save_as(path)
    with orthanc:
        original = kept = None
        with checks.check("run 5: storescu sends two studies"):
            assert store_scu(orthanc, study["Files"] + alone["Files"]) == 0, \
                "storescu failed"
            original = lookup_study(orthanc, study["StudyInstanceUID"])
            kept = lookup_study(orthanc, alone["StudyInstanceUID"])
            assert original and kept, "a study is not in Orthanc"

        with checks.check("run 5: the server folder receives the study "
                          "anonymized on the way out, whole"):
            files = wait_for("the way-out export in the server folder",
                             lambda: finished_export_files(
                                 os.path.join(export_folder, "wayout"),
                                 INSTANCES), 60)
            jobs = wait_for("the way-out job to end",
                            lambda: ended_jobs(orthanc, 1), 60)
            assert jobs[0].get("State") == "Success", jobs[0].get("State")
            blobs = []
            for path in files:
                with open(path, "rb") as f:
                    blobs.append(f.read())
            check_anonymized_files(blobs, study, jobs[0])

        with checks.check("run 5: DELETE_ORIGINAL: then the original is "
                          "deleted, and nothing was stored"):
            assert original, "no original study"
            wait_for("the original deleted",
                     lambda: original not in study_ids(orthanc), 30)
            time.sleep(STABLE_AGE + 2)
            assert study_ids(orthanc) == {kept}, \
                "%d studies in Orthanc" % len(study_ids(orthanc))
            log = orthanc.log_text()
            assert ("original study %s deleted" % original) in log, \
                "no deletion line"

        with checks.check("run 5: STORE = false without EXPORT: the study "
                          "is left alone, and the log says why"):
            assert kept, "no study"
            wait_for("StableStudy of the study without EXPORT",
                     lambda: stable_study_seen(orthanc, kept),
                     STABLE_AGE + 30)
            time.sleep(1)
            assert instance_count(orthanc, kept) == INSTANCES
            jobs = anonymization_jobs(orthanc)
            assert len(jobs) == 1, "%d Anonymization jobs" % len(jobs)
            log = orthanc.log_text()
            assert ("study %s: STORE = false needs an EXPORT target" % kept) \
                in log, "no line about the missing EXPORT"
            # (Reading the deleted original's instances is an error of
            # Orthanc's in the log, as in run 2: not a refused POST.)
            assert "Error in RestApiPost" not in log, \
                "a refused POST in the log"
            leaks = log_leaks(orthanc, study) + log_leaks(orthanc, alone)
            assert not leaks, "found in the log: %s" % ", ".join(leaks)

        if checks.failed:
            orthanc.failed = True


def main():
    args = standard_arguments(__doc__, lambda ap: ap.add_argument(
        "--lua", default=DEFAULT_LUA))
    args.lua = os.path.abspath(args.lua)
    if not shutil.which("storescu"):
        sys.exit("storescu not found: apt-get install dcmtk")

    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-lua-test-")
    try:
        run_loop_test(args, checks, work)
        run_delete_test(args, checks, work)
        run_late_instances_test(args, checks, work)
        run_way_out_zip_test(args, checks, work)
        run_way_out_delete_test(args, checks, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
