/*
 * Unit tests of profiles: the built-ins, JSON parsing and its error
 * messages, serialization and round trips, and the profile queries
 * (method codes, markers, dropped SOP classes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"

/* Parse `text` as an inline profile; on failure return the status and
 * leave the message in *err. */
static oa_status parse(oa_profile **p, const char *text, oa_error *err)
{
    oa_error_clear(err);
    return oa_profile_parse(p, NULL, text, strlen(text), err);
}

/* Parsing `text` must fail with `code` and exactly `msg`. */
static void assert_parse_error(const char *text, oa_status code,
                               const char *msg)
{
    oa_profile *p = (oa_profile *)1;
    oa_error err;

    assert_int_equal(parse(&p, text, &err), code);
    assert_null(p);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
}

static oa_profile *builtin(const char *name)
{
    oa_profile *p = NULL;
    oa_error err;

    assert_int_equal(oa_profile_builtin(&p, name, &err), OA_OK);
    assert_non_null(p);
    return p;
}

static oa_profile *parse_ok(const char *text)
{
    oa_profile *p = NULL;
    oa_error err;
    oa_status rc = parse(&p, text, &err);

    if (rc != OA_OK)
        fail_msg("parse failed: %s", err.msg);
    assert_non_null(p);
    return p;
}

/* Serialize and compare with the JSON `expected` (order-insensitive). */
static void assert_json(const oa_profile *p, oa_profile_json flavour,
                        const char *expected)
{
    cJSON *got = NULL, *want = cJSON_Parse(expected);
    oa_error err;

    assert_non_null(want);
    assert_int_equal(oa_profile_to_json(&got, p, flavour, &err), OA_OK);
    if (!cJSON_Compare(got, want, 1)) {
        char *text = cJSON_PrintUnformatted(got);
        fail_msg("JSON differs: %s", text);
    }
    cJSON_Delete(got);
    cJSON_Delete(want);
}

/* ------------------------------------------------------------------ */

static void test_default_profile_has_the_documented_options(void **state)
{
    oa_profile *p = builtin("Default");
    const oa_anon_options *o = oa_profile_options(p);

    (void)state;
    assert_string_equal(oa_profile_name(p), "Default");
    assert_int_equal(oa_profile_get_base(p), OA_BASE_DEFAULT);
    assert_int_equal(o->body_characteristics, OA_OPT_KEEP);
    assert_int_equal(o->dates, OA_OPT_KEEP);
    assert_int_equal(o->birth_date, OA_OPT_CLEAR);
    assert_int_equal(o->private_tags, OA_OPT_SAFE);
    assert_int_equal(o->captures_and_reports, OA_OPT_CLEAR);
    assert_int_equal(o->descriptions, OA_OPT_CLEAN);
    assert_int_equal(o->uids, OA_OPT_REMAP);
    assert_int_equal(o->device_identity, OA_OPT_CLEAR);
    assert_int_equal(o->institution_identity, OA_OPT_CLEAR);
    assert_int_equal(o->structured_content, OA_OPT_CLEAR);
    assert_int_equal(o->graphics, OA_OPT_CLEAR);
    assert_true(oa_profile_column_enabled(p, OA_COL_RSP));
    assert_true(oa_profile_column_enabled(p, OA_COL_RPC));
    assert_true(oa_profile_column_enabled(p, OA_COL_RLFD));
    assert_false(oa_profile_column_enabled(p, OA_COL_RLMD));
    assert_false(oa_profile_column_enabled(p, OA_COL_RUID));
    assert_true(oa_profile_column_enabled(p, OA_COL_CD));
    oa_profile_free(p);
}

static void test_full_profile_turns_every_option_off(void **state)
{
    oa_profile *p = builtin("Full");

    (void)state;
    assert_int_equal(oa_profile_get_base(p), OA_BASE_FULL);
    for (int c = 0; c < OA_PS315_COLUMN_COUNT; c++)
        assert_false(oa_profile_column_enabled(p, (oa_ps315_column)c));
    assert_json(p, OA_PROFILE_JSON_EFFECTIVE,
                "{\"Base\":\"Full\",\"BodyCharacteristics\":\"clear\","
                "\"AgesOver89\":\"aggregate\","
                "\"Dates\":\"clear\",\"BirthDate\":\"clear\","
                "\"PrivateTags\":\"clear\","
                "\"SecondaryCapturesAndReports\":\"clear\","
                "\"Descriptions\":\"clear\",\"Uids\":\"remap\","
                "\"DeviceIdentity\":\"clear\","
                "\"InstitutionIdentity\":\"clear\","
                "\"StructuredContent\":\"clear\",\"Graphics\":\"clear\","
                "\"BurnedInText\":\"clean\","
                "\"Keep\":[],\"Remove\":[],\"Replace\":{},"
                "\"PixelRules\":[]}");
    assert_false(oa_profile_has_deviations(p));
    oa_profile_free(p);
}

