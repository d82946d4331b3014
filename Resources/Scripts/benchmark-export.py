#!/usr/bin/python3
"""Throughput of the plugin's exports in a real Orthanc (not a test).

    /usr/bin/python3 Resources/Scripts/benchmark-export.py
        [--plugin build/libOrthancAnonymizer.so] [--count 300] [--repeat 3]
        [--warmup 1] [--targets zip,folder,dicom,peer,ftp,ftps,sftp,webdav]
        [--study-dir DIR] [--count2 N [--study-dir2 DIR]]
        [--tmpdir DIR] [--orthanc /usr/sbin/Orthanc]
        [--ftps-tls-max TLSv1.2] [--keep] [--verbose]

Issue 5's benchmark: our ZIP export against Orthanc's own
GET /studies/{id}/archive on the same study, and the throughput of every
other export backend on loopback, in one run.

Starts, on 127.0.0.1 (UnitTests/lib/oatest/servers.py and
oatest/harness.py, TCP_NODELAY=1 in every environment): vsftpd (FTP and
explicit FTPS), OpenSSH sshd (internal-sftp, password log-in), apache2 with
mod_dav_fs (WebDAV over HTTP), dcmtk's storescp, a second Orthanc (the
peer, no plugin) and one Orthanc with the plugin, configured with
  "Anonymizer": {"ExportFolder": <tmp>, "ArchiveFolder": <tmp>,
                 "Destinations": {"ftp", "ftps", "sftp", "webdav"}},
  "DicomModalities": {"scp": storescp}, "OrthancPeers": {"peer": ...}.
Generates a synthetic CT study once (generate-ct-study.py: COUNT instances
of 512x512 16-bit, about 530 KB each; or reuses --study-dir, generating
into it when it holds no .dcm file), stores it once, and measures in
rounds, each operation once per round (interleaved, so that a burst of
load on the machine hits every figure alike), REPEAT rounds after WARMUP
untimed ones; medians are reported:

  Orthanc archive      GET /studies/{id}/archive (synchronous: the whole
                       ZIP in the answer, read to its end);
  ours zip, job        POST /anonymizer/export {"Resources": [id],
                       "Target": {"Type": "zip"}, "Asynchronous": false};
  ours zip, +download  the same, plus GET of every archive in the answer's
                       "Archives", read to its end;
  folder               {"Type": "folder", "Folder": "bench"} (ExportFolder);
  dicom                {"Type": "dicom", "Modality": "scp"} (storescp);
  peer                 {"Type": "peer", "Peer": "peer"} (the second
                       Orthanc; its copy of the study is deleted between
                       rounds);
  ftp, ftps, sftp,     {"Type": "destination", "Name": <name>}: the
  webdav               configured destinations (sftp with a password and
                       the server's HostKeySha256, ftps with its CaFile).
Every export but the ZIP is synchronous ("Asynchronous": false) too.
With --count2 N a second study of N instances (generate-ct-study.py's
study 2, or --study-dir2) is stored as well and one more operation runs in
each round: "ours zip" of that study (to show that the export's memory
does not grow with the study's size), and before the rounds, in the
Orthanc restarted once the studies are stored, a memory probe: our ZIP
job (no download) of the COUNT2 study, then of the COUNT study, each with
Orthanc's RSS before it, its peak and its growth.  glibc keeps what a
request freed, so a figure measured after the upload, a download or
Orthanc's own archive hides a job's memory in that heap: hence the
restart; and in that order the second job can only raise the peak if it
needs more memory than the first did.

Orthanc's peak resident memory is measured during every operation
(bench_common.PeakRss: VmHWM of /proc/PID/status reset before the
operation through /proc/PID/clear_refs, and VmRSS sampled every 10 ms):
the table prints its median peak and its median growth over the RSS when
the operation started (what Orthanc held already, its caches and a heap
an earlier request left, is not the operation's).
vsftpd runs as Debian ships it (TLS 1.3 for FTPS) unless --ftps-tls-max
caps it (e.g. TLSv1.2).

Each run is checked, outside the timing: the job's InstancesDone is COUNT;
the files that landed (ZIP entries, files below the folder or the server's
data folder, storescp's files, the peer's instances) number COUNT; what
landed is removed before the next run (the servers' data folders emptied,
our archives deleted from ArchiveFolder).

seconds: wall-clock time of the HTTP exchanges, as a client sees them;
inst/s = instances / seconds; MB/s = bytes of the original files /
seconds (10^6 bytes).  For the ZIPs the archive's size is shown too.

Targets (reported "met" / "NOT met"):
  ours zip (job + download) <= 1.0 x Orthanc's archive time;
  issue 14: ours zip (job + download, Compression fast) at least 3 times
  faster than Orthanc's archive.  Also measured: "Compression" store and
  best.
Exit status: 0 when every operation ran; 1 if a backend failed (its
exact error is printed, paths below the export's own folder name cut:
they are DICOM values); 2 on any other error (set-up).

The FTP and SFTP servers log a real local account in: they need root
(without root, ftp, ftps and sftp are skipped, and said so).  Needs
Debian's orthanc, vsftpd, openssh-server, apache2, dcmtk,
python3-pydicom, python3-numpy.  Everything of a run (Orthanc's folders,
the servers', the generated study, ExportFolder, ArchiveFolder) lives in
one private folder made in --tmpdir (default: the system's temporary
folder), removed at the end unless --keep is given or an error occurred;
every server is stopped by PID.

Never prints DICOM values: only counts, sizes, times, statuses and error
messages with their DICOM-derived path components cut.
"""

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402
from bench_common import BenchError, RaceError, verdict  # noqa: E402
from oatest import servers as es  # noqa: E402
from oatest.harness import Orthanc, OrthancError  # noqa: E402

