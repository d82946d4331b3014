"""What the browser tests (test_explorer.py, test_webapp.py) share: their
command-line options, a reverse proxy at a sub-path in front of Orthanc,
and the run of their node script (test_explorer.js, test_webapp.js, with
browser_common.js) whose PASS/FAIL lines are folded into the Python
test's checks.

    from oatest.browser import Proxy, browser_arguments, run_browser

    args = standard_arguments(__doc__, browser_arguments)
    ...
    results = run_browser(checks, args, orthanc, "test_x.js", {...}, 180)

Never prints a DICOM value: the node scripts compare them, and print only
their checks' names and reasons.
"""

import http.client
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time

from . import REPO

# The browser scripts (test_*.js) are beside the tests that run them.
INTEGRATION = os.path.join(REPO, "UnitTests", "integration")
PROXY_PREFIX = "/behind/a/proxy/"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te",
              "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "host", "content-length"}


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


def browser_arguments(ap):
    """The options of a browser test (an `extra` of standard_arguments):
    --playwright (what test_*.sh installed), --chromium, --node."""
    ap.add_argument("--playwright", default=None,
                    help="folder of the playwright-core node module")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--node", default=shutil.which("node") or "node")


def run_browser(checks, args, orthanc, script, env, timeout):
    """Run the node script `script` (a file next to this one) against
    `orthanc`, seen by the browser through a Proxy; `env` is added to the
    script's environment, after OA_PLAYWRIGHT, OA_CHROMIUM, OA_BASE_URL
    (the proxy) and OA_API_URL (Orthanc itself).

    Folds the script's PASS/FAIL lines into `checks` (printed as
    "PASS browser: ..."), prints its other lines but the summary, and adds
    the check that it ran to its end.  Returns its "RESULT key value"
    lines as a dict."""
    results = {}
    with Proxy(orthanc.http_port) as proxy:
        full = dict(os.environ)
        full.update({
            "OA_PLAYWRIGHT": os.path.abspath(args.playwright),
            "OA_CHROMIUM": args.chromium,
            "OA_BASE_URL": proxy.url,
            "OA_API_URL": orthanc.url,
        })
        full.update(env)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [args.node, os.path.join(INTEGRATION, script)],
                env=full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=timeout)
            output = done.stdout.decode("utf-8", "replace")
            code = done.returncode
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode("utf-8", "replace")
            code = "timeout"
        for line in output.splitlines():
            if line.startswith("PASS "):
                checks.passed += 1
                print("PASS browser: " + line[5:])
            elif line.startswith("FAIL "):
                checks.failed += 1
                print("FAIL browser: " + line[5:])
            elif line.startswith("RESULT "):
                key, _, value = line[7:].partition(" ")
                results[key] = value
            elif not line.endswith(" failed"):
                print("  node: " + line)
        sys.stdout.flush()
        with checks.check("the browser test ran to its end (%.0f s)"
                          % (time.monotonic() - started)):
            assert " passed, " in output, \
                "no summary line (node exit status %s)" % code
            assert code in (0, 1), "node exit status %s" % code
    return results
