/*
 * The anonymization engine: an oa_dicom_handler between the reader and the
 * writer that applies a profile's rules to every element at every depth.
 *
 * One instance takes three passes over the input, only the second of which
 * copies values:
 *  1. a pre-scan of the top-level dataset (sequences skipped) that finds
 *     the SOP class (to drop captures and reports), the original Patient ID
 *     (which keys the pseudonym and the date offset, and comes after the
 *     study dates in the stream) and the identifying values to look for;
 *  2. the rewrite: reader -> this handler -> writer;
 *  3. the leak check: the output is read again and every value outside
 *     bulk data is searched for the original identifying values that the
 *     profile does not keep; a hit fails the instance (OA_ELEAK) with the
 *     tag, never the value.
 *
 * Keyed pseudonyms: new UIDs are <root>.<decimal of 128 bits of
 * HMAC-SHA256(secret, UID)>; the generated name and ID and the
 * date offset are HMACs of the original Patient ID.  The same input and
 * secret give the same output on any server, with no lookup table.
 *
 * The engine object holds per-instance scratch state: one per thread.
 */
#define _GNU_SOURCE
#include "anonymizer.h"
#include "anonymizer_int.h"

#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "oa_version.h"

#define MAX_CREATORS 48       /* private blocks remembered per item */
#define MAX_NEEDLES 65536     /* more: the instance fails (fail closed) */
#define NEEDLE_ARENA ((size_t)4 << 20)
#define MIN_NEEDLE 4          /* shorter values match too much by chance */
#define LEAK_SCAN_MAX 65536   /* binary values larger than this are bulk */
#define UID_MAX 64

typedef struct creator {
    uint16_t group;
    uint8_t block;
    uint32_t len;
    const uint8_t *value;
} creator;

/* State of one dataset or item. */
/* What a sequence's own action asks of the values inside it. */
enum { SEQ_PLAIN = 0, SEQ_CLEAN = 1, SEQ_DUMMY = 2 };

typedef struct level {
    creator creators[MAX_CREATORS];
    unsigned n_creators;
    unsigned mode;       /* SEQ_*: inside a sequence whose action is C/D */
} level;

typedef struct needle {
    uint32_t off;        /* in the arena (and, lowercased, in arena_lc) */
    uint16_t len;
    uint32_t tag;        /* where the value came from (for the message) */
    bool name;           /* from a person name: not searched in values of
                            controlled vocabularies (CS, codes) */
} needle;

/* Elements added to the top-level dataset, in tag order. */
enum {
    INS_PATIENT_NAME,
    INS_PATIENT_ID,
    INS_STUDY_DESCRIPTION,
    INS_IDENTITY_REMOVED,
    INS_METHOD,
    INS_METHOD_CODES,
    INS_TEMPORAL,
    INS_COUNT
};

static const uint32_t insert_tags[INS_COUNT] = {
    OA_TAG(0x0010, 0x0010), OA_TAG(0x0010, 0x0020), OA_TAG(0x0008, 0x1030),
    OA_TAG(0x0012, 0x0062), OA_TAG(0x0012, 0x0063), OA_TAG(0x0012, 0x0064),
    OA_TAG(0x0028, 0x0303)};

struct oa_anonymizer {
    const oa_profile *profile;
    uint8_t secret[256];
    size_t secret_len;
    char uid_root[32];
    oa_reader_opts reader_opts;
    oa_writer *writer;
    const oa_dicom_handler *wh;
    oa_dicom_handler handler;   /* the rewrite pass */
    oa_buf scratch;             /* a transformed value */

    /* per instance */
    const oa_anon_identity *id;
    oa_anon_result *res;
    char sop_class[OA_ANON_VALUE_MAX];
    char orig_pid[OA_ANON_VALUE_MAX];
    char orig_name[OA_ANON_VALUE_MAX];
    char new_name[OA_ANON_VALUE_MAX];
    char new_id[OA_ANON_VALUE_MAX];
    int date_offset;
    bool inserted[INS_COUNT];
    unsigned seq_mode[OA_READER_DEFAULT_MAX_DEPTH + 2];
    level *levels;
    unsigned n_levels;
    unsigned skip_leak_depth;   /* leak pass: inside our own sequence */

    needle *needles;            /* grown up to MAX_NEEDLES */
    unsigned n_needles, cap_needles;
    char *arena, *arena_lc;     /* values, and their ASCII lower case */
    size_t arena_used, arena_cap;
    bool needles_overflow;      /* too many to check: fail the instance */
    oa_buf folded;              /* a text value in lower case (leak pass) */
};

/* ------------------------------------------------------------------ */
/* Keyed mappings                                                       */

