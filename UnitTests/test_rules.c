/*
 * Unit tests of the PS3.15 rule table and rule resolution: the generated
 * table holds the 2026d rows (that it matches its generator is the
 * generated_tables test, UnitTests/check_generated.py), every action code and combined code, every
 * option column, the date precedence, wildcard groups, private tags under
 * keep / safe / clear, UIDs, the profile's lists and settings, the Default
 * profile's PET/SUV retention list, and the explain table.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

#define T(g, e) OA_TAG(0x##g, 0x##e)

static oa_profile *profile(const char *json)
{
    oa_profile *p = NULL;
    oa_error err;

    oa_error_clear(&err);
    if (oa_profile_parse(&p, NULL, json, strlen(json), &err) != OA_OK)
        fail_msg("profile %s: %s", json, err.msg);
    return p;
}

static oa_action act(const oa_profile *p, uint32_t tag, oa_vr vr)
{
    return oa_rules_resolve(p, tag, vr, NULL, 0, NULL);
}

/* Resolve a private tag with a creator given as a C string. */
static oa_action act_private(const oa_profile *p, uint32_t tag, oa_vr vr,
                             const char *creator, size_t len, oa_rule *r)
{
    return oa_rules_resolve(p, tag, vr, creator, len, r);
}

#define assert_action(p, tag, vr, expected)                                 \
    do {                                                                    \
        oa_action got_ = act((p), (tag), (vr));                             \
        if (got_ != (expected))                                             \
            fail_msg("tag %08X: %s, expected %s", (unsigned)(tag),          \
                     oa_action_name(got_), oa_action_name(expected));       \
    } while (0)

/* Tags whose rule is a setting of ours rather than the table's. */
static bool is_special(uint32_t tag)
{
    return tag == T(0010, 0010) || tag == T(0010, 0020) ||
           tag == T(0010, 0030);
}

/* ------------------------------------------------------------------ */
/* The generated table                                                  */

static void test_table_holds_the_2026d_rows(void **state)
{
    const oa_ps315_row *row;
    size_t exact = 0, patterns = 0;

    (void)state;
    assert_string_equal(oa_ps315_edition(), "2026d");
    assert_int_equal(oa_ps315_row_count(), 657);
    for (size_t i = 0; i < oa_ps315_row_count(); i++) {
        row = oa_ps315_row_at(i);
        assert_non_null(row);
        if (row->mask == 0xFFFFFFFFu) {
            exact++;
            assert_null(row->pattern);
            if (i > 0)
                assert_true(oa_ps315_row_at(i - 1)->tag < row->tag);
        } else {
            patterns++;
            assert_non_null(row->pattern);
        }
    }
    assert_int_equal(exact, 653);
    assert_int_equal(patterns, 4);
    assert_null(oa_ps315_row_at(657));

    row = oa_ps315_lookup(T(0010, 0010));
    assert_non_null(row);
    assert_string_equal(row->name, "Patient's Name");
    assert_int_equal(row->basic, OA_PS_Z);
    assert_int_equal(row->vr, OA_VR_PN);
    row = oa_ps315_lookup(T(0008, 0080));
    assert_int_equal(row->basic, OA_PS_X_Z_D);
    assert_int_equal(row->cells[OA_COL_RII], OA_PS_K);
    row = oa_ps315_lookup(T(0040, E012)); /* newer than the dictionary */
    assert_string_equal(row->name, "Display URI");
    assert_int_equal(row->vr, OA_VR_UR);
    row = oa_ps315_lookup(T(6004, 3000));
    assert_string_equal(row->pattern, "(60xx,3000)");
    row = oa_ps315_lookup(T(0009, 1010));
    assert_string_equal(row->pattern, "(gggg,eeee) where gggg is odd");
    assert_int_equal(row->basic, OA_PS_X);
    assert_int_equal(row->cells[OA_COL_RSP], OA_PS_C);
    assert_null(oa_ps315_lookup(T(0028, 0010)));
    assert_int_equal(oa_safe_private_count(), 479);
}

static void test_action_and_code_names(void **state)
{
    static const char *names[OA_ACTION_COUNT] = {
        "keep", "remove", "empty", "dummy", "clean", "uid", "shift",
        "replace", "pseudonym", "hash"
    };

    (void)state;
    for (int a = 0; a < OA_ACTION_COUNT; a++)
        assert_string_equal(oa_action_name((oa_action)a), names[a]);
    assert_string_equal(oa_action_name((oa_action)99), "?");
    assert_string_equal(oa_ps315_code_str(OA_PS_NONE), "");
    assert_string_equal(oa_ps315_code_str(OA_PS_X_Z_U), "X/Z/U*");
    assert_string_equal(oa_ps315_code_str(OA_PS_Z_D), "Z/D");
    assert_string_equal(oa_ps315_column_name(OA_COL_RLMD), "rlmd");
    assert_string_equal(oa_ps315_column_code(OA_COL_RII), "113112");
    assert_string_equal(oa_ps315_column_meaning(OA_COL_RSP),
                        "Retain Safe Private Option");
    assert_null(oa_ps315_column_name((oa_ps315_column)10));
}

/* ------------------------------------------------------------------ */
/* Codes                                                                */

static void test_every_code_has_its_action(void **state)
{
    (void)state;
    assert_int_equal(oa_ps315_code_action(OA_PS_X), OA_ACTION_REMOVE);
    assert_int_equal(oa_ps315_code_action(OA_PS_Z), OA_ACTION_EMPTY);
    assert_int_equal(oa_ps315_code_action(OA_PS_D), OA_ACTION_DUMMY);
    assert_int_equal(oa_ps315_code_action(OA_PS_K), OA_ACTION_KEEP);
    assert_int_equal(oa_ps315_code_action(OA_PS_C), OA_ACTION_CLEAN);
    assert_int_equal(oa_ps315_code_action(OA_PS_U), OA_ACTION_UID);
    /* Combined codes: the alternative valid for the strictest Type. */
    assert_int_equal(oa_ps315_code_action(OA_PS_Z_D), OA_ACTION_DUMMY);
    assert_int_equal(oa_ps315_code_action(OA_PS_X_Z), OA_ACTION_EMPTY);
    assert_int_equal(oa_ps315_code_action(OA_PS_X_D), OA_ACTION_DUMMY);
    assert_int_equal(oa_ps315_code_action(OA_PS_X_Z_D), OA_ACTION_DUMMY);
    assert_int_equal(oa_ps315_code_action(OA_PS_X_Z_U), OA_ACTION_UID);
    assert_int_equal(oa_ps315_code_action(OA_PS_NONE), OA_ACTION_KEEP);
}

