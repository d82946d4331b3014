/*
 * pixels/rle.c: RLE Lossless (PS3.5 Annex G).  A frame is one fragment: a
 * header of 16 little-endian 32-bit words (number of segments, then the
 * offset of each segment), then the segments, one per byte plane: for each
 * sample in turn, its most significant byte first.  A segment is PackBits:
 * a header byte n, then n+1 literal bytes (0 <= n <= 127) or one byte
 * repeated 1-n times (-127 <= n <= -1); -128 is a no-op.
 *
 * Decoded frames are laid out as planar configuration 1 in little endian:
 * sample planes one after the other, each pixel a little-endian word.
 */
#include "pixels_int.h"

#include <string.h>

static int frame_size(uint32_t rows, uint32_t columns, uint16_t samples,
                      uint16_t bytes, size_t *px, size_t *total)
{
    if (rows == 0 || columns == 0 || samples == 0 || bytes == 0 ||
        (size_t)samples * bytes > 15 ||
        oa_size_mul(px, rows, columns) != 0 ||
        oa_size_mul(total, *px, (size_t)samples * bytes) != 0)
        return -1;
    return 0;
}

oa_status oa_pixels_rle_decode(const uint8_t *frag, size_t frag_len,
                               uint32_t rows, uint32_t columns,
                               uint16_t samples, uint16_t bytes,
                               uint8_t *out, size_t out_len, oa_error *err)
{
    size_t px, total;
    uint32_t nseg, off[16];

    if (frame_size(rows, columns, samples, bytes, &px, &total) != 0 ||
        out_len != total)
        return oa_error_set(err, OA_EINVAL,
                            "RLE: frame of %ux%u x %u samples x %u bytes "
                            "not decodable", (unsigned)rows,
                            (unsigned)columns, (unsigned)samples,
                            (unsigned)bytes);
    if (frag == NULL || frag_len < 64)
        return oa_error_set(err, OA_EPARSE,
                            "RLE: fragment of %zu bytes has no 64-byte "
                            "header", frag_len);
    nseg = oa_get_le32(frag);
    if (nseg != (uint32_t)samples * bytes)
        return oa_error_set(err, OA_EPARSE,
                            "RLE: header names %u segments, %u samples x %u "
                            "bytes need %u", (unsigned)nseg,
                            (unsigned)samples, (unsigned)bytes,
                            (unsigned)(samples * bytes));
    for (uint32_t i = 0; i < nseg; i++) {
        off[i] = oa_get_le32(frag + 4 + 4 * i);
        if (off[i] < 64 || off[i] > frag_len ||
            (i > 0 && off[i] < off[i - 1]))
            return oa_error_set(err, OA_EPARSE,
                                "RLE: segment %u offset %u outside the "
                                "fragment of %zu bytes (or out of order)",
                                (unsigned)i, (unsigned)off[i], frag_len);
    }
    off[nseg] = (uint32_t)(frag_len > UINT32_MAX ? UINT32_MAX : frag_len);
    for (uint32_t k = 0; k < nseg; k++) {
        unsigned s = k / bytes, b = k % bytes;
        uint8_t *dst = out + (size_t)s * px * bytes + (bytes - 1u - b);
        const uint8_t *p = frag + off[k], *end = frag + off[k + 1];
        size_t n = 0;

        while (n < px) {
            int h;
            if (p >= end)
                return oa_error_set(err, OA_EPARSE,
                                    "RLE: segment %u ends after %zu of %zu "
                                    "bytes (fragment offset %u)",
                                    (unsigned)k, n, px, (unsigned)off[k]);
            h = (int8_t)*p++;
            if (h >= 0) {
                size_t cnt = (size_t)h + 1;
                if ((size_t)(end - p) < cnt)
                    return oa_error_set(err, OA_EPARSE,
                                        "RLE: segment %u literal run of %zu "
                                        "bytes passes its end (fragment "
                                        "offset %zu)", (unsigned)k, cnt,
                                        (size_t)(p - frag));
                if (cnt > px - n)
                    cnt = px - n;  /* extra bytes past the plane: ignored */
                for (size_t i = 0; i < cnt; i++)
                    dst[(n + i) * bytes] = p[i];
                p += (size_t)h + 1;
                n += cnt;
            } else if (h != -128) {
                size_t cnt = (size_t)(1 - h);
                uint8_t v;
                if (p >= end)
                    return oa_error_set(err, OA_EPARSE,
                                        "RLE: segment %u replicate run "
                                        "without its byte (fragment offset "
                                        "%zu)", (unsigned)k,
                                        (size_t)(p - frag));
                v = *p++;
                if (cnt > px - n)
                    cnt = px - n;
                if (bytes == 1)
                    memset(dst + n, v, cnt);
                else
                    for (size_t i = 0; i < cnt; i++)
                        dst[(n + i) * bytes] = v;
                n += cnt;
            }
        }
    }
    return OA_OK;
}

