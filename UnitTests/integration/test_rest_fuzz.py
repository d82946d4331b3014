#!/usr/bin/python3
"""Integration test: a REST fuzzer over every route of the plugin, against
a running Orthanc (issue 12, "Faults and load").

    /usr/bin/python3 test_rest_fuzz.py --plugin build/libOrthancAnonymizer.so \
        [--requests 2000] [--seconds 150] [--seed 12]

The routes are read from doc/rest-api.md (its `### METHOD /anonymizer/...`
headings, which test_rest_doc checks against the route table), so a new
route is fuzzed as soon as it is documented.  Each request takes a route,
a method (mostly the documented one, sometimes another), placeholders
filled with real IDs, unknown IDs or hostile names (traversal, encoded
slashes, control characters, 5,000 characters), and a body: random JSON,
a valid body mutated (a field removed, of the wrong type, unknown, huge),
huge arrays, deep nesting, invalid JSON or UTF-8, or nothing.

The run is bounded in count and in time (whichever comes first) and
deterministic for a seed.  Checks: every request is answered (no
connection reset, no timeout; a connection closed before the request was
read, as Orthanc's HTTP server does at times on a loaded machine, is
tried once more and must then be answered, and the run prints how many); no answer is a 500 (a 400 or 404 is due;
the only 500s the API documents are a synchronous job that failed, and
the fuzzer never sends a body that can make a job fail); every 4xx of
ours is {"Error", "Details"} (Orthanc's own errors, for a path it
normalizes away from /anonymizer/, cannot decode or parse, are its own);
Orthanc is still running and answering at the end, and the jobs the
fuzzer started all end.

Prints one line per check, the seed, the counts per status, and the first
failing requests (method, route, body kind: never a DICOM value; the
studies are synthetic anyway).
"""

import http.client
import json
import os
import random
import re
import resource
import shutil
import string
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402
from oatest import dicomgen as gen, harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("OA_SOURCE_DIR") or \
    os.path.abspath(os.path.join(HERE, "..", ".."))
REST_DOC = os.path.join(SOURCE_DIR, "doc", "rest-api.md")
METHODS = ("GET", "POST", "PUT", "DELETE")
UNKNOWN_ID = "00000000-00000000-00000000-00000000-00000000"
REQUEST_TIMEOUT = 60
# Orthanc 1.10.1's HTTP server (civetweb) reads a request's head into a buffer of
# 16 KiB: a longer request line is answered "Error 400" and closed.
LINE_MAX = 16384
MAX_BODY = 8 << 20   # the largest body the fuzzer makes (bytes)


def documented_routes():
    """[(method, template)] from the headings of doc/rest-api.md."""
    out = []
    with open(REST_DOC, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^### (GET|POST|PUT|DELETE) (/anonymizer/\S*)",
                         line)
            if m:
                out.append((m.group(1), m.group(2)))
    return out


