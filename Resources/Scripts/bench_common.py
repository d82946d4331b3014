"""What the benchmarks share (not a benchmark itself): their errors, an
HTTP client of Orthanc and the checks of what an export wrote
(benchmark-export.py, benchmark-wayout.py), the command-line options they
have in common, the synthetic study they time, Orthanc's peak memory
during an operation (PeakRss), the lines that describe the machine and the
versions measured, and their private folder's end.

The benchmarks are run as /usr/bin/python3 Resources/Scripts/benchmark-*.py
and put this folder first on sys.path to import it; importing it puts
UnitTests/lib on sys.path too (the test library: oatest.harness,
oatest.servers).

Never prints DICOM values: only counts, paths, versions and times.
"""

import http.client
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TEST_LIB = os.path.join(ROOT, "UnitTests", "lib")
if TEST_LIB not in sys.path:
    sys.path.insert(0, TEST_LIB)

GENERATOR = os.path.join(HERE, "generate-ct-study.py")
STORAGE_RACE = "Unable to create a subdirectory"


class BenchError(RuntimeError):
    pass


class RaceError(BenchError):
    """Orthanc 1.10.1's FilesystemStorage races when two threads create the
    same storage subfolder at once (the second create_directories() finds
    it made and fails with "Unable to create a subdirectory or a file in
    the file storage").  Frequent here because runs start from an emptied
    storage; the run is redone (and the retry reported)."""


def request_error(msg):
    """The error of a request that failed with `msg`: a RaceError when
    Orthanc's storage race caused it, a BenchError otherwise."""
    return (RaceError if STORAGE_RACE in msg else BenchError)(msg)


def request_body(body, ctype=None):
    """(body, headers) of a request: bytes as they are (Content-Type ctype,
    else application/octet-stream), anything else as JSON; no body, no
    header."""
    headers = {}
    if body is not None:
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            ctype = ctype or "application/json"
        headers["Content-Type"] = ctype or "application/octet-stream"
    return body, headers


def sayer(name):
    """say(msg): print "name: msg" at once."""
    def say(msg):
        print(name + ": " + msg, flush=True)
    return say


# ---------------------------------------------------------------------------
# Export paths

HTTP_TIMEOUT = 900

# <ExportName>[.partial]/<Patient>/<Study>/<Series>/<SOP>.dcm: what
# follows the export's own name is made of DICOM values.
EXPORT_PATH_RE = re.compile(
    r"(Anonymizer-\d{8}-\d{6}-[A-Za-z0-9._-]{8}(?:\.partial)?)/[^\s'\"|,;)]*")


def redact(msg):
    return EXPORT_PATH_RE.sub(r"\1/<patient/study/series/file>", str(msg))


# ---------------------------------------------------------------------------
# HTTP (a client of Orthanc)

def error_summary(data):
    """The error fields of an Orthanc or plugin answer (statuses, messages;
    paths below an export's name cut)."""
    try:
        j = json.loads(data)
    except ValueError:
        return (": " + data[:200].decode("utf-8", "replace")) if data else ""
    if not isinstance(j, dict):
        return ""
    parts = [str(j[k]) for k in ("Message", "Error", "Details",
                                 "OrthancError") if k in j]
    return redact(": " + "; ".join(parts)) if parts else ""


def call(port, method, path, body=None, ctype=None):
    """One request on a fresh connection (Orthanc closes idle ones after
    its KeepAliveTimeout): (status, headers dict lower-case, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port,
                                      timeout=HTTP_TIMEOUT)
    try:
        body, headers = request_body(body, ctype)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def call_json(port, method, path, body=None, expect=(200,)):
    status, _, data = call(port, method, path, body)
    if status not in expect:
        raise request_error("%s %s: HTTP %d%s" % (
            method, path, status, error_summary(data)))
    return json.loads(data) if data else None


# ---------------------------------------------------------------------------
# Storing a study

def store_study(port, paths, expect=1):
    """POST every file once (one persistent connection); the study's ID
    (`expect`: the number of studies in Orthanc after the upload)."""
    conn = http.client.HTTPConnection("127.0.0.1", port,
                                      timeout=HTTP_TIMEOUT)
    study = None
    try:
        for p in paths:
            with open(p, "rb") as f:
                data = f.read()
            conn.request("POST", "/instances", body=data,
                         headers={"Content-Type": "application/dicom"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise BenchError("POST /instances: HTTP %d%s"
                                 % (r.status, error_summary(body)))
            study = json.loads(body).get("ParentStudy")
    finally:
        conn.close()
    ids = call_json(port, "GET", "/studies")
    if len(ids) != expect or study not in ids:
        raise BenchError("expected %d studies after the upload, found %d"
                         % (expect, len(ids)))
    n = len(call_json(port, "GET", "/studies/%s/instances" % study))
    if n != len(paths):
        raise BenchError("the stored study has %d instances, expected %d"
                         % (n, len(paths)))
    return study


# ---------------------------------------------------------------------------
# Checks of what landed

def count_files(root, skip_partial=True):
    """Regular files below root (none below a *.partial folder)."""
    n = 0
    for d, dirs, names in os.walk(root):
        if skip_partial:
            dirs[:] = [x for x in dirs if not x.endswith(".partial")]
        n += sum(1 for x in names if os.path.isfile(os.path.join(d, x)))
    return n


def empty_folder(root):
    for n in os.listdir(root):
        p = os.path.join(root, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def zip_entries(data, what):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        return sum(1 for i in zf.infolist() if not i.is_dir())
    except zipfile.BadZipFile as e:
        raise BenchError("%s is not a valid ZIP: %s" % (what, e))


# ---------------------------------------------------------------------------
# The command line

def add_arguments(ap):
    """The options both benchmarks take."""
    ap.add_argument("--plugin", default=os.path.join(
        ROOT, "build", "libOrthancAnonymizer.so"),
        help="the plugin (default build/libOrthancAnonymizer.so)")
    ap.add_argument("--orthanc", default="/usr/sbin/Orthanc",
                    help="Orthanc's executable (default /usr/sbin/Orthanc)")
    ap.add_argument("--count", type=int, default=300,
                    help="instances in the study (default 300)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed rounds; medians are reported (default 3)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed rounds first (default 1)")
    ap.add_argument("--study-dir", default=None,
                    help="reuse (or generate into) this folder")


def check_arguments(ap, args):
    """ap.error() on a wrong value of add_arguments' options."""
    if args.count < 1 or args.repeat < 1 or args.warmup < 0:
        ap.error("--count and --repeat must be >= 1, --warmup >= 0")
    if not os.path.isfile(args.plugin):
        ap.error("no plugin at %s (build it first)" % args.plugin)
    if getattr(args, "count2", 0) < 0:
        ap.error("--count2 must be >= 0")


