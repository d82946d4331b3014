/*
 * Unit tests of the ZIP writer's "fast" compressor (Plugin/export/
 * deflate.c): every stream it writes is inflated again by zlib (raw
 * DEFLATE, window 2^15) and must give the input back, end exactly where
 * the stream ends, and be no longer than oa_deflate_fast_bound says.
 *
 * Inputs: every length from 0 to 700 of runs, ramps, noise and text;
 * block boundaries (65,535 input bytes a block) with runs across them;
 * long runs (matches of 258); noise (stored blocks); byte frequencies in
 * a Fibonacci series, whose Huffman code would be deeper than DEFLATE's
 * 15 bits; every output capacity below what an input needs (0 or a good
 * stream, never a byte past the capacity: the buffers are exact, for
 * ASan); and every file of the corpus ($OA_CORPUS, else ../shared/corpus),
 * whose total size is printed against zlib's level 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "export/export_int.h"
#include "files.h"

static oa_deflater *deflater;
static char corpus[2048];

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* zlib gives `in` back from out[0..n), and the stream ends at n. */
static bool inflates_to(const uint8_t *out, size_t n, const uint8_t *in,
                        size_t len)
{
    z_stream z;
    uint8_t *back = malloc(len + 1);
    int rc;
    bool ok;

    assert_non_null(back);
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
    z.next_in = (Bytef *)out;
    z.avail_in = (uInt)n;
    z.next_out = back;
    z.avail_out = (uInt)(len + 1);
    rc = inflate(&z, Z_FINISH);
    ok = rc == Z_STREAM_END && z.total_out == len && z.avail_in == 0 &&
         (len == 0 || memcmp(back, in, len) == 0);
    inflateEnd(&z);
    free(back);
    return ok;
}

/* Compress `in` into an exact buffer of the bound, check it, and return
 * the compressed length. */
static size_t round_trip(const uint8_t *in, size_t len)
{
    size_t cap = oa_deflate_fast_bound(len), n;
    uint8_t *out = malloc(cap);

    assert_non_null(out);
    n = oa_deflate_fast(deflater, in, len, out, cap);
    assert_true(n > 0);
    assert_true(n <= cap);
    /* never more than the input plus 5 bytes a block of 65,535 and the
     * last byte's bits */
    assert_true(n <= len + 5 * (len / 65535 + 1) + 1);
    if (!inflates_to(out, n, in, len)) {
        print_error("a stream of %zu bytes for %zu does not inflate back\n",
                    n, len);
        fail();
    }
    free(out);
    return n;
}

enum { SHAPE_ZERO, SHAPE_RUNS, SHAPE_RAMP16, SHAPE_NOISE, SHAPE_TEXT,
       SHAPE_CT, SHAPES };

static void fill(uint8_t *p, size_t len, int shape)
{
    static const char text[] = "ISO_IR 100\\ORIGINAL\\PRIMARY\\AXIAL ";
    size_t i;

    for (i = 0; i < len; i++) {
        switch (shape) {
        case SHAPE_ZERO:
            p[i] = 0;
            break;
        case SHAPE_RUNS:     /* runs of 1 to 40 bytes, then 16-bit pairs */
            p[i] = (uint8_t)((i / (1 + (i % 41))) & 3);
            break;
        case SHAPE_RAMP16:
            p[i] = (uint8_t)((i & 1) ? (i >> 9) : (i >> 1));
            break;
        case SHAPE_NOISE:
            p[i] = (uint8_t)rnd();
            break;
        case SHAPE_TEXT:
            p[i] = (uint8_t)text[i % (sizeof(text) - 1)];
            break;
        default:             /* 16-bit CT: air around a noisy body */
            if (i & 1)
                p[i] = (uint8_t)(((i >> 10) % 7 < 3) ? 0xFC : 0x00);
            else
                p[i] = (uint8_t)(((i >> 10) % 7 < 3) ? 0x18 : rnd() % 40);
            break;
        }
    }
}

static void test_every_short_length(void **state)
{
    uint8_t buf[700];
    int shape;
    size_t len;

    (void)state;
    for (shape = 0; shape < SHAPES; shape++)
        for (len = 0; len <= sizeof(buf); len++) {
            fill(buf, len, shape);
            round_trip(buf, len);
        }
}

static void test_block_boundaries(void **state)
{
    static const size_t lens[] = {65534, 65535, 65536, 65537, 65539,
                                  131069, 131070, 131071, 200003};
    uint8_t *buf = malloc(200003);
    size_t i;
    int shape;

    (void)state;
    assert_non_null(buf);
    for (shape = 0; shape < SHAPES; shape++)
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            fill(buf, lens[i], shape);
            round_trip(buf, lens[i]);
        }
    /* a run that starts a few bytes before a block's end and goes on into
     * the next one, at every offset near the boundary */
    for (i = 65520; i < 65545; i++) {
        fill(buf, 131072, SHAPE_NOISE);
        memset(buf + i, 0x5A, 300);
        round_trip(buf, 131072);
    }
    free(buf);
}

