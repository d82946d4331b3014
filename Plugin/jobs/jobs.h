/*
 * jobs: the plugin's Orthanc jobs, on top of the services
 * (services/services.h).
 *
 *  - The anonymization job (job_anonymize*.c): an Orthanc job that
 *    expands patients and studies into instances, rewrites them with the
 *    engine on worker threads, stores the results with POST /instances,
 *    and writes a report.
 *  - The export job (job_export.c): studies to an export backend
 *    (Plugin/export/).
 *  - Automatic anonymization (auto.c): studies that become stable.
 *  - The job types (job_types.c) Orthanc restores after a restart.
 *
 * These call Orthanc through orthanc/host.h only.  Nothing here logs a
 * DICOM value.
 */
#ifndef OA_JOBS_H
#define OA_JOBS_H

#include "../services/services.h"

#include <stdbool.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Anonymization jobs (job_anonymize*.c)                                */

/* Type of the job in Orthanc's /jobs. */
#define OA_JOB_TYPE_ANONYMIZE "Anonymization"

/*
 * Check an anonymization request (doc/rest-api.md) and submit its job.
 *
 *  body    the request object; "Resources" is required unless `level` is
 *          given (the shortcut routes), in which case the resource is
 *          (level, id) with NewPatientName/NewPatientID/NewStudyDescription
 *          taken from the top of the body.  NULL for an empty body.
 *  level   NULL, "Patient" or "Study".
 *
 * Every resource is checked against Orthanc before the job is submitted:
 * OA_ENOTFOUND names the unknown one.  OA_EINVAL names a wrong field.
 * On success `job_id` holds the job's ID and *asynchronous the request's
 * "Asynchronous" (default true).
 */
oa_status oa_job_anonymize_submit(oa_service *s, const cJSON *body,
                                  const char *level, const char *id,
                                  char *job_id, size_t job_id_size,
                                  bool *asynchronous, oa_error *err);

/*
 * "Export" of an anonymization request: {"Target": {...}, "Store": bool}
 * (a top-level "Store" too, as AutoAnonymize entries give it).  *target
 * the Target (NULL without "Export"), *store false for "on the way out"
 * (the output sent to the Target only, nothing stored in Orthanc).
 * OA_EINVAL for "Store" not a boolean, given twice with two values, or
 * false without "Export".  Pure (no Orthanc).
 */
oa_status oa_job_anonymize_parse_export(const cJSON *body,
                                        const cJSON **target, bool *store,
                                        oa_error *err);

/*
 * POST /anonymizer/export with "Anonymize" (anonymize on the way out,
 * doc/rest-api.md): the anonymization request it stands for,
 * {"Resources": [{"Level", "ID", "New..."}], "Profile", "Force",
 * "Export": {"Target", "Store": false}, "Asynchronous", "Priority"}, the
 * New* values of "Anonymize" given to every resource that has none of
 * its own, and a resource given as an Orthanc ID looked up (a study, else
 * a patient: OA_ENOTFOUND).  OA_EINVAL for "Anonymize" not an object or
 * with an unknown key, no Target object, no Resources.  Caller frees
 * *out.
 */
oa_status oa_job_wayout_request(const cJSON *body, cJSON **out,
                                oa_error *err);
/* The same, submitted (oa_job_anonymize_submit). */
oa_status oa_job_wayout_submit(oa_service *s, const cJSON *body,
                               char *job_id, size_t job_id_size,
                               bool *asynchronous, oa_error *err);

/*
 * What study `sid` is a copy of (*out NULL when it is no copy):
 * {"By": "Anonymizer", "Report", "Profile", "Date", "Original"} for our
 * own output (study metadata OA_REPORT_METADATA; "Original" null when the
 * report is no longer stored), {"By": "Orthanc", "Original"} for Orthanc's
 * own anonymization (metadata AnonymizedFrom).  `cache` (may be NULL) is
 * an object the caller keeps across calls: the reports read, by ID.
 * An anonymization request refuses our own output with OA_ECONFLICT
 * unless its "Force" is true.  Caller frees *out.
 */
oa_status oa_job_study_origin(oa_service *s, const char *sid, cJSON *cache,
                              cJSON **out, oa_error *err);

/* ------------------------------------------------------------------ */
/* Export jobs (job_export.c)                                           */

#define OA_JOB_TYPE_EXPORT "Export"

