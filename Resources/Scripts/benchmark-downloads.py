#!/usr/bin/python3
"""Benchmark: 6 parallel downloads of one ZIP export of about 126 MB
(30 instances of 4 MiB of random pixels), read by slow clients, and
Orthanc's resident memory (VmRSS of its PID, sampled every 0.1 s).

    /usr/bin/python3 Resources/Scripts/benchmark-downloads.py PLUGIN [ORTHANC]

ORTHANC is /usr/sbin/Orthanc (1.10.1) by default, or
UnitTests/versions/orthanc-trixie / orthanc-sid.  Prints each download's
status and size, and the RSS before and at the peak.  Where downloads are
buffered (1.10.1) at most MaxParallelDownloads (2) run, the others get 503;
where they are streamed (1.12.6 and a plugin built for it) all run, in
constant memory (issue 12, defect 10; doc/orthanc-versions.md).
"""

import http.client
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "UnitTests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "UnitTests", "integration"))

import test_versions_features as tvf  # noqa: E402
from test_stream_large import Sampler, rss  # noqa: E402
from oatest.harness import Orthanc  # noqa: E402

MIB = 1 << 20
CLIENTS = 6


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    orthanc = sys.argv[2] if len(sys.argv) == 3 else "/usr/sbin/Orthanc"
    o = Orthanc(plugin=sys.argv[1], orthanc=orthanc)
    with o:
        _, sdk, used = tvf.features_line(o)
        study = tvf.upload_study(o, 30, 2048, 1024)
        export = tvf.export_zip(o, study)
        archive = export["Archives"][0]
        print("Orthanc %s, SDK %s, streamed downloads %s; archive %d bytes"
              % (o.get_json("/system")["Version"], sdk,
                 "yes" if used.get("StreamedDownloads") else "no",
                 archive["Size"]))
        pid = o.process.pid
        before = rss(pid)
        sampler = Sampler(pid)
        sampler.start()
        results = []

        def download():
            c = http.client.HTTPConnection("127.0.0.1", o.http_port,
                                           timeout=300)
            c.request("GET", archive["Path"])
            r = c.getresponse()
            n = 0
            while True:
                b = r.read(MIB)
                if not b:
                    break
                n += len(b)
                time.sleep(0.01)   # a slow client: ~100 MiB/s at most
            results.append((r.status, n))

        t0 = time.monotonic()
        threads = [threading.Thread(target=download) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sampler.stop.set()
        sampler.join()
        for status, n in sorted(results):
            print("  HTTP %d, %d bytes" % (status, n))
        print("%d downloads in %.1f s; Orthanc RSS before %.0f MiB, peak "
              "%.0f MiB" % (CLIENTS, time.monotonic() - t0, before / MIB,
                            max(sampler.samples or [0]) / MIB))


if __name__ == "__main__":
    main()