class Fuzzer:
    def __init__(self, rng, ids):
        self.rng = rng
        self.ids = ids          # {"study": [...], "patient": [...], ...}

    # -- values -------------------------------------------------------

    def random_string(self):
        r = self.rng
        kind = r.randrange(10)
        if kind == 0:
            return ""
        if kind == 1:
            return "x" * r.choice((65, 257, 1025, 70000))
        if kind == 2:
            return "".join(chr(r.randrange(0, 32)) for _ in range(8))
        if kind == 3:
            return r.choice(("../../etc/passwd", "/etc/passwd", "..", ".",
                             "a/../../b", "C:\\\\x", "\\\\server\\x",
                             "%2e%2e%2f", "a\\b", "=cmd|' /C calc'!A0",
                             "ftp://u:p@127.0.0.1/x", "sftp://127.0.0.1:1/",
                             "\u00e9\u4e2d\U0001F600", "\ud800"))
        if kind == 4:
            return r.choice(self.ids["study"] + self.ids["patient"] +
                            [UNKNOWN_ID])
        if kind == 5:
            return r.choice(("Default", "Full", "zip", "folder", "sftp",
                             "ftp", "ftps", "webdav", "dicom", "peer",
                             "destination", "Study", "Patient", "shift",
                             "keep", "remove", "clean", "YES"))
        return "".join(r.choice(string.printable)
                       for _ in range(r.randrange(1, 40)))

    def random_value(self, depth=0):
        r = self.rng
        kind = r.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return r.choice((True, False))
        if kind == 2:
            return r.choice((0, -1, 1, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30,
                             r.randrange(-1000, 1000)))
        if kind == 3:
            return r.choice((0.5, -1e308, 1e308, 1e-320))
        if kind in (4, 5):
            return self.random_string()
        if kind in (6, 7):
            return {self.random_key(): self.random_value(depth + 1)
                    for _ in range(r.randrange(0, 5))}
        return [self.random_value(depth + 1)
                for _ in range(r.randrange(0, 5))]

    def random_key(self):
        return self.rng.choice((
            "Resources", "Level", "ID", "Profile", "Export", "Target", "Type",
            "Folder", "Name", "Url", "Username", "Password", "PrivateKey",
            "HostKey", "Asynchronous", "Priority", "NewPatientName",
            "NewPatientID", "NewStudyDescription", "Base", "Dates",
            "Descriptions", "Modality", "Peer", "Overrides", "Keep",
            "Remove", "PixelRules", "Unknown", "", "a" * 300))

    # -- bodies -------------------------------------------------------

    def templates(self, template):
        """Valid bodies for a route template (a list, maybe empty)."""
        sid = self.rng.choice(self.ids["study"])
        if template == "/anonymizer/anonymize":
            return [{"Resources": [{"Level": "Study", "ID": sid}],
                     "Profile": "Full", "Asynchronous": True},
                    {"Resources": [{"Level": "Patient",
                                    "ID": self.ids["patient"][0],
                                    "NewPatientName": "FUZZ^ONE",
                                    "NewPatientID": "FUZZ1"}],
                     "Profile": {"Base": "Full", "Dates": "shift"},
                     "Priority": 1}]
        if template.endswith("/anonymize"):
            return [{}, {"Profile": "Default", "Asynchronous": True},
                    {"Export": {"Target": {"Type": "zip"}}}]
        if template == "/anonymizer/export":
            return [{"Resources": [sid], "Target": {"Type": "zip"}},
                    {"Resources": [sid], "Target": {"Type": "folder",
                                                    "Folder": "fuzz/a"}}]
        if template.startswith("/anonymizer/profiles/"):
            return [{"Base": "Full", "Dates": "shift",
                     "Descriptions": "keep"},
                    {"Base": "Default"}]
        if template.startswith("/anonymizer/destinations/"):
            return [{"Type": "folder", "Folder": "fuzz/d"},
                    {"Type": "sftp", "Url": "sftp://127.0.0.1:1/in",
                     "Username": "u", "Password": "p",
                     "HostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"
                                "Bad0000000000000000000000000000000000000"},
                    {"Type": "ftp", "Url": "ftp://127.0.0.1:1/in",
                     "Username": "u", "Password": "p"}]
        return []

    def mutate(self, body):
        """A copy of a JSON object with one to three mutations."""
        body = json.loads(json.dumps(body))
        r = self.rng
        huge = False
        for _ in range(r.randrange(1, 4)):
            target = body
            # walk into a nested object or array now and then
            for _ in range(r.randrange(0, 3)):
                children = [v for v in (target.values()
                                        if isinstance(target, dict)
                                        else target)
                            if isinstance(v, (dict, list))] \
                    if isinstance(target, (dict, list)) else []
                if not children:
                    break
                target = r.choice(children)
            if isinstance(target, dict):
                op = r.randrange(4)
                keys = list(target)
                if op == 0 and keys:
                    del target[r.choice(keys)]
                elif op == 1 and keys:
                    target[r.choice(keys)] = self.random_value()
                elif op == 2:
                    target[self.random_key()] = self.random_value()
                elif target is body and not huge:
                    # a huge array, once and at the top only: copies of
                    # one value, so the body stays a few MB at most
                    huge = True
                    target[r.choice(keys or ["Resources"])] = \
                        [r.choice(("x", 1, None, UNKNOWN_ID))] * \
                        r.choice((0, 10001, 50000))
            elif isinstance(target, list):
                if target and r.randrange(2):
                    target[r.randrange(len(target))] = self.random_value()
                else:
                    target.append(self.random_value())
        return body

    def body(self, template):
        """(kind, bytes or None)."""
        r = self.rng
        kind = r.choice(("none", "random", "mutated", "mutated", "mutated",
                         "valid", "huge", "deep", "raw", "wrongtop"))
        valid = self.templates(template)
        if kind in ("mutated", "valid") and not valid:
            kind = "random"
        if kind == "none":
            return kind, None
        if kind == "valid":
            return kind, json.dumps(r.choice(valid)).encode()
        if kind == "mutated":
            data = json.dumps(self.mutate(r.choice(valid))).encode()
            assert len(data) <= MAX_BODY, "fuzzer bug: %d bytes" % len(data)
            return kind, data
        if kind == "random":
            return kind, json.dumps({self.random_key(): self.random_value()
                                     for _ in range(r.randrange(0, 6))}
                                    ).encode()
        if kind == "wrongtop":
            return kind, json.dumps(r.choice(
                ([], [1, 2], "x", 1, None, True, [{"Resources": []}]))
            ).encode()
        if kind == "huge":
            n = r.choice((10001, 100000))
            what = r.choice((self.ids["study"][0], {"Level": "Study",
                                                    "ID": UNKNOWN_ID}, 1))
            key = r.choice(("Resources", "Overrides", "Keep", "Remove",
                            "Profile"))
            return kind, json.dumps({key: [what] * n}).encode()
        if kind == "deep":
            n = r.choice((200, 1001, 5000, 100000))
            if r.randrange(2):
                return kind, ("[" * n + "]" * n).encode()
            return kind, ('{"Profile":' * n + "{}" + "}" * n).encode()
        # raw: not JSON, or JSON with invalid UTF-8 / NULs
        return kind, r.choice((
            b"", b"{", b'{"Resources": [', b"\x00\x01\x02\xff" * 64,
            b'{"Resources": ["\xff\xfe"]}', b'{"Profile": "Full\x00x"}',
            b'{"a":1,"a":2}', b"nul", b"1e999999",
            bytes(r.randrange(256) for _ in range(r.randrange(1, 2000)))))

    # -- paths ----------------------------------------------------------

    def fill(self, template):
        r = self.rng

        def name(_m):
            return quote(r.choice((
                "Default", "Full", "fuzz-%d" % r.randrange(20), "a" * 300,
                "..", "a b", "\u00e9", "x" * 5000, "%00", "a;b", "-",
                UNKNOWN_ID, self.random_string()[:5000])))

        def ident(_m):
            return quote(r.choice(
                self.ids["study"] + self.ids["patient"] +
                self.ids["report"] + self.ids["export"] +
                [UNKNOWN_ID, "x", "..", "a" * 200, self.random_string()]))

        path = template
        path = re.sub(r"\{level\}", lambda m: r.choice(
            ("studies", "patients", "series", "instances", "x")), path)
        path = re.sub(r"\{suffix\}", lambda m: r.choice(
            ("", "-1", "-2", "-0", "-99999999999999999999")), path)
        path = re.sub(r"\{path\}", lambda m: r.choice(
            ("index.html", "app.js", "../../../etc/passwd", "a/../b",
             "x" * 300, "nope.css")), path)
        path = re.sub(r"\{name\}", name, path)
        path = re.sub(r"\{id\}", ident, path)
        return path


