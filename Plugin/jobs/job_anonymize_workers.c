/*
 * The workers of an anonymization job ("Threads", default: cores): each
 * takes the next instance to do, reads it from Orthanc
 * (GetDicomForInstance), runs the engine (rules, UIDs, leak check) and
 * stores the result (POST /instances), while Orthanc keeps calling the
 * job's step() (the lease).  Each holds one input and one output
 * instance; before it rewrites one, a worker reserves what that may take
 * (oa_dicom_working_memory: a deflated instance counts what it may
 * inflate to) from the job's budget, JobMemoryLimit, shared by all its
 * workers: it waits while others hold it, and an instance that needs
 * more than the whole budget fails with that reason (issue 12, defect 3:
 * 16 workers each inflating a deflate bomb).  Every call
 * into Orthanc passes the gate of jobs.h (oa_jobs_enter): once Orthanc is
 * stopping, a worker leaves its instance undone and ends.
 *
 * On the way out the result is put into the job's export sink instead,
 * at the path its own tags give (oa_export_relpath_of).  For a file
 * backend (zip, folder, FTP...) the puts go in item order: a worker waits
 * for its turn (the items before it done), so that the archive is the
 * same whatever the threads did; memory stays one input and one output
 * per worker (the one whose turn it is may pass the memory budget, or a
 * worker waiting for its turn with memory held would block it).  The
 * Orthanc backends (store-straight) take the puts in parallel.  A put
 * that fails fails the job (the sink is aborted): the export is whole or
 * not at all.
 */
#define _POSIX_C_SOURCE 200809L

#include "job_anonymize_int.h"

#include "../orthanc/host.h"
#include "../pixels/pixels.h"
#include "../services/metrics.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Workers                                                              */

typedef struct outcome {
    uint8_t state;            /* ITEM_STORED, ITEM_DROPPED, ITEM_FAILED */
    bool fresh;
    char stored[ID_MAX];
    char parent[ID_MAX];
    bool have_values;
    oa_anon_values anon;
    oa_anon_pixels pixels;    /* what was done to the pixels */
    unsigned n_warnings;      /* the leak check's decisions */
    char warnings[OA_ANON_WARNINGS][OA_ANON_WARNING_MAX];
    const oa_anon_uid_pair *uid_pairs; /* the engine's, until its next run */
    size_t n_uid_pairs;
    bool uid_pairs_truncated;
    char orig_pid[OA_ANON_VALUE_MAX];
    char error[OA_ERROR_MSG_MAX + 64];
    oa_status code;           /* why it failed (OA_ELEAK: the leak check) */
    bool export_failed;       /* way-out: the sink refused: the job fails */
} outcome;

static void fail_outcome(outcome *o, const oa_error *err)
{
    o->state = ITEM_FAILED;
    o->code = err->code;
    oa_error_format(err, o->error, sizeof(o->error));
}

/* Store the anonymized instance; its Orthanc ID and study in `o`. */
static oa_status store_instance(const oa_anon_result *res, oa_buf *answer,
                                outcome *o, oa_error *err)
{
    uint16_t status;
    cJSON *json;
    const char *sid, *iid, *st;
    oa_status rc;

    oa_buf_reset(answer);
    if (!oa_jobs_enter())
        return OA_ECANCELLED;   /* Orthanc is stopping: left undone */
    rc = oa_host_rest(OA_HTTP_POST, "/instances", res->data, res->len,
                      answer, &status, err);
    oa_jobs_leave();
    if (rc != OA_OK)
        return rc;
    if (status != 200)
        return oa_error_set(err, OA_EIO,
                            "Orthanc refused the anonymized instance "
                            "(HTTP %u): see Orthanc's log",
                            (unsigned)status);
    json = cJSON_ParseWithLength((const char *)oa_buf_data(answer),
                                 answer->len);
    sid = oa_jobs_str(json, "ParentStudy");
    iid = oa_jobs_str(json, "ID");
    st = oa_jobs_str(json, "Status");
    if (sid == NULL || iid == NULL) {
        cJSON_Delete(json);
        return oa_error_set(err, OA_EIO,
                            "Orthanc's answer to POST /instances has no ID");
    }
    oa_job_anonymize__copy(o->parent, sizeof(o->parent), sid);
    oa_job_anonymize__copy(o->stored, sizeof(o->stored), iid);
    o->fresh = st != NULL && strcmp(st, "Success") == 0;
    cJSON_Delete(json);
    return OA_OK;
}

