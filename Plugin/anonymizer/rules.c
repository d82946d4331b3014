/*
 * Rules: which action applies to an element under a profile.
 *
 * The tables (PS3.15 2026d) are ps315.c's.
 *
 * oa_rules_resolve() is called for every element of every instance, so it
 * allocates nothing and does a few binary searches at most: the profile's
 * lists, then Table E.1-1, then the UID lists.  The order of the checks is
 * documented in anonymizer.h; the reasons behind the less obvious choices
 * are:
 *
 *  - combined codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) take their last
 *    alternative, the one valid for the strictest Type (anonymizer.h,
 *    oa_ps315_code_action);
 *  - the date columns are looked at before the others, so that a date the
 *    Retain Device Identity column keeps (calibration dates) is shifted
 *    like every other date when Dates is "shift": a real calibration date
 *    next to shifted acquisition dates would give the shift away;
 *  - an rlmd cell on a VR that cannot be shifted (Certified Timestamp and
 *    Frame Origin Timestamp are OB, Timezone Offset From UTC is SH) falls
 *    back to the next rule instead of "shift";
 *  - private creators are kept only when their block may hold a kept
 *    attribute, since a creator alone may name a site-specific product;
 *  - PrivateTags "tcia" looks a private attribute up in TCIA's knowledge
 *    base by its path (the sequences around it, tcia.c), then in Table
 *    E.3.10-1 (which rules a block at any depth): the knowledge base keeps
 *    a Philips attribute inside Series PlanScan and not at the top level;
 *  - base "Research" adjusts the Table E.1-1 rule with TCIA's attribute
 *    list (oa_tcia__apply, tcia.c says how).
 *
 * The explain table applies the same resolution to every tag the tables
 * know, so what it shows is what the engine does.
 */
#include "anonymizer_int.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tags with settings of ours. */
#define TAG_PATIENT_NAME OA_TAG(0x0010, 0x0010)
#define TAG_PATIENT_ID OA_TAG(0x0010, 0x0020)
#define TAG_BIRTH_DATE OA_TAG(0x0010, 0x0030)
#define BIRTH_DATE_CLEARED "19000101"

/*
 * Descriptors kept by Descriptions "keep": the names of the exam (what was
 * done), as opposed to comments, histories and diagnoses (what was found
 * or said about the patient), which keep their basic action.  They are
 * kept cleaned (C) of the instance's identifying values, so that a
 * patient's name typed into a study description leaves with neither the
 * name nor a refused instance; the Keep list keeps a value verbatim.
 * Each is a row with a Clean Descriptors cell (checked by test_rules.c).
 * Sorted.
 */
static const uint32_t description_keep[] = {
    OA_TAG(0x0008, 0x1030), /* Study Description */
    OA_TAG(0x0008, 0x103E), /* Series Description */
    OA_TAG(0x0018, 0x1030), /* Protocol Name */
    OA_TAG(0x0032, 0x1060), /* Requested Procedure Description */
    OA_TAG(0x0040, 0x0254), /* Performed Procedure Step Description */
};

/* ------------------------------------------------------------------ */
/* Resolution                                                           */

static void rule_init(oa_rule *r)
{
    r->action = OA_ACTION_REMOVE;
    r->source = OA_SRC_STRUCTURE;
    r->code = OA_PS_NONE;
    r->column = -1;
    r->value = NULL;
    r->row = NULL;
    r->why = "no profile";
    r->tcia = NULL;
    r->age_aggregated = false;
}

static void rule_set(oa_rule *r, oa_action action, oa_rule_source source,
                     uint8_t code, const char *why)
{
    r->action = action;
    r->source = source;
    r->code = code;
    r->why = why;
}

static bool is_date_vr(oa_vr vr)
{
    return vr == OA_VR_DA || vr == OA_VR_DT || vr == OA_VR_TM;
}

/* The column order after the two date columns. */
static const oa_ps315_column other_columns[] = {
    OA_COL_RSP, OA_COL_RUID, OA_COL_RDI, OA_COL_RII, OA_COL_RPC,
    OA_COL_CD, OA_COL_CSC, OA_COL_CG
};

