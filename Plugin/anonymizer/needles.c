/*
 * Needles: the identifying values of the input, collected by the pre-scan
 * (every depth) and the rewrite.  The leak check (leak.c) looks for them
 * in the output; Clean (C, freetext.c) takes them out of free text.
 *
 * Each needle has a kind (engine_int.h): a person name is a needle whole
 * and by component (family, given, middle name, and the words of a
 * component that has several), an address whole and by fragment (the
 * parts between commas or '^', the street without its house number, the
 * city without its postcode, the postcode), a telephone number as written
 * and as digits only.  Prefixes and suffixes of names ("Dr", "Jr") and
 * name particles ("van", "de") are not needles: they are not identity,
 * and as needles they would take ordinary words out of every text.
 *
 * Needles are unique byte for byte (a hash set: collecting is linear in
 * the values' size, whatever their number).
 */
#include "engine_int.h"

#include <string.h>

#define MAX_NEEDLES 65536     /* more: the instance fails (fail closed) */
#define NEEDLE_ARENA ((size_t)4 << 20)
#define MIN_NEEDLE 4          /* shorter values match too much by chance */
#define MIN_NAME_PART 3       /* "Doe", "Lee": whole words only */
#define MAX_NEEDLE 512        /* longer: free text, its parts are needles */

/* What an identifying tag holds (OA_NEEDLE_KIND_COUNT: not identifying,
 * unless its VR is PN). */
static oa_needle_kind tag_kind(uint32_t tag)
{
    switch (tag) {
    case OA_TAG(0x0010, 0x0020): /* Patient ID */
    case OA_TAG(0x0010, 0x0021): /* Issuer of Patient ID */
    case OA_TAG(0x0010, 0x1000): /* Other Patient IDs */
    case OA_TAG(0x0010, 0x1002): /* Other Patient IDs Sequence */
    case OA_TAG(0x0010, 0x1090): /* Medical Record Locator */
    case OA_TAG(0x0008, 0x0050): /* Accession Number */
    case OA_TAG(0x0020, 0x0010): /* Study ID */
    case OA_TAG(0x0038, 0x0010): /* Admission ID */
    case OA_TAG(0x0038, 0x0011): /* Issuer of Admission ID */
    case OA_TAG(0x0040, 0x0031): /* Local Namespace Entity ID (issuers) */
    case OA_TAG(0x0040, 0x2016): /* Placer Order Number */
    case OA_TAG(0x0040, 0x2017): /* Filler Order Number */
    case OA_TAG(0x0040, 0x1001): /* Requested Procedure ID */
        return OA_NEEDLE_ID;
    case OA_TAG(0x0010, 0x0030): /* Patient's Birth Date */
        return OA_NEEDLE_DATE;
    case OA_TAG(0x0010, 0x1040): /* Patient's Address */
    case OA_TAG(0x0010, 0x2152): /* Region of Residence */
    case OA_TAG(0x0008, 0x0081): /* Institution Address */
    case OA_TAG(0x0008, 0x0092): /* Referring Physician's Address */
    case OA_TAG(0x0040, 0x1102): /* Person's Address */
        return OA_NEEDLE_ADDRESS;
    case OA_TAG(0x0010, 0x2154): /* Patient's Telephone Numbers */
    case OA_TAG(0x0010, 0x2155): /* Patient's Telecom Information */
    case OA_TAG(0x0008, 0x0094): /* Referring Physician's Telephone */
    case OA_TAG(0x0040, 0x1103): /* Person's Telephone Numbers */
    case OA_TAG(0x0040, 0x1104): /* Person's Telecom Information */
        return OA_NEEDLE_PHONE;
    case OA_TAG(0x0008, 0x0080): /* Institution Name */
    case OA_TAG(0x0008, 0x1040): /* Institutional Department Name */
    case OA_TAG(0x0010, 0x2299): /* Responsible Organization */
        return OA_NEEDLE_INSTITUTION;
    default:
        return OA_NEEDLE_KIND_COUNT;
    }
}

