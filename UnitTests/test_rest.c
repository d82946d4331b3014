/*
 * Unit tests of the plugin's REST API on the fake host: every route of
 * oa_rest_routes() with its success and its errors (400, 404, 405, 409),
 * driven through the dispatcher the plugin installs, as Orthanc would.
 * The anonymization and export routes run their jobs on the fake's jobs
 * engine (synchronous requests poll GET /jobs/{id}, which runs them).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <dirent.h>
#include <minizip/unzip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_plugin.h"
#include "jobs/jobs.h"
#include "rest/rest.h"

static char tmp_root[256], export_dir[300], archive_dir[300];

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static int start(void **state)
{
    char config[2048];
    oa_error err;

    (void)state;
    snprintf(tmp_root, sizeof(tmp_root), "%s/oa-test-rest-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp_root) == NULL)
        return -1;
    snprintf(export_dir, sizeof(export_dir), "%s/export", tmp_root);
    snprintf(archive_dir, sizeof(archive_dir), "%s/archives", tmp_root);
    mkdir(export_dir, 0700);
    mkdir(archive_dir, 0700);
    snprintf(config, sizeof(config),
             "{\"Name\": \"unit\", \"Anonymizer\": {"
             "\"Secret\": \"0123456789abcdef0123456789abcdef\","
             "\"Threads\": 2, \"ExportFolder\": \"%s\","
             "\"ArchiveFolder\": \"%s\", \"Store\": \"properties\","
             "\"Destinations\": {\"cfg-folder\": {\"Type\": \"folder\","
             "\"Url\": \"cfg\"}}}}",
             export_dir, archive_dir);
    oa_error_clear(&err);
    if (fake_plugin_start(config, &err) != OA_OK) {
        fprintf(stderr, "start: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int stop(void **state)
{
    (void)state;
    fake_plugin_stop();
    fake_remove_tree(tmp_root);
    return 0;
}

/* A request; asserts exactly one answer with `status`.  For an error
 * status, also the {"Error", "Details"} body, Details holding `needle`
 * (may be NULL). */
static void req(fake_response *r, oa_http_method m, const char *url,
                const char *body, uint16_t status, const char *needle)
{
    fake_request(r, m, url, body, NULL);
    if (r->status != status)
        fprintf(stderr, "%s %s: HTTP %u, expected %u: %s\n",
                oa_http_method_name(m), url, (unsigned)r->status,
                (unsigned)status, r->body);
    assert_int_equal(r->answers, 1);
    assert_int_equal(r->status, status);
    assert_int_equal(r->late_headers, 0);
    if (status >= 400 && status != 405) {
        assert_non_null(r->json);
        assert_non_null(fake_response_str(r, "Error"));
        assert_non_null(fake_response_str(r, "Details"));
        assert_string_equal(r->content_type, "application/json");
        if (needle != NULL && strstr(fake_response_str(r, "Details"),
                                     needle) == NULL) {
            fprintf(stderr, "Details \"%s\" lack \"%s\"\n",
                    fake_response_str(r, "Details"), needle);
            fail();
        }
    }
}

/* The same, disposing of the answer. */
static void check(oa_http_method m, const char *url, const char *body,
                  uint16_t status, const char *needle)
{
    fake_response r;

    req(&r, m, url, body, status, needle);
    fake_response_dispose(&r);
}

/* 405 with the route's Allow header. */
static void check_405(oa_http_method m, const char *url, const char *allow)
{
    fake_response r;

    req(&r, m, url, NULL, 405, NULL);
    assert_non_null(fake_response_header(&r, "Allow"));
    assert_string_equal(fake_response_header(&r, "Allow"), allow);
    fake_response_dispose(&r);
}

static bool array_has(const cJSON *a, const char *s)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, a)
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Dispatcher, info, app                                                */

static void test_unknown_paths(void **state)
{
    fake_response r;
    char url[5000];

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/nothing-here", NULL, 404,
        "/anonymizer/nothing-here");
    assert_string_equal(fake_response_str(&r, "Error"), "Unknown resource");
    fake_response_dispose(&r);
    check(OA_HTTP_GET, "/anonymizer", NULL, 404, NULL);
    check(OA_HTTP_GET, "/anonymizer/info/extra", NULL, 404, NULL);
    /* a path longer than the router takes */
    memset(url, 'a', sizeof(url) - 1);
    memcpy(url, "/anonymizer/", 12);
    url[sizeof(url) - 1] = '\0';
    check(OA_HTTP_GET, url, NULL, 404, "too long");
}

static void test_info(void **state)
{
    fake_response r;
    const cJSON *v;

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/info", NULL, 200, NULL);
    assert_string_equal(r.content_type, "application/json");
    assert_non_null(fake_response_str(&r, "Version"));
    assert_non_null(fake_response_str(&r, "PS315Edition"));
    assert_non_null(fake_response_str(&r, "DictionaryEdition"));
    v = cJSON_GetObjectItem(r.json, "Profiles");
    assert_true(array_has(v, "Default"));
    assert_true(array_has(v, "Full"));
    v = cJSON_GetObjectItem(r.json, "Backends");
    assert_true(array_has(v, "zip"));
    assert_true(array_has(v, "folder"));
    assert_true(array_has(v, "dicom"));
    assert_true(array_has(v, "peer"));
    fake_response_dispose(&r);
    check_405(OA_HTTP_POST, "/anonymizer/info", "GET");
    check_405(OA_HTTP_DELETE, "/anonymizer/info", "GET");
}

static void test_app(void **state)
{
    fake_response r;

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/app", NULL, 301, NULL);
    assert_string_equal(fake_response_header(&r, "Location"),
                        "app/index.html");
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/app/app/index.html", NULL, 301, NULL);
    assert_string_equal(fake_response_header(&r, "Location"),
                        "../index.html");
    fake_response_dispose(&r);

    req(&r, OA_HTTP_GET, "/anonymizer/app/index.html", NULL, 200, NULL);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "<html"));
    assert_non_null(fake_response_header(&r, "Content-Security-Policy"));
    assert_string_equal(fake_response_header(&r, "X-Frame-Options"),
                        "SAMEORIGIN");
    assert_string_equal(fake_response_header(&r, "X-Content-Type-Options"),
                        "nosniff");
    fake_response_dispose(&r);
    /* the empty file name is the index */
    req(&r, OA_HTTP_GET, "/anonymizer/app/", NULL, 200, NULL);
    assert_non_null(strstr(r.body, "<html"));
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/app/app.css", NULL, 200, NULL);
    assert_string_equal(r.content_type, "text/css; charset=utf-8");
    fake_response_dispose(&r);

    check(OA_HTTP_GET, "/anonymizer/app/no-such-file.js", NULL, 404,
          "no-such-file.js");
    check(OA_HTTP_GET, "/anonymizer/app/README.md", NULL, 404, NULL);
    check_405(OA_HTTP_POST, "/anonymizer/app/index.html", "GET");
    check_405(OA_HTTP_PUT, "/anonymizer/app", "GET");
}

/* ------------------------------------------------------------------ */
/* Profiles                                                             */

