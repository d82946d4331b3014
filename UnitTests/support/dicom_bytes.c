#define _GNU_SOURCE
/* Test support: hand-built DICOM streams and a recording handler. */
#include "dicom_bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put16(tb *t, uint16_t v)
{
    uint8_t b[2];
    if (t->big_endian) {
        b[0] = (uint8_t)(v >> 8);
        b[1] = (uint8_t)v;
    } else {
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
    }
    oa_buf_append(&t->b, b, 2);
}

static void put32(tb *t, uint32_t v)
{
    if (t->big_endian) {
        put16(t, (uint16_t)(v >> 16));
        put16(t, (uint16_t)v);
    } else {
        put16(t, (uint16_t)v);
        put16(t, (uint16_t)(v >> 16));
    }
}

void tb_init(tb *t, bool explicit_vr, bool big_endian)
{
    oa_buf_init(&t->b, (size_t)1 << 30);
    t->explicit_vr = explicit_vr;
    t->big_endian = big_endian;
}

void tb_dispose(tb *t)
{
    oa_buf_dispose(&t->b);
}

void tb_raw(tb *t, const void *p, size_t n)
{
    oa_buf_append(&t->b, p, n);
}

void tb_hdr(tb *t, uint32_t tag, const char *vr, uint32_t len)
{
    put16(t, OA_TAG_GROUP(tag));
    put16(t, OA_TAG_ELEMENT(tag));
    if (!t->explicit_vr || vr == NULL) {
        put32(t, len);
        return;
    }
    oa_buf_append(&t->b, vr, 2);
    if (oa_vr_has_long_length(OA_VR_CODE(vr[0], vr[1]))) {
        put16(t, 0);
        put32(t, len);
    } else {
        put16(t, (uint16_t)len);
    }
}

void tb_el(tb *t, uint32_t tag, const char *vr, const void *v, uint32_t len)
{
    tb_hdr(t, tag, vr, len);
    oa_buf_append(&t->b, v, len);
}

void tb_str(tb *t, uint32_t tag, const char *vr, const char *s)
{
    tb_el(t, tag, vr, s, (uint32_t)strlen(s));
}

void tb_uid(tb *t, uint32_t tag, const char *uid)
{
    char padded[128] = {0};
    size_t n = strlen(uid);

    memcpy(padded, uid, n < 127 ? n : 127);
    tb_el(t, tag, t->explicit_vr ? "UI" : NULL, padded,
          (uint32_t)((n + 1) & ~(size_t)1));
}

void tb_item(tb *t, uint32_t len)
{
    put16(t, 0xFFFE);
    put16(t, 0xE000);
    put32(t, len);
}

void tb_item_end(tb *t)
{
    put16(t, 0xFFFE);
    put16(t, 0xE00D);
    put32(t, 0);
}

void tb_seq_end(tb *t)
{
    put16(t, 0xFFFE);
    put16(t, 0xE0DD);
    put32(t, 0);
}

void tb_meta(tb *t, const char *ts_uid, bool with_group_length)
{
    tb meta;
    uint8_t pre[128] = {0};
    uint8_t len4[4];
    char uid[80] = {0};

    tb_init(&meta, true, false);
    tb_el(&meta, OA_TAG(0x0002, 0x0001), "OB", "\0\1", 2);
    tb_str(&meta, OA_TAG(0x0002, 0x0002), "UI", "1.2.840.10008.5.1.4.1.1.7");
    tb_str(&meta, OA_TAG(0x0002, 0x0003), "UI", "1.2.3.4.5.6.7.8.9.10");
    if (ts_uid != NULL) {
        snprintf(uid, sizeof(uid), "%s", ts_uid);
        /* odd UIDs get the NUL that follows them as padding */
        tb_el(&meta, OA_TAG_TRANSFER_SYNTAX, "UI", uid,
              (uint32_t)((strlen(uid) + 1) & ~(size_t)1));
    }
    tb_raw(t, pre, 128);
    tb_raw(t, "DICM", 4);
    if (with_group_length) {
        tb gl;
        tb_init(&gl, true, false);
        len4[0] = (uint8_t)meta.b.len;
        len4[1] = (uint8_t)(meta.b.len >> 8);
        len4[2] = (uint8_t)(meta.b.len >> 16);
        len4[3] = (uint8_t)(meta.b.len >> 24);
        tb_el(&gl, OA_TAG(0x0002, 0x0000), "UL", len4, 4);
        tb_raw(t, oa_buf_data(&gl.b), gl.b.len);
        tb_dispose(&gl);
    }
    tb_raw(t, oa_buf_data(&meta.b), meta.b.len);
    tb_dispose(&meta);
}

