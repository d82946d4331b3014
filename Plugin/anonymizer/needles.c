/*
 * Needles: the identifying values of the input, collected by the pre-scan
 * and the rewrite.  The leak check (leak.c) looks for them in the output;
 * Clean (C, freetext.c) takes them out of free text.
 */
#include "engine_int.h"

#include <string.h>

#define MAX_NEEDLES 65536     /* more: the instance fails (fail closed) */
#define NEEDLE_ARENA ((size_t)4 << 20)
#define MIN_NEEDLE 4          /* shorter values match too much by chance */

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

/* Part of a value we write ourselves (dummies, pseudonyms, the cleared
 * birth date), in any case: not a needle. */
static bool needle_is_ours(const uint8_t *p, size_t n)
{
    static const char *const ours[] = {"anonymized", "anon", "19000101"};
    size_t i, start, k;

    for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        size_t m = strlen(ours[i]);

        for (start = 0; n <= m && start + n <= m; start++) {
            for (k = 0; k < n && oa_anon__fold(p[k]) == (uint8_t)ours[i][start + k];
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
        a->arena_lc[a->arena_used + k] = (char)oa_anon__fold(p[k]);
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
