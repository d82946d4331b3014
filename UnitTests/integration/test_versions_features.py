#!/usr/bin/python3
"""Integration test: what the plugin uses of the running Orthanc (issue 13),
on whichever Orthanc it is given: 1.10.1 (the host), 1.12.7 (trixie),
1.13.0 (sid).

    /usr/bin/python3 test_versions_features.py --plugin PLUGIN \
        [--orthanc /usr/sbin/Orthanc | UnitTests/versions/orthanc-trixie]

Checks, each against what this Orthanc and the SDK the plugin was built
with give (the plugin's start-up line "Orthanc X, built with SDK Y: ..."):
  - the newer services are used exactly where both have them;
  - metrics in /tools/metrics-prometheus: instances anonymized and dropped,
    jobs running, last job duration, bytes and instances exported per
    backend;
  - labels (Orthanc >= 1.12.0): the anonymized study gets "anonymized", the
    original "anonymized-source", and /tools/find finds them by label;
    nothing and a clear log line where Orthanc has none;
  - ZIP downloads: streamed where Orthanc can (1.12.6), one archive whatever
    ZipMaxSize; elsewhere split above ZipMaxSize, and at most
    MaxParallelDownloads buffered downloads at once: the next one answers 503
    with Retry-After and a message saying to retry;
  - the report's CSV download (streamed where Orthanc can).
Prints one line per check and "N passed, M failed".
"""

import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from pydicom.uid import generate_uid  # noqa: E402

from oatest import dicomgen, harness  # noqa: E402
from oatest.harness import (Checks, Orthanc, post_json,  # noqa: E402
                            standard_arguments, upload)

FEATURE_VERSIONS = {          # feature: (Orthanc version, needs the SDK)
    "StreamedDownloads": ((1, 12, 6), True),
    "Labels": ((1, 12, 0), False),
    "KeyValueStore": ((1, 12, 8), True),
    "ThreadNames": ((1, 12, 2), True),
    "LogMessage": ((1, 12, 4), True),
}


