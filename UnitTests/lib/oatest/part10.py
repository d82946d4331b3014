"""The framing of a Part 10 file, as Plugin/dicom/reader.c decides it:
where the meta group and the dataset are, the meta's values, inflating a
deflated dataset.  Standard library only.
"""
import struct
import zlib

DEFLATED_TS = ("1.2.840.10008.1.2.1.99",)

# PS3.5 Table 6.2-1.
VALID_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS "
    b"ST SV TM UC UI UL UN UR US UT UV".split())
LONG_LENGTH_VRS = frozenset(
    b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())



def _looks_like_meta(b, pos):
    return (len(b) - pos >= 8 and b[pos:pos + 2] == b"\x02\x00"
            and b[pos + 4:pos + 6] in VALID_VRS)


class Framing:
    def __init__(self):
        self.meta_start = None   # offset of the first group-2 element
        self.dataset_offset = 0
        self.meta = {}           # {element number: raw value} of group 2


def framing(b):
    """Where the meta group and the dataset are: "DICM" at 128 followed by
    a meta group, else "DICM" at 0 followed by one, else a meta group at 0,
    else a bare dataset.  The meta group is every group-2 element at its
    start, whatever (0002,0000) says (the reader's policy)."""
    fr = Framing()
    pos = 0
    if len(b) >= 132 and b[128:132] == b"DICM" and _looks_like_meta(b, 132):
        pos = 132
    elif b[:4] == b"DICM" and _looks_like_meta(b, 4):
        pos = 4
    if _looks_like_meta(b, pos):
        fr.meta_start = pos
        while len(b) - pos >= 8 and b[pos:pos + 2] == b"\x02\x00":
            elem = struct.unpack_from("<H", b, pos + 2)[0]
            vr = b[pos + 4:pos + 6]
            if vr in LONG_LENGTH_VRS and len(b) - pos >= 12:
                hlen, length = 12, struct.unpack_from("<I", b, pos + 8)[0]
            elif vr in VALID_VRS:
                hlen, length = 8, struct.unpack_from("<H", b, pos + 6)[0]
            else:
                hlen, length = 8, struct.unpack_from("<I", b, pos + 4)[0]
            fr.meta[elem] = b[pos + hlen:pos + hlen + length]
            pos += hlen + length
    fr.dataset_offset = min(pos, len(b))
    return fr


def uid_str(raw):
    if raw is None:
        return None
    return raw.rstrip(b" \x00").decode("ascii", "replace")


def inflate(data):
    """Inflate a deflated dataset (raw deflate; a zlib header tolerated)."""
    for wbits in (-15, 15):
        try:
            d = zlib.decompressobj(wbits)
            return d.decompress(data) + d.flush()
        except zlib.error:
            continue
    return None
