#!/usr/bin/python3
"""Generate Plugin/anonymizer/tcia_table.inc from TCIA's curation data.

Inputs (Resources/Reference/tcia, see SOURCES.md):
  tcia_supplied_deid_attrs.json
      TCIA's action per standard attribute: remove, hashuid, incrementdate,
      time, empty, keep, process, lookup, replace, hashname.  The Research
      profile (Plugin/anonymizer/tcia.c) reads it on top of PS3.15.
  TCIAPrivateTagKB-02-01-2024-formatted.csv
      TCIA's Private Tag Knowledge Base: a disposition per private attribute,
      by private creator and path of sequences (element_sig_pattern, e.g.
      (0008,1115)[<0>](0008,1140)[<1>](2001,"Philips Imaging DD 001",c1)).
      PrivateTags "tcia" keeps what it keeps.

Never edit the output by hand: run
    /usr/bin/python3 Resources/Scripts/GenerateTcia.py [--reference DIR] [OUT]
(OUT '-' writes to standard output).  The unit test `generated_tables`
(UnitTests/check_generated.py) regenerates it and compares byte for byte.

The knowledge base, as this script reads it:

  * A row's signature is a path: sequence steps separated by "[<n>]" (any
    item), each a public tag "(gggg,eeee)" or a private one
    "(gggg,"creator",ee)" where ee is the element in the creator's block.
    The published CSV lost some opening quotes ("(2001,Philips ...",c1)");
    both spellings are read.
  * The key the engine builds for an element at run time has the same
    steps in one canonical spelling: hex in lower case, the creator always
    quoted, with backslash and double quote escaped (an unambiguous key),
    no item markers: (0008,1115)(0008,1140)(2001,"Philips Imaging DD 001",c1)
  * Dispositions: k keep, h hash (a UID remapped, another value replaced by
    a keyed hash), o offset (a date shifted by the patient's offset), oi (an
    integer time stamp: removed, we do not shift integers), na (on a
    sequence or a UN value that may be one: kept as a sequence, its items
    ruled inside; otherwise removed), d delete.
    Stray spaces and upper case are normalized; an empty disposition is d.
  * A signature listed with several VRs (the KB records each VR it saw)
    takes the strictest disposition of its rows with a known VR (d, oi, na,
    o, h, k from strictest), or of its UN rows if it has no other; when a
    UN row deletes what a typed row keeps (70 signatures: TCIA could not
    read the value), the entry says so and the engine removes the value
    when it reads it as UN.  Whether one of the rows is UI is kept, so a
    kept UID is remapped.  The table holds the k, h, o and na (sequence)
    signatures only: what it does not list is removed.
  * Rows without a creator ("(0009,,02)") and rows whose last step is a
    public attribute (public attributes are ruled by PS3.15 at every depth)
    are left out.
  * Every private sequence that a kept row lies inside has a row of its
    own (the script checks it): the engine reaches a nested attribute only
    through its kept sequences.
"""
import csv
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_REFERENCE = os.path.join(ROOT, 'Resources', 'Reference')
DEFAULT_OUT = os.path.join(ROOT, 'Plugin', 'anonymizer', 'tcia_table.inc')
KB_FILE = 'TCIAPrivateTagKB-02-01-2024-formatted.csv'
KB_EDITION = '2024-02-01'
ATTRS_FILE = 'tcia_supplied_deid_attrs.json'

# TCIA attribute actions -> enum tcia_action (tcia.c), in its order.
ACTIONS = ['remove', 'hashuid', 'incrementdate', 'time', 'empty', 'keep',
           'process', 'lookup', 'replace', 'hashname']
# Entries of the attribute lists that are not one tag (repeating groups and
# the private rule): PS3.15's pattern rows rule those.
ATTR_PATTERNS = {'(0x50xx, 0xxxxx)', '(0x60xx, 0x3000)', '(0x60xx, 0x4000)',
                 '(0xgggg, 0xeeee) where gggg is odd)'}
# Dispositions, strictest first, and their C enumerators.
DISPOSITIONS = ['d', 'oi', 'na', 'o', 'h', 'k']
DISP_C = {'k': 'OA_TCIA_KB_KEEP', 'h': 'OA_TCIA_KB_HASH',
          'o': 'OA_TCIA_KB_OFFSET', 'na': 'OA_TCIA_KB_NA'}