def parse_targets(ap, text, known):
    """The comma-separated --targets `text` as a list; ap.error() on an
    unknown or empty one."""
    targets = [t for t in text.split(",") if t]
    bad = [t for t in targets if t not in known]
    if bad or not targets:
        ap.error("--targets: unknown %s" % ",".join(bad) if bad
                 else "--targets is empty")
    return targets


# ---------------------------------------------------------------------------
# The study

def study_files(args, scratch, say, count=None, number=1, folder=None):
    """(folder, paths of its `count` .dcm files, sorted): `folder` (default
    --study-dir, else a folder in scratch), into which generate-ct-study.py
    writes study `number` of `count` (default --count) instances when it
    holds no .dcm file."""
    if count is None:
        count = args.count
    if folder is None:
        folder = args.study_dir
    if folder is None:
        folder = os.path.join(scratch, "ct%d" % count
                              + ("" if number == 1 else "-%d" % number))
    os.makedirs(folder, exist_ok=True)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))
    if not names:
        say("generating %d CT instances in %s" % (count, folder))
        subprocess.run([sys.executable, GENERATOR, folder, str(count),
                        str(number)],
                       check=True, stdout=subprocess.DEVNULL)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))
    if len(names) != count:
        raise BenchError("%s holds %d .dcm files, expected %d"
                         % (folder, len(names), count))
    return folder, [os.path.join(folder, n) for n in names]


# ---------------------------------------------------------------------------
# Orthanc's memory

def proc_status_kib(pid, key):
    """A "kB" field of /proc/PID/status (VmRSS, VmHWM), in KiB; 0 when the
    process or the field is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class PeakRss:
    """Peak resident memory of process `pid` during a `with` block:

        with PeakRss(pid) as m:
            ...
        m.before, m.peak (KiB), m.growth (peak - before), m.how

    The kernel's own high-water mark when it can be reset (writing 5 to
    /proc/PID/clear_refs sets VmHWM to the current RSS; Linux >= 4.0, the
    process's owner or root): exact, every page counted.  Otherwise (or as
    well) VmRSS sampled every `interval` seconds by a thread; the larger of
    the two is reported (VmHWM follows the kernel's lazily updated
    high-water mark, so the sampling is kept as well).  `before` is VmRSS when the block starts: what
    the process held already (Orthanc's caches, a heap an earlier request
    left) is not the block's."""

    def __init__(self, pid, interval=0.01):
        self.pid = pid
        self.interval = interval
        self.before = self.peak = self.growth = 0
        self.how = "sampled"
        self._stop = threading.Event()
        self._thread = None
        self._sampled = 0
        self._reset = False

    @staticmethod
    def can_reset(pid):
        """Whether VmHWM of `pid` can be reset (clear_refs writable)."""
        return os.access("/proc/%d/clear_refs" % pid, os.W_OK)

    def _sample(self):
        while not self._stop.is_set():
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss > self._sampled:
                self._sampled = rss
            self._stop.wait(self.interval)

    def __enter__(self):
        try:
            with open("/proc/%d/clear_refs" % self.pid, "w") as f:
                f.write("5")
            self._reset = True
        except OSError:
            self._reset = False
        self.before = self._sampled = proc_status_kib(self.pid, "VmRSS")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        rss = proc_status_kib(self.pid, "VmRSS")
        hwm = proc_status_kib(self.pid, "VmHWM") if self._reset else 0
        self.peak = max(self._sampled, rss, hwm)
        self.how = ("VmHWM reset, VmRSS sampled every %g s" if self._reset
                    else "VmRSS sampled every %g s") % self.interval
        self.growth = max(0, self.peak - self.before)
        return False


def mib(kib):
    return kib / 1024.0


# ---------------------------------------------------------------------------
# Report

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    return " ".join("%.2f" % x for x in os.getloadavg())


def machine():
    """"machine: N cores (nproc), <CPU model>; load average a b c"."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return "machine: %d cores (nproc), %s; load average %s" % (
        cores, cpu_model(), load_average())


def versions(system, info, args):
    """"Orthanc <version> (<executable>), plugin <version> (<file>)", from
    the answers of GET /system and GET /anonymizer/info."""
    return "Orthanc %s (%s), plugin %s (%s)" % (
        system.get("Version"), args.orthanc,
        info.get("Version", "?") if isinstance(info, dict) else "?",
        args.plugin)


def verdict(ok):
    return "met" if ok else "NOT met"


def end_scratch(scratch, keep, say):
    """Remove the run's private folder, or say where it is kept (keep:
    --keep, or an error occurred)."""
    if keep:
        say("kept %s" % scratch)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
