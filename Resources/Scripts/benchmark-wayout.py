#!/usr/bin/python3
"""Anonymizing on the way out against anonymize-then-export and against
Orthanc's own anonymization and export, in a real Orthanc (not a test).

    /usr/bin/python3 Resources/Scripts/benchmark-wayout.py
        [--plugin build/libOrthancAnonymizer.so] [--count 300] [--repeat 3]
        [--warmup 1] [--count2 1000] [--targets zip,dicom]
        [--profile Default] [--zip-compression fast|store|best]
        [--only-baselines]
        [--study-dir DIR] [--study-dir2 DIR] [--tmpdir DIR]
        [--orthanc /usr/sbin/Orthanc] [--keep] [--verbose]

Issue 14's benchmark.  Starts, on 127.0.0.1 (UnitTests/lib/oatest,
TCP_NODELAY=1 in every environment), dcmtk's storescp and one Orthanc with
the plugin, configured with
  "Anonymizer": {"ExportFolder": <tmp>, "ArchiveFolder": <tmp>},
  "DicomModalities": {"scp": storescp}.
Generates a synthetic CT study once (generate-ct-study.py: COUNT instances
of 512x512 16-bit, about 530 KB each; or reuses --study-dir), and a second
one of COUNT2 instances (generate-ct-study.py's study 2, or --study-dir2;
--count2 0: none), stores both once, and measures in rounds, each
operation once per round (interleaved, so that a burst of load on the
machine hits every figure alike), REPEAT rounds after WARMUP untimed ones;
medians are reported.  For each target, ZIP ("zip": {"Type": "zip"}, with
"Compression" when --zip-compression is given, the archives downloaded to
their end) and C-STORE ("dicom": {"Type": "dicom",
"Modality": "scp"}, to storescp):

  (a) way out     POST /anonymizer/export {"Resources": [id], "Anonymize":
                  {"Profile": PROFILE}, "Target": T, "Asynchronous": false}
                  (nothing stored in Orthanc);
  (b) ours, two   POST /anonymizer/anonymize {"Resources": [{"Level":
      steps       "Study", "ID": id}], "Profile": PROFILE, "Asynchronous":
                  false}, then POST /anonymizer/export of the new study
                  (Target T, synchronous);
  (c) Orthanc's   POST /studies/{id}/anonymize {} (synchronous; Orthanc's
      own         default, the Basic Profile), then GET /studies/{new}/
                  archive (zip) or POST /modalities/scp/store {"Resources":
                  [new]} (dicom, synchronous);
  (a) of the COUNT2 study.
Before the rounds, a memory probe: Orthanc restarted once the studies are
stored (glibc keeps what a request freed: a job's memory would hide in the
heap the upload left), then the way out of the COUNT study and of the
COUNT2 one (ZIP: the job, no download), each with Orthanc's RSS before
it, its peak and its growth: to show that the way out's memory does not
grow with the study's size.
The copies stored by (b) and (c) are deleted after each run, outside the
time.  --only-baselines leaves (a) out (a plugin without the way out).

Each run is checked, outside the timing: the job's InstancesDone is COUNT,
(a)'s answer says "Stored": false and Orthanc holds no new study after it;
the ZIP entries or storescp's files number COUNT; one of the files that
landed is read back (pydicom) and must not hold the original Patient ID;
what landed is removed before the next run.

seconds: wall-clock time of the HTTP exchanges, as a client sees them;
inst/s = instances / seconds; Orthanc CPU = user + system seconds of the
Orthanc process during the operation (/proc/PID/stat; storescp's not
counted), the steadier figure on a shared machine.  For the ZIP, the
download's part of (a) and (b) (the GETs of the archives after the job)
and (b)'s CPU over (a)'s are printed too.  Orthanc's peak
resident memory during each operation (bench_common.PeakRss: VmHWM reset
through /proc/PID/clear_refs before it, VmRSS sampled every 10 ms) and its
growth over the RSS when the operation started.

Targets (reported "met" / "NOT met"), per target: (a) at least 3 times
faster than (b), at least 5 times faster than (c); in the probe, (a)'s
peak RSS at COUNT2 instances within 16 MiB of its peak at COUNT.
Exit status: 0 when every operation ran; 1 if one failed (its error is
printed, paths below the export's own folder name cut); 2 on any other
error (set-up).  Needs Debian's orthanc, dcmtk, python3-pydicom,
python3-numpy.  Everything of a run lives in one private folder made in
--tmpdir (default: the system's temporary folder), removed at the end
unless --keep is given or an error occurred; Orthanc and storescp are
stopped by PID.

Never prints DICOM values: only counts, sizes, times, statuses and error
messages with their DICOM-derived path components cut.
"""