static void test_long_runs_and_noise(void **state)
{
    size_t len = 4u << 20, n;
    uint8_t *buf = malloc(len);

    (void)state;
    assert_non_null(buf);
    /* zeros: matches of 258 bytes, a few bits each: about 500 times
     * smaller (zlib: 1,000) */
    memset(buf, 0, len);
    n = round_trip(buf, len);
    assert_true(n < len / 400);
    /* a 16-bit constant background: runs at distance 2 */
    for (n = 0; n < len; n += 2) {
        buf[n] = 0x18;
        buf[n + 1] = 0xFC;
    }
    assert_true(round_trip(buf, len) < len / 400);
    /* noise: stored blocks, no larger than the input plus their headers */
    fill(buf, len, SHAPE_NOISE);
    n = round_trip(buf, len);
    assert_true(n >= len);
    /* CT-like: smaller than the input */
    fill(buf, len, SHAPE_CT);
    assert_true(round_trip(buf, len) < len * 3 / 4);
    free(buf);
}

/* Byte frequencies 1, 1, 2, 3, 5, 8 ...: an optimal code 21 bits deep,
 * limited to 15; in a block of their own and mixed with noise. */
static void test_length_limit(void **state)
{
    uint8_t *buf = malloc(3 * 65535);
    uint32_t f[24];
    size_t pos = 0, k, i;

    (void)state;
    assert_non_null(buf);
    f[0] = f[1] = 1;
    for (k = 2; k < 24; k++)
        f[k] = f[k - 1] + f[k - 2];
    /* 1 + 1 + ... + F(22) = 46,367 bytes; no symbol next to itself, so
     * that no run is taken out of the counts */
    for (k = 0; k < 22; k++)
        for (i = 0; i < f[k]; i++)
            buf[pos++] = (uint8_t)(k * 7);
    for (i = 1; i + 1 < pos; i += 2) {   /* spread the symbols out */
        size_t j = (rnd() % (pos - 1)) | 1;
        uint8_t t = buf[i];

        buf[i] = buf[j];
        buf[j] = t;
    }
    round_trip(buf, pos);
    fill(buf + pos, 3 * 65535 - pos, SHAPE_NOISE);
    round_trip(buf, 3 * 65535);
    free(buf);
}

/* Every capacity below the needed one: 0, or a complete stream; an exact
 * buffer so that ASan sees a byte written past it. */
static void test_capacity(void **state)
{
    uint8_t in[3000];
    size_t need, cap;
    int shape;

    (void)state;
    for (shape = 0; shape < SHAPES; shape++) {
        uint8_t *full = malloc(oa_deflate_fast_bound(sizeof(in)));

        fill(in, sizeof(in), shape);
        need = oa_deflate_fast(deflater, in, sizeof(in), full,
                               oa_deflate_fast_bound(sizeof(in)));
        assert_true(need > 0);
        for (cap = 0; cap < need + 20; cap++) {
            uint8_t *out = malloc(cap == 0 ? 1 : cap);
            size_t n = oa_deflate_fast(deflater, in, sizeof(in), out, cap);

            assert_true(n == 0 || n == need);
            if (n != 0)
                assert_true(inflates_to(out, n, in, sizeof(in)));
            free(out);
        }
        free(full);
    }
}

/* The same input gives the same bytes (the way out and the two steps
 * must write the same archive), with a fresh compressor or a used one. */
static void test_deterministic(void **state)
{
    uint8_t in[100000], a[110000], b[110000];
    oa_deflater *other = oa_deflater_new();
    size_t na, nb;

    (void)state;
    assert_non_null(other);
    fill(in, sizeof(in), SHAPE_CT);
    na = oa_deflate_fast(deflater, in, sizeof(in), a, sizeof(a));
    nb = oa_deflate_fast(other, in, sizeof(in), b, sizeof(b));
    assert_true(na > 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    oa_deflater_free(other);
}

static void test_corpus(void **state)
{
    char path[8192], line[2048];
    FILE *index;
    size_t files = 0, total = 0, ours = 0, zlib1 = 0;

    (void)state;
    if (corpus[0] == '\0') {
        print_message("skipped: corpus not found (set OA_CORPUS)\n");
        skip();
    }
    snprintf(path, sizeof(path), "%s/INDEX.tsv", corpus);
    index = fopen(path, "r");
    assert_non_null(index);
    assert_non_null(fgets(line, sizeof(line), index));   /* the header */
    while (fgets(line, sizeof(line), index) != NULL) {
        char *tab = strchr(line, '\t');
        uint8_t *data;
        size_t len;

        if (tab == NULL)
            continue;
        *tab = '\0';
        snprintf(path, sizeof(path), "%s/%s", corpus, line);
        if (!read_whole(path, &data, &len))
            continue;
        ours += round_trip(data, len);
        {
            uLongf zn = compressBound((uLong)len);
            uint8_t *z = malloc(zn);

            assert_non_null(z);
            assert_int_equal(compress2(z, &zn, data, (uLong)len, 1), Z_OK);
            zlib1 += zn;
            free(z);
        }
        total += len;
        files++;
        free(data);
    }
    fclose(index);
    assert_true(files >= 500);
    print_message("corpus: %zu files, %zu bytes: ours %zu (%.3f), zlib's "
                  "level 1 %zu (%.3f)\n",
                  files, total, ours, (double)ours / (double)total, zlib1,
                  (double)zlib1 / (double)total);
}

static int setup(void **state)
{
    (void)state;
    deflater = oa_deflater_new();
    if (deflater == NULL)
        return -1;
    find_corpus(corpus, sizeof(corpus), OA_SOURCE_DIR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    oa_deflater_free(deflater);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_short_length),
        cmocka_unit_test(test_block_boundaries),
        cmocka_unit_test(test_long_runs_and_noise),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
