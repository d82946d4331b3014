"""What must not leave: the checks of the anonymization proofs
(UnitTests/anonymizer/, the integration tests,
Resources/Scripts/compare-orthanc.py).

  * walking a pydicom dataset with raw value bytes, sequences included;
  * the original identifying values of an input (what must not leave);
  * searching an output for them outside pixel data, or anywhere in a
    file's bytes;
  * private tags and Table E.3.10-1 (safe private attributes);
  * the UID contract: "2.25." + decimal of the first 128 bits of
    HMAC-SHA256(secret, original UID), class and scheme UIDs kept.

Messages never print DICOM values, only tags, keywords and kinds of value
(this is an anonymizer's test suite; run with --show-values to debug).
Needs pydicom 2.x: run with Debian's /usr/bin/python3.
"""
import hashlib
import hmac
import json
import logging
import re
import warnings

from . import SKIP, corpus

try:
    import pydicom
    import pydicom.config
    from pydicom.datadict import dictionary_VR, keyword_for_tag
    from pydicom.dataelem import RawDataElement
except ImportError:  # pragma: no cover
    import sys
    print("skipped: needs pydicom 2.x (run with Debian's /usr/bin/python3)")
    sys.exit(SKIP)

# pydicom warns about every odd value of the corpus: not our subject.
logging.getLogger("pydicom").setLevel(logging.CRITICAL)
warnings.simplefilter("ignore")

# ------------------------------------------------------------------ #
# Walking datasets with raw bytes

PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
BIG_BINARY = 64 * 1024
STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN",
              "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


def vr_of(elem, tag):
    vr = getattr(elem, "VR", None)
    if vr in (None, "UN") or (isinstance(vr, str) and " or " in vr):
        try:
            dvr = dictionary_VR(tag)
            if vr is None or vr == "UN":
                vr = dvr.split(" or ")[0] if dvr else "UN"
            else:
                vr = vr.split(" or ")[0]
        except KeyError:
            vr = vr or "UN"
    return vr


def raw_value(ds, tag):
    """The bytes of a non-sequence element as stored, or None if pydicom
    already converted it (then the value is re-encoded as text)."""
    elem = ds._dict[tag]
    if isinstance(elem, RawDataElement):
        return elem.value if elem.value is not None else b""
    v = elem.value
    if v is None:
        return b""
    if isinstance(v, bytes):
        return v
    if isinstance(v, (list, tuple, pydicom.multival.MultiValue)):
        return "\\".join(str(x) for x in v).encode("utf-8", "replace")
    return str(v).encode("utf-8", "replace")


def walk(ds, path=(), include_meta=True):
    """Yield (path, tag, vr, value bytes or None for SQ, dataset, elem
    (for SQ: the converted DataElement)) for every element at every depth.
    `path` is a tuple of (sequence tag, item index) pairs."""
    if include_meta and getattr(ds, "file_meta", None) is not None:
        for item in walk(ds.file_meta, path, include_meta=False):
            yield item
    for tag in list(ds._dict.keys()):
        raw = ds._dict[tag]
        vr = vr_of(raw, tag)
        is_sq = vr == "SQ"
        if not is_sq and isinstance(raw, RawDataElement) and \
                raw.VR in (None, "UN") and raw.length == 0xFFFFFFFF:
            is_sq = True
        if is_sq:
            try:
                elem = ds[tag]
            except Exception:
                yield path, int(tag), "UN", raw_value(ds, tag), ds, None
                continue
            if elem.VR == "SQ" and elem.value is not None:
                yield path, int(tag), "SQ", None, ds, elem
                for i, item in enumerate(elem.value):
                    for sub in walk(item, path + ((int(tag), i),),
                                    include_meta=False):
                        yield sub
                continue
            yield path, int(tag), elem.VR, raw_value(ds, tag), ds, elem
            continue
        yield path, int(tag), vr, raw_value(ds, tag), ds, raw


def strip_value(b):
    return b.rstrip(b" \x00").lstrip(b" ")


