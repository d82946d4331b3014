/*
 * pixels/blank.c: native pixel layouts, their size checks, the blanking
 * mask as row spans, blanking to the value that displays black, and the
 * 8-bit grayscale view given to OCR.
 */
#include "pixels_int.h"

#include <string.h>

#define T(g, e) OA_TAG(0x##g, 0x##e)

/* ------------------------------------------------------------------ */
/* Layout                                                               */

static bool is_422(const oa_pixels_layout *l)
{
    return l->photometric == OA_PIXELS_YBR_FULL_422 ||
           l->photometric == OA_PIXELS_YBR_PARTIAL_422;
}

int oa_pixels_frame_bytes(const oa_pixels_layout *l, size_t *frame,
                          size_t *total)
{
    size_t px, n;

    if (l->rows == 0 || l->columns == 0 || l->frames == 0 ||
        oa_size_mul(&px, l->rows, l->columns) != 0)
        return -1;
    if (l->bits_allocated == 1) {
        size_t bits;
        if (oa_size_mul(&bits, px, l->frames) != 0 || bits > SIZE_MAX - 7)
            return -1;
        *frame = (px + 7) / 8;
        *total = (bits + 7) / 8;
        return 0;
    }
    if (l->bits_allocated != 8 && l->bits_allocated != 16 &&
        l->bits_allocated != 32)
        return -1;
    /* 4:2:2 stores two samples per pixel (Y each, Cb Cr per pair). */
    if (oa_size_mul(&n, px, is_422(l) ? 2u : l->samples) != 0 ||
        oa_size_mul(&n, n, l->bits_allocated / 8u) != 0)
        return -1;
    *frame = n;
    return oa_size_mul(total, n, l->frames);
}

oa_status oa_pixels_layout_check(const oa_pixels_layout *l, size_t len,
                                 size_t max_bytes, oa_error *err)
{
    size_t frame, total;
    bool mono = l->photometric == OA_PIXELS_MONOCHROME1 ||
                l->photometric == OA_PIXELS_MONOCHROME2;

    if (l->rows == 0 || l->columns == 0)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Rows x Columns is %ux%u", (unsigned)l->rows,
                            (unsigned)l->columns);
    if (l->frames == 0)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Number of Frames (0028,0008) is 0");
    if (l->samples != 1 && l->samples != 3)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Samples per Pixel (0028,0002) %u",
                            (unsigned)l->samples);
    if ((l->samples == 1) != (mono || l->photometric == OA_PIXELS_PALETTE))
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Photometric Interpretation (0028,0004) does "
                            "not fit Samples per Pixel %u",
                            (unsigned)l->samples);
    if (l->bits_allocated != 1 && l->bits_allocated != 8 &&
        l->bits_allocated != 16 && l->bits_allocated != 32)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Bits Allocated (0028,0100) %u",
                            (unsigned)l->bits_allocated);
    if (l->bits_stored == 0 || l->bits_stored > l->bits_allocated ||
        l->high_bit >= l->bits_allocated ||
        l->high_bit + 1u < l->bits_stored)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Bits Stored %u / High Bit %u do not fit Bits "
                            "Allocated %u", (unsigned)l->bits_stored,
                            (unsigned)l->high_bit,
                            (unsigned)l->bits_allocated);
    if (l->bits_allocated == 1 && (!mono || l->big_endian))
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "1-bit pixels other than MONOCHROME little "
                            "endian");
    if (is_422(l) && (l->columns % 2 != 0 || l->planar))
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "YBR 4:2:2 with odd Columns %u or Planar "
                            "Configuration 1", (unsigned)l->columns);
    if (oa_pixels_frame_bytes(l, &frame, &total) != 0)
        return oa_error_set(err, OA_ELIMIT,
                            "%ux%u pixels x %u frames overflows",
                            (unsigned)l->rows, (unsigned)l->columns,
                            (unsigned)l->frames);
    if (max_bytes != 0 && total > max_bytes)
        return oa_error_set(err, OA_ELIMIT,
                            "pixel data of %zu bytes is over the ceiling "
                            "of %zu", total, max_bytes);
    if (len < total)
        return oa_error_set(err, OA_EPARSE,
                            "Pixel Data holds %zu bytes; %ux%u x %u "
                            "frames x %u samples x %u bits needs %zu",
                            len, (unsigned)l->rows, (unsigned)l->columns,
                            (unsigned)l->frames, (unsigned)l->samples,
                            (unsigned)l->bits_allocated, total);
    if (len > total + 1)
        return oa_error_set(err, OA_EPARSE,
                            "Pixel Data holds %zu bytes, more than the %zu "
                            "(+1 padding) of %u frames: trailing data could "
                            "hide frames", len, total, (unsigned)l->frames);
    return OA_OK;
}