TARGET_RATIO = 1.0
# Issue 14: parallel deflate (libdeflate, a worker per core).
SPEEDUP_TARGET = 3.0
ALL_TARGETS = ["zip", "folder", "dicom", "peer", "ftp", "ftps", "sftp",
               "webdav"]
NEEDS_ROOT = ("ftp", "ftps", "sftp")

say = bc.sayer("benchmark-export")


# ---------------------------------------------------------------------------
# The operations

class Bench:
    def __init__(self, orthanc, peer, servers, study, count, folders,
                 study2=None, count2=0):
        self.port = orthanc.http_port
        self.pid = orthanc.process.pid
        self.study2 = study2
        self.count2 = count2
        self.peer = peer
        self.s = servers
        self.study = study
        self.count = count
        self.export_folder, self.archive_folder = folders

    def export(self, target, study=None):
        body = {"Resources": [study or self.study], "Target": target,
                "Asynchronous": False}
        status, _, data = bc.call(self.port, "POST", "/anonymizer/export", body)
        if status != 200:
            raise bc.request_error("POST /anonymizer/export %s: HTTP %d%s" % (
                json.dumps(target), status, bc.error_summary(data)))
        try:
            content = json.loads(data)
        except ValueError:
            raise BenchError("POST /anonymizer/export: not JSON")
        if not isinstance(content, dict):
            raise BenchError("POST /anonymizer/export: not a JSON object")
        return content

    def check_content(self, content, count=None):
        count = count or self.count
        if content.get("Error"):
            raise BenchError("the export says: %s" % bc.redact(content["Error"]))
        done = content.get("InstancesDone")
        if done != count:
            raise BenchError("InstancesDone %r, expected %d"
                             % (done, count))

    def check_landed(self, root, what):
        n = bc.count_files(root)
        if n != self.count:
            raise BenchError("%d files landed in %s, expected %d"
                             % (n, what, self.count))

    # Each op returns (seconds, extra dict); checks and clean-up are
    # outside the time.

    def orthanc_archive(self):
        t0 = time.perf_counter()
        status, headers, data = bc.call(self.port, "GET",
                                     "/studies/%s/archive" % self.study)
        t = time.perf_counter() - t0
        if status != 200:
            raise BenchError("GET /studies/{id}/archive: HTTP %d%s"
                             % (status, bc.error_summary(data)))
        n = bc.zip_entries(data, "Orthanc's archive")
        if n != self.count:
            raise BenchError("Orthanc's archive holds %d files, expected %d"
                             % (n, self.count))
        return t, {"size": len(data)}

    def ours_zip(self, compression=None, second=False):
        study, count = ((self.study2, self.count2) if second
                        else (self.study, self.count))
        t0 = time.perf_counter()
        target = {"Type": "zip"}
        if compression:
            target["Compression"] = compression
        with bc.PeakRss(self.pid) as m:
            content = self.export(target, study)
        t_job = time.perf_counter() - t0
        archives = content.get("Archives") or []
        downloads = []
        for a in archives:
            status, _, data = bc.call(self.port, "GET", a.get("Path", "?"))
            if status != 200:
                raise BenchError("GET %s: HTTP %d%s" % (
                    a.get("Path"), status, bc.error_summary(data)))
            downloads.append((a, data))
        t = time.perf_counter() - t0
        self.check_content(content, count)
        if not archives:
            raise BenchError("the zip export answered no Archives")
        files = size = 0
        for a, data in downloads:
            if len(data) != a.get("Size"):
                raise BenchError("%s: %d bytes downloaded, Size says %r"
                                 % (a.get("Name"), len(data), a.get("Size")))
            files += bc.zip_entries(data, a.get("Name", "an archive"))
            size += len(data)
        if files != count:
            raise BenchError("our archives hold %d files, expected %d"
                             % (files, count))
        bc.empty_folder(self.archive_folder)      # ZipRetention is a day
        return t, {"job": t_job, "size": size, "archives": len(archives),
                   "rss-job": (m.peak, m.growth)}

    def folder(self):
        t0 = time.perf_counter()
        content = self.export({"Type": "folder", "Folder": "bench"})
        t = time.perf_counter() - t0
        self.check_content(content)
        root = os.path.join(self.export_folder, "bench")
        self.check_landed(root, "ExportFolder/bench")
        shutil.rmtree(root)
        return t, {}

    def dicom(self):
        scp = self.s["scp"]
        t0 = time.perf_counter()
        content = self.export({"Type": "dicom", "Modality": "scp"})
        t = time.perf_counter() - t0
        self.check_content(content)
        self.check_landed(scp.data_dir, "storescp's folder")
        scp.clear_data()
        return t, {}

    def peer_clear(self):
        for sid in bc.call_json(self.peer.http_port, "GET", "/studies"):
            bc.call_json(self.peer.http_port, "DELETE", "/studies/%s" % sid)

    def peer_op(self):
        self.peer_clear()
        t0 = time.perf_counter()
        content = self.export({"Type": "peer", "Peer": "peer"})
        t = time.perf_counter() - t0
        self.check_content(content)
        n = len(bc.call_json(self.peer.http_port, "GET", "/instances"))
        self.peer_clear()
        if n != self.count:
            raise BenchError("the peer holds %d instances, expected %d"
                             % (n, self.count))
        return t, {}

    def destination(self, name, server):
        server.clear_data()
        t0 = time.perf_counter()
        content = self.export({"Type": "destination", "Name": name})
        t = time.perf_counter() - t0
        self.check_content(content)
        self.check_landed(server.data_dir, "the %s server's folder" % name)
        server.clear_data()
        return t, {}


