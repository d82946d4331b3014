#!/usr/bin/python3
"""Integration test: two Orthanc servers on one PostgreSQL index.

    /usr/bin/python3 test_cluster.py --plugin build/libOrthancAnonymizer.so \
        [--orthanc /usr/sbin/Orthanc] [--concurrent 40] [--interrupt 300]

Starts a local PostgreSQL 15 (oatest/pg.py: as the postgres user, on
loopback, in a temporary folder) and two Orthanc servers, A and B, with
Debian's PostgreSQL index plugin ("Lock": false, one database) and one
shared StorageDirectory, both with our plugin and no configured secret,
started at the same moment on a database that has never seen the plugin.
Then:

* the two servers agree on one site secret: the same study anonymized on
  A, deleted, then anonymized on B, gives the same pseudonym, Orthanc IDs
  and UIDs (study, series, every instance);
* another study of the same patient anonymized on B gets A's pseudonym;
* a report made on A is listed on B, the same as JSON and as CSV, and the
  anonymized study's metadata 1025 (the report's ID, its only link back)
  names a report listed on B, and it has no attachment 1025;
* a profile saved on A is listed and used on B (its Replace is in the
  result), and deleted on B is gone on A;
* concurrent anonymizations on both servers (a study on A, another on B,
  and one more study on both at once) all succeed, each anonymized study
  holds exactly its original's instances (distinct UIDs, none lost, none
  duplicated), Orthanc holds no other study or patient, and both servers'
  GET /anonymizer/jobs and /anonymizer/reports list every job once, as
  Success from the right server;
* a server killed (SIGKILL) in the middle of a long job (INTERRUPT
  instances of 512x512, "Threads": 1, compressed storage on A) leaves its job "Running" in the cluster's job
  list only until "StaleJobSeconds" (5 here) have passed without an
  update; then B lists it "Interrupted", with its progress and server.

Never prints DICOM values: only statuses, counts and IDs.
"""

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicomgen as gen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501
from oatest.pg import PG_INDEX_PLUGIN, PostgresCluster  # noqa: E402

STALE_SECONDS = 5        # "Anonymizer": {"StaleJobSeconds"} in this test
DEFAULT_STALE = 60       # the plugin's default


def plugin_has_option(plugin, option):
    """True when the .so knows a configuration option (its name is among
    its strings): lets the test run on a plugin without StaleJobSeconds."""
    with open(plugin, "rb") as f:
        return option.encode() in f.read()


def server(args, name, pg, storage, threads=2, stale=None, compress=False):
    section = {"Threads": threads}
    if stale is not None:
        section["StaleJobSeconds"] = stale
    return Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                   verbose=args.verbose,
                   extra_plugins=[PG_INDEX_PLUGIN],
                   config={"Name": name, "StorageDirectory": storage,
                           "StorageCompression": compress,
                           "PostgreSQL": pg.orthanc_section(),
                           "Anonymizer": section})


def start_together(servers):
    """Start every server at the same moment (one thread each)."""
    barrier = threading.Barrier(len(servers))
    errors = []

    def run(o):
        try:
            barrier.wait()
            o.start()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(o,)) for o in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def anonymize(o, resources, timeout=180, **extra):
    """Synchronous anonymization; returns the job's content."""
    body = {"Resources": resources, "Asynchronous": False}
    body.update(extra)
    status, answer, raw = harness.post_json(o, "/anonymizer/anonymize", body,
                                       timeout=timeout)
    assert status == 200, "POST /anonymizer/anonymize: HTTP %d %s" % (
        status, harness.details(raw))
    return answer


def submit(o, resources, **extra):
    body = {"Resources": resources, "Asynchronous": True}
    body.update(extra)
    status, answer, raw = harness.post_json(o, "/anonymizer/anonymize", body)
    assert status == 200, "POST /anonymizer/anonymize: HTTP %d %s" % (
        status, harness.details(raw))
    return answer["ID"]


