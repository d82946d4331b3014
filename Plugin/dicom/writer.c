/*
 * The writer: an oa_dicom_handler that writes what it is given back as a
 * Part 10 file, in the transfer syntax of the input.
 *
 * The dataset goes into one bounded buffer that keeps headroom in front;
 * at finish the preamble and the rebuilt meta group are written into that
 * headroom, so the dataset is never copied a second time.  Sequences and
 * items keep the length form of the input: undefined stays undefined (with
 * delimiters), defined lengths are back-patched once the content is known.
 * Group length elements of the dataset are dropped (retired, and wrong as
 * soon as anything changes); odd values are padded by VR.
 */
#include "dicom.h"

#include <string.h>
#include <zlib.h>

#define WRITER_MAX_DEPTH 256
#define META_HEADROOM 512
#define UID_MAX 64

typedef struct frame {
    size_t length_pos;   /* where the 32-bit length is, if defined */
    size_t content_pos;  /* where the content starts */
    bool undefined;
    bool explicit_vr;    /* encoding inside this container */
    bool big_endian;
    bool length_be;      /* byte order of the length field itself */
    bool is_item;
} frame;

struct oa_writer {
    oa_buf out;          /* the dataset (with headroom) */
    oa_buf deflated;     /* the deflated dataset, for deflated syntaxes */
    const uint8_t *result;
    size_t result_len;
    size_t dataset_offset;
    int deflate_level;
    bool started;

    /* encoding of the output */
    bool explicit_vr;
    bool big_endian;
    bool deflate;
    char ts_uid[UID_MAX + 1];

    /* meta */
    char sop_class[UID_MAX + 1];
    char sop_instance[UID_MAX + 1];
    bool media_override;

    unsigned depth;
    frame stack[WRITER_MAX_DEPTH];
    oa_dicom_handler handler;
};

static inline void put16(uint8_t *p, uint16_t v, bool be)
{
    if (be) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
    } else {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
    }
}

static inline void put32(uint8_t *p, uint32_t v, bool be)
{
    if (be) {
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
    } else {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
    }
}

/* Current encoding: the innermost container's, else the dataset's. */
static void cur_enc(const oa_writer *w, bool *explicit_vr, bool *be)
{
    if (w->depth > 0) {
        *explicit_vr = w->stack[w->depth - 1].explicit_vr;
        *be = w->stack[w->depth - 1].big_endian;
    } else {
        *explicit_vr = w->explicit_vr;
        *be = w->big_endian;
    }
}

static oa_status too_big(oa_error *err, oa_status rc, uint32_t tag)
{
    if (rc == OA_ELIMIT)
        return oa_error_at(err, OA_ELIMIT, tag, OA_NO_OFFSET,
                           "output larger than the writer's ceiling");
    return oa_error_at(err, rc, tag, OA_NO_OFFSET, "out of memory writing");
}

/*
 * Write an element header.  A length that does not fit the 16-bit field of
 * a short-length VR is written as UN (PS3.5 6.2.2).  `*length_pos` gets the
 * position of the length field.
 */
static oa_status put_header(oa_writer *w, uint32_t tag, oa_vr vr,
                            uint32_t length, size_t *length_pos,
                            oa_error *err)
{
    uint8_t h[12];
    size_t n;
    bool explicit_vr, be;
    oa_status rc;

    cur_enc(w, &explicit_vr, &be);
    put16(h, OA_TAG_GROUP(tag), be);
    put16(h + 2, OA_TAG_ELEMENT(tag), be);
    if (!explicit_vr || OA_TAG_GROUP(tag) == 0xFFFE) {
        put32(h + 4, length, be);
        n = 8;
    } else {
        if (!oa_vr_is_valid(vr))
            vr = OA_VR_UN;
        if (!oa_vr_has_long_length(vr) && length > 0xFFFF)
            vr = OA_VR_UN;
        h[4] = (uint8_t)(vr >> 8);
        h[5] = (uint8_t)vr;
        if (oa_vr_has_long_length(vr)) {
            h[6] = 0;
            h[7] = 0;
            put32(h + 8, length, be);
            n = 12;
        } else {
            put16(h + 6, (uint16_t)length, be);
            n = 8;
        }
    }
    if (length_pos != NULL)
        *length_pos = w->out.len + n - 4;
    rc = oa_buf_append(&w->out, h, n);
    return rc == OA_OK ? OA_OK : too_big(err, rc, tag);
}

