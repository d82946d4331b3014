/*
 * pixels/decide.c: the one decision per instance (keep / cleaned / refuse
 * / needs decoding), the OCR pass, and writing the result.
 */
#include "pixels_int.h"

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

#define MAX_TOKENS 256
#define TOKEN_MAX 64

typedef struct tokens {
    char t[MAX_TOKENS][TOKEN_MAX];
    size_t n;
} tokens;

/* Upper-case ASCII letters and digits only; other bytes >= 0x80 kept. */
static size_t normalize(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'a' && c <= 'z')
            out[n++] = (char)(c - 32);
        else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return n;
}

static void add_token(tokens *tk, const char *s, size_t len)
{
    char buf[TOKEN_MAX];
    size_t n = normalize(s, len, buf, sizeof buf);

    if (n < 2 || tk->n >= MAX_TOKENS)
        return;
    for (size_t i = 0; i < tk->n; i++)
        if (strcmp(tk->t[i], buf) == 0)
            return;
    memcpy(tk->t[tk->n++], buf, n + 1);
}

/* Split on PN/LO separators: ^ = \ space , . - / */
static void add_parts(tokens *tk, const char *s, size_t len)
{
    size_t i = 0;

    add_token(tk, s, len);
    while (i < len) {
        size_t j = i;
        while (j < len && !strchr("^=\\ ,.-/", s[j]))
            j++;
        if (j > i && j - i < len)
            add_token(tk, s + i, j - i);
        i = j + 1;
    }
}

static void add_date(tokens *tk, const char *s, size_t len)
{
    static const char *const mon[] = {"JAN", "FEB", "MAR", "APR", "MAY",
                                      "JUN", "JUL", "AUG", "SEP", "OCT",
                                      "NOV", "DEC"};
    char y[5], m[3], d[3], buf[32];
    int mi;

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
        len--;
    if (len < 8)
        return;
    for (int i = 0; i < 8; i++)
        if (s[i] < '0' || s[i] > '9')
            return;
    memcpy(y, s, 4);
    y[4] = '\0';
    memcpy(m, s + 4, 2);
    m[2] = '\0';
    memcpy(d, s + 6, 2);
    d[2] = '\0';
    mi = (m[0] - '0') * 10 + (m[1] - '0');
#define ADD(...) do { int k_ = snprintf(buf, sizeof buf, __VA_ARGS__); \
        if (k_ > 0) add_token(tk, buf, (size_t)k_); } while (0)
    ADD("%s%s%s", y, m, d);
    ADD("%s%s%s", d, m, y);
    ADD("%s%s%s", m, d, y);
    ADD("%s%s%s", d, m, y + 2);
    ADD("%s%s%s", m, d, y + 2);
    if (mi >= 1 && mi <= 12) {
        ADD("%s%s%s", d, mon[mi - 1], y);
        ADD("%s%s%s", mon[mi - 1], d, y);
        ADD("%s%s%s", y, mon[mi - 1], d);
        ADD("%s%s%s", d, mon[mi - 1], y + 2);
    }
#undef ADD
}

static void identity_tokens(const oa_pixels_attrs *a, tokens *tk)
{
    static const uint32_t names[] = {
        T(0010, 0010), T(0010, 1001), T(0010, 1005), T(0010, 1060),
        T(0008, 0090), T(0008, 1050), T(0008, 1070), T(0032, 1032),
        T(0008, 0080), T(0010, 1040)};
    static const uint32_t ids[] = {T(0010, 0020), T(0010, 1000),
                                   T(0008, 0050), T(0020, 0010),
                                   T(0010, 2154), T(0010, 0021)};
    static const uint32_t dates[] = {T(0010, 0030), T(0008, 0020),
                                     T(0008, 0021), T(0008, 0022),
                                     T(0008, 0023), T(0008, 002A)};

    tk->n = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const oa_px_value *v = oa_px_find(a, names[i]);
        if (v != NULL)
            add_parts(tk, oa_px_str(a, v), v->len);
    }
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const oa_px_value *v = oa_px_find(a, ids[i]);
        if (v != NULL)
            add_parts(tk, oa_px_str(a, v), v->len);
    }
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        const oa_px_value *v = oa_px_find(a, dates[i]);
        if (v != NULL)
            add_date(tk, oa_px_str(a, v), v->len);
    }
}

/* One edit (substitution, insertion, deletion) at most. */
static bool within_one_edit(const char *a, size_t la, const char *b, size_t lb)
{
    size_t i = 0, j = 0;
    bool used = false;

    if (la > lb + 1 || lb > la + 1)
        return false;
    while (i < la && j < lb) {
        if (a[i] == b[j]) {
            i++;
            j++;
            continue;
        }
        if (used)
            return false;
        used = true;
        if (la > lb)
            i++;
        else if (lb > la)
            j++;
        else {
            i++;
            j++;
        }
    }
    return !used || (i == la && j == lb);
}

