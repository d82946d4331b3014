#!/usr/bin/python3
"""Two Orthanc servers on one PostgreSQL index against one (not a test).

    /usr/bin/python3 Resources/Scripts/benchmark-cluster.py
        [--plugin build/libOrthancAnonymizer.so] [--count 150] [--repeat 3]
        [--warmup 1] [--threads N] [--fast-pg] [--tmpdir DIR]
        [--orthanc /usr/sbin/Orthanc]

Starts a local PostgreSQL 15 (UnitTests/lib/oatest/pg.py: as the
postgres user, loopback, a temporary folder; durable settings unless
--fast-pg) and two Orthanc servers A and B with the plugin and Debian's
PostgreSQL index plugin ("Lock": false), one index, one StorageDirectory,
TCP_NODELAY=1.  Two different synthetic CT studies of COUNT instances each
(generate-ct-study.py's 512x512 16-bit slices, about 530 KB; the second
with its own UIDs and patient) are stored once, then each scenario runs
once per round (interleaved, so that a burst of load on the machine hits
every figure alike), REPEAT timed rounds after WARMUP untimed ones:

  one server, one study     A anonymizes study 1 (the reference);
  two servers               A anonymizes study 1 while B anonymizes
                            study 2 (two jobs submitted at once);
  one server, two jobs      A anonymizes both studies, two jobs at once
                            (Orthanc runs two jobs at once: ConcurrentJobs);
  one server, one job       A anonymizes both studies in one job.

A run is timed from the first submission (POST /anonymizer/anonymize,
asynchronous) to the moment every job of the run is seen done
(GET /jobs/{id}, polled every 20 ms); its anonymized studies are deleted
afterwards, outside the timing, so that every run stores new instances.
cpu-s: CPU time of the Orthanc processes and of PostgreSQL (every process
of its cluster) during the run.  The table gives medians; then the ratios
of "one server" times to "two servers".

Orthanc 1.10.1's FilesystemStorage fails a store now and then when two
threads create the same storage subfolder at once ("Unable to create a
subdirectory"): a run with such a failure is done again and counted under
"retries".  The 256 first-level folders are made beforehand to make it rare.

Never prints DICOM values: only counts, times and statuses.
"""

import argparse
import contextlib
import importlib.util
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "UnitTests", "lib"))

from oatest.harness import Orthanc  # noqa: E402
from oatest.pg import PG_INDEX_PLUGIN, PostgresCluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
STORAGE_RACE = "Unable to create a subdirectory"


class BenchError(RuntimeError):
    pass


class RaceError(BenchError):
    pass


