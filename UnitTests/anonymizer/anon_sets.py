#!/usr/bin/python3
"""Related sets of the corpus and a synthetic PET: references, UIDs,
pseudonyms and what the profiles keep.

    /usr/bin/python3 anon_sets.py --tool build/oa-anonymize \
        [--corpus DIR] [--workdir DIR] [--show-values]

Sets (corpus paths; every member must be anonymized, status "ok"):

  Knee    orthanc-tests/Knee/T1 + Knee/T2 (one MR study, two series)
  RTH     orthanc-tests/HierarchicalAnonymization/RTH: CT + RT structure set
  CRPR    orthanc-tests/HierarchicalAnonymization/2019-03-28: CR + GSPS
  SRMR    orthanc-tests/HierarchicalAnonymization/StructuredReports: SR + MR,
          with FILE.json {"Base": "Full", "SecondaryCapturesAndReports":
          "keep"} (under Full the SR must be dropped: checked too)

Knee, RTH and CRPR run under Default and Full.  For every run:

  * UIDs: every UI value of every input, at every depth, is found at the
    same place in the output (unless the profile removes the attribute or
    a sequence around it, per `--explain`):
      - class and scheme attributes (SOP Class, Referenced SOP Class,
        Coding Scheme UID, Context UID, Mapping Resource UID, ...) and
        every 1.2.840.10008.* value: unchanged;
      - a reference to an object of the set (its SOP Instance, Series,
        Study or Frame of Reference UID): the new UID that object got;
      - any other UID: "2.25." + decimal of the first 128 bits of
        HMAC-SHA256(secret, original) -- the contract, checked exactly;
    every UI value of the output is a class UID, well known, or a valid
    2.25 UID; no original instance UID of the set appears anywhere in an
    output; one original UID always gets one new UID;
  * SOPInstanceUID == MediaStorageSOPInstanceUID and SOPClassUID ==
    MediaStorageSOPClassUID in every output;
  * the same input twice (same secret, other folder) gives byte-identical
    outputs; another secret gives other UIDs (each the HMAC of that
    secret);
  * one patient, one pseudonym: PatientID and PatientName are the same in
    every output of a set, not the original, different between the sets'
    patients, and the same when a part of the set (Knee/T2) is anonymized
    alone; with --new-name/--new-id they are exactly those.

PET retention (synthetic PET written with pydicom): under Default, patient
weight, size, sex and age, the Radiopharmaceutical Information Sequence
(dose, start time and date-time, half-life, radionuclide code), series and
acquisition dates and times, decay correction, units, corrected image and
the Philips SUV factors (7053,xx00)/(7053,xx09) of "Philips PET Private
Group" survive unchanged; an unsafe private block goes; birth date is
19000101; coded content keeps its Context UID / Mapping Resource UID /
Coding Scheme UID and a 1.2.840.10008.* value stays.  Under Full each
attribute follows the Basic Profile (X absent, Z empty, D a non-empty
dummy; combined codes as the engine resolves them: Z/D, X/D, X/Z/D -> D,
X/Z -> Z), attributes outside Table E.1-1 are kept, private blocks go.

Prints PASS/FAIL per check and "N passed, M failed"; exit 1 on a failure.
Messages name tags and files, never values (unless --show-values).
"""
import argparse
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from oatest import corpus as oacorpus, deid, dicomgen as gen  # noqa: E402
from oatest.harness import Checks  # noqa: E402
from oatest.tool import (STATUS_DROPPED, STATUS_OK, explain,  # noqa: E402
                         link_inputs, read_tsv, require_programs, run_tool,
                         profiles_or_fail, work_folder)


SECRET = "oa-sets-proof-secret"
SECRET2 = "another-site-secret"
NEW_NAME = "Research^Subject Seven"
NEW_ID = "SUBJ-0007"

HA = "orthanc-tests/HierarchicalAnonymization/"
SR_PROFILE = {"Base": "Full", "SecondaryCapturesAndReports": "keep"}

# Top-level attributes whose values name the objects of a set.
OBJECT_TAGS = (0x00080018, 0x0020000E, 0x0020000D, 0x00200052)

