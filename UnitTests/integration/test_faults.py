#!/usr/bin/python3
"""Integration test: faults (issue 12, "Faults and load").

    /usr/bin/python3 test_faults.py --plugin build/libOrthancAnonymizer.so \
        [--only disk,storage,kill,servers,pg]

Needs root (tmpfs mounts, the FTP/SFTP servers' local accounts, PostgreSQL
run as postgres); Debian's vsftpd, openssh-server and apache2 for
"servers", postgresql-15 and orthanc-postgresql for "pg".

disk      ExportFolder and ArchiveFolder on tmpfs file systems of 1 MiB
          mounted by the test: a folder export and a ZIP export of a 3 MB
          study fail with "No space left", leave no file behind, and
          Orthanc keeps running (a small export then succeeds).
storage   Orthanc's storage full: "MaximumPatientCount": 1 with the
          original patient protected, then "MaximumStorageSize": 1 (MB)
          likewise: the anonymization fails, every instance with a reason
          that says the storage is full; no anonymized instance is left
          stored without being reported.
kill      Orthanc killed with SIGKILL in the middle of an anonymization,
          then of a folder export ("SaveJobs": true): after the restart,
          no final name holds incomplete data (exports go to
          <name>.partial first), and once the jobs are resumed or
          submitted again, the anonymized study and the export hold every
          instance exactly once.
servers   an SFTP, an FTP and a WebDAV server (oatest/servers.py) killed
          in the middle of an upload: the export fails with a message
          naming the transfer; no final name on the server holds
          incomplete data; the server started again, the same export
          succeeds whole.
pg        Orthanc on a PostgreSQL index (the cluster set-up, oatest/pg.py),
          PostgreSQL stopped (immediate: like a crash) for 3 s in the
          middle of an anonymization: Orthanc survives, the job ends and
          says what failed; the same anonymization again gives one study
          with every instance exactly once.

Prints one line per check and "N passed, M failed"; never a DICOM value
(the studies are synthetic anyway).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

import pydicom  # noqa: E402

from oatest import dicomgen as gen, harness  # noqa: E402
from oatest import servers as es  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402
from oatest.pg import PG_INDEX_PLUGIN, PostgresCluster  # noqa: E402

PARTIAL = ".partial"


# -- helpers -------------------------------------------------------------

class Tmpfs:
    """A tmpfs of `size` mounted on a new folder (root only); unmounted
    and removed on exit."""

    def __init__(self, parent, name, size="1m"):
        self.path = os.path.join(parent, name)
        self.size = size

    def __enter__(self):
        os.makedirs(self.path)
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%s,mode=0700" % self.size, "tmpfs", self.path],
                       check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", self.path], check=False)
        os.rmdir(self.path)
        return False


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out.extend(os.path.join(d, n) for n in names)
    return out


def make_blobs(patient, s, count, rows=64):
    study = gen.Study(gen.PATIENTS[patient], s)
    return study, [gen.make_instance(study, 1, i + 1, count, rows=rows,
                                     cols=rows)
                   for i in range(count)]


def store_study(orthanc, blobs):
    ids = harness.upload_many(orthanc, blobs)
    return harness.study_id(orthanc, ids[0])


def export_roots(folder):
    """The export folders (Anonymizer-...) directly in `folder`, final and
    partial."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder)
                  if n.startswith("Anonymizer-"))


def incomplete_finals(root, names, count):
    """Final (not .partial) export folders among `names` that do not hold
    `count` readable DICOM files, none of them .partial."""
    bad = []
    for n in names:
        if n.endswith(PARTIAL):
            continue
        paths = files_under(os.path.join(root, n))
        good = 0
        for p in paths:
            if p.endswith(PARTIAL):
                continue
            try:
                pydicom.dcmread(p)
                good += 1
            except Exception:  # noqa: BLE001 (any parse error counts)
                pass
        if good != count or len(paths) != count:
            bad.append("%s: %d files, %d readable of %d"
                       % (n, len(paths), good, count))
    return bad


def submit(orthanc, sid, new_patient_id):
    """POST an asynchronous anonymization of study `sid` (profile Full);
    returns the job's ID."""
    status, job, _ = harness.post_json(
        orthanc, "/anonymizer/studies/%s/anonymize" % sid,
        {"Asynchronous": True, "Profile": "Full",
         "NewPatientID": new_patient_id})
    assert status == 200, "HTTP %d" % status
    return job["ID"]