/* A row of Table E.1-1 under the profile's options. */
static void resolve_row(const oa_profile *p, const oa_ps315_row *row,
                        oa_rule *r)
{
    const uint8_t *cells = row->cells;

    r->row = row;
    if (p->columns[OA_COL_RLMD] && cells[OA_COL_RLMD] != OA_PS_NONE &&
        is_date_vr(row->vr)) {
        rule_set(r, OA_ACTION_SHIFT, OA_SRC_OPTION, cells[OA_COL_RLMD],
                 oa_ps315_column_meaning(OA_COL_RLMD));
        r->column = OA_COL_RLMD;
        return;
    }
    if (p->columns[OA_COL_RLFD] && cells[OA_COL_RLFD] != OA_PS_NONE) {
        rule_set(r, oa_ps315_code_action(cells[OA_COL_RLFD]), OA_SRC_OPTION,
                 cells[OA_COL_RLFD], oa_ps315_column_meaning(OA_COL_RLFD));
        r->column = OA_COL_RLFD;
        return;
    }
    for (size_t i = 0; i < sizeof(other_columns) / sizeof(other_columns[0]);
         i++) {
        oa_ps315_column col = other_columns[i];
        uint8_t cell = cells[col];

        if (cell == OA_PS_NONE)
            continue;
        if (col == OA_COL_CD && p->opts.descriptions == OA_OPT_KEEP &&
            oa_anon__tag_in(description_keep,
                            sizeof(description_keep) /
                                sizeof(description_keep[0]),
                            row->tag)) {
            rule_set(r, OA_ACTION_CLEAN, OA_SRC_PROFILE, OA_PS_NONE,
                     "Descriptions \"keep\" (cleaned of identity)");
            return;
        }
        if (col == OA_COL_CSC && p->opts.structured_content == OA_OPT_KEEP) {
            rule_set(r, OA_ACTION_KEEP, OA_SRC_PROFILE, OA_PS_NONE,
                     "StructuredContent \"keep\"");
            return;
        }
        if (!p->columns[col])
            continue;
        rule_set(r, oa_ps315_code_action(cell), OA_SRC_OPTION, cell,
                 oa_ps315_column_meaning(col));
        r->column = col;
        return;
    }
    rule_set(r, oa_ps315_code_action(row->basic), OA_SRC_BASIC, row->basic,
             "Basic Profile");
}

/* A kept private value: remapped if it holds an instance UID. */
static oa_action private_kept(const oa_profile *p, bool is_uid)
{
    return is_uid && p->opts.uids != OA_OPT_KEEP ? OA_ACTION_UID
                                                 : OA_ACTION_KEEP;
}

/* A kept knowledge base entry under the profile (also for explain). */
static void kb_rule(const oa_profile *p, const oa_tcia_kb_entry *e, oa_vr vr,
                    oa_rule *r)
{
    const oa_ps315_row *priv = oa_ps315__private_row();
    oa_action act;
    const char *why;

    switch (e->disp) {
    case OA_TCIA_KB_KEEP:
        act = private_kept(p, e->uid || vr == OA_VR_UI);
        why = "TCIA private tag knowledge base: k (keep)";
        break;
    case OA_TCIA_KB_HASH:
        act = OA_ACTION_HASH; /* whatever Uids says: an ID is hashed */
        why = "TCIA private tag knowledge base: h (hash)";
        break;
    case OA_TCIA_KB_OFFSET:
        act = p->opts.dates == OA_OPT_SHIFT  ? OA_ACTION_SHIFT
              : p->opts.dates == OA_OPT_KEEP ? OA_ACTION_KEEP
                                             : OA_ACTION_REMOVE;
        why = "TCIA private tag knowledge base: o (date offset)";
        break;
    default: /* na: a sequence is descended into, a value removed */
        act = vr == OA_VR_SQ ? OA_ACTION_KEEP : OA_ACTION_REMOVE;
        why = vr == OA_VR_SQ
                  ? "TCIA private tag knowledge base: na (sequence "
                    "descended into)"
                  : "TCIA private tag knowledge base: na (not a "
                    "sequence: removed)";
        break;
    }
    rule_set(r, act, OA_SRC_TCIA_PRIVATE, priv->cells[OA_COL_RSP], why);
    r->column = OA_COL_RSP;
}

