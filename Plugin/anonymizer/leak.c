/*
 * The leak check, the engine's third pass: the identifying values of the
 * input ("needles", collected by the pre-scan and the rewrite) are looked
 * for in every value of the output outside bulk data; a hit fails the
 * instance (OA_ELEAK) with the tag, never the value.  Clean (C) uses the
 * same needles to take them out of free text.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <string.h>

#define MAX_NEEDLES 65536     /* more: the instance fails (fail closed) */
#define NEEDLE_ARENA ((size_t)4 << 20)
#define MIN_NEEDLE 4          /* shorter values match too much by chance */
#define LEAK_SCAN_MAX 65536   /* binary values larger than this are bulk */

/* ------------------------------------------------------------------ */
/* Needles: identifying values the output must not contain              */

bool oa_anon__is_identifying(uint32_t tag, oa_vr vr)
{
    switch (tag) {
    case OA_TAG(0x0010, 0x0020): /* Patient ID */
    case OA_TAG(0x0010, 0x0021): /* Issuer of Patient ID */
    case OA_TAG(0x0010, 0x1000): /* Other Patient IDs */
    case OA_TAG(0x0010, 0x0030): /* Patient's Birth Date */
    case OA_TAG(0x0010, 0x1040): /* Patient's Address */
    case OA_TAG(0x0010, 0x2154): /* Patient's Telephone Numbers */
    case OA_TAG(0x0008, 0x0050): /* Accession Number */
    case OA_TAG(0x0008, 0x0080): /* Institution Name */
    case OA_TAG(0x0008, 0x0081): /* Institution Address */
    case OA_TAG(0x0008, 0x0092): /* Referring Physician's Address */
    case OA_TAG(0x0008, 0x0094): /* Referring Physician's Telephone */
    case OA_TAG(0x0008, 0x1040): /* Institutional Department Name */
    case OA_TAG(0x0038, 0x0010): /* Admission ID */
    case OA_TAG(0x0040, 0x2016): /* Placer Order Number */
    case OA_TAG(0x0040, 0x2017): /* Filler Order Number */
    case OA_TAG(0x0040, 0x1001): /* Requested Procedure ID */
    case OA_TAG(0x0010, 0x1002): /* Other Patient IDs Sequence items */
        return true;
    default:
        return vr == OA_VR_PN;
    }
}

static uint8_t fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Part of a value we write ourselves (dummies, pseudonyms, the cleared
 * birth date), in any case: not a needle. */
static bool needle_is_ours(const uint8_t *p, size_t n)
{
    static const char *const ours[] = {"anonymized", "anon", "19000101"};
    size_t i, start, k;

    for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        size_t m = strlen(ours[i]);

        for (start = 0; n <= m && start + n <= m; start++) {
            for (k = 0; k < n && fold(p[k]) == (uint8_t)ours[i][start + k];
                 k++)
                ;
            if (k == n)
                return true;
        }
    }
    return false;
}

/* Make room for one more needle of `n` bytes; false when past the
 * ceilings (the caller then fails the instance: an output we cannot fully
 * check does not leave). */
static bool needle_room(oa_anonymizer *a, size_t n)
{
    if (a->n_needles == a->cap_needles) {
        unsigned ncap = a->cap_needles ? a->cap_needles * 2 : 256;
        needle *grown;

        if (a->cap_needles >= MAX_NEEDLES)
            return false;
        grown = oa_realloc(a->needles, ncap * sizeof(*grown));
        if (grown == NULL)
            return false;
        a->needles = grown;
        a->cap_needles = ncap;
    }
    if (a->arena_used + n > a->arena_cap) {
        size_t ncap = a->arena_cap ? a->arena_cap * 2 : 16384;
        char *g1, *g2;

        while (ncap < a->arena_used + n)
            ncap *= 2;
        if (ncap > NEEDLE_ARENA)
            return false;
        g1 = oa_realloc(a->arena, ncap);
        if (g1 == NULL)
            return false;
        a->arena = g1;
        g2 = oa_realloc(a->arena_lc, ncap);
        if (g2 == NULL)
            return false;
        a->arena_lc = g2;
        a->arena_cap = ncap;
    }
    return true;
}

