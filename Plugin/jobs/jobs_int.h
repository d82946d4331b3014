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
