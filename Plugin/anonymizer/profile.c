/*
 * Profiles: the three built-ins, parsing from the JSON of doc/rest-api.md
 * and serialization back to it.
 *
 * A profile is a base ("Default", "Full" or "Research") whose options are
 * overridden by
 * those given in the JSON, plus three lists of tags (Keep, Remove, Replace)
 * that win over every other rule.  Each option is described once, in
 * `option_table` below: its JSON name, where it lives in oa_anon_options and
 * the values it accepts, in the order the error message lists them.  The
 * parser, the serializer and the error messages are all driven by that
 * table, so adding an option is one line there plus its meaning in
 * rules.c.
 *
 * Parsing is strict: an unknown option, a value of the wrong type or
 * outside the option's set, a tag that is not "gggg,eeee" or that the
 * writer owns, an option given twice, or a tag in two lists fails with
 * OA_EINVAL and a message a user can act on.  Messages quote option names
 * and tags, never a Replace value or an unparsable tag string, which could
 * hold patient data pasted by mistake.
 *
 * The lists are stored sorted and without duplicates, which makes lookups a
 * binary search (rules.c) and the serialized form canonical: parsing the
 * JSON a profile serializes to gives an equal profile.
 */
#include "anonymizer_int.h"

#include <cjson/cJSON.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Option table                                                         */

typedef struct option_desc {
    const char *json;          /* name in the JSON object */
    size_t offset;             /* offsetof(oa_anon_options, ...) */
    oa_opt_value values[4];    /* accepted values, in message order */
    size_t nvalues;
} option_desc;

#define OPT(name, field, ...)                                              \
    { name, offsetof(oa_anon_options, field), { __VA_ARGS__ },             \
      sizeof((oa_opt_value[]){ __VA_ARGS__ }) / sizeof(oa_opt_value) }

static const option_desc option_table[] = {
    OPT("BodyCharacteristics", body_characteristics, OA_OPT_KEEP,
        OA_OPT_CLEAR),
    OPT("AgesOver89", ages_over_89, OA_OPT_AGGREGATE, OA_OPT_KEEP),
    OPT("Dates", dates, OA_OPT_KEEP, OA_OPT_SHIFT, OA_OPT_CLEAR),
    OPT("BirthDate", birth_date, OA_OPT_KEEP, OA_OPT_CLEAR),
    OPT("PrivateTags", private_tags, OA_OPT_KEEP, OA_OPT_SAFE, OA_OPT_TCIA,
        OA_OPT_CLEAR),
    OPT("SecondaryCapturesAndReports", captures_and_reports, OA_OPT_KEEP,
        OA_OPT_CLEAR),
    OPT("Descriptions", descriptions, OA_OPT_KEEP, OA_OPT_CLEAN,
        OA_OPT_CLEAR),
    OPT("Uids", uids, OA_OPT_REMAP, OA_OPT_KEEP),
    OPT("DeviceIdentity", device_identity, OA_OPT_KEEP, OA_OPT_CLEAR),
    OPT("InstitutionIdentity", institution_identity, OA_OPT_KEEP,
        OA_OPT_CLEAR),
    OPT("StructuredContent", structured_content, OA_OPT_KEEP, OA_OPT_CLEAN,
        OA_OPT_CLEAR),
    OPT("Graphics", graphics, OA_OPT_KEEP, OA_OPT_CLEAR),
    OPT("BurnedInText", burned_in_text, OA_OPT_CLEAN, OA_OPT_STRICT,
        OA_OPT_REFUSE, OA_OPT_KEEP),
};

#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))

static oa_opt_value *option_field(oa_anon_options *o, const option_desc *d)
{
    return (oa_opt_value *)(void *)((char *)o + d->offset);
}

static oa_opt_value option_get(const oa_anon_options *o,
                               const option_desc *d)
{
    return *(const oa_opt_value *)(const void *)((const char *)o +
                                                 d->offset);
}

static const char *const opt_value_names[] = {
    "keep", "clear", "shift", "safe", "clean", "remap", "strict", "refuse",
    "tcia", "aggregate"
};

const char *oa_opt_value_name(oa_opt_value v)
{
    if ((unsigned)v >= sizeof(opt_value_names) / sizeof(opt_value_names[0]))
        return "?";
    return opt_value_names[v];
}

/* `"keep", "shift" or "clear"` for an option's error message. */
static void expected_values(const option_desc *d, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < d->nvalues; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == d->nvalues ? " or " : ", ");
        int n = snprintf(out + used, size - used, "%s\"%s\"", sep,
                         oa_opt_value_name(d->values[i]));
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

/* ------------------------------------------------------------------ */
/* Built-ins                                                            */

