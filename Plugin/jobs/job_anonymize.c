/*
 * The anonymization job (job_anonymize_int.h lists its files).
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
 * Stop and resume.  Pause stops the workers after their current instance.
 * Orthanc's shutdown (OrthancStopped, oa_jobs_close) stops them before
 * their next call into Orthanc: the instance in hand is left undone
 * unless its POST /instances had begun.  The serialized job lists which
 * instances are done, so a restarted Orthanc resumes with the others.
 * An instance stored but not yet recorded when the process died is
 * stored again with the same UIDs (they are keyed, not random): Orthanc
 * answers AlreadyStored and nothing is duplicated.  Cancel also deletes the
 * instances this run had newly stored, so a cancelled anonymization
 * leaves no partial study behind.
 *
 * On the way out ("Store": false) the workers send the output to the
 * export sink opened on the Target (jobs_int.h) at the first step, and
 * the last step finishes it (renames <name>.partial, records a ZIP)
 * before the report is written; nothing is stored in Orthanc.  Cancel,
 * pause and a restart abort the sink (what it wrote is removed) and the
 * job starts over with every instance (oa_job_anonymize__start_over): a
 * half-written archive cannot be resumed, and nothing was stored that
 * would be duplicated.
 */
#define _POSIX_C_SOURCE 200809L

#include "job_anonymize_int.h"

#include "../orthanc/host.h"
#include "../services/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define STEP_WAIT_MS 300

static void chain_export(anon_job *j);

/* ------------------------------------------------------------------ */
/* The job object                                                       */

void oa_job_anonymize__free(void *job)
{
    anon_job *j = job;
    size_t i;

    if (j == NULL)
        return;
    oa_export_sink_free(j->sink);
    cJSON_Delete(j->sent_info);
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
    cJSON_Delete(j->warnings);
    cJSON_Delete(j->cleaned);
    cJSON_Delete(j->leak_warnings);
    oa_free(j->threads);
    oa_free(j->content);
    oa_free(j->serialized);
    oa_free(j->items_text);
    oa_mapping_free(j->mapping);
    oa_job_ref_dispose(&j->ref);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    oa_free(j);
}

anon_job *oa_job_anonymize__alloc(oa_service *svc)
{
    anon_job *j = oa_calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->svc = svc;
    oa_job_ref_init(&j->ref);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->failures = cJSON_CreateArray();
    j->cleaned = cJSON_CreateArray();
    j->leak_warnings = cJSON_CreateArray();
    j->mapping = oa_mapping_new();
    if (j->failures == NULL || j->cleaned == NULL ||
        j->leak_warnings == NULL || j->mapping == NULL) {
        oa_job_anonymize__free(j);
        return NULL;
    }
    return j;
}

/* [{"X", "Y", "W", "H", "Label", "Keep"}, ...]: what was blanked in an
 * image, in order (a kept box is un-blanked after the ones before it). */
static cJSON *boxes_json(const oa_anon_pixels *px)
{
    cJSON *boxes = cJSON_CreateArray();
    size_t n = px->n_boxes < OA_ANON_PIXEL_BOXES ? px->n_boxes
                                                 : OA_ANON_PIXEL_BOXES;

    for (size_t i = 0; boxes != NULL && i < n; i++) {
        const oa_anon_pixel_box *b = &px->boxes[i];
        cJSON *a = cJSON_CreateObject();

        if (a == NULL)
            break;
        cJSON_AddNumberToObject(a, "X", b->x);
        cJSON_AddNumberToObject(a, "Y", b->y);
        cJSON_AddNumberToObject(a, "W", b->w);
        cJSON_AddNumberToObject(a, "H", b->h);
        cJSON_AddStringToObject(a, "Label", b->label);
        cJSON_AddBoolToObject(a, "Keep", b->keep);
        cJSON_AddItemToArray(boxes, a);
    }
    return boxes;
}

