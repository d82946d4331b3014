/*
 * Automatic anonymization: the "AutoAnonymize" list of the configuration
 *
 *   "AutoAnonymize": [ {"Profile": "Default", "Export": "lab-sftp"} ]
 *
 * With "Store": false in an entry, the study is anonymized on the way
 * out: the result goes to its Export only, nothing is stored in Orthanc.
 *
 * Each entry starts one anonymization of every study that becomes stable
 * in this Orthanc (StableStudy), with its profile (a name or an inline
 * object; "Default" when absent) and, optionally, an export of the
 * result: a destination's name or a Target object (doc/rest-api.md).  A study
 * that is itself the output of an anonymization (study metadata 1025, or
 * Patient Identity Removed YES) is never anonymized again.
 *
 * StableStudy arrives on Orthanc's change callback, where the REST API
 * must not be called (doc/orthanc-1.10.1.md, pitfall 4): studies are queued
 * for one thread of ours.  The queue is bounded; a study beyond it is logged
 * and skipped.  (The same, as a Lua script one can adapt:
 * Resources/Lua/AutoAnonymize.lua.)
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 10000

static pthread_mutex_t auto_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t auto_cond = PTHREAD_COND_INITIALIZER;
static struct {
    pthread_t thread;
    bool running, stopping;
    char (*queue)[OA_JOB_ID_MAX];
    size_t head, count;
    oa_service *svc;
} auto_state;

/* Whether a study is an anonymization's output: an error is "do not
 * know", never "yes" nor "no". */
typedef enum { AUTO_NO, AUTO_YES, AUTO_GONE, AUTO_UNKNOWN } auto_verdict;

/* Longest Patient Identity Removed answer read; a longer one (CS holds
 * 16 characters) is not YES. */
#define IDENTITY_REMOVED_MAX 4096
/* Attempts, and the pause between them, before a study whose state
 * cannot be read is left alone (logged). */
#define VERDICT_ATTEMPTS 3
#define VERDICT_PAUSE_MS 1000

/* The value without its padding (spaces, NULs) equals "YES". */
static bool value_is_yes(oa_buf *value)
{
    const char *v = oa_buf_cstr(value);
    size_t n = value->len;

    if (v == NULL)
        return false;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0'))
        n--;
    while (n > 0 && v[0] == ' ') {
        v++;
        n--;
    }
    return n == 3 && memcmp(v, "YES", 3) == 0;
}

static auto_verdict verdict_once(const char *sid, char *why, size_t why_size)
{
    char uri[160];
    cJSON *st = NULL, *se = NULL;
    const cJSON *series, *inst;
    oa_buf value;
    oa_error err;
    oa_status rc;
    uint16_t status = 0;
    auto_verdict v = AUTO_UNKNOWN;

    oa_error_clear(&err);
    snprintf(uri, sizeof(uri), "/studies/%s/metadata/%d", sid,
             OA_REPORT_METADATA);
    rc = oa_host_rest(OA_HTTP_GET, uri, NULL, 0, NULL, &status, &err);
    if (rc != OA_OK || (status != 200 && status != 404)) {
        snprintf(why, why_size, "reading its metadata %d: %s (HTTP %u)",
                 OA_REPORT_METADATA, rc != OA_OK ? err.msg : "error",
                 (unsigned)status);
        return AUTO_UNKNOWN;
    }
    if (status == 200)
        return AUTO_YES;   /* our own output */
    snprintf(uri, sizeof(uri), "/studies/%s", sid);
    rc = oa_host_rest_get_json(uri, &st, &err);
    if (rc == OA_ENOTFOUND)
        return AUTO_GONE;
    if (rc != OA_OK) {
        snprintf(why, why_size, "reading the study: %s", err.msg);
        return AUTO_UNKNOWN;
    }
    series = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "Series"),
                                0);
    if (!cJSON_IsString(series) || !oa_jobs_id_valid(series->valuestring)) {
        snprintf(why, why_size, "the study lists no series");
        goto out;
    }
    snprintf(uri, sizeof(uri), "/series/%s", series->valuestring);
    rc = oa_host_rest_get_json(uri, &se, &err);
    if (rc != OA_OK) {
        snprintf(why, why_size, "reading its first series: %s", err.msg);
        goto out;
    }
    inst = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(se,
                                                               "Instances"),
                              0);
    if (!cJSON_IsString(inst) || !oa_jobs_id_valid(inst->valuestring)) {
        snprintf(why, why_size, "its first series lists no instance");
        goto out;
    }
    /* Patient Identity Removed: only this value is read */
    snprintf(uri, sizeof(uri), "/instances/%s/content/0012-0062",
             inst->valuestring);
    oa_buf_init(&value, IDENTITY_REMOVED_MAX);
    status = 0;
    rc = oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &value, &status, &err);
    if (rc == OA_ELIMIT)
        v = AUTO_NO;   /* longer than any YES */
    else if (rc != OA_OK)
        snprintf(why, why_size, "reading (0012,0062) of instance %s: %s",
                 inst->valuestring, err.msg);
    else if (status == 200)
        v = value_is_yes(&value) ? AUTO_YES : AUTO_NO;
    else if (status == 404)
        v = AUTO_NO;   /* absent */
    else
        snprintf(why, why_size, "reading (0012,0062) of instance %s: HTTP %u",
                 inst->valuestring, (unsigned)status);
    oa_buf_dispose(&value);
