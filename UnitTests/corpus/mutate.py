#!/usr/bin/python3
"""Hostile inputs: oa-anonymize --copy on byte-mutated corpus files.

A deterministic sample of corpus files (seeded RNG, stratified by transfer
syntax so that every syntax family is hit) is mutated ~25 ways each in a
temporary folder: random byte flips, truncations at random offsets, length
fields (found with our own --dump) set to 0xFFFFFFFF, 0xFFFFFFFE, odd,
huge or just past the end, tags turned into delimiters or items, the meta
group's own lengths and transfer syntax garbled.  Synthetic files are added:
empty, 1 byte, preamble only, deep nesting (defined and undefined lengths,
items and UN), 100 MB and 4 GB claimed lengths, a deflate bomb.

Assertions, per invocation and per file:
  - no crash: exit status 0 or 1 only (a signal, 2+, or a sanitizer report
    on stderr is a failure), no hang (each batch under --timeout seconds);
  - every input either written, or refused with a message naming an
    offset;
  - every output parses with our own `oa-anonymize --check`, and copying
    it again gives the same bytes (the writer's output is a fixed point).

Prints counts (written/refused) and a final "N passed, M failed" line
(one per input file: a file passes when all of the above hold for it; a
batch that crashes is rerun file by file to name the culprit).  Standard
library only.
"""
import argparse
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from oatest import dicombytes as db, part10 as p10  # noqa: E402
from oatest.corpus import require as require_corpus  # noqa: E402
from oatest.tool import run_batches, run_tool  # noqa: E402

SEED = 20261125
MAX_SAMPLE_SIZE = 600 * 1024   # keep the temp folder and the run small
OFFSET_RE = re.compile(r"offset \d+")

# Transfer syntax UIDs as stored (with their NUL, or malformed).
EXPLICIT_LE = b"1.2.840.10008.1.2.1\x00"
IMPLICIT_LE = b"1.2.840.10008.1.2\x00"
BIG_ENDIAN = b"1.2.840.10008.1.2.2\x00"
DEFLATED = b"1.2.840.10008.1.2.1.99"
SOP = "1.2.3.4"


# ------------------------------------------------------------------ #
# Synthetic files (oatest.dicombytes)

def part10(dataset, ts=EXPLICIT_LE):
    """A secondary capture with a minimal meta group (no implementation
    UID)."""
    return db.part10(ts, dataset, sop_class=db.SC_IMAGE, sop_inst=SOP,
                     impl=None)


def nested_undefined(depth, vr=b"SQ"):
    head = db.el(0x0040A730, vr, b"", length=db.UNDEF)
    body = (head + db.item_header()) * depth
    inner = db.el(0x0040A010, b"CS", b"CONTAINS")
    return body + inner + (db.item_end() + db.seq_end()) * depth


def nested_defined(depth):
    inner = db.el(0x0040A010, b"CS", b"CONTAINS")
    for _ in range(depth):
        inner = db.el(0x0040A730, b"SQ", db.item(inner))
    return inner


def nested_implicit_un(depth):
    """Undefined-length private elements (UN in implicit VR, CP-246)."""
    head = db.el(0x00091010, None, b"", db.ILE, length=db.UNDEF)
    return (db.el(0x00090010, None, b"PRIVATE ", db.ILE)
            + (head + db.item_header()) * depth
            + db.el(0x00091011, None, b"AB", db.ILE)
            + (db.item_end() + db.seq_end()) * depth)


def be_un_sequence(defined):
    """A UN holding a sequence in an explicit VR big endian dataset: its
    content is implicit VR little endian (CP-246), the header big endian."""
    item = db.item(db.el(0x00081150, None, b"1.2.3.4\x00", db.ILE))
    if defined:
        return db.el(0x00082112, b"UN", item, db.EBE)
    return (db.el(0x00082112, b"UN", b"", db.EBE, length=db.UNDEF) + item
            + db.seq_end())