/* Palette: the index that shows the darkest colour. */
static uint32_t palette_black(const oa_pixels_attrs *a)
{
    const oa_px_value *d = oa_px_find(a, T(0028, 1101));
    const oa_px_value *lut[3] = {oa_px_find(a, T(0028, 1201)),
                                 oa_px_find(a, T(0028, 1202)),
                                 oa_px_find(a, T(0028, 1203))};
    uint32_t entries, first, best = 0;
    uint64_t best_sum = UINT64_MAX;
    bool wide;

    if (d == NULL || d->n_uints < 2)
        return 0;
    entries = d->uints[0] == 0 ? 65536u : d->uints[0];
    first = d->uints[1];
    for (int c = 0; c < 3; c++)
        if (lut[c] == NULL || lut[c]->borrowed == NULL ||
            lut[c]->borrowed_len < entries)
            return first;
    wide = lut[0]->borrowed_len >= 2u * entries &&
           lut[1]->borrowed_len >= 2u * entries &&
           lut[2]->borrowed_len >= 2u * entries;
    for (uint32_t i = 0; i < entries; i++) {
        uint64_t sum = 0;
        for (int c = 0; c < 3; c++) {
            const uint8_t *p = lut[c]->borrowed;
            if (wide)
                sum += lut[c]->big_endian ? (uint32_t)(p[2 * i] << 8 |
                                                       p[2 * i + 1])
                                          : (uint32_t)(p[2 * i + 1] << 8 |
                                                       p[2 * i]);
            else
                sum += p[i];
        }
        if (sum < best_sum) {
            best_sum = sum;
            best = i;
        }
    }
    return first + best;
}

static bool value_is(const oa_pixels_attrs *a, uint32_t tag, const char *s)
{
    return oa_px_equals(a, tag, s);
}

oa_status oa_px_layout(const oa_pixels_attrs *a, oa_pixels_layout *l,
                       oa_error *err)
{
    const oa_px_value *v;

    memset(l, 0, sizeof *l);
    if (oa_px_find(a, T(0028, 0010)) == NULL ||
        oa_px_find(a, T(0028, 0011)) == NULL)
        return oa_error_set(err, OA_EPARSE,
                            "Rows (0028,0010) or Columns (0028,0011) "
                            "missing");
    if (oa_px_find(a, T(0028, 0100)) == NULL)
        return oa_error_set(err, OA_EPARSE,
                            "Bits Allocated (0028,0100) missing");
    if (oa_px_find(a, T(0028, 0004)) == NULL)
        return oa_error_set(err, OA_EPARSE,
                            "Photometric Interpretation (0028,0004) "
                            "missing");
    l->rows = oa_px_uint(a, T(0028, 0010), 0);
    l->columns = oa_px_uint(a, T(0028, 0011), 0);
    l->samples = (uint16_t)oa_px_uint(a, T(0028, 0002), 1);
    l->bits_allocated = (uint16_t)oa_px_uint(a, T(0028, 0100), 0);
    l->bits_stored = (uint16_t)oa_px_uint(a, T(0028, 0101),
                                          l->bits_allocated);
    l->high_bit = (uint16_t)oa_px_uint(a, T(0028, 0102),
                                       l->bits_stored ? l->bits_stored - 1u
                                                      : 0u);
    l->is_signed = oa_px_uint(a, T(0028, 0103), 0) == 1;
    l->planar = oa_px_uint(a, T(0028, 0006), 0) == 1;
    v = oa_px_find(a, T(0028, 0008));
    l->frames = v == NULL ? 1 : (v->n_uints > 0 ? v->uints[0] : 0);
    l->big_endian = a->native_be;
    if (value_is(a, T(0028, 0004), "MONOCHROME1"))
        l->photometric = OA_PIXELS_MONOCHROME1;
    else if (value_is(a, T(0028, 0004), "MONOCHROME2"))
        l->photometric = OA_PIXELS_MONOCHROME2;
    else if (value_is(a, T(0028, 0004), "PALETTE COLOR"))
        l->photometric = OA_PIXELS_PALETTE;
    else if (value_is(a, T(0028, 0004), "RGB"))
        l->photometric = OA_PIXELS_RGB;
    else if (value_is(a, T(0028, 0004), "YBR_FULL"))
        l->photometric = OA_PIXELS_YBR_FULL;
    else if (value_is(a, T(0028, 0004), "YBR_FULL_422"))
        l->photometric = OA_PIXELS_YBR_FULL_422;
    else if (value_is(a, T(0028, 0004), "YBR_PARTIAL_422"))
        l->photometric = OA_PIXELS_YBR_PARTIAL_422;
    else
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Photometric Interpretation (0028,0004) not "
                            "handled natively (not MONOCHROME1/2, PALETTE "
                            "COLOR, RGB, YBR_FULL, YBR_FULL_422)");
    if (l->photometric == OA_PIXELS_PALETTE)
        l->palette_black = palette_black(a);
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Mask as spans                                                        */

