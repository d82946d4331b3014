/*
 * The export sink (jobs_int.h): what the export job and an anonymization
 * on the way out share to send files to a Target.
 *
 *  - the Target resolved (a zip archive, a server folder, a destination,
 *    a DICOM modality, an Orthanc peer), its "Dicomdir" and "Mapping";
 *  - the exporter opened (<name>.partial), files put, DICOMDIR and
 *    mapping files added, finished (renamed), a ZIP recorded for its
 *    download; or aborted (what was written removed);
 *  - transient network errors retried (1, 2, 4 s);
 *  - the path of a file in the export tree, from the main tag values
 *    (Orthanc's, or those read from the file itself: the same result).
 *
 * Threads: put() may be called from several threads.  An exporter is used
 * by one thread at a time (export.h), so the puts of a file backend take
 * the sink's lock; the Orthanc backends (C-STORE and peer through
 * Orthanc's REST API, store-straight) need none and go in parallel.
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include "../dicom/dicom.h"
#include "../export/export.h"
#include "../orthanc/host.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct oa_export_sink {
    oa_service *svc;
    char export_id[OA_JOB_ID_MAX];
    char name[96];
    char created[20];
    cJSON *dest;             /* a destination (secrets inside) */
    oa_export_target target; /* strings borrowed from spec, dest, path */
    cJSON *spec;             /* the Target, copied */
    char path[1300];
    const oa_export_backend *backend;
    oa_exporter *exporter;
    oa_dicomdir *dicomdir;   /* "Dicomdir": true */
    bool mapping;            /* "Mapping": true */
    bool parallel;           /* the backend takes puts from any thread */
    pthread_mutex_t lock;    /* a file backend's exporter: one put at once */
    pthread_mutex_t count_lock; /* the counters (never held for long: the
                                   content reads them during a slow put) */
    uint64_t bytes;
    size_t files;
    bool finished;
    oa_export_result result;
};

/* ------------------------------------------------------------------ */
/* Target                                                               */

/* Resolve a Target object into `t` (strings borrowed from spec, *dest
 * and `path`).  OA_EINVAL names what is wrong. */
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
        /* the way out's C-STORE: the plugin's SCU, with Orthanc's AE
         * title and timeout (export/orthanc.c) */
        t->own_scu = cfg->own_scu;
        t->calling_aet = cfg->dicom_aet;
        t->scu_timeout = cfg->scu_timeout;
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

/* The boolean option `key` of a Target (absent, null: false). */
static oa_status bool_option(const cJSON *spec, const char *key, bool *value,
                             oa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);

    *value = false;
    if (v == NULL || cJSON_IsNull(v))
        return OA_OK;
    if (!cJSON_IsBool(v))
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"%s\" must be true or false", key);
    *value = cJSON_IsTrue(v);
    return OA_OK;
}

/* "Dicomdir": true asks for a File-set (PS3.10 media: DICOM/ + DICOMDIR),
 * for the targets that make one: a ZIP archive or a server folder. */
static oa_status dicomdir_wanted(const cJSON *spec, const oa_export_target *t,
                                 bool *wanted, oa_error *err)
{
    oa_status rc = bool_option(spec, "Dicomdir", wanted, err);

    if (rc != OA_OK)
        return rc;
    if (*wanted && strcmp(t->type, "zip") != 0 &&
        strcmp(t->type, "folder") != 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"Dicomdir\" makes media (a "
                            "File-set with a DICOMDIR) in a zip or folder "
                            "target, not in %s", t->type);
    return OA_OK;
}

/* "Mapping": true asks for the mapping files (uids.csv, patients.csv) at
 * the root of a ZIP archive. */