/* PrivateTags "tcia": a data element by the knowledge base at its path,
 * then Table E.3.10-1. */
static void resolve_tcia(const oa_profile *p, const oa_rule_step *path,
                         size_t depth, uint32_t tag, oa_vr vr,
                         const char *creator, size_t len, oa_rule *r)
{
    char key[1024];
    const oa_tcia_kb_entry *e = NULL;
    const oa_safe_private *safe;
    const oa_ps315_row *priv = oa_ps315__private_row();

    if (oa_tcia__key(key, sizeof(key), path, depth, tag, creator, len) > 0)
        e = oa_tcia__kb_find(key);
    if (e != NULL && !(e->un_removed && vr == OA_VR_UN)) {
        kb_rule(p, e, vr, r);
        return;
    }
    safe = oa_safe_private_find(OA_TAG_GROUP(tag),
                                (uint8_t)(OA_TAG_ELEMENT(tag) & 0xFFu),
                                creator, len);
    if (safe != NULL) {
        bool is_uid = safe->remap_uid || (safe->vr == 0 && vr == OA_VR_UI);
        rule_set(r, private_kept(p, is_uid), OA_SRC_SAFE_PRIVATE,
                 priv->cells[OA_COL_RSP],
                 "safe private attribute (Table E.3.10-1)");
        r->column = OA_COL_RSP;
        return;
    }
    rule_set(r, OA_ACTION_REMOVE, OA_SRC_PRIVATE, priv->basic,
             e != NULL ? "TCIA private tag knowledge base: deleted when "
                         "read as UN"
                       : "private attribute in neither TCIA's knowledge "
                         "base nor Table E.3.10-1");
}

/* PrivateTags "tcia": a creator is kept when the knowledge base keeps
 * something of its block at this path, or Table E.3.10-1 anything of it. */
static bool tcia_keeps_block(const oa_rule_step *path, size_t depth,
                             uint32_t tag, const char *creator, size_t len)
{
    char key[1024];
    size_t n = oa_tcia__key(key, sizeof(key), path, depth, tag, creator,
                            len);

    return (n > 0 && oa_tcia__kb_has_prefix(key, n)) ||
           oa_safe_private_has_creator(OA_TAG_GROUP(tag), creator, len);
}