static void test_basic_rows_resolve_by_their_code(void **state)
{
    oa_profile *full = profile("{\"Base\": \"Full\"}");
    oa_rule r;

    (void)state;
    /* One row per code of the Basic Profile column. */
    assert_action(full, T(0008, 0081), OA_VR_ST, OA_ACTION_REMOVE); /* X */
    assert_action(full, T(0008, 0050), OA_VR_SH, OA_ACTION_EMPTY);  /* Z */
    assert_action(full, T(0018, 9701), OA_VR_DT, OA_ACTION_DUMMY);  /* D */
    assert_action(full, T(0020, 000D), OA_VR_UI, OA_ACTION_UID);    /* U */
    assert_action(full, T(0008, 0023), OA_VR_DA, OA_ACTION_DUMMY);  /* Z/D */
    assert_action(full, T(0008, 0022), OA_VR_DA, OA_ACTION_EMPTY);  /* X/Z */
    assert_action(full, T(0008, 0021), OA_VR_DA, OA_ACTION_DUMMY);  /* X/D */
    assert_action(full, T(0008, 0080), OA_VR_LO, OA_ACTION_DUMMY); /* X/Z/D */
    assert_action(full, T(0008, 1140), OA_VR_SQ, OA_ACTION_UID); /* X/Z/U* */
    assert_action(full, T(0040, A730), OA_VR_SQ, OA_ACTION_DUMMY); /* D, SQ */

    oa_rules_resolve(full, T(0008, 0022), OA_VR_DA, NULL, 0, &r);
    assert_int_equal(r.source, OA_SRC_BASIC);
    assert_int_equal(r.code, OA_PS_X_Z);
    assert_int_equal(r.column, -1);
    assert_non_null(r.row);
    assert_string_equal(r.row->name, "Acquisition Date");

    /* Every row of the table, with every option off. */
    for (size_t i = 0; i < oa_ps315_row_count(); i++) {
        const oa_ps315_row *row = oa_ps315_row_at(i);
        if (row->mask != 0xFFFFFFFFu || is_special(row->tag))
            continue;
        oa_rules_resolve(full, row->tag, row->vr, NULL, 0, &r);
        if (r.action != oa_ps315_code_action(row->basic) ||
            r.source != OA_SRC_BASIC)
            fail_msg("%s: %s", row->name, oa_action_name(r.action));
    }
    oa_profile_free(full);
}

/* ------------------------------------------------------------------ */
/* Option columns                                                       */

static void check_column(const char *json, oa_ps315_column col,
                         size_t expected_rows)
{
    oa_profile *p = profile(json);
    oa_profile *full = profile("{\"Base\": \"Full\"}");
    size_t switched = 0;
    oa_rule r;

    for (size_t i = 0; i < oa_ps315_row_count(); i++) {
        const oa_ps315_row *row = oa_ps315_row_at(i);
        uint8_t cell = row->cells[col];
        oa_action want;

        if (row->mask != 0xFFFFFFFFu || is_special(row->tag))
            continue;
        oa_rules_resolve(p, row->tag, row->vr, NULL, 0, &r);
        if (cell == OA_PS_NONE ||
            (col == OA_COL_RLMD && row->vr != OA_VR_DA &&
             row->vr != OA_VR_DT && row->vr != OA_VR_TM)) {
            /* Not switched: as in Full. */
            if (r.action != act(full, row->tag, row->vr))
                fail_msg("%s: %s switched %s", json, row->name,
                         oa_action_name(r.action));
            continue;
        }
        want = col == OA_COL_RLMD ? OA_ACTION_SHIFT
                                  : oa_ps315_code_action(cell);
        /* an age kept (Patient's Age, rpc K) is cleaned by AgesOver89
         * "aggregate", which every profile here inherits */
        if (want == OA_ACTION_KEEP && row->vr == OA_VR_AS) {
            want = OA_ACTION_CLEAN;
            if (!r.age_aggregated)
                fail_msg("%s: %s kept without AgesOver89", json, row->name);
        }
        if (r.action != want || r.source != OA_SRC_OPTION ||
            r.column != (int)col || r.code != cell)
            fail_msg("%s: %s gives %s, expected %s", json, row->name,
                     oa_action_name(r.action), oa_action_name(want));
        switched++;
    }
    if (switched != expected_rows)
        fail_msg("%s: %zu rows switched, expected %zu", json, switched,
                 expected_rows);
    oa_profile_free(p);
    oa_profile_free(full);
}

static void test_every_option_column_switches_its_rows(void **state)
{
    (void)state;
    check_column("{\"Base\":\"Full\",\"Uids\":\"keep\"}", OA_COL_RUID, 60);
    check_column("{\"Base\":\"Full\",\"DeviceIdentity\":\"keep\"}",
                 OA_COL_RDI, 59);
    check_column("{\"Base\":\"Full\",\"InstitutionIdentity\":\"keep\"}",
                 OA_COL_RII, 10);
    check_column("{\"Base\":\"Full\",\"BodyCharacteristics\":\"keep\"}",
                 OA_COL_RPC, 19);
    check_column("{\"Base\":\"Full\",\"Dates\":\"keep\"}", OA_COL_RLFD, 169);
    /* 169 rlmd cells, 3 of them on VRs that cannot be shifted. */
    check_column("{\"Base\":\"Full\",\"Dates\":\"shift\"}", OA_COL_RLMD, 166);
    check_column("{\"Base\":\"Full\",\"Descriptions\":\"clean\"}", OA_COL_CD,
                 141);
    check_column("{\"Base\":\"Full\",\"StructuredContent\":\"clean\"}",
                 OA_COL_CSC, 4);
    check_column("{\"Base\":\"Full\",\"Graphics\":\"keep\"}", OA_COL_CG, 1);
}

static void test_option_cells_give_keep_or_clean(void **state)
{
    oa_profile *rpc = profile("{\"Base\":\"Full\","
                              "\"BodyCharacteristics\":\"keep\"}");
    oa_profile *rdi = profile("{\"Base\":\"Full\","
                              "\"DeviceIdentity\":\"keep\"}");

    (void)state;
    assert_action(rpc, T(0010, 1030), OA_VR_DS, OA_ACTION_KEEP);  /* K */
    assert_action(rpc, T(0010, 2110), OA_VR_LO, OA_ACTION_CLEAN); /* C */
    assert_action(rdi, T(0018, 1000), OA_VR_LO, OA_ACTION_KEEP);
    assert_action(rdi, T(0008, 0055), OA_VR_AE, OA_ACTION_CLEAN);
    /* Device UID: ruid K and rdi K. */
    assert_action(rdi, T(0018, 1002), OA_VR_UI, OA_ACTION_KEEP);
    oa_profile_free(rpc);
    oa_profile_free(rdi);
}