static void test_builtin_rejects_unknown_names(void **state)
{
    oa_profile *p = (oa_profile *)1;
    oa_error err;

    (void)state;
    oa_error_clear(&err);
    assert_int_equal(oa_profile_builtin(&p, "default", &err), OA_ENOTFOUND);
    assert_null(p);
    assert_int_equal(oa_profile_builtin(&p, NULL, &err), OA_ENOTFOUND);
    assert_true(oa_profile_is_builtin_name("Default"));
    assert_true(oa_profile_is_builtin_name("Full"));
    assert_false(oa_profile_is_builtin_name("full"));
    assert_false(oa_profile_is_builtin_name(NULL));
}

static void test_profile_names_are_checked(void **state)
{
    char longname[OA_PROFILE_MAX_NAME + 2];
    oa_profile *p = NULL;
    oa_error err;

    (void)state;
    assert_true(oa_profile_name_is_valid("PET-study_2.v1"));
    assert_false(oa_profile_name_is_valid(""));
    assert_false(oa_profile_name_is_valid(".hidden"));
    assert_false(oa_profile_name_is_valid("a/b"));
    assert_false(oa_profile_name_is_valid("with space"));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(oa_profile_name_is_valid(longname));
    longname[OA_PROFILE_MAX_NAME] = '\0';
    assert_true(oa_profile_name_is_valid(longname));

    assert_int_equal(oa_profile_parse(&p, "../x", "{}", 2, &err), OA_EINVAL);
    assert_null(p);
    assert_int_equal(oa_profile_parse(&p, "lab", "{}", 2, &err), OA_OK);
    assert_string_equal(oa_profile_name(p), "lab");
    oa_profile_free(p);
}

static void test_empty_object_is_the_default_profile(void **state)
{
    oa_profile *p = parse_ok("{}"), *d = builtin("Default");

    (void)state;
    assert_int_equal(oa_profile_get_base(p), OA_BASE_DEFAULT);
    assert_true(oa_profile_equal(p, d));
    assert_string_equal(oa_profile_name(p), "");
    assert_json(p, OA_PROFILE_JSON_OVERRIDES, "{\"Base\":\"Default\"}");
    oa_profile_free(p);
    oa_profile_free(d);
}

static void test_options_override_the_base(void **state)
{
    oa_profile *p = parse_ok("{\"Base\": \"Full\", \"Dates\": \"shift\", "
                             "\"PrivateTags\": \"safe\", \"Uids\": \"keep\"}");
    const oa_anon_options *o = oa_profile_options(p);

    (void)state;
    assert_int_equal(oa_profile_get_base(p), OA_BASE_FULL);
    assert_int_equal(o->dates, OA_OPT_SHIFT);
    assert_int_equal(o->private_tags, OA_OPT_SAFE);
    assert_int_equal(o->uids, OA_OPT_KEEP);
    assert_int_equal(o->body_characteristics, OA_OPT_CLEAR); /* Full's */
    assert_int_equal(o->descriptions, OA_OPT_CLEAR);
    assert_true(oa_profile_column_enabled(p, OA_COL_RLMD));
    assert_false(oa_profile_column_enabled(p, OA_COL_RLFD));
    assert_true(oa_profile_column_enabled(p, OA_COL_RSP));
    assert_true(oa_profile_column_enabled(p, OA_COL_RUID));
    oa_profile_free(p);
}

