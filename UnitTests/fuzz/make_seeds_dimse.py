#!/usr/bin/env python3
"""Build the seed corpus of fuzz_dimse (the C-STORE SCU's parsers).

    UnitTests/fuzz/make_seeds_dimse.py [--shared DIR]

Writes corpus/fuzz_dimse/syn-*: A-ASSOCIATE-AC bodies (contexts accepted,
refused, with another transfer syntax, a maximum PDU length, other user
information sub-items), C-STORE-RSP command sets (success, failure with
offending elements) and small Part 10 files (meta group with and without
group length, no DICM).  With --shared DIR (the corpus), also copies the
small real files of PICKS.  Also corpus/fuzz_dimse_peer/syn-*: what
a peer answers over a connection (A-ASSOCIATE-AC then C-STORE-RSP P-DATA
PDUs and A-RELEASE-RP; an A-ASSOCIATE-RJ; an A-ABORT; a response in two
PDVs).  Seeds are committed; run this only to
regenerate them.  Python 3 standard library only.
"""
import argparse
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_dimse")
OUT_PEER = os.path.join(HERE, "corpus", "fuzz_dimse_peer")
SC = b"1.2.840.10008.5.1.4.1.1.7"
CT = b"1.2.840.10008.5.1.4.1.1.2"
ILE = b"1.2.840.10008.1.2"
ELE = b"1.2.840.10008.1.2.1"
JPEG = b"1.2.840.10008.1.2.4.50"
PICKS = [
    "pydicom-test_files/nested_priv_SQ.dcm",
    "pydicom-test_files/meta_missing_tsyntax.dcm",
    "pydicom-test_files/ExplVR_BigEndNoMeta.dcm",
    "pydicom-test_files/JPEG-lossy.dcm",
]


def item(t, body):
    return struct.pack(">BBH", t, 0, len(body)) + body


def ac_body(contexts, max_pdu=16384, extra_ui=b""):
    head = struct.pack(">HH", 1, 0) + b"STORESCP".ljust(16) + \
        b"ORTHANC".ljust(16) + b"\0" * 32
    body = head + item(0x10, b"1.2.840.10008.3.1.1.1")
    for pc, result, ts in contexts:
        sub = item(0x40, ts) if ts is not None else b""
        body += item(0x21, struct.pack(">BBBB", pc, 0, result, 0) + sub)
    ui = b""
    if max_pdu is not None:
        ui += item(0x51, struct.pack(">I", max_pdu))
    ui += item(0x52, b"1.2.276.0.7230010.3.0.3.6.7") + extra_ui
    ui += item(0x55, b"OFFIS_DCMTK_367")
    return body + item(0x50, ui)


def el(elem, value):
    if len(value) % 2:
        value += b"\0"
    return struct.pack("<HHI", 0, elem, len(value)) + value


def command(elems):
    body = b"".join(el(e, v) for e, v in elems)
    return el(0x0000, struct.pack("<I", len(body))) + body


def us(v):
    return struct.pack("<H", v)


def meta_el(elem, vr, value):
    if len(value) % 2:
        value += b"\0"
    if vr in (b"OB",):
        return struct.pack("<HH", 2, elem) + vr + b"\0\0" + \
            struct.pack("<I", len(value)) + value
    return struct.pack("<HH", 2, elem) + vr + struct.pack("<H", len(value)) \
        + value


def part10(ts, dataset, group_len=True, dicm=True):
    els = (meta_el(1, b"OB", b"\0\1") + meta_el(2, b"UI", CT) +
           meta_el(3, b"UI", b"1.2.3.4.5.6") + meta_el(0x10, b"UI", ts) +
           meta_el(0x12, b"UI", b"1.2.3"))
    if group_len:
        els = meta_el(0, b"UL", struct.pack("<I", len(els))) + els
    return b"\0" * 128 + (b"DICM" if dicm else b"XXXX") + els + dataset