def memory_probe(bench, orthanc, nfiles, count2):
    """Orthanc restarted (same storage and index), then our ZIP jobs (no
    download) of the second study and of the first: Orthanc's RSS before
    each, its peak, its growth (KiB), printed."""
    orthanc.restart()
    bench.port = orthanc.http_port
    bench.pid = orthanc.process.pid
    say("Orthanc restarted: RSS %.0f MiB"
        % bc.mib(bc.proc_status_kib(bench.pid, "VmRSS")))
    rows = []
    for second, n in ((True, count2), (False, nfiles)):
        study, count = ((bench.study2, bench.count2) if second
                        else (bench.study, bench.count))
        with bc.PeakRss(bench.pid) as m:
            content = bench.export({"Type": "zip"}, study)
        bench.check_content(content, count)
        bc.empty_folder(bench.archive_folder)
        rows.append((n, m))
    for n, m in rows:
        say("memory probe: our ZIP job of %d instances: Orthanc's RSS "
            "%.0f MiB before, peak %.0f MiB, +%.0f MiB"
            % (n, bc.mib(m.before), bc.mib(m.peak), bc.mib(m.growth)))
    return rows


def operations(bench, targets):
    ops = []
    if "zip" in targets:
        ops.append(("Orthanc /studies/{id}/archive", "orthanc-zip",
                    bench.orthanc_archive))
        ops.append(("ours zip", "zip", bench.ours_zip))
        ops.append(("ours zip, Compression store", "zip-store",
                    lambda: bench.ours_zip("store")))
        ops.append(("ours zip, Compression best", "zip-best",
                    lambda: bench.ours_zip("best")))
        if bench.study2:
            ops.append(("ours zip, the %d-instance study" % bench.count2,
                        "zip-2", lambda: bench.ours_zip(second=True)))
    if "folder" in targets:
        ops.append(("ours folder", "folder", bench.folder))
    if "dicom" in targets:
        ops.append(("ours dicom (storescp)", "dicom", bench.dicom))
    if "peer" in targets:
        ops.append(("ours peer (2nd Orthanc)", "peer", bench.peer_op))
    servers = {"ftp": "ftp", "ftps": "ftp", "sftp": "sftp",
               "webdav": "dav"}
    for name in ("ftp", "ftps", "sftp", "webdav"):
        if name in targets:
            srv = bench.s[servers[name]]
            ops.append(("ours %s" % name, name,
                        (lambda n=name, s=srv: bench.destination(n, s))))
    return ops


