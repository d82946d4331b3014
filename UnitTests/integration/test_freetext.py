#!/usr/bin/python3
"""Integration test: free text without identity (issue 16, "Free text").

    /usr/bin/python3 test_freetext.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

One study through a real Orthanc: a CT instance and a Basic Text SR of a
patient whose identity is planted in free text in every way the issue
lists, in top-level attributes (Study and Series Description, Medical
Alerts, Additional Patient History, Patient Comments, Image Comments,
Requested Procedure Description, Study Comments) and in SR TEXT content
items at depth 1 and 2: person names of several roles (patient, other
name, mother, responsible person, referring, performing and reading
physicians, operator, and an SR observer that comes after the texts),
fragments of Patient's and Institution Address and a street address the
instance does not hold, phone numbers, an e-mail address, a URL with a
path, a social security number, dates in each spelling, identifiers
(Patient ID, Other Patient IDs, accession, issuer, study ID) and an age of
93.  Every text planted in a top-level attribute is planted once more in
an SR TEXT content item (depth 2, in a CONTAINER), so that each case is
proven in both places.  Anonymized with four profiles, one check per case:

  * "Clearing" (Full, Descriptions and StructuredContent "clean", reports
    kept): each text holds exactly what is left once the identity is
    taken out, the rest of the sentence kept; dates removed;
  * "Shifting" (the same with Dates "shift"): each date in the text is
    moved by the patient's offset (the one of the header's Study Date), in
    its own spelling;
  * Research (the built-in): nothing refused, the SR kept; descriptions,
    Medical Alerts, Additional Patient History and the requested
    procedure cleaned as under Clearing, the comments removed (TCIA's
    list), the SR's texts exactly those of Shifting (same patient, same
    offset);
  * Default: the instance whose Study Description holds the patient's name
    and MRN is cleaned, not refused (113105 in (0012,0064)); dates kept
    but the birth date, in any spelling;
  * in every output none of the identifying values is left anywhere (any
    ASCII case), and Orthanc's log holds none of them.
Never prints DICOM values: only labels, tags and counts.
"""

import datetime
import io
import os
import sys

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicomgen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.11"
STUDY_UID = "1.2.826.0.1.3680043.8.498.16001"
STUDY_DATE = "20230320"

CLEARING = {"Base": "Full", "Descriptions": "clean",
            "StructuredContent": "clean",
            "SecondaryCapturesAndReports": "keep",
            "BodyCharacteristics": "keep", "BurnedInText": "keep"}
SHIFTING = dict(CLEARING, Dates="shift")

# What identifies someone in this study: none of it may be left in an
# output (matched, never printed).
IDENTIFYING = [
    "Wrenfield", "Priscilla", "Pemberton", "Castellano", "Halvorsen",
    "Okonkwo", "Adaeze", "Lindqvist", "Torbjorn", "Abernathy", "Cornelius",
    "Baptiste", "Marie-Claire", "Quarrington", "Beatrix", "MRN4471902",
    "XR-88213", "ACC99812", "ST66120", "Springfield", "62704", "Duluth",
    "Harbor Boulevard", "Juniper Lane", "218-555-0199", "555-0142",
    "2185550199", "p.wrenfield@example.org", "portal.example.org",
    "123-45-6789", "19330314", "03/14/1933"]

# Planted texts, by attribute keyword: (text, what Clearing leaves).
TEXTS = {
    "StudyDescription": ("CT CHEST Priscilla Wrenfield MRN4471902",
                         "CT CHEST"),
    "SeriesDescription": ("IDs MRN4471902 XR-88213 ACC99812 ST66120 "
                          "NORTHSHORE", "IDs"),
    "MedicalAlerts": ("contact Priscilla 218-555-0199", "contact"),
    "AdditionalPatientHistory": (
        "Lives at 4417 Wrenfield Avenue, Springfield IL 62704; before at "
        "88 Juniper Lane; clinic at 1200 Harbor Boulevard, Duluth",
        "Lives at , ; before at ; clinic at ,"),
    "PatientComments": (
        "nee Pemberton; mother Rosa Castellano; guardian Ingrid "
        "Halvorsen; ref Dr. Okonkwo, read by Dr Abernathy, performed "
        "Torbjorn Lindqvist, tech Marie-Claire Baptiste",
        "nee ; mother ; guardian ; ref Dr. , read by Dr , performed , tech"),
    "StudyComments": (
        "mail p.wrenfield@example.org, see "
        "https://portal.example.org/patients/4471902, SSN 123-45-6789, "
        "call (218) 555-0142 or 2185550199",
        "mail , see , SSN , call or"),
    "RequestedProcedureDescription": ("93-year-old, aged 93; son 45-year-old",
                                      "90+-year-old, aged 90+; son "
                                      "45-year-old"),
}
DATES_TEXT = ("DOB 03/14/1933; seen 03/14/2023, 14.03.2023, 2023-03-14, "
              "14 Mar 2023, March 14, 2023")
