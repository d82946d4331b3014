#!/usr/bin/python3
"""Integration test: anonymize on the way out to the remote destinations
(issue 14): FTP, FTPS, SFTP, WebDAV and DICOMweb STOW-RS.

    /usr/bin/python3 test_wayout_servers.py \
        --plugin build/libOrthancAnonymizer.so [--orthanc /usr/sbin/Orthanc]

Real servers on loopback (oatest/servers.py: vsftpd, OpenSSH's sshd,
Apache with mod_dav_fs) and a second Orthanc with Debian's DICOMweb plugin
(orthanc-dicomweb) and basic authentication receive the exports of an
Orthanc with the plugin.  For each destination a way-out (POST
/anonymizer/export with "Anonymize": {"Profile": "Full"}) of a small
generated study is compared with anonymize-then-export of the same study
to the same destination: the same paths (file servers) and the same bytes,
which are those of the anonymized copy Orthanc stored; Orthanc stores
nothing for the way-out; its content says "Stored": false with a
Location; no .partial is left.  Faults:

  - WebDAV over HTTPS (with its CA file) and SFTP with a private key
    instead of a password: as above;
  - a wrong password on each destination: the job fails at once with an
    error that says so, nothing is written;
  - FTPS and WebDAV over HTTPS with a CA file that does not sign the
    server's certificate: the job fails saying so, nothing is written;
  - each server SIGKILLed (with its connections) in the middle of a
    way-out: the job fails after its retries saying the server could not
    be reached, no export under its final name, nothing stored;
  - a cancel in the middle of a folder way-out: the study is slow for a
    real reason (images with Burned In Annotation YES, which Full reads
    with OCR: tens of ms each), so the cancel lands while the job runs:
    the job fails, Orthanc is unchanged, nothing left in the folder;
  - Orthanc's log (and the receiver's) holds no patient value, and no
    password.

Needs root (the FTP/SFTP servers log a local account in), vsftpd,
openssh-server, apache2, orthanc-dicomweb, python3-pydicom, and Tesseract
(tesseract-ocr-eng) for the cancel.  Prints one line per check and
"N passed, M failed"; exits non-zero on any failure.  Never prints a DICOM
value.
"""

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import deid  # noqa: E402
from oatest import dicomgen as gen  # noqa: E402
from oatest import harness  # noqa: E402
from oatest.trees import files_below, same_files  # noqa: E402
from oatest import servers as es  # noqa: E402
from oatest.harness import (AuthOrthanc, Checks, Orthanc,  # noqa: E402
                            post_json, standard_arguments, wait_for)

import pydicom  # noqa: E402

DICOMWEB = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
STOW_PASSWORD = "stow-" + os.urandom(6).hex()
PROFILE = "Full"
SMALL = 8                      # instances of the compared study
SLOW = 120                     # OCR-read instances (a job of seconds)
NAME_RE = re.compile(r"^Anonymizer-\d{8}-\d{6}-[A-Za-z0-9._-]{8}$")
CREDENTIALS_RE = re.compile(
    r"credential|password|refused|denied|authenticat|log ?in|401|"
    r"unauthori[sz]ed|not accepted", re.I)
UNREACHABLE_RE = re.compile(
    r"reach|connect|refused|unavailable|down|timed? ?out|broke", re.I)
REMOTES = ("ftp", "ftps", "sftp", "webdav", "stow")
SECURED = ("webdav-https", "sftp-key")   # success checks too
BAD_CA = ("ftps-badca", "webdav-badca")
CERTIFICATE_RE = re.compile(r"certificat|verif|\bCA\b|TLS|SSL|trust", re.I)


def redact(msg):
    """An error message without URLs and paths (the paths of an export
    are built from DICOM values)."""
    msg = re.sub(r"[a-z]+://[^\s)|]*", "<url>", str(msg))
    return re.sub(r"(/[^\s/)|]+){2,}/?", "<path>", msg)[:300]


error_text = harness.job_error_text


