/*
 * The anonymization job.
 *
 * Life of a job (Orthanc calls step() on one thread of its own, and
 * stop()/reset()/content()/serialized() on that same thread):
 *
 *  1. submit: the request is checked (every resource must exist in
 *     Orthanc, the profile must be valid) and the job handed to Orthanc.
 *  2. first step: plan.  Patients become their studies, studies their
 *     instances (GET /studies/{id}, /series/{id}); each study remembers
 *     its original identifying values for the report (Orthanc's main
 *     tags, read once here).
 *  3. next steps: worker threads ("Threads", default: cores) take the
 *     instances one by one: GetDicomForInstance, the engine (rules, UIDs,
 *     leak check), POST /instances.  step() only waits a little for them
 *     and returns Continue, so that Orthanc's progress snapshot moves.
 *     A failing instance is recorded with its error; the others go on.
 *  4. last step: the report is written to the store and attached to each
 *     anonymized study; the job succeeds unless every instance failed.
 *
 * Memory: each worker holds one input and one output instance, so memory
 * is bounded by Threads x instance size whatever the study size.
 *
 * Stop and resume.  Pause (and Orthanc's shutdown) stops the workers after
 * their current instance; the serialized job lists which instances are
 * done, so a restarted Orthanc resumes with the others.  An instance
 * stored but not yet recorded when the process died is stored again with
 * the same UIDs (they are keyed, not random): Orthanc answers
 * AlreadyStored and nothing is duplicated.  Cancel also deletes the
 * instances this run had newly stored, so a cancelled anonymization
 * leaves no partial study behind.
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include "../orthanc/host.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ID_MAX 65                  /* Orthanc IDs are 44 characters */
#define MAX_FAILURES_LISTED 1000   /* in the content; the count is exact */
#define MAX_RESOURCES 10000
#define MAX_INSTANCES 1000000
#define STEP_WAIT_MS 300
#define NEW_VALUE_MAX 64           /* LO and PN component groups */
#define SERIAL_VERSION 2

enum item_state {
    ITEM_TODO = 0,
    ITEM_RUNNING,
    ITEM_STORED,
    ITEM_DROPPED,
    ITEM_FAILED
};

typedef struct item {
    char instance[ID_MAX];
    char stored[ID_MAX];   /* the anonymized instance, once stored */
    uint32_t study;
    uint8_t state;
    uint8_t fresh;         /* newly stored by this run (not AlreadyStored) */
} item;

typedef struct study {
    char original[ID_MAX];
    char anonymized[ID_MAX];
    char *new_name, *new_id, *new_desc; /* NULL: generated / profile */
    unsigned instances, dropped, failed;
    bool have_new;                      /* `anon` filled from an output */
    oa_anon_values orig, anon;
} study;

typedef struct anon_job {
    oa_service *svc;
    oa_job_ref ref;          /* our own job ID, and who holds the job */
    cJSON *resources;        /* normalized: [{"Level", "ID", "New..."}] */
    char profile_label[OA_PROFILE_MAX_NAME + 16];
    cJSON *profile_json;     /* overrides, for serialization */
    oa_profile *profile;
    char report_id[OA_JOB_ID_MAX];
    char created[20];        /* "20261126T101500" */
    bool planned;
    bool reported;
    cJSON *export_target;    /* "Export": {"Target"} chained, or NULL */
    int priority;
    char export_job[OA_JOB_ID_MAX]; /* the chained export's job, or "" */
    time_t tracked;          /* last oa_service_track_job() */

    study *studies;
    size_t nstudies;
    item *items;
    size_t nitems;
    size_t items_cap;

    pthread_mutex_t lock;    /* guards everything below and the items */
    pthread_cond_t cond;
    size_t cursor;           /* next item a worker looks at */
    size_t finished;         /* items stored, dropped or failed */
    size_t nfailed;
    cJSON *failures;         /* [{"Instance", "Error"}], capped */
    pthread_t *threads;
    unsigned nthreads;
    bool stopping;
    struct timespec lease;   /* workers take new instances until then */
    char fatal[OA_ERROR_MSG_MAX + 64]; /* why the job failed, or "" */

    char *content;           /* returned to Orthanc, kept until next call */
    char *serialized;
    char *items_text;        /* the instance list's JSON, built once */
} anon_job;

static const oa_host_job_ops anon_ops;
struct anon_job;
static void chain_export(struct anon_job *j);

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static void copy_value(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src != NULL ? src : "");
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? oa_strdup(s) : NULL;
}

/* ------------------------------------------------------------------ */
/* The job object                                                       */

static void job_free(anon_job *j)
{
    size_t i;

    if (j == NULL)
        return;
    cJSON_Delete(j->resources);
    cJSON_Delete(j->export_target);
    cJSON_Delete(j->profile_json);
    oa_profile_free(j->profile);
    for (i = 0; i < j->nstudies; i++) {
        oa_free(j->studies[i].new_name);
        oa_free(j->studies[i].new_id);
        oa_free(j->studies[i].new_desc);
    }
    oa_free(j->studies);
    oa_free(j->items);
    cJSON_Delete(j->failures);
    oa_free(j->threads);
    oa_free(j->content);
    oa_free(j->serialized);
    oa_free(j->items_text);
    oa_job_ref_dispose(&j->ref);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    oa_free(j);
}

static void free_job(void *p)
{
    job_free(p);
}