static void wait_a_little(anon_job *j);

/*
 * Way-out: put the output into the sink, in its turn when ordered.
 * OA_ECANCELLED when the job stops while waiting (left undone).
 */
static oa_status send_out(anon_job *j, size_t idx, const oa_anon_result *res,
                          outcome *o, oa_error *err)
{
    char relpath[OA_EXPORT_RELPATH_MAX];
    oa_status rc;

    rc = oa_export_relpath_of(res->data, res->len, relpath, sizeof(relpath),
                              err);
    if (rc != OA_OK)
        return rc;   /* an instance failure: our output unreadable */
    if (j->ordered) {
        bool turn;

        pthread_mutex_lock(&j->lock);
        while (j->next_put != idx && !j->stopping && !oa_jobs_closing() &&
               j->fatal[0] == '\0')
            wait_a_little(j);
        turn = j->next_put == idx && !j->stopping && j->fatal[0] == '\0';
        pthread_mutex_unlock(&j->lock);
        if (!turn)
            return OA_ECANCELLED;
    }
    if (oa_export_sink_by_id(j->sink)) {
        /* dicom, peer: a call into Orthanc (store-straight), through the
         * gate of jobs.h like every call of a worker */
        if (!oa_jobs_enter())
            return OA_ECANCELLED;   /* Orthanc is stopping: left undone */
        rc = oa_export_sink_put(j->sink, relpath, res->data, res->len, err);
        oa_jobs_leave();
    } else {
        rc = oa_export_sink_put(j->sink, relpath, res->data, res->len, err);
    }
    if (rc != OA_OK)
        o->export_failed = true;
    return rc;
}

/*
 * The instance left undone (ITEM_TODO): Orthanc is stopping
 * (oa_jobs_close), so it is not stored now and the saved job does not
 * count it; the job redoes it after the restart.
 */
static void abandon_outcome(outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->state = ITEM_TODO;
}

/* The reader's limits of the configuration (MaxInflatedSize,
 * MaxInflateRatio). */
static void reader_opts(const anon_job *j, oa_reader_opts *ro)
{
    const oa_config *cfg = oa_service_config(j->svc);

    memset(ro, 0, sizeof(*ro));
    ro->max_inflated = cfg->max_inflated;
    ro->max_inflate_ratio = cfg->max_inflate_ratio;
}

/*
 * Reserve `need` bytes of the job's memory budget, waiting while other
 * workers hold it.  False if the instance can never fit (`o` failed,
 * naming the limit) or the job stops meanwhile (`o` left undone).
 */
static bool budget_reserve(anon_job *j, size_t idx, uint64_t need,
                           outcome *o)
{
    uint64_t limit = oa_service_config(j->svc)->job_memory;
    bool ok;

    if (limit == 0)
        limit = OA_CONFIG_DEFAULT_JOB_MEMORY;
    if (need > limit) {
        oa_error e;

        oa_error_clear(&e);
        oa_error_set(&e, OA_ELIMIT,
                     "rewriting this instance may take %llu MiB, more than "
                     "its job's memory (\"JobMemoryLimit\", %llu MiB): "
                     "refused",
                     (unsigned long long)(need >> 20),
                     (unsigned long long)(limit >> 20));
        fail_outcome(o, &e);
        return false;
    }
    pthread_mutex_lock(&j->lock);
    while (j->mem_used + need > limit && !j->stopping && !oa_jobs_closing() &&
           !(j->ordered && j->next_put == idx))
        wait_a_little(j);
    ok = j->mem_used + need <= limit || (j->ordered && j->next_put == idx &&
                                         !j->stopping && !oa_jobs_closing());
    if (ok)
        j->mem_used += need;
    pthread_mutex_unlock(&j->lock);
    if (!ok)
        abandon_outcome(o);
    return ok;
}

