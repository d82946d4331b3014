#!/usr/bin/python3
"""Integration test: the PostgreSQL store's schema 2 and retention
through a real Orthanc (issue 12, defect 11).

  * a store of schema 1 (as older plugins made it: kv without "created")
    holding a report is migrated on first use: schema_version 2, the
    report still listed;
  * with "ReportRetention": {"Count": 1}, the next anonymization's report
    removes the older one (ages from kv.created), in PostgreSQL;
  * the audit trail is in PostgreSQL (append-only rows of ns "audit").

    /usr/bin/python3 test_store_pg.py --plugin build/libOrthancAnonymizer.so

Needs Debian's postgresql-15 (exits 77, skipped, without it).
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicomgen as gen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501
from oatest.pg import PG_BIN, PostgresCluster  # noqa: E402

SCHEMA_1 = """
CREATE SCHEMA orthanc_anonymizer;
CREATE TABLE orthanc_anonymizer.meta (key text PRIMARY KEY,
                                      value text NOT NULL);
CREATE TABLE orthanc_anonymizer.kv (ns text NOT NULL, key text NOT NULL,
    value text NOT NULL, updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ns, key));
INSERT INTO orthanc_anonymizer.meta VALUES ('schema_version', '1');
INSERT INTO orthanc_anonymizer.kv (ns, key, value) VALUES ('reports',
    'old-report', '{"ID": "old-report", "Job": "", "Date":
    "20200101T000000", "Profile": "Default", "Studies": []}');
"""


def main():
    args = standard_arguments(__doc__)
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        print("skipped: PostgreSQL 15 not installed")
        sys.exit(77)
    checks = Checks()
    with PostgresCluster() as pg:
        pg.psql(SCHEMA_1, admin=False)
        s = pg.orthanc_section()
        own = {k: s[k] for k in ("Host", "Port", "Database", "Username",
                                 "Password")}
        o = Orthanc(plugin=args.plugin, orthanc=args.orthanc,
                    verbose=args.verbose,
                    config={"Anonymizer": {"Store": "postgresql",
                                           "PostgreSQL": own,
                                           "ReportRetention": {"Count": 1}}})
        with o:
            with checks.check("schema 1 migrated to 2, the report kept"):
                version = pg.psql("SELECT value FROM orthanc_anonymizer.meta "
                                  "WHERE key = 'schema_version'").strip()
                assert version == "2", version
                reports = o.get_json("/anonymizer/reports")
                assert [r["ID"] for r in reports] == ["old-report"], reports
                cols = pg.psql("SELECT column_name FROM "
                               "information_schema.columns WHERE "
                               "table_schema = 'orthanc_anonymizer' AND "
                               "table_name = 'kv'").split()
                assert "created" in cols, cols
            study = gen.Study(gen.PATIENTS[2], 1, date="20240211")
            ids = harness.upload_many(o, [gen.make_instance(study, 1, 1, 1)])
            sid = harness.study_id(o, ids[0])
            status, job, raw = harness.post_json(
                o, "/anonymizer/anonymize",
                json.dumps({"Resources": [{"Level": "Study", "ID": sid}],
                            "Asynchronous": False}).encode())
            with checks.check("ReportRetention Count 1: the new report "
                              "replaces the old one"):
                assert status == 200, "HTTP %d %s" % (status, raw[:200])
                reports = o.get_json("/anonymizer/reports")
                assert [r["ID"] for r in reports] == [job["Report"]], reports
                left = pg.psql("SELECT key FROM orthanc_anonymizer.kv WHERE "
                               "ns = 'reports'").split()
                assert left == [job["Report"]], left
            with checks.check("the audit trail is in PostgreSQL"):
                rows = pg.psql("SELECT value FROM orthanc_anonymizer.kv "
                               "WHERE ns = 'audit'").splitlines()
                assert len(rows) == 1, rows
                e = json.loads(rows[0])
                assert e["Kind"] == "anonymization" and e["Studies"] == [sid]
                got = o.get_json("/anonymizer/audit")
                assert len(got) == 1 and got[0]["Job"] == job["Report"], got
        checks.stopped_cleanly(o)
    sys.exit(checks.finish())


if __name__ == "__main__":
    main()
