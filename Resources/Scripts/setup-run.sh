#!/bin/bash
# Build the plugin and start a development Orthanc that loads it.
#
#   Resources/Scripts/setup-run.sh          install, build, (re)start
#   Resources/Scripts/setup-run.sh --stop   stop that Orthanc
#
# On Debian 12, as root (or with sudo).  Installs the missing build
# packages (apt-get only if something is missing), builds build/ in
# Release, writes orthanc-data/orthanc.json from
# Resources/Scripts/orthanc-dev.json (its own SQLite index and storage in
# orthanc-data/, HTTP on localhost:8042 only, no authentication) and starts
# Debian's /usr/sbin/Orthanc in the background with TCP_NODELAY=1 and
# OMP_THREAD_LIMIT=1 (Tesseract's OpenMP threads spin: 3-4 times the CPU).
# No systemd: the PID is kept in orthanc-data/orthanc.pid.
#
# Environment: OA_DATA_DIR (default ./orthanc-data), OA_HTTP_PORT (8042),
# OA_DICOM_PORT (4242), OA_BUILD_DIR (./build), OA_JOBS (parallel jobs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=setup-common.sh
. "$ROOT/Resources/Scripts/setup-common.sh"

DATA_DIR=${OA_DATA_DIR:-$ROOT/orthanc-data}
HTTP_PORT=${OA_HTTP_PORT:-8042}
DICOM_PORT=${OA_DICOM_PORT:-4242}
BUILD_DIR=${OA_BUILD_DIR:-$ROOT/build}
ORTHANC=/usr/sbin/Orthanc
PID_FILE=$DATA_DIR/orthanc.pid
LOG_FILE=$DATA_DIR/orthanc.log
CONFIG=$DATA_DIR/orthanc.json
PLUGIN=$BUILD_DIR/libOrthancAnonymizer.so

# The PID of our running Orthanc, or nothing.
running_pid() {
    local pid
    [ -f "$PID_FILE" ] || return 0
    pid=$(cat "$PID_FILE" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "Orthanc" ]; then
        printf '%s\n' "$pid"
    fi
}

stop_orthanc() {
    local pid i
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        rm -f "$PID_FILE"
        return 0
    fi
    oa_say "Stopping Orthanc (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        oa_say "Orthanc (pid $pid) did not stop in 30 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# HTTP status of GET $1 on our Orthanc ("000" if no answer).
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 --noproxy '*' \
        "http://127.0.0.1:$HTTP_PORT$1" 2>/dev/null || true
}

# Escape $1 for a JSON string and then for a sed replacement.
json_sed_escape() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '%s' "$s" | sed -e 's/[\\&|]/\\&/g'
}

if [ "${1:-}" = "--stop" ]; then
    stop_orthanc
    exit 0
elif [ $# -gt 0 ]; then
    echo "usage: $0 [--stop]" >&2
    exit 2
fi

# 1. Packages --------------------------------------------------------------
oa_install_packages "${OA_RUN_PACKAGES[@]}"

# 2. Build -----------------------------------------------------------------
oa_say "Building $BUILD_DIR (Release)"
# The plugin and oa-anonymize only: the tests are setup-test.sh's.
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DOA_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(oa_jobs)"
[ -f "$PLUGIN" ] || oa_die "the build did not produce $PLUGIN"

# 3. Configuration ---------------------------------------------------------
stop_orthanc
if port_busy "$HTTP_PORT"; then
    oa_die "port $HTTP_PORT is taken by another server (Debian's Orthanc \
service? stop it with: /etc/init.d/orthanc stop), or choose another port \
with OA_HTTP_PORT=8043 $0"
fi
mkdir -p "$DATA_DIR/storage" "$DATA_DIR/index"
sed -e "s|@DATA_DIR@|$(json_sed_escape "$DATA_DIR")|g" \
    -e "s|@PLUGIN@|$(json_sed_escape "$PLUGIN")|g" \
    -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
    -e "s|@DICOM_PORT@|$DICOM_PORT|g" \
    "$ROOT/Resources/Scripts/orthanc-dev.json" >"$CONFIG"
oa_say "Configuration: $CONFIG"

# 4. Start -----------------------------------------------------------------
oa_say "Starting $ORTHANC (log: $LOG_FILE)"
cd "$DATA_DIR"
# setsid: a session of its own, so that it outlives this script and the
# terminal.  It execs Orthanc in place, so $! is Orthanc's PID.
TCP_NODELAY=1 OMP_THREAD_LIMIT=1 setsid "$ORTHANC" "$CONFIG" </dev/null >>"$LOG_FILE" 2>&1 &
pid=$!
echo "$pid" >"$PID_FILE"

for i in $(seq 1 600); do
    if ! [ -d "/proc/$pid" ]; then
        tail -n 30 "$LOG_FILE" >&2 || true
        rm -f "$PID_FILE"
        oa_die "Orthanc exited at start (log above: $LOG_FILE)"
    fi
    [ "$(http_status /system)" = "200" ] && break
    sleep 0.1
done
[ "$(http_status /system)" = "200" ] ||
    oa_die "Orthanc (pid $pid) did not answer in 60 s: see $LOG_FILE"
status=$(http_status /anonymizer/info)
if [ "$status" != "200" ]; then
    tail -n 30 "$LOG_FILE" >&2 || true
    oa_die "Orthanc runs but /anonymizer/info answers HTTP $status"
fi

cat <<EOF

Orthanc is running (pid $pid) with the anonymizer plugin.

  Anonymizer page:  http://localhost:$HTTP_PORT/anonymizer/app/
  Orthanc Explorer: http://localhost:$HTTP_PORT/app/explorer.html
  REST API:         curl http://localhost:$HTTP_PORT/anonymizer/info
  Data and log:     $DATA_DIR

Stop it with:  $ROOT/Resources/Scripts/setup-run.sh --stop
        (or:   kill $pid)
EOF
