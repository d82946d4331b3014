"""Synthetic DICOM files built with pydicom: the one place where the Python
tests make well-formed DICOM (malformed byte streams: dicombytes.py).

  new_file, to_bytes, code_item  the common parts;
  Patient, Study, make_instance  studies of the integration tests;
  make_pet, make_sr_pair         the synthetic PET and SR + CT of the
                                 anonymization proofs (anon_sets.py);
  make_study                     a small CT study with generated UIDs
                                 (test_lua.py, test_explorer.py).

Every patient of the integration tests has distinctive identifying values
(names, IDs, birth date, accession numbers, institution, physicians, UIDs
under a root of our own) so that a test can look for each of them, byte by
byte, in what the anonymizer wrote.  Values are put in plain attributes,
inside sequences and inside a private block of an unknown (unsafe) creator.

Nothing here prints a DICOM value: helpers answer with tags, keywords and
counts only (this is an anonymizer's test suite).

Needs Debian's /usr/bin/python3 (python3-pydicom).
"""

import io
import os

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
UID_ROOT = "1.2.826.0.1.3680043.8.498.4242"   # our own test root
UNSAFE_CREATOR = "OA TEST UNSAFE PRIVATE"
SMALL_STUDY_INSTANCES = 3   # make_study's default


def new_file(sop_class, sop_uid, path=None, implementation=None):
    """A Part 10 dataset, explicit VR little endian, ISO_IR 100, naming
    its SOP class and instance (meta and dataset); `implementation`:
    (ImplementationClassUID, ImplementationVersionName), else pydicom's."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if implementation is not None:
        meta.ImplementationClassUID = implementation[0]
        meta.ImplementationVersionName = implementation[1]
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    return ds


def to_bytes(ds):
    """The Part 10 bytes of `ds`."""
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=False)
    return buf.getvalue()


def code_item(value, scheme, meaning):
    """A code sequence item."""
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = scheme
    c.CodeMeaning = meaning
    return c


# -- patients and studies with distinctive values (integration tests) ----


class Patient:
    """A patient's identifying values; `n` makes them distinct."""

    def __init__(self, n, family, given, pid, birth):
        self.n = n
        self.name = "%s^%s" % (family, given)
        self.family = family
        self.given = given
        self.id = pid
        self.birth = birth
        self.other_id = "OTHR%sX%d" % (pid[-4:], n)

    def identifying(self):
        """Strings that must not be found in an anonymized file."""
        return [self.family, self.given, self.id, self.birth, self.other_id]


# Distinctive values: long, unusual words that pixel noise cannot produce
# and that no dictionary value or dummy contains.
PATIENTS = [
    Patient(1, "Zyxwabcor", "Quentella", "OAPID77310042", "19581123"),
    Patient(2, "Vormelhund", "Brisquette", "OAPID88420517", "19470309"),
    Patient(3, "Plumtrewick", "Ossiandra", "OAPID99531268", "19660817"),
    Patient(4, "Drafnokovic", "Yselbrand", "OAPID66208831", "19730126"),
]


class Study:
    """One study of a patient: its UIDs and identifying values."""

    def __init__(self, patient, s, date="20240211", description=None):
        self.patient = patient
        self.s = s
        self.uid = "%s.%d.%d" % (UID_ROOT, patient.n, s)
        self.frame_uid = self.uid + ".9"
        self.date = date
        self.accession = "ACCQ%d%dZ7741" % (patient.n, s)
        self.institution = "Grimsborough Kelvedon Infirmary %d" % s
        self.institution_address = "77 Thistlewaite Lane, Marrowby"
        self.referring = "Haverdunk^Elspethine^^Dr"
        self.performing = "Quillfeather^Oswin"
        self.operator = "Tumblewick^Ransome"
        self.requested_procedure_id = "RQPX%d%d0913" % (patient.n, s)
        self.description = description or "CT THORAX STUDY %d" % s
        self.instances = []       # (series no, instance no, sop uid)

    def series_uid(self, series):
        return "%s.%d" % (self.uid, series)

    def sop_uid(self, series, i):
        return "%s.%d.%d" % (self.uid, series, i)

    def identifying(self):
        p = self.patient
        return p.identifying() + [
            self.accession, self.institution, self.institution_address,
            "Thistlewaite", "Marrowby", "Haverdunk", "Elspethine",
            "Quillfeather", "Tumblewick", "Ransome", "Grimsborough",
            self.requested_procedure_id]

    def uids(self):
        """Every original UID of the study (study, series, SOP, frame)."""
        out = {self.uid, self.frame_uid}
        for series, i, sop in self.instances:
            out.add(self.series_uid(series))
            out.add(sop)
        return out


