#!/bin/bash
# Smoke test of one plugin build on one Orthanc: the Orthanc of the host
# (Debian 12) or the one inside a Debian root (Resources/Scripts/
# debian-root.sh: trixie = 1.12.7, sid = 1.13.0).
#
#   UnitTests/versions/smoke.sh WHERE PLUGIN [EXPECTED_ORTHANC_VERSION]
#       WHERE   host | trixie | sid
#       PLUGIN  a libOrthancAnonymizer.so (copied into the test's folder,
#               as a user copies it to a server)
#   e.g. UnitTests/versions/smoke.sh sid build/libOrthancAnonymizer.so 1.13.0
#
# Checks: every shared library the plugin needs resolves where Orthanc
# runs (ldd there; the missing sonames are named); Orthanc starts with the
# plugin on a free loopback port and reports the expected version;
# GET /anonymizer/info answers; one CT file (pydicom's CT_small.dcm from
# the shared corpus, or $OA_SMOKE_DICOM) is uploaded;
# POST /anonymizer/studies/{id}/anonymize {"Asynchronous": false} answers
# the anonymized study, which exists in Orthanc with one instance and a
# new patient name; Orthanc stops on SIGTERM (by PID) with status 0.
#
# Bounded: Orthanc must answer within 60 s, each request within 120 s,
# and the whole test is stopped after OA_SMOKE_TIMEOUT s (default 300).
# Everything is in one mktemp folder under /tmp (bind-mounted into the
# roots), removed at the end unless OA_SMOKE_KEEP=1.  Loopback only: the
# test runs in its own network namespace with only "lo" (OA_SMOKE_NETNS=0
# to skip), and Orthanc refuses remote clients (RemoteAccessAllowed).
# Prints one line per check and "smoke WHERE: N passed, M failed"; exits
# non-zero on any failure.  Needs root for the roots, curl and
# /usr/bin/python3 on the host.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    sed -n '2,31s/^# \{0,1\}//p' "$0" >&2; exit 2
fi
WHERE=$1
PLUGIN_SRC=$2
EXPECT=${3:-}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
PY=/usr/bin/python3
DICOM=${OA_SMOKE_DICOM:-${OA_CORPUS:-$TOP/../shared/corpus}/pydicom-test_files/CT_small.dcm}
TIMEOUT=${OA_SMOKE_TIMEOUT:-300}
START=$SECONDS

case "$WHERE" in
    host) RUN=() ;;
    trixie|sid) RUN=("$TOP/Resources/Scripts/run-in-root.sh" "$WHERE") ;;
    *) echo "smoke.sh: WHERE is host, trixie or sid" >&2; exit 2 ;;
esac
[ -f "$PLUGIN_SRC" ] || { echo "smoke.sh: no plugin $PLUGIN_SRC" >&2; exit 2; }
[ -f "$DICOM" ] || { echo "smoke.sh: no DICOM file $DICOM" >&2; exit 2; }

# Loopback only, for real: the test runs in a network namespace of its own
# where only "lo" exists (so Orthanc's ports, which it binds on every
# interface, are unreachable from outside).  The root is made (or found in
# the cache) first, while the network is there.  OA_SMOKE_NETNS=0: no
# namespace (then RemoteAccessAllowed=false is the only guard).
if [ "${OA_SMOKE_NETNS:-1}" = 1 ] && [ "${OA_SMOKE_IN_NETNS:-0}" != 1 ]; then
    if [ "$WHERE" != host ]; then
        "$TOP/Resources/Scripts/debian-root.sh" "$WHERE" >/dev/null
    fi
    # shellcheck disable=SC2016
    exec env OA_SMOKE_IN_NETNS=1 unshare --net -- /bin/bash -c \
        'ip link set lo up && exec "$0" "$@"' "${BASH_SOURCE[0]}" "$@"
fi

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }

