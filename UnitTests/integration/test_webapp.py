#!/usr/bin/python3
"""Integration test: the plugin's web page (/anonymizer/app/, WebApp/),
driven end to end in Debian's headless Chromium (test_webapp.js, with
playwright-core).

    /usr/bin/python3 test_webapp.py --plugin build/libOrthancAnonymizer.so \
        --playwright CACHE/node_modules/playwright-core \
        [--orthanc /usr/sbin/Orthanc] [--chromium /usr/bin/chromium] \
        [--screenshots FOLDER]

test_webapp.sh (what ctest runs) installs playwright-core first.  This
script starts Orthanc with the plugin (and an "ExportFolder"), uploads
small generated studies of three patients -- one of them named
"<script>alert(1)</script>^Evil" -- checks how the page is served (every
file, the Content-Security-Policy), and puts a reverse proxy at a
sub-path in front of Orthanc (a URL that is not relative fails the test).
test_webapp.js then uses the page as a person would: search, the
anonymization list, Anonymize with Default, Export as ZIP, an
anonymization on the way out into a ZIP by keyboard (Orthanc's counts
unchanged; this script checks the archive's files), the CSV report, a custom profile made in Setup and used, every option of
GET /anonymizer/profiles/Default shown in the editor, Research shown with
its rule sources, a profile on Research with AgesOver89 "keep" made by
keyboard (read back here through GET /anonymizer/profiles/{name}), a destination tested,
a profile with BurnedInText "strict" and a pixel rule of two rectangles
made in Setup, its rule table's Pixels section, and a generated
ultrasound image with burned-in text risk (Burned In Annotation YES) of
the rule's device anonymized with it (the job card says "1 image
cleaned", with its before/after previews) and refused by a "refuse"
profile, anonymized copies marked, hidden and refused, the table at 1280,
1024 and 400 px, the Export tab opening by itself, a destination on a real
FTP server (vsftpd, oatest/servers.py) that refuses the password typed,
empty and error states, and one anonymize-and-export by keyboard.  Afterwards this script checks the files the browser downloaded (the ZIP
archive, the CSV report) against Orthanc.

`--serve` (development aid) starts Orthanc with the same data, prints the
page's URL and waits for Ctrl-C.

Prints one line per check and "N passed, M failed" (never a DICOM value);
exits non-zero on any failure.
"""

import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

import pydicom  # noqa: E402

from oatest import dicomgen as gen, harness  # noqa: E402
from oatest.servers import FtpServer, StoreScp  # noqa: E402
from oatest.browser import Proxy, browser_arguments, run_browser  # noqa: E402,E501
from oatest.harness import Checks, Orthanc, free_port, standard_arguments  # noqa: E402,E501

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
EVIL_NAME = "<script>alert(1)</script>^Evil"
EVIL_DESCRIPTION = "<img src=x onerror=alert(2)>"
TYPED_NAME = "WEBTRIAL^ONE"      # what the browser types for patient A
TYPED_ID = "WEBTRIAL001"
WAYOUT_NAME = "WEBWAYOUT^ONE"    # patient A's new name/ID on the way out
WAYOUT_ID = "WEBWAYOUT001"
CSV_COLUMNS = ("Report,Date,Profile,OriginalPatientName,NewPatientName,"
               "OriginalPatientID,NewPatientID,OriginalStudyInstanceUID,"
               "NewStudyInstanceUID,OriginalStudyDate,NewStudyDate,"
               "OriginalStudyDescription,NewStudyDescription,OriginalStudy,"
               "AnonymizedStudy,Instances,Dropped,Failed").split(",")
# The ultrasound image of the pixel checks: its device, its size.
US_MANUFACTURER = "WebSonic Imaging"
US_MODEL = "WS-100"
US_ROWS, US_COLUMNS = 48, 64