def tag_str(tag):
    return "(%04X,%04X)" % (tag >> 16, tag & 0xFFFF)


def path_str(path, tag=None):
    parts = []
    for t, i in path:
        kw = keyword_for_tag(t) or tag_str(t)
        parts.append("%s[%d]" % (kw, i))
    if tag is not None:
        parts.append(keyword_for_tag(tag) or tag_str(tag))
    return ".".join(parts)


def get_at(ds, path, tag):
    """The element (raw or converted) at path/tag in ds, or None."""
    cur = ds
    if not path and tag >> 16 == 0x0002:
        cur = getattr(ds, "file_meta", None)
        if cur is None:
            return None
    for t, i in path:
        if t not in cur._dict:
            return None
        try:
            el = cur[t]
        except Exception:
            return None
        if el.VR != "SQ" or el.value is None or len(el.value) <= i:
            return None
        cur = el.value[i]
    if tag not in cur._dict:
        return None
    return cur, tag


def value_at(ds, path, tag):
    """Stripped bytes at path/tag, or None if absent."""
    r = get_at(ds, path, tag)
    if r is None:
        return None
    cur, t = r
    return strip_value(raw_value(cur, t))


# ------------------------------------------------------------------ #
# Identifying values

# keyword -> tag of the attributes whose values must not leave (beyond
# every PN value, collected by VR).
IDENTIFYING = {
    "PatientID": 0x00100020,
    "OtherPatientIDs": 0x00101000,
    "IssuerOfPatientID": 0x00100021,
    "PatientBirthDate": 0x00100030,
    "AccessionNumber": 0x00080050,
    "InstitutionName": 0x00080080,
    "InstitutionAddress": 0x00080081,
    "ReferringPhysicianName": 0x00080090,
    "PerformingPhysicianName": 0x00081050,
    "OperatorsName": 0x00081070,
    "RequestingPhysician": 0x00321032,
    "PatientAddress": 0x00101040,
    "PatientTelephoneNumbers": 0x00102154,
}
IDENTIFYING_BY_TAG = {v: k for k, v in IDENTIFYING.items()}
MIN_LEN = 4

# The value "clear" writes for the birth date: not an original value.
BIRTH_DATE_CLEARED = b"19000101"


class Ident:
    """One identifying value: bytes, where it came from (tag, kind)."""
    __slots__ = ("value", "tag", "kind", "numeric")

    def __init__(self, value, tag, kind):
        self.value = value
        self.tag = tag
        self.kind = kind
        self.numeric = re.fullmatch(rb"[0-9.+\- ]+", value) is not None

    def describe(self):
        return "%s of %s" % (self.kind, keyword_for_tag(self.tag)
                             or tag_str(self.tag))


def _components(raw):
    return [c.strip(b" \x00") for c in re.split(rb"[\^=\\]", raw)]


def identifying_values(ds, keep_birth_date=False):
    """{bytes: Ident} of the input's identifying values (every depth)."""
    found = {}
    for path, tag, vr, value, _ds, _el in walk(ds):
        if value is None or tag >> 16 == 0x0002:
            continue
        name = IDENTIFYING_BY_TAG.get(tag)
        if vr == "PN" or tag in (0x00100010, 0x00080090, 0x00081050,
                                 0x00081070, 0x00321032):
            for c in _components(value):
                if len(c) >= MIN_LEN:
                    found.setdefault(c, Ident(c, tag, "name component"))
            continue
        if name is None:
            continue
        if name == "PatientBirthDate":
            if keep_birth_date:
                continue
        for v in strip_value(value).split(b"\\"):
            v = v.strip(b" \x00")
            if len(v) < MIN_LEN:
                continue
            if name == "PatientBirthDate" and v == BIRTH_DATE_CLEARED:
                continue
            found.setdefault(v, Ident(v, tag, "value"))
    return found


def _word_byte(c):
    return c.isalnum() or c == b"_" or (c and c[0] >= 0x80)