def export_until_partial(orthanc, resources, folder, root, low,
                         attempts=harness.ATTEMPTS, timeout=60):
    """POST an asynchronous export of `resources` to the export folder
    `folder` (`root` on the file system) and watch it on the file system
    (the REST API is too slow to see a local export run) until a .partial
    export folder holds `low` files; returns the job's ID then, the export
    still running.  A local export of a few hundred files lasts well under
    a second: a poller that loses the CPU (2 loaded cores) can see it
    finished first.  Then, once the job has ended, the finished folder is
    removed and the export posted again, at most `attempts` times in all.
    An export that fails is not retried: that is a finding."""
    for attempt in range(1, attempts + 1):
        status, job, _ = harness.post_json(
            orthanc, "/anonymizer/export",
            {"Resources": resources,
             "Target": {"Type": "folder", "Folder": folder}})
        assert status == 200, "HTTP %d" % status
        job_id = job["ID"]
        deadline = time.monotonic() + timeout
        while True:
            names = export_roots(root)
            partial = [n for n in names if n.endswith(PARTIAL)]
            if any(len(files_under(os.path.join(root, n))) >= low
                   for n in partial):
                return job_id
            if len(partial) != len(names):
                break       # a final name: it finished between two looks
            assert time.monotonic() < deadline, \
                "the export wrote fewer than %d files in %.0f s" % (
                    low, timeout)
            time.sleep(0.002)
        job = harness.wait_job(orthanc, job_id, timeout=180)
        assert job["State"] == "Success", \
            "the export ended %s before it was seen writing (%s)" % (
                job["State"], harness.job_error_text(job)[:200])
        harness.miss_note(attempt, attempts, "it finished before %d files "
                          "were seen under %s" % (low, PARTIAL),
                          again="removed and posted again", kind="export")
        if attempt < attempts:
            for n in export_roots(root):
                shutil.rmtree(os.path.join(root, n))
    raise AssertionError("the export finished before the kill (%d exports)"
                         % attempts)


# -- disk full -------------------------------------------------------------

def run_disk(args, checks, work):
    count = 24   # 128 KiB each: 3 MB, three times the file systems
    with Tmpfs(work, "export-fs") as exp, Tmpfs(work, "archive-fs") as arc:
        config = {"Anonymizer": {"ExportFolder": exp.path,
                                 "ArchiveFolder": arc.path}}
        with Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                     verbose=args.verbose) as orthanc:
            _, blobs = make_blobs(0, 61, count, rows=256)
            big = store_study(orthanc, blobs)
            _, small_blobs = make_blobs(1, 62, 1)
            small = store_study(orthanc, small_blobs)

            for what, target, fs in (
                    ("folder", {"Type": "folder", "Folder": "full"}, exp),
                    ("zip", {"Type": "zip"}, arc)):
                with checks.check("disk: a %s export onto a full file "
                                  "system fails with 'No space left', "
                                  "leaves no file" % what):
                    status, _, body = harness.post_json(
                        orthanc, "/anonymizer/export",
                        {"Resources": [big], "Target": target,
                         "Asynchronous": False})
                    assert status == 502, "HTTP %d" % status
                    said = harness.details(body)
                    assert "space" in said.lower(), \
                        "the error does not say so: %r" % said[:200]
                    left = files_under(fs.path)
                    assert not left, "%d files left, e.g. %s" % (
                        len(left), os.path.relpath(left[0], fs.path))

            with checks.check("disk: Orthanc keeps running, and a small "
                              "folder and ZIP export then succeed"):
                assert orthanc.process.poll() is None, "Orthanc exited"
                for target in ({"Type": "folder", "Folder": "small"},
                               {"Type": "zip"}):
                    status, _, body = harness.post_json(
                        orthanc, "/anonymizer/export",
                        {"Resources": [small], "Target": target,
                         "Asynchronous": False})
                    assert status == 200, "HTTP %d %s" % (
                        status, harness.details(body)[:200])
            if checks.failed:
                orthanc.failed = True


# -- storage full ----------------------------------------------------------

