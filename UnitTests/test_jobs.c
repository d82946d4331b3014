/*
 * Unit tests of the plugin's Orthanc jobs on the fake host, stepped by
 * the test as Orthanc's jobs engine would: the anonymization job's steps,
 * progress and content, failures of single instances, cancel (what was
 * stored is removed), pause, serialization and restore after a restart,
 * resubmit; the export job to a folder and to a ZIP, its cancel and
 * restore; an anonymization chained to an export; automatic
 * anonymization of a stable study; a cancel that stops an instance in the
 * middle of its leak check within a second, and the leak check's warnings
 * in the job's content.  Anonymization on the way out: its request
 * ("Store", "Anonymize"), the export path from a file's own tags, the
 * same files as anonymize-then-export with nothing stored, cancel, pause
 * and restart (it starts over).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dicom_bytes.h"
#include "fake_plugin.h"
#include "export/export.h"
#include "orthanc/host.h"

#include <zlib.h>
#include "jobs/jobs.h"
#include "jobs/jobs_int.h"

static char tmp_root[256], export_dir[300], archive_dir[300];

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static int start_with(const char *extra)
{
    char config[2048];
    oa_error err;

    snprintf(tmp_root, sizeof(tmp_root), "%s/oa-test-jobs-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp_root) == NULL)
        return -1;
    snprintf(export_dir, sizeof(export_dir), "%s/export", tmp_root);
    snprintf(archive_dir, sizeof(archive_dir), "%s/archives", tmp_root);
    mkdir(export_dir, 0700);
    mkdir(archive_dir, 0700);
    snprintf(config, sizeof(config),
             "{\"Anonymizer\": {"
             "\"Secret\": \"0123456789abcdef0123456789abcdef\","
             "\"Threads\": 2, \"ExportFolder\": \"%s\","
             "\"ArchiveFolder\": \"%s\"%s}}",
             export_dir, archive_dir, extra);
    oa_error_clear(&err);
    if (fake_plugin_start(config, &err) != OA_OK) {
        fprintf(stderr, "start: %s\n", err.msg);
        return -1;
    }
    fake_host_set_auto_run(false);
    return 0;
}

static int start(void **state)
{
    (void)state;
    return start_with("");
}

static int start_auto(void **state)
{
    (void)state;
    return start_with(", \"AutoAnonymize\": [{\"Profile\": \"Default\"}]");
}

/* A work budget large enough that only a cancel stops the crafted
 * instance of test_anonymize_cancel_within_a_second. */
static int start_big_budget(void **state)
{
    (void)state;
    return start_with(", \"WorkBudget\": 1000000");
}

static int stop(void **state)
{
    (void)state;
    fake_plugin_stop();
    fake_remove_tree(tmp_root);
    return 0;
}

/* POST a request that starts a job (asynchronous); its job ID. */
static void submit(const char *url, const char *body, char job[64])
{
    fake_response r;

    fake_request(&r, OA_HTTP_POST, url, body, NULL);
    if (r.status != 200)
        fprintf(stderr, "POST %s: HTTP %u %s\n", url, (unsigned)r.status,
                r.body);
    assert_int_equal(r.status, 200);
    assert_non_null(fake_response_str(&r, "ID"));
    snprintf(job, 64, "%s", fake_response_str(&r, "ID"));
    fake_response_dispose(&r);
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_PENDING);
}

static void anonymize_study(const char *study, char job[64])
{
    char url[160];

    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    submit(url, NULL, job);
}

static int content_int(const cJSON *content, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(content, key);

    assert_true(cJSON_IsNumber(v));
    return v->valueint;
}

/* A field of the job as GET /jobs/{id} shows it. */
static cJSON *orthanc_job(const char *job)
{
    char uri[96];
    cJSON *json = NULL;
    oa_error err;

    snprintf(uri, sizeof(uri), "/jobs/%s", job);
    oa_error_clear(&err);
    assert_int_equal(oa_host_rest_get_json(uri, &json, &err), OA_OK);
    return json;
}

/* The record of the cluster's job list for `key`, or NULL. */
static cJSON *job_record(const char *key)
{
    fake_response r;
    const cJSON *rec;
    cJSON *found = NULL;

    fake_request(&r, OA_HTTP_GET, "/anonymizer/jobs", NULL, NULL);
    assert_int_equal(r.status, 200);
    cJSON_ArrayForEach(rec, r.json) {
        const cJSON *id = cJSON_GetObjectItem(rec, "ID");

        if (cJSON_IsString(id) && strcmp(id->valuestring, key) == 0)
            found = cJSON_Duplicate(rec, 1);
    }
    fake_response_dispose(&r);
    return found;
}

static void assert_record_state(const char *key, const char *state)
{
    cJSON *rec = job_record(key);

    assert_non_null(rec);
    assert_string_equal(cJSON_GetObjectItem(rec, "State")->valuestring,
                        state);
    cJSON_Delete(rec);
}

/* The anonymized study of report `report` (first row) holds the report's
 * ID in metadata 1025 and no original value (name, ID, study UID) in any
 * user metadata or attachment; attachment 1025 is not written. */
static void assert_study_unlinked(const char *report, const char *name,
                                  const char *pid, const char *uid)
{
    fake_response r;
    const cJSON *row, *anon;
    char url[160], uri[160];
    oa_buf b;
    uint16_t status;
    int number, kind;

    snprintf(url, sizeof(url), "/anonymizer/reports/%s", report);
    fake_request(&r, OA_HTTP_GET, url, NULL, NULL);
    assert_int_equal(r.status, 200);
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "Studies"), 0);
    anon = cJSON_GetObjectItem(row, "AnonymizedStudy");
    assert_true(cJSON_IsString(anon));
    oa_buf_init(&b, 1 << 20);
    snprintf(uri, sizeof(uri), "/studies/%s/metadata/%d", anon->valuestring,
             OA_REPORT_METADATA);
    assert_int_equal(oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &b, &status,
                                  NULL),
                     OA_OK);
    assert_int_equal(status, 200);
    assert_string_equal(oa_buf_cstr(&b), report);
    oa_buf_dispose(&b);
    for (kind = 0; kind < 2; kind++)
        for (number = 1024; number < 1100; number++) {
            oa_buf_init(&b, 1 << 20);
            snprintf(uri, sizeof(uri), "/studies/%s/%s/%d%s",
                     anon->valuestring, kind ? "attachments" : "metadata",
                     number, kind ? "/data" : "");
            (void)oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &b, &status, NULL);
            if (kind == 1)
                assert_int_equal(status, 404);   /* no attachment at all */
            if (status == 200) {
                const char *v = oa_buf_cstr(&b);

                assert_null(strstr(v, name));
                assert_null(strstr(v, pid));
                assert_null(strstr(v, uid));
            }
            oa_buf_dispose(&b);
        }
    fake_response_dispose(&r);
}

/* ------------------------------------------------------------------ */
/* The anonymization job                                                */

static void test_anonymize_steps_and_progress(void **state)
{
    char study[FAKE_ID_SIZE], job[64];
    cJSON *c, *oj;
    float p;

    (void)state;
    fake_dicom_study("PID-1", "Doe^Jane", "1.2.3.9.1", 2, 3, study);
    anonymize_study(study, job);
    assert_true(fake_job_progress(job) == 0.0f);

    /* first step: the plan */
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesTotal"), 6);
    assert_int_equal(content_int(c, "InstancesDone"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "Studies")),
                     1);
    cJSON_Delete(c);
    assert_true(fake_job_progress(job) == 0.0f);
    assert_int_equal(fake_host_instance_count(), 6);
    /* the job list knows it, with its Orthanc job */
    {
        cJSON *rec = job_record(job);

        assert_non_null(rec);
        assert_string_equal(cJSON_GetObjectItem(rec, "State")->valuestring,
                            "Running");
        assert_string_equal(cJSON_GetObjectItem(rec, "Job")->valuestring,
                            job);
        cJSON_Delete(rec);
    }

    /* then the instances, to the end */
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    p = fake_job_progress(job);
    assert_true(p == 1.0f);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 6);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    /* the report is named after the job */
    assert_string_equal(cJSON_GetObjectItem(c, "Report")->valuestring, job);
    cJSON_Delete(c);
    assert_int_equal(fake_host_instance_count(), 12);
    /* the study links back to its report by ID only */
    assert_study_unlinked(job, "Doe^Jane", "PID-1", "1.2.3.9.1");

    /* as Orthanc shows it */
    oj = orthanc_job(job);
    assert_string_equal(cJSON_GetObjectItem(oj, "State")->valuestring,
                        "Success");
    assert_int_equal(cJSON_GetObjectItem(oj, "Progress")->valueint, 100);
    assert_string_equal(cJSON_GetObjectItem(oj, "Type")->valuestring,
                        "Anonymization");
    cJSON_Delete(oj);
    assert_record_state(job, "Success");

    /* the same study again: same UIDs (keyed), Orthanc says AlreadyStored */
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_int_equal(fake_host_instance_count(), 12);
}