def vtuple(text):
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def ct_instance(study_uid, series_uid, number, rows, cols, sop_class=None,
                series_description="AXIAL", content_description=None):
    """A CT (or another class) with random pixels: they do not deflate, so
    an archive is as large as its instances."""
    sop_class = sop_class or dicomgen.CT_IMAGE_STORAGE
    ds = dicomgen.new_file(sop_class, generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260412"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = "ACCVF4242"
    ds.Modality = "CT" if sop_class == dicomgen.CT_IMAGE_STORAGE else "OT"
    ds.PatientName = "Versionfeature^Quillon"
    ds.PatientID = "OAVFPID4242"
    ds.PatientBirthDate = "19610203"
    ds.PatientSex = "M"
    ds.StudyDescription = "CT VERSIONS"
    ds.SeriesDescription = series_description
    if content_description is not None:
        # (0070,0081): not in Table E.1-1, kept verbatim by every profile
        ds.ContentDescription = content_description
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "4242"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = str(number)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = os.urandom(rows * cols * 2)
    return dicomgen.to_bytes(ds)


def upload_study(o, count, rows, cols, extra_sc=False):
    """A new study of `count` random CT instances (and, with `extra_sc`, a
    secondary capture, which the Default profile drops, and a CT whose
    Content Description, kept verbatim, names the patient, which the leak
    check refuses: descriptions are cleaned, not refused); its Orthanc
    ID."""
    study_uid, series_uid = generate_uid(), generate_uid()
    answer = None
    for i in range(1, count + 1):
        answer = upload(o, ct_instance(study_uid, series_uid, i, rows, cols))
    if extra_sc:
        upload(o, ct_instance(study_uid, generate_uid(), 1, 16, 16,
                              dicomgen.SC_IMAGE_STORAGE))
        upload(o, ct_instance(study_uid, generate_uid(), 1, 16, 16,
                              content_description="FOLLOW UP VERSIONFEATURE"))
    return o.get_json("/instances/%s/study" % answer["ID"])["ID"]


def metrics(o):
    """/tools/metrics-prometheus as {name: value}."""
    status, _, body = o.request("GET", "/tools/metrics-prometheus")
    assert status == 200, "HTTP %d" % status
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def features_line(o):
    """(Orthanc version, SDK, {service: used}) of the plugin's last start
    (a restarted Orthanc appends to its log)."""
    found = list(re.finditer(
        r"anonymizer: Orthanc (\S+), built with SDK (\S+): (.*)",
        o.log_text()))
    assert found, "no start-up line naming the services used"
    m = found[-1]
    used = dict(re.findall(r"(\w+) (yes|no)", m.group(3)))
    return m.group(1), m.group(2), {k: v == "yes" for k, v in used.items()}


def export_zip(o, study):
    status, content, raw = post_json(
        o, "/anonymizer/export", {"Resources": [study],
                                  "Target": {"Type": "zip"},
                                  "Asynchronous": False}, timeout=300)
    assert status == 200, "export: HTTP %d %s" % (status, raw[:300])
    return content


def raw_get(o, path, rcvbuf=32768):
    """A GET whose answer is not read yet: the socket, for later."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", o.http_port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Connection: close\r\n\r\n" % path).encode())
    return s


def read_all(s):
    chunks = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
    s.close()
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def main():
    args = standard_arguments(__doc__)
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-versions-")
    archives = os.path.join(work, "archives")
    os.makedirs(archives, mode=0o700)
    config = {"Anonymizer": {"ArchiveFolder": archives,
                             "ZipMaxSize": 1 << 20,
                             "MaxParallelDownloads": 1,
                             "SourceLabel": "anonymized-source"}}
    o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                verbose=args.verbose, config=config)
    ok = False
    with o:
        version = o.get_json("/system")["Version"]
        running = vtuple(version)
        print("Orthanc %s" % version)
        sdk, used = "?", {}
        with checks.check("the start-up line names each newer service, used "
                          "exactly where Orthanc and the SDK both have it"):
            shown, sdk, used = features_line(o)
            assert shown == version, "%s != %s" % (shown, version)
            for name, (since, needs_sdk) in FEATURE_VERSIONS.items():
                expected = running >= since and \
                    (not needs_sdk or vtuple(sdk) >= since)
                assert used.get(name) == expected, \
                    "%s: %s, expected %s (Orthanc %s, SDK %s)" % (
                        name, used.get(name), expected, version, sdk)
        print("     SDK %s; used: %s" % (sdk, ", ".join(
            k for k, v in sorted(used.items()) if v) or "none"))
        stream = used.get("StreamedDownloads", False)
        labels = used.get("Labels", False)

        with checks.check("the metrics are in /tools/metrics-prometheus "
                          "before any job (all 0)"):
            m = metrics(o)
            for name in ("anonymizer_instances_anonymized_total",
                         "anonymizer_instances_dropped_total",
                         "anonymizer_instances_failed_total",
                         "anonymizer_instances_refused_leak_total",
                         "anonymizer_instances_refused_pixels_total",
                         "anonymizer_images_cleaned_total",
                         "anonymizer_jobs_running"):
                assert m.get(name) == 0, "%s = %s" % (name, m.get(name))

        # 6 instances of 512 KiB (random, so ~3 MiB of ZIP), one SC and
        # one leaky CT.
        original = upload_study(o, 6, 512, 512, extra_sc=True)
        content = None
        with checks.check("anonymization of a study of 6 CT + 1 SC (dropped) "
                          "+ 1 CT refused by the leak check"):
            status, content, raw = post_json(
                o, "/anonymizer/studies/%s/anonymize" % original,
                {"Asynchronous": False}, timeout=300)
            assert status == 200, "HTTP %d %s" % (status, raw[:300])
            st = content["Studies"][0]
            assert st["Instances"] == 6 and st["Dropped"] == 1 and \
                st["Failed"] == 1, st
        anonymized = content["Studies"][0]["Anonymized"] if content else None

        with checks.check("metrics: 6 anonymized, 1 dropped, 1 failed by the "
                          "leak check, no job running, a last job duration"):
            m = metrics(o)
            assert m.get("anonymizer_instances_anonymized_total") == 6, m
            assert m.get("anonymizer_instances_dropped_total") == 1, m
            assert m.get("anonymizer_instances_failed_total") == 1, m
            assert m.get("anonymizer_instances_refused_leak_total") == 1, m
            assert m.get("anonymizer_instances_refused_pixels_total") == 0, m
            assert m.get("anonymizer_jobs_running") == 0, m
            assert m.get("anonymizer_last_job_duration_seconds", 0) > 0, m
            print("     last job %.3f s" %
                  m["anonymizer_last_job_duration_seconds"])

        if labels:
            with checks.check("labels: the anonymized study has "
                              "\"anonymized\", the original "
                              "\"anonymized-source\""):
                a = o.get_json("/studies/%s" % anonymized)
                b = o.get_json("/studies/%s" % original)
                assert a.get("Labels") == ["anonymized"], a.get("Labels")
                assert b.get("Labels") == ["anonymized-source"], \
                    b.get("Labels")
            with checks.check("labels: /tools/find with Labels finds the "
                              "anonymized study only"):
                status, found, raw = post_json(
                    o, "/tools/find", {"Level": "Study", "Query": {},
                                       "Labels": ["anonymized"],
                                       "LabelsConstraint": "All"})
                assert status == 200, "HTTP %d" % status
                assert found == [anonymized], found
        else:
            with checks.check("labels: none on this Orthanc, and the log "
                              "says why"):
                a = o.get_json("/studies/%s" % anonymized)
                assert not a.get("Labels"), a.get("Labels")
                assert "has no labels" in o.log_text(), "no log line"

        export = None
        with checks.check("ZIP export of the original study (%s)" %
                          ("one archive: ZipMaxSize does not apply where "
                           "downloads are streamed" if stream else
                           "split above ZipMaxSize, 1 MiB")):
            export = export_zip(o, original)
            n = len(export.get("Archives") or [])
            if stream:
                assert n == 1, "%d archives" % n
            else:
                assert n >= 3, "%d archives" % n
            print("     %d archive(s), %d bytes" % (n, export["Bytes"]))

        with checks.check("metrics: bytes and instances exported to zip"):
            m = metrics(o)
            assert m.get("anonymizer_export_instances_total_zip") == 8, m
            assert m.get("anonymizer_export_bytes_total_zip") == \
                export["Bytes"], (m, export["Bytes"])

        with checks.check("the ZIP download is the archive on disk, %s" %
                          ("streamed (no Content-Length)" if stream else
                           "with its length")):
            a = export["Archives"][0]
            status, headers, data = o.request("GET", a["Path"], timeout=120)
            assert status == 200, "HTTP %d" % status
            assert len(data) == a["Size"], "%d != %d" % (len(data), a["Size"])
            assert headers.get("content-type") == "application/zip", headers
            assert 'filename="' in headers.get("content-disposition", ""), \
                headers
            # A streamed answer has no Content-Length: Orthanc sends the
            # chunks as they come and closes the connection at the end.
            length = headers.get("content-length")
            if stream:
                assert length is None, "Content-Length %s" % length
            else:
                assert length == str(a["Size"]), "Content-Length %s" % length
            files = [os.path.join(archives, f) for f in os.listdir(archives)
                     if f.endswith(".zip")]
            digests = {hashlib.sha256(open(f, "rb").read()).hexdigest()
                       for f in files}
            assert hashlib.sha256(data).hexdigest() in digests, \
                "not one of the archives"

        with checks.check("the report's CSV download (%s)" %
                          ("streamed" if stream else "one buffer")):
            status, headers, data = o.request(
                "GET", "/anonymizer/reports/%s/csv" % content["Report"])
            assert status == 200, "HTTP %d" % status
            assert headers.get("content-type", "").startswith("text/csv"), \
                headers
            assert data.startswith(b"Report,Date,Profile,"), data[:40]
            assert data.count(b"\r\n") == 2, "%d lines" % data.count(b"\r\n")
            assert (headers.get("content-length") is None) == stream, \
                "Content-Length %s" % headers.get("content-length")

        # Parallel downloads: a large archive held open by a client that
        # does not read, then a second download at once.
        big = upload_study(o, 12, 2048, 1024)   # 12 x 4 MiB of pixels
        with checks.check("metrics: anonymizer_jobs_running is 1 while an "
                          "anonymization runs, 0 after"):
            # Bounded: a job that ended between two looks at the metrics
            # (a loaded machine) is run again, at most ATTEMPTS times; the
            # same study gives the same anonymized study.
            for attempt in range(1, harness.ATTEMPTS + 1):
                status, answer, raw = post_json(
                    o, "/anonymizer/studies/%s/anonymize" % big,
                    {"Asynchronous": True})
                assert status == 200, "HTTP %d %s" % (status, raw[:300])
                seen = set()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    seen.add(metrics(o).get("anonymizer_jobs_running"))
                    state = o.get_json("/jobs/%s" % answer["ID"])["State"]
                    if state in ("Success", "Failure"):
                        break
                    time.sleep(0.02)
                assert state == "Success", state
                if 1 in seen or attempt == harness.ATTEMPTS:
                    break
                harness.miss_note(attempt, harness.ATTEMPTS, "the job ended "
                                  "between two looks at the metrics",
                                  again="run again")
            assert 1 in seen, "jobs_running seen: %s" % sorted(seen)
            assert metrics(o).get("anonymizer_jobs_running") == 0
        o.extra_config = {}
        with checks.check("parallel downloads: %s" %
                          ("not limited where they are streamed" if stream
                           else "the second of MaxParallelDownloads 1 "
                                "answers 503, Retry-After, 'retry'")):
            exp = export_zip(o, big)
            path = exp["Archives"][0]["Path"]
            size = exp["Archives"][0]["Size"]
            held = raw_get(o, path)
            # The first bytes of the answer prove the plugin's handler is
            # sending it (into a socket nobody reads), holding its slot;
            # a fixed wait could end before the handler was reached.
            held.settimeout(60)
            assert held.recv(1, socket.MSG_PEEK), "no answer to the first " \
                "download"
            held.settimeout(None)
            status, headers, body = o.request("GET", path, timeout=120)
            if stream:
                assert status == 200, "HTTP %d" % status
            else:
                assert status == 503, "HTTP %d" % status
                assert headers.get("retry-after") == "10", headers
                detail = json.loads(body).get("Details", "")
                assert "retry" in detail and \
                    "MaxParallelDownloads" in detail, detail
                print("     503: %s" % detail)
            head, got = read_all(held)
            assert head.startswith("HTTP/1.1 200"), head.splitlines()[0]
            if not stream:
                assert len(got) == size, "%d != %d" % (len(got), size)
            status, _, data = o.request("GET", path, timeout=120)
            assert status == 200 and len(data) == size, \
                "after: HTTP %d, %d bytes" % (status, len(data))
        ok = True
    checks.stopped_cleanly(o)
    if ok and checks.failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