static void test_profiles(void **state)
{
    fake_response r;

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/profiles", NULL, 200, NULL);
    assert_true(cJSON_IsArray(r.json));
    assert_int_equal(cJSON_GetArraySize(r.json), 3);
    assert_string_equal(cJSON_GetArrayItem(r.json, 0)->valuestring,
                        "Default");
    assert_string_equal(cJSON_GetArrayItem(r.json, 2)->valuestring,
                        "Research");
    fake_response_dispose(&r);
    check_405(OA_HTTP_POST, "/anonymizer/profiles", "GET");

    req(&r, OA_HTTP_GET, "/anonymizer/profiles/Default", NULL, 200, NULL);
    assert_string_equal(fake_response_str(&r, "Name"), "Default");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "BuiltIn")));
    assert_non_null(fake_response_str(&r, "Dates"));
    fake_response_dispose(&r);
    check(OA_HTTP_GET, "/anonymizer/profiles/Nope", NULL, 404, "Nope");

    /* create, read, list, replace, delete */
    req(&r, OA_HTTP_PUT, "/anonymizer/profiles/research",
        "{\"Base\": \"Default\", \"Dates\": \"shift\"}", 200, NULL);
    assert_string_equal(fake_response_str(&r, "Name"), "research");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "BuiltIn")));
    assert_string_equal(fake_response_str(&r, "Dates"), "shift");
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/profiles", NULL, 200, NULL);
    assert_true(array_has(r.json, "research"));
    fake_response_dispose(&r);
    req(&r, OA_HTTP_PUT, "/anonymizer/profiles/research",
        "{\"Dates\": \"clear\"}", 200, NULL);
    assert_string_equal(fake_response_str(&r, "Dates"), "clear");
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/profiles/research", NULL, 200, NULL);
    assert_string_equal(fake_response_str(&r, "Dates"), "clear");
    fake_response_dispose(&r);

    /* errors of PUT */
    check(OA_HTTP_PUT, "/anonymizer/profiles/x", "{not json", 400,
          "not valid JSON");
    check(OA_HTTP_PUT, "/anonymizer/profiles/x", "[1, 2]", 400,
          "JSON object");
    check(OA_HTTP_PUT, "/anonymizer/profiles/x", "", 400, "JSON body");
    check(OA_HTTP_PUT, "/anonymizer/profiles/x", "{\"Dates\": 3}", 400,
          "Dates");
    check(OA_HTTP_PUT, "/anonymizer/profiles/x", "{\"Colour\": \"red\"}",
          400, "Colour");
    check(OA_HTTP_PUT, "/anonymizer/profiles/Default", "{}", 409, NULL);
    check(OA_HTTP_PUT, "/anonymizer/profiles/bad%20name", "{}", 400, NULL);

    check(OA_HTTP_DELETE, "/anonymizer/profiles/Full", NULL, 409, NULL);
    req(&r, OA_HTTP_DELETE, "/anonymizer/profiles/research", NULL, 200,
        NULL);
    assert_true(cJSON_IsObject(r.json));
    fake_response_dispose(&r);
    check(OA_HTTP_DELETE, "/anonymizer/profiles/research", NULL, 404, NULL);
    check(OA_HTTP_GET, "/anonymizer/profiles/research", NULL, 404, NULL);
    check_405(OA_HTTP_POST, "/anonymizer/profiles/Default",
              "GET,PUT,DELETE");
}

static void test_profile_rules(void **state)
{
    fake_response r;

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/profiles/Default/rules", NULL, 200,
        NULL);
    assert_non_null(r.json);
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/profiles/Full/rules", NULL, 200, NULL);
    assert_non_null(r.json);
    fake_response_dispose(&r);
    check(OA_HTTP_GET, "/anonymizer/profiles/Nope/rules", NULL, 404, "Nope");
    check_405(OA_HTTP_DELETE, "/anonymizer/profiles/Default/rules", "GET");
}

/* ------------------------------------------------------------------ */
/* Anonymization                                                        */

/* GET /{level}/{id} of the fake Orthanc, as the plugin does. */
static cJSON *orthanc_get(const char *level, const char *id)
{
    char uri[160];
    cJSON *json = NULL;
    oa_error err;

    snprintf(uri, sizeof(uri), "/%s/%s", level, id);
    oa_error_clear(&err);
    assert_int_equal(oa_host_rest_get_json(uri, &json, &err), OA_OK);
    return json;
}

static const char *tag_of(const cJSON *resource, const char *group,
                          const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(resource, group),
                                         name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_anonymize_sync(void **state)
{
    char study[FAKE_ID_SIZE], body[512], url[160];
    const char *report, *anon;
    fake_response r, rr;
    const cJSON *st, *row;
    cJSON *out, *uid_check;
    uint16_t status;

    (void)state;
    fake_dicom_study("PID-777123", "Doe^Jane", "1.2.3.4.5.6.1", 2, 2, study);
    assert_int_equal(fake_host_instance_count(), 4);
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], "
             "\"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/anonymize", body, 200, NULL);
    report = fake_response_str(&r, "Report");
    assert_non_null(report);
    assert_string_equal(fake_response_str(&r, "Profile"), "Default");
    assert_int_equal(cJSON_GetObjectItem(r.json, "InstancesTotal")->valueint,
                     4);
    assert_int_equal(cJSON_GetObjectItem(r.json, "InstancesDone")->valueint,
                     4);
    assert_int_equal(cJSON_GetObjectItem(r.json, "FailedCount")->valueint, 0);
    st = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "Studies"), 0);
    assert_string_equal(cJSON_GetObjectItem(st, "Original")->valuestring,
                        study);
    anon = cJSON_GetObjectItem(st, "Anonymized")->valuestring;
    assert_string_not_equal(anon, study);
    assert_int_equal(cJSON_GetObjectItem(st, "Instances")->valueint, 4);
    assert_int_equal(fake_host_instance_count(), 8);

    /* the stored output: new names and UIDs, same shape */
    out = orthanc_get("studies", anon);
    assert_string_not_equal(tag_of(out, "PatientMainDicomTags", "PatientName"),
                            "Doe^Jane");
    assert_string_not_equal(tag_of(out, "PatientMainDicomTags", "PatientID"),
                            "PID-777123");
    assert_string_not_equal(tag_of(out, "MainDicomTags", "StudyInstanceUID"),
                            "1.2.3.4.5.6.1");
    assert_memory_equal(tag_of(out, "MainDicomTags", "StudyInstanceUID"),
                        "2.25.", 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "Series")),
                     2);
    uid_check = orthanc_get("series",
                            cJSON_GetArrayItem(cJSON_GetObjectItem(out,
                                                                   "Series"),
                                               0)
                                ->valuestring);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(uid_check, "Instances")), 2);
    cJSON_Delete(uid_check);

    /* the report is attached to the new study */
    {
        oa_buf b;
        char uri[160];

        oa_buf_init(&b, 1 << 20);
        snprintf(uri, sizeof(uri), "/studies/%s/metadata/%d", anon,
                 OA_REPORT_METADATA);
        assert_int_equal(oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &b, &status,
                                      NULL),
                         OA_OK);
        assert_int_equal(status, 200);
        assert_string_equal(oa_buf_cstr(&b), report);
        oa_buf_dispose(&b);
    }

    /* the report: original and new values */
    snprintf(url, sizeof(url), "/anonymizer/reports/%s", report);
    req(&rr, OA_HTTP_GET, url, NULL, 200, NULL);
    assert_string_equal(fake_response_str(&rr, "ID"), report);
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(rr.json, "Studies"), 0);
    assert_string_equal(
        cJSON_GetObjectItem(row, "OriginalPatientName")->valuestring,
        "Doe^Jane");
    assert_string_equal(
        cJSON_GetObjectItem(row, "NewPatientName")->valuestring,
        tag_of(out, "PatientMainDicomTags", "PatientName"));
    assert_string_equal(cJSON_GetObjectItem(row, "AnonymizedStudy")->valuestring,
                        anon);
    fake_response_dispose(&rr);

    /* its CSV */
    snprintf(url, sizeof(url), "/anonymizer/reports/%s/csv", report);
    req(&rr, OA_HTTP_GET, url, NULL, 200, NULL);
    assert_string_equal(rr.content_type, "text/csv; charset=utf-8");
    assert_memory_equal(rr.body, "Report,Date,Profile,OriginalPatientName",
                        strlen("Report,Date,Profile,OriginalPatientName"));
    assert_non_null(strstr(rr.body, "Doe^Jane"));
    assert_non_null(strstr(rr.body, anon));
    assert_non_null(strstr(fake_response_header(&rr, "Content-Disposition"),
                           report));
    fake_response_dispose(&rr);

    /* the list of reports, and of jobs */
    req(&rr, OA_HTTP_GET, "/anonymizer/reports", NULL, 200, NULL);
    assert_int_equal(cJSON_GetArraySize(rr.json), 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(rr.json, 0), "ID")->valuestring,
        report);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rr.json, 0),
                                         "Studies")
                         ->valueint,
                     1);
    fake_response_dispose(&rr);
    req(&rr, OA_HTTP_GET, "/anonymizer/jobs", NULL, 200, NULL);
    assert_int_equal(cJSON_GetArraySize(rr.json), 1);
    {
        const cJSON *rec = cJSON_GetArrayItem(rr.json, 0);

        assert_string_equal(cJSON_GetObjectItem(rec, "ID")->valuestring,
                            report);
        assert_string_equal(cJSON_GetObjectItem(rec, "Type")->valuestring,
                            "Anonymization");
        assert_string_equal(cJSON_GetObjectItem(rec, "State")->valuestring,
                            "Success");
        assert_int_equal(cJSON_GetObjectItem(rec, "Progress")->valueint, 100);
    }
    fake_response_dispose(&rr);
    check_405(OA_HTTP_POST, "/anonymizer/jobs", "GET");
    check_405(OA_HTTP_DELETE, "/anonymizer/reports", "GET");

    /* nothing identifying went to the log */
    assert_false(fake_host_log_contains("Doe^Jane"));
    assert_false(fake_host_log_contains("PID-777123"));
    cJSON_Delete(out);
    fake_response_dispose(&r);
}