/*
 * Check an export request (doc/rest-api.md, export: Resources, Target,
 * Asynchronous, Priority) and submit its job.  OA_EINVAL for a bad
 * Target (unknown modality, peer or destination, a folder outside
 * ExportFolder), OA_ENOTFOUND for an unknown resource.
 */
oa_status oa_job_export_submit(oa_service *s, const cJSON *body, char *job_id,
                               size_t job_id_size, bool *asynchronous,
                               oa_error *err);

/*
 * The file of archive `number` (1 = the first) of a finished ZIP export,
 * by export ID or job ID: its path and the file name to offer.
 * OA_ENOTFOUND when unknown or expired.
 */
oa_status oa_job_export_archive(oa_service *s, const char *id, unsigned number,
                                char *path, size_t path_size, char *name,
                                size_t name_size, oa_error *err);

/* Remove the ZIP exports whose retention has passed. */
void oa_job_export_sweep(oa_service *s);

/* ------------------------------------------------------------------ */
/* Automatic anonymization (auto.c)                                     */

/* Start its thread if the list is not empty (after the service). */
oa_status oa_auto_start(oa_service *s, oa_error *err);
/* A study became stable (from Orthanc's change callback: only queues). */
void oa_auto_stable_study(const char *study_id);
/* Stop the thread (the plugin's Finalize). */
void oa_auto_stop(void);

/* ------------------------------------------------------------------ */
/* Job types (job_types.c)                                              */

/* Register the unserializer of our jobs (the plugin's Initialize); also
 * opens the gate below (an Orthanc that restarts in its process, after
 * POST /tools/reset, initializes the plugin again). */
void oa_jobs_register(void);

/* ------------------------------------------------------------------ */
/* Orthanc stopping (common.c)                                          */

/*
 * Orthanc 1.10.1 stops in this order (OrthancServer/Sources/main.cpp):
 * WaitForExit() signals OrthancStopped to the plugins, then the HTTP
 * server and the DICOM server stop, then ServerContext::Stop() saves the
 * jobs (SaveJobsEngine) and stops the jobs engine and the index; the
 * REST API is destroyed when ConfigureHttpHandler() returns, the server
 * context after it, and the plugins are finalized last.  A thread of
 * ours that calls Orthanc after the jobs engine has stopped uses a
 * destroyed REST API or context (Orthanc aborts on a lock_error or a
 * bad_cast).  So every call into Orthanc from a thread of ours (the
 * anonymization workers, AutoAnonymize, the late set-up) passes a gate
 * that OrthancStopped closes:
 *
 *  oa_jobs_enter()  before the call: false once Orthanc is stopping (do
 *                   not call; give the work up so that it is redone
 *                   after the restart);
 *  oa_jobs_leave()  after it, when enter said true.
 *
 * Calls from Orthanc's own threads (REST handlers, a job's step()) need
 * no gate: Orthanc stops those threads before it destroys anything.
 */
bool oa_jobs_enter(void);
void oa_jobs_leave(void);

/*
 * OrthancStopped (the plugin's change callback): close the gate, wait up
 * to `timeout_ms` for the calls in progress to return, and stop the
 * AutoAnonymize thread (joined by oa_auto_stop()).  Workers then leave
 * their job's current instance undone (stored instances stay recorded),
 * step() starts none again, and oa_job_wait() gives up.  Returns the
 * number of calls still in progress (0, unless the wait timed out; that
 * is logged).
 */
unsigned oa_jobs_close(unsigned timeout_ms);

/* True once oa_jobs_close() ran (until oa_jobs_register()). */
bool oa_jobs_closing(void);

/* ------------------------------------------------------------------ */
/* Waiting for a job (common.c)                                         */

/*
 * Wait until an Orthanc job has ended and return its "Content" (caller
 * frees).  OA_EIO with Orthanc's error details if the job failed,
 * OA_ECANCELLED if it was cancelled, OA_EIO if Orthanc began to stop
 * first (oa_jobs_close).
 */
oa_status oa_job_wait(const char *job_id, cJSON **content, oa_error *err);

/* The DICOM and peer export backends' access to Orthanc
 * (oa_export_orthanc_set_host), through orthanc/host.h: what Plugin.c
 * installs at start-up (and the unit tests, on their fake host). */
const struct oa_export_orthanc_host *oa_jobs_export_host(void);

#ifdef __cplusplus
}
#endif
#endif /* OA_JOBS_H */
