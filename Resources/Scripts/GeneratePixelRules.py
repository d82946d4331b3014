#!/usr/bin/python3
"""Generate Plugin/pixels/rules_table.inc from pydicom/deid's recipes.

Input: Resources/Reference/burned_in/deid.dicom (device signatures) and
deid.dicom.ultrasound ("keep only the ultrasound regions"), the `%filter`
sections of deid 0.4.12 (MIT licence, LICENSE.deid beside them), and
Resources/Reference/dictionary.tsv for keyword -> tag.  Never edit the
output by hand: run
    /usr/bin/python3 Resources/Scripts/GeneratePixelRules.py [OUT]
The unit test `pixels` regenerates it and compares.

The filter language, as deid reads it (deid/config/utils.py parse_label,
parse_member; deid/dicom/filter.py; deid/dicom/pixels/detect.py):
  LABEL name [# comment]         one rule; lines up to the next LABEL / %
  [+ | ||] pred Field [value] [(+ | ||) pred Field [value]]...
      a line; `+` and, `||` or.  Inside a line the terms combine left to
      right; the lines combine left to right by their leading operator (a
      line without one is and-ed).  An inline `+`/`||` splits the line only
      if what follows names a predicate (so "AS+" stays in the value).
  pred: contains / notcontains (case-insensitive regular-expression search
      of the trimmed value; values here use `|` alternation and `x+`),
      equals / notequals (case-insensitive equality of the trimmed value;
      `|` is NOT alternation there), missing, present, empty (present with
      an empty value).
  coordinates x0,y0,x1,y1   blank [x0,x1) x [y0,y1)  (deid: xmin,ymin,xmax,ymax)
  ctpcoordinates x,y,w,h    blank [x,x+w) x [y,y+h)  (CTP's rectangles)
  keepcoordinates / ctpkeepcoordinates: the same, kept (un-blanked)
  ... all                   the whole image
  ... from:SequenceOfUltrasoundRegions   the regions of (0018,6011)
  A rule with coordinates and no filter always matches (deid: "assume
  True").  Multi-valued attributes are matched on their DICOM value, the
  values joined by backslashes.

Sections: whitelist -> ALLOW, graylist with coordinates -> MASK, graylist
without coordinates and blacklist -> FLAG.

Two field names of deid.dicom are typos of Manufacturer ("Manfacturer",
"Manufacture"); they are read as Manufacturer (deid itself finds no such
attribute, so those CTP rules never fire there) and counted as fixed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF = os.path.join(ROOT, 'Resources', 'Reference')
RECIPES = [('deid.dicom', 0), ('deid.dicom.ultrasound', 1)]
DEFAULT_OUT = os.path.join(ROOT, 'Plugin', 'pixels', 'rules_table.inc')

PREDICATES = ('contains', 'notcontains', 'equals', 'notequals', 'missing',
              'empty', 'present')
TYPOS = {'Manfacturer': 'Manufacturer', 'Manufacture': 'Manufacturer'}
COORD_WORDS = ('ctpkeepcoordinates', 'keepcoordinates', 'ctpcoordinates',
               'coordinates')
FULL = 0xFFFFFFFF
# PS3.3 C.7.3.1.1.1 defined terms of Modality, to spot rules that can
# never match ("MRI", "Other", "PET/CT").
MODALITIES = ('AR ASMT AU BDUS BI BMD CR CT CTPROTOCOL DG DOC DX ECG EPS ES '
              'FID GM HC HD IO IOL IVOCT IVUS KER KO LEN LS MG MR M3D NM '
              'OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PLAN PR PT PX '
              'REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD '
              'RTSEGANN RTSTRUCT RWV SEG SM SMR SR SRF STAIN TEXTUREMAP TG '
              'US VA XA XAPROTOCOL XC').split()


class Untranslatable(Exception):
    pass


def load_dictionary():
    tags = {}
    with open(os.path.join(REF, 'dictionary.tsv'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('#'):
                continue
            parts = line.rstrip('\n').split('\t')
            if len(parts) < 4:
                continue
            tag = parts[0].strip('()').replace('x', '0')
            g, e = tag.split(',')
            tags[parts[3]] = (int(g, 16) << 16) | int(e, 16)
    return tags


def c_string(s):
    out = '"'
    for ch in s:
        if ch in '"\\':
            out += '\\' + ch
        elif 32 <= ord(ch) < 127:
            out += ch
        else:
            out += '\\x%02x' % ord(ch)
    return out + '"'


def check_regex(value):
    """Values of contains: literals with `|` and a postfix `+` only."""
    if value == '' or re.search(r'[\\^$.*?()\[\]{}]', value):
        raise Untranslatable('regular expression %r beyond literals, | and +'
                             % value)
    for alt in value.split('|'):
        if alt == '' or alt.startswith('+'):
            raise Untranslatable('empty alternative in %r' % value)


def split_member(member):
    """deid's parse_member: [(op, text)] with op None for the first."""
    out = []
    op = None
    rest = member.strip()
    while True:
        m_or = rest.find('||')
        m_and = rest.find('+')
        cut = None
        if m_or >= 0 and (m_and < 0 or m_or < m_and):
            cut, sep = m_or, '||'
        elif m_and >= 0:
            cut, sep = m_and, '+'
        if cut is not None:
            tail = rest[cut + len(sep):]
            if any(word in tail for word in PREDICATES):
                out.append((op, rest[:cut].strip()))
                op = 'or' if sep == '||' else 'and'
                rest = tail.strip()
                continue
        out.append((op, rest))
        return out