typedef struct ivl {
    uint32_t a, b;
} ivl;

/* Apply [x0,x1) blank (union) or keep (subtract) to a sorted interval
 * set of at most `cap` entries, using `tmp`. */
static size_t apply_ivl(ivl *set, size_t n, ivl *tmp, uint32_t x0,
                        uint32_t x1, bool keep)
{
    size_t m = 0;

    if (keep) {
        for (size_t i = 0; i < n; i++) {
            if (set[i].b <= x0 || set[i].a >= x1) {
                tmp[m++] = set[i];
                continue;
            }
            if (set[i].a < x0)
                tmp[m++] = (ivl){set[i].a, x0};
            if (set[i].b > x1)
                tmp[m++] = (ivl){x1, set[i].b};
        }
    } else {
        bool placed = false;
        for (size_t i = 0; i < n; i++) {
            if (set[i].b < x0) {
                tmp[m++] = set[i];
            } else if (set[i].a > x1) {
                if (!placed) {
                    tmp[m++] = (ivl){x0, x1};
                    placed = true;
                }
                tmp[m++] = set[i];
            } else {
                if (set[i].a < x0)
                    x0 = set[i].a;
                if (set[i].b > x1)
                    x1 = set[i].b;
            }
        }
        if (!placed)
            tmp[m++] = (ivl){x0, x1};
    }
    memcpy(set, tmp, m * sizeof *set);
    return m;
}

