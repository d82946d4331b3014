#!/usr/bin/python3
"""Compare Orthanc's own anonymizer with ours on one synthetic study.

    /usr/bin/python3 Resources/Scripts/compare-orthanc.py \
        --tool build/oa-anonymize [--orthanc /usr/sbin/Orthanc] [--keep DIR]

Writes a synthetic PET/CT study with pydicom (2 CT images and 1 PET image
sharing a rich header: names in many places, physicians, operators,
institution, accession, other patient IDs and their sequence, dates and
times, instance UIDs and references between the images, a Philips PET
block of safe private attributes and an unsafe private block, a nested
sequence with a person name, a request attributes sequence, an overlay, a
curve-like 50xx group, free-text comments), then

  * starts Debian's Orthanc (no plugin) with UnitTests/integration/
    oatest/harness.py, uploads the study, runs the built-in
    POST /studies/{id}/anonymize (synchronous, default body) twice and
    downloads both results;
  * runs `oa-anonymize --profile Full` and `--profile Default` on the same
    files (fixed secret), Full twice;

and prints Markdown for README: one row per attribute of the PET instance
(sequences walked) with what PS3.15 2026d's Basic Profile says and what
each anonymizer did (kept / changed / emptied / removed; **kept** in bold
where the original value is left although the Basic Profile would change
it and no option of the profile asks for it), the original identifying
values each leaves anywhere in its output, whether references between
the images still resolve, and whether the UIDs are the same across two
runs.  No value of the study is printed (they are synthetic anyway).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "UnitTests", "lib"))

from oatest import corpus, deid  # noqa: E402
from oatest.harness import DEFAULT_ORTHANC, Orthanc  # noqa: E402
from oatest.tool import (STATUS_OK, explain, read_tsv, run_tool,  # noqa: E402
                         tool_supports_profiles)

import pydicom  # noqa: E402
from pydicom.datadict import keyword_for_tag  # noqa: E402
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset  # noqa
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402

SECRET = "compare-orthanc-secret"
ROOT = "1.2.826.0.1.3680043.8.498.3003."
STUDY_UID = ROOT + "1"
FOR_UID = ROOT + "2"
CT_SERIES = ROOT + "10"
PT_SERIES = ROOT + "20"
CT_UIDS = [ROOT + "11", ROOT + "12"]
PT_UID = ROOT + "21"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
PT_CLASS = "1.2.840.10008.5.1.4.1.1.128"


# ------------------------------------------------------------------ #
# The synthetic study

def code(value, scheme, meaning):
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = scheme
    c.CodeMeaning = meaning
    return c


def ref(sop_class, sop_uid):
    r = Dataset()
    r.ReferencedSOPClassUID = sop_class
    r.ReferencedSOPInstanceUID = sop_uid
    return r


def rich_header(ds):
    ds.SpecificCharacterSet = "ISO_IR 100"
    # patient
    ds.PatientName = "Kowalski^Jan^Maria^Dr.^Jr."
    ds.PatientID = "KOW-19570312"
    ds.IssuerOfPatientID = "HOSP-NORTH"
    ds.OtherPatientIDs = "ALT-554433"
    other = Dataset()
    other.PatientID = "OPID-778899"
    other.IssuerOfPatientID = "HOSP-SOUTH"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.OtherPatientNames = "Kovalsky^Johann"
    ds.PatientBirthDate = "19570312"
    ds.PatientBirthTime = "063000"
    ds.PatientSex = "M"
    ds.PatientAge = "066Y"
    ds.PatientWeight = "82.5"
    ds.PatientSize = "1.79"
    ds.PatientAddress = "12 Lindenweg, 10115 Berlin"
    ds.PatientTelephoneNumbers = "+49 30 1234567"
    ds.PatientMotherBirthName = "Nowakowska^Anna"
    ds.EthnicGroup = "EUROPEAN"
    ds.PatientComments = "Allergic to iodine; Jan prefers mornings"
    # study
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = "20230415"
    ds.StudyTime = "091500"
    ds.AccessionNumber = "ACC-2023-000451"
    ds.StudyID = "ST451"
    ds.StudyDescription = "PET-CT whole body"
    ds.ReferringPhysicianName = "Meierhof^Hans^^Dr."
    ds.ReferringPhysicianAddress = "3 Praxisstrasse, Berlin"
    ds.ReferringPhysicianTelephoneNumbers = "+49 30 7654321"
    ds.PhysiciansOfRecord = "Schulzendorf^Eva"
    ds.NameOfPhysiciansReadingStudy = "Brauning^Otto"
    ds.PerformingPhysicianName = "Weberling^Karl"
    ds.OperatorsName = "Fischbach^Lena"
    ds.RequestingPhysician = "Wagenknecht^Paul"
    ds.InstitutionName = "St. Example Hospital"
    ds.InstitutionAddress = "1 Hospital Road, Springfield"
    ds.InstitutionalDepartmentName = "Nuclear Medicine 3"
    ds.StationName = "PETCT01"
    ds.DeviceSerialNumber = "SN-998877"
    ds.Manufacturer = "Philips"
    ds.ManufacturerModelName = "Vereos"
    ds.SoftwareVersions = "4.2.1"
    ds.ProtocolName = "WB FDG 3min"
    ds.AdmittingDiagnosesDescription = "Suspected lymphoma"
    ds.ImageComments = "Kowalski moved during bed 3"
    ds.AdditionalPatientHistory = "Chemo 2022, Dr Meierhof"
    ds.InstanceCreatorUID = ROOT + "99"
    ds.FrameOfReferenceUID = FOR_UID
    ds.PositionReferenceIndicator = ""
    # referenced study / performed procedure step
    ds.ReferencedStudySequence = Sequence([ref("1.2.840.10008.3.1.2.3.1",
                                               ROOT + "5")])
    ds.ReferencedPerformedProcedureStepSequence = Sequence(
        [ref("1.2.840.10008.3.1.2.3.3", ROOT + "6")])
    # request attributes, scheduled step with a person name (nested)
    req = Dataset()
    req.RequestedProcedureID = "RP-451"
    req.ScheduledProcedureStepID = "SPS-451"
    req.AccessionNumber = "ACC-2023-000451"
    req.RequestedProcedureDescription = "PET-CT FDG"
    req.ScheduledProtocolCodeSequence = Sequence([code("P5-0905E", "SRT",
                                                       "PET/CT")])
    ds.RequestAttributesSequence = Sequence([req])
    sps = Dataset()
    sps.ScheduledPerformingPhysicianName = "Planer^Sam"
    sps.ScheduledStationAETitle = "PETCT01"
    sps.ScheduledProcedureStepStartDate = "20230415"
    sps.ScheduledProcedureStepDescription = "FDG whole body"
    ds.ScheduledProcedureStepSequence = Sequence([sps])
    # procedure code (kept by every profile: a code)
    ds.ProcedureCodeSequence = Sequence([code("PETWB", "99LOCAL",
                                              "PET whole body")])
    # dates and times
    for kw, v in (("SeriesDate", "20230415"), ("SeriesTime", "101500"),
                  ("AcquisitionDate", "20230415"),
                  ("AcquisitionTime", "102000"),
                  ("ContentDate", "20230415"), ("ContentTime", "103000"),
                  ("InstanceCreationDate", "20230415"),
                  ("InstanceCreationTime", "104500"),
                  ("AcquisitionDateTime", "20230415102000")):
        setattr(ds, kw, v)
    # overlay 6000 and curve-like 5000 groups
    ds.add_new(0x60000010, "US", 2)
    ds.add_new(0x60000011, "US", 2)
    ds.add_new(0x60000022, "LO", "Lesion marker")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x0f\x00")
    ds.add_new(0x60004000, "LT", "Overlay drawn for Kowalski")
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50000010, "US", 2)
    ds.add_new(0x50000020, "CS", "TAC")
    ds.add_new(0x50002500, "LO", "Kowalski time-activity")
    ds.add_new(0x50003000, "OB", b"\x01\x02\x03\x04")
    # private: Philips PET (safe: SUV factors), Siemens-like (unsafe)
    ds.add_new(0x70530010, "LO", "Philips PET Private Group")
    ds.add_new(0x70531000, "DS", "0.000123456")
    ds.add_new(0x70531009, "DS", "1.2345")
    ds.add_new(0x00190010, "LO", "OA TEST PRIVATE")
    ds.add_new(0x00191010, "LO", "Kowalski Jan scanned by Fischbach")
    ds.add_new(0x00191011, "UI", ROOT + "77")
    # pixels
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 2
    ds.Columns = 2
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(8))


def new_file(path, sop_class, sop_uid):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    return ds


def build_variant(folder):
    """CT 1 of another patient with the operator's name in (6000,0022)
    Overlay Description, an attribute that Table E.1-1 does not list."""
    p = os.path.join(folder, "variant", "CT1.dcm")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    ds = new_file(p, CT_CLASS, ROOT + "411")
    rich_header(ds)
    ds.PatientID = "KOW-VARIANT-2"
    ds.StudyInstanceUID = ROOT + "401"
    ds.SeriesInstanceUID = ROOT + "410"
    ds.Modality = "CT"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.add_new(0x60000022, "LO", "Marker by Fischbach")
    ds.save_as(p, write_like_original=False)
    return p


def build_study(folder):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, uid in enumerate(CT_UIDS):
        p = os.path.join(folder, "CT%d.dcm" % (i + 1))
        ds = new_file(p, CT_CLASS, uid)
        rich_header(ds)
        ds.Modality = "CT"
        ds.SeriesInstanceUID = CT_SERIES
        ds.SeriesNumber = "1"
        ds.InstanceNumber = str(i + 1)
        ds.SeriesDescription = "CT AC"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.IrradiationEventUID = ROOT + "3%d" % i
        if i == 1:
            ds.ReferencedImageSequence = Sequence([ref(CT_CLASS, CT_UIDS[0])])
        ds.save_as(p, write_like_original=False)
        paths.append(p)
    p = os.path.join(folder, "PT1.dcm")
    ds = new_file(p, PT_CLASS, PT_UID)
    rich_header(ds)
    ds.Modality = "PT"
    ds.SeriesInstanceUID = PT_SERIES
    ds.SeriesNumber = "2"
    ds.InstanceNumber = "1"
    ds.SeriesDescription = "PET WB AC"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT"]
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    rad = Dataset()
    rad.Radiopharmaceutical = "Fluorodeoxyglucose"
    rad.RadiopharmaceuticalStartTime = "093000"
    rad.RadiopharmaceuticalStartDateTime = "20230415093000"
    rad.RadionuclideTotalDose = "370000000"
    rad.RadionuclideHalfLife = "6586.2"
    rad.RadionuclideCodeSequence = Sequence([code("C-111A1", "SRT",
                                                  "^18^Fluorine")])
    ds.RadiopharmaceuticalInformationSequence = Sequence([rad])
    ds.SourceImageSequence = Sequence([ref(CT_CLASS, CT_UIDS[0])])
    ds.save_as(p, write_like_original=False)
    paths.append(p)
    return paths


# ------------------------------------------------------------------ #
# The anonymizers

def orthanc_anonymize(orthanc, study_id, folder):
    """POST /studies/{id}/anonymize (default body); {key: path}."""
    status, _h, body = orthanc.request("POST", "/studies/%s/anonymize"
                                       % study_id, body={}, timeout=120)
    if status != 200:
        raise RuntimeError("anonymize: HTTP %d %s" % (status, body[:200]))
    new_study = json.loads(body)["ID"]
    os.makedirs(folder, exist_ok=True)
    out = {}
    for inst in orthanc.get_json("/studies/%s/instances" % new_study):
        s, _h, data = orthanc.request("GET", "/instances/%s/file"
                                      % inst["ID"])
        if s != 200:
            raise RuntimeError("download: HTTP %d" % s)
        p = os.path.join(folder, inst["ID"] + ".dcm")
        with open(p, "wb") as f:
            f.write(data)
        out[instance_key(pydicom.dcmread(p))] = p
    return out


def ours_anonymize(tool, profile, inputs, folder):
    os.makedirs(folder, exist_ok=True)
    r = run_tool([tool, "--profile", profile, "--secret", SECRET, "-q",
                     "--tsv", os.path.join(folder, "run.tsv"), *inputs,
                     "-o", folder], timeout=120)
    if r.problem():
        raise RuntimeError("oa-anonymize --profile %s: %s"
                           % (profile, r.problem()))
    rows = read_tsv(os.path.join(folder, "run.tsv"))
    out, refused = {}, {}
    for p in inputs:
        st, _defects, msg = rows.get(p, ("?", 0, ""))
        key = instance_key(pydicom.dcmread(p))
        if st == STATUS_OK:
            out[key] = os.path.join(folder, os.path.basename(p))
        else:
            refused[key] = "%s: %s" % (st, msg)
    return out, refused


def instance_key(ds):
    """Modality and instance number: kept by every anonymizer here."""
    return (str(ds.get("Modality", "")), str(ds.get("InstanceNumber", "")))


# ------------------------------------------------------------------ #
# Comparison

def basic_codes():
    with open(corpus.reference("ps315_table_e1_1.json")) as f:
        rows = json.load(f)
    exact, patterns = {}, []
    for r in rows:
        t = r["tag"].strip("()").upper()
        if "X" in t:
            patterns.append((t, r["basic"]))
        else:
            exact[t] = r["basic"]
    return exact, patterns


def basic_code(tag, exact, patterns):
    g, e = tag >> 16, tag & 0xFFFF
    if g % 2 == 1:
        return "X (private)"
    t = "%04X,%04X" % (g, e)
    if t in exact:
        return exact[t]
    for pat, code_ in patterns:
        if all(p in ("X", c) for p, c in zip(pat, t)):
            return code_
    return ""


def fate(orig, res, path, tag):
    """kept / changed / emptied / removed of one attribute."""
    if res is None:
        return "refused"
    r = deid.get_at(res, path, tag)
    if r is None:
        return "removed"
    cur, t = r
    o_cur, _ = deid.get_at(orig, path, tag)
    vr = deid.vr_of(o_cur._dict[tag], tag)
    if vr == "SQ":
        o_n = len(o_cur[tag].value or [])
        try:
            n = len(cur[t].value or [])
        except Exception:
            return "changed"
        if n == 0 and o_n:
            return "emptied"
        if n != o_n:
            return "changed"
        o_item = [(p, t_, v) for p, t_, _vr, v, _d, _e in
                  deid.walk(o_cur[tag].value[0], include_meta=False)] \
            if o_n else []
        for p, t_, v in o_item:
            r2 = deid.get_at(cur[t].value[0], p, t_)
            if r2 is None or (v is not None and
                              deid.raw_value(r2[0], t_) != v):
                return "kept, items cleaned"
        return "kept"
    ov = deid.raw_value(o_cur, tag)
    rv = deid.raw_value(cur, t)
    if vr in deid.STRING_VRS:
        ov, rv = deid.strip_value(ov), deid.strip_value(rv)
    if rv == ov:
        return "kept"
    if rv == b"":
        return "emptied"
    return "changed"


def explain_default(tool):
    return explain(tool, "Default")


def rows_for(orig):
    rows = []
    for path, tag, vr, value, _ds, _el in deid.walk(orig):
        if tag in deid.PIXEL_TAGS or \
                (tag >> 16 == 0x0002 and tag != 0x00020003):
            continue
        rows.append((path, tag, vr))
    return rows


def label(path, tag):
    kw = keyword_for_tag(tag) or ""
    g = tag >> 16
    if not kw and g % 2 == 1:
        kw = "private"
    if not kw and 0x5000 <= g <= 0x50FF:
        kw = "curve"
    indent = "" if not path else "&nbsp;&nbsp;" * len(path) + "↳ "
    return indent + (kw or deid.tag_str(tag))


def cell(f, code_, keep_option=False):
    if f == "kept" and code_ and not code_.startswith("K"):
        return "kept (option)" if keep_option else "**kept**"
    return f


def leftovers(results, idents):
    """{tool: [attribute where an original identifying value is left]}."""
    out = {}
    for name, files in results.items():
        where = []
        for key, p in sorted(files.items()):
            ds = pydicom.dcmread(p)
            for w, tag, ident in deid.leaks(ds, idents):
                where.append("%s %s (%s)" % (w, deid.tag_str(tag),
                                             ident.describe()))
        out[name] = sorted(set(where))
    return out


def references(results):
    """Do the references between the images resolve after
    anonymization?  {tool: {reference: yes/no/removed}}."""
    out = {}
    for name, files in results.items():
        ds = {k: pydicom.dcmread(p) for k, p in files.items()}
        ct1, ct2, pt = ds.get(("CT", "1")), ds.get(("CT", "2")), \
            ds.get(("PT", "1"))
        res = {}

        def check(label_, holder, seq_kw, target):
            if holder is None or target is None:
                res[label_] = "instance missing"
                return
            seq = holder.get(seq_kw)
            if not seq:
                res[label_] = "removed"
                return
            v = seq[0].get("ReferencedSOPInstanceUID")
            res[label_] = "resolves" if v == target.SOPInstanceUID \
                else "**broken**"
        check("CT 2 ReferencedImageSequence → CT 1", ct2,
              "ReferencedImageSequence", ct1)
        check("PT SourceImageSequence → CT 1", pt, "SourceImageSequence",
              ct1)
        if ct1 is not None and pt is not None:
            a = ct1.get("FrameOfReferenceUID")
            b = pt.get("FrameOfReferenceUID")
            res["PT and CT share the Frame of Reference"] = \
                "yes" if a and a == b else "**no**"
            res["CT and PT in one study"] = \
                "yes" if ct1.StudyInstanceUID == pt.StudyInstanceUID \
                else "**no**"
        out[name] = res
    return out


UID_TAGS = (("StudyInstanceUID", 0x0020000D), ("SeriesInstanceUID",
                                                 0x0020000E),
            ("SOPInstanceUID", 0x00080018),
            ("FrameOfReferenceUID", 0x00200052))


def stability(run1, run2):
    """For each UID attribute: same in both runs?"""
    out = {}
    for kw, tag in UID_TAGS:
        same = True
        for key, p in run1.items():
            q = run2.get(key)
            if q is None:
                same = False
                continue
            a = deid.value_at(pydicom.dcmread(p), (), tag)
            b = deid.value_at(pydicom.dcmread(q), (), tag)
            same = same and a == b
        out[kw] = "same" if same else "different"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", default=os.path.join(REPO, "build",
                                                   "oa-anonymize"))
    ap.add_argument("--orthanc", default=DEFAULT_ORTHANC)
    ap.add_argument("--keep", help="keep inputs and outputs in this folder")
    args = ap.parse_args()
    tool = os.path.abspath(args.tool)
    if not tool_supports_profiles(tool):
        sys.exit("%s has no --profile: build the engine first" % tool)
    work = os.path.abspath(args.keep) if args.keep else \
        tempfile.mkdtemp(prefix="oa-compare-")
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
    inputs = build_study(os.path.join(work, "in"))
    originals = {instance_key(pydicom.dcmread(p)): p for p in inputs}

    with Orthanc(orthanc=args.orthanc) as orthanc:
        version = orthanc.get_json("/system").get("Version", "?")
        study = None
        for p in inputs:
            with open(p, "rb") as f:
                s, _h, body = orthanc.request("POST", "/instances", f.read(),
                                              headers={"Content-Type":
                                                       "application/dicom"})
            if s != 200:
                raise RuntimeError("upload: HTTP %d" % s)
            study = json.loads(body)["ParentStudy"]
        orth1 = orthanc_anonymize(orthanc, study, os.path.join(work, "orth1"))
        orth2 = orthanc_anonymize(orthanc, study, os.path.join(work, "orth2"))
        variant = build_variant(work)
        with open(variant, "rb") as f:
            s, _h, body = orthanc.request("POST", "/instances", f.read(),
                                          headers={"Content-Type":
                                                   "application/dicom"})
        if s != 200:
            raise RuntimeError("upload: HTTP %d" % s)
        orth_var = orthanc_anonymize(orthanc, json.loads(body)["ParentStudy"],
                                     os.path.join(work, "orth-variant"))

    full1, full_ref = ours_anonymize(tool, "Full", inputs,
                                     os.path.join(work, "full1"))
    full2, _ = ours_anonymize(tool, "Full", inputs,
                              os.path.join(work, "full2"))
    dflt, dflt_ref = ours_anonymize(tool, "Default", inputs,
                                    os.path.join(work, "default"))
    rules = explain_default(tool)

    exact, patterns = basic_codes()
    key = ("PT", "1")
    orig = pydicom.dcmread(originals[key])
    res = {
        "orthanc": pydicom.dcmread(orth1[key]) if key in orth1 else None,
        "full": pydicom.dcmread(full1[key]) if key in full1 else None,
        "default": pydicom.dcmread(dflt[key]) if key in dflt else None,
    }

    print("## Orthanc %s `/studies/{id}/anonymize` versus oa-anonymize\n"
          % version)
    print("A synthetic PET/CT study (2 CT images, 1 PET image; "
          "Resources/Scripts/compare-orthanc.py) anonymized by Orthanc's "
          "built-in `POST /studies/{id}/anonymize` (default body) and by "
          "`oa-anonymize --profile Full` and `--profile Default`.  One row "
          "per attribute of the PET image, sequences walked.  **kept**: "
          "the original value is left although PS3.15 2026d's Basic Profile "
          "would change it; *kept (option)*: kept on purpose by an option of "
          "the `Default` profile (dates, patient characteristics, safe "
          "private attributes, descriptions).\n")
    for name, refused in (("Full", full_ref), ("Default", dflt_ref)):
        for k, why in refused.items():
            print("> ours %s refused %s %s: %s\n" % (name, k[0], k[1], why))
    print("| Attribute | Tag | Basic Profile | Orthanc | ours Full "
          "| ours Default |")
    print("|---|---|---|---|---|---|")
    counts = {"orthanc": 0, "full": 0, "default": 0}
    for path, tag, vr in rows_for(orig):
        code_ = basic_code(tag, exact, patterns)
        r = rules.get((tag >> 16, tag & 0xFFFF))
        default_keeps = r is not None and r[0] == "keep" and \
            "Basic Profile" not in r[1]
        if tag >> 16 == 0x7053:   # Table E.3.10-1: Retain Safe Private
            default_keeps = True
        cells = []
        for name in ("orthanc", "full", "default"):
            f = fate(orig, res[name], path, tag)
            c = cell(f, code_, keep_option=(name == "default" and
                                            default_keeps))
            if c == "**kept**":
                counts[name] += 1
            cells.append(c)
        print("| %s | %s | %s | %s |" % (label(path, tag), deid.tag_str(tag),
                                         code_ or "—", " | ".join(cells)))
    # attributes the anonymizers add
    added = []
    for tag in (0x00120062, 0x00120063, 0x00120064, 0x00280303):
        if tag in orig:
            continue
        cells = []
        for name in ("orthanc", "full", "default"):
            d = res[name]
            cells.append("added" if d is not None and tag in d else "—")
        added.append("| %s | %s | — | %s |" % (keyword_for_tag(tag),
                                               deid.tag_str(tag),
                                               " | ".join(cells)))
    for line in added:
        print(line)
    print("\nAttributes left with their original value against the Basic "
          "Profile (bold above): Orthanc %d, ours Full %d, ours Default %d."
          % (counts["orthanc"], counts["full"], counts["default"]))

    # identifying values left anywhere, in any instance
    idents = {}
    for p in inputs:
        idents.update(deid.identifying_values(pydicom.dcmread(p)))
    left = leftovers({"Orthanc": orth1, "ours Full": full1,
                      "ours Default": dflt}, idents)
    print("\n### Original identifying values left in the output (any "
          "instance, any depth)\n")
    print("Names (every component), IDs, other IDs, birth date, accession "
          "number, institution, physicians, operators, address, telephone "
          "of the originals, searched in every value of every output "
          "(pixel data excepted).\n")
    for name, where in left.items():
        print("* **%s**: %s" % (name, "none" if not where else
                                "%d: %s" % (len(where), "; ".join(where))))

    print("\n### A name in free text that Table E.1-1 does not list\n")
    print("The same CT image of another patient, with the operator's name "
          "in (6000,0022) Overlay Description (no row in Table E.1-1, so "
          "every profile keeps it):\n")
    vidents = deid.identifying_values(pydicom.dcmread(variant))
    vleft = leftovers({"Orthanc": orth_var}, vidents)["Orthanc"]
    print("* **Orthanc**: %s" % ("stored, nothing left" if not vleft else
                                 "stored with %s" % "; ".join(vleft)))
    for name in ("Full", "Default"):
        out, refused = ours_anonymize(tool, name, [variant],
                                      os.path.join(work, "variant-" + name))
        if refused:
            print("* **ours %s**: refused by the leak check (%s)"
                  % (name, "; ".join(refused.values())))
        else:
            vl = leftovers({name: out}, vidents)[name]
            print("* **ours %s**: %s" % (name, "written, nothing left"
                                         if not vl else "written with %s"
                                         % "; ".join(vl)))

    print("\n### References between the images\n")
    refs = references({"Orthanc": orth1, "ours Full": full1,
                       "ours Default": dflt})
    names = list(refs)
    print("| Reference | %s |" % " | ".join(names))
    print("|---|%s" % ("---|" * len(names)))
    for r in refs[names[0]]:
        print("| %s | %s |" % (r, " | ".join(refs[n].get(r, "—")
                                              for n in names)))

    print("\n### UIDs across two runs of the same study\n")
    st = {"Orthanc": stability(orth1, orth2),
          "ours Full (same secret)": stability(full1, full2)}
    names = list(st)
    print("| UID | %s |" % " | ".join(names))
    print("|---|%s" % ("---|" * len(names)))
    for kw, _t in UID_TAGS:
        print("| %s | %s |" % (kw, " | ".join(st[n][kw] for n in names)))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("\n(inputs and outputs kept in %s)" % work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