static void test_anonymize_instance_failures(void **state)
{
    char study[FAKE_ID_SIZE], job[64], first[FAKE_ID_SIZE];
    const char *uids[4] = {"PID-2", "1.2.3.9.2", "1.2.3.9.2.1",
                           "1.2.3.9.2.1.1"};
    cJSON *c, *report;
    const cJSON *failed, *row;
    fake_response r;
    char url[160];

    (void)state;
    fake_dicom_study("PID-2", "Doe^Jane", "1.2.3.9.2", 1, 4, study);
    fake_host_orthanc_id(first, uids, 4);
    /* the first instance cannot be read; one store answers 400 */
    fake_host_fault(FAKE_OP_DICOM, first, 0, 0, 1);
    fake_host_fault(OA_HTTP_POST, "/instances", 400, 1, 1);
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_int_equal(fake_host_faults_fired(), 2);

    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 4);
    assert_int_equal(content_int(c, "FailedCount"), 2);
    failed = cJSON_GetObjectItem(c, "Failed");
    assert_int_equal(cJSON_GetArraySize(failed), 2);
    {
        const cJSON *f;
        bool read = false, refused = false;

        cJSON_ArrayForEach(f, failed) {
            const char *e = cJSON_GetObjectItem(f, "Error")->valuestring;

            assert_true(cJSON_IsString(cJSON_GetObjectItem(f, "Instance")));
            if (strstr(e, "cannot read instance") != NULL) {
                read = true;
                assert_string_equal(
                    cJSON_GetObjectItem(f, "Instance")->valuestring, first);
            }
            refused |= strstr(e, "refused the anonymized instance (HTTP "
                                 "400)") != NULL;
        }
        assert_true(read);
        assert_true(refused);
    }
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "Studies"), 0);
    assert_int_equal(cJSON_GetObjectItem(row, "Instances")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(row, "Failed")->valueint, 2);
    cJSON_Delete(c);
    assert_int_equal(fake_host_instance_count(), 6);

    /* the report counts them too */
    snprintf(url, sizeof(url), "/anonymizer/reports/%s", job);
    fake_request(&r, OA_HTTP_GET, url, NULL, NULL);
    assert_int_equal(r.status, 200);
    report = r.json;
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(report, "Studies"), 0);
    assert_int_equal(cJSON_GetObjectItem(row, "Failed")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(row, "Instances")->valueint, 2);
    fake_response_dispose(&r);
    assert_false(fake_host_log_contains("Doe^Jane"));
}

static void test_anonymize_all_fail_then_resubmit(void **state)
{
    char study[FAKE_ID_SIZE], job[64], error[128];
    cJSON *c;

    (void)state;
    fake_dicom_study("PID-3", "Doe^Jane", "1.2.3.9.3", 1, 3, study);
    fake_host_fault(OA_HTTP_POST, "/instances", 0, 0, 3);   /* disk full */
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_FAILURE);
    fake_job_error(job, error, sizeof(error));
    assert_string_equal(error, "Error encountered within the plugin engine");
    c = fake_job_content(job);
    assert_non_null(strstr(cJSON_GetObjectItem(c, "Error")->valuestring,
                           "every instance failed"));
    assert_int_equal(content_int(c, "FailedCount"), 3);
    assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(
                                                   cJSON_GetObjectItem(
                                                       c, "Failed"),
                                                   0),
                                               "Error")
                               ->valuestring,
                           "storage is full"));
    cJSON_Delete(c);
    assert_record_state(job, "Failure");
    assert_int_equal(fake_host_instance_count(), 3);

    /* the disk has room again: resubmit resets the job, which succeeds */
    assert_true(fake_job_resubmit(job));
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_PENDING);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    assert_int_equal(content_int(c, "InstancesDone"), 3);
    cJSON_Delete(c);
    assert_int_equal(fake_host_instance_count(), 6);
    assert_false(fake_job_resubmit(job));   /* not failed */
}

static void test_anonymize_plan_failure(void **state)
{
    char study[FAKE_ID_SIZE], job[64], url[160];
    cJSON *c;

    (void)state;
    fake_dicom_study("PID-4", "Doe^Jane", "1.2.3.9.4", 1, 1, study);
    anonymize_study(study, job);
    /* the study is deleted before the job starts */
    snprintf(url, sizeof(url), "/studies/%s", study);
    {
        uint16_t status;

        assert_int_equal(oa_host_rest(OA_HTTP_DELETE, url, NULL, 0, NULL,
                                      &status, NULL),
                         OA_OK);
        assert_int_equal(status, 200);
    }
    assert_int_equal(fake_host_instance_count(), 0);
    assert_int_equal(fake_job_step(job), FAKE_JOB_FAILURE);
    c = fake_job_content(job);
    assert_non_null(strstr(cJSON_GetObjectItem(c, "Error")->valuestring,
                           "deleted before the job started"));
    cJSON_Delete(c);
    assert_record_state(job, "Failure");
}

static void test_anonymize_cancel_removes_output(void **state)
{
    char study[FAKE_ID_SIZE], job[64], error[128];
    size_t stored;
    cJSON *c;
    unsigned steps = 0;

    (void)state;
    fake_dicom_study("PID-5", "Doe^Jane", "1.2.3.9.5", 1, 16, study);
    fake_host_set_dicom_delay(60);   /* 16 x 60 ms / 2 threads: > 1 step */
    anonymize_study(study, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan */
    /* step until some instances are stored, not all */
    do {
        assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
        stored = fake_host_instance_count() - 16;
        steps++;
    } while (stored == 0 && steps < 20);
    assert_true(stored > 0);
    assert_true(stored < 16);
    {
        float p = fake_job_progress(job);

        assert_true(p > 0.0f);
        assert_true(p < 1.0f);
    }
    assert_true(fake_job_cancel(job));
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_FAILURE);
    fake_job_error(job, error, sizeof(error));
    assert_string_equal(error, "This job was canceled");
    /* everything this run stored is gone */
    assert_int_equal(fake_host_instance_count(), 16);
    assert_true(fake_host_log_contains("cancelled"));
    assert_record_state(job, "Cancelled");
    c = fake_job_content(job);
    assert_true(content_int(c, "InstancesDone") < 16);
    cJSON_Delete(c);
    assert_false(fake_job_cancel(job));   /* already over */
    assert_false(fake_job_pause(job));
}

static void test_anonymize_pause_restart_resume(void **state)
{
    char study[FAKE_ID_SIZE], job[64];
    char *saved;
    cJSON *s, *c;
    const char *states;
    size_t done = 0, i, before;
    unsigned steps = 0;

    (void)state;
    fake_dicom_study("PID-6", "Doe^Jane", "1.2.3.9.6", 2, 8, study);
    fake_host_set_dicom_delay(60);
    anonymize_study(study, job);
    /* not planned yet: the saved job is the request */
    saved = fake_job_serialized(job);
    s = cJSON_Parse(saved);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(s, "Planned")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "Items")), 0);
    cJSON_Delete(s);
    free(saved);

    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan */
    do {
        assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
        steps++;
    } while (fake_host_instance_count() == 16 && steps < 20);
    assert_true(fake_job_pause(job));
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_PAUSED);
    assert_record_state(job, "Paused");
    before = fake_host_instance_count() - 16;
    assert_true(before > 0 && before < 16);

    /* what Orthanc saves: every instance, one state digit each */
    saved = fake_job_serialized(job);
    s = cJSON_Parse(saved);
    assert_non_null(s);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s, "Planned")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "Items")), 16);
    states = cJSON_GetObjectItem(s, "States")->valuestring;
    assert_int_equal(strlen(states), 16);
    for (i = 0; i < 16; i++)
        done += states[i] == '2';
    assert_int_equal(done, before);
    assert_string_equal(cJSON_GetObjectItem(s, "Report")->valuestring, job);
    cJSON_Delete(s);
    free(saved);

    /* Orthanc restarts: the job is restored from that string */
    fake_host_set_dicom_delay(0);
    assert_true(fake_job_restart(job));
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_PENDING);
    assert_true(fake_host_log_contains("resumed"));
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), (int)before);
    cJSON_Delete(c);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 16);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c,
                                                                   "Studies"),
                                               0),
                            "Instances")
            ->valueint,
        16);
    cJSON_Delete(c);
    /* nothing stored twice */
    assert_int_equal(fake_host_instance_count(), 32);
    assert_record_state(job, "Success");

    /* a paused job resumes where it was, without a restart */
    anonymize_study(study, job);
    assert_true(fake_job_pause(job));    /* pending: no stop() */
    assert_int_equal(fake_job_step(job), FAKE_JOB_PAUSED);
    assert_true(fake_job_resume(job));
    assert_false(fake_job_resume(job));
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_int_equal(fake_host_instance_count(), 32);
}