def partials(root):
    """Entries ending in .partial anywhere below root."""
    out = []
    for d, dirs, names in os.walk(root):
        out += [n for n in dirs + names if n.endswith(".partial")]
    return out


def no_final_name(root):
    entries = os.listdir(root) if os.path.isdir(root) else []
    final = [e for e in entries if NAME_RE.match(e)]
    assert not final, "an export under its final name is left"


def by_sop(files):
    """{SOPInstanceUID: bytes} of {path: bytes}."""
    out = {}
    for data in files.values():
        sop = str(pydicom.dcmread(io.BytesIO(data),
                                  stop_before_pixels=True).SOPInstanceUID)
        assert sop not in out, "an instance twice"
        out[sop] = data
    return out


class Run:
    def __init__(self, checks, work, s, receiver):
        self.c = checks
        self.work = work
        self.s = s                      # the file servers by key
        self.receiver = receiver        # the DICOMweb Orthanc
        self.o = None
        self.exports = os.path.join(work, "exports")
        self.archives = os.path.join(work, "archives")
        self.sid = {}
        self.studies = {}
        self.anon = None                # the anonymized copy of "small"
        self.anon_files = {}            # its files {SOPInstanceUID: bytes}
        self.secrets = []

    # -- Orthanc --------------------------------------------------------

    def instances(self):
        return set(self.o.get_json("/instances"))

    def start(self, body):
        body = dict(body)
        body["Asynchronous"] = True
        status, answer, raw = post_json(self.o, "/anonymizer/export", body)
        assert status == 200, "POST /anonymizer/export: HTTP %d %s" % (
            status, redact(raw[:300].decode("utf-8", "replace")))
        return answer["ID"]

    def start_wayout(self, label, target):
        return self.start({"Resources": [self.sid[label]],
                           "Anonymize": {"Profile": PROFILE},
                           "Target": target})

    def wait(self, job_id, timeout=120):
        return harness.wait_job(self.o, job_id, timeout=timeout)

    def no_secret_in(self, raw, what):
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        for s in self.secrets:
            assert s not in raw, "%s holds a password" % what

    # -- what arrived where ----------------------------------------------

    def server_of(self, dest):
        base = dest.split("-")[0]
        return self.s["ftp"] if base.startswith("ftp") else self.s[base]

    def clear(self, dest):
        if dest.startswith("stow"):
            for sid in self.receiver.get_json("/studies"):
                status, _, _ = self.receiver.request("DELETE",
                                                     "/studies/" + sid)
                assert status == 200, "DELETE on the receiver: %d" % status
        else:
            self.server_of(dest).clear_data()

    def arrived(self, dest):
        """What the destination holds: ({key: bytes}, export name or None):
        the paths below the one export folder for a file server, the
        SOPInstanceUIDs for STOW-RS."""
        if dest.startswith("stow"):
            out = {}
            for iid in self.receiver.get_json("/instances"):
                status, _, data = self.receiver.request(
                    "GET", "/instances/%s/file" % iid, timeout=60)
                assert status == 200, "GET file on the receiver: %d" % status
                out[str(pydicom.dcmread(io.BytesIO(data),
                                        stop_before_pixels=True)
                        .SOPInstanceUID)] = data
            return out, None
        root = self.server_of(dest).data_dir
        names = sorted(os.listdir(root))
        assert not partials(root), "a .partial is left"
        assert len(names) == 1, "%d entries in the destination folder" % \
            len(names)
        assert NAME_RE.match(names[0]), "the export folder's name"
        return files_below(os.path.join(root, names[0])), names[0]

    def nothing_arrived(self, dest, also_partial=True):
        if dest.startswith("stow"):
            n = len(self.receiver.get_json("/instances"))
            assert n == 0, "the receiver stored %d instances" % n
            return
        root = self.server_of(dest).data_dir
        no_final_name(root)
        if also_partial:
            assert not partials(root), "a .partial is left"
            assert self.server_of(dest).files() == [], "files were written"


# ----------------------------------------------------------------------