def parse_coordinates(word, text, label):
    keep = 'keep' in word
    ctp = word.startswith('ctp')
    text = text.strip()
    if text.lower() == 'all':
        return [(keep, 'all', 0, 0, FULL, FULL)]
    if text.startswith('from:'):
        field = text[5:].strip()
        if field != 'SequenceOfUltrasoundRegions':
            raise Untranslatable('coordinates from %s' % field)
        return [(keep, 'us', 0, 0, 0, 0)]
    nums = [n.strip() for n in text.split(',')]
    if len(nums) != 4 or not all(re.fullmatch(r'\d+', n) for n in nums):
        raise Untranslatable('coordinates %r' % text)
    a, b, c, d = (int(n) for n in nums)
    if ctp:
        x0, y0, x1, y1 = a, b, a + c, b + d
    else:
        x0, y0, x1, y1 = a, b, c, d
    if x1 <= x0 or y1 <= y0:
        raise Untranslatable('empty rectangle %r' % text)
    return [(keep, 'rect', x0, y0, x1, y1)]


def parse_recipe(path, recipe, tags, notes):
    rules = []
    section = None
    with open(path, encoding='utf-8') as f:
        lines = [l.strip() for l in f if l.strip()]
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith('#'):
            continue
        if line.startswith('%'):
            parts = line.split('#', 1)[0].split()
            section = parts[0][1:].lower()
            name = parts[1].lower() if len(parts) > 1 else None
            section = (section, name)
            continue
        if section is None or section[0] != 'filter':
            continue
        if not line.upper().startswith('LABEL'):
            continue
        label = line[5:].split('#', 1)[0].strip()
        members = []
        while i < len(lines) and not lines[i].upper().startswith('LABEL') \
                and not lines[i].startswith('%'):
            if not lines[i].startswith('#'):
                members.append(lines[i])
            i += 1
        rule = {'label': label, 'recipe': recipe, 'list': section[1],
                'source': '%s %s' % (os.path.basename(path), section[1]),
                'terms': [], 'ops': [], 'text': [], 'fixed': []}
        try:
            for member in members:
                low = member.lower()
                word = next((w for w in COORD_WORDS if low.startswith(w)),
                            None)
                if word is not None:
                    rule['ops'] += parse_coordinates(
                        word, member[len(word):], label)
                    continue
                line_op = None
                if member.startswith('+'):
                    line_op, member = 'and', member[1:].strip()
                elif member.startswith('||'):
                    line_op, member = 'or', member[2:].strip()
                rule['text'].append(((line_op + ' ') if line_op else '')
                                    + member)
                first = True
                for op, text in split_member(member):
                    parts = text.split(None, 2)
                    pred = parts[0].lower()
                    if pred not in PREDICATES:
                        raise Untranslatable('predicate %r' % parts[0])
                    if len(parts) < 2:
                        raise Untranslatable('%s without a field' % pred)
                    field = parts[1]
                    value = parts[2].strip() if len(parts) > 2 else ''
                    if field in TYPOS:
                        rule['fixed'].append('%s -> %s' % (field,
                                                           TYPOS[field]))
                        field = TYPOS[field]
                    if field not in tags:
                        raise Untranslatable('unknown attribute %r' % field)
                    if pred in ('contains', 'notcontains'):
                        check_regex(value)
                    elif pred in ('equals', 'notequals'):
                        if value == '':
                            raise Untranslatable('%s without a value' % pred)
                    rule['terms'].append({
                        'line_start': first,
                        'op': line_op if first else op,
                        'pred': pred, 'field': field, 'tag': tags[field],
                        'value': value})
                    first = False
        except Untranslatable as e:
            notes.append('%s: LABEL %s: %s' % (os.path.basename(path),
                                              label, e))
            rule['untranslated'] = str(e)
        if section[1] == 'whitelist':
            rule['kind'] = 'ALLOW'
        elif section[1] == 'graylist' and rule['ops']:
            rule['kind'] = 'MASK'
        else:
            rule['kind'] = 'FLAG'
        rules.append(rule)
    return rules


