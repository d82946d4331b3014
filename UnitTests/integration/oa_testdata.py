"""Synthetic DICOM studies and helpers for the integration tests.

Every patient here has distinctive identifying values (names, IDs, birth
date, accession numbers, institution, physicians, UIDs under a root of our
own) so that a test can look for each of them, byte by byte, in what the
anonymizer wrote.  Values are put in plain attributes, inside sequences and
inside a private block of an unknown (unsafe) creator.

Nothing here prints a DICOM value: helpers answer with tags, keywords and
counts only (this is an anonymizer's test suite).

Needs Debian's /usr/bin/python3 (python3-pydicom).
"""

import hashlib
import io
import json
import os
import re
import time

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
UID_ROOT = "1.2.826.0.1.3680043.8.498.4242"   # our own test root
UNSAFE_CREATOR = "OA TEST UNSAFE PRIVATE"


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
                  sop_class=CT_IMAGE_STORAGE, series_description=None):
    """One instance of `study` as Part 10 bytes; recorded in
    study.instances."""
    p = study.patient
    sop = study.sop_uid(series, i)
    study.instances.append((series, i, sop))

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID_ROOT + ".1"
    meta.ImplementationVersionName = "OA_IT_1"
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = study.date
    ds.InstanceCreationTime = "101530"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.date
    ds.StudyTime = "100000"
    ds.SeriesTime = "100500"
    ds.ContentTime = "1006%02d" % (i % 60)
    ds.AccessionNumber = study.accession
    ds.Modality = "CT" if sop_class == CT_IMAGE_STORAGE else "OT"
    ds.Manufacturer = "OA Integration Systems"
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
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=False)
    return buf.getvalue()


def md5(data):
    return hashlib.md5(data).hexdigest()


# -- Orthanc helpers ---------------------------------------------------


def upload(orthanc, data):
    """POST /instances; returns Orthanc's answer (dict)."""
    status, _, body = orthanc.request(
        "POST", "/instances", body=data,
        headers={"Content-Type": "application/dicom"}, timeout=60)
    if status != 200:
        raise AssertionError("POST /instances: HTTP %d" % status)
    return json.loads(body)


def upload_many(orthanc, blobs):
    """Upload every blob; returns the list of Orthanc instance IDs."""
    return [upload(orthanc, b)["ID"] for b in blobs]


def study_id(orthanc, instance_id):
    return orthanc.get_json("/instances/%s/study" % instance_id)["ID"]


def post_json(orthanc, path, obj, timeout=120):
    """(status, decoded JSON or None, raw body)."""
    status, headers, body = orthanc.request("POST", path, body=obj,
                                            timeout=timeout)
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    return status, decoded, body


def wait_job(orthanc, job_id, timeout=120, poll=0.05, on_poll=None):
    """Poll GET /jobs/{id} until Success or Failure; returns the last
    answer.  on_poll(job) is called with every answer."""
    deadline = time.monotonic() + timeout
    while True:
        job = orthanc.get_json("/jobs/%s" % job_id)
        if on_poll is not None:
            on_poll(job)
        if job.get("State") in ("Success", "Failure"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError("job %s still %s after %.0f s"
                                 % (job_id, job.get("State"), timeout))
        time.sleep(poll)


def studies(orthanc):
    return set(orthanc.get_json("/studies"))


def study_instances(orthanc, sid):
    """[(instance id, SOPInstanceUID)] of a study."""
    return [(i["ID"], i["MainDicomTags"].get("SOPInstanceUID"))
            for i in orthanc.get_json("/studies/%s/instances" % sid)]


def file_of(orthanc, instance_id):
    status, _, body = orthanc.request(
        "GET", "/instances/%s/file" % instance_id, timeout=60)
    if status != 200:
        raise AssertionError("GET /instances/{id}/file: HTTP %d" % status)
    return body


def error_body_ok(body):
    """True when an error answer is {"Error": str, "Details": str}."""
    try:
        err = json.loads(body)
    except ValueError:
        return False
    return (isinstance(err, dict) and isinstance(err.get("Error"), str)
            and err["Error"] != "" and isinstance(err.get("Details"), str)
            and err["Details"] != "")


def details(body):
    try:
        return json.loads(body).get("Details", "")
    except (ValueError, AttributeError):
        return ""


# -- looking for original values in anonymized files -------------------


def leaked(data, needles):
    """Indexes (into needles) of the values found anywhere in the file's
    bytes, case-insensitively: plain attributes, sequences, private tags,
    the meta group, all of it."""
    low = data.lower()
    return [k for k, n in enumerate(needles)
            if n and n.lower().encode("latin-1") in low]


def walk(ds, path=()):
    """Yield (path, element) for every element at every depth."""
    for elem in ds:
        yield path, elem
        if elem.VR == "SQ":
            for k, item in enumerate(elem.value):
                yield from walk(item, path + ((elem.tag, k),))


def private_creators(ds):
    """The private creator strings present at any depth."""
    out = set()
    for _, elem in walk(ds):
        if elem.tag.is_private and elem.tag.element >= 0x10 and \
                elem.tag.element <= 0xff and elem.VR == "LO":
            out.add(str(elem.value).strip())
    return out


def tag_str(tag):
    return "(%04X,%04X)" % (tag >> 16, tag & 0xffff)


def shared_dir():
    """The shared folder beside the repository ($OA_SHARED_DIR first)."""
    env = os.environ.get("OA_SHARED_DIR")
    if env and os.path.isdir(env):
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared"))


def is_iso_date(s):
    return bool(re.fullmatch(r"\d{8}T\d{6}", s or ""))
