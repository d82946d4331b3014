#!/usr/bin/python3
"""Generated code stays equal to its data (ctest: generated_tables, unit).

    check_generated.py [--source DIR] [--reference DIR]

Re-runs each generator of Resources/Scripts/ on the reference tables of
Resources/Reference/ (or --reference DIR) into a temporary folder, and
compares its output byte for byte with the file committed in Plugin/.  A
difference names the file, the first differing byte and line, and the
command that regenerates it.  Standard library only.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))

# (name, generator, arguments before OUT ({ref}: the reference folder),
# committed output).
GENERATORS = [
    ("dictionary", "Resources/Scripts/GenerateDictionary.py",
     ["{ref}/dictionary.tsv"], "Plugin/dicom/dict_table.inc"),
    ("PS3.15 tables", "Resources/Scripts/GenerateProfile.py",
     ["--reference", "{ref}"], "Plugin/anonymizer/ps315_table.inc"),
    ("leak check rules", "Resources/Scripts/GenerateLeakRules.py",
     ["{ref}/leak_check.tsv"], "Plugin/anonymizer/leak_rules.inc"),
]


def first_difference(a, b):
    """(byte offset, line number) of the first difference of a and b."""
    n = min(len(a), len(b))
    pos = next((i for i in range(n) if a[i] != b[i]), n)
    return pos, a[:pos].count(b"\n") + 1


def check(source, reference, folder, name, script, args, committed):
    """A message when the generator fails or its output differs, else
    None."""
    out = os.path.join(folder, os.path.basename(committed))
    argv = [sys.executable, os.path.join(source, script)]
    argv += [a.replace("{ref}", reference) for a in args] + [out]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        return "%s: %s exited with %d: %s" % (
            name, script, p.returncode,
            p.stderr.decode("utf-8", "replace").strip()[-500:])
    with open(out, "rb") as f:
        got = f.read()
    with open(os.path.join(source, committed), "rb") as f:
        want = f.read()
    if got == want:
        return None
    pos, line = first_difference(got, want)
    return ("%s: %s differs from the generator's output at byte %d "
            "(line %d; %d bytes generated, %d committed): run "
            "/usr/bin/python3 %s" % (name, committed, pos, line, len(got),
                                     len(want), script))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=REPO, help="repository root")
    ap.add_argument("--reference",
                    help="reference tables (default: "
                         "SOURCE/Resources/Reference)")
    args = ap.parse_args()
    reference = args.reference or os.path.join(args.source, "Resources",
                                               "Reference")
    failures = []
    with tempfile.TemporaryDirectory(prefix="oa-generated-") as folder:
        for name, script, gen_args, committed in GENERATORS:
            problem = check(args.source, reference, folder, name, script,
                            gen_args, committed)
            if problem is not None:
                failures.append(problem)
            print("%s: %s" % ("FAIL" if problem else "ok", committed))
    for f in failures:
        print(f)
    print("%d passed, %d failed" % (len(GENERATORS) - len(failures),
                                    len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