def burned(blob):
    """`blob` with Burned In Annotation YES: an image at risk, which the
    engine reads with OCR before it goes out."""
    ds = pydicom.dcmread(io.BytesIO(blob))
    ds.BurnedInAnnotation = "YES"
    return gen.to_bytes(ds)


def upload_data(run):
    o = run.o
    small = run.studies["small"] = gen.Study(gen.PATIENTS[0], 1,
                                             date="20240211")
    slow = run.studies["slow"] = gen.Study(gen.PATIENTS[1], 1,
                                           date="20230502")
    blobs = {"small": [gen.make_instance(small, 1, i, 5)
                       for i in range(1, 6)] +
             [gen.make_instance(small, 2, i, 3, series_description="CORONAL")
              for i in range(1, 4)],
             "slow": [burned(gen.make_instance(slow, 1, i, SLOW, rows=256,
                                               cols=256))
                      for i in range(1, SLOW + 1)]}
    for label, items in blobs.items():
        ids = harness.upload_many(o, items)
        run.sid[label] = harness.study_id(o, ids[0])
    status, answer, raw = post_json(
        o, "/anonymizer/anonymize",
        {"Resources": [{"Level": "Study", "ID": run.sid["small"]}],
         "Profile": PROFILE, "Asynchronous": False})
    assert status == 200, redact(raw[:300])
    run.anon = answer["Studies"][0]["Anonymized"]
    for iid, sop in harness.study_instances(o, run.anon):
        run.anon_files[sop] = harness.file_of(o, iid)
    assert len(run.anon_files) == SMALL, "%d anonymized" % len(run.anon_files)


def success_checks(run, dest):
    c = run.c
    state = {}
    mark = 0
    with c.check("%s: the way-out succeeds, Orthanc stores nothing, the "
                 "content says Stored false with a Location" % dest):
        run.clear(dest)
        before = run.instances()
        mark = len(run.o.log_text())
        job = run.wait(run.start_wayout("small", {"Type": "destination",
                                                  "Name": dest}))
        assert job["State"] == "Success", redact(error_text(job))
        assert job["Type"] == "Anonymization", job["Type"]
        assert run.instances() == before, "instances were stored"
        content = job["Content"]
        assert content["Stored"] is False, "Stored"
        assert content["Target"] == {"Type": "destination", "Name": dest}, \
            "Target"
        assert content["InstancesDone"] == SMALL, content["InstancesDone"]
        assert content["FailedCount"] == 0, content["FailedCount"]
        assert content["Bytes"] == sum(len(v) for v in
                                       run.anon_files.values()), "Bytes"
        loc = content.get("Location")
        assert isinstance(loc, str) and loc, "no Location"
        run.no_secret_in(job, "the job")
        way, name = run.arrived(dest)
        if name is not None:
            assert loc.rstrip("/").endswith(name), \
                "Location does not end with the export's name"
        else:
            assert loc.startswith("http://127.0.0.1:"), "Location"
        assert len(way) == SMALL, "%d files arrived" % len(way)
        for data in way.values():
            assert not deid.leaked(data, run.studies["small"].identifying()), \
                "an original value in a file"
        state["way"] = way
    with c.check("%s: the same %s and bytes as anonymize-then-export, the "
                 "bytes of the anonymized copy, no retry" %
                 (dest, "instances" if dest == "stow" else "paths")):
        assert "way" in state, "no way-out to compare"
        run.clear(dest)
        job = run.wait(run.start({"Resources": [run.anon],
                                  "Target": {"Type": "destination",
                                             "Name": dest}}))
        assert job["State"] == "Success", redact(error_text(job))
        assert job["Type"] == "Export", job["Type"]
        ref, _ = run.arrived(dest)
        same_files(state["way"], ref, dest)
        retries = [redact(line) for line in
                   run.o.log_text()[mark:].splitlines() if "retrying" in line]
        assert not retries, "a healthy server needed retries: %s" % \
            "; ".join(retries)
        sops = state["way"] if dest == "stow" else by_sop(state["way"])
        same_files(sops, run.anon_files, dest + " against Orthanc's copy")
        run.clear(dest)