static void resolve_private(const oa_profile *p, const oa_rule_step *path,
                            size_t depth, uint32_t tag, oa_vr vr,
                            const char *creator, size_t len, oa_rule *r)
{
    uint16_t group = OA_TAG_GROUP(tag), element = OA_TAG_ELEMENT(tag);
    oa_opt_value policy = p->opts.private_tags;
    const oa_safe_private *safe;

    r->row = oa_ps315__private_row();
    if (group <= 0x0007 || group == 0xFFFF) {
        rule_set(r, OA_ACTION_REMOVE, OA_SRC_STRUCTURE, OA_PS_NONE,
                 "not a valid private group");
        return;
    }
    if (element == 0x0000) {
        rule_set(r, OA_ACTION_KEEP, OA_SRC_STRUCTURE, OA_PS_NONE,
                 "group length (recomputed or dropped by the writer)");
        return;
    }
    if (element < 0x0010 || (element >= 0x0100 && element < 0x1000)) {
        rule_set(r, OA_ACTION_REMOVE, OA_SRC_STRUCTURE, OA_PS_NONE,
                 "reserved private element");
        return;
    }
    if (element < 0x0100) {
        /* A private creator: kept when its block may hold kept data. */
        uint32_t block = (tag & 0xFFFF0000u) | (element & 0xFFu);
        if (policy == OA_OPT_KEEP) {
            rule_set(r, OA_ACTION_KEEP, OA_SRC_PRIVATE, OA_PS_NONE,
                     "PrivateTags \"keep\"");
        } else if (oa_anon__tag_in(p->blocks, p->block_count, block)) {
            rule_set(r, OA_ACTION_KEEP, OA_SRC_KEEP, OA_PS_NONE,
                     "creator of a block named in Keep or Replace");
        } else if (policy == OA_OPT_SAFE &&
                   oa_safe_private_has_creator(group, creator, len)) {
            rule_set(r, OA_ACTION_KEEP, OA_SRC_SAFE_PRIVATE,
                     oa_ps315__private_row()->cells[OA_COL_RSP],
                     "creator of safe private attributes (Table E.3.10-1)");
            r->column = OA_COL_RSP;
        } else if (policy == OA_OPT_TCIA &&
                   tcia_keeps_block(path, depth, tag, creator, len)) {
            rule_set(r, OA_ACTION_KEEP, OA_SRC_TCIA_PRIVATE,
                     oa_ps315__private_row()->cells[OA_COL_RSP],
                     "creator of a block with kept attributes (TCIA's "
                     "knowledge base or Table E.3.10-1)");
            r->column = OA_COL_RSP;
        } else {
            rule_set(r, OA_ACTION_REMOVE, OA_SRC_PRIVATE, oa_ps315__private_row()->basic,
                     policy == OA_OPT_SAFE
                         ? "creator of no safe private attribute"
                     : policy == OA_OPT_TCIA
                         ? "creator of no kept attribute (TCIA's knowledge "
                           "base, Table E.3.10-1)"
                         : "PrivateTags \"clear\"");
        }
        return;
    }
    if (policy == OA_OPT_TCIA) {
        resolve_tcia(p, path, depth, tag, vr, creator, len, r);
        return;
    }
    if (policy == OA_OPT_KEEP) {
        rule_set(r, private_kept(p, vr == OA_VR_UI), OA_SRC_PRIVATE,
                 OA_PS_NONE, "PrivateTags \"keep\"");
        return;
    }
    if (policy == OA_OPT_SAFE) {
        safe = oa_safe_private_find(group, (uint8_t)(element & 0xFFu),
                                    creator, len);
        if (safe != NULL) {
            bool is_uid = safe->remap_uid || (safe->vr == 0 &&
                                              vr == OA_VR_UI);
            rule_set(r, private_kept(p, is_uid), OA_SRC_SAFE_PRIVATE,
                     oa_ps315__private_row()->cells[OA_COL_RSP],
                     "safe private attribute (Table E.3.10-1)");
            r->column = OA_COL_RSP;
            return;
        }
        rule_set(r, OA_ACTION_REMOVE, OA_SRC_PRIVATE, oa_ps315__private_row()->basic,
                 "private attribute not in Table E.3.10-1");
        return;
    }
    rule_set(r, OA_ACTION_REMOVE, OA_SRC_BASIC, oa_ps315__private_row()->basic,
             "Basic Profile");
}