/* PackBits one row of `n` bytes. */
static oa_status pack_row(const uint8_t *row, size_t n, oa_buf *out)
{
    size_t i = 0;
    oa_status rc = OA_OK;

    while (i < n && rc == OA_OK) {
        size_t run = 1;
        while (i + run < n && run < 128 && row[i + run] == row[i])
            run++;
        if (run >= 2) {
            rc = oa_buf_append_byte(out, (uint8_t)(257 - run));
            if (rc == OA_OK)
                rc = oa_buf_append_byte(out, row[i]);
            i += run;
            continue;
        }
        /* literal: up to a run of three or 128 bytes */
        size_t j = i + 1;
        while (j < n && j - i < 128 &&
               !(j + 2 < n && row[j] == row[j + 1] && row[j] == row[j + 2]))
            j++;
        rc = oa_buf_append_byte(out, (uint8_t)(j - i - 1));
        if (rc == OA_OK)
            rc = oa_buf_append(out, row + i, j - i);
        i = j;
    }
    return rc;
}

oa_status oa_pixels_rle_encode(const uint8_t *in, size_t in_len,
                               uint32_t rows, uint32_t columns,
                               uint16_t samples, uint16_t bytes,
                               oa_buf *out, oa_error *err)
{
    size_t px, total, start = out->len;
    uint32_t nseg;
    uint8_t header[64];
    uint8_t *row;
    oa_status rc = OA_OK;

    if (frame_size(rows, columns, samples, bytes, &px, &total) != 0 ||
        in_len != total)
        return oa_error_set(err, OA_EINVAL,
                            "RLE: frame of %ux%u x %u samples x %u bytes "
                            "not encodable", (unsigned)rows,
                            (unsigned)columns, (unsigned)samples,
                            (unsigned)bytes);
    nseg = (uint32_t)samples * bytes;
    row = oa_malloc(columns);
    if (row == NULL)
        return oa_error_set(err, OA_ENOMEM, "RLE: out of memory");
    memset(header, 0, sizeof header);
    header[0] = (uint8_t)nseg;
    rc = oa_buf_append(out, header, sizeof header);
    for (uint32_t k = 0; k < nseg && rc == OA_OK; k++) {
        unsigned s = k / bytes, b = k % bytes;
        const uint8_t *src = in + (size_t)s * px * bytes + (bytes - 1u - b);
        size_t seg = out->len - start;
        if (seg > UINT32_MAX) {
            rc = OA_ELIMIT;
            break;
        }
        uint8_t *h = oa_buf_data(out) + start + 4 + 4 * k;
        h[0] = (uint8_t)seg;
        h[1] = (uint8_t)(seg >> 8);
        h[2] = (uint8_t)(seg >> 16);
        h[3] = (uint8_t)(seg >> 24);
        for (uint32_t y = 0; y < rows && rc == OA_OK; y++) {
            const uint8_t *r = src + (size_t)y * columns * bytes;
            for (uint32_t x = 0; x < columns; x++)
                row[x] = r[(size_t)x * bytes];
            rc = pack_row(row, columns, out);
        }
        if (rc == OA_OK && ((out->len - start) & 1u))
            rc = oa_buf_append_byte(out, 0);
    }
    oa_free(row);
    if (rc != OA_OK) {
        out->len = start;
        return oa_error_set(err, rc, "RLE: encoding a frame failed (%s)",
                            oa_status_str(rc));
    }
    return OA_OK;
}