def make_data():
    """The patients: A (1 CT study), B (a CT and an MR study), Evil (1 CT
    study with a malicious description).  Returns (patients, blobs)."""
    a = gen.Patient(11, "Webalpha", "Quendolyn", "OAWEBA0011", "19610203")
    b = gen.Patient(12, "Webbravo", "Thornquist", "OAWEBB0012", "19720415")
    evil = gen.Patient(13, "<script>alert(1)</script>", "Evil", "OAWEBE0013",
                      "19830607")
    studies = [
        (gen.Study(a, 1, date="20240105", description="WEB CT ONE"), "CT", 3),
        (gen.Study(b, 1, date="20240210", description="WEB CT TWO"), "CT", 2),
        (gen.Study(b, 2, date="20240311", description="WEB MR THREE"),
         "MR", 2),
        (gen.Study(evil, 1, date="20240420", description=EVIL_DESCRIPTION),
         "CT", 2),
    ]
    blobs = []
    # Patient US: one ultrasound image of a known device, flagged Burned
    # In Annotation YES (its name holds no "web": the name searches of
    # the test do not find it).
    us = gen.Patient(14, "Sonogram", "Ultra", "OAWEBU0014", "19900102")
    us_study = gen.Study(us, 1, date="20240515", description="WEB US FOUR")
    ds = pydicom.dcmread(io.BytesIO(gen.make_instance(
        us_study, 1, 1, 1, rows=US_ROWS, cols=US_COLUMNS)))
    ds.Modality = "US"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"   # Ultrasound Image
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.Manufacturer = US_MANUFACTURER
    ds.ManufacturerModelName = US_MODEL
    ds.BurnedInAnnotation = "YES"
    out = io.BytesIO()
    ds.save_as(out, write_like_original=False)
    blobs.append(out.getvalue())
    for study, modality, count in studies:
        for i in range(1, count + 1):
            data = gen.make_instance(study, 1, i, count, rows=16, cols=16)
            if modality != "CT":
                ds = pydicom.dcmread(io.BytesIO(data))
                ds.Modality = modality
                out = io.BytesIO()
                ds.save_as(out, write_like_original=False)
                data = out.getvalue()
            blobs.append(data)
    return {"A": a, "B": b, "Evil": evil, "US": us}, blobs


def upload(orthanc, patients, blobs):
    """Upload; returns {"A": orthanc patient id, ...}."""
    ids = {}
    for data in blobs:
        harness.upload(orthanc, data)
    for key, p in patients.items():
        found = json.loads(orthanc.request(
            "POST", "/tools/find",
            body={"Level": "Patient", "Query": {"PatientID": p.id}})[2])
        assert len(found) == 1, "patient %s: %d found" % (key, len(found))
        ids[key] = found[0]
    return ids


def check_zip(checks, orthanc, path, studies, typed_patient_study):
    with checks.check("the ZIP downloaded from the page holds every "
                      "anonymized instance, in <ExportName>/... "):
        assert os.path.isfile(path), "no downloaded ZIP"
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            assert z.testzip() is None, "a member of the ZIP is corrupt"
            expected = 0
            for sid in studies:
                expected += len(harness.study_instances(orthanc, sid))
            assert len(names) == expected, \
                "%d files in the ZIP, %d instances in Orthanc" % (
                    len(names), expected)
            roots = {n.split("/")[0] for n in names}
            assert len(roots) == 1 and roots.pop().startswith("Anonymizer-"),\
                "the ZIP's files are not under one Anonymizer-... folder"
            assert all(n.endswith(".dcm") and n.count("/") == 4
                       for n in names), "a path is not E/P/S/S/uid.dcm"
            ids = set()
            typed = 0
            for n in names:
                ds = pydicom.dcmread(io.BytesIO(z.read(n)))
                ids.add(str(ds.PatientID))
                if str(ds.PatientName) == TYPED_NAME:
                    typed += 1
                    assert str(ds.PatientID) == TYPED_ID, \
                        "the typed New ID is not in the typed patient's file"
            expected_typed = len(harness.study_instances(orthanc,
                                                    typed_patient_study))
            assert typed == expected_typed, \
                "%d files with the typed name, expected %d" % (typed,
                                                               expected_typed)
            assert len(ids) == 2, "%d patient IDs in the ZIP, expected 2" \
                % len(ids)


