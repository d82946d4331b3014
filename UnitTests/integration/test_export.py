#!/usr/bin/python3
"""Integration test of the exports (issue 5): a real Orthanc with the
plugin exports an anonymized study to real servers on loopback
(oatest/servers.py) and to a second Orthanc, and the study arrives whole.

    /usr/bin/python3 test_export.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

For every target (zip, folder, ftp, ftps, sftp with a password and with a
key, webdav over HTTP and HTTPS, dicom to storescp, peer to a second
Orthanc) it checks that every instance arrives and parses with pydicom,
byte for byte as Orthanc stores it, in the tree
<ExportName>/<Patient>/<Study>/<Series>/<SOPInstanceUID>.dcm; that a
wrong password, a wrong host key, a refused association and a stopped
server fail the job with a clear message and leave nothing under the
final name; the destinations API (CRUD, write-only secrets, /test); ZIP
download and split ("ZipMaxSize"); the chaining of an export to an
anonymization ("Export" in the request); request errors.

Needs root (the FTP/SFTP servers log a local account in), Debian's
vsftpd, openssh-server, apache2, dcmtk, python3-pydicom, python3-numpy.
Prints one line per check and "N passed, M failed"; exits non-zero on any
failure.  Never prints a DICOM value: messages give counts, depths and
HTTP statuses only.
"""

import base64
import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import servers as es  # noqa: E402
from oatest import harness  # noqa: E402
from oatest.trees import files_below  # noqa: E402
from oatest.harness import (AuthOrthanc, Checks, Orthanc,  # noqa: E402
                            standard_arguments)

import pydicom  # noqa: E402

COUNT = 20                      # instances in the generated study
NAME_RE = re.compile(r"^Anonymizer-(\d{8}-\d{6})-([A-Za-z0-9._-]{8})$")
CREDENTIALS_RE = re.compile(
    r"credential|password|refused|denied|authenticat|log ?in|401|"
    r"unauthori[sz]ed|not accepted", re.I)
UNREACHABLE_RE = re.compile(
    r"reach|connect|refused|unavailable|down|timed? ?out|broke", re.I)
HOSTKEY_RE = re.compile(r"host key|hostkey|known.?hosts|fingerprint", re.I)
PEER_PASSWORD = "peer-" + base64.b16encode(os.urandom(8)).decode()


def sanitize(s):
    return re.sub(r"[^A-Za-z0-9._-]", "_", s)[:64]


def text(v):
    return "" if v is None else str(v).strip()


def md5(data):
    return hashlib.md5(data).hexdigest()


def status_is(status, expected, what, body=b""):
    assert status == expected, "%s: HTTP %d, expected %d %s" % (
        what, status, expected, redact(body.decode("utf-8", "replace"))
        if status != 200 else "")


def redact(msg):
    """An error message without its URLs and paths: the plugin names the
    file it was writing, whose folders are DICOM values (PatientID, study
    and series descriptions), which this test never prints."""
    msg = re.sub(r"[a-z]+://[^\s)|]*", "<url>", str(msg))
    return re.sub(r"(/[^\s/)|]+){2,}/?", "<path>", msg)[:300]


error_text = harness.job_error_text


def job_seconds(job):
    """From CreationTime to CompletionTime of an Orthanc job (its wall
    time, retry waits included)."""
    def parse(v):
        assert isinstance(v, str) and v, "no job times"
        return datetime.datetime.strptime(v.split(".")[0], "%Y%m%dT%H%M%S") \
            + datetime.timedelta(seconds=float("0." + v.split(".")[1])
                                 if "." in v else 0)
    return (parse(job.get("CompletionTime")) -
            parse(job.get("CreationTime"))).total_seconds()