static oa_status mapping_wanted(const cJSON *spec, const oa_export_target *t,
                                bool *wanted, oa_error *err)
{
    oa_status rc = bool_option(spec, "Mapping", wanted, err);

    if (rc != OA_OK)
        return rc;
    if (*wanted && strcmp(t->type, "zip") != 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\": \"Mapping\" puts uids.csv and "
                            "patients.csv into a zip target, not %s",
                            t->type);
    return OA_OK;
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

cJSON *oa_export_target_summary(const cJSON *spec)
{
    cJSON *o = cJSON_CreateObject();
    const char *type = oa_jobs_str(spec, "Type");
    static const char *const keys[] = {"Name", "Modality", "Peer", "Folder",
                                       "Compression"};
    size_t i;

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "Type", type != NULL ? type : "?");
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = oa_jobs_str(spec, keys[i]);

        if (v != NULL)
            cJSON_AddStringToObject(o, keys[i], v);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "Dicomdir")))
        cJSON_AddBoolToObject(o, "Dicomdir", true);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "Mapping")))
        cJSON_AddBoolToObject(o, "Mapping", true);
    return o;
}

void oa_export_name(char *out, size_t size, const char *created,
                    const char *export_id)
{
    char stamp[20];

    /* "20261126T101500" -> "20261126-101500" */
    snprintf(stamp, sizeof(stamp), "%s", created);
    if (strlen(stamp) > 8)
        stamp[8] = '-';
    snprintf(out, size, "Anonymizer-%s-%.8s", stamp, export_id);
}

/* ------------------------------------------------------------------ */
/* Retries                                                              */

static void sleep_s(unsigned s)
{
    struct timespec t = {(time_t)s, 0};

    nanosleep(&t, NULL);
}

/* Retry transient network errors of remote backends: 1, 2, 4 s (not
 * once Orthanc is stopping: its jobs engine waits for this step). */
#define WITH_RETRY(k, rc, call)                                              \
    do {                                                                     \
        unsigned attempt_;                                                   \
        for (attempt_ = 0;; attempt_++) {                                    \
            rc = (call);                                                     \
            if (rc != OA_ENET || !(k)->backend->remote || attempt_ == 3 ||   \
                oa_jobs_closing())                                           \
                break;                                                       \
            oa_log(OA_LOG_WARNING, "export %s: %s; retrying in %u s",        \
                   (k)->export_id, err->msg, 1u << attempt_);                \
            sleep_s(1u << attempt_);                                         \
            oa_error_clear(err);                                             \
        }                                                                    \
    } while (0)

/* ------------------------------------------------------------------ */
/* Open, put, finish                                                    */

void oa_export_sink_free(oa_export_sink *k)
{
    if (k == NULL)
        return;
    if (k->exporter != NULL) {
        if (!k->finished)
            k->exporter->backend->ops->abort(k->exporter);
        k->exporter->backend->ops->free(k->exporter);
    }
    cJSON_Delete(k->dest);
    cJSON_Delete(k->spec);
    oa_dicomdir_free(k->dicomdir);
    oa_export_result_dispose(&k->result);
    pthread_mutex_destroy(&k->count_lock);
    pthread_mutex_destroy(&k->lock);
    oa_free(k);
}

