/*
 * The leak check, the engine's third pass: the identifying values of the
 * input ("needles", collected by the pre-scan and the rewrite, needles.c)
 * are looked for in every value of the output but pixel data, at every
 * depth, in one pass over each value for all needles and their other
 * spellings and encodings (match.c); a hit fails the instance (OA_ELEAK)
 * with the tag, never the value.  Clean (C) is freetext.c.
 *
 * What is looked at: every element value but Pixel Data (and Float /
 * Double Float Pixel Data), our own top-level De-identification Method
 * (0012,0063) and code sequence (0012,0064); binary values of any size and
 * the fragments of undefined-length binary values included.  All of it
 * counts against the instance's work budget (a->work): past it, or when
 * the caller cancels, the instance fails with the tag and offset reached.
 *
 * What is not a leak (each decision is a warning in the result, never
 * silent; the data is Resources/Reference/leak_check.tsv, generated into
 * leak_rules.inc):
 *  1. equipment identity: a needle equal to, or a whole word of, the value
 *     of an equipment attribute (Manufacturer, model, station, device...)
 *     that the profile keeps (rule K) names the equipment, not the patient
 *     or the site (Institution Name "TOSHIBA" = Manufacturer "TOSHIBA");
 *  2. placeholders: a needle made only of placeholder words ("unknown",
 *     "anonymous", "none", "Unbekannt", "inconnu"...) and masked words
 *     (one masking character repeated: "XXXXXX", "*****", the trace of an
 *     earlier de-identification) identifies nobody;
 *  3. kept dates: a birth date equal to a date or date-time that the
 *     profile keeps unchanged (Dates "keep") is found there by the
 *     profile's choice; it is still a leak anywhere else;
 *  4. counters: an identifier that is often a small counter (Study ID),
 *     made only of digits and met as the whole value of an integer string
 *     (IS: Instance Number = Study ID = "4321"), is a count equal to it by
 *     chance; in text, another VR or inside a longer value it is a leak.
 * A real identifying value inside a kept description stays a leak.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "leak_rules.inc"

#define EQUIP_MAX 16384     /* bytes of kept equipment values remembered */

/* ------------------------------------------------------------------ */
/* Rules                                                                */

static bool is_word_byte(uint8_t c, bool ascii)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || c == '_' || (!ascii && c >= 0x80);
}

/* Values from controlled vocabularies: a name that is also an anatomical
 * or coded term ("KNEE") is not a leak there.  IDs and dates are still
 * looked for in them (a DICOMDIR file ID may hold the Patient ID). */
static bool is_vocabulary(const oa_element *el)
{
    switch (el->tag) {
    case OA_TAG(0x0008, 0x0100): /* Code Value */
    case OA_TAG(0x0008, 0x0102): /* Coding Scheme Designator */
    case OA_TAG(0x0008, 0x0104): /* Code Meaning */
    case OA_TAG(0x0008, 0x0119): /* Long Code Value */
    case OA_TAG(0x0040, 0xA043): /* Concept Name Code Sequence */
        return true;
    default:
        return el->vr == OA_VR_CS;
    }
}

/* Names of equipment, protocols and sequences: terms chosen by vendors
 * and sites, which a patient's name may equal by chance; a person name is
 * compared with its case there. */
static bool is_equipment_term(const oa_element *el)
{
    switch (el->tag) {
    case OA_TAG(0x0008, 0x1010): /* Station Name */
    case OA_TAG(0x0008, 0x1090): /* Manufacturer's Model Name */
    case OA_TAG(0x0018, 0x0024): /* Sequence Name */
    case OA_TAG(0x0018, 0x1030): /* Protocol Name */
    case OA_TAG(0x0018, 0x1250): /* Receive Coil Name */
    case OA_TAG(0x0018, 0x1251): /* Transmit Coil Name */
    case OA_TAG(0x0018, 0x9005): /* Pulse Sequence Name */
    case OA_TAG(0x0018, 0x1210): /* Convolution Kernel */
        return true;
    default:
        return false;
    }
}

