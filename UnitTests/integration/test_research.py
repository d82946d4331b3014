#!/usr/bin/python3
"""Integration test: the built-in profile Research (TCIA's conventions on
top of PS3.15) and PrivateTags "tcia" (TCIA's Private Tag Knowledge Base)
in a real Orthanc.

    /usr/bin/python3 test_research.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc]

What it checks, one line per check:
  * GET /anonymizer/profiles lists Research; GET .../Research is built-in
    with its options; GET .../Research/rules gives each rule its Source
    (a PS3.15 column, the TCIA attribute list, the knowledge base) and
    TCIA's action, knowledge base rows with their creator and path;
  * a PET study with GE, Siemens and Philips private blocks (nested ones in
    public and private sequences), an SR, an RT Structure Set and an
    Enhanced MR with Philips blocks inside a sequence PS3.15 dummies,
    anonymized with Research: nothing refused, nothing dropped; dates
    shifted by one offset per patient with times kept; sex, age, weight,
    device serial number kept; Occupation and Study Comments removed; the
    study description, Structure Set Label and ROI Name cleaned of the
    patient's name (never a dummy or empty); what the knowledge base keeps
    kept with its creators at every depth, its h values hashed (UIDs
    remapped), its o dates shifted, and what it does not keep removed;
  * no original identifying value anywhere in the output's bytes;
  * a custom profile on Base Research (PUT, GET, used) keeps its base's
    rules except the option it sets;
  * ages over 89 (AgesOver89 "aggregate", HIPAA Safe Harbor): the rule
    table says so for (0010,1010); a 93-year-old's study anonymized with
    Research: 093Y and 1100M (months) become 090Y, at the top level and
    inside a kept sequence; a malformed age is removed with a warning
    naming the tag, not the value; nothing refused; the 45-year-old of the
    first study keeps 045Y.

Never prints DICOM values: only tags, keywords, statuses and counts.
"""

import datetime
import io
import os
import sys
import warnings

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import deid, dicomgen as gen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402

PT_CLASS = "1.2.840.10008.5.1.4.1.1.128"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.22"
RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
ENHANCED_MR_CLASS = "1.2.840.10008.5.1.4.1.1.4.1"
ROOT = "1.2.826.0.1.3680043.8.498.4711"
STUDY_UID = ROOT + ".1"
GE_PET = "GEMS_PETD_01"
GE_IIS = "GEIIS_RA1000"
SIEMENS_MR = "SIEMENS MR HEADER"
PHILIPS_DD1 = "Philips Imaging DD 001"
PHILIPS_MR1 = "Philips MR Imaging DD 001"
PHILIPS_PET = "Philips PET Private Group"
PHILIPS_MR5 = "Philips MR Imaging DD 005"

OLD_STUDY_UID = ROOT + ".7"
OLD_PATIENT_ID = "MRN-7741-1931"
# Patient's Age of each instance of the 93-year-old's study, and the one
# inside its Radiopharmaceutical Information Sequence (None: none)
OLD_AGES = [("093Y", "095Y"), ("1100M", None), ("93 years", None)]

FAMILY = "Quenneville"
GIVEN = "Marguerite"
PATIENT_ID = "MRN-5512-0093"
STUDY_DATE = "20230314"
EXAM_ID = "EXAM-88120"
PRIVATE_UID = ROOT + ".900"


def private(ds, group, block, creator, elements):
    """A private block: its creator at (group,00bb), then (group,bbee)."""
    ds.add_new((group << 16) | block, "LO", creator)
    for elem, vr, value in elements:
        ds.add_new((group << 16) | (block << 8) | elem, vr, value)


def base(sop_class, uid, series_uid, modality):
    ds = gen.new_file(sop_class, uid)
    ds.PatientName = "%s^%s" % (FAMILY, GIVEN)
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19480221"
    ds.PatientSex = "F"
    ds.PatientAge = "045Y"
    ds.PatientWeight = "61.5"
    ds.Occupation = "Welder at Quenneville Metals"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.SeriesTime = "102000"
    ds.AcquisitionTime = "102512"
    ds.AccessionNumber = "ACC-77120"
    ds.StudyID = "S-4711"
    ds.Modality = modality
    ds.Manufacturer = "OA Research Systems"
    ds.DeviceSerialNumber = "SN-443210"
    ds.StationName = "PETCT01"
    ds.StudyDescription = "PET FDG %s WHOLE BODY" % FAMILY
    ds.StudyComments = "call %s before the scan" % GIVEN
    return ds


