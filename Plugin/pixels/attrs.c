/*
 * pixels/attrs.c: the attributes of one instance, gathered from the
 * engine's pre-pass (a reader handler, or call by call).
 */
#include "pixels_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define T(g, e) OA_TAG(0x##g, 0x##e)

/* Tags the triage, the layout and the OCR matching need (sorted).  The
 * tags the rules test are in the generated table (oa_pixels_rule_tags). */
static const uint32_t wanted[] = {
    T(0008, 0008), T(0008, 0016), T(0008, 0020), T(0008, 0021),
    T(0008, 0022), T(0008, 0023), T(0008, 002A), T(0008, 0050),
    T(0008, 0060), T(0008, 0064), T(0008, 0070), T(0008, 0080),
    T(0008, 0090), T(0008, 103E), T(0008, 1050), T(0008, 1070),
    T(0008, 1090), T(0010, 0010), T(0010, 0020), T(0010, 0021),
    T(0010, 0030), T(0010, 1000), T(0010, 1001), T(0010, 1005),
    T(0010, 1040), T(0010, 1060), T(0010, 2154), T(0018, 6011),
    T(0020, 0010), T(0028, 0002), T(0028, 0004), T(0028, 0006),
    T(0028, 0008), T(0028, 0010), T(0028, 0011), T(0028, 0100),
    T(0028, 0101), T(0028, 0102), T(0028, 0103), T(0028, 0301),
    T(0028, 1101), T(0028, 1102), T(0028, 1103), T(0028, 1201),
    T(0028, 1202), T(0028, 1203), T(0032, 1032),
    T(6000, 0022), T(6000, 0100), T(6000, 0102), T(6000, 3000),
    T(7FE0, 0001), T(7FE0, 0010)
};

/* The generated table's tag list, defined in rules.c. */