static const oa_anon_options default_options = {
    .body_characteristics = OA_OPT_KEEP,
    .ages_over_89 = OA_OPT_AGGREGATE,
    .dates = OA_OPT_KEEP,
    .birth_date = OA_OPT_CLEAR,
    .private_tags = OA_OPT_SAFE,
    .captures_and_reports = OA_OPT_CLEAR,
    .descriptions = OA_OPT_CLEAN,
    .uids = OA_OPT_REMAP,
    .device_identity = OA_OPT_CLEAR,
    .institution_identity = OA_OPT_CLEAR,
    .structured_content = OA_OPT_CLEAR,
    .graphics = OA_OPT_CLEAR,
    .burned_in_text = OA_OPT_CLEAN,
};

static const oa_anon_options full_options = {
    .body_characteristics = OA_OPT_CLEAR,
    .ages_over_89 = OA_OPT_AGGREGATE,
    .dates = OA_OPT_CLEAR,
    .birth_date = OA_OPT_CLEAR,
    .private_tags = OA_OPT_CLEAR,
    .captures_and_reports = OA_OPT_CLEAR,
    .descriptions = OA_OPT_CLEAR,
    .uids = OA_OPT_REMAP,
    .device_identity = OA_OPT_CLEAR,
    .institution_identity = OA_OPT_CLEAR,
    .structured_content = OA_OPT_CLEAR,
    .graphics = OA_OPT_CLEAR,
    .burned_in_text = OA_OPT_CLEAN,
};

/*
 * Research: TCIA's conventions (tcia.c reads their attribute list on top
 * of these options for this base): Retain Longitudinal Temporal
 * Information with Modified Dates, Retain Patient Characteristics, Retain
 * Device Identity, Clean Descriptors, Clean Structured Content, Clean
 * Pixel Data, Retain Safe Private with TCIA's knowledge base; captures and
 * reports kept, their text cleaned.  The birth date is cleared as in the
 * other built-ins (TCIA empties it; the age is kept).  Every built-in
 * aggregates ages of 90 or more into "090Y" (AgesOver89 "aggregate",
 * HIPAA Safe Harbor's "90 or older"), whatever keeps the age.
 */
static const oa_anon_options research_options = {
    .body_characteristics = OA_OPT_KEEP,
    .ages_over_89 = OA_OPT_AGGREGATE,
    .dates = OA_OPT_SHIFT,
    .birth_date = OA_OPT_CLEAR,
    .private_tags = OA_OPT_TCIA,
    .captures_and_reports = OA_OPT_KEEP,
    .descriptions = OA_OPT_CLEAN,
    .uids = OA_OPT_REMAP,
    .device_identity = OA_OPT_KEEP,
    .institution_identity = OA_OPT_CLEAR,
    .structured_content = OA_OPT_CLEAN,
    .graphics = OA_OPT_CLEAR,
    .burned_in_text = OA_OPT_CLEAN,
};

/* In oa_profile_base order. */
static const char *const base_names[] = { "Default", "Full", "Research" };

#define BASE_COUNT (sizeof(base_names) / sizeof(base_names[0]))

const char *oa_profile_base_name(oa_profile_base base)
{
    return (unsigned)base < BASE_COUNT ? base_names[base] : base_names[0];
}

static const oa_anon_options *base_options(oa_profile_base base)
{
    switch (base) {
    case OA_BASE_FULL: return &full_options;
    case OA_BASE_RESEARCH: return &research_options;
    default: return &default_options;
    }
}

/* The base of that name; false for another name. */
static bool base_by_name(const char *name, oa_profile_base *base)
{
    for (size_t i = 0; name != NULL && i < BASE_COUNT; i++) {
        if (strcmp(name, base_names[i]) == 0) {
            *base = (oa_profile_base)i;
            return true;
        }
    }
    return false;
}

bool oa_profile_is_builtin_name(const char *name)
{
    oa_profile_base base;

    return base_by_name(name, &base);
}

size_t oa_profile_builtin_count(void)
{
    return BASE_COUNT;
}

const char *oa_profile_builtin_name(size_t i)
{
    return i < BASE_COUNT ? base_names[i] : NULL;
}

