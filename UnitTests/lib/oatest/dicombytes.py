"""DICOM byte streams built by hand, malformed ones included: the Python
twin of UnitTests/support/dicom_bytes.c, used by the fuzz seeds
(UnitTests/fuzz/make_seeds.py) and the hostile inputs of the corpus tests
(UnitTests/corpus/mutate.py).  Well-formed files made with pydicom are in
dicomgen.py.  Standard library only.

    el(0x00100010, b"PN", b"Doe^J ")            one element, explicit LE
    el(0x00100010, None, b"Doe^J ", ILE)        implicit VR LE
    el(0x7FE00010, b"OB", b"", length=UNDEF)    header with a length of its own
    part10(EXPLICIT_LE, dataset)                preamble, DICM, meta, dataset
"""
import struct
import zlib

UNDEF = 0xFFFFFFFF

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
HTJ2K = "1.2.840.10008.1.2.4.201"
JPEG_XL = "1.2.840.10008.1.2.4.111"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"

# VRs with a reserved field and a 32-bit length in explicit VR.
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())


class Enc:
    """An encoding: explicit or implicit VR, little or big endian."""

    def __init__(self, explicit=True, big=False):
        self.explicit = explicit
        self.fmt = ">" if big else "<"


ILE, ELE, EBE = Enc(False), Enc(True), Enc(True, True)


def pad(value, vr):
    """`value` padded to even length (NUL for UI, OB, UN; else space)."""
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB", b"UN") else b" "
    return value


def el(tag, vr, value, enc=ELE, length=None):
    """One element; `length` overrides the value's length (malformed or
    undefined).  `vr` is ignored in implicit VR."""
    group, elem = tag >> 16, tag & 0xFFFF
    n = len(value) if length is None else length
    head = struct.pack(enc.fmt + "HH", group, elem)
    if not enc.explicit:
        return head + struct.pack(enc.fmt + "I", n) + value
    if vr in LONG_VRS:
        return head + vr + b"\0\0" + struct.pack(enc.fmt + "I", n) + value
    return head + vr + struct.pack(enc.fmt + "H", n) + value


def s(tag, vr, text, enc=ELE):
    """A text element, padded."""
    return el(tag, vr, pad(text.encode(), vr), enc)


def item_header(length=UNDEF, enc=ELE):
    """An item tag with its length (undefined by default)."""
    return struct.pack(enc.fmt + "HHI", 0xFFFE, 0xE000, length)


def item_end(enc=ELE):
    return struct.pack(enc.fmt + "HHI", 0xFFFE, 0xE00D, 0)


def seq_end(enc=ELE):
    return struct.pack(enc.fmt + "HHI", 0xFFFE, 0xE0DD, 0)


def item(content, enc=ELE, defined=True):
    """An item holding `content`: defined length, or undefined with its
    delimiter."""
    if defined:
        return item_header(len(content), enc) + content
    return item_header(UNDEF, enc) + content + item_end(enc)


def sq(tag, items, enc=ELE, defined=False, vr=b"SQ"):
    """A sequence of `items`: undefined length with its delimiter, or
    defined."""
    body = b"".join(items)
    if defined:
        return el(tag, vr, body, enc)
    return el(tag, vr, b"", enc, length=UNDEF) + body + seq_end(enc)


def _uid(tag, uid):
    # str: padded; bytes: as given (a malformed UID, a NUL of its own)
    if isinstance(uid, bytes):
        return el(tag, b"UI", uid)
    return s(tag, b"UI", uid)


def meta(ts, sop_class=CT_IMAGE, sop_inst="1.2.3.4.5", impl="1.2.3.999",
         group_len=None, with_ts=True):
    """The meta group (explicit VR LE) with its group length (`group_len`
    overrides it); `impl` None leaves out (0002,0012)."""
    body = el(0x00020001, b"OB", b"\0\1")
    body += _uid(0x00020002, sop_class)
    body += _uid(0x00020003, sop_inst)
    if with_ts:
        body += _uid(0x00020010, ts)
    if impl is not None:
        body += _uid(0x00020012, impl)
    n = len(body) if group_len is None else group_len
    return el(0x00020000, b"UL", struct.pack("<I", n)) + body


def part10(ts, dataset, preamble=True, dicm=True, **kw):
    """A Part 10 file: preamble, "DICM", meta group (meta()'s keywords),
    dataset."""
    head = (b"\0" * 128 if preamble else b"") + (b"DICM" if dicm else b"")
    return head + meta(ts, **kw) + dataset


def nested(depth, enc=ELE, defined=False):
    """`depth` sequences nested in each other, a leaf element inside."""
    inner = s(0x00100010, b"PN", "Leaf", enc)
    for _ in range(depth):
        inner = sq(0x0040A730, [item(inner, enc, defined)], enc, defined)
    return inner


def encapsulated(frames, enc=ELE, delimiter=True):
    """Pixel data: empty basic offset table + one fragment per frame."""
    body = item(b"", enc)
    for f in frames:
        body += item(pad(f, b"OB"), enc)
    head = el(0x7FE00010, b"OB", b"", enc, length=UNDEF)
    return head + body + (seq_end(enc) if delimiter else b"")


def deflate_raw(data, level=6):
    """Raw deflate (no zlib header), as the deflated syntax stores it."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()