out:
    cJSON_Delete(se);
    cJSON_Delete(st);
    return v;
}

/* Whether to anonymize the study: no if it is our output, was
 * de-identified elsewhere or is gone; an error is tried again, then the
 * study is left alone with a line in the log (never anonymized twice,
 * never "yes" by mistake). */
static bool should_anonymize(const char *sid)
{
    char why[2 * OA_ERROR_MSG_MAX];
    int attempt;

    for (attempt = 1; attempt <= VERDICT_ATTEMPTS; attempt++) {
        why[0] = '\0';
        switch (verdict_once(sid, why, sizeof(why))) {
        case AUTO_NO:
            return true;
        case AUTO_YES:
            return false;
        case AUTO_GONE:
            oa_log(OA_LOG_INFO, "AutoAnonymize: study %s is gone", sid);
            return false;
        case AUTO_UNKNOWN:
            break;
        }
        oa_log(OA_LOG_WARNING,
               "AutoAnonymize: study %s: cannot tell whether it is "
               "anonymized (attempt %d of %d): %s",
               sid, attempt, VERDICT_ATTEMPTS, why);
        if (attempt < VERDICT_ATTEMPTS && !oa_jobs_closing()) {
            struct timespec pause = {VERDICT_PAUSE_MS / 1000,
                                     (VERDICT_PAUSE_MS % 1000) * 1000000L};

            nanosleep(&pause, NULL);
        }
    }
    oa_log(OA_LOG_ERROR,
           "AutoAnonymize: study %s left alone: cannot tell whether it is "
           "anonymized; anonymize it by hand (POST "
           "/anonymizer/studies/%s/anonymize) once Orthanc answers",
           sid, sid);
    return false;
}

static void anonymize_study(oa_service *s, const char *sid)
{
    const cJSON *entries =
        cJSON_GetObjectItemCaseSensitive(oa_service_config(s)->section,
                                         "AutoAnonymize");
    const cJSON *e;

    if (!should_anonymize(sid))
        return;
    cJSON_ArrayForEach(e, entries) {
        const cJSON *profile = cJSON_GetObjectItemCaseSensitive(e, "Profile");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(e, "Export");
        cJSON *body = cJSON_CreateObject();
        char job[OA_JOB_ID_MAX];
        bool async;
        oa_error err;

        if (body == NULL)
            return;
        if (profile != NULL)
            cJSON_AddItemToObject(body, "Profile", cJSON_Duplicate(profile, 1));
        if (exp != NULL) {
            cJSON *x = cJSON_AddObjectToObject(body, "Export"), *t;

            if (cJSON_IsString(exp)) {
                t = cJSON_AddObjectToObject(x, "Target");
                cJSON_AddStringToObject(t, "Type", "destination");
                cJSON_AddStringToObject(t, "Name", exp->valuestring);
            } else {
                cJSON_AddItemToObject(x, "Target", cJSON_Duplicate(exp, 1));
            }
        }
        {   /* "Store": false: on the way out (checked by the request) */
            const cJSON *store = cJSON_GetObjectItemCaseSensitive(e, "Store");

            if (store != NULL)
                cJSON_AddItemToObject(body, "Store",
                                      cJSON_Duplicate(store, 1));
        }
        oa_error_clear(&err);
        if (oa_job_anonymize_submit(s, body, "Study", sid, job, sizeof(job),
                                    &async, &err) == OA_OK) {
            cJSON *d = cJSON_CreateObject();
            oa_audit_actor actor;

            oa_log(OA_LOG_WARNING,
                   "AutoAnonymize: study %s stable: anonymization job %s", sid,
                   job);
            /* the audit trail: the configuration asked, not a user */
            oa_audit_actor_set(&actor, "AutoAnonymize", NULL);
            if (d != NULL) {
                cJSON_AddStringToObject(d, "Job", job);
                oa_audit_resources(d, NULL, "Study", sid);
                cJSON_AddStringToObject(d, "Profile",
                                        cJSON_IsString(profile)
                                            ? profile->valuestring
                                            : "Default");
                if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e,
                                                                   "Store")))
                    cJSON_AddBoolToObject(d, "Stored", false);
                if (exp != NULL)
                    cJSON_AddItemToObject(
                        d, "Target",
                        oa_audit_target(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(body, "Export"),
                            "Target")));
            }
            oa_error_clear(&err);
            if (oa_audit_append(oa_service_store(s), OA_AUDIT_ANONYMIZATION,
                                &actor, d, &err) != OA_OK)
                oa_log(OA_LOG_ERROR, "audit trail: not written: %s",
                       err.msg);
        } else
            oa_log(OA_LOG_ERROR,
                   "AutoAnonymize: study %s not anonymized: %s (check "
                   "\"Anonymizer.AutoAnonymize\")",
                   sid, err.msg);
        cJSON_Delete(body);
    }
}