SR_TEXT = ("Seen 03/14/2023 with Torbjorn Lindqvist; call (218) 555-0142; "
           "93 y/o")
SR_TEXT_CLEARED = "Seen with ; call ; 90+ y/o"
SR_NESTED = ("Priscilla lives at 4417 Wrenfield Avenue; e-mail "
             "pw@example.org; observer Beatrix Quarrington")
SR_NESTED_CLEARED = "lives at ; e-mail ; observer"
# The top-level cases again, as SR TEXT items at depth 2 (in this order).
SR_CASES = [t for t, _ in TEXTS.values()] + [DATES_TEXT]
SR_CASES_CLEARED = [c for _, c in TEXTS.values()] + ["DOB ; seen , , , ,"]


def identity(ds):
    """The people, addresses and IDs of the patient's study."""
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC99812"
    ds.InstitutionName = "Northshore Regional Medical Center"
    ds.InstitutionAddress = "1200 Harbor Boulevard, Duluth, MN 55802"
    ds.ReferringPhysicianName = "Okonkwo^Adaeze"
    ds.ReferringPhysicianTelephoneNumbers = "(218) 555-0142"
    ds.PerformingPhysicianName = "Lindqvist^Torbjorn"
    ds.NameOfPhysiciansReadingStudy = "Abernathy^Cornelius^^Dr."
    ds.OperatorsName = "Baptiste^Marie-Claire"
    ds.PatientName = "Wrenfield^Priscilla^Jo"
    ds.PatientID = "MRN4471902"
    ds.IssuerOfPatientID = "NORTHSHORE"
    ds.PatientBirthDate = "19330314"
    ds.PatientSex = "F"
    ds.OtherPatientIDs = "XR-88213"
    ds.OtherPatientNames = "Pemberton^Priscilla"
    ds.PatientAge = "093Y"
    ds.PatientAddress = "4417 Wrenfield Avenue, Springfield, IL 62704"
    ds.PatientMotherBirthName = "Castellano^Rosa"
    ds.PatientTelephoneNumbers = "218-555-0199"
    ds.ResponsiblePerson = "Halvorsen^Ingrid"
    ds.StudyID = "ST66120"
    ds.Manufacturer = "OA Test"


def make_ct():
    ds = dicomgen.new_file(CT_CLASS, "1.2.826.0.1.3680043.8.498.16002")
    identity(ds)
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.16003"
    ds.Modality = "CT"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    for keyword, (text, _) in TEXTS.items():
        setattr(ds, keyword, text)
    ds.ImageComments = DATES_TEXT
    return dicomgen.to_bytes(ds)


def text_item(text):
    it = Dataset()
    it.RelationshipType = "CONTAINS"
    it.ValueType = "TEXT"
    it.ConceptNameCodeSequence = Sequence([dicomgen.code_item(
        "121071", "DCM", "Finding")])
    it.TextValue = text
    return it


def make_sr():
    ds = dicomgen.new_file(SR_CLASS, "1.2.826.0.1.3680043.8.498.16004")
    identity(ds)
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.16005"
    ds.Modality = "SR"
    ds.SeriesNumber = "2"
    ds.InstanceNumber = "1"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([dicomgen.code_item(
        "18748-4", "LN", "Diagnostic Imaging Report")])
    nested = Dataset()
    nested.RelationshipType = "CONTAINS"
    nested.ValueType = "CONTAINER"
    nested.ContinuityOfContent = "SEPARATE"
    nested.ConceptNameCodeSequence = Sequence([dicomgen.code_item(
        "121070", "DCM", "Findings")])
    # the nested container: the observer's text, then every text of the
    # top-level cases once more (SR_CASES)
    nested.ContentSequence = Sequence([text_item(SR_NESTED)] +
                                      [text_item(t) for t in SR_CASES])
    observer = Dataset()
    observer.RelationshipType = "HAS OBS CONTEXT"
    observer.ValueType = "PNAME"
    observer.ConceptNameCodeSequence = Sequence([dicomgen.code_item(
        "121008", "DCM", "Person Observer Name")])
    observer.PersonName = "Quarrington^Beatrix"
    ds.ContentSequence = Sequence([text_item(SR_TEXT), nested, observer])
    return dicomgen.to_bytes(ds)


