#!/usr/bin/python3
"""Integration test: a 3 GiB ZIP archive downloaded as a streamed answer
(Orthanc 1.12.6 and later) while Orthanc's memory stays flat.

    /usr/bin/python3 test_stream_large.py --plugin build-trixie/lib...so \
        --orthanc UnitTests/versions/orthanc-trixie [--gib 3]

A real ZIP export of a small study is made first; its archive file is then
replaced, at the same path, by a valid ZIP64 archive of one stored entry of
3 GiB of zeros, written sparse (a hole: no 3 GiB of disk, seconds to make).
The download is read in 1 MiB pieces and hashed while Orthanc's resident
memory (VmRSS of its PID) is sampled every 0.1 s.  Checks: the whole
archive arrives (length and SHA-256 of the file on disk), Python's zipfile
reads its directory, and Orthanc's peak RSS during the download stays within
64 MiB of its RSS before it.  Prints the RSS before, peak and after, and the
rate.  Exits 77 (skipped by ctest) on an Orthanc without streamed answers.
"""

import hashlib
import http.client
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
import zipfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402
import test_versions_features as tvf  # noqa: E402

MIB = 1 << 20
RSS_MARGIN = 64 * MIB


def sparse_zip64(path, size):
    """A valid ZIP64 archive at `path`: one stored entry "zeros.bin" of
    `size` zero bytes, left as a hole in the file.  Returns the file's
    length."""
    name = b"zeros.bin"
    crc = 0
    block = bytes(64 * MIB)
    left = size
    while left > 0:
        n = min(left, len(block))
        crc = zlib.crc32(block[:n] if n < len(block) else block, crc)
        left -= n
    crc &= 0xFFFFFFFF
    # local header: sizes in the ZIP64 extra field
    extra = struct.pack("<HHQQ", 0x0001, 16, size, size)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc,
                        0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra))
    with open(path, "wb") as f:
        f.write(local + name + extra)
        data_end = f.tell() + size
        f.seek(data_end)
        cd_offset = data_end
        cextra = struct.pack("<HHQQQ", 0x0001, 24, size, size, 0)
        central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0,
                              0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name),
                              len(cextra), 0, 0, 0, 0, 0xFFFFFFFF)
        f.write(central + name + cextra)
        cd_size = f.tell() - cd_offset
        eocd64_offset = f.tell()
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1,
                            cd_size, cd_offset))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                            0xFFFFFFFF, 0xFFFFFFFF, 0))
        return f.tell()


def rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(rss(self.pid))
            time.sleep(0.1)


def main():
    def extra(ap):
        ap.add_argument("--gib", type=float, default=3.0,
                        help="archive size in GiB (3)")

    args = standard_arguments(__doc__, extra=extra)
    gib = args.gib
    size = int(gib * (1 << 30))
    checks = Checks()
    work = tempfile.mkdtemp(prefix="oa-stream-")
    archives = os.path.join(work, "archives")
    os.makedirs(archives, mode=0o700)
    o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                verbose=args.verbose,
                config={"Anonymizer": {"ArchiveFolder": archives}})
    ok = False
    with o:
        version = o.get_json("/system")["Version"]
        _, sdk, used = tvf.features_line(o)
        print("Orthanc %s, plugin built with SDK %s" % (version, sdk))
        if not used.get("StreamedDownloads"):
            print("SKIP: no streamed answers here (Orthanc and SDK >= 1.12.6 "
                  "needed); test_versions_features.py covers this Orthanc")
            shutil.rmtree(work, ignore_errors=True)
            return 77
        study = tvf.upload_study(o, 2, 64, 64)
        export = tvf.export_zip(o, study)
        archive = export["Archives"][0]
        files = [f for f in os.listdir(archives) if f.endswith(".zip")]
        path = None
        with checks.check("one archive on disk after the export"):
            assert len(files) == 1, files
            path = os.path.join(archives, files[0])

        with checks.check("the archive replaced by a %.1f GiB sparse ZIP64 "
                          "(zipfile reads it)" % gib):
            t0 = time.monotonic()
            tmp = path + ".big"
            length = sparse_zip64(tmp, size)
            os.replace(tmp, path)
            with zipfile.ZipFile(path) as z:
                info = z.infolist()
                assert len(info) == 1 and info[0].file_size == size, info
            used_disk = os.stat(path).st_blocks * 512
            print("     %d bytes, %d on disk, made in %.1f s"
                  % (length, used_disk, time.monotonic() - t0))
        expected = hashlib.sha256()
        with open(path, "rb") as f:
            while True:
                b = f.read(8 * MIB)
                if not b:
                    break
                expected.update(b)

        pid = o.process.pid
        before = rss(pid)
        sampler = Sampler(pid)
        with checks.check("the %.1f GiB download arrives whole, streamed"
                          % gib):
            conn = http.client.HTTPConnection("127.0.0.1", o.http_port,
                                              timeout=120)
            sampler.start()
            t0 = time.monotonic()
            conn.request("GET", archive["Path"])
            r = conn.getresponse()
            assert r.status == 200, "HTTP %d" % r.status
            assert r.getheader("Content-Length") is None, "not streamed"
            got = hashlib.sha256()
            n = 0
            while True:
                b = r.read(MIB)
                if not b:
                    break
                got.update(b)
                n += len(b)
            elapsed = time.monotonic() - t0
            conn.close()
            sampler.stop.set()
            sampler.join()
            assert n == length, "%d bytes of %d" % (n, length)
            assert got.hexdigest() == expected.hexdigest(), "SHA-256 differs"
            print("     %d bytes in %.1f s (%.0f MiB/s)"
                  % (n, elapsed, n / MIB / max(elapsed, 1e-6)))
        after = rss(pid)
        peak = max(sampler.samples or [0])
        with checks.check("Orthanc's RSS stays flat: peak within %d MiB of "
                          "before" % (RSS_MARGIN // MIB)):
            print("     Orthanc RSS: before %.1f MiB, peak %.1f MiB, after "
                  "%.1f MiB (%d samples)"
                  % (before / MIB, peak / MIB, after / MIB,
                     len(sampler.samples)))
            assert before > 0 and peak > 0, "no RSS read"
            assert peak - before <= RSS_MARGIN, \
                "grew by %.1f MiB" % ((peak - before) / MIB)
        ok = True
    checks.stopped_cleanly(o)
    if ok and checks.failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
