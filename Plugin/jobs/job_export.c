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

    /* resolved on the first step */
    cJSON *dest;             /* a destination (secrets inside) */
    oa_export_target target;
    char path[1300];
    const oa_export_backend *backend;
    oa_exporter *exporter;
    bool planned;
    exp_item *items;
    size_t nitems, cap, done;
    uint64_t bytes;
    bool finished;
    oa_dicomdir *dicomdir;   /* "Dicomdir": true: the File-set's directory */
    oa_mapping *mapping;     /* "Mapping": true: uids.csv, patients.csv */
    oa_export_result result;
    char fatal[OA_ERROR_MSG_MAX + 64];

    char *content, *serialized;
    time_t tracked;
} export_job;

static const oa_host_job_ops export_ops;

/* ------------------------------------------------------------------ */
/* Target                                                               */

/* Resolve a Target object into `t` (strings borrowed from spec, *dest
 * and j->path).  OA_EINVAL names what is wrong. */
static oa_status resolve_target(oa_service *s, const cJSON *spec,
                                oa_export_target *t, cJSON **dest,
                                char *path, size_t path_size, oa_error *err)
{
    const oa_config *cfg = oa_service_config(s);
    const char *type = oa_jobs_str(spec, "Type");
    bool configured;
    oa_status rc;

    memset(t, 0, sizeof(*t));
    *dest = NULL;
    if (!cJSON_IsObject(spec) || type == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\" must be an object with a \"Type\": "
                            "zip, folder, dicom, peer or destination");
    if (strcmp(type, "zip") == 0) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, "Compression");

        if (c != NULL && !cJSON_IsNull(c) &&
            (!cJSON_IsString(c) || !oa_export_compression_valid(c->valuestring)))
            return oa_error_set(err, OA_EINVAL,
                                "\"Target\": \"Compression\" must be \"store\" "
                                "(no compression: data for a local network "
                                "or already compressed), \"fast\" (the "
                                "default) or \"best\"");
        t->type = "zip";
        t->url = cfg->archive_folder;
        /* Split only where a download is one buffer in memory (an
         * Orthanc without streamed answers): "ZipMaxSize" applies there
         * only. */
        t->max_archive = oa_host_has(OA_HOST_STREAM) ? UINT64_MAX
                                                     : cfg->zip_max_size;
        t->compression = cJSON_IsString(c) ? c->valuestring : NULL;
        return OA_OK;
    }
    if (strcmp(type, "folder") == 0) {
        const char *sub = oa_jobs_str(spec, "Folder");

        if (sub != NULL && sub[0] != '\0' && !oa_export_relpath_is_safe(sub))
            return oa_error_set(err, OA_EINVAL,
                                "\"Target\": \"Folder\" must be a relative "
                                "path under ExportFolder (no '..', no "
                                "leading '/')");
        rc = oa_destination_folder(cfg, sub, path, path_size, err);
        if (rc != OA_OK)
            return rc;
        t->type = "folder";
        t->url = path;
        return OA_OK;
    }
    if (strcmp(type, "dicom") == 0 || strcmp(type, "peer") == 0) {
        bool peer = type[0] == 'p';
        const char *name = oa_jobs_str(spec, peer ? "Peer" : "Modality");

        if (name == NULL)
            return oa_error_set(err, OA_EINVAL,
                                "\"Target\" of type %s needs \"%s\"", type,
                                peer ? "Peer" : "Modality");
        rc = oa_export_orthanc_check(peer, name, err);
        if (rc != OA_OK)
            return rc;
        t->type = peer ? "peer" : "dicom";
        if (peer)
            t->peer = name;
        else
            t->modality = name;
        return OA_OK;
    }
    if (strcmp(type, "destination") == 0) {
        const char *name = oa_jobs_str(spec, "Name");

        if (name == NULL)
            return oa_error_set(err, OA_EINVAL,
                                "\"Target\" of type destination needs "
                                "\"Name\"");
        rc = oa_service_destination(s, name, dest, &configured, err);
        if (rc == OA_ENOTFOUND)
            rc = oa_error_set(err, OA_EINVAL, "\"Target\": %s", err->msg);
        if (rc != OA_OK)
            return rc;
        return oa_destination_target(*dest, cfg, t, path, path_size, err);
    }
    return oa_error_set(err, OA_EINVAL,
                        "\"Target\" \"Type\" must be zip, folder, dicom, "
                        "peer or destination");
}

/* "Dicomdir": true asks for a File-set (PS3.10 media: DICOM/ + DICOMDIR),
 * for the targets that make one: a ZIP archive or a server folder. */
