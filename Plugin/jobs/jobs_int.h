/* Private to jobs/: helpers the job files share. */
#ifndef OA_JOBS_INT_H
#define OA_JOBS_INT_H

#include "jobs.h"

#include "../orthanc/host.h"

#include <pthread.h>

#define OA_JOB_ID_MAX 65   /* Orthanc IDs are 44 characters */

/* Orthanc IDs: hex digits and dashes (anything else could reach a URI). */
bool oa_jobs_id_valid(const char *id);

/* "20261126T101500", local time. */
void oa_jobs_now(char out[20]);

/* The string member `key` of `obj`, or NULL. */
const char *oa_jobs_str(const cJSON *obj, const char *key);

/*
 * Submit an export of `studies` (Orthanc study IDs) to `target` (a Target
 * object, doc/rest-api.md) as a new job; `job_id` receives its ID.  Used by
 * the export route and by anonymizations chained to an export.
 */
oa_status oa_job_export_submit_studies(oa_service *s, const cJSON *studies,
                                       const cJSON *target, int priority,
                                       char *job_id, size_t job_id_size,
                                       oa_error *err);

/* Check a Target object without starting anything (400 on a bad one). */
oa_status oa_job_export_check_target(oa_service *s, const cJSON *target,
                                     oa_error *err);

/* ------------------------------------------------------------------ */
/* The export sink (export_sink.c)                                      */

/*
 * Where an export's files go, shared by the export job (stored instances)
 * and an anonymization on the way out (the engine's output): the Target
 * resolved (check_target's rules), its exporter opened as <name>.partial
 * with retries, files put (into the DICOMDIR too with "Dicomdir": true),
 * finished with the DICOMDIR and the mapping files ("Mapping": true),
 * renamed, and a ZIP recorded for its download
 * (/anonymizer/exports/<export_id>/archive.zip); freed before it finished,
 * it aborts (what was written is removed).
 *
 * put() may be called from several threads: a file backend's puts are
 * serialized by the sink's lock (an exporter is used by one thread at a
 * time); the Orthanc backends (dicom, peer: POST .../store-straight) run
 * in parallel.  Transient network errors are retried (1, 2, 4 s).
 */
typedef struct oa_export_sink oa_export_sink;

oa_status oa_export_sink_open(oa_export_sink **out, oa_service *s,
                              const cJSON *target, const char *export_id,
                              const char *created, oa_error *err);
/* One file at `relpath` of the export tree (oa_export_relpath). */
oa_status oa_export_sink_put(oa_export_sink *k, const char *relpath,
                             const uint8_t *data, size_t len, oa_error *err);
/* The Orthanc backends only: stored instances by ID (`bytes` in all). */
oa_status oa_export_sink_put_ids(oa_export_sink *k, const char *const *ids,
                                 size_t n, uint64_t bytes, oa_error *err);
/* True for the backends that send stored instances by ID. */
bool oa_export_sink_by_id(const oa_export_sink *k);
/* "Mapping": true: finish() wants the mapping. */
bool oa_export_sink_wants_mapping(const oa_export_sink *k);
const char *oa_export_sink_type(const oa_export_sink *k);
uint64_t oa_export_sink_bytes(oa_export_sink *k);
/* Commit (one thread, no put running): `mapping` may be NULL. */
oa_status oa_export_sink_finish(oa_export_sink *k, const oa_mapping *mapping,
                                oa_error *err);
/* Once finished: "Location" and, for a ZIP, "Archives" into `content`. */
void oa_export_sink_describe(const oa_export_sink *k, cJSON *content);
/* Abort (unless finished) and free.  NULL-safe. */
void oa_export_sink_free(oa_export_sink *k);

/* What a job shows of a Target: never a secret. */
cJSON *oa_export_target_summary(const cJSON *target);
/* "Anonymizer-YYYYMMDD-HHMMSS-<first 8 of the ID>". */
void oa_export_name(char *out, size_t size, const char *created,
                    const char *export_id);

