"""Shared helpers of the corpus tests (roundtrip.py, mutate.py).

Runs of oa-anonymize with a timeout and a sanitizer watch, the TSV it
writes, the OA_DEFECT_* names (parsed from Plugin/dicom/dicom.h, the source
of truth) and the framing of a Part 10 file (where its dataset starts).
Standard library only: these helpers must run with any python3.
"""
import os
import re
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

# What a sanitizer prints when it finds something (ASan, UBSan, LSan).
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: AddressSanitizer",
)

DEFLATED_TS = ("1.2.840.10008.1.2.1.99",)

# PS3.5 Table 6.2-1.
VALID_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS "
    b"ST SV TM UC UI UL UN UR US UT UV".split())
LONG_LENGTH_VRS = frozenset(
    b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())


def sanitizer_env():
    """Environment for the tool: a sanitizer report must not look like an
    ordinary exit status 1 ("some files refused"), so give it its own."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "exitcode=86:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:exitcode=87")
    return env


def sanitizer_report(stderr):
    """The first sanitizer line in `stderr`, or None."""
    for line in stderr.splitlines():
        if any(m in line for m in SANITIZER_MARKERS):
            return line.strip()
    return None


def sanitizer_excerpt(stderr, lines=12):
    """The sanitizer's report (from its first line), else the end of
    `stderr`: what a failure message should show."""
    all_lines = stderr.splitlines()
    for i, line in enumerate(all_lines):
        if any(m in line for m in SANITIZER_MARKERS):
            return "\n".join(all_lines[i:i + lines])
    return "\n".join(all_lines[-lines:])


class ToolRun:
    """One invocation of oa-anonymize."""

    def __init__(self, argv, returncode, stdout, stderr, timed_out):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out

    def problem(self):
        """Why this run is a failure by itself (crash, hang, sanitizer,
        usage error), or None.  Exit status 0 (all written) and 1 (some
        refused) are the only good ones."""
        if self.timed_out:
            return "timed out"
        report = sanitizer_report(self.stderr)
        if report is not None:
            return "sanitizer: " + report
        if self.returncode < 0:
            return "killed by signal %d" % -self.returncode
        if self.returncode not in (0, 1):
            return "exit status %d" % self.returncode
        return None


def run_tool(argv, timeout, cwd=None):
    try:
        p = subprocess.run(argv, cwd=cwd, env=sanitizer_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return ToolRun(argv, p.returncode,
                       p.stdout.decode("utf-8", "replace"),
                       p.stderr.decode("utf-8", "replace"), False)
    except subprocess.TimeoutExpired as e:
        return ToolRun(argv, None,
                       (e.stdout or b"").decode("utf-8", "replace"),
                       (e.stderr or b"").decode("utf-8", "replace"), True)


def run_batches(tool, mode_args, names, cwd, timeout, batch, tsv_prefix,
                failures):
    """Run the tool over `names` in batches; ({name: (status, defects,
    message)}, number of invocations).  When a batch goes wrong (crash,
    hang, sanitizer report), its files are run again one by one, so that
    the failure names its input and the other files still count."""
    rows = {}
    runs = 0

    def one_run(part, label):
        nonlocal runs
        tsv = "%s-%d.tsv" % (tsv_prefix, runs)
        path = os.path.join(cwd, tsv)
        if os.path.exists(path):
            os.unlink(path)
        run = run_tool([tool, *mode_args, "-q", "--tsv", tsv, *part],
                              timeout, cwd=cwd)
        runs += 1
        got = read_tsv(path) if os.path.exists(path) else {}
        return run.problem(), run, got

    for i in range(0, len(names), batch):
        part = names[i:i + batch]
        problem, run, got = one_run(part, "batch")
        if problem is None:
            for name in part:
                if name in got:
                    rows[name] = got[name]
            continue
        for name in part:
            problem, run, got = one_run([name], name)
            if problem is None:
                if name in got:
                    rows[name] = got[name]
                continue
            failures.append("%s %s: %s\n%s" % (
                tsv_prefix, name, problem,
                sanitizer_excerpt(run.stderr)))
            rows[name] = ("CRASH", 0, problem)
    return rows, runs


def read_tsv(path):
    """{input path: (status, defects, message)} from --tsv."""
    rows = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            while len(fields) < 4:
                fields.append("")
            rows[fields[0]] = (fields[1], int(fields[2] or 0), fields[3])
    return rows


def defect_names():
    """{bit: NAME} parsed from OA_DEFECT_NAME = 1u << n in dicom.h."""
    names = {}
    header = os.path.join(REPO, "Plugin", "dicom", "dicom.h")
    with open(header, encoding="utf-8") as f:
        for m in re.finditer(r"OA_DEFECT_(\w+)\s*=\s*1u\s*<<\s*(\d+)",
                             f.read()):
            names[1 << int(m.group(2))] = m.group(1)
    return names


def describe_defects(bits, names):
    out = [names.get(1 << i, "bit%d" % i) for i in range(32)
           if bits & (1 << i)]
    return "+".join(out)


# ------------------------------------------------------------------ #
# Framing of a Part 10 file, as Plugin/dicom/reader.c decides it.

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