static void test_anonymize_async_and_shortcuts(void **state)
{
    char study[FAKE_ID_SIZE], patient[FAKE_ID_SIZE], url[200], job[64];
    const char *uids[1] = {"PID-2"};
    fake_response r;
    cJSON *content;
    const cJSON *st;

    (void)state;
    fake_dicom_study("PID-2", "Roe^Richard", "1.2.3.4.5.6.2", 1, 2, study);
    fake_host_orthanc_id(patient, uids, 1);

    /* the study shortcut, asynchronous: {"ID", "Path"} */
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    req(&r, OA_HTTP_POST, url,
        "{\"NewPatientName\": \"Research^Subject\", \"NewPatientID\": "
        "\"SUBJ-1\"}",
        200, NULL);
    assert_non_null(fake_response_str(&r, "ID"));
    snprintf(job, sizeof(job), "%s", fake_response_str(&r, "ID"));
    snprintf(url, sizeof(url), "/jobs/%s", job);
    assert_string_equal(fake_response_str(&r, "Path"), url);
    fake_response_dispose(&r);
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_PENDING);
    assert_string_equal(fake_job_type(job), "Anonymization");
    assert_int_equal(fake_job_run(job, 0), FAKE_JOB_SUCCESS);
    content = fake_job_content(job);
    st = cJSON_GetArrayItem(cJSON_GetObjectItem(content, "Studies"), 0);
    {
        cJSON *out = orthanc_get(
            "studies", cJSON_GetObjectItem(st, "Anonymized")->valuestring);

        assert_string_equal(
            tag_of(out, "PatientMainDicomTags", "PatientName"),
            "Research^Subject");
        assert_string_equal(tag_of(out, "PatientMainDicomTags", "PatientID"),
                            "SUBJ-1");
        cJSON_Delete(out);
    }
    cJSON_Delete(content);

    /* the patient shortcut, synchronous, with an empty body allowed */
    snprintf(url, sizeof(url), "/anonymizer/patients/%s/anonymize", patient);
    req(&r, OA_HTTP_POST, url, "{\"Asynchronous\": false, \"Profile\": "
                               "\"Full\"}",
        200, NULL);
    assert_string_equal(fake_response_str(&r, "Profile"), "Full");
    assert_int_equal(cJSON_GetObjectItem(r.json, "InstancesDone")->valueint,
                     2);
    fake_response_dispose(&r);
    req(&r, OA_HTTP_POST, url, NULL, 200, NULL);
    assert_non_null(fake_response_str(&r, "ID"));
    fake_response_dispose(&r);

    /* errors of the shortcuts */
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    check(OA_HTTP_POST, url, "{\"Resources\": []}", 400, "Resources");
    check(OA_HTTP_POST, url, "{\"NewPatientName\": 7}", 400,
          "NewPatientName");
    check(OA_HTTP_POST, url, "{\"NewPatientID\": \"a\\\\b\"}", 400,
          "backslash");
    check(OA_HTTP_POST, url, "{oops", 400, "JSON");
    check_405(OA_HTTP_GET, url, "POST");
    check(OA_HTTP_POST,
          "/anonymizer/studies/0000000a-0000000b-0000000c-0000000d-0000000e/"
          "anonymize",
          NULL, 404, "no study");
    check(OA_HTTP_POST, "/anonymizer/patients/NOT-HEX/anonymize", NULL, 404,
          NULL);
    check(OA_HTTP_POST, "/anonymizer/series/abc/anonymize", NULL, 404, NULL);
}

/* POST /anonymizer/copies says which studies are our output and of what;
 * anonymizing our output again is refused (409, naming the original)
 * unless "Force" is true. */
static void test_copies_and_force(void **state)
{
    char study[FAKE_ID_SIZE], anon[FAKE_ID_SIZE], anon_patient[FAKE_ID_SIZE];
    char body[512], url[200], needle[160];
    const char *pid[1];
    fake_response r;
    const cJSON *st, *copy;
    cJSON *out;

    (void)state;
    fake_dicom_study("PID-44", "Copy^Carl", "1.2.3.4.5.6.44", 1, 1, study);
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    req(&r, OA_HTTP_POST, url, "{\"Asynchronous\": false}", 200, NULL);
    st = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "Studies"), 0);
    snprintf(anon, sizeof(anon), "%s",
             cJSON_GetObjectItem(st, "Anonymized")->valuestring);
    fake_response_dispose(&r);

    snprintf(body, sizeof(body), "{\"Studies\": [\"%s\", \"%s\"]}", study,
             anon);
    req(&r, OA_HTTP_POST, "/anonymizer/copies", body, 200, NULL);
    assert_null(cJSON_GetObjectItem(r.json, study));
    copy = cJSON_GetObjectItem(r.json, anon);
    assert_non_null(copy);
    assert_string_equal(cJSON_GetObjectItem(copy, "By")->valuestring,
                        "Anonymizer");
    assert_string_equal(cJSON_GetObjectItem(copy, "Original")->valuestring,
                        study);
    assert_string_equal(cJSON_GetObjectItem(copy, "Profile")->valuestring,
                        "Default");
    assert_non_null(cJSON_GetObjectItem(copy, "Report")->valuestring);
    assert_int_equal(strlen(cJSON_GetObjectItem(copy, "Date")->valuestring),
                     15);
    fake_response_dispose(&r);
    check(OA_HTTP_POST, "/anonymizer/copies", "{}", 400, "Studies");
    check(OA_HTTP_POST, "/anonymizer/copies", "{\"Studies\": [1]}", 400,
          "strings");
    check(OA_HTTP_POST, "/anonymizer/copies", "{\"Studies\": [\"../x\"]}",
          400, "hex");
    check_405(OA_HTTP_GET, "/anonymizer/copies", "POST");

    /* our output again: 409 naming the original, at both levels */
    snprintf(needle, sizeof(needle), "anonymized copy of study %s", study);
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", anon);
    check(OA_HTTP_POST, url, NULL, 409, needle);
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}]}",
             anon);
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 409, "\"Force\": true");
    out = orthanc_get("studies", anon);
    pid[0] = tag_of(out, "PatientMainDicomTags", "PatientID");
    fake_host_orthanc_id(anon_patient, pid, 1);
    cJSON_Delete(out);
    snprintf(url, sizeof(url), "/anonymizer/patients/%s/anonymize",
             anon_patient);
    check(OA_HTTP_POST, url, NULL, 409, "the patient's study");
    check(OA_HTTP_POST, url, "{\"Force\": \"yes\"}", 400, "Force");
    /* unless asked explicitly */
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", anon);
    check(OA_HTTP_POST, url, "{\"Force\": true, \"Asynchronous\": false}",
          200, NULL);
    /* the original itself is not refused */
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    check(OA_HTTP_POST, url, "{\"Asynchronous\": false}", 200, NULL);
}