static void sleep_ms(unsigned ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&t, NULL);
}

/* The "States" of a saved job: how many '2' (stored) and '1' (running). */
static void count_states(const char *saved, size_t *stored, size_t *running)
{
    cJSON *s = cJSON_Parse(saved);
    const char *states;

    assert_non_null(s);
    states = cJSON_GetObjectItem(s, "States")->valuestring;
    *stored = *running = 0;
    for (; *states != '\0'; states++) {
        *stored += *states == '2';
        *running += *states == '1';
    }
    cJSON_Delete(s);
}

/*
 * Orthanc stopping while the job runs (Orthanc 1.10.1 signals
 * OrthancStopped, then saves the running job without calling stop(),
 * then destroys its REST API and context): from OrthancStopped on, the
 * workers call Orthanc no more, even with their lease still valid; the
 * saved job counts only what was stored; a synchronous wait gives up;
 * after the restart the job ends with every instance stored once.
 */
static void test_anonymize_orthanc_stopping(void **state)
{
    char study[FAKE_ID_SIZE], job[64];
    char *saved;
    cJSON *c, *content = NULL;
    size_t at_stop, stored, running;
    unsigned steps = 0;
    oa_error err;

    (void)state;
    fake_dicom_study("PID-7", "Doe^Jane", "1.2.3.9.7", 2, 8, study);
    fake_host_set_dicom_delay(60);   /* 16 x 60 ms / 2 threads: > 1 step */
    anonymize_study(study, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan */
    do {
        assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
        steps++;
    } while (fake_host_instance_count() == 16 && steps < 20);

    /* right after a step: the workers' lease runs for another second */
    assert_true(oa_jobs_enter());
    oa_jobs_leave();
    assert_true(fake_host_orthanc_stopped());
    assert_true(oa_jobs_closing());
    assert_false(oa_jobs_enter());
    at_stop = fake_host_instance_count() - 16;
    assert_true(at_stop > 0 && at_stop < 16);
    sleep_ms(400);
    assert_int_equal(fake_host_calls_since_stopped(), 0);
    assert_int_equal(fake_host_instance_count() - 16, at_stop);

    /* Orthanc's jobs engine still steps the job until it stops: no
     * worker starts again */
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    sleep_ms(200);
    assert_int_equal(fake_host_instance_count() - 16, at_stop);

    /* what Orthanc saves then: the stored instances, nothing running */
    saved = fake_job_serialized(job);
    count_states(saved, &stored, &running);
    free(saved);
    assert_int_equal(stored, at_stop);
    assert_int_equal(running, 0);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), (int)at_stop);
    cJSON_Delete(c);

    /* a synchronous request waiting for the job gives up (the HTTP
     * server stops after OrthancStopped, waiting for its handlers) */
    oa_error_clear(&err);
    assert_int_equal(oa_job_wait(job, &content, &err), OA_EIO);
    assert_null(content);
    assert_non_null(strstr(err.msg, "stopping"));

    /* the new process: Initialize opens the gate, the job is restored
     * from what was saved and ends with every instance stored once */
    oa_jobs_register();
    assert_false(oa_jobs_closing());
    fake_host_set_dicom_delay(0);
    assert_true(fake_job_restart(job));
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), (int)at_stop);
    cJSON_Delete(c);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 16);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    cJSON_Delete(c);
    assert_int_equal(fake_host_instance_count(), 32);
}

/* No two members of one object share a name: Orthanc keeps what the
 * plugin serializes as a JsonCpp value, where the last of two equal keys
 * wins. */
static void assert_unique_keys(const cJSON *o)
{
    const cJSON *a, *b;

    for (a = o->child; a != NULL; a = a->next)
        for (b = a->next; b != NULL; b = b->next)
            if (a->string != NULL && b->string != NULL &&
                strcmp(a->string, b->string) == 0)
                fail_msg("key \"%s\" twice in a saved job", a->string);
}

/* Issue 12 (test_faults.py): a job saved after planning, before its first
 * instance, wrote the requested NewPatientID and the produced one (still
 * empty) under the same key; Orthanc kept the empty one, and the job,
 * killed and restored, used the pseudonym: a second anonymized study. */
static void test_saved_job_keeps_requested_identity(void **state)
{
    char study[FAKE_ID_SIZE], job[64], url[160];
    char *saved;
    cJSON *s;
    const cJSON *st;

    (void)state;
    fake_dicom_study("PID-12", "Roe^Rick", "1.2.3.9.12", 1, 2, study);
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    submit(url, "{\"NewPatientID\": \"KEEP12\", \"NewPatientName\": "
                "\"KEEP^TWELVE\"}", job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan */
    saved = fake_job_serialized(job);
    s = cJSON_Parse(saved);
    assert_non_null(s);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s, "Planned")));
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(s, "Studies")) {
        assert_unique_keys(st);
        assert_string_equal(
            cJSON_GetObjectItem(st, "NewPatientID")->valuestring, "KEEP12");
    }
    cJSON_Delete(s);
    free(saved);
}

static void test_unserialize_refuses_bad_input(void **state)
{
    char id[64];

    (void)state;
    assert_false(fake_job_unserialize("Anonymization", "not json", id));
    assert_false(fake_job_unserialize("Anonymization", "{\"Version\": 99}",
                                      id));
    assert_false(fake_job_unserialize("Anonymization",
                                      "{\"Version\": 2, \"Profile\": {}, "
                                      "\"Resources\": 3}",
                                      id));
    assert_false(fake_job_unserialize(
        "Anonymization",
        "{\"Version\": 2, \"Profile\": {}, \"Resources\": [], "
        "\"Studies\": [], \"Items\": [[\"ab\", 5]], \"States\": \"0\"}",
        id));
    assert_false(fake_job_unserialize("Export", "{\"Version\": 1}", id));
    assert_false(fake_job_unserialize("SomeoneElse", "{}", id));
    assert_int_equal(fake_job_count(), 0);

    /* a saved export, as an older run of the plugin left it */
    assert_true(fake_job_unserialize(
        "Export",
        "{\"Version\": 1, \"Resources\": [], \"Target\": {\"Type\": "
        "\"zip\"}, \"Export\": \"0000000a-0000-4000-8000-00000000000b\", "
        "\"Created\": \"20261126T101500\", \"Finished\": false}",
        id));
    assert_string_equal(fake_job_type(id), "Export");
    assert_int_equal(fake_job_run(id, 20), FAKE_JOB_SUCCESS);
}

/* ------------------------------------------------------------------ */
/* The export job                                                       */

static void export_body(char *body, size_t size, const char *study,
                        const char *target)
{
    snprintf(body, size, "{\"Resources\": [\"%s\"], \"Target\": %s}", study,
             target);
}

static void test_export_folder_steps(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[512], path[700];
    cJSON *c;
    const char *name;

    (void)state;
    fake_dicom_study("PID-7", "Doe^Jane", "1.2.3.9.7", 2, 2, study);
    export_body(body, sizeof(body), study,
                "{\"Type\": \"folder\", \"Folder\": \"site/a\"}");
    submit("/anonymizer/export", body, job);
    assert_string_equal(fake_job_type(job), "Export");
    assert_true(fake_job_progress(job) == 0.0f);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan, open */
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesTotal"), 4);
    assert_int_equal(content_int(c, "InstancesDone"), 0);
    name = cJSON_GetObjectItem(c, "Name")->valuestring;
    assert_memory_equal(name, "Anonymizer-", 11);
    snprintf(path, sizeof(path), "%s/site/a/%s.partial", export_dir, name);
    assert_int_equal(access(path, F_OK), 0);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c, "Target"), "Folder")
            ->valuestring,
        "site/a");
    cJSON_Delete(c);
    assert_record_state(job, "Running");

    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_true(fake_job_progress(job) == 1.0f);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 4);
    assert_true(content_int(c, "Bytes") > 0);
    name = cJSON_GetObjectItem(c, "Name")->valuestring;
    snprintf(path, sizeof(path), "%s/site/a/%s", export_dir, name);
    /* <name>/<Patient>/<Study>/<Series>/<SOPInstanceUID>.dcm */
    assert_int_equal(fake_count_names(path, ".dcm", true), 4);
    assert_int_equal(fake_count_names(export_dir, ".partial", true), 0);
    assert_non_null(cJSON_GetObjectItem(c, "Location"));
    cJSON_Delete(c);
    assert_record_state(job, "Success");
}