import argparse
import contextlib
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402
from bench_common import BenchError, RaceError, verdict  # noqa: E402
from oatest import servers as es  # noqa: E402
from oatest.harness import Orthanc, OrthancError  # noqa: E402

import pydicom  # noqa: E402

ALL_TARGETS = ["zip", "dicom"]
GOAL_TWO_STEPS = 3.0      # (b) / (a)
GOAL_ORTHANC = 5.0        # (c) / (a)
MEMORY_SLACK_MIB = 16     # the probe: (a)'s peak at COUNT2 - at COUNT
ORIGINAL_PATIENT_ID = "PID0012345"    # generate-ct-study.py's
TICK = os.sysconf("SC_CLK_TCK")

say = bc.sayer("benchmark-wayout")


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (/proc, all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def post(port, path, body, what):
    status, _, data = bc.call(port, "POST", path, body)
    if status != 200:
        raise bc.request_error("%s: HTTP %d%s" % (what, status,
                                                  bc.error_summary(data)))
    try:
        content = json.loads(data)
    except ValueError:
        raise BenchError("%s: not JSON" % what)
    if not isinstance(content, dict):
        raise BenchError("%s: not a JSON object" % what)
    return content


def check_patient_id(data, what):
    """One landed file (bytes): it must be DICOM and must not hold the
    original Patient ID (only "held" or "not" is ever said)."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception as e:     # pydicom raises many kinds
        raise BenchError("%s is not readable DICOM (%s)"
                         % (what, type(e).__name__))
    if str(ds.get("PatientID", "")) == ORIGINAL_PATIENT_ID:
        raise BenchError("%s still holds the original Patient ID: not "
                         "anonymized" % what)


# ---------------------------------------------------------------------------
# The operations

class Bench:
    def __init__(self, orthanc, scp, archive_folder, studies, profile,
                 compression=None):
        self.compression = compression
        self.port = orthanc.http_port
        self.pid = orthanc.process.pid
        self.scp = scp
        self.archive_folder = archive_folder
        self.studies = studies          # {"1": (id, count), "2": ...}
        self.profile = profile

    # -- helpers ----------------------------------------------------------

    def all_studies(self):
        return bc.call_json(self.port, "GET", "/studies")

    def delete_study(self, sid):
        bc.call_json(self.port, "DELETE", "/studies/%s" % sid)

    def only_originals(self):
        """Delete every study but the originals (leftovers of a failed
        run)."""
        keep = {sid for sid, _ in self.studies.values()}
        for s in self.all_studies():
            if s not in keep:
                self.delete_study(s)

    def check_done(self, content, count, what):
        if content.get("Error"):
            raise BenchError("%s says: %s" % (what,
                                              bc.redact(content["Error"])))
        done = content.get("InstancesDone")
        if done != count:
            raise BenchError("%s: InstancesDone %r, expected %d"
                             % (what, done, count))
        failed = content.get("FailedCount", 0)
        if failed:
            errors = [f.get("Error", "") for f in content.get("Failed", [])
                      if isinstance(f, dict)]
            if errors and all(bc.STORAGE_RACE in e for e in errors):
                raise RaceError("%s: %d instance(s) failed: %s"
                                % (what, failed, errors[0][:200]))
            raise BenchError("%s: %d instance(s) failed" % (what, failed))

    def download(self, content):
        """The bytes of every archive of a ZIP export's answer."""
        out = []
        for a in content.get("Archives") or []:
            status, _, data = bc.call(self.port, "GET", a.get("Path", "?"))
            if status != 200:
                raise BenchError("GET %s: HTTP %d%s" % (
                    a.get("Path"), status, bc.error_summary(data)))
            if len(data) != a.get("Size"):
                raise BenchError("%s: %d bytes downloaded, Size says %r"
                                 % (a.get("Name"), len(data), a.get("Size")))
            out.append(data)
        if not out:
            raise BenchError("the zip export answered no Archives")
        return out

    def check_zips(self, archives, count, what):
        files = 0
        first = None
        for data in archives:
            try:
                zf = zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile as e:
                raise BenchError("%s: not a valid ZIP: %s" % (what, e))
            for i in zf.infolist():
                if i.is_dir():
                    continue
                files += 1
                if first is None and not i.filename.endswith(
                        (".csv", ".json", "DICOMDIR")):
                    first = zf.read(i)
        if files != count:
            raise BenchError("%s: the archives hold %d files, expected %d"
                             % (what, files, count))
        check_patient_id(first, "%s: an entry" % what)
        bc.empty_folder(self.archive_folder)     # ZipRetention is a day

    def check_scp(self, count, what):
        names = sorted(os.listdir(self.scp.data_dir))
        if len(names) != count:
            raise BenchError("%s: %d files landed in storescp's folder, "
                             "expected %d" % (what, len(names), count))
        with open(os.path.join(self.scp.data_dir, names[0]), "rb") as f:
            check_patient_id(f.read(), "%s: a file storescp received"
                             % what)
        self.scp.clear_data()

    def target(self, kind):
        if kind == "zip":
            t = {"Type": "zip"}
            if self.compression:
                t["Compression"] = self.compression
            return t
        return {"Type": "dicom", "Modality": "scp"}

    def landed(self, kind, content, count, what):
        """Check what the export wrote (outside the time; the ZIP was
        downloaded inside it, see the callers)."""
        if kind == "zip":
            self.check_zips(content, count, what)
        else:
            self.check_scp(count, what)

    # Each op returns (seconds, extra dict); checks and clean-up are outside
    # the time.

    def way_out(self, kind, which="1", download=True):
        sid, count = self.studies[which]
        what = "the way out (%s, %d instances)" % (kind, count)
        before = set(self.all_studies())
        body = {"Resources": [sid], "Anonymize": {"Profile": self.profile},
                "Target": self.target(kind), "Asynchronous": False}
        t0 = time.perf_counter()
        c0 = cpu_seconds(self.pid)
        content = post(self.port, "/anonymizer/export", body, what)
        t_dl = time.perf_counter()
        landed = self.download(content) if kind == "zip" and download \
            else None
        cpu = cpu_seconds(self.pid) - c0
        t = time.perf_counter() - t0
        dl = time.perf_counter() - t_dl
        self.check_done(content, count, what)
        if content.get("Stored") is not False:
            raise BenchError("%s: the answer has no \"Stored\": false (a "
                             "plain export? the plugin may not know "
                             "\"Anonymize\" yet)" % what)
        new = set(self.all_studies()) - before
        if new:
            for s in new:
                self.delete_study(s)
            raise BenchError("%s stored %d new study(ies) in Orthanc"
                             % (what, len(new)))
        if kind == "zip" and not download:
            if not content.get("Archives"):
                raise BenchError("%s answered no Archives" % what)
            bc.empty_folder(self.archive_folder)
        else:
            self.landed(kind, landed, count, what)
        extra = {"cpu": cpu}
        if landed is not None and kind == "zip":
            extra["download"] = dl
        return t, extra

    def two_steps(self, kind):
        sid, count = self.studies["1"]
        what = "anonymize then export (%s)" % kind
        self.only_originals()
        t0 = time.perf_counter()
        c0 = cpu_seconds(self.pid)
        anon = post(self.port, "/anonymizer/anonymize",
                    {"Resources": [{"Level": "Study", "ID": sid}],
                     "Profile": self.profile, "Asynchronous": False},
                    "POST /anonymizer/anonymize")
        t1 = time.perf_counter() - t0
        try:
            new = anon["Studies"][0]["Anonymized"]
        except (KeyError, IndexError, TypeError):
            new = None
        try:
            self.check_done(anon, count, "POST /anonymizer/anonymize")
            if not new:
                raise BenchError("POST /anonymizer/anonymize: no new study "
                                 "in the answer")
            content = post(self.port, "/anonymizer/export",
                           {"Resources": [new], "Target": self.target(kind),
                            "Asynchronous": False},
                           "POST /anonymizer/export of the copy")
            t_dl = time.perf_counter()
            landed = self.download(content) if kind == "zip" else None
            cpu = cpu_seconds(self.pid) - c0
            t = time.perf_counter() - t0
            dl = time.perf_counter() - t_dl
            self.check_done(content, count, what)
            self.landed(kind, landed, count, what)
        finally:
            if new:
                self.delete_study(new)
        extra = {"cpu": cpu, "step1": t1}
        if kind == "zip":
            extra["download"] = dl
        return t, extra

    def orthanc_own(self, kind):
        sid, count = self.studies["1"]
        what = "Orthanc's anonymize then %s" % (
            "archive" if kind == "zip" else "store")
        self.only_originals()
        t0 = time.perf_counter()
        c0 = cpu_seconds(self.pid)
        ans = post(self.port, "/studies/%s/anonymize" % sid, {},
                   "POST /studies/{id}/anonymize")
        t1 = time.perf_counter() - t0
        new = ans.get("ID")
        try:
            if not new:
                raise BenchError("Orthanc's anonymize gave no study ID")
            if kind == "zip":
                status, _, data = bc.call(self.port, "GET",
                                          "/studies/%s/archive" % new)
                if status != 200:
                    raise BenchError("GET /studies/{new}/archive: HTTP %d%s"
                                     % (status, bc.error_summary(data)))
                landed = [data]
            else:
                post(self.port, "/modalities/scp/store",
                     {"Resources": [new]}, "POST /modalities/scp/store")
                landed = None
            cpu = cpu_seconds(self.pid) - c0
            t = time.perf_counter() - t0
            n = len(bc.call_json(self.port, "GET",
                                 "/studies/%s/instances" % new))
            if n != count:
                raise BenchError("Orthanc's anonymize stored %d instances, "
                                 "expected %d" % (n, count))
            if kind == "zip":
                self.check_zips(landed, count, what)
            else:
                self.check_scp(count, what)
        finally:
            if new:
                self.delete_study(new)
        return t, {"cpu": cpu, "step1": t1}

    def cleanup(self):
        """Leave nothing of a failed run for the next operations."""
        try:
            self.only_originals()
            bc.empty_folder(self.archive_folder)
            self.scp.clear_data()
        except (OSError, BenchError, http.client.HTTPException) as e:
            say("clean-up after a failure: %s" % bc.redact(e))


def memory_probe(bench, orthanc, targets, count, count2):
    """Orthanc restarted (same storage and index), then the way out of the
    first study and of the second, per target (ZIP: the job only, no
    download): {(kind, which): PeakRss}.  glibc keeps what a request freed:
    measured after the upload, (b), (c) or a download, a job's memory hides
    in that heap, hence the restart; in that order the second can only
    raise Orthanc's peak if it needs more memory than the first did."""
    orthanc.restart()
    bench.port = orthanc.http_port
    bench.pid = orthanc.process.pid
    say("Orthanc restarted: RSS %.0f MiB"
        % bc.mib(bc.proc_status_kib(bench.pid, "VmRSS")))
    rows = {}
    for kind in targets:
        for which in ("1", "2"):
            with bc.PeakRss(bench.pid) as m:
                bench.way_out(kind, which, download=False)
            rows[(kind, which)] = m
            say("memory probe: the way out (%s, %s) of %d instances: "
                "Orthanc's RSS %.0f MiB before, peak %.0f MiB, +%.0f MiB"
                % (kind, "the job only" if kind == "zip" else "C-STORE",
                   count if which == "1" else count2, bc.mib(m.before),
                   bc.mib(m.peak), bc.mib(m.growth)))
    return rows


def operations(bench, targets, count, count2, baselines_only):
    ops = []
    names = {"zip": "ZIP", "dicom": "C-STORE"}
    for kind in targets:
        n = names[kind]
        if not baselines_only:
            ops.append(("%s (a) way out" % n, kind + "-a",
                        lambda k=kind: bench.way_out(k)))
        ops.append(("%s (b) anonymize, export" % n, kind + "-b",
                    lambda k=kind: bench.two_steps(k)))
        ops.append(("%s (c) Orthanc's own" % n, kind + "-c",
                    lambda k=kind: bench.orthanc_own(k)))
        if count2 and not baselines_only:
            ops.append(("%s (a) way out, %d inst." % (n, count2),
                        kind + "-a2",
                        lambda k=kind: bench.way_out(k, "2")))
    return ops


# ---------------------------------------------------------------------------
# Report

def report(ops, times, extras, errors, targets, count, count2, probe):
    print()
    print("%-34s %8s %8s %9s %9s %9s  %s" % (
        "operation", "seconds", "inst/s", "CPU s", "RSS MiB", "+RSS MiB",
        "runs (s)"))
    med = {}
    for label, key, _ in ops:
        if not times[key]:
            print("%-34s %8s" % (label, "FAILED" if key in errors else "-"))
            continue
        t = med[key] = statistics.median(times[key])
        n = count2 if key.endswith("-a2") else count
        cpu = statistics.median(e["cpu"] for e in extras[key])
        peak = statistics.median(e["rss"][0] for e in extras[key])
        growth = med["rss-" + key] = statistics.median(
            e["rss"][1] for e in extras[key])
        print("%-34s %8.3f %8.1f %9.2f %9.0f %9.0f  %s" % (
            label, t, n / t, cpu, bc.mib(peak), bc.mib(growth),
            " ".join("%.3f" % x for x in times[key])))
        if key in errors:
            print("%-34s (failed in a later round, see below)" % "")
        steps = [e["step1"] for e in extras[key] if "step1" in e]
        if steps:
            s1 = statistics.median(steps)
            print("%-34s %8.3f  anonymization (stored), then %.3f s of "
                  "export" % ("  of which step 1", s1, t - s1))
        downloads = [e["download"] for e in extras[key] if "download" in e]
        if downloads:   # ZIP: Orthanc 1.10.1 answers from one buffer
            print("%-34s %8.3f  GET of the archive(s), after the job"
                  % ("  of which the download", statistics.median(downloads)))
        med["cpu-" + key] = cpu
    print()
    names = {"zip": "ZIP", "dicom": "C-STORE"}
    for kind in targets:
        n = names[kind]
        a, b, c = (med.get(kind + s) for s in ("-a", "-b", "-c"))
        if a and b:
            r = b / a
            print("%s: way out %.2fx faster than anonymize-then-export "
                  "(goal >= %.0f): %s" % (n, r, GOAL_TWO_STEPS,
                                          verdict(r >= GOAL_TWO_STEPS)))
        if a and b and kind == "zip" and med.get("cpu-" + kind + "-a"):
            print("%s: Orthanc's CPU, anonymize-then-export / way out: %.2f "
                  "(what bounds the ratio on a busy or small machine)"
                  % (n, med["cpu-" + kind + "-b"] / med["cpu-" + kind + "-a"]))
        if a and c:
            r = c / a
            print("%s: way out %.2fx faster than Orthanc's anonymize + %s "
                  "(goal >= %.0f): %s" % (n, r, "archive" if kind == "zip"
                                          else "store", GOAL_ORTHANC,
                                          verdict(r >= GOAL_ORTHANC)))
        if b and c:
            print("%s: anonymize-then-export %.2fx faster than Orthanc's "
                  "own" % (n, c / b))
        ga, ga2 = med.get("rss-" + kind + "-a"), med.get("rss-" + kind + "-a2")
        if ga is not None and ga2 is not None:
            print("%s: in the rounds (after other operations: the heap they "
                  "left hides some of it), Orthanc's RSS grew by %.0f MiB "
                  "during the way out of %d instances, by %.0f MiB for %d"
                  % (n, bc.mib(ga), count, bc.mib(ga2), count2))
        m1, m2 = probe.get((kind, "1")), probe.get((kind, "2"))
        if m1 and m2:
            ok = bc.mib(m2.peak - m1.peak) <= MEMORY_SLACK_MIB
            print("%s: the probe (Orthanc restarted%s): the way out of %d "
                  "instances raised Orthanc's RSS by %.0f MiB (peak %.0f "
                  "MiB), then of %d instances by %.0f MiB more (peak %.0f "
                  "MiB; goal: the peak within %d MiB): %s"
                  % (n, ", the job only" if kind == "zip" else "", count,
                     bc.mib(m1.growth), bc.mib(m1.peak), count2,
                     bc.mib(m2.growth), bc.mib(m2.peak), MEMORY_SLACK_MIB,
                     verdict(ok)))
        if not a:
            print("%s: the way out not measured%s" % (
                n, " (failed)" if kind + "-a" in errors else ""))
    print("medians of %d runs; inst/s = instances / s; CPU s: Orthanc's "
          "process; RSS: Orthanc's peak during the operation, +RSS its "
          "growth over the start" % max([len(v) for v in times.values()]
                                         or [0]))
    return med


# ---------------------------------------------------------------------------
# Main

class BackendFailed(Exception):
    """At least one operation failed (its error already printed)."""


def run_bench(args, orthanc, scp, archive_folder, targets, first, second):
    port = orthanc.http_port
    system = bc.call_json(port, "GET", "/system")
    info = bc.call_json(port, "GET", "/anonymizer/info")
    say(bc.machine())
    say(bc.versions(system, info, args))
    studies = {}
    for which, (folder, paths) in (("1", first), ("2", second)):
        if not paths:
            continue
        t0 = time.perf_counter()
        sid = bc.store_study(port, paths, expect=len(studies) + 1)
        studies[which] = (sid, len(paths))
        say("study %s: %d instances, %.1f MB, from %s; stored in %.1f s"
            % (which, len(paths), sum(os.path.getsize(p) for p in paths)
               / 1e6, folder, time.perf_counter() - t0))
    bench = Bench(orthanc, scp, archive_folder, studies, args.profile,
                  args.zip_compression)
    if args.zip_compression:
        say("our ZIPs: \"Compression\": \"%s\"" % args.zip_compression)
    count = studies["1"][1]
    count2 = studies["2"][1] if "2" in studies else 0
    probe = {}
    if count2 and not args.only_baselines:
        say("Orthanc's RSS after storing the studies: %.0f MiB"
            % bc.mib(bc.proc_status_kib(bench.pid, "VmRSS")))
        try:
            probe = memory_probe(bench, orthanc, targets, count, count2)
        except (BenchError, OSError, http.client.HTTPException) as e:
            say("memory probe FAILED: %s: %s" % (type(e).__name__,
                                                 bc.redact(e)))
            bench.cleanup()
    ops = operations(bench, targets, count, count2, args.only_baselines)
    times = {key: [] for _, key, _ in ops}
    extras = {key: [] for _, key, _ in ops}
    errors = {}
    retries = 0
    rss_how = "not measured"
    total = args.warmup + args.repeat
    for r in range(total):
        timed = r >= args.warmup
        t_round = time.perf_counter()
        for label, key, fn in ops:
            if key in errors:
                continue
            t = None
            for attempt in range(3):
                try:
                    with bc.PeakRss(bench.pid) as m:
                        t, extra = fn()
                    extra["rss"] = (m.peak, m.growth)
                    rss_how = m.how
                    break
                except RaceError as e:
                    bench.cleanup()
                    if attempt == 2:
                        errors[key] = "round %d: %s" % (r + 1, bc.redact(e))
                        break
                    retries += 1
                    say("round %d, %s: Orthanc's storage race (%s): run "
                        "again" % (r + 1, label, bc.redact(e)))
                except (BenchError, OSError, http.client.HTTPException) \
                        as e:
                    errors[key] = "round %d: %s: %s" % (
                        r + 1, type(e).__name__, bc.redact(e))
                    break
            if t is None:
                say("round %d, %s FAILED: %s" % (r + 1, label, errors[key]))
                bench.cleanup()
                continue
            if timed:
                times[key].append(t)
                extras[key].append(extra)
            if args.verbose:
                say("round %d/%d%s: %-32s %.3f s, Orthanc CPU %.2f s, RSS "
                    "+%.0f MiB" % (r + 1, total, "" if timed else
                                   " (warm-up)", label, t, extra["cpu"],
                                   bc.mib(extra["rss"][1])))
        say("round %d/%d done in %.1f s%s; load average %s"
            % (r + 1, total, time.perf_counter() - t_round,
               "" if timed else " (warm-up)", bc.load_average()))
    report(ops, times, extras, errors, targets, count, count2, probe)
    say("Orthanc's peak RSS: %s" % rss_how)
    say("load average at the end %s; runs redone after Orthanc's storage "
        "race: %d" % (bc.load_average(), retries))
    if errors:
        print()
        for label, key, _ in ops:
            if key in errors:
                print("FAILED %s: %s" % (label, errors[key]))
        raise BackendFailed()


def main():
    ap = argparse.ArgumentParser(
        description="Anonymizing on the way out (ZIP, C-STORE) against "
                    "anonymize-then-export and Orthanc's own, in a real "
                    "Orthanc.")
    bc.add_arguments(ap)
    ap.add_argument("--count2", type=int, default=1000,
                    help="instances of the second study, for the way out's "
                         "memory against the study's size (default 1000; "
                         "0: none)")
    ap.add_argument("--study-dir2", default=None,
                    help="reuse (or generate into) this folder for the "
                         "--count2 study")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="comma-separated subset of %s (default: both)"
                    % ",".join(ALL_TARGETS))
    ap.add_argument("--profile", default="Default",
                    help="our profile, (a) and (b) (default Default)")
    ap.add_argument("--zip-compression", default=None,
                    choices=["fast", "store", "best"],
                    help="our ZIPs' \"Compression\", (a) and (b) (default: "
                         "the plugin's, fast)")
    ap.add_argument("--only-baselines", action="store_true",
                    help="leave the way out (a) out: (b) and (c) only")
    ap.add_argument("--tmpdir", default=None,
                    help="where the run's folder goes (default: the "
                         "system's temporary folder)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run's folder (Orthanc's, storescp's)")
    ap.add_argument("--verbose", action="store_true",
                    help="print each run as it ends")
    args = ap.parse_args()
    bc.check_arguments(ap, args)
    targets = bc.parse_targets(ap, args.targets, ALL_TARGETS)

    scratch = tempfile.mkdtemp(prefix="oa-bench-wayout-", dir=args.tmpdir)
    os.chmod(scratch, 0o755)
    tempfile.tempdir = scratch
    export_folder = os.path.join(scratch, "exports")
    archive_folder = os.path.join(scratch, "archives")
    os.makedirs(export_folder)
    os.makedirs(archive_folder)
    failed = backend_failed = False
    orthanc = None
    try:
        with contextlib.ExitStack() as stack:
            try:
                first = bc.study_files(args, scratch, say)
                second = (None, None)
                if args.count2:
                    second = bc.study_files(args, scratch, say,
                                            count=args.count2, number=2,
                                            folder=args.study_dir2)
                scp = stack.enter_context(es.StoreScp(aet="WAYOUTSCP"))
                config = {
                    "Anonymizer": {"ExportFolder": export_folder,
                                   "ArchiveFolder": archive_folder},
                    "DicomModalities": {"scp": scp.modality()},
                    "DicomScuTimeout": 60,
                }
                orthanc = Orthanc(plugin=args.plugin, config=config,
                                  orthanc=args.orthanc, keep=args.keep)
                orthanc.start()
                run_bench(args, orthanc, scp, archive_folder, targets,
                          first, second)
            except BackendFailed:
                backend_failed = True
            except (BenchError, OrthancError, es.ServerError, OSError,
                    subprocess.CalledProcessError) as e:
                sys.stderr.write("benchmark-wayout: error: %s\n"
                                 % bc.redact(e))
                failed = True
            finally:
                if orthanc is not None:
                    if failed:
                        orthanc.failed = True
                    orthanc.stop()
            # storescp is stopped here (ExitStack), by PID
    finally:
        bc.end_scratch(scratch, failed or args.keep, say)
    if failed:
        return 2
    return 1 if backend_failed else 0


if __name__ == "__main__":
    sys.exit(main())