static void test_anonymize_errors(void **state)
{
    char study[FAKE_ID_SIZE], body[512];

    (void)state;
    fake_dicom_study("PID-3", "Poe^Edgar", "1.2.3.4.5.6.3", 1, 1, study);
    check(OA_HTTP_POST, "/anonymizer/anonymize", NULL, 400, "JSON body");
    check(OA_HTTP_POST, "/anonymizer/anonymize", "{bad", 400, "JSON");
    check(OA_HTTP_POST, "/anonymizer/anonymize", "\"text\"", 400,
          "JSON object");
    check(OA_HTTP_POST, "/anonymizer/anonymize", "{}", 400, "Resources");
    {
        /* 999 nested arrays overflowed the stack of Orthanc's HTTP thread
         * in cJSON (issue 12, test_rest_fuzz.py); brackets inside strings
         * do not count */
        static char deep[2 * 999 + 1];

        memset(deep, '[', 999);
        memset(deep + 999, ']', 999);
        check(OA_HTTP_POST, "/anonymizer/anonymize", deep, 400,
              "more than 64 deep");
        check(OA_HTTP_POST, "/anonymizer/anonymize",
              "{\"Resources\": [], \"x\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
              "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}", 400,
              "Resources");
    }
    check(OA_HTTP_POST, "/anonymizer/anonymize", "{\"Resources\": []}", 400,
          "Resources");
    check(OA_HTTP_POST, "/anonymizer/anonymize", "{\"Resources\": [3]}", 400,
          "Resources[0]");
    check(OA_HTTP_POST, "/anonymizer/anonymize",
          "{\"Resources\": [{\"Level\": \"Series\", \"ID\": \"ab\"}]}", 400,
          "Level");
    check(OA_HTTP_POST, "/anonymizer/anonymize",
          "{\"Resources\": [{\"Level\": \"Study\"}]}", 400, "ID");
    check(OA_HTTP_POST, "/anonymizer/anonymize",
          "{\"Resources\": [{\"Level\": \"Study\", \"ID\": "
          "\"0000000a-0000000b-0000000c-0000000d-0000000e\"}]}",
          404, "Orthanc has no study");
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], %s}",
             study, "\"Asynchronous\": \"no\"");
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 400, "Asynchronous");
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], %s}",
             study, "\"Priority\": 1.5");
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 400, "Priority");
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], %s}",
             study, "\"Profile\": \"NoSuchProfile\"");
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 400, "NoSuchProfile");
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], %s}",
             study, "\"Profile\": {\"Dates\": \"sometimes\"}");
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 400, "Dates");
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], %s}",
             study, "\"Export\": {\"Target\": {\"Type\": \"nowhere\"}}");
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 400, "Type");
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], %s}",
             study, "\"Export\": 5");
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 400, "Export");
    check_405(OA_HTTP_GET, "/anonymizer/anonymize", "POST");
    check_405(OA_HTTP_PUT, "/anonymizer/anonymize", "POST");
    /* nothing was submitted by the refused requests */
    assert_int_equal(fake_job_count(), 0);

    /* Orthanc failing while the request is checked: 500 */
    fake_host_fault(OA_HTTP_GET, "/studies/", 0, 0, 1);
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}]}",
             study);
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 500, NULL);
    assert_int_equal(fake_host_faults_fired(), 1);
    /* no UUID from Orthanc: 500 */
    fake_host_fault(FAKE_OP_UUID, "", 0, 0, 1);
    check(OA_HTTP_POST, "/anonymizer/anonymize", body, 500, "UUID");
}

static void test_anonymize_sync_failure(void **state)
{
    char study[FAKE_ID_SIZE], body[512];
    fake_response r;

    (void)state;
    fake_dicom_study("PID-4", "Doe^John", "1.2.3.4.5.6.4", 1, 2, study);
    /* every POST /instances refused (storage full): the job fails, the
     * synchronous request answers 500 with the job's error */
    fake_host_fault(OA_HTTP_POST, "/instances", 0, 0, 0);
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], "
             "\"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/anonymize", body, 500,
        "every instance failed");
    fake_response_dispose(&r);
    assert_int_equal(fake_host_instance_count(), 2);
    assert_false(fake_host_log_contains("Doe^John"));
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */

static void test_reports_errors(void **state)
{
    fake_response r;

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/reports", NULL, 200, NULL);
    assert_true(cJSON_IsArray(r.json));
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/jobs", NULL, 200, NULL);
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    fake_response_dispose(&r);
    check(OA_HTTP_GET, "/anonymizer/reports/0000-1111", NULL, 404,
          "0000-1111");
    check(OA_HTTP_GET, "/anonymizer/reports/..", NULL, 404, NULL);
    check(OA_HTTP_GET, "/anonymizer/reports/0000-1111/csv", NULL, 404, NULL);
    check_405(OA_HTTP_POST, "/anonymizer/reports/0000-1111", "GET");
    check_405(OA_HTTP_PUT, "/anonymizer/reports/0000-1111/csv", "GET");
}

/* ------------------------------------------------------------------ */
/* Export and destinations                                              */

static void test_export_folder_and_zip(void **state)
{
    char study[FAKE_ID_SIZE], body[512], url[200], path[600];
    char export_id[64];
    fake_response r;
    const cJSON *archives;

    (void)state;
    fake_dicom_study("PID-5", "Doe^Jane", "1.2.3.4.5.6.5", 2, 2, study);

    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"folder\", "
             "\"Folder\": \"out\"}, \"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 200, NULL);
    assert_int_equal(cJSON_GetObjectItem(r.json, "InstancesTotal")->valueint,
                     4);
    assert_int_equal(cJSON_GetObjectItem(r.json, "InstancesDone")->valueint,
                     4);
    assert_non_null(fake_response_str(&r, "Location"));
    snprintf(path, sizeof(path), "%s/out/%s", export_dir,
             fake_response_str(&r, "Name"));
    assert_int_equal(fake_count_names(path, ".dcm", false), 4);
    assert_int_equal(fake_count_names(export_dir, ".partial", false), 0);
    fake_response_dispose(&r);

    /* ZIP, then its download */
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"zip\"}, "
             "\"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 200, NULL);
    archives = cJSON_GetObjectItem(r.json, "Archives");
    assert_int_equal(cJSON_GetArraySize(archives), 1);
    snprintf(export_id, sizeof(export_id), "%s",
             fake_response_str(&r, "Export"));
    snprintf(url, sizeof(url), "%s",
             cJSON_GetObjectItem(cJSON_GetArrayItem(archives, 0), "Path")
                 ->valuestring);
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, url, NULL, 200, NULL);
    assert_string_equal(r.content_type, "application/zip");
    assert_true(r.body_len > 4);
    assert_memory_equal(r.body, "PK\003\004", 4);
    assert_non_null(strstr(fake_response_header(&r, "Content-Disposition"),
                           ".zip"));
    fake_response_dispose(&r);
    snprintf(url, sizeof(url), "/anonymizer/exports/%s/archive-2.zip",
             export_id);
    check(OA_HTTP_GET, url, NULL, 404, "number 2");
    snprintf(url, sizeof(url), "/anonymizer/exports/%s/archive-1.zip",
             export_id);
    check(OA_HTTP_GET, url, NULL, 404, NULL);
    check(OA_HTTP_GET,
          "/anonymizer/exports/0000000a-0000-4000-8000-000000000000/"
          "archive.zip",
          NULL, 404, "no ZIP export");
    check(OA_HTTP_GET, "/anonymizer/exports/ZZZ/archive.zip", NULL, 404,
          NULL);
    snprintf(url, sizeof(url), "/anonymizer/exports/%s/archive.zip",
             export_id);
    check_405(OA_HTTP_DELETE, url, "GET");

    /* the job list shows both exports */
    req(&r, OA_HTTP_GET, "/anonymizer/jobs", NULL, 200, NULL);
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "Type")
            ->valuestring,
        "Export");
    fake_response_dispose(&r);
}

