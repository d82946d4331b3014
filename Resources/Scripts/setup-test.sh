#!/bin/bash
# Install what the tests need, then run every test as CI does:
#
#   1. build-ci/   gcc, -Werror, every test (ctest: unit, fuzz corpus
#                  replays, integration tests against a real Orthanc);
#   2. build-asan/ clang ($OA_CLANG: 14 on Debian 12) with AddressSanitizer + UndefinedBehavior-
#                  Sanitizer, -Werror, the unit and fuzz tests.
#
# Exits non-zero on the first failure.  On Debian 12 as root (or sudo);
# apt-get runs only if a package is missing.  .ci/run calls this script.
#
# The 600-file test corpus is not in the repository: OA_CORPUS names it
# (default: ../shared/corpus beside the clone, as CI has it).  Here it must
# be there: without it the corpus tests would only report "skipped".
#
# Environment: OA_JOBS (parallel jobs, default: the cores), OA_CORPUS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=setup-common.sh
. "$ROOT/Resources/Scripts/setup-common.sh"
cd "$ROOT"

JOBS=$(oa_jobs)
START=$SECONDS

OA_CORPUS=${OA_CORPUS:-$(cd "$ROOT/.." && pwd)/shared/corpus}
if [ ! -f "$OA_CORPUS/INDEX.tsv" ]; then
    echo "setup-test.sh: no test corpus at $OA_CORPUS (INDEX.tsv):" \
         "put it at ../shared/corpus or set OA_CORPUS" >&2
    exit 1
fi
export OA_CORPUS
# Tesseract (OCR of burned-in text) with one OpenMP thread: its spinning
# threads otherwise cost 3-4 times the CPU (doc/anonymization.md).
export OMP_THREAD_LIMIT=1
oa_say "test corpus: $OA_CORPUS"

oa_install_packages "${OA_RUN_PACKAGES[@]}" "${OA_TEST_PACKAGES[@]}"

# -- Browser test of the Orthanc Explorer buttons (integration_explorer) --
# Debian's Chromium, and node with npm: UnitTests/integration/
# test_explorer.sh installs playwright-core from npm into the build folder
# (it downloads no browser).  A node that is already there (with its npm)
# is kept: Debian's nodejs/npm only come in when one of them is missing.
oa_install_packages chromium
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    oa_install_packages nodejs npm
fi
# -- end of the browser test's packages ------------------------------------

# 1. Warnings as errors, all tests --------------------------------------
oa_say "build-ci: gcc, -Werror"
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOA_WERROR=ON
cmake --build build-ci -j "$JOBS"
oa_say "build-ci: ctest (all labels)"
(cd build-ci && ctest --output-on-failure -j "$JOBS") 2>&1 | tee build-ci/ctest.log
host_line=$(sed -n 's/^\([0-9]*% tests passed, .*\)$/\1/p' build-ci/ctest.log)

# 2. Sanitizers ---------------------------------------------------------
# The plugin itself is not built here: a sanitized .so cannot be loaded
# into Debian's (unsanitized) Orthanc.  The reader's corpus tests run here;
# the engine meets every corpus file under the sanitizers in
# fuzz_anon_engine_replay, so the anonymizer's corpus proofs (anon_corpus,
# anon_validity, anon_sets, corpus_dicomdir: the same code, slower) run in
# step 1 only.
oa_say "build-asan: clang-$OA_CLANG, AddressSanitizer + UBSan, -Werror"
CC=clang-$OA_CLANG cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
    -DOA_WERROR=ON -DOA_SANITIZE=address,undefined -DOA_BUILD_PLUGIN=OFF
cmake --build build-asan -j "$JOBS"
oa_say "build-asan: ctest (unit, fuzz, corpus)"
(cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$JOBS" -L 'unit|fuzz|corpus' \
        -E '^(anon_corpus|anon_validity|anon_sets|corpus_dicomdir)$')

# 3. Orthanc 1.12.7 and 1.13.0 -----------------------------------------
# Debian 13's and unstable's Orthanc from Debian root file systems (made
# with debootstrap, cached in /var/cache/orthanc-anonymizer/roots): the
# plugin built against each root's SDK, and the host's build copied there,
# through smoke.sh and the integration suite (UnitTests/versions/
# run-all.sh, doc/orthanc-versions.md), and setup-run.sh on Debian 13.
oa_say "versions: Orthanc 1.12.7 (Debian 13) and 1.13.0 (unstable)"
versions_log=build-ci/versions.log
UnitTests/versions/run-all.sh build-ci/libOrthancAnonymizer.so 2>&1 | tee "$versions_log"

oa_say "Summary per Orthanc version"
echo "Orthanc $(/usr/sbin/Orthanc --version | sed -n '1s/^[^ ]*Orthanc \([0-9][^ ]*\).*/\1/p') (host, Debian 12), build host: all labels, $host_line"
sed -n '/^Orthanc [0-9]/p; /^Debian 13: /p' "$versions_log"
oa_say "All tests passed ($((SECONDS - START)) s)"
