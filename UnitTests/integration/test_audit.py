#!/usr/bin/python3
"""Integration test: the audit trail through a real Orthanc with HTTP
authentication on (issue 12).

  * an anonymization and a report download by "alice", a ZIP export and
    a destination change by "bob" (HTTP Basic, checked by Orthanc), each
    recorded with its user, the address from X-Forwarded-For, the Orthanc
    IDs of the studies (never a name), the profile and the target;
  * GET /anonymizer/audit filters by kind and date, answers CSV
    (?format=csv and /anonymizer/audit.csv) with the formula guard;
  * the trail survives a restart (the store's journal in Orthanc's global
    properties) and grows after it; Orthanc refuses it without a login.

    /usr/bin/python3 test_audit.py --plugin build/libOrthancAnonymizer.so
"""

import base64
import csv
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import dicomgen as gen, harness  # noqa: E402
from oatest.harness import Checks, Orthanc, standard_arguments  # noqa: E402,E501

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


def basic(user):
    token = base64.b64encode(("%s:%s" % (user, USERS[user])).encode())
    return {"Authorization": "Basic " + token.decode()}


class AuthOrthanc(Orthanc):
    """Every request as alice unless it names its own headers."""

    def request(self, method, path, body=None, headers=None, timeout=30):
        h = dict(basic("alice"))
        h.update(headers or {})
        return Orthanc.request(self, method, path, body, h, timeout)


def as_user(o, user, method, path, body=None, extra=None):
    h = basic(user)
    h.update(extra or {})
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    status, _, raw = o.request(method, path, body, h, timeout=120)
    return status, (json.loads(raw) if raw[:1] in (b"{", b"[") else None), raw


def audit(o, query=""):
    status, answer, raw = as_user(o, "alice", "GET", "/anonymizer/audit" +
                                  query)
    assert status == 200, "HTTP %d %s" % (status, raw[:200])
    return answer, raw