/* The content of entry `name` of the ZIP at `path` (NUL-terminated;
 * oa_free it), or NULL if there is none. */
static char *zip_entry(const char *path, const char *name)
{
    unzFile z = unzOpen64(path);
    char *data = NULL;
    size_t len = 0;
    int got;
    char buf[4096];

    assert_non_null(z);
    if (unzLocateFile(z, name, 1) == UNZ_OK) {
        assert_int_equal(unzOpenCurrentFile(z), UNZ_OK);
        while ((got = unzReadCurrentFile(z, buf, sizeof(buf))) > 0) {
            data = oa_realloc(data, len + (size_t)got + 1);
            assert_non_null(data);
            memcpy(data + len, buf, (size_t)got);
            len += (size_t)got;
        }
        assert_int_equal(got, 0);
        unzCloseCurrentFile(z);
        if (data == NULL)
            data = oa_calloc(1, 1);
        data[len] = '\0';
    }
    unzClose(z);
    return data;
}

/* Lines of a CSV body (CRLF), the header included. */
static size_t csv_lines(const char *body)
{
    size_t n = 0;

    for (; (body = strstr(body, "\r\n")) != NULL; body += 2)
        n++;
    return n;
}

/*
 * Mapping files: uids.csv holds every UID of the study once (study, 2
 * series, 4 instances), each new one the UID Orthanc stored; patients.csv
 * the Patient ID; a ZIP export with "Mapping": true has both at its root
 * with the same rows; the errors name what is wrong.
 */
static void test_mapping_files(void **state)
{
    static const char *const originals[] = {
        "1.2.3.4.5.6.9",     "1.2.3.4.5.6.9.1",   "1.2.3.4.5.6.9.2",
        "1.2.3.4.5.6.9.1.1", "1.2.3.4.5.6.9.1.2", "1.2.3.4.5.6.9.2.1",
        "1.2.3.4.5.6.9.2.2"};
    char study[FAKE_ID_SIZE], body[512], url[200], line[300], zpath[700];
    char *uids, *in_zip, anon[FAKE_ID_SIZE], report[96];
    fake_response r;
    cJSON *out, *ser;
    const cJSON *st, *it;
    size_t i;

    (void)state;
    fake_dicom_study("PID-MAP1", "Roe^Ann", "1.2.3.4.5.6.9", 2, 2, study);
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], "
             "\"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/anonymize", body, 200, NULL);
    /* copies: the answer is disposed of below */
    snprintf(report, sizeof(report), "%s", fake_response_str(&r, "Report"));
    st = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "Studies"), 0);
    snprintf(anon, sizeof(anon), "%s",
             cJSON_GetObjectItem(st, "Anonymized")->valuestring);
    out = orthanc_get("studies", anon);

    snprintf(url, sizeof(url), "/anonymizer/reports/%s/uids.csv", report);
    {
        fake_response u;

        req(&u, OA_HTTP_GET, url, NULL, 200, NULL);
        assert_string_equal(u.content_type, "text/csv; charset=utf-8");
        assert_non_null(strstr(fake_response_header(&u, "Content-Disposition"),
                               "uids.csv"));
        assert_null(fake_response_header(&u, "X-Anonymizer-Mapping"));
        uids = oa_strdup(u.body);
        fake_response_dispose(&u);
    }
    assert_memory_equal(uids, "id_old,id_new\r\n", 15);
    assert_int_equal(csv_lines(uids), 1 + 7);
    for (i = 0; i < sizeof(originals) / sizeof(originals[0]); i++) {
        snprintf(line, sizeof(line), "\n%s,2.25.", originals[i]);
        assert_non_null(strstr(uids, line));
        assert_null(strstr(strstr(uids, line) + 1, line)); /* once */
    }
    /* the new study and series UIDs are those Orthanc stored */
    snprintf(line, sizeof(line), "\n1.2.3.4.5.6.9,%s\r\n",
             tag_of(out, "MainDicomTags", "StudyInstanceUID"));
    assert_non_null(strstr(uids, line));
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(out, "Series")) {
        ser = orthanc_get("series", it->valuestring);
        snprintf(line, sizeof(line), ",%s\r\n",
                 tag_of(ser, "MainDicomTags", "SeriesInstanceUID"));
        assert_non_null(strstr(uids, line));
        cJSON_Delete(ser);
    }
    /* the report says how many */
    snprintf(url, sizeof(url), "/anonymizer/reports/%s", report);
    {
        fake_response rr;
        const cJSON *m;

        req(&rr, OA_HTTP_GET, url, NULL, 200, NULL);
        m = cJSON_GetObjectItem(rr.json, "Mapping");
        assert_non_null(m);
        assert_int_equal(cJSON_GetObjectItem(m, "Uids")->valueint, 7);
        assert_int_equal(cJSON_GetObjectItem(m, "Patients")->valueint, 1);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "Complete")));
        fake_response_dispose(&rr);
    }

    snprintf(url, sizeof(url), "/anonymizer/reports/%s/patients.csv", report);
    {
        fake_response p;

        req(&p, OA_HTTP_GET, url, NULL, 200, NULL);
        snprintf(line, sizeof(line), "id_old,id_new\r\nPID-MAP1,%s\r\n",
                 tag_of(out, "PatientMainDicomTags", "PatientID"));
        assert_string_equal(p.body, line);
        fake_response_dispose(&p);
    }
    check_405(OA_HTTP_POST, url, "GET");
    check(OA_HTTP_GET, "/anonymizer/reports/0000-1111/uids.csv", NULL, 404,
          "no report");
    check(OA_HTTP_GET, "/anonymizer/reports/0000-1111/patients.csv", NULL,
          404, "no report");
    /* a report of an earlier version: no mapping, a 404 that says so */
    assert_int_equal(oa_store_put(oa_service_store(oa_service_current()),
                                  OA_STORE_REPORTS, "old-report",
                                  "{\"ID\": \"old-report\", \"Studies\": []}",
                                  NULL),
                     OA_OK);
    check(OA_HTTP_GET, "/anonymizer/reports/old-report/uids.csv", NULL, 404,
          "no mapping files");
    /* an incomplete mapping (a job resumed after a restart): its rows,
     * and a header that says so */
    assert_int_equal(
        oa_store_put(oa_service_store(oa_service_current()),
                     OA_STORE_MAPPINGS, "old-report",
                     "{\"Complete\": false, \"Studies\": [{\"Study\": \"x\", "
                     "\"Uids\": [[\"1.2.3\", \"2.25.9\"]], \"Patients\": []}]}",
                     NULL),
        OA_OK);
    {
        fake_response u;

        req(&u, OA_HTTP_GET, "/anonymizer/reports/old-report/uids.csv", NULL,
            200, NULL);
        assert_string_equal(u.body, "id_old,id_new\r\n1.2.3,2.25.9\r\n");
        assert_string_equal(fake_response_header(&u, "X-Anonymizer-Mapping"),
                            "incomplete");
        fake_response_dispose(&u);
    }

    /* a ZIP with "Mapping": true: both files at the archive's root */
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"zip\", "
             "\"Mapping\": true}, \"Asynchronous\": false}",
             anon);
    fake_response_dispose(&r);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 200, NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(r.json, "Target"), "Mapping")));
    snprintf(zpath, sizeof(zpath), "%s/%s.zip", archive_dir,
             fake_response_str(&r, "Name"));
    snprintf(line, sizeof(line), "%s/uids.csv", fake_response_str(&r, "Name"));
    in_zip = zip_entry(zpath, line);
    assert_non_null(in_zip);
    assert_string_equal(in_zip, uids);
    oa_free(in_zip);
    snprintf(line, sizeof(line), "%s/patients.csv",
             fake_response_str(&r, "Name"));
    in_zip = zip_entry(zpath, line);
    assert_non_null(in_zip);
    assert_non_null(strstr(in_zip, "\r\nPID-MAP1,"));
    oa_free(in_zip);
    fake_response_dispose(&r);

    /* the original study: not anonymized by the plugin, no rows */
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"zip\", "
             "\"Mapping\": true}, \"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 200, NULL);
    snprintf(zpath, sizeof(zpath), "%s/%s.zip", archive_dir,
             fake_response_str(&r, "Name"));
    snprintf(line, sizeof(line), "%s/uids.csv", fake_response_str(&r, "Name"));
    in_zip = zip_entry(zpath, line);
    assert_non_null(in_zip);
    assert_string_equal(in_zip, "id_old,id_new\r\n");
    oa_free(in_zip);
    fake_response_dispose(&r);

    /* "Mapping" only in a zip target, and only a boolean */
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": "
             "\"folder\", \"Mapping\": true}}",
             anon);
    check(OA_HTTP_POST, "/anonymizer/export", body, 400, "Mapping");
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"zip\", "
             "\"Mapping\": \"yes\"}}",
             anon);
    check(OA_HTTP_POST, "/anonymizer/export", body, 400, "Mapping");

    /* the key stays out of the log */
    assert_false(fake_host_log_contains("PID-MAP1"));
    assert_false(fake_host_log_contains("1.2.3.4.5.6.9"));
    oa_free(uids);
    cJSON_Delete(out);
}