static void *auto_main(void *arg)
{
    (void)arg;
    oa_host_set_thread_name("anon-auto");
    for (;;) {
        char sid[OA_JOB_ID_MAX];

        pthread_mutex_lock(&auto_lock);
        while (!auto_state.stopping && auto_state.count == 0)
            pthread_cond_wait(&auto_cond, &auto_lock);
        if (auto_state.stopping) {
            pthread_mutex_unlock(&auto_lock);
            oa_host_clear_thread_name();
            return NULL;
        }
        memcpy(sid, auto_state.queue[auto_state.head], sizeof(sid));
        auto_state.head = (auto_state.head + 1) % QUEUE_MAX;
        auto_state.count--;
        pthread_mutex_unlock(&auto_lock);
        /* Orthanc is stopping (oa_jobs_close): call it no more; what
         * is queued is not anonymized (logged, one line). */
        if (!oa_jobs_enter()) {
            oa_log(OA_LOG_WARNING,
                   "AutoAnonymize: Orthanc is stopping; study %s and the "
                   "studies queued after it are not anonymized",
                   sid);
            return NULL;
        }
        anonymize_study(auto_state.svc, sid);
        oa_jobs_leave();
    }
}

oa_status oa_auto_start(oa_service *s, oa_error *err)
{
    const cJSON *entries =
        cJSON_GetObjectItemCaseSensitive(oa_service_config(s)->section,
                                         "AutoAnonymize");

    if (cJSON_GetArraySize(entries) == 0 || auto_state.running)
        return OA_OK;
    auto_state.queue = oa_calloc(QUEUE_MAX, sizeof(*auto_state.queue));
    if (auto_state.queue == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    auto_state.svc = s;
    auto_state.head = auto_state.count = 0;
    auto_state.stopping = false;
    if (pthread_create(&auto_state.thread, NULL, auto_main, NULL) != 0) {
        oa_free(auto_state.queue);
        auto_state.queue = NULL;
        return oa_error_set(err, OA_ENOMEM,
                            "cannot start the AutoAnonymize thread");
    }
    auto_state.running = true;
    oa_log(OA_LOG_WARNING,
           "AutoAnonymize: %d rule(s): every study that becomes stable is "
           "anonymized",
           cJSON_GetArraySize(entries));
    return OA_OK;
}

void oa_auto__close(void)
{
    pthread_mutex_lock(&auto_lock);
    auto_state.stopping = true;
    pthread_cond_broadcast(&auto_cond);
    pthread_mutex_unlock(&auto_lock);
}

void oa_auto_stable_study(const char *sid)
{
    if (!auto_state.running || sid == NULL || !oa_jobs_id_valid(sid) ||
        oa_jobs_closing())
        return;
    pthread_mutex_lock(&auto_lock);
    if (auto_state.count < QUEUE_MAX) {
        snprintf(auto_state.queue[(auto_state.head + auto_state.count) %
                                  QUEUE_MAX],
                 OA_JOB_ID_MAX, "%s", sid);
        auto_state.count++;
        pthread_cond_signal(&auto_cond);
    } else {
        oa_log(OA_LOG_ERROR,
               "AutoAnonymize: queue full, study %s not anonymized", sid);
    }
    pthread_mutex_unlock(&auto_lock);
}

void oa_auto_stop(void)
{
    if (!auto_state.running)
        return;
    pthread_mutex_lock(&auto_lock);
    auto_state.stopping = true;
    pthread_cond_broadcast(&auto_cond);
    pthread_mutex_unlock(&auto_lock);
    pthread_join(auto_state.thread, NULL);
    oa_free(auto_state.queue);
    auto_state.queue = NULL;
    auto_state.running = false;
}