def quote(s):
    return urllib.parse.quote(s.encode("utf-8", "surrogatepass"), safe="")


def one_request(conn_factory, method, path, body):
    """(status, body bytes) or raises OSError / http.client errors."""
    conn = conn_factory()
    try:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def orthanc_own_error(body):
    """An error Orthanc answered before the plugin saw the request (a path
    it normalized away from /anonymizer/, e.g. with "..", or could not
    decode): {"HttpError", "HttpStatus", ...} with HttpDescribeErrors; or
    its HTTP server's plain "Error 400: Bad Request" for a request line
    too long to parse."""
    if body.startswith(b"Error 4"):
        return True
    try:
        return "HttpError" in json.loads(body)
    except (ValueError, TypeError):
        return False


def prepare(orthanc):
    """Two studies of one patient, one report and one ZIP export: real IDs
    for the placeholders."""
    study_a = gen.Study(gen.PATIENTS[0], 41)
    study_b = gen.Study(gen.PATIENTS[0], 42)
    blobs = [gen.make_instance(study_a, 1, i + 1, 3) for i in range(3)] + \
        [gen.make_instance(study_b, 1, i + 1, 2) for i in range(2)]
    ids = harness.upload_many(orthanc, blobs)
    sa = harness.study_id(orthanc, ids[0])
    sb = harness.study_id(orthanc, ids[3])
    patient = orthanc.get_json("/studies/%s" % sa)["ParentPatient"]
    status, job, _ = harness.post_json(
        orthanc, "/anonymizer/studies/%s/anonymize" % sb,
        {"Asynchronous": False, "Profile": "Full"})
    assert status == 200, "anonymize: HTTP %d" % status
    report = job["Report"]
    status, exp, _ = harness.post_json(
        orthanc, "/anonymizer/export",
        {"Resources": [sa], "Target": {"Type": "zip"},
         "Asynchronous": False})
    assert status == 200, "export: HTTP %d" % status
    return {"study": [sa, sb], "patient": [patient], "report": [report],
            "export": [exp["Export"]]}