oa_status oa_px_spans(uint32_t rows, uint32_t columns,
                      const oa_pixels_op *ops, size_t n_ops,
                      oa_px_span **spans, size_t *n_spans, oa_error *err)
{
    size_t cap = 2 * n_ops + 2, n_out = 0, out_cap = 0;
    ivl *set, *tmp;
    oa_px_span *out = NULL;

    *spans = NULL;
    *n_spans = 0;
    set = oa_malloc(2 * cap * sizeof *set);
    if (set == NULL)
        return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
    tmp = set + cap;
    for (uint32_t y = 0; y < rows; y++) {
        size_t n = 0;
        for (size_t i = 0; i < n_ops; i++) {
            const oa_pixels_rect *r = &ops[i].rect;
            uint32_t x1;
            if (r->w == 0 || r->h == 0 || y < r->y || y - r->y >= r->h ||
                r->x >= columns)
                continue;
            x1 = r->w > columns - r->x ? columns : r->x + r->w;
            if (!ops[i].keep || n > 0)
                n = apply_ivl(set, n, tmp, r->x, x1, ops[i].keep);
        }
        for (size_t i = 0; i < n; i++) {
            if (set[i].a >= set[i].b)
                continue;
            if (n_out == out_cap) {
                size_t nc = out_cap ? out_cap * 2 : 64;
                oa_px_span *p = oa_realloc(out, nc * sizeof *p);
                if (p == NULL) {
                    oa_free(out);
                    oa_free(set);
                    return oa_error_set(err, OA_ENOMEM,
                                        "pixels: out of memory");
                }
                out = p;
                out_cap = nc;
            }
            out[n_out].row = y;
            out[n_out].x0 = set[i].a;
            out[n_out].x1 = set[i].b;
            n_out++;
        }
    }
    oa_free(set);
    *spans = out;
    *n_spans = n_out;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Black                                                                */

/* The word (all Bits Allocated) that stores `v` (a signed or unsigned
 * value of Bits Stored bits), sign-extended above High Bit for signed
 * data, zero elsewhere. */
static uint32_t store_word(const oa_pixels_layout *l, int64_t v)
{
    unsigned shift = l->high_bit + 1u - l->bits_stored;
    uint64_t mask = (l->bits_stored >= 32) ? 0xFFFFFFFFu
                                            : ((1ull << l->bits_stored) - 1);
    uint64_t w = ((uint64_t)v & mask) << shift;

    if (l->is_signed && v < 0 && l->high_bit + 1u < l->bits_allocated) {
        uint64_t all = l->bits_allocated >= 32 ? 0xFFFFFFFFu
                                                : ((1ull << l->bits_allocated) - 1);
        uint64_t low = (1ull << (l->high_bit + 1u)) - 1;
        w |= all & ~low;
    }
    return (uint32_t)w;
}

/* Black per sample (samples 0..2; 4:2:2 uses Y, Cb, Cr). */
static void black_words(const oa_pixels_layout *l, uint32_t out[3])
{
    int64_t half = (int64_t)1 << (l->bits_stored - 1);
    int64_t top = l->bits_stored >= 32 ? (int64_t)0xFFFFFFFF
                                        : ((int64_t)1 << l->bits_stored) - 1;

    switch (l->photometric) {
    case OA_PIXELS_MONOCHROME2:
        out[0] = store_word(l, l->is_signed ? -half : 0);
        break;
    case OA_PIXELS_MONOCHROME1:
        out[0] = store_word(l, l->is_signed ? half - 1 : top);
        break;
    case OA_PIXELS_PALETTE:
        out[0] = store_word(l, (int64_t)l->palette_black);
        break;
    case OA_PIXELS_RGB:
        out[0] = out[1] = out[2] = 0;
        break;
    case OA_PIXELS_YBR_FULL:
    case OA_PIXELS_YBR_FULL_422:
        out[0] = 0;
        out[1] = out[2] = store_word(l, half);
        break;
    case OA_PIXELS_YBR_PARTIAL_422:
        out[0] = store_word(l, (int64_t)16 << (l->bits_stored - 8 > 0 &&
                                               l->bits_stored > 8
                                                   ? l->bits_stored - 8
                                                   : 0));
        out[1] = out[2] = store_word(l, half);
        break;
    }
    if (l->samples == 1)
        out[1] = out[2] = out[0];
}

static void put_word(uint8_t *p, unsigned bytes, uint32_t w, bool be)
{
    if (bytes == 1) {
        p[0] = (uint8_t)w;
    } else if (bytes == 2) {
        p[be ? 0 : 1] = (uint8_t)(w >> 8);
        p[be ? 1 : 0] = (uint8_t)w;
    } else {
        for (unsigned i = 0; i < 4; i++)
            p[be ? 3 - i : i] = (uint8_t)(w >> (8 * i));
    }
}

static uint32_t get_word(const uint8_t *p, unsigned bytes, bool be)
{
    if (bytes == 1)
        return p[0];
    if (bytes == 2)
        return be ? (uint32_t)(p[0] << 8 | p[1]) : (uint32_t)(p[1] << 8 | p[0]);
    return be ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                 (uint32_t)p[2] << 8 | p[3])
              : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[1] << 8 | p[0]);
}

/* Fill `count` pixels of `stride` bytes at p with the pattern `pat` of
 * `size` bytes (size <= stride). */
static void fill(uint8_t *p, size_t count, size_t stride, const uint8_t *pat,
                 size_t size)
{
    bool same = true;
    size_t done, total;

    for (size_t i = 1; i < size; i++)
        same = same && pat[i] == pat[0];
    if (same && size == stride) {
        memset(p, pat[0], count * stride);
        return;
    }
    if (size != stride) {
        for (size_t i = 0; i < count; i++)
            memcpy(p + i * stride, pat, size);
        return;
    }
    if (count == 0)
        return;
    /* contiguous pattern: write it once, then double the filled part */
    total = count * stride;
    memcpy(p, pat, size);
    done = size;
    while (done < total) {
        size_t n = done < total - done ? done : total - done;
        memcpy(p + done, p, n);
        done += n;
    }
}

