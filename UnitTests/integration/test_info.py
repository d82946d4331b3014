#!/usr/bin/python3
"""Integration test: the plugin loads into a real Orthanc and answers
GET /anonymizer/info; unknown paths give 404 and wrong methods 405.

    /usr/bin/python3 test_info.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc] [--expect-version 0.1.0]

The plugin may also be given as $OA_PLUGIN.  Prints one line per check and
"N passed, M failed"; exits non-zero on any failure.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501

PLUGIN_NAME = "anonymizer"


def main():
    args = standard_arguments(__doc__)

    checks = Checks()
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      verbose=args.verbose)
    with orthanc:
        info = {}
        with checks.check("GET /anonymizer/info answers 200 JSON"):
            status, headers, body = orthanc.request("GET", "/anonymizer/info")
            assert status == 200, "HTTP %d" % status
            ctype = headers.get("content-type", "")
            assert ctype.startswith("application/json"), ctype
            info = json.loads(body)
            assert isinstance(info, dict), "not an object"

        with checks.check("info: Version"):
            assert isinstance(info.get("Version"), str) and info["Version"]
            if args.expect_version:
                assert info["Version"] == args.expect_version, \
                    "%r != %r" % (info["Version"], args.expect_version)

        with checks.check("info: PS315Edition is 2026d"):
            assert info.get("PS315Edition") == "2026d", info.get(
                "PS315Edition")

        with checks.check("info: DictionaryEdition names an edition"):
            edition = info.get("DictionaryEdition")
            assert isinstance(edition, str) and \
                re.fullmatch(r"\d{4}[a-z]", edition), repr(edition)

        with checks.check("info: Profiles are Default, Full, Research"):
            assert info.get("Profiles") == ["Default", "Full", "Research"], \
                info.get("Profiles")

        with checks.check("info: Backends is a list"):
            assert isinstance(info.get("Backends"), list), \
                info.get("Backends")

        with checks.check("unknown /anonymizer/nope gives 404 JSON error"):
            status, headers, body = orthanc.request("GET", "/anonymizer/nope")
            assert status == 404, "HTTP %d" % status
            err = json.loads(body)
            assert isinstance(err.get("Error"), str) and err["Error"], err
            assert isinstance(err.get("Details"), str) and err["Details"], err

        with checks.check("a path below a route gives 404"):
            status, _, _ = orthanc.request("GET", "/anonymizer/info/extra")
            assert status == 404, "HTTP %d" % status

        with checks.check("POST /anonymizer/info gives 405 Allow: GET"):
            status, headers, _ = orthanc.request("POST", "/anonymizer/info",
                                                 body=b"{}")
            assert status == 405, "HTTP %d" % status
            allow = headers.get("allow", "")
            assert allow.split(",") == ["GET"], "Allow: %r" % allow

        with checks.check("DELETE /anonymizer/info gives 405"):
            status, _, _ = orthanc.request("DELETE", "/anonymizer/info")
            assert status == 405, "HTTP %d" % status

        with checks.check("Orthanc's /plugins lists the plugin"):
            plugins = orthanc.get_json("/plugins")
            assert PLUGIN_NAME in plugins, plugins
            about = orthanc.get_json("/plugins/" + PLUGIN_NAME)
            assert about.get("ID") == PLUGIN_NAME, about
            assert about.get("Version") == info.get("Version"), about
            assert about.get("Description"), about

        with checks.check("Orthanc's own API still answers"):
            system = orthanc.get_json("/system")
            assert system.get("Version"), system

        with checks.check("the plugin logged that it loaded, and no error"):
            log = orthanc.log_text()
            assert "anonymizer plugin" in log and "loaded" in log, \
                "no load line in the log"
            errors = [line for line in log.splitlines()
                      if line.startswith("E") and "anonymizer" in line]
            assert not errors, errors[:3]

        if checks.failed:
            orthanc.failed = True

    checks.stopped_cleanly(orthanc)

    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