oa_status oa_export_sink_open(oa_export_sink **out, oa_service *s,
                              const cJSON *spec, const char *export_id,
                              const char *created, oa_error *err)
{
    oa_export_sink *k = oa_calloc(1, sizeof(*k));
    bool wanted;
    oa_status rc;

    *out = NULL;
    if (k == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    pthread_mutex_init(&k->lock, NULL);
    pthread_mutex_init(&k->count_lock, NULL);
    oa_export_result_init(&k->result);
    k->svc = s;
    snprintf(k->export_id, sizeof(k->export_id), "%s", export_id);
    snprintf(k->created, sizeof(k->created), "%s", created);
    oa_export_name(k->name, sizeof(k->name), created, export_id);
    k->spec = cJSON_Duplicate(spec, 1);
    if (k->spec == NULL) {
        oa_export_sink_free(k);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    rc = resolve_target(s, k->spec, &k->target, &k->dest, k->path,
                        sizeof(k->path), err);
    if (rc == OA_OK && (k->backend = backend_of(&k->target)) == NULL)
        rc = oa_error_set(err, OA_EINVAL, "no export backend for %s",
                          k->target.type);
    if (rc == OA_OK)
        rc = dicomdir_wanted(k->spec, &k->target, &wanted, err);
    if (rc == OA_OK && wanted) {
        if (oa_dicomdir_new(&k->dicomdir) != OA_OK)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        /* one File-set, one archive: its DICOMDIR lists every file */
        k->target.max_archive = UINT64_MAX / 2;
    }
    if (rc == OA_OK)
        rc = mapping_wanted(k->spec, &k->target, &k->mapping, err);
    if (rc == OA_OK && k->mapping)   /* every study's rows, one archive */
        k->target.max_archive = UINT64_MAX / 2;
    /* The Orthanc backends put through Orthanc's REST API, from any
     * thread; the others write one exporter. */
    k->parallel = k->backend != NULL && k->backend->ops->put_orthanc != NULL;
    if (rc == OA_OK)   /* connect, log in, create <name>.partial */
        WITH_RETRY(k, rc,
                   k->backend->ops->open(&k->exporter, &k->target, k->name,
                                         err));
    if (rc != OA_OK) {
        oa_export_sink_free(k);
        return rc;
    }
    *out = k;
    return OA_OK;
}

bool oa_export_sink_by_id(const oa_export_sink *k)
{
    return k->backend->ops->put_orthanc != NULL;
}

bool oa_export_sink_wants_mapping(const oa_export_sink *k)
{
    return k->mapping;
}

const char *oa_export_sink_type(const oa_export_sink *k)
{
    return k->target.type;
}

uint64_t oa_export_sink_bytes(oa_export_sink *k)
{
    uint64_t b;

    pthread_mutex_lock(&k->count_lock);
    b = k->bytes;
    pthread_mutex_unlock(&k->count_lock);
    return b;
}

static void count(oa_export_sink *k, uint64_t bytes, size_t files)
{
    pthread_mutex_lock(&k->count_lock);
    k->bytes += bytes;
    k->files += files;
    pthread_mutex_unlock(&k->count_lock);
}

/* One file, the lock held for a file backend. */
static oa_status put_file(oa_export_sink *k, const char *relpath,
                          const uint8_t *data, size_t len, oa_error *err)
{
    unsigned flags = oa_export_is_compressed_dicom(data, len)
                         ? OA_EXPORT_PUT_COMPRESSED
                         : 0;
    char file_id[OA_DICOMDIR_FILE_ID_MAX];
    oa_status rc;

    if (k->backend->ops->put == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "the %s backend takes no files", k->target.type);
    if (k->dicomdir != NULL) {
        /* Media: the file goes where the directory puts it. */
        rc = oa_dicomdir_add(k->dicomdir, NULL, data, len, file_id, err);
        if (rc != OA_OK)
            return rc;
        relpath = file_id;
    }
    WITH_RETRY(k, rc,
               k->backend->ops->put(k->exporter, relpath, data, len, flags,
                                    err));
    return rc;
}

oa_status oa_export_sink_put(oa_export_sink *k, const char *relpath,
                             const uint8_t *data, size_t len, oa_error *err)
{
    oa_status rc;

    if (k->parallel) {
        rc = put_file(k, relpath, data, len, err);
    } else {
        pthread_mutex_lock(&k->lock);
        rc = put_file(k, relpath, data, len, err);
        pthread_mutex_unlock(&k->lock);
    }
    if (rc == OA_OK)
        count(k, len, 1);
    return rc;
}

oa_status oa_export_sink_put_ids(oa_export_sink *k, const char *const *ids,
                                 size_t n, uint64_t bytes, oa_error *err)
{
    oa_status rc;

    WITH_RETRY(k, rc, k->backend->ops->put_orthanc(k->exporter, ids, n, err));
    if (rc == OA_OK)
        count(k, bytes, n);
    return rc;
}

/* uids.csv and patients.csv at the root of the archive. */
static oa_status put_mapping(oa_export_sink *k, const oa_mapping *m,
                             oa_error *err)
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

        rc = oa_mapping_csv(m, files[i].kind, &csv, err);
        if (rc != OA_OK)
            break;
        rc = k->backend->ops->put(k->exporter, files[i].file,
                                  oa_buf_data(&csv), csv.len, 0, err);
        oa_buf_dispose(&csv);
    }
    if (rc == OA_OK && !oa_mapping_complete(m))
        oa_log(OA_LOG_WARNING, "export %s: uids.csv and patients.csv are "
               "incomplete (see the warnings above)", k->export_id);
    return rc;
}