# The message of the HMAC, before the UID: "" by the contract (doc/
# anonymization.md, UIDs).  Detected from the first output (see
# formula_check) so that, if the engine differs, one check says so and the
# others still test consistency.
CONTRACT_UID_PREFIX = ""
UID_PREFIX = CONTRACT_UID_PREFIX
KNOWN_PREFIXES = ("", "uid:", "uid")

UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]{0,38})$")
REMOVING = ("remove", "empty")


class Run:
    """One oa-anonymize batch over a set: inputs, outputs, statuses."""

    def __init__(self, tool, work, name, profile, inputs, secret,
                 extra=()):
        self.name = name
        self.profile = profile
        self.secret = secret
        self.inputs = inputs
        self.folder = os.path.join(work, name)
        shutil.rmtree(self.folder, ignore_errors=True)
        links = link_inputs(inputs, os.path.join(self.folder, "in"))
        tsv = os.path.join(self.folder, "run.tsv")
        out = os.path.join(self.folder, "out")
        self.run = run_tool([tool, "--profile", profile, "--secret",
                                secret, "-q", "--tsv", tsv, *extra,
                                *[links[p] for p in inputs], "-o", out],
                               timeout=300)
        rows = read_tsv(tsv)
        self.status = {}
        self.output = {}
        for p in inputs:
            st, _defects, msg = rows.get(links[p], (None, 0, "no TSV line"))
            self.status[p] = (st, msg)
            o = os.path.join(out, os.path.basename(links[p]))
            self.output[p] = o if os.path.exists(o) else None
        self._in = {}
        self._out = {}

    def problems(self):
        errs = []
        if self.run.problem():
            errs.append("tool: %s" % self.run.problem())
        return errs

    def ok(self, p):
        return self.status[p][0] == STATUS_OK and self.output[p]

    def ds_in(self, p):
        if p not in self._in:
            self._in[p] = deid.read(p, force=True)
        return self._in[p]

    def ds_out(self, p):
        if p not in self._out:
            self._out[p] = deid.read(self.output[p])
        return self._out[p]


def status_errors(run, expect=None):
    """Every input ok (or the status given in `expect`)."""
    errs = run.problems()
    for p in run.inputs:
        want = (expect or {}).get(p, STATUS_OK)
        st, msg = run.status[p]
        if st != want:
            errs.append("%s: status %r (%s), expected %r"
                        % (rel(p), st, msg[:200], want))
        elif want == STATUS_OK and not run.output[p]:
            errs.append("%s: ok but no output" % rel(p))
        elif want != STATUS_OK and run.output[p]:
            errs.append("%s: %s but an output exists" % (rel(p), want))
    return errs


CORPUS = ""


def rel(p):
    return os.path.relpath(p, CORPUS) if CORPUS and p.startswith(CORPUS) \
        else os.path.basename(p)


def removed_by_profile(rules, path, tag):
    """True if the explain table removes/empties the attribute or one of
    the sequences around it, or if a top-level one has a combined code
    with X (X/Z, X/D, X/Z/D): the instance's IOD then decides, and X is
    taken where the IOD does not require the attribute."""
    for depth, t in enumerate([t for t, _i in path] + [tag]):
        r = rules.get((t >> 16, t & 0xFFFF))
        if r and r[0] in REMOVING:
            return True
        if r and depth == 0 and "(X/" in r[1]:
            return True
        if (t >> 16) % 2 == 1:
            return True   # private: the private policy decides
    return False


