/*
 * pixels internals: the generated rule table's types, the attributes
 * object, and the functions the files of the module share.
 */
#ifndef OA_PIXELS_INT_H
#define OA_PIXELS_INT_H

#include "pixels.h"

/* Term operators and predicates of the generated table. */
enum { OA_PX_AND = 0, OA_PX_OR = 1 };
enum {
    OA_PX_CONTAINS, OA_PX_NOTCONTAINS, OA_PX_EQUALS, OA_PX_NOTEQUALS,
    OA_PX_MISSING, OA_PX_EMPTY, OA_PX_PRESENT
};
/* Rule operations. */
enum { OA_PX_OP_RECT = 0, OA_PX_OP_ALL = 1, OA_PX_OP_US_REGIONS = 2 };

typedef struct oa_pixels_term {
    bool line_start;       /* first term of a recipe line */
    uint8_t op;            /* how it joins what precedes it */
    uint8_t pred;
    uint16_t uid;          /* index among distinct terms (memo), or */
    uint32_t tag;          /* OA_PX_NO_MEMO for terms built by hand */
    const char *value;
} oa_pixels_term;

#define OA_PX_NO_MEMO 0xFFFFu

/* Results of the distinct terms of the table during one decision. */
typedef struct oa_px_memo {
    uint8_t state[512];    /* 0 unknown, 1 false, 2 true */
} oa_px_memo;

typedef struct oa_pixels_rule_op {
    uint8_t kind;
    bool keep;
    uint32_t x0, y0, x1, y1;   /* [x0,x1) x [y0,y1) */
} oa_pixels_rule_op;

typedef struct oa_pixels_rule {
    oa_pixels_rule_info info;
    int recipe;                /* 0 deid.dicom, 1 deid.dicom.ultrasound */
    uint32_t term_first, n_terms, op_first, n_ops;
} oa_pixels_rule;

#define OA_PX_MAX_ATTRS 192u
#define OA_PX_ARENA (192u * 1024u)
#define OA_PX_VALUE_MAX 1024u
#define OA_PX_MAX_REGIONS 32u
#define OA_PX_MAX_FRAGMENTS (1u << 20)
#define OA_PX_MAX_UINTS 4u
#define OA_PX_RULE_KEY_MAX 4096u  /* bytes of the rule cache's key */

typedef struct oa_px_value {
    uint32_t tag;
    uint32_t off, len;         /* string form in the arena */
    uint32_t uints[OA_PX_MAX_UINTS];
    unsigned n_uints;
    const uint8_t *borrowed;   /* OW/OB values (palettes): not copied */
    size_t borrowed_len;
    bool big_endian;
} oa_px_value;

typedef struct oa_px_region {
    uint32_t x0, y0, x1, y1;
    unsigned have;             /* bits: 1 x0, 2 y0, 4 x1, 8 y1 */
} oa_px_region;

typedef struct oa_px_fragment {
    const uint8_t *data;
    size_t len, offset;
} oa_px_fragment;

struct oa_pixels_attrs {
    oa_px_value v[OA_PX_MAX_ATTRS];  /* v[0..n) in use */
    size_t n;
    bool unsorted;             /* v not in tag order: search linearly */
    uint8_t arena[OA_PX_ARENA];
    /* Kept across oa_pixels_attrs_reset: the device rules' verdict for the
     * last values of the attributes they test.  The instances of a series
     * share them, so an instance without risk costs no rule evaluation;
     * the key holds those values exactly (no hash: a device whose values
     * differ is always evaluated). */
    struct {
        bool valid;
        bool device;             /* a rule with rectangles matched */
        bool flag;               /* a flag rule matched */
        size_t key_len;
        uint8_t key[OA_PX_RULE_KEY_MAX];
    } rule_cache;
    size_t arena_used;
    bool overflow;             /* an attribute was lost: refused */
    oa_px_region regions[OA_PX_MAX_REGIONS];
    size_t n_regions;
    bool regions_overflow;
    char ts_uid[65];
    bool have_ts;
    /* native pixel data */
    const uint8_t *native;
    size_t native_len, pixel_offset;
    bool native_be, have_native;
    /* encapsulated pixel data */
    bool encapsulated;
    oa_px_fragment *frags;
    size_t n_frags, cap_frags;
    bool frags_overflow;
    /* handler state */
    uint32_t top_seq;          /* tag of the open top-level sequence */
    bool in_us_item;
    unsigned us_nest;          /* sequences open inside a region item */
    oa_dicom_handler handler;
};

/* Value of a tag, or NULL. */
const oa_px_value *oa_px_find(const oa_pixels_attrs *a, uint32_t tag);
/* String form (not NUL-terminated) of a value. */
static inline const char *oa_px_str(const oa_pixels_attrs *a,
                                    const oa_px_value *v)
{
    return (const char *)a->arena + v->off;
}
/* First unsigned value of a numeric tag, or `def`. */
uint32_t oa_px_uint(const oa_pixels_attrs *a, uint32_t tag, uint32_t def);
/* Case-insensitive: does the value (trimmed) equal `s`? */
bool oa_px_equals(const oa_pixels_attrs *a, uint32_t tag, const char *s);

/* Rules: evaluate one generated rule. */
bool oa_px_rule_matches(const oa_pixels_rule *r, const oa_pixels_attrs *a,
                        oa_px_memo *memo);
/* A list of terms (lines and their terms, see rules.c); memo may be NULL. */
bool oa_px_terms_match(const oa_pixels_term *t, size_t n,
                       const oa_pixels_attrs *a, oa_px_memo *memo);
const oa_pixels_rule *oa_px_rules(size_t *n);
/* The attributes the generated rules test, sorted. */
const uint32_t *oa_px_rule_tags(size_t *n);
const oa_pixels_rule_op *oa_px_rule_ops(void);
/* The tiny regex of deid's values: literals, `|`, postfix `+`; search,
 * ASCII case-insensitive. */
bool oa_px_regex_search(const char *re, const char *s, size_t len);
bool oa_px_user_rule_matches(const oa_pixels_user_rule *r,
                             const oa_pixels_attrs *a);

/* Triage: risk bits from the header alone; *cleared gets the overlay bit
 * planes to zero. */
unsigned oa_px_triage(const oa_pixels_attrs *a, uint32_t *cleared);

/* Layout from the attributes; on failure writes the reason (what was
 * missing or invalid) into err and returns OA_EUNSUPPORTED/OA_EPARSE. */
oa_status oa_px_layout(const oa_pixels_attrs *a, oa_pixels_layout *l,
                       oa_error *err);

/* Blanking mask as row spans, built once per instance. */
typedef struct oa_px_span {
    uint32_t row, x0, x1;      /* [x0, x1) */
} oa_px_span;
oa_status oa_px_spans(uint32_t rows, uint32_t columns,
                      const oa_pixels_op *ops, size_t n_ops,
                      oa_px_span **spans, size_t *n_spans, oa_error *err);
/* Blank spans in one frame of a layout given by strides.  See blank.c. */
typedef struct oa_px_plane {
    size_t base;               /* byte offset of pixel (0,0) */
    size_t pixel_stride;       /* bytes between horizontal neighbours */
    size_t row_stride;
} oa_px_plane;

#endif /* OA_PIXELS_INT_H */