def main():
    def extra(ap):
        ap.add_argument("--requests", type=int, default=2000)
        ap.add_argument("--seconds", type=float, default=150.0)
        ap.add_argument("--seed", type=int,
                        default=int(os.environ.get("OA_FUZZ_SEED", "12")))
    args = standard_arguments(__doc__.splitlines()[0], extra)
    # the machine is shared: a fuzzer bug must not eat its memory
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-rest-fuzz-")
    exports = os.path.join(work, "exports")
    os.makedirs(exports)
    config = {"Anonymizer": {"ExportFolder": exports,
                             "ArchiveFolder": os.path.join(work, "archives")},
              "HttpTimeout": 60}
    routes = documented_routes()
    with checks.check("doc/rest-api.md lists the routes (%d)" % len(routes)):
        assert len(routes) >= 15, "%d routes" % len(routes)

    try:
        return fuzz(args, checks, config, routes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fuzz(args, checks, config, routes):
    with Orthanc(plugin=args.plugin, orthanc=args.orthanc, config=config,
                 verbose=args.verbose) as orthanc:
        ids = None
        with checks.check("real studies, a report and an export to fuzz "
                          "with"):
            ids = prepare(orthanc)
        if ids is None:
            orthanc.failed = True
            return checks.finish()

        rng = random.Random(args.seed)
        fuzzer = Fuzzer(rng, ids)
        port = orthanc.http_port

        def conn_factory():
            return http.client.HTTPConnection("127.0.0.1", port,
                                              timeout=REQUEST_TIMEOUT)

        counts = {}
        bad_500, bad_body, dead = [], [], []
        per_route = {}
        sent = resent = refused_long = 0
        start = time.monotonic()
        while sent < args.requests and \
                time.monotonic() - start < args.seconds:
            method, template = rng.choice(routes)
            if rng.randrange(8) == 0:
                method = rng.choice(METHODS)
            path = fuzzer.fill(template)
            if rng.randrange(20) == 0:
                path += rng.choice(("?x=1", "/", "//", "/extra", "?%ff"))
            kind, body = fuzzer.body(template)
            if method == "GET" and rng.randrange(2):
                kind, body = "none", None
            sent += 1
            per_route[template] = per_route.get(template, 0) + 1
            what = "%s %s (body: %s, %s bytes)" % (
                method, template, kind, len(body) if body else 0)
            try:
                try:
                    status, answer = one_request(conn_factory, method, path,
                                                 body)
                except (BrokenPipeError, ConnectionResetError):
                    if orthanc.process.poll() is not None:
                        raise
                    if len(path) > LINE_MAX:
                        # Orthanc's HTTP server answers a request line
                        # longer than its buffer with "Error 400" and
                        # closes at once; a loaded machine lets the close
                        # come while the client still sends the line:
                        # refused, not lost (the plugin never sees it).
                        refused_long += 1
                        continue
                    # The connection was closed before the request was
                    # read (Orthanc's HTTP server under a loaded machine):
                    # the same request once more on a new connection must
                    # be answered.
                    resent += 1
                    status, answer = one_request(conn_factory, method, path,
                                                 body)
            except (OSError, http.client.HTTPException) as e:
                dead.append("%s: %s" % (what, e.__class__.__name__))
                if orthanc.process.poll() is not None:
                    break
                continue
            counts[status] = counts.get(status, 0) + 1
            if status >= 500 and status != 502:
                bad_500.append("%s -> %d %s" % (
                    what, status, harness.details(answer)[:200]))
            elif 400 <= status < 500 and status != 405 and \
                    not harness.error_body_ok(answer) and \
                    not orthanc_own_error(answer):
                bad_body.append("%s %s -> %d, not {Error, Details}: %r"
                                % (what, path[:100], status, answer[:100]))
        elapsed = time.monotonic() - start

        print("seed %d: %d requests in %.0f s over %d routes; statuses %s"
              % (args.seed, sent, elapsed, len(per_route),
                 ", ".join("%d: %d" % kv for kv in sorted(counts.items()))))
        print("sent again after a connection closed unread: %d; request "
              "lines over %d bytes closed by Orthanc's HTTP server while "
              "being sent: %d" % (resent, LINE_MAX, refused_long))
        checks.result("every documented route was fuzzed",
                      ["%s %s: never" % r for r in routes
                       if r[1] not in per_route])
        checks.result("every request was answered (no reset, no timeout)",
                      dead)
        checks.result("no 500 (a bad request is a 4xx)", bad_500)
        checks.result("every 4xx of ours is {\"Error\", \"Details\"}",
                      bad_body)
        with checks.check("Orthanc still runs and answers afterwards"):
            assert orthanc.process.poll() is None, "Orthanc exited"
            status, _, _ = orthanc.request("GET", "/system")
            assert status == 200, "/system: HTTP %d" % status
            info = orthanc.get_json("/anonymizer/info")
            assert info.get("Version"), "no Version"
            # the jobs the fuzzer started end
            harness.wait_for(
                "the fuzzer's jobs to end",
                lambda: all(j.get("State") in ("Success", "Failure")
                            for j in orthanc.get_json("/jobs?expand")), 120)
        if checks.failed:
            orthanc.failed = True
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
