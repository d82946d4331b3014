/*
 * The ZIP writer's "fast" compressor (Plugin/export/deflate.c) against
 * libdeflate's level 1 and level 9 (or the level given by -l), on files,
 * in memory, one thread: each file is read once, compressed REPEAT times
 * by each, and every stream of ours is inflated back by zlib and compared
 * (a mismatch is counted as "bad" and the exit status is 1).  Prints MB/s
 * (1 MB = 10^6 bytes of input per second) and the size ratio.  Built and
 * run by benchmark-deflate.sh; not a test.
 *
 *   benchmark-deflate [-r REPEAT] [-l LEVEL] FILE...
 */
#define _POSIX_C_SOURCE 200809L

#include "export/export_int.h"

#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* The allocator of core/ without the rest of oacore. */
void *oa_calloc(size_t n, size_t size) { return calloc(n, size); }
void oa_free(void *p) { free(p); }

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int inflates_to(const uint8_t *c, size_t n, const uint8_t *in,
                       size_t len)
{
    uint8_t *back = malloc(len + 1);
    z_stream z;
    int ok;

    if (back == NULL)
        return 0;
    memset(&z, 0, sizeof(z));
    inflateInit2(&z, -15);
    z.next_in = (Bytef *)c;
    z.avail_in = (uInt)n;
    z.next_out = back;
    z.avail_out = (uInt)(len + 1);
    ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == len &&
         z.avail_in == 0 && memcmp(back, in, len) == 0;
    inflateEnd(&z);
    free(back);
    return ok;
}

int main(int argc, char **argv)
{
    int repeat = 5, level = 1, opt, i, r, bad = 0, files = 0;
    double t_ours = 0, t_lib = 0;
    size_t total = 0, ours = 0, lib = 0;
    oa_deflater *d = oa_deflater_new();
    struct libdeflate_compressor *c;

    while ((opt = getopt(argc, argv, "r:l:")) != -1) {
        if (opt == 'r')
            repeat = atoi(optarg) > 0 ? atoi(optarg) : 1;
        else if (opt == 'l')
            level = atoi(optarg);
        else {
            fprintf(stderr, "usage: %s [-r REPEAT] [-l LEVEL] FILE...\n",
                    argv[0]);
            return 2;
        }
    }
    c = libdeflate_alloc_compressor(level);
    if (d == NULL || c == NULL) {
        fprintf(stderr, "benchmark-deflate: out of memory or bad level\n");
        return 2;
    }
    for (i = optind; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        long n;
        uint8_t *in, *o1, *o2;
        size_t cap1, cap2, m1 = 0, m2 = 0;
        double t0, t1, t2;

        if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) <= 0) {
            if (fp != NULL)
                fclose(fp);
            continue;
        }
        rewind(fp);
        in = malloc((size_t)n);
        if (in == NULL || fread(in, 1, (size_t)n, fp) != (size_t)n) {
            fclose(fp);
            free(in);
            continue;
        }
        fclose(fp);
        cap1 = oa_deflate_fast_bound((size_t)n);
        cap2 = libdeflate_deflate_compress_bound(c, (size_t)n);
        o1 = malloc(cap1);
        o2 = malloc(cap2);
        if (o1 == NULL || o2 == NULL)
            return 2;
        /* once each before the clock: the output buffers' pages */
        oa_deflate_fast(d, in, (size_t)n, o1, cap1);
        libdeflate_deflate_compress(c, in, (size_t)n, o2, cap2);
        t0 = now();
        for (r = 0; r < repeat; r++)
            m1 = oa_deflate_fast(d, in, (size_t)n, o1, cap1);
        t1 = now();
        for (r = 0; r < repeat; r++)
            m2 = libdeflate_deflate_compress(c, in, (size_t)n, o2, cap2);
        t2 = now();
        t_ours += (t1 - t0) / repeat;
        t_lib += (t2 - t1) / repeat;
        total += (size_t)n;
        ours += m1;
        lib += m2;
        files++;
        if (m1 == 0 || !inflates_to(o1, m1, in, (size_t)n)) {
            fprintf(stderr, "benchmark-deflate: BAD stream for %s\n", argv[i]);
            bad++;
        }
        free(in);
        free(o1);
        free(o2);
    }
    if (files == 0 || t_ours <= 0 || t_lib <= 0) {
        fprintf(stderr, "benchmark-deflate: no file read\n");
        return 2;
    }
    printf("%d files, %.1f MB, %d repeats, %d bad\n", files, total / 1e6,
           repeat, bad);
    printf("  ours (fast)      %7.1f MB/s  size/input %.3f\n",
           total / t_ours / 1e6, (double)ours / (double)total);
    printf("  libdeflate %-2d    %7.1f MB/s  size/input %.3f\n", level,
           total / t_lib / 1e6, (double)lib / (double)total);
    printf("  ours / libdeflate: %.2fx the speed, %.2fx the size\n",
           t_lib / t_ours, (double)ours / (double)lib);
    oa_deflater_free(d);
    libdeflate_free_compressor(c);
    return bad ? 1 : 0;
}