def _pixels(rows, cols, seed):
    """A small deterministic image: gradient plus a seed-dependent
    pattern (plain bytes, no numpy needed)."""
    out = bytearray(rows * cols * 2)
    k = 0
    for y in range(rows):
        for x in range(cols):
            v = (x * 7 + y * 13 + seed * 31 + ((x * y) % 17)) & 0x0fff
            out[k] = v & 0xff
            out[k + 1] = v >> 8
            k += 2
    return bytes(out)


_PIXEL_CACHE = {}


def pixels(rows, cols, seed):
    key = (rows, cols, seed % 8)
    if key not in _PIXEL_CACHE:
        _PIXEL_CACHE[key] = _pixels(rows, cols, seed % 8)
    return _PIXEL_CACHE[key]


def make_instance(study, series, i, count, rows=64, cols=64,
                  sop_class=CT_IMAGE_STORAGE, series_description=None,
                  manufacturer=None):
    """One instance of `study` as Part 10 bytes; recorded in
    study.instances."""
    p = study.patient
    sop = study.sop_uid(series, i)
    study.instances.append((series, i, sop))

    ds = new_file(sop_class, sop, implementation=(UID_ROOT + ".1",
                                                  "OA_IT_1"))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = study.date
    ds.InstanceCreationTime = "101530"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.date
    ds.StudyTime = "100000"
    ds.SeriesTime = "100500"
    ds.ContentTime = "1006%02d" % (i % 60)
    ds.AccessionNumber = study.accession
    ds.Modality = "CT" if sop_class == CT_IMAGE_STORAGE else "OT"
    ds.Manufacturer = manufacturer or "OA Integration Systems"
    ds.InstitutionName = study.institution
    ds.InstitutionAddress = study.institution_address
    ds.ReferringPhysicianName = study.referring
    ds.StationName = "STN%d" % p.n
    ds.StudyDescription = study.description
    ds.SeriesDescription = series_description or "AXIAL SERIES %d" % series
    ds.PerformingPhysicianName = study.performing
    ds.OperatorsName = study.operator
    ds.PatientName = p.name
    ds.PatientID = p.id
    ds.PatientBirthDate = p.birth
    ds.PatientSex = "F" if p.n % 2 else "M"
    ds.PatientAge = "061Y"
    ds.PatientWeight = "71.5"
    ds.PatientSize = "1.68"
    ds.OtherPatientIDs = p.other_id
    other = Dataset()
    other.PatientID = p.other_id
    other.IssuerOfPatientID = "Grimsborough"
    ds.OtherPatientIDsSequence = Sequence([other])
    req = Dataset()
    req.AccessionNumber = study.accession
    req.RequestedProcedureID = study.requested_procedure_id
    req.StudyInstanceUID = study.uid
    ds.RequestAttributesSequence = Sequence([req])
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = study.uid
    ds.ReferencedStudySequence = Sequence([ref_study])
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = study.sop_uid(series, max(1, i - 1))
    ds.ReferencedImageSequence = Sequence([ref])
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = study.series_uid(series)
    ds.StudyID = "S%d" % study.s
    ds.SeriesNumber = str(series)
    ds.InstanceNumber = str(i)
    z = -100.0 + i
    ds.ImagePositionPatient = ["-100.0", "-100.0", "%.1f" % z]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = study.frame_uid
    ds.SliceLocation = "%.1f" % z
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    # An unsafe private block holding identifying values, one of them in a
    # private sequence: Default and Full must remove it all.
    block = ds.private_block(0x0031, UNSAFE_CREATOR, create=True)
    block.add_new(0x10, "LO", p.id)
    block.add_new(0x11, "PN", p.name)
    inner = Dataset()
    inner.add_new(0x00311010, "LO", UNSAFE_CREATOR)
    inner.add_new(0x00311012, "LO", study.accession)
    block.add_new(0x13, "SQ", Sequence([inner]))
    ds.PixelData = pixels(rows, cols, i)
    return to_bytes(ds)


