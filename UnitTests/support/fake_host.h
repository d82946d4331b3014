/*
 * Test support: a fake Orthanc standing in for Plugin/orthanc/host.c.
 *
 * fake_host.c defines every function of Plugin/orthanc/host.h, so that the
 * plugin's REST routes and jobs (the oaplugin library) run in a unit test
 * with no Orthanc.  It is an in-memory Orthanc 1.10.1 as far as the
 * plugin uses one:
 *
 *  - instances stored as DICOM bytes, with Orthanc's IDs (the SHA-1 of
 *    PatientID | StudyInstanceUID | SeriesInstanceUID | SOPInstanceUID,
 *    cut after each level for the parents, as 8-8-8-8-8 hex) and the
 *    patient / study / series / instance hierarchy, parsed with the
 *    project's own DICOM reader;
 *  - the subset of Orthanc's REST API the plugin calls (oa_host_rest):
 *    POST /instances, GET /patients|studies|series|instances/{id}[...],
 *    DELETE of each level, study metadata and attachments, /jobs/...,
 *    /modalities, /peers, /system;
 *  - global properties in a map; a configuration JSON set by the test;
 *  - a jobs engine the test drives: a submitted job waits until the test
 *    steps it (fake_job_*), or, with auto-run (the default), until a
 *    GET /jobs/{id} runs it to its end on the caller's thread, so that a
 *    synchronous request of the plugin (which polls /jobs/{id}) completes;
 *  - requests to the plugin's routes: fake_request() calls the installed
 *    dispatcher and captures status, headers, content type and body;
 *  - fault injection: a REST call that fails or answers some status,
 *    a DICOM read that fails, peers and modalities that are down.
 *
 * Every function is thread-safe (one mutex; released whenever the fake
 * calls back into the plugin: the dispatcher, a job's callbacks).
 */
#ifndef OA_TEST_FAKE_HOST_H
#define OA_TEST_FAKE_HOST_H

#include "orthanc/host.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Orthanc IDs: 40 hex digits in five groups of 8. */
#define FAKE_ID_SIZE 45

/* ------------------------------------------------------------------ */
/* The whole fake                                                       */

/*
 * Forget everything: instances, metadata, properties, jobs (finalized),
 * peers, modalities, faults, logs; auto-run back on; configuration "{}".
 */
void fake_host_reset(void);

/* What oa_host_get_configuration() answers (copied; NULL: "{}"; text
 * that is not JSON makes it fail with OA_EPARSE, as host.c would). */
void fake_host_set_configuration(const char *json);

/* Every line the plugin logged since the reset, one per line ("E: ...",
 * "W: ...", "I: ...").  Borrowed until the next call into the fake. */
const char *fake_host_logs(void);
/* True if a logged line holds `needle`. */
bool fake_host_log_contains(const char *needle);

/* The change callback the plugin registered, called with a StableStudy
 * for `study_id` (false if none is registered). */
bool fake_host_stable_study(const char *study_id);

/*
 * Orthanc stopping: the change callback the plugin registered, called
 * with OrthancStopped (false if none is registered), as Orthanc's main
 * thread does before it stops its HTTP server and jobs engine.  From its
 * return until fake_host_reset(), the fake counts every call into it
 * (REST, DICOM reads, transcoding, global properties): no thread of the
 * plugin may call Orthanc then, only Orthanc's own (a job's step()).
 */
bool fake_host_orthanc_stopped(void);
unsigned fake_host_calls_since_stopped(void);

/* ------------------------------------------------------------------ */
/* Instances                                                            */

/* Orthanc's ID of the first `n` of PatientID, StudyInstanceUID,
 * SeriesInstanceUID, SOPInstanceUID (1: patient ... 4: instance). */
void fake_host_orthanc_id(char out[FAKE_ID_SIZE], const char *const *uids,
                          size_t n);

/*
 * Store an instance as POST /instances does.  Answers the HTTP status
 * (200, or 400 for bytes that are not DICOM or lack a UID); `id` (may be
 * NULL) receives the instance's ID.  AlreadyStored keeps the first copy.
 */
uint16_t fake_host_store(const uint8_t *dicom, size_t len,
                         char id[FAKE_ID_SIZE]);

/* Number of instances stored. */
size_t fake_host_instance_count(void);

/* A copy of the instance's DICOM bytes (free with free()); false if the
 * instance is unknown. */
bool fake_host_instance_data(const char *id, uint8_t **data, size_t *len);

/* ------------------------------------------------------------------ */
/* Modalities and peers                                                 */

/* A DICOM modality Orthanc knows; `up` false: echo and store fail. */
void fake_host_add_modality(const char *name, bool up);

/*
 * An Orthanc peer.  `status` is what it answers (200; 401 for refused
 * credentials); 0: unreachable.
 */
void fake_host_add_peer(const char *name, uint16_t status);

/* Instances a modality or peer received (C-STORE, /peers/{p}/store). */
size_t fake_host_received(const char *name);

/* ------------------------------------------------------------------ */
/* Faults                                                               */

/* Operations a fault applies to, besides the HTTP methods of host.h. */
#define FAKE_OP_DICOM 0x100   /* oa_host_get_dicom; prefix: instance ID */
#define FAKE_OP_UUID 0x200    /* oa_host_generate_uuid */
#define FAKE_OP_PROPERTY 0x400 /* oa_host_set_property; prefix: of the
                                  value written (fails with OA_EIO) */