const uint8_t *tb_data(const tb *t)
{
    return oa_buf_data(&t->b);
}

size_t tb_len(const tb *t)
{
    return t->b.len;
}

/* ---------------- recorder ---------------- */

static oa_status rec_begin(void *u, const oa_parse_info *info, oa_error *e)
{
    recorder *r = u;
    (void)e;
    oa_buf_printf(&r->trace, "begin %s\n",
                  info->ts->uid ? info->ts->uid : "?");
    return OA_OK;
}

static oa_status rec_element(void *u, const oa_element *el, oa_error *e)
{
    recorder *r = u;
    char tag[12], vr[3];
    (void)e;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    oa_buf_printf(&r->trace, "%u %s %s %u\n", el->depth, tag, vr,
                  el->length);
    return OA_OK;
}

static oa_status rec_seq(void *u, const oa_element *el, oa_error *e)
{
    recorder *r = u;
    char tag[12], vr[3];
    (void)e;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    oa_buf_printf(&r->trace, "%u %s %s seq%s\n", el->depth, tag, vr,
                  el->undefined_length ? " undef" : "");
    if (el->tag == r->skip_tag)
        return OA_SKIP;
    return OA_OK;
}

static oa_status rec_item(void *u, const oa_item *it, oa_error *e)
{
    recorder *r = u;
    (void)e;
    oa_buf_printf(&r->trace, "item%s\n", it->undefined_length ? " undef" : "");
    return OA_OK;
}

static oa_status rec_item_end(void *u, oa_error *e)
{
    recorder *r = u;
    (void)e;
    oa_buf_printf(&r->trace, "item_end\n");
    return OA_OK;
}

static oa_status rec_seq_end(void *u, oa_error *e)
{
    recorder *r = u;
    (void)e;
    oa_buf_printf(&r->trace, "seq_end\n");
    return OA_OK;
}

static oa_status rec_frag(void *u, const oa_item *f, const uint8_t *d,
                          oa_error *e)
{
    recorder *r = u;
    (void)e;
    (void)d;
    oa_buf_printf(&r->trace, "frag %u\n", f->length);
    return OA_OK;
}

static oa_status rec_end(void *u, oa_error *e)
{
    recorder *r = u;
    (void)e;
    oa_buf_printf(&r->trace, "end\n");
    return OA_OK;
}

static oa_dicom_handler rec_handler = {
    rec_begin, rec_element, rec_seq, rec_item, rec_item_end,
    rec_seq_end, rec_frag, rec_end, NULL};

void recorder_init(recorder *r)
{
    memset(r, 0, sizeof(*r));
    oa_buf_init(&r->trace, 1 << 20);
    r->skip_tag = OA_NO_TAG;
}

void recorder_dispose(recorder *r)
{
    oa_buf_dispose(&r->trace);
}

const oa_dicom_handler *recorder_handler(recorder *r)
{
    static oa_dicom_handler h;
    h = rec_handler;
    h.user = r;
    return &h;
}

oa_status roundtrip(const uint8_t *in, size_t len, const oa_reader_opts *o,
                    uint8_t **out, size_t *out_len, oa_parse_info *info,
                    oa_error *err)
{
    oa_writer *w = NULL;
    const uint8_t *res;
    size_t n;
    oa_status rc;

    *out = NULL;
    *out_len = 0;
    rc = oa_writer_new(&w, NULL, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_dicom_copy(w, in, len, o, &res, &n, info, err);
    if (rc == OA_OK) {
        *out = malloc(n ? n : 1);
        memcpy(*out, res, n);
        *out_len = n;
    }
    oa_writer_free(w);
    return rc;
}

size_t written_dataset_offset(const uint8_t *p, size_t len)
{
    uint32_t gl;
    if (len < 144)
        return 0;
    gl = (uint32_t)p[140] | ((uint32_t)p[141] << 8) |
         ((uint32_t)p[142] << 16) | ((uint32_t)p[143] << 24);
    return 144 + gl;
}