def uid_checks(run, rules, show):
    """The UID proof of one run (see the module docstring)."""
    errs, notes = [], []
    oks = [p for p in run.inputs if run.ok(p)]
    if not oks:
        return ["no output to check"], notes
    # 1. the objects of the set and their new UIDs, as output
    new_of = {}
    for p in oks:
        di, do = run.ds_in(p), run.ds_out(p)
        for t in OBJECT_TAGS:
            a, b = deid.value_at(di, (), t), deid.value_at(do, (), t)
            if a:
                new_of.setdefault(deid.uid_text(a), set()).add(
                    deid.uid_text(b) if b is not None else None)
    for orig, news in new_of.items():
        if len(news) != 1:
            errs.append("one original UID got %d different new values"
                        % len(news))
    objects = {o: next(iter(n)) for o, n in new_of.items()}

    originals = {}
    for p in oks:
        di, do = run.ds_in(p), run.ds_out(p)
        where = rel(p)
        # 2. every UI value of the input, at its place in the output
        for path, tag, uids in deid.ui_values(di):
            if tag >> 16 == 0x0002 and tag != 0x00020003:
                continue  # the writer's own meta (TS, implementation)
            kw = deid.path_str(path, tag)
            out_v = deid.value_at(do, path, tag)
            if out_v is None:
                if not removed_by_profile(rules, path, tag):
                    errs.append("%s: %s %s lost (the profile does not"
                                " remove it)" % (where, deid.tag_str(tag), kw))
                continue
            outs = [u for u in deid.uid_text(out_v).split("\\")]
            if len(outs) != len(uids) and uids:
                errs.append("%s: %s %s has %d values, input %d"
                            % (where, deid.tag_str(tag), kw, len(outs),
                               len(uids)))
                continue
            for u, o in zip(uids, outs):
                if tag in deid.CLASS_UID_TAGS or deid.is_well_known(u):
                    if o != u:
                        errs.append("%s: %s %s is a class/scheme or"
                                    " 1.2.840.10008 UID and was changed"
                                    % (where, deid.tag_str(tag), kw))
                    continue
                originals[u] = tag
                if u in objects:
                    if o != objects[u]:
                        errs.append("%s: %s %s points at an object of the"
                                    " set but not at its new UID"
                                    % (where, deid.tag_str(tag), kw))
                want = deid.hmac_uid(run.secret, u, UID_PREFIX)
                if o != want:
                    msg = "%s: %s %s is not 2.25.+HMAC(secret, %soriginal)" \
                        % (where, deid.tag_str(tag), kw,
                           repr(UID_PREFIX) + " + " if UID_PREFIX else "")
                    if show:
                        msg += " [%s -> %s]" % (u, o)
                    errs.append(msg)
        # 3. every UI value of the output is a class, well known or 2.25
        for path, tag, uids in deid.ui_values(do):
            if tag >> 16 == 0x0002 and tag != 0x00020003:
                continue
            for o in uids:
                if deid.is_well_known(o) or tag in deid.CLASS_UID_TAGS:
                    continue
                if not UID_RE.match(o):
                    errs.append("%s: %s %s is not a valid 2.25 UID"
                                % (where, deid.tag_str(tag),
                                   deid.path_str(path, tag)))
        # 4. meta == dataset
        for a, b, what in ((0x00020003, 0x00080018, "SOPInstanceUID"),
                           (0x00020002, 0x00080016, "SOPClassUID")):
            va, vb = deid.value_at(do, (), a), deid.value_at(do, (), b)
            if va is None or va != vb:
                errs.append("%s: MediaStorage%s != %s" % (where, what, what))
    # 5. no original instance UID anywhere in an output (a value that
    # some input also holds in a class attribute is a class UID: an
    # implementation's UID used as Instance Creator UID, say)
    for p in oks:
        for path, tag, uids in deid.ui_values(run.ds_in(p)):
            if tag in deid.CLASS_UID_TAGS:
                for u in uids:
                    originals.pop(u, None)
    idents = {u.encode(): deid.Ident(u.encode(), t, "original UID")
              for u, t in originals.items()}
    for p in oks:
        for where, tag, ident in deid.leaks(run.ds_out(p), idents):
            errs.append("%s: original UID (from %s) left in %s %s"
                        % (rel(p), deid.tag_str(ident.tag), deid.tag_str(tag),
                           where))
    notes.append("%d outputs, %d distinct original UIDs checked"
                 % (len(oks), len(originals)))
    return errs, notes


def formula_check(run):
    """Which HMAC message gives the output's SOP Instance UID: sets
    UID_PREFIX; errors if it is not the contract's."""
    global UID_PREFIX
    for p in run.inputs:
        if not run.ok(p):
            continue
        u = deid.value_at(run.ds_in(p), (), 0x00080018)
        o = deid.value_at(run.ds_out(p), (), 0x00080018)
        if not u or not o:
            continue
        u, o = deid.uid_text(u), deid.uid_text(o)
        for prefix in KNOWN_PREFIXES:
            if deid.hmac_uid(run.secret, u, prefix) == o:
                UID_PREFIX = prefix
                if prefix != CONTRACT_UID_PREFIX:
                    return ["new UIDs are 2.25 + HMAC-SHA256(secret, %r +"
                            " UID), the contract (doc/anonymization.md,"
                            " UIDs) says HMAC-SHA256(secret, UID); the"
                            " other checks go on with the engine's formula"
                            % prefix]
                return []
        return ["new SOP Instance UID is not 2.25 + HMAC-SHA256(secret, UID)"
                " with any known message prefix %r" % (KNOWN_PREFIXES,)]
    return ["no output to check"]


