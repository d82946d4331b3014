/*
 * Unit tests of the plugin's service layer without Orthanc: the
 * "Anonymizer" configuration section, the service (site secret, custom
 * profiles in a store) and the reports' CSV.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "services/services.h"
#include "store/store.h"

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

static oa_status parse_config(oa_config *c, const char *text, oa_error *err)
{
    cJSON *json = text != NULL ? cJSON_Parse(text) : NULL;
    oa_status rc;

    if (text != NULL)
        assert_non_null(json);
    oa_error_clear(err);
    rc = oa_config_parse(c, json, 4, err);
    cJSON_Delete(json);
    return rc;
}

static void test_config_defaults(void **state)
{
    oa_config c;
    oa_error err;

    (void)state;
    assert_int_equal(parse_config(&c, NULL, &err), OA_OK);
    assert_null(c.secret);
    assert_string_equal(c.uid_root, "2.25");
    assert_int_equal(c.threads, 8);   /* twice the 4 cores */
    assert_true(cJSON_IsObject(c.section));
    oa_config_dispose(&c);

    assert_int_equal(parse_config(&c, "{\"Name\": \"x\"}", &err), OA_OK);
    assert_int_equal(c.threads, 8);
    oa_config_dispose(&c);
}

static void test_config_values(void **state)
{
    oa_config c;
    oa_error err;

    (void)state;
    assert_int_equal(
        parse_config(&c,
                     "{\"Anonymizer\": {\"Secret\": \"0123456789abcdefXYZ\","
                     " \"UidRoot\": \"1.2.826.0.1.3680043.10.9\","
                     " \"Threads\": 3, \"ExportFolder\": \"/tmp\","
                     " \"WorkBudget\": 40}}",
                     &err),
        OA_OK);
    assert_int_equal(c.work_budget, 40);
    assert_string_equal(c.secret, "0123456789abcdefXYZ");
    assert_string_equal(c.uid_root, "1.2.826.0.1.3680043.10.9");
    assert_int_equal(c.threads, 3);
    assert_string_equal(
        cJSON_GetObjectItem(c.section, "ExportFolder")->valuestring, "/tmp");
    oa_config_dispose(&c);
}

static void assert_config_error(const char *text, const char *needle)
{
    oa_config c;
    oa_error err;

    assert_int_equal(parse_config(&c, text, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, needle));
    assert_null(c.section);
}

static void test_config_errors(void **state)
{
    (void)state;
    assert_config_error("{\"Anonymizer\": 3}", "must be a JSON object");
    assert_config_error("{\"Anonymizer\": {\"Secret\": \"short\"}}",
                        "Anonymizer.Secret");
    assert_config_error("{\"Anonymizer\": {\"Secret\": 12}}",
                        "Anonymizer.Secret");
    /* one limit, the engine's: 256 accepted, 257 refused, naming it */
    {
        char text[1100], msg[64];
        oa_config c;
        oa_error err;

        snprintf(text, sizeof(text),
                 "{\"Anonymizer\": {\"Secret\": \"%0256d\"}}", 7);
        assert_int_equal(parse_config(&c, text, &err), OA_OK);
        assert_int_equal(strlen(c.secret), 256);
        oa_config_dispose(&c);
        snprintf(msg, sizeof(msg), "%d to %d characters",
                 OA_CONFIG_MIN_SECRET, 256);
        snprintf(text, sizeof(text),
                 "{\"Anonymizer\": {\"Secret\": \"%0257d\"}}", 7);
        assert_config_error(text, msg);
        snprintf(text, sizeof(text),
                 "{\"Anonymizer\": {\"Secret\": \"%01024d\"}}", 7);
        assert_config_error(text, msg);
    }
    assert_config_error("{\"Anonymizer\": {\"UidRoot\": \"2.25.\"}}",
                        "Anonymizer.UidRoot");
    assert_config_error("{\"Anonymizer\": {\"UidRoot\": \"2.025\"}}",
                        "Anonymizer.UidRoot");
    assert_config_error("{\"Anonymizer\": {\"UidRoot\": \"2.x\"}}",
                        "Anonymizer.UidRoot");
    assert_config_error(
        "{\"Anonymizer\": {\"UidRoot\": \"1.2.3.4.5.6.7.8.9.10.11.12.13\"}}",
        "at most 24");
    assert_config_error("{\"Anonymizer\": {\"Threads\": 0}}",
                        "Anonymizer.Threads");
    assert_config_error("{\"Anonymizer\": {\"Threads\": 2.5}}",
                        "Anonymizer.Threads");
    assert_config_error("{\"Anonymizer\": {\"Threads\": \"2\"}}",
                        "Anonymizer.Threads");
    assert_config_error("{\"Anonymizer\": {\"Threads\": 65}}",
                        "from 1 to 64");
    assert_config_error("{\"Anonymizer\": {\"WorkBudget\": 0}}",
                        "Anonymizer.WorkBudget");
    assert_config_error("{\"Anonymizer\": {\"WorkBudget\": 1.5}}",
                        "steps per byte");
}