def pet_instance():
    ds = base(PT_CLASS, ROOT + ".2.1", ROOT + ".2", "PT")
    ds.SeriesDescription = "PET AC"
    # Referenced Series > Referenced Image: GE's kept attribute there, a
    # Philips one no list keeps
    img = Dataset()
    img.ReferencedSOPClassUID = PT_CLASS
    img.ReferencedSOPInstanceUID = ROOT + ".2.2"
    private(img, 0x0009, 0x10, GE_IIS, [(0x01, "CS", "ORIGINAL")])
    private(img, 0x2001, 0x10, PHILIPS_DD1, [(0xA0, "LO", "REF-GONE-88")])
    ser = Dataset()
    ser.ReferencedImageSequence = Sequence([img])
    ser.SeriesInstanceUID = ROOT + ".2"
    ds.ReferencedSeriesSequence = Sequence([ser])
    # GE PET block: k, h (an ID, a UID), o, and one TCIA deletes
    private(ds, 0x0009, 0x11, GE_PET, [
        (0x01, "LO", "GE-IMPL-V7"),
        (0x02, "LO", "GE-DROP-99"),
        (0x05, "DT", STUDY_DATE + "093000"),
        (0x07, "LO", EXAM_ID),
        (0x13, "LO", PRIVATE_UID)])
    # Siemens MR header: B value kept
    private(ds, 0x0019, 0x10, SIEMENS_MR, [(0x0C, "IS", "1000")])
    # a vendor block nobody knows: removed with its creator
    private(ds, 0x0019, 0x11, "ACME HOSPITAL NOTES", [
        (0x01, "LO", "ACME-NOTE-17")])
    # Radiopharmaceutical Information > the Philips attribute TCIA keeps
    radio = Dataset()
    radio.RadiopharmaceuticalStartTime = "093000"
    radio.RadionuclideTotalDose = "370000000"
    private(radio, 0x2001, 0x10, PHILIPS_DD1, [(0xC1, "LO", "RADIO-KEEP-1")])
    ds.RadiopharmaceuticalInformationSequence = Sequence([radio])
    # Philips MR: Series PlanScan (private sequence) with what TCIA keeps
    plan = Dataset()
    private(plan, 0x2005, 0x10, PHILIPS_MR1, [
        (0x3F, "IS", "3"), (0x70, "LO", "PLAN-GONE-5")])
    ds.add_new(0x20050010, "LO", PHILIPS_MR1)
    ds.add_new(0x2005103F, "IS", "4")  # kept only inside Series PlanScan
    ds.add_new(0x20051080, "SQ", Sequence([plan]))
    ds.add_new(0x200510B0, "FL", 0.5)
    # Philips PET SUV factor (Table E.3.10-1 and the knowledge base)
    private(ds, 0x7053, 0x10, PHILIPS_PET, [(0x00, "DS", "0.000823")])
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(128))
    return gen.to_bytes(ds)


def sr_instance():
    ds = base(SR_CLASS, ROOT + ".3.1", ROOT + ".3", "SR")
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([
        gen.code_item("18748-4", "LN", "Diagnostic Imaging Report")])
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = Sequence([
        gen.code_item("121071", "DCM", "Finding")])
    text.TextValue = "No uptake; %s tolerated the scan" % FAMILY
    ds.ContentSequence = Sequence([text])
    return gen.to_bytes(ds)


def rtstruct_instance():
    ds = base(RTSTRUCT_CLASS, ROOT + ".4.1", ROOT + ".4", "RTSTRUCT")
    ds.StructureSetLabel = "GTV %s" % FAMILY
    ds.StructureSetDate = STUDY_DATE
    ds.StructureSetTime = "120000"
    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = ROOT + ".5"
    roi.ROIName = "GTV_LUNG_L"
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = Sequence([roi])
    return gen.to_bytes(ds)