def coded_content_checks(run):
    """Coding Scheme / Context / Mapping Resource UIDs kept wherever they
    stand (at any depth)."""
    errs, seen = [], 0
    for p in run.inputs:
        if not run.ok(p):
            continue
        for path, tag, uids in deid.ui_values(run.ds_in(p)):
            if tag not in (0x0008010C, 0x00080117, 0x00080118, 0x0008010D):
                continue
            seen += 1
            out_v = deid.value_at(run.ds_out(p), path, tag)
            if out_v is None:
                errs.append("%s: %s %s removed" % (rel(p), deid.tag_str(tag),
                                                   deid.path_str(path, tag)))
            elif deid.uid_text(out_v).split("\\") != uids:
                errs.append("%s: %s %s changed" % (rel(p), deid.tag_str(tag),
                                                   deid.path_str(path, tag)))
    return errs, seen


def pseudonym_of(run):
    """{(PatientID, PatientName) of the outputs} and errors."""
    errs, seen = [], set()
    for p in run.inputs:
        if not run.ok(p):
            continue
        di, do = run.ds_in(p), run.ds_out(p)
        pid, pname = deid.value_at(do, (), 0x00100020), \
            deid.value_at(do, (), 0x00100010)
        if not pid or not pname:
            errs.append("%s: PatientID or PatientName empty or absent"
                        % rel(p))
        if pid is not None and pid == deid.value_at(di, (), 0x00100020):
            errs.append("%s: PatientID is the original" % rel(p))
        if pname is not None and pname == deid.value_at(di, (), 0x00100010):
            errs.append("%s: PatientName is the original" % rel(p))
        seen.add((pid, pname))
    return seen, errs


def identical_outputs(a, b):
    errs = []
    for p in a.inputs:
        oa_, ob = a.output[p], b.output[p]
        if (oa_ is None) != (ob is None):
            errs.append("%s: written in one run only" % rel(p))
        elif oa_ is not None and not filecmp.cmp(oa_, ob, shallow=False):
            errs.append("%s: outputs differ byte-wise" % rel(p))
    return errs


def other_secret_checks(a, b):
    """b: same inputs, another secret: every remapped UID differs and is
    b's secret's HMAC."""
    errs = []
    n = 0
    for p in a.inputs:
        if not (a.ok(p) and b.ok(p)):
            continue
        di = a.ds_in(p)
        for t in OBJECT_TAGS:
            u = deid.value_at(di, (), t)
            if not u:
                continue
            u = deid.uid_text(u)
            va = deid.uid_text(deid.value_at(a.ds_out(p), (), t) or b"")
            vb = deid.uid_text(deid.value_at(b.ds_out(p), (), t) or b"")
            n += 1
            if va == vb:
                errs.append("%s: %s identical under two secrets"
                            % (rel(p), deid.tag_str(t)))
            elif vb != deid.hmac_uid(b.secret, u, UID_PREFIX):
                errs.append("%s: %s is not the HMAC of the other secret"
                            % (rel(p), deid.tag_str(t)))
    if n == 0:
        errs.append("nothing compared")
    return errs


def basic_codes():
    with open(oacorpus.reference("ps315_table_e1_1.json")) as f:
        rows = json.load(f)
    return {r["tag"].strip("()").upper(): r["basic"] for r in rows}


# How the engine resolves the Basic Profile's combined codes
# (anonymizer.h, oa_ps315_code_action).
COMBINED = {"Z/D": "D", "X/Z": "Z", "X/D": "D", "X/Z/D": "D", "X/Z/U*": "U",
            "X": "X", "Z": "Z", "D": "D", "K": "K", "C": "C", "U": "U"}


def elem_value(ds, kw):
    """Stripped text of ds.kw, or None if absent."""
    from pydicom.datadict import tag_for_keyword
    t = tag_for_keyword(kw)
    if t is None or t not in ds._dict:
        return None
    return deid.strip_value(deid.raw_value(ds, t)).decode("latin-1")