static void test_export_zip_and_split(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[512];
    cJSON *c;
    const cJSON *a;

    (void)state;
    fake_dicom_study("PID-8", "Doe^Jane", "1.2.3.9.8", 1, 3, study);
    export_body(body, sizeof(body), study, "{\"Type\": \"zip\"}");
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    a = cJSON_GetObjectItem(c, "Archives");
    assert_int_equal(cJSON_GetArraySize(a), 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "Name")->valuestring,
        "archive.zip");
    assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "Size")
                    ->valueint > 0);
    cJSON_Delete(c);
    assert_int_equal(fake_count_names(archive_dir, ".zip", true), 1);

    /* the download by job ID works too */
    {
        fake_response r;
        char url[160];

        snprintf(url, sizeof(url), "/anonymizer/exports/%s/archive.zip", job);
        fake_request(&r, OA_HTTP_GET, url, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_memory_equal(r.body, "PK\003\004", 4);
        fake_response_dispose(&r);
    }
}

/* "Dicomdir": true: the folder is a File-set, DICOM/P.../S.../S.../I...
 * files and a DICOMDIR whose IMAGE records name each of them; other
 * targets refuse it with a 400 that says why. */
typedef struct dd_count {
    unsigned images, records;
    char ids[8][64];
} dd_count;

static oa_status dd_element(void *user, const oa_element *el, oa_error *err)
{
    dd_count *c = user;

    (void)err;
    if (el->tag == OA_TAG(0x0004, 0x1430)) {
        c->records++;
        if (el->length >= 5 && memcmp(el->value, "IMAGE", 5) == 0)
            c->images++;
    }
    if (el->tag == OA_TAG(0x0004, 0x1500) && c->images > 0 &&
        c->images <= 8) {
        size_t k, n = oa_value_trim(el->value, el->length);

        n = n < 63 ? n : 63;
        memcpy(c->ids[c->images - 1], el->value, n);
        c->ids[c->images - 1][n] = '\0';
        for (k = 0; k < n; k++)
            if (c->ids[c->images - 1][k] == '\\')
                c->ids[c->images - 1][k] = '/';
    }
    return OA_OK;
}

static void test_export_dicomdir(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[512], path[900];
    oa_dicom_handler h;
    dd_count count;
    oa_buf dd;
    oa_error err;
    fake_response r;
    cJSON *c;
    unsigned i;

    (void)state;
    fake_dicom_study("PID-DD", "Doe^Jane", "1.2.3.9.77", 2, 2, study);
    export_body(body, sizeof(body), study,
                "{\"Type\": \"folder\", \"Folder\": \"media\", "
                "\"Dicomdir\": true}");
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(c, "Target"), "Dicomdir")));
    snprintf(path, sizeof(path), "%s/media/%s/DICOMDIR", export_dir,
             cJSON_GetObjectItem(c, "Name")->valuestring);
    oa_buf_init(&dd, 1 << 24);
    oa_error_clear(&err);
    assert_int_equal(oa_file_read(path, &dd, &err), OA_OK);
    memset(&h, 0, sizeof(h));
    memset(&count, 0, sizeof(count));
    h.element = dd_element;
    h.user = &count;
    assert_int_equal(oa_dicom_parse(oa_buf_data(&dd), dd.len, NULL, &h, NULL,
                                    &err),
                     OA_OK);
    /* 1 patient, 1 study, 2 series, 4 images */
    assert_int_equal(count.records, 8);
    assert_int_equal(count.images, 4);
    for (i = 0; i < 4; i++) {
        char file[1000];

        assert_true(oa_dicomdir_file_id_ok(count.ids[i]));
        snprintf(file, sizeof(file), "%s/media/%s/%s", export_dir,
                 cJSON_GetObjectItem(c, "Name")->valuestring, count.ids[i]);
        assert_int_equal(access(file, F_OK), 0);
    }
    assert_int_equal(fake_count_names(export_dir, ".dcm", true), 0);
    oa_buf_dispose(&dd);
    cJSON_Delete(c);

    /* not for a DICOM modality: 400, and why */
    export_body(body, sizeof(body), study,
                "{\"Type\": \"dicom\", \"Modality\": \"pacs\", "
                "\"Dicomdir\": true}");
    fake_request(&r, OA_HTTP_POST, "/anonymizer/export", body, NULL);
    assert_int_equal(r.status, 400);
    fake_response_dispose(&r);
    export_body(body, sizeof(body), study,
                "{\"Type\": \"zip\", \"Compression\": \"max\"}");
    fake_request(&r, OA_HTTP_POST, "/anonymizer/export", body, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "Compression"));
    fake_response_dispose(&r);
    export_body(body, sizeof(body), study,
                "{\"Type\": \"zip\", \"Dicomdir\": \"yes\"}");
    fake_request(&r, OA_HTTP_POST, "/anonymizer/export", body, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "Dicomdir"));
    fake_response_dispose(&r);
}

/* Issue 12, defect 13: a lost side effect shows in the job. */
static void test_lost_side_effects(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[512], prefix[160];
    cJSON *c, *oj;
    const cJSON *w;
    fake_response r;
    char url[160];

    (void)state;
    /* the report cannot be saved: the job succeeds with "Warnings" */
    fake_dicom_study("PID-W1", "Doe^Jane", "1.2.3.9.41", 1, 2, study);
    anonymize_study(study, job);
    snprintf(prefix, sizeof(prefix), "{\"ID\":\"%s\",\"Job\"", job);
    fake_host_fault(FAKE_OP_PROPERTY, prefix, 0, 0, 0);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_true(fake_host_faults_fired() >= 1);
    c = fake_job_content(job);
    w = cJSON_GetObjectItem(c, "Warnings");
    assert_int_equal(cJSON_GetArraySize(w), 1);
    assert_non_null(strstr(cJSON_GetArrayItem(w, 0)->valuestring,
                           "report was not saved"));
    cJSON_Delete(c);
    /* and still after Orthanc restarts (the job's saved state) */
    assert_true(fake_job_restart(job));
    c = fake_job_content(job);
    w = cJSON_GetObjectItem(c, "Warnings");
    assert_int_equal(cJSON_GetArraySize(w), 1);
    assert_non_null(strstr(cJSON_GetArrayItem(w, 0)->valuestring,
                           "report was not saved"));
    cJSON_Delete(c);
    snprintf(url, sizeof(url), "/anonymizer/reports/%s", job);
    fake_request(&r, OA_HTTP_GET, url, NULL, NULL);
    assert_int_equal(r.status, 404);
    fake_response_dispose(&r);
    /* a job that lost nothing has no "Warnings" */
    fake_dicom_study("PID-W2", "Doe^John", "1.2.3.9.42", 1, 1, study);
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_null(cJSON_GetObjectItem(c, "Warnings"));
    cJSON_Delete(c);

    /* the ZIP archive cannot be recorded: its download would answer 404,
     * so the export fails, says why, and leaves no archive behind */
    export_body(body, sizeof(body), study, "{\"Type\": \"zip\"}");
    submit("/anonymizer/export", body, job);
    snprintf(prefix, sizeof(prefix), "{\"ID\":\"%s\",\"Name\"", job);
    fake_host_fault(FAKE_OP_PROPERTY, prefix, 0, 0, 0);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_FAILURE);
    c = fake_job_content(job);
    assert_non_null(strstr(cJSON_GetObjectItem(c, "Error")->valuestring,
                           "could not be recorded"));
    cJSON_Delete(c);
    oj = orthanc_job(job);
    assert_string_equal(cJSON_GetObjectItem(oj, "State")->valuestring,
                        "Failure");
    cJSON_Delete(oj);
    assert_int_equal(fake_count_names(archive_dir, ".zip", true), 0);
}

/* Issue 12, defect 11: "ReportRetention": {"Count": 1} keeps the newest
 * report only, removed when the next anonymization writes its own. */
static int start_retention(void **state)
{
    (void)state;
    return start_with(", \"ReportRetention\": {\"Count\": 1}");
}

static void test_report_retention(void **state)
{
    char study[FAKE_ID_SIZE], first[64], second[64], url[160];
    fake_response r;

    (void)state;
    fake_dicom_study("PID-R1", "Doe^Jane", "1.2.3.9.51", 1, 1, study);
    anonymize_study(study, first);
    assert_int_equal(fake_job_run(first, 50), FAKE_JOB_SUCCESS);
    fake_dicom_study("PID-R2", "Doe^John", "1.2.3.9.52", 1, 1, study);
    anonymize_study(study, second);
    assert_int_equal(fake_job_run(second, 50), FAKE_JOB_SUCCESS);
    snprintf(url, sizeof(url), "/anonymizer/reports/%s", first);
    fake_request(&r, OA_HTTP_GET, url, NULL, NULL);
    assert_int_equal(r.status, 404);
    fake_response_dispose(&r);
    snprintf(url, sizeof(url), "/anonymizer/reports/%s", second);
    fake_request(&r, OA_HTTP_GET, url, NULL, NULL);
    assert_int_equal(r.status, 200);
    fake_response_dispose(&r);
    assert_non_null(strstr(fake_host_logs(), "1 reports and 0 job records "
                                             "removed"));
}

