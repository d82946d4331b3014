#!/bin/sh
# Benchmark of the pixels module: frames per second of rule cleaning
# (oa_pixels_decide: the copy of the Pixel Data and the blanking of the
# rule's rectangles) against a memcpy of the same bytes, printed as a ratio.
#
#   Resources/Scripts/benchmark-pixels.sh [BUILD_DIR]
#
# BUILD_DIR (default build) must hold a built liboacore.a (cmake --build
# BUILD_DIR --target oacore; a release-like build: RelWithDebInfo is the
# default).  The driver is compiled with -O2 into a temporary folder.
# Cases:
#   us-rgb    100 frames 640x480 RGB 8-bit, US, ACUSON SEQUOIA: deid rule
#             "Acuson Sequoia" (640x30 banner)
#   ct-16     100 frames 512x512 MONOCHROME2 16-bit signed, CT LightSpeed VCT
#             dose series: deid rule "LightSpeed Dose Report" (512x121)
#   us-regions 100 frames 640x480 RGB, no device rule: blank all but the
#             Sequence of Ultrasound Regions
#   rle-rgb   10 frames 640x480 RGB in RLE Lossless: decode, blank, re-encode
#             (memcpy ratio given for reference only)
#   keep      a CT instance without risk: the decision alone (per instance)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in
    /*) ;;
    *) build=$root/$build ;;
esac
lib=$build/liboacore.a
if [ ! -f "$lib" ]; then
    echo "benchmark-pixels: $lib not found (cmake --build $build --target oacore)" >&2
    exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/bench.c" <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include "pixels/pixels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T(g, e) OA_TAG(0x##g, 0x##e)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set(oa_pixels_attrs *a, uint32_t tag, const char *s)
{
    oa_pixels_attrs_set(a, tag, (const uint8_t *)s, strlen(s), NULL);
}

static void image(oa_pixels_attrs *a, unsigned rows, unsigned cols,
                  unsigned frames, unsigned spp, unsigned bits,
                  const char *pi, int sign)
{
    oa_pixels_attrs_set_uint(a, T(0028, 0010), rows, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0011), cols, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0008), frames, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0002), spp, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0100), bits, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0101), bits, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0102), bits - 1, NULL);
    oa_pixels_attrs_set_uint(a, T(0028, 0103), sign, NULL);
    set(a, T(0028, 0004), pi);
    oa_pixels_attrs_set_ts(a, "1.2.840.10008.1.2.1", 19, NULL);
}

/* Run decide `iters` times; return seconds per call. */
static double time_decide(oa_pixels_attrs *a, int iters, const char *want)
{
    oa_pixels_result r;
    double t0, best = 1e9;
    for (int i = 0; i < iters; i++) {
        oa_pixels_result_init(&r);
        t0 = now();
        if (oa_pixels_decide(a, NULL, &r, NULL) != OA_OK ||
            strcmp(oa_pixels_verdict_name(r.verdict), want) != 0) {
            fprintf(stderr, "unexpected: %s (%s)\n",
                    oa_pixels_verdict_name(r.verdict), r.reason);
            exit(1);
        }
        t0 = now() - t0;
        if (t0 < best)
            best = t0;
        oa_pixels_result_dispose(&r);
    }
    return best;
}

static double time_memcpy(const uint8_t *src, size_t n, int iters)
{
    double best = 1e9;
    for (int i = 0; i < iters; i++) {
        uint8_t *dst = malloc(n);
        double t0 = now();
        memcpy(dst, src, n);
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        t0 = now() - t0;
        if (t0 < best)
            best = t0;
        free(dst);
    }
    return best;
}

static void report(const char *name, unsigned frames, size_t bytes,
                   double t, double tm)
{
    printf("%-10s %4u frames %9zu bytes: %9.0f frames/s (%7.1f MB/s); "
           "memcpy %9.0f frames/s; ratio memcpy/cleaning %.2f\n",
           name, frames, bytes, frames / t, bytes / t / 1e6, frames / tm,
           t / tm);
}

