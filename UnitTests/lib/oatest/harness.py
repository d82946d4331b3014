"""Start a real Orthanc with our plugin for integration tests.

Usage (with /usr/bin/python3, which has pydicom; urllib only, no requests):

    from oatest.harness import Orthanc, Checks

    with Orthanc(plugin="build/libOrthancAnonymizer.so") as orthanc:
        status, headers, body = orthanc.request("GET", "/anonymizer/info")
        info = orthanc.get_json("/anonymizer/info")

Each Orthanc runs in its own tempfile.mkdtemp() folder, with its own
configuration, SQLite index and storage, on a free loopback HTTP port and
a free DICOM port, with TCP_NODELAY=1 in its environment (dcmtk leaves
Nagle on otherwise: doc/orthanc-1.10.1.md, pitfall 8).  It
is always stopped by PID at the end (SIGTERM, then SIGKILL after a
timeout), even when the test fails.  Its log is kept in the folder; on a
failure the tail is printed and the folder is left for inspection.

orthanc.restart() stops it (SIGTERM) and starts it again on the same
folder, configuration and ports (a test of what survives a restart:
saved jobs, global properties).

standard_arguments(__doc__) parses the command line every test takes
(--plugin or $OA_PLUGIN, --orthanc, --expect-version, --verbose).

Logs and messages here never print DICOM values (this is an anonymizer's
test suite): only statuses, paths and Orthanc's own log.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The Orthanc under test: Debian 12's, unless OA_TEST_ORTHANC names another
# executable (UnitTests/versions/orthanc-trixie or orthanc-sid run the
# Orthanc of a Debian root, doc/orthanc-versions.md).  OA_TEST_PLUGIN, when
# set, replaces the plugin given on the command line (a build made against
# another SDK).  These two settings pick the version a whole ctest run tests.
DEFAULT_ORTHANC = os.environ.get("OA_TEST_ORTHANC") or "/usr/sbin/Orthanc"


def standard_arguments(doc, extra=None, validate=None):
    """The parsed command line of an integration test: --plugin (default
    $OA_PLUGIN; one of them is required), --orthanc, --expect-version,
    --verbose (what CMake's add_oa_integration_test passes).

    doc:      the test's docstring; its first line describes it in --help.
    extra:    extra(ap) adds the test's own options to the parser.
    validate: validate(args) returns an error message (ap.error: usage,
              exit status 2) or None.
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--plugin", default=os.environ.get("OA_PLUGIN"))
    ap.add_argument("--orthanc", default=DEFAULT_ORTHANC)
    ap.add_argument("--expect-version", default=None)
    ap.add_argument("--verbose", action="store_true")
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    if os.environ.get("OA_TEST_ORTHANC"):
        args.orthanc = os.environ["OA_TEST_ORTHANC"]
    if os.environ.get("OA_TEST_PLUGIN"):
        args.plugin = os.environ["OA_TEST_PLUGIN"]
    if not args.plugin:
        ap.error("--plugin (or $OA_PLUGIN) is required")
    message = validate(args) if validate is not None else None
    if message:
        ap.error(message)
    return args


def wait_for(what, predicate, timeout, poll=0.25):
    """Poll `predicate` until it returns a true value; return that value,
    or raise AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.0f s" % (what, timeout))
        time.sleep(poll)


def anonymization_jobs(orthanc):
    """Orthanc's jobs of type Anonymization (expanded)."""
    return [j for j in orthanc.get_json("/jobs?expand")
            if j.get("Type") == "Anonymization"]


def finished_export_files(folder, count):
    """The files of the first finished export (a folder not ending in
    .partial) in `folder`, once it holds `count` of them; else None."""
    if not os.path.isdir(folder):
        return None
    done = [n for n in os.listdir(folder) if not n.endswith(".partial")]
    if not done:
        return None
    files = [os.path.join(r, f)
             for r, _, fs in os.walk(os.path.join(folder, done[0]))
             for f in fs]
    return files if len(files) == count else None


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancError(RuntimeError):
    pass


class Orthanc:
    """A disposable Orthanc server; a context manager.

    plugin:   path of the plugin's .so file (a file: a folder would load
              every .so in it: doc/orthanc-1.10.1.md, pitfall 9), or None.
    config:   dict merged over the default configuration (top-level keys).
    orthanc:  the Orthanc executable.
    verbose:  start Orthanc with --verbose.
    keep:     keep the folder even on success.
    extra_plugins: other plugin files loaded before ours (e.g. Debian's
              /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so).
    """

    def __init__(self, plugin=None, config=None, orthanc=DEFAULT_ORTHANC,
                 verbose=False, keep=False, start_timeout=60.0,
                 stop_timeout=30.0, extra_plugins=None):
        self.plugin = os.path.abspath(plugin) if plugin else None
        self.extra_plugins = [os.path.abspath(p)
                              for p in (extra_plugins or [])]
        self.extra_config = dict(config or {})
        self.orthanc = orthanc
        self.verbose = verbose
        self.keep = keep
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.folder = None
        self.log_path = None
        self.http_port = None
        self.dicom_port = None
        self.process = None
        self.failed = False
        self.exit_codes = []      # of the Orthancs stopped by terminate()
        self.killed = False       # set by kill() (SIGKILL on purpose)
        self._log_file = None
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))  # never a proxy to loopback

    # -- life cycle ---------------------------------------------------

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def configuration(self):
        """The configuration written to the folder, as a dict."""
        cfg = {
            "Name": "oa-integration",
            "StorageDirectory": os.path.join(self.folder, "storage"),
            "IndexDirectory": os.path.join(self.folder, "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpDescribeErrors": True,
            "Plugins": self.extra_plugins +
                       ([self.plugin] if self.plugin else []),
            "LuaScripts": [],
            "DicomModalities": {},
            "OrthancPeers": {},
            "SaveJobs": False,
            "DeidentifyLogs": True,
        }
        cfg.update(self.extra_config)
        return cfg

    def start(self):
        if self.plugin and not os.path.isfile(self.plugin):
            raise OrthancError("plugin not found: %s" % self.plugin)
        if not os.access(self.orthanc, os.X_OK):
            raise OrthancError("Orthanc not found: %s" % self.orthanc)
        self.folder = tempfile.mkdtemp(prefix="oa-orthanc-")
        self.log_path = os.path.join(self.folder, "orthanc.log")
        # A port taken between free_port() and Orthanc's bind() makes
        # Orthanc exit at once: try again with other ports.
        last_error = None
        for _ in range(3):
            self.http_port = free_port()
            self.dicom_port = free_port()
            while self.dicom_port == self.http_port:
                self.dicom_port = free_port()
            try:
                self._spawn()
                self._wait_ready()
                return self
            except OrthancError as e:
                last_error = e
                self._kill()
                if self.process is not None and \
                        "port" not in self.log_tail(20).lower():
                    break
        self.failed = True
        self.print_log_tail()
        raise last_error

    def start_refused(self):
        """For a configuration Orthanc must refuse: start it; return its
        log once it stopped at start-up (its folder removed: the refusal
        is the expected outcome), or None if it started (then stopped)."""
        try:
            self.start()
        except OrthancError:
            # start() stopped it; stop() would report the refusal as a
            # failure (its status, the log's tail, "folder kept")
            log = self.log_text()
            self.failed = False
            self._kill()
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)
            return log
        self.stop()
        return None

    def terminate(self):
        """Stop the running Orthanc by PID (SIGTERM, then SIGKILL) and keep
        its folder, index and storage for restart(); returns its exit
        status.  A non-zero status marks the test failed."""
        self._kill()
        code = self.process.returncode if self.process else None
        if code not in (None, 0) and not (self.killed and
                                          code == -signal.SIGKILL):
            self.failed = True
            sys.stderr.write("Orthanc exited with status %s\n" % code)
        self.exit_codes.append(code)
        return code

    def restart(self):
        """terminate(), then start Orthanc again on the same folder (same
        configuration, index, storage and saved jobs) and, if they are
        still free, the same ports (other free ones otherwise).  Returns
        the exit status of the Orthanc that was stopped."""
        code = self.terminate()
        last_error = None
        for _ in range(3):
            offset = os.path.getsize(self.log_path) \
                if os.path.exists(self.log_path) else 0
            try:
                self._spawn()
                self._wait_ready()
                return code
            except OrthancError as e:
                last_error = e
                self._kill()
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    new_lines = f.read().decode("utf-8", "replace").lower()
                if "port" not in new_lines:
                    break
                self.http_port = free_port()
                self.dicom_port = free_port()
                while self.dicom_port == self.http_port:
                    self.dicom_port = free_port()
        self.failed = True
        self.print_log_tail()
        raise last_error

    def _spawn(self):
        config_path = os.path.join(self.folder, "orthanc.json")
        with open(config_path, "w") as f:
            json.dump(self.configuration(), f, indent=2)
        env = dict(os.environ)
        env["TCP_NODELAY"] = "1"
        # one OpenMP thread per OCR call (doc/anonymization.md, OCR)
        env["OMP_THREAD_LIMIT"] = "1"
        args = [self.orthanc]
        if self.verbose:
            args.append("--verbose")
        args.append(config_path)
        self._log_file = open(self.log_path, "ab")
        self.killed = False
        self.process = subprocess.Popen(
            args, cwd=self.folder, env=env, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT)

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OrthancError("Orthanc exited with status %d at start"
                                   % self.process.returncode)
            try:
                status, _, _ = self.request("GET", "/system", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise OrthancError("Orthanc did not answer /system within %.0f s"
                           % self.start_timeout)

    def kill(self):
        """SIGKILL the running Orthanc by PID (a crash, for tests of what a
        server that dies mid-job leaves behind); its folder is kept for
        restart().  Expected: it does not mark the test failed."""
        p = self.process
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.killed = True

    def _kill(self):
        """Stop the process by PID: SIGTERM, then SIGKILL."""
        p = self.process
        if p is not None and p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write("Orthanc (pid %d) ignored SIGTERM for %.0f s:"
                                 " SIGKILL\n" % (p.pid, self.stop_timeout))
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self):
        """Stop Orthanc; returns its exit status (None if never started)."""
        self._kill()
        code = self.process.returncode if self.process else None
        if code not in (None, 0) and not (self.killed and
                                          code == -signal.SIGKILL):
            # A crash at shutdown (the plugin's Finalize) is a failure.
            self.failed = True
            sys.stderr.write("Orthanc exited with status %s\n" % code)
        if self.failed:
            self.print_log_tail()
            sys.stderr.write("Orthanc's folder kept: %s\n" % self.folder)
        elif not self.keep and self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        return code

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.stop()
        return False

    # -- the log ------------------------------------------------------

    def log_text(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def print_log_tail(self, lines=40):
        sys.stderr.write("---- last %d lines of %s ----\n%s\n----\n"
                         % (lines, self.log_path, self.log_tail(lines)))

    # -- HTTP ---------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers as a dict with lower-case names, body bytes).

        HTTP errors are answers, not exceptions; network errors raise
        OSError.  `body` may be bytes, str or a JSON-able object.
        """
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        req = urllib.request.Request(self.url + path, data=body,
                                     method=method, headers=headers or {})
        try:
            with self._opener.open(req, timeout=timeout) as r:
                return (r.status, _lower(r.headers), r.read())
        except urllib.error.HTTPError as e:
            with e:
                return (e.code, _lower(e.headers), e.read())

    def get_json(self, path):
        status, _, body = self.request("GET", path)
        if status != 200:
            raise OrthancError("GET %s: HTTP %d" % (path, status))
        return json.loads(body)


def _lower(headers):
    return {k.lower(): v for k, v in headers.items()}


class AuthOrthanc(Orthanc):
    """An Orthanc with HTTP basic authentication on (a peer or a receiver
    that must refuse a wrong password); every request of the test itself
    sends the right credentials."""

    def __init__(self, username, password, **kw):
        config = dict(kw.pop("config", {}))
        config.update({"AuthenticationEnabled": True,
                       "RegisteredUsers": {username: password}})
        super().__init__(config=config, **kw)
        raw = ("%s:%s" % (username, password)).encode()
        self._auth = "Basic " + base64.b64encode(raw).decode()

    def request(self, method, path, body=None, headers=None, timeout=30):
        headers = dict(headers or {})
        headers["Authorization"] = self._auth
        return super().request(method, path, body=body, headers=headers,
                               timeout=timeout)


class Checks:
    """Tiny test runner: named checks, a summary line, an exit status.

        checks = Checks()
        with checks.check("info answers"):
            assert ...
        sys.exit(checks.finish())
    """

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name):
        return _Check(self, name)

    def result(self, name, errors, notes=()):
        """A check decided by a list of error messages (empty: passed),
        each printed under it (15 at most), and notes."""
        errors = list(errors)
        if errors:
            self.failed += 1
            print("FAIL %s" % name)
            for e in errors[:15]:
                print("     %s" % e)
            if len(errors) > 15:
                print("     ... and %d more" % (len(errors) - 15))
        else:
            self.passed += 1
            print("PASS %s" % name)
        for n in notes:
            print("     note: %s" % n)
        sys.stdout.flush()

    def stopped_cleanly(self, orthanc,
                        name="Orthanc stops cleanly (plugin Finalize)"):
        """A check, once `with orthanc:` has ended: Orthanc exited with
        status 0 (a crash in the plugin's Finalize fails it)."""
        code = orthanc.process.returncode
        with self.check(name):
            assert code == 0, "exit status %s" % code

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 0 if self.failed == 0 and self.passed > 0 else 1


class _Check:
    def __init__(self, checks, name):
        self.checks = checks
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.checks.passed += 1
            print("PASS %s" % self.name)
        elif issubclass(exc_type, (AssertionError, OrthancError, OSError,
                                   ValueError, KeyError, TypeError,
                                   IndexError, AttributeError)):
            self.checks.failed += 1
            print("FAIL %s: %s" % (self.name, exc or exc_type.__name__))
        else:
            return False
        sys.stdout.flush()
        return True


# -- REST helpers (Orthanc's own routes and ours) ----------------------


def md5(data):
    return hashlib.md5(data).hexdigest()


def upload(orthanc, data):
    """POST /instances; returns Orthanc's answer (dict)."""
    status, _, body = orthanc.request(
        "POST", "/instances", body=data,
        headers={"Content-Type": "application/dicom"}, timeout=60)
    if status != 200:
        raise AssertionError("POST /instances: HTTP %d" % status)
    return json.loads(body)


def upload_many(orthanc, blobs):
    """Upload every blob; returns the list of Orthanc instance IDs."""
    return [upload(orthanc, b)["ID"] for b in blobs]


def study_id(orthanc, instance_id):
    return orthanc.get_json("/instances/%s/study" % instance_id)["ID"]


def post_json(orthanc, path, obj, timeout=120):
    """(status, decoded JSON or None, raw body)."""
    status, headers, body = orthanc.request("POST", path, body=obj,
                                            timeout=timeout)
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    return status, decoded, body


def wait_job(orthanc, job_id, timeout=120, poll=0.05, on_poll=None):
    """Poll GET /jobs/{id} until Success or Failure; returns the last
    answer.  on_poll(job) is called with every answer."""
    deadline = time.monotonic() + timeout
    while True:
        job = orthanc.get_json("/jobs/%s" % job_id)
        if on_poll is not None:
            on_poll(job)
        if job.get("State") in ("Success", "Failure"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError("job %s still %s after %.0f s"
                                 % (job_id, job.get("State"), timeout))
        time.sleep(poll)


def wait_running(orthanc, job_id, low=1, high=None, timeout=60,
                 poll=0.005):
    """Poll GET /jobs/{id} until the job runs with low <= InstancesDone <
    high (high None: its InstancesTotal, i.e. work left).  Returns
    (job, True) then; (last answer, False) when it ended or went past
    `high` first; raises after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        job = orthanc.get_json("/jobs/%s" % job_id)
        content = job.get("Content") or {}
        done = content.get("InstancesDone", 0)
        top = content.get("InstancesTotal") if high is None else high
        if job.get("State") in ("Success", "Failure") or \
                (top is not None and done >= top):
            return job, False
        if job.get("State") == "Running" and done >= low and \
                (top is None or done < top):
            return job, True
        if time.monotonic() > deadline:
            raise AssertionError("job %s still %s with %d instances done "
                                 "after %.0f s" % (job_id, job.get("State"),
                                                   done, timeout))
        time.sleep(poll)


# Tries of a check that acts in the middle of a job (doc/testing.md).
ATTEMPTS = 3


def job_error_text(job):
    """Everything a failed job says about why (Orthanc's fields and the
    plugin's Content.Error)."""
    content = job.get("Content") or {}
    parts = [content.get("Error"), job.get("ErrorDescription"),
             job.get("ErrorDetails")]
    return " | ".join(str(p) for p in parts if p)


def miss_note(attempt, attempts, what, again="submitted again",
              kind="submission"):
    """Print the note of a try whose job ended (or went past its window)
    before the act in its middle could land: "submitted again", or
    "giving up" after the last of `attempts`."""
    print("     note: %s %d of %d: %s; %s" % (
        kind, attempt, attempts, what,
        again if attempt < attempts else "giving up"))
    sys.stdout.flush()


def submit_until_running(orthanc, submit, low=1, high=None,
                         attempts=ATTEMPTS, again=None, timeout=60):
    """submit() posts an asynchronous job and returns its ID.  Returns
    (id, job) once the job is seen running with low <= InstancesDone <
    high (see wait_running).  The tests run beside others on 2 cores: a
    poller can lose the CPU while a job runs past the window, or a fast
    machine ends it between two looks.  Such a job is cancelled (if it
    still runs), waited for, again() is called (to remove what it stored),
    and it is submitted again, at most `attempts` times in all.  A job that
    ended in Failure is not retried: that is a finding."""
    for attempt in range(1, attempts + 1):
        job_id = submit()
        job, seen = wait_running(orthanc, job_id, low, high, timeout)
        if seen:
            return job_id, job
        if job.get("State") == "Failure":
            raise AssertionError("the job failed before it was seen running "
                                 "(%s)" % job_error_text(job))
        done = (job.get("Content") or {}).get("InstancesDone", 0)
        miss_note(attempt, attempts,
                  "the job was %s with %d instances done, not seen running "
                  "in the window [%d, %s)" % (
                      job.get("State"), done, low,
                      "end" if high is None else high))
        if job.get("State") not in ("Success", "Failure"):
            orthanc.request("POST", "/jobs/%s/cancel" % job_id, body=b"")
            wait_job(orthanc, job_id, timeout=120)
        if again is not None and attempt < attempts:
            again()
    raise AssertionError("the job was not seen running with %d to %s "
                         "instances done (%d submissions)"
                         % (low, "its total" if high is None else high,
                            attempts))


def delete_studies_except(orthanc, keep):
    """DELETE every study but those in `keep`."""
    for sid in studies(orthanc) - set(keep):
        orthanc.request("DELETE", "/studies/%s" % sid)


def studies(orthanc):
    return set(orthanc.get_json("/studies"))


def study_instances(orthanc, sid):
    """[(instance id, SOPInstanceUID)] of a study."""
    return [(i["ID"], i["MainDicomTags"].get("SOPInstanceUID"))
            for i in orthanc.get_json("/studies/%s/instances" % sid)]


def file_of(orthanc, instance_id):
    status, _, body = orthanc.request(
        "GET", "/instances/%s/file" % instance_id, timeout=60)
    if status != 200:
        raise AssertionError("GET /instances/{id}/file: HTTP %d" % status)
    return body


def error_body_ok(body):
    """True when an error answer is {"Error": str, "Details": str}."""
    try:
        err = json.loads(body)
    except ValueError:
        return False
    return (isinstance(err, dict) and isinstance(err.get("Error"), str)
            and err["Error"] != "" and isinstance(err.get("Details"), str)
            and err["Details"] != "")


def details(body):
    try:
        return json.loads(body).get("Details", "")
    except (ValueError, AttributeError):
        return ""



def is_iso_date(s):
    return bool(re.fullmatch(r"\d{8}T\d{6}", s or ""))
