#!/bin/bash
# The README's set-up scripts on another Debian release (issue 13):
#
#   UnitTests/versions/setup-in-root.sh SUITE      (trixie | sid)
#
# Inside the Debian root of SUITE (Resources/Scripts/debian-root.sh):
#   1. every package that setup-run.sh and setup-test.sh install exists
#      there and apt can install them together (`apt-get install -s` of
#      both lists: Debian 13 renamed libraries for the t64 transition and
#      ships clang 19, not 14);
#   2. setup-run.sh itself, as a user runs it: packages, the Release build
#      against the root's SDK, the configuration, Orthanc started in the
#      background, on free loopback ports, with its data and build folders
#      in a temporary folder;
#   3. the Orthanc it started is the root's (GET /system), the plugin
#      answers (GET /anonymizer/info), and `setup-run.sh --stop` stops it.
# Prints PASS/FAIL lines and "setup SUITE: N passed, M failed".  As root.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
SCRIPTS=$TOP/Resources/Scripts
SUITE=${1:?usage: setup-in-root.sh trixie|sid}
PY=/usr/bin/python3

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
in_root() { "$SCRIPTS/run-in-root.sh" "$SUITE" "$@"; }

DIR=$(mktemp -d /tmp/oa-setup-$SUITE.XXXXXX)
cleanup() {
    local pid
    pid=$(cat "$DIR/data/orthanc.pid" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) ;; *) kill -KILL "$pid" 2>/dev/null || true ;; esac
    rm -rf -- "$DIR"
}
trap cleanup EXIT

"$SCRIPTS/debian-root.sh" "$SUITE" >/dev/null || { echo "setup $SUITE: no root"; exit 1; }

# 1. The package lists resolve in SUITE.
# shellcheck disable=SC2016
if out=$(in_root bash -c '. "$0"; apt-get install -s -q "${OA_RUN_PACKAGES[@]}" \
        "${OA_TEST_PACKAGES[@]}" chromium nodejs npm && echo "clang $OA_CLANG"' \
        "$SCRIPTS/setup-common.sh" 2>&1); then
    pass "$SUITE: apt can install every package of setup-run.sh and setup-test.sh" \
        "($(printf '%s\n' "$out" | tail -n 1))"
else
    fail "$SUITE: the package lists do not resolve:"
    printf '%s\n' "$out" | tail -n 15
fi

# 2. setup-run.sh, as a user runs it.
read -r HTTP_PORT DICOM_PORT < <("$PY" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
t0=$SECONDS
if in_root env OA_DATA_DIR="$DIR/data" OA_BUILD_DIR="$DIR/build" \
        OA_HTTP_PORT="$HTTP_PORT" OA_DICOM_PORT="$DICOM_PORT" \
        "$SCRIPTS/setup-run.sh" >"$DIR/setup-run.log" 2>&1; then
    pass "$SUITE: setup-run.sh built and started Orthanc ($((SECONDS - t0)) s)"
else
    fail "$SUITE: setup-run.sh failed:"
    tail -n 25 "$DIR/setup-run.log"
fi

# 3. The root's Orthanc with the plugin, then --stop.
URL=http://127.0.0.1:$HTTP_PORT
version=$(curl -s --max-time 5 --noproxy '*' "$URL/system" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Version"])' 2>/dev/null)
expected=$(in_root Orthanc --version 2>/dev/null | sed -n '1s/^[^ ]*Orthanc \([0-9][^ ]*\).*/\1/p')
if [ -n "$version" ] && [ "$version" = "$expected" ]; then
    pass "$SUITE: the Orthanc it started is the root's ($version)"
else
    fail "$SUITE: /system says '${version:-no answer}', the root has '$expected'"
fi
status=$(curl -s -o "$DIR/info.json" -w '%{http_code}' --max-time 5 --noproxy '*' \
    "$URL/anonymizer/info")
if [ "$status" = 200 ]; then
    pass "$SUITE: GET /anonymizer/info answers 200"
else
    fail "$SUITE: GET /anonymizer/info answers $status"
fi
pid=$(cat "$DIR/data/orthanc.pid" 2>/dev/null || true)
in_root env OA_DATA_DIR="$DIR/data" OA_BUILD_DIR="$DIR/build" \
    "$SCRIPTS/setup-run.sh" --stop >>"$DIR/setup-run.log" 2>&1
if [ -n "$pid" ] && ! [ -d "/proc/$pid" ] && ! [ -f "$DIR/data/orthanc.pid" ]; then
    pass "$SUITE: setup-run.sh --stop stopped Orthanc (pid $pid)"
else
    fail "$SUITE: Orthanc (pid ${pid:-?}) still runs after setup-run.sh --stop"
fi

echo "setup $SUITE: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
