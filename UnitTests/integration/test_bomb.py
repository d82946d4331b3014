#!/usr/bin/python3
"""Integration test (issue 12, defects 3 and 4): a deflate bomb and the
archive folder, through a real Orthanc.

  * a 1 MB deflated upload that inflates to 1 GiB is refused per instance
    with an error naming "MaxInflateRatio", while several copies of it
    are anonymized at once by 8 workers; Orthanc's resident memory is
    sampled during the job and printed (peak VmRSS, and VmHWM), and must
    stay below a bound (the job's memory budget, JobMemoryLimit, plus
    Orthanc's own);
  * Orthanc still answers afterwards, and a normal study of the same job
    is anonymized;
  * the default archive folder is under StorageDirectory, mode 0700; an
    archive swapped for a symbolic link to another file is not served;
  * Orthanc refuses to start with a world-writable ArchiveFolder, saying
    so in its log.

    /usr/bin/python3 test_bomb.py --plugin build/libOrthancAnonymizer.so

Prints one line per check, and the figures measured.
"""

import json
import os
import stat
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicombytes as db, dicomgen as gen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402

DEFLATED = "1.2.840.10008.1.2.1.99"
SC = "1.2.840.10008.5.1.4.1.1.7"
BOMB_SIZE = 1 << 30        # inflated
BOMBS = 4                  # instances of the bomb study
RSS_BOUND_MB = 1024        # Orthanc's peak VmRSS while anonymizing


_ZEROS = []


def zeros_stream():
    """BOMB_SIZE zeros, raw-deflated once (a stream of its own: it refers
    to nothing before it, so it may follow any flushed deflate data)."""
    if not _ZEROS:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        zeros = b"\0" * (1 << 20)
        out = [c.compress(zeros) for _ in range(BOMB_SIZE >> 20)]
        out.append(c.flush())
        _ZEROS.append(b"".join(out))
    return _ZEROS[0]


def bomb(study_uid, series_uid, sop_uid):
    """A Part 10 file of ~1 MB whose deflated dataset inflates to 1 GiB:
    identifying attributes, then a private OB value of zeros."""
    head = b"".join([
        db.s(0x00080016, b"UI", SC),
        db.s(0x00080018, b"UI", sop_uid),
        db.s(0x00080060, b"CS", "OT"),
        db.s(0x00100010, b"PN", "Bomb^Test"),
        db.s(0x00100020, b"LO", "BOMB-1"),
        db.s(0x0020000D, b"UI", study_uid),
        db.s(0x0020000E, b"UI", series_uid),
        db.s(0x00090010, b"LO", "BOMB"),
        db.el(0x00091000, b"OB", b"", length=BOMB_SIZE),
    ])
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_SYNC_FLUSH)   # not final
    return db.part10(DEFLATED, first + zeros_stream(), sop_class=SC,
                     sop_inst=sop_uid)


def rss_kb(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    args = standard_arguments(__doc__)
    checks = Checks()
    files = [bomb("1.2.826.0.1.3680043.10.1.77", "1.2.826.0.1.3680043.10.1.77.1",
                  "1.2.826.0.1.3680043.10.1.77.1.%d" % i)
             for i in range(1, BOMBS + 1)]
    print("bomb: %d bytes deflated, %d inflated" % (len(files[0]), BOMB_SIZE))
    orthanc = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      verbose=args.verbose,
                      config={"Anonymizer": {"Threads": 8}})
    with orthanc:
        pid = orthanc.process.pid
        base = rss_kb(pid)
        for data in files:
            harness.upload(orthanc, data)
        after_upload = rss_kb(pid)
        sid = harness.study_id(orthanc, orthanc.get_json("/instances")[0])
        normal = gen.Study(gen.PATIENTS[0], 1, date="20240211")
        ids = harness.upload_many(orthanc, [gen.make_instance(normal, 1, i, 2)
                                            for i in (1, 2)])
        nsid = harness.study_id(orthanc, ids[0])
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_kb(pid))
                except OSError:
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.monotonic()
        status, answer, body = harness.post_json(
            orthanc, "/anonymizer/anonymize",
            json.dumps({"Resources": [{"Level": "Study", "ID": sid},
                                      {"Level": "Study", "ID": nsid}],
                        "Asynchronous": False}).encode())
        seconds = time.monotonic() - t0
        done.set()
        sampler.join()
        hwm = rss_kb(pid, "VmHWM")
        print("Orthanc RSS: %d MB at start, %d MB after the uploads, peak "
              "%d MB while anonymizing %d bombs with 8 workers (VmHWM %d MB), "
              "%.1f s" % (base >> 10, after_upload >> 10, peak[0] >> 10,
                          BOMBS, hwm >> 10, seconds))

        with checks.check("the job ends (some instances anonymized)"):
            assert status == 200, "HTTP %d %s" % (status, body[:300])
        with checks.check("every bomb refused, naming MaxInflateRatio"):
            failed = (answer or {}).get("Failed") or []
            assert len(failed) == BOMBS, "%d failed" % len(failed)
            for f in failed:
                assert "MaxInflateRatio" in f.get("Error", ""), f
        with checks.check("the normal study of the same job is anonymized"):
            st = [s for s in answer["Studies"] if s["Original"] == nsid][0]
            assert st["Instances"] == 2 and st["Anonymized"], st
        with checks.check("Orthanc's peak RSS stays below %d MB"
                          % RSS_BOUND_MB):
            assert peak[0] >> 10 < RSS_BOUND_MB, "%d MB" % (peak[0] >> 10)
        with checks.check("Orthanc still answers"):
            assert orthanc.get_json("/anonymizer/info")["Version"]

        # the archive folder (defect 4)
        folder = os.path.join(orthanc.folder, "storage", "anonymizer-archives")
        with checks.check("default archive folder under StorageDirectory, "
                          "0700"):
            st = os.lstat(folder)
            assert stat.S_ISDIR(st.st_mode), "not a folder"
            assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
        status, answer, body = harness.post_json(
            orthanc, "/anonymizer/export",
            json.dumps({"Resources": [nsid], "Target": {"Type": "zip"},
                        "Asynchronous": False}).encode())
        with checks.check("a ZIP export lands there"):
            assert status == 200, "HTTP %d %s" % (status, body[:200])
            path = answer["Archives"][0]["Path"]
            code, _, zipped = orthanc.request("GET", path)
            assert code == 200 and zipped[:4] == b"PK\3\4", code
        with checks.check("an archive swapped for a symlink is not served"):
            name = [n for n in os.listdir(folder) if n.endswith(".zip")][0]
            secret = os.path.join(orthanc.folder, "root-only.txt")
            with open(secret, "w") as f:
                f.write("root only")
            os.chmod(secret, 0o600)
            os.unlink(os.path.join(folder, name))
            os.symlink(secret, os.path.join(folder, name))
            code, _, got = orthanc.request("GET", path)
            assert code != 200 and b"root only" not in got, (code, got[:100])
    checks.stopped_cleanly(orthanc)

    # a world-writable ArchiveFolder stops Orthanc at start-up
    open_dir = tempfile.mkdtemp(prefix="oa-open-")
    try:
        os.chmod(open_dir, 0o777)
        bad = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                      config={"Anonymizer": {"ArchiveFolder": open_dir}},
                      start_timeout=20)
        with checks.check("a world-writable ArchiveFolder stops Orthanc, "
                          "saying so"):
            log = bad.start_refused()
            assert log is not None, "Orthanc started"
            assert "writable by every user" in log, log[-500:]
    finally:
        os.rmdir(open_dir)
    sys.exit(checks.finish())


if __name__ == "__main__":
    main()
