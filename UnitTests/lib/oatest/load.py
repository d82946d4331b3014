"""Load on one Orthanc: many anonymizations, exports and ZIP downloads at
once (issue 12), for UnitTests/integration/test_load.py and
Resources/Scripts/benchmark-load.py.

    from oatest.load import LoadRun
    run = LoadRun(orthanc, studies=20, instances=20, rows=256)
    run.prepare()              # the studies, the ZIP archives to download
    result = run.go(anonymizations=20, exports=5, downloads=6)
    result["PeakRssMiB"], result["Errors"], result["Seconds"]

Orthanc needs "JobsHistorySize" of at least the number of jobs (100).
Everything is started at once: the anonymization and export jobs
(asynchronous, one request each, from threads) and the downloads (one
thread each, through the plugin's GET /anonymizer/exports/{id}/archive.zip).
The run then waits for every job to end, with a deadline: a job still
running after it is a deadlock or a stall, reported as an error.  Orthanc's
peak RSS is its VmHWM (/proc/PID/status), the kernel's high-water mark of
its resident memory since it started; it is sampled too (VmRSS, every
0.1 s) to give the peak during the load alone.

Never prints DICOM values (the studies are synthetic: oatest.dicomgen).
"""

import os
import threading
import time

from . import dicomgen as gen, harness


