"""Synthetic instances of the main IODs, for the validity proof
(UnitTests/anonymizer/validity.py): CT, MR, PET, US, Secondary Capture,
Comprehensive SR, RT Structure Set, Grayscale Softcopy Presentation State
and Enhanced MR, each valid for David Clunie's dciodvfy apart from what the
IOD leaves to the modality, and each carrying the attributes that the
anonymization must handle without making the output invalid: a Referenced
Study Sequence, the Clinical Trial Subject and Study modules, an overlay
(60xx) group, an animal patient's Responsible Person and Organization,
presentation creation dates, identifying values in every module.

    make_iods(folder) -> {kind: path}

Built on dicomgen (pydicom); nothing here prints a value.
"""

import os

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .dicomgen import UID_ROOT, code_item, new_file

ROOT = UID_ROOT + ".77"
STUDY_UID = ROOT + ".1"
FOR_UID = ROOT + ".2"

CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PET": "1.2.840.10008.5.1.4.1.1.128",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "SC": "1.2.840.10008.5.1.4.1.1.7",
    "SR": "1.2.840.10008.5.1.4.1.1.88.33",
    "RTSS": "1.2.840.10008.5.1.4.1.1.481.3",
    "PS": "1.2.840.10008.5.1.4.1.1.11.1",
    "EMR": "1.2.840.10008.5.1.4.1.1.4.1",
}
MODALITY = {"CT": "CT", "MR": "MR", "PET": "PT", "US": "US", "SC": "OT",
            "SR": "SR", "RTSS": "RTSTRUCT", "PS": "PR", "EMR": "MR"}


def _uid(kind, n):
    return "%s.%d.%d" % (ROOT, list(CLASSES).index(kind) + 10, n)


def _ref(sop_class, sop_uid):
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_uid
    return item


def _common(kind, path):
    """Patient, study, series, equipment, SOP common and clinical trial
    modules, with identifying values everywhere."""
    ds = new_file(CLASSES[kind], _uid(kind, 1), path)
    ds.PatientName = "Validityperson^Vera"
    ds.PatientID = "VAL-424242"
    ds.PatientBirthDate = "19570412"
    ds.PatientSex = "F"
    ds.OtherPatientIDs = "VAL-OTHER-77"
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = "20240305"
    ds.StudyTime = "101500"
    ds.ReferringPhysicianName = "Referrer^Rolf"
    ds.StudyID = "VALSTUDY"
    ds.AccessionNumber = "VALACC77"
    ds.StudyDescription = "Validity proof"
    ds.ReferencedStudySequence = Sequence(
        [_ref("1.2.840.10008.3.1.2.3.1", ROOT + ".900")])
    ds.SeriesInstanceUID = _uid(kind, 2)
    ds.SeriesNumber = "1"
    ds.SeriesDate = "20240305"
    ds.SeriesTime = "101600"
    ds.Modality = MODALITY[kind]
    ds.Laterality = ""
    ds.OperatorsName = "Operator^Otto"
    ds.Manufacturer = "OA Test"
    ds.InstitutionName = "Validity Hospital"
    ds.StationName = "VALSTATION"
    ds.InstanceNumber = "1"
    ds.InstanceCreationDate = "20240305"
    ds.InstanceCreationTime = "101700"
    # Clinical Trial Subject and Study
    ds.ClinicalTrialSponsorName = "Validity Sponsor"
    ds.ClinicalTrialProtocolID = "VAL-PROT-1"
    ds.ClinicalTrialProtocolName = "Validity protocol"
    ds.ClinicalTrialSiteID = "SITE-9"
    ds.ClinicalTrialSiteName = "Validity Site"
    ds.ClinicalTrialSubjectID = "SUBJ-42"
    ds.ClinicalTrialProtocolEthicsCommitteeName = "Validity Ethics"
    ds.ClinicalTrialProtocolEthicsCommitteeApprovalNumber = "ETH-1234"
    ds.ClinicalTrialTimePointID = "TP1"
    return ds


def _animal(ds):
    """An animal patient: Responsible Person and Organization are Type 2C
    (required when the patient is an animal)."""
    ds.PatientSexNeutered = ""
    ds.PatientSpeciesDescription = "Canis lupus familiaris"
    ds.PatientBreedDescription = "Beagle"
    ds.PatientBreedCodeSequence = Sequence()
    ds.BreedRegistrationSequence = Sequence()
    ds.ResponsiblePerson = "Owner^Olga"
    ds.ResponsiblePersonRole = "OWNER"
    ds.ResponsibleOrganization = "Validity Kennel"


def _image(ds, rows=8, cols=8, color=False):
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ContentDate = "20240305"
    ds.ContentTime = "101800"
    ds.AcquisitionDate = "20240305"
    ds.AcquisitionTime = "101800"
    ds.Rows, ds.Columns = rows, cols
    if color:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = bytes((i * 7) & 0xFF for i in range(rows * cols * 3))
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = bytes((i * 13) & 0xFF for i in range(rows * cols * 2))