MAX_STEPS = 8  # anonymizer.h: OA_RULE_MAX_PATH

ATTR_RE = re.compile(r'^\(0x([0-9A-Fa-f]{4}), 0x([0-9A-Fa-f]{4})\)$')
ITEM_RE = re.compile(r'\[<[0-9]+>\]')
PUBLIC_RE = re.compile(r'\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\)')
PRIVATE_RE = re.compile(r'\(([0-9a-fA-F]{4}),"?(.*?)",([0-9a-fA-F]{2})\)')
NO_CREATOR_RE = re.compile(r'\(([0-9a-fA-F]{4}),,([0-9a-fA-F]{2})\)')


def fail(msg):
    raise SystemExit('GenerateTcia.py: ' + msg)


def c_string(s):
    out = s.replace('\\', '\\\\').replace('"', '\\"')
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in out):
        fail('non-ASCII or control character in %r' % s)
    return '"%s"' % out


def load_attrs(path):
    data = json.load(open(path, encoding='utf-8'))
    out = {}
    for action, tags in data.items():
        if action == 'Remove Unsafe':
            continue  # "(gggg,eeee) where gggg is odd": PrivateTags
        if action not in ACTIONS:
            fail('unknown TCIA action %r' % action)
        for t in tags:
            if t in ATTR_PATTERNS:
                continue
            m = ATTR_RE.match(t)
            if m is None:
                fail('bad tag %r in %s' % (t, action))
            tag = int(m.group(1) + m.group(2), 16)
            if tag >> 16 in (0x0000, 0x0002):
                continue  # command and meta groups: the writer's
            if (tag >> 16) & 1:
                fail('private tag %r in the attribute list' % t)
            if tag in out and out[tag] != action:
                fail('%s is in both %s and %s' % (t, out[tag], action))
            out[tag] = action
    return sorted(out.items())


def parse_signature(sig):
    """The steps of a signature: ('pub', group, element) or ('priv', group,
    creator, element byte); None for a step without a creator."""
    steps, pos, text = [], 0, ITEM_RE.sub('', sig)
    while pos < len(text):
        m = PUBLIC_RE.match(text, pos)
        if m:
            steps.append(('pub', int(m.group(1), 16), int(m.group(2), 16)))
            pos = m.end()
            continue
        m = NO_CREATOR_RE.match(text, pos)
        if m:
            return None
        m = PRIVATE_RE.match(text, pos)
        if m:
            group = int(m.group(1), 16)
            if group % 2 == 0:
                fail('private step in an even group in %r' % sig)
            creator = m.group(2).strip(' ')
            if creator.startswith('"'):
                creator = creator[1:]
            if not creator:
                return None
            steps.append(('priv', group, creator, int(m.group(3), 16)))
            pos = m.end()
            continue
        fail('cannot read the signature %r at %d' % (sig, pos))
    if not steps:
        fail('empty signature %r' % sig)
    return steps


def step_key(step):
    if step[0] == 'pub':
        return '(%04x,%04x)' % (step[1], step[2])
    creator = step[2].replace('\\', '\\\\').replace('"', '\\"')
    return '(%04x,"%s",%02x)' % (step[1], creator, step[3])


def strictest(dispositions):
    return min(dispositions, key=DISPOSITIONS.index)


