#!/usr/bin/python3
"""Integration test: "Anonymizer": {"AutoAnonymize": [...]} anonymizes, and
exports, every study that becomes stable, with no script, and never its
own output; a wrong AutoAnonymize option stops Orthanc with a message.

    /usr/bin/python3 test_auto.py --plugin build/libOrthancAnonymizer.so

Prints one line per check and "N passed, M failed".  Never prints DICOM
values.
"""

import os
import shutil
import sys
import tempfile
import time

import pydicom

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest.harness import Checks, Orthanc  # noqa: E402
from oatest.harness import standard_arguments  # noqa: E402
from oatest.harness import (anonymization_jobs, finished_export_files,  # noqa: E402,E501
                             wait_for)
from oatest import deid, dicomgen as gen, harness  # noqa: E402

STABLE_AGE = 2
COUNT = 4


def main():
    args = standard_arguments(__doc__.splitlines()[0])
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-test-auto-")
    exports = os.path.join(work, "exports")
    os.makedirs(exports)
    config = {
        "StableAge": STABLE_AGE,
        "Anonymizer": {
            "ExportFolder": exports,
            "AutoAnonymize": [{"Profile": "Full",
                               "Export": {"Type": "folder",
                                          "Folder": "auto"}}],
        },
    }
    study = gen.Study(gen.PATIENTS[2], 7)
    blobs = [gen.make_instance(study, 1, i + 1, COUNT) for i in range(COUNT)]
    try:
        with Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                     config=config, verbose=args.verbose) as orthanc:
            original = None
            with checks.check("a study is stored with POST /instances"):
                ids = harness.upload_many(orthanc, blobs)
                original = harness.study_id(orthanc, ids[0])

            anonymized = None
            with checks.check("it is anonymized by itself once stable "
                              "(Full profile, Patient Identity Removed)"):
                def other():
                    rest = harness.studies(orthanc) - {original}
                    return rest.pop() if len(rest) == 1 else None
                anonymized = wait_for("the anonymized study", other,
                                      STABLE_AGE + 60)
                jobs = wait_for(
                    "its job to end",
                    lambda: [j for j in anonymization_jobs(orthanc)
                             if j["State"] in ("Success", "Failure")],
                    60)
                assert jobs[0]["State"] == "Success", jobs[0]["State"]
                assert jobs[0]["Content"]["Profile"] == "Full"
                inst = harness.study_instances(orthanc, anonymized)
                assert len(inst) == COUNT, "%d instances" % len(inst)
                ds = pydicom.dcmread(
                    __import__("io").BytesIO(
                        harness.file_of(orthanc, inst[0][0])))
                assert ds.PatientIdentityRemoved == "YES"
                assert ds.StudyInstanceUID != study.uid, "UID kept"

            with checks.check("the anonymized study is exported to the "
                              "server folder, whole, under its final name"):
                files = wait_for("the export",
                                 lambda: finished_export_files(
                                     os.path.join(exports, "auto"), COUNT),
                                 60)
                for path in files:
                    data = open(path, "rb").read()
                    leaks = deid.leaked(data, study.identifying())
                    assert not leaks, "an original value in an exported file"
                    assert pydicom.dcmread(path).PatientIdentityRemoved == \
                        "YES"

            with checks.check("no loop: after the anonymized study is "
                              "stable too, no third study, one job"):
                time.sleep(STABLE_AGE + 4)
                assert harness.studies(orthanc) == {original, anonymized}, \
                    "%d studies" % len(harness.studies(orthanc))
                assert len(anonymization_jobs(orthanc)) == 1, \
                    "%d jobs" % len(anonymization_jobs(orthanc))

            with checks.check("the log says what happened, with no "
                              "identifying value"):
                log = orthanc.log_text()
                assert "AutoAnonymize: study %s stable" % original in log
                assert not deid.leaked(log.encode(), study.identifying())

            with checks.check("a study whose Patient Identity Removed is "
                              "long and not YES is anonymized (was taken "
                              "for anonymized: issue 12)"):
                odd = gen.Study(gen.PATIENTS[3], 8)
                ds = pydicom.dcmread(__import__("io").BytesIO(
                    gen.make_instance(odd, 1, 1, 1)))
                ds.PatientIdentityRemoved = "NOT_DEIDENTIFIED_" * 6
                odd_id = harness.study_id(
                    orthanc, harness.upload(orthanc, gen.to_bytes(ds))["ID"])

                def odd_job():
                    for j in anonymization_jobs(orthanc):
                        studies = (j.get("Content") or {}).get("Studies") \
                            or []
                        if studies and studies[0].get("Original") == \
                                odd_id and j["State"] in ("Success",
                                                          "Failure"):
                            return j
                    return None
                job = wait_for("its anonymization job", odd_job,
                               STABLE_AGE + 60)
                assert job["State"] == "Success", job["State"]

        with checks.check("a wrong AutoAnonymize option stops Orthanc with "
                          "a message naming it"):
            bad = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                          config={"Anonymizer": {"AutoAnonymize": [
                              {"Profil": "Full"}]}},
                          start_timeout=20)
            log = bad.start_refused()
            assert log is not None, "Orthanc started"
            assert "AutoAnonymize" in log and "Profil" in log, \
                "no message naming the option"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
