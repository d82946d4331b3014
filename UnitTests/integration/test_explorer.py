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

import argparse
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from orthanc_harness import DEFAULT_ORTHANC, Checks, Orthanc  # noqa: E402
from test_lua import make_study  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY_PREFIX = "/behind/a/proxy/"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te",
              "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "host", "content-length"}
# What the plugin's explorer.js holds (Resources/Explorer/explorer.js).
EXPLORER_MARKER = "orthanc-anonymizer.list"


class Proxy:
    """A reverse proxy on loopback: PROXY_PREFIX + path -> Orthanc's path."""

    def __init__(self, orthanc_port):
        target = orthanc_port

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self):
                if not self.path.startswith(PROXY_PREFIX):
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                conn = http.client.HTTPConnection("127.0.0.1", target,
                                                  timeout=60)
                try:
                    conn.request(self.command,
                                 "/" + self.path[len(PROXY_PREFIX):],
                                 body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    self.send_response(r.status, r.reason)
                    for k, v in r.getheaders():
                        if k.lower() not in HOP_BY_HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1],
                                          PROXY_PREFIX)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin", default=os.environ.get("OA_PLUGIN"))
    ap.add_argument("--orthanc", default=DEFAULT_ORTHANC)
    ap.add_argument("--playwright", required=True,
                    help="folder of the playwright-core node module")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--inject-explorer", default=None,
                    help="development only: serve this file as "
                    "../plugins/explorer.js instead of the plugin's")
    ap.add_argument("--expect-version", default=None)   # unused here
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not args.plugin:
        ap.error("--plugin (or $OA_PLUGIN) is required")

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
                with Proxy(orthanc.http_port) as proxy:
                    env = dict(os.environ)
                    env.update({
                        "OA_PLAYWRIGHT": os.path.abspath(args.playwright),
                        "OA_CHROMIUM": args.chromium,
                        "OA_BASE_URL": proxy.url,
                        "OA_API_URL": orthanc.url,
                        "OA_PATIENT": patient,
                        "OA_STUDY": study,
                    })
                    if args.inject_explorer:
                        env["OA_INJECT_EXPLORER"] = \
                            os.path.abspath(args.inject_explorer)
                    started = time.monotonic()
                    try:
                        done = subprocess.run(
                            [args.node, os.path.join(HERE, "test_explorer.js")],
                            env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=180)
                        output = done.stdout.decode("utf-8", "replace")
                        code = done.returncode
                    except subprocess.TimeoutExpired as e:
                        output = (e.stdout or b"").decode("utf-8", "replace")
                        code = "timeout"
                    # Fold the browser's checks into ours.
                    for line in output.splitlines():
                        if line.startswith("PASS "):
                            checks.passed += 1
                            print("PASS browser: " + line[5:])
                        elif line.startswith("FAIL "):
                            checks.failed += 1
                            print("FAIL browser: " + line[5:])
                        elif not line.endswith(" failed"):
                            print("  node: " + line)
                    sys.stdout.flush()
                    with checks.check("the browser test ran to its end (%.0f s)"
                                      % (time.monotonic() - started)):
                        assert " passed, " in output, \
                            "no summary line (node exit status %s)" % code
                        assert code in (0, 1), "node exit status %s" % code

            if checks.failed:
                orthanc.failed = True

        with checks.check("Orthanc stops cleanly (plugin Finalize)"):
            code = orthanc.process.returncode
            assert code == 0, "exit status %s" % code
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
