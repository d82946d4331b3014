#!/usr/bin/python3
"""Generate Plugin/anonymizer/ps315_table.inc from the PS3.15 tables.

Inputs (Resources/Reference, see SOURCES.md there):
  ps315_table_e1_1.json  PS3.15 2026d Table E.1-1, Application Level
                         Confidentiality Profile Attributes (657 rows)
  safe_private.json      PS3.15 2026d Table E.3.10-1, Safe Private
                         Attributes (479 rows)
  dictionary.tsv         PS3.6 2026b data dictionary: VR of each row, and the
                         list of UI attributes classified below

Never edit the output by hand: run
    /usr/bin/python3 Resources/Scripts/GenerateProfile.py [--reference DIR] [OUT]
(OUT '-' writes to standard output).  The unit test
`generated_tables` (UnitTests/check_generated.py) regenerates it and
compares byte for byte.

The script refuses input that would break an assumption of
Plugin/anonymizer/rules.c (an unknown action code, a cell other than K or C in
an option column, two option columns that disagree on a row other than the
date columns, a safe private creator with trailing spaces, a UI attribute of
the dictionary that is neither in Table E.1-1 nor classified below).
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_REFERENCE = os.path.join(ROOT, 'Resources', 'Reference')
DEFAULT_OUT = os.path.join(ROOT, 'Plugin', 'anonymizer', 'ps315_table.inc')
EDITION = '2026d'

# Basic Profile action codes (Table E.1-1a) -> C enumerators (anonymizer.h).
CODES = {
    'X': 'OA_PS_X', 'Z': 'OA_PS_Z', 'D': 'OA_PS_D', 'K': 'OA_PS_K',
    'C': 'OA_PS_C', 'U': 'OA_PS_U', 'Z/D': 'OA_PS_Z_D', 'X/Z': 'OA_PS_X_Z',
    'X/D': 'OA_PS_X_D', 'X/Z/D': 'OA_PS_X_Z_D', 'X/Z/U*': 'OA_PS_X_Z_U',
}
# Option columns, in the order of enum oa_ps315_column (anonymizer.h).
COLUMNS = ['rsp', 'ruid', 'rdi', 'rii', 'rpc', 'rlfd', 'rlmd', 'cd', 'csc',
           'cg']
DATE_COLUMNS = {'rlfd', 'rlmd'}

# The four pattern rows of Table E.1-1 and their (value, mask, VR).  Repeating
# groups 50xx/60xx are even groups (PS3.5 7.6); the private row matches any
# odd group (bit 16 of the tag set).
PATTERNS = {
    '(50xx,xxxx)': (0x50000000, 0xFF000000, None),
    '(60xx,3000)': (0x60003000, 0xFF00FFFF, 'OW'),
    '(60xx,4000)': (0x60004000, 0xFF00FFFF, 'LT'),
    '(gggg,eeee) where gggg is odd': (0x00010000, 0x00010000, None),
}

# Attributes of Table E.1-1 newer than the 2026b dictionary (SOURCES.md).
EXTRA_VR = {0x0040E012: 'UR', 0x3004007F: 'LO'}

# ---------------------------------------------------------------------------
# UI attributes of the dictionary that Table E.1-1 does not list.
#
# PS3.15 lists the instance UIDs it knows of with action U, but new ones
# appear in every edition before the table catches up, so the engine remaps
# every UI attribute it does not know to be safe.  The ones below are safe to
# keep because their values name a *class* or a *scheme* defined by DICOM or
# by a vendor (SOP classes, transfer syntaxes, coding schemes, context
# groups, templates, implementation and software versions), never an
# instance, a patient, a study or a place: remapping them would only break
# the file.  Every other UI attribute that the table does not list is in
# UID_REMAP and becomes U (remapped consistently), like the table's own U
# rows.  A new dictionary edition with a new UI attribute makes this script
# fail until the attribute is put in one of the two lists.
UID_KEEP = {
    # SOP classes
    'AffectedSOPClassUID': 'SOP Class',
    'RequestedSOPClassUID': 'SOP Class',
    'MediaStorageSOPClassUID': 'SOP Class',
    'RTVCommunicationSOPClassUID': 'SOP Class',
    'ReferencedSOPClassUIDInFile': 'SOP Class',
    'ReferencedRelatedGeneralSOPClassUIDInFile': 'SOP Class',
    'SOPClassUID': 'SOP Class',
    'RelatedGeneralSOPClassUID': 'SOP Class',
    'OriginalSpecializedSOPClassUID': 'SOP Class',
    'SOPClassesInStudy': 'SOP Class',
    'ReferencedSOPClassUID': 'SOP Class',
    'SOPClassesSupported': 'SOP Class',
    'PertinentSOPClassesInStudy': 'SOP Class',
    'PertinentSOPClassesInSeries': 'SOP Class',
    # transfer syntaxes
    'TransferSyntaxUID': 'Transfer Syntax',
    'ReferencedTransferSyntaxUIDInFile': 'Transfer Syntax',
    'StoredInstanceTransferSyntaxUID': 'Transfer Syntax',
    'AvailableTransferSyntaxUID': 'Transfer Syntax',
    'FlowTransferSyntaxUID': 'Transfer Syntax',
    'MACCalculationTransferSyntaxUID': 'Transfer Syntax',
    'EncryptedContentTransferSyntaxUID': 'Transfer Syntax',
    # coding schemes, context groups, templates
    'CodingSchemeUID': 'coding scheme',
    'ContextUID': 'context group',
    'MappingResourceUID': 'mapping resource',
    'ContextGroupExtensionCreatorUID': 'coding scheme extension creator',
    'SegmentationTemplateUID': 'template',
    # implementations and software, not devices or sites
    'ImplementationClassUID': 'implementation',
    'PrivateInformationCreatorUID': 'implementation',
    'CreatorVersionUID': 'software version',
}

# UI attributes not in Table E.1-1 whose values identify instances, events,
# frames of reference, locations or communities: remapped (U).
UID_REMAP = {
    'RTVCommunicationSOPInstanceUID',      # an instance
    'PrivateRecordUID',                    # a DICOMDIR record
    'MultiFrameSourceSOPInstanceUID',      # an instance
    'RadiopharmaceuticalAdministrationEventUID',  # an event
    'TargetFrameOfReferenceUID',           # a frame of reference
    'SOPInstanceUIDOfConcatenationSource',  # an instance
    'VolumeFrameOfReferenceUID',           # a frame of reference
    'TableFrameOfReferenceUID',            # a frame of reference
    'ReferencedColorPaletteInstanceUID',   # an instance (well-known palettes
                                           # keep their 1.2.840.10008 value)
    'FindingsGroupUIDTrial',               # an SR findings group
    'ReferencedFindingsGroupUIDTrial',     # an SR findings group
    'RetrieveLocationUID',                 # a site
    'RepositoryUniqueID',                  # an XDS repository (a site)
    'HomeCommunityID',                     # an XDS community (a site)
    'AssertionUID',                        # an assertion instance
    'ReferencedAssertionUID',              # an assertion instance
    'ModelGroupUID',                       # an instance group
    'ReferencedFiducialUID',               # a fiducial instance
    'VolumetricPresentationInputSetUID',   # an instance set
    'ReferencedContentItem',               # an SR content item
    'SelectorUIValue',                     # unknown content: remap to be safe
    'EquipmentFrameOfReferenceUID',        # a frame of reference
}

# Safe private attributes of VR UI whose values are software versions rather
# than instance UIDs: kept.  The other safe private UI attributes (series and
# bookmark UIDs) are remapped like standard instance UIDs.
SAFE_PRIVATE_UID_KEEP = {
    ('0099', '01', 'NQHeader'),
    ('7FD1', '09', 'SIEMENS Ultrasound SC2000'),
    ('7FD1', '09', 'SIEMENS SYNGO ULTRA-SOUND TOYON DATA STREAMING'),
}

VR_RE = re.compile(r'^[A-Z]{2}$')
TAG_RE = re.compile(r'^\(([0-9A-F]{4}),([0-9A-F]{4})\)$')


def fail(msg):
    raise SystemExit('GenerateProfile.py: ' + msg)


def c_string(s):
    out = s.replace('\\', '\\\\').replace('"', '\\"')
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in out):
        fail('non-ASCII or control character in %r' % s)
    return '"%s"' % out


def c_vr(vr):
    if not vr:
        return '0'
    if not VR_RE.match(vr):
        fail('bad VR %r' % vr)
    return "OA_VR_CODE('%s', '%s')" % (vr[0], vr[1])


def load_dictionary(path):
    by_tag = {}
    ui = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            tag, vrtext, _vm, keyword, _retired = line.rstrip('\n').split('\t')
            vrs = [v.strip() for v in vrtext.split(' or ') if v.strip()]
            m = TAG_RE.match(tag.upper())
            if m is None:
                continue  # repeating groups: not needed here
            value = int(m.group(1) + m.group(2), 16)
            by_tag[value] = (vrs, keyword)
            if 'UI' in vrs:
                ui.append((value, keyword))
    return by_tag, ui


def load_table(path, dictionary):
    rows = json.load(open(path, encoding='utf-8'))
    exact, patterns, seen = [], [], set()
    for r in rows:
        basic = r['basic']
        if basic not in CODES:
            fail('unknown basic action %r for %s' % (basic, r['tag']))
        cells = []
        for col in COLUMNS:
            cell = r[col]
            if cell not in (None, 'K', 'C'):
                fail('unexpected cell %r in column %s for %s' %
                     (cell, col, r['tag']))
            cells.append(cell)
        # rules.c evaluates the date columns first, then the first enabled
        # other column: that is only well defined if the others agree.
        others = {r[c] for c in COLUMNS if c not in DATE_COLUMNS and r[c]}
        if len(others) > 1:
            fail('option columns disagree for %s' % r['tag'])
        if r['rlfd'] not in (None, 'K') or r['rlmd'] not in (None, 'C'):
            fail('unexpected date cells for %s' % r['tag'])
        tag = r['tag']
        if tag in PATTERNS:
            value, mask, vr = PATTERNS[tag]
            patterns.append((value, mask, vr, basic, cells, r['retired'],
                             r['name'], tag))
            continue
        m = TAG_RE.match(tag.upper())
        if m is None:
            fail('unknown tag pattern %r' % tag)
        value = int(m.group(1) + m.group(2), 16)
        if value in seen:
            fail('duplicate row %s' % tag)
        seen.add(value)
        if value in dictionary:
            vrs = dictionary[value][0]
            vr = 'OW' if vrs == ['OB', 'OW'] else (vrs[0] if vrs else None)
        elif value in EXTRA_VR:
            vr = EXTRA_VR[value]
        else:
            fail('%s is not in the dictionary' % tag)
        exact.append((value, 0xFFFFFFFF, vr, basic, cells, r['retired'],
                      r['name'], None))
    if len(patterns) != len(PATTERNS):
        fail('expected %d pattern rows, found %d' %
             (len(PATTERNS), len(patterns)))
    exact.sort(key=lambda e: e[0])
    patterns.sort(key=lambda e: e[0])
    return exact, patterns


def load_safe_private(path):
    rows = json.load(open(path, encoding='utf-8'))
    out, seen = [], set()
    for r in rows:
        group = r['group'].upper()
        elem = r['element_in_block'].upper()
        creator = r['private_creator']
        if not re.match(r'^[0-9A-F]{4}$', group) or int(group, 16) % 2 == 0:
            fail('bad private group %r' % group)
        if not re.match(r'^[0-9A-F]{2}$', elem):
            fail('bad element %r' % elem)
        if not creator or creator != creator.strip(' '):
            fail('private creator %r is empty or padded' % creator)
        if r['tag'].upper() != '(%s,XX%s)' % (group, elem):
            fail('tag %r disagrees with group/element' % r['tag'])
        key = (group, elem, creator)
        if key in seen:
            fail('duplicate safe private row %r' % (key,))
        seen.add(key)
        vr = r['vr'].split('/')[0] if r['vr'] else None
        remap = vr == 'UI' and key not in SAFE_PRIVATE_UID_KEEP
        out.append((int(group, 16), int(elem, 16), creator, vr, remap))
    for key in SAFE_PRIVATE_UID_KEEP:
        if key not in seen:
            fail('SAFE_PRIVATE_UID_KEEP names an unknown row %r' % (key,))
    # Sorted for bsearch on (group, element) then strcmp on the creator.
    out.sort(key=lambda e: (e[0], e[1], e[2].encode('ascii')))
    return out


def classify_uids(ui, table_tags):
    keep, remap = [], []
    names = set()
    for value, keyword in ui:
        names.add(keyword)
        if value in table_tags:
            continue
        if keyword in UID_KEEP and keyword in UID_REMAP:
            fail('%s is in both UID lists' % keyword)
        if keyword in UID_KEEP:
            keep.append((value, keyword, UID_KEEP[keyword]))
        elif keyword in UID_REMAP:
            remap.append((value, keyword))
        else:
            fail('UI attribute %s (%08X) is neither in Table E.1-1 nor '
                 'classified in UID_KEEP/UID_REMAP' % (keyword, value))
    for keyword in list(UID_KEEP) + list(UID_REMAP):
        if keyword not in names:
            fail('%s is not a UI attribute of the dictionary' % keyword)
    return sorted(keep), sorted(remap)


def cells_c(cells):
    return '{%s}' % ', '.join(CODES[c] if c else 'OA_PS_NONE' for c in cells)


def row_c(e):
    value, mask, vr, basic, cells, retired, name, pattern = e
    return ('    {0x%08X, 0x%08X, %s, %s, %s, %d, %s, %s},'
            % (value, mask, c_vr(vr), CODES[basic], cells_c(cells),
               int(bool(retired)), c_string(name),
               c_string(pattern) if pattern else 'NULL'))


def generate(reference):
    dictionary, ui = load_dictionary(os.path.join(reference, 'dictionary.tsv'))
    exact, patterns = load_table(
        os.path.join(reference, 'ps315_table_e1_1.json'), dictionary)
    safe = load_safe_private(os.path.join(reference, 'safe_private.json'))
    keep, remap = classify_uids(ui, {e[0] for e in exact})

    lines = [
        '/* Generated by Resources/Scripts/GenerateProfile.py from DICOM PS3.15',
        ' * %s Table E.1-1 (Application Level Confidentiality Profile' % EDITION,
        ' * Attributes), Table E.3.10-1 (Safe Private Attributes) and the PS3.6',
        ' * data dictionary.  Do not edit: regenerate.  Included by ps315.c only. */',
        '#define OA_PS315_TABLE_EDITION "%s"' % EDITION,
        '#define OA_PS315_EXACT_COUNT %d' % len(exact),
        '#define OA_PS315_PATTERN_COUNT %d' % len(patterns),
        '#define OA_PS315_SAFE_PRIVATE_COUNT %d' % len(safe),
        '#define OA_PS315_UID_KEEP_COUNT %d' % len(keep),
        '#define OA_PS315_UID_REMAP_COUNT %d' % len(remap),
        '',
        '/* {tag, mask, VR, basic, {%s}, retired, name, pattern} */'
        % ', '.join(COLUMNS),
        'static const oa_ps315_row ps315_exact[OA_PS315_EXACT_COUNT] = {',
    ]
    lines += [row_c(e) for e in exact]
    lines += ['};', '',
              '/* Rows that match several tags: value and mask. */',
              'static const oa_ps315_row ps315_patterns[OA_PS315_PATTERN_COUNT] = {']
    lines += [row_c(e) for e in patterns]
    lines += ['};', '',
              '/* Table E.3.10-1, sorted by group, element in block, creator.',
              ' * {group, element in block, VR, remap (UI instance UID), creator} */',
              'static const oa_safe_private ps315_safe_private[OA_PS315_SAFE_PRIVATE_COUNT] = {']
    for group, elem, creator, vr, remap_uid in safe:
        lines.append('    {0x%04X, 0x%02X, %s, %d, %s},'
                     % (group, elem, c_vr(vr), int(remap_uid), c_string(creator)))
    lines += ['};', '',
              '/* UI attributes outside Table E.1-1 whose values name a class or',
              ' * a scheme: kept.  See UID_KEEP in the generator for the reasoning. */',
              'static const oa_uid_class ps315_uid_keep[OA_PS315_UID_KEEP_COUNT] = {']
    for value, keyword, why in keep:
        lines.append('    {0x%08X, %s, %s},' % (value, c_string(keyword), c_string(why)))
    lines += ['};', '',
              '/* UI attributes outside Table E.1-1 whose values identify',
              ' * instances, events or sites: remapped (U). */',
              'static const oa_uid_class ps315_uid_remap[OA_PS315_UID_REMAP_COUNT] = {']
    for value, keyword in remap:
        lines.append('    {0x%08X, %s, "instance"},' % (value, c_string(keyword)))
    lines += ['};', '']
    return '\n'.join(lines), (len(exact), len(patterns), len(safe), len(keep), len(remap))


def main(argv):
    reference = DEFAULT_REFERENCE
    args = list(argv[1:])
    if len(args) >= 2 and args[0] == '--reference':
        reference = args[1]
        args = args[2:]
    out = args[0] if args else DEFAULT_OUT
    text, counts = generate(reference)
    if out == '-':
        sys.stdout.write(text)
        return
    with open(out, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)
    sys.stderr.write('%s: %d rows, %d patterns, %d safe private, '
                     '%d class UIDs kept, %d UIDs remapped\n' % ((out,) + counts))


if __name__ == '__main__':
    main(sys.argv)
