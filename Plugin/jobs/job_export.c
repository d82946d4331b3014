/*
 * The export job: studies to a ZIP, a server folder, an FTP/FTPS, SFTP or
 * WebDAV server (Plugin/export/), a DICOM modality or an Orthanc peer.
 *
 *  1. submit: the request is checked (resources exist, the target
 *     resolves: a known modality, peer or destination, a folder under
 *     ExportFolder) and the job handed to Orthanc.
 *  2. first step: plan (every instance and its path in the tree
 *     <name>/<Patient>/<Study>/<Series>/<SOPInstanceUID>.dcm, from
 *     Orthanc's main tags) and open the exporter (connect, log in,
 *     create <name>.partial).
 *  3. next steps: instances are read (GetDicomForInstance) and written
 *     one by one for about a quarter of a second per step, so progress
 *     and cancel stay responsive; the Orthanc backends send batches of
 *     instance IDs.  A transient network error is retried three times
 *     with backoff (1, 2, 4 s); refused credentials fail at once.
 *  4. last step: finish (rename <name>.partial to <name>); a ZIP export
 *     is recorded in the store for download until it expires.
 *
 * A failure, a cancel or a pause aborts the exporter, which removes what
 * it wrote; a resumed job starts over (an export is short next to the
 * risk of a half-checked resume).
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include "../export/export.h"
#include "../orthanc/host.h"
#include "../services/metrics.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STEP_MS 250
#define ORTHANC_BATCH 16
#define MAX_INSTANCES 1000000
#define RELPATH_MAX 300
#define SERIAL_VERSION 1

typedef struct exp_item {
    char instance[OA_JOB_ID_MAX];
    char relpath[RELPATH_MAX];
    uint64_t size;   /* Orthanc's FileSize, for progress in bytes */
} exp_item;

typedef struct export_job {
    oa_service *svc;
    oa_job_ref ref;          /* our own job ID, and who holds the job */
    cJSON *resources;        /* study IDs */
    cJSON *target_spec;      /* the request's Target */
    char export_id[OA_JOB_ID_MAX];
    char name[96];           /* Anonymizer-YYYYMMDD-HHMMSS-xxxxxxxx */
    char created[20];

    /* made on the first step */
    oa_export_sink *sink;    /* the Target opened (export_sink.c) */
    bool planned;
    exp_item *items;
    size_t nitems, cap, done;
    bool finished;
    uint64_t bytes;          /* sent by an aborted sink (its last count) */
    oa_mapping *mapping;     /* "Mapping": true: uids.csv, patients.csv */
    char fatal[OA_ERROR_MSG_MAX + 64];

    char *content, *serialized;
    time_t tracked;
} export_job;

static const oa_host_job_ops export_ops;

/* ------------------------------------------------------------------ */
/* Mapping                                                              */

/*
 * The mapping of an exported study: the report that anonymized it
 * (metadata OA_REPORT_METADATA), its stored mapping, the study's pairs
 * into j->mapping.  A study the plugin did not anonymize has none; one
 * whose report or mapping is gone makes the files incomplete (logged).
 */