bool oa_anon__is_identifying(uint32_t tag, oa_vr vr)
{
    return vr == OA_VR_PN || tag_kind(tag) != OA_NEEDLE_KIND_COUNT;
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

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* FNV-1a (needles are unique byte for byte: the leak check compares
 * names in equipment terms with their case). */
static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

void oa_anon__needles_reset(oa_anonymizer *a)
{
    a->n_needles = 0;
    a->arena_used = 0;
    a->needles_overflow = false;
    if (a->needle_slots != NULL)
        memset(a->needle_slots, 0,
               a->n_needle_slots * sizeof(a->needle_slots[0]));
    a->n_id_dates = 0;
}

void oa_anon__needles_free(oa_anonymizer *a)
{
    oa_free(a->needle_slots);
    a->needle_slots = NULL;
    a->n_needle_slots = 0;
}

/* The hash set at twice the needles' capacity; false without memory. */
static bool slots_grow(oa_anonymizer *a)
{
    unsigned ncap = a->n_needle_slots ? a->n_needle_slots * 2 : 512, i;
    uint32_t *grown = oa_calloc(ncap, sizeof(*grown));

    if (grown == NULL)
        return false;
    for (i = 0; i < a->n_needles; i++) {
        const needle *nd = &a->needles[i];
        uint32_t h = hash_bytes((const uint8_t *)a->arena + nd->off,
                                 nd->len) & (ncap - 1);

        while (grown[h] != 0)
            h = (h + 1) & (ncap - 1);
        grown[h] = i + 1;
    }
    oa_free(a->needle_slots);
    a->needle_slots = grown;
    a->n_needle_slots = ncap;
    return true;
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
    if ((a->n_needles + 1) * 2 > a->n_needle_slots && !slots_grow(a))
        return false;
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

/* Is the kind a word-like one (not looked for in vocabularies)? */
static bool kind_is_name(oa_needle_kind kind)
{
    return kind == OA_NEEDLE_NAME || kind == OA_NEEDLE_NAME_PART ||
           kind == OA_NEEDLE_ADDRESS_PART;
}

/* An identifying date (YYYYMMDD) for Clean, which removes it in every
 * spelling. */
static void note_date(oa_anonymizer *a, const uint8_t *p, size_t n)
{
    unsigned v = 0;
    size_t i;

    if (n != 8 ||
        a->n_id_dates == sizeof(a->id_dates) / sizeof(a->id_dates[0]))
        return;
    for (i = 0; i < 8; i++) {
        if (!is_digit(p[i]))
            return;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    for (i = 0; i < a->n_id_dates; i++)
        if (a->id_dates[i] == v)
            return;
    a->id_dates[a->n_id_dates++] = v;
}

static void add_needle(oa_anonymizer *a, uint32_t tag, const uint8_t *p,
                       size_t n, oa_needle_kind kind)
{
    size_t k, min = kind == OA_NEEDLE_NAME_PART ? MIN_NAME_PART : MIN_NEEDLE;
    uint32_t h;
    needle *nd;

    while (n > 0 && is_space(p[0]))
        p++, n--;
    while (n > 0 && (is_space(p[n - 1]) || p[n - 1] == '\0'))
        n--;
    if (n < min || n > MAX_NEEDLE || needle_is_ours(p, n))
        return;
    if (kind == OA_NEEDLE_DATE)
        note_date(a, p, n);
    if (a->n_needle_slots > 0) {
        h = hash_bytes(p, n) & (a->n_needle_slots - 1);
        while (a->needle_slots[h] != 0) {
            nd = &a->needles[a->needle_slots[h] - 1];
            if (nd->len == n && memcmp(a->arena + nd->off, p, n) == 0) {
                /* also an ID, not only a name: looked for everywhere */
                nd->name = nd->name && kind_is_name(kind);
                if (kind == OA_NEEDLE_ID || kind == OA_NEEDLE_DATE)
                    nd->kind = (uint8_t)kind;
                return;
            }
            h = (h + 1) & (a->n_needle_slots - 1);
        }
    }
    if (!needle_room(a, n)) {
        a->needles_overflow = true;
        return;
    }
    h = hash_bytes(p, n) & (a->n_needle_slots - 1);
    while (a->needle_slots[h] != 0)
        h = (h + 1) & (a->n_needle_slots - 1);
    a->needle_slots[h] = a->n_needles + 1;
    memcpy(a->arena + a->arena_used, p, n);
    for (k = 0; k < n; k++)
        a->arena_lc[a->arena_used + k] = (char)oa_anon__fold(p[k]);
    nd = &a->needles[a->n_needles++];
    nd->off = (uint32_t)a->arena_used;
    nd->len = (uint16_t)n;
    nd->tag = tag;
    nd->name = kind_is_name(kind);
    nd->kind = (uint8_t)kind;
    nd->placeholder = oa_anon__needle_is_placeholder(p, n);
    a->arena_used += n;
}

/* A word that is part of names without being anyone's: titles, suffixes,
 * particles ("Dr", "Jr", "van der"). */
static bool is_name_filler(const uint8_t *p, size_t n)
{
    static const char *const fillers[] = {
        "dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "prof",
        "prof.", "md", "phd", "jr", "jr.", "sr", "sr.", "ii", "iii", "iv",
        "van", "von", "der", "den", "del", "della", "de", "la", "le", "di",
        "da", "du", "dos", "das", "ten", "ter", "bin", "ibn", "al", "el",
        "st", "st.", "and"};
    size_t i, k;

    for (i = 0; i < sizeof(fillers) / sizeof(fillers[0]); i++) {
        if (strlen(fillers[i]) != n)
            continue;
        for (k = 0; k < n && oa_anon__fold(p[k]) == (uint8_t)fillers[i][k];
             k++)
            ;
        if (k == n)
            return true;
    }
    return false;
}

/* One component of a person name (between '^'): itself, and when it has
 * several words ("Mary Ann", "van der Berg", "Jane Doe" written without
 * '^'), each word that is not a filler. */
static void add_name_component(oa_anonymizer *a, uint32_t tag,
                               const uint8_t *p, size_t n)
{
    size_t i, start = 0;
    bool several = false;

    for (i = 0; i < n; i++)
        if (is_space(p[i]) || p[i] == ',')
            several = true;
    if (!several) {
        if (!is_name_filler(p, n))
            add_needle(a, tag, p, n, OA_NEEDLE_NAME_PART);
        return;
    }
    add_needle(a, tag, p, n, OA_NEEDLE_NAME_PART);
    for (i = 0; i <= n; i++) {
        if (i == n || is_space(p[i]) || p[i] == ',') {
            if (i > start && !is_name_filler(p + start, i - start))
                add_needle(a, tag, p + start, i - start,
                           OA_NEEDLE_NAME_PART);
            start = i + 1;
        }
    }
}

/* One person name (a value of a PN, between '\\'): the whole, its
 * component groups (alphabetic, ideographic, phonetic, between '='), and
 * in each group the family, given and middle names. */
static void add_person_name(oa_anonymizer *a, uint32_t tag,
                            const uint8_t *p, size_t n)
{
    size_t i, start = 0;
    unsigned comp = 0;

    add_needle(a, tag, p, n, OA_NEEDLE_NAME);
    for (i = 0; i <= n; i++) {
        if (i < n && p[i] == '=') {
            add_needle(a, tag, p + start, i - start, OA_NEEDLE_NAME);
        }
        if (i == n || p[i] == '^' || p[i] == '=') {
            if (comp < 3) /* not the prefix and suffix */
                add_name_component(a, tag, p + start, i - start);
            comp = i < n && p[i] == '=' ? 0 : comp + 1;
            start = i + 1;
        }
    }
}

/* A token made of digits (and letters with at least one digit: "SW1A"),
 * as a postcode is; its length or 0. */
static size_t code_token(const uint8_t *p, size_t n)
{
    size_t i;
    bool digit = false;

    for (i = 0; i < n && !is_space(p[i]); i++) {
        if (is_digit(p[i]))
            digit = true;
        else if (!((p[i] >= 'A' && p[i] <= 'Z') ||
                   (p[i] >= 'a' && p[i] <= 'z') || p[i] == '-'))
            return 0;
    }
    return digit ? i : 0;
}

/* One fragment of an address (between ',', ';', '^' or a line break):
 * itself; without a leading or trailing house number or postcode ("4417
 * Wrenfield Avenue" -> "Wrenfield Avenue", "10115 Berlin" -> "Berlin",
 * "Hauptstrasse 12" -> "Hauptstrasse"); its postcode-like tokens of four
 * characters or more ("IL 62704" -> "62704"). */
static void add_address_fragment(oa_anonymizer *a, uint32_t tag,
                                 const uint8_t *p, size_t n)
{
    size_t i, lead, tail, s, e;

    while (n > 0 && is_space(p[0]))
        p++, n--;
    while (n > 0 && is_space(p[n - 1]))
        n--;
    add_needle(a, tag, p, n, OA_NEEDLE_ADDRESS_PART);
    s = 0;
    e = n;
    lead = code_token(p, n);
    if (lead > 0 && lead < n)
        s = lead;
    for (tail = n; tail > 0 && !is_space(p[tail - 1]); tail--)
        ;
    if (tail > s && code_token(p + tail, n - tail) == n - tail)
        e = tail;
    if (s > 0 || e < n)
        add_needle(a, tag, p + s, e - s, OA_NEEDLE_ADDRESS_PART);
    for (i = 0; i < n;) {
        size_t t;

        while (i < n && is_space(p[i]))
            i++;
        t = code_token(p + i, n - i);
        if (t >= MIN_NEEDLE && (i > 0 || t == n))
            add_needle(a, tag, p + i, t, OA_NEEDLE_ADDRESS_PART);
        while (i < n && !is_space(p[i]))
            i++;
    }
}

static void add_address(oa_anonymizer *a, uint32_t tag, const uint8_t *p,
                        size_t n)
{
    size_t i, start = 0;

    add_needle(a, tag, p, n, OA_NEEDLE_ADDRESS);
    for (i = 0; i <= n; i++) {
        if (i == n || p[i] == ',' || p[i] == ';' || p[i] == '^' ||
            p[i] == '\n' || p[i] == '\r') {
            if (i > start && i - start < n)
                add_address_fragment(a, tag, p + start, i - start);
            else if (i - start == n)
                add_address_fragment(a, tag, p, n);
            start = i + 1;
        }
    }
}

/* A telephone number as written, and its digits alone when there are at
 * least 7 ("+1 (218) 555-0199" -> "12185550199"). */
static void add_phone(oa_anonymizer *a, uint32_t tag, const uint8_t *p,
                      size_t n)
{
    uint8_t digits[MAX_NEEDLE];
    size_t i, d = 0;

    add_needle(a, tag, p, n, OA_NEEDLE_PHONE);
    for (i = 0; i < n && d < sizeof(digits); i++)
        if (is_digit(p[i]))
            digits[d++] = p[i];
    if (d >= 7 && d != n)
        add_needle(a, tag, digits, d, OA_NEEDLE_PHONE);
}

/* Split a value into components (and name parts for PN) as needles. */
void oa_anon__collect_needles(oa_anonymizer *a, const oa_element *el)
{
    const uint8_t *p = el->value;
    size_t n = el->length, i, start = 0;
    oa_needle_kind kind;

    if (p == NULL || !oa_vr_is_string(el->vr == OA_VR_UN ? OA_VR_LO : el->vr))
        return;
    kind = el->vr == OA_VR_PN ? OA_NEEDLE_NAME : tag_kind(el->tag);
    if (kind == OA_NEEDLE_KIND_COUNT)
        kind = OA_NEEDLE_VALUE;
    add_needle(a, el->tag, p, n, kind); /* the whole value */
    /* Components: values split at '\\', and at a NUL, which ends a string
     * for many writers ("X1EXAMPL\0 ..." is the ID X1EXAMPL to whoever
     * reads it). */
    for (i = 0; i <= n; i++) {
        if (i == n || p[i] == '\\' || p[i] == '\0') {
            const uint8_t *c = p + start;
            size_t m = i - start;

            switch (kind) {
            case OA_NEEDLE_NAME:
                add_person_name(a, el->tag, c, m);
                break;
            case OA_NEEDLE_ADDRESS:
                add_address(a, el->tag, c, m);
                break;
            case OA_NEEDLE_PHONE:
                add_phone(a, el->tag, c, m);
                break;
            default:
                add_needle(a, el->tag, c, m, kind);
                break;
            }
            start = i + 1;
        }
    }
}