def run_storage(args, checks, work):
    count = 6
    for key, value in (("MaximumPatientCount", 1),
                       ("MaximumStorageSize", 1)):
        config = {key: value}
        with Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                     verbose=args.verbose) as orthanc:
            # 6 x 128 KiB: fits in no more than 1 MB
            _, blobs = make_blobs(2, 63, count, rows=256 if key ==
                                  "MaximumStorageSize" else 64)
            sid = store_study(orthanc, blobs)
            patient = orthanc.get_json("/studies/%s" % sid)["ParentPatient"]
            status, _, _ = orthanc.request(
                "PUT", "/patients/%s/protected" % patient, body="1")
            assert status == 200, "protect: HTTP %d" % status
            with checks.check("storage (%s): the anonymization fails, "
                              "every instance with a reason that says the "
                              "storage is full" % key):
                status, job, body = harness.post_json(
                    orthanc, "/anonymizer/studies/%s/anonymize" % sid,
                    {"Asynchronous": True, "Profile": "Full"})
                assert status == 200, "HTTP %d" % status
                job = harness.wait_job(orthanc, job["ID"])
                content = job.get("Content") or {}
                failed = content.get("Failed") or []
                reasons = [f.get("Error", "") for f in failed]
                # a small instance may still fit under MaximumStorageSize
                assert content.get("FailedCount", 0) >= count - 1, \
                    "FailedCount %s of %d (state %s, error %r)" % (
                        content.get("FailedCount"), count, job["State"],
                        content.get("Error"))
                assert all("full" in r.lower() for r in reasons), \
                    "a reason does not say so: %r" % reasons[:2]
            with checks.check("storage (%s): no anonymized instance stored "
                              "without being reported" % key):
                studies = harness.studies(orthanc) - {sid}
                stored = sum(len(orthanc.get_json(
                    "/studies/%s/instances" % s)) for s in studies)
                reported = sum(s.get("Instances", 0)
                               for s in content.get("Studies", []))
                assert stored == reported, "%d stored, %d reported" % (
                    stored, reported)
                assert reported + content.get("FailedCount", 0) == count, \
                    "%d reported + %d failed != %d" % (
                        reported, content.get("FailedCount", 0), count)
                assert len(orthanc.get_json(
                    "/studies/%s/instances" % sid)) == count, \
                    "the original lost instances"
            if checks.failed:
                orthanc.failed = True


# -- SIGKILL -----------------------------------------------------------------