def load_kb(path):
    merged = {}  # key -> [disposition, uid, sequence, name]
    counts = {'rows': 0, 'no creator': 0, 'public leaf': 0}
    with open(path, encoding='utf-8-sig', newline='') as f:
        for r in csv.DictReader(f):
            counts['rows'] += 1
            steps = parse_signature(r['element_sig_pattern'])
            if steps is None:
                counts['no creator'] += 1
                continue
            if steps[-1][0] == 'pub':
                counts['public leaf'] += 1
                continue
            if len(steps) > MAX_STEPS:
                fail('path deeper than %d steps: %r' %
                     (MAX_STEPS, r['element_sig_pattern']))
            disp = r['private_disposition'].strip().lower() or 'd'
            if disp not in DISPOSITIONS:
                fail('unknown disposition %r' % r['private_disposition'])
            vr = r['vr'].strip()
            key = ''.join(step_key(s) for s in steps)
            name = r['tag_name'].split(':')[-1]
            e = merged.setdefault(key, {'typed': set(), 'un': set(),
                                        'uid': False, 'seq': False,
                                        'name': name, 'leaf': steps[-1],
                                        'depth': len(steps)})
            e['un' if vr == 'UN' else 'typed'].add(disp)
            e['uid'] |= vr == 'UI'
            e['seq'] |= vr in ('SQ', 'UN')
    for key, e in merged.items():
        typed = strictest(e['typed']) if e['typed'] else None
        un = strictest(e['un']) if e['un'] else None
        disp = typed or un
        # TCIA deletes some attributes when it saw them as UN only (their
        # value could not be read): so do we.
        un_removed = un is not None and un not in ('k', 'h', 'o', 'na')
        merged[key] = [disp, e['uid'], e['seq'], e['name'],
                       un_removed and disp in ('k', 'h', 'o', 'na'),
                       e['leaf']]
    # The private sequences around a kept row have rows of their own.
    for key in list(merged):
        if merged[key][0] not in ('k', 'h', 'o'):
            continue
        parts = re.findall(r'\((?:[^"()]|"(?:[^"\\]|\\.)*")*\)', key)
        for i in range(1, len(parts)):
            parent = ''.join(parts[:i])
            if parts[i - 1].count('"') and parent not in merged:
                fail('no row for the sequence %s around %s' % (parent, key))
    kept = [(k, v) for k, v in merged.items()
            if v[0] in ('k', 'h', 'o') or (v[0] == 'na' and v[2])]
    counts['signatures'] = len(merged)
    counts['kept'] = len(kept)
    kept.sort(key=lambda kv: kv[0].encode('ascii'))
    return kept, counts


def generate(reference):
    attrs = load_attrs(os.path.join(reference, 'tcia', ATTRS_FILE))
    kb, counts = load_kb(os.path.join(reference, 'tcia', KB_FILE))
    lines = [
        '/* Generated by Resources/Scripts/GenerateTcia.py from TCIA\'s',
        ' * attribute action lists (%s) and Private Tag' % ATTRS_FILE,
        ' * Knowledge Base (%s).  Do not edit:' % KB_FILE,
        ' * regenerate.  Included by tcia.c only. */',
        '#define TCIA_KB_EDITION "%s"' % KB_EDITION,
        '#define TCIA_ATTR_COUNT %d' % len(attrs),
        '#define TCIA_KB_COUNT %d' % len(kb),
        '#define TCIA_KB_ROWS %d' % counts['rows'],
        '',
        '/* {tag, TCIA action}, sorted by tag. */',
        'static const tcia_attr tcia_attrs[TCIA_ATTR_COUNT] = {',
    ]
    for tag, action in attrs:
        lines.append('    {0x%08X, OA_TCIA_%s},' % (tag, action.upper()))
    lines += ['};', '',
              '/* The kept private attributes: {key (canonical path), '
              'disposition,',
              ' * a UI value seen, a sequence (SQ or UN) seen, removed when '
              'read as UN,',
              ' * the last step\'s group, element in block and creator, '
              'TCIA\'s name},',
              ' * sorted by key (bytes). */',
              'static const oa_tcia_kb_entry tcia_kb[TCIA_KB_COUNT] = {']
    for key, (disp, uid, seq, name, un_removed, leaf) in kb:
        lines.append('    {%s, %s, %d, %d, %d, 0x%04X, 0x%02X, %s, %s},'
                     % (c_string(key), DISP_C[disp], int(uid), int(seq),
                        int(un_removed), leaf[1], leaf[3], c_string(leaf[2]),
                        c_string(name)))
    lines += ['};', '']
    return '\n'.join(lines), (len(attrs), counts)


def main(argv):
    reference = DEFAULT_REFERENCE
    args = list(argv[1:])
    if len(args) >= 2 and args[0] == '--reference':
        reference = args[1]
        args = args[2:]
    out = args[0] if args else DEFAULT_OUT
    text, (nattrs, counts) = generate(reference)
    if out == '-':
        sys.stdout.write(text)
        return
    with open(out, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)
    sys.stderr.write('%s: %d attribute actions; knowledge base: %s\n'
                     % (out, nattrs, ', '.join('%s %d' % kv
                                               for kv in counts.items())))


if __name__ == '__main__':
    main(sys.argv)