def proc_status_kib(pid, key):
    """A "VmXxx:  N kB" line of /proc/PID/status, in KiB (0 if gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def precreate_storage(orthanc):
    """Make Orthanc's 256 first-level storage subfolders (xx/) beforehand:
    Orthanc 1.10.1's FilesystemStorage races when two threads create the
    same folder at once ("Unable to create a subdirectory"), which
    parallel jobs hit on an empty storage (Resources/Scripts/
    bench_common.py, RaceError).  Two stores meeting on a new xx/yy/ are
    256 times rarer; all 65,536 took 30 s on a loaded machine."""
    root = os.path.join(orthanc.folder, "storage")
    for a in range(256):
        os.makedirs(os.path.join(root, "%02x" % a), exist_ok=True)


class LoadRun:
    def __init__(self, orthanc, studies=20, instances=20, rows=256,
                 zip_studies=4, deadline=240.0):
        self.orthanc = orthanc
        self.nstudies = studies
        self.ninstances = instances
        self.rows = rows
        self.zip_studies = zip_studies
        self.deadline = deadline
        self.study_ids = []
        self.archive_paths = []
        self.archive_bytes = 0

    def prepare(self):
        """Store the studies, and make one ZIP archive of `zip_studies`
        of them (the one the downloads fetch)."""
        precreate_storage(self.orthanc)
        for s in range(self.nstudies):
            patient = gen.PATIENTS[s % len(gen.PATIENTS)]
            study = gen.Study(patient, 100 + s)
            blobs = [gen.make_instance(study, 1, i + 1, self.ninstances,
                                       rows=self.rows, cols=self.rows)
                     for i in range(self.ninstances)]
            ids = harness.upload_many(self.orthanc, blobs)
            self.study_ids.append(harness.study_id(self.orthanc, ids[0]))
        status, content, body = harness.post_json(
            self.orthanc, "/anonymizer/export",
            {"Resources": self.study_ids[:self.zip_studies],
             "Target": {"Type": "zip"}, "Asynchronous": False}, timeout=300)
        if status != 200:
            raise AssertionError("ZIP export: HTTP %d %s"
                                 % (status, harness.details(body)[:200]))
        self.archive_paths = [a["Path"] for a in content["Archives"]]
        self.archive_bytes = sum(a["Size"] for a in content["Archives"])

    def go(self, anonymizations=20, exports=5, downloads=6):
        o = self.orthanc
        pid = o.process.pid
        errors = []
        lock = threading.Lock()
        jobs = []
        downloaded = []
        retried = []      # downloads told to come back (503)
        start_rss = proc_status_kib(pid, "VmRSS")
        peak_sampled = [start_rss]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                rss = proc_status_kib(pid, "VmRSS")
                if rss > peak_sampled[0]:
                    peak_sampled[0] = rss
                time.sleep(0.1)

        def error(msg):
            with lock:
                errors.append(msg)

        def anonymize(k):
            sid = self.study_ids[k % len(self.study_ids)]
            status, job, body = harness.post_json(
                o, "/anonymizer/studies/%s/anonymize" % sid,
                {"Profile": "Full" if k % 2 else "Default",
                 "NewPatientID": "LOAD%02d" % k, "Asynchronous": True})
            if status != 200:
                error("anonymization %d: HTTP %d %s"
                      % (k, status, harness.details(body)[:200]))
                return
            with lock:
                jobs.append(("anonymization %d" % k, job["ID"]))

        def export(k):
            sids = [self.study_ids[(k + i) % len(self.study_ids)]
                    for i in range(2)]
            status, job, body = harness.post_json(
                o, "/anonymizer/export",
                {"Resources": sids,
                 "Target": {"Type": "folder", "Folder": "load/%d" % k}})
            if status != 200:
                error("export %d: HTTP %d %s"
                      % (k, status, harness.details(body)[:200]))
                return
            with lock:
                jobs.append(("export %d" % k, job["ID"]))

        def download(k):
            path = self.archive_paths[k % len(self.archive_paths)]
            # Where downloads are answered from memory (Orthanc 1.10.1) at
            # most MaxParallelDownloads run at once: a 503 says when to
            # retry (Retry-After), as a client should; bounded by the
            # deadline.
            give_up = time.monotonic() + self.deadline / 2
            while True:
                try:
                    status, headers, body = o.request("GET", path,
                                                      timeout=300)
                except OSError as e:
                    error("download %d: %s" % (k, e.__class__.__name__))
                    return
                if status != 503 or time.monotonic() > give_up:
                    break
                with lock:
                    retried.append(k)
                try:
                    wait = float(headers.get("retry-after", "1"))
                except ValueError:
                    wait = 1.0
                time.sleep(min(max(wait, 0.5), 10.0))
            if status != 200:
                error("download %d: HTTP %d %s"
                      % (k, status, harness.details(body)[:200]))
            elif not body.startswith(b"PK"):
                error("download %d: not a ZIP archive" % k)
            else:
                with lock:
                    downloaded.append(len(body))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        threads = [threading.Thread(target=anonymize, args=(k,))
                   for k in range(anonymizations)]
        threads += [threading.Thread(target=export, args=(k,))
                    for k in range(exports)]
        threads += [threading.Thread(target=download, args=(k,))
                    for k in range(downloads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.deadline)
            if t.is_alive():
                error("a request still unanswered after %.0f s"
                      % self.deadline)
        states = {}
        for what, job_id in jobs:
            left = self.deadline - (time.monotonic() - t0)
            try:
                job = harness.wait_job(o, job_id, timeout=max(left, 1),
                                       poll=0.2)
            except AssertionError:
                error("%s: still running after %.0f s (deadlock or stall)"
                      % (what, self.deadline))
                continue
            except harness.OrthancError:
                error("%s: gone from /jobs (JobsHistorySize too small?)"
                      % what)
                continue
            states[job["State"]] = states.get(job["State"], 0) + 1
            content = job.get("Content") or {}
            if job["State"] != "Success":
                error("%s: %s %s" % (what, job["State"],
                                     str(content.get("Error", ""))[:200]))
            elif content.get("FailedCount"):
                error("%s: %d instances failed, e.g. %s" % (
                    what, content["FailedCount"],
                    str((content.get("Failed") or [{}])[0].get("Error"))[
                        :200]))
        seconds = time.monotonic() - t0
        stop.set()
        sampler.join()
        return {
            "Seconds": seconds,
            "Jobs": len(jobs),
            "States": states,
            "Downloads": len(downloaded),
            "DownloadRetries": len(retried),
            "DownloadedBytes": sum(downloaded),
            "ArchiveBytes": self.archive_bytes,
            "StartRssMiB": start_rss / 1024.0,
            "PeakRssMiB": proc_status_kib(pid, "VmHWM") / 1024.0,
            "PeakRssDuringLoadMiB": peak_sampled[0] / 1024.0,
            "Errors": errors,
            "Alive": o.process.poll() is None,
        }
