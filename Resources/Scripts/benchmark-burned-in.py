#!/usr/bin/python3
"""Benchmark of burned-in text cleaning (issue 10) through oa-anonymize.

    /usr/bin/python3 Resources/Scripts/benchmark-burned-in.py [--build DIR]
        [--rounds N] [--keep-scratch]

Prints in one run:
  (a) the cost of the pixel triage on a study without text: 300 CT
      instances (512x512 16-bit, generate-ct-study.py) anonymized with
      Full against {"Base": "Full", "BurnedInText": "keep"} (no triage),
      rounds alternating, the median ratio of CPU time (user + sys of the
      child; wall time too, noisier on a shared machine) (goal: within
      2 %); also Full
      --no-ocr (the triage without the OCR engine's start-up) and the
      time of one instance (that start-up, once per process);
  (b) frames per second on one core (taskset -c 0) of
        rule   a 100-frame 640x480 RGB US cine covered by a profile's
               PixelRules rectangle (blank, write; the proof OCR reads
               first, middle, last frame), and a cine whose image moves
               with --no-ocr (the rule alone: with the proof OCR on, such
               a cine is refused today, said in one line);
        ocr    20 single-frame 640x480 RGB US images that no rule knows
               (Tesseract finds the words, the proof OCRs again);
        cine   the 100-frame cine with no rule (OCR of a few frames,
               union blanked on every frame);
      each against a plain --copy of the same files.

Needs a built oa-anonymize (cmake --build build --target oa-anonymize),
pydicom, numpy, PIL, the DejaVu font (oatest/textimages.py) and Tesseract's
English data.  Never prints DICOM values.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "UnitTests", "lib"))

import numpy as np  # noqa: E402
from oatest import textimages as ti  # noqa: E402

BENCH_MANUFACTURER = "Bench Sonics"
SECRET = "benchmark-burned-in"
LAST_CPU = [0.0]      # CPU seconds (user + sys) of the last run()


def run(cmd, single_core=False, may_refuse=False):
    """Wall time of one command (its output discarded); fails loudly,
    except, may_refuse, when oa-anonymize refused some files (status
    1)."""
    if single_core and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0 and not (may_refuse and p.returncode == 1):
        sys.exit("benchmark-burned-in: %s failed (%d): %s" % (
            os.path.basename(cmd[0] if cmd[0] != "taskset" else cmd[3]),
            p.returncode, p.stderr.decode("utf-8", "replace")[-400:]))
    return dt


def anonymize(tool, profile, files, out, single_core=False, copy=False,
              extra=(), may_refuse=False):
    shutil.rmtree(out, ignore_errors=True)
    if copy:
        cmd = [tool, "--copy"] + files + ["-o", out]
    else:
        cmd = [tool, "--profile", profile, "--secret", SECRET, "-q"] + \
            list(extra) + files + ["-o", out]
    return run(cmd, single_core, may_refuse)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def us_files(folder, frames, count, moving=False):
    """`count` RGB 640x480 US files of `frames` frames showing the
    identity text (different pixels per file); a cine repeats its first
    frame, or, `moving`, draws a dark band moving 5 px per frame."""
    paths = []
    for k in range(count):
        ds = ti.base_dataset(ti.US_MULTIFRAME if frames > 1 else ti.US_IMAGE,
                             manufacturer=BENCH_MANUFACTURER)
        ti._set_layout(ds, 480, 640, 3, "RGB", 8, 8, False, frames=frames,
                       planar=0)
        base = ti.rgb_image(480, 640, seed=k + 1)
        if frames > 1:
            stack = np.repeat(base[np.newaxis], frames, axis=0)
            for f in range(frames if moving else 0):
                stack[f, 200:300, (f * 5) % 600:(f * 5) % 600 + 40, :] = 90
            data = stack.tobytes()
        else:
            data = base.tobytes()
        ds.PixelData = data
        path = os.path.join(folder, "US%03d_%d%s.dcm" % (
            k, frames, "m" if moving else ""))
        ds.save_as(path, write_like_original=False)
        paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--keep-scratch", action="store_true")
    args = ap.parse_args()
    tool = os.path.join(args.build, "oa-anonymize")
    if not os.access(tool, os.X_OK):
        sys.exit("benchmark-burned-in: no %s (cmake --build %s --target "
                 "oa-anonymize)" % (tool, args.build))
    if not ti.font_available():
        sys.exit("benchmark-burned-in: no %s (apt-get install "
                 "fonts-dejavu-core)" % ti.FONT)
    scratch = tempfile.mkdtemp(prefix="oa-bench-burned-in-")
    try:
        ct = os.path.join(scratch, "ct")
        subprocess.run([sys.executable, os.path.join(
            HERE, "generate-ct-study.py"), ct, "300"], check=True,
            stdout=subprocess.DEVNULL)
        ct_files = sorted(os.path.join(ct, n) for n in os.listdir(ct))
        keep = write_json(os.path.join(scratch, "keep.json"),
                          {"Base": "Full", "BurnedInText": "keep"})
        rule = write_json(os.path.join(scratch, "rule.json"), {
            "Base": "Full", "PixelRules": [{
                "Manufacturer": BENCH_MANUFACTURER, "Label": "bench band",
                "Rectangles": [[0, 0, 640, 160]]}]})
        out = os.path.join(scratch, "out")

        print("oa-anonymize: %s" % tool)
        print("machine: %d cores, load %s" % (
            os.cpu_count() or 0,
            " ".join("%.2f" % x for x in os.getloadavg())))
        print()
        # (a) triage cost on a CT study without text
        anonymize(tool, "Full", ct_files, out)          # warm the cache
        variants = [("keep", keep, []), ("Full", "Full", []),
                    ("Full --no-ocr", "Full", ["--no-ocr"])]
        times = dict((name, []) for name, _, _ in variants)
        cpu = dict((name, []) for name, _, _ in variants)
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for name, prof, extra in order:
                times[name].append(anonymize(tool, prof, ct_files, out,
                                             extra=extra))
                cpu[name].append(LAST_CPU[0])

        def ratio(a, b, what):
            return statistics.median(x / y for x, y in zip(what[a],
                                                           what[b]))
        one = ct_files[:1]
        start = {}
        for name, prof in (("Full", "Full"), ("keep", keep)):
            cs = []
            for _ in range(5):
                anonymize(tool, prof, one, out)
                cs.append(LAST_CPU[0])
            start[name] = statistics.median(cs)
        print("(a) 300 CT instances 512x512 16-bit, no text, %d rounds "
              "alternating (medians)" % args.rounds)
        print("    %-36s %9s %9s" % ("", "wall s", "CPU s"))
        labels = {"keep": "BurnedInText keep (no triage)",
                  "Full": "Full (triage + OCR engine start-up)",
                  "Full --no-ocr": "Full --no-ocr (triage only)"}
        for name, _, _ in variants:
            print("    %-36s %9.3f %9.3f" % (labels[name],
                                             statistics.median(times[name]),
                                             statistics.median(cpu[name])))
        r_full = ratio("Full", "keep", cpu)
        r_no = ratio("Full --no-ocr", "keep", cpu)
        print("    CPU ratio Full / keep:          %.4f (%+.2f %%; goal "
              "within 2 %%: %s)" % (r_full, (r_full - 1) * 100,
                                    "met" if r_full <= 1.02 else "NOT met"))
        print("    CPU ratio Full --no-ocr / keep: %.4f (%+.2f %%: the "
              "per-instance triage; %s)" % (r_no, (r_no - 1) * 100,
                                          "met" if r_no <= 1.02
                                          else "NOT met"))
        print("    wall ratio Full / keep %.4f, Full --no-ocr / keep %.4f"
              % (ratio("Full", "keep", times),
                 ratio("Full --no-ocr", "keep", times)))
        print("    one instance, CPU: Full %.3f s, keep %.3f s (the OCR "
              "engine's start-up, once per process)" % (start["Full"],
                                                        start["keep"]))
        print()

        # (b) frames per second on one core
        us = os.path.join(scratch, "us")
        os.makedirs(us)
        cine = us_files(us, 100, 1)
        moving = us_files(us, 100, 1, moving=True)
        singles = us_files(us, 1, 20)
        cases = [
            ("rule, cine", rule, cine, 100, []),
            ("rule, moving cine, no OCR", rule, moving, 100, ["--no-ocr"]),
            ("OCR, single frames", "Full", singles, 20, []),
            ("OCR, cine", "Full", cine, 100, []),
        ]
        rows = []
        refusals = []
        for label, prof, files, frames, extra in cases:
            anonymize(tool, prof, files, out, single_core=True, extra=extra,
                      may_refuse=True)
            n_out = len(os.listdir(out))
            if n_out == 0:
                sys.exit("benchmark-burned-in: %s: every file refused"
                         % label)
            if n_out != len(files):
                refusals.append("%s: %d of %d files refused (the rest "
                                "timed with them)" % (
                                    label, len(files) - n_out, len(files)))
            t_a, t_c = [], []
            for _ in range(3):
                t_a.append(anonymize(tool, prof, files, out,
                                     single_core=True, extra=extra,
                                     may_refuse=True))
                t_c.append(anonymize(tool, None, files, out,
                                     single_core=True, copy=True))
            a, c = statistics.median(t_a), statistics.median(t_c)
            rows.append((label, frames, a, frames / a, frames / c))
        # a cine whose image moves, with the proof OCR on: said, not timed
        p = subprocess.run([tool, "--profile", rule, "--secret", SECRET,
                            "-q"] + moving + ["-o", out],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        moving_note = "written" if p.returncode == 0 else \
            "refused: " + p.stderr.decode("utf-8", "replace").strip() \
            .split(": ", 2)[-1][:120]
        print("(b) 640x480 RGB US frames, one core (taskset -c 0), median "
              "of 3")
        print("    %-26s %7s %9s %10s %10s" % ("case", "frames", "seconds",
                                              "frames/s", "copy fr/s"))
        for label, frames, a, fps, cfps in rows:
            print("    %-26s %7d %9.3f %10.1f %10.1f" % (label, frames, a,
                                                          fps, cfps))
        print("    rule, moving cine, proof OCR on: %s" % moving_note)
        for line in refusals:
            print("    %s" % line)
        ocr_fps = rows[2][3]
        print("    OCR goal (>= 5 frames/s, single frames): %s" % (
            "met" if ocr_fps >= 5 else "NOT met"))
    finally:
        if args.keep_scratch:
            print("scratch kept: %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
