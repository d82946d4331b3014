/*
 * The PS3.15 tables: the names of actions, codes and columns, and the
 * look-ups in the generated tables (ps315_table.inc, PS3.15 2026d, never
 * typed by hand): Table E.1-1 sorted by tag for a binary search, its four
 * pattern rows, Table E.3.10-1 sorted by group, element in block and
 * creator, and the classification of the UI attributes the table does
 * not list.  Which action applies under a profile is rules.c's.
 */
#include "anonymizer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps315_table.inc"
#include "iod_table.inc"

/* The private pattern row, "(gggg,eeee) where gggg is odd". */
#define PRIVATE_ROW (&ps315_patterns[0])

/* ------------------------------------------------------------------ */
/* Names                                                                */

static const char *const action_names[OA_ACTION_COUNT] = {
    "keep", "remove", "empty", "dummy", "clean", "uid", "shift", "replace",
    "pseudonym", "hash"
};

const char *oa_action_name(oa_action action)
{
    if ((unsigned)action >= OA_ACTION_COUNT)
        return "?";
    return action_names[action];
}

static const char *const code_names[] = {
    "", "X", "Z", "D", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"
};

#define CODE_COUNT (sizeof(code_names) / sizeof(code_names[0]))

const char *oa_ps315_code_str(oa_ps315_code code)
{
    if ((unsigned)code >= CODE_COUNT)
        return "";
    return code_names[code];
}

oa_action oa_ps315_code_action(oa_ps315_code code)
{
    switch (code) {
    case OA_PS_X:
        return OA_ACTION_REMOVE;
    case OA_PS_Z:
    case OA_PS_X_Z:   /* X unless Z is required: Z */
        return OA_ACTION_EMPTY;
    case OA_PS_D:
    case OA_PS_Z_D:   /* Z unless D is required: D */
    case OA_PS_X_D:   /* X unless D is required: D */
    case OA_PS_X_Z_D: /* X unless Z or D is required: D */
        return OA_ACTION_DUMMY;
    case OA_PS_C:
        return OA_ACTION_CLEAN;
    case OA_PS_U:
    case OA_PS_X_Z_U: /* X unless Z or U of the contained UIDs: U */
        return OA_ACTION_UID;
    case OA_PS_K:
    case OA_PS_NONE:
        break;
    }
    return OA_ACTION_KEEP;
}

static const struct {
    const char *name;
    const char *code;
    const char *meaning;
} columns[OA_PS315_COLUMN_COUNT] = {
    { "rsp", "113111", "Retain Safe Private Option" },
    { "ruid", "113110", "Retain UIDs Option" },
    { "rdi", "113109", "Retain Device Identity Option" },
    { "rii", "113112", "Retain Institution Identity Option" },
    { "rpc", "113108", "Retain Patient Characteristics Option" },
    { "rlfd", "113106",
      "Retain Longitudinal Temporal Information Full Dates Option" },
    { "rlmd", "113107",
      "Retain Longitudinal Temporal Information Modified Dates Option" },
    { "cd", "113105", "Clean Descriptors Option" },
    { "csc", "113104", "Clean Structured Content Option" },
    { "cg", "113103", "Clean Graphics Option" },
};

const char *oa_ps315_column_name(oa_ps315_column col)
{
    return (unsigned)col < OA_PS315_COLUMN_COUNT ? columns[col].name : NULL;
}

const char *oa_ps315_column_code(oa_ps315_column col)
{
    return (unsigned)col < OA_PS315_COLUMN_COUNT ? columns[col].code : NULL;
}

const char *oa_ps315_column_meaning(oa_ps315_column col)
{
    return (unsigned)col < OA_PS315_COLUMN_COUNT ? columns[col].meaning
                                                 : NULL;
}

const char *oa_ps315_edition(void)
{
    return OA_PS315_TABLE_EDITION;
}

/* ------------------------------------------------------------------ */
/* Table look-ups                                                       */

