/*
 * pixels/decide.c: the one decision per instance (keep / cleaned / refuse
 * / needs decoding), the OCR pass, and writing the result.
 */
#include "pixels_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define T(g, e) OA_TAG(0x##g, 0x##e)

#define TS_RLE "1.2.840.10008.1.2.5"
#define DEFAULT_OCR_FRAMES 16u
#define DEFAULT_MARGIN 2u
#define DEFAULT_MAX_BYTES ((size_t)1 << 30)

void oa_pixels_policy_init(oa_pixels_policy *p)
{
    memset(p, 0, sizeof *p);
    p->device_rules = true;
    p->device_rules_imply_risk = true;
    p->us_regions = OA_PIXELS_US_REGIONS_FALLBACK;
    p->ocr_max_frames = DEFAULT_OCR_FRAMES;
    p->ocr_margin = DEFAULT_MARGIN;
    p->verify = true;
    p->max_pixel_bytes = DEFAULT_MAX_BYTES;
}

void oa_pixels_result_init(oa_pixels_result *r)
{
    memset(r, 0, sizeof *r);
}

void oa_pixels_result_dispose(oa_pixels_result *r)
{
    if (r == NULL)
        return;
    oa_free(r->ops);
    oa_free(r->value);
    oa_free(r->fragments);
    memset(r, 0, sizeof *r);
}

const char *oa_pixels_verdict_name(oa_pixels_verdict v)
{
    switch (v) {
    case OA_PIXELS_KEEP: return "keep";
    case OA_PIXELS_CLEANED: return "cleaned";
    case OA_PIXELS_REFUSE: return "refuse";
    case OA_PIXELS_NEEDS_DECODING: return "needs decoding";
    }
    return "?";
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

typedef struct ops_buf {
    oa_pixels_op *ops;
    size_t n, cap;
} ops_buf;

static oa_status add_op(ops_buf *b, uint32_t x0, uint32_t y0, uint32_t x1,
                        uint32_t y1, uint32_t rows, uint32_t cols, bool keep,
                        const char *label, oa_error *err)
{
    oa_pixels_op *op;

    if (x1 > cols)
        x1 = cols;
    if (y1 > rows)
        y1 = rows;
    if (x0 >= x1 || y0 >= y1)
        return OA_OK;              /* outside the image */
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        oa_pixels_op *p;
        if (cap > 1u << 16)
            return oa_error_set(err, OA_ELIMIT, "pixels: too many boxes");
        p = oa_realloc(b->ops, cap * sizeof *p);
        if (p == NULL)
            return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
        b->ops = p;
        b->cap = cap;
    }
    op = &b->ops[b->n++];
    op->rect.x = x0;
    op->rect.y = y0;
    op->rect.w = x1 - x0;
    op->rect.h = y1 - y0;
    op->keep = keep;
    op->label = label;
    return OA_OK;
}

static void risk_names(unsigned risks, char *out, size_t size)
{
    static const char *const names[] = {
        "Burned In Annotation YES", "modality", "Secondary Capture class",
        "Image Type", "dose report", "overlay in unused pixel bits",
        "device rule", "flag rule"};
    size_t n = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < 8; i++)
        if (risks & (1u << i)) {
            int k = snprintf(out + n, size - n, "%s%s", n ? ", " : "",
                             names[i]);
            if (k < 0 || (size_t)k >= size - n)
                return;
            n += (size_t)k;
        }
}

static void set_reason(oa_pixels_result *r, const char *fmt, ...)
    OA_PRINTF(2, 3);

static void set_reason(oa_pixels_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
}

/* Label of a rule: "deid: <label>" kept in static storage per rule. */
static const char *rule_label(const oa_pixels_rule *r)
{
    return r->info.label;
}