static void test_every_option_value_maps_to_its_columns(void **state)
{
    static const struct {
        const char *json;
        oa_ps315_column col;
        bool on;
    } cases[] = {
        { "{\"BodyCharacteristics\":\"keep\"}", OA_COL_RPC, true },
        { "{\"BodyCharacteristics\":\"clear\"}", OA_COL_RPC, false },
        { "{\"Dates\":\"keep\"}", OA_COL_RLFD, true },
        { "{\"Dates\":\"shift\"}", OA_COL_RLMD, true },
        { "{\"Dates\":\"shift\"}", OA_COL_RLFD, false },
        { "{\"Dates\":\"clear\"}", OA_COL_RLFD, false },
        { "{\"Dates\":\"clear\"}", OA_COL_RLMD, false },
        { "{\"PrivateTags\":\"safe\"}", OA_COL_RSP, true },
        { "{\"PrivateTags\":\"keep\"}", OA_COL_RSP, false },
        { "{\"PrivateTags\":\"clear\"}", OA_COL_RSP, false },
        { "{\"Descriptions\":\"clean\"}", OA_COL_CD, true },
        { "{\"Descriptions\":\"keep\"}", OA_COL_CD, false },
        { "{\"Descriptions\":\"clear\"}", OA_COL_CD, false },
        { "{\"Uids\":\"keep\"}", OA_COL_RUID, true },
        { "{\"Uids\":\"remap\"}", OA_COL_RUID, false },
        { "{\"DeviceIdentity\":\"keep\"}", OA_COL_RDI, true },
        { "{\"DeviceIdentity\":\"clear\"}", OA_COL_RDI, false },
        { "{\"InstitutionIdentity\":\"keep\"}", OA_COL_RII, true },
        { "{\"InstitutionIdentity\":\"clear\"}", OA_COL_RII, false },
        { "{\"StructuredContent\":\"clean\"}", OA_COL_CSC, true },
        { "{\"StructuredContent\":\"keep\"}", OA_COL_CSC, false },
        { "{\"StructuredContent\":\"clear\"}", OA_COL_CSC, false },
        { "{\"Graphics\":\"keep\"}", OA_COL_CG, true },
        { "{\"Graphics\":\"clear\"}", OA_COL_CG, false },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        oa_profile *p = parse_ok(cases[i].json);
        if (oa_profile_column_enabled(p, cases[i].col) != cases[i].on)
            fail_msg("%s: column %s should be %s", cases[i].json,
                     oa_ps315_column_name(cases[i].col),
                     cases[i].on ? "on" : "off");
        oa_profile_free(p);
    }
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */

static void test_parse_rejects_a_non_object(void **state)
{
    (void)state;
    assert_parse_error("[]", OA_EINVAL, "profile: expected a JSON object");
    assert_parse_error("\"Default\"", OA_EINVAL,
                       "profile: expected a JSON object");
    {
        /* Where cJSON stops depends on its version: check the start. */
        oa_profile *p = NULL;
        oa_error err;
        assert_int_equal(parse(&p, "{\"Dates\": ", &err), OA_EPARSE);
        assert_null(p);
        assert_true(strncmp(err.msg, "profile: malformed JSON", 23) == 0);
    }
}

static void test_parse_names_the_option_and_its_values(void **state)
{
    static const struct {
        const char *name;
        const char *expected;
    } options[] = {
        { "BodyCharacteristics", "\"keep\" or \"clear\"" },
        { "AgesOver89", "\"aggregate\" or \"keep\"" },
        { "Dates", "\"keep\", \"shift\" or \"clear\"" },
        { "BirthDate", "\"keep\" or \"clear\"" },
        { "PrivateTags", "\"keep\", \"safe\", \"tcia\" or \"clear\"" },
        { "SecondaryCapturesAndReports", "\"keep\" or \"clear\"" },
        { "Descriptions", "\"keep\", \"clean\" or \"clear\"" },
        { "Uids", "\"remap\" or \"keep\"" },
        { "DeviceIdentity", "\"keep\" or \"clear\"" },
        { "InstitutionIdentity", "\"keep\" or \"clear\"" },
        { "StructuredContent", "\"keep\", \"clean\" or \"clear\"" },
        { "Graphics", "\"keep\" or \"clear\"" },
    };
    char json[128], msg[160];

    (void)state;
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        /* Unknown value (values are case-sensitive). */
        snprintf(json, sizeof(json), "{\"%s\": \"KEEP\"}", options[i].name);
        snprintf(msg, sizeof(msg), "option \"%s\": expected %s",
                 options[i].name, options[i].expected);
        assert_parse_error(json, OA_EINVAL, msg);
        /* Wrong type. */
        snprintf(json, sizeof(json), "{\"%s\": true}", options[i].name);
        snprintf(msg, sizeof(msg),
                 "option \"%s\": expected a string, one of %s",
                 options[i].name, options[i].expected);
        assert_parse_error(json, OA_EINVAL, msg);
    }
    assert_parse_error("{\"Dates\": \"shifted\"}", OA_EINVAL,
                       "option \"Dates\": expected \"keep\", \"shift\" or "
                       "\"clear\"");
    assert_parse_error("{\"Base\": \"Strict\"}", OA_EINVAL,
                       "option \"Base\": expected \"Default\", \"Full\" "
                       "or \"Research\"");
    assert_parse_error("{\"Base\": 1}", OA_EINVAL,
                       "option \"Base\": expected \"Default\", \"Full\" "
                       "or \"Research\"");
}