static void add_needle(oa_anonymizer *a, uint32_t tag, const uint8_t *p,
                       size_t n, bool name)
{
    unsigned i;
    size_t k;

    while (n > 0 && (p[0] == ' '))
        p++, n--;
    n = oa_value_trim(p, n);
    if (n < MIN_NEEDLE || needle_is_ours(p, n))
        return;
    if (n > 512)   /* long free text: its components are needles */
        return;
    for (i = 0; i < a->n_needles; i++) {
        if (a->needles[i].len == n &&
            memcmp(a->arena + a->needles[i].off, p, n) == 0) {
            /* also an ID, not only a name: looked for everywhere */
            a->needles[i].name = a->needles[i].name && name;
            return;
        }
    }
    if (!needle_room(a, n)) {
        a->needles_overflow = true;
        return;
    }
    memcpy(a->arena + a->arena_used, p, n);
    for (k = 0; k < n; k++)
        a->arena_lc[a->arena_used + k] = (char)fold(p[k]);
    a->needles[a->n_needles].off = (uint32_t)a->arena_used;
    a->needles[a->n_needles].len = (uint16_t)n;
    a->needles[a->n_needles].tag = tag;
    a->needles[a->n_needles].name = name;
    a->n_needles++;
    a->arena_used += n;
}

/* Split a value into components (and name parts for PN) as needles. */
void oa_anon__collect_needles(oa_anonymizer *a, const oa_element *el)
{
    const uint8_t *p = el->value;
    size_t n = el->length, i, start = 0;

    if (p == NULL || !oa_vr_is_string(el->vr == OA_VR_UN ? OA_VR_LO : el->vr))
        return;
    add_needle(a, el->tag, p, n, el->vr == OA_VR_PN); /* the whole value */
    /* Components: values split at '\\' (and '^', '=' in names), and at a
     * NUL, which ends a string for many writers ("X1EXAMPL\0 ..." is the
     * ID X1EXAMPL to whoever reads it). */
    for (i = 0; i <= n; i++) {
        bool sep = i == n || p[i] == '\\' || p[i] == '\0' ||
                   (el->vr == OA_VR_PN && (p[i] == '^' || p[i] == '='));
        if (sep) {
            add_needle(a, el->tag, p + start, i - start,
                       el->vr == OA_VR_PN);
            start = i + 1;
        }
    }
}

/* Clean: the text without any identifying value we know of. */
oa_status oa_anon__clean_text(oa_anonymizer *a, const oa_element *el)
{
    size_t n = el->length, i;
    uint8_t *p;
    oa_status rc;
    unsigned k;

    oa_buf_reset(&a->scratch);
    rc = oa_buf_append(&a->scratch, el->value, n);
    if (rc != OA_OK)
        return rc;
    p = oa_buf_data(&a->scratch);
    for (k = 0; k < a->n_needles && p != NULL; k++) {
        const uint8_t *nd = (const uint8_t *)a->arena_lc + a->needles[k].off;
        size_t len = a->needles[k].len;
        for (i = 0; i + len <= a->scratch.len;) {
            size_t m = 0;

            while (m < len && fold(p[i + m]) == nd[m])
                m++;
            if (m == len) {
                memmove(p + i, p + i + len, a->scratch.len - i - len);
                a->scratch.len -= len;
            } else {
                i++;
            }
        }
    }
    return OA_OK;
}


/* ------------------------------------------------------------------ */
/* Pass 3: the leak check                                               */

static bool is_word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}

/* In binary values, bytes above 0x7F are data, not letters: only ASCII
 * letters, digits and '_' continue a word there. */
static bool is_ascii_word_byte(uint8_t c)
{
    return c < 0x80 && is_word_byte(c);
}