/* Ops of one generated rule. */
static oa_status rule_ops(const oa_pixels_rule *rule, const oa_pixels_attrs *a,
                          uint32_t rows, uint32_t cols, ops_buf *b,
                          size_t *kept_regions, oa_error *err)
{
    const oa_pixels_rule_op *ops = oa_px_rule_ops() + rule->op_first;
    oa_status rc = OA_OK;

    for (uint32_t i = 0; i < rule->n_ops && rc == OA_OK; i++) {
        const oa_pixels_rule_op *o = &ops[i];
        if (o->kind == OA_PX_OP_RECT || o->kind == OA_PX_OP_ALL) {
            rc = add_op(b, o->x0, o->y0, o->x1, o->y1, rows, cols, o->keep,
                        rule_label(rule), err);
            continue;
        }
        /* the regions of (0018,6018..601E): bounds inclusive */
        for (size_t k = 0; k < a->n_regions && rc == OA_OK; k++) {
            const oa_px_region *g = &a->regions[k];
            size_t before = b->n;
            if (g->have != 15 || g->x1 < g->x0 || g->y1 < g->y0 ||
                g->x1 == UINT32_MAX || g->y1 == UINT32_MAX)
                continue;
            rc = add_op(b, g->x0, g->y0, g->x1 + 1, g->y1 + 1, rows, cols,
                        o->keep, rule_label(rule), err);
            if (o->keep && b->n > before)
                (*kept_regions)++;
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* OCR                                                                  */

/* The identifying values of the instance, as oa_ocr_match's needles: one
 * NUL-terminated string per value of a multi-valued attribute. */
typedef struct needles_buf {
    oa_ocr_needles nd;
    const char **ptrs;         /* names, then ids, dates, texts */
    char *text;
} needles_buf;

static const uint32_t NAME_TAGS[] = {
    T(0010, 0010), T(0010, 1001), T(0010, 1005), T(0010, 1060),
    T(0008, 0090), T(0008, 1050), T(0008, 1070), T(0032, 1032)};
static const uint32_t ID_TAGS[] = {T(0010, 0020), T(0010, 1000),
                                   T(0008, 0050), T(0020, 0010),
                                   T(0010, 2154), T(0010, 0021)};
static const uint32_t DATE_TAGS[] = {T(0010, 0030), T(0008, 0020),
                                     T(0008, 0021), T(0008, 0022),
                                     T(0008, 0023), T(0008, 002A)};
static const uint32_t TEXT_TAGS[] = {T(0008, 0080), T(0010, 1040)};

#define N_TAGS(t) (sizeof t / sizeof t[0])

/* Add the values of `tags` (split at '\') to nb; count them in *n. */
static void add_values(needles_buf *nb, const oa_pixels_attrs *a,
                       const uint32_t *tags, size_t n_tags, size_t *n_ptrs,
                       size_t *n_text, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < n_tags; i++) {
        const oa_px_value *v = oa_px_find(a, tags[i]);
        const char *s;
        size_t start = 0;
        if (v == NULL)
            continue;
        s = oa_px_str(a, v);
        for (size_t k = 0; k <= v->len; k++) {
            if (k < v->len && s[k] != '\\')
                continue;
            if (k > start) {
                nb->ptrs[(*n_ptrs)++] = nb->text + *n_text;
                memcpy(nb->text + *n_text, s + start, k - start);
                *n_text += k - start;
                nb->text[(*n_text)++] = '\0';
                (*n)++;
            }
            start = k + 1;
        }
    }
}

/* Names (PN), IDs (patient, other, accession, study, phone, issuer),
 * dates (DA) and texts (institution, address) of the instance. */
static oa_status build_needles(const oa_pixels_attrs *a, needles_buf *nb,
                               oa_error *err)
{
    size_t values = 0, bytes = 0, n_ptrs = 0, n_text = 0;

    memset(nb, 0, sizeof *nb);
    for (size_t i = 0; i < a->n; i++) {
        bytes += a->v[i].len + 1;
        for (uint32_t k = 0; k < a->v[i].len; k++)
            values += oa_px_str(a, &a->v[i])[k] == '\\';
        values++;
    }
    nb->ptrs = oa_malloc((values ? values : 1) * sizeof *nb->ptrs);
    nb->text = oa_malloc(bytes ? bytes : 1);
    if (nb->ptrs == NULL || nb->text == NULL)
        return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
    add_values(nb, a, NAME_TAGS, N_TAGS(NAME_TAGS), &n_ptrs, &n_text,
               &nb->nd.n_names);
    add_values(nb, a, ID_TAGS, N_TAGS(ID_TAGS), &n_ptrs, &n_text,
               &nb->nd.n_ids);
    add_values(nb, a, DATE_TAGS, N_TAGS(DATE_TAGS), &n_ptrs, &n_text,
               &nb->nd.n_dates);
    add_values(nb, a, TEXT_TAGS, N_TAGS(TEXT_TAGS), &n_ptrs, &n_text,
               &nb->nd.n_texts);
    nb->nd.names = nb->ptrs;
    nb->nd.ids = nb->nd.names + nb->nd.n_names;
    nb->nd.dates = nb->nd.ids + nb->nd.n_ids;
    nb->nd.texts = nb->nd.dates + nb->nd.n_dates;
    return OA_OK;
}

static void needles_dispose(needles_buf *nb)
{
    oa_free(nb->ptrs);
    oa_free(nb->text);
}

/* Whether `text` is one of the policy's extra strict-mode terms (case
 * ignored). */
static bool extra_whitelisted(const oa_pixels_policy *p, const char *text)
{
    for (size_t i = 0; i < p->n_ocr_whitelist; i++) {
        const char *t = p->ocr_whitelist[i];
        size_t k = 0;
        if (t == NULL)
            continue;
        while (t[k] != '\0' && text[k] != '\0' &&
               tolower((unsigned char)t[k]) ==
                   tolower((unsigned char)text[k]))
            k++;
        if (t[k] == '\0' && text[k] == '\0')
            return true;
    }
    return false;
}

typedef struct ocr_ctx {
    const oa_pixels_policy *p;
    const oa_pixels_layout *l;
    const uint8_t *value;
    size_t len;
    const oa_ocr_needles *nd;
    uint8_t *gray;
    oa_ocr_word *words;        /* the hook's words, for oa_ocr_match */
    size_t cap_words;
} ocr_ctx;

/* The boxes oa_ocr_match finds among the hook's words `w` (the strict
 * mode's too, unless `verifying`).  *rects: free with oa_free. */
static oa_status match_words(ocr_ctx *c, const oa_pixels_word *w, size_t n,
                             bool verifying, oa_pixels_rect **rects,
                             size_t *n_rects, oa_error *err)
{
    bool strict = c->p->ocr_strict && !verifying;
    bool extra = strict && c->p->n_ocr_whitelist > 0;
    size_t k = 0;
    oa_status rc;

    *rects = NULL;
    *n_rects = 0;
    if (n > OA_OCR_WORDS_MAX)
        return oa_error_set(err, OA_ELIMIT, "OCR: more than %u words",
                            (unsigned)OA_OCR_WORDS_MAX);
    if (n > c->cap_words) {
        oa_ocr_word *nw = oa_realloc(c->words, n * sizeof *nw);
        if (nw == NULL)
            return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
        c->words = nw;
        c->cap_words = n;
    }
    for (size_t i = 0; i < n; i++) {
        oa_ocr_word *o;
        size_t len;
        if (w[i].text == NULL)
            continue;
        o = &c->words[k++];
        o->box = w[i].box;
        o->confidence = (float)w[i].confidence;
        o->line = w[i].line;
        len = strlen(w[i].text);
        if (len >= sizeof o->text) {
            len = sizeof o->text - 1;
            while (len > 0 && ((unsigned char)w[i].text[len] & 0xC0) == 0x80)
                len--;             /* cut at a UTF-8 character boundary */
        }
        memcpy(o->text, w[i].text, len);
        o->text[len] = '\0';
    }
    rc = oa_ocr_match(c->words, k, c->nd, strict && !extra, rects, n_rects,
                      err);
    if (rc != OA_OK || !extra)
        return rc;
    {
        /* strict with extra terms: every word neither matched, nor on the
         * built-in list, nor one of the policy's terms */
        oa_pixels_rect *more = NULL, *all;
        size_t n_more = 0, kept = 0;
        for (size_t i = 0; i < k; i++) {
            const oa_pixels_rect *b = &c->words[i].box;
            bool done = extra_whitelisted(c->p, c->words[i].text);
            for (size_t j = 0; j < *n_rects && !done; j++) {
                const oa_pixels_rect *q = &(*rects)[j];
                done = b->x >= q->x && b->y >= q->y &&
                       b->x + b->w <= q->x + q->w &&
                       b->y + b->h <= q->y + q->h;   /* blanked already */
            }
            if (!done)
                c->words[kept++] = c->words[i];
        }
        rc = oa_ocr_match(c->words, kept, NULL, true, &more, &n_more, err);
        if (rc != OA_OK || n_more == 0) {
            oa_free(more);
            if (rc != OA_OK) {
                oa_free(*rects);
                *rects = NULL;
                *n_rects = 0;
            }
            return rc;
        }
        all = oa_realloc(*rects, (*n_rects + n_more) * sizeof *all);
        if (all == NULL) {
            oa_free(more);
            oa_free(*rects);
            *rects = NULL;
            *n_rects = 0;
            return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
        }
        memcpy(all + *n_rects, more, n_more * sizeof *all);
        *rects = all;
        *n_rects += n_more;
        oa_free(more);
    }
    return OA_OK;
}

/* OCR frame f of the value; add boxes to blank (or, verifying, report the
 * first identifying word in *found). */
static oa_status ocr_frame(ocr_ctx *c, uint32_t f, ops_buf *b,
                           bool verifying, bool *found, oa_pixels_rect *where,
                           unsigned *words, oa_error *err)
{
    oa_pixels_gray g;
    oa_pixels_word *w = NULL;
    oa_pixels_rect *hits = NULL;
    size_t n = 0, n_hits = 0;
    oa_status rc;
    uint32_t m = c->p->ocr_margin;

    rc = oa_pixels_gray8(c->l, c->value, c->len, f, c->gray, err);
    if (rc != OA_OK)
        return rc;
    g.pixels = c->gray;
    g.width = c->l->columns;
    g.height = c->l->rows;
    g.frame = f;
    rc = c->p->ocr->find_words(c->p->ocr->ctx, &g, &w, &n, err);
    if (rc != OA_OK)
        return rc;
    rc = match_words(c, w, n, verifying, &hits, &n_hits, err);
    if (c->p->ocr->release != NULL)
        c->p->ocr->release(c->p->ocr->ctx, w, n);
    if (rc != OA_OK)
        return rc;
    if (verifying) {
        if (n_hits > 0 && !*found) {
            *found = true;
            *where = hits[0];
        }
        n_hits = 0;
    }
    for (size_t i = 0; i < n_hits && rc == OA_OK; i++) {
        const oa_pixels_rect *r = &hits[i];
        (*words)++;
        rc = add_op(b, r->x > m ? r->x - m : 0, r->y > m ? r->y - m : 0,
                    r->x + r->w + m < r->x ? UINT32_MAX : r->x + r->w + m,
                    r->y + r->h + m < r->y ? UINT32_MAX : r->y + r->h + m,
                    c->l->rows, c->l->columns, false, "OCR", err);
    }
    oa_free(hits);
    return rc;
}

/* ocr_frame, counted in r->ocr_frames.  False when the decision stops:
 * out of memory (*rc, err), or the OCR failed (the instance is refused,
 * the reason `what` and the hook's message; *rc = OA_OK). */
static bool read_frame(ocr_ctx *c, uint32_t f, ops_buf *b, bool verifying,
                       bool *found, oa_pixels_rect *where, unsigned *words,
                       oa_pixels_result *r, const char *what, oa_status *rc,
                       oa_error *err)
{
    oa_error e;

    oa_error_clear(&e);
    *rc = ocr_frame(c, f, b, verifying, found, where, words, &e);
    r->ocr_frames++;
    if (*rc == OA_OK)
        return true;
    if (*rc == OA_ENOMEM) {
        oa_error_set(err, *rc, "pixels: out of memory");
        return false;
    }
    *rc = OA_OK;
    r->verdict = OA_PIXELS_REFUSE;
    set_reason(r, "%s: %s", what, e.msg);
    return false;
}

/* Frames to OCR: first, middle, last, and (with `changes`) every frame
 * whose text area changed (oa_ocr_picker).  Returns the count, or -1 if
 * more than `max` are needed. */
#define VERIFY_ROUNDS 3   /* OCR passes over the cleaned frames */
static long pick_frames(ocr_ctx *c, uint32_t *out, unsigned max,
                        bool changes, oa_error *err, oa_status *rc)
{
    uint32_t frames = c->l->frames;
    uint32_t base[3] = {0, frames / 2, frames - 1};
    oa_ocr_picker *pk = NULL;
    size_t n = 0;
    oa_error e;

    *rc = OA_OK;
    if (frames <= 3 || !changes) {
        for (int i = 0; i < 3; i++) {
            bool dup = false;
            for (size_t k = 0; k < n; k++)
                dup = dup || out[k] == base[i];
            if (!dup)
                out[n++] = base[i];
        }
        return (long)n;
    }
    *rc = oa_ocr_picker_new(&pk, c->l->columns, c->l->rows, frames,
                            max < 3 ? 3 : max, err);
    if (*rc != OA_OK)
        return 0;
    for (uint32_t f = 0; f < frames && *rc == OA_OK; f++) {
        bool pick = false;
        *rc = oa_pixels_gray8(c->l, c->value, c->len, f, c->gray, err);
        if (*rc != OA_OK)
            break;
        oa_error_clear(&e);
        *rc = oa_ocr_picker_feed(pk, f, c->gray, c->l->columns, &pick, &e);
        if (*rc == OA_ELIMIT) {
            *rc = OA_OK;
            n = (size_t)-1;
            break;
        }
        if (*rc != OA_OK)
            oa_error_set(err, *rc, "%s", e.msg);
        else if (pick)
            out[n++] = f;
    }
    oa_ocr_picker_free(pk);
    return n == (size_t)-1 ? -1 : (long)n;
}
/* ------------------------------------------------------------------ */
/* Decision                                                             */

static bool is_native_ts(const char *uid)
{
    return strcmp(uid, "1.2.840.10008.1.2") == 0 ||
           strcmp(uid, "1.2.840.10008.1.2.1") == 0 ||
           strcmp(uid, "1.2.840.10008.1.2.2") == 0 ||
           strcmp(uid, "1.2.840.10008.1.2.1.99") == 0;
}

static void describe_device(const oa_pixels_attrs *a, char *out, size_t size)
{
    const oa_px_value *man = oa_px_find(a, T(0008, 0070));
    const oa_px_value *mod = oa_px_find(a, T(0008, 1090));

    snprintf(out, size,
             "Manufacturer (0008,0070) %s, Manufacturer's Model Name "
             "(0008,1090) %s, Rows x Columns %s%ux%u",
             man == NULL ? "missing" : man->len ? "present" : "empty",
             mod == NULL ? "missing" : mod->len ? "present" : "empty",
             oa_px_find(a, T(0028, 0010)) ? "" : "(missing) ",
             (unsigned)oa_px_uint(a, T(0028, 0010), 0),
             (unsigned)oa_px_uint(a, T(0028, 0011), 0));
}

/* One frame in several fragments: decode their concatenation. */
static oa_status load_rle_split(const oa_pixels_attrs *a,
                                const oa_pixels_layout *l, size_t frame,
                                uint8_t **work, size_t *work_len,
                                oa_pixels_result *r, oa_error *err)
{
    size_t total = 0, pos = 0;
    uint8_t *cat;
    oa_error e;

    for (size_t i = 1; i < a->n_frags; i++)
        if (oa_size_add(&total, total, a->frags[i].len) != 0)
            return oa_error_set(err, OA_ELIMIT, "RLE: fragments overflow");
    cat = oa_malloc(total ? total : 1);
    *work = oa_malloc(frame);
    if (cat == NULL || *work == NULL) {
        oa_free(cat);
        oa_free(*work);
        *work = NULL;
        return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
    }
    for (size_t i = 1; i < a->n_frags; i++) {
        if (a->frags[i].len)
            memcpy(cat + pos, a->frags[i].data, a->frags[i].len);
        pos += a->frags[i].len;
    }
    oa_error_clear(&e);
    if (oa_pixels_rle_decode(cat, total, l->rows, l->columns, l->samples,
                             l->bits_allocated / 8, *work, frame,
                             &e) != OA_OK) {
        set_reason(r, "RLE frame 0 (%zu fragments at offset %zu): %s",
                   a->n_frags - 1, a->frags[1].offset, e.msg);
        r->verdict = OA_PIXELS_REFUSE;
        oa_free(*work);
        *work = NULL;
    }
    oa_free(cat);
    *work_len = frame;
    return OA_OK;
}

/* Pixels to work on: a copy of the native value, or the RLE frames
 * decoded (planar, little endian).  Fills layout and *work. */
static oa_status load_pixels(const oa_pixels_attrs *a, oa_pixels_layout *l,
                             const oa_pixels_policy *p, bool rle,
                             uint8_t **work, size_t *work_len,
                             oa_pixels_result *r, oa_error *err)
{
    oa_error e;
    size_t frame, total;

    *work = NULL;
    oa_error_clear(&e);
    if (!rle) {
        if (oa_pixels_layout_check(l, a->native_len, p->max_pixel_bytes,
                                   &e) != OA_OK) {
            set_reason(r, "Pixel Data (7FE0,0010) at offset %zu: %s",
                       a->pixel_offset, e.msg);
            r->verdict = OA_PIXELS_REFUSE;
            return OA_OK;
        }
        *work = oa_malloc(a->native_len ? a->native_len : 1);
        if (*work == NULL)
            return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
        if (a->native_len > 0)
            memcpy(*work, a->native, a->native_len);
        *work_len = a->native_len;
        return OA_OK;
    }
    /* RLE: planar little-endian frames */
    l->planar = l->samples == 3;
    l->big_endian = false;
    if (l->bits_allocated == 1 || l->photometric == OA_PIXELS_YBR_FULL_422 ||
        l->photometric == OA_PIXELS_YBR_PARTIAL_422) {
        set_reason(r, "RLE Lossless with %s is not handled natively",
                   l->bits_allocated == 1 ? "1-bit pixels" : "YBR 4:2:2");
        r->verdict = OA_PIXELS_NEEDS_DECODING;
        return OA_OK;
    }
    if (oa_pixels_frame_bytes(l, &frame, &total) != 0 ||
        oa_pixels_layout_check(l, total, p->max_pixel_bytes, &e) != OA_OK) {
        set_reason(r, "Pixel Data (7FE0,0010) at offset %zu: %s",
                   a->pixel_offset, e.msg[0] ? e.msg : "invalid layout");
        r->verdict = OA_PIXELS_REFUSE;
        return OA_OK;
    }
    if (!a->frags_overflow && l->frames == 1 && a->n_frags > 2)
        return load_rle_split(a, l, frame, work, work_len, r, err);
    if (a->frags_overflow || a->n_frags != (size_t)l->frames + 1) {
        set_reason(r, "RLE Pixel Data (7FE0,0010) at offset %zu: %zu "
                   "fragments after the offset table for %u frames (one per "
                   "frame expected)", a->pixel_offset,
                   a->n_frags ? a->n_frags - 1 : 0, (unsigned)l->frames);
        r->verdict = OA_PIXELS_REFUSE;
        return OA_OK;
    }
    *work = oa_malloc(total);
    if (*work == NULL)
        return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
    for (uint32_t f = 0; f < l->frames; f++) {
        const oa_px_fragment *fr = &a->frags[f + 1];
        if (oa_pixels_rle_decode(fr->data, fr->len, l->rows, l->columns,
                                 l->samples, l->bits_allocated / 8,
                                 *work + (size_t)f * frame, frame,
                                 &e) != OA_OK) {
            set_reason(r, "RLE frame %u (fragment at offset %zu): %s",
                       (unsigned)f, fr->offset, e.msg);
            r->verdict = OA_PIXELS_REFUSE;
            oa_free(*work);
            *work = NULL;
            return OA_OK;
        }
    }
    *work_len = total;
    return OA_OK;
}

static oa_status encode_rle(const oa_pixels_layout *l, const uint8_t *work,
                            oa_pixels_result *r, oa_error *err)
{
    size_t frame, total, nf = (size_t)l->frames + 1;
    oa_buf out;
    oa_status rc = OA_OK;

    oa_pixels_frame_bytes(l, &frame, &total);
    r->fragments = oa_calloc(nf, sizeof *r->fragments);
    if (r->fragments == NULL)
        return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
    oa_buf_init(&out, (size_t)UINT32_MAX - 1);
    /* Basic Offset Table: 4 bytes per frame, filled below. */
    for (size_t f = 0; f < l->frames && rc == OA_OK; f++)
        rc = oa_buf_append(&out, "\0\0\0\0", 4);
    r->fragments[0].offset = 0;
    r->fragments[0].length = out.len;
    for (uint32_t f = 0; f < l->frames && rc == OA_OK; f++) {
        size_t start = out.len;
        uint32_t pos = (uint32_t)(start - r->fragments[0].length +
                                  8u * f);
        rc = oa_pixels_rle_encode(work + (size_t)f * frame, frame, l->rows,
                                  l->columns, l->samples,
                                  l->bits_allocated / 8, &out, err);
        if (rc != OA_OK)
            break;
        {
            uint8_t *bot = oa_buf_data(&out) + 4u * f;
            bot[0] = (uint8_t)pos;
            bot[1] = (uint8_t)(pos >> 8);
            bot[2] = (uint8_t)(pos >> 16);
            bot[3] = (uint8_t)(pos >> 24);
        }
        r->fragments[f + 1].offset = start;
        r->fragments[f + 1].length = out.len - start;
    }
    if (rc != OA_OK) {
        oa_buf_dispose(&out);
        if (err == NULL || err->code == OA_OK)
            oa_error_set(err, rc, "RLE: re-encoding failed");
        return rc;
    }
    r->n_fragments = nf;
    r->value_len = out.len;
    r->value = out.mem;            /* head is 0: data at mem */
    r->encapsulated = true;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* The device rules' verdict, cached for the next instance              */

/* The key: every attribute the rules test, exactly (tag, presence, value),
 * and the policy bit that changes the verdict.  0 when it does not fit. */
static size_t rule_key(const oa_pixels_attrs *a, bool flags, uint8_t *key,
                       size_t cap)
{
    size_t n_tags, used = 0;
    const uint32_t *tags = oa_px_rule_tags(&n_tags);

    if (cap < 1)
        return 0;
    key[used++] = flags ? 1 : 0;
    for (size_t i = 0; i < n_tags; i++) {
        const oa_px_value *v = oa_px_find(a, tags[i]);
        uint32_t len = v != NULL ? v->len : UINT32_MAX;

        if (cap - used < 8 || (v != NULL && cap - used - 8 < v->len))
            return 0;
        memcpy(key + used, &tags[i], 4);
        memcpy(key + used + 4, &len, 4);
        used += 8;
        if (v != NULL) {
            memcpy(key + used, oa_px_str(a, v), v->len);
            used += v->len;
        }
    }
    return used;
}

/* True (and the verdict) if the last instance's attributes were these.
 * The cache lives in the attributes object, which belongs to one engine
 * and one thread; decide() reads the attributes, and only this cache is
 * written. */
static bool cached_device_rules(const oa_pixels_attrs *ca, bool flags,
                                size_t *n_device, bool *flag)
{
    oa_pixels_attrs *a = (oa_pixels_attrs *)ca;
    uint8_t key[OA_PX_RULE_KEY_MAX];
    size_t len;

    if (!a->rule_cache.valid)
        return false;
    len = rule_key(a, flags, key, sizeof key);
    if (len == 0 || len != a->rule_cache.key_len ||
        memcmp(key, a->rule_cache.key, len) != 0)
        return false;
    *n_device = a->rule_cache.device ? 1 : 0;
    *flag = a->rule_cache.flag;
    return true;
}

static void remember_device_rules(const oa_pixels_attrs *ca, bool flags,
                                  bool device, bool flag)
{
    oa_pixels_attrs *a = (oa_pixels_attrs *)ca;
    size_t len = rule_key(a, flags, a->rule_cache.key,
                          sizeof a->rule_cache.key);

    a->rule_cache.valid = len > 0;
    a->rule_cache.key_len = len;
    a->rule_cache.device = device;
    a->rule_cache.flag = flag;
}

oa_status oa_pixels_decide(const oa_pixels_attrs *a,
                           const oa_pixels_policy *policy,
                           oa_pixels_result *r, oa_error *err)
{
    oa_pixels_policy defaults;
    const oa_pixels_policy *p = policy;
    const oa_pixels_rule *rules;
    size_t n_rules, n_user = 0, n_device = 0, kept_regions = 0;
    uint32_t cleared = 0, rows, cols;
    unsigned risks;
    bool flag = false, rle = false, covered;
    ops_buf b = {NULL, 0, 0};
    oa_pixels_layout l;
    uint8_t *work = NULL;
    size_t work_len = 0;
    char risk_txt[160], dev[160];
    oa_status rc = OA_OK;
    oa_error e;
    needles_buf nb = {{NULL, 0, NULL, 0, NULL, 0, NULL, 0}, NULL, NULL};
    ocr_ctx oc;
    uint32_t *picked = NULL;
    long n_picked = 0;
    oa_px_memo memo;

    memset(&oc, 0, sizeof oc);
    oa_pixels_result_dispose(r);
    if (p == NULL) {
        oa_pixels_policy_init(&defaults);
        p = &defaults;
    }
    rows = oa_px_uint(a, T(0028, 0010), 0);
    cols = oa_px_uint(a, T(0028, 0011), 0);
    risks = oa_px_triage(a, &cleared);
    rules = oa_px_rules(&n_rules);
    memset(&memo, 0, sizeof memo);

    /* Which rules match (cheap: a few substring searches). */
    for (size_t i = 0; i < p->n_user_rules; i++)
        if (oa_px_user_rule_matches(&p->user_rules[i], a))
            n_user++;
    if (p->device_rules &&
        !cached_device_rules(a, p->flag_rules_imply_risk, &n_device,
                             &flag)) {
        for (size_t i = 0; i < n_rules; i++) {
            if (rules[i].recipe != 0 ||
                rules[i].info.kind == OA_PIXELS_RULE_ALLOW)
                continue;
            if (rules[i].info.kind == OA_PIXELS_RULE_FLAG) {
                if (p->flag_rules_imply_risk && !flag &&
                    oa_px_rule_matches(&rules[i], a, &memo))
                    flag = true;
                continue;
            }
            if (oa_px_rule_matches(&rules[i], a, &memo))
                n_device++;
        }
        remember_device_rules(a, p->flag_rules_imply_risk, n_device > 0,
                              flag);
    }
    if (n_user > 0 || (n_device > 0 && p->device_rules_imply_risk))
        risks |= OA_PIXELS_RISK_DEVICE_RULE;
    if (flag)
        risks |= OA_PIXELS_RISK_FLAG_RULE;
    r->risks = risks;
    if (a->overflow) {
        r->verdict = OA_PIXELS_REFUSE;
        set_reason(r, "too many attributes to triage the pixels");
        return OA_OK;
    }
    if (risks == 0) {
        r->verdict = OA_PIXELS_KEEP;
        set_reason(r, "no burned-in text risk in the header");
        return OA_OK;
    }
    risk_names(risks, risk_txt, sizeof risk_txt);
    if (!a->have_native && !a->encapsulated) {
        r->verdict = OA_PIXELS_KEEP;
        set_reason(r, "risk (%s) but no Pixel Data", risk_txt);
        return OA_OK;
    }

    /* The rectangles. */
    for (size_t i = 0; i < p->n_user_rules && rc == OA_OK; i++) {
        const oa_pixels_user_rule *u = &p->user_rules[i];
        if (!oa_px_user_rule_matches(u, a))
            continue;
        for (size_t k = 0; k < u->n_rects && rc == OA_OK; k++) {
            const oa_pixels_rect *q = &u->rects[k];
            rc = add_op(&b, q->x, q->y, q->x + q->w, q->y + q->h, rows, cols,
                        false, u->label, err);
        }
    }
    if (p->device_rules)
        for (size_t i = 0; i < n_rules && rc == OA_OK; i++)
            if (rules[i].recipe == 0 &&
                rules[i].info.kind == OA_PIXELS_RULE_MASK &&
                oa_px_rule_matches(&rules[i], a, &memo))
                rc = rule_ops(&rules[i], a, rows, cols, &b, &kept_regions,
                              err);
    if (rc != OA_OK)
        goto out;
    covered = n_user > 0 || n_device > 0;
    if (p->us_regions == OA_PIXELS_US_REGIONS_ALWAYS ||
        (p->us_regions == OA_PIXELS_US_REGIONS_FALLBACK && !covered)) {
        ops_buf us = {NULL, 0, 0};
        size_t kept = 0;
        for (size_t i = 0; i < n_rules && rc == OA_OK; i++)
            if (rules[i].recipe == 1 &&
                rules[i].info.kind == OA_PIXELS_RULE_MASK &&
                oa_px_rule_matches(&rules[i], a, &memo))
                rc = rule_ops(&rules[i], a, rows, cols, &us, &kept, err);
        for (size_t i = 0; rc == OA_OK && kept > 0 && i < us.n; i++)
            rc = add_op(&b, us.ops[i].rect.x, us.ops[i].rect.y,
                        us.ops[i].rect.x + us.ops[i].rect.w,
                        us.ops[i].rect.y + us.ops[i].rect.h, rows, cols,
                        us.ops[i].keep, us.ops[i].label, err);
        oa_free(us.ops);
        if (rc != OA_OK)
            goto out;
        if (kept > 0)
            covered = true;
    }
    /* An overlay in the high bits alone: clearing the planes is enough. */
    if ((risks & ~(unsigned)OA_PIXELS_RISK_OVERLAY_BITS) == 0)
        covered = true;
    describe_device(a, dev, sizeof dev);
    if (!covered && p->ocr == NULL) {
        r->verdict = OA_PIXELS_REFUSE;
        set_reason(r, "burned-in text risk (%s); no pixel rule covers the "
                   "device (%s) and OCR is not available", risk_txt, dev);
        goto out;
    }

    /* The pixels. */
    if (a->encapsulated) {
        if (!a->have_ts || strcmp(a->ts_uid, TS_RLE) != 0) {
            const oa_ts *ts = a->have_ts ? oa_ts_find(a->ts_uid,
                                                      strlen(a->ts_uid))
                                         : NULL;
            r->verdict = OA_PIXELS_NEEDS_DECODING;
            set_reason(r, "burned-in text risk (%s): the pixels are "
                       "compressed in transfer syntax %s (%s), which must be "
                       "decoded first (the plugin transcodes it; with the "
                       "CLI, transcode to Explicit VR Little Endian)",
                       risk_txt, a->have_ts ? a->ts_uid : "unknown",
                       ts != NULL && ts->name ? ts->name : "unknown");
            goto out;
        }
        rle = true;
    } else if (a->have_ts && !is_native_ts(a->ts_uid)) {
        r->verdict = OA_PIXELS_REFUSE;
        set_reason(r, "native Pixel Data in transfer syntax %s", a->ts_uid);
        goto out;
    }
    oa_error_clear(&e);
    if (oa_px_layout(a, &l, &e) != OA_OK) {
        r->verdict = OA_PIXELS_REFUSE;
        set_reason(r, "burned-in text risk (%s) but the pixel layout is "
                   "not handled: %s", risk_txt, e.msg);
        goto out;
    }
    if (rows == 0 || cols == 0) {
        r->verdict = OA_PIXELS_REFUSE;
        set_reason(r, "Rows x Columns is %ux%u", (unsigned)rows,
                   (unsigned)cols);
        goto out;
    }
    if (cleared != 0 && l.samples != 1) {
        /* overlay planes in a colour image make no sense: not cleared */
        cleared = 0;
        if ((risks & ~(unsigned)OA_PIXELS_RISK_OVERLAY_BITS) == 0) {
            r->verdict = OA_PIXELS_REFUSE;
            set_reason(r, "overlay bit planes in a %u-sample image",
                       (unsigned)l.samples);
            goto out;
        }
    }
    rc = load_pixels(a, &l, p, rle, &work, &work_len, r, err);
    if (rc != OA_OK || work == NULL)
        goto out;

    /* OCR when no rule covers the instance. */
    if (!covered || (p->ocr != NULL && p->verify)) {
        size_t px = (size_t)l.rows * l.columns;
        unsigned max = p->ocr_max_frames ? p->ocr_max_frames
                                         : DEFAULT_OCR_FRAMES;
        picked = oa_malloc((max + 3) * sizeof *picked);
        oc.gray = oa_malloc(px);
        if (picked == NULL || oc.gray == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
            goto out;
        }
        rc = build_needles(a, &nb, err);
        if (rc != OA_OK)
            goto out;
        oc.p = p;
        oc.l = &l;
        oc.value = work;
        oc.len = work_len;
        oc.nd = &nb.nd;
        /* verifying a rule's work: first, middle and last frames */
        n_picked = pick_frames(&oc, picked, max, !covered, err, &rc);
        if (rc != OA_OK)
            goto out;
        if (n_picked < 0) {
            r->verdict = OA_PIXELS_REFUSE;
            set_reason(r, "burned-in text risk (%s): the text area changes "
                       "in more than %u frames", risk_txt, max);
            goto out;
        }
    }
    if (!covered) {
        char what[sizeof risk_txt + sizeof dev + 64];
        snprintf(what, sizeof what, "burned-in text risk (%s), no rule for "
                 "the device (%s), OCR failed", risk_txt, dev);
        for (long i = 0; i < n_picked; i++) {
            bool dummy = false;
            oa_pixels_rect where;
            if (!read_frame(&oc, picked[i], &b, false, &dummy, &where,
                            &r->ocr_words, r, what, &rc, err))
                goto out;
        }
    }

    rc = oa_pixels_blank_native(&l, work, work_len, b.ops, b.n, cleared,
                                err);
    if (rc != OA_OK)
        goto out;
    r->cleared_bits = cleared;

    /* Proof: OCR the cleaned frames again.  What it still reads as an
     * identifying word is blanked too (on every frame) and the frames are
     * read once more, VERIFY_ROUNDS times at most; then it is refused. */
    for (unsigned round = 0; p->ocr != NULL && p->verify; round++) {
        bool found = false;
        oa_pixels_rect where = {0, 0, 0, 0};
        long i;

        for (i = 0; i < n_picked && !found; i++) {
            unsigned dummy = 0;
            if (!read_frame(&oc, picked[i], &b, true, &found, &where, &dummy,
                            r, "OCR of the cleaned pixels failed", &rc, err))
                goto out;
        }
        if (!found)
            break;
        if (round + 1 >= VERIFY_ROUNDS) {
            r->verdict = OA_PIXELS_REFUSE;
            set_reason(r, "identifying text still readable after cleaning "
                       "(frame %u, box %u,%u %ux%u)",
                       (unsigned)picked[i - 1], (unsigned)where.x,
                       (unsigned)where.y, (unsigned)where.w,
                       (unsigned)where.h);
            goto out;
        }
        {
            uint32_t m = p->ocr_margin;
            size_t first = b.n;

            rc = add_op(&b, where.x > m ? where.x - m : 0,
                        where.y > m ? where.y - m : 0,
                        where.x + where.w + m, where.y + where.h + m, l.rows,
                        l.columns, false, "OCR", err);
            if (rc != OA_OK)
                goto out;
            r->ocr_words++;
            rc = oa_pixels_blank_native(&l, work, work_len, b.ops + first,
                                        b.n - first, 0, err);
            if (rc != OA_OK)
                goto out;
        }
    }

    if (rle) {
        rc = encode_rle(&l, work, r, err);
        if (rc != OA_OK)
            goto out;
        r->drop_extended_offsets = oa_px_find(a, T(7FE0, 0001)) != NULL;
    } else {
        r->value = work;
        r->value_len = work_len;
        work = NULL;
    }
    r->verdict = OA_PIXELS_CLEANED;
    set_reason(r, "risk (%s): %zu box(es) blanked%s", risk_txt, b.n,
               cleared ? ", overlay bit planes cleared" : "");
out:
    oa_free(work);
    needles_dispose(&nb);
    oa_free(oc.words);
    oa_free(picked);
    oa_free(oc.gray);
    if (rc != OA_OK) {
        oa_free(b.ops);
        oa_pixels_result_dispose(r);
        return rc;
    }
    r->ops = b.ops;
    r->n_ops = b.n;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

oa_status oa_pixels_emit(const oa_pixels_result *r,
                         const oa_element *pixel_el,
                         const oa_dicom_handler *out, oa_error *err)
{
    oa_element el = *pixel_el;
    oa_status rc;

    if (r->verdict != OA_PIXELS_CLEANED || r->value == NULL)
        return oa_error_set(err, OA_EINVAL, "pixels: nothing to emit");
    if (r->value_len > UINT32_MAX - 1)
        return oa_error_at(err, OA_ELIMIT, OA_TAG_PIXEL_DATA,
                           pixel_el->offset, "cleaned Pixel Data over 4 GiB");
    if (!r->encapsulated) {
        el.undefined_length = false;
        el.length = (uint32_t)r->value_len;
        el.value = r->value;
        return out->element ? out->element(out->user, &el, err) : OA_OK;
    }
    el.undefined_length = true;
    el.length = 0;
    el.value = NULL;
    el.vr = OA_VR_OB;
    if (out->sequence_begin &&
        (rc = out->sequence_begin(out->user, &el, err)) != OA_OK)
        return rc;
    for (size_t i = 0; i < r->n_fragments; i++) {
        oa_item it;
        it.undefined_length = false;
        it.length = (uint32_t)r->fragments[i].length;
        it.offset = pixel_el->offset;
        it.depth = pixel_el->depth + 1;
        if (out->fragment &&
            (rc = out->fragment(out->user, &it,
                                r->value + r->fragments[i].offset, err)) !=
                OA_OK)
            return rc;
    }
    return out->sequence_end ? out->sequence_end(out->user, err) : OA_OK;
}