static void test_parse_rejects_unknown_options(void **state)
{
    oa_profile *p = NULL;
    oa_error err;

    (void)state;
    assert_int_equal(parse(&p, "{\"Datez\": \"keep\"}", &err), OA_EINVAL);
    assert_null(p);
    assert_string_equal(err.msg,
                        "unknown option \"Datez\" (options: Base, the "
                        "options that GET /anonymizer/profiles/Default "
                        "lists, PixelRules, Keep, Remove, Replace)");
    /* Option names are case-sensitive, like Orthanc's. */
    assert_int_equal(parse(&p, "{\"dates\": \"keep\"}", &err), OA_EINVAL);
    assert_true(strncmp(err.msg, "unknown option \"dates\"", 22) == 0);
}

static void test_parse_rejects_an_option_given_twice(void **state)
{
    (void)state;
    assert_parse_error("{\"Dates\": \"keep\", \"Dates\": \"clear\"}",
                       OA_EINVAL, "option \"Dates\" is given twice");
    assert_parse_error("{\"Base\": \"Full\", \"Base\": \"Full\"}", OA_EINVAL,
                       "option \"Base\" is given twice");
    assert_parse_error("{\"Keep\": [], \"Keep\": []}", OA_EINVAL,
                       "option \"Keep\" is given twice");
    assert_parse_error("{\"Replace\": {}, \"Replace\": {}}", OA_EINVAL,
                       "option \"Replace\" is given twice");
}

static void test_parse_rejects_bad_tags_without_quoting_them(void **state)
{
    oa_profile *p = NULL;
    oa_error err;

    (void)state;
    assert_parse_error("{\"Keep\": \"0008,0070\"}", OA_EINVAL,
                       "option \"Keep\": expected an array of tags "
                       "\"gggg,eeee\"");
    assert_parse_error("{\"Keep\": [\"0008,0070\", 8]}", OA_EINVAL,
                       "option \"Keep\": item 2 is not a string "
                       "\"gggg,eeee\"");
    assert_parse_error("{\"Remove\": [\"0008,0070\", \"DOE^JOHN\"]}",
                       OA_EINVAL,
                       "option \"Remove\": item 2 is not a tag "
                       "\"gggg,eeee\"");
    assert_parse_error("{\"Keep\": [\"0008,007\"]}", OA_EINVAL,
                       "option \"Keep\": item 1 is not a tag \"gggg,eeee\"");
    assert_parse_error("{\"Keep\": [\"0008,00700\"]}", OA_EINVAL,
                       "option \"Keep\": item 1 is not a tag \"gggg,eeee\"");
    assert_parse_error("{\"Remove\": [\"0002,0010\"]}", OA_EINVAL,
                       "option \"Remove\": tag (0002,0010) is in the command "
                       "or file meta group, which the writer rebuilds");
    assert_parse_error("{\"Keep\": [\"0008,0000\"]}", OA_EINVAL,
                       "option \"Keep\": tag (0008,0000) is a group length, "
                       "which the writer recomputes");
    assert_parse_error("{\"Keep\": [\"FFFE,E000\"]}", OA_EINVAL,
                       "option \"Keep\": tag (FFFE,E000) is an item "
                       "delimiter, not an attribute");
    assert_parse_error("{\"Keep\": [\"0009,0010\"]}", OA_EINVAL,
                       "option \"Keep\": tag (0009,0010) is a private "
                       "creator or reserved element; name a private "
                       "attribute of its block instead");
    assert_parse_error("{\"Keep\": [\"0009,0500\"]}", OA_EINVAL,
                       "option \"Keep\": tag (0009,0500) is not a valid "
                       "private attribute");
    assert_parse_error("{\"Keep\": [\"0003,1000\"]}", OA_EINVAL,
                       "option \"Keep\": tag (0003,1000) is not in a valid "
                       "private group");
    /* The bad string never reaches the message. */
    assert_int_equal(parse(&p, "{\"Keep\": [\"SMITH\"]}", &err), OA_EINVAL);
    assert_null(strstr(err.msg, "SMITH"));
}