# ---------------------------------------------------------------------------
# Report

def package_versions(names):
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"]
                       + names, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return ", ".join(p.stdout.decode().split("\n")[:-1]) or "?"


def report(ops, times, extras, errors, nfiles, nbytes, count2=0,
           nbytes2=0):
    print()
    print("%-34s %8s %8s %7s %9s %9s %9s  %s" % (
        "operation", "seconds", "inst/s", "MB/s", "size MB", "RSS MiB",
        "+RSS MiB", "runs (s)"))
    med = {}
    for label, key, _ in ops:
        if not times[key]:
            print("%-34s %8s  %s" % (label, "FAILED" if key in errors
                                     else "-", "(see below)"
                                     if key in errors else ""))
            continue
        t = med[key] = statistics.median(times[key])
        sizes = [e["size"] for e in extras[key] if "size" in e]
        size = "%9.1f" % (statistics.median(sizes) / 1e6) if sizes else \
            "%9s" % ""
        runs = " ".join("%.3f" % x for x in times[key])
        peaks = [e["rss"] for e in extras[key] if "rss" in e]
        rss = ("%9.0f %9.0f" % (
            bc.mib(statistics.median(p for p, _ in peaks)),
            bc.mib(statistics.median(g for _, g in peaks)))) if peaks \
            else "%9s %9s" % ("", "")
        if peaks:
            med["rss-" + key] = statistics.median(g for _, g in peaks)
        n, b = (count2, nbytes2) if key == "zip-2" else (nfiles, nbytes)
        jobs = [e["rss-job"] for e in extras[key] if "rss-job" in e]
        if jobs:
            med["rss-job-" + key] = statistics.median(g for _, g in jobs)
            med["rss-job-peak-" + key] = statistics.median(
                p for p, _ in jobs)
        if key == "zip":
            jt = statistics.median([e["job"] for e in extras[key]])
            med["zip-job"] = jt
            print("%-34s %8.3f %8.1f %7.1f %9s %9.0f %9.0f  %s" % (
                "ours zip, job only", jt, n / jt, b / jt / 1e6, "",
                bc.mib(med["rss-job-peak-zip"]), bc.mib(med["rss-job-zip"]),
                " ".join("%.3f" % e["job"] for e in extras[key])))
            label = "ours zip, job + download"
        print("%-34s %8.3f %8.1f %7.1f %s %s  %s"
              % (label, t, n / t, b / t / 1e6, size, rss, runs))
        if key in errors:
            print("%-34s (failed in a later round, see below)" % "")
    print()
    if "zip" in med and "orthanc-zip" in med:
        ratio = med["zip"] / med["orthanc-zip"]
        print("ZIP: ours (job + download) / Orthanc's archive time: %.2fx  "
              "(target <= %.2f): %s"
              % (ratio, TARGET_RATIO, verdict(ratio <= TARGET_RATIO)))
        print("ZIP: ours (job only) / Orthanc's archive time: %.2fx"
              % (med["zip-job"] / med["orthanc-zip"]))
        speedup = med["orthanc-zip"] / med["zip"]
        print("ZIP (issue 14): Orthanc's archive time / ours (job + "
              "download, Compression fast, %d cores): %.2fx faster "
              "(target >= %.1f): %s"
              % (os.cpu_count() or 1, speedup, SPEEDUP_TARGET,
                 verdict(speedup >= SPEEDUP_TARGET)))
        for k in ("zip-store", "zip-best"):
            if k in med:
                print("ZIP %s: %.2fx faster than Orthanc's archive"
                      % (k[4:], med["orthanc-zip"] / med[k]))
        so = statistics.median(e["size"] for e in extras["zip"])
        st = statistics.median(e["size"] for e in extras["orthanc-zip"])
        print("ZIP size: ours %.1f MB / Orthanc's %.1f MB = %.2fx (of %.1f "
              "MB of DICOM files)" % (so / 1e6, st / 1e6, so / st,
                                      nbytes / 1e6))
    elif "zip" in [k for _, k, _ in ops]:
        print("ZIP: ratio not measured (an operation failed): NOT met")
    if "rss-job-zip" in med and "rss-job-zip-2" in med:
        print("ZIP memory, the job (its archive written to ArchiveFolder): "
              "Orthanc's RSS grew by %.0f MiB (peak %.0f MiB) for %d "
              "instances, by %.0f MiB (peak %.0f MiB) for %d instances"
              % (bc.mib(med["rss-job-zip"]), bc.mib(med["rss-job-peak-zip"]),
                 nfiles, bc.mib(med["rss-job-zip-2"]),
                 bc.mib(med["rss-job-peak-zip-2"]), count2))
        print("ZIP memory, job + download (Orthanc before 1.12.6 answers "
              "a download from one buffer: it grows with the archive, "
              "ZipMaxSize bounds it): +%.0f MiB for %d instances, +%.0f "
              "MiB for %d; Orthanc's own archive of %d: +%s MiB"
              % (bc.mib(med["rss-zip"]), nfiles, bc.mib(med["rss-zip-2"]),
                 count2, nfiles, "%.0f" % bc.mib(med["rss-orthanc-zip"])
                 if "rss-orthanc-zip" in med else "?"))
    print("medians of %d runs; inst/s = instances / s, MB/s = original "
          "DICOM bytes / s (10^6)"
          % max([len(v) for v in times.values()] or [0]))
    return med


