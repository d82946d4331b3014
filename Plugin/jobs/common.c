/*
 * Helpers shared by the jobs.
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include "../export/export.h"

#include <pthread.h>
#include <stdatomic.h>
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

/* ------------------------------------------------------------------ */
/* Orthanc stopping: the gate of our own threads' calls                 */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static atomic_bool gate_closing;   /* read without the lock too */
static unsigned gate_inside;       /* calls in progress (under the lock) */

void oa_jobs__open(void)
{
    pthread_mutex_lock(&gate_lock);
    atomic_store(&gate_closing, false);
    pthread_mutex_unlock(&gate_lock);
}

bool oa_jobs_closing(void)
{
    return atomic_load(&gate_closing);
}

bool oa_jobs_enter(void)
{
    bool open;

    pthread_mutex_lock(&gate_lock);
    open = !atomic_load(&gate_closing);
    if (open)
        gate_inside++;
    pthread_mutex_unlock(&gate_lock);
    return open;
}

void oa_jobs_leave(void)
{
    pthread_mutex_lock(&gate_lock);
    if (gate_inside > 0 && --gate_inside == 0)
        pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

unsigned oa_jobs_close(unsigned timeout_ms)
{
    struct timespec until;
    unsigned inside;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&gate_lock);
    atomic_store(&gate_closing, true);
    while (gate_inside > 0 &&
           pthread_cond_timedwait(&gate_cond, &gate_lock, &until) == 0)
        ;
    inside = gate_inside;
    pthread_mutex_unlock(&gate_lock);
    oa_auto__close();   /* its thread ends without calling Orthanc */
    if (inside > 0)
        oa_log(OA_LOG_ERROR,
               "anonymizer: Orthanc is stopping and %u call(s) of our "
               "threads into it did not return within %u ms",
               inside, timeout_ms);
    return inside;
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

/* ------------------------------------------------------------------ */
/* Waiting for a job (synchronous requests)                             */

static pthread_mutex_t ended_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ended_cond = PTHREAD_COND_INITIALIZER;
static unsigned long ended_count;   /* last steps so far (under the lock) */

oa_job_step_status oa_jobs__stepped(oa_job_step_status st)
{
    if (st != OA_JOB_STEP_CONTINUE) {
        pthread_mutex_lock(&ended_lock);
        ended_count++;
        pthread_cond_broadcast(&ended_cond);
        pthread_mutex_unlock(&ended_lock);
    }
    return st;
}

static unsigned long ended_now(void)
{
    unsigned long n;

    pthread_mutex_lock(&ended_lock);
    n = ended_count;
    pthread_mutex_unlock(&ended_lock);
    return n;
}

/* Wait at most `ms` for a job's last step after `seen`; true if one
 * came (maybe another job's: one more look is all it costs). */
static bool wait_ended(unsigned long seen, long ms)
{
    struct timespec until;
    bool came;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&ended_lock);
    while (ended_count == seen &&
           pthread_cond_timedwait(&ended_cond, &ended_lock, &until) == 0)
        ;
    came = ended_count != seen;
    pthread_mutex_unlock(&ended_lock);
    return came;
}

oa_status oa_job_wait(const char *job_id, cJSON **content, oa_error *err)
{
    char uri[96];
    /* Woken by a job's last step (oa_jobs__stepped), then a look every
     * millisecond while Orthanc records the end (it does right after
     * the step returns); otherwise a look every 10 ms, every 100 ms after
     * the first seconds (jobs of other kinds, a missed wake-up). */
    const struct timespec quick = {0, 1000000L};
    long pause_ms = 10;
    unsigned polls = 0, quick_left = 0;

    *content = NULL;
    if (!oa_jobs_id_valid(job_id))
        return oa_error_set(err, OA_EINVAL, "bad job ID");
    snprintf(uri, sizeof(uri), "/jobs/%s", job_id);
    for (;;) {
        cJSON *job = NULL;
        const char *state;
        unsigned long seen = ended_now();
        oa_status rc = oa_host_rest_get_json(uri, &job, err);

        if (rc != OA_OK)
            return rc;
        state = oa_jobs_str(job, "State");
        if (state != NULL && strcmp(state, "Success") == 0) {
            *content = cJSON_DetachItemFromObjectCaseSensitive(job, "Content");
            cJSON_Delete(job);
            return *content != NULL ? OA_OK
                                    : oa_error_set(err, OA_EIO,
                                                   "the job has no content");
        }
        if (state != NULL && strcmp(state, "Failure") == 0) {
            const char *desc = oa_jobs_str(job, "ErrorDescription");
            const char *details =
                oa_jobs_str(cJSON_GetObjectItemCaseSensitive(job, "Content"),
                         "Error");
            bool cancelled = desc != NULL && strstr(desc, "cancel") != NULL;

            rc = oa_error_set(err, cancelled ? OA_ECANCELLED : OA_EIO,
                              "job %s failed: %s%s%s (GET /jobs/%s)", job_id,
                              desc != NULL ? desc : "unknown error",
                              details != NULL ? ": " : "",
                              details != NULL ? details : "", job_id);
            cJSON_Delete(job);
            return rc;
        }
        cJSON_Delete(job);
        if (oa_jobs_closing())
            /* Orthanc is stopping: its jobs engine stops the job (a
             * saved one goes on after the restart); do not hold the
             * HTTP server's shutdown waiting for an end that will not
             * come in this process. */
            return oa_error_set(err, OA_EIO,
                                "Orthanc is stopping before job %s ended "
                                "(GET /jobs/%s after the restart)",
                                job_id, job_id);
        if (quick_left > 0) {
            quick_left--;
            nanosleep(&quick, NULL);
            continue;
        }
        if (wait_ended(seen, pause_ms))
            quick_left = 50;
        if (++polls == 300)
            pause_ms = 100;
    }
}

/* ------------------------------------------------------------------ */
/* Orthanc for the export backends                                      */

static oa_status export_call(bool post, const char *uri, const void *body,
                             size_t body_size, oa_buf *answer,
                             uint16_t *http_status, oa_error *err)
{
    return oa_host_rest(post ? OA_HTTP_POST : OA_HTTP_GET, uri, body,
                        body_size, answer, http_status, err);
}

static oa_status export_transcode(const uint8_t *data, size_t len,
                                  const char *transfer_syntax, oa_buf *out,
                                  oa_error *err)
{
    oa_host_blob blob;
    oa_status rc = oa_host_transcode(data, len, transfer_syntax, &blob, err);

    if (rc != OA_OK)
        return rc;
    rc = oa_buf_append(out, blob.data, blob.size);
    oa_host_blob_free(&blob);
    if (rc != OA_OK)
        return oa_error_set(err, rc, "transcoded file: out of memory or "
                                     "above the buffer's limit");
    return OA_OK;
}

const oa_export_orthanc_host *oa_jobs_export_host(void)
{
    static const oa_export_orthanc_host host = {
        export_call, oa_host_rest_get_json, oa_host_peer_get,
        export_transcode,
    };
    return &host;
}