static void budget_release(anon_job *j, uint64_t held)
{
    if (held == 0)
        return;
    pthread_mutex_lock(&j->lock);
    j->mem_used -= held;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

static void process(anon_job *j, oa_anonymizer *engine, oa_buf *answer,
                    size_t idx, const item *it, const study *st, outcome *o)
{
    oa_reader_opts ro;
    uint64_t held = 0;

    oa_anon_identity id;
    oa_anon_result res;
    oa_host_blob blob;
    oa_error err;
    oa_status rc;

    memset(o, 0, sizeof(*o));
    oa_error_clear(&err);
    if (!oa_jobs_enter()) {
        abandon_outcome(o);
        return;
    }
    rc = oa_host_get_dicom(it->instance, &blob, &err);
    oa_jobs_leave();
    if (rc != OA_OK) {
        fail_outcome(o, &err);
        return;
    }
    reader_opts(j, &ro);
    held = oa_dicom_working_memory(blob.data, blob.size, &ro);
    if (!budget_reserve(j, idx, held, o)) {
        oa_host_blob_free(&blob);
        return;
    }
    memset(&id, 0, sizeof(id));
    id.new_patient_name = st->new_name;
    id.new_patient_id = st->new_id;
    id.new_study_description = st->new_desc;
    memset(&res, 0, sizeof(res));
    rc = oa_anonymizer_run(engine, &id, blob.data, blob.size, &res, &err);
    if (rc == OA_EUNSUPPORTED &&
        res.pixels.verdict == OA_PIXELS_NEEDS_DECODING) {
        /* Risky pixels in a compressed syntax: Orthanc decodes them, the
         * engine cleans the native copy (written in Explicit VR LE). */
        oa_host_blob native;

        oa_error_clear(&err);
        if (!oa_jobs_enter()) {
            oa_host_blob_free(&blob);
            budget_release(j, held);
            abandon_outcome(o);
            return;
        }
        rc = oa_host_transcode(blob.data, blob.size, "1.2.840.10008.1.2.1",
                               &native, &err);
        oa_jobs_leave();
        if (rc == OA_OK) {
            oa_host_blob_free(&blob);
            blob = native;
            /* the decoded copy is larger: reserve for it instead */
            budget_release(j, held);
            held = oa_dicom_working_memory(blob.data, blob.size, &ro);
            if (!budget_reserve(j, idx, held, o)) {
                oa_host_blob_free(&blob);
                return;
            }
            memset(&res, 0, sizeof(res));
            rc = oa_anonymizer_run(engine, &id, blob.data, blob.size, &res,
                                   &err);
        } else {
            res.pixels.verdict = OA_PIXELS_REFUSE;
            oa_error_set(&err, rc, "burned-in text: the pixels must be "
                         "decoded to be cleaned, and %s", err.msg);
        }
    }
    o->pixels = res.pixels;
    if (rc == OA_ECANCELLED) {   /* the job stops: left undone */
        oa_host_blob_free(&blob);
        abandon_outcome(o);
        return;
    }
    o->n_warnings = res.n_warnings;
    memcpy(o->warnings, res.warnings, sizeof(o->warnings));
    if (rc != OA_OK) {
        fail_outcome(o, &err);
    } else if (res.dropped) {
        o->state = ITEM_DROPPED;
    } else {
        o->have_values = true;
        o->anon = res.anonymized;
        o->uid_pairs = res.uid_pairs;   /* mapping files */
        o->n_uid_pairs = res.n_uid_pairs;
        o->uid_pairs_truncated = res.uid_pairs_truncated;
        memcpy(o->orig_pid, res.original.patient_id, OA_ANON_VALUE_MAX);
        rc = j->wayout ? send_out(j, idx, &res, o, &err)
                       : store_instance(&res, answer, o, &err);
        if (rc == OA_ECANCELLED)
            abandon_outcome(o);
        else if (rc != OA_OK)
            fail_outcome(o, &err);
        else
            o->state = ITEM_STORED;
    }
    oa_host_blob_free(&blob);
    budget_release(j, held);
}

/* How long workers go on after the last step() (under the lock). */
#define LEASE_MS 1000

static bool lease_valid(const anon_job *j)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < j->lease.tv_sec ||
           (now.tv_sec == j->lease.tv_sec && now.tv_nsec < j->lease.tv_nsec);
}

/* Renew the lease (step(), under the lock) and wake waiting workers. */
void oa_job_anonymize__renew_lease(anon_job *j)
{
    clock_gettime(CLOCK_MONOTONIC, &j->lease);
    j->lease.tv_nsec += (LEASE_MS % 1000) * 1000000L;
    j->lease.tv_sec += LEASE_MS / 1000 + j->lease.tv_nsec / 1000000000L;
    j->lease.tv_nsec %= 1000000000L;
    pthread_cond_broadcast(&j->cond);
}

/* Wait on the job's condition (under the lock) for a step() or a stop,
 * at most WAIT_MS: Orthanc stopping signals no job's condition. */
