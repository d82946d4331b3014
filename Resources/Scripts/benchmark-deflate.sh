#!/bin/bash
# The ZIP writer's "fast" compressor against libdeflate (not a test:
# prints figures; exits 1 only if one of our streams does not inflate
# back).
#
#   Resources/Scripts/benchmark-deflate.sh
#
# Builds benchmark-deflate.c with Plugin/export/deflate.c (gcc -O2, as the
# RelWithDebInfo plugin) into BENCH_TMP, generates (once, cached in
# BUILD_DIR/bench-data/deflate-ct/) 40 instances of generate-ct-study.py's
# CT study, then compresses in memory, on one core (taskset -c 0 when
# available), each file REPEAT times with ours and with libdeflate's
# level 1 and level 9: the synthetic CT, fo-dicom/GH1308.dcm of the
# corpus (a real CT slice) and every .dcm file of the corpus ($OA_CORPUS,
# else ../shared/corpus).
#
# Environment: BUILD_DIR (build), BENCH_TMP (a temporary folder), REPEAT
# (5), PYTHON (/usr/bin/python3), OA_CORPUS, CC (gcc).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
tmp=${BENCH_TMP:-$(mktemp -d)}
repeat=${REPEAT:-5}
python=${PYTHON:-/usr/bin/python3}
corpus=${OA_CORPUS:-$root/../shared/corpus}
cc=${CC:-gcc}
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

"$cc" -O2 -std=c11 -I"$root/Plugin" -o "$tmp/benchmark-deflate" \
    "$root/Resources/Scripts/benchmark-deflate.c" \
    "$root/Plugin/export/deflate.c" -ldeflate -lz
data=$build/bench-data/deflate-ct
if [ ! -f "$data/CT000040.dcm" ]; then
    mkdir -p "$data"
    "$python" "$root/Resources/Scripts/generate-ct-study.py" "$data" 40 >/dev/null
fi
echo "== synthetic CT (generate-ct-study.py, 40 instances)"
for level in 1 9; do
    "${pin[@]}" "$tmp/benchmark-deflate" -r "$repeat" -l $level "$data"/*.dcm
done
if [ -f "$corpus/fo-dicom/GH1308.dcm" ]; then
    echo "== a real CT slice (corpus: fo-dicom/GH1308.dcm)"
    for level in 1 9; do
        "${pin[@]}" "$tmp/benchmark-deflate" -r $((repeat * 4)) -l $level \
            "$corpus/fo-dicom/GH1308.dcm"
    done
    echo "== every .dcm file of the corpus"
    find "$corpus" -type f -name '*.dcm' -print0 | sort -z |
        xargs -0 "${pin[@]}" "$tmp/benchmark-deflate" -r 3 -l 1
else
    echo "(no corpus at $corpus: its rows are left out)"
fi
[ -n "${BENCH_TMP:-}" ] || rm -rf "$tmp"
