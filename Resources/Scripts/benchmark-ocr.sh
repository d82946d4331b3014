#!/bin/bash
# OCR benchmark: frames per second of OCR (oa_ocr_words + oa_ocr_match) on
# a 640x480 ultrasound-like frame, on one core (taskset, one OpenMP
# thread), for each way of reading an image, and on a small frame (the x2
# upscale).  Goal: >= 5 frames/s with the default on 640x480.  Not a test:
# it prints numbers.  Run it on an idle machine: other load halves them.
#
# Usage: Resources/Scripts/benchmark-ocr.sh [BUILD_DIR] [SECONDS_A_MODE]
#   BUILD_DIR       a configured build of the project (default: build);
#                   liboacore.a is built there if needed
#   SECONDS_A_MODE  how long each mode runs (default 5)
# Environment: OA_BENCH_WORDS=1 also prints the words each mode read.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
secs=${2:-5}
[ -d "$build" ] || { echo "no build directory $build (cmake -S . -B build)" >&2; exit 1; }
cmake --build "$build" --target oacore -j2 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/UnitTests/ocr/make_images.py" "$work"
# Link like oacore's users: its static library and every dependency.
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$root/Plugin" \
    "$here/benchmark-ocr.c" "$build/liboacore.a" \
    $(pkg-config --cflags --libs tesseract libcjson libcurl libssh2 minizip libpq) \
    -lcrypto -lz -lpthread -o "$work/benchmark-ocr"
words=()
[ "${OA_BENCH_WORDS:-0}" = 1 ] && words=(--words)
echo "== 640x480 ultrasound-like frame (UnitTests/ocr/make_images.py bench.pgm), one core"
OMP_THREAD_LIMIT=1 taskset -c 0 "$work/benchmark-ocr" "$work/bench.pgm" "$secs" ${words[@]+"${words[@]}"} 2>&1 | grep -v "^Estimating resolution"
echo "== 320x240 frame with 11 px text (small.pgm: x2 below 640 px wide), one core"
OMP_THREAD_LIMIT=1 taskset -c 0 "$work/benchmark-ocr" "$work/small.pgm" "$secs" ${words[@]+"${words[@]}"} 2>&1 | grep -v "^Estimating resolution"