static void test_parse_checks_replace(void **state)
{
    char *json;
    size_t n = OA_PROFILE_MAX_VALUE + 1;
    oa_profile *p = NULL;
    oa_error err;

    (void)state;
    assert_parse_error("{\"Replace\": [\"0008,0080\"]}", OA_EINVAL,
                       "option \"Replace\": expected an object "
                       "{\"gggg,eeee\": \"value\"}");
    assert_parse_error("{\"Replace\": {\"0008,0080\": 5}}", OA_EINVAL,
                       "option \"Replace\": the value of (0008,0080) is not "
                       "a string");
    assert_parse_error("{\"Replace\": {\"0008,1140\": \"x\"}}", OA_EINVAL,
                       "option \"Replace\": tag (0008,1140) is a sequence; "
                       "only text values can be replaced");
    assert_parse_error("{\"Replace\": {\"0028,0010\": \"1\"}}", OA_EINVAL,
                       "option \"Replace\": tag (0028,0010) has VR US; only "
                       "text values can be replaced");
    assert_parse_error("{\"Replace\": {\"0008,0080\": \"A\", "
                       "\"(0008,0080)\": \"B\"}}",
                       OA_EINVAL,
                       "option \"Replace\": tag (0008,0080) is given twice");
    assert_parse_error("{\"Replace\": {\"nope\": \"A\"}}", OA_EINVAL,
                       "option \"Replace\": item 1 is not a tag "
                       "\"gggg,eeee\"");

    /* A value one byte too long: OA_ELIMIT, and the value is not quoted. */
    json = malloc(n + 64);
    assert_non_null(json);
    strcpy(json, "{\"Replace\": {\"0008,0080\": \"");
    memset(json + strlen(json), 'Q', n);
    strcpy(json + strlen("{\"Replace\": {\"0008,0080\": \"") + n, "\"}}");
    assert_int_equal(parse(&p, json, &err), OA_ELIMIT);
    assert_string_equal(err.msg, "option \"Replace\": the value of "
                                 "(0008,0080) is longer than 1024 bytes");
    assert_null(strstr(err.msg, "QQ"));
    free(json);
}

static void test_parse_rejects_a_tag_in_two_lists(void **state)
{
    (void)state;
    assert_parse_error("{\"Keep\": [\"0008,0070\"], "
                       "\"Remove\": [\"(0008,0070)\"]}",
                       OA_EINVAL,
                       "tag (0008,0070) is in both \"Keep\" and \"Remove\"");
    assert_parse_error("{\"Keep\": [\"00080080\"], "
                       "\"Replace\": {\"0008,0080\": \"X\"}}",
                       OA_EINVAL,
                       "tag (0008,0080) is in both \"Keep\" and \"Replace\"");
    assert_parse_error("{\"Remove\": [\"0008,0080\"], "
                       "\"Replace\": {\"0008,0080\": \"X\"}}",
                       OA_EINVAL,
                       "tag (0008,0080) is in both \"Remove\" and "
                       "\"Replace\"");
}

static void test_parse_limits_the_number_of_tags(void **state)
{
    size_t n = OA_PROFILE_MAX_TAGS + 1, used;
    char *json = malloc(32 + n * 14);
    oa_profile *p = NULL;
    oa_error err;

    (void)state;
    assert_non_null(json);
    used = (size_t)sprintf(json, "{\"Keep\": [");
    for (size_t i = 0; i < n; i++)
        used += (size_t)sprintf(json + used, "%s\"0019,%04X\"",
                                i ? "," : "", (unsigned)(0x1000 + i));
    strcpy(json + used, "]}");
    assert_int_equal(parse(&p, json, &err), OA_ELIMIT);
    assert_string_equal(err.msg, "option \"Keep\": more than 4096 tags");
    assert_null(p);
    free(json);
}

/* ------------------------------------------------------------------ */
/* Serialization                                                        */

static void test_lists_are_sorted_deduplicated_and_canonical(void **state)
{
    oa_profile *p = parse_ok("{\"Keep\": [\"0010,1030\", \"(0008,0070)\", "
                             "\"00080070\", \"0019,10aa\"], "
                             "\"Remove\": [\"0008,1090\"], "
                             "\"Replace\": {\"0008,0081\": \"Somewhere\", "
                             "\"(0008,0080)\": \"Example\"}}");

    (void)state;
    assert_json(p, OA_PROFILE_JSON_OVERRIDES,
                "{\"Base\":\"Default\","
                "\"Keep\":[\"0008,0070\",\"0010,1030\",\"0019,10AA\"],"
                "\"Remove\":[\"0008,1090\"],"
                "\"Replace\":{\"0008,0080\":\"Example\","
                "\"0008,0081\":\"Somewhere\"}}");
    assert_true(oa_profile_has_deviations(p));
    oa_profile_free(p);
}