static void test_export_errors(void **state)
{
    char study[FAKE_ID_SIZE], body[512];

    (void)state;
    fake_dicom_study("PID-6", "Doe^Jane", "1.2.3.4.5.6.6", 1, 1, study);
    fake_host_add_modality("pacs", true);
    fake_host_add_peer("other", 200);
    check(OA_HTTP_POST, "/anonymizer/export", NULL, 400, "JSON body");
    check(OA_HTTP_POST, "/anonymizer/export", "{x", 400, "JSON");
    check(OA_HTTP_POST, "/anonymizer/export", "{}", 400, "Resources");
    check(OA_HTTP_POST, "/anonymizer/export",
          "{\"Resources\": [], \"Target\": {\"Type\": \"zip\"}}", 400,
          "Resources");
    check(OA_HTTP_POST, "/anonymizer/export",
          "{\"Resources\": [1], \"Target\": {\"Type\": \"zip\"}}", 400,
          "Resources");
    check(OA_HTTP_POST, "/anonymizer/export",
          "{\"Resources\": [\"0000000a-0000000b-0000000c-0000000d-0000000e\"],"
          " \"Target\": {\"Type\": \"zip\"}}",
          404, "no study or patient");
#define WITH_TARGET(t) (snprintf(body, sizeof(body),                         \
                                 "{\"Resources\": [\"%s\"], \"Target\": %s}", \
                                 study, t),                                  \
                        body)
    check(OA_HTTP_POST, "/anonymizer/export", WITH_TARGET("{}"), 400,
          "Type");
    check(OA_HTTP_POST, "/anonymizer/export", WITH_TARGET("\"zip\""), 400,
          "Target");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"floppy\"}"), 400, "Type");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"folder\", \"Folder\": \"../up\"}"), 400,
          "Folder");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"dicom\"}"), 400, "Modality");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"dicom\", \"Modality\": \"unknown\"}"),
          400, "unknown");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"peer\", \"Peer\": \"stranger\"}"), 400,
          "stranger");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"peer\", \"Peer\": \"a/b\"}"), 400,
          "peer name");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"destination\"}"), 400, "Name");
    check(OA_HTTP_POST, "/anonymizer/export",
          WITH_TARGET("{\"Type\": \"destination\", \"Name\": \"nope\"}"), 400,
          "nope");
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"zip\"}, "
             "\"Asynchronous\": 1}",
             study);
    check(OA_HTTP_POST, "/anonymizer/export", body, 400, "Asynchronous");
    check_405(OA_HTTP_GET, "/anonymizer/export", "POST");
    assert_int_equal(fake_job_count(), 0);
#undef WITH_TARGET
}

static void test_export_remote_targets(void **state)
{
    char study[FAKE_ID_SIZE], body[512];
    fake_response r;

    (void)state;
    fake_dicom_study("PID-7", "Doe^Jane", "1.2.3.4.5.6.7", 1, 3, study);
    fake_host_add_modality("pacs", true);
    fake_host_add_peer("other", 200);
    fake_host_add_peer("locked", 401);

    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"dicom\", "
             "\"Modality\": \"pacs\"}, \"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 200, NULL);
    assert_string_equal(fake_response_str(&r, "Location"),
                        "DICOM modality pacs");
    fake_response_dispose(&r);
    assert_int_equal(fake_host_received("pacs"), 3);

    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"peer\", "
             "\"Peer\": \"other\"}, \"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 200, NULL);
    fake_response_dispose(&r);
    assert_int_equal(fake_host_received("other"), 3);

    /* a peer refusing the credentials: 502, not retried */
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"peer\", "
             "\"Peer\": \"locked\"}, \"Asynchronous\": false}",
             study);
    req(&r, OA_HTTP_POST, "/anonymizer/export", body, 502,
        "refused the credentials");
    fake_response_dispose(&r);
}