#define WAIT_MS 100

static void wait_a_little(anon_job *j)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += WAIT_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cond, &j->lock, &until);
}

/* The engine's cancel poll (every few milliseconds of its work): the job
 * is stopping (cancel, pause) or Orthanc is. */
static int job_cancelled(void *user)
{
    anon_job *j = user;
    bool stop;

    pthread_mutex_lock(&j->lock);
    stop = j->stopping;
    pthread_mutex_unlock(&j->lock);
    return stop || oa_jobs_closing();
}

static void *worker_main(void *arg)
{
    anon_job *j = arg;
    oa_anonymizer *engine = NULL;
    oa_anonymizer_opts opts;
    oa_pixels_ocr ocr_hook = {0};
    oa_error err;
    oa_buf answer;
    const uint8_t *secret;
    size_t secret_len;
    oa_status rc;

    oa_error_clear(&err);
    oa_buf_init(&answer, (size_t)1 << 20);
    if (!oa_jobs_enter()) {   /* Orthanc is stopping: nothing to do */
        oa_buf_dispose(&answer);
        return NULL;
    }
    oa_host_set_thread_name("anon-worker");
    rc = oa_service_secret(j->svc, &secret, &secret_len, &err);
    oa_jobs_leave();
    if (rc == OA_OK) {
        memset(&opts, 0, sizeof(opts));
        opts.secret = secret;
        opts.secret_len = secret_len;
        opts.uid_root = oa_service_config(j->svc)->uid_root;
        opts.work_per_byte = oa_service_config(j->svc)->work_budget;
        opts.cancelled = job_cancelled;
        opts.cancel_user = j;
        reader_opts(j, &opts.reader);
        /* One OCR engine per worker (Tesseract is not shared between
         * threads), made at its first risky image; without its language
         * data, risky images that no pixel rule covers are refused with
         * that reason (GET /anonymizer/info says so). */
        if (oa_profile_options(j->profile)->burned_in_text != OA_OPT_KEEP) {
            oa_error ocr_err;

            oa_error_clear(&ocr_err);
            if (oa_ocr_hook_init(&ocr_hook, NULL, &ocr_err) == OA_OK)
                opts.ocr = &ocr_hook;
        }
        rc = oa_anonymizer_new(&engine, j->profile, &opts, &err);
    }
    if (rc != OA_OK) {
        pthread_mutex_lock(&j->lock);
        if (j->fatal[0] == '\0')
            oa_error_format(&err, j->fatal, sizeof(j->fatal));
        j->stopping = true;
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
        oa_buf_dispose(&answer);
        oa_anonymizer_free(engine);
        oa_ocr_hook_dispose(&ocr_hook);
        oa_host_clear_thread_name();
        return NULL;
    }

    for (;;) {
        item snapshot;
        study *st;
        outcome o;
        size_t idx;

        pthread_mutex_lock(&j->lock);
        /* Work only while Orthanc keeps calling step(): when it stops
         * (shutdown, pause), the lease runs out and the workers wait, so
         * that what Orthanc saves of the job is what was done.  Once
         * Orthanc is stopping (oa_jobs_close), end: nothing wakes us
         * then but the clock. */
        while (!j->stopping && !oa_jobs_closing() && !lease_valid(j))
            wait_a_little(j);
        while (j->cursor < j->nitems &&
               j->items[j->cursor].state != ITEM_TODO)
            j->cursor++;
        if (j->stopping || oa_jobs_closing() || j->cursor >= j->nitems) {
            pthread_mutex_unlock(&j->lock);
            break;
        }
        idx = j->cursor++;
        j->items[idx].state = ITEM_RUNNING;
        snapshot = j->items[idx];
        st = &j->studies[snapshot.study];   /* new_* are immutable */
        pthread_mutex_unlock(&j->lock);

        process(j, engine, &answer, idx, &snapshot, st, &o);

        pthread_mutex_lock(&j->lock);
        if (o.export_failed) {   /* way-out: the export is broken */
            if (j->fatal[0] == '\0')
                snprintf(j->fatal, sizeof(j->fatal), "the export failed: %.*s",
                         (int)(sizeof(j->fatal) - 24), o.error);
            j->stopping = true;
            o.state = ITEM_TODO;
        }
        j->items[idx].state = o.state;
        if (o.state == ITEM_TODO) {   /* abandoned: Orthanc is stopping */
            if (j->cursor > idx)
                j->cursor = idx;
            pthread_cond_broadcast(&j->cond);
            pthread_mutex_unlock(&j->lock);
            break;
        }
        if (o.n_warnings > 0)
            oa_job_anonymize__add_warnings(j, snapshot.instance, o.n_warnings,
                                           o.warnings);
        switch (o.state) {
        case ITEM_STORED:
            if (o.pixels.verdict == OA_PIXELS_CLEANED) {
                st->cleaned++;
                oa_job_anonymize__add_cleaned(j, snapshot.instance,
                                              o.stored, &o.pixels);
            }
            oa_job_anonymize__add_mapping(j, snapshot.study, o.uid_pairs,
                                          o.n_uid_pairs,
                                          o.uid_pairs_truncated, o.orig_pid,
                                          o.anon.patient_id);
            oa_job_anonymize__copy(j->items[idx].stored, ID_MAX, o.stored);
            j->items[idx].fresh = o.fresh;
            st->instances++;
            if (st->anonymized[0] == '\0')
                oa_job_anonymize__copy(st->anonymized, ID_MAX, o.parent);
            if (o.have_values && !st->have_new) {
                st->anon = o.anon;
                st->have_new = true;
            }
            break;
        case ITEM_DROPPED:
            st->dropped++;
            break;
        default:
            st->failed++;
            if (o.pixels.verdict == OA_PIXELS_REFUSE ||
                o.pixels.verdict == OA_PIXELS_NEEDS_DECODING)
                j->npixel_refused++;
            oa_job_anonymize__add_failure(j, snapshot.instance, o.error);
            break;
        }
        oa_metrics_instance(
            o.state == ITEM_STORED, o.state == ITEM_DROPPED,
            o.code == OA_ELEAK,
            o.pixels.verdict == OA_PIXELS_REFUSE ||
                o.pixels.verdict == OA_PIXELS_NEEDS_DECODING,
            o.pixels.verdict == OA_PIXELS_CLEANED);
        j->finished++;
        if (j->ordered) {   /* the next one's turn, maybe */
            oa_job_anonymize__advance_put(j);
            pthread_cond_broadcast(&j->cond);
        }
        /* Wake step() only at the end: between, it waits its full period
         * (each return is a snapshot of the job that Orthanc serializes
         * and parses; once per instance costs more than the instance). */
        if (j->finished == j->nitems)
            pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
    }
    oa_anonymizer_free(engine);
    oa_ocr_hook_dispose(&ocr_hook);
    oa_buf_dispose(&answer);
    oa_host_clear_thread_name();
    return NULL;
}