static void test_dates_take_precedence_over_other_columns(void **state)
{
    oa_profile *shift = profile("{\"Base\":\"Full\",\"Dates\":\"shift\","
                                "\"DeviceIdentity\":\"keep\"}");
    oa_profile *keep = profile("{\"Base\":\"Full\",\"Dates\":\"keep\","
                               "\"DeviceIdentity\":\"keep\"}");
    oa_profile *clear = profile("{\"Base\":\"Full\",\"Dates\":\"clear\","
                                "\"DeviceIdentity\":\"keep\"}");
    oa_rule r;

    (void)state;
    /* Calibration Date: X, rdi K, rlfd K, rlmd C. */
    oa_rules_resolve(shift, T(0014, 407E), OA_VR_DA, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_SHIFT);
    assert_int_equal(r.column, OA_COL_RLMD);
    oa_rules_resolve(keep, T(0014, 407E), OA_VR_DA, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_KEEP);
    assert_int_equal(r.column, OA_COL_RLFD);
    oa_rules_resolve(clear, T(0014, 407E), OA_VR_DA, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_KEEP);
    assert_int_equal(r.column, OA_COL_RDI);
    /* rlmd on VRs that cannot be shifted: the basic code. */
    assert_action(shift, T(0008, 0201), OA_VR_SH, OA_ACTION_REMOVE);
    assert_action(shift, T(0034, 0007), OA_VR_OB, OA_ACTION_DUMMY);
    assert_action(shift, T(0400, 0310), OA_VR_OB, OA_ACTION_REMOVE);
    assert_action(keep, T(0008, 0201), OA_VR_SH, OA_ACTION_KEEP);
    /* Times and date-times are shifted too (the engine moves dates). */
    assert_action(shift, T(0008, 0032), OA_VR_TM, OA_ACTION_SHIFT);
    assert_action(shift, T(0008, 002A), OA_VR_DT, OA_ACTION_SHIFT);
    oa_profile_free(shift);
    oa_profile_free(keep);
    oa_profile_free(clear);
}

/* ------------------------------------------------------------------ */
/* Wildcards, structure                                                 */

static void test_repeating_groups_match_their_patterns(void **state)
{
    oa_profile *full = profile("{\"Base\":\"Full\"}");
    oa_profile *g = profile("{\"Base\":\"Full\",\"Graphics\":\"keep\"}");
    oa_rule r;

    (void)state;
    assert_action(full, T(5000, 0005), OA_VR_US, OA_ACTION_REMOVE);
    assert_action(full, T(501E, 3000), OA_VR_OW, OA_ACTION_REMOVE);
    assert_action(full, T(6000, 3000), OA_VR_OW, OA_ACTION_REMOVE);
    assert_action(full, T(601E, 3000), OA_VR_OB, OA_ACTION_REMOVE);
    assert_action(full, T(6002, 4000), OA_VR_LT, OA_ACTION_REMOVE);
    /* Other overlay attributes are not in the table. */
    assert_action(full, T(6000, 0010), OA_VR_US, OA_ACTION_KEEP);
    assert_action(full, T(6000, 0050), OA_VR_SS, OA_ACTION_KEEP);
    /* Odd groups are private, not repeating groups. */
    oa_rules_resolve(full, T(6001, 3000), OA_VR_OW, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_REMOVE);
    assert_string_equal(r.row->pattern, "(gggg,eeee) where gggg is odd");
    /* Graphics keep: Clean Graphics on curves, overlays, annotations. */
    oa_rules_resolve(g, T(6000, 3000), OA_VR_OW, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_CLEAN);
    assert_int_equal(r.column, OA_COL_CG);
    assert_string_equal(r.row->pattern, "(60xx,3000)");
    assert_action(g, T(5010, 3000), OA_VR_OW, OA_ACTION_CLEAN);
    assert_action(g, T(6006, 4000), OA_VR_LT, OA_ACTION_CLEAN);
    assert_action(g, T(0070, 0001), OA_VR_SQ, OA_ACTION_CLEAN);
    /* Group lengths are left to the writer. */
    oa_rules_resolve(full, T(5000, 0000), OA_VR_UL, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_STRUCTURE);
    oa_profile_free(full);
    oa_profile_free(g);
}

/* ------------------------------------------------------------------ */
/* Private tags                                                         */

#define PHILIPS "Philips PET Private Group"