static void add_study_mapping(export_job *j, const char *sid)
{
    char uri[128], report[OA_STORE_MAX_KEY + 1], *text = NULL;
    cJSON *stored;
    oa_buf answer;
    oa_error err;
    uint16_t status = 0;
    bool found = false;
    oa_status rc;

    oa_error_clear(&err);
    oa_buf_init(&answer, OA_STORE_MAX_KEY + 1);
    snprintf(uri, sizeof(uri), "/studies/%s/metadata/%d", sid,
             OA_REPORT_METADATA);
    rc = oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &answer, &status, &err);
    if (rc != OA_OK || status != 200 || answer.len == 0 ||
        answer.len > OA_STORE_MAX_KEY) {
        oa_buf_dispose(&answer);
        return;   /* not anonymized by the plugin */
    }
    memcpy(report, oa_buf_data(&answer), answer.len);
    report[answer.len] = '\0';
    oa_buf_dispose(&answer);
    if (!oa_store_key_is_valid(report) ||
        oa_store_get(oa_service_store(j->svc), OA_STORE_MAPPINGS, report,
                     &text, &err) != OA_OK) {
        oa_log(OA_LOG_WARNING, "export %s: study %s has no mapping files "
               "(report %s): uids.csv and patients.csv lack its rows",
               j->export_id, sid, oa_store_key_is_valid(report) ? report : "?");
        oa_mapping_set_incomplete(j->mapping);
        return;
    }
    stored = cJSON_Parse(text);
    oa_free(text);
    if (stored == NULL ||
        oa_mapping_merge_json(j->mapping, stored, sid, &found, &err) !=
            OA_OK ||
        !found) {
        oa_log(OA_LOG_WARNING, "export %s: the mapping of report %s does "
               "not hold study %s", j->export_id, report, sid);
        oa_mapping_set_incomplete(j->mapping);
    }
    cJSON_Delete(stored);
}

/* ------------------------------------------------------------------ */
/* The job object                                                       */

static void job_free(export_job *j)
{
    if (j == NULL)
        return;
    oa_export_sink_free(j->sink);
    cJSON_Delete(j->resources);
    cJSON_Delete(j->target_spec);
    oa_mapping_free(j->mapping);
    oa_free(j->items);
    oa_free(j->content);
    oa_free(j->serialized);
    oa_job_ref_dispose(&j->ref);
    oa_free(j);
}

static void free_job(void *p)
{
    job_free(p);
}

static void make_name(export_job *j)
{
    oa_export_name(j->name, sizeof(j->name), j->created, j->export_id);
}

static export_job *job_new(oa_service *s, cJSON *resources, cJSON *target,
                           oa_error *err)
{
    export_job *j = oa_calloc(1, sizeof(*j));

    if (j == NULL) {
        cJSON_Delete(resources);
        cJSON_Delete(target);
        oa_error_set(err, OA_ENOMEM, "out of memory");
        return NULL;
    }
    j->svc = s;
    oa_job_ref_init(&j->ref);
    j->resources = resources;
    j->target_spec = target;
    return j;
}

/* ------------------------------------------------------------------ */
/* Submit                                                               */

/* Studies of a list of study or patient IDs, each once. */
static oa_status expand_resources(const cJSON *ids, cJSON *studies,
                                  oa_error *err)
{
    const cJSON *id;
    char uri[96];

    cJSON_ArrayForEach(id, ids) {
        cJSON *r = NULL;
        const cJSON *st;
        oa_status rc;

        if (!cJSON_IsString(id))
            return oa_error_set(err, OA_EINVAL,
                                "\"Resources\" must be a list of Orthanc "
                                "study (or patient) IDs");
        if (!oa_jobs_id_valid(id->valuestring))
            return oa_error_set(err, OA_ENOTFOUND,
                                "no study or patient with that ID");
        snprintf(uri, sizeof(uri), "/studies/%s", id->valuestring);
        rc = oa_host_rest_get_json(uri, &r, err);
        if (rc == OA_OK) {
            cJSON_Delete(r);
            r = cJSON_CreateArray();
            if (r == NULL || !cJSON_AddItemToArray(
                                 r, cJSON_CreateString(id->valuestring))) {
                cJSON_Delete(r);
                return oa_error_set(err, OA_ENOMEM, "out of memory");
            }
        } else if (rc == OA_ENOTFOUND) {
            cJSON *p = NULL;

            oa_error_clear(err);
            snprintf(uri, sizeof(uri), "/patients/%s", id->valuestring);
            rc = oa_host_rest_get_json(uri, &p, err);
            if (rc == OA_ENOTFOUND)
                return oa_error_set(err, OA_ENOTFOUND,
                                    "Orthanc has no study or patient %s",
                                    id->valuestring);
            if (rc != OA_OK)
                return rc;
            r = cJSON_DetachItemFromObjectCaseSensitive(p, "Studies");
            cJSON_Delete(p);
        } else {
            return rc;
        }
        cJSON_ArrayForEach(st, r) {
            const cJSON *have;
            bool seen = false;

            if (!cJSON_IsString(st))
                continue;
            cJSON_ArrayForEach(have, studies)
                seen |= strcmp(have->valuestring, st->valuestring) == 0;
            if (!seen &&
                !cJSON_AddItemToArray(studies,
                                      cJSON_CreateString(st->valuestring))) {
                cJSON_Delete(r);
                return oa_error_set(err, OA_ENOMEM, "out of memory");
            }
        }
        cJSON_Delete(r);
    }
    return OA_OK;
}

