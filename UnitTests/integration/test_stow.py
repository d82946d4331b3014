#!/usr/bin/python3
"""Integration test: the DICOMweb STOW-RS destination (issue 14).

    /usr/bin/python3 test_stow.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

A second Orthanc with Debian's DICOMweb plugin (orthanc-dicomweb) and HTTP
basic authentication receives the exports.  On the first Orthanc, with the
plugin, a generated study is anonymized and exported to a destination of
Type "stow" (its DICOMweb base URL): every anonymized instance arrives, byte
for byte; the destination's test answers in words; a wrong password is
refused at once ("refused the user name, password or token"), a Url that
is not a DICOMweb service is named as such, and a server that has stopped
fails the job after the retries with "could not be reached".  Prints one
line per check; exits non-zero on failure; 77 (skipped) without
orthanc-dicomweb.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import SKIP, dicomgen  # noqa: E402
from oatest.harness import (AuthOrthanc, Checks, Orthanc,  # noqa: E402
                            post_json, standard_arguments, upload, wait_job)

DICOMWEB = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
PASSWORD = "stow-pw-6e1c"


def md5(data):
    return hashlib.md5(data).hexdigest()


def files_of(orthanc, instances):
    out = {}
    for iid in instances:
        status, _, data = orthanc.request("GET", "/instances/%s/file" % iid)
        assert status == 200, "GET file: HTTP %d" % status
        tags = orthanc.get_json("/instances/%s" % iid)["MainDicomTags"]
        out[tags["SOPInstanceUID"]] = md5(data)
    return out


def main():
    args = standard_arguments(__doc__)
    if not os.path.isfile(DICOMWEB):
        print("skipped: %s not found (apt-get install orthanc-dicomweb)"
              % DICOMWEB)
        return SKIP
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-stow-")
    receiver = AuthOrthanc("oa", PASSWORD, orthanc=args.orthanc,
                           extra_plugins=[DICOMWEB], verbose=args.verbose,
                           config={"Name": "oa-stow-receiver",
                                   "DicomWeb": {"Enable": True,
                                                "Root": "/dicom-web/"}})
    sender = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                     verbose=args.verbose,
                     config={"Anonymizer": {
                         "ExportFolder": os.path.join(work, "exports"),
                         "ArchiveFolder": os.path.join(work, "archives")}})
    try:
        receiver.start()
        with sender:
            anon, expected = None, {}

            def destination(name, **fields):
                body = {"Type": "stow", "Url": receiver.url + "/dicom-web"}
                body.update(fields)
                status, _, raw = sender.request(
                    "PUT", "/anonymizer/destinations/%s" % name, body=body)
                assert status == 200, raw[:300]

            def export(name):
                status, answer, raw = post_json(
                    sender, "/anonymizer/export",
                    {"Resources": [anon], "Target": {"Type": "destination",
                                                     "Name": name}})
                assert status == 200, raw[:300]
                return wait_job(sender, answer["ID"], timeout=120)

            with checks.check("a generated study is uploaded and "
                              "anonymized"):
                values = dicomgen.make_study(os.path.join(work, "gen"),
                                             "stow", count=6)
                for path in values["Files"]:
                    with open(path, "rb") as f:
                        upload(sender, f.read())
                study = sender.get_json("/studies")[0]
                status, answer, raw = post_json(
                    sender, "/anonymizer/studies/%s/anonymize" % study,
                    {"Asynchronous": False})
                assert status == 200, raw[:300]
                anon = answer["Studies"][0]["Anonymized"]
                expected = files_of(sender, [
                    i["ID"] for i in sender.get_json(
                        "/studies/%s/instances" % anon)])
                assert len(expected) == 6, len(expected)

            with checks.check("a stow destination is saved; its test says "
                              "the connection works"):
                destination("research-web", Username="oa", Password=PASSWORD)
                status, answer, raw = post_json(
                    sender, "/anonymizer/destinations/research-web/test", {})
                assert status == 200, raw[:300]
                assert answer.get("Success") is True, answer

            with checks.check("export to it: every anonymized instance "
                              "arrives, byte for byte"):
                job = export("research-web")
                assert job["State"] == "Success", json.dumps(
                    job.get("Content"))[:400]
                got = files_of(receiver, receiver.get_json("/instances"))
                assert got == expected, "%d of %d arrived equal" % (
                    len([k for k in expected if got.get(k) == expected[k]]),
                    len(expected))
                assert "stow-pw" not in json.dumps(job), "a secret shown"

            with checks.check("a wrong password: the test and the export "
                              "say the server refused it"):
                destination("web-badpw", Username="oa", Password="wrong-77")
                status, answer, raw = post_json(
                    sender, "/anonymizer/destinations/web-badpw/test", {})
                assert status == 502, "HTTP %d" % status
                assert b"refused the user name" in raw, raw[:300]
                job = export("web-badpw")
                assert job["State"] == "Failure"
                assert "refused the user name" in json.dumps(job), \
                    json.dumps(job.get("Content"))[:300]
                assert "wrong-77" not in json.dumps(job), "a secret shown"

            with checks.check("a Url that is no DICOMweb service is named "
                              "as such"):
                destination("web-nowhere", Username="oa", Password=PASSWORD,
                            Url=receiver.url + "/not-dicom-web")
                job = export("web-nowhere")
                assert job["State"] == "Failure"
                assert "no DICOMweb service" in json.dumps(job), \
                    json.dumps(job.get("Content"))[:300]

            with checks.check("the server stopped: the job fails after its "
                              "retries with 'could not be reached'"):
                receiver.stop()
                job = export("research-web")
                assert job["State"] == "Failure"
                assert "could not be reached" in json.dumps(job), \
                    json.dumps(job.get("Content"))[:300]
    finally:
        try:
            receiver.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