static void capture_uid(char dst[UID_MAX + 1], const uint8_t *v, size_t len)
{
    len = oa_value_trim(v, len);
    if (len > UID_MAX)
        len = UID_MAX;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* Forget the output, keep allocations and any media UID override. */
static void clear_output(oa_writer *w)
{
    oa_buf_reset(&w->out);
    oa_buf_reset(&w->deflated);
    w->result = NULL;
    w->result_len = 0;
    w->dataset_offset = 0;
    w->depth = 0;
    w->started = false;
}

static oa_status w_begin(void *user, const oa_parse_info *info, oa_error *err)
{
    oa_writer *w = user;
    const oa_ts *ts = info->ts;
    oa_status rc;

    clear_output(w);
    w->started = true;
    /* A dataset labelled with an encapsulated syntax but written in
     * another encoding (TS_MISMATCH) is written in the label's encoding:
     * its pixel data is in fragments, which only the label can describe. */
    if ((info->defects & OA_DEFECT_TS_MISMATCH) && info->meta_ts != NULL &&
        info->meta_ts->encapsulated && !info->meta_ts->deflated) {
        ts = info->meta_ts;
        w->explicit_vr = true;
        w->big_endian = false;
        w->deflate = false;
        memcpy(w->ts_uid, info->meta_ts_uid, info->meta_ts_uid_len);
        w->ts_uid[info->meta_ts_uid_len] = '\0';
    } else {
        w->explicit_vr = ts->explicit_vr;
        w->big_endian = ts->big_endian;
        w->deflate = ts->deflated;
        /* The label: the input's own UID when the data matched it (this
         * keeps compressed and private syntaxes named as they were), else
         * the syntax the reader detected. */
        if (info->meta_ts_uid != NULL && info->meta_ts != NULL &&
            !info->ts_guessed && info->meta_ts_uid_len <= UID_MAX) {
            memcpy(w->ts_uid, info->meta_ts_uid, info->meta_ts_uid_len);
            w->ts_uid[info->meta_ts_uid_len] = '\0';
        } else if (ts->uid != NULL) {
            capture_uid(w->ts_uid, (const uint8_t *)ts->uid,
                        strlen(ts->uid));
        } else {
            return oa_error_set(err, OA_EUNSUPPORTED,
                                "transfer syntax cannot be named");
        }
    }
    if (!w->media_override) {
        if (info->meta_sop_class != NULL)
            capture_uid(w->sop_class, info->meta_sop_class,
                        info->meta_sop_class_len);
        if (info->meta_sop_instance != NULL)
            capture_uid(w->sop_instance, info->meta_sop_instance,
                        info->meta_sop_instance_len);
    }
    rc = oa_buf_set_headroom(&w->out, META_HEADROOM);
    if (rc != OA_OK)
        return too_big(err, rc, OA_NO_TAG);
    return OA_OK;
}

static oa_status w_element(void *user, const oa_element *el, oa_error *err)
{
    oa_writer *w = user;
    oa_status rc;
    uint32_t padded;

    if (OA_TAG_ELEMENT(el->tag) == 0x0000 && OA_TAG_GROUP(el->tag) != 0xFFFE)
        return OA_OK; /* group length: dropped (see top of file) */
    if (w->depth == 0 && OA_TAG_GROUP(el->tag) == 0x0002)
        return OA_OK; /* meta elements: rebuilt at finish */
    if (w->depth == 0 && !w->media_override) {
        if (el->tag == OA_TAG(0x0008, 0x0016))
            capture_uid(w->sop_class, el->value, el->length);
        else if (el->tag == OA_TAG(0x0008, 0x0018))
            capture_uid(w->sop_instance, el->value, el->length);
    }
    padded = el->length + (el->length & 1u);
    rc = put_header(w, el->tag, el->vr, padded, NULL, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_buf_append(&w->out, el->value, el->length);
    if (rc == OA_OK && (el->length & 1u))
        rc = oa_buf_append_byte(&w->out, oa_vr_padding(el->vr));
    return rc == OA_OK ? OA_OK : too_big(err, rc, el->tag);
}

static oa_status push(oa_writer *w, const frame *f, oa_error *err)
{
    if (w->depth >= WRITER_MAX_DEPTH)
        return oa_error_set(err, OA_ELIMIT,
                            "writer nesting deeper than %d",
                            WRITER_MAX_DEPTH);
    w->stack[w->depth++] = *f;
    return OA_OK;
}

static oa_status w_sequence_begin(void *user, const oa_element *el,
                                  oa_error *err)
{
    oa_writer *w = user;
    frame f;
    oa_status rc;
    oa_vr vr = el->vr;
    bool explicit_vr, be;

    cur_enc(w, &explicit_vr, &be);
    if (el->tag == OA_TAG_PIXEL_DATA && el->vr != OA_VR_SQ &&
        vr != OA_VR_UN && vr != OA_VR_OW)
        vr = OA_VR_OB; /* encapsulated pixel data */
    else if (vr != OA_VR_UN && vr != OA_VR_OB && vr != OA_VR_OW)
        vr = OA_VR_SQ;
    rc = put_header(w, el->tag, vr,
                    el->undefined_length ? OA_UNDEFINED_LENGTH : 0,
                    &f.length_pos, err);
    if (rc != OA_OK)
        return rc;
    f.content_pos = w->out.len;
    f.undefined = el->undefined_length;
    f.is_item = false;
    /* CP-246: inside an undefined-length UN, implicit VR little endian. */
    f.explicit_vr = (vr == OA_VR_UN && explicit_vr) ? false : explicit_vr;
    f.big_endian = (vr == OA_VR_UN) ? false : be;
    f.length_be = be; /* the header is in the parent's encoding */
    return push(w, &f, err);
}

static oa_status w_item_begin(void *user, const oa_item *item, oa_error *err)
{
    oa_writer *w = user;
    frame f;
    oa_status rc;

    if (w->depth == 0)
        return oa_error_set(err, OA_EINVAL, "item outside a sequence");
    f = w->stack[w->depth - 1];
    rc = put_header(w, OA_TAG_ITEM, 0,
                    item->undefined_length ? OA_UNDEFINED_LENGTH : 0,
                    &f.length_pos, err);
    if (rc != OA_OK)
        return rc;
    f.content_pos = w->out.len;
    f.undefined = item->undefined_length;
    f.length_be = f.big_endian; /* items are in the sequence's encoding */
    f.is_item = true;
    return push(w, &f, err);
}

/* Close the innermost container: delimiter or back-patched length. */
static oa_status close_frame(oa_writer *w, bool is_item, oa_error *err)
{
    frame f;
    size_t content;

    if (w->depth == 0 || w->stack[w->depth - 1].is_item != is_item)
        return oa_error_set(err, OA_EINVAL, "unbalanced %s end",
                            is_item ? "item" : "sequence");
    f = w->stack[--w->depth];
    if (f.undefined) {
        /* The delimiter belongs to the container's content, so it takes
         * the content's byte order (little endian inside a UN). */
        uint8_t d[8];
        oa_status rc;
        uint32_t tag = is_item ? OA_TAG_ITEM_END : OA_TAG_SEQ_END;
        put16(d, OA_TAG_GROUP(tag), f.big_endian);
        put16(d + 2, OA_TAG_ELEMENT(tag), f.big_endian);
        put32(d + 4, 0, f.big_endian);
        rc = oa_buf_append(&w->out, d, sizeof(d));
        return rc == OA_OK ? OA_OK : too_big(err, rc, tag);
    }
    content = w->out.len - f.content_pos;
    if (content >= OA_UNDEFINED_LENGTH)
        return oa_error_set(err, OA_ELIMIT, "container over 4 GiB");
    put32(oa_buf_data(&w->out) + f.length_pos, (uint32_t)content,
          f.length_be);
    return OA_OK;
}

static oa_status w_item_end(void *user, oa_error *err)
{
    return close_frame(user, true, err);
}

static oa_status w_sequence_end(void *user, oa_error *err)
{
    return close_frame(user, false, err);
}

static oa_status w_fragment(void *user, const oa_item *frag,
                            const uint8_t *data, oa_error *err)
{
    oa_writer *w = user;
    uint32_t padded = frag->length + (frag->length & 1u);
    oa_status rc;

    rc = put_header(w, OA_TAG_ITEM, 0, padded, NULL, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_buf_append(&w->out, data, frag->length);
    if (rc == OA_OK && (frag->length & 1u))
        rc = oa_buf_append_byte(&w->out, 0);
    return rc == OA_OK ? OA_OK : too_big(err, rc, OA_TAG_PIXEL_DATA);
}

static oa_status w_end(void *user, oa_error *err)
{
    oa_writer *w = user;

    if (w->depth != 0)
        return oa_error_set(err, OA_EINVAL, "dataset ends inside a sequence");
    return OA_OK;
}

oa_status oa_writer_new(oa_writer **out, const oa_writer_opts *opts,
                        oa_error *err)
{
    oa_writer *w;
    size_t max = opts && opts->max_size ? opts->max_size : 0xFFFFFFFFu;

    *out = NULL;
    w = oa_calloc(1, sizeof(*w));
    if (w == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    oa_buf_init(&w->out, max);
    oa_buf_init(&w->deflated, max);
    w->deflate_level = opts && opts->deflate_level ? opts->deflate_level : 6;
    if (opts && opts->size_hint) {
        size_t hint = opts->size_hint < max ? opts->size_hint : max;
        if (oa_buf_reserve(&w->out, hint) != OA_OK) {
            oa_writer_free(w);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    }
    w->handler.begin = w_begin;
    w->handler.element = w_element;
    w->handler.sequence_begin = w_sequence_begin;
    w->handler.item_begin = w_item_begin;
    w->handler.item_end = w_item_end;
    w->handler.sequence_end = w_sequence_end;
    w->handler.fragment = w_fragment;
    w->handler.end = w_end;
    w->handler.user = w;
    *out = w;
    return OA_OK;
}

void oa_writer_free(oa_writer *w)
{
    if (w == NULL)
        return;
    oa_buf_dispose(&w->out);
    oa_buf_dispose(&w->deflated);
    oa_free(w);
}

const oa_dicom_handler *oa_writer_handler(oa_writer *w)
{
    return &w->handler;
}

void oa_writer_reset(oa_writer *w)
{
    clear_output(w);
    w->media_override = false;
    w->sop_class[0] = '\0';
    w->sop_instance[0] = '\0';
}

oa_status oa_writer_set_media_uids(oa_writer *w, const char *sop_class,
                                   const char *sop_instance, oa_error *err)
{
    if (sop_class == NULL || sop_instance == NULL ||
        strlen(sop_class) > UID_MAX || strlen(sop_instance) > UID_MAX)
        return oa_error_set(err, OA_EINVAL,
                            "media storage UIDs missing or too long");
    memcpy(w->sop_class, sop_class, strlen(sop_class) + 1);
    memcpy(w->sop_instance, sop_instance, strlen(sop_instance) + 1);
    w->media_override = true;
    return OA_OK;
}

/* Append one explicit VR LE meta element to a small buffer. */
static size_t meta_put(uint8_t *m, uint32_t tag, oa_vr vr, const void *v,
                       size_t len, uint8_t pad)
{
    size_t padded = len + (len & 1u), n;

    put16(m, OA_TAG_GROUP(tag), false);
    put16(m + 2, OA_TAG_ELEMENT(tag), false);
    m[4] = (uint8_t)(vr >> 8);
    m[5] = (uint8_t)vr;
    if (oa_vr_has_long_length(vr)) {
        m[6] = m[7] = 0;
        put32(m + 8, (uint32_t)padded, false);
        n = 12;
    } else {
        put16(m + 6, (uint16_t)padded, false);
        n = 8;
    }
    memcpy(m + n, v, len);
    if (len & 1u)
        m[n + len] = pad;
    return n + padded;
}

/* Build preamble + DICM + meta into `m` (at least META_HEADROOM bytes). */
static size_t build_meta(const oa_writer *w, uint8_t *m)
{
    static const uint8_t version[2] = {0x00, 0x01};
    size_t n = 132 + 12, group_start;

    memset(m, 0, 128);
    memcpy(m + 128, "DICM", 4);
    group_start = n;
    n += meta_put(m + n, OA_TAG(0x0002, 0x0001), OA_VR_OB, version, 2, 0);
    n += meta_put(m + n, OA_TAG(0x0002, 0x0002), OA_VR_UI, w->sop_class,
                  strlen(w->sop_class), 0);
    n += meta_put(m + n, OA_TAG(0x0002, 0x0003), OA_VR_UI, w->sop_instance,
                  strlen(w->sop_instance), 0);
    n += meta_put(m + n, OA_TAG_TRANSFER_SYNTAX, OA_VR_UI, w->ts_uid,
                  strlen(w->ts_uid), 0);
    n += meta_put(m + n, OA_TAG(0x0002, 0x0012), OA_VR_UI,
                  OA_IMPLEMENTATION_CLASS_UID,
                  strlen(OA_IMPLEMENTATION_CLASS_UID), 0);
    n += meta_put(m + n, OA_TAG(0x0002, 0x0013), OA_VR_SH,
                  OA_IMPLEMENTATION_VERSION_NAME,
                  strlen(OA_IMPLEMENTATION_VERSION_NAME), ' ');
    meta_put(m + 132, OA_TAG(0x0002, 0x0000), OA_VR_UL, "\0\0\0\0", 4, 0);
    put32(m + 132 + 8, (uint32_t)(n - group_start), false);
    return n;
}

static oa_status deflate_into(oa_writer *w, oa_error *err)
{
    z_stream zs;
    int zrc;
    oa_status rc;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, w->deflate_level, Z_DEFLATED, -15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return oa_error_set(err, OA_ENOMEM, "cannot start deflate");
    oa_buf_reset(&w->deflated);
    rc = oa_buf_set_headroom(&w->deflated, META_HEADROOM);
    if (rc == OA_OK)
        rc = oa_buf_reserve(&w->deflated,
                            deflateBound(&zs, (uLong)w->out.len) + 2);
    if (rc != OA_OK) {
        deflateEnd(&zs);
        return too_big(err, rc, OA_NO_TAG);
    }
    zs.next_in = oa_buf_data(&w->out);
    zs.avail_in = (uInt)w->out.len;
    zs.next_out = oa_buf_data(&w->deflated);
    zs.avail_out = (uInt)(w->deflated.cap - 1);
    zrc = deflate(&zs, Z_FINISH);
    w->deflated.len = zs.total_out;
    deflateEnd(&zs);
    if (zrc != Z_STREAM_END)
        return oa_error_set(err, OA_EIO, "deflate failed");
    /* PS3.5 A.5: the deflated stream is padded to even length. */
    if (w->deflated.len & 1u) {
        rc = oa_buf_append_byte(&w->deflated, 0);
        if (rc != OA_OK)
            return too_big(err, rc, OA_NO_TAG);
    }
    return OA_OK;
}

oa_status oa_writer_finish(oa_writer *w, const uint8_t **out, size_t *len,
                           oa_error *err)
{
    uint8_t meta[META_HEADROOM];
    size_t n;
    oa_buf *b = &w->out;
    oa_status rc;

    if (!w->started)
        return oa_error_set(err, OA_EINVAL, "nothing was written");
    if (strcmp(w->sop_class, "1.2.840.10008.1.3.10") == 0)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "a DICOMDIR cannot be rewritten: its record "
                            "offsets would no longer point at its records");
    if (w->depth != 0)
        return oa_error_set(err, OA_EINVAL, "dataset ends inside a sequence");
    if (w->deflate) {
        rc = deflate_into(w, err);
        if (rc != OA_OK)
            return rc;
        b = &w->deflated;
    }
    if (b->mem == NULL) {
        rc = oa_buf_set_headroom(b, META_HEADROOM);
        if (rc == OA_OK)
            rc = oa_buf_reserve(b, 1);
        if (rc != OA_OK)
            return too_big(err, rc, OA_NO_TAG);
    }
    n = build_meta(w, meta); /* at most 144 + 6 * (12 + 64): fits */
    if (n > b->head)
        return oa_error_set(err, OA_ELIMIT, "meta group too large");
    memcpy(b->mem + b->head - n, meta, n);
    w->result = b->mem + b->head - n;
    w->result_len = b->len + n;
    w->dataset_offset = n;
    *out = w->result;
    *len = w->result_len;
    return OA_OK;
}

size_t oa_writer_dataset_offset(const oa_writer *w)
{
    return w->dataset_offset;
}

oa_status oa_dicom_copy(oa_writer *w, const uint8_t *in, size_t in_len,
                        const oa_reader_opts *opts, const uint8_t **out,
                        size_t *out_len, oa_parse_info *info, oa_error *err)
{
    oa_status rc;

    rc = oa_dicom_parse(in, in_len, opts, oa_writer_handler(w), info, err);
    if (rc != OA_OK)
        return rc;
    return oa_writer_finish(w, out, out_len, err);
}