static bool in_sorted(const uint32_t *list, size_t n, uint32_t tag)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list[mid] == tag)
            return true;
        if (list[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Repeating overlay groups 6000-601E are looked up as 6000. */
static uint32_t canonical(uint32_t tag)
{
    uint16_t g = OA_TAG_GROUP(tag);

    if (g >= 0x6000 && g <= 0x601E && (g & 1) == 0)
        return OA_TAG(0x6000, OA_TAG_ELEMENT(tag));
    return tag;
}

/* The module's own tags and the generated rules' in one sorted list,
 * built once: one binary search per element of every instance. */
#define WANTED_MAX 512u
static uint32_t all_wanted[WANTED_MAX];
static size_t n_all_wanted;
static bool all_wanted_overflow;
static pthread_once_t all_wanted_once = PTHREAD_ONCE_INIT;

static int cmp_tag(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static void build_all_wanted(void)
{
    size_t n, k = 0;
    const uint32_t *gen = oa_px_rule_tags(&n);

    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        if (k == WANTED_MAX) {
            all_wanted_overflow = true;
            return;
        }
        all_wanted[k++] = wanted[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (in_sorted(wanted, sizeof wanted / sizeof wanted[0], gen[i]))
            continue;
        if (k == WANTED_MAX) {
            all_wanted_overflow = true;
            return;
        }
        all_wanted[k++] = gen[i];
    }
    qsort(all_wanted, k, sizeof all_wanted[0], cmp_tag);
    n_all_wanted = k;
}

bool oa_pixels_wants_tag(uint32_t tag)
{
    size_t n;
    const uint32_t *gen;

    pthread_once(&all_wanted_once, build_all_wanted);
    tag = canonical(tag);
    if (!all_wanted_overflow)
        return in_sorted(all_wanted, n_all_wanted, tag);
    gen = oa_px_rule_tags(&n);   /* more tags than the merged list holds */
    return in_sorted(wanted, sizeof wanted / sizeof wanted[0], tag) ||
           in_sorted(gen, n, tag);
}

oa_status oa_pixels_attrs_new(oa_pixels_attrs **out, oa_error *err)
{
    /* calloc: the 200 KiB arena comes as zero pages, not a memset */
    oa_pixels_attrs *a = oa_calloc(1, sizeof *a);

    *out = NULL;
    if (a == NULL)
        return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
    oa_pixels_attrs_reset(a);
    *out = a;
    return OA_OK;
}

void oa_pixels_attrs_free(oa_pixels_attrs *a)
{
    if (a == NULL)
        return;
    oa_free(a->frags);
    oa_free(a);
}

void oa_pixels_attrs_reset(oa_pixels_attrs *a)
{
    oa_px_fragment *frags = a->frags;
    size_t cap = a->cap_frags;
    oa_dicom_handler h = a->handler;

    /* Values and regions are cleared when a slot is taken (slot(),
     * new_region()): only the counts go back to zero here, the cost of a
     * reset does not grow with the tables, and the rule cache stays. */
    a->n = 0;
    a->unsorted = false;
    a->arena_used = 0;
    memset(&a->overflow, 0,
           offsetof(oa_pixels_attrs, regions) -
               offsetof(oa_pixels_attrs, overflow));
    memset(&a->n_regions, 0,
           sizeof *a - offsetof(oa_pixels_attrs, n_regions));
    a->frags = frags;
    a->cap_frags = cap;
    a->handler = h;
    a->top_seq = OA_NO_TAG;
}

const oa_px_value *oa_px_find(const oa_pixels_attrs *a, uint32_t tag)
{
    size_t lo = 0, hi = a->n;

    /* A dataset's elements come in tag order: a binary search, unless a
     * caller set values out of order. */
    if (a->unsorted) {
        for (size_t i = 0; i < a->n; i++)
            if (a->v[i].tag == tag)
                return &a->v[i];
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->v[mid].tag == tag)
            return &a->v[mid];
        if (a->v[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

uint32_t oa_px_uint(const oa_pixels_attrs *a, uint32_t tag, uint32_t def)
{
    const oa_px_value *v = oa_px_find(a, tag);

    return v != NULL && v->n_uints > 0 ? v->uints[0] : def;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static size_t trim(const char *s, size_t len, size_t *start)
{
    size_t b = 0;

    while (b < len && (s[b] == ' ' || s[b] == '\0'))
        b++;
    while (len > b && (s[len - 1] == ' ' || s[len - 1] == '\0'))
        len--;
    *start = b;
    return len - b;
}

bool oa_px_equals(const oa_pixels_attrs *a, uint32_t tag, const char *s)
{
    const oa_px_value *v = oa_px_find(a, tag);
    size_t b, n, sl = strlen(s);
    const char *p;

    if (v == NULL)
        return false;
    p = oa_px_str(a, v);
    n = trim(p, v->len, &b);
    if (n != sl)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)p[b + i]) != lower((unsigned char)s[i]))
            return false;
    return true;
}

/* Slot for a tag (replacing an earlier value). */
static oa_px_value *slot(oa_pixels_attrs *a, uint32_t tag)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].tag == tag) {
            memset(&a->v[i], 0, sizeof a->v[i]);
            a->v[i].tag = tag;
            return &a->v[i];
        }
    if (a->n >= OA_PX_MAX_ATTRS)
        return NULL;
    memset(&a->v[a->n], 0, sizeof a->v[0]);
    a->v[a->n].tag = tag;
    if (a->n > 0 && a->v[a->n - 1].tag > tag)
        a->unsorted = true;
    return &a->v[a->n++];
}

static bool put_string(oa_pixels_attrs *a, oa_px_value *v, const char *s,
                       size_t len)
{
    if (len > OA_PX_VALUE_MAX)
        len = OA_PX_VALUE_MAX;      /* the first 1 KiB is enough */
    if (len > OA_PX_ARENA - a->arena_used) {
        a->overflow = true;
        v->off = 0;
        v->len = 0;
        return false;
    }
    if (len > 0)
        memcpy(a->arena + a->arena_used, s, len);
    v->off = (uint32_t)a->arena_used;
    v->len = (uint32_t)len;
    a->arena_used += len;
    return true;
}

/* Parse the leading decimal integer of each backslash-separated value. */
static void parse_uints(oa_px_value *v, const char *s, size_t len)
{
    size_t i = 0;

    v->n_uints = 0;
    while (i <= len && v->n_uints < OA_PX_MAX_UINTS) {
        uint64_t x = 0;
        bool digits = false;
        while (i < len && s[i] == ' ')
            i++;
        if (i < len && s[i] == '+')
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            x = x * 10 + (uint64_t)(s[i] - '0');
            if (x > UINT32_MAX)
                x = UINT32_MAX;
            digits = true;
            i++;
        }
        if (digits)
            v->uints[v->n_uints++] = (uint32_t)x;
        while (i < len && s[i] != '\\')
            i++;
        i++;
    }
}

