#!/usr/bin/python3
"""Generate a synthetic CT study for benchmark-engine.sh.

    generate-ct-study.py OUTDIR [COUNT [STUDY]]

Writes COUNT (default 300) instances CT000001.dcm ... into OUTDIR: one
study, one series, 512x512 16-bit signed MONOCHROME2 slices in Explicit
VR Little Endian, about 530 KB each, with a realistic header (patient,
study, series, frame of reference, equipment, image plane, CT image
modules, a referenced image sequence and a private block).  The output is
deterministic: UIDs are derived from fixed numbers, pixels from a fixed
phantom.  STUDY (default 1) numbers the study: another number gives
another study (its own study, series, frame of reference and SOP instance
UIDs; the same patient), so that two studies can be stored in one Orthanc;
STUDY 1 is the study of earlier versions, byte for byte.  Needs Debian's python3-pydicom and python3-numpy.
"""
import os
import sys

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ROWS = COLS = 512


def uid(*parts):
    """A deterministic UID under 2.25 (UUID-derived root, PS3.5 B.2)."""
    n = 0
    for p in parts:
        n = (n * 1000003 + p) % (1 << 120)
    return "2.25.%d" % (n + (1 << 121))


def phantom():
    """A 512x512 HU phantom: body ellipse, bones, noise."""
    y, x = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    cx, cy = COLS / 2, ROWS / 2
    img = np.full((ROWS, COLS), -1000.0, np.float32)            # air
    body = ((x - cx) / 220) ** 2 + ((y - cy) / 170) ** 2 <= 1
    img[body] = 40.0                                             # soft tissue
    for bx, by, r in ((cx - 90, cy + 40, 25), (cx + 90, cy + 40, 25),
                      (cx, cy + 120, 30)):
        img[(x - bx) ** 2 + (y - by) ** 2 <= r * r] = 700.0       # bone
    rng = np.random.default_rng(20260101)
    img += rng.normal(0, 12, img.shape).astype(np.float32)
    return img


def sop_uid(number, i):
    return uid(7, i) if number == 1 else uid(7, number, i)


def make_instance(i, count, base, study, series, frame, number=1):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid(number, i)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    meta.ImplementationVersionName = "OA_BENCH_1"

    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = "20260315"
    ds.InstanceCreationTime = "101530"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = ds.SeriesDate = "20260315"
    ds.AcquisitionDate = ds.ContentDate = "20260315"
    ds.StudyTime = "100000"
    ds.SeriesTime = "100500"
    ds.AcquisitionTime = ds.ContentTime = "1006%02d" % (i % 60)
    ds.AccessionNumber = "ACC20260315001"
    ds.Modality = "CT"
    ds.Manufacturer = "OA Benchmark Systems"
    ds.InstitutionName = "Example General Hospital"
    ds.InstitutionAddress = "1 Hospital Road, Springfield"
    ds.ReferringPhysicianName = "Smith^Jane^^Dr"
    ds.StationName = "CTSCAN01"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS W CONTRAST"
    ds.SeriesDescription = "AXIAL 1.0 SOFT TISSUE"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PerformingPhysicianName = "Brown^Alex"
    ds.OperatorsName = "Tech^Tom"
    ds.ManufacturerModelName = "Bench 128"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    ref.ReferencedSOPInstanceUID = sop_uid(number, max(1, i - 1))
    ds.ReferencedImageSequence = Sequence([ref])
    ds.PatientName = "Doe^John^Q"
    ds.PatientID = "PID0012345"
    ds.IssuerOfPatientID = "EGH"
    ds.PatientBirthDate = "19620704"
    ds.PatientSex = "M"
    ds.PatientAge = "063Y"
    ds.PatientSize = "1.80"
    ds.PatientWeight = "82"
    ds.PatientAddress = "12 Elm Street, Springfield"
    ds.ContrastBolusAgent = "IOHEXOL"
    ds.BodyPartExamined = "CHEST"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.DeviceSerialNumber = "SN-000123"
    ds.SoftwareVersions = "OA-1.0"
    ds.ProtocolName = "CAP_CONTRAST"
    ds.ReconstructionDiameter = "380"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "150"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = "250"
    ds.Exposure = "125"
    ds.ConvolutionKernel = "B30f"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyID = "1001"
    ds.SeriesNumber = "3"
    ds.AcquisitionNumber = "1"
    ds.InstanceNumber = str(i)
    z = -150.0 + (i - 1) * 1.0
    ds.ImagePositionPatient = ["-190.0", "-190.0", "%.1f" % z]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = frame
    ds.PositionReferenceIndicator = "SN"
    ds.SliceLocation = "%.1f" % z
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLS
    ds.PixelSpacing = ["0.742188", "0.742188"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    # A private block, as scanners write them.
    block = ds.private_block(0x0029, "OA BENCH PRIVATE", create=True)
    block.add_new(0x10, "LO", "slice %d of %d" % (i, count))
    block.add_new(0x11, "OB", bytes(range(256)) * 16)
    # Pixels: the phantom shifted a little per slice, stored as HU + 1024.
    shift = (i * 3) % 40 - 20
    hu = np.roll(base, shift, axis=0)
    ds.PixelData = (hu + 1024).astype("<i2").tobytes()
    return ds


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__)
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) >= 3 else 300
    number = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    if count < 1 or number < 1:
        sys.exit("COUNT and STUDY must be >= 1")
    os.makedirs(out, exist_ok=True)
    base = phantom()
    study, series, frame = uid(1, number), uid(2, number), uid(3, number)
    for i in range(1, count + 1):
        ds = make_instance(i, count, base, study, series, frame, number)
        ds.save_as(os.path.join(out, "CT%06d.dcm" % i), write_like_original=False)


if __name__ == "__main__":
    main()
