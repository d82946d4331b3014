#!/usr/bin/python3
"""Load on one Orthanc with the plugin: Orthanc's peak RSS (not a test).

    /usr/bin/python3 Resources/Scripts/benchmark-load.py
        [--plugin build/libOrthancAnonymizer.so] [--orthanc /usr/sbin/Orthanc]
        [--studies 20] [--instances 20] [--rows 256]
        [--anonymizations 20] [--exports 5] [--downloads 6]
        [--bound-mib 512] [--verbose]

Issue 12's load: one Orthanc (SQLite index, a temporary folder,
"Anonymizer": {"ExportFolder", "ArchiveFolder"} in it) stores STUDIES
synthetic CT studies of INSTANCES instances of ROWS x ROWS 16-bit
(oatest/dicomgen.py; 20 x 20 x 256 x 256: 52 MB), makes one ZIP archive of
four of them, then starts at once ANONYMIZATIONS anonymization jobs (one
per study, Default and Full in turn), EXPORTS folder exports (two studies
each) and DOWNLOADS downloads of that archive (GET
/anonymizer/exports/{id}/archive.zip, which Orthanc 1.10.1 answers from
one buffer in memory), and waits for all of them (UnitTests/lib/oatest/
load.py).  Prints the time, the jobs' end states, and Orthanc's peak
resident memory: VmHWM of /proc/PID/status (since Orthanc started: the
storing of the studies included) and the peak of VmRSS sampled during the
load, against BOUND_MIB.

Documented bound (doc/performance.md, "Load"): with the defaults, Orthanc's
peak RSS stays under 512 MiB.  Exits 1 if it does not, if a job failed,
stalled (240 s) or an instance failed, or if Orthanc died; 0 otherwise.
integration_load (test_load.py) runs the same with a smaller study set.

Never prints DICOM values.
"""

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_common  # noqa: E402,F401  (puts UnitTests/lib on sys.path)

from oatest.harness import Orthanc  # noqa: E402
from oatest.load import LoadRun  # noqa: E402

BOUND_MIB = 512


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin", default=os.environ.get(
        "OA_PLUGIN", os.path.join(bench_common.ROOT, "build",
                                  "libOrthancAnonymizer.so")))
    ap.add_argument("--orthanc", default="/usr/sbin/Orthanc")
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--anonymizations", type=int, default=20)
    ap.add_argument("--exports", type=int, default=5)
    ap.add_argument("--downloads", type=int, default=6)
    ap.add_argument("--bound-mib", type=float, default=BOUND_MIB)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="oa-bench-load-")
    config = {"JobsHistorySize": 100, "Anonymizer": {
        "ExportFolder": os.path.join(work, "exports"),
        "ArchiveFolder": os.path.join(work, "archives")}}
    os.makedirs(config["Anonymizer"]["ExportFolder"])
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      config=config, verbose=args.verbose)
    try:
        ok = run_load(args, orthanc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def run_load(args, orthanc):
    with orthanc:
        run = LoadRun(orthanc, studies=args.studies,
                      instances=args.instances, rows=args.rows)
        run.prepare()
        r = run.go(args.anonymizations, args.exports, args.downloads)
        print("benchmark-load: %d studies x %d instances of %dx%d; %d "
              "anonymizations, %d exports, %d downloads of a %.1f MB "
              "archive at once" % (
                  args.studies, args.instances, args.rows, args.rows,
                  args.anonymizations, args.exports, args.downloads,
                  r["ArchiveBytes"] / 1e6))
        print("benchmark-load: all ended in %.1f s; jobs %s; %d downloads"
              " (%.1f MB)" % (r["Seconds"], r["States"], r["Downloads"],
                              r["DownloadedBytes"] / 1e6))
        print("benchmark-load: Orthanc RSS %.0f MiB before the load, peak "
              "%.0f MiB during it, peak %.0f MiB since start (VmHWM); bound "
              "%.0f MiB" % (r["StartRssMiB"], r["PeakRssDuringLoadMiB"],
                            r["PeakRssMiB"], args.bound_mib))
        for e in r["Errors"][:15]:
            print("benchmark-load: ERROR %s" % e)
        ok = (not r["Errors"] and r["Alive"] and
              r["PeakRssMiB"] < args.bound_mib)
        if not ok:
            orthanc.failed = True
        print("benchmark-load: %s" % ("within the bound" if ok else "FAILED"))
    return ok


if __name__ == "__main__":
    sys.exit(main())