void oa_job_anonymize__advance_put(anon_job *j)
{
    while (j->next_put < j->nitems &&
           j->items[j->next_put].state != ITEM_TODO &&
           j->items[j->next_put].state != ITEM_RUNNING)
        j->next_put++;
}

/* Start the workers (job thread, none running). */
oa_status oa_job_anonymize__start_workers(anon_job *j, oa_error *err)
{
    unsigned n = oa_service_config(j->svc)->threads, i;
    size_t todo = j->nitems - j->finished;

    if (n == 0)
        n = 1;
    if (todo < n)
        n = (unsigned)(todo ? todo : 1);
    j->threads = oa_calloc(n, sizeof(pthread_t));
    if (j->threads == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    j->stopping = false;
    j->cursor = 0;
    j->ordered = j->wayout && j->sink != NULL && !oa_export_sink_by_id(j->sink);
    j->next_put = 0;
    oa_job_anonymize__advance_put(j);
    for (i = 0; i < n; i++) {
        int e = pthread_create(&j->threads[i], NULL, worker_main, j);

        if (e != 0) {
            if (i == 0) {
                oa_free(j->threads);
                j->threads = NULL;
                return oa_error_set(err, OA_ENOMEM,
                                    "cannot start a worker thread (%d)", e);
            }
            break;   /* run with fewer */
        }
        j->nthreads = i + 1;
    }
    return OA_OK;
}

/* Stop and join the workers (job thread).  Each finishes its instance
 * (or leaves it undone if Orthanc is stopping). */
void oa_job_anonymize__stop_workers(anon_job *j)
{
    unsigned i;

    if (j->threads == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    for (i = 0; i < j->nthreads; i++)
        pthread_join(j->threads[i], NULL);
    oa_free(j->threads);
    j->threads = NULL;
    j->nthreads = 0;
}

