/*
 * Unit tests of TCIA's conventions (Plugin/anonymizer/tcia.c): the
 * built-in profile "Research" (TCIA's attribute list on top of PS3.15) and
 * PrivateTags "tcia" (TCIA's Private Tag Knowledge Base by creator and
 * path), in the rules and through the engine on hand-built instances with
 * GE, Siemens and Philips private blocks, nested ones included.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "anonymizer/anonymizer.h"
#include "anonymizer/anonymizer_int.h"
#include "dicom_bytes.h"

#define T(g, e) OA_TAG(0x##g, 0x##e)
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define PT_CLASS "1.2.840.10008.5.1.4.1.1.128"
#define SR_CLASS "1.2.840.10008.5.1.4.1.1.88.22"

#define GE_PET "GEMS_PETD_01"
#define GE_IIS "GEIIS_RA1000"
#define SIEMENS_MR "SIEMENS MR HEADER"
#define PHILIPS_DD1 "Philips Imaging DD 001"
#define PHILIPS_MR1 "Philips MR Imaging DD 001"

static oa_profile *builtin(const char *name)
{
    oa_profile *p = NULL;
    assert_int_equal(oa_profile_builtin(&p, name, NULL), OA_OK);
    return p;
}

static oa_profile *profile(const char *json)
{
    oa_profile *p = NULL;
    oa_error err;

    oa_error_clear(&err);
    if (oa_profile_parse(&p, "t", json, strlen(json), &err) != OA_OK)
        fail_msg("%s: %s", json, err.msg);
    return p;
}

static oa_rule_step step(uint32_t tag, const char *creator)
{
    oa_rule_step s;
    s.tag = tag;
    s.creator = creator;
    s.creator_len = creator != NULL ? strlen(creator) : 0;
    return s;
}

/* The rule of a private element in `path`. */
static oa_action at(const oa_profile *p, const oa_rule_step *path,
                    size_t depth, uint32_t tag, oa_vr vr,
                    const char *creator, oa_rule *r)
{
    return oa_rules_resolve_at(p, path, depth, tag, vr, creator,
                               creator != NULL ? strlen(creator) : 0, r);
}

/* ------------------------------------------------------------------ */
/* The profile                                                          */

static void test_research_is_a_builtin_with_its_options(void **state)
{
    oa_profile *p = builtin("Research");
    const oa_anon_options *o = oa_profile_options(p);
    const char *codes[16];
    size_t n;

    (void)state;
    assert_true(oa_profile_is_builtin_name("Research"));
    assert_int_equal(oa_profile_builtin_count(), 3);
    assert_string_equal(oa_profile_builtin_name(2), "Research");
    assert_null(oa_profile_builtin_name(3));
    assert_int_equal(oa_profile_get_base(p), OA_BASE_RESEARCH);
    assert_string_equal(oa_profile_base_name(OA_BASE_RESEARCH), "Research");
    assert_int_equal(o->dates, OA_OPT_SHIFT);
    assert_int_equal(o->body_characteristics, OA_OPT_KEEP);
    assert_int_equal(o->device_identity, OA_OPT_KEEP);
    assert_int_equal(o->descriptions, OA_OPT_CLEAN);
    assert_int_equal(o->structured_content, OA_OPT_CLEAN);
    assert_int_equal(o->private_tags, OA_OPT_TCIA);
    assert_int_equal(o->captures_and_reports, OA_OPT_KEEP);
    assert_int_equal(o->burned_in_text, OA_OPT_CLEAN);
    assert_int_equal(o->institution_identity, OA_OPT_CLEAR);
    /* SC and SR are kept (and cleaned), not dropped */
    assert_false(oa_profile_drops_sop_class(p, SR_CLASS, strlen(SR_CLASS)));
    /* 113100, rsp, rdi, rpc, rlmd, cd, csc: no deviation claimed */
    n = oa_profile_method_codes(p, codes, 16);
    assert_int_equal(n, 7);
    assert_string_equal(codes[0], "113100");
    assert_string_equal(codes[1], "113111"); /* Retain Safe Private */
    assert_false(oa_profile_has_deviations(p));
    assert_string_equal(oa_profile_temporal_marker(p), "MODIFIED");
    oa_profile_free(p);
}

static void test_research_json_round_trip_and_base(void **state)
{
    oa_profile *p = profile("{\"Base\": \"Research\", \"Dates\": \"keep\"}");
    oa_profile *q = NULL;
    cJSON *json = NULL;
    char *text;

    (void)state;
    assert_int_equal(oa_profile_get_base(p), OA_BASE_RESEARCH);
    assert_int_equal(oa_profile_options(p)->dates, OA_OPT_KEEP);
    assert_int_equal(oa_profile_options(p)->private_tags, OA_OPT_TCIA);
    assert_int_equal(oa_profile_to_json(&json, p, OA_PROFILE_JSON_OVERRIDES,
                                        NULL),
                     OA_OK);
    text = cJSON_PrintUnformatted(json);
    assert_string_equal(text, "{\"Base\":\"Research\",\"Dates\":\"keep\"}");
    assert_int_equal(oa_profile_parse(&q, "t", text, strlen(text), NULL),
                     OA_OK);
    assert_true(oa_profile_equal(p, q));
    free(text);
    cJSON_Delete(json);
    oa_profile_free(q);
    oa_profile_free(p);
    /* "tcia" is a PrivateTags value of any base */
    p = profile("{\"Base\": \"Full\", \"PrivateTags\": \"tcia\"}");
    assert_true(oa_profile_column_enabled(p, OA_COL_RSP));
    oa_profile_free(p);
}