def say(msg):
    print("benchmark-cluster: " + msg, flush=True)


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid):
    """PIDs of every descendant of pid (PostgreSQL's backends)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def postgres_cpu(pg):
    """CPU seconds of every process of the PostgreSQL cluster so far
    (including the exited backends' time, counted in their parent's
    cumulative fields)."""
    root = pg.pid()
    if root is None:
        return 0.0
    total = 0.0
    for p in [root] + children(root):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(fields[k]) for k in (11, 12, 13, 14)) / TICK \
                if p == root else (int(fields[11]) + int(fields[12])) / TICK
        except OSError:
            pass
    return total


# ---------------------------------------------------------------------------
# The studies

def load_generator():
    spec = importlib.util.spec_from_file_location(
        "generate_ct_study", os.path.join(HERE, "generate-ct-study.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def make_study(gen, k, count, base):
    """COUNT Part 10 files of study k (its own UIDs and patient)."""
    study, series, frame = gen.uid(1, k), gen.uid(2, k), gen.uid(3, k)
    files = []
    for i in range(1, count + 1):
        ds = gen.make_instance(i, count, base, study, series, frame)
        sop = gen.uid(7, k, i)
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.SOPInstanceUID = sop
        ds.PatientID = "PIDBENCH%04d" % k           # synthetic
        ds.AccessionNumber = "ACCBENCH%04d" % k
        buf = io.BytesIO()
        ds.save_as(buf, write_like_original=False)
        files.append(buf.getvalue())
    return files


def upload(o, files):
    ids = []
    for data in files:
        st, _, body = o.request("POST", "/instances", body=data,
                                headers={"Content-Type": "application/dicom"},
                                timeout=120)
        if st != 200:
            raise BenchError("POST /instances: HTTP %d" % st)
        ids.append(json.loads(body)["ID"])
    sid = o.get_json("/instances/%s/study" % ids[0])["ID"]
    n = len(o.get_json("/studies/%s/instances" % sid))
    if n != len(files):
        raise BenchError("stored study holds %d instances, expected %d"
                         % (n, len(files)))
    return sid


# ---------------------------------------------------------------------------
# Runs

def submit(o, study_ids):
    body = {"Resources": [{"Level": "Study", "ID": s} for s in study_ids],
            "Asynchronous": True}
    st, _, raw = o.request("POST", "/anonymizer/anonymize", body=body)
    if st != 200:
        raise BenchError("POST /anonymizer/anonymize: HTTP %d" % st)
    return json.loads(raw)["ID"]


def wait_all(jobs, timeout=900):
    """jobs: [(orthanc, job id)]; returns their contents once all are
    done; raises RaceError / BenchError on a failed instance or job."""
    pending = dict(enumerate(jobs))
    contents = [None] * len(jobs)
    deadline = time.monotonic() + timeout
    while pending:
        for k, (o, job) in list(pending.items()):
            j = o.get_json("/jobs/%s" % job)
            if j["State"] == "Success":
                contents[k] = j["Content"]
                del pending[k]
            elif j["State"] == "Failure":
                raise BenchError("job failed: %s" % j.get("ErrorDescription"))
        if pending:
            if time.monotonic() > deadline:
                raise BenchError("jobs still running after %d s" % timeout)
            time.sleep(0.02)
    for c in contents:
        errors = [f.get("Error", "") for f in c.get("Failed") or []]
        if errors:
            if all(STORAGE_RACE in e for e in errors):
                raise RaceError("%d instances hit Orthanc's storage race"
                                % len(errors))
            raise BenchError("%d instances failed (first: %s)"
                             % (len(errors), errors[0][:200]))
    return contents


class Cluster:
    def __init__(self, pg, a, b, studies, count):
        self.pg = pg
        self.a = a
        self.b = b
        self.s1, self.s2 = studies
        self.count = count
        self.keep = set(studies)
        self.retries = {}

    def cleanup(self):
        for s in self.a.get_json("/studies"):
            if s not in self.keep:
                st, _, _ = self.a.request("DELETE", "/studies/%s" % s)
                if st != 200:
                    raise BenchError("DELETE /studies: HTTP %d" % st)

    def scenario(self, name):
        a, b, s1, s2 = self.a, self.b, self.s1, self.s2
        if name == "one server, one study":
            return lambda: [(a, submit(a, [s1]))], self.count
        if name == "two servers":
            return lambda: [(a, submit(a, [s1])), (b, submit(b, [s2]))], \
                2 * self.count
        if name == "one server, two jobs":
            return lambda: [(a, submit(a, [s1])), (a, submit(a, [s2]))], \
                2 * self.count
        if name == "one server, one job":
            return lambda: [(a, submit(a, [s1, s2]))], 2 * self.count
        raise KeyError(name)

    def run(self, name):
        """(seconds, instances, Orthanc cpu-s, PostgreSQL cpu-s)."""
        start_jobs, instances = self.scenario(name)
        for attempt in range(4):
            self.cleanup()
            pids = [self.a.process.pid, self.b.process.pid]
            cpu0 = sum(cpu_seconds(p) for p in pids)
            pg0 = postgres_cpu(self.pg)
            t0 = time.perf_counter()
            try:
                contents = wait_all(start_jobs())
            except RaceError:
                self.retries[name] = self.retries.get(name, 0) + 1
                time.sleep(1)
                continue
            t = time.perf_counter() - t0
            cpu = sum(cpu_seconds(p) for p in pids) - cpu0
            pgcpu = postgres_cpu(self.pg) - pg0
            stored = sum(r["Instances"] for c in contents
                         for r in c["Studies"])
            if stored != instances:
                raise BenchError("%s: %d instances stored, expected %d"
                                 % (name, stored, instances))
            return t, instances, cpu, pgcpu
        raise BenchError("%s: Orthanc's storage race four times" % name)


SCENARIOS = ["one server, one study", "two servers",
             "one server, two jobs", "one server, one job"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin",
                    default=os.path.join(ROOT, "build",
                                         "libOrthancAnonymizer.so"))
    ap.add_argument("--orthanc", default="/usr/sbin/Orthanc")
    ap.add_argument("--count", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None,
                    help="the plugin's Threads (default: the plugin's)")
    ap.add_argument("--fast-pg", action="store_true",
                    help="PostgreSQL without fsync (default: durable)")
    ap.add_argument("--tmpdir", default=None,
                    help="where the shared storage goes (default: /tmp)")
    args = ap.parse_args()
    if not os.path.isfile(args.plugin):
        sys.exit("plugin not found: %s (build it, or --plugin)" % args.plugin)
    if not os.path.isfile(PG_INDEX_PLUGIN):
        sys.exit("missing %s: apt-get install orthanc-postgresql"
                 % PG_INDEX_PLUGIN)

    say("generating two studies of %d CT instances (512x512)" % args.count)
    gen = load_generator()
    base = gen.phantom()
    studies = [make_study(gen, k, args.count, base) for k in (1, 2)]
    mb = sum(len(f) for s in studies for f in s) / 2 / 1e6

    section = {}
    if args.threads:
        section["Threads"] = args.threads
    storage = tempfile.mkdtemp(prefix="oa-bench-cluster-", dir=args.tmpdir)
    for i in range(256):
        os.mkdir(os.path.join(storage, "%02x" % i))
    results = {n: [] for n in SCENARIOS}
    try:
        with contextlib.ExitStack() as stack:
            pg = stack.enter_context(PostgresCluster(durable=not args.fast_pg))
            say("PostgreSQL 15 on 127.0.0.1:%d (%s)" % (
                pg.port, "fsync off" if args.fast_pg else "durable"))
            servers = []
            for name in ("bench-a", "bench-b"):
                o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                            extra_plugins=[PG_INDEX_PLUGIN],
                            config={"Name": name, "StorageDirectory": storage,
                                    "PostgreSQL": pg.orthanc_section(),
                                    "Anonymizer": section})
                stack.callback(o.stop)
                o.start()
                servers.append(o)
            a, b = servers
            say("uploading the studies (%d instances each, %.0f MB)"
                % (args.count, mb))
            ids = [upload(a, studies[0]), upload(b, studies[1])]
            cluster = Cluster(pg, a, b, ids, args.count)
            for r in range(args.warmup + args.repeat):
                timed = r >= args.warmup
                for name in SCENARIOS:
                    res = cluster.run(name)
                    if timed:
                        results[name].append(res)
                    say("%s round %d: %-22s %6.2f s"
                        % ("timed" if timed else "warm-up", r + 1, name,
                           res[0]))
            cluster.cleanup()
            report(args, results, cluster.retries, mb)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def report(args, results, retries, mb_per_study):
    print()
    print("Anonymization with the plugin on a PostgreSQL index: %d cores, "
          "%d instances per study (%.0f MB), Threads %s, medians of %d runs"
          % (os.cpu_count(), args.count, mb_per_study,
             args.threads or "= plugin default", args.repeat))
    print()
    print("| scenario | instances | seconds | inst/s | MB/s | Orthanc cpu-s "
          "| PostgreSQL cpu-s | retries |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    med = {}
    for name in SCENARIOS:
        rows = results[name]
        t = statistics.median(x[0] for x in rows)
        n = rows[0][1]
        cpu = statistics.median(x[2] for x in rows)
        pgc = statistics.median(x[3] for x in rows)
        med[name] = t
        print("| %s | %d | %.2f | %.0f | %.1f | %.1f | %.1f | %d |"
              % (name, n, t, n / t, n / args.count * mb_per_study / t, cpu,
                 pgc, retries.get(name, 0)))
    print()
    two = med["two servers"]
    for name in ("one server, two jobs", "one server, one job"):
        print("%s / two servers: %.2f  (two servers %.0f%% %s)"
              % (name, med[name] / two, abs(1 - two / med[name]) * 100,
                 "faster" if two < med[name] else "slower"))
    print("two servers / one server, one study: %.2f  (1.00 = two studies in "
          "the time of one)" % (two / med["one server, one study"]))
    print("load average (1 min) at the end: %.2f on %d cores (other work "
          "on the machine makes every figure slower)"
          % (os.getloadavg()[0], os.cpu_count()))
    print("all runs (s): " + "; ".join(
        "%s: %s" % (n, ", ".join("%.2f" % x[0] for x in results[n]))
        for n in SCENARIOS))


if __name__ == "__main__":
    main()
