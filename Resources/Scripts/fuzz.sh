#!/bin/sh
# Fuzz the DICOM reader/writer with libFuzzer for a while.
#
#   Resources/Scripts/fuzz.sh [SECONDS] [-- LIBFUZZER_ARGS...]
#
# Configures BUILD_DIR (default build-fuzz) with clang-14, OA_FUZZ=libfuzzer
# and OA_SANITIZE=address,undefined (the whole build, so that oacore is
# instrumented like the target), builds TARGET (default fuzz_dicom_reader),
# and runs it for SECONDS (default 600) with -max_len=65536 on a fresh copy
# of UnitTests/fuzz/corpus/TARGET/.  Inputs that crash, leak, hang or
# exhaust memory are left in BUILD_DIR/fuzz-run/TARGET/artifacts/, and the
# script then exits 1 (0 if none; 2 if the build fails).
#
# Environment:
#   CC=clang-14          the compiler (needs the libFuzzer runtime:
#                        Debian packages clang-14 libclang-rt-14-dev)
#   BUILD_DIR=build-fuzz relative to the source root, or absolute
#   TARGET=fuzz_dicom_reader
#   FUZZ_KEEP_GOING=1    do not stop at the first crash: fork mode with
#                        -ignore_crashes/-ignore_timeouts/-ignore_ooms, so a
#                        known bug does not end the campaign
#   FUZZ_JOBS=1          parallel jobs in FUZZ_KEEP_GOING mode
#
# A crash is reproduced with `BUILD_DIR/UnitTests/fuzz/TARGET FILE` and
# minimized with `... -minimize_crash=1 -runs=100000 FILE`; commit it to
# UnitTests/fuzz/corpus/TARGET/crash-<short>.dcm (STYLE.md: with a unit
# test).
set -eu

seconds=600
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    seconds=$1
    shift
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
    shift
fi
case $seconds in
    ''|*[!0-9]*|0) echo "usage: $0 [SECONDS] [-- LIBFUZZER_ARGS...]" >&2
                 exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang-14}
target=${TARGET:-fuzz_dicom_reader}
build=${BUILD_DIR:-build-fuzz}
case $build in
    /*) ;;
    *) build=$root/$build ;;
esac
seeds=$root/UnitTests/fuzz/corpus/$target
run=$build/fuzz-run/$target

mkdir -p "$build"
echo "fuzz.sh: configuring $build with $cc (libfuzzer, address,undefined)"
if ! cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOA_FUZZ=libfuzzer \
        -DOA_SANITIZE=address,undefined -DOA_BUILD_PLUGIN=OFF \
        >"$build/fuzz-configure.log" 2>&1; then
    cat "$build/fuzz-configure.log" >&2
    exit 2
fi
if ! cmake --build "$build" --target "$target" -j"$(nproc 2>/dev/null || echo 2)" \
        >"$build/fuzz-build.log" 2>&1; then
    cat "$build/fuzz-build.log" >&2
    echo "fuzz.sh: build failed (libFuzzer runtime missing? Debian:" \
         "apt-get install libclang-rt-14-dev)" >&2
    exit 2
fi
bin=$build/UnitTests/fuzz/$target

rm -rf "$run"
mkdir -p "$run/corpus" "$run/artifacts"
cp "$seeds"/* "$run/corpus/"

set -- -max_len=65536 -max_total_time="$seconds" -timeout=30 \
       -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$run/artifacts/" "$@"
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    set -- -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 \
           -ignore_ooms=1 "$@"
fi

echo "fuzz.sh: running $target for ${seconds}s on $(find "$run/corpus" -type f | wc -l)" \
     "seeds; log in $run/fuzz.log"
start=$(date +%s)
status=0
# libFuzzer's own exit status is not enough in fork mode: judge by the
# artifacts it leaves.
( cd "$run" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
      "$bin" "$@" corpus ) >"$run/fuzz.log" 2>&1 || status=$?
end=$(date +%s)

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/fuzz.log" |
        awk '{s += $1} END {print s + 0}')
if [ "$execs" = 0 ]; then
    # fork mode prints no final stats: take the last "#N: cov: ..." line
    execs=$(sed -n 's/^#\([0-9]*\):* .*/\1/p' "$run/fuzz.log" | tail -n 1)
fi
# coverage: the "cov:" (edges) and "ft:" (features) of the last status line
cov=$(sed -n 's/^#[0-9]*.* cov: \([0-9]*\) ft: \([0-9]*\).*/\1 edges, \2 features/p' \
      "$run/fuzz.log" | tail -n 1)
echo "fuzz.sh: ran $((end - start))s, ${execs:-?} executions," \
     "coverage ${cov:-?}, libFuzzer exit status $status, corpus now" \
     "$(find "$run/corpus" -type f | wc -l) inputs"

found=$(find "$run/artifacts" -type f | wc -l)
if [ "$found" -gt 0 ]; then
    echo "fuzz.sh: $found input(s) in $run/artifacts, e.g.:" >&2
    find "$run/artifacts" -type f -printf '  %s bytes  %p\n' | sort -n |
        head -n 10 >&2
    grep -m 5 -E '^(==[0-9]+==ERROR|SUMMARY|.*deadly signal)' "$run/fuzz.log" \
        >&2 || true
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: libFuzzer failed without an artifact; see $run/fuzz.log" >&2
    tail -n 20 "$run/fuzz.log" >&2
    exit 1
fi
echo "fuzz.sh: no crash"