static void test_destinations(void **state)
{
    fake_response r;

    (void)state;
    req(&r, OA_HTTP_GET, "/anonymizer/destinations", NULL, 200, NULL);
    assert_true(array_has(r.json, "cfg-folder"));
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    fake_response_dispose(&r);
    check_405(OA_HTTP_POST, "/anonymizer/destinations", "GET");

    req(&r, OA_HTTP_GET, "/anonymizer/destinations/cfg-folder", NULL, 200,
        NULL);
    assert_string_equal(fake_response_str(&r, "Type"), "folder");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "ReadOnly")));
    fake_response_dispose(&r);
    check(OA_HTTP_GET, "/anonymizer/destinations/none", NULL, 404, "none");

    /* a stored one with a password: never shown */
    req(&r, OA_HTTP_PUT, "/anonymizer/destinations/lab",
        "{\"Type\": \"ftp\", \"Url\": \"ftp://127.0.0.1:1/in\", "
        "\"Username\": \"u\", \"Password\": \"s3cret\"}",
        200, NULL);
    assert_string_equal(fake_response_str(&r, "Name"), "lab");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "HasPassword")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "ReadOnly")));
    assert_null(strstr(r.body, "s3cret"));
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/destinations", NULL, 200, NULL);
    assert_true(array_has(r.json, "lab"));
    fake_response_dispose(&r);
    req(&r, OA_HTTP_PUT, "/anonymizer/destinations/here",
        "{\"Type\": \"folder\", \"Url\": \"sub/dir\"}", 200, NULL);
    fake_response_dispose(&r);

    /* errors of PUT */
    check(OA_HTTP_PUT, "/anonymizer/destinations/x", "{", 400, "JSON");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x", NULL, 400, "JSON body");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x", "{\"Type\": \"tape\"}",
          400, "Type");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x",
          "{\"Type\": \"ftp\", \"Url\": \"http://a\"}", 400, "ftp://");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x",
          "{\"Type\": \"folder\", \"Url\": \"../etc\"}", 400, "Url");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x",
          "{\"Type\": \"sftp\", \"Url\": \"sftp://h/p\"}", 400, "KnownHosts");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x",
          "{\"Type\": \"folder\", \"Url\": \"a\", \"Colour\": 1}", 400,
          "Colour");
    check(OA_HTTP_PUT, "/anonymizer/destinations/cfg-folder",
          "{\"Type\": \"folder\", \"Url\": \"a\"}", 409, NULL);
    /* a Type that does not match the Url's scheme; credentials in Urls */
    check(OA_HTTP_PUT, "/anonymizer/destinations/x",
          "{\"Type\": \"ftp\", \"Url\": \"ftps://a/in\"}", 400,
          "\"Type\" \"ftp\" does not match the \"Url\" scheme \"ftps\"");
    check(OA_HTTP_PUT, "/anonymizer/destinations/x",
          "{\"Type\": \"ftp\", \"Url\": \"ftp://u:pw@a/in\"}", 400,
          "\"Username\" and \"Password\" fields");
    req(&r, OA_HTTP_GET, "/anonymizer/destinations/x", NULL, 404, NULL);
    fake_response_dispose(&r);
    /* the saved password never follows "lab" to another host or user */
    check(OA_HTTP_PUT, "/anonymizer/destinations/lab",
          "{\"Type\": \"ftp\", \"Url\": \"ftp://evil.example:1/in\", "
          "\"Username\": \"u\", \"HasPassword\": true}",
          400, "\"Password\" must be given again");
    check(OA_HTTP_PUT, "/anonymizer/destinations/lab",
          "{\"Type\": \"ftp\", \"Url\": \"ftp://127.0.0.1:1/in\", "
          "\"Username\": \"root\"}",
          400, "\"Password\" must be given again");
    req(&r, OA_HTTP_GET, "/anonymizer/destinations/lab", NULL, 200, NULL);
    assert_string_equal(fake_response_str(&r, "Url"), "ftp://127.0.0.1:1/in");
    assert_string_equal(fake_response_str(&r, "Username"), "u");
    fake_response_dispose(&r);
    /* the same address, another folder: kept */
    req(&r, OA_HTTP_PUT, "/anonymizer/destinations/lab",
        "{\"Type\": \"ftp\", \"Url\": \"ftp://127.0.0.1:1/in2\", "
        "\"Username\": \"u\"}",
        200, NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "HasPassword")));
    fake_response_dispose(&r);

    /* test */
    req(&r, OA_HTTP_POST, "/anonymizer/destinations/here/test", NULL, 200,
        NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "Success")));
    fake_response_dispose(&r);
    req(&r, OA_HTTP_POST, "/anonymizer/destinations/cfg-folder/test", NULL,
        200, NULL);
    fake_response_dispose(&r);
    /* nothing listens on port 1: the remote side failed */
    check(OA_HTTP_POST, "/anonymizer/destinations/lab/test", NULL, 502,
          NULL);
    check(OA_HTTP_POST, "/anonymizer/destinations/none/test", NULL, 404,
          "none");
    check_405(OA_HTTP_GET, "/anonymizer/destinations/here/test", "POST");

    /* delete */
    check(OA_HTTP_DELETE, "/anonymizer/destinations/cfg-folder", NULL, 409,
          NULL);
    check(OA_HTTP_DELETE, "/anonymizer/destinations/lab", NULL, 200, NULL);
    check(OA_HTTP_DELETE, "/anonymizer/destinations/lab", NULL, 404, NULL);
    check_405(OA_HTTP_POST, "/anonymizer/destinations/here",
              "GET,PUT,DELETE");
}

/* The audit trail: who took which studies out, when, where to. */
static const cJSON *entry_of(const cJSON *list, const char *kind)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, list) {
        const cJSON *k = cJSON_GetObjectItem(e, "Kind");

        if (cJSON_IsString(k) && strcmp(k->valuestring, kind) == 0)
            return e;
    }
    return NULL;
}

static bool list_has(const cJSON *list, const char *s)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, list)
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
            return true;
    return false;
}