def find_hits(value, idents):
    """[Ident] of the identifying values found in `value` (bytes) as whole
    words: a numeric value (IDs, dates) counts where no digit touches it
    (so "PID12345" holds "12345", a generated 2.25 UID, one long run of
    digits, does not); any other value where no letter, digit, "_" or
    non-ASCII byte touches it (so "Smith" is not in "Smithson", "xxxxx"
    not in "xxxxxxx", "TOSHIBA" not in "TOSHIBA_MEC")."""
    hits = []
    for ident in idents:
        v = ident.value
        start = value.find(v)
        while start >= 0:
            end = start + len(v)
            before = value[start - 1:start]
            after = value[end:end + 1]
            if ident.numeric:
                ok = not before.isdigit() and not after.isdigit()
            else:
                ok = (not before or not _word_byte(before)
                      or not _word_byte(v[:1])) and \
                     (not after or not _word_byte(after)
                      or not _word_byte(v[-1:]))
            if ok:
                hits.append(ident)
                break
            start = value.find(v, start + 1)
    return hits


# Values from controlled vocabularies: a person's name that is also an
# anatomical or coded term ("KNEE", "Knee") is not a leak there.  IDs,
# dates and institutions are still looked for in them.  (0012,0063) holds
# the method text the anonymizer writes ("... Patient Characteristics ...").
VOCABULARY_TAGS = {0x00080100, 0x00080102, 0x00080104, 0x00080119,
                   0x00120063}


def is_vocabulary(tag, vr):
    return vr == "CS" or tag in VOCABULARY_TAGS


def leaks(out_ds, idents, exempt=None):
    """[(path string, tag, Ident)] of identifying values in the output's
    element values, pixel data and big binary values excluded.  `exempt`
    (path, tag, value, ident) -> bool excuses a hit."""
    result = []
    if not idents:
        return result
    names = [i for i in idents.values() if i.kind == "name component"]
    others = [i for i in idents.values() if i.kind != "name component"]
    for path, tag, vr, value, _ds, _el in walk(out_ds):
        if value is None or tag in PIXEL_TAGS:
            continue
        if vr in BINARY_VRS and len(value) > BIG_BINARY:
            continue
        look = others if is_vocabulary(tag, vr) else others + names
        for ident in find_hits(value, look):
            if exempt is not None and exempt(path, tag, value, ident):
                continue
            result.append((path_str(path, tag), tag, ident))
    return result


# ------------------------------------------------------------------ #
# Private tags

def load_safe_private():
    """{(group, element in block, creator)} of Table E.3.10-1."""
    with open(corpus.reference("safe_private.json")) as f:
        rows = json.load(f)
    return {(int(r["group"], 16), int(r["element_in_block"], 16),
             r["private_creator"]) for r in rows}


def creator_text(b):
    return b.decode("latin-1").strip(" \x00")


def private_elements(ds):
    """Yield (path string, tag, creator or None, is_creator) for every
    private element (odd group, not 0001-0007, not FFFF) at every depth."""
    for path, tag, vr, value, cur, _el in walk(ds, include_meta=False):
        group, elem = tag >> 16, tag & 0xFFFF
        if group % 2 == 0 or group <= 0x0007 or group == 0xFFFF:
            continue
        if 0x0010 <= elem <= 0x00FF:
            yield path_str(path, tag), tag, creator_text(value or b""), True
            continue
        creator = None
        if elem >= 0x1000:
            ctag = (group << 16) | (elem >> 8)
            if ctag in cur._dict:
                creator = creator_text(raw_value(cur, ctag))
        yield path_str(path, tag), tag, creator, False


def private_violations(ds, profile_private, safe):
    """Messages for private elements a profile must not leave.
    profile_private: "clear" (none allowed) or "safe" (Table E.3.10-1)."""
    bad = []
    safe_creators = {(g, c) for (g, _e, c) in safe}
    for where, tag, creator, is_creator in private_elements(ds):
        group, elem = tag >> 16, tag & 0xFFFF
        if profile_private == "clear":
            bad.append("private %s left at %s" % (tag_str(tag), where))
        elif profile_private == "safe":
            if is_creator:
                if (group, creator) not in safe_creators:
                    bad.append("private creator %s of a block without safe"
                               " attributes left at %s" % (tag_str(tag),
                                                           where))
            elif creator is None or (group, elem & 0xFF, creator) not in safe:
                bad.append("private %s (creator %s) not in Table E.3.10-1"
                           " left at %s" % (tag_str(tag),
                                            "none" if creator is None else
                                            "known", where))
    return bad