def never_matches(rule):
    """Reasons a translated rule can never fire (reported, kept as is)."""
    out = []
    for t in rule['terms']:
        v = t['value']
        if t['pred'] == 'equals' and '|' in v:
            out.append('equals %s %s: "|" is not alternation in equals'
                       % (t['field'], v))
        if t['pred'] == 'contains' and t['field'] == 'Modality' and \
                not any(a.rstrip('+').upper() in m for a in v.split('|')
                        for m in MODALITIES):
            out.append('contains Modality %s: no modality is spelled so' % v)
        if t['pred'] == 'contains' and re.search(r'\w\+\w', v):
            out.append('contains %s %s: a regex "+" between letters' %
                       (t['field'], v))
        if t['field'] in ('CodeMeaning', 'ImplementationVersionName'):
            out.append('%s is not a top-level attribute of the dataset '
                       '(the engine may supply it)' % t['field'])
    return out


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    tags = load_dictionary()
    notes = []
    rules = []
    for name, recipe in RECIPES:
        rules += parse_recipe(os.path.join(REF, 'burned_in', name), recipe,
                              tags, notes)
    with open(os.path.join(REF, 'burned_in', 'LICENSE.deid'),
              encoding='utf-8') as f:
        licence = f.read().rstrip('\n')

    kept = [r for r in rules if 'untranslated' not in r]
    dead = []
    for r in kept:
        for why in never_matches(r):
            dead.append('%s: %s' % (r['label'], why))
    fixed = ['%s: %s' % (r['label'], f) for r in kept for f in r['fixed']]
    used_tags = sorted({t['tag'] for r in kept for t in r['terms']})

    o = []
    o.append('/*')
    o.append(' * Generated by Resources/Scripts/GeneratePixelRules.py from')
    o.append(' * Resources/Reference/burned_in/deid.dicom and deid.dicom.ultrasound')
    o.append(' * (pydicom/deid 0.4.12, https://github.com/pydicom/deid).  Do not edit.')
    o.append(' *')
    o.append(' * The burned-in text signatures are the work of the deid project and')
    o.append(' * its contributors (Vanessa Sochat, Susan Weber, Roger Goldman, the')
    o.append(' * CTP DicomPixelAnonymizer authors and others named in the labels),')
    o.append(' * used under the MIT licence:')
    o.append(' *')
    for l in licence.split('\n'):
        o.append((' * ' + l).rstrip())
    o.append(' *')
    o.append(' * Labels read: %d; translated: %d (MASK %d, FLAG %d, ALLOW %d);'
             % (len(rules), len(kept),
                sum(r['kind'] == 'MASK' for r in kept),
                sum(r['kind'] == 'FLAG' for r in kept),
                sum(r['kind'] == 'ALLOW' for r in kept)))
    o.append(' * not translated: %d.' % (len(rules) - len(kept)))
    for n in notes:
        o.append(' *   not translated: ' + n)
    for n in fixed:
        o.append(' *   field name fixed: ' + n)
    for n in dead:
        o.append(' *   translated as written, never matches: ' + n)
    o.append(' */')
    o.append('')
    o.append('#define OA_PIXELS_GEN_RULES %d' % len(kept))
    o.append('#define OA_PIXELS_GEN_LABELS %d' % len(rules))
    o.append('#define OA_PIXELS_GEN_UNTRANSLATED %d' % (len(rules) - len(kept)))
    o.append('')
    o.append('static const uint32_t oa_pixels_rule_tags[] = {')
    for t in used_tags:
        o.append('    0x%08XU,' % t)
    o.append('};')
    o.append('')
    # Identical (predicate, tag, value) terms share an index, so that a
    # decision evaluates each once ("contains Modality US" opens 80 rules).
    uniq = {}
    for r in kept:
        for t in r['terms']:
            uniq.setdefault((t['pred'], t['tag'], t['value']), len(uniq))
    o.append('#define OA_PIXELS_GEN_UNIQUE_TERMS %d' % max(1, len(uniq)))
    o.append('')
    o.append('static const oa_pixels_term oa_pixels_terms[] = {')
    term_first = []
    n = 0
    for r in kept:
        term_first.append(n)
        for t in r['terms']:
            op = {'and': 'OA_PX_AND', 'or': 'OA_PX_OR', None: 'OA_PX_AND'}[
                t['op']]
            o.append('    {%s, %s, OA_PX_%s, %d, 0x%08XU, %s},' % (
                'true' if t['line_start'] else 'false', op,
                t['pred'].upper(),
                uniq[(t['pred'], t['tag'], t['value'])], t['tag'],
                c_string(t['value'])))
            n += 1
    if n == 0:
        o.append('    {false, OA_PX_AND, OA_PX_PRESENT, 0, 0, ""},')
    o.append('};')
    o.append('')
    o.append('static const oa_pixels_rule_op oa_pixels_rule_ops[] = {')
    op_first = []
    n = 0
    for r in kept:
        op_first.append(n)
        for keep, what, x0, y0, x1, y1 in r['ops']:
            kind = {'all': 'OA_PX_OP_ALL', 'us': 'OA_PX_OP_US_REGIONS',
                    'rect': 'OA_PX_OP_RECT'}[what]
            o.append('    {%s, %s, %uU, %uU, %uU, %uU},' % (
                kind, 'true' if keep else 'false', x0, y0, x1, y1))
            n += 1
    o.append('};')
    o.append('')
    o.append('static const oa_pixels_rule oa_pixels_rules[] = {')
    for k, r in enumerate(kept):
        o.append('    {{%s, %s,' % (c_string(r['label']), c_string(r['source'])))
        o.append('      %s,' % c_string(' '.join(r['text'])))
        o.append('      OA_PIXELS_RULE_%s, %dU},' % (r['kind'], len(r['ops'])))
        o.append('     %d, %dU, %dU, %dU, %dU},' % (
            r['recipe'], term_first[k], len(r['terms']), op_first[k],
            len(r['ops'])))
    o.append('};')
    with open(out_path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(o) + '\n')
    print('GeneratePixelRules: %d labels, %d translated (MASK %d, FLAG %d, '
          'ALLOW %d), %d not translated, %d field names fixed, %d rules '
          'that never match as written -> %s' % (
              len(rules), len(kept),
              sum(r['kind'] == 'MASK' for r in kept),
              sum(r['kind'] == 'FLAG' for r in kept),
              sum(r['kind'] == 'ALLOW' for r in kept),
              len(rules) - len(kept), len(fixed), len(dead), out_path))
    for n in notes:
        print('  not translated: ' + n)


if __name__ == '__main__':
    main()