static void resolve(const oa_profile *p, const oa_rule_step *path,
                    size_t depth, uint32_t tag, oa_vr vr,
                    const char *creator, size_t len, oa_rule *r)
{
    const oa_replace_entry *rep;
    const oa_ps315_row *row;
    const oa_uid_class *uid;

    rep = oa_profile__replace_find(p, tag);
    if (rep != NULL) {
        rule_set(r, OA_ACTION_REPLACE, OA_SRC_REPLACE, OA_PS_NONE,
                 "Replace list");
        r->value = rep->value;
        return;
    }
    if (oa_anon__tag_in(p->remove, p->remove_count, tag)) {
        rule_set(r, OA_ACTION_REMOVE, OA_SRC_REMOVE, OA_PS_NONE,
                 "Remove list");
        return;
    }
    if (oa_anon__tag_in(p->keep, p->keep_count, tag)) {
        rule_set(r, OA_ACTION_KEEP, OA_SRC_KEEP, OA_PS_NONE, "Keep list");
        return;
    }
    if (OA_TAG_GROUP(tag) & 1u) {
        resolve_private(p, path, depth, tag, vr, creator, len, r);
        return;
    }
    if (OA_TAG_ELEMENT(tag) == 0x0000) {
        rule_set(r, OA_ACTION_KEEP, OA_SRC_STRUCTURE, OA_PS_NONE,
                 "group length (recomputed or dropped by the writer)");
        return;
    }
    row = oa_ps315__exact_find(tag);
    if (tag == TAG_PATIENT_NAME || tag == TAG_PATIENT_ID) {
        r->row = row;
        rule_set(r, OA_ACTION_PSEUDONYM, OA_SRC_PROFILE, OA_PS_NONE,
                 "pseudonym (the job's new name and ID, or generated)");
        return;
    }
    if (tag == TAG_BIRTH_DATE) {
        r->row = row;
        if (p->opts.birth_date == OA_OPT_CLEAR) {
            rule_set(r, OA_ACTION_REPLACE, OA_SRC_PROFILE, OA_PS_NONE,
                     "BirthDate \"clear\"");
            r->value = BIRTH_DATE_CLEARED;
        } else if (p->opts.dates == OA_OPT_SHIFT) {
            rule_set(r, OA_ACTION_SHIFT, OA_SRC_PROFILE, OA_PS_NONE,
                     "BirthDate \"keep\", Dates \"shift\"");
        } else {
            rule_set(r, OA_ACTION_KEEP, OA_SRC_PROFILE, OA_PS_NONE,
                     "BirthDate \"keep\"");
        }
        return;
    }
    if (row == NULL)
        row = oa_ps315__pattern_find(tag);
    if (row != NULL) {
        resolve_row(p, row, r);
        oa_tcia__apply(p, tag, r); /* base "Research" (tcia.c) */
        return;
    }
    uid = oa_ps315__uid_find(false, tag);
    if (uid != NULL) {
        rule_set(r, OA_ACTION_KEEP, OA_SRC_UID_CLASS, OA_PS_NONE,
                 "UID naming a class or scheme");
        return;
    }
    if (vr == OA_VR_UI ||
        oa_ps315__uid_find(true, tag)) {
        if (p->opts.uids == OA_OPT_KEEP)
            rule_set(r, OA_ACTION_KEEP, OA_SRC_UID_INSTANCE, OA_PS_NONE,
                     "UID not in Table E.1-1, Uids \"keep\"");
        else
            rule_set(r, OA_ACTION_UID, OA_SRC_UID_INSTANCE, OA_PS_NONE,
                     "UID not in Table E.1-1");
        return;
    }
    rule_set(r, OA_ACTION_KEEP, OA_SRC_DEFAULT, OA_PS_NONE,
             "not in Table E.1-1");
}

/*
 * AgesOver89 "aggregate": an AS value that the rules keep, whichever
 * decided (an option column, the Keep list, a kept private attribute),
 * is cleaned instead (freetext.c, oa_anon__clean_age: 90 years or more
 * become "090Y", a malformed value is removed).  HIPAA Safe Harbor
 * aggregates every age over 89 into one "90 or older" category, and
 * Retain Patient Characteristics keeps Patient's Age as it is.  The
 * keeping rule's source, code and reason stay, so the explain table says
 * both.  An AS value is one read with VR AS, or of an attribute that the
 * dictionary gives VR AS, whatever VR it was written with (a Patient's
 * Age read as UN or mislabelled LO is still an age).
 */
static void aggregate_age(const oa_profile *p, uint32_t tag, oa_vr vr,
                          oa_rule *r)
{
    if (p->opts.ages_over_89 != OA_OPT_AGGREGATE ||
        r->action != OA_ACTION_KEEP)
        return;
    if (vr != OA_VR_AS &&
        !(vr != OA_VR_SQ && !(OA_TAG_GROUP(tag) & 1u) &&
          oa_dict_vr(tag) == OA_VR_AS))
        return;
    r->action = OA_ACTION_CLEAN;
    r->age_aggregated = true;
}