def run_kill(args, checks, work):
    count = 300
    exports = os.path.join(work, "kill-exports")
    os.makedirs(exports)
    config = {"SaveJobs": True, "JobsHistorySize": 20,
              "Anonymizer": {"Threads": 1, "ExportFolder": exports}}
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                      verbose=args.verbose)
    # 512x512 (512 KB each): an idle machine anonymizes more than a
    # hundred small instances between two looks at the job
    study, blobs = make_blobs(3, 64, count, rows=512)
    with orthanc:
        sid = store_study(orthanc, blobs)

        anonymized = None
        with checks.check("kill: SIGKILL in the middle of an anonymization; "
                          "after the restart it ends with every instance "
                          "exactly once"):
            job_id, _ = harness.submit_until_running(
                orthanc, lambda: submit(orthanc, sid, "KILLTEST1"), 1,
                count - 1,
                again=lambda: harness.delete_studies_except(orthanc, [sid]))
            orthanc.kill()
            orthanc.restart()
            status, _, _ = orthanc.request("GET", "/jobs/%s" % job_id)
            resumed = "lost"
            if status == 200:
                job = harness.wait_job(orthanc, job_id, timeout=180)
                resumed = job["State"]
            if status != 200 or job["State"] != "Success":
                # lost with the process (saved jobs are written now and
                # then): submitted again, it gives the same UIDs
                status, job, _ = harness.post_json(
                    orthanc, "/anonymizer/studies/%s/anonymize" % sid,
                    {"Asynchronous": False, "Profile": "Full",
                     "NewPatientID": "KILLTEST1"}, timeout=300)
                assert status == 200, "again: HTTP %d" % status
                content = job
            else:
                content = job["Content"]
            (s,) = content["Studies"]
            anonymized = s["Anonymized"]
            instances = orthanc.get_json("/studies/%s/instances"
                                         % anonymized)
            sops = {i["MainDicomTags"]["SOPInstanceUID"] for i in instances}
            assert len(instances) == count and len(sops) == count, \
                "%d instances, %d distinct" % (len(instances), len(sops))
            others = harness.studies(orthanc) - {sid, anonymized}
            assert not others, "%d other studies (%s instances; job %s " \
                "after the restart)" % (
                    len(others), [len(orthanc.get_json(
                        "/studies/%s/instances" % o)) for o in others],
                    resumed)
            assert len(orthanc.get_json("/studies/%s/instances" % sid)) == \
                count, "the original lost instances"

        with checks.check("kill: SIGKILL in the middle of a folder export; "
                          "no final name holds incomplete data, and the "
                          "export then completes whole"):
            assert anonymized, "no anonymized study"
            # both studies: 600 files, 300 MB, so that the kill lands in
            # the middle
            both = [sid, anonymized]
            root = os.path.join(exports, "k")
            # killed once 20 files are written (posted again if it
            # finished first)
            job_id = export_until_partial(orthanc, both, "k", root, 20)
            orthanc.kill()
            if any(not n.endswith(PARTIAL) for n in export_roots(root)):
                print("     note: the export finished between the last "
                      "look and the kill")
            bad = incomplete_finals(root, export_roots(root), 2 * count)
            assert not bad, "after the kill: %s" % bad
            orthanc.restart()
            status, _, _ = orthanc.request("GET", "/jobs/%s" % job_id)
            done = False
            if status == 200:
                job = harness.wait_job(orthanc, job_id, timeout=180)
                done = job["State"] == "Success"
            if not done:
                status, _, body = harness.post_json(
                    orthanc, "/anonymizer/export",
                    {"Resources": both,
                     "Target": {"Type": "folder", "Folder": "k"},
                     "Asynchronous": False}, timeout=300)
                assert status == 200, "again: HTTP %d %s" % (
                    status, harness.details(body)[:200])
            names = export_roots(root)
            finals = [n for n in names if not n.endswith(PARTIAL)]
            bad = incomplete_finals(root, names, 2 * count)
            assert not bad, "after the restart: %s" % bad
            assert len(finals) >= 1, "no finished export"
        if checks.failed:
            orthanc.failed = True


# -- servers killed -------------------------------------------------------

def server_destination(kind, server):
    if kind == "sftp":
        return {"Type": "sftp", "Url": server.url,
                "Username": server.username, "Password": server.password,
                "HostKeySha256": server.host_key_sha256, "Timeout": 5}
    if kind == "ftp":
        return {"Type": "ftp", "Url": server.url,
                "Username": server.username, "Password": server.password,
                "Timeout": 5}
    return {"Type": "webdav", "Url": server.url,
            "Username": server.username, "Password": server.password,
            "Timeout": 5}


def upload_state(root):
    """(files of an export under a .partial name below `root`, whether a
    final export folder, Anonymizer-... not .partial, is there)."""
    n, finished = 0, False
    for d, dirs, names in os.walk(root):
        if PARTIAL in os.path.relpath(d, root):
            n += len(names)
        finished = finished or any(
            x.startswith("Anonymizer-") and not x.endswith(PARTIAL)
            for x in dirs)
    return n, finished


def wait_uploading(server, low, count, ended, timeout=90):
    """Watch the server's disk until at least `low` files of an export, and
    fewer than `count`, are there under a .partial name.  Returns (True,
    files, pids) then: pids are the processes below the server once the
    first file was there (the connection being served, perhaps in a
    session of its own), for server.freeze().  Returns (False, files, ())
    when the upload finished first (a final name, or ended() true: asked
    every 0.25 s)."""
    deadline = time.monotonic() + timeout
    known, ask = (), 0.0
    while True:
        n, finished = upload_state(server.data_dir)
        if finished or n >= count:
            return False, n, ()
        if n >= low:
            return True, n, known
        if n and not known:
            known = server.descendants()
        now = time.monotonic()
        if now >= ask:
            if ended():
                return False, n, ()
            ask = now + 0.25
        if now > deadline:
            raise AssertionError("no upload seen within %.0f s (%d files)"
                                 % (timeout, n))
        time.sleep(0.002)


