"""Running oa-anonymize in tests: a timeout and a sanitizer watch, its
--tsv, --explain, inputs under unique names, the OA_DEFECT_* names (parsed
from Plugin/dicom/dicom.h, the source of truth), the programs a test
needs.  Standard library only: the corpus tests run with any python3.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from . import REPO, SKIP

# What a sanitizer prints when it finds something (ASan, UBSan, LSan).
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: AddressSanitizer",
)

# Statuses of --tsv (besides error kinds).
STATUS_OK = "ok"
STATUS_DROPPED = "dropped"
STATUS_LEAK = "identifying data left in output"


def require_programs(*names):
    """Exit SKIP (ctest: skipped) if a program is missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        print("skipped: %s not found (apt-get install dcmtk)"
              % ", ".join(missing))
        sys.exit(SKIP)


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

    def problem(self, ok_codes=(0, 1)):
        """Why this run is a failure by itself (crash, hang, sanitizer,
        usage error), or None.  Exit status 0 (all written) and 1 (some
        refused) are the good ones by default."""
        if self.timed_out:
            return "timed out"
        report = sanitizer_report(self.stderr)
        if report is not None:
            return "sanitizer: " + report
        if self.returncode < 0:
            return "killed by signal %d" % -self.returncode
        if self.returncode not in ok_codes:
            return "exit status %d: %s" % (self.returncode,
                                            self.stderr.strip()[-500:])
        return None


def run_tool(argv, timeout=300, cwd=None):
    """Run the tool (`argv`); a ToolRun, never an exception."""
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
        got = read_tsv(path)
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
    """{input path: (status, defects, message)} from --tsv (path, status,
    defects, message); {} when the file is missing."""
    rows = {}
    if not os.path.exists(path):
        return rows
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


def tool_supports_profiles(tool):
    """True when the tool knows --profile (the engine is built)."""
    r = run_tool([tool, "--explain", "--profile", "Full"], timeout=60)
    return r.returncode == 0 and r.stdout.strip() != ""


def explain(tool, profile):
    """{(group, element): (action, reason, name)} for the exact-tag rows of
    `oa-anonymize --explain --profile P` (pattern rows such as (60xx,3000)
    are returned under their text in the "patterns" key)."""
    r = run_tool([tool, "--explain", "--profile", profile], timeout=60)
    if r.returncode != 0:
        raise RuntimeError("--explain --profile %s: exit %s: %s"
                           % (profile, r.returncode, r.stderr.strip()[:300]))
    rows = {}
    patterns = {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if len(f) < 3:
            continue
        m = re.match(r"^\(?([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)?$",
                     f[0].strip())
        if not m:
            continue
        action = f[2].strip().lower()
        reason = f[3].strip() if len(f) > 3 else ""
        g, e = m.group(1), m.group(2)
        if "x" in (g + e).lower():
            patterns[f[0].strip()] = (action, reason, f[1].strip())
        else:
            rows[(int(g, 16), int(e, 16))] = (action, reason, f[1].strip())
    rows["patterns"] = patterns
    return rows


# ------------------------------------------------------------------ #
# Inputs under unique names (base names repeat in the corpus and the tool
# names each output after its input).

def link_inputs(paths, folder, prefix=""):
    """Symlink each path as folder/<prefix><NNNN>; {path: link path}."""
    os.makedirs(folder, exist_ok=True)
    links = {}
    for i, p in enumerate(paths):
        name = os.path.join(folder, "%s%04d" % (prefix, i))
        if os.path.lexists(name):
            os.unlink(name)
        os.symlink(os.path.abspath(p), name)
        links[p] = name
    return links


def profiles_or_fail(tool):
    """True when the tool knows --profile; else prints why not and the
    summary line of a failed run ("0 passed, 1 failed")."""
    if tool_supports_profiles(tool):
        return True
    print("oa-anonymize has no --profile/--explain yet: cannot run")
    print("0 passed, 1 failed")
    return False


def work_folder(path, prefix):
    """`path` emptied (the caller keeps it), else a new temporary folder
    named `prefix`..."""
    if path:
        work = os.path.abspath(path)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        return work
    return tempfile.mkdtemp(prefix=prefix)