oa_action oa_rules_resolve_at(const oa_profile *p, const oa_rule_step *path,
                              size_t depth, uint32_t tag, oa_vr vr,
                              const char *creator, size_t creator_len,
                              oa_rule *out)
{
    oa_rule r;

    rule_init(&r);
    if (p != NULL)
        resolve(p, path, path != NULL ? depth : 0, tag, vr, creator,
                creator_len, &r);
    if (p != NULL)
        aggregate_age(p, tag, vr, &r);
    if (out != NULL)
        *out = r;
    return r.action;
}

oa_action oa_rules_resolve(const oa_profile *p, uint32_t tag, oa_vr vr,
                           const char *creator, size_t creator_len,
                           oa_rule *out)
{
    return oa_rules_resolve_at(p, NULL, 0, tag, vr, creator, creator_len,
                               out);
}

const char *oa_rule_source_name(oa_rule_source source, int column)
{
    switch (source) {
    case OA_SRC_DEFAULT: return "PS3.15 (not in Table E.1-1)";
    case OA_SRC_BASIC: return "PS3.15 Basic Profile";
    case OA_SRC_OPTION: {
        const char *m = oa_ps315_column_meaning((oa_ps315_column)column);
        /* the column meanings are static "... Option" strings */
        return m != NULL ? m : "PS3.15 option";
    }
    case OA_SRC_PROFILE: return "profile";
    case OA_SRC_KEEP: return "Keep list";
    case OA_SRC_REMOVE: return "Remove list";
    case OA_SRC_REPLACE: return "Replace list";
    case OA_SRC_UID_CLASS: return "UID naming a class";
    case OA_SRC_UID_INSTANCE: return "UID not in Table E.1-1";
    case OA_SRC_PRIVATE: return "PrivateTags";
    case OA_SRC_SAFE_PRIVATE: return "PS3.15 Table E.3.10-1";
    case OA_SRC_STRUCTURE: return "DICOM structure";
    case OA_SRC_TCIA: return "TCIA attribute list";
    case OA_SRC_TCIA_PRIVATE: return "TCIA private tag knowledge base";
    default: return "?";
    }
}

void oa_rule_describe(const oa_rule *rule, char *out, size_t out_size)
{
    const char *why;

    if (out == NULL || out_size == 0)
        return;
    if (rule == NULL) {
        out[0] = '\0';
        return;
    }
    why = rule->why != NULL ? rule->why : "";
    if (rule->code != OA_PS_NONE)
        snprintf(out, out_size, "%s (%s)", why,
                 oa_ps315_code_str((oa_ps315_code)rule->code));
    else
        snprintf(out, out_size, "%s", why);
    if (rule->tcia != NULL && rule->source != OA_SRC_TCIA) {
        size_t n = strlen(out);
        snprintf(out + n, out_size - n, "; TCIA: %s", rule->tcia);
    }
    if (rule->age_aggregated) {
        size_t n = strlen(out);
        snprintf(out + n, out_size - n,
                 "; AgesOver89 \"aggregate\": 90 years or more become "
                 "090Y, a malformed age is removed");
    }
}

/* ------------------------------------------------------------------ */
/* Explain                                                              */

static const char *dict_keyword(uint32_t tag)
{
    const oa_dict_entry *e = oa_dict_lookup(tag);
    return e != NULL && e->keyword != NULL ? e->keyword : "";
}