const oa_ps315_row *oa_ps315__exact_find(uint32_t tag)
{
    size_t lo = 0, hi = OA_PS315_EXACT_COUNT;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps315_exact[mid].tag == tag)
            return &ps315_exact[mid];
        if (ps315_exact[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Pattern rows for even groups (the private row is handled apart). */
const oa_ps315_row *oa_ps315__pattern_find(uint32_t tag)
{
    for (size_t i = 0; i < OA_PS315_PATTERN_COUNT; i++) {
        const oa_ps315_row *row = &ps315_patterns[i];
        if (row == PRIVATE_ROW)
            continue;
        if ((tag & row->mask) == row->tag)
            return row;
    }
    return NULL;
}

const oa_ps315_row *oa_ps315_lookup(uint32_t tag)
{
    const oa_ps315_row *row;

    if (OA_TAG_GROUP(tag) & 1u)
        return PRIVATE_ROW;
    row = oa_ps315__exact_find(tag);
    return row != NULL ? row : oa_ps315__pattern_find(tag);
}

const oa_ps315_row *oa_ps315__private_row(void)
{
    return PRIVATE_ROW;
}

size_t oa_ps315__exact_count(void)
{
    return OA_PS315_EXACT_COUNT;
}

size_t oa_ps315_row_count(void)
{
    return OA_PS315_EXACT_COUNT + OA_PS315_PATTERN_COUNT;
}

const oa_ps315_row *oa_ps315_row_at(size_t i)
{
    if (i < OA_PS315_EXACT_COUNT)
        return &ps315_exact[i];
    i -= OA_PS315_EXACT_COUNT;
    return i < OA_PS315_PATTERN_COUNT ? &ps315_patterns[i] : NULL;
}

/* Trim leading and trailing spaces and trailing NULs of an LO value. */
static void trim_creator(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;

    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
        n--;
    while (n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    *s = p;
    *len = n;
}

/* strcmp of a table creator (NUL-terminated) with a counted string. */
static int creator_cmp(const char *table, const char *s, size_t len)
{
    int c = strncmp(table, s, len);

    if (c != 0)
        return c;
    return table[len] == '\0' ? 0 : 1;
}

static int safe_cmp(const oa_safe_private *e, uint16_t group,
                    uint8_t element, const char *s, size_t len)
{
    if (e->group != group)
        return e->group < group ? -1 : 1;
    if (e->element != element)
        return e->element < element ? -1 : 1;
    return creator_cmp(e->creator, s, len);
}

const oa_safe_private *oa_safe_private_find(uint16_t group, uint8_t element,
                                            const char *creator, size_t len)
{
    size_t lo = 0, hi = OA_PS315_SAFE_PRIVATE_COUNT;

    if (creator == NULL)
        return NULL;
    trim_creator(&creator, &len);
    if (len == 0 || memchr(creator, '\0', len) != NULL)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = safe_cmp(&ps315_safe_private[mid], group, element, creator,
                         len);
        if (c == 0)
            return &ps315_safe_private[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool oa_safe_private_has_creator(uint16_t group, const char *creator,
                                 size_t len)
{
    size_t lo = 0, hi = OA_PS315_SAFE_PRIVATE_COUNT;

    if (creator == NULL)
        return false;
    trim_creator(&creator, &len);
    if (len == 0 || memchr(creator, '\0', len) != NULL)
        return false;
    /* First row of the group, then a linear scan of its rows (at most a
     * few hundred, and only for creator elements). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps315_safe_private[mid].group < group)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < OA_PS315_SAFE_PRIVATE_COUNT &&
           ps315_safe_private[lo].group == group;
         lo++)
        if (creator_cmp(ps315_safe_private[lo].creator, creator, len) == 0)
            return true;
    return false;
}

size_t oa_safe_private_count(void)
{
    return OA_PS315_SAFE_PRIVATE_COUNT;
}

const oa_safe_private *oa_safe_private_at(size_t i)
{
    return i < OA_PS315_SAFE_PRIVATE_COUNT ? &ps315_safe_private[i] : NULL;
}

static const oa_uid_class *uid_list_find(const oa_uid_class *list, size_t n,
                                         uint32_t tag)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list[mid].tag == tag)
            return &list[mid];
        if (list[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const oa_uid_class *oa_ps315__uid_find(bool remap, uint32_t tag)
{
    if (remap)
        return uid_list_find(ps315_uid_remap, OA_PS315_UID_REMAP_COUNT, tag);
    return uid_list_find(ps315_uid_keep, OA_PS315_UID_KEEP_COUNT, tag);
}

size_t oa_ps315__uid_count(bool remap)
{
    return remap ? OA_PS315_UID_REMAP_COUNT : OA_PS315_UID_KEEP_COUNT;
}

const oa_uid_class *oa_ps315__uid_at(bool remap, size_t i)
{
    if (i >= oa_ps315__uid_count(remap))
        return NULL;
    return remap ? &ps315_uid_remap[i] : &ps315_uid_keep[i];
}

const char *oa_uid_class_kind(uint32_t tag)
{
    const oa_uid_class *e =
        uid_list_find(ps315_uid_keep, OA_PS315_UID_KEEP_COUNT, tag);
    return e != NULL ? e->kind : NULL;
}

/* Value length without trailing spaces and NULs (UI pads with NUL). */
static size_t value_len(const char *s, size_t len)
{
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
        len--;
    return len;
}

#define DICOM_ROOT "1.2.840.10008."

bool oa_uid_value_is_well_known(const char *uid, size_t len)
{
    size_t n = sizeof(DICOM_ROOT) - 1;

    if (uid == NULL)
        return false;
    len = value_len(uid, len);
    return len > n && memcmp(uid, DICOM_ROOT, n) == 0;
}

/* True if uid[0..len) is `prefix` or starts with `prefix` + ".". */
static bool uid_under(const char *uid, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    if (len < n || memcmp(uid, prefix, n) != 0)
        return false;
    return len == n || uid[n] == '.';
}

static bool uid_equals(const char *uid, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(uid, s, len) == 0;
}

bool oa_sop_class_is_capture_or_report(const char *uid, size_t len)
{
    if (uid == NULL)
        return false;
    len = value_len(uid, len);
    /* Secondary Capture Image Storage and its multi-frame variants. */
    if (uid_equals(uid, len, "1.2.840.10008.5.1.4.1.1.7") ||
        uid_under(uid, len, "1.2.840.10008.5.1.4.1.1.7"))
        return true;
    /* Structured Reports (text, enhanced, comprehensive, KOS, dose...). */
    if (uid_under(uid, len, "1.2.840.10008.5.1.4.1.1.88") &&
        len > strlen("1.2.840.10008.5.1.4.1.1.88"))
        return true;
    /* Encapsulated PDF, CDA, STL, OBJ, MTL. */
    return uid_under(uid, len, "1.2.840.10008.5.1.4.1.1.104") &&
           len > strlen("1.2.840.10008.5.1.4.1.1.104");
}

/* ------------------------------------------------------------------ */
/* What the IODs require (iod_table.inc)                                */

static int iod_cmp(const oa_iod_required *e, const char *cls, uint32_t tag)
{
    int c = strcmp(e->sop_class, cls);
    if (c != 0)
        return c;
    return e->tag < tag ? -1 : e->tag > tag ? 1 : 0;
}

int oa_ps315__iod_type(const char *sop_class, uint32_t tag, bool animal)
{
    size_t lo = 0, hi = OA_IOD_REQUIRED_COUNT;
    const oa_iod_required *e;

    if (sop_class == NULL || sop_class[0] == '\0')
        return -1;
    /* The first row of the class at or after `tag`. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (iod_cmp(&iod_required[mid], sop_class, tag) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < OA_IOD_REQUIRED_COUNT) {
        e = &iod_required[lo];
        if (strcmp(e->sop_class, sop_class) == 0 && e->tag == tag)
            return e->cond == 2 ? -1
                   : e->cond == 1 && !animal ? 0 : e->type;
    }
    /* Not required: is the class known at all?  Its rows are next to
     * position lo (the one before or the one at it). */
    if (lo < OA_IOD_REQUIRED_COUNT &&
        strcmp(iod_required[lo].sop_class, sop_class) == 0)
        return 0;
    if (lo > 0 && strcmp(iod_required[lo - 1].sop_class, sop_class) == 0)
        return 0;
    return -1;
}