# ------------------------------------------------------------------ #
# Synthetic PET

PET = {
    # keyword: (value, VR)
    "PatientName": ("Petersen^Paula^Maria", "PN"),
    "PatientID": ("PET-778899", "LO"),
    "PatientBirthDate": ("19580312", "DA"),
    "PatientSex": ("F", "CS"),
    "PatientAge": ("065Y", "AS"),
    "PatientWeight": ("71.5", "DS"),
    "PatientSize": ("1.68", "DS"),
    "InstitutionName": ("Klinikum Nordstadt", "LO"),
    "ReferringPhysicianName": ("Doktorow^Hans", "PN"),
    "AccessionNumber": ("ACC998877", "SH"),
    "StudyDate": ("20230415", "DA"),
    "SeriesDate": ("20230415", "DA"),
    "AcquisitionDate": ("20230415", "DA"),
    "StudyTime": ("091500", "TM"),
    "SeriesTime": ("101500.000000", "TM"),
    "AcquisitionTime": ("102000.000000", "TM"),
    "Modality": ("PT", "CS"),
    "Units": ("BQML", "CS"),
    "DecayCorrection": ("START", "CS"),
    "CorrectedImage": (["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"],
                       "CS"),
    "SeriesType": (["WHOLE BODY", "IMAGE"], "CS"),
    "ActualFrameDuration": ("180000", "IS"),
    "RescaleSlope": ("1.5", "DS"),
    "RescaleIntercept": ("0", "DS"),
}
# Attributes SUV computation needs: all survive Default unchanged.
PET_RETAINED = ["PatientWeight", "PatientSize", "PatientSex", "PatientAge",
                "StudyDate", "SeriesDate", "AcquisitionDate", "SeriesTime",
                "AcquisitionTime", "Units", "DecayCorrection",
                "CorrectedImage", "ActualFrameDuration", "RescaleSlope",
                "RescaleIntercept"]
RADIO = {
    "Radiopharmaceutical": ("Fluorodeoxyglucose", "LO"),
    "RadiopharmaceuticalStartTime": ("093000.00", "TM"),
    "RadiopharmaceuticalStartDateTime": ("20230415093000.00", "DT"),
    "RadionuclideTotalDose": ("370000000", "DS"),
    "RadionuclideHalfLife": ("6586.2", "DS"),
    "RadionuclidePositronFraction": ("0.97", "DS"),
}
RADIONUCLIDE_CODE = {
    "CodeValue": ("C-111A1", "SH"),
    "CodingSchemeDesignator": ("SRT", "SH"),
    "CodeMeaning": ("^18^Fluorine", "LO"),
    "ContextIdentifier": ("4020", "CS"),
    "ContextUID": ("1.2.840.10008.6.1.304", "UI"),
    "MappingResource": ("DCMR", "CS"),
    "MappingResourceUID": ("1.2.276.0.7230010.3.0.0.77", "UI"),
}
CODING_SCHEME_UID = "1.2.276.0.7230010.3.0.0.88"
SYNC_FOR = "1.2.840.10008.15.1.1"       # UTC: well known, in a U attribute
PHILIPS = "Philips PET Private Group"
SUV_FACTOR = "0.000123456"
ACTIVITY_FACTOR = "1.2345"


