#!/bin/bash
# The plugin on every Orthanc that users run (issue 13), as one command:
#
#   UnitTests/versions/run-all.sh [HOST_PLUGIN]
#
#   1. the Debian roots trixie and sid (Resources/Scripts/debian-root.sh:
#      built once, then taken from the cache);
#   2. the plugin built inside each root against that root's SDK header,
#      in build-trixie/ and build-sid/ (plugin only, -DOA_WERROR=ON);
#   3. for each build, on the Orthanc it was built for: smoke.sh, then the
#      integration suite (the same tests as on the host, from the host's
#      test build OA_VERSIONS_CTEST, default build-ci/ or build/, with the
#      harness's OA_TEST_ORTHANC and OA_TEST_PLUGIN pointing at the root's
#      Orthanc and the root's build); tests labelled `host_only` (fault,
#      load and fuzz tests: the same code paths, costly) run on the host
#      only;
#   4. the host's Debian 12 build (HOST_PLUGIN, default that build's
#      libOrthancAnonymizer.so) on both roots' Orthanc, as users copy .so
#      files between servers: smoke.sh on both, and on 1.13.0 the suites of
#      OA_VERSIONS_COPY (default: info, anonymize, export, restart);
#   5. setup-in-root.sh trixie: the README's setup-run.sh on Debian 13.
#
# Prints one summary line per Orthanc and build ("Orthanc 1.13.0 (sid),
# build sid: smoke 9 passed, 0 failed; integration 11 of 11 passed") and
# exits non-zero if any failed.  As root.
# Environment: OA_JOBS (build and test jobs), OA_ROOTS_DIR (the roots'
# cache), OA_VERSIONS_CTEST, OA_VERSIONS_COPY (a ctest -R regex).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
SCRIPTS=$TOP/Resources/Scripts
JOBS=${OA_JOBS:-$(nproc 2>/dev/null || echo 2)}
START=$SECONDS
SUMMARY=()
STATUS=0

say() { printf '==> %s\n' "$*"; }

ctest_dir=${OA_VERSIONS_CTEST:-}
if [ -z "$ctest_dir" ]; then
    for d in "$TOP/build-ci" "$TOP/build"; do
        if [ -f "$d/CTestTestfile.cmake" ]; then ctest_dir=$d; break; fi
    done
fi
[ -n "$ctest_dir" ] && [ -f "$ctest_dir/CTestTestfile.cmake" ] ||
    { echo "run-all.sh: no test build (build-ci/ or build/, or OA_VERSIONS_CTEST)" >&2; exit 1; }
copy_suites=${OA_VERSIONS_COPY:-'^integration_(info|anonymize|export|restart)$'}
host_plugin=${1:-}
if [ -z "$host_plugin" ] && [ -f "$ctest_dir/libOrthancAnonymizer.so" ]; then
    host_plugin=$ctest_dir/libOrthancAnonymizer.so
fi
[ -n "$host_plugin" ] && [ -f "$host_plugin" ] ||
    { echo "run-all.sh: no host plugin (build $ctest_dir first)" >&2; exit 1; }
# absolute: the suites run from the test build's folder
host_plugin=$(cd "$(dirname "$host_plugin")" && pwd -P)/$(basename "$host_plugin")

LINE=""
# smoke WHERE PLUGIN LABEL VERSION: one smoke test; starts LINE, the
# summary line of this Orthanc and build.
smoke() {
    local out rc
    out=$("$HERE/smoke.sh" "$1" "$2" "$4" 2>&1); rc=$?
    printf '%s\n' "$out"
    LINE="Orthanc $4 ($1), build $3: smoke $(printf '%s\n' "$out" |
        sed -n 's/^smoke [a-z]*: //p' | tail -n 1)"
    [ "$rc" -eq 0 ] || { STATUS=1; LINE="$LINE (FAILED)"; }
}

# suites WHERE PLUGIN CTEST_ARGS...: the host's integration tests against
# the Orthanc of WHERE with PLUGIN; appends the counts to LINE.
suites() {
    local where=$1 plugin=$2 log rc counts failed
    shift 2
    log=$ctest_dir/versions-$where-$(basename "$(dirname "$plugin")").log
    ( cd "$ctest_dir" &&
      OA_TEST_ORTHANC=$HERE/orthanc-$where OA_TEST_PLUGIN=$plugin \
          ctest --output-on-failure -j "$JOBS" "$@" ) >"$log" 2>&1; rc=$?
    counts=$(sed -n 's/^[0-9]*% tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\)$/\1 \2/p' "$log")
    # the names under "The following tests FAILED:" (not the skipped ones)
    failed=$(sed -n '/^The following tests FAILED:/,/^Errors while running/s/^.*[0-9] - \(integration_[a-z_]*\) (.*$/\1/p' "$log" | tr '\n' ' ')
    if [ -z "$counts" ]; then
        LINE="$LINE; integration: no result (see $log)"; STATUS=1
    else
        set -- $counts
        LINE="$LINE; integration $(($2 - $1)) of $2 passed${failed:+, failed: $failed}"
        [ "$rc" -eq 0 ] || { STATUS=1; tail -n 40 "$log"; }
    fi
    say "integration on $where: see $log"
}

# "Orthanc 1.12.7" (1.12 and later), "/usr/sbin/Orthanc 1.10.1" (1.10).
orthanc_version() { sed -n '1s/^[^ ]*Orthanc \([0-9][^ ]*\).*/\1/p'; }
host_version=$(/usr/sbin/Orthanc --version | orthanc_version)
smoke host "$host_plugin" host "$host_version"
SUMMARY+=("$LINE (integration: the host's ctest run)")

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
            -DOA_BUILD_TESTS=OFF -DOA_WERROR="${OA_ROOT_WERROR:-ON}" >"$log" 2>&1 &&
        "$SCRIPTS/run-in-root.sh" "$suite" cmake --build "$build" -j "$JOBS" \
            --target OrthancAnonymizer >>"$log" 2>&1; then
        say "$suite: plugin built against Orthanc $version's SDK ($((SECONDS - t0)) s;" \
            "$(grep -c 'warning:' "$log") warnings, see $log)"
        smoke "$suite" "$build/libOrthancAnonymizer.so" "$suite" "$version"
        suites "$suite" "$build/libOrthancAnonymizer.so" -L integration -LE host_only
        SUMMARY+=("$LINE")
    else
        tail -n 20 "$log"
        SUMMARY+=("Orthanc $version ($suite), build $suite: BUILD FAILED"); STATUS=1
    fi
    smoke "$suite" "$host_plugin" host "$version"
    if [ "$suite" = sid ]; then
        suites "$suite" "$host_plugin" -R "$copy_suites"
    fi
    SUMMARY+=("$LINE")
done

if out=$("$HERE/setup-in-root.sh" trixie 2>&1); then :; else STATUS=1; fi
printf '%s\n' "$out"
SUMMARY+=("Debian 13: $(printf '%s\n' "$out" | tail -n 1)")

echo
printf '%s\n' "${SUMMARY[@]}"
echo "versions: $((SECONDS - START)) s, $([ "$STATUS" -eq 0 ] && echo passed || echo FAILED)"
exit "$STATUS"