/* An equipment attribute of leak_check.tsv. */
static bool is_equipment_identity(uint32_t tag)
{
    size_t lo = 0, hi = sizeof(leak_equipment_tags) /
                        sizeof(leak_equipment_tags[0]);

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (leak_equipment_tags[mid] == tag)
            return true;
        if (leak_equipment_tags[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool is_pixel_data(uint32_t tag)
{
    return tag == OA_TAG_PIXEL_DATA || tag == OA_TAG(0x7FE0, 0x0008) ||
           tag == OA_TAG(0x7FE0, 0x0009);
}

static bool is_placeholder_sep(uint8_t c)
{
    return c == ' ' || c == '^' || c == '=' || c == '\\' || c == ',' ||
           c == '_' || c == ';' || c == '\0';
}

/* The length of a masked word at p[i..n): one masking character repeated
 * at least twice up to a separator or the end; 0 otherwise. */
static size_t mask_word(const uint8_t *p, size_t n, size_t i)
{
    uint8_t c = oa_anon__fold(p[i]);
    size_t j = i;

    if (c == 0 || memchr(leak_mask_chars, c, sizeof(leak_mask_chars) - 1) ==
                      NULL)
        return 0;
    while (j < n && oa_anon__fold(p[j]) == c)
        j++;
    if (j - i < 2 || (j < n && !is_placeholder_sep(p[j])))
        return 0;
    return j - i;
}

bool oa_anon__needle_is_placeholder(const uint8_t *p, size_t n)
{
    size_t i = 0, words = 0;

    /* greedy: at each word, the longest placeholder (with its spaces)
     * that ends at a separator or at the end */
    for (;;) {
        size_t best = 0, k;

        while (i < n && is_placeholder_sep(p[i]))
            i++;
        if (i == n)
            return words > 0;
        for (k = 0; k < sizeof(leak_placeholders) /
                            sizeof(leak_placeholders[0]); k++) {
            size_t len = leak_placeholders[k].len, j;
            const uint8_t *w = (const uint8_t *)leak_placeholders[k].w;

            if (len <= best || len > n - i)
                continue;
            for (j = 0; j < len; j++) {
                uint8_t c = oa_anon__fold(p[i + j]);

                if (c != w[j] && !(w[j] == ' ' && is_placeholder_sep(c)))
                    break;
            }
            if (j == len && (i + len == n || is_placeholder_sep(p[i + len])))
                best = len;
        }
        if (best == 0)
            best = mask_word(p, n, i);
        if (best == 0)
            return false;
        i += best;
        words++;
    }
}

bool oa_anon_is_placeholder(const char *value)
{
    uint8_t folded[OA_ANON_VALUE_MAX];
    size_t n, k;

    if (value == NULL)
        return false;
    n = strlen(value);
    if (n >= sizeof(folded))
        return false;
    for (k = 0; k < n; k++)
        folded[k] = oa_anon__fold((uint8_t)value[k]);
    return oa_anon__needle_is_placeholder(folded, n);
}

/* ------------------------------------------------------------------ */
/* The pass                                                             */

/* The first hit of a needle. */
typedef struct first_hit {
    uint32_t tag;
    size_t offset;
    bool seen;
} first_hit;

typedef struct leak_ctx {
    oa_anonymizer *a;
    const oa_match *m;
    first_hit *hits;            /* per needle */
    size_t n_hit;               /* needles with a hit */
    uint32_t seq_tag[OA_READER_DEFAULT_MAX_DEPTH + 2];
    /* the element being scanned */
    const oa_element *el;
    const uint8_t *value;
    size_t len;
    bool binary, vocabulary, equipment, kept_date;
    bool warned_counter;
    /* kept equipment values, folded, each followed by a NUL */
    uint8_t equip[EQUIP_MAX];
    size_t equip_len;
    uint32_t equip_tag[64];     /* the attribute of each value */
    size_t equip_off[64];
    unsigned n_equip;
    bool warned_date;
    oa_error *err;
} leak_ctx;

/* Record a warning (never a value) in the result (engine.c). */
#define warn oa_anon__warn

static bool whole_word(const uint8_t *buf, size_t n, size_t start,
                       size_t len, bool ascii)
{
    size_t end = start + len;

    return (start == 0 || !is_word_byte(buf[start - 1], ascii) ||
            !is_word_byte(buf[start], ascii)) &&
           (end == n || !is_word_byte(buf[end], ascii) ||
            !is_word_byte(buf[end - 1], ascii));
}

static bool is_counter_tag(uint32_t tag)
{
    size_t i;

    for (i = 0; i < sizeof(leak_counter_tags) / sizeof(leak_counter_tags[0]);
         i++)
        if (leak_counter_tags[i] == tag)
            return true;
    return false;
}

/* Rule 4: the hit [start, start+len) of a digits-only counter needle is
 * one whole value (between '\\' or the ends, spaces aside) of an IS
 * element. */
static bool counter_in_integer(const leak_ctx *c, const needle *nd,
                               const uint8_t *orig, size_t start, size_t len)
{
    size_t i, b = start, e = start + len;

    if (c->el->vr != OA_VR_IS || !is_counter_tag(nd->tag) || len == 0)
        return false;
    for (i = 0; i < nd->len; i++)
        if (orig[i] < '0' || orig[i] > '9')
            return false;
    while (b > 0 && c->value[b - 1] == ' ')
        b--;
    while (e < c->len && (c->value[e] == ' ' || c->value[e] == '\0'))
        e++;
    return (b == 0 || c->value[b - 1] == '\\') &&
           (e == c->len || c->value[e] == '\\');
}

static oa_status on_hit(void *user, const oa_match_hit *h)
{
    leak_ctx *c = user;
    oa_anonymizer *a = c->a;
    const needle *nd = &a->needles[h->id];
    const uint8_t *orig = (const uint8_t *)a->arena + nd->off;
    /* IDs and dates are ASCII: bytes above 0x7F around them are data;
     * around a person's name in text they are letters (UTF-8, Latin-1:
     * "MULLER" is not in "MULLERé") */
    bool ascii = c->binary || !nd->name;

    if (c->hits[h->id].seen || (nd->name && c->vocabulary))
        return OA_OK;
    /* a name part of 3 letters ("Doe") is a word of text; in binary data
     * it is met by chance ("xxx" in a LUT): not looked for there */
    if (c->binary && nd->kind == OA_NEEDLE_NAME_PART && nd->len < 4)
        return OA_OK;
    if (!whole_word(c->value, c->len, h->start, h->len, ascii))
        return OA_OK;
    /* Byte for byte: binary values (the needle itself; its encodings are
     * long and folded), and person names in equipment and protocol terms,
     * where a test patient "KNEE" meets the "Knee" coil. */
    if (h->variant == OA_VARIANT_SAME && (c->binary || (nd->name && c->equipment)) &&
        memcmp(c->value + h->start, orig, h->len) != 0)
        return OA_OK;
    if (c->kept_date && h->variant == OA_VARIANT_SAME &&
        nd->tag == OA_TAG(0x0010, 0x0030)) {
        /* rule 3: a date the profile keeps, equal to the birth date */
        if (!c->warned_date) {
            char t1[12];

            c->warned_date = true;
            oa_tag_format(c->el->tag, t1);
            warn(a, "leak check: %s is a date the profile keeps, equal to "
                    "the birth date %s: not refused there", t1,
                 "(0010,0030)");
        }
        return OA_OK;
    }
    if (counter_in_integer(c, nd, orig, h->start, h->len)) {
        if (!c->warned_counter) {
            char t1[12], t2[12];

            c->warned_counter = true;
            oa_tag_format(nd->tag, t1);
            oa_tag_format(c->el->tag, t2);
            warn(a, "leak check: a value of %s equals the integer of %s, a "
                    "count met by chance: not refused there", t1, t2);
        }
        return OA_OK;
    }
    if (!c->hits[h->id].seen) {
        c->hits[h->id].seen = true;
        c->hits[h->id].tag = c->el->tag;
        c->hits[h->id].offset = c->el->offset;
        c->n_hit++;
    }
    return OA_OK;
}

static oa_status work_error(leak_ctx *c, oa_status rc, uint32_t tag,
                            size_t offset)
{
    if (rc == OA_ECANCELLED)
        return oa_error_at(c->err, rc, tag, offset,
                           "cancelled during the leak check");
    if (rc == OA_ELIMIT)
        return oa_error_at(c->err, rc, tag, offset,
                           "the leak check reached the instance's work "
                           "budget (%llu steps, \"WorkBudget\"): refused",
                           (unsigned long long)c->a->work.budget);
    return oa_error_at(c->err, rc, tag, offset, "leak check: %s",
                       oa_status_str(rc));
}

static oa_status scan(leak_ctx *c, const oa_element *el, const uint8_t *v,
                      size_t n, bool binary)
{
    oa_status rc;

    c->el = el;
    c->value = v;
    c->len = n;
    c->binary = binary;
    /* whole words by the ASCII rule: a match that is a whole word by the
     * rule of names (bytes >= 0x80 are letters) is one by it too; on_hit
     * then applies the needle's rule */
    rc = oa_match_scan(c->m, v, n,
                       OA_MATCH_ASCII_WORDS | OA_MATCH_WHOLE_WORDS,
                       &c->a->work, on_hit, c);
    return rc == OA_OK ? OA_OK : work_error(c, rc, el->tag, el->offset);
}

/* Remember a kept equipment value (folded, split at '\\'). */
static void remember_equipment(leak_ctx *c, const oa_element *el)
{
    size_t i = 0, n = el->length;
    const uint8_t *p = el->value;

    while (i <= n && c->n_equip < 64) {
        size_t s = i, e;

        while (i < n && p[i] != '\\')
            i++;
        e = i;
        while (s < e && p[s] == ' ')
            s++;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\0'))
            e--;
        if (e > s && c->equip_len + (e - s) + 1 <= EQUIP_MAX) {
            size_t k;

            c->equip_off[c->n_equip] = c->equip_len;
            c->equip_tag[c->n_equip] = el->tag;
            for (k = s; k < e; k++)
                c->equip[c->equip_len++] = oa_anon__fold(p[k]);
            c->equip[c->equip_len++] = '\0';
            c->n_equip++;
        }
        i++;
    }
}

static oa_status leak_element(void *user, const oa_element *el, oa_error *err)
{
    leak_ctx *c = user;
    oa_anonymizer *a = c->a;
    oa_rule rule;
    bool binary;

    (void)err;
    if (el->value == NULL || el->length == 0 || is_pixel_data(el->tag))
        return OA_OK;
    if (el->depth == 0 && el->tag == OA_TAG(0x0012, 0x0063))
        return OA_OK;   /* our own method text; nested ones are checked */
    binary = !oa_vr_is_string(el->vr);   /* UN too: compared as bytes */
    c->vocabulary = is_vocabulary(el);
    c->equipment = is_equipment_term(el);
    c->kept_date = false;
    if (el->vr == OA_VR_DA || el->vr == OA_VR_DT ||
        is_equipment_identity(el->tag)) {
        bool kept = oa_rules_resolve(a->profile, el->tag, el->vr, NULL, 0,
                                     &rule) == OA_ACTION_KEEP;

        c->kept_date = kept && (el->vr == OA_VR_DA || el->vr == OA_VR_DT);
        if (kept && is_equipment_identity(el->tag) && !binary)
            remember_equipment(c, el);
    }
    return scan(c, el, el->value, el->length, binary);
}

static oa_status leak_sequence(void *user, const oa_element *el, oa_error *err)
{
    leak_ctx *c = user;

    (void)err;
    if (el->depth == 0 && el->tag == OA_TAG(0x0012, 0x0064))
        return OA_SKIP; /* our own code sequence */
    if (el->depth < OA_READER_DEFAULT_MAX_DEPTH + 2)
        c->seq_tag[el->depth] = el->tag;
    return OA_OK;
}

/* A fragment of an undefined-length value: pixel data is skipped, any
 * other (an OB/OW written with an undefined length) is scanned. */
static oa_status leak_fragment(void *user, const oa_item *frag,
                               const uint8_t *data, oa_error *err)
{
    leak_ctx *c = user;
    oa_element el;

    (void)err;
    if (frag->depth == 0 || frag->depth > OA_READER_DEFAULT_MAX_DEPTH + 1)
        return OA_OK;
    memset(&el, 0, sizeof(el));
    el.tag = c->seq_tag[frag->depth - 1];
    if (is_pixel_data(el.tag) || frag->length == 0)
        return OA_OK;
    el.vr = OA_VR_OB;
    el.length = frag->length;
    el.value = data;
    el.offset = frag->offset;
    el.depth = frag->depth;
    c->vocabulary = c->equipment = c->kept_date = false;
    return scan(c, &el, data, frag->length, true);
}

/* Rule 1: is the needle a kept equipment value, or a whole word of one?
 * The index of that value, or -1. */
static int equipment_identity(const leak_ctx *c, const needle *nd,
                              const uint8_t *folded)
{
    unsigned k;

    for (k = 0; k < c->n_equip; k++) {
        const uint8_t *v = c->equip + c->equip_off[k];
        size_t n = strlen((const char *)v), i;

        for (i = 0; i + nd->len <= n; i++)
            if (memcmp(v + i, folded, nd->len) == 0 &&
                whole_word(v, n, i, nd->len, false))
                return (int)k;
    }
    return -1;
}

oa_status oa_anon__leak_check(oa_anonymizer *a, const uint8_t *data,
                              size_t len, oa_error *err)
{
    oa_dicom_handler leak;
    leak_ctx *c;
    oa_status rc;
    unsigned k;
    int leak_k = -1;

    c = oa_calloc(1, sizeof(*c));
    if (c == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory (leak check)");
    c->a = a;
    c->err = err;
    if (a->n_needles > 0) {
        c->hits = oa_calloc(a->n_needles, sizeof(*c->hits));
        if (c->hits == NULL) {
            oa_free(c);
            return oa_error_set(err, OA_ENOMEM,
                                "out of memory (leak check)");
        }
    }
    rc = oa_anon__needle_matcher(a, true, &c->m);
    if (rc != OA_OK) {
        rc = rc == OA_ELIMIT &&
                     !(a->work.budget != 0 && a->work.used > a->work.budget)
                 ? oa_error_set(err, OA_ELIMIT,
                                "too many identifying values to check the "
                                "output for leaks: refused")
                 : work_error(c, rc, OA_NO_TAG, OA_NO_OFFSET);
        goto done;
    }
    memset(&leak, 0, sizeof(leak));
    leak.element = leak_element;
    leak.sequence_begin = leak_sequence;
    leak.fragment = leak_fragment;
    leak.user = c;
    rc = oa_dicom_parse(data, len, &a->reader_opts, &leak, NULL, err);
    if (rc != OA_OK || c->n_hit == 0)
        goto done;
    /* The needles found: the rules, then the first real leak. */
    for (k = 0; k < a->n_needles; k++) {
        const needle *nd = &a->needles[k];
        const uint8_t *folded = (const uint8_t *)a->arena_lc + nd->off;
        char t1[12], t2[12];
        int e;

        if (!c->hits[k].seen)
            continue;
        oa_tag_format(nd->tag, t1);
        if (oa_anon__needle_is_placeholder(folded, nd->len)) {
            oa_tag_format(c->hits[k].tag, t2);
            warn(a, "leak check: a value of %s is a placeholder word, not "
                    "identifying (found in %s)", t1, t2);
            continue;
        }
        e = equipment_identity(c, nd, folded);
        if (e >= 0) {
            oa_tag_format(c->equip_tag[e], t2);
            warn(a, "leak check: a value of %s names the equipment kept in "
                    "%s, not identifying", t1, t2);
            continue;
        }
        if (leak_k < 0 || c->hits[k].offset < c->hits[leak_k].offset)
            leak_k = (int)k;
    }
    if (leak_k >= 0) {
        char tag[12];

        oa_tag_format(a->needles[leak_k].tag, tag);
        rc = oa_error_at(err, OA_ELEAK, c->hits[leak_k].tag,
                         c->hits[leak_k].offset,
                         "an identifying value of %s was found in the "
                         "output", tag);
    }
done:
    oa_free(c->hits);
    oa_free(c);
    return rc;
}