def bad_password_checks(run):
    """The jobs run together (each FTP log-in refused costs ~2.7 s)."""
    c = run.c
    before = run.instances()
    mark = len(run.o.log_text())
    t0 = time.monotonic()
    jobs = {}
    for dest in REMOTES:
        run.clear(dest)
    for dest in REMOTES:
        jobs[dest] = run.start_wayout("small", {"Type": "destination",
                                                "Name": dest + "-badpw"})
    results = {d: run.wait(j) for d, j in jobs.items()}
    elapsed = time.monotonic() - t0
    for dest in REMOTES:
        with c.check("%s, a wrong password: the way-out fails saying so, "
                     "nothing written, nothing stored" % dest):
            job = results[dest]
            assert job["State"] == "Failure", job["State"]
            msg = error_text(job)
            assert CREDENTIALS_RE.search(msg), "unclear: %s" % redact(msg)
            assert not deid.leaked(msg.encode(),
                                   run.studies["small"].identifying()), \
                "an original value in the error"
            run.no_secret_in(job, "the job")
            run.nothing_arrived(dest)
    with c.check("wrong passwords fail at once, no retries (%.1f s), "
                 "Orthanc unchanged" % elapsed):
        # The log, not the clock: a retry logs "retrying in N s" (a
        # loaded machine can make refused log-ins slow, not retried).
        retries = [redact(line) for line in
                   run.o.log_text()[mark:].splitlines() if "retrying" in line]
        assert not retries, "a refused password was retried: %s" % \
            "; ".join(retries)
        assert run.instances() == before, "instances were stored"


def bad_ca_checks(run):
    """A server whose certificate the given CA file does not sign."""
    c = run.c
    before = run.instances()
    for dest in BAD_CA:
        run.clear(dest)
    jobs = {d: run.start_wayout("small", {"Type": "destination", "Name": d})
            for d in BAD_CA}
    for dest, job_id in jobs.items():
        with c.check("%s, a certificate the CA file does not sign: the "
                     "way-out fails saying so, nothing written, nothing "
                     "stored" % dest):
            job = run.wait(job_id)
            assert job["State"] == "Failure", job["State"]
            msg = error_text(job)
            assert CERTIFICATE_RE.search(msg), "unclear: %s" % redact(msg)
            assert not deid.leaked(msg.encode(),
                                   run.studies["small"].identifying()), \
                "an original value in the error"
            run.nothing_arrived(dest)
    with c.check("bad certificates: Orthanc unchanged"):
        assert run.instances() == before, "instances were stored"


def cancel_check(run):
    c = run.c
    folder = os.path.join(run.exports, "cancel")
    with c.check("folder: a cancel in the middle of a way-out (%d images "
                 "read by OCR): Orthanc unchanged, nothing in the folder"
                 % SLOW):
        before = run.instances()
        studies = set(run.o.get_json("/studies"))
        job_id = run.start_wayout("slow", {"Type": "folder",
                                           "Folder": "cancel"})

        def writing():
            names = os.listdir(folder) if os.path.isdir(folder) else []
            job = run.o.get_json("/jobs/%s" % job_id)
            if job["State"] in ("Success", "Failure"):
                return job["State"]
            if any(n.endswith(".partial") for n in names) and \
                    job["Content"].get("InstancesDone", 0) >= 2:
                return "writing"
            return None
        seen = wait_for("the way-out to write", writing, 60, poll=0.02)
        assert seen == "writing", "the job ended (%s) before the cancel" \
            % seen
        status, _, _ = run.o.request("POST", "/jobs/%s/cancel" % job_id,
                                     body=b"")
        assert status == 200, "cancel: HTTP %d" % status
        job = run.wait(job_id, timeout=60)
        assert job["State"] == "Failure", "the job %s" % job["State"]
        done = job["Content"]["InstancesDone"]
        assert done < SLOW, "every instance was done"
        assert run.instances() == before, "instances were stored"
        assert set(run.o.get_json("/studies")) == studies, "studies changed"
        left = os.listdir(folder) if os.path.isdir(folder) else []
        assert not left, "%d entries left in the folder" % len(left)
        print("     note: cancelled after %d of %d instances" % (done, SLOW))


