#!/usr/bin/python3
"""Corpus anonymization proof: every file of the shared corpus that the
reader accepts, anonymized with the built-in profiles, gives valid DICOM
holding none of the original identifying values.

    /usr/bin/python3 anon_corpus.py --tool build/oa-anonymize \
        [--corpus DIR] [--jobs 2] [--workdir DIR] [--show-values]

Steps:

  1. `oa-anonymize --check` over every corpus file (INDEX.tsv, plus any file
     on disk it misses): the accepted ones ("ok") are the subject.
  2. One batch per profile: `oa-anonymize --profile P --secret S --tsv T
     IN... -o OUT` for the three built-ins Default, Full and Research, and
     "FullKeepSC" (a FILE.json profile {"Base": "Full",
     "SecondaryCapturesAndReports": "keep"}, so that the secondary captures
     and reports that Default and Full drop are proven under the Basic
     Profile too).  A crash, hang, sanitizer report or exit status other
     than 0/1 fails the whole test.
  2b. The images refused under any profile because their pixels are
     compressed (oa-anonymize does not decode them; the plugin has Orthanc
     do it) are decoded with dcmtk (dcmdjpeg, dcmdjpls, dcmdrle: JPEG,
     JPEG-LS, RLE) to Explicit VR Little Endian, and those copies run
     through every profile again and are checked like the others ("NAME
     (decoded by dcmtk first)").  JPEG 2000, HTJ2K, JPEG XL and a JPEG
     stream under a native syntax have no decoder here: they stay refused,
     named by syntax.
  3. For every input and profile, by the TSV status:
       ok        the output exists, and
                 - it is not a capture or report class the profile drops;
                 - dcmtk's dcmdump parses it (if dcmdump cannot parse the
                   input either, this is noted, not failed);
                 - pydicom reads it (no force);
                 - (0012,0062) PatientIdentityRemoved is YES, (0012,0063)
                   is present, (0012,0064) holds 113100 first, (0028,0303)
                   is UNMODIFIED (Dates keep: Default), REMOVED (Full) or
                   MODIFIED (Dates shift: Research);
                 - PatientBirthDate, if present, is empty or 19000101;
                 - no original identifying value is found in any element
                   value outside pixel data (and OB/OW/UN values over 64
                   KiB), meta group and every sequence depth included:
                   every component (split on ^ = \\) of every PN value,
                   PatientID, OtherPatientIDs, IssuerOfPatientID,
                   PatientBirthDate, AccessionNumber, InstitutionName,
                   InstitutionAddress, physicians' and operators' names,
                   PatientAddress, PatientTelephoneNumbers, collected from
                   the input at every depth; values of 4 bytes or more,
                   searched case-sensitively as bytes, as whole words: a
                   numeric value (ID, date) counts where no digit touches
                   it (so "PID12345" holds "12345", while a generated 2.25
                   UID, one long run of digits, does not), another value
                   where no letter, digit or "_" touches it ("xxxxx" is not
                   in "xxxxxxx", "TOSHIBA" not in "TOSHIBA_MEC").  A name
                   component is not looked for in coded vocabulary (CS
                   values, Code Value / Meaning / Scheme, the method text
                   of (0012,0063)): a patient named "KNEE" leaves
                   BodyPartExamined "KNEE".  Under Default (dates kept) a
                   birth date that is also the input's value of the same
                   date attribute is a kept date, not a leak.  The leak
                   check's rules of Resources/Reference/leak_check.tsv,
                   written again here from the data: a value made only
                   of placeholder words ("unknown", "Unbekannt",
                   "anonymous"...) is not identifying, nor one equal to,
                   or a whole word of, a value the output keeps in an
                   equipment attribute (Manufacturer "Lunit Inc." and
                   Content Creator's Name "Lunit");
                 - private tags: none under Full; under Default only the
                   safe private attributes of Table E.3.10-1 (matched on
                   group, element in block and creator) and their
                   creators; under Research (PrivateTags "tcia") only what
                   TCIA's knowledge base keeps at that path (the key of
                   each element built from the output's own sequences and
                   creators, looked up in the engine's generated
                   tcia_table.inc: tcia_kb.py) or Table E.3.10-1, creators
                   of such blocks only, an h value never equal to the
                   input's, an o date never the input's;
                 - under Research, an attribute the profile keeps or
                   cleans (descriptions, Structure Set Label, ROI Name...)
                   never becomes a dummy, nor empty where the IOD makes it
                   Type 1 (Resources/Reference/iod_required.tsv);
                 - the attribute counts (printed per profile): every data
                   element of the input, at every depth, meta group and
                   pixel data aside, compared with the output's element at
                   the same place (same sequence items, same tag): kept
                   (same value; numbers compared as numbers), cleaned
                   (another value, the rule is Clean), UID remapped, date
                   shifted, emptied, dummy, replaced (pseudonym, hash),
                   removed (absent); and the elements the output adds (the
                   de-identification markers counted apart).
       dropped   the input is a Secondary Capture, SR or encapsulated
                 document and the profile drops them; no output.
       identifying data left in output
                 the engine's leak check refused it: no output, and the
                 message names the tag of the value and the tag where it
                 was found.  Counted as "leak-refused" and printed by
                 reason ("(0010,0010) in (0008,1030)").  Only a real leak
                 may be refused: each one is listed in REAL_LEAKS below
                 (profile, file, reason); any other refusal fails the
                 test, and so does a listed one refused for another
                 reason.  A listed one no longer refused (Clean took the
                 value out) is a note.
       burned-in text (status "identifying data left in output" or
                 "unsupported", message "burned-in text: ..."): the image is
                 at risk of identity burned into its pixels (ultrasound,
                 secondary capture, screen save, Burned In Annotation YES,
                 ...) and could not be cleaned.  Counted as
                 "pixels-refused", by kind (PIXEL_REFUSALS, printed with
                 what each is): compressed in a syntax the command-line
                 tool does not decode (decoded by dcmtk where it can, 2b),
                 text OCR still reads after cleaning (a real leak in the
                 pixels), a text area moving in more frames than the
                 cleaner follows, malformed Pixel Data.  A pixel refusal
                 of no known kind fails.
                 An output whose pixels were cleaned ("pixels cleaned" in
                 the TSV) must say Burned In Annotation NO and list 113101;
                 any other output keeps its Pixel Data byte for byte.
       unsupported "a DICOMDIR cannot be rewritten" for a Media Storage
                 Directory: the writer's policy (record offsets are file
                 offsets); counted apart, not a failure.
       other     a failure: the reader accepted the file.

  4. The files of issue 11 that were refused though nothing leaked
     (ISSUE_11_FILES: Institution Name = Manufacturer, a creator's name
     inside the Manufacturer, a birth date = a kept date, "Unbekannt")
     are written under Default and Full with their pixels kept (some are
     compressed images at risk of burned-in text, which the command line
     does not decode), and hold no identifying value beyond what the rules
     let pass.

Prints per profile: instances anonymized / dropped / refused (leak,
pixels by kind) / failed, for the corpus and for the decoded copies; what
is left refused once those are decoded, each kind named; the attribute
counts; the failures (paths, tags, kinds of value; never values unless
--show-values); a summary of these lines; and a final line "N passed, M
failed" (one case per input and profile).  Exit status 0 only if nothing
failed: any leak refusal that is not a listed real leak (REAL_LEAKS, empty)
fails, under every profile.
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
from oatest import deid  # noqa: E402
from oatest.corpus import listing as corpus_listing  # noqa: E402
from oatest.corpus import require as require_corpus  # noqa: E402
from oatest.tool import (STATUS_DROPPED, STATUS_LEAK, STATUS_OK,  # noqa: E402
                         explain, link_inputs, read_tsv, require_programs,
                         run_tool, profiles_or_fail, work_folder)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcia_kb  # noqa: E402

SECRET = "oa-corpus-proof-secret"

# name -> (--profile argument or JSON object, private policy, dates
#          ("keep", "clear" or "shift"), drops captures and reports)
PROFILES = {
    "Default": ("Default", "safe", "keep", True),
    "Full": ("Full", "clear", "clear", True),
    "FullKeepSC": ({"Base": "Full", "SecondaryCapturesAndReports": "keep"},
                   "clear", "clear", False),
    "Research": ("Research", "tcia", "shift", False),
}

CAPTURE_OR_REPORT = re.compile(
    r"^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(7(\.[1-4])?|88\.\d+|104\.\d+)$")

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

TAG_IN_MESSAGE = re.compile(r"\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)")

# The engine's leak message: the value's tag, then where it was found.
LEAK_REASON = re.compile(
    r"identifying value of (\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)) was found in"
    r" the output \(tag (\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))")

# The real leaks of the corpus: an identifying value inside a value the
# profile keeps, which the leak check must refuse.  (profile, file) ->
# "(value's tag) in (tag found)", each checked by hand.  None left: the
# five of them (a person's or the patient's name in the Study Description
# of fo-dicom/MOVEKNEE.dcm, orthanc-tests/Beaufix/IM-0001-000[12].dcm and
# orthanc-tests/PatientIdsCollision/Image[12].dcm) were refused while
# Default kept its descriptions; it now cleans them (Clean, doc/
# anonymization.md "Free text"), and they pass without the names.
REAL_LEAKS = {}


# The files of issue 11 that the leak check refused though nothing
# leaked (equipment identity, placeholder, kept date): each must pass
# under both profiles.  Some are at risk of burned-in text and compressed
# (the command line does not decode them), so they run here with
# "BurnedInText": "keep" to reach the leak check.
ISSUE_11_FILES = [
    "orthanc-tests/TransferSyntaxes/1.2.840.10008.1.2.4.81.dcm",  # TOSHIBA
    "fo-dicom/CR-ModalitySequenceLUT.dcm",                      # FO-DICOM
    "orthanc-tests/Issue168.dcm",                               # Lunit
    "pydicom-data/emri_small_big_endian.dcm",                   # 20000101
    "orthanc-tests/KarstenHilbertRF.dcm",                       # Unbekannt
]


def check_issue_11_files(tool, corpus, work, secret, timeout):
    """[failure] of the files of ISSUE_11_FILES under Default and Full
    (pixels kept): the tool writes each, and no identifying value is left
    but what the rules let pass."""
    fails = []
    for base, dates_kept in (("Default", True), ("Full", False)):
        prof = os.path.join(work, "issue11-%s.json" % base)
        with open(prof, "w") as f:
            json.dump({"Base": base, "BurnedInText": "keep"}, f)
        out = os.path.join(work, "issue11-" + base)
        tsv = "issue11-%s.tsv" % base
        files = [os.path.join(corpus, r) for r in ISSUE_11_FILES
                 if os.path.exists(os.path.join(corpus, r))]
        run = run_tool([tool, "--profile", prof, "--secret", secret, "-q",
                        "--tsv", tsv, "-o", out, *files], timeout, cwd=work)
        if run.problem():
            fails.append("issue 11 files, %s: %s" % (base, run.problem()))
            continue
        rows = read_tsv(os.path.join(work, tsv))
        for path in files:
            rel = os.path.relpath(path, corpus)
            status, _defects, message = rows.get(path, (None, 0, ""))
            if status != STATUS_OK:
                fails.append("issue 11 file %s, %s: %s %s"
                             % (rel, base, status, message[:200]))
                continue
            ds_in = deid.read(path, force=True)
            o = deid.read(os.path.join(out, os.path.basename(path)))
            eq = kept_equipment(o)

            def exempt(p, tag, value, ident, _in=ds_in, _eq=eq,
                       _dk=dates_kept):
                if is_placeholder(ident.value) or names_equipment(ident,
                                                                  _eq):
                    return True
                return _dk and ident.tag == 0x00100030 and \
                    tag != 0x00100030 and \
                    deid.value_at(_in, p, tag) == deid.strip_value(value)
            for where, tag, ident in deid.leaks(
                    o, deid.identifying_values(ds_in), exempt):
                fails.append("issue 11 file %s, %s: %s left in %s %s"
                             % (rel, base, ident.describe(),
                                deid.tag_str(tag), where))
        print("issue 11 files, %s: %d of %d written, %s"
              % (base, sum(1 for p in files
                           if rows.get(p, ("",))[0] == STATUS_OK),
                 len(files), "failures below (FATAL)" if fails else
                 "no identifying value left"))
    return fails


# What each kind of pixel refusal is (issue 10's triage: an image at risk
# of burned-in text is never written with unchecked pixels).  kind ->
# (pattern of the message, explanation printed with the figures).
PIXEL_REFUSALS = (
    ("compressed", re.compile(r"must be decoded first"),
     "an image at risk of burned-in text whose pixels are compressed: "
     "oa-anonymize does not decode them (the plugin has Orthanc transcode "
     "them first), so it refuses rather than pass unchecked pixels; the "
     "ones dcmtk can decode are decoded here and anonymized again "
     "(\"decoded first\" below), the others (JPEG 2000, HTJ2K, MPEG, a "
     "JPEG stream under a native transfer syntax) are not proven here"),
    ("text-left", re.compile(r"identifying text still readable"),
     "a real leak in the pixels: burned-in text that OCR still reads after "
     "cleaning"),
    ("frames-vary", re.compile(r"text area changes in more than"),
     "a multi-frame image at risk of burned-in text whose text area moves "
     "in more frames than the cleaner follows: refused (fail closed)"),
    ("malformed-pixels", re.compile(r"over the ceiling|trailing data"),
     "malformed Pixel Data (a length over the 1 GiB ceiling, or more bytes "
     "than the frames, which could hide frames): the pixels cannot be "
     "checked, refused (fail closed)"),
)

# The decoders of dcmtk for the compressed syntaxes it knows: the corpus
# images at risk in these syntaxes are decoded to Explicit VR Little
# Endian, as the plugin has Orthanc do, and anonymized again.
DCMTK_DECODERS = {
    "1.2.840.10008.1.2.4.50": "dcmdjpeg", "1.2.840.10008.1.2.4.51":
    "dcmdjpeg", "1.2.840.10008.1.2.4.57": "dcmdjpeg",
    "1.2.840.10008.1.2.4.70": "dcmdjpeg", "1.2.840.10008.1.2.4.80":
    "dcmdjpls", "1.2.840.10008.1.2.4.81": "dcmdjpls",
    "1.2.840.10008.1.2.5": "dcmdrle",
}
COMPRESSED_SYNTAX = re.compile(r"compressed in transfer syntax ([0-9.]+) ")
DECODED = " (decoded by dcmtk first)"


def pixel_refusal_kind(message):
    for kind, rx, _why in PIXEL_REFUSALS:
        if rx.search(message):
            return kind
    return None


def noted_kind(notes):
    """The pixel refusal kind of a verify_file note "pixels-refused[KIND]:
    ...", or None."""
    for n in notes:
        m = re.match(r"pixels-refused\[([^\]]*)\]", n)
        if m:
            return m.group(1)
    return None