/* The main tag values that name a file in the export tree (NULL:
 * absent; "" present but empty). */
typedef struct oa_export_path_tags {
    const char *patient_id;
    const char *study_date, *study_description, *study_uid;
    const char *modality, *series_number, *series_description;
    const char *sop_instance_uid;
} oa_export_path_tags;

#define OA_EXPORT_RELPATH_MAX 300

/*
 * <PatientID>/<StudyDate-StudyDescription (else StudyInstanceUID)>/
 * <ModalitySeriesNumber-SeriesDescription>/<SOPInstanceUID>.dcm, each
 * component sanitized (oa_export_sanitize); `fallback` names the file
 * without a SOP Instance UID.
 */
void oa_export_relpath(char *out, size_t size, const oa_export_path_tags *t,
                       const char *fallback);
/*
 * The same path from a DICOM file's own top-level tags, the values taken
 * as Orthanc shows them among its main tags (trailing padding removed,
 * UTF-8 lengths of non-ASCII characters), so that a file exported on the
 * way out has the path it has once stored in Orthanc and exported.
 * OA_EPARSE for a file the reader refuses.
 */
oa_status oa_export_relpath_of(const uint8_t *data, size_t len, char *out,
                               size_t size, oa_error *err);

/*
 * Orthanc gives a job's ID to whoever submits it, never to the job, and
 * may start the job before SubmitJob returns.  A job that needs its own
 * ID (our reports and exports are named after it) holds an oa_job_ref:
 * oa_jobs_submit() hands the ID over, and the job waits for it in its
 * first step.  The reference count keeps the job alive until both
 * Orthanc (finalize) and the submitter are done with it.
 */
typedef struct oa_job_ref {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    bool known;                  /* `id` is final (or submission failed) */
    char id[OA_JOB_ID_MAX];
} oa_job_ref;

void oa_job_ref_init(oa_job_ref *r);
void oa_job_ref_dispose(oa_job_ref *r);
/* Drop one reference; true if it was the last (free the job then). */
bool oa_job_ref_release(oa_job_ref *r);
/* The job's ID (waits up to `timeout_ms` for the submitter); "" if
 * unknown. */
void oa_job_ref_id(oa_job_ref *r, char *out, size_t size,
                   unsigned timeout_ms);
/* Set the ID directly (a job restored after a restart knows it). */
void oa_job_ref_set(oa_job_ref *r, const char *id);

/*
 * oa_host_submit_job() for a job holding `ref`: on return the job knows
 * its ID.  `free_job` frees the job when the submitter held the last
 * reference (Orthanc refused it).
 */
oa_status oa_jobs_submit(const oa_host_job_ops *ops, void *job,
                         oa_job_ref *ref, void (*free_job)(void *),
                         int priority, char *job_id, size_t job_id_size,
                         oa_error *err);

/* oa_jobs_register(): the gate of oa_jobs_enter() open again. */
void oa_jobs__open(void);
/* Every job's step callback returns through this: a last step (Success
 * or Failure) makes oa_job_wait() look at once instead of at its next
 * poll.  Returns `st`. */
oa_job_step_status oa_jobs__stepped(oa_job_step_status st);
/* oa_jobs_close(): the AutoAnonymize thread ends (no join, no wait). */
void oa_auto__close(void);

/*
 * Labels (labels.c, Orthanc 1.12.0 with a database that has them): the
 * anonymized study gets "StudyLabel", its original "SourceLabel" (each
 * when not ""), so that Orthanc Explorer 2 and /tools/find filter them.
 * Nothing where Orthanc has no labels; a refused label is logged.
 */
void oa_jobs_label_studies(oa_service *s, const char *original,
                           const char *anonymized);

/* Unserializers and ops of each job type (the table of job_types.c). */
void *oa_job_anonymize_unserialize(const char *text);
const oa_host_job_ops *oa_job_anonymize_ops(void);
void *oa_job_export_unserialize(const char *text);
const oa_host_job_ops *oa_job_export_ops(void);

#endif