static oa_status dicomdir_wanted(const cJSON *spec, const oa_export_target *t,
                                 bool *wanted, oa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "Dicomdir");

    *wanted = false;
    if (v == NULL || cJSON_IsNull(v))
        return OA_OK;
    if (!cJSON_IsBool(v))
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"Dicomdir\" must be true or false");
    *wanted = cJSON_IsTrue(v);
    if (*wanted && strcmp(t->type, "zip") != 0 &&
        strcmp(t->type, "folder") != 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"Dicomdir\" makes media (a "
                            "File-set with a DICOMDIR) in a zip or folder "
                            "target, not in %s", t->type);
    return OA_OK;
}

/* "Mapping": true asks for the mapping files (uids.csv, patients.csv of
 * the reports of the exported studies) at the root of a ZIP archive. */
static oa_status mapping_wanted(const cJSON *spec, const oa_export_target *t,
                                bool *wanted, oa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, "Mapping");

    *wanted = false;
    if (v == NULL || cJSON_IsNull(v))
        return OA_OK;
    if (!cJSON_IsBool(v))
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"Mapping\" must be true or false");
    *wanted = cJSON_IsTrue(v);
    if (*wanted && strcmp(t->type, "zip") != 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"Mapping\" puts uids.csv and "
                            "patients.csv into a zip target, not %s",
                            t->type);
    return OA_OK;
}

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

/* uids.csv and patients.csv at the root of the archive. */
static oa_status put_mapping(export_job *j, oa_error *err)
{
    static const struct {
        const char *file;
        oa_mapping_kind kind;
    } files[] = {{"uids.csv", OA_MAPPING_UIDS},
                 {"patients.csv", OA_MAPPING_PATIENTS}};
    size_t i;
    oa_status rc = OA_OK;

    for (i = 0; i < 2 && rc == OA_OK; i++) {
        oa_buf csv;

        rc = oa_mapping_csv(j->mapping, files[i].kind, &csv, err);
        if (rc != OA_OK)
            break;
        rc = j->backend->ops->put(j->exporter, files[i].file,
                                  oa_buf_data(&csv), csv.len, 0, err);
        oa_buf_dispose(&csv);
    }
    if (rc == OA_OK && !oa_mapping_complete(j->mapping))
        oa_log(OA_LOG_WARNING, "export %s: uids.csv and patients.csv are "
               "incomplete (see the warnings above)", j->export_id);
    return rc;
}

static const oa_export_backend *backend_of(const oa_export_target *t)
{
    if (strcmp(t->type, "dicom") == 0)
        return &oa_export_backend_dicom;
    if (strcmp(t->type, "peer") == 0)
        return &oa_export_backend_peer;
    return oa_export_backend_find(t->type);
}

oa_status oa_job_export_check_target(oa_service *s, const cJSON *target,
                                     oa_error *err)
{
    oa_export_target t;
    cJSON *dest = NULL;
    char path[1300];
    bool dicomdir, mapping;
    oa_status rc = resolve_target(s, target, &t, &dest, path, sizeof(path),
                                  err);

    if (rc == OA_OK)
        rc = dicomdir_wanted(target, &t, &dicomdir, err);
    if (rc == OA_OK)
        rc = mapping_wanted(target, &t, &mapping, err);
    if (rc == OA_OK && backend_of(&t) == NULL)
        rc = oa_error_set(err, OA_EINVAL, "no export backend for %s",
                          t.type);
    cJSON_Delete(dest);
    return rc;
}

/* What the content says of the target: never a secret. */
static cJSON *target_summary(const export_job *j)
{
    cJSON *o = cJSON_CreateObject();
    const char *type = oa_jobs_str(j->target_spec, "Type");
    static const char *const keys[] = {"Name", "Modality", "Peer", "Folder",
                                       "Compression"};
    size_t i;

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "Type", type != NULL ? type : "?");
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = oa_jobs_str(j->target_spec, keys[i]);

        if (v != NULL)
            cJSON_AddStringToObject(o, keys[i], v);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j->target_spec,
                                                      "Dicomdir")))
        cJSON_AddBoolToObject(o, "Dicomdir", true);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j->target_spec,
                                                      "Mapping")))
        cJSON_AddBoolToObject(o, "Mapping", true);
    return o;
}

/* ------------------------------------------------------------------ */
/* The job object                                                       */