def sop_of(enc):
    return (db.el(0x00080016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\x00", enc)
            + db.el(0x00080018, b"UI", b"1.2.3.4\x00", enc))


def synthetic():
    el = db.el
    sop, implicit_sop, be_sop = sop_of(db.ELE), sop_of(db.ILE), \
        sop_of(db.EBE)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb_data = bomb.compress(b"\x00" * (32 << 20)) + bomb.flush()
    preamble = b"\x00" * 128 + b"DICM"
    files = {
        "empty.dcm": b"",
        "one-byte.dcm": b"\x08",
        "one-zero-byte.dcm": b"\x00",
        "preamble-only.dcm": preamble,
        "meta-only.dcm": part10(b""),
        "deep-undefined-65.dcm": part10(sop + nested_undefined(65)),
        "deep-undefined-64.dcm": part10(sop + nested_undefined(64)),
        "deep-undefined-5000.dcm": part10(sop + nested_undefined(5000)),
        "deep-undefined-100000.dcm": part10(sop + nested_undefined(100000)),
        "deep-defined-2000.dcm": part10(sop + nested_defined(2000)),
        "deep-un-explicit-500.dcm": part10(sop + nested_undefined(500,
                                                                  b"UN")),
        "deep-un-implicit-500.dcm": part10(
            implicit_sop + nested_implicit_un(500), IMPLICIT_LE),
        "deep-un-implicit-64.dcm": part10(
            implicit_sop + nested_implicit_un(64), IMPLICIT_LE),
        # CP-246 in big endian (corpus: fo-dicom GH177).
        "be-un-undefined.dcm": part10(
            be_sop + be_un_sequence(False)
            + el(0x00100010, b"PN", b"DOE^J ", db.EBE), BIG_ENDIAN),
        "be-un-defined.dcm": part10(
            be_sop + be_un_sequence(True)
            + el(0x00100010, b"PN", b"DOE^J ", db.EBE), BIG_ENDIAN),
        # Implicit VR labelled right, first group reads smaller byte-swapped
        # (corpus: pydicom priv_SQ.dcm), and out of tag order.
        "implicit-group-3F03.dcm": part10(
            el(0x3F030010, None, b"ABC ", db.ILE)
            + el(0x3F031001, None, b"XY", db.ILE), IMPLICIT_LE),
        "implicit-out-of-order.dcm": part10(
            el(0x7FE00010, None, b"\x00\x00", db.ILE)
            + el(0x00080018, None, b"1.2.3.4\x00", db.ILE), IMPLICIT_LE),
        "deep-unclosed-300.dcm": part10(
            sop + (el(0x0040A730, b"SQ", b"", length=db.UNDEF)
                   + db.item_header()) * 300),
        "claims-100MB.dcm": part10(sop + el(0x7FE00010, b"OB", b"\x00" * 64,
                                            length=100 << 20)),
        "claims-4GB-minus-2.dcm": part10(
            sop + el(0x7FE00010, b"OW", b"\x00" * 64, length=0xFFFFFFFE)),
        "claims-100MB-implicit.dcm": part10(
            el(0x00080018, None, b"1.2.3.4\x00", db.ILE)
            + el(0x7FE00010, None, b"\x00" * 64, db.ILE, length=100 << 20),
            IMPLICIT_LE),
        "meta-length-huge.dcm": preamble + el(
            0x00020000, b"UL", struct.pack("<I", 0xFFFFFFF0)) + el(
            0x00020010, b"UI", EXPLICIT_LE) + sop,
        "meta-ts-undefined-length.dcm": preamble + el(
            0x00020010, b"UI", EXPLICIT_LE, length=0xFFFF) + sop,
        "deflate-bomb-32MB.dcm": part10(bomb_data, DEFLATED + b"\x00"),
        "deflate-garbage.dcm": part10(b"\xff" * 300, DEFLATED + b"\x00"),
        "fragments-unclosed.dcm": part10(
            sop + el(0x7FE00010, b"OB", b"", length=db.UNDEF)
            + db.item_header(0) + db.item_header(0x7FFFFFFF) + b"\xff"),
        # Encapsulated pixel data with a VR other than OB/OW.
        "encapsulated-OL.dcm": part10(
            sop + el(0x7FE00010, b"OL", b"", length=db.UNDEF)
            + db.item_header(0) + db.item_header(2) + b"\xff\xd8"
            + db.seq_end(), b"1.2.840.10008.1.2.4.50\x00"),
        # A JPEG-family transfer syntax UID longer than a UID may be.
        "ts-jpeg-family-80-chars.dcm": part10(
            sop, b"1.2.840.10008.1.2.4." + b"9" * 60),
        "ts-unknown-80-chars.dcm": part10(sop, b"1.2.3." + b"9" * 74),
        "item-length-huge.dcm": part10(
            sop + el(0x0040A730, b"SQ", b"", length=16)
            + db.item_header(0xFFFFFFF0) + b"\x00" * 8),
    }
    return files


# What must become of some synthetic files (the others may be written or
# refused: a matter of policy, e.g. an empty file read as an empty dataset).
SYNTHETIC_EXPECT = {
    "deep-undefined-64.dcm": "written",      # the default depth limit
    "deep-undefined-65.dcm": "refused",
    "deep-undefined-5000.dcm": "refused",
    "deep-undefined-100000.dcm": "refused",
    "deep-defined-2000.dcm": "refused",
    "deep-un-explicit-500.dcm": "refused",
    "deep-un-implicit-500.dcm": "refused",
    "deep-un-implicit-64.dcm": "written",
    "deep-unclosed-300.dcm": "refused",
    "claims-100MB.dcm": "refused",
    "claims-4GB-minus-2.dcm": "refused",
    "claims-100MB-implicit.dcm": "refused",
    "fragments-unclosed.dcm": "refused",
    "item-length-huge.dcm": "refused",
    "deflate-garbage.dcm": "refused",
    "be-un-undefined.dcm": "written",        # valid files
    "be-un-defined.dcm": "written",
    "implicit-group-3F03.dcm": "written",
    "meta-only.dcm": "refused",             # no element: nothing to write
}


# ------------------------------------------------------------------ #
# Mutations of a corpus file

class Layout:
    """Where the length fields of a file are, from our own --dump (offsets
    of element headers in the file; not for deflated datasets)."""

    def __init__(self, tool, path, data):
        fr = p10.framing(data)
        ts = p10.uid_str(fr.meta.get(0x0010)) or ""
        self.deflated = ts in p10.DEFLATED_TS
        self.big = ts == "1.2.840.10008.1.2.2"
        self.meta_start = fr.meta_start
        self.dataset_offset = fr.dataset_offset
        self.fields = []    # (offset of the length field, size)
        self.tags = []      # offsets of element tags
        self.problem = None
        if self.deflated:
            return
        run = run_tool([tool, "--dump", "-q", path], 60)
        self.problem = run.problem()
        for line in run.stdout.splitlines():
            m = re.match(r"\s*\(([0-9A-F]{4}),([0-9A-F]{4})\) (\S+) .*@(\d+)",
                         line)
            if not m:
                continue
            off, vr = int(m.group(4)), m.group(3)
            self.tags.append(off)
            if vr in ("item", "fragment"):
                self.fields.append((off + 4, 4))
                continue
            b = data[off + 4:off + 6]
            if b in p10.VALID_VRS:
                if b in p10.LONG_LENGTH_VRS:
                    self.fields.append((off + 8, 4))
                else:
                    self.fields.append((off + 6, 2))
            else:
                self.fields.append((off + 4, 4))


def put_length(buf, off, size, value, big):
    if off + size > len(buf):
        return
    fmt = (">" if big else "<") + ("I" if size == 4 else "H")
    buf[off:off + size] = struct.pack(fmt, value & (0xFFFFFFFF if size == 4
                                                    else 0xFFFF))


def mutations(rng, data, lay, count):
    """`count` mutated copies of `data`: [(kind, bytes)]."""
    out = []
    n = len(data)
    kinds = ["flip", "flip", "flips", "truncate", "truncate", "length",
             "length", "length", "length", "delimiter", "zero-run",
             "meta", "insert", "duplicate-tail"]
    for i in range(count):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        b = bytearray(data)
        if kind == "flip" and n:
            # A few bytes of the header area, where the structure is.
            for _ in range(rng.randint(1, 3)):
                pos = rng.randrange(min(n, max(lay.dataset_offset + 512, 1)))
                b[pos] ^= 1 << rng.randrange(8)
        elif kind == "flips" and n:
            for _ in range(rng.randint(4, 40)):
                b[rng.randrange(n)] = rng.randrange(256)
        elif kind == "truncate" and n:
            if lay.tags and rng.random() < 0.5:
                # Cut inside an element header or right after it.
                t = rng.choice(lay.tags)
                cut = min(n, t + rng.randrange(0, 13))
            else:
                cut = rng.randrange(n)
            b = b[:cut]
        elif kind == "length" and lay.fields:
            off, size = rng.choice(lay.fields)
            rest = n - off
            value = rng.choice([0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF,
                                0x80000000, 100 << 20, rest, rest + 1,
                                rest - 1, 0, 1, 3, 0xFFFF, 0xFFFD])
            put_length(b, off, size, value, lay.big)
        elif kind == "delimiter" and lay.tags:
            t = rng.choice(lay.tags)
            tag = rng.choice([(0xFFFE, 0xE000), (0xFFFE, 0xE00D),
                              (0xFFFE, 0xE0DD), (0x7FE0, 0x0010)])
            if t + 4 <= n:
                b[t:t + 4] = struct.pack(">HH" if lay.big else "<HH", *tag)
        elif kind == "zero-run" and n:
            pos = rng.randrange(n)
            ln = rng.randint(1, 64)
            b[pos:pos + ln] = b"\x00" * len(b[pos:pos + ln])
        elif kind == "meta" and lay.meta_start is not None:
            pos = lay.meta_start + rng.randrange(
                max(1, lay.dataset_offset - lay.meta_start))
            b[pos] = rng.choice([0x00, 0xFF, 0x31, 0x2E, rng.randrange(256)])
        elif kind == "insert" and n:
            pos = rng.randrange(n)
            b[pos:pos] = bytes(rng.randrange(256)
                               for _ in range(rng.randint(1, 7)))
        elif kind == "duplicate-tail" and n:
            pos = rng.randrange(n)
            b += b[pos:pos + 4096]
        else:
            pos = rng.randrange(max(n, 1))
            b = b[:pos]
            kind = "truncate"
        out.append((kind, bytes(b)))
    return out


def sample(corpus, rng, count):
    """`count` corpus files, stratified by transfer syntax."""
    by_ts = {}
    with open(os.path.join(corpus, "INDEX.tsv"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == 0 or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            path, size, ts = fields[0], int(fields[2] or 0), fields[3]
            if size > MAX_SAMPLE_SIZE or "Deeply-Nested" in path:
                continue
            by_ts.setdefault(ts, []).append(path)
    groups = [sorted(v) for _, v in sorted(by_ts.items())]
    for g in groups:
        rng.shuffle(g)
    picked = []
    while len(picked) < count and any(groups):
        for g in groups:
            if g and len(picked) < count:
                picked.append(g.pop())
    return picked


# ------------------------------------------------------------------ #

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--corpus",
                    help="the corpus (default: $OA_CORPUS, else "
                         "<repo>/../shared/corpus)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--mutations", type=int, default=25)
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds per tool invocation")
    ap.add_argument("--batch", type=int, default=300)
    ap.add_argument("--workdir", help="keep the inputs and outputs here")
    args = ap.parse_args()

    corpus = require_corpus(args.corpus)
    tool = os.path.abspath(args.tool)
    t0 = time.time()
    rng = random.Random(args.seed)

    work = args.workdir or tempfile.mkdtemp(prefix="oa-mutate-")
    if args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "in"))

    failures = []
    inputs = {}   # name -> description
    for name, data in synthetic().items():
        with open(os.path.join(work, "in", "s-" + name), "wb") as f:
            f.write(data)
        inputs["in/s-" + name] = "synthetic " + name
    picked = sample(corpus, rng, args.files)
    for i, rel in enumerate(picked):
        src = os.path.join(corpus, rel)
        with open(src, "rb") as f:
            data = f.read()
        lay = Layout(tool, src, data)
        if lay.problem:
            failures.append("--dump %s: %s" % (rel, lay.problem))
        for j, (kind, blob) in enumerate(mutations(rng, data, lay,
                                                   args.mutations)):
            name = "in/m%02d-%02d-%s.dcm" % (i, j, kind)
            with open(os.path.join(work, name), "wb") as f:
                f.write(blob)
            inputs[name] = "%s (%s)" % (rel, kind)
    names = sorted(inputs)
    print("seed %d: %d corpus files x %d mutations + %d synthetic = %d "
          "inputs" % (args.seed, len(picked), args.mutations,
                      len(synthetic()), len(names)))

    passed = failed = 0

    # 1. Copy.
    rows = run_batches(tool, ["--copy", "-o", "out"], names, work,
                              args.timeout, args.batch, "copy", failures)[0]
    written, refused = [], []
    file_failures = {}
    for name in names:
        row = rows.get(name)
        out = os.path.join("out", os.path.basename(name))
        if row is None:
            file_failures[name] = "no result line"
        elif row[0] == "CRASH":
            file_failures[name] = "crash, hang or sanitizer report: " + row[2]
        elif row[0] == "ok":
            if os.path.exists(os.path.join(work, out)):
                written.append(name)
            else:
                file_failures[name] = "status ok, no output"
        else:
            if os.path.exists(os.path.join(work, out)):
                file_failures[name] = "refused, yet an output exists"
            elif not OFFSET_RE.search(row[2]):
                file_failures[name] = ("refusal names no offset: %s"
                                       % row[2])
            else:
                refused.append(name)

    # 2. Every output parses with our own reader...
    outs = [os.path.join("out", os.path.basename(n)) for n in written]
    crows = run_batches(tool, ["--check"], outs, work, args.timeout,
                               args.batch, "check", failures)[0]
    # ...and copying it again changes nothing.
    rrows = run_batches(tool, ["--copy", "-o", "out2"], outs, work,
                               args.timeout, args.batch, "recopy",
                               failures)[0]
    for name, out in zip(written, outs):
        row = crows.get(out)
        if row is None or row[0] != "ok":
            file_failures[name] = ("our reader refuses the output: %s"
                                   % (row[2] if row else "no result"))
            continue
        again = os.path.join(work, "out2", os.path.basename(name))
        if not os.path.exists(again):
            file_failures[name] = "the output cannot be copied again: %s" % (
                rrows.get(out, ("", 0, "no result"))[2])
            continue
        with open(os.path.join(work, out), "rb") as f1, \
                open(again, "rb") as f2:
            if f1.read() != f2.read():
                file_failures[name] = "copying the output again changes it"

    # Synthetic files whose fate is not a matter of policy.
    for short, want in SYNTHETIC_EXPECT.items():
        name = "in/s-" + short
        state = ("written" if name in written else "refused" if name in
                 refused else None)
        if state is not None and state != want and name not in file_failures:
            file_failures[name] = "%s, expected %s" % (state, want)

    failed += len([f for f in failures if f.startswith("--dump ")])
    for name in names:
        if name in file_failures:
            failed += 1
            failures.append("%s [%s]: %s" % (name, inputs[name],
                                             file_failures[name]))
        else:
            passed += 1

    for f in failures[:60]:
        print("FAILED: " + f)
    if len(failures) > 60:
        print("FAILED: ... and %d more" % (len(failures) - 60))
    print("%d inputs: %d written, %d refused with an offset, %d neither; "
          "%d failed a check" % (len(names), len(written), len(refused),
                                 len(names) - len(written) - len(refused),
                                 len(file_failures)))
    for name in sorted(n for n in names if n.startswith("in/s-")):
        state = ("written" if name in written else "refused" if name in
                 refused else "FAILED")
        msg = rows.get(name, ("", 0, ""))[2]
        print("  %-34s %s%s" % (name[5:], state, (": " + msg) if msg else ""))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