static bool word_identifies(const tokens *tk, const char *text)
{
    char w[256];
    size_t lw = normalize(text, strlen(text), w, sizeof w);

    if (lw < 2)
        return false;
    for (size_t i = 0; i < tk->n; i++) {
        const char *t = tk->t[i];
        size_t lt = strlen(t);
        if (lt == lw && memcmp(t, w, lw) == 0)
            return true;
        if (lt >= 4 && strstr(w, t) != NULL)
            return true;
        if (lw >= 4 && lt > lw && strstr(t, w) != NULL)
            return true;
        if (lt >= 6 && within_one_edit(t, lt, w, lw))
            return true;
    }
    return false;
}

static const char *const default_whitelist[] = {
    "CM", "MM", "HZ", "KHZ", "MHZ", "DB", "FPS", "GAIN", "DR", "PRF", "MI",
    "TIS", "TIB", "TIC", "L", "R", "B", "M", "C", "D", "PW", "CW", "2D",
    "3D", "4D", "CF", "PD", "ANT", "POST", "LEFT", "RIGHT", "SAG", "TRANS",
    "AXIAL", "CORONAL", "LONG", "MAX", "MIN", "AVG", "VEL", "HR", "BPM",
    "DEPTH", "FREQ", "POWER", "ZOOM", "COLOR", "HARM", "RES", "GEN", "PEN",
    "CM/S", "M/S", "%", "S", "MS"};

static bool whitelisted(const oa_pixels_policy *p, const char *text)
{
    char w[256], t[256];
    const char *const *list = p->ocr_whitelist ? p->ocr_whitelist
                                               : default_whitelist;
    size_t n = p->ocr_whitelist ? p->n_ocr_whitelist
                                : sizeof default_whitelist / sizeof(char *);
    size_t lw = normalize(text, strlen(text), w, sizeof w);

    if (lw == 0)
        return true;               /* punctuation only */
    for (size_t i = 0; i < n; i++) {
        normalize(list[i], strlen(list[i]), t, sizeof t);
        if (strcmp(t, w) == 0)
            return true;
    }
    return false;
}

typedef struct ocr_ctx {
    const oa_pixels_policy *p;
    const oa_pixels_layout *l;
    const oa_pixels_attrs *a;
    tokens *tk;
    uint8_t *gray;
} ocr_ctx;

/* OCR frame f of `value`; add boxes to blank (or, verifying, report the
 * first identifying word in *found). */
static oa_status ocr_frame(ocr_ctx *c, const uint8_t *value, uint32_t f,
                           ops_buf *b, bool verifying, bool *found,
                           oa_pixels_rect *where, unsigned *words,
                           oa_error *err)
{
    oa_pixels_gray g;
    oa_pixels_word *w = NULL;
    size_t n = 0;
    oa_status rc;
    uint32_t m = c->p->ocr_margin;

    oa_px_gray(c->l, value, f, c->a, c->gray);
    g.pixels = c->gray;
    g.width = c->l->columns;
    g.height = c->l->rows;
    g.frame = f;
    rc = c->p->ocr->find_words(c->p->ocr->ctx, &g, &w, &n, err);
    if (rc != OA_OK)
        return rc;
    for (size_t i = 0; i < n && rc == OA_OK; i++) {
        bool hit;
        const oa_pixels_rect *r = &w[i].box;
        if (w[i].text == NULL)
            continue;
        hit = word_identifies(c->tk, w[i].text);
        if (verifying) {
            if (hit && !*found) {
                *found = true;
                *where = *r;
            }
            continue;
        }
        if (!hit && c->p->ocr_strict)
            hit = !whitelisted(c->p, w[i].text);
        if (!hit)
            continue;
        (*words)++;
        rc = add_op(b, r->x > m ? r->x - m : 0, r->y > m ? r->y - m : 0,
                    r->x + r->w + m < r->x ? UINT32_MAX : r->x + r->w + m,
                    r->y + r->h + m < r->y ? UINT32_MAX : r->y + r->h + m,
                    c->l->rows, c->l->columns, false, "OCR", err);
    }
    if (c->p->ocr->release != NULL)
        c->p->ocr->release(c->p->ocr->ctx, w, n);
    return rc;
}