def main():
    args = standard_arguments(__doc__)
    checks = Checks()
    exports = tempfile.mkdtemp(prefix="oa-audit-exports-")
    o = AuthOrthanc(plugin=args.plugin, orthanc=args.orthanc,
                    verbose=args.verbose,
                    config={"AuthenticationEnabled": True,
                            "RegisteredUsers": USERS,
                            "Anonymizer": {"ExportFolder": exports}})
    with o:
        study = gen.Study(gen.PATIENTS[1], 1, date="20240211")
        ids = harness.upload_many(o, [gen.make_instance(study, 1, i, 2)
                                      for i in (1, 2)])
        sid = harness.study_id(o, ids[0])
        family = gen.PATIENTS[1].family

        status, job, raw = as_user(
            o, "alice", "POST", "/anonymizer/anonymize",
            {"Resources": [{"Level": "Study", "ID": sid}],
             "Profile": "Full", "Asynchronous": False},
            {"X-Forwarded-For": "192.0.2.7, 10.0.0.1"})
        with checks.check("alice anonymizes a study"):
            assert status == 200, "HTTP %d %s" % (status, raw[:200])
        report = job["Report"]
        anon = job["Studies"][0]["Anonymized"]
        status, _, raw = as_user(o, "bob", "POST", "/anonymizer/export",
                                 {"Resources": [anon],
                                  "Target": {"Type": "zip"},
                                  "Asynchronous": False})
        with checks.check("bob exports the anonymized study as a ZIP"):
            assert status == 200, "HTTP %d %s" % (status, raw[:200])
        status, _, raw = as_user(o, "alice", "GET",
                                 "/anonymizer/reports/%s/csv" % report)
        with checks.check("alice downloads the report's CSV"):
            assert status == 200, "HTTP %d" % status
        status, _, raw = as_user(o, "bob", "PUT",
                                 "/anonymizer/destinations/lab",
                                 {"Type": "folder", "Url": "lab"})
        with checks.check("bob saves a destination"):
            assert status == 200, "HTTP %d %s" % (status, raw[:200])

        entries, raw = audit(o)
        by_kind = {e["Kind"]: e for e in entries}
        with checks.check("four entries, newest first"):
            assert [e["Kind"] for e in entries] == [
                "destination", "report-download", "export",
                "anonymization"], [e["Kind"] for e in entries]
        with checks.check("the anonymization: alice, her address, the "
                          "study's Orthanc ID, the profile, the job"):
            e = by_kind["anonymization"]
            assert e["User"] == "alice" and e["Remote"] == "192.0.2.7", e
            assert e["Studies"] == [sid] and e["Profile"] == "Full", e
            assert e["Job"] == report, e
        with checks.check("the export: bob, the anonymized study, zip"):
            e = by_kind["export"]
            assert e["User"] == "bob" and e["Studies"] == [anon], e
            assert e["Target"] == {"Type": "zip"}, e
        with checks.check("the report download names both studies"):
            e = by_kind["report-download"]
            assert e["User"] == "alice" and e["Report"] == report, e
            assert set(e["Studies"]) == {sid, anon}, e
        with checks.check("the destination change: bob, put, folder"):
            e = by_kind["destination"]
            assert e["User"] == "bob" and e["Action"] == "put", e
            assert e["Name"] == "lab" and e["Target"]["Type"] == "folder", e
        with checks.check("no name, no patient ID, no password in the trail"):
            for needle in (family, family.upper(), gen.PATIENTS[1].id,
                           "alice-pw", "bob-pw"):
                assert needle.encode() not in raw, "found %r" % needle

        with checks.check("?kind=export gives the export only"):
            got, _ = audit(o, "?kind=export")
            assert [e["Kind"] for e in got] == ["export"], got
        with checks.check("?until=2000-01-01 gives nothing, ?since=today "
                          "everything"):
            got, _ = audit(o, "?until=2000-01-01")
            assert got == [], got
            today = entries[0]["Time"][:10]
            got, _ = audit(o, "?since=%s&until=%s" % (today, today))
            assert len(got) == 4, len(got)
        with checks.check("?kind=wrong answers 400"):
            status, _, _ = as_user(o, "alice", "GET",
                                   "/anonymizer/audit?kind=wrong")
            assert status == 400, status
        with checks.check("CSV: ?format=csv and /anonymizer/audit.csv"):
            for path in ("/anonymizer/audit?format=csv",
                         "/anonymizer/audit.csv"):
                status, headers, body = o.request("GET", path)
                assert status == 200, status
                assert headers["content-type"].startswith("text/csv"), headers
                rows = list(csv.DictReader(io.StringIO(body.decode())))
                assert len(rows) == 4, len(rows)
                assert rows[3]["User"] == "alice", rows[3]
                assert sid in rows[3]["Studies"], rows[3]
        with checks.check("the CSV guards a user name starting with '='"):
            status, _, _ = as_user(o, "alice", "GET",
                                   "/anonymizer/reports/%s" % report)
            status, _, _ = o.request(
                "GET", "/anonymizer/reports/%s" % report,
                headers={"Authorization": basic("bob")["Authorization"],
                         "X-Forwarded-For": "=1+1"})
            status, _, body = o.request("GET", "/anonymizer/audit.csv")
            assert b",'=1+1," in body and b",=1+1," not in body, body[-300:]
        with checks.check("without a login Orthanc refuses the trail"):
            status, _, _ = Orthanc.request(o, "GET", "/anonymizer/audit")
            assert status == 401, status

        o.restart()
        with checks.check("the trail survives a restart, and grows after"):
            before, _ = audit(o)
            as_user(o, "bob", "DELETE", "/anonymizer/destinations/lab")
            after, _ = audit(o)
            assert len(before) == 6, len(before)
            assert len(after) == 7 and after[0]["Action"] == "delete", after[0]
            assert after[0]["User"] == "bob", after[0]
    checks.stopped_cleanly(o)
    harness_rm(exports)
    sys.exit(checks.finish())


def harness_rm(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