/* Issue 12, defect 3: the workers of a job share JobMemoryLimit.  A
 * deflated instance of 400 KiB may inflate (MaxInflateRatio 100) to
 * 40 MiB, so rewriting it may take about 81 MiB: more than a 64 MiB
 * budget, it fails naming the limit; the job's other instance is done. */
static int start_small_budget(void **state)
{
    (void)state;
    return start_with(", \"JobMemoryLimit\": 67108864");
}

static void store_deflated(const char *study_uid)
{
    static uint8_t noise[400 << 10];
    uint8_t *def;
    size_t i, def_cap = sizeof(noise) + 65536;
    uint32_t x = 2463534242u;
    z_stream zs;
    tb t, d;
    oa_buf answer;
    uint16_t status = 0;
    oa_error err;

    for (i = 0; i < sizeof(noise); i++) {   /* xorshift: incompressible */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise[i] = (uint8_t)x;
    }
    tb_init(&d, true, false);
    tb_uid(&d, 0x00080016, "1.2.840.10008.5.1.4.1.1.2");
    tb_uid(&d, 0x00080018, "1.2.3.9.61.1.99");
    tb_str(&d, 0x00080060, "CS", "CT");
    tb_str(&d, 0x00090010, "LO", "OATEST  ");
    tb_el(&d, 0x00091000, "OB", noise, sizeof(noise));
    tb_str(&d, 0x00100010, "PN", "Doe^Deflated");
    tb_str(&d, 0x00100020, "LO", "PID-DEF1");
    tb_uid(&d, 0x0020000D, study_uid);
    tb_uid(&d, 0x0020000E, "1.2.3.9.61.1");
    def = malloc(def_cap);
    assert_non_null(def);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)tb_data(&d);
    zs.avail_in = (uInt)tb_len(&d);
    zs.next_out = def;
    zs.avail_out = (uInt)def_cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    tb_init(&t, true, false);
    tb_meta(&t, "1.2.840.10008.1.2.1.99", true);
    tb_raw(&t, def, zs.total_out);
    deflateEnd(&zs);
    oa_buf_init(&answer, 1 << 20);
    oa_error_clear(&err);
    assert_int_equal(oa_host_rest(OA_HTTP_POST, "/instances", tb_data(&t),
                                  tb_len(&t), &answer, &status, &err),
                     OA_OK);
    assert_int_equal(status, 200);
    oa_buf_dispose(&answer);
    tb_dispose(&t);
    tb_dispose(&d);
    free(def);
}

static void test_job_memory_budget(void **state)
{
    char study[FAKE_ID_SIZE], job[64];
    cJSON *c;
    const cJSON *f;

    (void)state;
    fake_dicom_study("PID-DEF1", "Doe^Deflated", "1.2.3.9.61", 1, 1, study);
    store_deflated("1.2.3.9.61");
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesTotal"), 2);
    assert_int_equal(content_int(c, "FailedCount"), 1);
    f = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "Failed"), 0);
    assert_non_null(strstr(cJSON_GetObjectItem(f, "Error")->valuestring,
                           "JobMemoryLimit"));
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c,
                                                                   "Studies"),
                                               0),
                            "Instances")->valueint,
        1);
    cJSON_Delete(c);
}

/* The same instance within the default budget (1 GiB) is anonymized. */
static void test_job_memory_budget_fits(void **state)
{
    char study[FAKE_ID_SIZE], job[64];
    cJSON *c;

    (void)state;
    fake_dicom_study("PID-DEF1", "Doe^Deflated", "1.2.3.9.61", 1, 1, study);
    store_deflated("1.2.3.9.61");
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesTotal"), 2);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    cJSON_Delete(c);
}

/* Step a job that a restart left pending until it succeeds. */
static void finish_restarted(const char *job)
{
    unsigned steps = 0;

    while (fake_job_state_of(job) == FAKE_JOB_PENDING ||
           fake_job_state_of(job) == FAKE_JOB_RUNNING) {
        fake_job_step(job);
        assert_true(++steps < 50);
    }
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_SUCCESS);
}

static void test_export_cancel_and_restart(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[512];
    cJSON *c;

    (void)state;
    fake_dicom_study("PID-9", "Doe^Jane", "1.2.3.9.9", 1, 10, study);
    fake_host_set_dicom_delay(60);   /* 10 x 60 ms: more than one step */
    export_body(body, sizeof(body), study,
                "{\"Type\": \"folder\", \"Folder\": \"c\"}");
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    {
        float p = fake_job_progress(job);

        assert_true(p > 0.0f);
        assert_true(p < 0.99f);
    }
    assert_int_equal(fake_count_names(export_dir, ".partial", true), 1);
    assert_true(fake_job_cancel(job));
    /* what was written is removed */
    assert_int_equal(fake_count_names(export_dir, ".partial", true), 0);
    assert_int_equal(fake_count_names(export_dir, ".dcm", true), 0);
    c = fake_job_content(job);
    assert_non_null(strstr(cJSON_GetObjectItem(c, "Error")->valuestring,
                           "cancelled"));
    cJSON_Delete(c);
    assert_record_state(job, "Cancelled");

    /* a second one is paused by a restart half-way, then starts over */
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_true(fake_job_restart(job));
    assert_int_equal(fake_count_names(export_dir, ".partial", true), 0);
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_PENDING);
    fake_host_set_dicom_delay(0);
    finish_restarted(job);
    assert_int_equal(fake_count_names(export_dir, ".dcm", true), 10);
    c = fake_job_content(job);
    assert_string_equal(cJSON_GetObjectItem(c, "Export")->valuestring, job);
    cJSON_Delete(c);
}

static void test_export_failure(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[512];
    cJSON *c;

    (void)state;
    fake_dicom_study("PID-10", "Doe^Jane", "1.2.3.9.10", 1, 3, study);
    fake_host_fault(FAKE_OP_DICOM, "", 0, 1, 1);   /* the second read */
    export_body(body, sizeof(body), study, "{\"Type\": \"folder\"}");
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_FAILURE);
    c = fake_job_content(job);
    assert_non_null(strstr(cJSON_GetObjectItem(c, "Error")->valuestring,
                           "cannot read instance"));
    cJSON_Delete(c);
    assert_int_equal(fake_count_names(export_dir, ".partial", true), 0);
    assert_int_equal(fake_count_names(export_dir, ".dcm", true), 0);
    assert_record_state(job, "Failure");
    /* resubmitted, it succeeds */
    assert_true(fake_job_resubmit(job));
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_int_equal(fake_count_names(export_dir, ".dcm", true), 3);
}