def anonymize(o, sid, profile):
    """{modality: (Dataset, raw bytes)} of a synchronous anonymization,
    and the job's content."""
    status, content, _ = harness.post_json(
        o, "/anonymizer/studies/%s/anonymize" % sid,
        {"Profile": profile, "Asynchronous": False}, timeout=180)
    assert status == 200, "anonymize: HTTP %d" % status
    out = {}
    for st in content.get("Studies", []):
        if st.get("Anonymized"):
            for iid, _uid in harness.study_instances(o, st["Anonymized"]):
                raw = harness.file_of(o, iid)
                ds = pydicom.dcmread(io.BytesIO(raw))
                out[str(ds.Modality)] = (ds, raw)
            # the next profile gives the same UIDs: Orthanc would keep
            # these instances instead of storing the new ones
            status, _, _ = o.request("DELETE",
                                     "/studies/%s" % st["Anonymized"])
            assert status == 200, "DELETE the anonymized study: HTTP %d" \
                % status
    return out, content


def failures(content):
    return [str(f.get("Error")) for f in content.get("Failed") or []]


def left_in(raw):
    """The identifying values (labels: their index) found in raw bytes,
    in any ASCII case."""
    low = raw.lower()
    return ["identifying value #%d" % i for i, v in enumerate(IDENTIFYING)
            if v.lower().encode() in low]


def text(ds, keyword):
    return str(ds.get(keyword, "")).strip() if keyword in ds else None


def sr_texts(ds):
    """TEXT values of the output's content tree: (depth, text)."""
    found = []

    def walk(items, depth):
        for it in items:
            if "TextValue" in it:
                found.append((depth, str(it.TextValue).strip()))
            if "ContentSequence" in it:
                walk(it.ContentSequence, depth + 1)
    walk(ds.get("ContentSequence", []), 1)
    return found


def shifted(spelling, date, days):
    """`date` moved by `days`, written as in `spelling`."""
    d = date + datetime.timedelta(days=days)
    return {
        "m/d/Y": d.strftime("%m/%d/%Y"),
        "d.m.Y": d.strftime("%d.%m.%Y"),
        "Y-m-d": d.strftime("%Y-%m-%d"),
        "d b Y": "%02d %s %d" % (d.day, d.strftime("%b"), d.year),
        "B d, Y": "%s %02d, %d" % (d.strftime("%B"), d.day, d.year),
    }[spelling]