/* Does `needle` occur in `hay` as a whole word (not inside a longer run
 * of letters and digits)?  "77654033" is found in "77654033\CR1", not in
 * "177654033"; "TOSHIBA" is not found in "TOSHIBA_MEC".  Around a
 * person's name in text, bytes above 0x7F are letters (UTF-8, Latin-1:
 * "MULLER" is not "MULLERé"); elsewhere (`ascii`: binary values, and IDs,
 * which are ASCII) they are data ("\x80X1EXAMPLE\xfe" holds the ID
 * X1EXAMPLE). */
static bool contains_word(const uint8_t *hay, size_t n, const uint8_t *nd,
                          size_t len, bool ascii)
{
    const uint8_t *p = hay, *end = hay + n;
    bool (*word)(uint8_t) = ascii ? is_ascii_word_byte : is_word_byte;

    while ((size_t)(end - p) >= len) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), nd, len);
        if (hit == NULL)
            return false;
        if ((hit == hay || !word(hit[-1]) || !word(nd[0])) &&
            (hit + len == end || !word(hit[len]) || !word(nd[len - 1])))
            return true;
        p = hit + 1;
    }
    return false;
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
 * and sites, which a patient's name may equal by chance. */
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

static oa_status leak_element(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    const uint8_t *folded;
    unsigned k;
    char tag[12];
    bool vocabulary, equipment;

    if (a->skip_leak_depth > 0 || el->value == NULL)
        return OA_OK;
    if (el->tag == OA_TAG_PIXEL_DATA || el->tag == OA_TAG(0x0012, 0x0063) ||
        (!oa_vr_is_string(el->vr) && el->length > LEAK_SCAN_MAX))
        return OA_OK;
    vocabulary = is_vocabulary(el);
    equipment = is_equipment_term(el);
    /* Text is compared without ASCII case: a name kept in a description
     * as "REVIEW DRAFNOKOVIC" or "Doe John" is "Drafnokovic^..." /
     * "DOE^JOHN".  Two exceptions for person names only: controlled
     * vocabularies are skipped (above), and equipment and protocol terms
     * (coil, station, model, protocol names) are compared with their
     * case, where a test patient called "KNEE" meets the "Knee" coil.
     * Binary values byte for byte. */
    folded = NULL;
    if (oa_vr_is_string(el->vr)) {
        size_t i;
        uint8_t *f;

        oa_buf_reset(&a->folded);
        if (oa_buf_reserve(&a->folded, el->length) != OA_OK)
            return oa_error_at(err, OA_ENOMEM, el->tag, el->offset,
                               "out of memory (leak check)");
        f = oa_buf_data(&a->folded);
        for (i = 0; i < el->length; i++)
            f[i] = fold(el->value[i]);
        folded = f;
    }
    for (k = 0; k < a->n_needles; k++) {
        const needle *nd = &a->needles[k];
        bool exact = folded == NULL || (nd->name && equipment);

        if (nd->name && vocabulary)
            continue;
        if (el->length >= nd->len &&
            contains_word(exact ? el->value : folded, el->length,
                          (const uint8_t *)(exact ? a->arena : a->arena_lc) +
                              nd->off,
                          nd->len, folded == NULL || !nd->name)) {
            oa_tag_format(nd->tag, tag);
            return oa_error_at(err, OA_ELEAK, el->tag, el->offset,
                               "an identifying value of %s was found in the "
                               "output", tag);
        }
    }
    return OA_OK;
}

static oa_status leak_sequence(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    (void)err;
    if (el->depth == 0 && el->tag == OA_TAG(0x0012, 0x0064))
        return OA_SKIP; /* our own code sequence */
    (void)a;
    return OA_OK;
}

oa_status oa_anon__leak_check(oa_anonymizer *a, const uint8_t *data,
                              size_t len, oa_error *err)
{
    oa_dicom_handler leak;

    memset(&leak, 0, sizeof(leak));
    leak.element = leak_element;
    leak.sequence_begin = leak_sequence;
    leak.user = a;
    return oa_dicom_parse(data, len, &a->reader_opts, &leak, NULL, err);
}