bool oa_profile_name_is_valid(const char *name)
{
    size_t n;

    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return false;
    for (n = 0; name[n] != '\0'; n++) {
        char c = name[n];
        if (n >= OA_PROFILE_MAX_NAME)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Which PS3.15 columns the options turn on (see anonymizer.h). */
static void derive_columns(oa_profile *p)
{
    const oa_anon_options *o = &p->opts;

    memset(p->columns, 0, sizeof(p->columns));
    p->columns[OA_COL_RSP] = o->private_tags == OA_OPT_SAFE ||
                             o->private_tags == OA_OPT_TCIA;
    p->columns[OA_COL_RUID] = o->uids == OA_OPT_KEEP;
    p->columns[OA_COL_RDI] = o->device_identity == OA_OPT_KEEP;
    p->columns[OA_COL_RII] = o->institution_identity == OA_OPT_KEEP;
    p->columns[OA_COL_RPC] = o->body_characteristics == OA_OPT_KEEP;
    p->columns[OA_COL_RLFD] = o->dates == OA_OPT_KEEP;
    p->columns[OA_COL_RLMD] = o->dates == OA_OPT_SHIFT;
    p->columns[OA_COL_CD] = o->descriptions == OA_OPT_CLEAN;
    p->columns[OA_COL_CSC] = o->structured_content == OA_OPT_CLEAN;
    p->columns[OA_COL_CG] = o->graphics == OA_OPT_KEEP;
}

static oa_status profile_alloc(oa_profile **out, const char *name,
                               oa_profile_base base, oa_error *err)
{
    oa_profile *p;

    *out = NULL;
    p = oa_calloc(1, sizeof(*p));
    if (p == NULL)
        return oa_error_set(err, OA_ENOMEM, "profile: out of memory");
    p->name = oa_strdup(name != NULL ? name : "");
    if (p->name == NULL) {
        oa_free(p);
        return oa_error_set(err, OA_ENOMEM, "profile: out of memory");
    }
    p->base = base;
    p->opts = *base_options(base);
    derive_columns(p);
    *out = p;
    return OA_OK;
}

oa_status oa_profile_builtin(oa_profile **out, const char *name,
                             oa_error *err)
{
    oa_profile_base base;

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "profile: no output");
    *out = NULL;
    if (base_by_name(name, &base))
        return profile_alloc(out, name, base, err);
    return oa_error_set(err, OA_ENOTFOUND,
                        "profile: no built-in profile of that name "
                        "(expected \"Default\", \"Full\" or "
                        "\"Research\")");
}

void oa_profile_free(oa_profile *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->replace_count; i++)
        oa_free(p->replace[i].value);
    oa_free(p->replace);
    oa_free(p->keep);
    oa_free(p->remove);
    oa_free(p->blocks);
    for (size_t i = 0; i < p->pixel_rule_count; i++)
        oa_pixels_user_rule_dispose(&p->pixel_rules[i]);
    oa_free(p->pixel_rules);
    oa_free(p->name);
    oa_free(p);
}

const char *oa_profile_name(const oa_profile *p)
{
    return p != NULL && p->name != NULL ? p->name : "";
}

oa_profile_base oa_profile_get_base(const oa_profile *p)
{
    return p != NULL ? p->base : OA_BASE_DEFAULT;
}

const oa_anon_options *oa_profile_options(const oa_profile *p)
{
    return p != NULL ? &p->opts : NULL;
}

bool oa_profile__column_given(const oa_profile *p, oa_ps315_column col)
{
    static const char *const option_of[OA_PS315_COLUMN_COUNT] = {
        "PrivateTags", "Uids", "DeviceIdentity", "InstitutionIdentity",
        "BodyCharacteristics", "Dates", "Dates", "Descriptions",
        "StructuredContent", "Graphics"
    };

    if (p == NULL || (unsigned)col >= OA_PS315_COLUMN_COUNT)
        return false;
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strcmp(option_table[i].json, option_of[col]) == 0)
            return (p->given & (1u << i)) != 0;
    return false;
}

bool oa_profile_column_enabled(const oa_profile *p, oa_ps315_column col)
{
    if (p == NULL || (unsigned)col >= OA_PS315_COLUMN_COUNT)
        return false;
    return p->columns[col];
}