def main():
    args = standard_arguments(__doc__)
    checks = c = Checks()
    o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                verbose=args.verbose)
    with o:
        ct_id = harness.upload(o, make_ct())["ID"]
        harness.upload(o, make_sr())
        sid = harness.study_id(o, ct_id)

        clearing, content = anonymize(o, sid, CLEARING)
        with c.check("Clearing: both instances anonymized, none refused"):
            assert not failures(content), "failed: %s" % failures(content)
            assert set(clearing) == {"CT", "SR"}, sorted(clearing)
        ct = clearing.get("CT", (Dataset(), b""))[0]
        sr = clearing.get("SR", (Dataset(), b""))[0]
        cases = [
            ("person names of every role, whole and by component",
             ["StudyDescription", "PatientComments"]),
            ("addresses: fragments of Patient's and Institution Address, "
             "a street address", ["AdditionalPatientHistory"]),
            ("a relative's name and phone number (Medical Alerts)",
             ["MedicalAlerts"]),
            ("e-mail, URL with a path, SSN, phone numbers",
             ["StudyComments"]),
            ("identifiers: Patient ID, Other Patient IDs, accession, "
             "issuer, study ID", ["SeriesDescription"]),
            ("an age of 93 becomes 90+", ["RequestedProcedureDescription"]),
        ]
        for label, keywords in cases:
            with c.check("Clearing, %s: cleaned, the rest of the sentence "
                         "kept" % label):
                for k in keywords:
                    got = text(ct, k)
                    assert got == TEXTS[k][1], "%s: %d characters left, " \
                        "not the %d expected" % (k, len(got or ""),
                                                 len(TEXTS[k][1]))
        with c.check("Clearing, dates in each spelling removed"):
            got = text(ct, "ImageComments")
            assert got == "DOB ; seen , , , ,", "ImageComments: %d " \
                "characters left" % len(got or "")
        with c.check("Clearing, SR text values at depth 1 and 2 cleaned "
                     "(names, phone, date, age, address, e-mail, and the "
                     "observer named after them)"):
            got = sr_texts(sr)
            want = [(1, SR_TEXT_CLEARED), (2, SR_NESTED_CLEARED)]
            assert got[:2] == want, "TEXT items: %d, as expected: %d" % (
                len(got), sum(1 for g in got[:2] if g in want))
        with c.check("Clearing, SR content items (depth 2): every top-level "
                     "case once more (names of every role, addresses, "
                     "phones, e-mail, URL, SSN, identifiers, age 93, dates "
                     "in each spelling), cleaned alike"):
            got = [t for d, t in sr_texts(sr)[2:] if d == 2]
            assert got == SR_CASES_CLEARED, "%d of %d SR texts as expected" \
                % (sum(1 for g, w in zip(got, SR_CASES_CLEARED) if g == w),
                   len(SR_CASES_CLEARED))
        with c.check("Clearing: no identifying value left in any output"):
            left = [m + " (" + mod + ")" for mod, (_, raw) in
                    sorted(clearing.items()) for m in left_in(raw)]
            assert not left, ", ".join(left)

        shifting_sr = None
        shifting, content = anonymize(o, sid, SHIFTING)
        with c.check("Shifting: each date of the text moved by the "
                     "patient's offset, in its own spelling"):
            assert not failures(content), "failed: %s" % failures(content)
            out = shifting["CT"][0]
            day = datetime.date(2023, 3, 14)
            offset = (datetime.datetime.strptime(str(out.StudyDate),
                                                 "%Y%m%d").date() -
                      datetime.date(2023, 3, 20)).days
            assert offset != 0, "the study date did not move"
            want = "DOB ; seen " + ", ".join(
                shifted(s, day, offset) for s in
                ("m/d/Y", "d.m.Y", "Y-m-d", "d b Y", "B d, Y"))
            got = text(out, "ImageComments")
            assert got == want, "ImageComments differs from the expected " \
                "shift (%d days)" % offset
            texts = sr_texts(shifting["SR"][0])
            moved = shifted("m/d/Y", day, offset)
            assert texts and texts[0][1].startswith("Seen %s with" % moved), \
                "the SR's date not moved by the same offset"
            assert texts[-1] == (2, want), "the SR content item's dates in " \
                "each spelling not moved like the Image Comments'"
            shifting_sr = texts
        with c.check("Shifting: no identifying value left in any output"):
            left = [m + " (" + mod + ")" for mod, (_, raw) in
                    sorted(shifting.items()) for m in left_in(raw)]
            assert not left, ", ".join(left)

        research, content = anonymize(o, sid, "Research")
        with c.check("Research: nothing refused, the CT and the SR kept"):
            assert not failures(content), "failed: %s" % failures(content)
            assert set(research) == {"CT", "SR"}, sorted(research)
        with c.check("Research: descriptions, Medical Alerts, Additional "
                     "Patient History, requested procedure cleaned as under "
                     "Clearing; the comments removed (TCIA's list)"):
            out = research["CT"][0]
            for k in ("StudyDescription", "SeriesDescription",
                      "MedicalAlerts", "AdditionalPatientHistory",
                      "RequestedProcedureDescription"):
                assert text(out, k) == TEXTS[k][1], "%s not cleaned as " \
                    "expected" % k
            for k in ("PatientComments", "StudyComments", "ImageComments"):
                assert k not in out, "%s kept" % k
        with c.check("Research: the SR's texts (depth 1 and 2, every case) "
                     "exactly those of Shifting: cleaned, dates moved by the "
                     "patient's offset"):
            got = sr_texts(research["SR"][0])
            assert got == shifting_sr, "%d of %d SR texts as under " \
                "Shifting" % (sum(1 for g, w in zip(got, shifting_sr)
                                  if g == w), len(shifting_sr))
        with c.check("Research: no identifying value left in any output"):
            left = [m + " (" + mod + ")" for mod, (_, raw) in
                    sorted(research.items()) for m in left_in(raw)]
            assert not left, ", ".join(left)

        default, content = anonymize(o, sid, "Default")
        with c.check("Default: the description with the patient's name and "
                     "MRN is cleaned, not refused (113105 in (0012,0064))"):
            assert not failures(content), "failed: %s" % failures(content)
            out = default["CT"][0]
            assert text(out, "StudyDescription") == "CT CHEST", \
                "StudyDescription not cleaned"
            codes = [str(i.CodeValue) for i in
                     out.get("DeidentificationMethodCodeSequence", [])]
            assert "113105" in codes, "codes %s" % codes
            assert "SR" not in default, "Default keeps the SR"
        with c.check("Default: dates kept (full dates retained), never the "
                     "birth date, in any spelling"):
            got = text(default["CT"][0], "ImageComments")
            want = DATES_TEXT.replace("03/14/1933", "").replace("  ", " ")
            assert got == want, "ImageComments: %d characters, not %d" % (
                len(got or ""), len(want))
        with c.check("Default: no identifying value left"):
            left = left_in(default["CT"][1])
            assert not left, ", ".join(left)

        with c.check("Orthanc's log holds none of the identifying values"):
            log = o.log_text().lower()
            assert not [v for v in IDENTIFYING if v.lower() in log], \
                "an identifying value is logged"
    checks.stopped_cleanly(o)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