def decode_refused(tool_rows, link_of, accepted, work, timeout):
    """{rel: decoded file} of the accepted inputs that some profile refused
    as compressed, in a syntax a dcmtk decoder knows."""
    decoded = {}
    folder = os.path.join(work, "decoded")
    os.makedirs(folder, exist_ok=True)
    for rel in accepted:
        syntax = None
        for rows in tool_rows.values():
            row = rows.get(link_of[rel])
            if row and row[0] != STATUS_OK:
                m = COMPRESSED_SYNTAX.search(row[2])
                if m and "must be decoded first" in row[2]:
                    syntax = m.group(1)
        prog = DCMTK_DECODERS.get(syntax or "")
        if prog is None or shutil.which(prog) is None:
            continue
        out = os.path.join(folder, os.path.basename(link_of[rel]))
        try:
            p = subprocess.run([prog, "+te", os.path.join(work, link_of[rel]),
                                out], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        if p.returncode == 0 and os.path.exists(out):
            decoded[rel] = out
    return decoded


def check_explain_research(tool, kb_count, timeout):
    """[failure] of `oa-anonymize --explain --profile Research`: every
    rule row names its source (a PS3.15 column, TCIA's attribute list,
    the knowledge base...), Occupation is removed by TCIA's list, the
    Structure Set Label is cleaned with TCIA's "keep" shown, and the
    knowledge base's rows (each with its path) are all there."""
    run = run_tool([tool, "--explain", "--profile", "Research"], timeout)
    if run.problem(ok_codes=(0,)):
        return ["--explain --profile Research: %s" % run.problem()]
    fails, sources, rows = [], {}, {}
    for line in run.stdout.splitlines():
        f = line.split("\t")
        if line.startswith("#") or not re.match(
                r"^\([0-9A-Fa-fx]{4},[0-9A-Fa-fx]{4}\)$", f[0]):
            continue
        if len(f) < 5 or not f[4].strip():
            fails.append("--explain --profile Research: %s has no source"
                         % f[0])
            continue
        sources[f[4]] = sources.get(f[4], 0) + 1
        rows.setdefault(f[0], f)
    occ = rows.get("(0010,2180)")
    if not occ or (occ[2], occ[4]) != ("remove", "TCIA attribute list"):
        fails.append("--explain --profile Research: Occupation is not "
                     "removed by the TCIA attribute list")
    ssl = rows.get("(3006,0002)")
    if not ssl or ssl[2] != "clean" or "TCIA: keep" not in ssl[3]:
        fails.append("--explain --profile Research: Structure Set Label is "
                     "not cleaned with TCIA's keep shown")
    kb = sources.get("TCIA private tag knowledge base", 0)
    if kb < kb_count:
        fails.append("--explain --profile Research: %d knowledge base rows,"
                     " the table has %d" % (kb, kb_count))
    print("explain Research: %d rules, each with its source (%s)"
          % (sum(sources.values()), ", ".join(
              "%d %s" % (n, k) for k, n in sorted(sources.items(),
                                                  key=lambda x: -x[1]))))
    return fails


def leak_reason(message):
    m = LEAK_REASON.search(message)
    return "%s in %s" % (m.group(1).upper(), m.group(2).upper()) if m \
        else None


def load_leak_rules():
    """(equipment tags, placeholder regex) from leak_check.tsv: a value
    made only of placeholder words and masked words (one masking character
    repeated, "xxxxxx")."""
    from oatest.corpus import reference
    tags, words, masks = set(), [], []
    with open(reference("leak_check.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            kind, value, _note = line.rstrip("\n").split("\t")
            if kind == "equipment":
                tags.add(int(value[1:5] + value[6:10], 16))
            elif kind == "mask":
                masks.append(re.escape(value.lower()) + "{2,}")
            else:
                words.append(value.lower())
    words.sort(key=len, reverse=True)
    alt = "|".join([re.escape(w) for w in words] + masks)
    return tags, re.compile(r"^(?:(?:%s)(?: |$))+$" % alt)


LEAK_EQUIPMENT, PLACEHOLDER = load_leak_rules()
SEPARATORS = re.compile(r"[ ^=\\,_;\x00]+")


def is_placeholder(value):
    for codec in ("utf-8", "latin-1"):
        try:
            text = value.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    text = SEPARATORS.sub(" ", text.lower()).strip()
    return bool(text) and PLACEHOLDER.match(text) is not None


def kept_equipment(out):
    """The output's values of equipment attributes, lower case."""
    values = []
    for _path, tag, vr, value, _ds, _el in deid.walk(out):
        if tag in LEAK_EQUIPMENT and value and vr not in deid.BINARY_VRS:
            values += [v.strip(b" \x00").lower()
                       for v in value.split(b"\\")]
    return [v for v in values if v]


def names_equipment(ident, equipment):
    v = re.escape(ident.value.lower())
    word = rb"[A-Za-z0-9_\x80-\xff]"
    pat = re.compile(rb"(?<!" + word + rb")" + v + rb"(?!" + word + rb")")
    return any(pat.search(e) for e in equipment)

# What a pixel refusal must name: the risk and what was missing or why.
PIXEL_REASON = re.compile(r"risk \(|transfer syntax|readable after|"
                          r"Rows x Columns|layout|Pixel Data")


def corpus_files(corpus):
    """The corpus files, INDEX.tsv's order first, then any others."""
    listed, on_disk = corpus_listing(corpus)
    files = [r for r in listed if r in on_disk]
    files += sorted(on_disk - set(listed))
    return files


def dcmdump_ok(path):
    try:
        p = subprocess.run(["dcmdump", "-q", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "dcmdump timed out"
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 or re.search(r"^E: ", err, re.M):
        first = next((l for l in err.splitlines() if l.startswith("E:")),
                     "exit %d" % p.returncode)
        return False, first[:200]
    return True, ""


DCMDUMP_LINE = re.compile(
    r"^\s*\(([0-9a-f]{4}),([0-9a-f]{4})\) ([A-Z]{2}) \[(.*)\]\s+#", re.I)


def idents_from_dcmdump(path):
    """Fallback when pydicom cannot read an input: identifying values from
    dcmdump's text."""
    found = {}
    for tag, vr, value in dcmdump_values(path):
        if vr == "PN":
            for c in re.split(rb"[\^=\\]", value):
                c = c.strip()
                if len(c) >= deid.MIN_LEN:
                    found.setdefault(c, deid.Ident(c, tag, "name component"))
        elif tag in deid.IDENTIFYING_BY_TAG:
            for v in value.split(b"\\"):
                v = v.strip()
                if len(v) >= deid.MIN_LEN and v != deid.BIRTH_DATE_CLEARED:
                    found.setdefault(v, deid.Ident(v, tag, "value"))
    return found


def dcmdump_values(path):
    """Yield (tag, VR, value bytes) from dcmdump's text (every depth)."""
    p = subprocess.run(["dcmdump", "-q", "+L", path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=120)
    for line in p.stdout.decode("latin-1").splitlines():
        m = DCMDUMP_LINE.match(line)
        if m:
            tag = (int(m.group(1), 16) << 16) | int(m.group(2), 16)
            yield tag, m.group(3), m.group(4).encode("latin-1")


def leaks_in_dcmdump(path, idents):
    names = [i for i in idents.values() if i.kind == "name component"]
    others = [i for i in idents.values() if i.kind != "name component"]
    for tag, vr, value in dcmdump_values(path):
        if tag in deid.PIXEL_TAGS:
            continue
        look = others if deid.is_vocabulary(tag, vr) else others + names
        for ident in deid.find_hits(value, look):
            yield tag, ident


def sop_class_of(ds):
    for holder in (ds, getattr(ds, "file_meta", None)):
        if holder is None:
            continue
        for kw in ("SOPClassUID", "MediaStorageSOPClassUID"):
            tag = pydicom_tag(kw)
            if tag in holder._dict:
                v = deid.uid_text(deid.raw_value(holder, tag))
                if v:
                    return v
    return ""


def pydicom_tag(kw):
    from pydicom.datadict import tag_for_keyword
    return tag_for_keyword(kw)


def check_markers(out, dates):
    errs = []
    v = deid.value_at(out, (), 0x00120062)
    if v != b"YES":
        errs.append("PatientIdentityRemoved (0012,0062) is %s, not YES"
                    % ("absent" if v is None else "another value"))
    v = deid.value_at(out, (), 0x00120063)
    if not v:
        errs.append("DeidentificationMethod (0012,0063) absent or empty")
    seq = out.get("DeidentificationMethodCodeSequence")
    codes = [str(it.get("CodeValue", "")) for it in (seq or [])]
    if not codes or codes[0] != "113100":
        errs.append("DeidentificationMethodCodeSequence (0012,0064) does not"
                    " start with 113100")
    v = deid.value_at(out, (), 0x00280303)
    want = {"keep": b"UNMODIFIED", "clear": b"REMOVED",
            "shift": b"MODIFIED"}[dates]
    if v != want:
        errs.append("LongitudinalTemporalInformationModified (0028,0303) is"
                    " %s, expected %s" % ("absent" if v is None else
                                          repr(v.decode("latin-1")),
                                          want.decode()))
    v = deid.value_at(out, (), 0x00100030)
    if v not in (None, b"", deid.BIRTH_DATE_CLEARED):
        errs.append("PatientBirthDate (0010,0030) neither empty nor"
                    " 19000101")
    return errs


SC_CLASS = re.compile(r"^1\.2\.840\.10008\.5\.1\.4\.1\.1\.7(\.[1-4])?$")


def burned_in_risk(ds):
    """Why the header says an image may show burned-in text (issue 10's
    triage, written again here from the standard's attributes, not from
    the engine), or None.  Only images with Pixel Data."""
    if ds is None or "PixelData" not in ds:
        return None
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        return "Burned In Annotation YES"
    if str(ds.get("Modality", "")).strip().upper() in ("US", "IVUS", "XC",
                                                      "ES", "OT"):
        return "modality %s" % str(ds.get("Modality")).strip()
    if SC_CLASS.match(sop_class_of(ds) or ""):
        return "a Secondary Capture class"
    image_type = ds.get("ImageType") or []
    if isinstance(image_type, (str, bytes)):
        image_type = [image_type]
    image_type = [str(v).strip().upper() for v in image_type]
    if "SECONDARY" in image_type or "SCREEN SAVE" in image_type:
        return "Image Type %s" % "\\".join(image_type)
    return None


def check_pixels(out, ds_in, cleaned):
    """A cleaned image says so; an image at risk is never passed with its
    pixels untouched; any other keeps its Pixel Data."""
    errs = []
    risk = burned_in_risk(ds_in)
    if risk is not None and not cleaned:
        errs.append("an image at risk of burned-in text (%s) was passed "
                    "without cleaning" % risk)
    if cleaned:
        if deid.value_at(out, (), 0x00280301) not in (None, b"NO"):
            errs.append("pixels cleaned but BurnedInAnnotation (0028,0301) "
                        "is not NO")
        seq = out.get("DeidentificationMethodCodeSequence")
        if "113101" not in [str(it.get("CodeValue", "")) for it in
                            (seq or [])]:
            errs.append("pixels cleaned but 113101 (Clean Pixel Data) is not"
                        " in (0012,0064)")
        return errs
    if ds_in is None or "PixelData" not in ds_in:
        return errs
    a = ds_in.get((0x7FE0, 0x0010))
    b = out.get((0x7FE0, 0x0010))
    if b is None:
        errs.append("Pixel Data (7FE0,0010) missing in the output")
    elif a.value != b.value:
        errs.append("Pixel Data (7FE0,0010) changed though no pixel was "
                    "cleaned")
    return errs


# Worker state, set once per worker process (init_worker): the --explain
# rules of each profile, the "tcia" private policy, the IOD types.
RULES = {}
TCIA = None
IOD_TYPE = {}


def init_worker(rules, tcia_policy, iod_type):
    global RULES, TCIA, IOD_TYPE
    RULES, TCIA, IOD_TYPE = rules, tcia_policy, iod_type


def load_iod_types():
    """{(SOP class, tag): Type} of Resources/Reference/iod_required.tsv
    (what dciodvfy says each IOD requires at the top level)."""
    from oatest.corpus import reference
    types = {}
    with open(reference("iod_required.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cls, tag, typ, cond = line.rstrip("\n").split("\t")[:4]
            if cond:
                continue
            types[(cls, int(tag[1:5] + tag[6:10], 16))] = int(typ)
    return types


STAT_KEYS = ("kept", "cleaned", "uid-remapped", "shifted", "emptied",
             "dummy", "replaced", "removed", "added", "markers")
MARKER_TAGS = {0x00120062, 0x00120063, 0x00120064, 0x00280303}
# What PrivateTags "tcia" kept, by reason (tcia_kb.violations).
PRIVATE_KEYS = ("private k", "private h", "private o", "private na",
                "private safe", "private creators")
DUMMIES = {b"ANONYMIZED", b"19000101", b"19000101000000", b"000000",
           b"000Y"}
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN"}


def _same(ds_in, path, tag, vr, value, out_hit):
    """Is the output's element at the same place equal to the input's?
    Strings by their stripped bytes, others by pydicom's value (byte order
    may change with the transfer syntax)."""
    cur, t = out_hit
    if vr == "SQ":
        return True
    if vr in deid.STRING_VRS:
        return deid.strip_value(deid.raw_value(cur, t)) == \
            deid.strip_value(value or b"")
    try:
        a = deid.get_at(ds_in, path, tag)
        return a[0][a[1]].value == cur[t].value
    except Exception:  # noqa: BLE001 (pydicom raises anything)
        return deid.raw_value(cur, t) == value


def attribute_stats(ds_in, out, rules, sop_class, research, fails):
    """What happened to each data element of the input (every depth, the
    meta group and pixel data aside), by comparing it with the element at
    the same place (path of sequence items, tag) in the output:
      kept          the same value;
      cleaned       another value, and the profile's rule is Clean (spans
                    of identity taken out of the text);
      uid-remapped  another value of a UI element;
      shifted       another date/time where the rule shifts dates;
      emptied       an empty value where the input had one;
      dummy         a dummy (ANONYMIZED, 19000101, ...);
      replaced      any other new value (pseudonym, hash, 0...);
      removed       absent from the output (or its sequence is);
    and "added": output elements at places the input had none (the
    de-identification markers apart, a dummy the IOD needs...).  Under Research,
    an attribute the profile keeps or cleans must never become a dummy,
    nor an empty value where the IOD requires one (Type 1): `fails`."""
    st = dict.fromkeys(STAT_KEYS, 0)
    seen = set()
    for path, tag, vr, value, _cur, _el in deid.walk(ds_in,
                                                      include_meta=False):
        if tag in deid.PIXEL_TAGS:
            continue
        seen.add((path, tag))
        hit = deid.get_at(out, path, tag)
        if hit is None:
            st["removed"] += 1
            continue
        if _same(ds_in, path, tag, vr, value, hit):
            st["kept"] += 1
            continue
        new = deid.strip_value(deid.raw_value(*hit))
        rule = rules.get((tag >> 16, tag & 0xFFFF)) \
            if ((tag >> 16) & 1) == 0 else None
        action = rule[0] if rule else ""
        if not new:
            kind = "emptied"
        elif new in DUMMIES and action != "shift":
            kind = "dummy"
        elif action == "clean":
            kind = "cleaned"
        elif vr == "UI":
            kind = "uid-remapped"
        elif action == "shift":
            kind = "shifted"
        else:
            kind = "replaced"
        st[kind] += 1
        if research and action in ("keep", "clean") and vr in TEXT_VRS:
            where = "%s %s" % (deid.tag_str(tag), deid.path_str(path, tag))
            if kind == "dummy":
                fails.append("Research %ss %s, but it became a dummy"
                             % (action, where))
            elif kind == "emptied" and not path and \
                    IOD_TYPE.get((sop_class, tag)) == 1:
                fails.append("Research %ss %s (Type 1), but it was emptied"
                             % (action, where))
    for path, tag, _vr, _v, _cur, _el in deid.walk(out, include_meta=False):
        if tag not in deid.PIXEL_TAGS and (path, tag) not in seen:
            top = path[0][0] if path else tag
            st["markers" if top in MARKER_TAGS else "added"] += 1
    return st


def verify_file(job):
    """Check the outputs of one input under every profile.  Returns
    {profile: (class, [failures], [notes])}."""
    (rel, src, outputs, safe, show_values) = job
    results = {}
    stats = {}
    notes_in = []
    ds_in = None
    try:
        ds_in = deid.read(src, force=True)
        list(deid.walk(ds_in))   # fully parsable?
    except Exception as e:  # noqa: BLE001 (pydicom raises anything)
        ds_in = None
        notes_in.append("pydicom cannot read the input (%s): identifying"
                        " values taken from dcmdump" % type(e).__name__)
    if ds_in is not None:
        sop_class = sop_class_of(ds_in)
        idents_all = deid.identifying_values(ds_in)
    else:
        sop_class = ""
        idents_all = idents_from_dcmdump(src)
    expect_drop = CAPTURE_OR_REPORT.match(sop_class) is not None
    input_dcmdump = None

    for name, (status, message, out_path) in outputs.items():
        _arg, private_policy, dates, drops = PROFILES[name]
        fails, notes = [], list(notes_in)
        exists = out_path is not None and os.path.exists(out_path)
        if status is None:
            results[name] = ("failed", ["no TSV line"], notes)
            continue
        if status != STATUS_OK:
            if exists:
                fails.append("status %r but an output was written" % status)
            if status == STATUS_DROPPED:
                if not (drops and expect_drop):
                    fails.append("dropped, but SOP class %s is not a capture"
                                 " or report the profile drops"
                                 % (sop_class or "(none)"))
                results[name] = ("failed" if fails else "dropped", fails,
                                 notes)
            elif message.startswith("burned-in text:"):
                # Refused for its pixels: the reason names what was
                # missing (device, size, transfer syntax), never a value.
                if not PIXEL_REASON.search(message):
                    fails.append("pixel refusal without a reason: %r"
                                 % message[:200])
                kind = pixel_refusal_kind(message)
                if kind is None:
                    fails.append("pixel refusal of no known kind: %r"
                                 % message[:200])
                notes.append("pixels-refused[%s]: %s" % (kind,
                                                         message[:200]))
                results[name] = ("failed" if fails else "pixels-refused",
                                 fails, notes)
            elif status == STATUS_LEAK:
                if not TAG_IN_MESSAGE.search(message):
                    fails.append("leak refusal does not name a tag: %r"
                                 % message[:200])
                reason = leak_reason(message)
                real = REAL_LEAKS.get((name, rel))
                if real is None:
                    fails.append("refused for a leak that is not a real "
                                 "one (not in REAL_LEAKS): %s"
                                 % (reason or message[:200]))
                elif reason != real:
                    fails.append("refused for %s, REAL_LEAKS says %s"
                                 % (reason, real))
                notes.append("leak-refused: %s (%s)"
                             % (reason or message[:200],
                                "real leak" if real else "NOT a real leak"))
                results[name] = ("failed" if fails else "leak-refused",
                                 fails, notes)
            elif sop_class == DICOMDIR_CLASS and \
                    "DICOMDIR cannot be rewritten" in message:
                # Policy of the writer: a DICOMDIR's record offsets count
                # from the start of the file, a rewrite would break them.
                results[name] = ("failed" if fails else "dicomdir-refused",
                                 fails, notes)
            else:
                fails.append("%s: %s" % (status, message[:300]))
                results[name] = ("failed", fails, notes)
            continue

        # status ok
        if not exists:
            results[name] = ("failed", ["status ok but no output"], notes)
            continue
        if drops and expect_drop:
            fails.append("written, but SOP class %s must be dropped"
                         % sop_class)
        ok, why = dcmdump_ok(out_path)
        if not ok:
            if input_dcmdump is None:
                input_dcmdump = dcmdump_ok(src)[0]
            if input_dcmdump:
                fails.append("dcmdump cannot parse the output: %s" % why)
            else:
                notes.append("dcmdump reads neither input nor output")
        try:
            out = deid.read(out_path)
            list(deid.walk(out))
        except Exception as e:  # noqa: BLE001
            why = "%s: %s" % (type(e).__name__, str(e)[:150])
            if sop_class == "1.2.840.10008.1.3.10" and \
                    isinstance(e, KeyError):
                why += " (DICOMDIR record offsets do not point at records)"
            if ds_in is not None:
                fails.append("pydicom cannot read the output: %s" % why)
                results[name] = ("failed", fails, notes)
                continue
            # pydicom cannot read the input either: dcmdump's text instead
            notes.append("pydicom reads neither input nor output (%s):"
                         " leak check on dcmdump's text" % why)
            for tag, ident in leaks_in_dcmdump(out_path, idents_all):
                fails.append("identifying value left: %s in %s"
                             % (ident.describe(), deid.tag_str(tag)))
            results[name] = ("failed" if fails else "anonymized", fails,
                             notes)
            continue
        if (name, rel) in REAL_LEAKS:
            notes.append("real leak %s no longer refused (cleaned?)"
                         % REAL_LEAKS[(name, rel)])
        fails += check_markers(out, dates)
        fails += check_pixels(out, ds_in, "pixels cleaned" in message)
        if "pixels cleaned" in message:
            notes.append("pixels-cleaned: %s" % message)

        equipment = kept_equipment(out)

        def exempt(path, tag, value, ident, _in=ds_in, _dk=dates == "keep",
                   _eq=equipment):
            # The leak check's rules: placeholders, equipment identity.
            if is_placeholder(ident.value) or names_equipment(ident, _eq):
                return True
            # A kept date that happens to equal the birth date.
            if not _dk or ident.tag != 0x00100030 or tag == 0x00100030 \
                    or _in is None:
                return False
            return deid.value_at(_in, path, tag) == deid.strip_value(value)

        for where, tag, ident in deid.leaks(out, idents_all, exempt):
            msg = "identifying value left: %s in %s %s" % (
                ident.describe(), deid.tag_str(tag), where)
            if show_values:
                msg += " [%r]" % ident.value
            fails.append(msg)
        kb_kept = None
        if private_policy == "tcia":
            bad, kb_kept = tcia_kb.violations(out, ds_in, TCIA,
                                              dates == "shift", deid)
            fails += bad
        else:
            fails += deid.private_violations(out, private_policy, safe)
        if ds_in is not None:
            stats[name] = attribute_stats(ds_in, out, RULES.get(name, {}),
                                          sop_class, name == "Research",
                                          fails)
            for k, v in (kb_kept or {}).items():
                stats[name]["private " + k] = v
        results[name] = ("failed" if fails else "anonymized", fails, notes)
    return rel, results, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True, help="oa-anonymize")
    ap.add_argument("--corpus", help="the corpus (default: $OA_CORPUS, "
                    "else <repo>/../shared/corpus)")
    ap.add_argument("--secret", default=SECRET)
    ap.add_argument("--profiles", default=",".join(PROFILES),
                    help="comma-separated subset of %s" % ",".join(PROFILES))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--workdir", help="keep the work here (emptied first)")
    ap.add_argument("--show-values", action="store_true",
                    help="print identifying values in failures (debug)")
    ap.add_argument("--limit", type=int, default=0,
                    help="only the first N accepted files (debug)")
    args = ap.parse_args()
    corpus = require_corpus(args.corpus)
    require_programs("dcmdump")
    t0 = time.time()
    tool = os.path.abspath(args.tool)
    profiles = [p for p in args.profiles.split(",") if p]
    for p in profiles:
        if p not in PROFILES:
            ap.error("unknown profile %s" % p)

    if not profiles_or_fail(tool):
        return 1
    work = work_folder(args.workdir, "oa-anon-corpus-")

    fatal = []
    files = corpus_files(corpus)
    links = link_inputs([os.path.join(corpus, r) for r in files],
                           os.path.join(work, "in"))
    link_of = {r: os.path.relpath(links[os.path.join(corpus, r)], work)
               for r in files}

    # 1. What the reader accepts.
    run = run_tool([tool, "--check", "-q", "--tsv", "check.tsv",
                       *[link_of[r] for r in files]], args.timeout, cwd=work)
    if run.problem():
        fatal.append("--check: %s" % run.problem())
    check = read_tsv(os.path.join(work, "check.tsv"))
    accepted = [r for r in files
                if check.get(link_of[r], ("",))[0] == STATUS_OK]
    if args.limit:
        accepted = accepted[:args.limit]
    print("%d corpus files, %d accepted by the reader"
          % (len(files), len(accepted)))

    # 2. One batch per profile, in parallel.
    runs = {}
    os.makedirs(os.path.join(work, "out"), exist_ok=True)

    def anonymize(name):
        arg = PROFILES[name][0]
        if isinstance(arg, dict):
            arg = os.path.join(work, name + ".json")
            with open(arg, "w") as f:
                json.dump(PROFILES[name][0], f)
        return name, run_tool(
            [tool, "--profile", arg, "--secret", args.secret, "-q",
             "--tsv", name + ".tsv", "-o", os.path.join("out", name),
             *[link_of[r] for r in accepted]], args.timeout, cwd=work)

    with concurrent.futures.ThreadPoolExecutor(len(profiles)) as pool:
        for name, r in pool.map(anonymize, profiles):
            runs[name] = r
            if r.problem():
                fatal.append("--profile %s: %s" % (name, r.problem()))
    tsv = {name: read_tsv(os.path.join(work, name + ".tsv"))
           for name in profiles}

    # 2b. The images refused as compressed that dcmtk decodes: decoded, as
    # the plugin has Orthanc do, and anonymized again (every profile).
    decoded = decode_refused(tsv, link_of, accepted, work, args.timeout)
    dec_tsv = {}
    if decoded:
        def anonymize_decoded(name):
            arg = PROFILES[name][0]
            if isinstance(arg, dict):
                arg = os.path.join(work, name + ".json")
            return name, run_tool(
                [tool, "--profile", arg, "--secret", args.secret, "-q",
                 "--tsv", name + "-decoded.tsv", "-o",
                 os.path.join("out", name + "-decoded"),
                 *sorted(decoded.values())], args.timeout, cwd=work)
        with concurrent.futures.ThreadPoolExecutor(len(profiles)) as pool:
            for name, r in pool.map(anonymize_decoded, profiles):
                if r.problem():
                    fatal.append("--profile %s (decoded): %s"
                                 % (name, r.problem()))
        dec_tsv = {name: read_tsv(os.path.join(work, name + "-decoded.tsv"))
                   for name in profiles}
    fatal += check_issue_11_files(tool, corpus, work, args.secret,
                                  args.timeout)
    t_tool = time.time() - t0

    # 3. Verify, one input per task.
    safe = deid.load_safe_private()
    rules = {}
    for name in profiles:
        arg = PROFILES[name][0]
        rules[name] = explain(tool, arg if not isinstance(arg, dict) else
                              os.path.join(work, name + ".json"))
    tcia_policy = tcia_kb.Policy(safe) if "Research" in profiles else None
    if tcia_policy is not None:
        fatal += check_explain_research(tool, len(tcia_policy.kb),
                                        args.timeout)
    iod_type = load_iod_types()
    jobs = []
    for r in accepted:
        outputs = {}
        for name in profiles:
            row = tsv[name].get(link_of[r])
            out = os.path.join(work, "out", name,
                               os.path.basename(link_of[r]))
            outputs[name] = (row[0], row[2], out) if row else \
                (None, "", out)
        jobs.append((r, os.path.join(corpus, r), outputs, safe,
                     args.show_values))
    for r, path in sorted(decoded.items()):
        outputs = {}
        for name in profiles:
            row = dec_tsv[name].get(path)
            out = os.path.join(work, "out", name + "-decoded",
                               os.path.basename(path))
            outputs[name] = (row[0], row[2], out) if row else \
                (None, "", out)
        jobs.append((r + DECODED, path, outputs, safe, args.show_values))
    results = {}
    stats = {}
    with concurrent.futures.ProcessPoolExecutor(
            max(1, args.jobs), initializer=init_worker,
            initargs=(rules, tcia_policy, iod_type)) as pool:
        for rel, res, st in pool.map(verify_file, jobs, chunksize=4):
            results[rel] = res
            stats[rel] = st

    # 4. Report.
    passed = failed = 0
    summary = []
    for name in profiles:
        print("\n== %s" % name)
        totals = dict.fromkeys(STAT_KEYS + PRIVATE_KEYS, 0)
        n_stats = 0
        for part, rels in (("corpus", accepted),
                           ("decoded first", sorted(r + DECODED
                                                    for r in decoded))):
            counts = {"anonymized": 0, "dropped": 0, "leak-refused": 0,
                      "pixels-refused": 0, "dicomdir-refused": 0,
                      "failed": 0}
            cleaned = 0
            pixel_kinds = {}
            for rel in rels:
                cls, fails, notes = results[rel][name]
                counts[cls] += 1
                if fails:
                    failed += 1
                    print("FAIL %s" % rel)
                    for f in fails[:12]:
                        print("     %s" % f)
                    if len(fails) > 12:
                        print("     ... and %d more" % (len(fails) - 12))
                else:
                    passed += 1
                for n in notes:
                    if n.startswith("pixels-cleaned"):
                        cleaned += 1
                    m = re.match(r"pixels-refused\[(\w[\w-]*)\]", n)
                    if m:
                        pixel_kinds.setdefault(m.group(1), []).append(rel)
                    if cls in ("leak-refused", "pixels-refused") or \
                            "dcmdump" in n or \
                            n.startswith("pixels-cleaned") or \
                            n.startswith("real leak"):
                        print("note %s: %s" % (rel, n))
                st = stats.get(rel, {}).get(name)
                if st:
                    n_stats += 1
                    for k in STAT_KEYS + PRIVATE_KEYS:
                        totals[k] += st.get(k, 0)
            by_reason = {}
            for rel in rels:
                for n in results[rel][name][2]:
                    if n.startswith("leak-refused: "):
                        by_reason.setdefault(n[len("leak-refused: "):],
                                             []).append(rel)
            line = ("%s, %s: %d instances: %d anonymized (%d with pixels "
                    "cleaned) / %d dropped / %d refused (%d leak, %d "
                    "pixels) / %d failed (and %d DICOMDIR not rewritten, "
                    "by policy)"
                    % (name, part, len(rels), counts["anonymized"], cleaned,
                       counts["dropped"], counts["leak-refused"] +
                       counts["pixels-refused"], counts["leak-refused"],
                       counts["pixels-refused"], counts["failed"],
                       counts["dicomdir-refused"]))
            print(line)
            summary.append(line)
            for reason in sorted(by_reason):
                real = all(REAL_LEAKS.get((name, r)) for r in
                           by_reason[reason])
                print("  %3d refused, leak %s (%s): %s"
                      % (len(by_reason[reason]), reason,
                         "real leaks, listed in REAL_LEAKS" if real else
                         "NOT a real leak", ", ".join(by_reason[reason])))
            for kind, _rx, why in PIXEL_REFUSALS:
                if kind in pixel_kinds:
                    print("  %3d refused, pixels %s: %s"
                          % (len(pixel_kinds[kind]), kind, why))
                    summary.append("    %d refused, pixels %s"
                                   % (len(pixel_kinds[kind]), kind))
        # What is left refused once the decodable images are decoded: each
        # refusal named by its kind.
        left = {}
        for rel in accepted:
            cls, _f, notes = results[rel][name]
            if cls == "leak-refused":
                left.setdefault("leak (real, REAL_LEAKS)", []).append(rel)
            if cls != "pixels-refused":
                continue
            kind = noted_kind(notes)
            if kind == "compressed":
                if rel in decoded:
                    dcls, _df, dnotes = results[rel + DECODED][name]
                    if dcls != "pixels-refused":
                        continue  # proven once decoded
                    kind = noted_kind(dnotes)
                else:
                    row = tsv[name].get(link_of[rel])
                    m = COMPRESSED_SYNTAX.search(row[2] if row else "")
                    syntax = m.group(1) if m else "?"
                    kind = "compressed in %s (%s; the plugin has Orthanc " \
                        "decode it)" % (syntax,
                                        "dcmtk could not decode this file"
                                        if syntax in DCMTK_DECODERS else
                                        "no decoder here")
            left.setdefault("pixels " + str(kind), []).append(rel)
        line = ("%s: refused, once the images dcmtk decodes are decoded: %d"
                "%s" % (name, sum(len(v) for v in left.values()),
                        "".join("; %d %s" % (len(v), k)
                                for k, v in sorted(left.items()))))
        print(line)
        summary.append(line)
        line = ("%s: attributes of the %d anonymized instances read by "
                "pydicom: %d kept, %d cleaned, %d otherwise changed (%d UIDs"
                " remapped, %d dates shifted, %d emptied, %d dummies, %d "
                "replaced), %d removed; added: %d de-identification "
                "markers ((0012,0062-0064), (0028,0303)), %d others"
                % (name, n_stats, totals["kept"], totals["cleaned"],
                   totals["uid-remapped"] + totals["shifted"] +
                   totals["emptied"] + totals["dummy"] + totals["replaced"],
                   totals["uid-remapped"], totals["shifted"],
                   totals["emptied"], totals["dummy"], totals["replaced"],
                   totals["removed"], totals["markers"], totals["added"]))
        print(line)
        summary.append(line)
        if totals["private creators"]:
            line = ("%s: private elements kept by TCIA's knowledge base: %d"
                    " k (kept), %d h (hashed or UIDs remapped), %d o (dates "
                    "shifted), %d na (sequences descended into); %d by "
                    "Table E.3.10-1 only; %d creators of their blocks"
                    % (name, totals["private k"], totals["private h"],
                       totals["private o"], totals["private na"],
                       totals["private safe"], totals["private creators"]))
            print(line)
            summary.append(line)
    print("\n== Summary (attributes: every data element of the input at"
          " every depth, meta group and pixel data aside, against the"
          " output at the same place: kept = same value, cleaned = another"
          " value under a Clean rule, removed = absent)")
    for line in summary:
        print(line)
    for f in fatal:
        failed += 1
        print("FATAL %s" % f)
    print("\ntool %.1f s, total %.1f s; work folder %s"
          % (t_tool, time.time() - t0, work))
    if not args.workdir and not failed:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