/* ------------------------------------------------------------------ */
/* Service                                                              */

static oa_service *new_service(const char *config_text, oa_store **store)
{
    oa_config c;
    oa_error err;
    oa_service *s = NULL;
    oa_store *st = NULL;

    assert_int_equal(parse_config(&c, config_text, &err), OA_OK);
    assert_int_equal(oa_store_memory_new(&st, &err), OA_OK);
    assert_int_equal(oa_service_new(&s, &c, st, &err), OA_OK);
    assert_null(c.section);   /* moved */
    if (store != NULL)
        *store = st;
    return s;
}

static void test_secret_generated_and_kept(void **state)
{
    oa_service *s;
    oa_store *st;
    oa_error err;
    const uint8_t *secret, *again;
    size_t len, len2;
    char *stored = NULL, copy[128];

    (void)state;
    s = new_service(NULL, &st);
    assert_int_equal(oa_service_secret(s, &secret, &len, &err), OA_OK);
    assert_int_equal(len, 64);   /* 32 random bytes, hex */
    memcpy(copy, secret, len);
    assert_int_equal(oa_service_secret(s, &again, &len2, &err), OA_OK);
    assert_ptr_equal(secret, again);   /* cached */
    /* kept in the store */
    assert_int_equal(oa_store_get(st, OA_STORE_SETTINGS, "site-secret",
                                  &stored, &err),
                     OA_OK);
    assert_memory_equal(stored, copy, len);
    oa_free(stored);
    oa_service_free(s);
}

static void test_secret_first_writer_wins(void **state)
{
    oa_service *s;
    oa_store *st;
    oa_error err;
    const uint8_t *secret;
    size_t len;

    (void)state;
    s = new_service(NULL, &st);
    /* Another server of the cluster was first. */
    assert_int_equal(oa_store_put(st, OA_STORE_SETTINGS, "site-secret",
                                  "another-server-secret-0123456789", &err),
                     OA_OK);
    assert_int_equal(oa_service_secret(s, &secret, &len, &err), OA_OK);
    assert_int_equal(len, strlen("another-server-secret-0123456789"));
    assert_memory_equal(secret, "another-server-secret-0123456789", len);
    oa_service_free(s);
}

static void test_secret_configured(void **state)
{
    oa_service *s;
    oa_store *st;
    oa_error err;
    const uint8_t *secret;
    size_t len, n;
    char **keys;

    (void)state;
    s = new_service("{\"Anonymizer\": {\"Secret\": \"configured-secret-1\"}}",
                    &st);
    assert_int_equal(oa_service_secret(s, &secret, &len, &err), OA_OK);
    assert_int_equal(len, strlen("configured-secret-1"));
    assert_memory_equal(secret, "configured-secret-1", len);
    /* nothing written to the store */
    assert_int_equal(oa_store_list(st, OA_STORE_SETTINGS, &keys, &n, &err),
                     OA_OK);
    assert_int_equal(n, 0);
    oa_store_free_keys(keys, n);
    oa_service_free(s);
}

