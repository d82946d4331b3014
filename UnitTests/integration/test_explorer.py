#!/usr/bin/python3
"""Integration test: the anonymizer's buttons in Orthanc Explorer, clicked
in Debian's headless Chromium (test_explorer.js, with playwright-core).

    /usr/bin/python3 test_explorer.py --plugin build/libOrthancAnonymizer.so \
        --playwright CACHE/node_modules/playwright-core \
        [--orthanc /usr/sbin/Orthanc] [--chromium /usr/bin/chromium]

test_explorer.sh (what ctest runs) installs playwright-core first.  This
script starts Orthanc with the plugin, uploads a small generated study,
checks that Orthanc serves the plugin's explorer.js to Orthanc Explorer,
and puts a reverse proxy at a sub-path in front of Orthanc (so that a URL
that is not relative fails the test); then test_explorer.js opens
Orthanc Explorer through it and clicks the buttons.

Prints one line per check and "N passed, M failed" (never a DICOM value);
exits non-zero on any failure.
"""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest.browser import browser_arguments, run_browser  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501
from oatest.dicomgen import make_study  # noqa: E402

# What the plugin's explorer.js holds (Resources/Explorer/explorer.js).
EXPLORER_MARKER = "orthanc-anonymizer.list"


def main():
    def extra(ap):
        browser_arguments(ap)
        ap.add_argument("--inject-explorer", default=None,
                        help="development only: serve this file as "
                        "../plugins/explorer.js instead of the plugin's")
    args = standard_arguments(
        __doc__, extra,
        lambda a: None if a.playwright else "--playwright is required")

    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-explorer-test-")
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      verbose=args.verbose)
    try:
        with orthanc:
            patient = study = None
            with checks.check("a generated study is uploaded"):
                values = make_study(os.path.join(work, "study"), "delta")
                for path in values["Files"]:
                    with open(path, "rb") as f:
                        status, _, body = orthanc.request(
                            "POST", "/instances", body=f.read(),
                            headers={"Content-Type": "application/dicom"})
                    assert status == 200, "POST /instances: HTTP %d" % status
                answer = json.loads(body)
                patient, study = answer["ParentPatient"], answer["ParentStudy"]

            with checks.check("Orthanc serves the plugin's explorer.js to "
                              "Orthanc Explorer"):
                status, _, body = orthanc.request("GET", "/plugins/explorer.js")
                assert status == 200, "HTTP %d" % status
                assert EXPLORER_MARKER.encode() in body, \
                    "/plugins/explorer.js does not hold the plugin's script"

            if patient and study:
                env = {"OA_PATIENT": patient, "OA_STUDY": study}
                if args.inject_explorer:
                    env["OA_INJECT_EXPLORER"] = \
                        os.path.abspath(args.inject_explorer)
                run_browser(checks, args, orthanc, "test_explorer.js", env,
                            timeout=180)

            if checks.failed:
                orthanc.failed = True

        checks.stopped_cleanly(orthanc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