def mr_instance():
    """An Enhanced MR whose Referenced Performed Procedure Step Sequence
    (X/Z/D, Type 1C there: D, its items kept with dummies) holds Philips
    attributes that TCIA's knowledge base keeps at that path, and one it
    does not (orthanc-tests/Issue22-NoPixelData.dcm in the corpus)."""
    ds = base(ENHANCED_MR_CLASS, ROOT + ".6.1", ROOT + ".6", "MR")
    pps = Dataset()
    pps.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    pps.ReferencedSOPInstanceUID = ROOT + ".6.9"
    private(pps, 0x2001, 0x10, PHILIPS_DD1, [(0xA0, "LO", "PPS-GONE-31"),
                                             (0xC1, "LO", "PPS-KEEP-C1")])
    private(pps, 0x2005, 0x14, PHILIPS_MR5, [(0x06, "LO", "PPS-KEEP-06")])
    ds.ReferencedPerformedProcedureStepSequence = Sequence([pps])
    return gen.to_bytes(ds)


def old_patient_instances():
    """A 93-year-old's PET study (another patient): Patient's Age 093Y (and
    095Y inside the Radiopharmaceutical Information Sequence, which
    Research keeps), 1100M (in months, past the AS's three digits) and a
    malformed "93 years"."""
    out = []
    for i, (age, nested) in enumerate(OLD_AGES):
        ds = base(PT_CLASS, ROOT + ".7.1.%d" % (i + 1), ROOT + ".7.1", "PT")
        ds.PatientName = "Oldcastle^Winifred"
        ds.PatientID = OLD_PATIENT_ID
        ds.StudyInstanceUID = OLD_STUDY_UID
        ds.StudyDescription = "PET FDG WHOLE BODY"
        del ds.StudyComments
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom: not a valid AS
            ds.PatientAge = age
            if nested is not None:
                radio = Dataset()
                radio.RadiopharmaceuticalStartTime = "093000"
                radio.PatientAge = nested
                ds.RadiopharmaceuticalInformationSequence = Sequence([radio])
        ds.Rows = ds.Columns = 8
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = bytes(range(128))
        out.append(gen.to_bytes(ds))
    return out


def needles():
    return [FAMILY, GIVEN, PATIENT_ID, "19480221", "ACC-77120", "S-4711",
            "Welder", EXAM_ID, PRIVATE_UID, STUDY_UID, "ACME-NOTE-17",
            "GE-DROP-99", "REF-GONE-88", "PLAN-GONE-5", "PPS-GONE-31",
            "ACME HOSPITAL NOTES", "before the scan"]


def shifted(date, days):
    d = datetime.date(int(date[:4]), int(date[4:6]), int(date[6:8]))
    return (d + datetime.timedelta(days=days)).strftime("%Y%m%d")


def private_value(ds, group, creator, elem):
    """The value of (group, creator, elem) in `ds` (one level), or None."""
    for blk in range(0x10, 0x100):
        c = ds.get((group << 16) | blk)
        if c is not None and str(c.value).strip() == creator:
            e = ds.get((group << 16) | (blk << 8) | elem)
            return None if e is None else e.value
    return None


def has_creator(ds, group, creator):
    return any(str(ds[(group << 16) | blk].value).strip() == creator
               for blk in range(0x10, 0x100)
               if (group << 16) | blk in ds)