def check_wayout_dicom(checks, orthanc, scp, job):
    """The way out to the DICOM modality chosen in the page (patient A's
    study): storescp holds every instance anonymized with the typed name
    and ID, and Orthanc stored nothing."""
    with checks.check("on the way out to the DICOM modality chosen in the "
                      "page: storescp received the study's instances, "
                      "anonymized with the typed name and ID"):
        assert job, "no way-out job to the modality"
        assert job["State"] == "Success", job["State"]
        assert job["Content"]["Stored"] is False, "Stored"
        studies = job["Content"]["Studies"]
        assert len(studies) == 1, "%d studies in the job" % len(studies)
        sops = {sop for _, sop in harness.study_instances(
            orthanc, studies[0]["Original"])}
        files = scp.files()
        assert len(files) == len(sops), \
            "%d files received, %d instances in the original" % (
                len(files), len(sops))
        for name in files:
            ds = pydicom.dcmread(os.path.join(scp.data_dir, name))
            assert ds.PatientIdentityRemoved == "YES", "not anonymized"
            assert str(ds.PatientName) == WAYOUT_NAME, \
                "the typed New name is not in the file"
            assert str(ds.PatientID) == WAYOUT_ID, \
                "the typed New ID is not in the file"
            assert ds.SOPInstanceUID not in sops, "an original UID"


def check_wayout_zip(checks, orthanc, path, job):
    """The archive of the anonymization on the way out (patient A's study,
    with mapping files): every instance of the original study, anonymized
    with the names typed in the list, and uids.csv mapping the study."""
    with checks.check("on the way out: the ZIP downloaded from the page "
                      "holds the original study's instances anonymized, "
                      "with the typed name and ID, and uids.csv"):
        assert job, "no way-out job"
        assert os.path.isfile(path), "no downloaded ZIP"
        studies = job["Content"]["Studies"]
        assert len(studies) == 1, "%d studies in the job" % len(studies)
        original = orthanc.get_json("/studies/" + studies[0]["Original"])
        original_uid = original["MainDicomTags"]["StudyInstanceUID"]
        new_uid = studies[0].get("NewStudyInstanceUID")
        assert new_uid and new_uid != original_uid, \
            "no new Study Instance UID in the job"
        sops = {sop for _, sop in harness.study_instances(
            orthanc, studies[0]["Original"])}
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None, "a member of the ZIP is corrupt"
            names = [n for n in z.namelist() if n.endswith(".dcm")]
            assert len(names) == len(sops), \
                "%d files in the ZIP, %d instances in the original" % (
                    len(names), len(sops))
            seen = set()
            for n in names:
                ds = pydicom.dcmread(io.BytesIO(z.read(n)))
                assert ds.PatientIdentityRemoved == "YES", "not anonymized"
                assert str(ds.PatientName) == WAYOUT_NAME, \
                    "the typed New name is not in the file"
                assert str(ds.PatientID) == WAYOUT_ID, \
                    "the typed New ID is not in the file"
                assert ds.StudyInstanceUID == new_uid, \
                    "not the job's new Study Instance UID"
                assert ds.SOPInstanceUID not in sops, "an original UID"
                seen.add(ds.SOPInstanceUID)
            assert len(seen) == len(sops), "an instance twice"
            mapping = [n for n in z.namelist()
                       if n.rsplit("/", 1)[-1] == "uids.csv"]
            assert len(mapping) == 1, "%d uids.csv in the ZIP" % len(mapping)
            rows = list(csv.reader(io.StringIO(
                z.read(mapping[0]).decode("utf-8"))))
            assert rows and rows[0] == ["id_old", "id_new"], \
                "uids.csv: unexpected header"
            assert [original_uid, new_uid] in rows[1:], \
                "uids.csv does not map the study's UID"