static void test_anonymize_chained_export(void **state)
{
    char study[FAKE_ID_SIZE], job[64], url[160], export_job[64];
    cJSON *c;

    (void)state;
    fake_dicom_study("PID-11", "Doe^Jane", "1.2.3.9.11", 1, 2, study);
    snprintf(url, sizeof(url), "/anonymizer/studies/%s/anonymize", study);
    submit(url,
           "{\"Export\": {\"Target\": {\"Type\": \"folder\", \"Folder\": "
           "\"chained\"}}}",
           job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    assert_non_null(cJSON_GetObjectItem(c, "ExportJob"));
    snprintf(export_job, sizeof(export_job), "%s",
             cJSON_GetObjectItem(c, "ExportJob")->valuestring);
    cJSON_Delete(c);
    assert_int_equal(fake_job_count(), 2);
    assert_string_equal(fake_job_type(export_job), "Export");
    assert_int_equal(fake_job_run_all(), 1);
    assert_int_equal(fake_job_state_of(export_job), FAKE_JOB_SUCCESS);
    /* the anonymized study was exported, not the original */
    {
        char path[400];
        size_t n;

        snprintf(path, sizeof(path), "%s/chained", export_dir);
        n = fake_count_names(path, ".dcm", true);
        assert_int_equal(n, 2);
    }
    c = fake_job_content(export_job);
    assert_int_equal(content_int(c, "InstancesDone"), 2);
    cJSON_Delete(c);
}

/* ------------------------------------------------------------------ */
/* On the way out                                                       */

static oa_status parse_export(const char *text, bool *has_target,
                              bool *store, char *msg, size_t size)
{
    cJSON *body = cJSON_Parse(text);
    const cJSON *target = NULL;
    oa_error err;
    oa_status rc;

    assert_non_null(body);
    oa_error_clear(&err);
    rc = oa_job_anonymize_parse_export(body, &target, store, &err);
    *has_target = target != NULL;
    snprintf(msg, size, "%s", err.msg);
    cJSON_Delete(body);
    return rc;
}

static void test_wayout_parse_export(void **state)
{
    static const struct {
        const char *body;
        oa_status rc;
        bool target, store;
        const char *says;   /* in the message, for an error */
    } cases[] = {
        {"{}", OA_OK, false, true, NULL},
        {"{\"Export\": null}", OA_OK, false, true, NULL},
        {"{\"Export\": {\"Target\": {\"Type\": \"zip\"}}}", OA_OK, true, true,
         NULL},
        {"{\"Export\": {\"Target\": {\"Type\": \"zip\"}, \"Store\": false}}",
         OA_OK, true, false, NULL},
        {"{\"Export\": {\"Target\": {\"Type\": \"zip\"}, \"Store\": true}}",
         OA_OK, true, true, NULL},
        /* AutoAnonymize's form: "Store" next to "Export" */
        {"{\"Store\": false, \"Export\": {\"Target\": {\"Type\": \"zip\"}}}",
         OA_OK, true, false, NULL},
        {"{\"Store\": false, \"Export\": {\"Target\": {}, \"Store\": false}}",
         OA_OK, true, false, NULL},
        {"{\"Store\": true}", OA_OK, false, true, NULL},
        {"{\"Store\": false}", OA_EINVAL, false, true, "needs \"Export\""},
        {"{\"Store\": \"no\", \"Export\": {\"Target\": {}}}", OA_EINVAL,
         false, true, "\"Store\" must be true"},
        {"{\"Export\": {\"Target\": {}, \"Store\": 0}}", OA_EINVAL, false,
         true, "\"Export\": \"Store\" must be true"},
        {"{\"Store\": true, \"Export\": {\"Target\": {}, \"Store\": false}}",
         OA_EINVAL, false, true, "twice"},
        {"{\"Export\": {\"Store\": false}}", OA_EINVAL, false, true,
         "\"Target\""},
        {"{\"Export\": \"lab\"}", OA_EINVAL, false, true, "\"Target\""},
        {"{\"Export\": {\"Target\": null, \"Store\": false}}", OA_EINVAL,
         false, true, "\"Target\""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool target = false, store = true;
        char msg[OA_ERROR_MSG_MAX];
        oa_status rc = parse_export(cases[i].body, &target, &store, msg,
                                    sizeof(msg));

        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu: %s\n", i, cases[i].body);
        assert_int_equal(rc, cases[i].rc);
        if (rc == OA_OK) {
            assert_int_equal(target, cases[i].target);
            assert_int_equal(store, cases[i].store);
        } else {
            assert_non_null(strstr(msg, cases[i].says));
        }
    }
}

/* POST /anonymizer/export with "Anonymize": the request it stands for. */
static void test_wayout_request(void **state)
{
    char study[FAKE_ID_SIZE], body[1024], patient[FAKE_ID_SIZE];
    cJSON *in, *out = NULL, *p = NULL;
    const cJSON *r0, *r1, *x;
    oa_error err;
    char uri[96];

    (void)state;
    fake_dicom_study("PID-W1", "Doe^Jane", "1.2.3.9.71", 1, 1, study);
    snprintf(uri, sizeof(uri), "/studies/%s", study);
    oa_error_clear(&err);
    assert_int_equal(oa_host_rest_get_json(uri, &p, &err), OA_OK);
    snprintf(patient, sizeof(patient), "%s",
             cJSON_GetObjectItem(p, "ParentPatient")->valuestring);
    cJSON_Delete(p);
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\", {\"Level\": \"Study\", \"ID\": \"%s\","
             " \"NewPatientID\": \"OWN\"}],"
             " \"Anonymize\": {\"Profile\": \"Full\", \"NewPatientID\": "
             "\"ANON-1\", \"Force\": true},"
             " \"Target\": {\"Type\": \"zip\"}, \"Priority\": 3}",
             patient, study);
    in = cJSON_Parse(body);
    assert_int_equal(oa_job_wayout_request(in, &out, &err), OA_OK);
    r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "Resources"), 0);
    r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "Resources"), 1);
    /* an ID is looked up: the patient's */
    assert_string_equal(cJSON_GetObjectItem(r0, "Level")->valuestring,
                        "Patient");
    assert_string_equal(cJSON_GetObjectItem(r0, "ID")->valuestring, patient);
    /* Anonymize's New* for the one without its own */
    assert_string_equal(cJSON_GetObjectItem(r0, "NewPatientID")->valuestring,
                        "ANON-1");
    assert_string_equal(cJSON_GetObjectItem(r1, "NewPatientID")->valuestring,
                        "OWN");
    assert_string_equal(cJSON_GetObjectItem(out, "Profile")->valuestring,
                        "Full");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "Force")));
    assert_int_equal(cJSON_GetObjectItem(out, "Priority")->valueint, 3);
    x = cJSON_GetObjectItem(out, "Export");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(x, "Store")));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(x, "Target"), "Type")
            ->valuestring,
        "zip");
    cJSON_Delete(out);
    cJSON_Delete(in);

    {
        static const struct {
            const char *body;
            oa_status rc;
        } bad[] = {
            {"{\"Resources\": [\"x\"], \"Anonymize\": \"Full\", \"Target\": "
             "{\"Type\": \"zip\"}}", OA_EINVAL},
            {"{\"Resources\": [\"x\"], \"Anonymize\": {\"Profil\": 1}, "
             "\"Target\": {\"Type\": \"zip\"}}", OA_EINVAL},
            {"{\"Resources\": [\"x\"], \"Anonymize\": {\"NewPatientID\": 7}, "
             "\"Target\": {\"Type\": \"zip\"}}", OA_EINVAL},
            {"{\"Resources\": [\"x\"], \"Anonymize\": {}}", OA_EINVAL},
            {"{\"Resources\": [], \"Anonymize\": {}, \"Target\": {}}",
             OA_EINVAL},
            {"{\"Resources\": [7], \"Anonymize\": {}, \"Target\": {}}",
             OA_EINVAL},
            {"{\"Resources\": [\"0000-1111\"], \"Anonymize\": {}, "
             "\"Target\": {}}", OA_ENOTFOUND},
            {"{\"Resources\": [\"../x\"], \"Anonymize\": {}, "
             "\"Target\": {}}", OA_ENOTFOUND},
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            in = cJSON_Parse(bad[i].body);
            out = NULL;
            oa_error_clear(&err);
            assert_int_equal(oa_job_wayout_request(in, &out, &err),
                             bad[i].rc);
            assert_null(out);
            assert_true(err.msg[0] != '\0');
            cJSON_Delete(in);
        }
    }
}

/* The path of a file in the export tree, from tag values and from the
 * file's own tags (what Orthanc shows of them). */
