/*
 * Helpers shared by the jobs.
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include "../orthanc/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool oa_jobs_id_valid(const char *id)
{
    size_t n;

    if (id == NULL || id[0] == '\0')
        return false;
    for (n = 0; id[n] != '\0'; n++) {
        char c = id[n];

        if (n >= OA_JOB_ID_MAX - 1)
            return false;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
            return false;
    }
    return true;
}

void oa_jobs_now(char out[20])
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 20, "%Y%m%dT%H%M%S", &tm);
}

const char *oa_jobs_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void *unserializer(const char *type, const char *serialized,
                          const oa_host_job_ops **ops)
{
    void *job = NULL;

    if (strcmp(type, OA_JOB_TYPE_ANONYMIZE) == 0) {
        job = oa_anonymize_unserialize(serialized);
        *ops = oa_anonymize_job_ops();
    } else if (strcmp(type, OA_JOB_TYPE_EXPORT) == 0) {
        job = oa_export_unserialize(serialized);
        *ops = oa_export_job_ops();
    }
    return job;
}

void oa_jobs_register(void)
{
    oa_host_register_job_unserializer(unserializer);
}

/* ------------------------------------------------------------------ */
/* The work of every server                                             */

void oa_jobs_track(oa_service *s, const char *key, const char *type,
                   const char *state, float progress, const cJSON *extra,
                   bool force, time_t *last)
{
    time_t now = time(NULL);
    cJSON *rec, *old = NULL;
    const cJSON *item;
    char *text = NULL, created[20];
    oa_error err;

    /* Running jobs refresh their record at least this often, well within
     * StaleJobSeconds (>= 5). */
    if (!force && last != NULL && now - *last < 2)
        return;
    if (last != NULL)
        *last = now;
    /* keep the creation time of an earlier record */
    created[0] = '\0';
    if (oa_store_get(oa_service_store(s), OA_STORE_JOBS, key, &text, NULL) ==
        OA_OK) {
        old = cJSON_Parse(text);
        oa_free(text);
        text = NULL;
        if (oa_jobs_str(old, "Created") != NULL)
            snprintf(created, sizeof(created), "%s",
                     oa_jobs_str(old, "Created"));
    }
    if (created[0] == '\0')
        oa_jobs_now(created);
    rec = cJSON_CreateObject();
    if (rec == NULL)
        goto out;
    cJSON_AddStringToObject(rec, "ID", key);
    cJSON_AddStringToObject(rec, "Type", type);
    cJSON_AddStringToObject(rec, "Server", oa_service_config(s)->server);
    cJSON_AddStringToObject(rec, "State", state);
    cJSON_AddNumberToObject(rec, "Progress", (int)(progress * 100.0f + 0.5f));
    cJSON_AddStringToObject(rec, "Created", created);
    cJSON_AddNumberToObject(rec, "Updated", (double)now);
    /* the Orthanc job ID, once known, survives later updates */
    if (oa_jobs_str(old, "Job") != NULL)
        cJSON_AddStringToObject(rec, "Job", oa_jobs_str(old, "Job"));
    cJSON_ArrayForEach(item, extra) {
        cJSON_DeleteItemFromObjectCaseSensitive(rec, item->string);
        cJSON_AddItemToObject(rec, item->string, cJSON_Duplicate(item, 1));
    }
    text = cJSON_PrintUnformatted(rec);
    oa_error_clear(&err);
    if (text == NULL || oa_store_put(oa_service_store(s), OA_STORE_JOBS, key,
                                     text, &err) != OA_OK)
        oa_log(OA_LOG_WARNING, "job %s: state not recorded: %s", key,
               text == NULL ? "out of memory" : err.msg);
out:
    cJSON_free(text);
    cJSON_Delete(rec);
    cJSON_Delete(old);
}

static int by_created_desc(const void *a, const void *b)
{
    const char *x = oa_jobs_str(*(const cJSON *const *)a, "Created");
    const char *y = oa_jobs_str(*(const cJSON *const *)b, "Created");

    return strcmp(y != NULL ? y : "", x != NULL ? x : "");
}

oa_status oa_jobs_list(oa_service *s, cJSON **out, oa_error *err)
{
    char **keys = NULL;
    size_t n = 0, i, m = 0;
    cJSON **recs, *list;
    time_t now = time(NULL);
    oa_status rc;

    *out = NULL;
    rc = oa_store_list(oa_service_store(s), OA_STORE_JOBS, &keys, &n, err);
    if (rc != OA_OK)
        return rc;
    recs = oa_calloc(n ? n : 1, sizeof(*recs));
    list = cJSON_CreateArray();
    if (recs == NULL || list == NULL) {
        oa_free(recs);
        cJSON_Delete(list);
        oa_store_free_keys(keys, n);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        char *text = NULL;
        cJSON *rec;
        const char *state;
        const cJSON *updated;

        if (oa_store_get(oa_service_store(s), OA_STORE_JOBS, keys[i], &text,
                         NULL) != OA_OK)
            continue;
        rec = cJSON_Parse(text);
        oa_free(text);
        if (rec == NULL)
            continue;
        state = oa_jobs_str(rec, "State");
        updated = cJSON_GetObjectItemCaseSensitive(rec, "Updated");
        if (state != NULL &&
            (strcmp(state, "Running") == 0 || strcmp(state, "Pending") == 0) &&
            cJSON_IsNumber(updated) &&
            now - (time_t)updated->valuedouble >
                oa_service_config(s)->stale_seconds) {
            cJSON_DeleteItemFromObjectCaseSensitive(rec, "State");
            cJSON_AddStringToObject(rec, "State", "Interrupted");
        }
        recs[m++] = rec;
    }
    qsort(recs, m, sizeof(*recs), by_created_desc);
    for (i = 0; i < m; i++)
        cJSON_AddItemToArray(list, recs[i]);
    oa_free(recs);
    oa_store_free_keys(keys, n);
    *out = list;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* A job's own ID                                                       */

void oa_job_ref_init(oa_job_ref *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->refs = 1;   /* Orthanc's (released by finalize) */
}

void oa_job_ref_dispose(oa_job_ref *r)
{
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
}

bool oa_job_ref_release(oa_job_ref *r)
{
    bool last;

    pthread_mutex_lock(&r->lock);
    last = --r->refs == 0;
    pthread_mutex_unlock(&r->lock);
    return last;
}

void oa_job_ref_set(oa_job_ref *r, const char *id)
{
    pthread_mutex_lock(&r->lock);
    snprintf(r->id, sizeof(r->id), "%s", id != NULL ? id : "");
    r->known = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void oa_job_ref_id(oa_job_ref *r, char *out, size_t size, unsigned timeout_ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->known &&
           pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
        ;
    snprintf(out, size, "%s", r->id);
    pthread_mutex_unlock(&r->lock);
}

oa_status oa_jobs_submit(const oa_host_job_ops *ops, void *job,
                         oa_job_ref *ref, void (*free_job)(void *),
                         int priority, char *job_id, size_t job_id_size,
                         oa_error *err)
{
    oa_status rc;

    pthread_mutex_lock(&ref->lock);
    ref->refs++;   /* ours, until the ID is handed over */
    pthread_mutex_unlock(&ref->lock);
    rc = oa_host_submit_job(ops, job, priority, job_id, job_id_size, err);
    oa_job_ref_set(ref, rc == OA_OK ? job_id : "");
    if (oa_job_ref_release(ref))
        free_job(job);
    return rc;
}