static void assert_rule(const oa_profile *p, uint32_t tag, oa_vr vr,
                        oa_action want, oa_rule_source source,
                        const char *tcia)
{
    oa_rule r;
    char text[12];

    oa_rules_resolve(p, tag, vr, NULL, 0, &r);
    oa_tag_format(tag, text);
    if (r.action != want || r.source != source)
        fail_msg("%s: %s from %s, expected %s from %s", text,
                 oa_action_name(r.action),
                 oa_rule_source_name(r.source, r.column),
                 oa_action_name(want), oa_rule_source_name(source, -1));
    if (tcia == NULL)
        assert_null(r.tcia);
    else if (r.tcia == NULL || strcmp(r.tcia, tcia) != 0)
        fail_msg("%s: TCIA %s, expected %s", text,
                 r.tcia ? r.tcia : "none", tcia);
}

static void test_research_reads_tcia_on_top_of_ps315(void **state)
{
    oa_profile *p = builtin("Research");
    oa_profile *d = builtin("Default");
    oa_rule r;
    char why[192];

    (void)state;
    /* what TCIA removes and the options would clean: removed */
    assert_rule(p, T(0010, 2180), OA_VR_SH, OA_ACTION_REMOVE, OA_SRC_TCIA,
                "remove"); /* Occupation */
    assert_rule(p, T(0032, 4000), OA_VR_LT, OA_ACTION_REMOVE, OA_SRC_TCIA,
                "remove"); /* Study Comments */
    assert_rule(p, T(0020, 4000), OA_VR_LT, OA_ACTION_REMOVE, OA_SRC_TCIA,
                "remove"); /* Image Comments */
    assert_rule(p, T(0010, 2110), OA_VR_LO, OA_ACTION_REMOVE, OA_SRC_TCIA,
                "remove"); /* Allergies (rpc C) */
    /* ... the Basic Profile's way: Z where the Type needs it */
    assert_rule(p, T(3010, 007A), OA_VR_UT, OA_ACTION_EMPTY, OA_SRC_TCIA,
                "remove");
    /* Retain Device Identity wins over TCIA's remove */
    assert_rule(p, T(0018, 1000), OA_VR_LO, OA_ACTION_KEEP, OA_SRC_OPTION,
                "remove"); /* Device Serial Number */
    assert_rule(p, T(0008, 1010), OA_VR_SH, OA_ACTION_KEEP, OA_SRC_OPTION,
                "remove"); /* Station Name */
    /* what researchers need */
    assert_rule(p, T(0010, 0040), OA_VR_CS, OA_ACTION_KEEP, OA_SRC_OPTION,
                "keep");
    /* the age: kept by Retain Patient Characteristics and TCIA, ages of 90
     * or more aggregated (AgesOver89 "aggregate": cleaned to 090Y) */
    assert_rule(p, T(0010, 1010), OA_VR_AS, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep");
    assert_rule(p, T(0010, 1030), OA_VR_DS, OA_ACTION_KEEP, OA_SRC_OPTION,
                "keep");
    assert_rule(p, T(0008, 0032), OA_VR_TM, OA_ACTION_SHIFT, OA_SRC_OPTION,
                "time"); /* a whole-day shift keeps the time */
    assert_rule(p, T(0008, 0020), OA_VR_DA, OA_ACTION_SHIFT, OA_SRC_OPTION,
                "incrementdate");
    /* descriptors and Type 1 labels with clinical meaning: cleaned, never
     * a dummy or empty */
    assert_rule(p, T(0008, 1030), OA_VR_LO, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep");
    assert_rule(p, T(3006, 0002), OA_VR_SH, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep"); /* Structure Set Label */
    assert_rule(p, T(3006, 0026), OA_VR_LO, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep"); /* ROI Name */
    assert_rule(p, T(300A, 0002), OA_VR_SH, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep"); /* RT Plan Label */
    assert_rule(p, T(0010, 21B0), OA_VR_LT, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep"); /* Additional Patient History */
    assert_rule(p, T(0010, 2000), OA_VR_LO, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "keep"); /* Medical Alerts */
    assert_rule(p, T(0040, A730), OA_VR_SQ, OA_ACTION_CLEAN, OA_SRC_OPTION,
                "process"); /* SR Content Sequence */
    /* the reason names both */
    oa_rules_resolve(p, T(0018, 1000), OA_VR_LO, NULL, 0, &r);
    oa_rule_describe(&r, why, sizeof(why));
    assert_string_equal(why, "Retain Device Identity Option (K); TCIA: "
                             "remove");
    assert_string_equal(oa_rule_source_name(r.source, r.column),
                        "Retain Device Identity Option");
    oa_rules_resolve(p, T(0010, 2180), OA_VR_SH, NULL, 0, &r);
    oa_rule_describe(&r, why, sizeof(why));
    assert_string_equal(why, "TCIA attribute list \"remove\" (X)");
    /* other bases do not read TCIA's list: Default cleans Occupation
     * (Clean Descriptors) where Research removes it */
    assert_rule(d, T(0010, 2180), OA_VR_SH, OA_ACTION_CLEAN, OA_SRC_OPTION,
                NULL);
    oa_profile_free(p);
    oa_profile_free(d);
}

static void test_research_options_given_win_over_tcia(void **state)
{
    oa_profile *clean = profile("{\"Base\": \"Research\", "
                                "\"Descriptions\": \"clean\"}");
    oa_profile *nodev = profile("{\"Base\": \"Research\", "
                                "\"DeviceIdentity\": \"clear\"}");
    oa_profile *inst = profile("{\"Base\": \"Research\", "
                               "\"InstitutionIdentity\": \"keep\"}");

    (void)state;
    /* Clean Descriptors asked for: Image Comments cleaned, not removed */
    assert_rule(clean, T(0020, 4000), OA_VR_LT, OA_ACTION_CLEAN,
                OA_SRC_OPTION, "remove");
    /* not asked for: TCIA's remove still applies to Allergies (rpc) */
    assert_rule(clean, T(0010, 2110), OA_VR_LO, OA_ACTION_REMOVE,
                OA_SRC_TCIA, "remove");
    assert_rule(nodev, T(0018, 1000), OA_VR_LO, OA_ACTION_DUMMY,
                OA_SRC_BASIC, "remove"); /* X/Z/D */
    assert_rule(inst, T(0008, 0080), OA_VR_LO, OA_ACTION_KEEP,
                OA_SRC_OPTION, "remove"); /* Institution Name */
    oa_profile_free(clean);
    oa_profile_free(nodev);
    oa_profile_free(inst);
}

/*
 * tcia.c's claims on TCIA's list under "Research": keep, time and
 * incrementdate are what the options already do (the value stays, cleaned
 * or shifted); hashuid, empty and hashname discard the value (unless
 * Retain Device Identity keeps it); remove discards it (same exception);
 * replace (TCIA's own values) leaves PS3.15's action.  Checked on every
 * row of the rule table.
 */
static void test_tcia_list_claims_hold_on_every_row(void **state)
{
    oa_profile *p = builtin("Research");
    oa_rule_row *rows = NULL;
    size_t n = 0, named = 0, removed_by_tcia = 0;

    (void)state;
    assert_int_equal(oa_rules_explain(&rows, &n, p, NULL), OA_OK);
    for (size_t i = 0; i < n; i++) {
        const oa_rule *r = &rows[i].rule;
        bool keeps = r->action == OA_ACTION_KEEP ||
                     r->action == OA_ACTION_CLEAN ||
                     r->action == OA_ACTION_SHIFT;
        bool device = r->row != NULL &&
                      r->row->cells[OA_COL_RDI] != OA_PS_NONE;

        if (r->tcia == NULL)
            continue;
        named++;
        removed_by_tcia += r->source == OA_SRC_TCIA;
        if (strcmp(r->tcia, "keep") == 0 || strcmp(r->tcia, "time") == 0 ||
            strcmp(r->tcia, "incrementdate") == 0) {
            if (!keeps)
                fail_msg("%s: TCIA %s but %s", rows[i].tag, r->tcia,
                         oa_action_name(r->action));
        } else if (strcmp(r->tcia, "process") != 0 &&
                   strcmp(r->tcia, "lookup") != 0 &&
                   strcmp(r->tcia, "replace") != 0) {
            if (keeps && !device)
                fail_msg("%s: TCIA %s but %s", rows[i].tag, r->tcia,
                         oa_action_name(r->action));
        }
    }
    /* the 603 attributes of the list that are single tags, less those
     * the table does not list as rows of their own */
    assert_true(named > 550);
    assert_int_equal(removed_by_tcia, 33);
    oa_free(rows);
    oa_profile_free(p);
}

/* ------------------------------------------------------------------ */
/* The knowledge base in the rules                                      */

static void test_kb_ge_block(void **state)
{
    oa_profile *p = builtin("Research");
    oa_rule r;

    (void)state;
    /* k, h, o, and an attribute TCIA deletes */
    assert_int_equal(at(p, NULL, 0, T(0009, 1001), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_TCIA_PRIVATE);
    assert_int_equal(at(p, NULL, 0, T(0009, 1007), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_HASH);
    assert_int_equal(at(p, NULL, 0, T(0009, 1005), OA_VR_DT, GE_PET, &r),
                     OA_ACTION_SHIFT);
    assert_string_equal(r.why,
                        "TCIA private tag knowledge base: o (date offset)");
    assert_int_equal(at(p, NULL, 0, T(0009, 1002), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_REMOVE);
    /* the block's number does not matter, the creator does */
    assert_int_equal(at(p, NULL, 0, T(0009, 1201), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, NULL, 0, T(0009, 1001), OA_VR_LO,
                        "GEMS_PETD_02", &r),
                     OA_ACTION_REMOVE);
    /* kept as LO, deleted as UN (TCIA could not read it) */
    assert_int_equal(at(p, NULL, 0, T(0009, 1037), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, NULL, 0, T(0009, 1037), OA_VR_UN, GE_PET, &r),
                     OA_ACTION_REMOVE);
    /* a kept UI value is remapped */
    assert_int_equal(at(p, NULL, 0, T(0009, 10AE), OA_VR_UI, GE_PET, &r),
                     OA_ACTION_UID);
    /* creators: kept for a block with kept attributes, with spaces */
    assert_int_equal(at(p, NULL, 0, T(0009, 0010), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_TCIA_PRIVATE);
    assert_int_equal(at(p, NULL, 0, T(0009, 0012), OA_VR_LO,
                        " " GE_PET "  ", &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, NULL, 0, T(0009, 0010), OA_VR_LO,
                        "ACME SECRETS", &r),
                     OA_ACTION_REMOVE);
    /* no creator: removed */
    assert_int_equal(at(p, NULL, 0, T(0009, 1001), OA_VR_LO, NULL, &r),
                     OA_ACTION_REMOVE);
    oa_profile_free(p);
}

static void test_kb_siemens_and_philips_blocks(void **state)
{
    oa_profile *p = builtin("Research");
    oa_rule_step path[3];
    oa_rule r;

    (void)state;
    /* Siemens MR header: B value kept, the CSA report type deleted */
    assert_int_equal(at(p, NULL, 0, T(0019, 100C), OA_VR_IS, SIEMENS_MR,
                        &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, NULL, 0, T(0029, 1008), OA_VR_CS,
                        "SIEMENS CSA REPORT", &r),
                     OA_ACTION_REMOVE);
    /* Philips MR: Diffusion Direction RL kept at the top level */
    assert_int_equal(at(p, NULL, 0, T(2005, 10B0), OA_VR_FL, PHILIPS_MR1,
                        &r),
                     OA_ACTION_KEEP);
    /* a Philips attribute by its path: kept in Series PlanScan (a
     * private sequence), deleted at the top level */
    path[0] = step(T(2005, 1080), PHILIPS_MR1);
    assert_int_equal(at(p, path, 1, T(2005, 103F), OA_VR_IS, PHILIPS_MR1,
                        &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_TCIA_PRIVATE);
    assert_int_equal(at(p, path, 1, T(2005, 0010), OA_VR_LO, PHILIPS_MR1,
                        &r),
                     OA_ACTION_KEEP); /* its creator in the item */
    assert_int_equal(at(p, NULL, 0, T(2005, 103F), OA_VR_IS, PHILIPS_MR1,
                        &r),
                     OA_ACTION_REMOVE);
    /* Linear Modality GL Transform: kept by the knowledge base in
     * Radiopharmaceutical Information Sequence; in Referenced Series >
     * Referenced Image Sequence TCIA deletes it, but Table E.3.10-1
     * (which knows no depth) lists it as safe: kept too */
    path[0] = step(T(0054, 0016), NULL);
    assert_int_equal(at(p, path, 1, T(2001, 10C1), OA_VR_LO, PHILIPS_DD1,
                        &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_TCIA_PRIVATE);
    path[0] = step(T(0008, 1115), NULL);
    path[1] = step(T(0008, 1140), NULL);
    assert_int_equal(at(p, path, 2, T(2001, 10C1), OA_VR_LO, PHILIPS_DD1,
                        &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_SAFE_PRIVATE);
    /* an attribute of the block neither lists */
    assert_int_equal(at(p, path, 2, T(2001, 10A0), OA_VR_LO, PHILIPS_DD1,
                        &r),
                     OA_ACTION_REMOVE);
    /* a GE attribute inside Referenced Image Sequence that TCIA keeps */
    assert_int_equal(at(p, path, 2, T(0009, 1001), OA_VR_CS, GE_IIS, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, path, 2, T(0009, 0010), OA_VR_LO, GE_IIS, &r),
                     OA_ACTION_KEEP);
    /* at the top level the same attribute is not kept */
    assert_int_equal(at(p, NULL, 0, T(0009, 1001), OA_VR_CS, GE_IIS, &r),
                     OA_ACTION_REMOVE);
    /* a private sequence step: Siemens advanced presentation */
    path[0] = step(T(0029, 1002), "SIEMENS SYNGO ADVANCED PRESENTATION");
    assert_int_equal(at(p, path, 1, T(0029, 1000), OA_VR_LO,
                        "SIEMENS SYNGO ADVANCED PRESENTATION", &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, NULL, 0, T(0029, 1002), OA_VR_SQ,
                        "SIEMENS SYNGO ADVANCED PRESENTATION", &r),
                     OA_ACTION_KEEP);
    /* the step's creator must be known */
    path[0] = step(T(0029, 1002), NULL);
    assert_int_equal(at(p, path, 1, T(0029, 1000), OA_VR_LO,
                        "SIEMENS SYNGO ADVANCED PRESENTATION", &r),
                     OA_ACTION_REMOVE);
    oa_profile_free(p);
}

static void test_kb_and_the_safe_list_and_other_policies(void **state)
{
    oa_profile *p = builtin("Research");
    oa_profile *safe = profile("{\"Base\": \"Research\", "
                               "\"PrivateTags\": \"safe\"}");
    oa_profile *uids = profile("{\"Base\": \"Research\", "
                               "\"Uids\": \"keep\"}");
    oa_profile *nodates = profile("{\"Base\": \"Research\", "
                                  "\"Dates\": \"clear\"}");
    oa_rule_step deep[OA_RULE_MAX_PATH + 1];
    oa_rule r;

    (void)state;
    /* Table E.3.10-1 too: Philips PET SUV factor, and one TCIA deletes
     * that the standard lists as safe */
    assert_int_equal(at(p, NULL, 0, T(7053, 1000), OA_VR_DS,
                        "Philips PET Private Group", &r),
                     OA_ACTION_KEEP);
    assert_int_equal(at(p, NULL, 0, T(2001, 1067), OA_VR_CS, PHILIPS_DD1,
                        &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_SAFE_PRIVATE);
    /* "safe" knows nothing of TCIA's knowledge base */
    assert_int_equal(at(safe, NULL, 0, T(0009, 1001), OA_VR_LO, GE_PET, &r),
                     OA_ACTION_REMOVE);
    /* h whatever Uids says (an ID is hashed); o without dates: removed */
    assert_int_equal(at(uids, NULL, 0, T(0019, 101A), OA_VR_UI,
                        "MMCPrivate", &r),
                     OA_ACTION_HASH);
    assert_int_equal(at(p, NULL, 0, T(0019, 101A), OA_VR_UI, "MMCPrivate",
                        &r),
                     OA_ACTION_HASH);
    assert_int_equal(at(nodates, NULL, 0, T(0009, 1005), OA_VR_DT, GE_PET,
                        &r),
                     OA_ACTION_REMOVE);
    /* deeper than any entry: removed */
    for (size_t i = 0; i <= OA_RULE_MAX_PATH; i++)
        deep[i] = step(T(0054, 0016), NULL);
    assert_int_equal(at(p, deep, OA_RULE_MAX_PATH, T(0009, 1001),
                        OA_VR_CS, GE_IIS, &r),
                     OA_ACTION_REMOVE);
    oa_profile_free(p);
    oa_profile_free(safe);
    oa_profile_free(uids);
    oa_profile_free(nodates);
}

/* The figures doc/anonymization.md gives, and the table's order. */
static void test_kb_table(void **state)
{
    size_t un = 0, nested = 0;
    char key[256];
    oa_rule_step path[1];

    (void)state;
    assert_int_equal(oa_tcia__kb_count(), 2411);
    for (size_t i = 0; i < oa_tcia__kb_count(); i++) {
        const oa_tcia_kb_entry *e = oa_tcia__kb_at(i);
        un += e->un_removed;
        nested += strstr(e->key, ")(") != NULL;
        if (i > 0)
            assert_true(strcmp(oa_tcia__kb_at(i - 1)->key, e->key) < 0);
        assert_ptr_equal(oa_tcia__kb_find(e->key), e);
    }
    assert_int_equal(un, 70);
    assert_int_equal(nested, 475); /* inside sequences */
    assert_null(oa_tcia__kb_at(oa_tcia__kb_count()));
    /* the key: hex in lower case, creators trimmed and escaped */
    path[0] = step(T(0029, 10A9), "  Odd \"Vendor\\ ");
    assert_int_equal(oa_tcia__key(key, sizeof(key), path, 1, T(0029, 10C1),
                                  "X", 1),
                     strlen("(0029,\"Odd \\\"Vendor\\\\\",a9)"
                            "(0029,\"X\",c1)"));
    assert_string_equal(key, "(0029,\"Odd \\\"Vendor\\\\\",a9)"
                             "(0029,\"X\",c1)");
    /* the prefix of a creator's block */
    assert_true(oa_tcia__key(key, sizeof(key), NULL, 0, T(0009, 0010),
                             GE_PET, strlen(GE_PET)) > 0);
    assert_string_equal(key, "(0009,\"" GE_PET "\",");
    assert_true(oa_tcia__kb_has_prefix(key, strlen(key)));
    /* no key: no creator, a public leaf, too small a buffer */
    assert_int_equal(oa_tcia__key(key, sizeof(key), NULL, 0, T(0009, 1001),
                                  NULL, 0),
                     0);
    assert_int_equal(oa_tcia__key(key, sizeof(key), NULL, 0, T(0008, 0070),
                                  "X", 1),
                     0);
    assert_int_equal(oa_tcia__key(key, 8, NULL, 0, T(0009, 1001), GE_PET,
                                  strlen(GE_PET)),
                     0);
}

static void test_explain_shows_sources_and_paths(void **state)
{
    oa_profile *p = builtin("Research");
    cJSON *rows = NULL, *row;
    bool seen_tcia = false, seen_kb_path = false, seen_ps315 = false;
    size_t kb = 0;

    (void)state;
    assert_int_equal(oa_rules_explain_json(&rows, p, NULL), OA_OK);
    cJSON_ArrayForEach(row, rows) {
        const cJSON *src = cJSON_GetObjectItem(row, "Source");
        const cJSON *path = cJSON_GetObjectItem(row, "Path");
        const cJSON *tag = cJSON_GetObjectItem(row, "Tag");

        if (strcmp(tag->valuestring, "(7FE0,0010)") == 0 && src == NULL)
            continue; /* pixel rules carry a Source of their own kind */
        assert_true(cJSON_IsString(src));
        if (strcmp(tag->valuestring, "(0010,2180)") == 0) {
            assert_string_equal(src->valuestring, "TCIA attribute list");
            assert_string_equal(cJSON_GetObjectItem(row, "Action")
                                    ->valuestring,
                                "remove");
            seen_tcia = true;
        }
        if (strcmp(tag->valuestring, "(0010,0040)") == 0) {
            assert_string_equal(src->valuestring,
                                "Retain Patient Characteristics Option");
            assert_string_equal(cJSON_GetObjectItem(row, "TCIA")
                                    ->valuestring,
                                "keep");
            seen_ps315 = true;
        }
        if (strcmp(src->valuestring, "TCIA private tag knowledge base") ==
                0 &&
            cJSON_GetObjectItem(row, "PrivateCreator") != NULL)
            kb++;
        if (path != NULL &&
            strcmp(path->valuestring,
                   "(0054,0016)(2001,\"Philips Imaging DD 001\",c1)") == 0) {
            assert_string_equal(cJSON_GetObjectItem(row, "Tag")->valuestring,
                                "(2001,xxC1)");
            seen_kb_path = true;
        }
    }
    assert_true(seen_tcia && seen_ps315 && seen_kb_path);
    assert_true(kb >= 2411);
    cJSON_Delete(rows);
    oa_profile_free(p);
}

/* ------------------------------------------------------------------ */
/* Through the engine                                                   */

typedef struct trace {
    oa_buf b;
} trace;

static oa_status tr_element(void *u, const oa_element *el, oa_error *e)
{
    trace *t = u;
    char tag[12], vr[3];
    size_t n = el->length;

    (void)e;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    if (!oa_vr_is_string(el->vr) && el->vr != OA_VR_UN)
        n = 0;
    oa_buf_printf(&t->b, "%u %s %s [%.*s]\n", el->depth, tag, vr,
                  (int)oa_value_trim(el->value, n), (const char *)el->value);
    return OA_OK;
}

static oa_status tr_seq(void *u, const oa_element *el, oa_error *e)
{
    trace *t = u;
    char tag[12];

    (void)e;
    oa_tag_format(el->tag, tag);
    oa_buf_printf(&t->b, "%u %s SQ\n", el->depth, tag);
    return OA_OK;
}

static bool has(trace *t, const char *line)
{
    return strstr(oa_buf_cstr(&t->b), line) != NULL;
}

/* A PET instance with GE, Siemens and Philips blocks, nested ones too. */
static void pet_instance(tb *t, bool explicit_vr)
{
    const char *pvr = explicit_vr ? "LO" : "UN";

    tb_init(t, explicit_vr, false);
    tb_meta(t, explicit_vr ? TS_EXPLICIT : "1.2.840.10008.1.2", true);
    tb_uid(t, T(0008, 0016), PT_CLASS);
    tb_uid(t, T(0008, 0018), "1.2.3.4.100.1");
    tb_str(t, T(0008, 0020), "DA", "20230314");
    tb_str(t, T(0008, 0030), "TM", "101500");
    tb_str(t, T(0008, 0060), "CS", "PT");
    /* Referenced Series > Referenced Image: a Philips attribute TCIA
     * deletes there, a GE one it keeps */
    tb_hdr(t, T(0008, 1115), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_hdr(t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0008, 1150), "UI", PT_CLASS);
    tb_uid(t, T(0008, 1155), "1.2.3.4.100.2");
    tb_str(t, T(0009, 0010), "LO", GE_IIS);
    tb_str(t, T(0009, 1001), "CS", "ORIGINAL");
    tb_str(t, T(2001, 0010), "LO", PHILIPS_DD1);
    tb_str(t, T(2001, 10A0), pvr, "DROPPED-IN-REF");
    tb_str(t, T(2001, 10C1), pvr, "SAFE-IN-REF");
    tb_item_end(t);
    tb_seq_end(t);
    tb_uid(t, T(0020, 000E), "1.2.3.4.100.3");
    tb_item_end(t);
    tb_seq_end(t);
    /* GE PET block: k, h (an ID and a UID), o, d */
    tb_str(t, T(0009, 0011), "LO", GE_PET);
    tb_str(t, T(0009, 1101), pvr, "GE-IMPL-V1");
    tb_str(t, T(0009, 1102), pvr, "GE-SECRET-ROW");
    tb_str(t, T(0009, 1105), explicit_vr ? "DT" : "UN", "20230314093000");
    tb_str(t, T(0009, 1107), pvr, "EXAM-4711");
    tb_str(t, T(0009, 1113), pvr, "1.2.3.4.100.9");
    /* a creator whose block holds nothing kept */
    tb_str(t, T(0009, 0012), "LO", "ACME SECRETS");
    tb_str(t, T(0009, 1201), pvr, "ACME-PAYLOAD");
    tb_str(t, T(0010, 0010), "PN", "Doe^Jane");
    tb_str(t, T(0010, 0020), "LO", "PID-777123");
    tb_str(t, T(0010, 0040), "CS", "F");
    tb_str(t, T(0010, 2180), "SH", "Welder");
    /* Siemens MR header: B value kept */
    tb_str(t, T(0019, 0010), "LO", SIEMENS_MR);
    tb_str(t, T(0019, 100C), explicit_vr ? "IS" : "UN", "1000");
    tb_uid(t, T(0020, 000D), "1.2.3.4.100.4");
    tb_uid(t, T(0020, 000E), "1.2.3.4.100.5");
    /* Softcopy VOI LUT > Referenced Image > GE date TCIA shifts */
    tb_hdr(t, T(0028, 3110), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_hdr(t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0029, 0010), "LO", GE_IIS);
    tb_str(t, T(0029, 1036), explicit_vr ? "DA" : "UN", "20230314");
    tb_item_end(t);
    tb_seq_end(t);
    tb_item_end(t);
    tb_seq_end(t);
    /* Radiopharmaceutical Information > the Philips attribute TCIA keeps
     * there */
    tb_hdr(t, T(0054, 0016), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0018, 1072), "TM", "091500");
    tb_str(t, T(2001, 0010), "LO", PHILIPS_DD1);
    tb_str(t, T(2001, 10C1), pvr, "KEPT-IN-RADIO");
    tb_item_end(t);
    tb_seq_end(t);
    /* Philips MR block at the top level */
    tb_str(t, T(2005, 0010), "LO", PHILIPS_MR1);
    tb_str(t, T(2005, 103F), pvr, "TOP-3F");
    /* Series PlanScan, a private sequence, and in it what TCIA keeps */
    tb_hdr(t, T(2005, 1080), explicit_vr ? "SQ" : "UN", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(2005, 0010), "LO", PHILIPS_MR1);
    tb_str(t, T(2005, 103F), pvr, "NESTED-3F");
    tb_str(t, T(2005, 1070), pvr, "NESTED-GONE");
    tb_item_end(t);
    tb_seq_end(t);
    tb_el(t, T(2005, 10B0), explicit_vr ? "FL" : "UN", "\0\0\x80\x3f", 4);
    tb_str(t, T(2005, 10FE), pvr, "PHILIPS-GONE");
}

typedef struct run {
    oa_profile *profile;
    oa_anonymizer *a;
    oa_anon_result res;
    oa_status rc;
    oa_error err;
    trace tr;
} run;

static void run_research(run *r, const tb *in)
{
    oa_anonymizer_opts o;
    oa_dicom_handler h;

    memset(r, 0, sizeof(*r));
    r->profile = builtin("Research");
    memset(&o, 0, sizeof(o));
    o.secret = (const uint8_t *)"research secret";
    o.secret_len = strlen("research secret");
    assert_int_equal(oa_anonymizer_new(&r->a, r->profile, &o, NULL), OA_OK);
    oa_error_clear(&r->err);
    r->rc = oa_anonymizer_run(r->a, NULL, tb_data(in), tb_len(in), &r->res,
                              &r->err);
    if (r->rc != OA_OK)
        fail_msg("run: %s", r->err.msg);
    memset(&h, 0, sizeof(h));
    h.element = tr_element;
    h.sequence_begin = tr_seq;
    h.user = &r->tr;
    oa_buf_init(&r->tr.b, 1 << 20);
    assert_int_equal(oa_dicom_parse(r->res.data, r->res.len, NULL, &h, NULL,
                                    NULL),
                     OA_OK);
}

static void run_free(run *r)
{
    oa_buf_dispose(&r->tr.b);
    oa_anonymizer_free(r->a);
    oa_profile_free(r->profile);
}

static void check_pet_output(run *r, bool explicit_vr)
{
    char shifted[160], uid[80], line[240], hash[17];
    int offset = oa_anon_date_offset(r->a, "PID-777123", 10);
    const char *study_date;

    (void)offset;
    assert_true(offset < 0);
    /* the study date and the private dates move together */
    study_date = r->res.anonymized.study_date;
    assert_int_equal(strlen(study_date), 8);
    assert_string_not_equal(study_date, "20230314");
    snprintf(shifted, sizeof(shifted), "%s093000", study_date);
    snprintf(line, sizeof(line), "0 (0009,1105) %s [%s]",
             explicit_vr ? "DT" : "UN", shifted);
    assert_true(has(&r->tr, line));
    snprintf(line, sizeof(line), "2 (0029,1036) %s [%s]",
             explicit_vr ? "DA" : "UN", study_date);
    assert_true(has(&r->tr, line));
    /* creators of kept blocks kept, where they are */
    assert_true(has(&r->tr, "0 (0009,0011) LO [" GE_PET "]"));
    assert_true(has(&r->tr, "0 (0019,0010) LO [" SIEMENS_MR "]"));
    assert_true(has(&r->tr, "0 (2005,0010) LO [" PHILIPS_MR1 "]"));
    assert_true(has(&r->tr, "2 (0009,0010) LO [" GE_IIS "]"));
    assert_true(has(&r->tr, "2 (0029,0010) LO [" GE_IIS "]"));
    assert_true(has(&r->tr, "1 (2001,0010) LO [" PHILIPS_DD1 "]"));
    /* ... and the blocks nothing is kept of, removed */
    assert_false(has(&r->tr, "ACME"));
    assert_true(has(&r->tr, "2 (2001,0010) LO [" PHILIPS_DD1 "]"));
    assert_true(has(&r->tr, "1 (2005,0010) LO [" PHILIPS_MR1 "]"));
    assert_true(has(&r->tr, "NESTED-3F]"));
    assert_false(has(&r->tr, "TOP-3F"));
    assert_false(has(&r->tr, "NESTED-GONE"));
    assert_true(has(&r->tr, "SAFE-IN-REF]"));
    /* k kept, d removed */
    assert_true(has(&r->tr, "GE-IMPL-V1]"));
    assert_false(has(&r->tr, "GE-SECRET-ROW"));
    assert_true(has(&r->tr, "2 (0009,1001) "));
    assert_true(has(&r->tr, "KEPT-IN-RADIO]"));
    assert_false(has(&r->tr, "DROPPED-IN-REF"));
    assert_false(has(&r->tr, "PHILIPS-GONE"));
    assert_true(has(&r->tr, "0 (2005,10B0) "));
    assert_true(has(&r->tr, "0 (0019,100C) "));
    /* h: the ID by a keyed hash, the UID remapped like every UID */
    assert_false(has(&r->tr, "EXAM-4711"));
    oa_anon_hash_value(r->a, "EXAM-4711", 9, hash);
    snprintf(line, sizeof(line), "0 (0009,1107) %s [%s]",
             explicit_vr ? "LO" : "UN", hash);
    assert_true(has(&r->tr, line));
    assert_int_equal(oa_anon_map_uid(r->a, "1.2.3.4.100.9", 13, uid,
                                     sizeof(uid)),
                     0);
    assert_true(has(&r->tr, uid));
    assert_false(has(&r->tr, "1.2.3.4.100.9"));
    /* public rules at every depth; Occupation removed, sex kept */
    assert_false(has(&r->tr, "Welder"));
    assert_true(has(&r->tr, "0 (0010,0040) CS [F]"));
    assert_false(has(&r->tr, "1.2.3.4.100.2"));
}

static void test_engine_applies_the_kb_explicit_vr(void **state)
{
    tb in;
    run r;

    (void)state;
    pet_instance(&in, true);
    run_research(&r, &in);
    check_pet_output(&r, true);
    run_free(&r);
    tb_dispose(&in);
}

static void test_engine_applies_the_kb_implicit_vr(void **state)
{
    tb in;
    run r;

    (void)state;
    pet_instance(&in, false);
    run_research(&r, &in);
    check_pet_output(&r, false);
    run_free(&r);
    tb_dispose(&in);
}

/* Inside a sequence that PS3.15 turns into dummies (D: Referenced
 * Performed Procedure Step Sequence), what the knowledge base keeps at
 * that path keeps its value and its creator: the creator is never a
 * dummy (the block would be orphaned), the kept value was judged safe
 * there (orthanc-tests/Issue22-NoPixelData.dcm, found by anon_corpus);
 * what it does not keep there is removed, and the public text beside it
 * still becomes a dummy. */
static void test_engine_kb_kept_inside_a_dummy_sequence(void **state)
{
    tb in;
    run r;

    (void)state;
    tb_init(&in, true, false);
    tb_meta(&in, TS_EXPLICIT, true);
    /* Enhanced MR: the sequence is Type 1C there on a condition the IOD
     * table cannot settle, so the strictest of X/Z/D, D, is taken */
    tb_uid(&in, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.4.1");
    tb_uid(&in, T(0008, 0018), "1.2.3.4.210.1");
    tb_hdr(&in, T(0008, 1111), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(&in, OA_UNDEFINED_LENGTH);
    tb_str(&in, T(0008, 1150), "UI", "1.2.840.10008.3.1.2.3.3");
    tb_uid(&in, T(0008, 1155), "1.2.3.4.210.2");
    tb_str(&in, T(0010, 0010), "PN", "Doe^Jane");
    tb_str(&in, T(0028, 1055), "LO", "PPS NOTE");
    tb_str(&in, T(2001, 0010), "LO", PHILIPS_DD1);
    tb_str(&in, T(2001, 10A0), "LO", "GONE-IN-PPS");
    tb_str(&in, T(2001, 10C1), "LO", "KEPT-IN-PPS");
    tb_str(&in, T(2005, 0014), "LO", "Philips MR Imaging DD 005");
    tb_str(&in, T(2005, 1406), "LO", "KEPT-06");
    tb_item_end(&in);
    tb_seq_end(&in);
    tb_str(&in, T(0010, 0010), "PN", "Doe^Jane");
    tb_str(&in, T(0010, 0020), "LO", "PID-200");
    tb_uid(&in, T(0020, 000D), "1.2.3.4.200.3");
    tb_uid(&in, T(0020, 000E), "1.2.3.4.200.4");
    run_research(&r, &in);
    assert_true(has(&r.tr, "0 (0008,1111) SQ"));
    assert_true(has(&r.tr, "1 (2001,0010) LO [" PHILIPS_DD1 "]"));
    assert_true(has(&r.tr, "1 (2001,10C1) LO [KEPT-IN-PPS]"));
    assert_true(has(&r.tr, "1 (2005,0014) LO [Philips MR Imaging DD 005]"));
    assert_true(has(&r.tr, "1 (2005,1406) LO [KEPT-06]"));
    assert_false(has(&r.tr, "GONE-IN-PPS"));
    /* the rest of the item follows D: class UID kept, a text a dummy,
     * the name by its own rule */
    assert_true(has(&r.tr, "1 (0008,1150) UI [1.2.840.10008.3.1.2.3.3]"));
    assert_true(has(&r.tr, "1 (0028,1055) LO [ANONYMIZED]"));
    assert_false(has(&r.tr, "PPS NOTE"));
    assert_false(has(&r.tr, "Doe"));
    run_free(&r);
    tb_dispose(&in);
}

/* An o value that is not a date is removed; an h binary number emptied. */
static void test_engine_o_and_h_on_odd_values(void **state)
{
    tb in;
    run r;

    (void)state;
    tb_init(&in, true, false);
    tb_meta(&in, TS_EXPLICIT, true);
    tb_uid(&in, T(0008, 0016), PT_CLASS);
    tb_uid(&in, T(0008, 0018), "1.2.3.4.200.1");
    tb_str(&in, T(0009, 0010), "LO", GE_PET);
    tb_str(&in, T(0009, 1001), "LO", "GE-IMPL-V1");
    tb_str(&in, T(0009, 1005), "LO", "14/03/2023 09:30");
    tb_str(&in, T(0010, 0020), "LO", "PID-1");
    run_research(&r, &in);
    assert_true(has(&r.tr, "0 (0009,1001) LO [GE-IMPL-V1]"));
    assert_false(has(&r.tr, "(0009,1005)"));
    assert_false(has(&r.tr, "14/03/2023"));
    run_free(&r);
    tb_dispose(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_research_is_a_builtin_with_its_options),
        cmocka_unit_test(test_research_json_round_trip_and_base),
        cmocka_unit_test(test_research_reads_tcia_on_top_of_ps315),
        cmocka_unit_test(test_research_options_given_win_over_tcia),
        cmocka_unit_test(test_tcia_list_claims_hold_on_every_row),
        cmocka_unit_test(test_kb_ge_block),
        cmocka_unit_test(test_kb_siemens_and_philips_blocks),
        cmocka_unit_test(test_kb_and_the_safe_list_and_other_policies),
        cmocka_unit_test(test_kb_table),
        cmocka_unit_test(test_explain_shows_sources_and_paths),
        cmocka_unit_test(test_engine_applies_the_kb_explicit_vr),
        cmocka_unit_test(test_engine_applies_the_kb_implicit_vr),
        cmocka_unit_test(test_engine_o_and_h_on_odd_values),
        cmocka_unit_test(test_engine_kb_kept_inside_a_dummy_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
