"""Where the test data outside the repository is.

The 600-file corpus (other projects' files) is not in the repository: a
test that needs it takes --corpus DIR, else $OA_CORPUS, else
../shared/corpus beside the clone.  Without it the test prints "skipped:
corpus not found" and exits with SKIP (77), which ctest reports as
skipped, never as passed.  Resources/Scripts/setup-test.sh (CI) exports
OA_CORPUS and fails when the corpus is missing.
"""
import os
import sys

from . import REPO, SKIP

REFERENCE = os.path.join(REPO, "Resources", "Reference")
DEFAULT = os.path.normpath(os.path.join(REPO, "..", "shared", "corpus"))


def find(explicit=None):
    """The corpus folder (it holds INDEX.tsv), or None: `explicit`, else
    $OA_CORPUS, else ../shared/corpus beside the clone (a folder named but
    missing is not replaced by the next one)."""
    folder = explicit or os.environ.get("OA_CORPUS") or DEFAULT
    if os.path.isfile(os.path.join(folder, "INDEX.tsv")):
        return os.path.abspath(folder)
    return None


def require(explicit=None):
    """The corpus folder, or exit SKIP with "skipped: corpus not found"."""
    folder = find(explicit)
    if folder is None:
        looked = explicit or os.environ.get("OA_CORPUS") or DEFAULT
        print("skipped: corpus not found (no %s; give --corpus DIR, or set "
              "OA_CORPUS, or put it at ../shared/corpus beside the clone)"
              % os.path.join(looked, "INDEX.tsv"))
        sys.stdout.flush()
        sys.exit(SKIP)
    return folder


def listing(folder):
    """([files named by INDEX.tsv, in its order], {files on disk}), paths
    relative to the corpus folder (INDEX.tsv itself left out)."""
    listed = []
    with open(os.path.join(folder, "INDEX.tsv"), encoding="utf-8") as f:
        next(f, None)   # the header
        for line in f:
            rel = line.split("\t", 1)[0].strip()
            if rel:
                listed.append(rel)
    on_disk = set()
    for root, _dirs, names in os.walk(folder):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), folder)
            if rel != "INDEX.tsv":
                on_disk.add(rel)
    return listed, on_disk


def reference(name):
    """Path of a reference table of Resources/Reference/."""
    return os.path.join(REFERENCE, name)