def check_csv(checks, path, job, patients):
    with checks.check("the CSV report downloaded from the page has a row "
                      "per study with the typed and the generated names"):
        assert os.path.isfile(path), "no downloaded CSV"
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows and rows[0] == CSV_COLUMNS, "unexpected header row"
        body = [dict(zip(rows[0], r)) for r in rows[1:]]
        assert len(body) == 3, "%d rows, expected 3" % len(body)
        for r in body:
            assert r["Report"] == job["Content"]["Report"], "wrong Report"
            assert r["Profile"] == "Default", "wrong Profile"
            if r["OriginalPatientID"] == patients["A"].id:
                assert r["NewPatientName"] == TYPED_NAME, "A: new name"
                assert r["NewPatientID"] == TYPED_ID, "A: new ID"
            else:
                assert r["OriginalPatientID"] == patients["B"].id, \
                    "a row of an unexpected patient"
                assert r["NewPatientName"].startswith("ANON^"), \
                    "B: the name was not generated"
                assert r["NewPatientID"].startswith("ANON"), \
                    "B: the ID was not generated"
        assert sorted(int(r["Instances"]) for r in body) == [2, 2, 3], \
            "instance counts"


def main():
    def extra(ap):
        browser_arguments(ap)
        ap.add_argument("--screenshots", default=None,
                        help="folder for the screenshots of each tab")
        ap.add_argument("--serve", action="store_true",
                        help="development: start Orthanc with the data, "
                        "wait")
    args = standard_arguments(
        __doc__, extra,
        lambda a: None if a.serve or a.playwright
        else "--playwright is required")

    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-webapp-test-")
    export_folder = os.path.join(work, "exports")
    os.makedirs(os.path.join(export_folder, "web", "incoming"))
    # dcmtk's storescp: the DICOM modality of the way out from the page
    scp = StoreScp(aet="WEBAPPSCP")
    scp.start()
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      verbose=args.verbose,
                      # Every job of the test stays known to /jobs
                      # (Orthanc keeps 10 finished ones by default).
                      config={"JobsHistorySize": 100,
                              "DicomModalities": {"scp": scp.modality()},
                              "Anonymizer": {
                          "ExportFolder": export_folder,
                          # ZIPs under the test's folder, removed with it.
                          "ArchiveFolder": os.path.join(work, "archives"),
                          "Threads": 2}})
    try:
        with orthanc:
            patients, blobs = make_data()
            ids = None
            with checks.check("generated studies of 4 patients (one ultrasound image) are uploaded"):
                ids = upload(orthanc, patients, blobs)

            with checks.check("the page and its files are served with the "
                              "Content-Security-Policy"):
                for rel in ["index.html", "app.css", "js/main.js"]:
                    status, headers, body = orthanc.request(
                        "GET", "/anonymizer/app/" + rel)
                    assert status == 200, "%s: HTTP %d" % (rel or "/", status)
                    csp = headers.get("content-security-policy", "")
                    assert "script-src 'self'" in csp, "%s: no CSP" % rel
                for name in sorted(os.listdir(os.path.join(SOURCE, "WebApp",
                                                           "js"))):
                    status, _, _ = orthanc.request(
                        "GET", "/anonymizer/app/js/" + name)
                    assert status == 200, "js/%s: HTTP %d" % (name, status)
                status, _, body = orthanc.request("GET",
                                                  "/anonymizer/app/index.html")
                html = body.decode("utf-8")
                assert "<style" not in html and " style=" not in html, \
                    "index.html has inline style"
                assert "<script>" not in html and "onclick" not in html, \
                    "index.html has an inline script"

            with checks.check("GET /anonymizer/app/ and /anonymizer/app lead "
                              "to the page (redirects followed)"):
                for rel in ["/anonymizer/app/", "/anonymizer/app"]:
                    status, headers, body = orthanc.request("GET", rel)
                    assert status == 200 and b"js/main.js" in body, \
                        "GET %s: HTTP %d%s" % (
                            rel, status, " (not the page)"
                            if status == 200 else "")

            if args.serve:
                with Proxy(orthanc.http_port) as proxy:
                    print("page: %sanonymizer/app/  (Orthanc: %s, "
                          "export folder %s)" % (proxy.url, orthanc.url,
                                                  export_folder))
                    sys.stdout.flush()
                    try:
                        while True:
                            time.sleep(3600)
                    except KeyboardInterrupt:
                        pass
                return 0

            downloads = os.path.join(work, "downloads")
            os.makedirs(downloads)
            results = {}
            if ids:
                shots = os.path.abspath(args.screenshots or
                                        os.path.join(work, "shots"))
                os.makedirs(shots, exist_ok=True)
                env = {
                    "OA_DOWNLOADS": downloads,
                    "OA_SCREENSHOTS": shots,
                    "OA_IDS": json.dumps(ids),
                    "OA_TYPED_NAME": TYPED_NAME,
                    "OA_TYPED_ID": TYPED_ID,
                    "OA_WAYOUT_NAME": WAYOUT_NAME,
                    "OA_WAYOUT_ID": WAYOUT_ID,
                    # What the page must show as text (compared in the
                    # browser, never printed).
                    "OA_EVIL_NAME": EVIL_NAME,
                    "OA_EVIL_DESCRIPTION": EVIL_DESCRIPTION,
                    "OA_EVIL_PATIENT_ID": patients["Evil"].id,
                    "OA_SEARCH_NAME": "web",
                    "OA_CLOSED_PORT": str(free_port()),
                    "OA_US_DEVICE": json.dumps({
                        "Manufacturer": US_MANUFACTURER, "Model": US_MODEL,
                        "Rows": US_ROWS, "Columns": US_COLUMNS}),
                }
                # A real FTP server (vsftpd) for the destination that
                # refuses the password the browser types.
                ftp = None
                with checks.check("an FTP server (vsftpd) starts for the "
                                  "destination that refuses the password"):
                    server = FtpServer()
                    server.start()
                    ftp = server
                try:
                    if ftp is not None:
                        env["OA_FTP_URL"] = ftp.url
                        env["OA_FTP_USER"] = ftp.username
                    results = run_browser(checks, args, orthanc,
                                          "test_webapp.js", env, timeout=300)
                finally:
                    if ftp is not None:
                        ftp.close()

            job = None
            if "job" in results:
                job = orthanc.get_json("/jobs/" + results["job"])
            if job:
                studies = [s["Anonymized"] for s in job["Content"]["Studies"]]
                a_study = None
                for s in job["Content"]["Studies"]:
                    orig = orthanc.get_json("/studies/" + s["Original"])
                    if orig["ParentPatient"] == ids["A"]:
                        a_study = s["Anonymized"]
                check_zip(checks, orthanc, os.path.join(downloads,
                                                        "export.zip"),
                          studies, a_study)
                check_csv(checks, os.path.join(downloads, "report.csv"),
                          job, patients)
                with checks.check("the export to the saved folder destination "
                                  "wrote the study under ExportFolder"):
                    assert "folder-export" in results, "no folder export"
                    incoming = os.path.join(export_folder, "web", "incoming")
                    found = []
                    for root, _, files in os.walk(incoming):
                        found += [f for f in files if f.endswith(".dcm")]
                    assert len(found) == 2, "%d files in the destination" \
                        % len(found)
                    assert not any(d.endswith(".partial")
                                   for d in os.listdir(incoming)), \
                        "a .partial folder is left"
            else:
                with checks.check("the browser named its anonymization job"):
                    assert False, "no job id from the browser"
            if ids:
                wayout = None
                if "wayout" in results:
                    wayout = orthanc.get_json("/jobs/" + results["wayout"])
                check_wayout_zip(checks, orthanc,
                                 os.path.join(downloads, "wayout.zip"),
                                 wayout)
                check_wayout_dicom(checks, orthanc, scp, orthanc.get_json(
                    "/jobs/" + results["wayout-dicom"])
                    if "wayout-dicom" in results else None)

            if ids:
                with checks.check("the profile made in Setup by keyboard is "
                                  "stored: GET /anonymizer/profiles/{name} "
                                  "says Base Research, AgesOver89 keep, "
                                  "PrivateTags tcia"):
                    name = results.get("ages-profile")
                    assert name, "the browser named no profile"
                    p = orthanc.get_json("/anonymizer/profiles/" + name)
                    assert p["Base"] == "Research" and \
                        p["AgesOver89"] == "keep" and \
                        p["PrivateTags"] == "tcia" and not p["BuiltIn"], \
                        "not the options chosen in the page"

            if checks.failed:
                orthanc.failed = True

        checks.stopped_cleanly(orthanc)
    finally:
        scp.close()
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