def profile_checks(o, c):
    with c.check("GET /anonymizer/profiles lists Research"):
        names = o.get_json("/anonymizer/profiles")
        assert names[:3] == ["Default", "Full", "Research"], names

    with c.check("GET /anonymizer/profiles/Research: built-in, its options"):
        p = o.get_json("/anonymizer/profiles/Research")
        assert p.get("BuiltIn") is True and p.get("Base") == "Research", p
        want = {"Dates": "shift", "BodyCharacteristics": "keep",
                "DeviceIdentity": "keep", "Descriptions": "clean",
                "StructuredContent": "clean", "PrivateTags": "tcia",
                "SecondaryCapturesAndReports": "keep",
                "BurnedInText": "clean", "InstitutionIdentity": "clear",
                "AgesOver89": "aggregate"}
        for k, v in want.items():
            assert p.get(k) == v, "%s: %r" % (k, p.get(k))

    with c.check("GET /anonymizer/profiles/Research/rules: each rule with "
                 "its source, TCIA's action, knowledge base paths"):
        rules = o.get_json("/anonymizer/profiles/Research/rules")
        rows = [r for r in rules if r.get("PixelRule") is not True]
        assert all(isinstance(r.get("Source"), str) and r["Source"]
                   for r in rows), "a row without Source"
        by_tag = {}
        for r in rows:
            by_tag.setdefault(r["Tag"], r)
        occ = by_tag["(0010,2180)"]
        assert (occ["Action"], occ["Source"]) == (
            "remove", "TCIA attribute list"), occ
        sn = by_tag["(0018,1000)"]
        assert (sn["Action"], sn["Source"], sn.get("TCIA")) == (
            "keep", "Retain Device Identity Option", "remove"), sn
        ssl = by_tag["(3006,0002)"]
        assert (ssl["Action"], ssl.get("TCIA")) == ("clean", "keep"), ssl
        kb = [r for r in rows
              if r["Source"] == "TCIA private tag knowledge base"
              and r.get("PrivateCreator")]
        assert len(kb) >= 2411, len(kb)
        assert any(r.get("Path") == '(0054,0016)(2001,"%s",c1)' % PHILIPS_DD1
                   and r["Action"] == "keep" for r in kb), "no nested row"
        assert any(r.get("PrivateCreator") == GE_PET and
                   r["Tag"] == "(0009,xx05)" and r["Action"] == "shift"
                   for r in kb), "no o row"
        assert any(r.get("PrivateCreator") == GE_PET and
                   r["Tag"] == "(0009,xx07)" and r["Action"] == "hash"
                   for r in kb), "no h row"

    with c.check("GET /anonymizer/profiles/Research/rules: Patient's Age "
                 "kept by Retain Patient Characteristics, cleaned by "
                 "AgesOver89"):
        rules = o.get_json("/anonymizer/profiles/Research/rules")
        (age,) = [r for r in rules if r.get("Tag") == "(0010,1010)"]
        assert (age["Action"], age["Source"]) == (
            "clean", "Retain Patient Characteristics Option"), age
        assert 'AgesOver89 "aggregate"' in age["Reason"], age["Reason"]


def anonymize(o, c, sid, profile):
    status, content, _ = harness.post_json(o, "/anonymizer/anonymize", {
        "Resources": [{"Level": "Study", "ID": sid}],
        "Profile": profile, "Asynchronous": False})
    assert status == 200, "HTTP %d" % status
    return content