static void test_round_trip_keeps_what_the_user_wrote(void **state)
{
    const char *text =
        "{\"Base\":\"Full\",\"Dates\":\"shift\",\"BirthDate\":\"keep\","
        "\"PrivateTags\":\"safe\",\"Descriptions\":\"clean\","
        "\"Keep\":[\"0008,0070\",\"0019,1001\"],\"Remove\":[\"0018,1020\"],"
        "\"Replace\":{\"0008,0080\":\"Example Hospital\"}}";
    oa_profile *p = parse_ok(text), *q;
    cJSON *json = NULL;
    char *printed;
    oa_error err;

    (void)state;
    assert_json(p, OA_PROFILE_JSON_OVERRIDES, text);
    /* JSON -> profile -> JSON -> profile gives an equal profile. */
    assert_int_equal(oa_profile_to_json(&json, p, OA_PROFILE_JSON_EFFECTIVE,
                                        &err),
                     OA_OK);
    printed = cJSON_PrintUnformatted(json);
    assert_non_null(printed);
    q = parse_ok(printed);
    assert_true(oa_profile_equal(p, q));
    assert_int_equal(oa_profile_get_base(q), OA_BASE_FULL);
    cJSON_free(printed);
    cJSON_Delete(json);
    oa_profile_free(q);
    oa_profile_free(p);
}

static void test_builtins_round_trip(void **state)
{
    const char *names[] = { "Default", "Full" };

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        oa_profile *b = builtin(names[i]), *q = NULL;
        cJSON *json = NULL;
        oa_error err;

        assert_int_equal(
            oa_profile_to_json(&json, b, OA_PROFILE_JSON_EFFECTIVE, &err),
            OA_OK);
        assert_int_equal(oa_profile_from_json(&q, names[i], json, &err),
                         OA_OK);
        assert_true(oa_profile_equal(b, q));
        cJSON_Delete(json);
        oa_profile_free(q);
        oa_profile_free(b);
    }
}

static void test_default_serializes_its_effective_options(void **state)
{
    oa_profile *p = builtin("Default");

    (void)state;
    assert_json(p, OA_PROFILE_JSON_EFFECTIVE,
                "{\"Base\":\"Default\",\"BodyCharacteristics\":\"keep\","
                "\"AgesOver89\":\"aggregate\","
                "\"Dates\":\"keep\",\"BirthDate\":\"clear\","
                "\"PrivateTags\":\"safe\","
                "\"SecondaryCapturesAndReports\":\"clear\","
                "\"Descriptions\":\"clean\",\"Uids\":\"remap\","
                "\"DeviceIdentity\":\"clear\","
                "\"InstitutionIdentity\":\"clear\","
                "\"StructuredContent\":\"clear\",\"Graphics\":\"clear\","
                "\"BurnedInText\":\"clean\","
                "\"Keep\":[],\"Remove\":[],\"Replace\":{},"
                "\"PixelRules\":[]}");
    assert_json(p, OA_PROFILE_JSON_OVERRIDES, "{\"Base\":\"Default\"}");
    oa_profile_free(p);
}

static void test_pixel_rules_parse_and_round_trip(void **state)
{
    oa_profile *p = NULL, *q = NULL;
    oa_error err;
    const oa_pixels_user_rule *rules;
    size_t n;
    cJSON *json = NULL;
    char *text;

    (void)state;
    assert_int_equal(
        parse(&p,
              "{\"BurnedInText\": \"strict\", \"PixelRules\": [{\"Label\": "
              "\"top bar\", \"Manufacturer\": \"ACME\", \"Rows\": 480, "
              "\"Columns\": 640, \"Rectangles\": [[0, 0, 640, 40]]}]}",
              &err),
        OA_OK);
    assert_int_equal(oa_profile_options(p)->burned_in_text, OA_OPT_STRICT);
    rules = oa_profile_pixel_rules(p, &n);
    assert_int_equal(n, 1);
    assert_string_equal(rules[0].manufacturer, "ACME");
    assert_int_equal(rules[0].rows, 480);
    assert_int_equal(rules[0].n_rects, 1);
    assert_int_equal(rules[0].rects[0].w, 640);
    assert_int_equal(oa_profile_to_json(&json, p, OA_PROFILE_JSON_OVERRIDES,
                                        &err),
                     OA_OK);
    text = cJSON_PrintUnformatted(json);
    assert_int_equal(parse(&q, text, &err), OA_OK);
    assert_true(oa_profile_equal(p, q));
    cJSON_free(text);
    cJSON_Delete(json);
    oa_profile_free(q);
    /* a rule without rectangles names the option and the rule */
    assert_int_equal(parse(&q, "{\"PixelRules\": [{\"Model\": \"X\"}]}",
                           &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "\"PixelRules\", rule 1"));
    assert_int_equal(parse(&q, "{\"BurnedInText\": \"maybe\"}", &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "\"clean\", \"strict\", \"refuse\" or "
                                    "\"keep\""));
    oa_profile_free(p);
}