DIR=$(mktemp -d /tmp/oa-smoke.XXXXXX)
PID=""
WATCHDOG=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [ -n "$WATCHDOG" ]; then
        kill "$WATCHDOG" 2>/dev/null || true
        wait "$WATCHDOG" 2>/dev/null || true
    fi
    if [ "${OA_SMOKE_KEEP:-0}" = 1 ]; then
        echo "kept: $DIR"
    else
        rm -rf -- "$DIR"
    fi
}
trap cleanup EXIT
# The bound on the whole test: SIGTERM to this script (its trap stops
# Orthanc by PID).
( for _ in $(seq "$TIMEOUT"); do sleep 1; done; echo "smoke.sh: timed out after $TIMEOUT s" >&2;
  kill -TERM $$ ) &
WATCHDOG=$!
trap 'exit 124' TERM

mkdir -p "$DIR/storage" "$DIR/index" "$DIR/exports" "$DIR/archives"
PLUGIN=$DIR/libOrthancAnonymizer.so
cp -- "$PLUGIN_SRC" "$PLUGIN"

# 1. The plugin's shared libraries where Orthanc runs.
if ldd_out=$("${RUN[@]}" ldd "$PLUGIN" 2>&1); then
    missing=$(printf '%s\n' "$ldd_out" | awk '/not found/ {print $1}' | tr '\n' ' ')
    if [ -z "$missing" ]; then
        pass "$WHERE: every library of the plugin resolves"
    else
        fail "$WHERE: missing sonames: $missing"
    fi
else
    fail "$WHERE: ldd failed: $ldd_out"
fi

