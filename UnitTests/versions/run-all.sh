#!/bin/bash
# The plugin on every Orthanc that users run (issue 13), as one command:
#
#   UnitTests/versions/run-all.sh [HOST_PLUGIN]
#
#   1. the Debian roots trixie and sid (Resources/Scripts/debian-root.sh:
#      built once, then taken from the cache);
#   2. the plugin built inside each root against that root's SDK header,
#      in build-trixie/ and build-sid/ (plugin only, no tests);
#   3. UnitTests/versions/smoke.sh for each build on the Orthanc it was
#      built for, and for the host's Debian 12 build (HOST_PLUGIN, default
#      build-ci/ or build/ libOrthancAnonymizer.so, built in build/ if
#      neither exists) on the host and on both roots' Orthanc (users copy
#      .so files between servers).
#
# Prints one summary line per run ("Orthanc 1.13.0 (sid), build host:
# 9 passed, 0 failed") and exits non-zero if any failed.  As root.
# Environment: OA_JOBS (build jobs), OA_ROOTS_DIR (the roots' cache).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
SCRIPTS=$TOP/Resources/Scripts
JOBS=${OA_JOBS:-$(nproc 2>/dev/null || echo 2)}
START=$SECONDS
SUMMARY=()
STATUS=0

say() { printf '==> %s\n' "$*"; }

host_plugin=${1:-}
if [ -z "$host_plugin" ]; then
    for p in "$TOP/build-ci/libOrthancAnonymizer.so" "$TOP/build/libOrthancAnonymizer.so"; do
        if [ -f "$p" ]; then host_plugin=$p; break; fi
    done
fi
if [ -z "$host_plugin" ]; then
    say "host: building the plugin in build/"
    { cmake -S "$TOP" -B "$TOP/build" -DOA_BUILD_TESTS=OFF >/dev/null &&
        cmake --build "$TOP/build" -j "$JOBS" --target OrthancAnonymizer >/dev/null; } ||
        { echo "run-all.sh: the host build failed" >&2; exit 1; }
    host_plugin=$TOP/build/libOrthancAnonymizer.so
fi

# smoke WHERE PLUGIN LABEL VERSION: one smoke test, its summary line kept.
smoke() {
    local out rc
    out=$("$HERE/smoke.sh" "$1" "$2" "$4" 2>&1); rc=$?
    printf '%s\n' "$out"
    SUMMARY+=("Orthanc $4 ($1), build $3: $(printf '%s\n' "$out" |
        sed -n 's/^smoke [a-z]*: //p' | tail -n 1)")
    [ "$rc" -eq 0 ] || STATUS=1
}

# "Orthanc 1.12.7" (1.12 and later), "/usr/sbin/Orthanc 1.10.1" (1.10).
orthanc_version() { sed -n '1s/^[^ ]*Orthanc \([0-9][^ ]*\).*/\1/p'; }
host_version=$(/usr/sbin/Orthanc --version | orthanc_version)
smoke host "$host_plugin" host "$host_version"

for suite in trixie sid; do
    t0=$SECONDS
    if ! out=$("$SCRIPTS/debian-root.sh" "$suite"); then
        SUMMARY+=("$suite: the root could not be made"); STATUS=1; continue
    fi
    version=$(printf '%s\n' "$out" | sed -n '2p' | orthanc_version)
    say "$suite root: Orthanc $version ($((SECONDS - t0)) s)"
    t0=$SECONDS
    build=$TOP/build-$suite
    log=$build/versions-build.log
    mkdir -p "$build"
    if "$SCRIPTS/run-in-root.sh" "$suite" cmake -S "$TOP" -B "$build" \
            -DOA_BUILD_TESTS=OFF >"$log" 2>&1 &&
        "$SCRIPTS/run-in-root.sh" "$suite" cmake --build "$build" -j "$JOBS" \
            --target OrthancAnonymizer >>"$log" 2>&1; then
        say "$suite: plugin built against Orthanc $version's SDK ($((SECONDS - t0)) s;" \
            "$(grep -c 'warning:' "$log") warnings, see $log)"
        smoke "$suite" "$build/libOrthancAnonymizer.so" "$suite" "$version"
    else
        tail -n 20 "$log"
        SUMMARY+=("Orthanc $version ($suite), build $suite: BUILD FAILED"); STATUS=1
    fi
    smoke "$suite" "$host_plugin" host "$version"
done

echo
printf '%s\n' "${SUMMARY[@]}"
echo "versions: $((SECONDS - START)) s, $([ "$STATUS" -eq 0 ] && echo passed || echo FAILED)"
exit "$STATUS"