static void test_audit(void **state)
{
    /* alice:secret, through a proxy */
    static const char *const alice[] = {
        "authorization", "Basic YWxpY2U6c2VjcmV0",
        "x-forwarded-for", "10.1.2.3, 10.0.0.1", NULL};
    static const char *const formula[] = {"x-forwarded-user", "=cmd|' /C calc'!A0",
                                          NULL};
    char study[FAKE_ID_SIZE], body[512], url[200], report[64];
    fake_response r;
    const cJSON *e;
    const char *kind_export[] = {"kind", "export", NULL};
    const char *bad_kind[] = {"kind", "everything", NULL};
    const char *old[] = {"until", "2000-01-01", NULL};
    const char *recent[] = {"since", "20000101", "limit", "2", NULL};
    const char *bad_date[] = {"since", "yesterday", NULL};
    const char *bad_limit[] = {"limit", "0", NULL};
    const char *csv[] = {"format", "csv", NULL};

    (void)state;
    fake_dicom_study("PID-AUD", "Doe^Audit", "1.2.3.4.5.6.77", 1, 2, study);
    /* an anonymization, an export, a report read, a destination saved and
     * removed: five entries */
    snprintf(body, sizeof(body),
             "{\"Resources\": [{\"Level\": \"Study\", \"ID\": \"%s\"}], "
             "\"Profile\": \"Full\", \"Asynchronous\": false}",
             study);
    fake_request_with(&r, OA_HTTP_POST, "/anonymizer/anonymize", body, NULL,
                      alice);
    assert_int_equal(r.status, 200);
    snprintf(report, sizeof(report), "%s", fake_response_str(&r, "Report"));
    fake_response_dispose(&r);
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Target\": {\"Type\": \"folder\", "
             "\"Folder\": \"aud\"}, \"Asynchronous\": false}",
             study);
    fake_request_with(&r, OA_HTTP_POST, "/anonymizer/export", body, NULL,
                      alice);
    assert_int_equal(r.status, 200);
    fake_response_dispose(&r);
    snprintf(url, sizeof(url), "/anonymizer/reports/%s/csv", report);
    fake_request_with(&r, OA_HTTP_GET, url, NULL, NULL, formula);
    assert_int_equal(r.status, 200);
    fake_response_dispose(&r);
    fake_request_with(&r, OA_HTTP_PUT, "/anonymizer/destinations/aud",
                      "{\"Type\": \"ftp\", \"Url\": "
                      "\"ftp://files.example.org:2121/in\", \"Username\": "
                      "\"u\", \"Password\": \"pw-never-logged\"}",
                      NULL, alice);
    assert_int_equal(r.status, 200);
    fake_response_dispose(&r);
    fake_request_with(&r, OA_HTTP_DELETE, "/anonymizer/destinations/aud",
                      NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    fake_response_dispose(&r);

    req(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, 200, NULL);
    assert_int_equal(cJSON_GetArraySize(r.json), 5);
    /* newest first */
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "Kind")->valuestring,
        "destination");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 4), "Kind")->valuestring,
        "anonymization");
    e = entry_of(r.json, "anonymization");
    assert_string_equal(cJSON_GetObjectItem(e, "User")->valuestring, "alice");
    assert_string_equal(cJSON_GetObjectItem(e, "Remote")->valuestring,
                        "10.1.2.3");
    assert_string_equal(cJSON_GetObjectItem(e, "Profile")->valuestring, "Full");
    assert_true(list_has(cJSON_GetObjectItem(e, "Studies"), study));
    assert_string_equal(cJSON_GetObjectItem(e, "Job")->valuestring, report);
    assert_non_null(cJSON_GetObjectItem(e, "Time"));
    e = entry_of(r.json, "export");
    assert_true(list_has(cJSON_GetObjectItem(e, "Studies"), study));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "Target"),
                                            "Type")->valuestring,
                        "folder");
    e = entry_of(r.json, "report-download");
    assert_string_equal(cJSON_GetObjectItem(e, "Report")->valuestring, report);
    assert_true(list_has(cJSON_GetObjectItem(e, "Studies"), study));
    assert_string_equal(cJSON_GetObjectItem(e, "User")->valuestring,
                        "=cmd|' /C calc'!A0");
    e = cJSON_GetArrayItem(r.json, 1);   /* the PUT */
    assert_string_equal(cJSON_GetObjectItem(e, "Action")->valuestring, "put");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "Target"),
                                            "Url")->valuestring,
                        "ftp://files.example.org:2121");
    e = cJSON_GetArrayItem(r.json, 0);   /* the DELETE: no user known */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "User")));
    /* no PHI, no secret: Orthanc IDs only */
    assert_null(strstr(r.body, "Doe"));
    assert_null(strstr(r.body, "PID-AUD"));
    assert_null(strstr(r.body, "1.2.3.4.5.6.77"));
    assert_null(strstr(r.body, "pw-never-logged"));
    assert_null(strstr(r.body, "secret"));
    fake_response_dispose(&r);

    /* filters */
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, kind_export);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    fake_response_dispose(&r);
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, old);
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    fake_response_dispose(&r);
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, recent);
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    fake_response_dispose(&r);
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, bad_kind);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(fake_response_str(&r, "Details"), "kind"));
    fake_response_dispose(&r);
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, bad_date);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(fake_response_str(&r, "Details"), "since"));
    fake_response_dispose(&r);
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, bad_limit);
    assert_int_equal(r.status, 400);
    fake_response_dispose(&r);

    /* CSV, both ways, with the formula guard */
    fake_request(&r, OA_HTTP_GET, "/anonymizer/audit", NULL, csv);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/csv; charset=utf-8");
    assert_memory_equal(r.body, "Time,Kind,User,Remote,", 22);
    assert_non_null(strstr(r.body, ",'=cmd|' /C calc'!A0,"));
    assert_null(strstr(r.body, ",=cmd"));
    fake_response_dispose(&r);
    req(&r, OA_HTTP_GET, "/anonymizer/audit.csv", NULL, 200, NULL);
    assert_string_equal(r.content_type, "text/csv; charset=utf-8");
    assert_non_null(strstr(r.body, "anonymization,alice,10.1.2.3,"));
    fake_response_dispose(&r);
    check_405(OA_HTTP_POST, "/anonymizer/audit", "GET");
}

/* The route table itself: every route answers something else than the
 * dispatcher's "no resource" 404 for a path it matches. */
static void test_every_route_is_reached(void **state)
{
    static const struct {
        oa_http_method method;
        const char *url;
    } samples[] = {
        {OA_HTTP_GET, "/anonymizer/info"},
        {OA_HTTP_GET, "/anonymizer/app"},
        {OA_HTTP_GET, "/anonymizer/app/app/index.html"},
        {OA_HTTP_GET, "/anonymizer/app/index.html"},
        {OA_HTTP_GET, "/anonymizer/profiles"},
        {OA_HTTP_GET, "/anonymizer/profiles/Default"},
        {OA_HTTP_GET, "/anonymizer/profiles/Default/rules"},
        {OA_HTTP_POST, "/anonymizer/anonymize"},
        {OA_HTTP_POST, "/anonymizer/studies/ab/anonymize"},
        {OA_HTTP_POST, "/anonymizer/copies"},
        {OA_HTTP_GET, "/anonymizer/reports"},
        {OA_HTTP_GET, "/anonymizer/jobs"},
        {OA_HTTP_GET, "/anonymizer/reports/ab"},
        {OA_HTTP_GET, "/anonymizer/reports/ab/csv"},
        {OA_HTTP_GET, "/anonymizer/reports/ab/uids.csv"},
        {OA_HTTP_POST, "/anonymizer/export"},
        {OA_HTTP_GET, "/anonymizer/exports/ab/archive.zip"},
        {OA_HTTP_GET, "/anonymizer/destinations"},
        {OA_HTTP_GET, "/anonymizer/destinations/cfg-folder"},
        {OA_HTTP_POST, "/anonymizer/destinations/cfg-folder/test"},
        {OA_HTTP_GET, "/anonymizer/audit"},
    };
    size_t count, i;
    const oa_route *routes = oa_rest_routes(&count);

    (void)state;
    /* one sample per route of the table, in its order */
    assert_int_equal(count, sizeof(samples) / sizeof(samples[0]));
    for (i = 0; i < count; i++) {
        fake_response r;

        assert_true((routes[i].methods & (unsigned)samples[i].method) != 0);
        fake_request(&r, samples[i].method, samples[i].url, NULL, NULL);
        assert_int_equal(r.answers, 1);
        if (r.status == 404)
            assert_null(strstr(fake_response_str(&r, "Details"),
                               "No anonymizer resource"));
        fake_response_dispose(&r);
    }
}

/* A service that is not installed yet answers 500 on every route that
 * needs it, and still answers once. */
static void test_without_service(void **state)
{
    oa_service *s = oa_service_current();
    fake_response r;

    (void)state;
    oa_service_install(NULL);
    req(&r, OA_HTTP_GET, "/anonymizer/info", NULL, 500, "starting");
    fake_response_dispose(&r);
    check(OA_HTTP_GET, "/anonymizer/profiles", NULL, 500, "starting");
    check(OA_HTTP_GET, "/anonymizer/reports", NULL, 500, "starting");
    check(OA_HTTP_POST, "/anonymizer/export", "{}", 500, "starting");
    oa_service_install(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_paths, start, stop),
        cmocka_unit_test_setup_teardown(test_info, start, stop),
        cmocka_unit_test_setup_teardown(test_app, start, stop),
        cmocka_unit_test_setup_teardown(test_profiles, start, stop),
        cmocka_unit_test_setup_teardown(test_profile_rules, start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_sync, start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_async_and_shortcuts,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_copies_and_force, start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_errors, start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_sync_failure, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_reports_errors, start, stop),
        cmocka_unit_test_setup_teardown(test_export_folder_and_zip, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_export_errors, start, stop),
        cmocka_unit_test_setup_teardown(test_mapping_files, start, stop),
        cmocka_unit_test_setup_teardown(test_export_remote_targets, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_destinations, start, stop),
        cmocka_unit_test_setup_teardown(test_audit, start, stop),
        cmocka_unit_test_setup_teardown(test_every_route_is_reached, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_without_service, start, stop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