# 2. Orthanc with the plugin on free loopback ports.
read -r HTTP_PORT DICOM_PORT < <("$PY" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cat >"$DIR/orthanc.json" <<EOF
{
  "Name": "oa-smoke",
  "StorageDirectory": "$DIR/storage",
  "IndexDirectory": "$DIR/index",
  "HttpPort": $HTTP_PORT,
  "DicomPort": $DICOM_PORT,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "HttpDescribeErrors": true,
  "SaveJobs": false,
  "DeidentifyLogs": true,
  "Plugins": [ "$PLUGIN" ],
  "Anonymizer": { "ExportFolder": "$DIR/exports", "ArchiveFolder": "$DIR/archives" }
}
EOF
URL=http://127.0.0.1:$HTTP_PORT
"${RUN[@]}" Orthanc "$DIR/orthanc.json" >"$DIR/orthanc.log" 2>&1 </dev/null &
PID=$!

# curl_json METHOD PATH [DATA-ARGS...]: body on stdout, HTTP status in
# $DIR/status.
curl_json() {
    local method=$1 path=$2; shift 2
    curl -sS --noproxy '*' --max-time 120 -X "$method" -o "$DIR/body" \
        -w '%{http_code}' "$@" "$URL$path" >"$DIR/status" 2>"$DIR/curl.err" ||
        true
    cat "$DIR/body" 2>/dev/null || true
}
status() { cat "$DIR/status" 2>/dev/null || echo 000; }
# json EXPR: evaluate EXPR on the JSON document on stdin (as `j`).
json() { "$PY" -c 'import json, sys; j = json.load(sys.stdin); print('"$1"')'; }

ready=0
for _ in $(seq 1 120); do
    if ! kill -0 "$PID" 2>/dev/null; then break; fi
    if curl -s --noproxy '*' --max-time 2 -o /dev/null "$URL/system"; then
        ready=1; break
    fi
    sleep 0.5
done
if [ "$ready" = 1 ]; then
    pass "$WHERE: Orthanc answers with the plugin ($((SECONDS - START)) s)"
else
    fail "$WHERE: Orthanc did not start with the plugin; its log:"
    tail -n 25 "$DIR/orthanc.log" | sed 's/^/    /'
    echo "smoke $WHERE: $PASSED passed, $FAILED failed"
    exit 1
fi

version=$(curl_json GET /system | json 'j["Version"]' 2>/dev/null || echo '?')
if [ -z "$EXPECT" ] || [ "$version" = "$EXPECT" ]; then
    pass "$WHERE: Orthanc version $version"
else
    fail "$WHERE: Orthanc version $version, expected $EXPECT"
fi

info=$(curl_json GET /anonymizer/info)
if [ "$(status)" = 200 ] &&
        pv=$(printf '%s' "$info" | json 'j["Version"]' 2>/dev/null); then
    pass "$WHERE: GET /anonymizer/info (plugin $pv)"
else
    fail "$WHERE: GET /anonymizer/info: HTTP $(status)"
fi

up=$(curl_json POST /instances --data-binary "@$DICOM" -H 'Content-Type: application/dicom')
study=$(printf '%s' "$up" | json 'j["ParentStudy"]' 2>/dev/null || true)
if [ "$(status)" = 200 ] && [ -n "$study" ]; then
    pass "$WHERE: upload of $(basename "$DICOM")"
else
    fail "$WHERE: upload: HTTP $(status)"
fi

anon=""
if [ -n "$study" ]; then
    ans=$(curl_json POST "/anonymizer/studies/$study/anonymize" \
        -d '{"Asynchronous": false}')
    anon=$(printf '%s' "$ans" | json '[s["Anonymized"] for s in j["Studies"]
                                       if s["Original"] == "'"$study"'"][0]' \
           2>/dev/null || true)
    failed=$(printf '%s' "$ans" | json 'j.get("FailedCount")' 2>/dev/null || echo '?')
    if [ "$(status)" = 200 ] && [ -n "$anon" ] && [ "$failed" = 0 ]; then
        pass "$WHERE: synchronous anonymization of the study"
    else
        fail "$WHERE: anonymization: HTTP $(status), FailedCount $failed"
    fi
fi

if [ -n "$anon" ]; then
    doc=$(curl_json GET "/studies/$anon")
    if [ "$(status)" = 200 ] &&
            [ "$(printf '%s' "$doc" | json 'len(j["Series"])')" = 1 ] &&
            [ "$(curl_json GET "/studies/$anon/instances" | json 'len(j)')" = 1 ]; then
        pass "$WHERE: the anonymized study exists (1 series, 1 instance)"
    else
        fail "$WHERE: the anonymized study: HTTP $(status)"
    fi
    old=$(curl_json GET "/studies/$study" | json 'j["PatientMainDicomTags"].get("PatientName")')
    new=$(curl_json GET "/studies/$anon" | json 'j["PatientMainDicomTags"].get("PatientName")')
    if [ "$old" != "$new" ] && [ "$anon" != "$study" ]; then
        pass "$WHERE: the anonymized study has a new patient name"
    else
        fail "$WHERE: the anonymized study kept the patient name"
    fi
fi

# 3. Stop by PID; Orthanc (and the plugin's Finalize) must exit cleanly.
kill -TERM "$PID"
code=""
for _ in $(seq 1 40); do
    if ! kill -0 "$PID" 2>/dev/null; then
        code=0; wait "$PID" || code=$?
        break
    fi
    sleep 0.5
done
if [ "$code" = 0 ]; then
    pass "$WHERE: Orthanc stopped on SIGTERM, status 0"
elif [ -z "$code" ]; then
    fail "$WHERE: Orthanc ignored SIGTERM for 20 s"
else
    fail "$WHERE: Orthanc exited with status $code"
fi
PID=""
if grep -qiE 'segmentation|assertion|\bE[0-9]{4} .*anonymizer' "$DIR/orthanc.log"; then
    fail "$WHERE: errors in Orthanc's log:"
    grep -iE 'segmentation|assertion|\bE[0-9]{4} .*anonymizer' "$DIR/orthanc.log" |
        head -n 5 | sed 's/^/    /'
fi

echo "smoke $WHERE: $PASSED passed, $FAILED failed ($((SECONDS - START)) s)"
[ "$FAILED" -eq 0 ]