static void hmac(const oa_anonymizer *a, const char *domain, const void *data,
                 size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    uint8_t msg[600];
    size_t dl = strlen(domain);

    /* Domain separation: UIDs (no prefix: HMAC-SHA256(secret, UID), the
     * documented contract), "patient:" and "date:" never collide, since a
     * UID holds only digits and dots. */
    if (dl + len > sizeof(msg))
        len = sizeof(msg) - dl;
    memcpy(msg, domain, dl);
    memcpy(msg + dl, data, len);
    HMAC(EVP_sha256(), a->secret, (int)a->secret_len, msg, dl + len, out, &n);
}

/* Decimal of a 128-bit big-endian number. */
static size_t u128_decimal(const uint8_t in[16], char *out, size_t size)
{
    uint8_t num[16];
    char rev[48];
    size_t n = 0, i;
    bool zero;

    memcpy(num, in, 16);
    do {
        unsigned rem = 0;
        zero = true;
        for (i = 0; i < 16; i++) {
            unsigned cur = (rem << 8) | num[i];
            num[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (num[i])
                zero = false;
        }
        rev[n++] = (char)('0' + rem);
    } while (!zero && n < sizeof(rev));
    if (n + 1 > size)
        return 0;
    for (i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return n;
}

int oa_anon_map_uid(const oa_anonymizer *a, const char *uid, size_t len,
                    char *out, size_t out_size)
{
    uint8_t mac[32];
    size_t root = strlen(a->uid_root);

    len = oa_value_trim((const uint8_t *)uid, len);
    if (oa_uid_value_is_well_known(uid, len) || len == 0) {
        if (len + 1 > out_size)
            return -1;
        memcpy(out, uid, len);
        out[len] = '\0';
        return 0;
    }
    hmac(a, "", uid, len, mac);
    if (root + 2 > out_size)
        return -1;
    memcpy(out, a->uid_root, root);
    out[root] = '.';
    /* first 128 bits; a leading zero digit cannot occur (no zero pad) */
    return u128_decimal(mac, out + root + 1, out_size - root - 1) ? 0 : -1;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void oa_anon_pseudonym(const oa_anonymizer *a, const char *patient_id,
                       size_t len, char name[65], char id[65])
{
    uint8_t mac[32];
    char h[25];

    hmac(a, "patient:", patient_id, len, mac);
    hex(mac, 12, h);
    snprintf(name, 65, "ANON^%.10s", h);
    snprintf(id, 65, "ANON%.12s", h + 10);
}

int oa_anon_date_offset(const oa_anonymizer *a, const char *patient_id,
                        size_t len)
{
    uint8_t mac[32];
    uint32_t v;

    hmac(a, "date:", patient_id, len, mac);
    v = ((uint32_t)mac[0] << 24) | ((uint32_t)mac[1] << 16) |
        ((uint32_t)mac[2] << 8) | mac[3];
    /* between 1 day and about 10 years back, whole days */
    return -(int)(1 + v % 3650);
}

/* ------------------------------------------------------------------ */
/* Dates                                                                */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    long era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (long)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

static bool digits(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* Shift the YYYYMMDD at p in place; false if it is not a valid date. */
static bool shift_ymd(uint8_t *p, int offset)
{
    long y, days;
    unsigned m, d;
    char buf[16];

    if (!digits(p, 8))
        return false;
    y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 +
        (p[3] - '0');
    m = (unsigned)((p[4] - '0') * 10 + (p[5] - '0'));
    d = (unsigned)((p[6] - '0') * 10 + (p[7] - '0'));
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    days = days_from_civil(y, m, d) + offset;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return false;
    snprintf(buf, sizeof(buf), "%04ld%02u%02u", y, m, d);
    memcpy(p, buf, 8);
    return true;
}

/*
 * Shift every date of a DA or DT value (multi-valued with '\', DA ranges
 * with '-').  A component that is not a full date is emptied: a partial
 * date would still tell the original.
 */
static oa_status shift_dates(oa_anonymizer *a, const oa_element *el)
{
    size_t i = 0, start, n = oa_value_trim(el->value, el->length);
    oa_status rc;
    uint8_t *p;

    oa_buf_reset(&a->scratch);
    rc = oa_buf_append(&a->scratch, el->value, n);
    if (rc != OA_OK)
        return rc;
    p = oa_buf_data(&a->scratch);
    while (i < n) {
        size_t end;
        start = i;
        while (i < n && p[i] != '\\')
            i++;
        end = i;
        /* DA range "A-B": shift both sides (DT ranges likewise) */
        {
            size_t j = start;
            while (j < end) {
                size_t k = j;
                while (k < end && p[k] != '-')
                    k++;
                /* a DT offset "-0500" follows the date part: leave it */
                if (k - j >= 8 && !shift_ymd(p + j, a->date_offset)) {
                    memset(p + j, ' ', k - j);
                } else if (k - j > 0 && k - j < 8) {
                    if (el->vr == OA_VR_DT && j > start)
                        ; /* time zone offset of a DT */
                    else
                        memset(p + j, ' ', k - j);
                }
                j = k < end ? k + 1 : k;
                if (el->vr == OA_VR_DT)
                    break; /* the rest of a DT is time and zone */
            }
        }
        if (i < n)
            i++;
    }
    /* compact the blanked components */
    {
        size_t r, w = 0;
        for (r = 0; r < n; r++)
            if (p[r] != ' ')
                p[w++] = p[r];
        a->scratch.len = w;
    }
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Needles: identifying values the output must not contain             */

static bool is_identifying(uint32_t tag, oa_vr vr)
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
static void collect_needles(oa_anonymizer *a, const oa_element *el)
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

/* ------------------------------------------------------------------ */
/* Private creators                                                     */

static level *cur_level(oa_anonymizer *a, unsigned depth)
{
    return depth < a->n_levels ? &a->levels[depth] : NULL;
}

static void remember_creator(oa_anonymizer *a, const oa_element *el)
{
    level *lv = cur_level(a, el->depth);
    creator *c;

    if (lv == NULL || lv->n_creators == MAX_CREATORS)
        return; /* unknown creator: private rules then fail closed */
    c = &lv->creators[lv->n_creators++];
    c->group = OA_TAG_GROUP(el->tag);
    c->block = (uint8_t)OA_TAG_ELEMENT(el->tag);
    c->value = el->value;
    c->len = el->length;
}

static const creator *find_creator(oa_anonymizer *a, uint32_t tag,
                                   unsigned depth)
{
    level *lv = cur_level(a, depth);
    uint16_t group = OA_TAG_GROUP(tag), element = OA_TAG_ELEMENT(tag);
    unsigned i;

    if (lv == NULL || !(group & 1) || element < 0x1000)
        return NULL;
    for (i = 0; i < lv->n_creators; i++)
        if (lv->creators[i].group == group &&
            lv->creators[i].block == (uint8_t)(element >> 8))
            return &lv->creators[i];
    return NULL;
}

static oa_action resolve(oa_anonymizer *a, const oa_element *el, oa_rule *r)
{
    const creator *c = find_creator(a, el->tag, el->depth);
    uint16_t group = OA_TAG_GROUP(el->tag), element = OA_TAG_ELEMENT(el->tag);

    /* A private creator element is judged by its own value. */
    if ((group & 1) && element >= 0x0010 && element <= 0x00FF &&
        el->value != NULL)
        return oa_rules_resolve(a->profile, el->tag, el->vr,
                                (const char *)el->value, el->length, r);
    return oa_rules_resolve(a->profile, el->tag, el->vr,
                            c ? (const char *)c->value : NULL,
                            c ? c->len : 0, r);
}

/* ------------------------------------------------------------------ */
/* Output helpers                                                       */

static oa_status emit(oa_anonymizer *a, uint32_t tag, oa_vr vr,
                      const void *value, size_t len, unsigned depth,
                      bool big_endian, oa_error *err)
{
    oa_element el;

    if (len >= OA_UNDEFINED_LENGTH - 1)
        return oa_error_at(err, OA_ELIMIT, tag, OA_NO_OFFSET,
                           "value too long");
    memset(&el, 0, sizeof(el));
    el.tag = tag;
    el.vr = vr;
    el.length = (uint32_t)len;
    el.value = value;
    el.depth = depth;
    el.big_endian = big_endian;
    el.offset = OA_NO_OFFSET;
    return a->wh->element(a->wh->user, &el, err);
}

static oa_status emit_str(oa_anonymizer *a, uint32_t tag, oa_vr vr,
                          const char *s, unsigned depth, oa_error *err)
{
    return emit(a, tag, vr, s, strlen(s), depth, false, err);
}

/* Code sequence item: (0008,0100) value, (0008,0102) DCM, (0008,0104). */
static oa_status emit_code(oa_anonymizer *a, const char *value,
                           const char *meaning, oa_error *err)
{
    oa_item it;
    oa_status rc;

    memset(&it, 0, sizeof(it));
    it.undefined_length = true;
    it.depth = 1;
    rc = a->wh->item_begin(a->wh->user, &it, err);
    if (rc == OA_OK)
        rc = emit_str(a, OA_TAG(0x0008, 0x0100), OA_VR_SH, value, 1, err);
    if (rc == OA_OK)
        rc = emit_str(a, OA_TAG(0x0008, 0x0102), OA_VR_SH, "DCM", 1, err);
    if (rc == OA_OK)
        rc = emit_str(a, OA_TAG(0x0008, 0x0104), OA_VR_LO, meaning, 1, err);
    if (rc == OA_OK)
        rc = a->wh->item_end(a->wh->user, err);
    return rc;
}

static const char *code_meaning(const char *code)
{
    int c;

    if (strcmp(code, "113100") == 0)
        return "Basic Application Confidentiality Profile";
    for (c = 0; c < OA_PS315_COLUMN_COUNT; c++)
        if (strcmp(oa_ps315_column_code((oa_ps315_column)c), code) == 0)
            return oa_ps315_column_meaning((oa_ps315_column)c);
    return "";
}

static oa_status emit_insert(oa_anonymizer *a, int which, oa_error *err)
{
    char text[65];
    oa_element seq;
    const char *codes[OA_PS315_COLUMN_COUNT + 1];
    size_t n, i;
    oa_status rc;

    a->inserted[which] = true;
    switch (which) {
    case INS_PATIENT_NAME:
        return emit_str(a, insert_tags[which], OA_VR_PN, a->new_name, 0, err);
    case INS_PATIENT_ID:
        return emit_str(a, insert_tags[which], OA_VR_LO, a->new_id, 0, err);
    case INS_STUDY_DESCRIPTION:
        if (a->id == NULL || a->id->new_study_description == NULL)
            return OA_OK;
        snprintf(a->res->anonymized.study_description, OA_ANON_VALUE_MAX,
                 "%s", a->id->new_study_description);
        return emit_str(a, insert_tags[which], OA_VR_LO,
                        a->id->new_study_description, 0, err);
    case INS_IDENTITY_REMOVED:
        return emit_str(a, insert_tags[which], OA_VR_CS, "YES", 0, err);
    case INS_METHOD:
        snprintf(text, sizeof(text), "Orthanc Anonymizer %s: %s, PS3.15 %s",
                 OA_VERSION,
                 oa_profile_name(a->profile)[0] ? oa_profile_name(a->profile)
                                                : "inline profile",
                 oa_ps315_edition());
        return emit_str(a, insert_tags[which], OA_VR_LO, text, 0, err);
    case INS_METHOD_CODES:
        memset(&seq, 0, sizeof(seq));
        seq.tag = insert_tags[which];
        seq.vr = OA_VR_SQ;
        seq.undefined_length = true;
        rc = a->wh->sequence_begin(a->wh->user, &seq, err);
        n = oa_profile_method_codes(a->profile, codes,
                                    sizeof(codes) / sizeof(codes[0]));
        for (i = 0; rc == OA_OK && i < n && i < OA_PS315_COLUMN_COUNT + 1;
             i++)
            rc = emit_code(a, codes[i], code_meaning(codes[i]), err);
        if (rc == OA_OK)
            rc = a->wh->sequence_end(a->wh->user, err);
        return rc;
    case INS_TEMPORAL:
        return emit_str(a, insert_tags[which], OA_VR_CS,
                        oa_profile_temporal_marker(a->profile), 0, err);
    default:
        return OA_OK;
    }
}

/* Before a top-level element `tag`: add our elements that sort before. */
static oa_status flush_inserts(oa_anonymizer *a, uint32_t tag, oa_error *err)
{
    int i;
    oa_status rc;

    for (i = 0; i < INS_COUNT; i++) {
        if (a->inserted[i] || insert_tags[i] >= tag)
            continue;
        rc = emit_insert(a, i, err);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

/* Is this top-level element one we replace by our own? */
static int replaced_insert(const oa_anonymizer *a, uint32_t tag)
{
    int i;
    for (i = INS_STUDY_DESCRIPTION; i < INS_COUNT; i++) {
        if (insert_tags[i] != tag)
            continue;
        if (i == INS_STUDY_DESCRIPTION &&
            (a->id == NULL || a->id->new_study_description == NULL))
            return -1;
        return i;
    }
    return -1;
}

static void copy_value(char dst[OA_ANON_VALUE_MAX], const void *v, size_t n)
{
    n = oa_value_trim(v, n);
    if (n >= OA_ANON_VALUE_MAX)
        n = OA_ANON_VALUE_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* Report values: what the top level of the output holds. */
static void note_output(oa_anonymizer *a, uint32_t tag, const void *v,
                        size_t n)
{
    oa_anon_values *o = &a->res->anonymized;
    switch (tag) {
    case OA_TAG(0x0010, 0x0010): copy_value(o->patient_name, v, n); break;
    case OA_TAG(0x0010, 0x0020): copy_value(o->patient_id, v, n); break;
    case OA_TAG(0x0020, 0x000D): copy_value(o->study_uid, v, n); break;
    case OA_TAG(0x0020, 0x000E): copy_value(o->series_uid, v, n); break;
    case OA_TAG(0x0008, 0x0018): copy_value(o->sop_uid, v, n); break;
    case OA_TAG(0x0008, 0x0020): copy_value(o->study_date, v, n); break;
    case OA_TAG(0x0008, 0x1030):
        copy_value(o->study_description, v, n);
        break;
    default: break;
    }
}

/* ------------------------------------------------------------------ */
/* Value transformations                                                */

static const char *dummy_text(oa_vr vr)
{
    switch (vr) {
    case OA_VR_AS: return "000Y";
    case OA_VR_DA: return "19000101";
    case OA_VR_DT: return "19000101000000";
    case OA_VR_TM: return "000000";
    case OA_VR_DS: case OA_VR_IS: return "0";
    case OA_VR_UR: return "";
    default: return "ANONYMIZED";
    }
}

/* Remap every component of a UI value into scratch. */
static oa_status map_uids(oa_anonymizer *a, const oa_element *el)
{
    size_t n = oa_value_trim(el->value, el->length), i = 0, start;
    char out[UID_MAX + 8];
    oa_status rc;

    oa_buf_reset(&a->scratch);
    while (i <= n) {
        start = i;
        while (i < n && el->value[i] != '\\')
            i++;
        if (oa_anon_map_uid(a, (const char *)el->value + start, i - start,
                            out, sizeof(out)) != 0)
            return OA_ELIMIT;
        if (start > 0) {
            rc = oa_buf_append_byte(&a->scratch, '\\');
            if (rc != OA_OK)
                return rc;
        }
        rc = oa_buf_append(&a->scratch, out, strlen(out));
        if (rc != OA_OK)
            return rc;
        i++;
    }
    return OA_OK;
}

/* Clean: the text without any identifying value we know of. */
static oa_status clean_text(oa_anonymizer *a, const oa_element *el)
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

static bool looks_like_uid(const uint8_t *v, size_t n)
{
    size_t i, dots = 0;
    n = oa_value_trim(v, n);
    if (n < 3 || n > UID_MAX)
        return false;
    for (i = 0; i < n; i++) {
        if (v[i] == '.')
            dots++;
        else if (v[i] < '0' || v[i] > '9')
            return false;
    }
    return dots >= 2 && v[0] != '.' && v[n - 1] != '.';
}

/*
 * Inside a sequence whose action is D or C, the values that its own rule
 * keeps are replaced or cleaned too, except those that give the content
 * its structure: code strings (an SR's Value Type and Relationship Type),
 * UIDs (remapped anyway), tags, binary numbers and the parts of codes, so
 * that an SR tree or a code sequence stays valid.
 */
static bool is_structural(const oa_element *el)
{
    switch (el->tag) {
    case OA_TAG(0x0008, 0x0100): /* Code Value */
    case OA_TAG(0x0008, 0x0102): /* Coding Scheme Designator */
    case OA_TAG(0x0008, 0x0103): /* Coding Scheme Version */
    case OA_TAG(0x0008, 0x0104): /* Code Meaning */
    case OA_TAG(0x0008, 0x0105): /* Mapping Resource */
    case OA_TAG(0x0008, 0x0119): /* Long Code Value */
    case OA_TAG(0x0008, 0x0120): /* URN Code Value */
        return true;
    default:
        break;
    }
    switch (el->vr) {
    case OA_VR_CS: case OA_VR_UI: case OA_VR_AT: case OA_VR_US:
    case OA_VR_SS: case OA_VR_UL: case OA_VR_SL: case OA_VR_FL:
    case OA_VR_FD: case OA_VR_SV: case OA_VR_UV: case OA_VR_IS:
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ */
/* The rewrite handler                                                  */

static oa_status on_begin(void *user, const oa_parse_info *info, oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->begin(a->wh->user, info, err);
}

static oa_status apply_element(oa_anonymizer *a, const oa_element *el,
                               oa_error *err)
{
    oa_rule rule;
    oa_action act;
    const void *v = el->value;
    size_t n = el->length;
    oa_status rc = OA_OK;
    level *lv = cur_level(a, el->depth);
    uint16_t group = OA_TAG_GROUP(el->tag), element = OA_TAG_ELEMENT(el->tag);

    if ((group & 1) && element >= 0x0010 && element <= 0x00FF)
        remember_creator(a, el);
    act = resolve(a, el, &rule);
    if (lv != NULL && lv->mode != SEQ_PLAIN && act == OA_ACTION_KEEP &&
        !is_structural(el))
        act = lv->mode == SEQ_DUMMY ? OA_ACTION_DUMMY : OA_ACTION_CLEAN;
    if (act != OA_ACTION_KEEP && is_identifying(el->tag, el->vr))
        collect_needles(a, el);

    switch (act) {
    case OA_ACTION_KEEP:
        /* Private values kept as UN that hold a UID are remapped too. */
        if (el->vr == OA_VR_UN && (group & 1) &&
            oa_profile_options(a->profile)->uids != OA_OPT_KEEP &&
            looks_like_uid(el->value, el->length)) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        }
        break;
    case OA_ACTION_REMOVE:
        return OA_OK;
    case OA_ACTION_EMPTY:
        n = 0;
        break;
    case OA_ACTION_DUMMY:
        if (el->vr == OA_VR_UI) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else if (oa_vr_is_string(el->vr)) {
            v = dummy_text(el->vr);
            n = strlen(v);
        } else {
            oa_buf_reset(&a->scratch);
            rc = oa_buf_reserve(&a->scratch, n);
            if (rc == OA_OK) {
                memset(oa_buf_data(&a->scratch), 0, n);
                a->scratch.len = n;
                v = oa_buf_data(&a->scratch);
            }
        }
        break;
    case OA_ACTION_CLEAN:
        if (oa_vr_is_string(el->vr)) {
            rc = clean_text(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else {
            n = 0;
        }
        break;
    case OA_ACTION_UID:
        if (el->vr == OA_VR_UI || looks_like_uid(el->value, el->length)) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else {
            n = 0; /* not a UID at all: nothing safe to keep */
        }
        break;
    case OA_ACTION_SHIFT:
        if (el->vr == OA_VR_DA || el->vr == OA_VR_DT) {
            rc = shift_dates(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        }
        break;
    case OA_ACTION_REPLACE:
        v = rule.value ? rule.value : "";
        n = strlen(v);
        break;
    case OA_ACTION_PSEUDONYM:
        if (el->tag == OA_TAG(0x0010, 0x0010) || el->vr == OA_VR_PN)
            v = a->new_name;
        else
            v = a->new_id;
        n = strlen(v);
        if (el->depth == 0 && el->tag == OA_TAG(0x0010, 0x0010))
            a->inserted[INS_PATIENT_NAME] = true;
        if (el->depth == 0 && el->tag == OA_TAG(0x0010, 0x0020))
            a->inserted[INS_PATIENT_ID] = true;
        break;
    }
    if (rc != OA_OK)
        return oa_error_at(err, rc, el->tag, el->offset,
                           "cannot rewrite the value");
    if (v == NULL)
        v = "";
    if (el->depth == 0)
        note_output(a, el->tag, v, n);
    return emit(a, el->tag, el->vr, v, n, el->depth, el->big_endian, err);
}

/*
 * Before a top-level element or sequence `tag`: add our elements that sort
 * before it; if it is one we write ourselves, write ours instead
 * (`*replaced`: the original is then left out).
 */
static oa_status top_level(oa_anonymizer *a, uint32_t tag, bool *replaced,
                           oa_error *err)
{
    oa_status rc;
    int ins;

    *replaced = false;
    rc = flush_inserts(a, tag, err);
    if (rc != OA_OK)
        return rc;
    ins = replaced_insert(a, tag);
    if (ins < 0)
        return OA_OK;
    *replaced = true;
    return a->inserted[ins] ? OA_OK : emit_insert(a, ins, err);
}

static oa_status on_element(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_status rc;
    bool replaced;

    if (el->depth == 0) {
        rc = top_level(a, el->tag, &replaced, err);
        if (rc != OA_OK || replaced)
            return rc;
    }
    return apply_element(a, el, err);
}

static oa_status on_sequence_begin(void *user, const oa_element *el,
                                   oa_error *err)
{
    oa_anonymizer *a = user;
    oa_rule rule;
    oa_action act;
    oa_status rc;
    level *lv = cur_level(a, el->depth);
    unsigned mode = lv != NULL ? lv->mode : SEQ_PLAIN;
    bool replaced;

    if (el->depth == 0) {
        rc = top_level(a, el->tag, &replaced, err);
        if (rc != OA_OK)
            return rc;
        if (replaced)
            return OA_SKIP;
    }
    if (el->tag == OA_TAG_PIXEL_DATA && el->vr != OA_VR_SQ &&
        el->vr != OA_VR_UN)
        act = OA_ACTION_KEEP; /* encapsulated pixel data */
    else
        act = resolve(a, el, &rule);
    if (act == OA_ACTION_REMOVE)
        return OA_SKIP;
    if (el->depth + 1 >= sizeof(a->seq_mode) / sizeof(a->seq_mode[0]))
        return oa_error_at(err, OA_ELIMIT, el->tag, el->offset,
                           "nesting deeper than the engine's limit");
    rc = a->wh->sequence_begin(a->wh->user, el, err);
    if (rc != OA_OK)
        return rc;
    if (act == OA_ACTION_EMPTY) {
        rc = a->wh->sequence_end(a->wh->user, err);
        return rc == OA_OK ? OA_SKIP : rc;
    }
    /* D on a sequence keeps its items with dummy values inside, C cleans
     * the free text inside (see is_structural); K, U and the rest descend
     * and apply the rules there.  A nested sequence keeps the stronger. */
    if (act == OA_ACTION_DUMMY)
        mode = SEQ_DUMMY;
    else if (act == OA_ACTION_CLEAN && mode == SEQ_PLAIN)
        mode = SEQ_CLEAN;
    a->seq_mode[el->depth] = mode;
    return OA_OK;
}

static oa_status on_item_begin(void *user, const oa_item *it, oa_error *err)
{
    oa_anonymizer *a = user;
    level *lv = cur_level(a, it->depth);

    if (lv != NULL) {
        lv->n_creators = 0;
        lv->mode = it->depth >= 1 ? a->seq_mode[it->depth - 1] : SEQ_PLAIN;
    }
    return a->wh->item_begin(a->wh->user, it, err);
}

static oa_status on_item_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->item_end(a->wh->user, err);
}

static oa_status on_sequence_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->sequence_end(a->wh->user, err);
}

static oa_status on_fragment(void *user, const oa_item *f, const uint8_t *d,
                             oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->fragment(a->wh->user, f, d, err);
}

static oa_status on_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_status rc = flush_inserts(a, 0xFFFFFFFFu, err);
    if (rc != OA_OK)
        return rc;
    return a->wh->end(a->wh->user, err);
}

/* ------------------------------------------------------------------ */
/* Pass 1: pre-scan of the top level                                   */

static oa_status pre_element(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_anon_values *o = &a->res->original;
    oa_rule rule;

    (void)err;
    switch (el->tag) {
    case OA_TAG(0x0008, 0x0016):
        copy_value(a->sop_class, el->value,
                   el->length < UID_MAX ? el->length : UID_MAX);
        break;
    case OA_TAG(0x0010, 0x0010):
        copy_value(o->patient_name, el->value, el->length);
        copy_value(a->orig_name, el->value, el->length);
        break;
    case OA_TAG(0x0010, 0x0020):
        copy_value(o->patient_id, el->value, el->length);
        copy_value(a->orig_pid, el->value, el->length);
        break;
    case OA_TAG(0x0020, 0x000D): copy_value(o->study_uid, el->value, el->length); break;
    case OA_TAG(0x0020, 0x000E): copy_value(o->series_uid, el->value, el->length); break;
    case OA_TAG(0x0008, 0x0018): copy_value(o->sop_uid, el->value, el->length); break;
    case OA_TAG(0x0008, 0x0020): copy_value(o->study_date, el->value, el->length); break;
    case OA_TAG(0x0008, 0x1030):
        copy_value(o->study_description, el->value, el->length);
        break;
    default:
        break;
    }
    if (!(OA_TAG_GROUP(el->tag) & 1) && is_identifying(el->tag, el->vr) &&
        oa_rules_resolve(a->profile, el->tag, el->vr, NULL, 0, &rule) !=
            OA_ACTION_KEEP)
        collect_needles(a, el);
    return OA_OK;
}

static oa_status pre_sequence(void *user, const oa_element *el, oa_error *err)
{
    (void)user;
    (void)el;
    (void)err;
    return OA_SKIP;
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

/* ------------------------------------------------------------------ */
/* Public                                                               */

oa_status oa_anonymizer_new(oa_anonymizer **out, const oa_profile *profile,
                            const oa_anonymizer_opts *opts, oa_error *err)
{
    oa_anonymizer *a;
    oa_writer_opts wo;
    oa_status rc;
    const char *root;

    *out = NULL;
    if (profile == NULL || opts == NULL || opts->secret == NULL ||
        opts->secret_len == 0 || opts->secret_len > 256)
        return oa_error_set(err, OA_EINVAL,
                            "the anonymizer needs a profile and a secret of "
                            "1 to 256 bytes");
    root = opts->uid_root ? opts->uid_root : "2.25";
    if (strlen(root) == 0 || strlen(root) > 24 ||
        strspn(root, "0123456789.") != strlen(root))
        return oa_error_set(err, OA_EINVAL,
                            "\"UidRoot\" must be digits and dots, at most 24 "
                            "characters");
    a = oa_calloc(1, sizeof(*a));
    if (a == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    a->profile = profile;
    memcpy(a->secret, opts->secret, opts->secret_len);
    a->secret_len = opts->secret_len;
    snprintf(a->uid_root, sizeof(a->uid_root), "%s", root);
    a->reader_opts = opts->reader;
    if (a->reader_opts.max_depth == 0 ||
        a->reader_opts.max_depth > OA_READER_DEFAULT_MAX_DEPTH)
        a->reader_opts.max_depth = OA_READER_DEFAULT_MAX_DEPTH;
    a->n_levels = a->reader_opts.max_depth + 2;
    a->levels = oa_calloc(a->n_levels, sizeof(level));
    oa_buf_init(&a->scratch, (size_t)1 << 24);
    oa_buf_init(&a->folded, (size_t)1 << 30);
    memset(&wo, 0, sizeof(wo));
    wo.max_size = opts->max_output;
    rc = a->levels ? oa_writer_new(&a->writer, &wo, err) : OA_ENOMEM;
    if (rc != OA_OK) {
        oa_anonymizer_free(a);
        return oa_error_set(err, rc, "out of memory");
    }
    a->wh = oa_writer_handler(a->writer);
    a->handler.begin = on_begin;
    a->handler.element = on_element;
    a->handler.sequence_begin = on_sequence_begin;
    a->handler.item_begin = on_item_begin;
    a->handler.item_end = on_item_end;
    a->handler.sequence_end = on_sequence_end;
    a->handler.fragment = on_fragment;
    a->handler.end = on_end;
    a->handler.user = a;
    *out = a;
    return OA_OK;
}

void oa_anonymizer_free(oa_anonymizer *a)
{
    if (a == NULL)
        return;
    oa_writer_free(a->writer);
    oa_buf_dispose(&a->scratch);
    oa_buf_dispose(&a->folded);
    oa_free(a->needles);
    oa_free(a->arena);
    oa_free(a->arena_lc);
    oa_free(a->levels);
    memset(a->secret, 0, sizeof(a->secret));
    oa_free(a);
}

oa_status oa_anonymizer_run(oa_anonymizer *a, const oa_anon_identity *id,
                            const uint8_t *in, size_t len,
                            oa_anon_result *res, oa_error *err)
{
    oa_dicom_handler pre, leak;
    oa_parse_info info;
    oa_status rc;
    char gen_name[65], gen_id[65];
    const char *key;
    size_t key_len;

    memset(res, 0, sizeof(*res));
    a->id = id;
    a->res = res;
    a->sop_class[0] = a->orig_pid[0] = a->orig_name[0] = '\0';
    a->n_needles = 0;
    a->arena_used = 0;
    a->needles_overflow = false;
    memset(a->inserted, 0, sizeof(a->inserted));
    memset(a->seq_mode, 0, sizeof(a->seq_mode));
    memset(a->levels, 0, a->n_levels * sizeof(level));
    a->skip_leak_depth = 0;

    /* 1. pre-scan */
    memset(&pre, 0, sizeof(pre));
    pre.element = pre_element;
    pre.sequence_begin = pre_sequence;
    pre.user = a;
    rc = oa_dicom_parse(in, len, &a->reader_opts, &pre, &info, err);
    if (rc != OA_OK)
        return rc;
    res->defects = info.defects;
    if (a->sop_class[0] == '\0' && info.meta_sop_class != NULL)
        copy_value(a->sop_class, info.meta_sop_class,
                   info.meta_sop_class_len < UID_MAX
                       ? info.meta_sop_class_len : UID_MAX);
    if (oa_profile_drops_sop_class(a->profile, a->sop_class,
                                   strlen(a->sop_class))) {
        res->dropped = true;
        return OA_OK;
    }

    /* identity: typed by the caller, or keyed on the original ID */
    key = a->orig_pid[0] ? a->orig_pid : a->orig_name;
    key_len = strlen(key);
    oa_anon_pseudonym(a, key, key_len, gen_name, gen_id);
    snprintf(a->new_name, sizeof(a->new_name), "%s",
             id && id->new_patient_name && id->new_patient_name[0]
                 ? id->new_patient_name : gen_name);
    snprintf(a->new_id, sizeof(a->new_id), "%s",
             id && id->new_patient_id && id->new_patient_id[0]
                 ? id->new_patient_id : gen_id);
    a->date_offset = oa_anon_date_offset(a, key, key_len);

    /* 2. rewrite */
    oa_writer_reset(a->writer);
    rc = oa_dicom_parse(in, len, &a->reader_opts, &a->handler, &info, err);
    if (rc != OA_OK)
        return rc;
    if (a->res->anonymized.sop_uid[0] == '\0' && info.meta_sop_instance) {
        /* no SOP Instance UID in the dataset (DICOMDIR): remap the meta's */
        char cls[OA_ANON_VALUE_MAX], inst[UID_MAX + 8];
        copy_value(cls, a->sop_class, strlen(a->sop_class));
        if (oa_anon_map_uid(a, (const char *)info.meta_sop_instance,
                            info.meta_sop_instance_len, inst,
                            sizeof(inst)) == 0)
            oa_writer_set_media_uids(a->writer, cls, inst, NULL);
    }
    rc = oa_writer_finish(a->writer, &res->data, &res->len, err);
    if (rc != OA_OK)
        return rc;

    /* 3. leak check over the output */
    if (a->needles_overflow) {
        res->data = NULL;
        res->len = 0;
        return oa_error_set(err, OA_ELIMIT,
                            "too many identifying values to check the "
                            "output for leaks: refused");
    }
    memset(&leak, 0, sizeof(leak));
    leak.element = leak_element;
    leak.sequence_begin = leak_sequence;
    leak.user = a;
    rc = oa_dicom_parse(res->data, res->len, &a->reader_opts, &leak, NULL,
                        err);
    if (rc != OA_OK) {
        res->data = NULL;
        res->len = 0;
        if (rc != OA_ELEAK)
            return oa_error_set(err, rc,
                                "the anonymized output does not read back");
    }
    return rc;
}