static anon_job *job_alloc(oa_service *svc)
{
    anon_job *j = oa_calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->svc = svc;
    oa_job_ref_init(&j->ref);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->failures = cJSON_CreateArray();
    if (j->failures == NULL) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* Under the lock. */
static void add_failure(anon_job *j, const char *instance, const char *msg)
{
    cJSON *f;

    j->nfailed++;
    if (cJSON_GetArraySize(j->failures) >= MAX_FAILURES_LISTED)
        return;
    f = cJSON_CreateObject();
    if (f == NULL)
        return;
    if (instance != NULL)
        cJSON_AddStringToObject(f, "Instance", instance);
    else
        cJSON_AddNullToObject(f, "Instance");
    cJSON_AddStringToObject(f, "Error", msg);
    cJSON_AddItemToArray(j->failures, f);
}

/* ------------------------------------------------------------------ */
/* Request                                                              */

/* A new name, ID or description from the request: NULL if absent. */
static oa_status check_new_value(const cJSON *obj, const char *key,
                                 const char *where, oa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *p;

    if (v == NULL || cJSON_IsNull(v))
        return OA_OK;
    if (!cJSON_IsString(v))
        return oa_error_set(err, OA_EINVAL, "%s\"%s\" must be a string",
                            where, key);
    if (strlen(v->valuestring) > NEW_VALUE_MAX)
        return oa_error_set(err, OA_EINVAL,
                            "%s\"%s\" is longer than %d characters", where,
                            key, NEW_VALUE_MAX);
    for (p = v->valuestring; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\')
            return oa_error_set(err, OA_EINVAL,
                                "%s\"%s\" may not hold control characters "
                                "or a backslash (DICOM value separator)",
                                where, key);
    return OA_OK;
}

static const char *const new_keys[] = {"NewPatientName", "NewPatientID",
                                       "NewStudyDescription"};

/* Check one resource against Orthanc and append it, normalized. */
static oa_status add_resource(cJSON *list, const char *level, const char *id,
                              const cJSON *from, const char *where,
                              oa_error *err)
{
    char uri[96];
    cJSON *r, *found = NULL;
    oa_status rc;
    size_t k;
    bool patient;

    if (level == NULL || id == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "%sexpected \"Level\" and \"ID\" strings", where);
    if (strcmp(level, "Patient") == 0 || strcmp(level, "patient") == 0)
        patient = true;
    else if (strcmp(level, "Study") == 0 || strcmp(level, "study") == 0)
        patient = false;
    else
        return oa_error_set(err, OA_EINVAL,
                            "%s\"Level\" must be \"Patient\" or \"Study\"",
                            where);
    for (k = 0; k < sizeof(new_keys) / sizeof(new_keys[0]); k++) {
        rc = check_new_value(from, new_keys[k], where, err);
        if (rc != OA_OK)
            return rc;
    }
    if (!oa_jobs_id_valid(id))
        return oa_error_set(err, OA_ENOTFOUND,
                            "%sno %s with that ID in Orthanc (IDs are hex "
                            "digits and dashes, from /patients or /studies)",
                            where, patient ? "patient" : "study");
    snprintf(uri, sizeof(uri), "/%s/%s", patient ? "patients" : "studies",
             id);
    rc = oa_host_rest_get_json(uri, &found, err);
    cJSON_Delete(found);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND, "%sOrthanc has no %s %s",
                            where, patient ? "patient" : "study", id);
    if (rc != OA_OK)
        return rc;

    r = cJSON_CreateObject();
    if (r == NULL || !cJSON_AddItemToArray(list, r) ||
        cJSON_AddStringToObject(r, "Level", patient ? "Patient" : "Study") ==
            NULL ||
        cJSON_AddStringToObject(r, "ID", id) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    for (k = 0; k < sizeof(new_keys) / sizeof(new_keys[0]); k++) {
        const char *v = oa_jobs_str(from, new_keys[k]);

        if (v != NULL && v[0] != '\0' &&
            cJSON_AddStringToObject(r, new_keys[k], v) == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    return OA_OK;
}

static oa_status parse_resources(cJSON *list, const cJSON *body,
                                 const char *level, const char *id,
                                 oa_error *err)
{
    const cJSON *res, *r;
    oa_status rc;
    int n = 0;

    if (level != NULL)
        return add_resource(list, level, id, body, "", err);
    res = cJSON_GetObjectItemCaseSensitive(body, "Resources");
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) == 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Resources\" must be a non-empty list of "
                            "{\"Level\": \"Patient\"|\"Study\", \"ID\": ...}");
    if (cJSON_GetArraySize(res) > MAX_RESOURCES)
        return oa_error_set(err, OA_ELIMIT,
                            "more than %d resources in one request",
                            MAX_RESOURCES);
    cJSON_ArrayForEach(r, res) {
        char where[48];

        snprintf(where, sizeof(where), "Resources[%d]: ", n++);
        if (!cJSON_IsObject(r))
            return oa_error_set(err, OA_EINVAL, "%smust be an object",
                                where);
        rc = add_resource(list, oa_jobs_str(r, "Level"), oa_jobs_str(r, "ID"), r,
                          where, err);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

oa_status oa_anonymize_submit(oa_service *s, const cJSON *body,
                              const char *level, const char *id,
                              char *job_id, size_t job_id_size,
                              bool *asynchronous, oa_error *err)
{
    const cJSON *v, *spec;
    anon_job *j;
    oa_status rc;
    int priority = 0;

    if (body != NULL && !cJSON_IsObject(body))
        return oa_error_set(err, OA_EINVAL,
                            "the request must be a JSON object");
    rc = oa_service_run_options(body, asynchronous, &priority, err);
    if (rc != OA_OK)
        return rc;

    j = job_alloc(s);
    if (j == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    spec = cJSON_GetObjectItemCaseSensitive(body, "Profile");
    rc = oa_service_request_profile(s, spec, &j->profile, err);
    if (rc != OA_OK)
        goto fail;
    if (cJSON_IsString(spec))
        snprintf(j->profile_label, sizeof(j->profile_label), "%s",
                 spec->valuestring);
    else if (spec == NULL || cJSON_IsNull(spec))
        strcpy(j->profile_label, "Default");
    else
        strcpy(j->profile_label, "(inline)");
    rc = oa_profile_to_json(&j->profile_json, j->profile,
                            OA_PROFILE_JSON_OVERRIDES, err);
    if (rc != OA_OK)
        goto fail;

    j->resources = cJSON_CreateArray();
    if (j->resources == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    rc = parse_resources(j->resources, body, level, id, err);
    if (rc != OA_OK)
        goto fail;
    j->priority = priority;
    v = cJSON_GetObjectItemCaseSensitive(body, "Export");
    if (v != NULL && !cJSON_IsNull(v)) {
        const cJSON *target = cJSON_GetObjectItemCaseSensitive(v, "Target");

        if (!cJSON_IsObject(v) || target == NULL) {
            rc = oa_error_set(err, OA_EINVAL,
                              "\"Export\" must be {\"Target\": {...}} as "
                              "in POST /anonymizer/export");
            goto fail;
        }
        rc = oa_export_check_target(s, target, err);
        if (rc != OA_OK)
            goto fail;
        j->export_target = cJSON_Duplicate(target, 1);
        if (j->export_target == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
    }

    rc = oa_host_generate_uuid(j->report_id, err);
    if (rc != OA_OK)
        goto fail;
    oa_jobs_now(j->created);
    /* The secret now, so that a misconfiguration fails the request. */
    {
        const uint8_t *secret;
        size_t len;

        rc = oa_service_secret(s, &secret, &len, err);
        if (rc != OA_OK)
            goto fail;
    }
    return oa_jobs_submit(&anon_ops, j, &j->ref, free_job, priority, job_id,
                          job_id_size, err);
fail:
    job_free(j);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Planning                                                             */

static oa_status add_study(anon_job *j, const char *sid, const cJSON *res,
                           size_t *cap, oa_error *err)
{
    cJSON *st = NULL, *series;
    const cJSON *tags, *ptags, *s;
    study *dst;
    size_t i;
    char uri[96];
    oa_status rc;

    for (i = 0; i < j->nstudies; i++)
        if (strcmp(j->studies[i].original, sid) == 0)
            return OA_OK;   /* named twice: once is enough */
    if (!oa_jobs_id_valid(sid))
        return oa_error_set(err, OA_EPARSE, "Orthanc gave a bad study ID");
    if (j->nstudies == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        study *grown = oa_realloc(j->studies, ncap * sizeof(*grown));

        if (grown == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        j->studies = grown;
        *cap = ncap;
    }
    dst = &j->studies[j->nstudies];
    memset(dst, 0, sizeof(*dst));
    copy_value(dst->original, sizeof(dst->original), sid);
    j->nstudies++;
    dst->new_name = dup_or_null(oa_jobs_str(res, "NewPatientName"));
    dst->new_id = dup_or_null(oa_jobs_str(res, "NewPatientID"));
    dst->new_desc = dup_or_null(oa_jobs_str(res, "NewStudyDescription"));

    snprintf(uri, sizeof(uri), "/studies/%s", sid);
    rc = oa_host_rest_get_json(uri, &st, err);
    if (rc != OA_OK)
        return rc;
    tags = cJSON_GetObjectItemCaseSensitive(st, "MainDicomTags");
    ptags = cJSON_GetObjectItemCaseSensitive(st, "PatientMainDicomTags");
    copy_value(dst->orig.patient_name, OA_ANON_VALUE_MAX,
               oa_jobs_str(ptags, "PatientName"));
    copy_value(dst->orig.patient_id, OA_ANON_VALUE_MAX,
               oa_jobs_str(ptags, "PatientID"));
    copy_value(dst->orig.study_uid, OA_ANON_VALUE_MAX,
               oa_jobs_str(tags, "StudyInstanceUID"));
    copy_value(dst->orig.study_date, OA_ANON_VALUE_MAX,
               oa_jobs_str(tags, "StudyDate"));
    copy_value(dst->orig.study_description, OA_ANON_VALUE_MAX,
               oa_jobs_str(tags, "StudyDescription"));

    series = cJSON_GetObjectItemCaseSensitive(st, "Series");
    cJSON_ArrayForEach(s, series) {
        cJSON *se = NULL;
        const cJSON *inst;

        if (!cJSON_IsString(s) || !oa_jobs_id_valid(s->valuestring))
            continue;
        snprintf(uri, sizeof(uri), "/series/%s", s->valuestring);
        rc = oa_host_rest_get_json(uri, &se, err);
        if (rc == OA_ENOTFOUND) {   /* deleted meanwhile */
            oa_error_clear(err);
            continue;
        }
        if (rc != OA_OK)
            break;
        cJSON_ArrayForEach(inst, cJSON_GetObjectItemCaseSensitive(
                                     se, "Instances")) {
            item *it;

            if (!cJSON_IsString(inst) || !oa_jobs_id_valid(inst->valuestring))
                continue;
            if (j->nitems >= MAX_INSTANCES) {
                rc = oa_error_set(err, OA_ELIMIT,
                                  "more than %d instances in one job",
                                  MAX_INSTANCES);
                break;
            }
            if (j->nitems == j->items_cap) {
                size_t ncap = j->items_cap ? j->items_cap * 2 : 64;
                item *grown = oa_realloc(j->items, ncap * sizeof(*grown));

                if (grown == NULL) {
                    rc = oa_error_set(err, OA_ENOMEM, "out of memory");
                    break;
                }
                j->items = grown;
                j->items_cap = ncap;
            }
            it = &j->items[j->nitems++];
            memset(it, 0, sizeof(*it));
            copy_value(it->instance, sizeof(it->instance),
                       inst->valuestring);
            it->study = (uint32_t)(dst - j->studies);
        }
        cJSON_Delete(se);
        if (rc != OA_OK)
            break;
    }
    cJSON_Delete(st);
    return rc;
}

static oa_status plan(anon_job *j, oa_error *err)
{
    const cJSON *r;
    size_t cap = 0;
    oa_status rc = OA_OK;

    cJSON_ArrayForEach(r, j->resources) {
        const char *level = oa_jobs_str(r, "Level"), *id = oa_jobs_str(r, "ID");

        if (level == NULL || id == NULL || !oa_jobs_id_valid(id))
            return oa_error_set(err, OA_EINVAL, "bad resource in the job");
        if (strcmp(level, "Patient") == 0) {
            char uri[96];
            cJSON *p = NULL;
            const cJSON *s;

            snprintf(uri, sizeof(uri), "/patients/%s", id);
            rc = oa_host_rest_get_json(uri, &p, err);
            if (rc == OA_ENOTFOUND)
                rc = oa_error_set(err, OA_ENOTFOUND,
                                  "patient %s was deleted before the job "
                                  "started",
                                  id);
            if (rc != OA_OK)
                return rc;
            cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(p,
                                                                   "Studies")) {
                if (cJSON_IsString(s)) {
                    rc = add_study(j, s->valuestring, r, &cap, err);
                    if (rc != OA_OK)
                        break;
                }
            }
            cJSON_Delete(p);
        } else {
            rc = add_study(j, id, r, &cap, err);
            if (rc == OA_ENOTFOUND)
                rc = oa_error_set(err, OA_ENOTFOUND,
                                  "study %s was deleted before the job "
                                  "started",
                                  id);
        }
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Workers                                                              */

typedef struct outcome {
    uint8_t state;            /* ITEM_STORED, ITEM_DROPPED, ITEM_FAILED */
    bool fresh;
    char stored[ID_MAX];
    char parent[ID_MAX];
    bool have_values;
    oa_anon_values anon;
    char error[OA_ERROR_MSG_MAX + 64];
} outcome;

static void fail_outcome(outcome *o, const oa_error *err)
{
    o->state = ITEM_FAILED;
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
    rc = oa_host_rest(OA_HTTP_POST, "/instances", res->data, res->len,
                      answer, &status, err);
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
    copy_value(o->parent, sizeof(o->parent), sid);
    copy_value(o->stored, sizeof(o->stored), iid);
    o->fresh = st != NULL && strcmp(st, "Success") == 0;
    cJSON_Delete(json);
    return OA_OK;
}

static void process(anon_job *j, oa_anonymizer *engine, oa_buf *answer,
                    const item *it, const study *st, outcome *o)
{
    oa_anon_identity id;
    oa_anon_result res;
    oa_host_blob blob;
    oa_error err;
    oa_status rc;

    (void)j;
    memset(o, 0, sizeof(*o));
    oa_error_clear(&err);
    rc = oa_host_get_dicom(it->instance, &blob, &err);
    if (rc != OA_OK) {
        fail_outcome(o, &err);
        return;
    }
    memset(&id, 0, sizeof(id));
    id.new_patient_name = st->new_name;
    id.new_patient_id = st->new_id;
    id.new_study_description = st->new_desc;
    memset(&res, 0, sizeof(res));
    rc = oa_anonymizer_run(engine, &id, blob.data, blob.size, &res, &err);
    if (rc != OA_OK) {
        fail_outcome(o, &err);
    } else if (res.dropped) {
        o->state = ITEM_DROPPED;
    } else {
        o->have_values = true;
        o->anon = res.anonymized;
        rc = store_instance(&res, answer, o, &err);
        if (rc != OA_OK)
            fail_outcome(o, &err);
        else
            o->state = ITEM_STORED;
    }
    oa_host_blob_free(&blob);
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
static void renew_lease(anon_job *j)
{
    clock_gettime(CLOCK_MONOTONIC, &j->lease);
    j->lease.tv_nsec += (LEASE_MS % 1000) * 1000000L;
    j->lease.tv_sec += LEASE_MS / 1000 + j->lease.tv_nsec / 1000000000L;
    j->lease.tv_nsec %= 1000000000L;
    pthread_cond_broadcast(&j->cond);
}

static void *worker_main(void *arg)
{
    anon_job *j = arg;
    oa_anonymizer *engine = NULL;
    oa_anonymizer_opts opts;
    oa_error err;
    oa_buf answer;
    const uint8_t *secret;
    size_t secret_len;
    oa_status rc;

    oa_error_clear(&err);
    oa_buf_init(&answer, (size_t)1 << 20);
    rc = oa_service_secret(j->svc, &secret, &secret_len, &err);
    if (rc == OA_OK) {
        memset(&opts, 0, sizeof(opts));
        opts.secret = secret;
        opts.secret_len = secret_len;
        opts.uid_root = oa_service_config(j->svc)->uid_root;
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
         * that what Orthanc saves of the job is what was done. */
        while (!j->stopping && !lease_valid(j))
            pthread_cond_wait(&j->cond, &j->lock);
        while (j->cursor < j->nitems &&
               j->items[j->cursor].state != ITEM_TODO)
            j->cursor++;
        if (j->stopping || j->cursor >= j->nitems) {
            pthread_mutex_unlock(&j->lock);
            break;
        }
        idx = j->cursor++;
        j->items[idx].state = ITEM_RUNNING;
        snapshot = j->items[idx];
        st = &j->studies[snapshot.study];   /* new_* are immutable */
        pthread_mutex_unlock(&j->lock);

        process(j, engine, &answer, &snapshot, st, &o);

        pthread_mutex_lock(&j->lock);
        j->items[idx].state = o.state;
        switch (o.state) {
        case ITEM_STORED:
            copy_value(j->items[idx].stored, ID_MAX, o.stored);
            j->items[idx].fresh = o.fresh;
            st->instances++;
            if (st->anonymized[0] == '\0')
                copy_value(st->anonymized, ID_MAX, o.parent);
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
            add_failure(j, snapshot.instance, o.error);
            break;
        }
        j->finished++;
        /* Wake step() only at the end: between, it waits its full period
         * (each return is a snapshot of the job that Orthanc serializes
         * and parses; once per instance costs more than the instance). */
        if (j->finished == j->nitems)
            pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
    }
    oa_anonymizer_free(engine);
    oa_buf_dispose(&answer);
    return NULL;
}

/* Start the workers (job thread, none running). */
static oa_status start_workers(anon_job *j, oa_error *err)
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

/* Stop and join the workers (job thread).  Each finishes its instance. */
static void stop_workers(anon_job *j)
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

/* ------------------------------------------------------------------ */
/* Content, report                                                      */

static void add_values(cJSON *row, const char *prefix,
                       const oa_anon_values *v)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"PatientName", offsetof(oa_anon_values, patient_name)},
        {"PatientID", offsetof(oa_anon_values, patient_id)},
        {"StudyInstanceUID", offsetof(oa_anon_values, study_uid)},
        {"StudyDate", offsetof(oa_anon_values, study_date)},
        {"StudyDescription", offsetof(oa_anon_values, study_description)},
    };
    char key[48];
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        snprintf(key, sizeof(key), "%s%s", prefix, fields[i].name);
        cJSON_AddStringToObject(row, key,
                                (const char *)v + fields[i].offset);
    }
}

static void read_values(const cJSON *row, const char *prefix,
                        oa_anon_values *v)
{
    char key[48];

    memset(v, 0, sizeof(*v));
#define READ(field, name)                                                    \
    snprintf(key, sizeof(key), "%s%s", prefix, name);                        \
    copy_value(v->field, sizeof(v->field), oa_jobs_str(row, key))
    READ(patient_name, "PatientName");
    READ(patient_id, "PatientID");
    READ(study_uid, "StudyInstanceUID");
    READ(study_date, "StudyDate");
    READ(study_description, "StudyDescription");
#undef READ
}

/* One row of the report (under the lock).  Keys: jobs.h CSV columns. */
static cJSON *report_row(const study *st)
{
    oa_anon_values none;
    cJSON *row = cJSON_CreateObject();

    if (row == NULL)
        return NULL;
    memset(&none, 0, sizeof(none));
    add_values(row, "Original", &st->orig);
    add_values(row, "New", st->have_new ? &st->anon : &none);
    cJSON_AddStringToObject(row, "OriginalStudy", st->original);
    if (st->anonymized[0] != '\0')
        cJSON_AddStringToObject(row, "AnonymizedStudy", st->anonymized);
    else
        cJSON_AddNullToObject(row, "AnonymizedStudy");
    cJSON_AddNumberToObject(row, "Instances", st->instances);
    cJSON_AddNumberToObject(row, "Dropped", st->dropped);
    cJSON_AddNumberToObject(row, "Failed", st->failed);
    return row;
}

static cJSON *report_json(anon_job *j, size_t only, const char *job_id)
{
    cJSON *r = cJSON_CreateObject(), *rows;
    size_t i;

    if (r == NULL)
        return NULL;
    cJSON_AddStringToObject(r, "ID", j->report_id);
    cJSON_AddStringToObject(r, "Job", job_id != NULL ? job_id : "");
    cJSON_AddStringToObject(r, "Date", j->created);
    cJSON_AddStringToObject(r, "Profile", j->profile_label);
    rows = cJSON_AddArrayToObject(r, "Studies");
    for (i = 0; i < j->nstudies; i++)
        if (only == (size_t)-1 || only == i)
            cJSON_AddItemToArray(rows, report_row(&j->studies[i]));
    return r;
}

/* The job's content (under the lock). */
static cJSON *content_json(anon_job *j)
{
    cJSON *c = cJSON_CreateObject(), *list;
    size_t i;

    if (c == NULL)
        return NULL;
    cJSON_AddStringToObject(c, "Report", j->report_id);
    cJSON_AddStringToObject(c, "Profile", j->profile_label);
    cJSON_AddNumberToObject(c, "InstancesTotal", (double)j->nitems);
    cJSON_AddNumberToObject(c, "InstancesDone", (double)j->finished);
    list = cJSON_AddArrayToObject(c, "Studies");
    for (i = 0; i < j->nstudies; i++) {
        const study *st = &j->studies[i];
        cJSON *s = cJSON_CreateObject();

        if (s == NULL || !cJSON_AddItemToArray(list, s))
            break;
        cJSON_AddStringToObject(s, "Original", st->original);
        if (st->anonymized[0] != '\0')
            cJSON_AddStringToObject(s, "Anonymized", st->anonymized);
        else
            cJSON_AddNullToObject(s, "Anonymized");
        cJSON_AddNumberToObject(s, "Instances", st->instances);
        cJSON_AddNumberToObject(s, "Dropped", st->dropped);
        cJSON_AddNumberToObject(s, "Failed", st->failed);
    }
    cJSON_AddItemToObject(c, "Failed", cJSON_Duplicate(j->failures, 1));
    cJSON_AddNumberToObject(c, "FailedCount", (double)j->nfailed);
    if (j->export_job[0] != '\0')
        cJSON_AddStringToObject(c, "ExportJob", j->export_job);
    if (j->fatal[0] != '\0')
        cJSON_AddStringToObject(c, "Error", j->fatal);
    return c;
}

static void find_job_id(anon_job *j, char *out, size_t size)
{
    oa_job_ref_id(&j->ref, out, size, 0);
}

/* Write the report to the store and attach it to the anonymized studies. */
static void write_report(anon_job *j)
{
    char job_id[ID_MAX], uri[128];
    cJSON *r;
    char *text;
    oa_error err;
    size_t i;

    find_job_id(j, job_id, sizeof(job_id));
    pthread_mutex_lock(&j->lock);
    r = report_json(j, (size_t)-1, job_id);
    pthread_mutex_unlock(&j->lock);
    text = r != NULL ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    oa_error_clear(&err);
    if (text == NULL ||
        oa_store_put(oa_service_store(j->svc), OA_STORE_REPORTS, j->report_id,
                     text, &err) != OA_OK)
        oa_log(OA_LOG_ERROR, "anonymization report %s not saved: %s",
               j->report_id, text == NULL ? "out of memory" : err.msg);
    cJSON_free(text);

    for (i = 0; i < j->nstudies; i++) {
        const study *st = &j->studies[i];
        uint16_t status;

        if (st->anonymized[0] == '\0')
            continue;
        snprintf(uri, sizeof(uri), "/studies/%s/metadata/%d", st->anonymized,
                 OA_REPORT_METADATA);
        oa_host_rest(OA_HTTP_PUT, uri, j->report_id, strlen(j->report_id),
                     NULL, &status, NULL);
        r = report_json(j, i, job_id);
        text = r != NULL ? cJSON_PrintUnformatted(r) : NULL;
        cJSON_Delete(r);
        if (text != NULL) {
            snprintf(uri, sizeof(uri), "/studies/%s/attachments/%d",
                     st->anonymized, OA_REPORT_ATTACHMENT);
            oa_host_rest(OA_HTTP_PUT, uri, text, strlen(text), NULL, &status,
                         NULL);
            if (status != 200)
                oa_log(OA_LOG_WARNING,
                       "report not attached to study %s (HTTP %u)",
                       st->anonymized, (unsigned)status);
        }
        cJSON_free(text);
    }
    j->reported = true;
}

/* Tell the cluster's job list how this job is doing. */
static void track(anon_job *j, const char *state, bool force)
{
    cJSON *extra = cJSON_CreateObject();
    char job_id[OA_JOB_ID_MAX] = "";
    float progress;

    if (extra == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    progress = j->nitems ? (float)j->finished / (float)j->nitems
                         : (strcmp(state, "Success") == 0 ? 1.0f : 0.0f);
    cJSON_AddStringToObject(extra, "Report", j->report_id);
    cJSON_AddStringToObject(extra, "Profile", j->profile_label);
    cJSON_AddNumberToObject(extra, "Studies", (double)j->nstudies);
    cJSON_AddNumberToObject(extra, "Instances", (double)j->nitems);
    cJSON_AddNumberToObject(extra, "Failed", (double)j->nfailed);
    if (j->fatal[0] != '\0')
        cJSON_AddStringToObject(extra, "Error", j->fatal);
    if (j->export_job[0] != '\0')
        cJSON_AddStringToObject(extra, "ExportJob", j->export_job);
    pthread_mutex_unlock(&j->lock);
    if (force && strcmp(state, "Running") == 0) {
        find_job_id(j, job_id, sizeof(job_id));
        if (job_id[0] != '\0')
            cJSON_AddStringToObject(extra, "Job", job_id);
    }
    oa_service_track_job(j->svc, j->report_id, OA_JOB_TYPE_ANONYMIZE,
                         state, progress, extra, force, &j->tracked);
    cJSON_Delete(extra);
}

/* ------------------------------------------------------------------ */
/* Job callbacks                                                        */

static void cb_finalize(void *p)
{
    anon_job *j = p;

    stop_workers(j);
    if (oa_job_ref_release(&j->ref))
        job_free(j);
}

static float cb_progress(void *p)
{
    anon_job *j = p;
    float f;

    pthread_mutex_lock(&j->lock);
    if (!j->planned)
        f = 0.0f;
    else if (j->nitems == 0)
        f = 1.0f;
    else
        f = (float)j->finished / (float)j->nitems;
    pthread_mutex_unlock(&j->lock);
    return f;
}

static const char *cb_content(void *p)
{
    anon_job *j = p;
    cJSON *c;
    char *text;

    pthread_mutex_lock(&j->lock);
    c = content_json(j);
    pthread_mutex_unlock(&j->lock);
    text = c != NULL ? cJSON_PrintUnformatted(c) : NULL;
    cJSON_Delete(c);
    if (text != NULL) {
        oa_free(j->content);
        j->content = oa_strdup(text);
        cJSON_free(text);
    }
    return j->content != NULL ? j->content : "{}";
}

static oa_job_step_status cb_step(void *p)
{
    anon_job *j = p;
    oa_error err;
    struct timespec until;
    bool done, failed;

    oa_error_clear(&err);
    if (!j->planned) {
        char id[OA_JOB_ID_MAX];

        /* The report is named after the job: one ID for users. */
        oa_job_ref_id(&j->ref, id, sizeof(id), 10000);
        if (id[0] != '\0' && strcmp(id, j->report_id) != 0) {
            pthread_mutex_lock(&j->lock);
            copy_value(j->report_id, sizeof(j->report_id), id);
            pthread_mutex_unlock(&j->lock);
        }
        if (plan(j, &err) != OA_OK) {
            oa_error_format(&err, j->fatal, sizeof(j->fatal));
            oa_log(OA_LOG_ERROR, "anonymization %s: %s", j->report_id,
                   j->fatal);
            track(j, "Failure", true);
            return OA_JOB_STEP_FAILURE;
        }
        pthread_mutex_lock(&j->lock);
        j->planned = true;
        pthread_mutex_unlock(&j->lock);
        track(j, "Running", true);
        return OA_JOB_STEP_CONTINUE;
    }

    pthread_mutex_lock(&j->lock);
    renew_lease(j);
    pthread_mutex_unlock(&j->lock);
    if (j->threads == NULL && j->finished < j->nitems) {
        if (start_workers(j, &err) != OA_OK) {
            oa_error_format(&err, j->fatal, sizeof(j->fatal));
            track(j, "Failure", true);
            return OA_JOB_STEP_FAILURE;
        }
    }

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += STEP_WAIT_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->lock);
    while (j->finished < j->nitems && j->fatal[0] == '\0' &&
           pthread_cond_timedwait(&j->cond, &j->lock, &until) == 0)
        ;
    done = j->finished >= j->nitems;
    failed = j->fatal[0] != '\0';
    pthread_mutex_unlock(&j->lock);

    if (failed) {
        stop_workers(j);
        track(j, "Failure", true);
        return OA_JOB_STEP_FAILURE;
    }
    if (!done) {
        track(j, "Running", false);
        return OA_JOB_STEP_CONTINUE;
    }

    stop_workers(j);
    if (!j->reported)
        write_report(j);
    if (j->nitems > 0 && j->nfailed == j->nitems) {
        snprintf(j->fatal, sizeof(j->fatal),
                 "every instance failed (the first error is listed in "
                 "\"Failed\")");
        track(j, "Failure", true);
        return OA_JOB_STEP_FAILURE;
    }
    if (j->export_target != NULL && j->export_job[0] == '\0')
        chain_export(j);
    track(j, "Success", true);
    return OA_JOB_STEP_SUCCESS;
}

/* "Export" in the request: export the anonymized studies. */
static void chain_export(anon_job *j)
{
    cJSON *studies = cJSON_CreateArray();
    oa_error err;
    size_t i;

    if (studies == NULL)
        return;
    for (i = 0; i < j->nstudies; i++)
        if (j->studies[i].anonymized[0] != '\0')
            cJSON_AddItemToArray(studies,
                                 cJSON_CreateString(j->studies[i].anonymized));
    oa_error_clear(&err);
    if (cJSON_GetArraySize(studies) > 0 &&
        oa_export_submit_studies(j->svc, studies, j->export_target,
                                 j->priority, j->export_job,
                                 sizeof(j->export_job), &err) != OA_OK) {
        j->export_job[0] = '\0';
        oa_log(OA_LOG_ERROR,
               "anonymization %s: the chained export could not start: %s",
               j->report_id, err.msg);
    }
    cJSON_Delete(studies);
}

/* Cancel: remove what this run stored, so no partial study remains. */
static void undo_fresh(anon_job *j)
{
    size_t i, removed = 0;
    char uri[96];

    for (i = 0; i < j->nitems; i++) {
        item *it = &j->items[i];
        uint16_t status;

        if (it->state != ITEM_STORED || !it->fresh)
            continue;
        snprintf(uri, sizeof(uri), "/instances/%s", it->stored);
        if (oa_host_rest(OA_HTTP_DELETE, uri, NULL, 0, NULL, &status, NULL) ==
                OA_OK &&
            (status == 200 || status == 404))
            removed++;
        it->fresh = 0;
    }
    if (removed > 0)
        oa_log(OA_LOG_WARNING,
               "anonymization %s cancelled: %zu instances it had stored "
               "were deleted again",
               j->report_id, removed);
}

static oa_status cb_stop(void *p, oa_job_stop_reason reason)
{
    anon_job *j = p;

    stop_workers(j);
    if (reason == OA_JOB_STOP_CANCELED) {
        undo_fresh(j);
        track(j, "Cancelled", true);
    } else if (reason == OA_JOB_STOP_PAUSED) {
        track(j, "Paused", true);
    }
    return OA_OK;
}

static oa_status cb_reset(void *p)
{
    anon_job *j = p;
    size_t i;

    stop_workers(j);
    pthread_mutex_lock(&j->lock);
    for (i = 0; i < j->nitems; i++) {
        j->items[i].state = ITEM_TODO;
        j->items[i].fresh = 0;
        j->items[i].stored[0] = '\0';
    }
    for (i = 0; i < j->nstudies; i++) {
        j->studies[i].instances = 0;
        j->studies[i].dropped = 0;
        j->studies[i].failed = 0;
    }
    j->finished = 0;
    j->nfailed = 0;
    j->cursor = 0;
    j->fatal[0] = '\0';
    j->reported = false;
    cJSON_Delete(j->failures);
    j->failures = cJSON_CreateArray();
    pthread_mutex_unlock(&j->lock);
    return j->failures != NULL ? OA_OK : OA_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Serialization                                                        */

/*
 * The job as Orthanc saves it (after every step, and at shutdown).  The
 * instance list does not change after planning: its JSON is built once
 * (items_json); what changes is one state digit per instance ("States")
 * and the per-study counters, so a step costs little even for a study of
 * thousands of instances.  Which instances this run stored anew is not
 * saved: after a restart, a cancel removes only what was stored since.
 */
static char *items_json(const anon_job *j)
{
    oa_buf b;
    size_t i;
    oa_status rc;

    oa_buf_init(&b, (size_t)MAX_INSTANCES * 96);
    rc = oa_buf_append_byte(&b, '[');
    for (i = 0; i < j->nitems && rc == OA_OK; i++)
        rc = oa_buf_printf(&b, "%s[\"%s\",%u]", i ? "," : "",
                           j->items[i].instance, (unsigned)j->items[i].study);
    if (rc == OA_OK)
        rc = oa_buf_append_byte(&b, ']');
    if (rc != OA_OK) {
        oa_buf_dispose(&b);
        return NULL;
    }
    {
        char *text = oa_strdup(oa_buf_cstr(&b));

        oa_buf_dispose(&b);
        return text;
    }
}

static const char *cb_serialized(void *p)
{
    anon_job *j = p;
    cJSON *s = cJSON_CreateObject(), *studies;
    char *head = NULL, *states = NULL;
    oa_buf out;
    size_t i;

    if (s == NULL)
        return NULL;
    if (j->planned && j->items_text == NULL)
        j->items_text = items_json(j);
    if (j->planned && j->items_text == NULL) {
        cJSON_Delete(s);
        return NULL;
    }
    pthread_mutex_lock(&j->lock);
    cJSON_AddNumberToObject(s, "Version", SERIAL_VERSION);
    cJSON_AddItemToObject(s, "Resources", cJSON_Duplicate(j->resources, 1));
    cJSON_AddStringToObject(s, "ProfileName", j->profile_label);
    cJSON_AddItemToObject(s, "Profile", cJSON_Duplicate(j->profile_json, 1));
    cJSON_AddStringToObject(s, "Report", j->report_id);
    cJSON_AddStringToObject(s, "Created", j->created);
    cJSON_AddBoolToObject(s, "Planned", j->planned);
    cJSON_AddBoolToObject(s, "Reported", j->reported);
    if (j->export_target != NULL)
        cJSON_AddItemToObject(s, "Export",
                              cJSON_Duplicate(j->export_target, 1));
    cJSON_AddNumberToObject(s, "Priority", j->priority);
    cJSON_AddStringToObject(s, "ExportJob", j->export_job);
    studies = cJSON_AddArrayToObject(s, "Studies");
    for (i = 0; i < j->nstudies; i++) {
        const study *st = &j->studies[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(studies, o))
            break;
        cJSON_AddStringToObject(o, "Original", st->original);
        cJSON_AddStringToObject(o, "Anonymized", st->anonymized);
        if (st->new_name != NULL)
            cJSON_AddStringToObject(o, "NewPatientName", st->new_name);
        if (st->new_id != NULL)
            cJSON_AddStringToObject(o, "NewPatientID", st->new_id);
        if (st->new_desc != NULL)
            cJSON_AddStringToObject(o, "NewStudyDescription", st->new_desc);
        cJSON_AddNumberToObject(o, "Instances", st->instances);
        cJSON_AddNumberToObject(o, "Dropped", st->dropped);
        cJSON_AddNumberToObject(o, "Failed", st->failed);
        add_values(o, "Original", &st->orig);
        cJSON_AddBoolToObject(o, "HaveNew", st->have_new);
        add_values(o, "New", &st->anon);
    }
    cJSON_AddItemToObject(s, "Failures", cJSON_Duplicate(j->failures, 1));
    cJSON_AddNumberToObject(s, "FailedCount", (double)j->nfailed);
    /* one digit per instance; running ones are to do again */
    states = oa_malloc(j->nitems + 1);
    if (states != NULL) {
        for (i = 0; i < j->nitems; i++)
            states[i] = (char)('0' + (j->items[i].state == ITEM_RUNNING
                                          ? ITEM_TODO
                                          : j->items[i].state));
        states[j->nitems] = '\0';
        cJSON_AddStringToObject(s, "States", states);
        oa_free(states);
    }
    pthread_mutex_unlock(&j->lock);

    head = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (head == NULL)
        return NULL;
    /* head is "{...}": splice the cached items in before its last brace */
    oa_buf_init(&out, (size_t)MAX_INSTANCES * 128);
    if (oa_buf_append(&out, head, strlen(head) - 1) != OA_OK ||
        oa_buf_printf(&out, ",\"Items\":%s}",
                      j->items_text != NULL ? j->items_text : "[]") !=
            OA_OK) {
        cJSON_free(head);
        oa_buf_dispose(&out);
        return NULL;
    }
    cJSON_free(head);
    oa_free(j->serialized);
    j->serialized = oa_strdup(oa_buf_cstr(&out));
    oa_buf_dispose(&out);
    return j->serialized;
}

void *oa_anonymize_unserialize(const char *text)
{
    oa_service *svc = oa_service_current();
    cJSON *s, *v;
    const cJSON *o;
    const char *states;
    anon_job *j;
    oa_error err;
    size_t n;

    if (svc == NULL)
        return NULL;
    s = cJSON_Parse(text);
    if (s == NULL)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(s, "Version");
    j = job_alloc(svc);
    if (j == NULL || !cJSON_IsNumber(v) || v->valueint != SERIAL_VERSION)
        goto fail;
    oa_error_clear(&err);
    if (oa_profile_from_json(&j->profile, NULL,
                             cJSON_GetObjectItemCaseSensitive(s, "Profile"),
                             &err) != OA_OK)
        goto fail;
    j->profile_json = cJSON_DetachItemFromObjectCaseSensitive(s, "Profile");
    j->resources = cJSON_DetachItemFromObjectCaseSensitive(s, "Resources");
    if (!cJSON_IsArray(j->resources))
        goto fail;
    copy_value(j->profile_label, sizeof(j->profile_label),
               oa_jobs_str(s, "ProfileName"));
    copy_value(j->report_id, sizeof(j->report_id), oa_jobs_str(s, "Report"));
    /* A restored job keeps its ID, which names its report. */
    oa_job_ref_set(&j->ref, j->report_id);
    copy_value(j->created, sizeof(j->created), oa_jobs_str(s, "Created"));
    j->planned = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "Planned"));
    j->reported =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "Reported"));
    j->export_target = cJSON_DetachItemFromObjectCaseSensitive(s, "Export");
    v = cJSON_GetObjectItemCaseSensitive(s, "Priority");
    j->priority = cJSON_IsNumber(v) ? v->valueint : 0;
    copy_value(j->export_job, sizeof(j->export_job),
               oa_jobs_str(s, "ExportJob"));

    v = cJSON_GetObjectItemCaseSensitive(s, "Studies");
    n = (size_t)cJSON_GetArraySize(v);
    j->studies = oa_calloc(n ? n : 1, sizeof(study));
    if (j->studies == NULL)
        goto fail;
    cJSON_ArrayForEach(o, v) {
        study *st = &j->studies[j->nstudies++];
        const cJSON *x;

        copy_value(st->original, ID_MAX, oa_jobs_str(o, "Original"));
        copy_value(st->anonymized, ID_MAX, oa_jobs_str(o, "Anonymized"));
        st->new_name = dup_or_null(oa_jobs_str(o, "NewPatientName"));
        st->new_id = dup_or_null(oa_jobs_str(o, "NewPatientID"));
        st->new_desc = dup_or_null(oa_jobs_str(o, "NewStudyDescription"));
        x = cJSON_GetObjectItemCaseSensitive(o, "Instances");
        st->instances = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        x = cJSON_GetObjectItemCaseSensitive(o, "Dropped");
        st->dropped = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        x = cJSON_GetObjectItemCaseSensitive(o, "Failed");
        st->failed = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        read_values(o, "Original", &st->orig);
        st->have_new =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "HaveNew"));
        read_values(o, "New", &st->anon);
    }

    v = cJSON_GetObjectItemCaseSensitive(s, "Items");
    n = (size_t)cJSON_GetArraySize(v);
    states = oa_jobs_str(s, "States");
    if (n > MAX_INSTANCES || (states != NULL && strlen(states) != n))
        goto fail;
    j->items = oa_calloc(n ? n : 1, sizeof(item));
    if (j->items == NULL)
        goto fail;
    j->items_cap = n ? n : 1;
    cJSON_ArrayForEach(o, v) {
        item *it = &j->items[j->nitems];
        const cJSON *a0 = cJSON_GetArrayItem(o, 0),
                    *a1 = cJSON_GetArrayItem(o, 1);

        if (!cJSON_IsString(a0) || !cJSON_IsNumber(a1) ||
            a1->valuedouble < 0 || (size_t)a1->valuedouble >= j->nstudies ||
            !oa_jobs_id_valid(a0->valuestring))
            goto fail;
        copy_value(it->instance, ID_MAX, a0->valuestring);
        it->study = (uint32_t)a1->valuedouble;
        it->state = states != NULL ? (uint8_t)(states[j->nitems] - '0')
                                   : ITEM_TODO;
        if (it->state > ITEM_FAILED || it->state == ITEM_RUNNING)
            it->state = ITEM_TODO;
        if (it->state != ITEM_TODO)
            j->finished++;
        j->nitems++;
    }
    cJSON_Delete(j->failures);
    j->failures = cJSON_DetachItemFromObjectCaseSensitive(s, "Failures");
    if (!cJSON_IsArray(j->failures)) {
        cJSON_Delete(j->failures);
        j->failures = cJSON_CreateArray();
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "FailedCount");
    j->nfailed = cJSON_IsNumber(v) ? (size_t)v->valuedouble : 0;
    cJSON_Delete(s);
    oa_log(OA_LOG_WARNING,
           "anonymization %s resumed: %zu of %zu instances already done",
           j->report_id, j->finished, j->nitems);
    return j;
fail:
    oa_log(OA_LOG_ERROR, "a saved anonymization job could not be restored");
    cJSON_Delete(s);
    job_free(j);
    return NULL;
}

static const oa_host_job_ops anon_ops = {
    OA_JOB_TYPE_ANONYMIZE, cb_finalize, cb_progress, cb_content,
    cb_serialized,         cb_step,     cb_stop,     cb_reset,
};

const oa_host_job_ops *oa_anonymize_job_ops(void)
{
    return &anon_ops;
}
