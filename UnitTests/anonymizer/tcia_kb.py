"""PrivateTags "tcia" as the proofs check it: which private elements an
output may keep, by their path, read from the engine's own generated table
(Plugin/anonymizer/tcia_table.inc, made by Resources/Scripts/GenerateTcia.py
from TCIA's Private Tag Knowledge Base: never a list typed here) and PS3.15
Table E.3.10-1 (Resources/Reference/safe_private.json).

The key of a private element is built the way tcia.c's oa_tcia__key()
builds it (the contract is in that file and in GenerateTcia.py): one step
per enclosing sequence, "(gggg,eeee)" for a public one and
"(gggg,"creator",ee)" for a private one, hex in lower case, the creator
trimmed of spaces and NULs with '\\' and '"' escaped, no item numbers; the
element itself last.  This module builds the key from the pydicom dataset
of the output (not from the engine), so that a wrong key in the engine
shows as a violation here.

What an output may hold under "tcia" (violations() returns the others):
  * a private data element whose key the table lists as k, h or o (not a
    "removed when read as UN" entry read as UN), or as na when it is a
    sequence; or one of Table E.3.10-1 (group, element in block, creator);
  * a private creator element whose block, at that path, has a listed key
    or a Table E.3.10-1 entry;
  * group lengths (gggg,0000);
and, checked against the input at the same path: an h value is not the
input's value (hashed, or a UID remapped), an o value that was a date is
not the input's date (shifted), under a profile that shifts dates.
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "..", "..", "Plugin", "anonymizer",
                     "tcia_table.inc")

_ENTRY = re.compile(
    r'^\s*\{"((?:[^"\\]|\\.)*)", OA_TCIA_KB_(KEEP|HASH|OFFSET|NA), '
    r'([01]), ([01]), ([01]), 0x([0-9A-F]{4}), 0x([0-9A-F]{2}), ')
_C_ESCAPE = re.compile(r"\\(.)")
DISP = {"KEEP": "k", "HASH": "h", "OFFSET": "o", "NA": "na"}


class Entry:
    __slots__ = ("key", "disp", "uid", "seq", "un_removed")

    def __init__(self, key, disp, uid, seq, un_removed):
        self.key, self.disp = key, disp
        self.uid, self.seq, self.un_removed = uid, seq, un_removed


def load(path=TABLE):
    """{key: Entry} of the generated table; raises if it reads no entry or
    not the count the table declares."""
    entries = {}
    count = None
    with open(path, encoding="ascii") as f:
        for line in f:
            m = re.match(r"#define TCIA_KB_COUNT (\d+)", line)
            if m:
                count = int(m.group(1))
                continue
            m = _ENTRY.match(line)
            if not m:
                continue
            key = _C_ESCAPE.sub(lambda x: x.group(1), m.group(1))
            entries[key] = Entry(key, DISP[m.group(2)], m.group(3) == "1",
                                 m.group(4) == "1", m.group(5) == "1")
    if not entries or count != len(entries):
        raise RuntimeError("%s: read %d knowledge base entries, the table "
                           "declares %s" % (path, len(entries), count))
    return entries


def _creator_key(creator):
    c = creator.strip(" \x00").lstrip(" ")
    if not c or len(c) > 64 or "\x00" in c:
        return None
    return c.replace("\\", "\\\\").replace('"', '\\"')


def _private_step(group, creator, byte):
    c = _creator_key(creator)
    if c is None:
        return None
    return '(%04x,"%s",%02x)' % (group, c, byte)


def _block_prefix(group, creator):
    c = _creator_key(creator)
    return None if c is None else '(%04x,"%s",' % (group, c)


class Policy:
    """The "tcia" private policy: the knowledge base and Table E.3.10-1."""

    def __init__(self, safe, entries=None):
        self.kb = entries if entries is not None else load()
        self.keys = sorted(self.kb)
        self.safe = safe                       # {(group, byte, creator)}
        self.safe_creators = {(g, c) for (g, _e, c) in safe}

    def has_prefix(self, prefix):
        import bisect
        i = bisect.bisect_left(self.keys, prefix)
        return i < len(self.keys) and self.keys[i].startswith(prefix)


def _text(b):
    if b is None:
        return ""
    if isinstance(b, bytes):
        return b.decode("latin-1")
    return str(b)


def violations(out, ds_in, policy, dates_shifted, deid):
    """Messages for the private elements of `out` (a pydicom dataset) that
    "tcia" does not keep, and for kept h / o values equal to the input's.
    Returns (messages, {"k": n, "h": n, "o": n, "na": n, "safe": n,
    "creators": n}) of what was kept."""
    bad, kept = [], {"k": 0, "h": 0, "o": 0, "na": 0, "safe": 0,
                     "creators": 0}
    _walk(out, (), "", (), ds_in, policy, dates_shifted, deid, bad, kept)
    return bad, kept


def _walk(ds, steps, key_prefix, path, ds_in, policy, shifted, deid, bad,
          kept):
    from pydicom.dataelem import RawDataElement
    for tag in list(ds._dict.keys()):
        tag = int(tag)
        group, elem = tag >> 16, tag & 0xFFFF
        raw = ds._dict[tag]
        vr = deid.vr_of(raw, tag)
        where = deid.path_str(path, tag)
        private = group % 2 == 1 and 0x0007 < group < 0xFFFF
        is_sq = vr == "SQ"
        if not is_sq and isinstance(raw, RawDataElement) and \
                raw.VR in (None, "UN") and raw.length == 0xFFFFFFFF:
            is_sq = True
        step = None
        if not private:
            step = "(%04x,%04x)" % (group, elem)
        elif elem == 0x0000:
            continue
        elif 0x0010 <= elem <= 0x00FF:
            prefix = _block_prefix(group, _text(deid.raw_value(ds, tag)))
            creator = deid.creator_text(deid.raw_value(ds, tag) or b"")
            if (prefix is not None and
                    policy.has_prefix(key_prefix + prefix)) or \
                    (group, creator) in policy.safe_creators:
                kept["creators"] += 1
            else:
                bad.append("private creator %s of a block with nothing kept"
                           " by TCIA's knowledge base or Table E.3.10-1 at"
                           " %s" % (deid.tag_str(tag), where))
            continue
        elif elem < 0x1000:
            bad.append("reserved private element %s left at %s"
                       % (deid.tag_str(tag), where))
            continue
        else:
            ctag = (group << 16) | (elem >> 8)
            creator = None
            if ctag in ds._dict:
                creator = deid.creator_text(deid.raw_value(ds, ctag) or b"")
            step = _private_step(group, creator, elem & 0xFF) \
                if creator else None
            entry = policy.kb.get(key_prefix + step) if step else None
            read_un = isinstance(raw, RawDataElement) and raw.VR == "UN"
            if entry is not None and entry.un_removed and read_un and \
                    not is_sq:
                entry = None
            ok = entry is not None and (entry.disp != "na" or is_sq)
            safe = creator is not None and \
                (group, elem & 0xFF, creator) in policy.safe
            if not ok and not safe:
                bad.append("private %s (creator %s) kept at %s: neither in"
                           " TCIA's knowledge base at this path nor in"
                           " Table E.3.10-1"
                           % (deid.tag_str(tag),
                              "known" if creator else "none", where))
                continue
            if ok:
                kept[entry.disp] += 1
                if not is_sq and entry.disp in ("h", "o"):
                    _check_changed(ds, tag, path, ds_in, entry, shifted,
                                   deid, bad, where)
            else:
                kept["safe"] += 1
        if is_sq:
            try:
                el = ds[tag]
            except Exception:  # noqa: BLE001 (pydicom raises anything)
                continue
            if el.VR != "SQ" or el.value is None or step is None:
                continue
            for i, item in enumerate(el.value):
                _walk(item, steps + (step,), key_prefix + step,
                      path + ((tag, i),), ds_in, policy, shifted, deid, bad,
                      kept)


DATE = re.compile(rb"^\d{8}")


def _check_changed(ds, tag, path, ds_in, entry, shifted, deid, bad, where):
    if ds_in is None:
        return
    before = deid.value_at(ds_in, path, tag)
    after = deid.strip_value(deid.raw_value(ds, tag) or b"")
    if before is None or not before:
        return
    if entry.disp == "h" and after == before:
        bad.append("TCIA h (hash) value at %s kept unchanged" % where)
    if entry.disp == "o" and shifted and DATE.match(before) and \
            after == before:
        bad.append("TCIA o (date offset) value at %s not shifted" % where)