/*
 * Record a finished ZIP export for its download.  Without the record the
 * download answers 404: the user would lose what the export made, so a
 * failure here fails the job, and its archives are removed (issue 12,
 * defect 13).
 */
static oa_status record_archives(oa_export_sink *k, oa_error *err)
{
    cJSON *rec = cJSON_CreateObject(), *list;
    time_t expires = time(NULL) + oa_service_config(k->svc)->zip_retention;
    char *text;
    size_t i;
    oa_status rc;

    if (rec == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    cJSON_AddStringToObject(rec, "ID", k->export_id);
    cJSON_AddStringToObject(rec, "Name", k->name);
    cJSON_AddStringToObject(rec, "Created", k->created);
    cJSON_AddNumberToObject(rec, "Expires", (double)expires);
    list = cJSON_AddArrayToObject(rec, "Archives");
    for (i = 0; list != NULL && i < k->result.archive_count; i++) {
        cJSON *a = cJSON_CreateObject();

        cJSON_AddStringToObject(a, "File", k->result.archive_paths[i]);
        cJSON_AddNumberToObject(a, "Size",
                                (double)k->result.archive_sizes[i]);
        cJSON_AddItemToArray(list, a);
    }
    text = cJSON_PrintUnformatted(rec);
    rc = text == NULL ? oa_error_set(err, OA_ENOMEM, "out of memory")
                      : oa_store_put(oa_service_store(k->svc),
                                     OA_STORE_EXPORTS, k->export_id, text,
                                     err);
    if (rc != OA_OK) {
        char why[OA_ERROR_MSG_MAX];

        snprintf(why, sizeof(why), "%s", err != NULL ? err->msg : "");
        for (i = 0; i < k->result.archive_count; i++)
            unlink(k->result.archive_paths[i]);
        rc = oa_error_set(err, rc,
                          "the ZIP archive could not be recorded for its "
                          "download (%s): removed; export again", why);
    }
    cJSON_free(text);
    cJSON_Delete(rec);
    return rc;
}

oa_status oa_export_sink_finish(oa_export_sink *k, const oa_mapping *mapping,
                                oa_error *err)
{
    oa_status rc = OA_OK;

    if (k->finished)
        return OA_OK;
    if (k->dicomdir != NULL) {
        oa_buf dd;

        oa_buf_init(&dd, (size_t)UINT32_MAX);
        rc = oa_dicomdir_write(k->dicomdir, "ANONYMIZED", &dd, err);
        if (rc == OA_OK)
            rc = k->backend->ops->put(k->exporter, "DICOMDIR",
                                      oa_buf_data(&dd), dd.len, 0, err);
        oa_buf_dispose(&dd);
    }
    if (rc == OA_OK && k->mapping && mapping != NULL)
        rc = put_mapping(k, mapping, err);
    if (rc == OA_OK)
        WITH_RETRY(k, rc,
                   k->backend->ops->finish(k->exporter, &k->result, err));
    if (rc != OA_OK)
        return rc;
    k->finished = true;   /* renamed: nothing to abort any more */
    if (k->result.archive_count > 0)
        rc = record_archives(k, err);
    if (rc == OA_OK)
        oa_log(OA_LOG_WARNING, "export %s: %zu files, %llu bytes to %s",
               k->export_id, k->files, (unsigned long long)k->bytes,
               k->target.type);
    return rc;
}

void oa_export_sink_describe(const oa_export_sink *k, cJSON *c)
{
    size_t i;
    cJSON *list;

    if (k == NULL || !k->finished)
        return;
    cJSON_AddStringToObject(c, "Location", k->result.location);
    if (k->result.archive_count == 0)
        return;
    list = cJSON_AddArrayToObject(c, "Archives");
    for (i = 0; list != NULL && i < k->result.archive_count; i++) {
        cJSON *a = cJSON_CreateObject();
        char name[48], path[160];

        if (i == 0)
            snprintf(name, sizeof(name), "archive.zip");
        else
            snprintf(name, sizeof(name), "archive-%zu.zip", i + 1);
        snprintf(path, sizeof(path), "/anonymizer/exports/%s/%s",
                 k->export_id, name);
        cJSON_AddStringToObject(a, "Name", name);
        cJSON_AddNumberToObject(a, "Size",
                                (double)k->result.archive_sizes[i]);
        cJSON_AddStringToObject(a, "Path", path);
        cJSON_AddItemToArray(list, a);
    }
}

/* ------------------------------------------------------------------ */
/* Paths                                                                */

/* "a-b" (either may be NULL or empty) as one path component. */
static void component(char *out, size_t size, const char *a, const char *b)
{
    char tmp[200];

    snprintf(tmp, sizeof(tmp), "%s%s%s", a != NULL ? a : "",
             a != NULL && b != NULL && *a && *b ? "-" : "",
             b != NULL ? b : "");
    oa_export_sanitize(out, size, tmp, strlen(tmp));
}

void oa_export_relpath(char *out, size_t size, const oa_export_path_tags *t,
                       const char *fallback)
{
    char patient[65], study[65], series[65], prefix[32], file[80];
    const char *sop = t->sop_instance_uid != NULL ? t->sop_instance_uid
                                                  : fallback;

    component(patient, sizeof(patient), t->patient_id, NULL);
    component(study, sizeof(study), t->study_date,
              t->study_description != NULL ? t->study_description
                                           : t->study_uid);
    snprintf(prefix, sizeof(prefix), "%s%s",
             t->modality != NULL ? t->modality : "",
             t->series_number != NULL ? t->series_number : "");
    component(series, sizeof(series), prefix, t->series_description);
    if (sop == NULL)
        sop = "";
    oa_export_sanitize(file, sizeof(file) - 4, sop, strlen(sop));
    snprintf(out, size, "%s/%s/%s/%s.dcm", patient, study, series, file);
}

/* The main tags read from a file (its top-level dataset). */
enum {
    PT_PATIENT_ID,
    PT_STUDY_DATE,
    PT_STUDY_DESCRIPTION,
    PT_STUDY_UID,
    PT_MODALITY,
    PT_SERIES_NUMBER,
    PT_SERIES_DESCRIPTION,
    PT_SOP_UID,
    PT_COUNT
};

static const uint32_t path_tag[PT_COUNT] = {
    OA_TAG(0x0010, 0x0020), OA_TAG(0x0008, 0x0020), OA_TAG(0x0008, 0x1030),
    OA_TAG(0x0020, 0x000D), OA_TAG(0x0008, 0x0060), OA_TAG(0x0020, 0x0011),
    OA_TAG(0x0008, 0x103E), OA_TAG(0x0008, 0x0018),
};

#define PATH_VALUE_MAX 200   /* more than a path component keeps */

typedef struct path_reader {
    /* the bytes a non-ASCII byte becomes in UTF-8 (Orthanc's main tags
     * are UTF-8): 1 for UTF-8 itself, 3 for Thai and JIS X 0201, 2 for
     * the Latin, Cyrillic, Greek, Arabic and Hebrew sets (and Orthanc's
     * default, Latin-1) */
    unsigned high_bytes;
    bool have[PT_COUNT];
    char value[PT_COUNT][PATH_VALUE_MAX + 1];
} path_reader;

static void charset_of(path_reader *r, const uint8_t *v, size_t len)
{
    char cs[80];

    snprintf(cs, sizeof(cs), "%.*s", (int)(len < 79 ? len : 79),
             (const char *)v);
    if (strstr(cs, "ISO_IR 192") != NULL)
        r->high_bytes = 1;
    else if (strstr(cs, "ISO_IR 166") != NULL ||
             strstr(cs, "ISO_IR 13") != NULL)
        r->high_bytes = 3;
    else
        r->high_bytes = 2;
}

/*
 * A value as Orthanc shows it among the main tags: up to its first NUL,
 * without trailing padding (DCMTK's machine form: spaces, NULs for UI),
 * non-ASCII bytes counted as their UTF-8 length (each becomes '_' in a
 * path component anyway).
 */
static void keep_value(path_reader *r, int which, const uint8_t *v,
                       size_t len)
{
    char *out = r->value[which];
    size_t i, n = 0;
    const uint8_t *nul = v != NULL ? memchr(v, '\0', len) : NULL;

    if (nul != NULL)
        len = (size_t)(nul - v);
    len = v != NULL ? oa_value_trim(v, len) : 0;
    for (i = 0; i < len && n < PATH_VALUE_MAX; i++) {
        unsigned k, reps = v[i] < 0x80 ? 1 : r->high_bytes;

        for (k = 0; k < reps && n < PATH_VALUE_MAX; k++)
            out[n++] = v[i] < 0x80 ? (char)v[i] : '_';
    }
    out[n] = '\0';
    r->have[which] = true;
}

static oa_status path_element(void *user, const oa_element *el,
                              oa_error *err)
{
    path_reader *r = user;
    int i;

    (void)err;
    if (el->depth != 0)
        return OA_OK;
    if (el->tag > OA_TAG(0x0020, 0x0011))
        return OA_ECANCELLED;   /* every tag wanted is behind: stop */
    if (el->tag == OA_TAG(0x0008, 0x0005)) {
        charset_of(r, el->value, el->value != NULL ? el->length : 0);
        return OA_OK;
    }
    for (i = 0; i < PT_COUNT; i++)
        if (el->tag == path_tag[i])
            keep_value(r, i, el->value, el->value != NULL ? el->length : 0);
    return OA_OK;
}

static oa_status path_sequence(void *user, const oa_element *el,
                               oa_error *err)
{
    (void)user;
    (void)err;
    if (el->depth == 0 && el->tag > OA_TAG(0x0020, 0x0011))
        return OA_ECANCELLED;
    return OA_SKIP;   /* nothing wanted inside */
}

oa_status oa_export_relpath_of(const uint8_t *data, size_t len, char *out,
                               size_t size, oa_error *err)
{
    path_reader r;
    oa_export_path_tags t;
    oa_dicom_handler h;
    oa_status rc;

    memset(&r, 0, sizeof(r));
    r.high_bytes = 2;   /* no (0008,0005): Orthanc's default, Latin-1 */
    memset(&h, 0, sizeof(h));
    h.element = path_element;
    h.sequence_begin = path_sequence;
    h.user = &r;
    rc = oa_dicom_parse(data, len, NULL, &h, NULL, err);
    if (rc == OA_ECANCELLED) {
        oa_error_clear(err);
        rc = OA_OK;
    }
    if (rc != OA_OK)
        return rc;
    memset(&t, 0, sizeof(t));
#define TAG_OR_NULL(i) (r.have[i] ? r.value[i] : NULL)
    t.patient_id = TAG_OR_NULL(PT_PATIENT_ID);
    t.study_date = TAG_OR_NULL(PT_STUDY_DATE);
    t.study_description = TAG_OR_NULL(PT_STUDY_DESCRIPTION);
    t.study_uid = TAG_OR_NULL(PT_STUDY_UID);
    t.modality = TAG_OR_NULL(PT_MODALITY);
    t.series_number = TAG_OR_NULL(PT_SERIES_NUMBER);
    t.series_description = TAG_OR_NULL(PT_SERIES_DESCRIPTION);
    t.sop_instance_uid = TAG_OR_NULL(PT_SOP_UID);
#undef TAG_OR_NULL
    oa_export_relpath(out, size, &t, NULL);
    return OA_OK;
}