static void job_free(export_job *j)
{
    if (j == NULL)
        return;
    if (j->exporter != NULL) {
        j->exporter->backend->ops->abort(j->exporter);
        j->exporter->backend->ops->free(j->exporter);
    }
    cJSON_Delete(j->resources);
    cJSON_Delete(j->target_spec);
    cJSON_Delete(j->dest);
    oa_dicomdir_free(j->dicomdir);
    oa_mapping_free(j->mapping);
    oa_free(j->items);
    oa_export_result_dispose(&j->result);
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
    char stamp[20];

    /* "20261126T101500" -> "20261126-101500" */
    memcpy(stamp, j->created, sizeof(stamp));
    stamp[8] = '-';
    snprintf(j->name, sizeof(j->name), "Anonymizer-%s-%.8s", stamp,
             j->export_id);
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
    oa_export_result_init(&j->result);
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

static void component(char *out, size_t size, const char *a, const char *b)
{
    char tmp[200];

    snprintf(tmp, sizeof(tmp), "%s%s%s", a != NULL ? a : "",
             a != NULL && b != NULL && *a && *b ? "-" : "",
             b != NULL ? b : "");
    oa_export_sanitize(out, size, tmp, strlen(tmp));
}

static oa_status plan_study(export_job *j, const char *sid, oa_error *err)
{
    cJSON *st = NULL, *series = NULL;
    const cJSON *tags, *ptags, *se;
    char uri[96], patient[65], study[65];
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
    component(patient, sizeof(patient), oa_jobs_str(ptags, "PatientID"),
              NULL);
    component(study, sizeof(study), oa_jobs_str(tags, "StudyDate"),
              oa_jobs_str(tags, "StudyDescription") != NULL
                  ? oa_jobs_str(tags, "StudyDescription")
                  : oa_jobs_str(tags, "StudyInstanceUID"));
    snprintf(uri, sizeof(uri), "/studies/%s/series", sid);
    rc = oa_host_rest_get_json(uri, &series, err);
    cJSON_ArrayForEach(se, series) {
        const cJSON *stags = cJSON_GetObjectItemCaseSensitive(se,
                                                              "MainDicomTags");
        const char *seid = oa_jobs_str(se, "ID");
        cJSON *insts = NULL;
        const cJSON *in;
        char name[65], prefix[32];

        if (rc != OA_OK)
            break;
        if (seid == NULL || !oa_jobs_id_valid(seid))
            continue;
        snprintf(prefix, sizeof(prefix), "%s%s",
                 oa_jobs_str(stags, "Modality") != NULL
                     ? oa_jobs_str(stags, "Modality")
                     : "",
                 oa_jobs_str(stags, "SeriesNumber") != NULL
                     ? oa_jobs_str(stags, "SeriesNumber")
                     : "");
        component(name, sizeof(name), prefix,
                  oa_jobs_str(stags, "SeriesDescription"));
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
            const char *sop = oa_jobs_str(itags, "SOPInstanceUID");
            char file[80], rel[RELPATH_MAX];

            if (iid == NULL || !oa_jobs_id_valid(iid))
                continue;
            oa_export_sanitize(file, sizeof(file) - 4, sop != NULL ? sop : iid,
                               strlen(sop != NULL ? sop : iid));
            snprintf(rel, sizeof(rel), "%s/%s/%s/%s.dcm", patient, study, name,
                     file);
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
    cJSON_Delete(j->dest);
    j->dest = NULL;
    rc = resolve_target(j->svc, j->target_spec, &j->target, &j->dest, j->path,
                        sizeof(j->path), err);
    if (rc != OA_OK)
        return rc;
    j->backend = backend_of(&j->target);
    if (j->backend == NULL)
        return oa_error_set(err, OA_EINVAL, "no export backend for %s",
                            j->target.type);
    {
        bool wanted;

        rc = dicomdir_wanted(j->target_spec, &j->target, &wanted, err);
        if (rc != OA_OK)
            return rc;
        oa_dicomdir_free(j->dicomdir);
        j->dicomdir = NULL;
        if (wanted) {
            if (oa_dicomdir_new(&j->dicomdir) != OA_OK)
                return oa_error_set(err, OA_ENOMEM, "out of memory");
            /* one File-set, one archive: its DICOMDIR lists every file */
            j->target.max_archive = UINT64_MAX / 2;
        }
        rc = mapping_wanted(j->target_spec, &j->target, &wanted, err);
        if (rc != OA_OK)
            return rc;
        oa_mapping_free(j->mapping);
        j->mapping = NULL;
        if (wanted) {
            if ((j->mapping = oa_mapping_new()) == NULL)
                return oa_error_set(err, OA_ENOMEM, "out of memory");
            /* the files go into one archive, with every study's rows */
            j->target.max_archive = UINT64_MAX / 2;
        }
    }
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

static void sleep_s(unsigned s)
{
    struct timespec t = {(time_t)s, 0};

    nanosleep(&t, NULL);
}

/* Retry transient network errors of remote backends: 1, 2, 4 s (not
 * once Orthanc is stopping: its jobs engine waits for this step). */
#define WITH_RETRY(j, rc, call)                                              \
    do {                                                                     \
        unsigned attempt_;                                                   \
        for (attempt_ = 0;; attempt_++) {                                    \
            rc = (call);                                                     \
            if (rc != OA_ENET || !(j)->backend->remote || attempt_ == 3 ||   \
                oa_jobs_closing())                                           \
                break;                                                       \
            oa_log(OA_LOG_WARNING, "export %s: %s; retrying in %u s",        \
                   (j)->export_id, err.msg, 1u << attempt_);                 \
            sleep_s(1u << attempt_);                                         \
            oa_error_clear(&err);                                            \
        }                                                                    \
    } while (0)

static oa_status send_one(export_job *j, const exp_item *it, oa_error *err)
{
    oa_host_blob blob;
    unsigned flags;
    oa_status rc = oa_host_get_dicom(it->instance, &blob, err);

    if (rc != OA_OK)
        return rc;
    flags = oa_export_is_compressed_dicom(blob.data, blob.size)
                ? OA_EXPORT_PUT_COMPRESSED
                : 0;
    if (j->dicomdir != NULL) {
        /* Media: the file goes where the directory puts it. */
        char file_id[OA_DICOMDIR_FILE_ID_MAX];

        rc = oa_dicomdir_add(j->dicomdir, NULL, blob.data, blob.size, file_id,
                             err);
        if (rc == OA_OK)
            rc = j->backend->ops->put(j->exporter, file_id, blob.data,
                                      blob.size, flags, err);
    } else {
        rc = j->backend->ops->put(j->exporter, it->relpath, blob.data,
                                  blob.size, flags, err);
    }
    if (rc == OA_OK)
        j->bytes += blob.size;
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

/*
 * Record a finished ZIP export for its download.  Without the record the
 * download answers 404: the user would lose what the export made, so a
 * failure here fails the job, and its archives are removed (issue 12,
 * defect 13).
 */
static oa_status record_archives(export_job *j, oa_error *err)
{
    cJSON *rec = cJSON_CreateObject(), *list;
    time_t expires = time(NULL) + oa_service_config(j->svc)->zip_retention;
    char *text;
    size_t i;
    oa_status rc;

    if (rec == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    cJSON_AddStringToObject(rec, "ID", j->export_id);
    cJSON_AddStringToObject(rec, "Name", j->name);
    cJSON_AddStringToObject(rec, "Created", j->created);
    cJSON_AddNumberToObject(rec, "Expires", (double)expires);
    list = cJSON_AddArrayToObject(rec, "Archives");
    for (i = 0; list != NULL && i < j->result.archive_count; i++) {
        cJSON *a = cJSON_CreateObject();

        cJSON_AddStringToObject(a, "File", j->result.archive_paths[i]);
        cJSON_AddNumberToObject(a, "Size",
                                (double)j->result.archive_sizes[i]);
        cJSON_AddItemToArray(list, a);
    }
    text = cJSON_PrintUnformatted(rec);
    rc = text == NULL ? oa_error_set(err, OA_ENOMEM, "out of memory")
                      : oa_store_put(oa_service_store(j->svc),
                                     OA_STORE_EXPORTS, j->export_id, text,
                                     err);
    if (rc != OA_OK) {
        char why[OA_ERROR_MSG_MAX];

        snprintf(why, sizeof(why), "%s", err != NULL ? err->msg : "");
        for (i = 0; i < j->result.archive_count; i++)
            unlink(j->result.archive_paths[i]);
        rc = oa_error_set(err, rc,
                          "the ZIP archive could not be recorded for its "
                          "download (%s): removed; export again", why);
    }
    cJSON_free(text);
    cJSON_Delete(rec);
    return rc;
}

/* Tell the cluster's job list how this job is doing. */
static void track(export_job *j, const char *state, bool force)
{
    cJSON *extra = cJSON_CreateObject(), *target = target_summary(j);
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
    cJSON_AddNumberToObject(extra, "Bytes", (double)j->bytes);
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
    if (j->exporter != NULL) {
        j->exporter->backend->ops->abort(j->exporter);
        j->exporter->backend->ops->free(j->exporter);
        j->exporter = NULL;
    }
}

static oa_job_step_status cb_step(void *p)
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
        if (rc == OA_OK)   /* connect, log in, create <name>.partial */
            WITH_RETRY(j, rc,
                       j->backend->ops->open(&j->exporter, &j->target,
                                             j->name, &err));
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
        if (j->backend->ops->put_orthanc != NULL) {
            const char *ids[ORTHANC_BATCH];
            size_t n = 0;

            while (n < ORTHANC_BATCH && j->done + n < j->nitems) {
                ids[n] = j->items[j->done + n].instance;
                n++;
            }
            WITH_RETRY(j, rc,
                       j->backend->ops->put_orthanc(j->exporter, ids, n,
                                                    &err));
            if (rc == OA_OK) {
                size_t k;

                for (k = 0; k < n; k++)
                    j->bytes += j->items[j->done + k].size;
                j->done += n;
            }
        } else {
            WITH_RETRY(j, rc, send_one(j, &j->items[j->done], &err));
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

    if (j->dicomdir != NULL) {
        oa_buf dd;

        oa_buf_init(&dd, (size_t)UINT32_MAX);
        rc = oa_dicomdir_write(j->dicomdir, "ANONYMIZED", &dd, &err);
        if (rc == OA_OK)
            rc = j->backend->ops->put(j->exporter, "DICOMDIR",
                                      oa_buf_data(&dd), dd.len, 0, &err);
        oa_buf_dispose(&dd);
        if (rc != OA_OK) {
            fail(j, &err);
            return OA_JOB_STEP_FAILURE;
        }
    }
    if (j->mapping != NULL) {
        rc = put_mapping(j, &err);
        if (rc != OA_OK) {
            fail(j, &err);
            return OA_JOB_STEP_FAILURE;
        }
    }
    WITH_RETRY(j, rc, j->backend->ops->finish(j->exporter, &j->result, &err));
    if (rc != OA_OK) {
        fail(j, &err);
        return OA_JOB_STEP_FAILURE;
    }
    j->backend->ops->free(j->exporter);
    j->exporter = NULL;
    if (j->result.archive_count > 0 && record_archives(j, &err) != OA_OK) {
        fail(j, &err);
        return OA_JOB_STEP_FAILURE;
    }
    j->finished = true;
    track(j, "Success", true);
    oa_metrics_exported(j->target.type, j->bytes, j->nitems);
    oa_log(OA_LOG_WARNING, "export %s: %zu instances, %llu bytes to %s",
           j->export_id, j->nitems, (unsigned long long)j->bytes,
           j->target.type);
    return OA_JOB_STEP_SUCCESS;
}

static oa_status cb_stop(void *p, oa_job_stop_reason reason)
{
    export_job *j = p;

    if (reason == OA_JOB_STOP_SUCCESS || j->finished)
        return OA_OK;
    /* Failure (already aborted), cancel, pause: remove what was written;
     * a resumed job starts over. */
    if (j->exporter != NULL) {
        j->exporter->backend->ops->abort(j->exporter);
        j->exporter->backend->ops->free(j->exporter);
        j->exporter = NULL;
    }
    j->planned = false;
    j->done = 0;
    j->bytes = 0;
    oa_dicomdir_free(j->dicomdir);   /* a resumed job starts a new one */
    j->dicomdir = NULL;
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
    oa_export_result_dispose(&j->result);
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
    size_t i;

    if (c == NULL)
        return j->content != NULL ? j->content : "{}";
    cJSON_AddStringToObject(c, "Export", j->export_id);
    cJSON_AddStringToObject(c, "Name", j->name);
    cJSON_AddItemToObject(c, "Target", target_summary(j));
    cJSON_AddNumberToObject(c, "InstancesTotal", (double)j->nitems);
    cJSON_AddNumberToObject(c, "InstancesDone", (double)j->done);
    cJSON_AddNumberToObject(c, "Bytes", (double)j->bytes);
    if (j->finished) {
        cJSON_AddStringToObject(c, "Location", j->result.location);
        if (j->result.archive_count > 0) {
            cJSON *list = cJSON_AddArrayToObject(c, "Archives");

            for (i = 0; list != NULL && i < j->result.archive_count; i++) {
                cJSON *a = cJSON_CreateObject();
                char name[48], path[160];

                if (i == 0)
                    snprintf(name, sizeof(name), "archive.zip");
                else
                    snprintf(name, sizeof(name), "archive-%zu.zip", i + 1);
                snprintf(path, sizeof(path), "/anonymizer/exports/%s/%s",
                         j->export_id, name);
                cJSON_AddStringToObject(a, "Name", name);
                cJSON_AddNumberToObject(a, "Size",
                                        (double)j->result.archive_sizes[i]);
                cJSON_AddStringToObject(a, "Path", path);
                cJSON_AddItemToArray(list, a);
            }
        }
    }
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