static void test_export_relpath(void **state)
{
    oa_export_path_tags t;
    char path[OA_EXPORT_RELPATH_MAX];
    oa_error err;
    tb b;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.patient_id = "ANON 1/2";
    t.study_date = "20240211";
    t.study_description = "CT THORAX";
    t.study_uid = "2.25.1";
    t.modality = "CT";
    t.series_number = "3";
    t.series_description = "AXIAL";
    t.sop_instance_uid = "2.25.9";
    oa_export_relpath(path, sizeof(path), &t, "fallback");
    assert_string_equal(path,
                        "ANON_1_2/20240211-CT_THORAX/CT3-AXIAL/2.25.9.dcm");
    /* no description: the study UID; an empty one: the date alone */
    t.study_description = NULL;
    t.series_description = NULL;
    t.sop_instance_uid = NULL;
    oa_export_relpath(path, sizeof(path), &t, "abc-1");
    assert_string_equal(path, "ANON_1_2/20240211-2.25.1/CT3/abc-1.dcm");
    t.study_description = "";
    t.patient_id = NULL;
    t.modality = NULL;
    t.series_number = NULL;
    oa_export_relpath(path, sizeof(path), &t, NULL);
    assert_string_equal(path, "unknown/20240211/unknown/unknown.dcm");

    /* From a file: padding dropped, "" kept apart from absent, a Latin-1
     * byte counted as its two UTF-8 bytes (Orthanc's main tags are
     * UTF-8), tags after (0020,0011) and sequences not needed. */
    tb_init(&b, true, false);
    tb_meta(&b, "1.2.840.10008.1.2.1", true);
    tb_str(&b, OA_TAG(0x0008, 0x0005), "CS", "ISO_IR 100");
    tb_uid(&b, OA_TAG(0x0008, 0x0018), "2.25.77");
    tb_str(&b, OA_TAG(0x0008, 0x0020), "DA", "20240211");
    tb_str(&b, OA_TAG(0x0008, 0x0060), "CS", "CT");
    tb_str(&b, OA_TAG(0x0008, 0x1030), "LO", "T\xe9te ");
    tb_hdr(&b, OA_TAG(0x0008, 0x1140), "SQ", 0xFFFFFFFFu);
    tb_item(&b, 0xFFFFFFFFu);
    tb_uid(&b, OA_TAG(0x0008, 0x1155), "9.9.9");
    tb_item_end(&b);
    tb_seq_end(&b);
    tb_str(&b, OA_TAG(0x0010, 0x0020), "LO", "PID-7 ");
    tb_uid(&b, OA_TAG(0x0020, 0x000D), "2.25.5");
    tb_str(&b, OA_TAG(0x0020, 0x0011), "IS", "12");
    tb_str(&b, OA_TAG(0x0020, 0x0013), "IS", "1");
    oa_error_clear(&err);
    assert_int_equal(oa_export_relpath_of(tb_data(&b), tb_len(&b), path,
                                          sizeof(path), &err),
                     OA_OK);
    assert_string_equal(path, "PID-7/20240211-T__te/CT12/2.25.77.dcm");
    tb_dispose(&b);

    /* UTF-8 bytes stay one each; no description: the study UID */
    tb_init(&b, true, false);
    tb_meta(&b, "1.2.840.10008.1.2.1", true);
    tb_str(&b, OA_TAG(0x0008, 0x0005), "CS", "ISO_IR 192");
    tb_uid(&b, OA_TAG(0x0008, 0x0018), "2.25.78");
    tb_str(&b, OA_TAG(0x0008, 0x0020), "DA", "20240212");
    tb_str(&b, OA_TAG(0x0008, 0x103E), "LO", "S\xc3\xa9rie");
    tb_str(&b, OA_TAG(0x0010, 0x0020), "LO", "P");
    tb_uid(&b, OA_TAG(0x0020, 0x000D), "2.25.6");
    assert_int_equal(oa_export_relpath_of(tb_data(&b), tb_len(&b), path,
                                          sizeof(path), &err),
                     OA_OK);
    assert_string_equal(path, "P/20240212-2.25.6/S__rie/2.25.78.dcm");
    tb_dispose(&b);

    /* not DICOM: refused */
    assert_int_not_equal(oa_export_relpath_of((const uint8_t *)"\x08\x00",
                                              2, path, sizeof(path), &err),
                         OA_OK);
}

/* {relative path: bytes} of the files below `dir` equal those of `ref`. */
static void assert_same_tree(const char *dir, const char *ref, size_t n)
{
    char cmd[1400];

    assert_int_equal(fake_count_names(dir, ".dcm", true), n);
    assert_int_equal(fake_count_names(ref, ".dcm", true), n);
    snprintf(cmd, sizeof(cmd), "diff -r '%s'/*/ '%s'/*/ > /dev/null", dir,
             ref);
    assert_int_equal(system(cmd), 0);
}

static void test_wayout_same_files_nothing_stored(void **state)
{
    char study[FAKE_ID_SIZE], job[64], chained[64], body[1024];
    char wo[400], ate[400];
    size_t before;
    cJSON *c;
    const cJSON *st;

    (void)state;
    fake_dicom_study("PID-W2", "Doe^Jane", "1.2.3.9.72", 2, 3, study);
    before = fake_host_instance_count();
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Anonymize\": {}, \"Target\": "
             "{\"Type\": \"folder\", \"Folder\": \"wo\"}}",
             study);
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    assert_string_equal(fake_job_type(job), "Anonymization");
    assert_int_equal(fake_host_instance_count(), before);   /* none stored */
    c = fake_job_content(job);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "Stored")));
    assert_string_equal(cJSON_GetObjectItem(c, "Export")->valuestring, job);
    assert_non_null(cJSON_GetObjectItem(c, "Location"));
    assert_int_equal(content_int(c, "InstancesDone"), 6);
    assert_true(content_int(c, "Bytes") > 0);
    st = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "Studies"), 0);
    assert_null(cJSON_GetObjectItem(st, "Anonymized"));
    assert_non_null(cJSON_GetObjectItem(st, "NewStudyInstanceUID"));
    cJSON_Delete(c);
    assert_int_equal(fake_job_count(), 1);   /* no chained export */

    /* anonymize-then-export of the same study: the same tree */
    snprintf(body, sizeof(body),
             "{\"Export\": {\"Target\": {\"Type\": \"folder\", \"Folder\": "
             "\"ate\"}}}");
    snprintf(wo, sizeof(wo), "/anonymizer/studies/%s/anonymize", study);
    submit(wo, body, chained);
    assert_int_equal(fake_job_run(chained, 50), FAKE_JOB_SUCCESS);
    assert_int_equal(fake_job_run_all(), 1);
    snprintf(wo, sizeof(wo), "%s/wo", export_dir);
    snprintf(ate, sizeof(ate), "%s/ate", export_dir);
    assert_same_tree(wo, ate, 6);
}

static void test_wayout_cancel_pause_restart(void **state)
{
    char study[FAKE_ID_SIZE], job[64], body[1024], dir[400];
    size_t before;
    char *saved;

    (void)state;
    fake_dicom_study("PID-W3", "Doe^Jane", "1.2.3.9.73", 1, 10, study);
    before = fake_host_instance_count();
    /* 10 x 200 ms on 2 workers: a second, more than three steps */
    fake_host_set_dicom_delay(200);
    snprintf(body, sizeof(body),
             "{\"Resources\": [\"%s\"], \"Anonymize\": {}, \"Target\": "
             "{\"Type\": \"folder\", \"Folder\": \"c\"}}",
             study);
    snprintf(dir, sizeof(dir), "%s/c", export_dir);

    /* cancel half-way: what was written is removed */
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan */
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_count_names(dir, ".partial", true), 1);
    assert_true(fake_count_names(dir, ".dcm", true) > 0);
    assert_true(fake_job_cancel(job));
    assert_int_equal(fake_count_names(dir, ".partial", true), 0);
    assert_int_equal(fake_count_names(dir, ".dcm", true), 0);
    assert_record_state(job, "Cancelled");

    /* pause half-way: removed too, and the resumed job starts over */
    submit("/anonymizer/export", body, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_true(fake_job_pause(job));
    assert_int_equal(fake_count_names(dir, ".dcm", true), 0);
    {
        cJSON *c = fake_job_content(job);

        assert_int_equal(content_int(c, "InstancesDone"), 0);
        cJSON_Delete(c);
    }
    assert_true(fake_job_resume(job));
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);

    /* a restart half-way: saved as a way-out job (version 3), restored
     * to start over */
    saved = fake_job_serialized(job);
    assert_non_null(saved);
    assert_non_null(strstr(saved, "\"Version\":3"));
    assert_non_null(strstr(saved, "\"Stored\":false"));
    free(saved);
    assert_true(fake_job_restart(job));
    assert_int_equal(fake_count_names(dir, ".partial", true), 0);
    assert_int_equal(fake_count_names(dir, ".dcm", true), 0);
    fake_host_set_dicom_delay(0);
    finish_restarted(job);
    assert_int_equal(fake_count_names(dir, ".dcm", true), 10);
    assert_int_equal(fake_count_names(dir, ".partial", true), 0);
    {
        cJSON *c = fake_job_content(job);

        assert_int_equal(content_int(c, "InstancesDone"), 10);
        assert_int_equal(content_int(c, "FailedCount"), 0);
        assert_non_null(cJSON_GetObjectItem(c, "Location"));
        cJSON_Delete(c);
    }
    assert_int_equal(fake_host_instance_count(), before);

    /* a finished way-out job restored (Orthanc's history) stays finished:
     * where its files went, how many, not started over */
    assert_true(fake_job_restart(job));
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_SUCCESS);
    {
        cJSON *c = fake_job_content(job);

        assert_int_equal(content_int(c, "InstancesDone"), 10);
        assert_true(content_int(c, "Bytes") > 0);
        assert_non_null(strstr(cJSON_GetObjectItem(c, "Location")->valuestring,
                               "/c/"));
        cJSON_Delete(c);
    }
    assert_int_equal(fake_count_names(dir, ".dcm", true), 10);
}

/* ------------------------------------------------------------------ */
/* Automatic anonymization                                              */

/* Wait (up to 5 s) until `n` jobs were submitted. */
static bool wait_for_jobs(size_t n)
{
    struct timespec t = {0, 10 * 1000000L};
    unsigned i;

    for (i = 0; i < 500; i++) {
        if (fake_job_count() >= n)
            return true;
        nanosleep(&t, NULL);
    }
    return false;
}