def kill_in_upload(orthanc, server, kind, sid, count, low=5,
                   attempts=harness.ATTEMPTS):
    """POST an asynchronous export of study `sid` to the destination `kind`
    and kill the server in the middle of the upload: watched on the
    server's disk (a loopback upload of the whole study can fit between
    two looks at the job), frozen (SIGSTOP) once `low` files of `count`
    are there, then killed.  Returns the job's last answer (Failure) and
    the files there when it was frozen.  On 2 loaded cores the poller can
    miss the window, or the upload end before the freeze (the job
    succeeds): then the server's data is cleared and the export posted
    again, at most `attempts` times in all.  An export that fails before
    the kill is not retried: that is a finding."""
    for attempt in range(1, attempts + 1):
        status, job, _ = harness.post_json(
            orthanc, "/anonymizer/export",
            {"Resources": [sid],
             "Target": {"Type": "destination", "Name": kind}})
        assert status == 200, "HTTP %d" % status
        job_id = job["ID"]
        caught, n, known = wait_uploading(
            server, low, count, lambda: orthanc.get_json(
                "/jobs/%s" % job_id).get("State") in ("Success", "Failure"))
        if caught:
            try:
                server.freeze(known)
                n, finished = upload_state(server.data_dir)
            finally:
                server.kill()
            job = harness.wait_job(orthanc, job_id, timeout=120)
            if job["State"] != "Success":
                return job, n
            why = "the upload ended before the server was stopped (%s), " \
                "the export succeeded" % (
                    "its final name was there" if finished else
                    "%d files under %s" % (n, PARTIAL))
        else:
            job = harness.wait_job(orthanc, job_id, timeout=120)
            assert job["State"] == "Success", \
                "the export ended %s before the kill (%s)" % (
                    job["State"], harness.job_error_text(job)[:200])
            why = "the upload was not caught in the middle (%d files " \
                "seen under %s)" % (n, PARTIAL)
        harness.miss_note(attempt, attempts, why,
                          again="data cleared and posted again",
                          kind="%s export" % kind)
        if attempt < attempts:
            server.restart()    # if killed
            server.clear_data()
    raise AssertionError("%s (%d exports)" % (why, attempts))


def final_names_complete(server, count):
    """Errors for final (not .partial) names on the server that hold
    incomplete data: a final file must parse, a final export folder must
    hold `count` files."""
    errors = []
    root = server.data_dir
    for d, dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if PARTIAL in os.path.relpath(p, root):
                continue
            try:
                pydicom.dcmread(p)
            except Exception:  # noqa: BLE001
                errors.append("%s: not a whole DICOM file"
                              % os.path.relpath(p, root))
        for n in dirs:
            if n.startswith("Anonymizer-") and not n.endswith(PARTIAL):
                k = len(files_under(os.path.join(d, n)))
                if k != count:
                    errors.append("%s: %d files of %d" % (n, k, count))
    return errors


def run_servers(args, checks, work):
    count = 120
    kinds = (("sftp", es.SftpServer), ("ftp", es.FtpServer),
             ("webdav", es.WebDavServer))
    started = []
    try:
        servers = {}
        for kind, cls in kinds:
            server = cls()
            server.start()
            started.append(server)
            servers[kind] = server
        config = {"Anonymizer": {"Destinations": {
            kind: server_destination(kind, servers[kind])
            for kind, _ in kinds}}}
        with Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                     verbose=args.verbose) as orthanc:
            # 512x512: about 60 MB, long enough on loopback to be caught
            # in the middle even on an idle machine
            _, blobs = make_blobs(0, 65, count, rows=512)
            sid = store_study(orthanc, blobs)
            for kind, _ in kinds:
                server = servers[kind]
                with checks.check("servers: %s killed in the middle of an "
                                  "upload: the export fails and says so; "
                                  "no final name holds incomplete data"
                                  % kind):
                    job, n = kill_in_upload(orthanc, server, kind, sid,
                                            count)
                    print("     note: %s stopped and killed with %d of %d "
                          "files uploaded" % (kind, n, count))
                    assert job["State"] == "Failure", job["State"]
                    said = (job.get("Content") or {}).get("Error", "")
                    assert said, "no Error in the job's content"
                    errors = final_names_complete(server, count)
                    assert not errors, errors[:3]
                with checks.check("servers: %s started again: the same "
                                  "export succeeds whole" % kind):
                    server.restart()
                    status, _, body = harness.post_json(
                        orthanc, "/anonymizer/export",
                        {"Resources": [sid],
                         "Target": {"Type": "destination", "Name": kind},
                         "Asynchronous": False}, timeout=300)
                    assert status == 200, "HTTP %d %s" % (
                        status, harness.details(body)[:200])
                    errors = final_names_complete(server, count)
                    assert not errors, errors[:3]
                    finals = [p for p in server.files()
                              if PARTIAL not in p]
                    assert len(finals) >= count, "%d final files" % len(
                        finals)
            if checks.failed:
                orthanc.failed = True
    finally:
        for server in started:
            server.close()


