/*
 * fuzz_pixels: the pixels module on layouts, sizes and RLE streams that
 * lie.
 *
 * An input that starts with "PXF1" is structured:
 *   "PXF1", rows u16, columns u16, frames u16, samples u8, bits u8,
 *   bits stored u8, high bit u8, flags u8 (1 signed, 2 planar, 4 big
 *   endian, 8 RLE, 16 OCR hook, 32 strict, 64 US region), photometric u8
 *   (index into a list), n rects u8, then n rects of 4 x u16, then (RLE)
 *   n fragments u8 and their u16 lengths, then the pixel bytes.
 * The attributes are set call by call, with a user rule that matches
 * anything and the given rectangles, and oa_pixels_decide runs; the rest
 * of the input is also decoded as one RLE fragment of the layout.
 * Any other input is parsed as DICOM through oa_pixels_attrs_handler and
 * decided with the default policy and with the same catch-all rule (the
 * seed corpus and the shared test corpus are DICOM files).
 *
 * Oracles (trap): a CLEANED native value has the input's length; a
 * CLEANED RLE value's fragments lie inside it and each frame decodes; a
 * REFUSE or NEEDS_DECODING has a reason; decide never fails except with
 * OA_ENOMEM/OA_ELIMIT.
 */
#include "pixels/pixels_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static const char *const photometrics[] = {
    "MONOCHROME2", "MONOCHROME1", "PALETTE COLOR", "RGB", "YBR_FULL",
    "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_ICT", ""};

static oa_status fake_find(void *ctx, const oa_pixels_gray *g,
                           oa_pixels_word **words, size_t *n, oa_error *err)
{
    static oa_pixels_word w[2];
    (void)ctx;
    (void)err;
    /* a word on the brightest quarter, and one past the frame */
    w[0].box.x = 0;
    w[0].box.y = 0;
    w[0].box.w = g->width / 2 + 1;
    w[0].box.h = g->height / 2 + 1;
    w[0].text = g->pixels[0] > 128 ? "FUZZ^NAME" : "cm";
    w[0].confidence = 50;
    w[1].box.x = g->width;
    w[1].box.y = UINT32_MAX - 2;
    w[1].box.w = UINT32_MAX;
    w[1].box.h = 7;
    w[1].text = "19700101";
    w[1].confidence = 50;
    *words = w;
    *n = 2;
    return OA_OK;
}

static void check_result(const oa_pixels_result *r, const oa_pixels_attrs *a,
                         oa_status rc)
{
    CHECK(rc == OA_OK || rc == OA_ENOMEM || rc == OA_ELIMIT);
    if (rc != OA_OK)
        return;
    if (r->verdict == OA_PIXELS_REFUSE ||
        r->verdict == OA_PIXELS_NEEDS_DECODING)
        CHECK(r->reason[0] != '\0');
    if (r->verdict != OA_PIXELS_CLEANED)
        return;
    CHECK(r->value != NULL);
    if (!r->encapsulated) {
        CHECK(r->value_len == a->native_len);
        return;
    }
    CHECK(r->n_fragments >= 2);
    for (size_t i = 0; i < r->n_fragments; i++) {
        CHECK(r->fragments[i].offset <= r->value_len);
        CHECK(r->fragments[i].length <= r->value_len -
                                         r->fragments[i].offset);
        CHECK(r->fragments[i].length % 2 == 0);
    }
    {
        oa_pixels_layout l;
        size_t fb, total;
        uint8_t *out;
        CHECK(oa_px_layout(a, &l, NULL) == OA_OK);
        CHECK(oa_pixels_frame_bytes(&l, &fb, &total) == 0);
        out = malloc(fb ? fb : 1);
        CHECK(out != NULL);
        for (size_t i = 1; i < r->n_fragments; i++)
            CHECK(oa_pixels_rle_decode(r->value + r->fragments[i].offset,
                                       r->fragments[i].length, l.rows,
                                       l.columns, l.samples,
                                       l.bits_allocated / 8, out, fb,
                                       NULL) == OA_OK);
        free(out);
    }
}