def server_down_checks(run):
    """Each server SIGKILLed, with its connections, once its way-out has
    put a few files; the jobs run together (their retries overlap)."""
    c = run.c
    before = run.instances()
    for dest in ("ftp", "sftp", "webdav", "stow"):
        run.clear(dest)
    jobs = {dest: run.start_wayout("slow", {"Type": "destination",
                                            "Name": dest})
            for dest in ("ftp", "sftp", "webdav", "stow")}
    killed = {}
    t0 = time.monotonic()
    while len(killed) < len(jobs) and time.monotonic() - t0 < 90:
        for dest, job_id in jobs.items():
            if dest in killed:
                continue
            job = run.o.get_json("/jobs/%s" % job_id)
            if job["State"] in ("Success", "Failure"):
                killed[dest] = job["State"]
                continue
            if dest == "stow":
                started = len(run.receiver.get_json("/instances")) > 0
            else:
                started = len(run.server_of(dest).files()) >= 2
            if started:
                if dest == "stow":
                    run.receiver.kill()
                else:
                    run.server_of(dest).kill()
                killed[dest] = "Running"
        time.sleep(0.02)
    results = {d: run.wait(j, timeout=120) for d, j in jobs.items()}
    for dest in jobs:
        with c.check("%s SIGKILLed in the middle of a way-out: the job fails "
                     "after its retries, 'could not be reached', no export "
                     "under its final name" % dest):
            assert killed.get(dest) == "Running", \
                "the job was %s when the server was to be killed: make the " \
                "study larger" % killed.get(dest, "never writing")
            job = results[dest]
            assert job["State"] == "Failure", job["State"]
            msg = error_text(job)
            assert UNREACHABLE_RE.search(msg), "unclear: %s" % redact(msg)
            assert job["Content"]["InstancesDone"] < SLOW, \
                "every instance was done"
            if dest != "stow":
                no_final_name(run.server_of(dest).data_dir)
            run.no_secret_in(job, "the job")
    with c.check("servers down: Orthanc stored nothing"):
        assert run.instances() == before, "instances were stored"


def log_checks(run):
    c = run.c
    with c.check("Orthanc's log holds no patient value (names, IDs, ...) "
                 "and no password"):
        log = run.o.log_text()
        for st in run.studies.values():
            assert not deid.leaked(log.encode(), st.identifying()), \
                "an original value in Orthanc's log"
        run.no_secret_in(log, "the log")
    with c.check("the receiver's log holds no patient value"):
        log = run.receiver.log_text().encode()
        for st in run.studies.values():
            assert not deid.leaked(log, st.identifying()), \
                "an original value in the receiver's log"


def destinations(run, receiver):
    ftp, sftp, dav = run.s["ftp"], run.s["sftp"], run.s["webdav"]
    ftps_url = "ftps://" + ftp.url[len("ftp://"):]
    d = {
        "ftp": {"Type": "ftp", "Url": ftp.url, "Username": ftp.username,
                "Password": ftp.password},
        "ftps": {"Type": "ftps", "Url": ftps_url, "Username": ftp.username,
                 "Password": ftp.password, "CaFile": ftp.ca_file},
        "sftp": {"Type": "sftp", "Url": sftp.url, "Username": sftp.username,
                 "Password": sftp.password,
                 "HostKeySha256": sftp.host_key_sha256},
        "webdav": {"Type": "webdav", "Url": dav.url,
                   "Username": dav.username, "Password": dav.password},
        "stow": {"Type": "stow", "Url": receiver.url + "/dicom-web",
                 "Username": "oa", "Password": STOW_PASSWORD},
    }
    for name in list(d):
        bad = dict(d[name])
        bad["Password"] = "wrong-pw-%s" % name
        d[name + "-badpw"] = bad
    # TLS and keys on the way out: WebDAV over HTTPS with its CA, SFTP
    # with a key and no password; each server's CA file is the wrong one
    # for the other
    d["webdav-https"] = {"Type": "webdav", "Url": dav.https_url,
                         "Username": dav.username, "Password": dav.password,
                         "CaFile": dav.ca_file}
    d["sftp-key"] = {"Type": "sftp", "Url": sftp.url,
                     "Username": sftp.username,
                     "PrivateKey": sftp.private_key,
                     "HostKeySha256": sftp.host_key_sha256}
    d["ftps-badca"] = dict(d["ftps"], CaFile=dav.ca_file)
    d["webdav-badca"] = dict(d["webdav-https"], CaFile=ftp.ca_file)
    for v in d.values():
        v["Timeout"] = 5
    run.secrets += [ftp.password, sftp.password, dav.password, STOW_PASSWORD,
                    sftp.private_key.strip().splitlines()[1]]
    return d