def synthetic():
    seeds = {}
    seeds["syn-ac-accepted"] = ac_body([(1, 0, ELE), (3, 0, JPEG)])
    seeds["syn-ac-refused"] = ac_body([(1, 3, ELE), (3, 4, None), (5, 0, ILE)])
    seeds["syn-ac-other-ts"] = ac_body([(1, 0, ILE)], max_pdu=None)
    seeds["syn-ac-ui-extra"] = ac_body(
        [(1, 0, ELE)], max_pdu=0,
        extra_ui=item(0x53, struct.pack(">HH", 1, 1)) +
        item(0x54, struct.pack(">H", len(CT)) + CT + b"\1\0"))
    ds = struct.pack("<HH", 8, 0x18) + b"UI" + struct.pack("<H", 6) + b"1.2.3\0"
    ok = [(0x0002, CT), (0x0100, us(0x8001)), (0x0120, us(1)),
          (0x0800, us(0x0101)), (0x0900, us(0)), (0x1000, b"1.2.3.4")]
    seeds["syn-rsp-success"] = command(ok)
    seeds["syn-rsp-failure"] = command(
        ok[:4] + [(0x0900, us(0xA900)),
                  (0x0901, struct.pack("<HHHH", 0x10, 0x10, 0x8, 0x18)),
                  (0x0902, b"error comment")] + ok[5:])
    seeds["syn-file-ele"] = part10(ELE, ds)
    seeds["syn-file-no-group-length"] = part10(ILE, ds, group_len=False)
    seeds["syn-file-no-dicm"] = part10(ELE, ds, dicm=False)
    return seeds


def pdu(t, body):
    return struct.pack(">BBI", t, 0, len(body)) + body


def pdata(pc, cmd, cut=None):
    if cut is None:
        return pdu(4, struct.pack(">IBB", len(cmd) + 2, pc, 3) + cmd)
    return (pdu(4, struct.pack(">IBB", cut + 2, pc, 1) + cmd[:cut]) +
            pdu(4, struct.pack(">IBB", len(cmd) - cut + 2, pc, 3) +
                cmd[cut:]))


def rsp(mid, status=0):
    return command([(0x0002, SC), (0x0100, us(0x8001)), (0x0120, us(mid)),
                    (0x0800, us(0x0101)), (0x0900, us(status)),
                    (0x1000, b"1.2.826.0.1.3680043.2.1143.424242.%d" % mid)])


def two(a, b=b""):
    """fuzz_dimse_peer's input: the first answer's length, both answers."""
    return struct.pack(">H", len(a)) + a + b


def peer():
    ac = pdu(2, ac_body([(1, 0, ELE)]))
    rp = pdu(6, b"\0" * 4)
    return {
        "syn-peer-ok": two(ac + pdata(1, rsp(1)), pdata(1, rsp(2)) + rp),
        "syn-peer-split": two(ac + pdata(1, rsp(1), 20),
                              pdata(1, rsp(2), 7) + rp),
        "syn-peer-status": two(ac + pdata(1, rsp(1, 0xB000)),
                               pdata(1, rsp(2, 0xC001)) + rp),
        "syn-peer-refused": two(pdu(2, ac_body([(1, 3, None)])), rp),
        "syn-peer-rj": two(pdu(3, b"\0\1\1\3")),
        "syn-peer-abort": two(ac + pdu(7, b"\0\0\2\1")),
        "syn-peer-idle-abort": two(ac + pdata(1, rsp(1)) +
                                   pdu(7, b"\0\0\0\0"),
                                   pdata(1, rsp(1)) + rp),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for name, data in synthetic().items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    os.makedirs(OUT_PEER, exist_ok=True)
    for name, data in peer().items():
        with open(os.path.join(OUT_PEER, name), "wb") as f:
            f.write(data)
    if a.shared:
        for p in PICKS:
            shutil.copyfile(os.path.join(a.shared, p),
                            os.path.join(OUT, p.replace("/", "--")))


if __name__ == "__main__":
    main()