class Run:
    def __init__(self, checks, orthanc, work):
        self.c = checks
        self.o = orthanc
        self.work = work
        self.export_folder = os.path.join(work, "exports")
        self.archive_folder = os.path.join(work, "archives")
        self.secrets = []          # strings that must never be answered
        self.expected = {}         # SOPInstanceUID -> MD5 of Orthanc's file
        self.sizes = {}            # SOPInstanceUID -> bytes
        self.anon_study = None     # Orthanc ID of the anonymized study
        self.anon_patient = None
        self.anon_study_uid = None
        self.original_study = None
        self.zip_size = None       # size of the single archive

    # -- REST -----------------------------------------------------------

    def post(self, path, obj, timeout=120):
        """(status, decoded JSON or None, raw body)."""
        return harness.post_json(self.o, path, obj, timeout=timeout)

    def wait_job(self, job_id, timeout=150):
        deadline = time.monotonic() + timeout
        while True:
            job = self.o.get_json("/jobs/%s" % job_id)
            if job.get("State") in ("Success", "Failure"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError("job still %s after %.0f s"
                                     % (job.get("State"), timeout))
            time.sleep(0.05)

    def start_export(self, target, resources=None, extra=None):
        body = {"Resources": resources or [self.anon_study],
                "Target": target}
        body.update(extra or {})
        status, answer, raw = self.post("/anonymizer/export", body)
        status_is(status, 200, "POST /anonymizer/export", raw)
        assert isinstance(answer, dict) and isinstance(answer.get("ID"),
                                                       str), "no job ID"
        assert answer.get("Path") == "/jobs/" + answer["ID"], "Path"
        return answer["ID"]

    def export(self, target, resources=None):
        """Run an export to the end: (job, content, seconds)."""
        t0 = time.monotonic()
        job = self.wait_job(self.start_export(target, resources))
        return job, job.get("Content") or {}, time.monotonic() - t0

    def no_secret_in(self, raw, what):
        if isinstance(raw, (dict, list)):
            raw = json.dumps(raw)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        for s in self.secrets:
            assert s not in raw, "%s holds a password or key" % what


# ----------------------------------------------------------------------
# What an export wrote


def tree_from_zip(data):
    zf = zipfile.ZipFile(io.BytesIO(data))
    bad = zf.testzip()
    assert bad is None, "a ZIP entry fails its CRC"
    return {i.filename: zf.read(i) for i in zf.infolist()
            if not i.is_dir()}


def check_tree(run, files, export_id=None, count=COUNT):
    """files: {relative path: bytes} of one export.  Asserts the layout
    of the contract and that every file is one of the study's instances,
    byte for byte; returns the ExportName."""
    assert files, "nothing written"
    tops = {p.split("/")[0] for p in files}
    assert len(tops) == 1, "%d top-level entries, expected 1" % len(tops)
    name = tops.pop()
    m = NAME_RE.match(name)
    assert m, "top folder is not Anonymizer-<YYYYMMDD-HHMMSS>-<8 chars>"
    stamp = datetime.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
    age = abs((datetime.datetime.now() - stamp).total_seconds())
    age_utc = abs((datetime.datetime.utcnow() - stamp).total_seconds())
    assert min(age, age_utc) < 600, "ExportName time is not now"
    if export_id is not None:
        assert m.group(2) == export_id[:8], \
            "ExportName does not end with the export id's first 8 chars"
    assert len(files) == count, "%d files, expected %d" % (len(files),
                                                            count)
    seen = set()
    for path, data in files.items():
        parts = path.split("/")
        assert len(parts) == 5, "a file at depth %d, expected 5" % len(parts)
        ds = pydicom.dcmread(io.BytesIO(data))     # raises if it does not
        sop = text(ds.get("SOPInstanceUID"))
        assert parts[4] == sop + ".dcm", \
            "a file is not named <SOPInstanceUID>.dcm"
        assert parts[1] == sanitize(text(ds.get("PatientID"))), \
            "the patient folder is not the sanitized PatientID"
        study = sanitize("%s-%s" % (text(ds.get("StudyDate")),
                                    text(ds.get("StudyDescription")) or
                                    text(ds.get("StudyInstanceUID"))))
        assert parts[2] == study, "the study folder is not " \
            "<StudyDate>-<StudyDescription or UID> sanitized"
        series = "%s%s-%s" % (text(ds.get("Modality")),
                              text(ds.get("SeriesNumber")),
                              text(ds.get("SeriesDescription")))
        assert parts[3] in (sanitize(series), sanitize(series.rstrip("-"))), \
            "the series folder is not <Modality><SeriesNumber>-<Desc>"
        for p in parts[1:4]:
            assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", p), \
                "a folder name is not sanitized"
        assert sop in run.expected, "a file is not an instance of the study"
        assert md5(data) == run.expected[sop], \
            "a file differs from Orthanc's stored instance"
        seen.add(sop)
    assert seen == set(run.expected), "%d of %d instances arrived" % (
        len(seen), len(run.expected))
    return name


def check_landed(run, root, content, export_id=None):
    """An export to a file-tree target landed whole in root (the remote or
    local folder it writes into), nothing else there."""
    entries = sorted(os.listdir(root))
    partial = [e for e in entries if e.endswith(".partial")]
    assert not partial, "a .partial entry is left"
    assert len(entries) == 1, "%d entries in the destination folder, " \
        "expected 1" % len(entries)
    name = check_tree(run, files_below(root), export_id)
    assert entries[0] == name
    loc = content.get("Location")
    assert isinstance(loc, str) and loc.rstrip("/").endswith(name), \
        "Location does not end with the ExportName"
    return name


def check_success_content(run, job, content, ttype, name=None):
    """A successful Export job; ttype: the Target's Type as requested
    ("destination" with its Name for a saved or configured one)."""
    assert job.get("State") == "Success", "job %s: %s" % (
        job.get("State"), redact(error_text(job)))
    assert job.get("Type") == "Export", "job type %r" % job.get("Type")
    assert job.get("Progress") == 100, "progress %r" % job.get("Progress")
    assert content.get("InstancesTotal") == COUNT, "InstancesTotal"
    assert content.get("InstancesDone") == COUNT, "InstancesDone"
    assert isinstance(content.get("Export"), str) and content["Export"], \
        "no Export id"
    target = content.get("Target") or {}
    assert target.get("Type") == ttype, "Target.Type %r" % target.get("Type")
    if name is not None:
        assert target.get("Name") == name, "Target.Name"
    total = sum(run.sizes.values())
    assert content.get("Bytes") == total, \
        "Bytes is %r, expected %d (the study's DICOM bytes)" % (
            content.get("Bytes"), total)
    assert "Password" not in target and "PrivateKey" not in target, \
        "Target shows a secret"
    run.no_secret_in(job, "the job")


def check_failed(run, job, pattern, what):
    assert job.get("State") == "Failure", "%s: job %s, expected Failure" \
        % (what, job.get("State"))
    msg = error_text(job)
    assert msg, "%s: no error message" % what
    assert pattern.search(msg), "%s: unclear error: %s" % (what,
                                                          redact(msg))
    run.no_secret_in(job, "the failed job")


def nothing_final(root, also_partial=True):
    """No <ExportName> (and no .partial) left in root."""
    entries = os.listdir(root) if os.path.isdir(root) else []
    final = [e for e in entries if NAME_RE.match(e)]
    assert not final, "an export folder under its final name is left"
    if also_partial:
        partial = [e for e in entries if e.endswith(".partial")]
        assert not partial, "a .partial folder is left"


# ----------------------------------------------------------------------


def prepare(run, study_dir):
    o = run.o
    with run.c.check("upload and anonymize the generated study"):
        names = sorted(os.listdir(study_dir))
        assert len(names) == COUNT, "generated %d files" % len(names)
        for n in names:
            with open(os.path.join(study_dir, n), "rb") as f:
                status, _, body = o.request(
                    "POST", "/instances", body=f.read(),
                    headers={"Content-Type": "application/dicom"})
            status_is(status, 200, "POST /instances")
            run.original_study = json.loads(body)["ParentStudy"]
        status, answer, raw = run.post(
            "/anonymizer/studies/%s/anonymize" % run.original_study,
            {"Asynchronous": False})
        status_is(status, 200, "anonymize", raw)
        studies = answer.get("Studies") or []
        assert len(studies) == 1 and studies[0].get("Instances") == COUNT, \
            "anonymization did not store %d instances" % COUNT
        run.anon_study = studies[0]["Anonymized"]
        info = o.get_json("/studies/%s" % run.anon_study)
        run.anon_patient = info["ParentPatient"]
        run.anon_study_uid = info["MainDicomTags"]["StudyInstanceUID"]
        for inst in o.get_json("/studies/%s/instances" % run.anon_study):
            status, _, data = o.request("GET", "/instances/%s/file"
                                        % inst["ID"])
            status_is(status, 200, "GET instance file")
            sop = inst["MainDicomTags"]["SOPInstanceUID"]
            run.expected[sop] = md5(data)
            run.sizes[sop] = len(data)
        assert len(run.expected) == COUNT, "%d anonymized instances" % len(
            run.expected)


def request_error_checks(run):
    c = run.c
    bad = [
        ("body that is not JSON", b"{not json", 400),
        ("no Target", {"Resources": [run.anon_study]}, 400),
        ("unknown Target type", {"Resources": [run.anon_study],
                                 "Target": {"Type": "gopher"}}, 400),
        ("unknown modality", {"Resources": [run.anon_study], "Target":
                              {"Type": "dicom", "Modality": "nope"}}, 400),
        ("unknown peer", {"Resources": [run.anon_study], "Target":
                          {"Type": "peer", "Peer": "nope"}}, 400),
        ("unknown destination", {"Resources": [run.anon_study], "Target":
                                 {"Type": "destination", "Name": "nope"}},
         400),
        ("folder with ..", {"Resources": [run.anon_study], "Target":
                            {"Type": "folder", "Folder": "a/../../x"}}, 400),
        ("absolute folder", {"Resources": [run.anon_study], "Target":
                             {"Type": "folder", "Folder": run.work}}, 400),
        ("empty Resources", {"Resources": [], "Target": {"Type": "zip"}},
         400),
        ("unknown resource id", {"Resources": ["0" * 8 + "-" + "1" * 8],
                                 "Target": {"Type": "zip"}}, 404),
    ]
    for what, body, expected in bad:
        with c.check("POST /anonymizer/export, %s: %d with an error"
                     % (what, expected)):
            status, answer, raw = run.post("/anonymizer/export", body)
            status_is(status, expected, what, raw)
            assert isinstance(answer, dict) and answer.get("Error"), \
                "no Error in the answer"
    with c.check("no export job was started by the refused requests"):
        jobs = run.o.get_json("/jobs?expand")
        assert not [j for j in jobs if j.get("Type") == "Export"], \
            "an Export job exists"
    with c.check("nothing was written in ExportFolder by them"):
        assert not os.listdir(run.export_folder), "ExportFolder not empty"
    with c.check("GET /anonymizer/export gives 405"):
        status, _, _ = run.o.request("GET", "/anonymizer/export")
        status_is(status, 405, "GET")


def zip_checks(run):
    c = run.c
    job = content = None
    with c.check("zip: export job succeeds"):
        job, content, _ = run.export({"Type": "zip"})
        check_success_content(run, job, content, "zip")
    archives = (content or {}).get("Archives") or []
    data = None
    with c.check("zip: Content.Archives names one archive.zip"):
        assert len(archives) == 1, "%d archives" % len(archives)
        a = archives[0]
        assert a.get("Name") == "archive.zip", "Name"
        assert a.get("Path") in (
            "/anonymizer/exports/%s/archive.zip" % i
            for i in (job["ID"], content.get("Export"))), \
            "Path is not /anonymizer/exports/<job or export id>/archive.zip"
        assert isinstance(a.get("Size"), int) and a["Size"] > 0, "Size"
    with c.check("zip: GET archive.zip is application/zip, attachment "
                 "<ExportName>.zip"):
        assert archives, "no archive"
        status, headers, data = run.o.request("GET", archives[0]["Path"],
                                              timeout=60)
        status_is(status, 200, "GET archive.zip")
        assert headers.get("content-type", "").startswith(
            "application/zip"), headers.get("content-type")
        assert len(data) == archives[0]["Size"], "size differs from Size"
        disp = headers.get("content-disposition", "")
        m = re.fullmatch(r'attachment; *filename="([^"]+)\.zip"', disp)
        assert m and NAME_RE.match(m.group(1)), "Content-Disposition %r" % disp
        run.zip_size = len(data)
        run.zip_name = m.group(1)
    with c.check("zip: a valid ZIP holding the whole study in the "
                 "contract's tree, every file parses"):
        assert data, "no archive downloaded"
        name = check_tree(run, tree_from_zip(data), content.get("Export"))
        assert name == run.zip_name, "the ZIP's folder is not the " \
            "Content-Disposition name"
    with c.check("zip: GET /anonymizer/exports/<job id>/archive.zip "
                 "answers the same archive"):
        assert data, "no archive downloaded"
        status, _, again = run.o.request(
            "GET", "/anonymizer/exports/%s/archive.zip" % job["ID"],
            timeout=60)
        status_is(status, 200, "GET by job id")
        assert again == data, "another archive"
    with c.check("zip: nothing left in ExportFolder, archive kept in "
                 "ArchiveFolder"):
        assert not os.listdir(run.export_folder), "ExportFolder not empty"
        found = [n for _, _, ns in os.walk(run.archive_folder) for n in ns
                 if not n.endswith(".partial")]
        assert found, "no archive in ArchiveFolder"
    with c.check("zip: 404 for an unknown job and an unknown archive"):
        status, _, _ = run.o.request(
            "GET", "/anonymizer/exports/no-such-job/archive.zip")
        status_is(status, 404, "unknown job")
        if job:
            status, _, _ = run.o.request(
                "GET", "/anonymizer/exports/%s/archive-2.zip" % job["ID"])
            status_is(status, 404, "archive-2.zip of a single archive")
    with c.check("zip: a patient id exports its studies"):
        job2, content2, _ = run.export({"Type": "zip"},
                                       resources=[run.anon_patient])
        check_success_content(run, job2, content2, "zip")
        a = (content2.get("Archives") or [{}])[0]
        status, _, data2 = run.o.request("GET", a.get("Path", "/x"),
                                         timeout=60)
        status_is(status, 200, "GET archive.zip")
        check_tree(run, tree_from_zip(data2), content2.get("Export"))


def folder_checks(run):
    c = run.c
    sub = os.path.join(run.export_folder, "site", "batch")
    with c.check("folder: synchronous export answers the job's content"):
        status, answer, raw = run.post("/anonymizer/export", {
            "Resources": [run.anon_study], "Asynchronous": False,
            "Target": {"Type": "folder", "Folder": "site/batch"}})
        status_is(status, 200, "POST sync", raw)
        assert answer.get("InstancesDone") == COUNT, "InstancesDone"
        assert answer.get("Location"), "no Location"
    with c.check("folder: the study lands whole under ExportFolder/"
                 "site/batch"):
        check_landed(run, sub, answer or {})
    with c.check("folder: a configured folder destination"):
        job, content, _ = run.export({"Type": "destination",
                                      "Name": "local"})
        check_success_content(run, job, content, "destination", "local")
        check_landed(run, os.path.join(run.export_folder, "dest", "local"),
                     content, content.get("Export"))


def remote_success_checks(run, s):
    """ftp, ftps, sftp (password, key), webdav (http, https)."""
    c = run.c
    cases = [
        ("ftp", "ftp", s["ftp"]),
        ("ftps", "ftps", s["ftp"]),
        ("sftp (password, pinned SHA-256)", "sftp", s["sftp"]),
        ("sftp (saved ed25519 key, known_hosts)", "sftp-key", s["sftp"]),
        ("webdav (http)", "webdav", s["dav"]),
        ("webdav (https, CaFile)", "webdavs", s["dav"]),
    ]
    for label, dest, server in cases:
        server.clear_data()
        if isinstance(server, es.FtpServer):
            open(server.folder + "/vsftpd.log", "a").close()
            log_mark = os.path.getsize(server.folder + "/vsftpd.log")
        with c.check("%s: the study arrives whole, every file parses"
                     % label):
            job, content, _ = run.export({"Type": "destination",
                                          "Name": dest})
            check_success_content(run, job, content, "destination", dest)
            check_landed(run, server.data_dir, content,
                         content.get("Export"))
        if dest in ("ftp", "ftps"):
            with open(server.folder + "/vsftpd.log", "rb") as f:
                f.seek(log_mark)
                log = f.read().decode("utf-8", "replace")
            with c.check("%s: %s" % (label, "the session used TLS (AUTH TLS)"
                                     if dest == "ftps" else
                                     "plain FTP (no AUTH TLS)")):
                assert "STOR" in log or "RNTO" in log, "no upload logged"
                used_tls = "AUTH TLS" in log.upper() or \
                    "AUTH SSL" in log.upper()
                assert used_tls == (dest == "ftps"), \
                    "AUTH TLS %s" % ("missing" if dest == "ftps" else
                                     "used for plain ftp")
            with c.check("%s: no upload failed on the server (vsftpd "
                         "logged no FAIL UPLOAD, so nothing was retried)"
                         % label):
                failed = log.count("FAIL UPLOAD")
                assert failed == 0, "vsftpd logged %d failed (truncated) " \
                    "uploads" % failed
    server = s["dav"]
    server.clear_data()


def destination_checks(run, s):
    c = run.c
    o = run.o
    sftp = s["sftp"]
    with c.check("destinations: the list has the configured ones"):
        names = o.get_json("/anonymizer/destinations")
        assert isinstance(names, list), "not a list"
        for n in ("ftp", "ftps", "sftp", "webdav", "webdavs", "local"):
            assert n in names, "a configured destination is missing"
        run.no_secret_in(names, "the list")
    with c.check("destinations: GET a configured one shows HasPassword, "
                 "never the password"):
        for n in ("ftp", "sftp", "webdav"):
            status, _, raw = o.request("GET", "/anonymizer/destinations/"
                                       + n)
            status_is(status, 200, "GET " + n)
            d = json.loads(raw)
            assert d.get("HasPassword") is True, "HasPassword"
            assert "Password" not in d, "Password answered"
            assert d.get("Type") in ("ftp", "sftp", "webdav"), "Type"
            assert d.get("Url"), "Url"
            run.no_secret_in(raw, "GET " + n)
    with c.check("destinations: configured ones are read-only (409)"):
        status, _, _ = o.request("PUT", "/anonymizer/destinations/ftp",
                                 body={"Type": "folder", "Url": "x"})
        status_is(status, 409, "PUT configured")
        status, _, _ = o.request("DELETE", "/anonymizer/destinations/ftp")
        status_is(status, 409, "DELETE configured")
    key_dest = {"Type": "sftp", "Url": sftp.url, "Username": sftp.username,
                "PrivateKey": sftp.private_key,
                "KnownHosts": sftp.known_hosts_line, "Timeout": 10}
    with c.check("destinations: PUT a saved sftp one with a key: 200, "
                 "HasPrivateKey, no key text"):
        status, _, raw = o.request("PUT", "/anonymizer/destinations/sftp-key",
                                   body=key_dest)
        status_is(status, 200, "PUT sftp-key", raw)
        d = json.loads(raw)
        assert d.get("HasPrivateKey") is True, "HasPrivateKey"
        assert "PrivateKey" not in d and "Password" not in d, "a secret"
        assert d.get("KnownHosts") == sftp.known_hosts_line, "KnownHosts"
        run.no_secret_in(raw, "PUT answer")
        status, _, raw = o.request("GET", "/anonymizer/destinations/sftp-key")
        status_is(status, 200, "GET sftp-key")
        d2 = json.loads(raw)
        assert d2 == d, "GET differs from the PUT answer"
        assert "sftp-key" in o.get_json("/anonymizer/destinations")
    with c.check("destinations: PUT replaces (password added, key kept)"):
        again = dict(key_dest)
        again["Password"] = sftp.password
        status, _, raw = o.request("PUT", "/anonymizer/destinations/tmp",
                                   body=again)
        status_is(status, 200, "PUT tmp", raw)
        d = json.loads(raw)
        assert d.get("HasPassword") is True and \
            d.get("HasPrivateKey") is True, "Has*"
        assert "Password" not in d, "Password answered"
        run.no_secret_in(raw, "PUT answer")
    wrong = [
        ("unknown Type", {"Type": "gopher", "Url": "x"}, "Type"),
        ("sftp without a host key", {"Type": "sftp", "Url": sftp.url,
                                     "Username": "u", "Password": "p"},
         "KnownHosts"),
        ("ftp without Url", {"Type": "ftp", "Username": "u"}, "Url"),
        ("folder escaping ExportFolder", {"Type": "folder",
                                          "Url": "../../etc"}, "Url"),
        ("Timeout not a number", {"Type": "ftp", "Url": "ftp://127.0.0.1/",
                                  "Timeout": "soon"}, "Timeout"),
        ("Type ftp with an ftps:// Url", {"Type": "ftp",
                                          "Url": "ftps://127.0.0.1/"},
         "\"ftps\""),
        ("a password in the Url", {"Type": "ftp",
                                   "Url": "ftp://u:pw@127.0.0.1/"},
         "\"Password\" fields"),
    ]
    for what, body, field in wrong:
        with c.check("destinations: PUT %s gives 400 naming %s"
                     % (what, field)):
            status, _, raw = o.request(
                "PUT", "/anonymizer/destinations/bad", body=body)
            status_is(status, 400, what, raw)
            err = json.loads(raw)
            said = "%s %s" % (err.get("Error"), err.get("Details"))
            assert field in said or (field == "KnownHosts" and
                                     "HostKeySha256" in said), \
                "the error does not name %s" % field
    with c.check("destinations: the refused PUTs saved nothing"):
        status, _, _ = o.request("GET", "/anonymizer/destinations/bad")
        status_is(status, 404, "GET bad")
    with c.check("destinations: DELETE a saved one: 200 {}, then 404"):
        status, _, raw = o.request("DELETE", "/anonymizer/destinations/tmp")
        status_is(status, 200, "DELETE tmp")
        assert json.loads(raw) == {}, "answer is not {}"
        status, _, _ = o.request("GET", "/anonymizer/destinations/tmp")
        status_is(status, 404, "GET deleted")
        status, _, _ = o.request("DELETE", "/anonymizer/destinations/tmp")
        status_is(status, 404, "DELETE again")
        assert "tmp" not in o.get_json("/anonymizer/destinations")
    with c.check("destinations: GET an unknown one gives 404"):
        status, _, _ = o.request("GET", "/anonymizer/destinations/nope")
        status_is(status, 404, "GET nope")


def test_route(run, name):
    status, _, raw = run.o.request(
        "POST", "/anonymizer/destinations/%s/test" % name, body={},
        timeout=90)
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    run.no_secret_in(raw, "the /test answer")
    return status, answer


def test_route_checks(run, s):
    c = run.c
    for name in ("ftp", "ftps", "sftp", "sftp-key", "webdav", "webdavs",
                 "local"):
        with c.check("destinations/%s/test succeeds" % name):
            status, answer = test_route(run, name)
            status_is(status, 200, name)
            assert answer == {"Success": True}, "answer is not Success"
    with c.check("destinations/*/test wrote nothing on the servers"):
        for key in ("ftp", "sftp", "dav"):
            assert s[key].files() == [], "%s has files" % key
    fails = [
        ("sftp-badpw", CREDENTIALS_RE, "a wrong sftp password"),
        ("webdav-badpw", CREDENTIALS_RE, "a wrong webdav password"),
        ("sftp-badhost", HOSTKEY_RE, "a wrong known_hosts line"),
        ("sftp-badpin", HOSTKEY_RE, "a wrong host key SHA-256"),
        ("ftps-noca", re.compile(r"certificat|TLS|SSL|verif", re.I),
         "an FTPS server whose CA is not trusted"),
        ("webdavs-noca", re.compile(r"certificat|TLS|SSL|verif", re.I),
         "an HTTPS server whose CA is not trusted"),
    ]
    for name, pattern, what in fails:
        with c.check("destinations/%s/test: 502 for %s, Details say why"
                     % (name, what)):
            status, answer = test_route(run, name)
            status_is(status, 502, name)
            assert isinstance(answer, dict) and answer.get("Error"), \
                "no Error"
            said = "%s %s" % (answer.get("Error"), answer.get("Details"))
            assert pattern.search(said), "unclear: %s" % redact(said)
    with c.check("destinations/nope/test gives 404"):
        status, _ = test_route(run, "nope")
        status_is(status, 404, "test nope")


def bad_credentials_checks(run, s):
    """Wrong passwords and host keys: the job fails with a clear message,
    at once, and nothing lands.  The jobs run together (the FTP one costs
    ~2.7 s of PAM delay; it is the only FTP one)."""
    c = run.c
    cases = [
        ("ftp-badpw", s["ftp"], CREDENTIALS_RE, "ftp, wrong password"),
        ("sftp-badpw", s["sftp"], CREDENTIALS_RE, "sftp, wrong password"),
        ("sftp-badhost", s["sftp"], HOSTKEY_RE, "sftp, wrong host key"),
        ("webdav-badpw", s["dav"], CREDENTIALS_RE, "webdav, wrong password"),
    ]
    for key in ("ftp", "sftp", "dav"):
        s[key].clear_data()
    mark = len(run.o.log_text())
    t0 = time.monotonic()
    jobs = {}
    for name, _, _, _ in cases:
        jobs[name] = run.start_export({"Type": "destination", "Name": name})
    results = {name: run.wait_job(j) for name, j in jobs.items()}
    elapsed = time.monotonic() - t0
    for name, server, pattern, what in cases:
        with c.check("%s: job fails with a clear error, nothing written"
                     % what):
            check_failed(run, results[name], pattern, what)
            nothing_final(server.data_dir)
            assert server.files() == [], "files were written"
    with c.check("wrong credentials fail at once (no retries): %.1f s"
                 % elapsed):
        # The log, not the clock: a retry logs "retrying in N s" (a
        # loaded machine can make refused log-ins slow, not retried).
        retries = [redact(line) for line in
                   run.o.log_text()[mark:].splitlines()
                   if "retrying" in line]
        assert not retries, "wrong credentials were retried: %s" % \
            "; ".join(retries)


def dicom_peer_checks(run, s, peer):
    c = run.c
    scp = s["scp"]
    with c.check("dicom: storescp receives every instance, each parses"):
        job, content, _ = run.export({"Type": "dicom", "Modality": "scp"})
        check_success_content(run, job, content, "dicom")
        assert content["Target"].get("Modality") == "scp", "Target.Modality"
        files = scp.files()
        assert len(files) == COUNT, "%d files received" % len(files)
        got = set()
        for n in files:
            ds = pydicom.dcmread(os.path.join(scp.data_dir, n))
            sop = text(ds.SOPInstanceUID)
            assert n.endswith("." + sop), "file name"
            assert text(ds.StudyInstanceUID) == run.anon_study_uid, \
                "an instance of another study"
            got.add(sop)
        assert got == set(run.expected), "%d of %d instances" % (
            len(got & set(run.expected)), len(run.expected))
    with c.check("dicom: an SCP refusing the association fails the job "
                 "with a clear error"):
        job, _, _ = run.export({"Type": "dicom", "Modality": "scp-refuse"})
        check_failed(run, job, re.compile(
            r"refus|reject|association|C-STORE|DICOM", re.I), "refused")
        assert s["refuse"].files() == [], "the refusing SCP got files"

    with c.check("peer: the second Orthanc has the study, same instances"):
        job, content, _ = run.export({"Type": "peer", "Peer": "peer"})
        check_success_content(run, job, content, "peer")
        assert content["Target"].get("Peer") == "peer", "Target.Peer"
        status, _, raw = peer.request("POST", "/tools/lookup",
                                      body=run.anon_study_uid)
        status_is(status, 200, "lookup on the peer")
        found = [r for r in json.loads(raw) if r.get("Type") == "Study"]
        assert len(found) == 1, "the peer has %d such studies" % len(found)
        insts = peer.get_json("/studies/%s/instances" % found[0]["ID"])
        assert len(insts) == COUNT, "the peer has %d instances" % len(insts)
        sops = {i["MainDicomTags"]["SOPInstanceUID"] for i in insts}
        assert sops == set(run.expected), "other instances on the peer"
        for i in insts[:3]:
            status, _, data = peer.request("GET", "/instances/%s/file"
                                           % i["ID"])
            status_is(status, 200, "peer file")
            sop = i["MainDicomTags"]["SOPInstanceUID"]
            assert md5(data) == run.expected[sop], "peer file differs"
    with c.check("peer: a wrong peer password fails with a clear error"):
        before = len(peer.get_json("/instances"))
        job, _, _ = run.export({"Type": "peer", "Peer": "peer-badpw"})
        check_failed(run, job, CREDENTIALS_RE, "peer wrong password")
        assert len(peer.get_json("/instances")) == before, \
            "the peer got instances"


def cancel_checks(run, s):
    """Cancel an SFTP export right away: whether the cancel or the export
    wins, the final name never holds a partial export and no .partial is
    left (the server is up)."""
    c = run.c
    sftp = s["sftp"]
    sftp.clear_data()
    with c.check("cancel: a cancelled sftp export leaves nothing, or a "
                 "whole study if it had finished"):
        job_id = run.start_export({"Type": "destination", "Name": "sftp"})
        status, _, _ = run.o.request("POST", "/jobs/%s/cancel" % job_id,
                                     body={})
        assert status in (200, 400), "cancel: HTTP %d" % status
        job = run.wait_job(job_id)
        if job["State"] == "Success":
            check_landed(run, sftp.data_dir, job["Content"],
                         job["Content"].get("Export"))
        else:
            nothing_final(sftp.data_dir)
            assert sftp.files() == [], "files left after the cancel"
        print("  (cancel: the job ended %s)" % job["State"])
    sftp.clear_data()


def chain_checks(run):
    c = run.c
    dest = os.path.join(run.export_folder, "chained")
    with c.check("chain: anonymize with Export starts an export job that "
                 "writes the anonymized study"):
        status, answer, raw = run.post("/anonymizer/anonymize", {
            "Resources": [{"Level": "Study", "ID": run.original_study}],
            "Export": {"Target": {"Type": "folder", "Folder": "chained"}}})
        status_is(status, 200, "anonymize with Export", raw)
        anon_job = run.wait_job(answer["ID"])
        assert anon_job["State"] == "Success", "anonymization failed"
        content = anon_job.get("Content") or {}
        export_job = content.get("ExportJob")
        assert isinstance(export_job, str) and export_job, "no ExportJob"
        studies = content.get("Studies") or []
        assert studies and studies[0].get("Anonymized") == run.anon_study, \
            "anonymized to another study"
        job = run.wait_job(export_job)
        check_success_content(run, job, job.get("Content") or {}, "folder")
        check_landed(run, dest, job["Content"], job["Content"].get("Export"))
    with c.check("chain: a bad Export target is refused before anything "
                 "starts (400)"):
        n = len(run.o.get_json("/jobs"))
        status, _, raw = run.post("/anonymizer/anonymize", {
            "Resources": [{"Level": "Study", "ID": run.original_study}],
            "Export": {"Target": {"Type": "destination", "Name": "nope"}}})
        status_is(status, 400, "anonymize with a bad Export", raw)
        assert len(run.o.get_json("/jobs")) == n, "a job was started"


def server_down_checks(run, s, peer):
    """Every remote server stopped: each export fails with a message that
    the server could not be reached, and nothing is left under the final
    name.  The jobs run together (their retries overlap)."""
    c = run.c
    for key in ("ftp", "sftp", "dav", "scp"):
        s[key].clear_data()
        s[key].stop()
    peer_instances = len(peer.get_json("/instances"))
    peer.terminate()
    cases = [
        ("ftp", {"Type": "destination", "Name": "ftp"}, s["ftp"]),
        ("sftp", {"Type": "destination", "Name": "sftp"}, s["sftp"]),
        ("webdav", {"Type": "destination", "Name": "webdav"}, s["dav"]),
        ("dicom", {"Type": "dicom", "Modality": "scp"}, s["scp"]),
        ("peer", {"Type": "peer", "Peer": "peer"}, None),
    ]
    t0 = time.monotonic()
    jobs = {name: run.start_export(target) for name, target, _ in cases}
    test_answers = {}
    for name in ("ftp", "sftp", "webdav"):
        test_answers[name] = test_route(run, name)
    results = {name: run.wait_job(j, timeout=240) for name, j in jobs.items()}
    elapsed = time.monotonic() - t0
    for name, _, server in cases:
        with c.check("%s down: the job fails, 'could not be reached', "
                     "nothing under the final name" % name):
            check_failed(run, results[name], UNREACHABLE_RE,
                         name + " down")
            if server is not None:
                nothing_final(server.data_dir, also_partial=False)
                assert server.files() == [], "files were written"
        with c.check("%s down: the job retried before failing (created "
                     "to completed >= 3 s: retries after 1 and 2 s at "
                     "least)" % name):
            took = job_seconds(results[name])
            assert took >= 3.0, "failed after %.1f s: no retries" % took
    for name, (status, answer) in test_answers.items():
        with c.check("destinations/%s/test: 502 when the server is down"
                     % name):
            status_is(status, 502, name)
            said = "%s %s" % (answer.get("Error"), answer.get("Details"))
            assert UNREACHABLE_RE.search(said), "unclear: %s" % redact(
                said)
    print("  (server-down jobs ended after %.1f s)" % elapsed)
    with c.check("peer down: the (restarted) peer got nothing"):
        peer.restart()
        assert len(peer.get_json("/instances")) == peer_instances


def split_checks(run):
    """Restart with "ZipMaxSize" at 60% of the whole archive: two
    archives, each a valid ZIP of whole files, together the study."""
    c = run.c
    o = run.o
    if not run.zip_size:
        with c.check("zip split: needs the size of a whole archive"):
            raise AssertionError("the zip export failed earlier")
        return
    limit = int(run.zip_size * 0.6)
    o.extra_config["Anonymizer"]["ZipMaxSize"] = limit
    with c.check("zip split: Orthanc restarts with a small ZipMaxSize"):
        code = o.restart()
        assert code == 0, "Orthanc exited with %s" % code
    archives = []
    # Where downloads are streamed (Orthanc and the plugin's SDK 1.12.6 or
    # later: the plugin's start-up line says so), ZipMaxSize is not used.
    streamed = re.findall(r"built with SDK \S+: StreamedDownloads (yes|no)",
                          o.log_text())[-1:] == ["yes"]
    if streamed:
        with c.check("zip split: none where downloads are streamed, one "
                     "archive whatever ZipMaxSize"):
            job, content, _ = run.export({"Type": "zip"})
            check_success_content(run, job, content, "zip")
            archives = content.get("Archives") or []
            assert [a.get("Name") for a in archives] == ["archive.zip"], \
                "%d archives" % len(archives)
    else:
        with c.check("zip split: archive.zip, archive-2.zip, ... each at most "
                     "ZipMaxSize, not more than whole files need"):
            job, content, _ = run.export({"Type": "zip"})
            check_success_content(run, job, content, "zip")
            archives = content.get("Archives") or []
            n = len(archives)
            names = ["archive.zip"] + ["archive-%d.zip" % i
                                       for i in range(2, n + 1)]
            assert n >= 2, "%d archive(s): not split" % n
            assert [a.get("Name") for a in archives] == names, "names"
            # Splitting on the uncompressed sizes (an upper bound of what a
            # file adds) may make more archives than the compressed sizes
            # need, but never more than this:
            biggest = max(run.sizes.values()) + 4096
            bound = -(-sum(run.sizes.values()) // max(1, limit - biggest)) + 1
            assert n <= bound, "%d archives, at most %d expected" % (n, bound)
            for a in archives:
                assert a.get("Size", 0) <= limit, \
                    "an archive is over the limit"
                assert a.get("Path") in (
                    "/anonymizer/exports/%s/%s" % (i, a["Name"])
                    for i in (job["ID"], content.get("Export"))), "Path"
            print("  (zip split: %d archives under a %d-byte limit, from one "
                  "of %d bytes)" % (n, limit, run.zip_size))
    merged = {}
    with c.check("zip split: each downloads and is a valid ZIP; together "
                 "the whole study, no file twice"):
        assert archives, "no archives"
        for a in archives:
            status, headers, data = o.request("GET", a["Path"], timeout=60)
            status_is(status, 200, "GET " + a["Name"])
            assert len(data) == a["Size"], "size differs from Size"
            assert headers.get("content-type", "").startswith(
                "application/zip"), "content type"
            part = tree_from_zip(data)
            assert part, "an empty archive"
            for p in part:
                assert p not in merged, "a file is in two archives"
            merged.update(part)
        check_tree(run, merged, content.get("Export"))


# ----------------------------------------------------------------------


def generate_study(out):
    src = os.environ.get("OA_SOURCE_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    script = os.path.join(src, "Resources", "Scripts",
                          "generate-ct-study.py")
    subprocess.run(["/usr/bin/python3", script, out, str(COUNT)],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)


def destinations_config(run, s):
    ftp, sftp, dav = s["ftp"], s["sftp"], s["dav"]
    base = {"Timeout": 5}
    # a Type must match its Url's scheme: ftps (explicit TLS) is ftps://
    ftps_url = "ftps://" + ftp.url[len("ftp://"):]
    d = {
        "ftp": {"Type": "ftp", "Url": ftp.url, "Username": ftp.username,
                "Password": ftp.password},
        "ftps": {"Type": "ftps", "Url": ftps_url, "Username": ftp.username,
                 "Password": ftp.password, "CaFile": ftp.ca_file},
        "ftps-noca": {"Type": "ftps", "Url": ftps_url,
                      "Username": ftp.username, "Password": ftp.password},
        "ftp-badpw": {"Type": "ftp", "Url": ftp.url,
                      "Username": ftp.username, "Password": "wrong-pw-1"},
        "sftp": {"Type": "sftp", "Url": sftp.url, "Username": sftp.username,
                 "Password": sftp.password,
                 "HostKeySha256": sftp.host_key_sha256},
        "sftp-badpw": {"Type": "sftp", "Url": sftp.url,
                       "Username": sftp.username, "Password": "wrong-pw-2",
                       "HostKeySha256": sftp.host_key_sha256},
        "sftp-badhost": {"Type": "sftp", "Url": sftp.url,
                         "Username": sftp.username,
                         "Password": sftp.password,
                         "KnownHosts": sftp.wrong_known_hosts_line},
        "sftp-badpin": {"Type": "sftp", "Url": sftp.url,
                        "Username": sftp.username,
                        "Password": sftp.password,
                        "HostKeySha256": sftp.wrong_host_key_sha256},
        "webdav": {"Type": "webdav", "Url": dav.url,
                   "Username": dav.username, "Password": dav.password},
        "webdavs": {"Type": "webdav", "Url": dav.https_url,
                    "Username": dav.username, "Password": dav.password,
                    "CaFile": dav.ca_file},
        "webdavs-noca": {"Type": "webdav", "Url": dav.https_url,
                         "Username": dav.username,
                         "Password": dav.password},
        "webdav-badpw": {"Type": "webdav", "Url": dav.url,
                         "Username": dav.username, "Password": "wrong-pw-3"},
        "local": {"Type": "folder", "Url": "dest/local"},
    }
    for v in d.values():
        v.update(base)
    run.secrets += [ftp.password, sftp.password, dav.password,
                    sftp.private_key.strip().splitlines()[1],
                    PEER_PASSWORD]
    return d


def main():
    args = standard_arguments(__doc__)

    checks = Checks()
    if os.geteuid() != 0:
        with checks.check("runs as root (local accounts for FTP/SFTP)"):
            raise AssertionError("not root")
        return checks.finish()

    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="oa-test-export-")
    os.chmod(work, 0o755)
    orthanc = None
    try:
        study_dir = os.path.join(work, "study")
        generate_study(study_dir)
        with contextlib.ExitStack() as stack:
            s = {"ftp": stack.enter_context(es.FtpServer()),
                 "sftp": stack.enter_context(es.SftpServer()),
                 "dav": stack.enter_context(es.WebDavServer()),
                 "scp": stack.enter_context(es.StoreScp(aet="EXPORTSCP")),
                 "refuse": stack.enter_context(
                     es.StoreScp(aet="REFUSESCP", refuse=True))}
            peer = stack.enter_context(AuthOrthanc(
                "oa", PEER_PASSWORD, orthanc=args.orthanc,
                config={"Name": "oa-export-peer"}))
            run = Run(checks, None, work)
            os.makedirs(run.export_folder)
            config = {
                "Anonymizer": {
                    "ExportFolder": run.export_folder,
                    "ArchiveFolder": run.archive_folder,
                    "Destinations": destinations_config(run, s),
                },
                "DicomModalities": {
                    "scp": s["scp"].modality(),
                    "scp-refuse": s["refuse"].modality(),
                },
                "OrthancPeers": {
                    "peer": {"Url": peer.url + "/", "Username": "oa",
                             "Password": PEER_PASSWORD},
                    "peer-badpw": {"Url": peer.url + "/", "Username": "oa",
                                   "Password": "wrong-pw-4"},
                },
                "ConcurrentJobs": 8,
                "DicomScuTimeout": 5,
                "HttpTimeout": 10,
            }
            orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                              config=config, verbose=args.verbose)
            with orthanc:
                run.o = orthanc
                with checks.check("POST /anonymizer/export is a route "
                                  "(not 404)"):
                    status, _, _ = orthanc.request(
                        "POST", "/anonymizer/export", body=b"{")
                    assert status != 404, "HTTP 404: no export API"
                prepare(run, study_dir)
                if checks.failed:
                    orthanc.failed = True
                    return checks.finish()
                steps = [
                    ("request errors", lambda: request_error_checks(run)),
                    ("zip", lambda: zip_checks(run)),
                    ("folder", lambda: folder_checks(run)),
                    ("destinations", lambda: destination_checks(run, s)),
                    ("test route", lambda: test_route_checks(run, s)),
                    ("remote", lambda: remote_success_checks(run, s)),
                    ("bad credentials", lambda: bad_credentials_checks(
                        run, s)),
                    ("dicom and peer", lambda: dicom_peer_checks(
                        run, s, peer)),
                    ("cancel", lambda: cancel_checks(run, s)),
                    ("chain", lambda: chain_checks(run)),
                    ("server down", lambda: server_down_checks(
                        run, s, peer)),
                ]
                for label, fn in steps:
                    t0 = time.monotonic()
                    try:
                        fn()
                    except Exception as e:    # a step's crash fails it
                        with checks.check("%s: runs to the end" % label):
                            raise AssertionError(
                                "%s: %s" % (type(e).__name__, e))
                    if args.verbose:
                        print("  (%s: %.1f s)" % (label,
                                                  time.monotonic() - t0))
                with checks.check("Orthanc's log holds no password or "
                                  "private key"):
                    run.no_secret_in(orthanc.log_text(), "the log")
                split_checks(run)
                with checks.check("Orthanc's log holds no password or "
                                  "private key (after the restart)"):
                    run.no_secret_in(orthanc.log_text(), "the log")
                if checks.failed:
                    orthanc.failed = True
        if orthanc is not None and orthanc.process is not None:
            checks.stopped_cleanly(orthanc, "Orthanc stops cleanly")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("total %.1f s" % (time.monotonic() - t_start))
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