def main():
    args = standard_arguments(__doc__)
    checks = Checks()
    with checks.check("runs as root, with orthanc-dicomweb"):
        assert os.geteuid() == 0, "not root (local accounts for FTP/SFTP)"
        assert os.path.isfile(DICOMWEB), "%s missing (apt-get install " \
            "orthanc-dicomweb)" % DICOMWEB
    if checks.failed:
        return checks.finish()
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="oa-test-wayout-servers-")
    os.chmod(work, 0o755)
    o = None
    try:
        with contextlib.ExitStack() as stack:
            s = {"ftp": stack.enter_context(es.FtpServer()),
                 "sftp": stack.enter_context(es.SftpServer()),
                 "webdav": stack.enter_context(es.WebDavServer())}
            receiver = stack.enter_context(AuthOrthanc(
                "oa", STOW_PASSWORD, orthanc=args.orthanc,
                extra_plugins=[DICOMWEB], verbose=args.verbose,
                config={"Name": "oa-wayout-receiver",
                        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}))
            run = Run(checks, work, s, receiver)
            os.makedirs(run.exports)
            os.makedirs(run.archives, mode=0o700)
            config = {"Anonymizer": {"ExportFolder": run.exports,
                                     "ArchiveFolder": run.archives,
                                     "Destinations": destinations(
                                         run, receiver)},
                      "ConcurrentJobs": 8,
                      "HttpTimeout": 10}
            o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                        config=config, verbose=args.verbose)
            with o:
                run.o = o
                with checks.check("studies uploaded, the small one "
                                  "anonymized (%s)" % PROFILE):
                    upload_data(run)
                if checks.failed:
                    o.failed = True
                    return checks.finish()
                steps = [(d, lambda d=d: success_checks(run, d))
                         for d in REMOTES + SECURED]
                steps += [("bad CA files", lambda: bad_ca_checks(run))]
                steps += [("wrong passwords", lambda: bad_password_checks(
                              run)),
                          ("cancel", lambda: cancel_check(run)),
                          ("logs", lambda: log_checks(run)),
                          ("servers down", lambda: server_down_checks(run))]
                for label, fn in steps:
                    t0 = time.monotonic()
                    try:
                        fn()
                    except Exception as e:    # a step's crash fails it
                        with checks.check("%s: runs to the end" % label):
                            raise AssertionError("%s: %s" % (
                                type(e).__name__, redact(e)))
                    print("     (%s: %.1f s)" % (label,
                                                 time.monotonic() - t0))
                with checks.check("Orthanc's log holds no patient value "
                                  "after the faults"):
                    log = o.log_text().encode()
                    for st in run.studies.values():
                        assert not deid.leaked(log, st.identifying()), \
                            "an original value in Orthanc's log"
                    run.no_secret_in(o.log_text(), "the log")
                if checks.failed:
                    o.failed = True
        if o is not None and o.process is not None:
            checks.stopped_cleanly(o)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("total %.1f s" % (time.monotonic() - t_start))
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