/* Frames to OCR: first, middle, last, and (with `changes`) every frame
 * whose static area (pixels equal in those three) changes as text does:
 * at least TEXT_CHANGE_PIXELS static pixels that become or stop being
 * bright (>= TEXT_BRIGHT) by more than TEXT_STEP levels.  A structure of
 * the picture moving across the static background (an ultrasound cine) is
 * not text appearing.  Returns the count, or -1 if more than `max` are
 * needed. */
#define VERIFY_ROUNDS 3   /* OCR passes over the cleaned frames */
#define TEXT_BRIGHT 128
#define TEXT_STEP 32
#define TEXT_CHANGE_PIXELS 16
static long pick_frames(ocr_ctx *c, const uint8_t *value, uint32_t *out,
                        unsigned max, bool changes, oa_error *err,
                        oa_status *rc)
{
    uint32_t frames = c->l->frames;
    size_t px = (size_t)c->l->rows * c->l->columns;
    uint32_t base[3] = {0, frames / 2, frames - 1};
    size_t n = 0;
    uint8_t *ref = NULL, *stat = NULL, *cur = NULL;

    *rc = OA_OK;
    for (int i = 0; i < 3; i++) {
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || out[k] == base[i];
        if (!dup)
            out[n++] = base[i];
    }
    if (frames <= 3 || !changes)
        return (long)n;
    ref = oa_malloc(px);
    stat = oa_malloc(px);
    cur = oa_malloc(px);
    if (ref == NULL || stat == NULL || cur == NULL) {
        *rc = oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
        goto done;
    }
    oa_px_gray(c->l, value, 0, c->a, ref);
    memset(stat, 1, px);
    for (int i = 1; i < 3; i++) {
        oa_px_gray(c->l, value, base[i], c->a, cur);
        for (size_t k = 0; k < px; k++)
            stat[k] &= (uint8_t)(cur[k] == ref[k]);
    }
    for (uint32_t f = 1; f + 1 < frames; f++) {
        bool changed = false;
        if (f == base[1])
            continue;
        size_t moved = 0;

        oa_px_gray(c->l, value, f, c->a, cur);
        for (size_t k = 0; k < px && !changed; k++) {
            unsigned hi = cur[k] > ref[k] ? cur[k] : ref[k];
            unsigned lo = cur[k] > ref[k] ? ref[k] : cur[k];

            if (stat[k] && hi >= TEXT_BRIGHT && hi - lo > TEXT_STEP)
                changed = ++moved >= TEXT_CHANGE_PIXELS;
        }
        if (!changed)
            continue;
        if (n >= max) {
            n = (size_t)-1;
            break;
        }
        out[n++] = f;
        memcpy(ref, cur, px);      /* the next change is against this one */
    }
done:
    oa_free(ref);
    oa_free(stat);
    oa_free(cur);
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
    tokens *tk = NULL;
    ocr_ctx oc;
    uint32_t *picked = NULL;
    long n_picked = 0;
    oa_px_memo memo;

    oc.gray = NULL;
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
    if (p->device_rules)
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
        tk = oa_malloc(sizeof *tk);
        picked = oa_malloc((max + 3) * sizeof *picked);
        oc.gray = oa_malloc(px);
        if (tk == NULL || picked == NULL || oc.gray == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
            goto out;
        }
        identity_tokens(a, tk);
        oc.p = p;
        oc.l = &l;
        oc.a = a;
        oc.tk = tk;
        /* verifying a rule's work: first, middle and last frames */
        n_picked = pick_frames(&oc, work, picked, max, !covered, err, &rc);
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
        for (long i = 0; i < n_picked; i++) {
            bool dummy = false;
            oa_pixels_rect where;
            oa_error_clear(&e);
            rc = ocr_frame(&oc, work, picked[i], &b, false, &dummy, &where,
                           &r->ocr_words, &e);
            r->ocr_frames++;
            if (rc == OA_ENOMEM) {
                oa_error_set(err, rc, "pixels: out of memory");
                goto out;
            }
            if (rc != OA_OK) {
                rc = OA_OK;
                r->verdict = OA_PIXELS_REFUSE;
                set_reason(r, "burned-in text risk (%s), no rule for the "
                           "device (%s), OCR failed: %s", risk_txt, dev,
                           e.msg);
                goto out;
            }
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
            oa_error_clear(&e);
            rc = ocr_frame(&oc, work, picked[i], &b, true, &found, &where,
                           &dummy, &e);
            r->ocr_frames++;
            if (rc == OA_ENOMEM) {
                oa_error_set(err, rc, "pixels: out of memory");
                goto out;
            }
            if (rc != OA_OK) {
                rc = OA_OK;
                r->verdict = OA_PIXELS_REFUSE;
                set_reason(r, "OCR of the cleaned pixels failed: %s", e.msg);
                goto out;
            }
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
    oa_free(tk);
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