def _plane(ds):
    ds.FrameOfReferenceUID = FOR_UID
    ds.PositionReferenceIndicator = ""
    ds.PixelSpacing = [0.5, 0.5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, 0]
    ds.SliceThickness = "1"
    ds.PatientPosition = "HFS"


def _overlay(ds, rows=8, cols=8):
    ds.add_new(0x60000010, "US", rows)
    ds.add_new(0x60000011, "US", cols)
    ds.add_new(0x60000022, "LO", "Validity overlay")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x01\x00" * ((rows * cols + 15) // 16))


def _ct(path):
    ds = _common("CT", path)
    _plane(ds)
    _image(ds)
    ds.KVP = "120"
    ds.AcquisitionNumber = "1"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    _overlay(ds)
    return ds


def _mr(path):
    ds = _common("MR", path)
    _animal(ds)
    _plane(ds)
    _image(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = "500"
    ds.EchoTime = "20"
    ds.EchoTrainLength = "1"
    ds.MagneticFieldStrength = "1.5"
    return ds


def _pet(path):
    ds = _common("PET", path)
    _plane(ds)
    _image(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SeriesType = ["STATIC", "IMAGE"]
    ds.Units = "BQML"
    ds.CountsSource = "EMISSION"
    ds.CorrectedImage = ["ATTN", "DECY"]
    ds.DecayCorrection = "START"
    ds.RandomsCorrectionMethod = "NONE"
    ds.AttenuationCorrectionMethod = "CT"
    ds.ReconstructionMethod = "OSEM"
    ds.CollimatorType = "NONE"
    ds.NumberOfSlices = 1
    ds.ImageIndex = 1
    ds.FrameReferenceTime = "0"
    ds.ActualFrameDuration = 1000
    ds.DecayFactor = "1"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.AcquisitionDate = "20240305"
    ds.AcquisitionTime = "101800"
    ds.PatientWeight = "70"
    ds.PatientSize = "1.7"
    ds.PatientOrientationCodeSequence = Sequence()
    ds.PatientGantryRelationshipCodeSequence = Sequence()
    radio = Dataset()
    radio.Radiopharmaceutical = "Fluorodeoxyglucose"
    radio.RadiopharmaceuticalStartTime = "093000"
    radio.RadionuclideTotalDose = "370000000"
    radio.RadionuclideHalfLife = "6586.2"
    radio.RadionuclidePositronFraction = "0.97"
    radio.RadionuclideCodeSequence = Sequence(
        [code_item("C-111A1", "SRT", "^18^Fluorine")])
    ds.RadiopharmaceuticalInformationSequence = Sequence([radio])
    del ds.PatientPosition   # PatientOrientationCodeSequence instead
    return ds


def _us(path):
    ds = _common("US", path)
    _image(ds, color=True)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    return ds


def _sc(path):
    ds = _common("SC", path)
    _image(ds)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    return ds


def _sr(path):
    ds = _common("SR", path)
    ds.ContentDate = "20240305"
    ds.ContentTime = "101800"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence(
        [code_item("18748-4", "LN", "Diagnostic Imaging Report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = Sequence()
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = Sequence(
        [code_item("121071", "DCM", "Finding")])
    text.TextValue = "Report for Validityperson Vera: nothing found"
    ds.ContentSequence = Sequence([text])
    return ds


def _rtss(path):
    ds = _common("RTSS", path)
    ds.FrameOfReferenceUID = FOR_UID
    ds.PositionReferenceIndicator = ""
    ds.StructureSetLabel = "VALRT"
    ds.StructureSetDate = "20240305"
    ds.StructureSetTime = "101800"
    ds.OperatorsName = "Operator^Otto"
    ct_uid = _uid("CT", 1)
    contour_image = _ref(CLASSES["CT"], ct_uid)
    series = Dataset()
    series.SeriesInstanceUID = _uid("CT", 2)
    series.ContourImageSequence = Sequence([contour_image])
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = STUDY_UID
    study.RTReferencedSeriesSequence = Sequence([series])
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = FOR_UID
    ref_for.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref_for])
    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = FOR_UID
    roi.ROIName = "Validity ROI"
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = Sequence([roi])
    contour = Dataset()
    contour.ContourImageSequence = Sequence([_ref(CLASSES["CT"], ct_uid)])
    contour.ContourGeometricType = "CLOSED_PLANAR"
    contour.NumberOfContourPoints = 3
    contour.ContourData = [0, 0, 0, 1, 0, 0, 1, 1, 0]
    roic = Dataset()
    roic.ReferencedROINumber = 1
    roic.ROIDisplayColor = [255, 0, 0]
    roic.ContourSequence = Sequence([contour])
    ds.ROIContourSequence = Sequence([roic])
    obs = Dataset()
    obs.ObservationNumber = 1
    obs.ReferencedROINumber = 1
    obs.RTROIInterpretedType = "ORGAN"
    obs.ROIInterpreter = "Interpreter^Ida"
    ds.RTROIObservationsSequence = Sequence([obs])
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def _ps(path):
    ds = _common("PS", path)
    ds.ContentLabel = "VALPS"
    ds.ContentDescription = "Validity presentation"
    ds.PresentationCreationDate = "20240305"
    ds.PresentationCreationTime = "101900"
    ds.ContentCreatorName = "Creator^Carl"
    image = _ref(CLASSES["CT"], _uid("CT", 1))
    series = Dataset()
    series.SeriesInstanceUID = _uid("CT", 2)
    series.ReferencedImageSequence = Sequence([image])
    ds.ReferencedSeriesSequence = Sequence([series])
    area = Dataset()
    area.PixelOriginInterpretation = "FRAME"
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [8, 8]
    area.PresentationSizeMode = "SCALE TO FIT"
    area.PresentationPixelSpacing = [0.5, 0.5]
    ds.DisplayedAreaSelectionSequence = Sequence([area])
    ds.ImageHorizontalFlip = "N"
    ds.ImageRotation = 0
    voi = Dataset()
    voi.WindowCenter = "40"
    voi.WindowWidth = "400"
    ds.SoftcopyVOILUTSequence = Sequence([voi])
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PresentationLUTShape = "IDENTITY"
    return ds


def _emr(path):
    ds = _common("EMR", path)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.ContentDate = "20240305"
    ds.ContentTime = "101800"
    ds.AcquisitionDateTime = "20240305101800"
    ds.AcquisitionNumber = "1"
    ds.FrameOfReferenceUID = FOR_UID
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = 1
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.ContentQualification = "PRODUCT"
    ds.ImageComments = "Validity enhanced MR"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "T1"
    ds.ResonantNucleus = "1H"
    ds.MagneticFieldStrength = "1.5"
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.ImagingFrequency = "63.9"
    ds.SpacingBetweenSlices = "1"
    ds.KSpaceFiltering = "NONE"
    ds.MRAcquisitionType = "2D"
    ds.PulseSequenceName = "VALSE"
    ds.EchoPulseSequence = "SPIN"
    ds.MultipleSpinEcho = "NO"
    ds.MultiPlanarExcitation = "NO"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.SegmentedKSpaceTraversal = "SINGLE"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.AcquisitionDuration = 1.0
    ds.AcquisitionContextSequence = Sequence()
    ds.ManufacturerModelName = "OA Model"
    ds.DeviceSerialNumber = "VALSERIAL-1"
    ds.SoftwareVersions = "1"
    ds.NumberOfKSpaceTrajectories = 1
    ds.ContentCreatorName = "Creator^Carl"
    dim = Dataset()
    dim.DimensionOrganizationUID = ROOT + ".950"
    ds.DimensionOrganizationSequence = Sequence([dim])
    idx = Dataset()
    idx.DimensionOrganizationUID = ROOT + ".950"
    idx.DimensionIndexPointer = 0x00209157
    idx.FunctionalGroupPointer = 0x00209111
    ds.DimensionIndexSequence = Sequence([idx])
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.5]
    measures.SliceThickness = "1"
    shared.PixelMeasuresSequence = Sequence([measures])
    orient = Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PlaneOrientationSequence = Sequence([orient])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frame = Dataset()
    content = Dataset()
    content.DimensionIndexValues = [1]
    content.FrameAcquisitionDateTime = "20240305101800"
    content.FrameReferenceDateTime = "20240305101800"
    content.FrameAcquisitionDuration = 1.0
    content.StackID = "1"
    content.InStackPositionNumber = 1
    frame.FrameContentSequence = Sequence([content])
    pos = Dataset()
    pos.ImagePositionPatient = [0, 0, 0]
    frame.PlanePositionSequence = Sequence([pos])
    ds.PerFrameFunctionalGroupsSequence = Sequence([frame])
    ds.PixelData = bytes((i * 5) & 0xFF for i in range(8 * 8 * 2))
    return ds


BUILDERS = {"CT": _ct, "MR": _mr, "PET": _pet, "US": _us, "SC": _sc,
            "SR": _sr, "RTSS": _rtss, "PS": _ps, "EMR": _emr}


def make_iods(folder):
    """One instance of each main IOD in `folder`; {kind: path}."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for kind, build in BUILDERS.items():
        path = os.path.join(folder, "%s.dcm" % kind)
        ds = build(path)
        ds.save_as(path, write_like_original=False)
        out[kind] = path
    return out