/* Under the lock. */
void oa_job_anonymize__add_cleaned(anon_job *j, const char *instance,
                                   const char *stored,
                                   const oa_anon_pixels *px)
{
    cJSON *c;

    j->ncleaned++;
    if (cJSON_GetArraySize(j->cleaned) >= MAX_CLEANED_LISTED)
        return;
    c = cJSON_CreateObject();
    if (c == NULL)
        return;
    cJSON_AddStringToObject(c, "Instance", instance);
    if (stored != NULL && stored[0] != '\0')   /* the cleaned copy */
        cJSON_AddStringToObject(c, "Anonymized", stored);
    cJSON_AddNumberToObject(c, "BoxCount", (double)px->n_boxes);
    cJSON_AddNumberToObject(c, "OcrWords", px->ocr_words);
    cJSON_AddItemToObject(c, "Boxes", boxes_json(px));
    cJSON_AddItemToArray(j->cleaned, c);
}

/* Under the lock. */
void oa_job_anonymize__add_failure(anon_job *j, const char *instance,
                                   const char *msg)
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

/* Under the lock. */
void oa_job_anonymize__add_warnings(
    anon_job *j, const char *instance, unsigned n,
    const char (*w)[OA_ANON_WARNING_MAX])
{
    unsigned i;

    j->nwarnings += n;
    for (i = 0; i < n && i < OA_ANON_WARNINGS; i++) {
        cJSON *o;

        if (cJSON_GetArraySize(j->leak_warnings) >= MAX_FAILURES_LISTED)
            return;
        o = cJSON_CreateObject();
        if (o == NULL)
            return;
        cJSON_AddStringToObject(o, "Instance", instance);
        cJSON_AddStringToObject(o, "Warning", w[i]);
        cJSON_AddItemToArray(j->leak_warnings, o);
    }
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
    oa_job_anonymize__copy(dst->original, sizeof(dst->original), sid);
    j->nstudies++;
    dst->new_name = oa_job_anonymize__dup(oa_jobs_str(res, "NewPatientName"));
    dst->new_id = oa_job_anonymize__dup(oa_jobs_str(res, "NewPatientID"));
    dst->new_desc = oa_job_anonymize__dup(oa_jobs_str(res, "NewStudyDescription"));

    snprintf(uri, sizeof(uri), "/studies/%s", sid);
    rc = oa_host_rest_get_json(uri, &st, err);
    if (rc != OA_OK)
        return rc;
    tags = cJSON_GetObjectItemCaseSensitive(st, "MainDicomTags");
    ptags = cJSON_GetObjectItemCaseSensitive(st, "PatientMainDicomTags");
    oa_job_anonymize__copy(dst->orig.patient_name, OA_ANON_VALUE_MAX,
               oa_jobs_str(ptags, "PatientName"));
    oa_job_anonymize__copy(dst->orig.patient_id, OA_ANON_VALUE_MAX,
               oa_jobs_str(ptags, "PatientID"));
    oa_job_anonymize__copy(dst->orig.study_uid, OA_ANON_VALUE_MAX,
               oa_jobs_str(tags, "StudyInstanceUID"));
    oa_job_anonymize__copy(dst->orig.study_date, OA_ANON_VALUE_MAX,
               oa_jobs_str(tags, "StudyDate"));
    oa_job_anonymize__copy(dst->orig.study_description, OA_ANON_VALUE_MAX,
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
            oa_job_anonymize__copy(it->instance, sizeof(it->instance),
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
/* Content, report                                                      */

void oa_job_anonymize__add_values(cJSON *row, const char *prefix,
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

/* One row of the report (under the lock).  Keys: jobs.h CSV columns. */
static cJSON *report_row(const study *st)
{
    oa_anon_values none;
    cJSON *row = cJSON_CreateObject();

    if (row == NULL)
        return NULL;
    memset(&none, 0, sizeof(none));
    oa_job_anonymize__add_values(row, "Original", &st->orig);
    oa_job_anonymize__add_values(row, "New", st->have_new ? &st->anon : &none);
    cJSON_AddStringToObject(row, "OriginalStudy", st->original);
    if (st->anonymized[0] != '\0')
        cJSON_AddStringToObject(row, "AnonymizedStudy", st->anonymized);
    else
        cJSON_AddNullToObject(row, "AnonymizedStudy");
    cJSON_AddNumberToObject(row, "Instances", st->instances);
    cJSON_AddNumberToObject(row, "Dropped", st->dropped);
    cJSON_AddNumberToObject(row, "Failed", st->failed);
    cJSON_AddNumberToObject(row, "PixelsCleaned", st->cleaned);
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
    if (j->wayout) {   /* sent to the Target, not stored in Orthanc */
        cJSON_AddBoolToObject(r, "Stored", false);
        cJSON_AddItemToObject(r, "Target",
                              oa_export_target_summary(j->export_target));
    }
    rows = cJSON_AddArrayToObject(r, "Studies");
    for (i = 0; i < j->nstudies; i++)
        if (only == (size_t)-1 || only == i)
            cJSON_AddItemToArray(rows, report_row(&j->studies[i]));
    /* what was blanked in which original instance (Orthanc IDs only) */
    cJSON_AddNumberToObject(r, "PixelsCleaned", (double)j->ncleaned);
    cJSON_AddNumberToObject(r, "PixelsRefused", (double)j->npixel_refused);
    if (only == (size_t)-1)
        cJSON_AddItemToObject(r, "CleanedImages",
                              cJSON_Duplicate(j->cleaned, 1));
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
        if (j->wayout)   /* nothing in Orthanc: the new UID says which */
            cJSON_AddStringToObject(s, "NewStudyInstanceUID",
                                    st->have_new ? st->anon.study_uid : "");
        else if (st->anonymized[0] != '\0')
            cJSON_AddStringToObject(s, "Anonymized", st->anonymized);
        else
            cJSON_AddNullToObject(s, "Anonymized");
        cJSON_AddNumberToObject(s, "Instances", st->instances);
        cJSON_AddNumberToObject(s, "Dropped", st->dropped);
        cJSON_AddNumberToObject(s, "Failed", st->failed);
        cJSON_AddNumberToObject(s, "PixelsCleaned", st->cleaned);
    }
    cJSON_AddItemToObject(c, "Failed", cJSON_Duplicate(j->failures, 1));
    cJSON_AddNumberToObject(c, "FailedCount", (double)j->nfailed);
    cJSON_AddNumberToObject(c, "PixelsCleaned", (double)j->ncleaned);
    cJSON_AddNumberToObject(c, "PixelsRefused", (double)j->npixel_refused);
    cJSON_AddItemToObject(c, "CleanedImages", cJSON_Duplicate(j->cleaned, 1));
    cJSON_AddItemToObject(c, "LeakCheckWarnings",
                          cJSON_Duplicate(j->leak_warnings, 1));
    cJSON_AddNumberToObject(c, "LeakCheckWarningCount",
                            (double)j->nwarnings);
    if (j->export_job[0] != '\0')
        cJSON_AddStringToObject(c, "ExportJob", j->export_job);
    if (j->wayout) {   /* the export keys: the export is this job */
        char name[96];

        oa_export_name(name, sizeof(name), j->created, j->report_id);
        cJSON_AddBoolToObject(c, "Stored", false);
        cJSON_AddStringToObject(c, "Export", j->report_id);
        cJSON_AddStringToObject(c, "Name", name);
        cJSON_AddItemToObject(c, "Target",
                              oa_export_target_summary(j->export_target));
        cJSON_AddNumberToObject(c, "Bytes",
                                j->sink != NULL
                                    ? (double)oa_export_sink_bytes(j->sink)
                                    : (double)j->bytes_sent);
        if (j->sent && j->sent_info != NULL) {   /* Location, Archives */
            const cJSON *k;

            cJSON_ArrayForEach(k, j->sent_info)
                cJSON_AddItemToObject(c, k->string, cJSON_Duplicate(k, 1));
        }
    }
    if (j->fatal[0] != '\0')
        cJSON_AddStringToObject(c, "Error", j->fatal);
    if (j->warnings != NULL)
        cJSON_AddItemToObject(c, "Warnings", cJSON_Duplicate(j->warnings, 1));
    return c;
}

/*
 * A side effect the job lost (issue 12, defect 13): logged, and listed
 * in the content's "Warnings" so that the user sees it where the job
 * shows as a success.  Takes the lock.
 */
static void warn(anon_job *j, const char *fmt, ...) OA_PRINTF(2, 3);
static void warn(anon_job *j, const char *fmt, ...)
{
    char msg[OA_ERROR_MSG_MAX + 128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    oa_log(OA_LOG_ERROR, "anonymization %s: %s", j->report_id, msg);
    pthread_mutex_lock(&j->lock);
    if (j->warnings == NULL)
        j->warnings = cJSON_CreateArray();
    if (j->warnings != NULL && cJSON_GetArraySize(j->warnings) < 32)
        cJSON_AddItemToArray(j->warnings, cJSON_CreateString(msg));
    pthread_mutex_unlock(&j->lock);
}

static void find_job_id(anon_job *j, char *out, size_t size)
{
    oa_job_ref_id(&j->ref, out, size, 0);
}

/* Earlier versions attached the report's row (original values) to the
 * anonymized study: remove such an attachment when the study is written
 * again.  The listing first, so that a study without one costs no 404. */
static void drop_legacy_attachment(const char *study_id)
{
    char uri[128], name[16];
    const cJSON *a;
    cJSON *list = NULL;
    oa_error err;
    bool found = false;
    uint16_t status;

    snprintf(uri, sizeof(uri), "/studies/%s/attachments", study_id);
    snprintf(name, sizeof(name), "%d", OA_LEGACY_REPORT_ATTACHMENT);
    oa_error_clear(&err);
    if (oa_host_rest_get_json(uri, &list, &err) != OA_OK)
        return;
    cJSON_ArrayForEach(a, list) {
        if (cJSON_IsString(a) && strcmp(a->valuestring, name) == 0)
            found = true;
    }
    cJSON_Delete(list);
    if (!found)
        return;
    snprintf(uri, sizeof(uri), "/studies/%s/attachments/%s", study_id, name);
    if (oa_host_rest(OA_HTTP_DELETE, uri, NULL, 0, NULL, &status, NULL) !=
            OA_OK ||
        status != 200)
        oa_log(OA_LOG_WARNING,
               "old report attachment not removed from study %s", study_id);
}

/* Write the report to the store and its ID on the anonymized studies. */
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
    oa_job_anonymize__write_mapping(j, r);
    text = r != NULL ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    oa_error_clear(&err);
    if (text == NULL ||
        oa_store_put(oa_service_store(j->svc), OA_STORE_REPORTS, j->report_id,
                     text, &err) != OA_OK)
        warn(j, "the report was not saved (%s): the anonymized studies "
             "cannot be traced back to the originals",
             text == NULL ? "out of memory" : err.msg);
    cJSON_free(text);
    oa_service_retention(j->svc);   /* ReportRetention, JobRetention */

    for (i = 0; i < j->nstudies; i++) {
        const study *st = &j->studies[i];
        uint16_t status = 0;

        if (st->anonymized[0] == '\0')
            continue;
        /* The study links back by the report's ID only: the original
         * values stay in the report (the store), never on the study that
         * anyone who may read it can read. */
        snprintf(uri, sizeof(uri), "/studies/%s/metadata/%d", st->anonymized,
                 OA_REPORT_METADATA);
        oa_host_rest(OA_HTTP_PUT, uri, j->report_id, strlen(j->report_id),
                     NULL, &status, NULL);
        if (status != 200)
            warn(j, "the report's ID was not set on study %s (HTTP %u)",
                 st->anonymized, (unsigned)status);
        drop_legacy_attachment(st->anonymized);
        oa_jobs_label_studies(j->svc, st->original, st->anonymized);
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
    cJSON_AddNumberToObject(extra, "PixelsCleaned", (double)j->ncleaned);
    cJSON_AddNumberToObject(extra, "PixelsRefused",
                            (double)j->npixel_refused);
    if (j->fatal[0] != '\0')
        cJSON_AddStringToObject(extra, "Error", j->fatal);
    if (j->export_job[0] != '\0')
        cJSON_AddStringToObject(extra, "ExportJob", j->export_job);
    if (j->wayout) {   /* on the way out: where it goes, nothing stored */
        cJSON_AddBoolToObject(extra, "Stored", false);
        cJSON_AddItemToObject(extra, "Target",
                              oa_export_target_summary(j->export_target));
    }
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

    oa_job_anonymize__stop_workers(j);
    if (oa_job_ref_release(&j->ref))
        oa_job_anonymize__free(j);
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

/* Way-out: abort the sink unless it finished (what it wrote removed). */
static void drop_sink(anon_job *j)
{
    if (j->sink != NULL && !j->sent) {
        j->bytes_sent = oa_export_sink_bytes(j->sink);   /* how far */
        oa_export_sink_free(j->sink);
        j->sink = NULL;
    }
}

static oa_job_step_status step(void *p)
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
            oa_job_anonymize__copy(j->report_id, sizeof(j->report_id), id);
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
    oa_job_anonymize__renew_lease(j);
    pthread_mutex_unlock(&j->lock);
    /* Way-out: the Target opened (connect, log in, <name>.partial) before
     * the workers start, again after a pause or a restart. */
    if (j->wayout && j->sink == NULL && !j->sent && !oa_jobs_closing()) {
        if (oa_export_sink_open(&j->sink, j->svc, j->export_target,
                                j->report_id, j->created, &err) != OA_OK) {
            oa_error_format(&err, j->fatal, sizeof(j->fatal));
            oa_log(OA_LOG_ERROR, "anonymization %s: %s", j->report_id,
                   j->fatal);
            track(j, "Failure", true);
            return OA_JOB_STEP_FAILURE;
        }
    }
    /* Once Orthanc is stopping (oa_jobs_close) no worker starts: this
     * step() only waits for the jobs engine to stop, and the saved job
     * holds what was stored. */
    if (j->threads == NULL && j->finished < j->nitems && !oa_jobs_closing()) {
        if (oa_job_anonymize__start_workers(j, &err) != OA_OK) {
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
        oa_job_anonymize__stop_workers(j);
        oa_log(OA_LOG_ERROR, "anonymization %s: %s", j->report_id, j->fatal);
        drop_sink(j);
        track(j, "Failure", true);
        return OA_JOB_STEP_FAILURE;
    }
    if (!done || !j->settled) {
        /* The step that sees the last instance done returns once more
         * before the report: a cancel asked meanwhile still lands (the
         * jobs engine acts on it between steps), as it does earlier. */
        j->settled = done;
        track(j, "Running", false);
        return OA_JOB_STEP_CONTINUE;
    }

    oa_job_anonymize__stop_workers(j);
    if (j->wayout && !j->sent) {
        if (j->nitems > 0 && j->nfailed == j->nitems) {
            drop_sink(j);   /* nothing to send: fails below */
        } else if (oa_export_sink_finish(j->sink, j->mapping, &err) !=
                   OA_OK) {
            oa_error_format(&err, j->fatal, sizeof(j->fatal));
            oa_log(OA_LOG_ERROR, "anonymization %s: %s", j->report_id,
                   j->fatal);
            drop_sink(j);
            track(j, "Failure", true);
            return OA_JOB_STEP_FAILURE;
        } else {
            /* finished: what the content shows of it is kept (and saved:
             * a restored finished job says where its files went) */
            j->sent = true;
            j->bytes_sent = oa_export_sink_bytes(j->sink);
            cJSON_Delete(j->sent_info);
            j->sent_info = cJSON_CreateObject();
            if (j->sent_info != NULL)
                oa_export_sink_describe(j->sink, j->sent_info);
            oa_metrics_exported(oa_export_sink_type(j->sink), j->bytes_sent,
                                j->nitems - j->nfailed);
            oa_export_sink_free(j->sink);   /* nothing left to abort */
            j->sink = NULL;
        }
    }
    if (!j->reported)
        write_report(j);
    if (j->nitems > 0 && j->nfailed == j->nitems) {
        snprintf(j->fatal, sizeof(j->fatal),
                 "every instance failed (the first error is listed in "
                 "\"Failed\")");
        track(j, "Failure", true);
        return OA_JOB_STEP_FAILURE;
    }
    if (j->export_target != NULL && !j->wayout && j->export_job[0] == '\0')
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
        oa_job_export_submit_studies(j->svc, studies, j->export_target,
                                     j->priority, j->export_job,
                                     sizeof(j->export_job), &err) != OA_OK) {
        j->export_job[0] = '\0';
        warn(j, "the export asked for (\"Export\") could not start: %s; "
             "export the anonymized studies again", err.msg);
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

    oa_job_anonymize__stop_workers(j);
    drop_sink(j);   /* way-out: what was written is removed */
    if (reason == OA_JOB_STOP_CANCELED) {
        undo_fresh(j);
        track(j, "Cancelled", true);
    } else if (reason == OA_JOB_STOP_PAUSED) {
        /* a way-out job starts over on resume: nothing of it remains */
        if (j->wayout && !j->sent)
            oa_job_anonymize__start_over(j);
        track(j, "Paused", true);
    }
    return OA_OK;
}

oa_status oa_job_anonymize__start_over(anon_job *j)
{
    size_t i;

    drop_sink(j);
    j->bytes_sent = 0;
    j->settled = false;
    pthread_mutex_lock(&j->lock);
    if (j->wayout && !j->sent) {   /* the pairs again, from the start */
        oa_mapping_free(j->mapping);
        j->mapping = oa_mapping_new();
        for (i = 0; i < j->nstudies; i++)
            j->studies[i].have_new = false;
    }
    for (i = 0; i < j->nitems; i++) {
        j->items[i].state = ITEM_TODO;
        j->items[i].fresh = 0;
        j->items[i].stored[0] = '\0';
    }
    for (i = 0; i < j->nstudies; i++) {
        j->studies[i].instances = 0;
        j->studies[i].dropped = 0;
        j->studies[i].failed = 0;
        j->studies[i].cleaned = 0;
    }
    j->finished = 0;
    j->nfailed = 0;
    j->ncleaned = 0;
    j->npixel_refused = 0;
    j->cursor = 0;
    j->fatal[0] = '\0';
    j->reported = false;
    cJSON_Delete(j->warnings);
    j->warnings = NULL;
    cJSON_Delete(j->failures);
    j->failures = cJSON_CreateArray();
    cJSON_Delete(j->cleaned);
    j->cleaned = cJSON_CreateArray();
    j->nwarnings = 0;
    cJSON_Delete(j->leak_warnings);
    j->leak_warnings = cJSON_CreateArray();
    pthread_mutex_unlock(&j->lock);
    return j->failures != NULL && j->cleaned != NULL &&
                   j->leak_warnings != NULL && j->mapping != NULL
               ? OA_OK : OA_ENOMEM;
}

static oa_status cb_reset(void *p)
{
    anon_job *j = p;

    oa_job_anonymize__stop_workers(j);
    if (j->wayout) {   /* a retried way-out sends everything again */
        drop_sink(j);
        j->sent = false;
        cJSON_Delete(j->sent_info);
        j->sent_info = NULL;
    }
    return oa_job_anonymize__start_over(j);
}

/* The last step wakes the synchronous requests' wait (common.c). */
static oa_job_step_status cb_step(void *p)
{
    return oa_jobs__stepped(step(p));
}

static const oa_host_job_ops anon_ops = {
    OA_JOB_TYPE_ANONYMIZE,        cb_finalize, cb_progress, cb_content,
    oa_job_anonymize__serialized, cb_step,     cb_stop,     cb_reset,
};

const oa_host_job_ops *oa_job_anonymize_ops(void)
{
    return &anon_ops;
}