static void test_secret_damaged(void **state)
{
    oa_service *s;
    oa_store *st;
    oa_error err;
    const uint8_t *secret;
    size_t len;

    (void)state;
    s = new_service(NULL, &st);
    assert_int_equal(
        oa_store_put(st, OA_STORE_SETTINGS, "site-secret", "short", &err),
        OA_OK);
    assert_int_equal(oa_service_secret(s, &secret, &len, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "Anonymizer.Secret"));
    oa_service_free(s);

    /* one longer than the engine takes: refused, naming the limit */
    s = new_service(NULL, &st);
    {
        char big[300];

        memset(big, 'a', 257);
        big[257] = '\0';
        assert_int_equal(
            oa_store_put(st, OA_STORE_SETTINGS, "site-secret", big, &err),
            OA_OK);
    }
    assert_int_equal(oa_service_secret(s, &secret, &len, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "Anonymizer.Secret"));
    assert_non_null(strstr(err.msg, "16 to 256 characters"));
    oa_service_free(s);
}

static void test_profiles(void **state)
{
    oa_service *s = new_service(NULL, NULL);
    oa_profile *p = NULL;
    cJSON *json, *names;
    oa_error err;

    (void)state;
    /* built-ins */
    assert_int_equal(oa_service_profile(s, "Full", &p, &err), OA_OK);
    assert_int_equal(oa_profile_get_base(p), OA_BASE_FULL);
    oa_profile_free(p);
    assert_int_equal(oa_service_profile(s, "nope", &p, &err), OA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    assert_int_equal(oa_service_profile(s, "../x", &p, &err), OA_ENOTFOUND);

    /* put, get, list */
    json = cJSON_Parse("{\"Base\": \"Full\", \"Dates\": \"shift\"}");
    assert_int_equal(oa_service_profile_put(s, "ct-shift", json, &p, &err),
                     OA_OK);
    assert_non_null(p);
    oa_profile_free(p);
    assert_int_equal(oa_service_profile(s, "ct-shift", &p, &err), OA_OK);
    assert_int_equal(oa_profile_options(p)->dates, OA_OPT_SHIFT);
    assert_int_equal(oa_profile_get_base(p), OA_BASE_FULL);
    assert_string_equal(oa_profile_name(p), "ct-shift");
    oa_profile_free(p);
    assert_int_equal(oa_service_profile_names(s, &names, &err), OA_OK);
    assert_int_equal(cJSON_GetArraySize(names), 4);
    assert_string_equal(cJSON_GetArrayItem(names, 0)->valuestring, "Default");
    assert_string_equal(cJSON_GetArrayItem(names, 1)->valuestring, "Full");
    assert_string_equal(cJSON_GetArrayItem(names, 2)->valuestring,
                        "Research");
    assert_string_equal(cJSON_GetArrayItem(names, 3)->valuestring,
                        "ct-shift");
    cJSON_Delete(names);

    /* built-ins are read-only */
    assert_int_equal(oa_service_profile_put(s, "Default", json, NULL, &err),
                     OA_ECONFLICT);
    assert_int_equal(oa_service_profile_delete(s, "Full", &err),
                     OA_ECONFLICT);
    /* bad name, bad options */
    assert_int_equal(oa_service_profile_put(s, "a b", json, NULL, &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "profile name"));
    cJSON_Delete(json);
    json = cJSON_Parse("{\"Dates\": \"later\"}");
    assert_int_equal(oa_service_profile_put(s, "x", json, NULL, &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "\"Dates\""));
    assert_int_equal(oa_service_profile(s, "x", &p, &err), OA_ENOTFOUND);
    cJSON_Delete(json);

    /* delete */
    assert_int_equal(oa_service_profile_delete(s, "ct-shift", &err), OA_OK);
    assert_int_equal(oa_service_profile_delete(s, "ct-shift", &err),
                     OA_ENOTFOUND);
    assert_int_equal(oa_service_profile(s, "ct-shift", &p, &err),
                     OA_ENOTFOUND);
    oa_service_free(s);
}

/* PUT `json` as destination "lab"; the status, `err` filled. */
static oa_status put_dest(oa_service *s, const char *json, oa_error *err)
{
    cJSON *d = cJSON_Parse(json);
    oa_status rc;

    assert_non_null(d);
    oa_error_clear(err);
    rc = oa_service_destination_put(s, "lab", d, err);
    cJSON_Delete(d);
    return rc;
}

/* The saved destination "lab"'s field `k` (NULL if absent). */
static char *saved(oa_service *s, const char *k)
{
    cJSON *d = NULL;
    const cJSON *v;
    bool configured;
    oa_error err;
    char *out = NULL;

    assert_int_equal(oa_service_destination(s, "lab", &d, &configured, &err),
                     OA_OK);
    v = cJSON_GetObjectItemCaseSensitive(d, k);
    if (cJSON_IsString(v)) {
        out = malloc(strlen(v->valuestring) + 1);
        assert_non_null(out);
        memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    }
    cJSON_Delete(d);
    return out;
}

static void assert_saved(oa_service *s, const char *k, const char *want)
{
    char *got = saved(s, k);

    if (want == NULL)
        assert_null(got);
    else
        assert_string_equal(got, want);
    free(got);
}

static void test_destination_secret_kept_for_same_address(void **state)
{
    oa_service *s = new_service(NULL, NULL);
    oa_error err;
    static const char *const moved[] = {
        /* another host, port, user, scheme/Type */
        "{\"Type\": \"ftp\", \"Url\": \"ftp://evil.example/in\", "
        "\"Username\": \"u\"}",
        "{\"Type\": \"ftp\", \"Url\": \"ftp://lab.example:2121/in\", "
        "\"Username\": \"u\"}",
        "{\"Type\": \"ftp\", \"Url\": \"ftp://lab.example/in\", "
        "\"Username\": \"v\"}",
        "{\"Type\": \"ftp\", \"Url\": \"ftp://lab.example/in\"}",
        "{\"Type\": \"ftps\", \"Url\": \"ftps://lab.example/in\", "
        "\"Username\": \"u\"}",
        "{\"Type\": \"webdav\", \"Url\": \"http://lab.example:21/in\", "
        "\"Username\": \"u\"}",
    };
    size_t i;

    (void)state;
    assert_int_equal(put_dest(s,
                              "{\"Type\": \"ftp\", \"Url\": "
                              "\"ftp://lab.example/in\", \"Username\": "
                              "\"u\", \"Password\": \"s3cret\"}",
                              &err),
                     OA_OK);
    /* the same address (another folder, host in capitals, the default
     * port written out): the password stays */
    assert_int_equal(put_dest(s,
                              "{\"Type\": \"ftp\", \"Url\": "
                              "\"ftp://LAB.example:21/other\", "
                              "\"Username\": \"u\", \"HasPassword\": true}",
                              &err),
                     OA_OK);
    assert_saved(s, "Password", "s3cret");
    assert_saved(s, "Url", "ftp://LAB.example:21/other");
    /* another address without the password: refused, nothing changed */
    for (i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
        assert_int_equal(put_dest(s, moved[i], &err), OA_EINVAL);
        if (strstr(err.msg, "\"Password\" must be given again") == NULL)
            fail_msg("%s: %s", moved[i], err.msg);
        assert_saved(s, "Password", "s3cret");
        assert_saved(s, "Url", "ftp://LAB.example:21/other");
    }
    /* with the password given again: saved with it */
    assert_int_equal(put_dest(s,
                              "{\"Type\": \"ftp\", \"Url\": "
                              "\"ftp://other.example/in\", \"Username\": "
                              "\"u\", \"Password\": \"n3w\"}",
                              &err),
                     OA_OK);
    assert_saved(s, "Password", "n3w");
    /* a private key follows the same rule */
    assert_int_equal(put_dest(s,
                              "{\"Type\": \"sftp\", \"Url\": "
                              "\"sftp://h.example/x\", \"Username\": \"u\", "
                              "\"HostKeySha256\": \"abc\", \"PrivateKey\": "
                              "\"KEY\", \"Password\": null}",
                              &err),
                     OA_OK);
    assert_int_equal(put_dest(s,
                              "{\"Type\": \"sftp\", \"Url\": "
                              "\"sftp://h.example:22/y\", \"Username\": "
                              "\"u\", \"HostKeySha256\": \"abc\"}",
                              &err),
                     OA_OK);
    assert_saved(s, "PrivateKey", "KEY");
    assert_int_equal(put_dest(s,
                              "{\"Type\": \"sftp\", \"Url\": "
                              "\"sftp://g.example/y\", \"Username\": \"u\", "
                              "\"HostKeySha256\": \"abc\"}",
                              &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "\"PrivateKey\" must be given again"));
    assert_saved(s, "PrivateKey", "KEY");
    oa_service_free(s);
}

static void test_request_profile(void **state)
{
    oa_service *s = new_service(NULL, NULL);
    oa_profile *p = NULL;
    cJSON *spec;
    oa_error err;

    (void)state;
    assert_int_equal(oa_service_request_profile(s, NULL, &p, &err), OA_OK);
    assert_int_equal(oa_profile_get_base(p), OA_BASE_DEFAULT);
    oa_profile_free(p);

    spec = cJSON_CreateString("missing");
    assert_int_equal(oa_service_request_profile(s, spec, &p, &err),
                     OA_EINVAL);   /* a bad request, not a 404 */
    assert_non_null(strstr(err.msg, "\"Profile\""));
    cJSON_Delete(spec);

    spec = cJSON_Parse("{\"Base\": \"Full\", \"Uids\": \"keep\"}");
    assert_int_equal(oa_service_request_profile(s, spec, &p, &err), OA_OK);
    assert_int_equal(oa_profile_options(p)->uids, OA_OPT_KEEP);
    oa_profile_free(p);
    cJSON_Delete(spec);

    spec = cJSON_CreateNumber(3);
    assert_int_equal(oa_service_request_profile(s, spec, &p, &err),
                     OA_EINVAL);
    cJSON_Delete(spec);
    oa_service_free(s);
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */

static void test_report_csv(void **state)
{
    cJSON *r = cJSON_Parse(
        "{\"ID\": \"r1\", \"Job\": \"j1\", \"Date\": \"20261126T101500\","
        " \"Profile\": \"Default\", \"Studies\": ["
        " {\"OriginalPatientName\": \"Doe^John\", \"NewPatientName\": "
        "\"ANON^1\", \"OriginalPatientID\": \"=1+2\", \"NewPatientID\": "
        "\"A,B\", \"OriginalStudyDescription\": \"say \\\"hi\\\"\\nthere\","
        " \"NewStudyDescription\": \"-5\", \"Instances\": 12, \"Dropped\": 1,"
        " \"Failed\": 0, \"AnonymizedStudy\": null},"
        " {\"OriginalPatientName\": \"@x\"}]}");
    oa_buf csv;
    oa_error err;
    const char *text, *line2;
    char header[1024] = "";
    size_t i;

    (void)state;
    assert_non_null(r);
    assert_int_equal(oa_report_csv(r, &csv, &err), OA_OK);
    text = oa_buf_cstr(&csv);
    for (i = 0; i < oa_report_csv_column_count; i++) {
        if (i > 0)
            strcat(header, ",");
        strcat(header, oa_report_csv_columns[i]);
    }
    strcat(header, "\r\n");
    assert_memory_equal(text, header, strlen(header));
    line2 = text + strlen(header);
    assert_string_equal(
        line2,
        "r1,20261126T101500,Default,Doe^John,ANON^1,'=1+2,\"A,B\",,,,,"
        "\"say \"\"hi\"\"\nthere\",'-5,,,12,1,0\r\n"
        "r1,20261126T101500,Default,'@x,,,,,,,,,,,,,,\r\n");
    oa_buf_dispose(&csv);

    assert_int_equal(oa_report_csv(NULL, &csv, &err), OA_EINVAL);
    oa_buf_dispose(&csv);
    cJSON_Delete(r);
}

/* OWASP CSV injection: a cell starting with = + - @ tab CR (and ; | for
 * the locales whose separator is ;) gets a leading '; a cell holding a
 * separator (, ; tab), a quote, CR or LF is quoted. */
static void test_report_csv_injection(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""},
        {"+1", "'+1"},
        {"-1", "'-1"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"\t=1", "\"'\t=1\""},
        {"\r=1", "\"'\r=1\""},
        {";=1", "\"';=1\""},
        {"|cmd", "'|cmd"},
        {"a;=1+1", "\"a;=1+1\""},
        {"a\t=1", "\"a\t=1\""},
        {"a|b", "a|b"},
        {"a,b", "\"a,b\""},
        {"a\nb", "\"a\nb\""},
        {"Doe^John", "Doe^John"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *r = cJSON_CreateObject(), *studies = cJSON_CreateArray(),
              *row = cJSON_CreateObject();
        oa_buf csv;
        oa_error err;
        char want[128];
        const char *line;

        cJSON_AddStringToObject(row, "OriginalPatientName", cases[i].in);
        cJSON_AddItemToArray(studies, row);
        cJSON_AddStringToObject(r, "ID", "r1");
        cJSON_AddStringToObject(r, "Date", "d");
        cJSON_AddStringToObject(r, "Profile", "P");
        cJSON_AddItemToObject(r, "Studies", studies);
        assert_int_equal(oa_report_csv(r, &csv, &err), OA_OK);
        line = strstr(oa_buf_cstr(&csv), "\r\nr1,");
        assert_non_null(line);
        snprintf(want, sizeof(want), "\r\nr1,d,P,%s,,,,,,,,,,,,,,\r\n",
                 cases[i].out);
        assert_string_equal(line, want);
        oa_buf_dispose(&csv);
        cJSON_Delete(r);
    }
}

static void test_report_summary(void **state)
{
    cJSON *r = cJSON_Parse("{\"ID\": \"r1\", \"Job\": \"j1\", \"Date\": "
                           "\"d\", \"Profile\": \"Full\", \"Studies\": "
                           "[{}, {}, {}]}");
    cJSON *s = oa_report_summary(r);

    (void)state;
    assert_non_null(s);
    assert_string_equal(cJSON_GetObjectItem(s, "ID")->valuestring, "r1");
    assert_string_equal(cJSON_GetObjectItem(s, "Profile")->valuestring,
                        "Full");
    assert_int_equal(cJSON_GetObjectItem(s, "Studies")->valueint, 3);
    assert_null(cJSON_GetObjectItem(s, "OriginalPatientName"));
    cJSON_Delete(s);
    cJSON_Delete(r);
}

/* ------------------------------------------------------------------ */
/* Limits and retention (issue 12, defects 3 and 11)                    */

static void test_config_limits_and_retention(void **state)
{
    oa_config c;
    oa_error err;

    (void)state;
    assert_int_equal(parse_config(&c, NULL, &err), OA_OK);
    assert_int_equal(c.max_inflated, OA_READER_DEFAULT_MAX_INFLATED);
    assert_int_equal(c.max_inflate_ratio, OA_READER_DEFAULT_INFLATE_RATIO);
    assert_int_equal(c.job_memory, OA_CONFIG_DEFAULT_JOB_MEMORY);
    assert_int_equal(c.report_retention.days, 0);   /* kept */
    assert_int_equal(c.report_retention.count, 0);
    assert_int_equal(c.job_retention.days, 30);
    oa_config_dispose(&c);

    assert_int_equal(parse_config(&c,
                                  "{\"Anonymizer\": {\"MaxInflatedSize\": "
                                  "2097152, \"MaxInflateRatio\": 50, "
                                  "\"JobMemoryLimit\": 134217728, "
                                  "\"ReportRetention\": {\"Days\": 365, "
                                  "\"Count\": 1000}, \"JobRetention\": 7}}",
                                  &err),
                     OA_OK);
    assert_int_equal(c.max_inflated, 2097152);
    assert_int_equal(c.max_inflate_ratio, 50);
    assert_int_equal(c.job_memory, 134217728);
    assert_int_equal(c.report_retention.days, 365);
    assert_int_equal(c.report_retention.count, 1000);
    assert_int_equal(c.job_retention.days, 7);
    assert_int_equal(c.job_retention.count, 0);
    oa_config_dispose(&c);
    assert_int_equal(parse_config(&c, "{\"Anonymizer\": {\"JobRetention\": "
                                      "null}}", &err),
                     OA_OK);
    assert_int_equal(c.job_retention.days, 0);   /* keep everything */
    oa_config_dispose(&c);

    assert_int_equal(parse_config(&c, "{\"Anonymizer\": {\"MaxInflateRatio\":"
                                      " 2}}", &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "MaxInflateRatio"));
    assert_int_equal(parse_config(&c, "{\"Anonymizer\": {\"JobMemoryLimit\":"
                                      " 1000}}", &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "JobMemoryLimit"));
    assert_int_equal(parse_config(&c, "{\"Anonymizer\": {\"ReportRetention\":"
                                      " {\"Weeks\": 2}}}", &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "ReportRetention"));
    assert_int_equal(parse_config(&c, "{\"Anonymizer\": {\"JobRetention\":"
                                      " -1}}", &err),
                     OA_EINVAL);
    assert_int_equal(parse_config(&c, "{\"Anonymizer\": {\"MaxInflatedSize\":"
                                      " \"1G\"}}", &err),
                     OA_EINVAL);
}

static void test_retention_sweep(void **state)
{
    oa_store *st;
    oa_error err;
    oa_retention keep;
    char key[16], **keys;
    size_t removed, n;
    time_t now = time(NULL);
    int i;

    (void)state;
    assert_int_equal(oa_store_memory_new(&st, &err), OA_OK);
    for (i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        assert_int_equal(oa_store_put(st, OA_STORE_REPORTS, key, "{}", &err),
                         OA_OK);
    }
    assert_int_equal(oa_store_put(st, OA_STORE_JOBS, "j", "{}", &err), OA_OK);
    /* nothing to do: no limit */
    memset(&keep, 0, sizeof(keep));
    assert_int_equal(oa_retention_sweep(st, OA_STORE_REPORTS, &keep, now,
                                        &removed, &err),
                     OA_OK);
    assert_int_equal(removed, 0);
    /* by count: the 3 newest kept */
    keep.count = 3;
    assert_int_equal(oa_retention_sweep(st, OA_STORE_REPORTS, &keep, now,
                                        &removed, &err),
                     OA_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(oa_store_list(st, OA_STORE_REPORTS, &keys, &n, &err),
                     OA_OK);
    assert_int_equal(n, 3);
    oa_store_free_keys(keys, n);
    /* by age: 10 days on, a 20-day limit keeps them, a 5-day one not */
    keep.count = 0;
    keep.days = 20;
    assert_int_equal(oa_retention_sweep(st, OA_STORE_REPORTS, &keep,
                                        now + 10 * 86400, &removed, &err),
                     OA_OK);
    assert_int_equal(removed, 0);
    keep.days = 5;
    assert_int_equal(oa_retention_sweep(st, OA_STORE_REPORTS, &keep,
                                        now + 10 * 86400, &removed, &err),
                     OA_OK);
    assert_int_equal(removed, 3);
    assert_int_equal(oa_store_list(st, OA_STORE_REPORTS, &keys, &n, &err),
                     OA_OK);
    assert_int_equal(n, 0);
    oa_store_free_keys(keys, n);
    /* other namespaces untouched */
    assert_int_equal(oa_store_list(st, OA_STORE_JOBS, &keys, &n, &err),
                     OA_OK);
    assert_int_equal(n, 1);
    oa_store_free_keys(keys, n);
    oa_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_secret_generated_and_kept),
        cmocka_unit_test(test_secret_first_writer_wins),
        cmocka_unit_test(test_secret_configured),
        cmocka_unit_test(test_secret_damaged),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_destination_secret_kept_for_same_address),
        cmocka_unit_test(test_request_profile),
        cmocka_unit_test(test_report_csv),
        cmocka_unit_test(test_report_csv_injection),
        cmocka_unit_test(test_report_summary),
        cmocka_unit_test(test_config_limits_and_retention),
        cmocka_unit_test(test_retention_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