static void test_equal_compares_behaviour_not_base(void **state)
{
    oa_profile *a = parse_ok("{\"Base\":\"Full\",\"Dates\":\"keep\"}");
    oa_profile *b = parse_ok("{\"Base\":\"Default\","
                             "\"BodyCharacteristics\":\"clear\","
                             "\"PrivateTags\":\"clear\","
                             "\"Descriptions\":\"clear\"}");
    oa_profile *c = parse_ok("{\"Base\":\"Full\",\"Dates\":\"keep\","
                             "\"Keep\":[\"0008,0070\"]}");

    (void)state;
    assert_true(oa_profile_equal(a, b));
    assert_false(oa_profile_equal(a, c));
    oa_profile_free(a);
    oa_profile_free(b);
    oa_profile_free(c);
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */

static void test_method_codes_follow_the_columns(void **state)
{
    oa_profile *d = builtin("Default"), *f = builtin("Full");
    oa_profile *s = parse_ok("{\"Base\":\"Full\",\"Dates\":\"shift\","
                             "\"Uids\":\"keep\",\"Descriptions\":\"clean\","
                             "\"Graphics\":\"keep\"}");
    const char *codes[16];

    (void)state;
    assert_int_equal(oa_profile_method_codes(d, codes, 16), 5);
    assert_string_equal(codes[0], "113100");
    assert_string_equal(codes[1], "113111"); /* rsp */
    assert_string_equal(codes[2], "113108"); /* rpc */
    assert_string_equal(codes[3], "113106"); /* rlfd */
    assert_string_equal(codes[4], "113105"); /* cd: descriptions cleaned */
    assert_int_equal(oa_profile_method_codes(f, codes, 16), 1);
    assert_string_equal(codes[0], "113100");
    assert_int_equal(oa_profile_method_codes(s, codes, 16), 5);
    assert_string_equal(codes[1], "113110");
    assert_string_equal(codes[2], "113107");
    assert_string_equal(codes[3], "113105");
    assert_string_equal(codes[4], "113103");
    /* Counting without room. */
    assert_int_equal(oa_profile_method_codes(s, NULL, 0), 5);
    assert_int_equal(oa_profile_method_codes(s, codes, 2), 5);
    oa_profile_free(d);
    oa_profile_free(f);
    oa_profile_free(s);
}

static void test_temporal_marker_and_deviations(void **state)
{
    oa_profile *d = builtin("Default"), *f = builtin("Full");
    oa_profile *s = parse_ok("{\"Dates\":\"shift\","
                             "\"Descriptions\":\"clean\"}");
    oa_profile *k = parse_ok("{\"Base\":\"Full\",\"PrivateTags\":\"keep\"}");

    (void)state;
    assert_string_equal(oa_profile_temporal_marker(d), "UNMODIFIED");
    assert_string_equal(oa_profile_temporal_marker(f), "REMOVED");
    assert_string_equal(oa_profile_temporal_marker(s), "MODIFIED");
    /* Default cleans its descriptions (Clean Descriptors): no deviation */
    assert_false(oa_profile_has_deviations(d));
    assert_false(oa_profile_has_deviations(s));
    assert_false(oa_profile_has_deviations(f));
    assert_true(oa_profile_has_deviations(k));
    oa_profile_free(d);
    oa_profile_free(f);
    oa_profile_free(s);
    oa_profile_free(k);
}

static void test_captures_and_reports_are_dropped_on_clear(void **state)
{
    oa_profile *d = builtin("Default");
    oa_profile *k = parse_ok("{\"SecondaryCapturesAndReports\":\"keep\"}");
    static const char *dropped[] = {
        "1.2.840.10008.5.1.4.1.1.7",        /* Secondary Capture */
        "1.2.840.10008.5.1.4.1.1.7.4",      /* MF True Color SC */
        "1.2.840.10008.5.1.4.1.1.88.11",    /* Basic Text SR */
        "1.2.840.10008.5.1.4.1.1.88.59",    /* Key Object Selection */
        "1.2.840.10008.5.1.4.1.1.88.68",    /* Radiopharmaceutical Dose SR */
        "1.2.840.10008.5.1.4.1.1.104.1",    /* Encapsulated PDF */
        "1.2.840.10008.5.1.4.1.1.104.3",    /* Encapsulated STL */
    };
    static const char *kept[] = {
        "1.2.840.10008.5.1.4.1.1.128",      /* PET */
        "1.2.840.10008.5.1.4.1.1.20",       /* NM */
        "1.2.840.10008.5.1.4.1.1.2",        /* CT */
        "1.2.840.10008.5.1.4.1.1.77.1.1",   /* VL Endoscopic: not .7 */
        "1.2.840.10008.5.1.4.1.1.88",       /* a prefix, not a class */
        "1.2.840.10008.5.1.4.1.1.1040.1",   /* not .104 */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        assert_true(oa_profile_drops_sop_class(d, dropped[i],
                                               strlen(dropped[i])));
        assert_false(oa_profile_drops_sop_class(k, dropped[i],
                                                strlen(dropped[i])));
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        assert_false(oa_profile_drops_sop_class(d, kept[i],
                                                strlen(kept[i])));
    /* A UI value padded with a NUL, as read from a file. */
    assert_true(oa_profile_drops_sop_class(d, "1.2.840.10008.5.1.4.1.1.7\0",
                                           26));
    oa_profile_free(d);
    oa_profile_free(k);
}

static void test_parse_survives_every_allocation_failure(void **state)
{
    const char *text = "{\"Keep\":[\"0008,0070\",\"0019,1001\"],"
                       "\"Remove\":[\"0018,1020\"],"
                       "\"Replace\":{\"0008,0080\":\"A\",\"0008,0081\":\"B\"}}";
    oa_profile *p;
    oa_error err;
    long n;

    (void)state;
    for (n = 1; n < 100; n++) {
        oa_status rc;
        p = NULL;
        oa_alloc_fail_after(n);
        rc = parse(&p, text, &err);
        oa_alloc_fail_after(0);
        if (rc == OA_OK) {
            assert_non_null(p);
            oa_profile_free(p);
            break;
        }
        assert_int_equal(rc, OA_ENOMEM);
        assert_null(p);
    }
    assert_true(n > 5 && n < 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_profile_has_the_documented_options),
        cmocka_unit_test(test_full_profile_turns_every_option_off),
        cmocka_unit_test(test_builtin_rejects_unknown_names),
        cmocka_unit_test(test_profile_names_are_checked),
        cmocka_unit_test(test_empty_object_is_the_default_profile),
        cmocka_unit_test(test_options_override_the_base),
        cmocka_unit_test(test_every_option_value_maps_to_its_columns),
        cmocka_unit_test(test_parse_rejects_a_non_object),
        cmocka_unit_test(test_parse_names_the_option_and_its_values),
        cmocka_unit_test(test_parse_rejects_unknown_options),
        cmocka_unit_test(test_parse_rejects_an_option_given_twice),
        cmocka_unit_test(test_parse_rejects_bad_tags_without_quoting_them),
        cmocka_unit_test(test_parse_checks_replace),
        cmocka_unit_test(test_parse_rejects_a_tag_in_two_lists),
        cmocka_unit_test(test_parse_limits_the_number_of_tags),
        cmocka_unit_test(test_lists_are_sorted_deduplicated_and_canonical),
        cmocka_unit_test(test_round_trip_keeps_what_the_user_wrote),
        cmocka_unit_test(test_builtins_round_trip),
        cmocka_unit_test(test_default_serializes_its_effective_options),
        cmocka_unit_test(test_pixel_rules_parse_and_round_trip),
        cmocka_unit_test(test_equal_compares_behaviour_not_base),
        cmocka_unit_test(test_method_codes_follow_the_columns),
        cmocka_unit_test(test_temporal_marker_and_deviations),
        cmocka_unit_test(test_captures_and_reports_are_dropped_on_clear),
        cmocka_unit_test(test_parse_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