static int row_cmp(const void *a, const void *b)
{
    const oa_rule_row *x = a, *y = b;

    if (x->sort_key != y->sort_key)
        return x->sort_key < y->sort_key ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

/* Is `tag` already a row (Table E.1-1 or the UID lists)? */
static bool has_own_row(uint32_t tag)
{
    return oa_ps315__exact_find(tag) != NULL ||
           oa_ps315__uid_find(false, tag) ||
           oa_ps315__uid_find(true, tag);
}

static void add_tag_row(oa_rule_row *row, const oa_profile *p, uint32_t tag,
                        oa_vr vr, const char *name)
{
    memset(row, 0, sizeof(*row));
    oa_tag_format(tag, row->tag);
    row->sort_key = tag;
    row->keyword = dict_keyword(tag);
    row->name = name;
    oa_rules_resolve(p, tag, vr, NULL, 0, &row->rule);
}

oa_status oa_rules_explain(oa_rule_row **rows, size_t *count,
                           const oa_profile *p, oa_error *err)
{
    oa_rule_row *out;
    size_t n = 0, max;

    if (rows == NULL || count == NULL || p == NULL)
        return oa_error_set(err, OA_EINVAL, "explain: no profile");
    *rows = NULL;
    *count = 0;
    max = oa_ps315_row_count() + 1 + oa_ps315__uid_count(false) +
          oa_ps315__uid_count(true) + oa_safe_private_count() +
          oa_tcia__kb_count() + p->keep_count + p->remove_count +
          p->replace_count;
    out = oa_calloc(max, sizeof(*out));
    if (out == NULL)
        return oa_error_set(err, OA_ENOMEM, "explain: out of memory");

    for (size_t i = 0; i < oa_ps315__exact_count(); i++) {
        const oa_ps315_row *row = oa_ps315_row_at(i);
        add_tag_row(&out[n++], p, row->tag, row->vr, row->name);
    }
    for (size_t i = oa_ps315__exact_count(); i < oa_ps315_row_count(); i++) {
        const oa_ps315_row *row = oa_ps315_row_at(i);
        oa_rule_row *o = &out[n++];

        snprintf(o->tag, sizeof(o->tag), "%s", row->pattern);
        o->sort_key = row->tag;
        o->name = row->name;
        rule_init(&o->rule);
        if (row == oa_ps315__private_row()) {
            /* A private attribute outside the safe table. */
            o->keyword = "";
            resolve_private(p, NULL, 0, OA_TAG(0x0009, 0x1000), 0, NULL, 0,
                            &o->rule);
        } else {
            o->keyword =
                (row->mask & 0xFFFFu) == 0xFFFFu ? dict_keyword(row->tag)
                                                 : "";
            resolve_row(p, row, &o->rule);
        }
    }
    {
        /* Private creators: the rule depends on the block's content. */
        oa_rule_row *o = &out[n++];
        snprintf(o->tag, sizeof(o->tag), "(gggg,0010-00FF)");
        o->sort_key = 0x00010010u;
        o->keyword = "";
        o->name = "Private Creator Data Elements";
        rule_init(&o->rule);
        resolve_private(p, NULL, 0, OA_TAG(0x0009, 0x0010), 0, NULL, 0,
                        &o->rule);
        if (p->opts.private_tags != OA_OPT_KEEP) {
            o->rule.code = OA_PS_NONE;
            o->rule.why = p->opts.private_tags == OA_OPT_TCIA
                              ? "kept only for a block that holds kept "
                                "attributes (TCIA's knowledge base, Table "
                                "E.3.10-1, Keep, Replace)"
                              : "kept only for a block that holds kept "
                                "attributes (Table E.3.10-1, Keep, Replace)";
        }
    }
    for (size_t i = 0; i < oa_ps315__uid_count(false); i++)
        add_tag_row(&out[n++], p, oa_ps315__uid_at(false, i)->tag, OA_VR_UI,
                    oa_ps315__uid_at(false, i)->kind);
    for (size_t i = 0; i < oa_ps315__uid_count(true); i++)
        add_tag_row(&out[n++], p, oa_ps315__uid_at(true, i)->tag, OA_VR_UI,
                    "instance UID");
    if (p->opts.private_tags == OA_OPT_TCIA) {
        for (size_t i = 0; i < oa_tcia__kb_count(); i++) {
            const oa_tcia_kb_entry *e = oa_tcia__kb_at(i);
            oa_rule_row *o = &out[n++];

            snprintf(o->tag, sizeof(o->tag), "(%04X,xx%02X)",
                     (unsigned)e->group, (unsigned)e->element);
            o->sort_key = OA_TAG(e->group, 0x1000u | e->element);
            o->keyword = "";
            o->name = e->name;
            o->creator = e->creator;
            /* a nested entry shows its path */
            o->path = strstr(e->key, ")(") != NULL ? e->key : NULL;
            rule_init(&o->rule);
            kb_rule(p, e, e->seq && e->disp == OA_TCIA_KB_NA ? OA_VR_SQ
                          : e->uid                          ? OA_VR_UI
                                                            : 0,
                    &o->rule);
        }
    }
    if (p->opts.private_tags == OA_OPT_SAFE ||
        p->opts.private_tags == OA_OPT_TCIA) {
        for (size_t i = 0; i < oa_safe_private_count(); i++) {
            const oa_safe_private *s = oa_safe_private_at(i);
            uint32_t tag = OA_TAG(s->group, 0x1000u | s->element);
            oa_rule_row *o = &out[n++];

            snprintf(o->tag, sizeof(o->tag), "(%04X,xx%02X)",
                     (unsigned)s->group, (unsigned)s->element);
            o->sort_key = tag;
            o->keyword = "";
            o->name = "Safe Private Attribute";
            o->creator = s->creator;
            oa_rules_resolve(p, tag, s->vr, s->creator, strlen(s->creator),
                             &o->rule);
        }
    }
    for (size_t i = 0; i < p->keep_count; i++)
        if (!has_own_row(p->keep[i]))
            add_tag_row(&out[n++], p, p->keep[i], 0, "");
    for (size_t i = 0; i < p->remove_count; i++)
        if (!has_own_row(p->remove[i]))
            add_tag_row(&out[n++], p, p->remove[i], 0, "");
    for (size_t i = 0; i < p->replace_count; i++)
        if (!has_own_row(p->replace[i].tag))
            add_tag_row(&out[n++], p, p->replace[i].tag, 0, "");

    qsort(out, n, sizeof(*out), row_cmp);
    *rows = out;
    *count = n;
    return OA_OK;
}

oa_status oa_rules_explain_json(cJSON **out, const oa_profile *p,
                                oa_error *err)
{
    oa_status rc;
    oa_rule_row *rows = NULL;
    size_t count = 0;
    cJSON *arr = NULL;
    char reason[256];

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "explain: no output");
    *out = NULL;
    rc = oa_rules_explain(&rows, &count, p, err);
    if (rc != OA_OK)
        return rc;
    rc = OA_ENOMEM;
    arr = cJSON_CreateArray();
    if (arr == NULL)
        goto out;
    for (size_t i = 0; i < count; i++) {
        const oa_rule_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL)
            goto out;
        cJSON_AddItemToArray(arr, o);
        oa_rule_describe(&r->rule, reason, sizeof(reason));
        if (cJSON_AddStringToObject(o, "Tag", r->tag) == NULL ||
            cJSON_AddStringToObject(o, "Keyword", r->keyword) == NULL ||
            cJSON_AddStringToObject(o, "Name",
                                    r->name != NULL ? r->name : "") ==
                NULL ||
            cJSON_AddStringToObject(o, "Action",
                                    oa_action_name(r->rule.action)) == NULL ||
            cJSON_AddStringToObject(o, "Reason", reason) == NULL)
            goto out;
        if (cJSON_AddStringToObject(
                o, "Source",
                oa_rule_source_name(r->rule.source, r->rule.column)) ==
            NULL)
            goto out;
        if (r->creator != NULL &&
            cJSON_AddStringToObject(o, "PrivateCreator", r->creator) == NULL)
            goto out;
        if (r->path != NULL &&
            cJSON_AddStringToObject(o, "Path", r->path) == NULL)
            goto out;
        if (r->rule.tcia != NULL &&
            cJSON_AddStringToObject(o, "TCIA", r->rule.tcia) == NULL)
            goto out;
        if (r->rule.value != NULL &&
            cJSON_AddStringToObject(o, "Value", r->rule.value) == NULL)
            goto out;
    }
    if (oa_anon__explain_pixels_json(arr, p) != OA_OK)
        goto out;
    *out = arr;
    arr = NULL;
    rc = OA_OK;
out:
    cJSON_Delete(arr);
    oa_free(rows);
    if (rc != OA_OK)
        return oa_error_set(err, rc, "explain: out of memory");
    return OA_OK;
}