def main():
    ap = argparse.ArgumentParser(
        description="Throughput of the plugin's exports in a real Orthanc: "
                    "our ZIP against Orthanc's archive, and every network "
                    "backend on loopback.")
    bc.add_arguments(ap)
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="comma-separated subset of %s (default: all)"
                    % ",".join(ALL_TARGETS))
    ap.add_argument("--tmpdir", default=None,
                    help="where the run's folder goes (default: the "
                         "system's temporary folder; /dev/shm takes the "
                         "disk out of the figures)")
    ap.add_argument("--ftps-tls-max", default=None, metavar="VERSION",
                    help="cap vsftpd's TLS version, e.g. TLSv1.2 (default: "
                         "as Debian, TLS 1.3; see FtpServer in "
                         "oatest/servers.py)")
    ap.add_argument("--count2", type=int, default=0,
                    help="also store a second study of this many instances "
                         "and time our ZIP of it in each round (memory "
                         "against the study's size); default none")
    ap.add_argument("--study-dir2", default=None,
                    help="reuse (or generate into) this folder for the "
                         "--count2 study")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run's folder (Orthanc's, the servers')")
    ap.add_argument("--verbose", action="store_true",
                    help="print each run as it ends")
    args = ap.parse_args()
    bc.check_arguments(ap, args)
    targets = bc.parse_targets(ap, args.targets, ALL_TARGETS)
    skipped = []
    if os.geteuid() != 0:
        skipped = [t for t in targets if t in NEEDS_ROOT]
        targets = [t for t in targets if t not in NEEDS_ROOT]

    scratch = tempfile.mkdtemp(prefix="oa-bench-export-", dir=args.tmpdir)
    os.chmod(scratch, 0o755)   # the servers' users traverse it
    tempfile.tempdir = scratch
    export_folder = os.path.join(scratch, "exports")
    archive_folder = os.path.join(scratch, "archives")
    os.makedirs(export_folder)
    os.makedirs(archive_folder)
    failed = False
    backend_failed = False
    orthanc = peer = None
    try:
        with contextlib.ExitStack() as stack:
            try:
                folder, paths = bc.study_files(args, scratch, say)
                nbytes = sum(os.path.getsize(p) for p in paths)
                second = None
                if args.count2:
                    second = bc.study_files(args, scratch, say,
                                            count=args.count2, number=2,
                                            folder=args.study_dir2)
                t0 = time.monotonic()
                s = {}
                want = set(targets)
                if want & {"ftp", "ftps"}:
                    s["ftp"] = stack.enter_context(
                        es.FtpServer(tls_max=args.ftps_tls_max))
                if "sftp" in want:
                    s["sftp"] = stack.enter_context(es.SftpServer())
                if "webdav" in want:
                    s["dav"] = stack.enter_context(es.WebDavServer())
                if "dicom" in want:
                    s["scp"] = stack.enter_context(
                        es.StoreScp(aet="EXPORTSCP"))
                dest = {}
                if "ftp" in s:
                    dest["ftp"] = {"Type": "ftp", "Url": s["ftp"].url,
                                   "Username": s["ftp"].username,
                                   "Password": s["ftp"].password}
                    # the Url's scheme must be the Type's
                    dest["ftps"] = dict(dest["ftp"], Type="ftps",
                                        Url="ftps://" + s["ftp"].url[
                                            len("ftp://"):],
                                        CaFile=s["ftp"].ca_file)
                if "sftp" in s:
                    dest["sftp"] = {"Type": "sftp", "Url": s["sftp"].url,
                                    "Username": s["sftp"].username,
                                    "Password": s["sftp"].password,
                                    "HostKeySha256":
                                        s["sftp"].host_key_sha256}
                if "dav" in s:
                    dest["webdav"] = {"Type": "webdav", "Url": s["dav"].url,
                                      "Username": s["dav"].username,
                                      "Password": s["dav"].password}
                config = {
                    "Anonymizer": {"ExportFolder": export_folder,
                                   "ArchiveFolder": archive_folder,
                                   "Destinations": dest},
                    "DicomModalities": {},
                    "OrthancPeers": {},
                    "HttpTimeout": 120,
                    "DicomScuTimeout": 60,
                }
                if "scp" in s:
                    config["DicomModalities"]["scp"] = s["scp"].modality()
                if "peer" in want:
                    peer = Orthanc(orthanc=args.orthanc, keep=args.keep,
                                   config={"Name": "oa-bench-peer"})
                    peer.start()
                    config["OrthancPeers"]["peer"] = {"Url": peer.url + "/"}
                orthanc = Orthanc(plugin=args.plugin, config=config,
                                  orthanc=args.orthanc, keep=args.keep)
                orthanc.start()
                say("servers and Orthanc started in %.1f s"
                    % (time.monotonic() - t0))
                run_bench(args, orthanc, peer, s, targets, skipped, folder,
                          paths, nbytes, (export_folder, archive_folder),
                          second)
            except BackendFailed:
                backend_failed = True
            except (BenchError, OrthancError, es.ServerError, OSError,
                    subprocess.CalledProcessError) as e:
                sys.stderr.write("benchmark-export: error: %s\n"
                                 % bc.redact(e))
                failed = True
            finally:
                for o in (orthanc, peer):
                    if o is not None:
                        if failed:
                            o.failed = True
                        o.stop()
            # the servers are closed here (ExitStack), stopped by PID
    finally:
        bc.end_scratch(scratch, failed or args.keep, say)
    if failed:
        return 2
    return 1 if backend_failed else 0