def make_pet(path):
    """A PET image with what SUV needs, a radiopharmaceutical sequence, a
    coding scheme and Philips/Siemens private values, written to
    `path`."""
    ds = new_file("1.2.840.10008.5.1.4.1.1.128",
                  "1.2.826.0.1.3680043.8.498.1001.3", path)
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1001.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1001.2"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.1001.4"
    ds.SynchronizationFrameOfReferenceUID = SYNC_FOR
    for kw, (v, vr) in PET.items():
        setattr(ds, kw, v)
    item = Dataset()
    for kw, (v, vr) in RADIO.items():
        setattr(item, kw, v)
    code = Dataset()
    for kw, (v, vr) in RADIONUCLIDE_CODE.items():
        setattr(code, kw, v)
    item.RadionuclideCodeSequence = Sequence([code])
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    scheme = Dataset()
    scheme.CodingSchemeDesignator = "99OAT"
    scheme.CodingSchemeUID = CODING_SCHEME_UID
    ds.CodingSchemeIdentificationSequence = Sequence([scheme])
    ds.add_new(0x70530010, "LO", PHILIPS)
    ds.add_new(0x70531000, "DS", SUV_FACTOR)
    ds.add_new(0x70531009, "DS", ACTIVITY_FACTOR)
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", b"Petersen Paula PET-778899 " * 2)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 4
    ds.Columns = 4
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(32))
    ds.save_as(path, write_like_original=False)


# ------------------------------------------------------------------ #
# Synthetic SR + the CT image it references

SR_STUDY = "1.2.826.0.1.3680043.8.498.2002.1"
SR_CT_UID = "1.2.826.0.1.3680043.8.498.2002.3"
SR_PATIENT = ("Srtestperson^Karl", "SR-556677")


def _sr_base(path, sop_class, sop_uid, series_uid, modality):
    ds = new_file(sop_class, sop_uid, path)
    ds.StudyInstanceUID = SR_STUDY
    ds.SeriesInstanceUID = series_uid
    ds.PatientName, ds.PatientID = SR_PATIENT
    ds.PatientBirthDate = "19610704"
    ds.PatientSex = "M"
    ds.StudyDate = ds.ContentDate = "20240102"
    ds.StudyTime = ds.ContentTime = "101010"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.AccessionNumber = "SRACC4455"
    ds.StudyID = "SRSTUDY1"
    ds.Modality = modality
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.Manufacturer = "OA Test"
    return ds


