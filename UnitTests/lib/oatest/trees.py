"""What an export wrote, as {relative path: bytes}, and its comparison
(test_export, test_wayout, test_wayout_servers)."""

import os


def files_below(root):
    """{relative path: bytes} of every file below `root`."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def same_files(a, b, what):
    """Same paths, same bytes (the messages give counts, never values)."""
    assert set(a) == set(b), "%s: %d paths differ (%d vs %d)" % (
        what, len(set(a) ^ set(b)), len(a), len(b))
    differ = [k for k in a if a[k] != b[k]]
    assert not differ, "%s: %d of %d files differ" % (what, len(differ),
                                                      len(a))