class BackendFailed(Exception):
    """At least one operation failed (its error already printed)."""


def run_bench(args, orthanc, peer, servers, targets, skipped, folder, paths,
              nbytes, folders, second=None):
    port = orthanc.http_port
    system = bc.call_json(port, "GET", "/system")
    info = bc.call_json(port, "GET", "/anonymizer/info")
    say(bc.machine())
    say(bc.versions(system, info, args))
    say("packages: %s" % package_versions(
        ["orthanc", "vsftpd", "openssh-server", "apache2", "dcmtk",
         "libcurl4", "libssh2-1"]))
    if "ftp" in servers:
        say("vsftpd's TLS (FTPS): %s" % (
            "at most " + args.ftps_tls_max if args.ftps_tls_max
            else "as Debian ships it (TLS 1.3)"))
    if skipped:
        say("skipped (the FTP and SFTP servers need root): %s"
            % ",".join(skipped))
    t0 = time.perf_counter()
    study = bc.store_study(port, paths)
    say("study: %d instances, %d bytes (%.1f MB), from %s; stored in "
        "%.1f s" % (len(paths), nbytes, nbytes / 1e6, folder,
                    time.perf_counter() - t0))
    study2, nbytes2, count2 = None, 0, 0
    if second:
        t0 = time.perf_counter()
        study2 = bc.store_study(port, second[1], expect=2)
        count2 = len(second[1])
        nbytes2 = sum(os.path.getsize(p) for p in second[1])
        say("second study: %d instances, %.1f MB, from %s; stored in %.1f s"
            % (count2, nbytes2 / 1e6, second[0], time.perf_counter() - t0))
    pid = orthanc.process.pid
    bench = Bench(orthanc, peer, servers, study, len(paths), folders,
                  study2, count2)
    probe = []
    if study2 and "zip" in targets:
        say("Orthanc's RSS after storing the studies: %.0f MiB (peak since "
            "start %.0f MiB)" % (bc.mib(bc.proc_status_kib(pid, "VmRSS")),
                                 bc.mib(bc.proc_status_kib(pid, "VmHWM"))))
        probe = memory_probe(bench, orthanc, len(paths), count2)
        pid = bench.pid
    ops = operations(bench, targets)
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
            for attempt in range(3):
                try:
                    with bc.PeakRss(pid) as m:
                        t, extra = fn()
                    extra["rss"] = (m.peak, m.growth)
                    rss_how = "measured"
                    break
                except RaceError as e:
                    if attempt == 2:
                        errors[key] = "round %d: %s" % (r + 1, bc.redact(e))
                        t = None
                        break
                    retries += 1
                    say("round %d, %s: Orthanc's storage race (%s): run "
                        "again" % (r + 1, label, bc.redact(e)))
                except (BenchError, OSError, http.client.HTTPException) \
                        as e:
                    errors[key] = "round %d: %s: %s" % (
                        r + 1, type(e).__name__, bc.redact(e))
                    t = None
                    break
            if t is None:
                say("round %d, %s FAILED: %s" % (r + 1, label, errors[key]))
                cleanup_after_failure(bench, key)
                continue
            if timed:
                times[key].append(t)
                extras[key].append(extra)
            if args.verbose:
                say("round %d/%d%s: %-30s %.3f s%s"
                    % (r + 1, total, "" if timed else " (warm-up)", label, t,
                       " (job %.3f s)" % extra["job"]
                       if "job" in extra else ""))
        say("round %d/%d done in %.1f s%s"
            % (r + 1, total, time.perf_counter() - t_round,
               "" if timed else " (warm-up)"))
    report(ops, times, extras, errors, len(paths), nbytes, count2, nbytes2)
    if len(probe) == 2:
        (n2, m2), (n1, m1) = probe
        print("ZIP memory, the probe (Orthanc restarted, no download): "
              "the job "
              "of %d instances raised Orthanc's RSS by %.0f MiB (peak %.0f "
              "MiB), then the job of %d instances by %.0f MiB more (peak "
              "%.0f MiB)" % (n2, bc.mib(m2.growth), bc.mib(m2.peak), n1,
                             bc.mib(m1.growth), bc.mib(m1.peak)))
    say("Orthanc's peak RSS (RSS MiB: the peak during the operation; "
        "+RSS: its growth over the RSS at the start): the larger of VmHWM "
        "%s and VmRSS sampled every 10 ms" % (
            "reset before each operation" if rss_how != "not measured"
            and bc.PeakRss.can_reset(orthanc.process.pid)
            else "(not resettable here: since start, unused)"))
    say("load average at the end %s; runs redone after Orthanc's storage "
        "race: %d" % (bc.load_average(), retries))
    if errors:
        print()
        for label, key, _ in ops:
            if key in errors:
                print("FAILED %s: %s" % (label, errors[key]))
        raise BackendFailed()


def cleanup_after_failure(bench, key):
    """Leave nothing of a failed run for the next operations."""
    try:
        if key == "zip":
            bc.empty_folder(bench.archive_folder)
        elif key == "folder":
            shutil.rmtree(os.path.join(bench.export_folder, "bench"),
                          ignore_errors=True)
        elif key == "dicom":
            bench.s["scp"].clear_data()
        elif key == "peer":
            bench.peer_clear()
        elif key in ("ftp", "ftps"):
            bench.s["ftp"].clear_data()
        elif key == "sftp":
            bench.s["sftp"].clear_data()
        elif key == "webdav":
            bench.s["dav"].clear_data()
    except (OSError, BenchError) as e:
        say("clean-up after the failure of %s: %s" % (key, bc.redact(e)))


if __name__ == "__main__":
    sys.exit(main())