def output_checks(o, c, sid):
    content = {}
    with c.check("Research: 4 instances stored, none refused or dropped"):
        content = anonymize(o, c, sid, "Research")
        (s,) = content["Studies"]
        assert (s["Instances"], s["Failed"]) == (4, 0), (
            s["Instances"], s["Failed"])
        assert content["Failed"] == [], "%d failed" % len(content["Failed"])
    (s,) = content["Studies"]
    files = [harness.file_of(o, iid)
             for iid, _ in harness.study_instances(o, s["Anonymized"])]
    out = {}
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        out[str(ds.SOPClassUID)] = ds
    pet, sr, rt = out[PT_CLASS], out[SR_CLASS], out[RTSTRUCT_CLASS]
    mr = out[ENHANCED_MR_CLASS]

    with c.check("no original identifying value in any output byte"):
        for data in files:
            hits = deid.leaked(data, needles())
            assert not hits, "values %s found" % hits

    offset = {}
    with c.check("dates shifted by one offset per patient, times kept"):
        d0 = datetime.date(2023, 3, 14)
        d1 = datetime.datetime.strptime(pet.StudyDate, "%Y%m%d").date()
        offset["days"] = (d1 - d0).days
        assert offset["days"] < 0, "not shifted back"
        for ds in out.values():
            assert ds.StudyDate == pet.StudyDate, "StudyDate differs"
            assert ds.StudyTime == "101500", "StudyTime changed"
            assert ds.AcquisitionTime == "102512", "AcquisitionTime changed"
        assert rt.StructureSetDate == pet.StudyDate, "StructureSetDate"
        assert pet.PatientIdentityRemoved == "YES", "PatientIdentityRemoved"
        assert pet.LongitudinalTemporalInformationModified == "MODIFIED"

    with c.check("patient characteristics and device identity kept; "
                 "Occupation and Study Comments removed"):
        assert (pet.PatientSex, pet.PatientAge, str(pet.PatientWeight)) == (
            "F", "045Y", "61.5"), "characteristics"
        assert pet.DeviceSerialNumber == "SN-443210", "DeviceSerialNumber"
        assert pet.StationName == "PETCT01", "StationName"
        assert "Occupation" not in pet, "Occupation kept"
        assert "StudyComments" not in pet, "StudyComments kept"

    with c.check("descriptions, Structure Set Label and ROI Name kept or "
                 "cleaned, never a dummy or empty; SR text cleaned"):
        desc = str(pet.StudyDescription)
        assert "WHOLE BODY" in desc and "PET FDG" in desc, "description"
        label = str(rt.StructureSetLabel)
        assert label.startswith("GTV"), "StructureSetLabel"
        assert label != "ANONYMIZED", "a dummy label"
        roi = rt.StructureSetROISequence[0]
        assert roi.ROIName == "GTV_LUNG_L", "ROIName"
        text = str(sr.ContentSequence[0].TextValue)
        assert "tolerated the scan" in text, "SR text value"

    with c.check("knowledge base: kept attributes and their creators at "
                 "every depth, unknown blocks removed"):
        assert private_value(pet, 0x0009, GE_PET, 0x01) == "GE-IMPL-V7"
        assert private_value(pet, 0x0009, GE_PET, 0x02) is None
        assert str(private_value(pet, 0x0019, SIEMENS_MR, 0x0C)) == "1000"
        assert not has_creator(pet, 0x0019, "ACME HOSPITAL NOTES")
        assert str(private_value(pet, 0x7053, PHILIPS_PET, 0x00)) == \
            "0.000823"
        radio = pet.RadiopharmaceuticalInformationSequence[0]
        assert private_value(radio, 0x2001, PHILIPS_DD1, 0xC1) == \
            "RADIO-KEEP-1", "Philips in Radiopharmaceutical Information"
        img = pet.ReferencedSeriesSequence[0].ReferencedImageSequence[0]
        assert private_value(img, 0x0009, GE_IIS, 0x01) == "ORIGINAL", \
            "GE in Referenced Image Sequence"
        assert private_value(img, 0x2001, PHILIPS_DD1, 0xA0) is None
        assert private_value(pet, 0x2005, PHILIPS_MR1, 0x3F) is None, \
            "top-level (2005,xx3F) kept"
        plan = private_value(pet, 0x2005, PHILIPS_MR1, 0x80)
        assert plan is not None and len(plan) == 1, "Series PlanScan"
        assert str(private_value(plan[0], 0x2005, PHILIPS_MR1, 0x3F)) == "3"
        assert private_value(plan[0], 0x2005, PHILIPS_MR1, 0x70) is None

    with c.check("knowledge base inside a sequence PS3.15 dummies "
                 "(Referenced Performed Procedure Step, D): the Philips "
                 "attributes it keeps there kept with their creators, the "
                 "other removed"):
        (pps,) = mr.ReferencedPerformedProcedureStepSequence
        assert private_value(pps, 0x2001, PHILIPS_DD1, 0xC1) == \
            "PPS-KEEP-C1", "(2001,xxC1) in the sequence"
        assert private_value(pps, 0x2005, PHILIPS_MR5, 0x06) == \
            "PPS-KEEP-06", "(2005,xx06) in the sequence"
        assert private_value(pps, 0x2001, PHILIPS_DD1, 0xA0) is None, \
            "(2001,xxA0) kept"
        assert has_creator(pps, 0x2001, PHILIPS_DD1) and \
            has_creator(pps, 0x2005, PHILIPS_MR5), "a creator lost"

    with c.check("knowledge base: h hashes the ID and remaps the UID, o "
                 "shifts the date by the patient's offset"):
        exam = private_value(pet, 0x0009, GE_PET, 0x07)
        assert exam is not None and len(str(exam)) == 16 and \
            all(ch in "0123456789ABCDEF" for ch in str(exam)), "h of an ID"
        uid = str(private_value(pet, 0x0009, GE_PET, 0x13))
        assert uid.startswith("2.25."), "h of a UID"
        when = str(private_value(pet, 0x0009, GE_PET, 0x05))
        assert when == shifted(STUDY_DATE, offset["days"]) + "093000", \
            "o date"
    return content