static void test_auto_anonymize(void **state)
{
    char study[FAKE_ID_SIZE], job[64];
    cJSON *c;
    const char *anon;
    struct timespec t = {0, 200 * 1000000L};

    (void)state;
    fake_dicom_study("PID-12", "Doe^Jane", "1.2.3.9.12", 1, 2, study);
    assert_true(fake_host_stable_study(study));
    assert_true(wait_for_jobs(1));
    assert_true(fake_job_id(0, job));
    assert_string_equal(fake_job_type(job), "Anonymization");
    assert_int_equal(fake_job_run(job, 50), FAKE_JOB_SUCCESS);
    c = fake_job_content(job);
    anon = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c,
                                                                      "Studies"),
                                                  0),
                               "Anonymized")
               ->valuestring;
    /* the output becoming stable is not anonymized again */
    assert_true(fake_host_stable_study(anon));
    cJSON_Delete(c);
    nanosleep(&t, NULL);
    assert_int_equal(fake_job_count(), 1);
}

/* Issue 12: a crafted instance pinned a worker for minutes and a cancel
 * took effect 123 s later.  An instance whose leak check would take
 * minutes (every word of a 4 MB kept description ends 250 needles; a
 * WorkBudget of 10^6 steps a byte lets it run): the job's cancel reaches
 * the engine, which polls it every OA_WORK_POLL steps, and the job stops
 * within a second; the instance is left undone, nothing is stored. */
static void test_anonymize_cancel_within_a_second(void **state)
{
    const char *uids[2] = {"CRAFT0001", "1.2.3.4.5.6.7.8.10"};
    char study[FAKE_ID_SIZE], job[64];
    size_t text = (size_t)4 << 20, i, k, before;
    struct timespec t0, t1;
    double latency;
    char *body = malloc(text);
    oa_buf ids;
    cJSON *c;
    tb t;

    (void)state;
    assert_non_null(body);
    for (i = 0; i < text; i++)
        body[i] = i & 1 ? ' ' : 'a';
    oa_buf_init(&ids, (size_t)1 << 24);
    for (i = 3; i <= 256; i++) {
        if (i > 3)
            oa_buf_append_byte(&ids, '\\');
        for (k = 0; k < i; k++) {
            if (k > 0)
                oa_buf_append_byte(&ids, ' ');
            oa_buf_append_byte(&ids, 'a');
        }
    }
    if (ids.len & 1)
        oa_buf_append_byte(&ids, ' ');
    tb_init(&t, false, false);
    tb_meta(&t, "1.2.840.10008.1.2", true);
    tb_uid(&t, OA_TAG(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.2");
    tb_uid(&t, OA_TAG(0x0008, 0x0018), "1.2.3.4.5.6.7.8.1");
    tb_str(&t, OA_TAG(0x0008, 0x0060), "CS", "CT");
    tb_el(&t, OA_TAG(0x0008, 0x1030), "LO", body, (uint32_t)text);
    tb_str(&t, OA_TAG(0x0010, 0x0010), "PN", "Crafted^Patient");
    tb_str(&t, OA_TAG(0x0010, 0x0020), "LO", "CRAFT0001");
    tb_el(&t, OA_TAG(0x0010, 0x1000), "LO", oa_buf_data(&ids),
          (uint32_t)ids.len);
    tb_uid(&t, OA_TAG(0x0020, 0x000D), uids[1]);
    tb_uid(&t, OA_TAG(0x0020, 0x000E), "1.2.3.4.5.6.7.8.11");
    assert_int_equal(fake_host_store(tb_data(&t), tb_len(&t), NULL), 200);
    tb_dispose(&t);
    oa_buf_dispose(&ids);
    free(body);
    before = fake_host_instance_count();
    fake_host_orthanc_id(study, uids, 2);
    anonymize_study(study, job);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);   /* plan */
    /* the worker takes the instance; two steps (2 x 300 ms) later it is
     * still in its leak check */
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    assert_int_equal(fake_job_step(job), FAKE_JOB_RUNNING);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 0);   /* still in it */
    cJSON_Delete(c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(fake_job_cancel(job));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    latency = (double)(t1.tv_sec - t0.tv_sec) +
              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("cancel took %.3f s\n", latency);
    assert_true(latency < 1.0);
    assert_int_equal(fake_job_state_of(job), FAKE_JOB_FAILURE);
    assert_int_equal(fake_host_instance_count(), before);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "InstancesDone"), 0);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    cJSON_Delete(c);
}

/* Issue 11: the leak check's decisions are listed in the job's content,
 * never silent: Institution Name "Unbekannt" (German "unknown", as in
 * orthanc-tests/KarstenHilbertRF.dcm) kept in the Study Description is a
 * placeholder, not a leak; the instance is stored with a warning naming
 * tags only. */
static void test_anonymize_lists_leak_check_warnings(void **state)
{
    const char *uids[2] = {"PID-WARN1", "1.2.3.4.5.6.7.8.20"};
    char study[FAKE_ID_SIZE], job[64];
    const cJSON *w, *first;
    size_t before;
    cJSON *c;
    tb t;

    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, "1.2.840.10008.1.2.1", true);
    tb_uid(&t, OA_TAG(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.2");
    tb_uid(&t, OA_TAG(0x0008, 0x0018), "1.2.3.4.5.6.7.8.21");
    tb_str(&t, OA_TAG(0x0008, 0x0060), "CS", "CT");
    tb_str(&t, OA_TAG(0x0008, 0x0080), "LO", "Unbekannt ");
    tb_str(&t, OA_TAG(0x0008, 0x1030), "LO", "Unbekannt ");
    tb_str(&t, OA_TAG(0x0010, 0x0010), "PN", "Doe^Jane");
    tb_str(&t, OA_TAG(0x0010, 0x0020), "LO", uids[0]);
    tb_uid(&t, OA_TAG(0x0020, 0x000D), uids[1]);
    tb_uid(&t, OA_TAG(0x0020, 0x000E), "1.2.3.4.5.6.7.8.22");
    assert_int_equal(fake_host_store(tb_data(&t), tb_len(&t), NULL), 200);
    tb_dispose(&t);
    before = fake_host_instance_count();
    fake_host_orthanc_id(study, uids, 2);
    anonymize_study(study, job);
    assert_int_equal(fake_job_run(job, 100), FAKE_JOB_SUCCESS);
    assert_int_equal(fake_host_instance_count(), before + 1);
    c = fake_job_content(job);
    assert_int_equal(content_int(c, "FailedCount"), 0);
    assert_int_equal(content_int(c, "LeakCheckWarningCount"), 1);
    w = cJSON_GetObjectItem(c, "LeakCheckWarnings");
    assert_int_equal(cJSON_GetArraySize(w), 1);
    first = cJSON_GetArrayItem(w, 0);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(first, "Instance")));
    assert_non_null(strstr(cJSON_GetObjectItem(first, "Warning")->valuestring,
                           "placeholder"));
    assert_non_null(strstr(cJSON_GetObjectItem(first, "Warning")->valuestring,
                           "(0008,0080)"));
    assert_null(strstr(cJSON_GetObjectItem(first, "Warning")->valuestring,
                       "Unbekannt"));
    cJSON_Delete(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_anonymize_steps_and_progress,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_instance_failures,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_all_fail_then_resubmit,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_plan_failure, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_anonymize_cancel_removes_output,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_cancel_within_a_second,
                                        start_big_budget, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_lists_leak_check_warnings,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_pause_restart_resume,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_orthanc_stopping,
                                        start, stop),
        cmocka_unit_test_setup_teardown(
            test_saved_job_keeps_requested_identity, start, stop),
        cmocka_unit_test_setup_teardown(test_unserialize_refuses_bad_input,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_export_folder_steps, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_lost_side_effects, start, stop),
        cmocka_unit_test_setup_teardown(test_job_memory_budget,
                                        start_small_budget, stop),
        cmocka_unit_test_setup_teardown(test_job_memory_budget_fits, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_report_retention,
                                        start_retention, stop),
        cmocka_unit_test_setup_teardown(test_export_zip_and_split, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_export_dicomdir, start, stop),
        cmocka_unit_test_setup_teardown(test_export_cancel_and_restart, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_export_failure, start, stop),
        cmocka_unit_test_setup_teardown(test_wayout_parse_export, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_wayout_request, start, stop),
        cmocka_unit_test_setup_teardown(test_export_relpath, start, stop),
        cmocka_unit_test_setup_teardown(
            test_wayout_same_files_nothing_stored, start, stop),
        cmocka_unit_test_setup_teardown(test_wayout_cancel_pause_restart,
                                        start, stop),
        cmocka_unit_test_setup_teardown(test_anonymize_chained_export, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_auto_anonymize, start_auto,
                                        stop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