oa_status oa_pixels_attrs_set(oa_pixels_attrs *a, uint32_t tag,
                              const uint8_t *value, size_t len,
                              oa_error *err)
{
    oa_px_value *v = slot(a, tag);

    (void)err;
    if (v == NULL) {
        a->overflow = true;
        return OA_OK;
    }
    if (value == NULL)
        len = 0;
    put_string(a, v, (const char *)value, len);
    parse_uints(v, (const char *)value, len);
    return OA_OK;
}

oa_status oa_pixels_attrs_set_uint(oa_pixels_attrs *a, uint32_t tag,
                                   uint32_t value, oa_error *err)
{
    char buf[16];
    size_t n = 0;
    char tmp[16];
    size_t t = 0;
    oa_px_value *v = slot(a, tag);

    (void)err;
    if (v == NULL) {
        a->overflow = true;
        return OA_OK;
    }
    do {
        tmp[t++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (t > 0)
        buf[n++] = tmp[--t];
    put_string(a, v, buf, n);
    parse_uints(v, buf, n);
    return OA_OK;
}

oa_status oa_pixels_attrs_add_us_region(oa_pixels_attrs *a, uint32_t x0,
                                        uint32_t y0, uint32_t x1,
                                        uint32_t y1, oa_error *err)
{
    (void)err;
    if (a->n_regions >= OA_PX_MAX_REGIONS) {
        a->regions_overflow = true;
        return OA_OK;
    }
    a->regions[a->n_regions].x0 = x0;
    a->regions[a->n_regions].y0 = y0;
    a->regions[a->n_regions].x1 = x1;
    a->regions[a->n_regions].y1 = y1;
    a->regions[a->n_regions].have = 15;
    a->n_regions++;
    return OA_OK;
}

oa_status oa_pixels_attrs_set_ts(oa_pixels_attrs *a, const char *uid,
                                 size_t len, oa_error *err)
{
    while (len > 0 && (uid[len - 1] == ' ' || uid[len - 1] == '\0'))
        len--;
    if (len >= sizeof a->ts_uid)
        return oa_error_set(err, OA_EINVAL,
                            "pixels: transfer syntax UID over 64 bytes");
    memcpy(a->ts_uid, uid, len);
    a->ts_uid[len] = '\0';
    a->have_ts = true;
    return OA_OK;
}

void oa_pixels_attrs_set_native(oa_pixels_attrs *a, const uint8_t *value,
                                size_t len, size_t offset, bool big_endian)
{
    a->native = value;
    a->native_len = value != NULL ? len : 0;
    a->pixel_offset = offset;
    a->native_be = big_endian;
    a->have_native = true;
    a->encapsulated = false;
    a->n_frags = 0;
}

oa_status oa_pixels_attrs_add_fragment(oa_pixels_attrs *a,
                                       const uint8_t *data, size_t len,
                                       size_t offset, oa_error *err)
{
    if (!a->encapsulated) {
        a->encapsulated = true;
        a->have_native = false;
        a->n_frags = 0;
        if (a->pixel_offset == 0)
            a->pixel_offset = offset;
    }
    if (a->n_frags >= OA_PX_MAX_FRAGMENTS) {
        a->frags_overflow = true;
        return OA_OK;
    }
    if (a->n_frags == a->cap_frags) {
        size_t cap = a->cap_frags ? a->cap_frags * 2 : 16;
        oa_px_fragment *p = oa_realloc(a->frags, cap * sizeof *p);
        if (p == NULL)
            return oa_error_set(err, OA_ENOMEM, "pixels: out of memory");
        a->frags = p;
        a->cap_frags = cap;
    }
    a->frags[a->n_frags].data = data;
    a->frags[a->n_frags].len = data != NULL ? len : 0;
    a->frags[a->n_frags].offset = offset;
    a->n_frags++;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* The handler                                                          */

static uint32_t get16(const uint8_t *p, bool be)
{
    return be ? (uint32_t)(p[0] << 8 | p[1]) : (uint32_t)(p[1] << 8 | p[0]);
}

static uint32_t get32(const uint8_t *p, bool be)
{
    return be ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                 (uint32_t)p[2] << 8 | p[3])
              : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[1] << 8 | p[0]);
}

/* A binary numeric value: decimal string form and the first values. */
static void set_binary(oa_pixels_attrs *a, const oa_element *el)
{
    unsigned size = (el->vr == OA_VR_UL || el->vr == OA_VR_SL) ? 4 : 2;
    bool sign = el->vr == OA_VR_SS || el->vr == OA_VR_SL;
    char buf[96];
    size_t n = 0;
    oa_px_value *v = slot(a, el->tag);

    if (v == NULL) {
        a->overflow = true;
        return;
    }
    for (uint32_t i = 0; i + size <= el->length && v->n_uints < OA_PX_MAX_UINTS;
         i += size) {
        uint32_t x = size == 4 ? get32(el->value + i, el->big_endian)
                               : get16(el->value + i, el->big_endian);
        int64_t sx = x;
        char tmp[16];
        size_t t = 0;
        if (sign)
            sx = size == 4 ? (int64_t)(int32_t)x : (int64_t)(int16_t)x;
        v->uints[v->n_uints++] = x;
        if (n > 0)
            buf[n++] = '\\';
        if (sx < 0) {
            buf[n++] = '-';
            sx = -sx;
        }
        do {
            tmp[t++] = (char)('0' + sx % 10);
            sx /= 10;
        } while (sx != 0);
        while (t > 0)
            buf[n++] = tmp[--t];
    }
    put_string(a, v, buf, n);
}

static oa_status h_begin(void *user, const oa_parse_info *info, oa_error *err)
{
    oa_pixels_attrs *a = user;

    if (info->meta_ts_uid != NULL && info->meta_ts != NULL &&
        !info->ts_guessed)
        return oa_pixels_attrs_set_ts(a, info->meta_ts_uid,
                                      info->meta_ts_uid_len, err);
    if (info->ts != NULL && info->ts->uid != NULL)
        return oa_pixels_attrs_set_ts(a, info->ts->uid,
                                      strlen(info->ts->uid), err);
    return OA_OK;
}

static void region_value(oa_pixels_attrs *a, const oa_element *el)
{
    oa_px_region *r;
    uint32_t x;
    unsigned bit;

    switch (el->tag) {
    case T(0018, 6018): bit = 1; break;
    case T(0018, 601A): bit = 2; break;
    case T(0018, 601C): bit = 4; break;
    case T(0018, 601E): bit = 8; break;
    default: return;
    }
    if (a->n_regions == 0 || el->length < 4 || el->value == NULL)
        return;
    r = &a->regions[a->n_regions - 1];
    x = get32(el->value, el->big_endian);
    if (bit == 1) r->x0 = x;
    if (bit == 2) r->y0 = x;
    if (bit == 4) r->x1 = x;
    if (bit == 8) r->y1 = x;
    r->have |= bit;
}

static oa_status h_element(void *user, const oa_element *el, oa_error *err)
{
    oa_pixels_attrs *a = user;

    if (el->depth == 1 && a->in_us_item && a->us_nest == 0) {
        region_value(a, el);
        return OA_OK;
    }
    if (el->depth != 0)
        return OA_OK;
    a->top_seq = OA_NO_TAG;
    a->in_us_item = false;
    if (!oa_pixels_wants_tag(el->tag))
        return OA_OK;
    if (el->tag == OA_TAG_PIXEL_DATA) {
        oa_pixels_attrs_set_native(a, el->value, el->length, el->offset,
                                   el->big_endian);
        return OA_OK;
    }
    if (el->vr == OA_VR_US || el->vr == OA_VR_SS || el->vr == OA_VR_UL ||
        el->vr == OA_VR_SL) {
        set_binary(a, el);
        return OA_OK;
    }
    if (el->vr == OA_VR_OW || el->vr == OA_VR_OB || el->vr == OA_VR_UN ||
        el->vr == OA_VR_OL || el->vr == OA_VR_OV || el->vr == OA_VR_OF) {
        oa_px_value *v = slot(a, el->tag);
        if (v == NULL) {
            a->overflow = true;
            return OA_OK;
        }
        v->borrowed = el->value;
        v->borrowed_len = el->value != NULL ? el->length : 0;
        v->big_endian = el->big_endian;
        return OA_OK;
    }
    return oa_pixels_attrs_set(a, el->tag, el->value, el->length, err);
}

static oa_status h_sequence_begin(void *user, const oa_element *el,
                                  oa_error *err)
{
    oa_pixels_attrs *a = user;

    (void)err;
    if (el->depth != 0) {
        if (a->in_us_item)
            a->us_nest++;
        return OA_OK;
    }
    a->top_seq = el->tag;
    a->us_nest = 0;
    a->in_us_item = false;
    if (el->tag == T(0018, 6011)) {
        /* presence, for `present SequenceOfUltrasoundRegions` */
        oa_px_value *v = slot(a, el->tag);
        if (v == NULL)
            a->overflow = true;
    } else if (el->tag == OA_TAG_PIXEL_DATA) {
        a->encapsulated = true;
        a->have_native = false;
        a->n_frags = 0;
        a->pixel_offset = el->offset;
    }
    return OA_OK;
}

static oa_status h_item_begin(void *user, const oa_item *item, oa_error *err)
{
    oa_pixels_attrs *a = user;

    (void)err;
    if (a->us_nest > 0)
        return OA_OK;              /* an item of a nested sequence */
    a->in_us_item = false;
    if (item->depth == 1 && a->top_seq == T(0018, 6011)) {
        if (a->n_regions >= OA_PX_MAX_REGIONS) {
            a->regions_overflow = true;
            return OA_OK;
        }
        memset(&a->regions[a->n_regions], 0, sizeof a->regions[0]);
        a->n_regions++;
        a->in_us_item = true;
    }
    return OA_OK;
}

static oa_status h_item_end(void *user, oa_error *err)
{
    oa_pixels_attrs *a = user;

    (void)err;
    if (a->us_nest == 0)
        a->in_us_item = false;
    return OA_OK;
}

static oa_status h_sequence_end(void *user, oa_error *err)
{
    oa_pixels_attrs *a = user;

    (void)err;
    if (a->us_nest > 0)
        a->us_nest--;
    return OA_OK;
}

static oa_status h_fragment(void *user, const oa_item *frag,
                            const uint8_t *data, oa_error *err)
{
    oa_pixels_attrs *a = user;

    if (a->top_seq != OA_TAG_PIXEL_DATA || frag->depth > 1)
        return OA_OK;
    return oa_pixels_attrs_add_fragment(a, data, frag->length, frag->offset,
                                        err);
}

const oa_dicom_handler *oa_pixels_attrs_handler(oa_pixels_attrs *a)
{
    a->handler.begin = h_begin;
    a->handler.element = h_element;
    a->handler.sequence_begin = h_sequence_begin;
    a->handler.item_begin = h_item_begin;
    a->handler.item_end = h_item_end;
    a->handler.sequence_end = h_sequence_end;
    a->handler.fragment = h_fragment;
    a->handler.end = NULL;
    a->handler.user = a;
    return &a->handler;
}