const oa_replace_entry *oa_profile__replace_find(const oa_profile *p,
                                                 uint32_t tag)
{
    size_t lo = 0, hi = p->replace_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->replace[mid].tag == tag)
            return &p->replace[mid];
        if (p->replace[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

static int cmp_tag(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_replace(const void *a, const void *b)
{
    uint32_t x = ((const oa_replace_entry *)a)->tag;
    uint32_t y = ((const oa_replace_entry *)b)->tag;
    return x < y ? -1 : x > y;
}

/* Sort and drop duplicates; returns the new count. */
static size_t sort_unique(uint32_t *tags, size_t n)
{
    size_t w = 0;

    if (n == 0)
        return 0;
    qsort(tags, n, sizeof(*tags), cmp_tag);
    for (size_t r = 1; r < n; r++)
        if (tags[r] != tags[w])
            tags[++w] = tags[r];
    return w + 1;
}

static bool is_private_group(uint16_t group)
{
    return (group & 1u) != 0;
}

/*
 * Parse and check one tag of a list.  `what` names the option and `index`
 * the item for the message.  The string itself is never quoted.
 */
static oa_status parse_list_tag(const char *s, const char *what,
                                size_t index, bool replace, uint32_t *out,
                                oa_error *err)
{
    uint32_t tag;
    uint16_t group, element;
    char text[12];
    const oa_dict_entry *entry;

    if (s == NULL || oa_tag_parse(s, &tag) != 0)
        return oa_error_set(err, OA_EINVAL,
                            "option \"%s\": item %zu is not a tag "
                            "\"gggg,eeee\"", what, index + 1);
    group = OA_TAG_GROUP(tag);
    element = OA_TAG_ELEMENT(tag);
    oa_tag_format(tag, text);
    if (group == 0x0000 || group == 0x0002)
        return oa_error_set(err, OA_EINVAL,
                            "option \"%s\": tag %s is in the command or file "
                            "meta group, which the writer rebuilds", what,
                            text);
    if (group == 0xFFFE)
        return oa_error_set(err, OA_EINVAL,
                            "option \"%s\": tag %s is an item delimiter, "
                            "not an attribute", what, text);
    if (element == 0x0000)
        return oa_error_set(err, OA_EINVAL,
                            "option \"%s\": tag %s is a group length, which "
                            "the writer recomputes", what, text);
    if (is_private_group(group)) {
        if (group <= 0x0007 || group == 0xFFFF)
            return oa_error_set(err, OA_EINVAL,
                                "option \"%s\": tag %s is not in a valid "
                                "private group", what, text);
        if (element < 0x0100)
            return oa_error_set(err, OA_EINVAL,
                                "option \"%s\": tag %s is a private creator "
                                "or reserved element; name a private "
                                "attribute of its block instead", what,
                                text);
        if (element < 0x1000)
            return oa_error_set(err, OA_EINVAL,
                                "option \"%s\": tag %s is not a valid "
                                "private attribute", what, text);
    }
    if (replace) {
        entry = oa_dict_lookup(tag);
        if (entry != NULL && entry->vr == OA_VR_SQ)
            return oa_error_set(err, OA_EINVAL,
                                "option \"Replace\": tag %s is a sequence; "
                                "only text values can be replaced", text);
        if (entry != NULL && !oa_vr_is_string(entry->vr)) {
            char vr[3];
            oa_vr_str(entry->vr, vr);
            return oa_error_set(err, OA_EINVAL,
                                "option \"Replace\": tag %s has VR %s; only "
                                "text values can be replaced", text, vr);
        }
    }
    *out = tag;
    return OA_OK;
}

static oa_status parse_tag_array(uint32_t **out, size_t *count,
                                 const cJSON *item, const char *what,
                                 oa_error *err)
{
    oa_status rc = OA_OK;
    uint32_t *tags = NULL;
    size_t n, i = 0;
    const cJSON *child;

    if (!cJSON_IsArray(item))
        return oa_error_set(err, OA_EINVAL,
                            "option \"%s\": expected an array of tags "
                            "\"gggg,eeee\"", what);
    n = (size_t)cJSON_GetArraySize(item);
    if (n > OA_PROFILE_MAX_TAGS)
        return oa_error_set(err, OA_ELIMIT,
                            "option \"%s\": more than %d tags", what,
                            OA_PROFILE_MAX_TAGS);
    if (n > 0) {
        tags = oa_malloc(n * sizeof(*tags));
        if (tags == NULL)
            return oa_error_set(err, OA_ENOMEM, "profile: out of memory");
    }
    cJSON_ArrayForEach(child, item) {
        if (!cJSON_IsString(child)) {
            rc = oa_error_set(err, OA_EINVAL,
                              "option \"%s\": item %zu is not a string "
                              "\"gggg,eeee\"", what, i + 1);
            goto out;
        }
        rc = parse_list_tag(child->valuestring, what, i, false, &tags[i],
                            err);
        if (rc != OA_OK)
            goto out;
        i++;
    }
    *count = sort_unique(tags, i);
    *out = tags;
    tags = NULL;
out:
    oa_free(tags);
    return rc;
}

static oa_status parse_replace(oa_profile *p, const cJSON *item,
                               oa_error *err)
{
    oa_status rc = OA_OK;
    size_t n, i = 0;
    const cJSON *child;
    oa_replace_entry *list = NULL;
    char text[12];

    if (!cJSON_IsObject(item))
        return oa_error_set(err, OA_EINVAL,
                            "option \"Replace\": expected an object "
                            "{\"gggg,eeee\": \"value\"}");
    n = (size_t)cJSON_GetArraySize(item);
    if (n > OA_PROFILE_MAX_TAGS)
        return oa_error_set(err, OA_ELIMIT,
                            "option \"Replace\": more than %d tags",
                            OA_PROFILE_MAX_TAGS);
    if (n > 0) {
        list = oa_calloc(n, sizeof(*list));
        if (list == NULL)
            return oa_error_set(err, OA_ENOMEM, "profile: out of memory");
    }
    cJSON_ArrayForEach(child, item) {
        uint32_t tag = 0;
        size_t len;

        rc = parse_list_tag(child->string, "Replace", i, true, &tag, err);
        if (rc != OA_OK)
            goto out;
        oa_tag_format(tag, text);
        if (!cJSON_IsString(child)) {
            rc = oa_error_set(err, OA_EINVAL,
                              "option \"Replace\": the value of %s is not a "
                              "string", text);
            goto out;
        }
        len = strlen(child->valuestring);
        if (len > OA_PROFILE_MAX_VALUE) {
            rc = oa_error_set(err, OA_ELIMIT,
                              "option \"Replace\": the value of %s is longer "
                              "than %d bytes", text, OA_PROFILE_MAX_VALUE);
            goto out;
        }
        list[i].tag = tag;
        list[i].value = oa_strdup(child->valuestring);
        if (list[i].value == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "profile: out of memory");
            goto out;
        }
        i++;
    }
    if (i > 1)
        qsort(list, i, sizeof(*list), cmp_replace);
    for (size_t k = 1; k < i; k++) {
        if (list[k].tag == list[k - 1].tag) {
            oa_tag_format(list[k].tag, text);
            rc = oa_error_set(err, OA_EINVAL,
                              "option \"Replace\": tag %s is given twice",
                              text);
            goto out;
        }
    }
    p->replace = list;
    p->replace_count = i;
    list = NULL;
out:
    if (list != NULL) {
        for (size_t k = 0; k < n; k++)
            oa_free(list[k].value);
        oa_free(list);
    }
    return rc;
}

/* A tag in two lists is ambiguous: refuse it. */
static oa_status check_conflicts(const oa_profile *p, oa_error *err)
{
    char text[12];

    for (size_t i = 0; i < p->keep_count; i++) {
        if (oa_anon__tag_in(p->remove, p->remove_count, p->keep[i])) {
            oa_tag_format(p->keep[i], text);
            return oa_error_set(err, OA_EINVAL,
                                "tag %s is in both \"Keep\" and \"Remove\"",
                                text);
        }
        if (oa_profile__replace_find(p, p->keep[i]) != NULL) {
            oa_tag_format(p->keep[i], text);
            return oa_error_set(err, OA_EINVAL,
                                "tag %s is in both \"Keep\" and \"Replace\"",
                                text);
        }
    }
    for (size_t i = 0; i < p->remove_count; i++) {
        if (oa_profile__replace_find(p, p->remove[i]) != NULL) {
            oa_tag_format(p->remove[i], text);
            return oa_error_set(err, OA_EINVAL,
                                "tag %s is in both \"Remove\" and "
                                "\"Replace\"", text);
        }
    }
    return OA_OK;
}

/* Private blocks named by Keep or Replace, whose creators must be kept. */
static oa_status collect_blocks(oa_profile *p, oa_error *err)
{
    size_t n = 0, max = p->keep_count + p->replace_count;

    if (max == 0)
        return OA_OK;
    p->blocks = oa_malloc(max * sizeof(*p->blocks));
    if (p->blocks == NULL)
        return oa_error_set(err, OA_ENOMEM, "profile: out of memory");
    for (size_t i = 0; i < p->keep_count; i++)
        if (is_private_group(OA_TAG_GROUP(p->keep[i])))
            p->blocks[n++] = (p->keep[i] & 0xFFFF0000u) |
                             (OA_TAG_ELEMENT(p->keep[i]) >> 8);
    for (size_t i = 0; i < p->replace_count; i++)
        if (is_private_group(OA_TAG_GROUP(p->replace[i].tag)))
            p->blocks[n++] = (p->replace[i].tag & 0xFFFF0000u) |
                             (OA_TAG_ELEMENT(p->replace[i].tag) >> 8);
    p->block_count = sort_unique(p->blocks, n);
    return OA_OK;
}

static oa_status parse_option(oa_profile *p, const option_desc *d,
                              const cJSON *item, oa_error *err)
{
    char expected[64];

    expected_values(d, expected, sizeof(expected));
    if (!cJSON_IsString(item))
        return oa_error_set(err, OA_EINVAL,
                            "option \"%s\": expected a string, one of %s",
                            d->json, expected);
    for (size_t i = 0; i < d->nvalues; i++) {
        if (strcmp(item->valuestring, oa_opt_value_name(d->values[i])) == 0) {
            *option_field(&p->opts, d) = d->values[i];
            return OA_OK;
        }
    }
    return oa_error_set(err, OA_EINVAL, "option \"%s\": expected %s",
                        d->json, expected);
}

/* "PixelRules": an array of user rules (oa_pixels_user_rule_parse). */
static oa_status parse_pixel_rules(oa_profile *p, const cJSON *item,
                                   oa_error *err)
{
    const cJSON *child;
    size_t n, i = 0;
    oa_status rc;

    if (!cJSON_IsArray(item))
        return oa_error_set(err, OA_EINVAL,
                            "option \"PixelRules\": expected an array of "
                            "rules");
    n = (size_t)cJSON_GetArraySize(item);
    if (n > OA_PROFILE_MAX_PIXEL_RULES)
        return oa_error_set(err, OA_ELIMIT,
                            "option \"PixelRules\": more than %u rules",
                            OA_PROFILE_MAX_PIXEL_RULES);
    if (n == 0)
        return OA_OK;
    p->pixel_rules = oa_calloc(n, sizeof(*p->pixel_rules));
    if (p->pixel_rules == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory (PixelRules)");
    cJSON_ArrayForEach(child, item) {
        rc = oa_pixels_user_rule_parse(child, &p->pixel_rules[i], err);
        if (rc != OA_OK)
            return oa_error_set(err, rc, "option \"PixelRules\", rule %zu: "
                                "%s", i + 1, err->msg);
        p->pixel_rule_count = ++i;
    }
    return OA_OK;
}

/* One user rule back to the JSON it was parsed from. */
static cJSON *pixel_rule_json(const oa_pixels_user_rule *r)
{
    cJSON *o = cJSON_CreateObject(), *rects;

    if (o == NULL)
        return NULL;
    if ((r->label != NULL &&
         cJSON_AddStringToObject(o, "Label", r->label) == NULL) ||
        (r->manufacturer != NULL &&
         cJSON_AddStringToObject(o, "Manufacturer", r->manufacturer) ==
             NULL) ||
        (r->model != NULL &&
         cJSON_AddStringToObject(o, "Model", r->model) == NULL) ||
        (r->rows != 0 && cJSON_AddNumberToObject(o, "Rows", r->rows) ==
                             NULL) ||
        (r->columns != 0 &&
         cJSON_AddNumberToObject(o, "Columns", r->columns) == NULL) ||
        (rects = cJSON_AddArrayToObject(o, "Rectangles")) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < r->n_rects; i++) {
        int v[4] = {(int)r->rects[i].x, (int)r->rects[i].y,
                    (int)r->rects[i].w, (int)r->rects[i].h};
        cJSON *a = cJSON_CreateIntArray(v, 4);
        if (a == NULL) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToArray(rects, a);
    }
    return o;
}

static bool str_equal(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool pixel_rule_equal(const oa_pixels_user_rule *a,
                             const oa_pixels_user_rule *b)
{
    return str_equal(a->label, b->label) &&
           str_equal(a->manufacturer, b->manufacturer) &&
           str_equal(a->model, b->model) && a->rows == b->rows &&
           a->columns == b->columns && a->n_rects == b->n_rects &&
           (a->n_rects == 0 ||
            memcmp(a->rects, b->rects, a->n_rects * sizeof(*a->rects)) ==
                0);
}

const oa_pixels_user_rule *oa_profile_pixel_rules(const oa_profile *p,
                                                  size_t *n)
{
    *n = p != NULL ? p->pixel_rule_count : 0;
    return p != NULL ? p->pixel_rules : NULL;
}

/* The base named in the JSON, before any option is applied. */
static oa_status parse_base(oa_profile_base *base, const cJSON *json,
                            oa_error *err)
{
    const cJSON *item;
    int seen = 0;

    *base = OA_BASE_DEFAULT;
    cJSON_ArrayForEach(item, json) {
        if (item->string == NULL || strcmp(item->string, "Base") != 0)
            continue;
        if (++seen > 1)
            return oa_error_set(err, OA_EINVAL,
                                "option \"Base\" is given twice");
        if (!cJSON_IsString(item) || !base_by_name(item->valuestring, base))
            return oa_error_set(err, OA_EINVAL,
                                "option \"Base\": expected \"Default\", "
                                "\"Full\" or \"Research\"");
    }
    return OA_OK;
}

oa_status oa_profile_from_json(oa_profile **out, const char *name,
                               const cJSON *json, oa_error *err)
{
    oa_status rc;
    oa_profile *p = NULL;
    oa_profile_base base;
    const cJSON *item;
    bool have_keep = false, have_remove = false, have_replace = false;
    bool have_pixel_rules = false;

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "profile: no output");
    *out = NULL;
    if (name != NULL && !oa_profile_name_is_valid(name))
        return oa_error_set(err, OA_EINVAL,
                            "profile name: expected 1 to %d letters, digits, "
                            "\"-\", \"_\" or \".\" (not starting with \".\")",
                            OA_PROFILE_MAX_NAME);
    if (!cJSON_IsObject(json))
        return oa_error_set(err, OA_EINVAL, "profile: expected a JSON object");
    rc = parse_base(&base, json, err);
    if (rc != OA_OK)
        return rc;
    rc = profile_alloc(&p, name, base, err);
    if (rc != OA_OK)
        return rc;

    cJSON_ArrayForEach(item, json) {
        const char *key = item->string != NULL ? item->string : "";
        size_t i;

        if (strcmp(key, "Base") == 0)
            continue;
        if (strcmp(key, "Keep") == 0 || strcmp(key, "Remove") == 0) {
            bool keep = key[0] == 'K';
            bool *have = keep ? &have_keep : &have_remove;
            if (*have) {
                rc = oa_error_set(err, OA_EINVAL,
                                  "option \"%s\" is given twice", key);
                goto out;
            }
            *have = true;
            rc = keep ? parse_tag_array(&p->keep, &p->keep_count, item,
                                        "Keep", err)
                      : parse_tag_array(&p->remove, &p->remove_count, item,
                                        "Remove", err);
            if (rc != OA_OK)
                goto out;
            continue;
        }
        if (strcmp(key, "Replace") == 0) {
            if (have_replace) {
                rc = oa_error_set(err, OA_EINVAL,
                                  "option \"Replace\" is given twice");
                goto out;
            }
            have_replace = true;
            rc = parse_replace(p, item, err);
            if (rc != OA_OK)
                goto out;
            continue;
        }
        if (strcmp(key, "PixelRules") == 0) {
            if (have_pixel_rules) {
                rc = oa_error_set(err, OA_EINVAL,
                                  "option \"PixelRules\" is given twice");
                goto out;
            }
            have_pixel_rules = true;
            rc = parse_pixel_rules(p, item, err);
            if (rc != OA_OK)
                goto out;
            continue;
        }
        for (i = 0; i < OPTION_COUNT; i++)
            if (strcmp(key, option_table[i].json) == 0)
                break;
        if (i == OPTION_COUNT) {
            /* The key is a JSON name chosen by the user, not DICOM data:
             * quoting it (truncated) tells them which one is wrong.  The
             * options are not listed one by one: with AgesOver89 they
             * no longer fit in a message (OA_ERROR_MSG_MAX). */
            rc = oa_error_set(err, OA_EINVAL,
                              "unknown option \"%.48s\" (options: Base, the "
                              "options that GET /anonymizer/profiles/"
                              "Default lists, PixelRules, Keep, Remove, "
                              "Replace)", key);
            goto out;
        }
        if (p->given & (1u << i)) {
            rc = oa_error_set(err, OA_EINVAL, "option \"%s\" is given twice",
                              option_table[i].json);
            goto out;
        }
        p->given |= 1u << i;
        rc = parse_option(p, &option_table[i], item, err);
        if (rc != OA_OK)
            goto out;
    }
    rc = check_conflicts(p, err);
    if (rc != OA_OK)
        goto out;
    rc = collect_blocks(p, err);
    if (rc != OA_OK)
        goto out;
    derive_columns(p);
    *out = p;
    p = NULL;
out:
    oa_profile_free(p);
    return rc;
}

oa_status oa_profile_parse(oa_profile **out, const char *name,
                           const char *text, size_t len, oa_error *err)
{
    oa_status rc;
    cJSON *json;
    const char *end = NULL;

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "profile: no output");
    *out = NULL;
    if (text == NULL)
        return oa_error_set(err, OA_EINVAL, "profile: no JSON text");
    /* cJSON_ParseWithLengthOpts: no process-global error pointer. */
    json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (json == NULL) {
        if (end != NULL && end >= text && end <= text + len)
            return oa_error_set(err, OA_EPARSE,
                                "profile: malformed JSON near byte %zu",
                                (size_t)(end - text));
        return oa_error_set(err, OA_EPARSE, "profile: malformed JSON");
    }
    rc = oa_profile_from_json(out, name, json, err);
    cJSON_Delete(json);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Serialization                                                        */

static void tag_json(uint32_t tag, char out[10])
{
    snprintf(out, 10, "%04X,%04X", (unsigned)OA_TAG_GROUP(tag),
             (unsigned)OA_TAG_ELEMENT(tag));
}

static oa_status add_tag_array(cJSON *obj, const char *key,
                               const uint32_t *tags, size_t n)
{
    char text[10];
    cJSON *arr = cJSON_AddArrayToObject(obj, key);

    if (arr == NULL)
        return OA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cJSON *s;
        tag_json(tags[i], text);
        s = cJSON_CreateString(text);
        if (s == NULL)
            return OA_ENOMEM;
        cJSON_AddItemToArray(arr, s);
    }
    return OA_OK;
}

oa_status oa_profile_to_json(cJSON **out, const oa_profile *p,
                             oa_profile_json flavour, oa_error *err)
{
    oa_status rc = OA_ENOMEM;
    cJSON *obj;
    bool all = flavour == OA_PROFILE_JSON_EFFECTIVE;
    char text[10];

    if (out == NULL || p == NULL)
        return oa_error_set(err, OA_EINVAL, "profile: no profile");
    *out = NULL;
    obj = cJSON_CreateObject();
    if (obj == NULL)
        goto out;
    if (cJSON_AddStringToObject(obj, "Base",
                                oa_profile_base_name(p->base)) == NULL)
        goto out;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const option_desc *d = &option_table[i];
        if (!all && !(p->given & (1u << i)))
            continue;
        if (cJSON_AddStringToObject(
                obj, d->json,
                oa_opt_value_name(option_get(&p->opts, d))) == NULL)
            goto out;
    }
    if ((all || p->keep_count > 0) &&
        add_tag_array(obj, "Keep", p->keep, p->keep_count) != OA_OK)
        goto out;
    if ((all || p->remove_count > 0) &&
        add_tag_array(obj, "Remove", p->remove, p->remove_count) != OA_OK)
        goto out;
    if (all || p->replace_count > 0) {
        cJSON *rep = cJSON_AddObjectToObject(obj, "Replace");
        if (rep == NULL)
            goto out;
        for (size_t i = 0; i < p->replace_count; i++) {
            tag_json(p->replace[i].tag, text);
            if (cJSON_AddStringToObject(rep, text, p->replace[i].value) ==
                NULL)
                goto out;
        }
    }
    if (all || p->pixel_rule_count > 0) {
        cJSON *rules = cJSON_AddArrayToObject(obj, "PixelRules");
        if (rules == NULL)
            goto out;
        for (size_t i = 0; i < p->pixel_rule_count; i++) {
            cJSON *r = pixel_rule_json(&p->pixel_rules[i]);
            if (r == NULL)
                goto out;
            cJSON_AddItemToArray(rules, r);
        }
    }
    *out = obj;
    obj = NULL;
    rc = OA_OK;
out:
    cJSON_Delete(obj);
    if (rc != OA_OK)
        return oa_error_set(err, rc, "profile: out of memory");
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */

bool oa_profile_equal(const oa_profile *a, const oa_profile *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (option_get(&a->opts, &option_table[i]) !=
            option_get(&b->opts, &option_table[i]))
            return false;
    if (a->keep_count != b->keep_count ||
        a->remove_count != b->remove_count ||
        a->replace_count != b->replace_count)
        return false;
    if (a->keep_count > 0 &&
        memcmp(a->keep, b->keep, a->keep_count * sizeof(*a->keep)) != 0)
        return false;
    if (a->remove_count > 0 &&
        memcmp(a->remove, b->remove, a->remove_count * sizeof(*a->remove)) !=
            0)
        return false;
    for (size_t i = 0; i < a->replace_count; i++)
        if (a->replace[i].tag != b->replace[i].tag ||
            strcmp(a->replace[i].value, b->replace[i].value) != 0)
            return false;
    if (a->pixel_rule_count != b->pixel_rule_count)
        return false;
    for (size_t i = 0; i < a->pixel_rule_count; i++)
        if (!pixel_rule_equal(&a->pixel_rules[i], &b->pixel_rules[i]))
            return false;
    return true;
}

bool oa_profile_has_deviations(const oa_profile *p)
{
    const oa_anon_options *o;

    if (p == NULL)
        return false;
    o = &p->opts;
    return o->private_tags == OA_OPT_KEEP ||
           o->descriptions == OA_OPT_KEEP ||
           o->structured_content == OA_OPT_KEEP ||
           o->birth_date == OA_OPT_KEEP || p->keep_count > 0 ||
           p->replace_count > 0;
}

size_t oa_profile_method_codes(const oa_profile *p, const char **codes,
                               size_t max)
{
    size_t n = 0;

    if (p == NULL)
        return 0;
    if (codes != NULL && n < max)
        codes[n] = "113100";
    n++;
    for (int c = 0; c < OA_PS315_COLUMN_COUNT; c++) {
        if (!p->columns[c])
            continue;
        if (codes != NULL && n < max)
            codes[n] = oa_ps315_column_code((oa_ps315_column)c);
        n++;
    }
    return n;
}

const char *oa_profile_temporal_marker(const oa_profile *p)
{
    if (p == NULL || p->opts.dates == OA_OPT_CLEAR)
        return "REMOVED";
    return p->opts.dates == OA_OPT_SHIFT ? "MODIFIED" : "UNMODIFIED";
}

bool oa_profile_drops_sop_class(const oa_profile *p, const char *uid,
                                size_t len)
{
    return p != NULL && p->opts.captures_and_reports == OA_OPT_CLEAR &&
           oa_sop_class_is_capture_or_report(uid, len);
}
