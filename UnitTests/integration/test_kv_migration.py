#!/usr/bin/python3
"""Integration test: the plugin's state moves once from Orthanc's global
properties to its key-value store (Orthanc 1.12.8 and later), when a server
of Orthanc 1.10.1 is upgraded.

    /usr/bin/python3 test_kv_migration.py \
        --old-plugin build/libOrthancAnonymizer.so \
        [--old-orthanc /usr/sbin/Orthanc] \
        --plugin build-sid/libOrthancAnonymizer.so \
        --orthanc UnitTests/versions/orthanc-sid

What a user does: an Orthanc 1.10.1 (the host's, with the plugin built
there) keeps a custom profile, a saved destination, a report and the site
secret in global properties; then the same data folder is opened by Orthanc
1.13.0 with the plugin built against its SDK.  Checks: the start-up log
says the values were copied (once), every value reads back the same, the
same patient gets the same pseudonym (the site secret came along), a value
written afterwards is in Orthanc's key-value table of the SQLite index and
not in its global properties, and a second start copies nothing again.
Exits 77 (skipped) where the new Orthanc or plugin has no key-value store.
"""

import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oatest.harness import Checks, Orthanc, post_json  # noqa: E402
from oatest.harness import standard_arguments  # noqa: E402
import test_versions_features as tvf  # noqa: E402

MOVED = re.compile(r"state moved to Orthanc's key-value store: (\d+) values")


def anonymize(o, study):
    status, content, raw = post_json(
        o, "/anonymizer/studies/%s/anonymize" % study,
        {"Asynchronous": False, "Profile": "kv-keep"}, timeout=300)
    assert status == 200, "HTTP %d %s" % (status, raw[:300])
    new = content["Studies"][0]["Anonymized"]
    tags = o.get_json("/studies/%s" % new)["PatientMainDicomTags"]
    return content["Report"], tags.get("PatientName")


def state(o):
    """What the plugin keeps, as it answers it."""
    return {
        "profile": o.get_json("/anonymizer/profiles/kv-keep"),
        "destination": o.get_json("/anonymizer/destinations/kv-ftp"),
        "reports": sorted(r["ID"] for r in
                          o.get_json("/anonymizer/reports")),
    }


def index_rows(folder):
    """(the text of every global property, {table: text of its rows}) of
    the SQLite index, Orthanc stopped."""
    db = sqlite3.connect(os.path.join(folder, "index", "index"))
    try:
        props = " ".join(str(v) for (v,) in
                         db.execute("SELECT value FROM GlobalProperties"))
        tables = [t for (t,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")]
        kv = {}
        for t in tables:
            if "keyvalue" in t.lower().replace("_", ""):
                kv[t] = " ".join(
                    " ".join(v.decode("utf-8", "replace")
                             if isinstance(v, bytes) else str(v)
                             for v in row)
                    for row in db.execute("SELECT * FROM %s" % t))
        return props, kv
    finally:
        db.close()


def main():
    def extra(ap):
        ap.add_argument("--old-plugin", required=True)
        ap.add_argument("--old-orthanc", default="/usr/sbin/Orthanc")

    args = standard_arguments(__doc__, extra=extra)
    checks = Checks()
    o = Orthanc(plugin=args.old_plugin, orthanc=args.old_orthanc,
                verbose=args.verbose)
    ok = False
    with o:
        old_version = o.get_json("/system")["Version"]
        before = name1 = None
        study = tvf.upload_study(o, 2, 64, 64)
        with checks.check("Orthanc %s: a profile, a destination, a report "
                          "kept in global properties" % old_version):
            _, sdk, used = tvf.features_line(o)
            assert not used.get("KeyValueStore"), "already a key-value store"
            status, _, raw = o.request(
                "PUT", "/anonymizer/profiles/kv-keep",
                body={"Base": "Default", "Keep": ["0008,0070"]})
            assert status == 200, "profile: HTTP %d %s" % (status, raw)
            status, _, raw = o.request(
                "PUT", "/anonymizer/destinations/kv-ftp",
                body={"Type": "ftp", "Url": "ftp://127.0.0.1:2121/in",
                      "Username": "kvuser", "Password": "kv-secret-pw"})
            assert status == 200, "destination: HTTP %d %s" % (status, raw)
            _, name1 = anonymize(o, study)
            before = state(o)
            assert len(before["reports"]) == 1, before["reports"]
        o.terminate()

        # The same folder, opened by the newer Orthanc and plugin.
        o.orthanc = args.orthanc
        o.plugin = os.path.abspath(args.plugin)
        o.restart()
        version = o.get_json("/system")["Version"]
        _, sdk, used = tvf.features_line(o)
        print("then Orthanc %s, plugin built with SDK %s" % (version, sdk))
        if not used.get("KeyValueStore"):
            print("SKIP: no key-value store here (Orthanc and SDK >= 1.12.8 "
                  "needed)")
            return 77
        with checks.check("Orthanc %s: the log says the state was copied "
                          "once, with a count" % version):
            # the store is first used by the late set-up: wait for it
            deadline = tvf.time.monotonic() + 60
            while not MOVED.search(o.log_text()) and \
                    tvf.time.monotonic() < deadline:
                tvf.time.sleep(0.1)
            found = MOVED.findall(o.log_text())
            assert len(found) == 1, found
            # profile, destination, report, the export record of none,
            # the site secret: at least 4
            assert int(found[0]) >= 4, found
            print("     %s values copied" % found[0])
        with checks.check("every value reads back the same"):
            after = state(o)
            diff = ["%s.%s" % (k, f) for k in before
                    for f in (before[k] if isinstance(before[k], dict)
                              else [""])
                    if (before[k].get(f) if f else before[k]) !=
                    (after[k].get(f) if f else after[k])]
            assert not diff, "differs: %s (reports %d then %d)" % (
                ", ".join(diff), len(before["reports"]), len(after["reports"]))
        with checks.check("the same patient gets the same pseudonym (the "
                          "site secret came along)"):
            _, name2 = anonymize(o, study)
            assert name2 == name1, "another pseudonym"
        with checks.check("a profile written now is kept"):
            status, _, raw = o.request(
                "PUT", "/anonymizer/profiles/kv-after",
                body={"Base": "Default", "Keep": ["0008,0080"]})
            assert status == 200, "HTTP %d %s" % (status, raw)
        o.terminate()

        with checks.check("it is in the key-value table of the SQLite index, "
                          "not in the global properties"):
            props, kv = index_rows(o.folder)
            assert kv, "no key-value table in the index"
            text = " ".join(kv.values())
            assert "anonymizer.profiles" in text and "kv-after" in text, \
                "not in %s" % ", ".join(kv)
            assert "0008,0080" not in props, "in the global properties"
            # the old values stay there, as they were (a backup)
            assert "0008,0070" in props, "old values gone"
            print("     table(s): %s" % ", ".join(sorted(kv)))
        o.restart()
        with checks.check("a second start copies nothing again, and keeps "
                          "both profiles"):
            o.get_json("/anonymizer/profiles/kv-after")
            o.get_json("/anonymizer/profiles/kv-keep")
            tvf.time.sleep(1)
            assert len(MOVED.findall(o.log_text())) == 1, "copied again"
        ok = True
    checks.stopped_cleanly(o)
    return checks.finish() if ok or checks.failed else 1


if __name__ == "__main__":
    sys.exit(main())