static uint16_t u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void structured(const uint8_t *data, size_t size)
{
    oa_pixels_attrs *a = NULL;
    oa_pixels_user_rule u;
    oa_pixels_rect rects[16];
    oa_pixels_policy p;
    oa_pixels_ocr hook = {fake_find, NULL, NULL};
    oa_pixels_result r;
    size_t pos = 19;
    unsigned n_rects, flags;
    uint16_t rows, cols, frames;
    uint8_t samples, bits;

    if (size < pos)
        return;
    rows = u16(data + 4);
    cols = u16(data + 6);
    frames = u16(data + 8);
    samples = data[10];
    bits = data[11];
    flags = data[14];
    n_rects = data[16] % 16u;
    if (oa_pixels_attrs_new(&a, NULL) != OA_OK)
        return;
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0010), rows, NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0011), cols, NULL);
    if (frames != 1)
        oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0008), frames, NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0002), samples, NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0100), bits, NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0101), data[12], NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0102), data[13], NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0103), flags & 1u, NULL);
    oa_pixels_attrs_set_uint(a, OA_TAG(0x0028, 0x0006), (flags >> 1) & 1u,
                             NULL);
    {
        const char *pi = photometrics[data[15] % (sizeof photometrics /
                                                  sizeof photometrics[0])];
        oa_pixels_attrs_set(a, OA_TAG(0x0028, 0x0004), (const uint8_t *)pi,
                            strlen(pi), NULL);
    }
    oa_pixels_attrs_set(a, OA_TAG(0x0008, 0x0060), (const uint8_t *)"US", 2,
                        NULL);
    oa_pixels_attrs_set(a, OA_TAG(0x0010, 0x0010),
                        (const uint8_t *)"Fuzz^Name", 9, NULL);
    if (flags & 64u) {
        oa_pixels_attrs_set(a, OA_TAG(0x0018, 0x6011), NULL, 0, NULL);
        oa_pixels_attrs_add_us_region(a, rows / 4u, cols / 4u, cols, rows,
                                      NULL);
    }
    for (unsigned i = 0; i < n_rects && pos + 8 <= size; i++, pos += 8) {
        rects[i].x = u16(data + pos);
        rects[i].y = u16(data + pos + 2);
        rects[i].w = u16(data + pos + 4);
        rects[i].h = u16(data + pos + 6);
    }
    memset(&u, 0, sizeof u);
    u.label = (char *)"fuzz";
    u.rects = rects;
    u.n_rects = n_rects;
    oa_pixels_policy_init(&p);
    p.user_rules = &u;
    p.n_user_rules = 1;
    p.max_pixel_bytes = (size_t)64 << 20;
    p.ocr_max_frames = 4;
    if (flags & 16u)
        p.ocr = &hook;
    p.ocr_strict = (flags & 32u) != 0;
    if (flags & 8u) {
        unsigned nf = pos < size ? data[pos++] % 8u : 0;
        oa_pixels_attrs_set_ts(a, "1.2.840.10008.1.2.5", 19, NULL);
        oa_pixels_attrs_add_fragment(a, data, 0, 0, NULL);
        for (unsigned i = 0; i < nf && pos + 2 <= size; i++) {
            size_t len = u16(data + pos);
            pos += 2;
            if (len > size - pos)
                len = size - pos;
            oa_pixels_attrs_add_fragment(a, data + pos, len, pos, NULL);
            pos += len;
        }
    } else {
        oa_pixels_attrs_set_ts(a, "1.2.840.10008.1.2.1", 19, NULL);
        oa_pixels_attrs_set_native(a, data + pos, size - pos, pos,
                                   (flags & 4u) != 0);
    }
    oa_pixels_result_init(&r);
    check_result(&r, a, oa_pixels_decide(a, &p, &r, NULL));
    oa_pixels_result_dispose(&r);
    /* the remaining bytes as one RLE frame of the layout */
    if (pos < size && rows && cols && (size_t)rows * cols <= (1u << 20)) {
        unsigned bytes = bits / 8u ? bits / 8u : 1u;
        unsigned s = samples ? samples : 1u;
        size_t n = (size_t)rows * cols * s * bytes;
        uint8_t *out = s * bytes <= 15 ? malloc(n) : NULL;
        if (out != NULL) {
            if (oa_pixels_rle_decode(data + pos, size - pos, rows, cols,
                                     (uint16_t)s, (uint16_t)bytes, out, n,
                                     NULL) == OA_OK) {
                oa_buf enc;
                uint8_t *back = malloc(n);
                oa_buf_init(&enc, (size_t)1 << 28);
                CHECK(oa_pixels_rle_encode(out, n, rows, cols, (uint16_t)s,
                                           (uint16_t)bytes, &enc, NULL) ==
                      OA_OK);
                CHECK(back != NULL);
                CHECK(oa_pixels_rle_decode(oa_buf_data(&enc), enc.len, rows,
                                           cols, (uint16_t)s,
                                           (uint16_t)bytes, back, n,
                                           NULL) == OA_OK);
                CHECK(memcmp(back, out, n) == 0);
                free(back);
                oa_buf_dispose(&enc);
            }
            free(out);
        }
    }
    oa_pixels_attrs_free(a);
}

/* Decide from the handler's `end`: values of a deflated dataset live only
 * as long as the parse. */
static oa_status decide_at_end(void *user, oa_error *err)
{
    oa_pixels_attrs *a = user;
    oa_pixels_result r;
    oa_pixels_policy p;
    oa_pixels_user_rule u;
    oa_pixels_rect rect = {0, 0, 64, 16};

    (void)err;
    {
        oa_pixels_result_init(&r);
        check_result(&r, a, oa_pixels_decide(a, NULL, &r, NULL));
        oa_pixels_result_dispose(&r);
        memset(&u, 0, sizeof u);
        u.label = (char *)"fuzz";
        u.rects = &rect;
        u.n_rects = 1;
        oa_pixels_policy_init(&p);
        p.user_rules = &u;
        p.n_user_rules = 1;
        p.max_pixel_bytes = (size_t)64 << 20;
        oa_pixels_result_init(&r);
        check_result(&r, a, oa_pixels_decide(a, &p, &r, NULL));
        oa_pixels_result_dispose(&r);
    }
    return OA_OK;
}

static void dicom(const uint8_t *data, size_t size)
{
    oa_pixels_attrs *a = NULL;
    oa_dicom_handler h;
    oa_reader_opts opts = {16, (size_t)16 << 20, false, 0};

    if (oa_pixels_attrs_new(&a, NULL) != OA_OK)
        return;
    h = *oa_pixels_attrs_handler(a);
    h.end = decide_at_end;
    (void)oa_dicom_parse(data, size, &opts, &h, NULL, NULL);
    oa_pixels_attrs_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "PXF1", 4) == 0)
        structured(data, size);
    else
        dicom(data, size);
    return 0;
}