def custom_checks(o, c, sid, first):
    with c.check("a custom profile on Base Research: saved, listed, its "
                 "own option applied, the rest of its base kept"):
        # The same UIDs again: Orthanc would keep the first copies.
        (s,) = first["Studies"]
        status, _, _ = o.request("DELETE", "/studies/%s" % s["Anonymized"])
        assert status == 200, "DELETE HTTP %d" % status
        status, _, _ = o.request("PUT", "/anonymizer/profiles/research-dates",
                                 body={"Base": "Research", "Dates": "keep"})
        assert status == 200, "PUT HTTP %d" % status
        p = o.get_json("/anonymizer/profiles/research-dates")
        assert (p.get("Base"), p.get("Dates"), p.get("PrivateTags")) == (
            "Research", "keep", "tcia"), p
        content = anonymize(o, c, sid, "research-dates")
        (s,) = content["Studies"]
        assert (s["Instances"], s["Failed"]) == (4, 0), s
        for iid, _ in harness.study_instances(o, s["Anonymized"]):
            ds = pydicom.dcmread(io.BytesIO(harness.file_of(o, iid)))
            assert ds.StudyDate == STUDY_DATE, "Dates keep not applied"
            assert "Occupation" not in ds, "Occupation kept"
            assert ds.DeviceSerialNumber == "SN-443210", "serial number"


def ages_checks(o, c, sid):
    with c.check("Research, a 93-year-old: 093Y and 1100M become 090Y at "
                 "every depth, a malformed age removed with a warning "
                 "naming the tag; 3 instances stored, none refused"):
        content = anonymize(o, c, sid, "Research")
        (s,) = content["Studies"]
        assert (s["Instances"], s["Failed"]) == (3, 0), (
            s["Instances"], s["Failed"])
        ages = []
        for iid, _ in harness.study_instances(o, s["Anonymized"]):
            data = harness.file_of(o, iid)
            for old in (b"093Y", b"095Y", b"1100M", b"93 years"):
                assert old not in data, "an original age in the output"
            ds = pydicom.dcmread(io.BytesIO(data))
            nested = [str(item.PatientAge) for item in
                      ds.get("RadiopharmaceuticalInformationSequence", [])
                      if "PatientAge" in item]
            ages.append((str(ds.get("PatientAge", "-")), nested))
        assert sorted(ages) == [("-", []), ("090Y", []),
                                ("090Y", ["090Y"])], ages
        warned = [w["Warning"] for w in content.get("LeakCheckWarnings", [])
                  if "AgesOver89" in w.get("Warning", "")]
        assert len(warned) == 1, "%d AgesOver89 warnings" % len(warned)
        assert "(0010,1010)" in warned[0] and "93" not in warned[0], \
            "the warning does not name the tag alone"


def main():
    args = standard_arguments(__doc__)
    c = Checks()
    o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                verbose=args.verbose,
                config={"Anonymizer": {"Secret": "research-secret-0001"}})
    with o:
        ids = harness.upload_many(o, [pet_instance(), sr_instance(),
                                      rtstruct_instance(), mr_instance()])
        sid = harness.study_id(o, ids[0])
        old_ids = harness.upload_many(o, old_patient_instances())
        old_sid = harness.study_id(o, old_ids[0])
        originals = {i: harness.md5(harness.file_of(o, i)) for i in ids}
        profile_checks(o, c)
        first = output_checks(o, c, sid)
        custom_checks(o, c, sid, first)
        ages_checks(o, c, old_sid)
        with c.check("the originals are unchanged"):
            for i, digest in originals.items():
                assert harness.md5(harness.file_of(o, i)) == digest, i
        with c.check("Orthanc's log holds no identifying value"):
            with open(o.log_path, "rb") as f:
                log = f.read()
            assert not deid.leaked(log, needles()), "a value in the log"
    c.stopped_cleanly(o)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