def fingerprint(o, sid):
    """What must be equal when two servers anonymize one study (kept in
    memory, compared, never printed): the Orthanc ID, patient and study
    tags, and every series and instance UID."""
    study = o.get_json("/studies/%s" % sid)
    instances = o.get_json("/studies/%s/instances" % sid)
    series = o.get_json("/studies/%s/series" % sid)
    return {
        "ID": sid,
        "PatientName": study["PatientMainDicomTags"].get("PatientName"),
        "PatientID": study["PatientMainDicomTags"].get("PatientID"),
        "StudyInstanceUID": study["MainDicomTags"].get("StudyInstanceUID"),
        "Series": sorted(s["MainDicomTags"].get("SeriesInstanceUID")
                         for s in series),
        "Instances": sorted(i["MainDicomTags"].get("SOPInstanceUID")
                            for i in instances),
        "InstanceIDs": sorted(i["ID"] for i in instances),
    }


def differing(a, b):
    """Names of the fields that differ (never the values)."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def upload_study(o, study, count, rows=64):
    ids = [harness.upload(o, gen.make_instance(study, 1, i, count, rows=rows,
                                         cols=rows))["ID"]
           for i in range(1, count + 1)]
    return harness.study_id(o, ids[0])


def job_records(o):
    return {r["ID"]: r for r in o.get_json("/anonymizer/jobs")}


def main():
    def extra(ap):
        ap.add_argument("--concurrent", type=int, default=40,
                        help="instances per study of the concurrent check")
        ap.add_argument("--interrupt", type=int, default=300,
                        help="instances of the job killed in its middle")
        ap.add_argument("--default-stale", action="store_true",
                        help="leave StaleJobSeconds unset: check the "
                             "default (%d s; the test then lasts about "
                             "90 s)" % DEFAULT_STALE)
    args = standard_arguments(__doc__, extra)
    for path in (PG_INDEX_PLUGIN, "/usr/lib/postgresql/15/bin/postgres"):
        if not os.path.exists(path):
            sys.exit("missing %s: apt-get install postgresql "
                     "orthanc-postgresql" % path)
    stale = STALE_SECONDS \
        if plugin_has_option(args.plugin, "StaleJobSeconds") else None
    if args.default_stale:
        stale = None
    elif stale is None:
        print("note: the plugin has no \"StaleJobSeconds\": the interrupted "
              "check waits the default %d s" % DEFAULT_STALE)

    checks = Checks()
    started = time.monotonic()
    storage = tempfile.mkdtemp(prefix="oa-cluster-storage-")
    # Orthanc 1.10.1's FilesystemStorage fails a store when two threads (or
    # servers) create the same subfolder at once: make the 256 first-level
    # ones beforehand (see benchmark-plugin.py).
    for i in range(256):
        os.mkdir(os.path.join(storage, "%02x" % i))
    failed = True
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(PostgresCluster())
        # A: one worker thread and compressed storage, so that its long
        # job lasts several seconds (the record is refreshed every 2 s).
        # B reads A's compressed files: Orthanc records the compression
        # of every attachment.
        a = server(args, "oa-cluster-a", pg, storage, threads=1, stale=stale,
                   compress=True)
        b = server(args, "oa-cluster-b", pg, storage, threads=2, stale=stale)
        stack.callback(b.stop)
        stack.callback(a.stop)
        try:
            run(args, checks, pg, a, b, stale)
            failed = checks.failed > 0
        except BaseException:
            a.failed = b.failed = True
            raise
        finally:
            if failed:
                a.failed = b.failed = True
    if failed:
        sys.stderr.write("shared storage kept: %s\n" % storage)
    else:
        shutil.rmtree(storage, ignore_errors=True)
    print("total %.1f s" % (time.monotonic() - started))
    sys.exit(checks.finish())


def run(args, checks, pg, a, b, stale):
    t0 = time.monotonic()
    with checks.check("PostgreSQL, then servers A and B started at the same "
                      "moment on one index and one storage, no secret"):
        start_together([a, b])
        for o in (a, b):
            info = o.get_json("/anonymizer/info")
            if args.expect_version:
                assert info["Version"] == args.expect_version, "version"
            assert o.get_json("/plugins/postgresql-index")["ID"] == \
                "postgresql-index", "PostgreSQL index plugin not loaded"
        print("  servers up in %.1f s" % (time.monotonic() - t0))
        # The plugin keeps its state in PostgreSQL, not per server.
        tables = pg.psql("SELECT table_name FROM information_schema.tables"
                         " WHERE table_schema = 'orthanc_anonymizer'"
                         " ORDER BY 1").split()
        assert tables, "no table in schema orthanc_anonymizer"

    # -- one secret, one pseudonym, the same UIDs -------------------------
    p1 = gen.PATIENTS[0]
    s1 = gen.Study(p1, 1, date="20230105")
    s1_id = upload_study(a, s1, 6)
    fa = fb = None
    report_a = None
    with checks.check("same study anonymized on A, deleted, then on B: the "
                      "same pseudonym, Orthanc IDs and UIDs (one secret)"):
        ca = anonymize(a, [{"Level": "Study", "ID": s1_id}])
        report_a = ca["Report"]
        anon = ca["Studies"][0]["Anonymized"]
        assert anon and ca["Studies"][0]["Instances"] == 6, "A stored %s" % (
            ca["Studies"][0]["Instances"])
        fa = fingerprint(b, anon)          # read through B: shared index
        status, _, _ = a.request("DELETE", "/studies/%s" % anon)
        assert status == 200, "DELETE: HTTP %d" % status
        cb = anonymize(b, [{"Level": "Study", "ID": s1_id}])
        assert cb["Report"] != report_a, "one report for two jobs"
        fb = fingerprint(a, cb["Studies"][0]["Anonymized"])
        assert fa["PatientName"] and fa["PatientName"].startswith("ANON^"), \
            "not a generated pseudonym"
        assert len(set(fa["Instances"])) == 6, "instance UIDs"
        diff = differing(fa, fb)
        assert not diff, "A and B differ in %s" % ", ".join(diff)
        assert s1.uids().isdisjoint(set(fa["Instances"]) | set(fa["Series"])
                                    | {fa["StudyInstanceUID"]}), \
            "an original UID was kept"

    with checks.check("another study of the same patient anonymized on B "
                      "gets A's pseudonym"):
        s2 = gen.Study(p1, 2, date="20230607")
        s2_id = upload_study(b, s2, 3)
        c2 = anonymize(b, [{"Level": "Study", "ID": s2_id}])
        f2 = fingerprint(b, c2["Studies"][0]["Anonymized"])
        assert fa is not None, "no result of A"
        assert (f2["PatientName"], f2["PatientID"]) == \
            (fa["PatientName"], fa["PatientID"]), "other pseudonym"
        assert f2["StudyInstanceUID"] != fa["StudyInstanceUID"], \
            "two studies, one UID"

    # -- reports -----------------------------------------------------------
    with checks.check("a report made on A is listed on B and reads the same "
                      "(JSON, CSV); the study's metadata 1025 names a "
                      "listed report, no attachment 1025"):
        assert report_a, "no report"
        listed = [r["ID"] for r in b.get_json("/anonymizer/reports")]
        assert report_a in listed, "A's report not listed on B"
        assert listed == [r["ID"] for r in a.get_json("/anonymizer/reports")], \
            "A and B list different reports"
        ja = a.get_json("/anonymizer/reports/%s" % report_a)
        jb = b.get_json("/anonymizer/reports/%s" % report_a)
        assert ja == jb, "JSON differs"
        sa, ha, csv_a = a.request("GET", "/anonymizer/reports/%s/csv"
                                  % report_a)
        sb, hb, csv_b = b.request("GET", "/anonymizer/reports/%s/csv"
                                  % report_a)
        assert sa == sb == 200, "CSV: HTTP %d / %d" % (sa, sb)
        assert hb.get("content-type", "").startswith("text/csv"), \
            "CSV content type"
        assert csv_a == csv_b and csv_b.count(b"\n") >= 2, "CSV differs"
        anon = fb["ID"]
        st, _, body = b.request("GET", "/studies/%s/metadata/1025" % anon)
        assert st == 200 and body.decode().strip() in listed, \
            "metadata 1025 on B: HTTP %d, no listed report" % st
        st, _, body = b.request("GET", "/studies/%s/attachments/1025/data"
                                % anon)
        assert st == 404, "attachment 1025 on B: HTTP %d" % st

    # -- profiles ----------------------------------------------------------
    with checks.check("a profile saved on A is listed and used on B, and "
                      "deleted on B is gone on A"):
        profile = {"Base": "Default", "Dates": "shift",
                   "Replace": {"0008,0080": "OA Cluster Site"}}
        st, saved, raw = a.request("PUT", "/anonymizer/profiles/cluster-prof",
                                   body=profile)
        assert st == 200, "PUT on A: HTTP %d %s" % (st, harness.details(raw))
        assert "cluster-prof" in b.get_json("/anonymizer/profiles"), \
            "not listed on B"
        assert b.get_json("/anonymizer/profiles/cluster-prof") == \
            a.get_json("/anonymizer/profiles/cluster-prof"), "differs on B"
        assert "cluster-prof" in b.get_json("/anonymizer/info")["Profiles"]
        s3 = gen.Study(p1, 3, date="20240101")
        s3_id = upload_study(a, s3, 2)
        c3 = anonymize(b, [{"Level": "Study", "ID": s3_id}],
                       Profile="cluster-prof")
        assert c3["Profile"] == "cluster-prof", "job's profile"
        iid = b.get_json("/studies/%s/instances"
                         % c3["Studies"][0]["Anonymized"])[0]["ID"]
        st, _, value = b.request("GET", "/instances/%s/content/0008-0080"
                                 % iid)
        assert st == 200 and value.rstrip(b"\0 ") == b"OA Cluster Site", \
            "the profile's Replace is not in the result"
        st, _, _ = b.request("DELETE", "/anonymizer/profiles/cluster-prof")
        assert st == 200, "DELETE on B: HTTP %d" % st
        st, _, _ = a.request("GET", "/anonymizer/profiles/cluster-prof")
        assert st == 404, "GET on A after delete: HTTP %d" % st
        assert "cluster-prof" not in a.get_json("/anonymizer/profiles")

    # -- concurrent anonymizations -----------------------------------------
    n = args.concurrent
    with checks.check("concurrent anonymizations on A and B (one study each, "
                      "one study on both at once): nothing lost or "
                      "duplicated, every job listed once on both servers"):
        reports_before = len(a.get_json("/anonymizer/reports"))
        st_a = gen.Study(gen.PATIENTS[1], 1, date="20210303")
        st_b = gen.Study(gen.PATIENTS[2], 1, date="20210404")
        st_ab = gen.Study(gen.PATIENTS[3], 1, date="20210505")
        # 256x256 slices: jobs long enough to overlap.
        ids = {"a": upload_study(a, st_a, n, rows=256),
               "b": upload_study(b, st_b, n, rows=256),
               "ab": upload_study(b, st_ab, n, rows=256)}
        studies_before = harness.studies(a)
        patients_before = set(a.get_json("/patients"))
        jobs = [(a, submit(a, [{"Level": "Study", "ID": ids["a"]}]), "a"),
                (b, submit(b, [{"Level": "Study", "ID": ids["b"]}]), "b"),
                (a, submit(a, [{"Level": "Study", "ID": ids["ab"]}]), "ab"),
                (b, submit(b, [{"Level": "Study", "ID": ids["ab"]}]), "ab")]
        t_submitted = time.monotonic()
        results = []
        for o, job, key in jobs:
            j = harness.wait_job(o, job, timeout=180, poll=0.2)
            assert j["State"] == "Success", "job on %s: %s" % (
                o.configuration()["Name"], j["State"])
            c = j["Content"]
            assert c["InstancesDone"] == c["InstancesTotal"] == n, \
                "instances done %s of %s" % (c["InstancesDone"],
                                             c["InstancesTotal"])
            assert not c.get("Failed"), "%d failed" % len(c["Failed"])
            results.append((o, job, key, c))
        print("  4 jobs of %d instances done in %.1f s"
              % (n, time.monotonic() - t_submitted))
        anon = {}
        for o, job, key, c in results:
            anon.setdefault(key, set()).add(c["Studies"][0]["Anonymized"])
        assert all(len(v) == 1 for v in anon.values()), \
            "one study anonymized twice gave two studies"
        for key, (sid,) in anon.items():
            for o in (a, b):
                f = fingerprint(o, sid)
                assert len(f["Instances"]) == n, \
                    "study %s holds %d instances (expected %d), read on %s" \
                    % (key, len(f["Instances"]), n, o.configuration()["Name"])
                assert len(set(f["Instances"])) == n, "duplicate UIDs"
        new_studies = harness.studies(b) - studies_before
        assert new_studies == {s for (s,) in anon.values()}, \
            "%d new studies, expected %d" % (len(new_studies), len(anon))
        new_patients = set(b.get_json("/patients")) - patients_before
        assert len(new_patients) == 3, "%d new patients, expected 3" \
            % len(new_patients)
        for o in (a, b):
            recs = job_records(o)
            for p, job, key, c in results:
                r = recs.get(c["Report"])
                assert r is not None, "job record missing on %s" % (
                    o.configuration()["Name"])
                assert r["State"] == "Success" and r["Progress"] == 100, \
                    "record %s %s" % (r["State"], r["Progress"])
                assert r["Type"] == "Anonymization", r["Type"]
                assert r["Server"].startswith(p.configuration()["Name"] +
                                              "@"), "record's server"
                assert r.get("Job") == job, "record's Orthanc job ID"
            reports = [x["ID"] for x in o.get_json("/anonymizer/reports")]
            assert len(reports) == len(set(reports)), "a report twice"
            assert len(reports) == reports_before + 4, \
                "%d reports, expected %d" % (len(reports), reports_before + 4)

    # -- a server killed in the middle of a job ----------------------------
    count = args.interrupt
    with checks.check("A killed mid-job (SIGKILL): B lists the job Running "
                      "until StaleJobSeconds pass, then Interrupted"):
        big = gen.Study(gen.PATIENTS[3], 2, date="20200101")
        t1 = time.monotonic()
        big_id = upload_study(b, big, count, rows=512)
        print("  %d instances of 512x512 stored in %.1f s"
              % (count, time.monotonic() - t1))
        job = submit(a, [{"Level": "Study", "ID": big_id}])
        report = None
        deadline = time.monotonic() + 60
        while True:
            j = a.get_json("/jobs/%s" % job)
            assert j["State"] in ("Pending", "Running"), \
                "job ended (%s) before the kill: use more instances" % (
                    j["State"])
            report = (j.get("Content") or {}).get("Report") or report
            rec = job_records(b).get(report) if report else None
            # Killed once its record has been refreshed mid-job (or, on a
            # fast machine, once the job is half done).
            if rec is not None and rec["State"] == "Running" and \
                    (rec["Progress"] > 0 or j["Progress"] >= 50):
                break
            assert time.monotonic() < deadline, "job not listed on B"
            time.sleep(0.1)
        a.kill()
        killed_at = time.time()
        progress_at_kill = rec["Progress"]
        print("  A killed at %d%% (job record at %d%%)"
              % (j["Progress"], progress_at_kill))
        limit = stale if stale is not None else DEFAULT_STALE
        saw_running = False
        deadline = time.monotonic() + limit + 15
        while True:
            asked = time.time()     # B judged the record by then or after
            rec = job_records(b)[report]
            age = time.time() - rec["Updated"]
            if rec["State"] == "Running":
                saw_running = True
                # B's clock is whole seconds: the record was at most
                # limit + 1 s old when B read it, which was after `asked`
                # (an answer slowed by load must not count against it).
                assert asked - rec["Updated"] <= limit + 2, \
                    "still Running %.0f s after its last update" % (
                        asked - rec["Updated"])
            elif rec["State"] == "Interrupted":
                break
            else:
                raise AssertionError("state %s after the kill" % rec["State"])
            assert time.monotonic() < deadline, "never Interrupted"
            time.sleep(0.5)
        assert saw_running, "Interrupted at once (not after the stale period)"
        assert age >= limit, "Interrupted %.1f s after its last update " \
            "(stale period %d s)" % (age, limit)
        assert rec["Updated"] <= killed_at + 1, "updated after the kill"
        assert rec["Progress"] < 100, "progress 100"
        assert rec["Server"].startswith("oa-cluster-a@"), "record's server"
        assert rec.get("Job") == job, "record's Orthanc job ID"
        print("  Interrupted on B %.1f s after the kill (record %.1f s old)"
              % (time.time() - killed_at, age))
        # B's own finished jobs are not touched by the rule.
        others = [r for r in b.get_json("/anonymizer/jobs")
                  if r["ID"] != report]
        assert all(r["State"] == "Success" for r in others), \
            "another record changed"


if __name__ == "__main__":
    main()
