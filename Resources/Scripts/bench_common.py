"""What benchmark-plugin.py and benchmark-export.py share (not a benchmark
itself): their errors, the command-line options they have in common, the
synthetic study they time, the lines that describe the machine and the
versions measured, and their private folder's end.

The benchmarks are run as /usr/bin/python3 Resources/Scripts/benchmark-*.py
and put this folder first on sys.path to import it; importing it puts
UnitTests/lib on sys.path too (the test library: oatest.harness,
oatest.servers).

Never prints DICOM values: only counts, paths, versions and times.
"""

import json
import os
import platform
import shutil
import subprocess
import sys

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


# ---------------------------------------------------------------------------
# The study

def study_files(args, scratch, say):
    """(folder, paths of its args.count .dcm files, sorted): --study-dir
    or a folder in scratch, into which generate-ct-study.py writes the
    study when it holds no .dcm file."""
    folder = args.study_dir
    if folder is None:
        folder = os.path.join(scratch, "ct%d" % args.count)
    os.makedirs(folder, exist_ok=True)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))
    if not names:
        say("generating %d CT instances in %s" % (args.count, folder))
        subprocess.run([sys.executable, GENERATOR, folder, str(args.count)],
                       check=True, stdout=subprocess.DEVNULL)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))
    if len(names) != args.count:
        raise BenchError("%s holds %d .dcm files, expected %d (--count)"
                         % (folder, len(names), args.count))
    return folder, [os.path.join(folder, n) for n in names]


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