static void test_private_tags_keep(void **state)
{
    oa_profile *p = profile("{\"Base\":\"Full\",\"PrivateTags\":\"keep\"}");
    oa_profile *u = profile("{\"Base\":\"Full\",\"PrivateTags\":\"keep\","
                            "\"Uids\":\"keep\"}");
    oa_rule r;

    (void)state;
    assert_int_equal(act_private(p, T(0009, 1001), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_PRIVATE);
    assert_int_equal(act_private(p, T(0009, 0010), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_KEEP);
    /* No creator in scope: kept all the same. */
    assert_int_equal(act_private(p, T(0009, 1001), OA_VR_LO, NULL, 0, &r),
                     OA_ACTION_KEEP);
    /* A private UID is remapped, unless Uids is "keep". */
    assert_int_equal(act_private(p, T(0009, 1002), OA_VR_UI, "ACME", 4, &r),
                     OA_ACTION_UID);
    assert_int_equal(act_private(u, T(0009, 1002), OA_VR_UI, "ACME", 4, &r),
                     OA_ACTION_KEEP);
    /* Reserved and invalid private elements are removed regardless. */
    assert_int_equal(act_private(p, T(0009, 0001), OA_VR_UN, NULL, 0, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(0009, 0500), OA_VR_UN, NULL, 0, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(0001, 1000), OA_VR_UN, NULL, 0, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(FFFF, 1000), OA_VR_UN, NULL, 0, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(0009, 0000), OA_VR_UL, NULL, 0, &r),
                     OA_ACTION_KEEP);
    oa_profile_free(p);
    oa_profile_free(u);
}

static void test_private_tags_clear(void **state)
{
    oa_profile *p = profile("{\"Base\":\"Full\"}");
    oa_profile *k = profile("{\"Base\":\"Full\","
                            "\"Keep\":[\"0009,1101\"],"
                            "\"Replace\":{\"0011,1205\":\"X\"}}");
    oa_rule r;

    (void)state;
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(r.source, OA_SRC_BASIC);
    assert_int_equal(r.code, OA_PS_X);
    assert_int_equal(act_private(p, T(7053, 0010), OA_VR_LO, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_REMOVE);
    /* A block named in Keep or Replace keeps its creator, only it. */
    assert_int_equal(act_private(k, T(0009, 1101), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_KEEP);
    assert_int_equal(act_private(k, T(0009, 0011), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(k, T(0009, 0010), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(k, T(0009, 1102), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(k, T(0011, 0012), OA_VR_LO, "X", 1, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(k, T(0011, 1205), OA_VR_LO, "X", 1, &r),
                     OA_ACTION_REPLACE);
    assert_string_equal(r.value, "X");
    oa_profile_free(p);
    oa_profile_free(k);
}

static void test_private_tags_safe_match_creator_and_element(void **state)
{
    oa_profile *p = profile("{\"Base\":\"Full\",\"PrivateTags\":\"safe\"}");
    oa_profile *u = profile("{\"Base\":\"Full\",\"PrivateTags\":\"safe\","
                            "\"Uids\":\"keep\"}");
    const oa_safe_private *s;
    oa_rule r;

    (void)state;
    /* Philips SUV factor, in its usual block and in another one. */
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_SAFE_PRIVATE);
    assert_int_equal(r.column, OA_COL_RSP);
    assert_int_equal(r.code, OA_PS_C);
    assert_int_equal(act_private(p, T(7053, 1209), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_KEEP);
    /* Padded creators (LO: spaces insignificant; UN: NUL padding). */
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS,
                                 PHILIPS "  ", strlen(PHILIPS) + 2, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS, PHILIPS "\0",
                                 strlen(PHILIPS) + 1, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS, " " PHILIPS,
                                 strlen(PHILIPS) + 1, &r),
                     OA_ACTION_KEEP);
    /* Case-sensitive, and no prefix matches. */
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS,
                                 "philips pet private group", 25, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS, "Philips PET",
                                 11, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS,
                                 PHILIPS " 2", strlen(PHILIPS) + 2, &r),
                     OA_ACTION_REMOVE);
    /* Right creator, element not in the table; no creator; wrong group. */
    assert_int_equal(act_private(p, T(7053, 1001), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_REMOVE);
    assert_string_equal(r.why, "private attribute not in Table E.3.10-1");
    assert_int_equal(act_private(p, T(7053, 1000), OA_VR_DS, NULL, 0, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(7055, 1000), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_REMOVE);
    /* Creators: kept when they are creators of the safe table. */
    assert_int_equal(act_private(p, T(7053, 0010), OA_VR_LO, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(7053, 0012), OA_VR_LO, PHILIPS " ",
                                 strlen(PHILIPS) + 1, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(7053, 0010), OA_VR_LO, "ACME", 4, &r),
                     OA_ACTION_REMOVE);
    assert_int_equal(act_private(p, T(0009, 0010), OA_VR_LO, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_REMOVE);
    /* (0019,xx27) is safe under two creators, (0019,xx0C) under one. */
    assert_int_equal(act_private(p, T(0019, 1027), OA_VR_DS, "GEMS_ACQU_01",
                                 12, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(0019, 1127), OA_VR_FD,
                                 "SIEMENS MR HEADER", 17, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(0019, 100C), OA_VR_IS,
                                 "SIEMENS MR HEADER", 17, &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(p, T(0019, 100C), OA_VR_IS, "GEMS_ACQU_01",
                                 12, &r),
                     OA_ACTION_REMOVE);
    s = oa_safe_private_find(0x00E1, 0x21, "ELSCINT1", 8);
    assert_non_null(s);
    assert_int_equal(s->vr, OA_VR_DS);
    assert_int_equal(act_private(p, T(00E1, 1021), OA_VR_DS, "ELSCINT1", 8,
                                 &r),
                     OA_ACTION_KEEP);
    /* Safe UIDs: instance UIDs remapped, version UIDs kept. */
    assert_int_equal(act_private(p, T(0099, 1002), OA_VR_UI, "NQHeader", 8,
                                 &r),
                     OA_ACTION_UID);
    assert_int_equal(act_private(p, T(0099, 1001), OA_VR_UI, "NQHeader", 8,
                                 &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(u, T(0099, 1002), OA_VR_UI, "NQHeader", 8,
                                 &r),
                     OA_ACTION_KEEP);
    oa_profile_free(p);
    oa_profile_free(u);
}

static void test_safe_private_table_lookups(void **state)
{
    const oa_safe_private *s;

    (void)state;
    s = oa_safe_private_find(0x7053, 0x00, PHILIPS, strlen(PHILIPS));
    assert_non_null(s);
    assert_string_equal(s->creator, PHILIPS);
    assert_int_equal(s->vr, OA_VR_DS);
    assert_int_equal(s->remap_uid, 0);
    assert_non_null(oa_safe_private_find(0x7053, 0x09, PHILIPS,
                                         strlen(PHILIPS)));
    assert_null(oa_safe_private_find(0x7053, 0x09, PHILIPS, 0));
    assert_null(oa_safe_private_find(0x7053, 0x09, "   ", 3));
    assert_null(oa_safe_private_find(0x7053, 0x09, NULL, 0));
    /* A NUL inside the creator is not a match. */
    assert_null(oa_safe_private_find(0x7053, 0x09, "Philips\0PET", 11));
    assert_true(oa_safe_private_has_creator(0x7053, PHILIPS,
                                            strlen(PHILIPS)));
    assert_false(oa_safe_private_has_creator(0x7053, "Philips", 7));
    assert_false(oa_safe_private_has_creator(0x7055, PHILIPS,
                                             strlen(PHILIPS)));
    /* Sorted by group, element, creator. */
    for (size_t i = 1; i < oa_safe_private_count(); i++) {
        const oa_safe_private *a = oa_safe_private_at(i - 1);
        const oa_safe_private *b = oa_safe_private_at(i);
        assert_true(a->group < b->group ||
                    (a->group == b->group &&
                     (a->element < b->element ||
                      (a->element == b->element &&
                       strcmp(a->creator, b->creator) < 0))));
        /* Every row can be found by its own key. */
        assert_ptr_equal(oa_safe_private_find(b->group, b->element,
                                              b->creator,
                                              strlen(b->creator)),
                         b);
    }
}

/* ------------------------------------------------------------------ */
/* UIDs                                                                 */

static void test_uids_outside_the_table(void **state)
{
    oa_profile *full = profile("{\"Base\":\"Full\"}");
    oa_profile *keep = profile("{\"Base\":\"Full\",\"Uids\":\"keep\"}");
    static const uint32_t classes[] = {
        T(0002, 0002), T(0002, 0010), T(0002, 0012), T(0002, 0100),
        T(0004, 1510), T(0004, 1512), T(0004, 151A), T(0008, 0016),
        T(0008, 001A), T(0008, 001B), T(0008, 0062), T(0008, 010C),
        T(0008, 010D), T(0008, 0117), T(0008, 0118), T(0008, 1150),
        T(0008, 115A), T(0008, 3002), T(0008, 040E), T(0400, 0010),
        T(3010, 0052),
    };
    static const uint32_t instances[] = {
        T(0008, 3012), /* Radiopharmaceutical Administration Event UID */
        T(0020, 9312), /* Volume Frame of Reference UID */
        T(0020, 9313), /* Table Frame of Reference UID */
        T(0008, 1167), /* Multi-frame Source SOP Instance UID */
        T(0040, E011), /* Retrieve Location UID */
    };
    oa_rule r;

    (void)state;
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        oa_rules_resolve(full, classes[i], OA_VR_UI, NULL, 0, &r);
        if (r.action != OA_ACTION_KEEP || r.source != OA_SRC_UID_CLASS)
            fail_msg("%08X should be kept as a class UID",
                     (unsigned)classes[i]);
        assert_non_null(oa_uid_class_kind(classes[i]));
    }
    assert_string_equal(oa_uid_class_kind(T(0008, 0016)), "SOP Class");
    assert_string_equal(oa_uid_class_kind(T(0002, 0010)), "Transfer Syntax");
    assert_string_equal(oa_uid_class_kind(T(0008, 010C)), "coding scheme");
    assert_null(oa_uid_class_kind(T(0008, 0018)));
    for (size_t i = 0; i < sizeof(instances) / sizeof(instances[0]); i++) {
        assert_action(full, instances[i], OA_VR_UI, OA_ACTION_UID);
        /* Even when read as UN (implicit VR of an unknown element). */
        assert_action(full, instances[i], OA_VR_UN, OA_ACTION_UID);
        assert_action(keep, instances[i], OA_VR_UI, OA_ACTION_KEEP);
    }
    /* A UI attribute no table knows. */
    oa_rules_resolve(full, T(0042, 9999), OA_VR_UI, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_UID);
    assert_int_equal(r.source, OA_SRC_UID_INSTANCE);
    assert_action(full, T(0042, 9999), OA_VR_LO, OA_ACTION_KEEP);
    /* Table rows: U, kept by Retain UIDs; (0040,A124) has no ruid cell. */
    assert_action(full, T(0008, 0018), OA_VR_UI, OA_ACTION_UID);
    assert_action(keep, T(0008, 0018), OA_VR_UI, OA_ACTION_KEEP);
    assert_action(keep, T(0040, A124), OA_VR_UI, OA_ACTION_UID);
    assert_action(keep, T(0008, 1140), OA_VR_SQ, OA_ACTION_KEEP);
    oa_profile_free(full);
    oa_profile_free(keep);
}

static void test_well_known_uid_values(void **state)
{
    (void)state;
    assert_true(oa_uid_value_is_well_known("1.2.840.10008.5.1.4.1.1.128",
                                           27));
    assert_true(oa_uid_value_is_well_known("1.2.840.10008.1.2.1\0", 20));
    assert_true(oa_uid_value_is_well_known("1.2.840.10008.1.4.1.1", 21));
    assert_false(oa_uid_value_is_well_known("1.2.840.10008.", 14));
    assert_false(oa_uid_value_is_well_known("1.2.840.100081.2", 16));
    assert_false(oa_uid_value_is_well_known("1.3.6.1.4.1.5962.1", 18));
    assert_false(oa_uid_value_is_well_known("2.25.1234", 9));
    assert_false(oa_uid_value_is_well_known(NULL, 0));
}

/* ------------------------------------------------------------------ */
/* Lists and profile settings                                           */

static void test_lists_win_over_every_other_rule(void **state)
{
    oa_profile *p = profile(
        "{\"Base\":\"Default\",\"Keep\":[\"0008,0080\",\"0008,0018\"],"
        "\"Remove\":[\"0010,1030\",\"0008,0070\"],"
        "\"Replace\":{\"0010,0010\":\"ANON\",\"0008,1030\":\"PET\"}}");
    oa_rule r;

    (void)state;
    oa_rules_resolve(p, T(0010, 0010), OA_VR_PN, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_REPLACE);
    assert_int_equal(r.source, OA_SRC_REPLACE);
    assert_string_equal(r.value, "ANON");
    oa_rules_resolve(p, T(0008, 1030), OA_VR_LO, NULL, 0, &r);
    assert_string_equal(r.value, "PET");
    oa_rules_resolve(p, T(0010, 1030), OA_VR_DS, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_REMOVE);
    assert_int_equal(r.source, OA_SRC_REMOVE);
    assert_action(p, T(0008, 0070), OA_VR_LO, OA_ACTION_REMOVE);
    oa_rules_resolve(p, T(0008, 0080), OA_VR_LO, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_KEEP);
    assert_action(p, T(0008, 0018), OA_VR_UI, OA_ACTION_KEEP);
    oa_profile_free(p);
}

static void test_patient_name_id_and_birth_date(void **state)
{
    oa_profile *d = profile("{}");
    oa_profile *k = profile("{\"BirthDate\":\"keep\"}");
    oa_profile *s = profile("{\"BirthDate\":\"keep\",\"Dates\":\"shift\"}");
    oa_profile *c = profile("{\"BirthDate\":\"keep\",\"Dates\":\"clear\"}");
    oa_profile *f = profile("{\"Base\":\"Full\"}");
    oa_rule r;

    (void)state;
    assert_action(d, T(0010, 0010), OA_VR_PN, OA_ACTION_PSEUDONYM);
    assert_action(d, T(0010, 0020), OA_VR_LO, OA_ACTION_PSEUDONYM);
    assert_action(f, T(0010, 0010), OA_VR_PN, OA_ACTION_PSEUDONYM);
    oa_rules_resolve(d, T(0010, 0030), OA_VR_DA, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_REPLACE);
    assert_int_equal(r.source, OA_SRC_PROFILE);
    assert_string_equal(r.value, "19000101");
    assert_string_equal(r.row->name, "Patient's Birth Date");
    oa_rules_resolve(f, T(0010, 0030), OA_VR_DA, NULL, 0, &r);
    assert_string_equal(r.value, "19000101");
    assert_action(k, T(0010, 0030), OA_VR_DA, OA_ACTION_KEEP);
    assert_action(s, T(0010, 0030), OA_VR_DA, OA_ACTION_SHIFT);
    assert_action(c, T(0010, 0030), OA_VR_DA, OA_ACTION_KEEP);
    /* Birth time stays with the table (X). */
    assert_action(k, T(0010, 0032), OA_VR_TM, OA_ACTION_REMOVE);
    oa_profile_free(d);
    oa_profile_free(k);
    oa_profile_free(s);
    oa_profile_free(c);
    oa_profile_free(f);
}

static void test_descriptions_keep_clean_clear(void **state)
{
    /* The descriptions Descriptions "keep" keeps, cleaned (rules.c). */
    static const uint32_t kept[] = {
        T(0008, 1030), T(0008, 103E), T(0018, 1030), T(0032, 1060),
        T(0040, 0254),
    };
    oa_profile *keep = profile("{\"Base\":\"Full\","
                               "\"Descriptions\":\"keep\"}");
    oa_profile *clean = profile("{\"Base\":\"Full\","
                                "\"Descriptions\":\"clean\"}");
    oa_profile *clear = profile("{\"Base\":\"Full\"}");
    oa_rule r;

    (void)state;
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        const oa_ps315_row *row = oa_ps315_lookup(kept[i]);
        assert_non_null(row);
        /* Each is a descriptor of the Clean Descriptors column. */
        assert_int_equal(row->cells[OA_COL_CD], OA_PS_C);
        oa_rules_resolve(keep, kept[i], row->vr, NULL, 0, &r);
        assert_int_equal(r.action, OA_ACTION_CLEAN);
        assert_int_equal(r.source, OA_SRC_PROFILE);
        assert_action(clean, kept[i], row->vr, OA_ACTION_CLEAN);
    }
    /* Comments keep their basic action under "keep". */
    assert_action(keep, T(0020, 4000), OA_VR_LT, OA_ACTION_REMOVE);
    assert_action(keep, T(0010, 4000), OA_VR_LT, OA_ACTION_REMOVE);
    assert_action(clean, T(0020, 4000), OA_VR_LT, OA_ACTION_CLEAN);
    assert_action(clear, T(0008, 1030), OA_VR_LO, OA_ACTION_REMOVE);
    assert_action(clear, T(0018, 1030), OA_VR_LO, OA_ACTION_DUMMY);
    oa_profile_free(keep);
    oa_profile_free(clean);
    oa_profile_free(clear);
}

static void test_structured_content_keep_clean_clear(void **state)
{
    oa_profile *keep = profile("{\"Base\":\"Full\","
                               "\"StructuredContent\":\"keep\"}");
    oa_profile *clean = profile("{\"Base\":\"Full\","
                                "\"StructuredContent\":\"clean\"}");
    oa_profile *clear = profile("{\"Base\":\"Full\"}");

    (void)state;
    assert_action(keep, T(0040, A730), OA_VR_SQ, OA_ACTION_KEEP);
    assert_action(keep, T(0040, 0555), OA_VR_SQ, OA_ACTION_KEEP);
    assert_action(clean, T(0040, A730), OA_VR_SQ, OA_ACTION_CLEAN);
    assert_action(clean, T(0040, 0555), OA_VR_SQ, OA_ACTION_CLEAN);
    assert_action(clear, T(0040, A730), OA_VR_SQ, OA_ACTION_DUMMY);
    assert_action(clear, T(0040, 0555), OA_VR_SQ, OA_ACTION_EMPTY);
    oa_profile_free(keep);
    oa_profile_free(clean);
    oa_profile_free(clear);
}

static void test_unlisted_attributes_are_kept(void **state)
{
    oa_profile *full = profile("{\"Base\":\"Full\"}");
    oa_rule r;

    (void)state;
    oa_rules_resolve(full, T(0028, 0010), OA_VR_US, NULL, 0, &r);
    assert_int_equal(r.action, OA_ACTION_KEEP);
    assert_int_equal(r.source, OA_SRC_DEFAULT);
    assert_null(r.row);
    assert_action(full, T(7FE0, 0010), OA_VR_OW, OA_ACTION_KEEP);
    assert_action(full, T(0008, 0005), OA_VR_CS, OA_ACTION_KEEP);
    /* Without a profile, everything goes. */
    assert_int_equal(oa_rules_resolve(NULL, T(0028, 0010), OA_VR_US, NULL,
                                      0, &r),
                     OA_ACTION_REMOVE);
    oa_profile_free(full);
}

/* ------------------------------------------------------------------ */
/* Default: what PET/NM and SUV need                                    */

static void test_default_keeps_what_suv_needs(void **state)
{
    static const struct {
        uint32_t tag;
        oa_vr vr;
        const char *what;
    } kept[] = {
        { T(0010, 1030), OA_VR_DS, "Patient's Weight" },
        { T(0010, 1020), OA_VR_DS, "Patient's Size" },
        { T(0010, 0040), OA_VR_CS, "Patient's Sex" },
        { T(0054, 0016), OA_VR_SQ, "Radiopharmaceutical Information Seq" },
        { T(0018, 0031), OA_VR_LO, "Radiopharmaceutical" },
        { T(0018, 1071), OA_VR_DS, "Radiopharmaceutical Volume" },
        { T(0018, 1072), OA_VR_TM, "Radiopharmaceutical Start Time" },
        { T(0018, 1078), OA_VR_DT, "Radiopharmaceutical Start DateTime" },
        { T(0018, 1073), OA_VR_TM, "Radiopharmaceutical Stop Time" },
        { T(0018, 1079), OA_VR_DT, "Radiopharmaceutical Stop DateTime" },
        { T(0018, 1074), OA_VR_DS, "Radionuclide Total Dose" },
        { T(0018, 1075), OA_VR_DS, "Radionuclide Half Life" },
        { T(0018, 1076), OA_VR_DS, "Radionuclide Positron Fraction" },
        { T(0054, 0300), OA_VR_SQ, "Radionuclide Code Sequence" },
        { T(0008, 0020), OA_VR_DA, "Study Date" },
        { T(0008, 0030), OA_VR_TM, "Study Time" },
        { T(0008, 0021), OA_VR_DA, "Series Date" },
        { T(0008, 0031), OA_VR_TM, "Series Time" },
        { T(0008, 0022), OA_VR_DA, "Acquisition Date" },
        { T(0008, 0032), OA_VR_TM, "Acquisition Time" },
        { T(0008, 002A), OA_VR_DT, "Acquisition DateTime" },
        { T(0008, 0023), OA_VR_DA, "Content Date" },
        { T(0008, 0033), OA_VR_TM, "Content Time" },
        { T(0054, 1102), OA_VR_CS, "Decay Correction" },
        { T(0018, 9701), OA_VR_DT, "Decay Correction DateTime" },
        { T(0054, 1321), OA_VR_DS, "Decay Factor" },
        { T(0054, 1001), OA_VR_CS, "Units" },
        { T(0028, 0051), OA_VR_CS, "Corrected Image" },
        { T(0054, 1006), OA_VR_CS, "SUV Type" },
        { T(0054, 1002), OA_VR_CS, "Counts Source" },
        { T(0054, 1000), OA_VR_CS, "Series Type" },
        { T(0054, 1300), OA_VR_DS, "Frame Reference Time" },
        { T(0054, 1322), OA_VR_DS, "Dose Calibration Factor" },
        { T(0018, 1242), OA_VR_IS, "Actual Frame Duration" },
        { T(0028, 1052), OA_VR_DS, "Rescale Intercept" },
        { T(0028, 1053), OA_VR_DS, "Rescale Slope" },
        { T(0008, 0060), OA_VR_CS, "Modality" },
        { T(0008, 0070), OA_VR_LO, "Manufacturer" },
        { T(0008, 1090), OA_VR_LO, "Manufacturer's Model Name" },
        { T(0008, 0016), OA_VR_UI, "SOP Class UID" },
    };
    /* Descriptions: kept, cleaned of identity (Clean Descriptors) */
    static const struct { uint32_t tag; oa_vr vr; const char *what; }
        cleaned[] = {
        { T(0008, 1030), OA_VR_LO, "Study Description" },
        { T(0008, 103E), OA_VR_LO, "Series Description" },
        /* kept, ages of 90 or more as 090Y (AgesOver89 "aggregate") */
        { T(0010, 1010), OA_VR_AS, "Patient's Age" },
    };
    oa_profile *d = NULL;
    oa_error err;
    oa_rule r;

    (void)state;
    assert_int_equal(oa_profile_builtin(&d, "Default", &err), OA_OK);
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        oa_rules_resolve(d, kept[i].tag, kept[i].vr, NULL, 0, &r);
        if (r.action != OA_ACTION_KEEP)
            fail_msg("Default: %s is %s, not kept", kept[i].what,
                     oa_action_name(r.action));
    }
    for (size_t i = 0; i < sizeof(cleaned) / sizeof(cleaned[0]); i++) {
        oa_rules_resolve(d, cleaned[i].tag, cleaned[i].vr, NULL, 0, &r);
        if (r.action != OA_ACTION_CLEAN)
            fail_msg("Default: %s is %s, not cleaned", cleaned[i].what,
                     oa_action_name(r.action));
    }
    /* Vendor SUV factors (Table E.3.10-1) and their creator. */
    assert_int_equal(act_private(d, T(7053, 1000), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(d, T(7053, 1009), OA_VR_DS, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_KEEP);
    assert_int_equal(act_private(d, T(7053, 0010), OA_VR_LO, PHILIPS,
                                 strlen(PHILIPS), &r),
                     OA_ACTION_KEEP);
    /* And what identifies the patient goes. */
    assert_action(d, T(0010, 0010), OA_VR_PN, OA_ACTION_PSEUDONYM);
    assert_action(d, T(0010, 0020), OA_VR_LO, OA_ACTION_PSEUDONYM);
    assert_action(d, T(0010, 0030), OA_VR_DA, OA_ACTION_REPLACE);
    assert_action(d, T(0010, 1000), OA_VR_LO, OA_ACTION_REMOVE);
    assert_action(d, T(0008, 0050), OA_VR_SH, OA_ACTION_EMPTY);
    assert_action(d, T(0008, 0080), OA_VR_LO, OA_ACTION_DUMMY);
    assert_action(d, T(0008, 0090), OA_VR_PN, OA_ACTION_EMPTY);
    assert_action(d, T(0020, 000D), OA_VR_UI, OA_ACTION_UID);
    assert_action(d, T(0008, 3012), OA_VR_UI, OA_ACTION_UID);
    /* comments are descriptors: cleaned of identity (Clean Descriptors) */
    assert_action(d, T(0010, 4000), OA_VR_LT, OA_ACTION_CLEAN);
    oa_profile_free(d);
}

/* ------------------------------------------------------------------ */
/* Explain                                                              */

static const oa_rule_row *find_row(const oa_rule_row *rows, size_t n,
                                   const char *tag)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].tag, tag) == 0)
            return &rows[i];
    return NULL;
}

static void test_explain_lists_every_rule_sorted(void **state)
{
    oa_profile *d = profile("{}");
    oa_profile *f = profile("{\"Base\":\"Full\",\"Keep\":[\"0019,1001\","
                            "\"0008,0070\"],\"Remove\":[\"0008,0080\"],"
                            "\"Replace\":{\"0033,1010\":\"x\"}}");
    oa_rule_row *rows = NULL;
    const oa_rule_row *row;
    size_t n = 0;
    char reason[160];
    oa_error err;

    (void)state;
    assert_int_equal(oa_rules_explain(&rows, &n, d, &err), OA_OK);
    /* 653 rows + 4 patterns + creators + 29 + 22 UIDs + 479 safe. */
    assert_int_equal(n, 653 + 4 + 1 + 29 + 22 + 479);
    for (size_t i = 1; i < n; i++)
        assert_true(rows[i - 1].sort_key <= rows[i].sort_key);
    row = find_row(rows, n, "(0010,1030)");
    assert_non_null(row);
    assert_string_equal(row->keyword, "PatientWeight");
    assert_string_equal(row->name, "Patient's Weight");
    assert_int_equal(row->rule.action, OA_ACTION_KEEP);
    oa_rule_describe(&row->rule, reason, sizeof(reason));
    assert_string_equal(reason,
                        "Retain Patient Characteristics Option (K)");
    row = find_row(rows, n, "(7053,xx00)");
    assert_non_null(row);
    assert_string_equal(row->creator, PHILIPS);
    assert_int_equal(row->rule.action, OA_ACTION_KEEP);
    row = find_row(rows, n, "(gggg,eeee) where gggg is odd");
    assert_non_null(row);
    assert_int_equal(row->rule.action, OA_ACTION_REMOVE);
    row = find_row(rows, n, "(gggg,0010-00FF)");
    assert_non_null(row);
    assert_int_equal(row->rule.action, OA_ACTION_REMOVE);
    oa_rule_describe(&row->rule, reason, sizeof(reason));
    assert_string_equal(reason, "kept only for a block that holds kept "
                                "attributes (Table E.3.10-1, Keep, Replace)");
    row = find_row(rows, n, "(60xx,3000)");
    assert_non_null(row);
    assert_string_equal(row->keyword, "OverlayData");
    assert_int_equal(row->rule.action, OA_ACTION_REMOVE);
    row = find_row(rows, n, "(0008,0016)");
    assert_non_null(row);
    assert_string_equal(row->name, "SOP Class");
    assert_int_equal(row->rule.action, OA_ACTION_KEEP);
    oa_free(rows);

    assert_int_equal(oa_rules_explain(&rows, &n, f, &err), OA_OK);
    /* No safe rows; three list tags outside the tables. */
    assert_int_equal(n, 653 + 4 + 1 + 29 + 22 + 3);
    row = find_row(rows, n, "(0008,0070)");
    assert_non_null(row);
    assert_string_equal(row->keyword, "Manufacturer");
    assert_int_equal(row->rule.source, OA_SRC_KEEP);
    row = find_row(rows, n, "(0033,1010)");
    assert_non_null(row);
    assert_int_equal(row->rule.action, OA_ACTION_REPLACE);
    row = find_row(rows, n, "(0008,0080)");
    assert_int_equal(row->rule.source, OA_SRC_REMOVE);
    row = find_row(rows, n, "(0008,0022)");
    oa_rule_describe(&row->rule, reason, sizeof(reason));
    assert_string_equal(reason, "Basic Profile (X/Z)");
    assert_int_equal(row->rule.action, OA_ACTION_EMPTY);
    oa_free(rows);
    oa_profile_free(d);
    oa_profile_free(f);
}

static void test_explain_json(void **state)
{
    oa_profile *d = profile("{}");
    cJSON *json = NULL, *item;
    bool saw_birth = false, saw_weight = false;
    size_t saw_pixel_rules = 0;
    oa_error err;

    (void)state;
    assert_int_equal(oa_rules_explain_json(&json, d, &err), OA_OK);
    assert_true(cJSON_IsArray(json));
    /* the attribute rules, then the pixel rules: the device rules of the
     * generated table and the OCR row */
    assert_int_equal(cJSON_GetArraySize(json), 653 + 4 + 1 + 29 + 22 + 479 +
                                                   oa_pixels_rule_count() + 1);
    cJSON_ArrayForEach(item, json) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item,
                                                          "PixelRule"))) {
            saw_pixel_rules++;
            assert_string_equal(
                cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(item, "Tag")),
                "(7FE0,0010)");
            assert_non_null(cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(item, "Source")));
            assert_non_null(cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(item, "Condition")));
        }
        const char *tag =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item,
                                                                  "Tag"));
        assert_non_null(tag);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(item, "Keyword"));
        assert_non_null(cJSON_GetObjectItemCaseSensitive(item, "Name"));
        assert_non_null(cJSON_GetObjectItemCaseSensitive(item, "Reason"));
        if (strcmp(tag, "(0010,0030)") == 0) {
            saw_birth = true;
            assert_string_equal(cJSON_GetStringValue(
                                    cJSON_GetObjectItemCaseSensitive(
                                        item, "Action")),
                                "replace");
            assert_string_equal(cJSON_GetStringValue(
                                    cJSON_GetObjectItemCaseSensitive(
                                        item, "Value")),
                                "19000101");
        }
        if (strcmp(tag, "(0010,1030)") == 0) {
            saw_weight = true;
            assert_string_equal(cJSON_GetStringValue(
                                    cJSON_GetObjectItemCaseSensitive(
                                        item, "Action")),
                                "keep");
            assert_null(cJSON_GetObjectItemCaseSensitive(item, "Value"));
        }
    }
    assert_true(saw_birth);
    assert_true(saw_weight);
    assert_int_equal(saw_pixel_rules, oa_pixels_rule_count() + 1);
    cJSON_Delete(json);
    oa_profile_free(d);
    /* BurnedInText "keep": no pixel rule applies, none is listed */
    d = profile("{\"BurnedInText\": \"keep\"}");
    assert_int_equal(oa_rules_explain_json(&json, d, &err), OA_OK);
    assert_int_equal(cJSON_GetArraySize(json), 653 + 4 + 1 + 29 + 22 + 479);
    cJSON_Delete(json);
    oa_profile_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_holds_the_2026d_rows),
        cmocka_unit_test(test_action_and_code_names),
        cmocka_unit_test(test_every_code_has_its_action),
        cmocka_unit_test(test_basic_rows_resolve_by_their_code),
        cmocka_unit_test(test_every_option_column_switches_its_rows),
        cmocka_unit_test(test_option_cells_give_keep_or_clean),
        cmocka_unit_test(test_dates_take_precedence_over_other_columns),
        cmocka_unit_test(test_repeating_groups_match_their_patterns),
        cmocka_unit_test(test_private_tags_keep),
        cmocka_unit_test(test_private_tags_clear),
        cmocka_unit_test(test_private_tags_safe_match_creator_and_element),
        cmocka_unit_test(test_safe_private_table_lookups),
        cmocka_unit_test(test_uids_outside_the_table),
        cmocka_unit_test(test_well_known_uid_values),
        cmocka_unit_test(test_lists_win_over_every_other_rule),
        cmocka_unit_test(test_patient_name_id_and_birth_date),
        cmocka_unit_test(test_descriptions_keep_clean_clear),
        cmocka_unit_test(test_structured_content_keep_clean_clear),
        cmocka_unit_test(test_unlisted_attributes_are_kept),
        cmocka_unit_test(test_default_keeps_what_suv_needs),
        cmocka_unit_test(test_explain_lists_every_rule_sorted),
        cmocka_unit_test(test_explain_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