def norm(v):
    if isinstance(v, list):
        return "\\".join(v)
    return v


def pet_checks(checks, tool, work, show):
    src = os.path.join(work, "pet", "PET.dcm")
    os.makedirs(os.path.dirname(src), exist_ok=True)
    gen.make_pet(src)
    codes = basic_codes()
    from pydicom.datadict import tag_for_keyword
    for profile in ("Default", "Full"):
        run = Run(tool, work, "pet-" + profile, profile, [src], SECRET)
        errs = status_errors(run)
        if errs:
            checks.result("PET %s: anonymized" % profile, errs)
            continue
        out = run.ds_out(src)
        rad = out.get("RadiopharmaceuticalInformationSequence")
        rad_item = rad[0] if rad else None
        code_item = None
        if rad_item is not None and rad_item.get("RadionuclideCodeSequence"):
            code_item = rad_item.RadionuclideCodeSequence[0]
        errs = []

        def expect(holder, kw, orig, action, where):
            if holder is None:
                errs.append("%s: container removed" % where)
                return
            v = elem_value(holder, kw)
            o = norm(orig)
            if action in ("K", "C_keep"):
                if v != o:
                    errs.append("%s %s: %s, expected unchanged" % (
                        where, kw, "absent" if v is None else "changed"
                        + (" [%r]" % v if show else "")))
            elif action == "X":
                if v is not None:
                    errs.append("%s %s: present, Basic Profile says X"
                                % (where, kw))
            elif action == "Z":
                if v is None or v != "":
                    errs.append("%s %s: %s, Basic Profile says Z (empty)"
                                % (where, kw, "absent" if v is None
                                   else "not empty"))
            elif action == "D":
                if not v or v == o:
                    errs.append("%s %s: %s, Basic Profile says D (dummy)"
                                % (where, kw, "absent or empty" if not v
                                   else "original value kept"))

        def full_action(kw):
            t = tag_for_keyword(kw)
            code = codes.get("%04X,%04X" % (t >> 16, t & 0xFFFF))
            return COMBINED.get(code, "K") if code else "K"

        if profile == "Default":
            for kw in gen.PET_RETAINED:
                expect(out, kw, gen.PET[kw][0], "K", "")
            for kw in ("RadionuclideTotalDose", "RadionuclideHalfLife",
                       "RadiopharmaceuticalStartTime",
                       "RadiopharmaceuticalStartDateTime",
                       "RadionuclidePositronFraction",
                       "Radiopharmaceutical"):
                expect(rad_item, kw, gen.RADIO[kw][0], "K",
                       "RadiopharmaceuticalInformationSequence[0]")
            for kw in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning"):
                expect(code_item, kw, gen.RADIONUCLIDE_CODE[kw][0], "K",
                       "RadionuclideCodeSequence[0]")
            # Philips SUV factors, with their creator
            if deid.value_at(out, (), 0x70530010) != gen.PHILIPS.encode():
                errs.append("(7053,0010) Philips creator not kept")
            if deid.value_at(out, (), 0x70531000) != gen.SUV_FACTOR.encode():
                errs.append("(7053,1000) SUV factor not kept unchanged")
            if deid.value_at(out, (), 0x70531009) != \
                    gen.ACTIVITY_FACTOR.encode():
                errs.append("(7053,1009) activity concentration factor not"
                            " kept unchanged")
            for t in (0x00290010, 0x00291010):
                if deid.value_at(out, (), t) is not None:
                    errs.append("%s unsafe private kept" % deid.tag_str(t))
            if deid.value_at(out, (), 0x00100030) != b"19000101":
                errs.append("PatientBirthDate is not 19000101")
            if deid.value_at(out, (), 0x00280303) != b"UNMODIFIED":
                errs.append("(0028,0303) is not UNMODIFIED")
        else:
            for kw in gen.PET_RETAINED:
                expect(out, kw, gen.PET[kw][0], full_action(kw), "")
            for kw in gen.RADIO:
                expect(rad_item, kw, gen.RADIO[kw][0], full_action(kw),
                       "RadiopharmaceuticalInformationSequence[0]")
            for kw in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning"):
                expect(code_item, kw, gen.RADIONUCLIDE_CODE[kw][0],
                       full_action(kw), "RadionuclideCodeSequence[0]")
            for path, tag, _c, _ic in deid.private_elements(out):
                errs.append("private %s kept under Full" % deid.tag_str(tag))
            if deid.value_at(out, (), 0x00280303) != b"REMOVED":
                errs.append("(0028,0303) is not REMOVED")
        # both: coded content and well-known values
        if code_item is None:
            errs.append("RadionuclideCodeSequence item removed")
        else:
            for kw in ("ContextUID", "MappingResourceUID"):
                expect(code_item, kw, gen.RADIONUCLIDE_CODE[kw][0], "K",
                       "RadionuclideCodeSequence[0]")
        scheme = out.get("CodingSchemeIdentificationSequence")
        if not scheme or elem_value(scheme[0], "CodingSchemeUID") != \
                gen.CODING_SCHEME_UID:
            errs.append("CodingSchemeIdentificationSequence[0]."
                        "CodingSchemeUID not kept")
        if elem_value(out, "SynchronizationFrameOfReferenceUID") != \
                gen.SYNC_FOR:
            errs.append("a 1.2.840.10008 value (Synchronization Frame of"
                        " Reference UID) was changed")
        for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                   "FrameOfReferenceUID"):
            v = elem_value(out, kw)
            if v != deid.hmac_uid(SECRET, getattr(run.ds_in(src), kw),
                                UID_PREFIX):
                errs.append("%s is not the contract's HMAC UID" % kw)
        # identifying values
        idents = deid.identifying_values(run.ds_in(src))
        for where, tag, ident in deid.leaks(out, idents):
            errs.append("identifying value left: %s in %s %s"
                        % (ident.describe(), deid.tag_str(tag), where))
        checks.result("PET %s: %s" % (profile,
                                      "SUV attributes, Philips factors and"
                                      " coded content kept"
                                      if profile == "Default" else
                                      "Basic Profile applied"), errs)