/*
 * Make calls fail: every call of `op` (OA_HTTP_* bits or FAKE_OP_*) whose
 * URI (or instance ID) starts with `prefix` ("" for all), after the first
 * `skip` such calls, for the next `count` calls (0: all of them).
 * `status` 0 makes the call itself fail (OA_EIO, as when Orthanc raises
 * an error with no HTTP status: storage full, network protocol); another
 * status is answered as is (with no body: Orthanc's CallRestApi gives
 * none on an HTTP error).  Up to 16 faults; fake_host_reset() clears
 * them.
 */
void fake_host_fault(unsigned op, const char *prefix, uint16_t status,
                     unsigned skip, unsigned count);

/* Every oa_host_get_dicom() sleeps `ms` first (0: none), so that a job
 * lasts several steps and can be paused or cancelled half-way. */
void fake_host_set_dicom_delay(unsigned ms);

/* Faults that fired so far. */
unsigned fake_host_faults_fired(void);

/* ------------------------------------------------------------------ */
/* Requests to the plugin's routes                                      */

#define FAKE_MAX_HEADERS 16

typedef struct fake_response {
    uint16_t status;           /* 0 if the dispatcher did not answer */
    unsigned answers;          /* answers sent: must be exactly 1 */
    char content_type[128];
    char *body;                /* NUL-terminated (malloc) */
    size_t body_len;
    cJSON *json;               /* the body parsed, if it is JSON */
    size_t header_count;
    char *header_keys[FAKE_MAX_HEADERS];
    char *header_values[FAKE_MAX_HEADERS];
    unsigned late_headers;     /* headers set after the answer (a bug) */
} fake_response;

/*
 * Send a request to the installed dispatcher, as Orthanc does: `url`
 * without query, `body` (may be NULL) sent as is.  `get_args`, for a GET
 * only, is NULL or {"key", "value", ..., NULL}.
 */
void fake_request(fake_response *r, oa_http_method method, const char *url,
                  const char *body, const char *const *get_args);

/* The same with request headers: NULL or {"name", "value", ..., NULL}
 * (at most 8). */
void fake_request_with(fake_response *r, oa_http_method method,
                       const char *url, const char *body,
                       const char *const *get_args,
                       const char *const *headers);

/* A header of the answer (name compared without case), or NULL. */
const char *fake_response_header(const fake_response *r, const char *name);

/* A string field of the JSON body, or NULL. */
const char *fake_response_str(const fake_response *r, const char *key);

void fake_response_dispose(fake_response *r);

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */

typedef enum fake_job_state {
    FAKE_JOB_UNKNOWN = 0,
    FAKE_JOB_PENDING,
    FAKE_JOB_RUNNING,
    FAKE_JOB_SUCCESS,
    FAKE_JOB_FAILURE,
    FAKE_JOB_PAUSED
} fake_job_state;

/* GET /jobs/{id} runs a pending or running job to its end first (on by
 * default; off for tests that step jobs themselves). */
void fake_host_set_auto_run(bool on);

/* Jobs submitted (and restored) since the reset, in order. */
size_t fake_job_count(void);
/* ID of job number `index` (copied into `out`); false past the end. */
bool fake_job_id(size_t index, char out[64]);
/* Type of a job ("Anonymization"), or NULL.  Static (the ops' type). */
const char *fake_job_type(const char *id);

fake_job_state fake_job_state_of(const char *id);
/* Orthanc's state name ("Pending", "Running", "Success", ...). */
const char *fake_job_state_name(fake_job_state state);

/* One step of a pending or running job; its new state. */
fake_job_state fake_job_step(const char *id);
/* Step until the job leaves Pending/Running (at most `max_steps`; 0: no
 * limit); its final state. */
fake_job_state fake_job_run(const char *id, unsigned max_steps);
/* Run every pending or running job, in order, until none is left (jobs
 * submitted meanwhile included).  The number of jobs run. */
size_t fake_job_run_all(void);

/* Orthanc's /jobs/{id}/pause, resume, cancel, resubmit; false where
 * Orthanc refuses (a finished job cannot be paused, ...). */
bool fake_job_pause(const char *id);
bool fake_job_resume(const char *id);
bool fake_job_cancel(const char *id);
bool fake_job_resubmit(const char *id);

/*
 * Orthanc restarting: a running job is paused, its serialized string
 * taken, the job finalized, and the string handed to the registered
 * unserializer; the new job keeps the ID and comes back Pending (a
 * finished one keeps its state).  False if the job is not persistent or
 * the unserializer refused it (the job is then gone).
 */
bool fake_job_restart(const char *id);

/* The job's progress (0..1), content and serialized string (copies;
 * cJSON_Delete / free), as Orthanc would read them now. */
float fake_job_progress(const char *id);
cJSON *fake_job_content(const char *id);
char *fake_job_serialized(const char *id);
/* Orthanc's ErrorDescription of a failed job ("" otherwise; copied). */
void fake_job_error(const char *id, char *out, size_t size);

/* Give a saved job straight to the unserializer (Orthanc reading its
 * database at start-up); `id` receives the new job's ID.  False if it
 * was refused. */
bool fake_job_unserialize(const char *type, const char *serialized,
                          char out_id[64]);

#endif /* OA_TEST_FAKE_HOST_H */