# ------------------------------------------------------------------ #
# UIDs

WELL_KNOWN_PREFIX = "1.2.840.10008."

# UI attributes naming a class or a scheme: kept (design: issue 3 and
# GenerateProfile.py UID_KEEP).  Keyed by tag.
CLASS_UID_KEYWORDS = [
    "AffectedSOPClassUID", "RequestedSOPClassUID", "MediaStorageSOPClassUID",
    "RTVCommunicationSOPClassUID", "ReferencedSOPClassUIDInFile",
    "ReferencedRelatedGeneralSOPClassUIDInFile", "SOPClassUID",
    "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID",
    "SOPClassesInStudy", "ReferencedSOPClassUID", "SOPClassesSupported",
    "PertinentSOPClassesInStudy", "PertinentSOPClassesInSeries",
    "TransferSyntaxUID", "ReferencedTransferSyntaxUIDInFile",
    "StoredInstanceTransferSyntaxUID", "AvailableTransferSyntaxUID",
    "FlowTransferSyntaxUID", "MACCalculationTransferSyntaxUID",
    "EncryptedContentTransferSyntaxUID", "CodingSchemeUID", "ContextUID",
    "MappingResourceUID", "ContextGroupExtensionCreatorUID",
    "SegmentationTemplateUID", "ImplementationClassUID",
    "PrivateInformationCreatorUID", "CreatorVersionUID",
]


def _class_uid_tags():
    from pydicom.datadict import tag_for_keyword
    tags = set()
    for kw in CLASS_UID_KEYWORDS:
        t = tag_for_keyword(kw)
        if t is not None:
            tags.add(int(t))
    return tags


CLASS_UID_TAGS = _class_uid_tags()


def uid_text(b):
    return b.rstrip(b" \x00").decode("ascii", "replace")


def hmac_uid(secret, uid, prefix=""):
    """The contract: "2.25." + decimal of the first 128 bits (big-endian)
    of HMAC-SHA256(secret, original UID without padding).  `prefix` is
    put before the UID in the message (a domain separation label)."""
    d = hmac.new(secret.encode("utf-8"), (prefix + uid).encode("ascii"),
                 hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(d[:16], "big"))


def is_well_known(uid):
    return uid.startswith(WELL_KNOWN_PREFIX)


def ui_values(ds):
    """Yield (path, tag, [uid strings]) for every UI element."""
    for path, tag, vr, value, _ds, _el in walk(ds):
        if vr != "UI" or value is None:
            continue
        uids = [u for u in uid_text(value).split("\\") if u]
        yield path, tag, uids


def read(path, force=False):
    return pydicom.dcmread(path, force=force)


# ------------------------------------------------------------------ #
# Original values in a whole file, converted elements


def leaked(data, needles):
    """Indexes (into needles) of the values found anywhere in the file's
    bytes, case-insensitively: plain attributes, sequences, private tags,
    the meta group, all of it."""
    low = data.lower()
    return [k for k, n in enumerate(needles)
            if n and n.lower().encode("latin-1") in low]


def elements(ds, path=()):
    """Yield (path, element) for every (converted) element at every
    depth."""
    for elem in ds:
        yield path, elem
        if elem.VR == "SQ":
            for k, item in enumerate(elem.value):
                yield from elements(item, path + ((elem.tag, k),))


def private_creators(ds):
    """The private creator strings present at any depth."""
    out = set()
    for _, elem in elements(ds):
        if elem.tag.is_private and elem.tag.element >= 0x10 and \
                elem.tag.element <= 0xff and elem.VR == "LO":
            out.add(str(elem.value).strip())
    return out