oa_status oa_job_export_submit_studies(oa_service *s, const cJSON *ids,
                                       const cJSON *target, int priority,
                                       char *job_id, size_t job_id_size,
                                       oa_error *err)
{
    cJSON *studies, *spec;
    export_job *j;
    oa_status rc;

    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Resources\" must be a non-empty list of "
                            "Orthanc study IDs");
    rc = oa_job_export_check_target(s, target, err);
    if (rc != OA_OK)
        return rc;
    studies = cJSON_CreateArray();
    spec = cJSON_Duplicate(target, 1);
    if (studies == NULL || spec == NULL) {
        cJSON_Delete(studies);
        cJSON_Delete(spec);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    rc = expand_resources(ids, studies, err);
    if (rc != OA_OK) {
        cJSON_Delete(studies);
        cJSON_Delete(spec);
        return rc;
    }
    j = job_new(s, studies, spec, err);
    if (j == NULL)
        return OA_ENOMEM;
    rc = oa_host_generate_uuid(j->export_id, err);
    if (rc != OA_OK) {
        job_free(j);
        return rc;
    }
    oa_jobs_now(j->created);
    make_name(j);
    return oa_jobs_submit(&export_ops, j, &j->ref, free_job, priority, job_id,
                          job_id_size, err);
}

oa_status oa_job_export_submit(oa_service *s, const cJSON *body, char *job_id,
                               size_t job_id_size, bool *asynchronous,
                               oa_error *err)
{
    int priority = 0;
    oa_status rc;

    if (!cJSON_IsObject(body))
        return oa_error_set(err, OA_EINVAL,
                            "the request must be a JSON object");
    rc = oa_service_run_options(body, asynchronous, &priority, err);
    if (rc != OA_OK)
        return rc;
    return oa_job_export_submit_studies(
        s, cJSON_GetObjectItemCaseSensitive(body, "Resources"),
        cJSON_GetObjectItemCaseSensitive(body, "Target"), priority, job_id,
        job_id_size, err);
}

/* ------------------------------------------------------------------ */
/* Plan                                                                 */