def make_sr_pair(folder):
    """A CT image and a Comprehensive SR whose content tree references it
    (IMAGE item), names the study (UIDREF item) and quotes the patient's
    name in free text (TEXT item)."""
    ct = _sr_base(os.path.join(folder, "CT.dcm"), "1.2.840.10008.5.1.4.1.1.2",
                  SR_CT_UID, "1.2.826.0.1.3680043.8.498.2002.2", "CT")
    ct.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2002.4"
    ct.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ct.SamplesPerPixel = 1
    ct.PhotometricInterpretation = "MONOCHROME2"
    ct.Rows = ct.Columns = 2
    ct.BitsAllocated = ct.BitsStored = 16
    ct.HighBit = 15
    ct.PixelRepresentation = 0
    ct.PixelData = bytes(8)
    ct.save_as(ct.filename, write_like_original=False)

    sr = _sr_base(os.path.join(folder, "SR.dcm"),
                  "1.2.840.10008.5.1.4.1.1.88.33",
                  "1.2.826.0.1.3680043.8.498.2002.5",
                  "1.2.826.0.1.3680043.8.498.2002.6", "SR")
    sr.ValueType = "CONTAINER"
    sr.ContinuityOfContent = "SEPARATE"
    sr.CompletionFlag = "COMPLETE"
    sr.VerificationFlag = "UNVERIFIED"
    sr.ReferencedPerformedProcedureStepSequence = Sequence([])
    sr.PerformedProcedureCodeSequence = Sequence([])
    sr.ConceptNameCodeSequence = Sequence([code_item(
        "126000", "DCM", "Imaging Measurement Report")])
    img = Dataset()
    img.RelationshipType = "CONTAINS"
    img.ValueType = "IMAGE"
    img.ConceptNameCodeSequence = Sequence([code_item("121112", "DCM",
                                                  "Source of Measurement")])
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = SR_CT_UID
    img.ReferencedSOPSequence = Sequence([ref])
    txt = Dataset()
    txt.RelationshipType = "CONTAINS"
    txt.ValueType = "TEXT"
    txt.ConceptNameCodeSequence = Sequence([code_item("121106", "DCM",
                                                  "Comment")])
    txt.TextValue = "Lesion stable. Seen with Srtestperson today."
    uid = Dataset()
    uid.RelationshipType = "HAS OBS CONTEXT"
    uid.ValueType = "UIDREF"
    uid.ConceptNameCodeSequence = Sequence([code_item(
        "121018", "DCM", "Procedure Study Instance UID")])
    uid.UID = SR_STUDY
    sr.ContentSequence = Sequence([img, txt, uid])
    evidence = Dataset()
    evidence.StudyInstanceUID = SR_STUDY
    series = Dataset()
    series.SeriesInstanceUID = ct.SeriesInstanceUID
    series.ReferencedSOPSequence = Sequence([ref])
    evidence.ReferencedSeriesSequence = Sequence([series])
    sr.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    sr.save_as(sr.filename, write_like_original=False)
    return ct.filename, sr.filename


# -- a small study with generated UIDs (test_lua, test_explorer) --------

def make_study(folder, tag, count=SMALL_STUDY_INSTANCES,
               identity_removed=False):
    """Write `count` small CT instances of one new study into `folder`.

    Returns a dict of the identifying values written (never printed):
    StudyInstanceUID, PatientID, PatientName, AccessionNumber, and
    "Files", the paths.  `tag` (letters) makes the values of one study
    differ from another's.
    """
    os.makedirs(folder, exist_ok=True)
    values = {
        "StudyInstanceUID": generate_uid(),
        "PatientID": "OALUA%sPID7319" % tag.upper(),
        "PatientName": "Zebulon%s^Quintavalle" % tag.capitalize(),
        "AccessionNumber": "ACCOA%s9217" % tag.upper(),
        "Files": [],
    }
    series = [generate_uid(), generate_uid()]
    for i in range(1, count + 1):
        ds = new_file(CT_IMAGE_STORAGE, generate_uid())
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260412"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
        ds.AccessionNumber = values["AccessionNumber"]
        ds.Modality = "CT"
        ds.Manufacturer = "OA Test Systems"
        ds.InstitutionName = "Quintavalle Lakeside Clinic"
        ds.ReferringPhysicianName = "Okonkwo^Bartholomew"
        ds.StudyDescription = "CT HEAD"
        ds.SeriesDescription = "AXIAL %d" % (1 + i % 2)
        ds.PatientName = values["PatientName"]
        ds.PatientID = values["PatientID"]
        ds.PatientBirthDate = "19580923"
        ds.PatientSex = "F"
        ds.PatientAge = "067Y"
        ds.StudyInstanceUID = values["StudyInstanceUID"]
        ds.SeriesInstanceUID = series[i % 2]
        ds.StudyID = "4242"
        ds.SeriesNumber = str(1 + i % 2)
        ds.InstanceNumber = str(i)
        if identity_removed:
            ds.PatientIdentityRemoved = "YES"
            ds.DeidentificationMethod = "elsewhere"
        ds.ImagePositionPatient = ["0", "0", str(i)]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = ["1", "1"]
        ds.SliceThickness = "1"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = 16
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.PixelData = bytes((i * 7 + k) % 256 for k in range(16 * 16 * 2))
        path = os.path.join(folder, "%s%03d.dcm" % (tag, i))
        ds.save_as(path, write_like_original=False)
        values["Files"].append(path)
    return values