# -- PostgreSQL stopped ----------------------------------------------------

def run_pg(args, checks, work):
    count = 150
    with PostgresCluster() as pg:
        storage = os.path.join(work, "pg-storage")
        config = {"StorageDirectory": storage,
                  "PostgreSQL": pg.orthanc_section(),
                  "Anonymizer": {"Threads": 1}}
        orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                          config=config, verbose=args.verbose,
                          extra_plugins=[PG_INDEX_PLUGIN])
        with orthanc:
            _, blobs = make_blobs(1, 66, count, rows=256)
            sid = store_study(orthanc, blobs)
            anonymized = None
            with checks.check("pg: PostgreSQL stopped for 3 s in the middle "
                              "of an anonymization: Orthanc survives, the "
                              "job ends (done or failed, and says why)"):
                job_id, job = harness.submit_until_running(
                    orthanc, lambda: submit(orthanc, sid, "PGTEST1"), 10,
                    count - 10,
                    again=lambda: harness.delete_studies_except(orthanc,
                                                                [sid]))
                print("     note: PostgreSQL stopped with %d of %d done"
                      % (job["Content"]["InstancesDone"], count))
                pg.halt()
                time.sleep(3)
                pg.resume()
                job = harness.wait_job(orthanc, job_id, timeout=180)
                content = job.get("Content") or {}
                print("     note: the job ended %s, %d of %d failed%s" % (
                    job["State"], content.get("FailedCount", 0), count,
                    (": " + str(content.get("Error") or
                                (content.get("Failed") or [{}])[0].get(
                                    "Error"))[:160])
                    if job["State"] != "Success" or
                    content.get("FailedCount") else ""))
                assert orthanc.process.poll() is None, "Orthanc exited"
                if job["State"] == "Failure":
                    assert content.get("Error"), "no Error in the content"
                failed = content.get("Failed") or []
                assert all(f.get("Error") for f in failed), \
                    "a failure without a reason"
            with checks.check("pg: the same anonymization, again, gives one "
                              "study with every instance exactly once"):
                status, content, body = harness.post_json(
                    orthanc, "/anonymizer/studies/%s/anonymize" % sid,
                    {"Asynchronous": False, "Profile": "Full",
                     "NewPatientID": "PGTEST1"}, timeout=300)
                assert status == 200, "HTTP %d %s" % (
                    status, harness.details(body)[:200])
                (s,) = content["Studies"]
                anonymized = s["Anonymized"]
                instances = orthanc.get_json("/studies/%s/instances"
                                             % anonymized)
                sops = {i["MainDicomTags"]["SOPInstanceUID"]
                        for i in instances}
                assert len(instances) == count == len(sops), \
                    "%d instances, %d distinct" % (len(instances), len(sops))
                others = harness.studies(orthanc) - {sid, anonymized}
                assert not others, "%d other studies" % len(others)
            if checks.failed:
                orthanc.failed = True


PARTS = {"disk": run_disk, "storage": run_storage, "kill": run_kill,
         "servers": run_servers, "pg": run_pg}


def main():
    def extra(ap):
        ap.add_argument("--only", default=",".join(PARTS))
    args = standard_arguments(__doc__.splitlines()[0], extra)
    if os.geteuid() != 0:
        print("test_faults.py needs root (tmpfs mounts, server accounts)")
        return 77
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-faults-")
    try:
        for name in args.only.split(","):
            t0 = time.monotonic()
            PARTS[name](args, checks, work)
            print("     note: %s took %.0f s" % (name,
                                                 time.monotonic() - t0))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