int main(void)
{
    const unsigned F = 100;
    size_t us_n = (size_t)640 * 480 * 3 * F, ct_n = (size_t)512 * 512 * 2 * F;
    uint8_t *us = malloc(us_n), *ct = malloc(ct_n);
    oa_pixels_attrs *a;
    double t, tm;

    for (size_t i = 0; i < us_n; i++)
        us[i] = (uint8_t)(i * 2654435761u >> 13);
    for (size_t i = 0; i < ct_n; i++)
        ct[i] = (uint8_t)(i * 2246822519u >> 11);
    oa_pixels_attrs_new(&a, NULL);

    image(a, 480, 640, F, 3, 8, "RGB", 0);
    set(a, T(0008, 0060), "US");
    set(a, T(0008, 0070), "ACUSON");
    set(a, T(0008, 1090), "SEQUOIA");
    oa_pixels_attrs_set_native(a, us, us_n, 0, false);
    t = time_decide(a, 15, "cleaned");
    tm = time_memcpy(us, us_n, 15);
    report("us-rgb", F, us_n, t, tm);

    oa_pixels_attrs_reset(a);
    image(a, 512, 512, F, 1, 16, "MONOCHROME2", 1);
    set(a, T(0008, 0060), "CT");
    set(a, T(0008, 1090), "LightSpeed VCT");
    set(a, T(0008, 103E), "Dose Report");
    oa_pixels_attrs_set_native(a, ct, ct_n, 0, false);
    t = time_decide(a, 15, "cleaned");
    tm = time_memcpy(ct, ct_n, 15);
    report("ct-16", F, ct_n, t, tm);

    oa_pixels_attrs_reset(a);
    image(a, 480, 640, F, 3, 8, "RGB", 0);
    set(a, T(0008, 0060), "US");
    set(a, T(0018, 6011), "");
    oa_pixels_attrs_add_us_region(a, 40, 60, 600, 440, NULL);
    oa_pixels_attrs_set_native(a, us, us_n, 0, false);
    t = time_decide(a, 15, "cleaned");
    tm = time_memcpy(us, us_n, 15);
    report("us-regions", F, us_n, t, tm);

    {
        const unsigned RF = 10;
        size_t frame = (size_t)640 * 480 * 3;
        oa_buf enc[10];
        oa_pixels_attrs_reset(a);
        image(a, 480, 640, RF, 3, 8, "RGB", 0);
        set(a, T(0008, 0060), "US");
        set(a, T(0008, 0070), "ACUSON");
        set(a, T(0008, 1090), "SEQUOIA");
        oa_pixels_attrs_set_ts(a, "1.2.840.10008.1.2.5", 19, NULL);
        oa_pixels_attrs_add_fragment(a, (const uint8_t *)"", 0, 0, NULL);
        /* an ultrasound-like frame: dark background, some texture */
        for (unsigned f = 0; f < RF; f++) {
            uint8_t *p = malloc(frame);
            for (size_t i = 0; i < frame; i++)
                p[i] = (i % 640) > 100 && (i % 640) < 540
                           ? (uint8_t)((i * 31 >> 9) & 0x3F) : 0;
            oa_buf_init(&enc[f], (size_t)1 << 30);
            oa_pixels_rle_encode(p, frame, 480, 640, 3, 1, &enc[f], NULL);
            oa_pixels_attrs_add_fragment(a, oa_buf_data(&enc[f]), enc[f].len,
                                         0, NULL);
            free(p);
        }
        t = time_decide(a, 5, "cleaned");
        tm = time_memcpy(us, frame * RF, 15);
        report("rle-rgb", RF, frame * RF, t, tm);
        for (unsigned f = 0; f < RF; f++)
            oa_buf_dispose(&enc[f]);
    }

    oa_pixels_attrs_reset(a);
    image(a, 512, 512, 1, 1, 16, "MONOCHROME2", 1);
    set(a, T(0008, 0060), "CT");
    set(a, T(0008, 0008), "ORIGINAL\\PRIMARY\\AXIAL");
    set(a, T(0008, 0070), "SIEMENS");
    set(a, T(0008, 1090), "SOMATOM Force");
    oa_pixels_attrs_set_native(a, ct, 512 * 512 * 2, 0, false);
    {
        double t0 = now();
        int n = 20000;
        oa_pixels_result r;
        for (int i = 0; i < n; i++) {
            oa_pixels_result_init(&r);
            oa_pixels_decide(a, NULL, &r, NULL);
        }
        t = (now() - t0) / n;
        tm = time_memcpy(ct, 512 * 512 * 2, 50);
        printf("keep       a 512x512 CT without risk: decision %.2f us per "
               "instance (%.1f%% of a memcpy of its pixels)\n", t * 1e6,
               100 * t / tm);
    }
    oa_pixels_attrs_free(a);
    free(us);
    free(ct);
    return 0;
}
EOF

cc -O2 -std=c11 -I"$root/Plugin" -I"$build/generated" "$tmp/bench.c" "$lib" \
   $(pkg-config --libs libcjson libcurl libssh2 minizip libpq) -lz -lcrypto \
   -lpthread -o "$tmp/bench"
"$tmp/bench"