static oa_status add_item(export_job *j, const char *instance,
                          const char *relpath, uint64_t size, oa_error *err)
{
    exp_item *it;

    if (j->nitems >= MAX_INSTANCES)
        return oa_error_set(err, OA_ELIMIT,
                            "more than %d instances in one export",
                            MAX_INSTANCES);
    if (j->nitems == j->cap) {
        size_t ncap = j->cap ? j->cap * 2 : 64;
        exp_item *grown = oa_realloc(j->items, ncap * sizeof(*grown));

        if (grown == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        j->items = grown;
        j->cap = ncap;
    }
    it = &j->items[j->nitems++];
    snprintf(it->instance, sizeof(it->instance), "%s", instance);
    snprintf(it->relpath, sizeof(it->relpath), "%s", relpath);
    it->size = size;
    return OA_OK;
}

static oa_status plan_study(export_job *j, const char *sid, oa_error *err)
{
    cJSON *st = NULL, *series = NULL;
    const cJSON *tags, *ptags, *se;
    char uri[96];
    oa_export_path_tags pt;
    oa_status rc;

    snprintf(uri, sizeof(uri), "/studies/%s", sid);
    rc = oa_host_rest_get_json(uri, &st, err);
    if (rc == OA_ENOTFOUND)
        rc = oa_error_set(err, OA_ENOTFOUND,
                          "study %s was deleted before the export", sid);
    if (rc != OA_OK)
        return rc;
    tags = cJSON_GetObjectItemCaseSensitive(st, "MainDicomTags");
    ptags = cJSON_GetObjectItemCaseSensitive(st, "PatientMainDicomTags");
    memset(&pt, 0, sizeof(pt));
    pt.patient_id = oa_jobs_str(ptags, "PatientID");
    pt.study_date = oa_jobs_str(tags, "StudyDate");
    pt.study_description = oa_jobs_str(tags, "StudyDescription");
    pt.study_uid = oa_jobs_str(tags, "StudyInstanceUID");
    snprintf(uri, sizeof(uri), "/studies/%s/series", sid);
    rc = oa_host_rest_get_json(uri, &series, err);
    cJSON_ArrayForEach(se, series) {
        const cJSON *stags = cJSON_GetObjectItemCaseSensitive(se,
                                                              "MainDicomTags");
        const char *seid = oa_jobs_str(se, "ID");
        cJSON *insts = NULL;
        const cJSON *in;

        if (rc != OA_OK)
            break;
        if (seid == NULL || !oa_jobs_id_valid(seid))
            continue;
        pt.modality = oa_jobs_str(stags, "Modality");
        pt.series_number = oa_jobs_str(stags, "SeriesNumber");
        pt.series_description = oa_jobs_str(stags, "SeriesDescription");
        snprintf(uri, sizeof(uri), "/series/%s/instances", seid);
        rc = oa_host_rest_get_json(uri, &insts, err);
        if (rc == OA_ENOTFOUND) {
            oa_error_clear(err);
            rc = OA_OK;
            continue;
        }
        cJSON_ArrayForEach(in, insts) {
            const cJSON *itags =
                cJSON_GetObjectItemCaseSensitive(in, "MainDicomTags");
            const char *iid = oa_jobs_str(in, "ID");
            char rel[RELPATH_MAX];

            if (iid == NULL || !oa_jobs_id_valid(iid))
                continue;
            pt.sop_instance_uid = oa_jobs_str(itags, "SOPInstanceUID");
            oa_export_relpath(rel, sizeof(rel), &pt, iid);
            {
                const cJSON *fs = cJSON_GetObjectItemCaseSensitive(in,
                                                                   "FileSize");

                rc = add_item(j, iid, rel,
                              cJSON_IsNumber(fs) && fs->valuedouble > 0
                                  ? (uint64_t)fs->valuedouble
                                  : 0,
                              err);
            }
            if (rc != OA_OK)
                break;
        }
        cJSON_Delete(insts);
    }
    cJSON_Delete(series);
    cJSON_Delete(st);
    return rc;
}

static oa_status plan(export_job *j, oa_error *err)
{
    const cJSON *sid;
    oa_status rc;

    j->nitems = 0;
    j->done = 0;
    j->bytes = 0;
    oa_export_sink_free(j->sink);   /* a resumed job starts a new one */
    j->sink = NULL;
    oa_mapping_free(j->mapping);
    j->mapping = NULL;
    /* resolve the Target; connect, log in, create <name>.partial */
    rc = oa_export_sink_open(&j->sink, j->svc, j->target_spec, j->export_id,
                             j->created, err);
    if (rc != OA_OK)
        return rc;
    if (oa_export_sink_wants_mapping(j->sink) &&
        (j->mapping = oa_mapping_new()) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    cJSON_ArrayForEach(sid, j->resources) {
        if (!cJSON_IsString(sid) || !oa_jobs_id_valid(sid->valuestring))
            continue;
        rc = plan_study(j, sid->valuestring, err);
        if (rc != OA_OK)
            return rc;
        if (j->mapping != NULL)
            add_study_mapping(j, sid->valuestring);
    }
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Steps                                                                */

static oa_status send_one(export_job *j, const exp_item *it, oa_error *err)
{
    oa_host_blob blob;
    oa_status rc = oa_host_get_dicom(it->instance, &blob, err);

    if (rc != OA_OK)
        return rc;
    rc = oa_export_sink_put(j->sink, it->relpath, blob.data, blob.size, err);
    oa_host_blob_free(&blob);
    return rc;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 +
           (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static uint64_t bytes_of(export_job *j)
{
    return j->sink != NULL ? oa_export_sink_bytes(j->sink) : j->bytes;
}

/* Tell the cluster's job list how this job is doing. */
static void track(export_job *j, const char *state, bool force)
{
    cJSON *extra = cJSON_CreateObject(),
          *target = oa_export_target_summary(j->target_spec);
    char job_id[OA_JOB_ID_MAX] = "";
    float progress = j->finished ? 1.0f
                     : j->nitems ? (float)j->done / (float)j->nitems
                                 : 0.0f;

    if (extra == NULL) {
        cJSON_Delete(target);
        return;
    }
    cJSON_AddStringToObject(extra, "Export", j->export_id);
    cJSON_AddItemToObject(extra, "Target", target);
    cJSON_AddNumberToObject(extra, "Instances", (double)j->nitems);
    cJSON_AddNumberToObject(extra, "Bytes", (double)bytes_of(j));
    if (j->fatal[0] != '\0')
        cJSON_AddStringToObject(extra, "Error", j->fatal);
    if (force && strcmp(state, "Running") == 0) {
        oa_job_ref_id(&j->ref, job_id, sizeof(job_id), 0);
        if (job_id[0] != '\0')
            cJSON_AddStringToObject(extra, "Job", job_id);
    }
    oa_service_track_job(j->svc, j->export_id, OA_JOB_TYPE_EXPORT, state,
                         progress, extra, force, &j->tracked);
    cJSON_Delete(extra);
}

static void fail(export_job *j, const oa_error *err)
{
    oa_error_format(err, j->fatal, sizeof(j->fatal));
    oa_log(OA_LOG_ERROR, "export %s failed: %s", j->export_id, j->fatal);
    track(j, "Failure", true);
    j->bytes = bytes_of(j);   /* how far it went */
    oa_export_sink_free(j->sink);   /* aborted: what it wrote removed */
    j->sink = NULL;
}

static oa_job_step_status step(void *p)
{
    export_job *j = p;
    struct timespec t0;
    oa_error err;
    oa_status rc = OA_OK;

    oa_error_clear(&err);
    if (j->finished)
        return OA_JOB_STEP_SUCCESS;
    if (!j->planned) {
        char id[OA_JOB_ID_MAX];

        /* The export is named after the job: one ID for users. */
        oa_job_ref_id(&j->ref, id, sizeof(id), 10000);
        if (id[0] != '\0' && strcmp(id, j->export_id) != 0) {
            snprintf(j->export_id, sizeof(j->export_id), "%s", id);
            make_name(j);
        }
        oa_job_export_sweep(j->svc);
        rc = plan(j, &err);
        if (rc != OA_OK) {
            fail(j, &err);
            return OA_JOB_STEP_FAILURE;
        }
        j->planned = true;
        track(j, "Running", true);
        return OA_JOB_STEP_CONTINUE;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (j->done < j->nitems && ms_since(&t0) < STEP_MS) {
        if (oa_export_sink_by_id(j->sink)) {
            const char *ids[ORTHANC_BATCH];
            uint64_t bytes = 0;
            size_t n = 0;

            while (n < ORTHANC_BATCH && j->done + n < j->nitems) {
                ids[n] = j->items[j->done + n].instance;
                bytes += j->items[j->done + n].size;
                n++;
            }
            rc = oa_export_sink_put_ids(j->sink, ids, n, bytes, &err);
            if (rc == OA_OK)
                j->done += n;
        } else {
            rc = send_one(j, &j->items[j->done], &err);
            if (rc == OA_OK)
                j->done++;
        }
        if (rc != OA_OK) {
            fail(j, &err);
            return OA_JOB_STEP_FAILURE;
        }
    }
    if (j->done < j->nitems) {
        track(j, "Running", false);
        return OA_JOB_STEP_CONTINUE;
    }

    rc = oa_export_sink_finish(j->sink, j->mapping, &err);
    if (rc != OA_OK) {
        fail(j, &err);
        return OA_JOB_STEP_FAILURE;
    }
    j->finished = true;
    track(j, "Success", true);
    oa_metrics_exported(oa_export_sink_type(j->sink), bytes_of(j), j->nitems);
    return OA_JOB_STEP_SUCCESS;
}

static oa_status cb_stop(void *p, oa_job_stop_reason reason)
{
    export_job *j = p;

    if (reason == OA_JOB_STOP_SUCCESS || j->finished)
        return OA_OK;
    /* Failure (already aborted), cancel, pause: remove what was written;
     * a resumed job starts over. */
    oa_export_sink_free(j->sink);
    j->sink = NULL;
    j->planned = false;
    j->done = 0;
    oa_mapping_free(j->mapping);
    j->mapping = NULL;
    if (reason == OA_JOB_STOP_CANCELED && j->fatal[0] == '\0')
        snprintf(j->fatal, sizeof(j->fatal),
                 "cancelled: what was written was removed");
    if (reason == OA_JOB_STOP_CANCELED)
        track(j, "Cancelled", true);
    else if (reason == OA_JOB_STOP_PAUSED)
        track(j, "Paused", true);
    return OA_OK;
}

static oa_status cb_reset(void *p)
{
    export_job *j = p;

    cb_stop(p, OA_JOB_STOP_FAILURE);
    j->fatal[0] = '\0';
    j->finished = false;
    return OA_OK;
}

static float cb_progress(void *p)
{
    export_job *j = p;

    if (j->finished)
        return 1.0f;
    if (!j->planned || j->nitems == 0)
        return 0.0f;
    /* the last 1% is the rename */
    return 0.99f * (float)j->done / (float)j->nitems;
}

static const char *cb_content(void *p)
{
    export_job *j = p;
    cJSON *c = cJSON_CreateObject();
    char *text;

    if (c == NULL)
        return j->content != NULL ? j->content : "{}";
    cJSON_AddStringToObject(c, "Export", j->export_id);
    cJSON_AddStringToObject(c, "Name", j->name);
    cJSON_AddItemToObject(c, "Target",
                          oa_export_target_summary(j->target_spec));
    cJSON_AddNumberToObject(c, "InstancesTotal", (double)j->nitems);
    cJSON_AddNumberToObject(c, "InstancesDone", (double)j->done);
    cJSON_AddNumberToObject(c, "Bytes", (double)bytes_of(j));
    if (j->finished)
        oa_export_sink_describe(j->sink, c);
    if (j->fatal[0] != '\0')
        cJSON_AddStringToObject(c, "Error", j->fatal);
    text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    if (text != NULL) {
        oa_free(j->content);
        j->content = oa_strdup(text);
        cJSON_free(text);
    }
    return j->content != NULL ? j->content : "{}";
}

static const char *cb_serialized(void *p)
{
    export_job *j = p;
    cJSON *s = cJSON_CreateObject();
    char *text;

    if (s == NULL)
        return NULL;
    cJSON_AddNumberToObject(s, "Version", SERIAL_VERSION);
    cJSON_AddItemToObject(s, "Resources", cJSON_Duplicate(j->resources, 1));
    /* The Target as given: a destination by name, never its secrets. */
    cJSON_AddItemToObject(s, "Target", cJSON_Duplicate(j->target_spec, 1));
    cJSON_AddStringToObject(s, "Export", j->export_id);
    cJSON_AddStringToObject(s, "Created", j->created);
    cJSON_AddBoolToObject(s, "Finished", j->finished);
    text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (text == NULL)
        return NULL;
    oa_free(j->serialized);
    j->serialized = oa_strdup(text);
    cJSON_free(text);
    return j->serialized;
}

static void cb_finalize(void *p)
{
    export_job *j = p;

    if (oa_job_ref_release(&j->ref))
        job_free(j);
}

void *oa_job_export_unserialize(const char *text)
{
    oa_service *svc = oa_service_current();
    cJSON *s, *v;
    export_job *j;

    if (svc == NULL || (s = cJSON_Parse(text)) == NULL)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(s, "Version");
    if (!cJSON_IsNumber(v) || v->valueint != SERIAL_VERSION ||
        oa_jobs_str(s, "Export") == NULL || oa_jobs_str(s, "Created") == NULL) {
        cJSON_Delete(s);
        return NULL;
    }
    j = job_new(svc, cJSON_DetachItemFromObjectCaseSensitive(s, "Resources"),
                cJSON_DetachItemFromObjectCaseSensitive(s, "Target"), NULL);
    if (j == NULL) {
        cJSON_Delete(s);
        return NULL;
    }
    snprintf(j->export_id, sizeof(j->export_id), "%s",
             oa_jobs_str(s, "Export"));
    snprintf(j->created, sizeof(j->created), "%s", oa_jobs_str(s, "Created"));
    make_name(j);
    oa_job_ref_set(&j->ref, j->export_id);
    cJSON_Delete(s);
    if (!cJSON_IsArray(j->resources) || !cJSON_IsObject(j->target_spec)) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* The last step wakes the synchronous requests' wait (common.c). */
static oa_job_step_status cb_step(void *p)
{
    return oa_jobs__stepped(step(p));
}

static const oa_host_job_ops export_ops = {
    OA_JOB_TYPE_EXPORT, cb_finalize, cb_progress, cb_content,
    cb_serialized,      cb_step,     cb_stop,     cb_reset,
};

const oa_host_job_ops *oa_job_export_ops(void)
{
    return &export_ops;
}

/* ------------------------------------------------------------------ */
/* Archives                                                             */

static void remove_record(oa_service *s, const char *id, const cJSON *rec)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(rec, "Archives")) {
        const char *file = oa_jobs_str(a, "File");
        const char *dir = oa_service_config(s)->archive_folder;

        /* only files in our archive folder */
        if (file != NULL && dir != NULL &&
            strncmp(file, dir, strlen(dir)) == 0 &&
            file[strlen(dir)] == '/' && strstr(file, "/..") == NULL)
            unlink(file);
    }
    oa_store_remove(oa_service_store(s), OA_STORE_EXPORTS, id, NULL);
}

void oa_job_export_sweep(oa_service *s)
{
    char **keys = NULL;
    size_t n = 0, i;
    time_t now = time(NULL);

    if (oa_store_list(oa_service_store(s), OA_STORE_EXPORTS, &keys, &n,
                      NULL) != OA_OK)
        return;
    for (i = 0; i < n; i++) {
        char *text = NULL;
        cJSON *rec;
        const cJSON *exp;

        if (oa_store_get(oa_service_store(s), OA_STORE_EXPORTS, keys[i], &text,
                         NULL) != OA_OK)
            continue;
        rec = cJSON_Parse(text);
        oa_free(text);
        exp = cJSON_GetObjectItemCaseSensitive(rec, "Expires");
        if (rec == NULL || !cJSON_IsNumber(exp) ||
            (time_t)exp->valuedouble < now) {
            remove_record(s, keys[i], rec);
            if (rec != NULL)
                oa_log(OA_LOG_INFO, "export archive %s expired and removed",
                       keys[i]);
        }
        cJSON_Delete(rec);
    }
    oa_store_free_keys(keys, n);
}

oa_status oa_job_export_archive(oa_service *s, const char *id, unsigned number,
                                char *path, size_t path_size, char *name,
                                size_t name_size, oa_error *err)
{
    char *text = NULL, export_id[OA_JOB_ID_MAX];
    cJSON *rec, *a;
    oa_status rc;
    struct stat st;

    oa_job_export_sweep(s);
    if (!oa_jobs_id_valid(id))
        return oa_error_set(err, OA_ENOTFOUND, "no export with that ID");
    snprintf(export_id, sizeof(export_id), "%s", id);
    rc = oa_store_get(oa_service_store(s), OA_STORE_EXPORTS, export_id, &text,
                      err);
    if (rc == OA_ENOTFOUND) {
        /* a job ID: its content names the export */
        char uri[96];
        cJSON *job = NULL;
        const char *eid;

        oa_error_clear(err);
        snprintf(uri, sizeof(uri), "/jobs/%s", id);
        if (oa_host_rest_get_json(uri, &job, NULL) == OA_OK &&
            (eid = oa_jobs_str(cJSON_GetObjectItemCaseSensitive(job,
                                                                "Content"),
                               "Export")) != NULL &&
            oa_jobs_id_valid(eid)) {
            snprintf(export_id, sizeof(export_id), "%s", eid);
            rc = oa_store_get(oa_service_store(s), OA_STORE_EXPORTS,
                              export_id, &text, err);
        }
        cJSON_Delete(job);
    }
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND,
                            "no ZIP export %s: unknown, not finished, or "
                            "expired (kept %ld s)",
                            id, oa_service_config(s)->zip_retention);
    if (rc != OA_OK)
        return rc;
    rec = cJSON_Parse(text);
    oa_free(text);
    a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "Archives"),
                           (int)number - 1);
    /* Only a regular file of our own archive folder, still ours (not
     * swapped for a symbolic link: lstat here, O_NOFOLLOW to read). */
    {
        const char *dir = oa_service_config(s)->archive_folder;
        const char *file = a != NULL ? oa_jobs_str(a, "File") : NULL;

        if (file != NULL &&
            (dir == NULL || strncmp(file, dir, strlen(dir)) != 0 ||
             file[strlen(dir)] != '/' || strstr(file, "/..") != NULL)) {
            cJSON_Delete(rec);
            return oa_error_set(err, OA_EIO,
                                "export %s: its archive is not in the "
                                "archive folder: refused", id);
        }
        if (file != NULL &&
            (rc = oa_export_archive_folder_check(dir, err)) != OA_OK) {
            cJSON_Delete(rec);
            oa_log(OA_LOG_ERROR, "ZIP download refused: %s",
                   err != NULL ? err->msg : "archive folder");
            return rc;
        }
    }
    if (a == NULL || oa_jobs_str(a, "File") == NULL ||
        lstat(oa_jobs_str(a, "File"), &st) != 0 || !S_ISREG(st.st_mode)) {
        cJSON_Delete(rec);
        return oa_error_set(err, OA_ENOTFOUND,
                            "export %s has no archive number %u", id, number);
    }
    snprintf(path, path_size, "%s", oa_jobs_str(a, "File"));
    if (number <= 1)
        snprintf(name, name_size, "%s.zip",
                 oa_jobs_str(rec, "Name") != NULL ? oa_jobs_str(rec, "Name")
                                                  : "export");
    else
        snprintf(name, name_size, "%s-%u.zip",
                 oa_jobs_str(rec, "Name") != NULL ? oa_jobs_str(rec, "Name")
                                                  : "export",
                 number);
    cJSON_Delete(rec);
    return OA_OK;
}