def dsrdump_ok(path):
    p = subprocess.run(["dsrdump", "-q", path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    first = next((l for l in err.splitlines() if l[:2] in ("E:", "F:")), "")
    return p.returncode == 0, first[:200]


def sr_checks(checks, tool, work, show):
    folder = os.path.join(work, "sr-synthetic")
    os.makedirs(folder, exist_ok=True)
    ct, sr = gen.make_sr_pair(folder)
    ok, why = dsrdump_ok(sr)
    if not ok:
        checks.result("synthetic SR is valid input", [why])
        return
    for label, options in (
            ("Full keeping SR (Content Sequence D)", {}),
            ("Full keeping SR, StructuredContent clean",
             {"StructuredContent": "clean"})):
        prof = dict(SR_PROFILE)
        prof.update(options)
        pfile = os.path.join(folder, "profile-%d.json" % len(options))
        with open(pfile, "w") as f:
            json.dump(prof, f)
        run = Run(tool, work, "sr-" + os.path.basename(pfile), pfile,
                  [ct, sr], SECRET)
        errs = status_errors(run)
        if not run.ok(ct) or not run.ok(sr):
            checks.result("synthetic SR, %s" % label, errs)
            continue
        out_sr = run.ds_out(sr)
        new_ct = deid.uid_text(deid.value_at(run.ds_out(ct), (), 0x00080018))
        new_study = deid.uid_text(deid.value_at(run.ds_out(ct), (),
                                                0x0020000D))
        ok, why = dsrdump_ok(run.output[sr])
        if not ok:
            errs.append("dcmtk's dsrdump cannot read the output SR: %s" % why)
        content = out_sr.get("ContentSequence") or []
        if len(content) != 3:
            errs.append("ContentSequence has %d items, expected 3"
                        % len(content))
        else:
            for i, want in ((0, "IMAGE"), (1, "TEXT"), (2, "UIDREF")):
                vt = elem_value(content[i], "ValueType")
                if vt != want:
                    errs.append("ContentSequence[%d].ValueType is not %s"
                                " (an SR reader cannot parse the tree)"
                                % (i, want))
            refs = content[0].get("ReferencedSOPSequence") or []
            if not refs or elem_value(refs[0], "ReferencedSOPInstanceUID") \
                    != new_ct:
                errs.append("the IMAGE item does not reference the CT's new"
                            " SOP Instance UID")
            if elem_value(content[2], "UID") != new_study:
                errs.append("the UIDREF item is not the new Study Instance"
                            " UID")
        ev = out_sr.get("CurrentRequestedProcedureEvidenceSequence") or []
        try:
            evref = ev[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
            if elem_value(evref, "ReferencedSOPInstanceUID") != new_ct:
                errs.append("the evidence sequence does not reference the"
                            " CT's new UID")
        except (IndexError, AttributeError):
            errs.append("CurrentRequestedProcedureEvidenceSequence lost")
        idents = deid.identifying_values(run.ds_in(sr))
        for where, tag, ident in deid.leaks(out_sr, idents):
            errs.append("identifying value left: %s in %s %s"
                        % (ident.describe(), deid.tag_str(tag), where))
        checks.result("synthetic SR, %s: a valid SR whose content still"
                      " references the CT and the study" % label, errs)


# ------------------------------------------------------------------ #

def set_files(corpus):
    def g(sub):
        d = os.path.join(corpus, sub)
        return sorted(os.path.join(d, n) for n in os.listdir(d)
                      if os.path.isfile(os.path.join(d, n)))
    return {
        "Knee": g("orthanc-tests/Knee/T1") + g("orthanc-tests/Knee/T2"),
        "RTH": [os.path.join(corpus, HA + "RTH/CT01.dcm"),
                os.path.join(corpus, HA + "RTH/RT.dcm")],
        "CRPR": [os.path.join(corpus, HA + "2019-03-28/CR000000.dcm"),
                 os.path.join(corpus, HA + "2019-03-28/PR000000.dcm")],
        "SRMR": [os.path.join(corpus, HA + "StructuredReports/IM0"),
                 os.path.join(corpus, HA + "StructuredReports/IM631")],
    }


def reference_count(run):
    """How many references between members of the set the inputs hold
    (so that a set without any is noticed)."""
    objs = set()
    for p in run.inputs:
        di = run.ds_in(p)
        for t in OBJECT_TAGS:
            v = deid.value_at(di, (), t)
            if v:
                objs.add(deid.uid_text(v))
    n = 0
    for p in run.inputs:
        for path, tag, uids in deid.ui_values(run.ds_in(p)):
            if path and any(u in objs for u in uids):
                n += 1
    return n


def main():
    global CORPUS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--corpus", help="the corpus (default: $OA_CORPUS, "
                    "else <repo>/../shared/corpus)")
    ap.add_argument("--workdir")
    ap.add_argument("--show-values", action="store_true")
    args = ap.parse_args()
    CORPUS = oacorpus.require(args.corpus)
    require_programs("dsrdump")
    tool = os.path.abspath(args.tool)
    show = args.show_values
    checks = Checks()
    if not profiles_or_fail(tool):
        return 1
    work = work_folder(args.workdir, "oa-anon-sets-")
    sr_json = os.path.join(work, "full-keep-sr.json")
    with open(sr_json, "w") as f:
        json.dump(SR_PROFILE, f)
    rules = {"Default": explain(tool, "Default"),
             "Full": explain(tool, "Full"),
             sr_json: explain(tool, sr_json)}

    sets = set_files(CORPUS)
    plan = [("Knee", "Full"), ("Knee", "Default"), ("RTH", "Default"),
            ("RTH", "Full"), ("CRPR", "Default"), ("CRPR", "Full"),
            ("SRMR", sr_json)]
    pseudonyms = {}
    first_runs = {}
    for set_name, profile in plan:
        pname = "SR-keeping Full" if profile == sr_json else profile
        label = "%s/%s" % (set_name, pname)
        run = Run(tool, work, "%s-%s" % (set_name, os.path.basename(profile)),
                  profile, sets[set_name], SECRET)
        first_runs[(set_name, profile)] = run
        errs = status_errors(run)
        checks.result("%s: every instance anonymized" % label, errs)
        if errs and not any(run.ok(p) for p in run.inputs):
            continue
        if set_name == "Knee" and profile == "Full":
            checks.result("UID formula: \"2.25.\" + decimal of the first 128"
                          " bits of HMAC-SHA256(secret, original UID)",
                          formula_check(run))
        n_refs = reference_count(run)
        errs, notes = uid_checks(run, rules[profile], show)
        notes = ["%d references inside the set" % n_refs] + notes
        if n_refs == 0 and set_name != "Knee":
            errs.append("the set's inputs hold no reference between its"
                        " members (wrong files?)")
        checks.result("%s: UIDs remapped by the keyed HMAC, references"
                      " follow, class/scheme UIDs kept, meta == dataset"
                      % label, errs, notes)
        errs, seen = coded_content_checks(run)
        checks.result("%s: coded content keeps its scheme/context UIDs"
                      " (%d found)" % (label, seen), errs)
        seen, errs = pseudonym_of(run)
        if len(seen) != 1:
            errs.append("%d different (PatientID, PatientName) pairs for"
                        " one patient" % len(seen))
        pseudonyms[(set_name, profile)] = seen
        checks.result("%s: one patient, one pseudonym" % label, errs)
        # determinism
        again = Run(tool, work, "%s-%s-again" % (set_name,
                                                 os.path.basename(profile)),
                    profile, sets[set_name], SECRET)
        checks.result("%s: same input twice gives byte-identical outputs"
                      % label, status_errors(again) +
                      identical_outputs(run, again))
        if profile != sr_json:
            other = Run(tool, work, "%s-%s-secret2"
                        % (set_name, os.path.basename(profile)), profile,
                        sets[set_name], SECRET2)
            checks.result("%s: another secret gives other UIDs" % label,
                          status_errors(other) +
                          other_secret_checks(run, other))

    # SR dropped by Full
    srmr = sets["SRMR"]
    run = Run(tool, work, "SRMR-Full", "Full", srmr, SECRET)
    checks.result("SRMR/Full: the SR is dropped, the MR anonymized",
                  status_errors(run, {srmr[0]: STATUS_DROPPED}))

    # pseudonyms differ between patients, same across runs
    errs = []
    by_set = {}
    for (s, p), seen in pseudonyms.items():
        if len(seen) == 1:
            by_set.setdefault(s, set()).update(seen)
    for s, seen in by_set.items():
        if len(seen) != 1:
            errs.append("%s: the pseudonym depends on the profile" % s)
    flat = [next(iter(v)) for v in by_set.values() if len(v) == 1]
    pids = [f[0] for f in flat]
    if len(set(pids)) != len(pids):
        errs.append("two different patients got the same PatientID")
    checks.result("pseudonyms: same patient same pseudonym under every"
                  " profile, different patients different ones", errs)

    knee = sets["Knee"]
    t2 = [p for p in knee if "/T2/" in p]
    full_knee = first_runs[("Knee", "Full")]
    part = Run(tool, work, "Knee-T2-alone", "Full", t2, SECRET)
    errs = status_errors(part)
    if not errs:
        for p in t2:
            for t in (0x00100020, 0x00100010, 0x0020000D, 0x0020000E,
                      0x00080018, 0x00200052):
                if deid.value_at(part.ds_out(p), (), t) != \
                        deid.value_at(full_knee.ds_out(p), (), t):
                    errs.append("%s: %s differs when Knee/T2 is anonymized"
                                " alone" % (rel(p), deid.tag_str(t)))
    checks.result("Knee/T2 anonymized alone gets the same pseudonym and"
                  " UIDs as within its study", errs)

    t1 = [p for p in knee if "/T1/" in p]
    named = Run(tool, work, "Knee-T1-named", "Full", t1, SECRET,
                extra=["--new-name", NEW_NAME, "--new-id", NEW_ID])
    errs = status_errors(named)
    if not errs:
        for p in t1:
            do = named.ds_out(p)
            if deid.value_at(do, (), 0x00100010) != NEW_NAME.encode():
                errs.append("%s: PatientName is not --new-name" % rel(p))
            if deid.value_at(do, (), 0x00100020) != NEW_ID.encode():
                errs.append("%s: PatientID is not --new-id" % rel(p))
            if deid.value_at(do, (), 0x00080018) != \
                    deid.value_at(full_knee.ds_out(p), (), 0x00080018):
                errs.append("%s: SOPInstanceUID depends on --new-name/"
                            "--new-id" % rel(p))
    checks.result("--new-name/--new-id are applied (UIDs unchanged)", errs)

    sr_checks(checks, tool, work, show)
    pet_checks(checks, tool, work, show)

    print("%d passed, %d failed" % (checks.passed, checks.failed))
    if not args.workdir and checks.failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    elif checks.failed:
        print("work folder kept: %s" % work)
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
