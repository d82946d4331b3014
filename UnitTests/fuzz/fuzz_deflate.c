/*
 * fuzz_deflate: the ZIP writer's "fast" compressor (Plugin/export/
 * deflate.c) on any bytes.
 *
 * The input is compressed into a buffer of oa_deflate_fast_bound bytes;
 * oracles (trap): the stream is no longer than that, zlib inflates it
 * (raw DEFLATE) back to the input and it ends where the stream ends; with
 * one byte less of room than it took, the compressor says 0 and writes
 * nothing past that room (an exact buffer: ASan).
 */
#include "export/export_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static oa_deflater *deflater;

static void check_inflates(const uint8_t *out, size_t n, const uint8_t *in,
                           size_t len)
{
    z_stream z;
    uint8_t *back = malloc(len + 1);
    int rc;

    if (back == NULL)
        return;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, -15) != Z_OK) {
        free(back);
        return;
    }
    z.next_in = (Bytef *)out;
    z.avail_in = (uInt)n;
    z.next_out = back;
    z.avail_out = (uInt)(len + 1);
    rc = inflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END || z.total_out != len || z.avail_in != 0 ||
        (len > 0 && memcmp(back, in, len) != 0))
        __builtin_trap();
    inflateEnd(&z);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap, n;
    uint8_t *out;

    if (deflater == NULL && (deflater = oa_deflater_new()) == NULL)
        return 0;
    cap = oa_deflate_fast_bound(size);
    out = malloc(cap);
    if (out == NULL)
        return 0;
    n = oa_deflate_fast(deflater, data, size, out, cap);
    if (n == 0 || n > cap)
        __builtin_trap();
    check_inflates(out, n, data, size);
    free(out);
    out = malloc(n - 1 == 0 ? 1 : n - 1);
    if (out == NULL)
        return 0;
    if (oa_deflate_fast(deflater, data, size, out, n - 1) != 0)
        __builtin_trap();
    free(out);
    return 0;
}
