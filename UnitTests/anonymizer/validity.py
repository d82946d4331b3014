#!/usr/bin/python3
"""Validity proof (issue 11): anonymization adds no IOD error.

    /usr/bin/python3 validity.py --tool build/oa-anonymize \
        [--corpus DIR] [--jobs 2] [--workdir DIR] [--profiles Default,Full]

David Clunie's IOD validator dciodvfy (Debian package dicom3tools) is run
on the input and on the output of

  * every corpus file that dciodvfy can read (it exits 0 or 1 and reads
    the dataset to its end: not "Tags out of order", not "read failed";
    the output of such a file is checked as well, it must be readable),
    and
  * one generated instance of each main IOD (oatest/iodgen.py: CT, MR,
    PET, US, Secondary Capture, SR, RT Structure Set, Presentation State,
    Enhanced MR), built with the attributes that must survive
    anonymization valid,

under the profiles Default, Full and Research (oa-anonymize, the plugin's
engine; Research keeps the secondary captures, reports and documents),
and, for the secondary captures, reports and documents that Full drops,
under "FullKeepSC" ({"Base": "Full", "SecondaryCapturesAndReports":
"keep"}).

The messages are compared, not their counts: every "Error - " line of the
output, normalised (the values that dciodvfy quotes are cut out: they
change with anonymization and they may identify), must be one of the input
file's normalised errors.  Removing attributes also removes their errors,
so the output may have fewer; it may have no other.  One exception: a
dataset that names no IOD (no SOP Class UID: a C-FIND query, a fragment)
still becomes a Part 10 file, and dciodvfy's messages comparing its meta
group with the empty dataset UIDs are printed as notes, not counted.  A file the profile
drops (secondary captures and reports under the built-ins) or refuses (the
leak check, burned-in text) has no output and counts apart.

Prints the added messages (normalised: element names, never values), then
the totals per profile (files, errors in, errors out, added) and "N passed,
M failed" (one case per file and profile).  Exit 0 only if nothing was
added; 77 (skipped) without dciodvfy or the corpus.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from oatest import SKIP  # noqa: E402
from oatest import iodgen  # noqa: E402
from oatest.corpus import listing as corpus_listing  # noqa: E402
from oatest.corpus import require as require_corpus  # noqa: E402
from oatest.tool import (STATUS_DROPPED, STATUS_OK,  # noqa: E402
                         link_inputs, profiles_or_fail, read_tsv, run_tool,
                         work_folder)

SECRET = "oa-validity-proof-secret"

# A dataset without SOP Class UID (a C-FIND query, a fragment) names no
# IOD; its output is a Part 10 file all the same, whose meta group
# (0002,0002)/(0002,0003) dciodvfy compares with the empty dataset
# values.  Those messages are not counted (and printed as notes).
NO_IOD = "Error - Information Object Not found"
META_VS_DATASET = ("Error - MediaStorageSOPClassUID",
                   "Error - MediaStorageSOPInstanceUID")
PROFILES = ("Default", "Full", "Research")
# What Full drops (secondary captures, SR, documents), kept.
KEEP_SC = "FullKeepSC"
KEEP_SC_PROFILE = {"Base": "Full", "SecondaryCapturesAndReports": "keep"}

# Values dciodvfy quotes: = <value>, = 'c' (code), value <v> for value n,
# "values are a\b", the character code in parentheses after a quoted one.
_NORMALISE = [
    (re.compile(r"= <[^>]*>"), "= <>"),
    (re.compile(r"<[0-9.]+>"), "<>"),        # a UID (remapped)
    (re.compile(r"= '.*?' \((0x)?[0-9A-Fa-f]+\)"), "= ''"),
    (re.compile(r"enumerated value <[^>]*>"), "enumerated value <>"),
    (re.compile(r"defined term <[^>]*>"), "defined term <>"),
    (re.compile(r"values are .*$"), "values are ..."),
    (re.compile(r"value is .*$"), "value is ..."),
    # any other UID (remapped): digits with two dots or more
    (re.compile(r"(?<![\w.])[0-9]+(\.[0-9]+){2,}(?![\w.])"), "<uid>"),
    (re.compile(r"(InstanceUID) \S+$"), r"\1 <uid>"),   # even "0"
]


def normalise(line):
    for rx, rep in _NORMALISE:
        line = rx.sub(rep, line)
    return line.strip()


# dciodvfy stopped reading the file: what it says about the rest is not
# known, so the file is not one that it can read.
STOPPED = ("Tags out of order", "read failed")


def dciodvfy(path, timeout=120):
    """(readable, [normalised errors]) of one file: not readable when
    dciodvfy fails or stops before the end of the dataset."""
    try:
        p = subprocess.run(["dciodvfy", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, []
    if p.returncode not in (0, 1):
        return False, []
    text = p.stdout.decode("latin-1")
    errors = [normalise(l) for l in text.splitlines()
              if l.startswith("Error - ")]
    if any(m in e for e in errors for m in STOPPED):
        return False, errors
    return True, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workdir")
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--limit", type=int, default=0,
                    help="only the first N corpus files (debugging)")
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()

    if shutil.which("dciodvfy") is None:
        print("skipped: dciodvfy not found (apt-get install dicom3tools)")
        return SKIP
    corpus = require_corpus(args.corpus)
    tool = os.path.abspath(args.tool)
    profiles = [p for p in args.profiles.split(",") if p]
    if not profiles_or_fail(tool):
        return 1
    t0 = time.time()
    work = work_folder(args.workdir, "oa-validity-")

    listed, on_disk = corpus_listing(corpus)
    files = [os.path.join(corpus, r) for r in listed if r in on_disk]
    if args.limit:
        files = files[:args.limit]
    generated = iodgen.make_iods(os.path.join(work, "gen"))
    label = {os.path.join(corpus, r): r for r in listed}
    for kind, path in generated.items():
        label[path] = "generated/" + kind
    inputs = files + list(generated.values())
    links = link_inputs(inputs, os.path.join(work, "in"))
    link_of = {p: os.path.relpath(links[p], work) for p in inputs}

    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))

    # 1. dciodvfy on the inputs: which it reads, and their errors.
    verdict_in = dict(zip(inputs, pool.map(dciodvfy, inputs)))
    readable = [p for p in inputs if verdict_in[p][0]]
    unreadable = len(inputs) - len(readable)

    # 2. One batch per profile.
    fatal = []
    tsv = {}
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    for name in profiles:
        r = run_tool([tool, "--profile", name, "--secret", SECRET, "-q",
                      "--tsv", name + ".tsv", "-o", os.path.join("out", name),
                      *[link_of[p] for p in readable]], args.timeout,
                     cwd=work)
        if r.problem():
            fatal.append("--profile %s: %s" % (name, r.problem()))
        tsv[name] = read_tsv(os.path.join(work, name + ".tsv"))

    # The captures and reports that the built-ins drop, once more with a
    # profile that keeps them.
    dropped = [p for p in readable
               if tsv.get("Full", {}).get(link_of[p], ("",))[0]
               == STATUS_DROPPED]
    if dropped and "Full" in profiles:
        arg = os.path.join(work, KEEP_SC + ".json")
        with open(arg, "w") as f:
            json.dump(KEEP_SC_PROFILE, f)
        r = run_tool([tool, "--profile", arg, "--secret", SECRET, "-q",
                      "--tsv", KEEP_SC + ".tsv", "-o",
                      os.path.join("out", KEEP_SC),
                      *[link_of[p] for p in dropped]], args.timeout,
                     cwd=work)
        if r.problem():
            fatal.append("--profile %s: %s" % (KEEP_SC, r.problem()))
        tsv[KEEP_SC] = read_tsv(os.path.join(work, KEEP_SC + ".tsv"))
        profiles = profiles + [KEEP_SC]
    for kind, path in generated.items():
        if not verdict_in[path][0]:
            fatal.append("generated %s: dciodvfy cannot read it" % kind)

    # 3. dciodvfy on the outputs.
    jobs = []
    for name in profiles:
        for p in readable:
            row = tsv[name].get(link_of[p])
            if row is None or row[0] != STATUS_OK:
                continue
            out = os.path.join(work, "out", name,
                               os.path.basename(link_of[p]))
            jobs.append((name, p, out))
    verdict_out = dict(zip([(n, p) for n, p, _ in jobs],
                           pool.map(lambda j: dciodvfy(j[2]), jobs)))
    pool.shutdown()

    passed = failed = 0
    for name in profiles:
        subset = dropped if name == KEEP_SC else readable
        n_files = n_in = n_out = n_added = n_meta = 0
        n_dropped = n_refused = 0
        for p in subset:
            v = verdict_out.get((name, p))
            if v is None:         # dropped or refused: no output
                row = tsv[name].get(link_of[p])
                if row is not None and row[0] == STATUS_DROPPED:
                    n_dropped += 1
                else:
                    n_refused += 1
                continue
            n_files += 1
            errs_in = verdict_in[p][1]
            ok, errs_out = v
            n_in += len(errs_in)
            n_out += len(errs_out)
            if not ok:
                print("FAIL %s %s: dciodvfy cannot read the output"
                      % (name, label[p]))
                failed += 1
                n_added += 1
                continue
            known = set(errs_in)
            added = sorted(set(e for e in errs_out if e not in known))
            if NO_IOD in known:
                meta = [e for e in added if e.startswith(META_VS_DATASET)]
                if meta:
                    n_meta += 1
                    print("note %s %s: not an instance (no SOP Class UID): "
                          "%d messages on the Part 10 meta that the output "
                          "must have, not counted" % (name, label[p],
                                                      len(meta)))
                added = [e for e in added if e not in meta]
            if added:
                failed += 1
                n_added += len(added)
                print("FAIL %s %s: %d added" % (name, label[p], len(added)))
                for e in added:
                    print("    " + e)
            else:
                passed += 1
        print("%s: %d files checked (%d not instances), %d dropped, %d "
              "refused; errors in %d, errors out %d, added %d"
              % (name, n_files, n_meta, n_dropped, n_refused, n_in, n_out,
                 n_added))
    print("%d inputs, %d read by dciodvfy (%d generated), %d not readable"
          % (len(inputs), len(readable), len(generated), unreadable))
    for f in fatal:
        print("FAIL " + f)
        failed += 1
    print("%.0f s" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