static void blank_1bit(const oa_pixels_layout *l, uint8_t *value,
                       const oa_px_span *spans, size_t n_spans)
{
    bool one = l->photometric == OA_PIXELS_MONOCHROME1;
    size_t px = (size_t)l->rows * l->columns;

    for (uint32_t f = 0; f < l->frames; f++)
        for (size_t s = 0; s < n_spans; s++) {
            size_t base = (size_t)f * px + (size_t)spans[s].row * l->columns;
            for (size_t x = spans[s].x0; x < spans[s].x1; x++) {
                size_t bit = base + x;
                if (one)
                    value[bit / 8] |= (uint8_t)(1u << (bit % 8));
                else
                    value[bit / 8] &= (uint8_t)~(1u << (bit % 8));
            }
        }
}

oa_status oa_pixels_blank_native(const oa_pixels_layout *l, uint8_t *value,
                                 size_t len, const oa_pixels_op *ops,
                                 size_t n_ops, uint32_t cleared_bits,
                                 oa_error *err)
{
    size_t frame, total, n_spans;
    oa_px_span *spans;
    unsigned bytes = l->bits_allocated / 8u;
    uint32_t black[3] = {0, 0, 0};
    oa_status rc;

    rc = oa_pixels_layout_check(l, len, 0, err);
    if (rc != OA_OK)
        return rc;
    oa_pixels_frame_bytes(l, &frame, &total);
    rc = oa_px_spans(l->rows, l->columns, ops, n_ops, &spans, &n_spans, err);
    if (rc != OA_OK)
        return rc;
    if (l->bits_allocated == 1) {
        blank_1bit(l, value, spans, n_spans);
        oa_free(spans);
        return OA_OK;
    }
    /* Overlay planes first: the blanked pixels are then written whole. */
    if (cleared_bits != 0 && l->samples == 1) {
        for (size_t i = 0; i + bytes <= total; i += bytes) {
            uint32_t w = get_word(value + i, bytes, l->big_endian);
            if (w & cleared_bits)
                put_word(value + i, bytes, w & ~cleared_bits, l->big_endian);
        }
    }
    black_words(l, black);
    if (is_422(l)) {
        uint8_t pat[16];
        put_word(pat, bytes, black[0], l->big_endian);
        put_word(pat + bytes, bytes, black[0], l->big_endian);
        put_word(pat + 2 * bytes, bytes, black[1], l->big_endian);
        put_word(pat + 3 * bytes, bytes, black[2], l->big_endian);
        for (uint32_t f = 0; f < l->frames; f++)
            for (size_t s = 0; s < n_spans; s++) {
                /* whole pairs, so that chroma stays consistent */
                size_t x0 = spans[s].x0 & ~1u, x1 = (spans[s].x1 + 1u) & ~1u;
                uint8_t *row = value + (size_t)f * frame +
                               (size_t)spans[s].row * l->columns * 2u * bytes;
                fill(row + x0 * 2u * bytes, (x1 - x0) / 2u, 4u * bytes, pat,
                     4u * bytes);
            }
    } else if (!l->planar || l->samples == 1) {
        uint8_t pat[12];
        size_t px = (size_t)l->samples * bytes;
        for (unsigned s = 0; s < l->samples; s++)
            put_word(pat + s * bytes, bytes, black[s], l->big_endian);
        for (uint32_t f = 0; f < l->frames; f++)
            for (size_t s = 0; s < n_spans; s++) {
                uint8_t *row = value + (size_t)f * frame +
                               (size_t)spans[s].row * l->columns * px;
                fill(row + spans[s].x0 * px, spans[s].x1 - spans[s].x0, px,
                     pat, px);
            }
    } else {
        size_t plane = (size_t)l->rows * l->columns * bytes;
        for (uint32_t f = 0; f < l->frames; f++)
            for (unsigned c = 0; c < l->samples; c++) {
                uint8_t pat[4];
                put_word(pat, bytes, black[c], l->big_endian);
                for (size_t s = 0; s < n_spans; s++) {
                    uint8_t *row = value + (size_t)f * frame + c * plane +
                                   (size_t)spans[s].row * l->columns * bytes;
                    fill(row + spans[s].x0 * bytes,
                         spans[s].x1 - spans[s].x0, bytes, pat, bytes);
                }
            }
    }
    oa_free(spans);
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Grayscale view for OCR                                               */

/* Stored value of a pixel word, signed if the data is. */
static int64_t stored(const oa_pixels_layout *l, uint32_t w)
{
    unsigned shift = l->high_bit + 1u - l->bits_stored;
    uint64_t v = ((uint64_t)w >> shift) &
                 (l->bits_stored >= 32 ? 0xFFFFFFFFull
                                       : ((1ull << l->bits_stored) - 1));
    if (l->is_signed && (v >> (l->bits_stored - 1)) & 1u)
        return (int64_t)v - ((int64_t)1 << l->bits_stored);
    return (int64_t)v;
}

oa_status oa_pixels_gray8(const oa_pixels_layout *l, const uint8_t *value,
                          size_t len, uint32_t f, uint8_t *out, oa_error *err)
{
    size_t frame, total, px;
    unsigned bytes, top;

    if (l == NULL || value == NULL || out == NULL)
        return oa_error_set(err, OA_EINVAL, "grayscale view: no frame");
    if (oa_pixels_frame_bytes(l, &frame, &total) != 0 || f >= l->frames ||
        l->bits_stored == 0 || l->bits_stored > l->bits_allocated ||
        l->high_bit + 1u < l->bits_stored ||
        l->high_bit >= l->bits_allocated ||
        (l->samples != 1 && l->samples != 3) ||
        (l->bits_allocated == 1 && l->samples != 1))
        return oa_error_set(err, OA_EINVAL,
                            "grayscale view: unsupported layout (%u samples,"
                            " %u/%u bits, frame %u of %u)",
                            (unsigned)l->samples, (unsigned)l->bits_stored,
                            (unsigned)l->bits_allocated, (unsigned)f,
                            (unsigned)l->frames);
    if (len < total)
        return oa_error_set(err, OA_EPARSE,
                            "grayscale view: value of %zu bytes, %zu needed",
                            len, total);
    px = (size_t)l->rows * l->columns;
    bytes = l->bits_allocated / 8u;
    top = l->bits_stored > 8 ? l->bits_stored - 8u : 0u;
    if (l->bits_allocated == 1) {
        bool one = l->photometric == OA_PIXELS_MONOCHROME1;
        for (size_t i = 0; i < px; i++) {
            size_t bit = (size_t)f * px + i;
            bool set = (value[bit / 8] >> (bit % 8)) & 1u;
            out[i] = (set != one) ? 255 : 0;
        }
        return OA_OK;
    }
    value += (size_t)f * frame;
    if (l->samples == 1) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t i = 0; i < px; i++) {
            int64_t v = stored(l, get_word(value + i * bytes, bytes,
                                           l->big_endian));
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        for (size_t i = 0; i < px; i++) {
            int64_t v = stored(l, get_word(value + i * bytes, bytes,
                                           l->big_endian));
            int64_t g = hi > lo ? ((v - lo) * 255 + (hi - lo) / 2) / (hi - lo)
                                : (v > 0 ? 255 : 0);   /* a flat frame */
            out[i] = (uint8_t)(l->photometric == OA_PIXELS_MONOCHROME1
                                   ? 255 - g : g);
        }
        return OA_OK;
    }
    if (is_422(l)) {
        for (size_t i = 0; i < px; i++) {
            size_t pair = i / 2;
            uint32_t y = get_word(value + (pair * 4 + (i & 1)) * bytes,
                                  bytes, l->big_endian);
            out[i] = (uint8_t)(y >> top);
        }
        return OA_OK;
    }
    for (size_t i = 0; i < px; i++) {
        uint32_t c[3];
        for (unsigned s = 0; s < 3; s++) {
            size_t off = l->planar ? (s * px + i) * bytes : (i * 3 + s) * bytes;
            c[s] = get_word(value + off, bytes, l->big_endian) >> top;
            if (c[s] > 255)
                c[s] = 255;
        }
        if (l->photometric == OA_PIXELS_RGB)
            out[i] = (uint8_t)((299u * c[0] + 587u * c[1] + 114u * c[2] +
                                500u) / 1000u);   /* Rec. 601 luma */
        else
            out[i] = (uint8_t)c[0];
    }
    return OA_OK;
}
