#!/usr/bin/python3
"""Integration test: load on one Orthanc (issue 12, "Faults and load").

    /usr/bin/python3 test_load.py --plugin build/libOrthancAnonymizer.so

20 anonymization jobs, 5 folder exports and 6 downloads of a ZIP archive
started at once on one Orthanc (UnitTests/lib/oatest/load.py, the same
run as Resources/Scripts/benchmark-load.py, with 20 studies of 10 instances
of 256 x 256 to keep it short): every job ends Success with no failed
instance within 240 s (no deadlock, no stall), every download is a whole
ZIP archive, Orthanc still answers, and its peak RSS (VmHWM) stays under
the bound documented in doc/performance.md (512 MiB).

Prints one line per check, the time and the peak RSS; never a DICOM value.
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402
from oatest.load import LoadRun  # noqa: E402

BOUND_MIB = 512
ANONYMIZATIONS, EXPORTS, DOWNLOADS = 20, 5, 6


def main():
    args = standard_arguments(__doc__.splitlines()[0])
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-test-load-")
    exports = os.path.join(work, "exports")
    os.makedirs(exports)
    config = {"JobsHistorySize": 100,
              "Anonymizer": {"ExportFolder": exports,
                             "ArchiveFolder": os.path.join(work, "zip")}}
    try:
        with Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                     verbose=args.verbose) as orthanc:
            run = LoadRun(orthanc, studies=20, instances=10, rows=256)
            r = None
            with checks.check("20 studies stored, one ZIP archive made"):
                run.prepare()
            with checks.check("%d anonymizations, %d exports and %d ZIP "
                              "downloads at once all end, no failure, no "
                              "stall" % (ANONYMIZATIONS, EXPORTS, DOWNLOADS)):
                r = run.go(ANONYMIZATIONS, EXPORTS, DOWNLOADS)
                print("     note: %.1f s; jobs %s; %d downloads of %.1f MB"
                      % (r["Seconds"], r["States"], r["Downloads"],
                         r["ArchiveBytes"] / 1e6))
                assert not r["Errors"], "; ".join(r["Errors"][:5])
                assert r["Jobs"] == ANONYMIZATIONS + EXPORTS, \
                    "%d jobs" % r["Jobs"]
                assert r["States"] == {"Success": ANONYMIZATIONS + EXPORTS}
                assert r["Downloads"] == DOWNLOADS, \
                    "%d downloads" % r["Downloads"]
                assert r["DownloadedBytes"] == DOWNLOADS * r["ArchiveBytes"]
            with checks.check("Orthanc still answers"):
                assert orthanc.process.poll() is None, "Orthanc exited"
                status, _, _ = orthanc.request("GET", "/system")
                assert status == 200, "HTTP %d" % status
            with checks.check("Orthanc's peak RSS under %d MiB" % BOUND_MIB):
                assert r is not None, "no run"
                print("     note: RSS %.0f MiB before, peak %.0f MiB during "
                      "the load, %.0f MiB since start (VmHWM)" % (
                          r["StartRssMiB"], r["PeakRssDuringLoadMiB"],
                          r["PeakRssMiB"]))
                assert r["PeakRssMiB"] < BOUND_MIB, \
                    "%.0f MiB" % r["PeakRssMiB"]
            if checks.failed:
                orthanc.failed = True
        checks.stopped_cleanly(orthanc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
