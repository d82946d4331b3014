/*
 * orthanc: the only module that calls the Orthanc plugin SDK
 * (OrthancPlugin* functions).  Everything else in the plugin talks to
 * Orthanc through the thin wrappers below, so that it can be compiled and
 * tested without the SDK and so that every SDK pitfall of Orthanc 1.10.1
 * (doc/orthanc-1.10.1.md, "Pitfalls") is handled in one place.
 *
 * State: one host context (the OrthancPluginContext and the REST
 * dispatcher), set in OrthancPluginInitialize before Orthanc starts any
 * thread that could call us, cleared in OrthancPluginFinalize after
 * Orthanc has stopped them.  Between the two it is only read, so every
 * function here is thread-safe.
 *
 * Memory the SDK returns is freed here, with its matching
 * OrthancPluginFree*, and never crosses this module's boundary raw.
 */
#ifndef OA_ORTHANC_HOST_H
#define OA_ORTHANC_HOST_H

#include "../core/core.h"

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The plugin's name in /plugins, in Orthanc's log and in its SDK calls. */
#define OA_PLUGIN_NAME "anonymizer"

/* The SDK's context, as Orthanc hands it to OrthancPluginInitialize. */
struct _OrthancPluginContext_t;

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */

/*
 * Remember Orthanc's context.  Called first in OrthancPluginInitialize;
 * no other function of this module may be called before.
 */
void oa_host_init(struct _OrthancPluginContext_t *context);

/* Forget the context (OrthancPluginFinalize). */
void oa_host_finalize(void);

/*
 * True if the running Orthanc is at least OA_HOST_MIN_ORTHANC, the oldest
 * version that has every service the plugin strictly needs
 * (OrthancPluginCheckVersionAdvanced), whatever SDK header it was built
 * with: a build with the 1.12 or 1.13 header still loads into 1.10.1 and
 * uses the newer services only where oa_host_has() says so.  On false, the
 * plugin must refuse to load.
 */
bool oa_host_check_version(void);

/* The oldest Orthanc the plugin runs on. */
#define OA_HOST_MIN_ORTHANC "1.10.1"

/*
 * Services newer than 1.10.1, each used only when the running Orthanc has
 * it (checked once, in oa_host_init) and, for an SDK function, when the
 * header we were built with declares it (ORTHANC_PLUGINS_VERSION_IS_ABOVE).
 */
typedef enum oa_host_feature {
    OA_HOST_STREAM = 0,    /* StartStreamAnswer / SendStreamChunk, 1.12.6 */
    OA_HOST_LABELS,        /* labels of resources (REST), 1.12.0 */
    OA_HOST_KEY_VALUE,     /* key-value stores, 1.12.8 */
    OA_HOST_THREAD_NAMES,  /* SetCurrentThreadName, 1.12.2 */
    OA_HOST_LOG_MESSAGE,   /* LogMessage with the plugin's name, 1.12.4 */
    OA_HOST_FEATURE_COUNT
} oa_host_feature;

/* True if the feature can be used now (see above). */
bool oa_host_has(oa_host_feature feature);

/* "StreamedDownloads", "Labels", ... (the keys of /anonymizer/info's
 * "OrthancFeatures").  Static. */
const char *oa_host_feature_name(oa_host_feature feature);

/*
 * Give the calling thread a name in Orthanc's log (at most 15
 * characters); only for threads the plugin created.  Call
 * oa_host_clear_thread_name() before the thread ends.  No-op where
 * Orthanc has no thread names.
 */
void oa_host_set_thread_name(const char *name);
void oa_host_clear_thread_name(void);

/* Version string of the running Orthanc ("1.10.1").  Borrowed, static. */
const char *oa_host_orthanc_version(void);

/* Version of the SDK header we were built with ("1.10.1").  Static. */
const char *oa_host_sdk_version(void);

/* ------------------------------------------------------------------ */
/* Logging                                                              */

/*
 * Write one line to Orthanc's log.  An oa_log_sink: install it with
 * oa_log_set_sink(oa_host_log) to route core logging to Orthanc.  The
 * message must hold no PHI.  Before oa_host_init() it writes to stderr.
 */
void oa_host_log(oa_log_level level, const char *msg);

/* ------------------------------------------------------------------ */
/* Plugin metadata shown in Orthanc Explorer and /plugins               */

/* Copied by Orthanc. */
void oa_host_set_description(const char *description);

/*
 * The page Orthanc Explorer's plugin list links to ("/anonymizer/app/").
 * Copied by Orthanc.
 */
void oa_host_set_root_uri(const char *uri);

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

/*
 * Orthanc's whole configuration (all its JSON files merged, custom
 * sections included) as a cJSON tree.  Caller frees *out with
 * cJSON_Delete().  OA_EPARSE if Orthanc's answer is not JSON (it always
 * is), OA_ENOMEM, OA_EIO if Orthanc refused.
 */
oa_status oa_host_get_configuration(cJSON **out, oa_error *err);

/* ------------------------------------------------------------------ */
/* REST                                                                 */

/* HTTP methods, as bits so that a route can accept several. */
typedef enum oa_http_method {
    OA_HTTP_GET = 1u << 0,
    OA_HTTP_POST = 1u << 1,
    OA_HTTP_PUT = 1u << 2,
    OA_HTTP_DELETE = 1u << 3
} oa_http_method;

/* "GET", "POST", "PUT", "DELETE"; "?" for anything else.  Static. */
const char *oa_http_method_name(oa_http_method method);

/*
 * The connection to answer on (Orthanc's OrthancPluginRestOutput).
 * Opaque; valid during the callback only.  Exactly one answer (buffer,
 * status or 405) may be sent on it.
 */
typedef struct oa_host_output oa_host_output;

/*
 * One HTTP request, translated from Orthanc's.  Everything is borrowed
 * and valid during the callback only.  `url` is the decoded path without
 * the query string.  Header names are lower case (Orthanc lowers them).
 * `body` is not NUL-terminated.
 */
typedef struct oa_host_request {
    oa_http_method method;
    const char *url;
    const void *body;
    size_t body_size;
    uint32_t header_count;
    const char *const *header_keys;
    const char *const *header_values;
    uint32_t get_count;
    const char *const *get_keys;
    const char *const *get_values;
} oa_host_request;

/* Value of a header (name compared without case), or NULL.  Borrowed. */
const char *oa_host_request_header(const oa_host_request *req,
                                   const char *name);

/* Value of a GET argument ("?key=value"), or NULL.  Borrowed. */
const char *oa_host_request_get(const oa_host_request *req,
                                const char *key);

/*
 * The function that answers every request of the routes registered with
 * oa_host_register_route().  It must answer on `out` (also on failure):
 * the host only turns a missing answer into Orthanc's own error.
 * Called concurrently from Orthanc's HTTP threads (routes are NoLock).
 */
typedef void (*oa_host_rest_fn)(void *user, oa_host_output *out,
                                const oa_host_request *req);

/*
 * Install the dispatcher, with `user` passed back to it.  Call before
 * the first oa_host_register_route(); NULL uninstalls it (requests then
 * answer 404).  Not thread-safe: Initialize/Finalize only.
 */
void oa_host_set_rest_dispatcher(oa_host_rest_fn fn, void *user);

/* The `user` of the installed dispatcher, or NULL.  Borrowed. */
void *oa_host_rest_dispatcher_user(void);

/*
 * Ask Orthanc to send requests whose path matches `regex` (Orthanc's
 * regex syntax, whole path) to the dispatcher, without Orthanc's global
 * REST lock (RegisterRestCallbackNoLock: the dispatcher locks what it
 * shares).  Orthanc tries routes in registration order.  Copied.
 */
void oa_host_register_route(const char *regex);

/*
 * Answer with `status` and a body.  200 sends the body as the answer
 * (OrthancPluginAnswerBuffer); any other status except 301, 401 and 405
 * (which have their own functions in the SDK) sends it with that status.
 * `mime` is the Content-Type.  OA_ELIMIT above 4 GiB - 1 (the SDK's
 * uint32 sizes), OA_EINVAL for a status the SDK does not allow here.
 */
oa_status oa_host_answer(oa_host_output *out, uint16_t status,
                         const char *mime, const void *body, size_t len,
                         oa_error *err);

/*
 * A streamed answer (OA_HOST_STREAM only): status 200 with `mime`, then
 * the body in chunks of at most 4 GiB - 1 each, of any total size; the
 * headers set before oa_host_stream_start() are sent with it.  After a
 * start, the answer is the stream: a failure can no longer become an
 * error status, only a cut connection.  OA_EUNSUPPORTED without the
 * feature; OA_ENET when the client went away.
 */
oa_status oa_host_stream_start(oa_host_output *out, const char *mime,
                               oa_error *err);
oa_status oa_host_stream_chunk(oa_host_output *out, const void *data,
                               size_t len, oa_error *err);

/* Answer 301 to `location` (relative to the request's URL allowed). */
void oa_host_redirect(oa_host_output *out, const char *location);

/* Answer 405 with an "Allow" header ("GET,PUT"). */
void oa_host_answer_method_not_allowed(oa_host_output *out,
                                       const char *allowed);

/* Add an HTTP header to the answer; before answering only.  Copied. */
void oa_host_set_header(oa_host_output *out, const char *key,
                        const char *value);

/*
 * Details for the error Orthanc itself reports when a callback fails
 * (OrthancPluginSetHttpErrorDetails); `log` also writes them to the log.
 * Only used when a handler could not answer at all.
 */
void oa_host_set_error_details(oa_host_output *out, const char *details,
                               bool log);

/* ------------------------------------------------------------------ */
/* Orthanc's own REST API, from inside the plugin                       */

/*
 * Call Orthanc's REST API (OrthancPluginCallRestApi, built-in routes
 * only, so that a route of ours can never call itself by mistake; full
 * access, no credentials).  `body` is sent for POST and PUT.  On return
 * *http_status holds the HTTP status (200, 404, ...) and, when `answer`
 * is not NULL, the answer body is appended to it (its ceiling applies).
 * The status is OA_OK whenever Orthanc answered, whatever the HTTP
 * status; OA_EIO if the call could not be made at all.
 */
oa_status oa_host_rest(oa_http_method method, const char *uri,
                       const void *body, size_t body_size, oa_buf *answer,
                       uint16_t *http_status, oa_error *err);

/*
 * GET `uri` and parse the answer as JSON.  OA_ENOTFOUND on 404 (the
 * message names the URI, which holds Orthanc IDs only), OA_EIO on another
 * non-200 status, OA_EPARSE if the answer is not JSON.  Caller frees *out
 * with cJSON_Delete().
 */
oa_status oa_host_rest_get_json(const char *uri, cJSON **out, oa_error *err);

/* ------------------------------------------------------------------ */
/* DICOM files                                                          */

/* A buffer the SDK allocated; free it with oa_host_blob_free(). */
typedef struct oa_host_blob {
    const uint8_t *data;
    size_t size;
    void *priv;
} oa_host_blob;

/*
 * The DICOM file of an instance as stored (OrthancPluginGetDicomForInstance).
 * OA_ENOTFOUND for an unknown instance.  Thread-safe.
 */
oa_status oa_host_get_dicom(const char *instance_id, oa_host_blob *out,
                            oa_error *err);

/* NULL-safe; leaves the blob empty. */
void oa_host_blob_free(oa_host_blob *blob);

/*
 * Transcode a DICOM file with Orthanc's own decoders
 * (OrthancPluginTranscodeDicomInstance, 1.7.0; then
 * OrthancPluginSerializeDicomInstance): e.g. a JPEG image to Explicit VR
 * Little Endian ("1.2.840.10008.1.2.1") so that its pixels can be cleaned.
 * OA_EUNSUPPORTED when Orthanc cannot (no decoder for the syntax), OA_ELIMIT
 * above 4 GiB - 1.  Free *out with oa_host_blob_free().  Thread-safe.
 */
oa_status oa_host_transcode(const uint8_t *data, size_t size,
                            const char *transfer_syntax, oa_host_blob *out,
                            oa_error *err);

/* ------------------------------------------------------------------ */
/* Global properties (plugin state in Orthanc's database)              */

/* Plugins may only write property numbers >= this (Orthanc 1.10.1: lower
 * ones fail with the misleading "unknown service"). */
#define OA_HOST_FIRST_PLUGIN_PROPERTY 1024

/*
 * Read a global property: *out is a copy (free with oa_free()), or NULL
 * when the property was never set.  Only after Orthanc has opened its
 * database (not inside OrthancPluginInitialize).
 */
oa_status oa_host_get_property(int32_t property, char **out, oa_error *err);

/* Write a global property.  OA_EINVAL below OA_HOST_FIRST_PLUGIN_PROPERTY. */
oa_status oa_host_set_property(int32_t property, const char *value,
                               oa_error *err);

/* ------------------------------------------------------------------ */
/* Key-value stores (OA_HOST_KEY_VALUE: Orthanc >= 1.12.8)              */

/*
 * Values under (store, key) in Orthanc's database.  `store` names one
 * store of ours ("orthanc-anonymizer.reports").  Get gives a
 * NUL-terminated copy (oa_free) or NULL when absent; delete of an absent
 * key is OA_OK; keys lists a store's keys in Orthanc's (lexicographic)
 * order, freed with oa_store_free_keys()-like loops (each oa_free, then
 * the array).  OA_EUNSUPPORTED without the feature, OA_EIO if Orthanc
 * failed.  Only after Orthanc has opened its database.
 */
oa_status oa_host_kv_put(const char *store, const char *key,
                         const char *value, oa_error *err);
oa_status oa_host_kv_get(const char *store, const char *key, char **value,
                         oa_error *err);
oa_status oa_host_kv_delete(const char *store, const char *key,
                            oa_error *err);
oa_status oa_host_kv_keys(const char *store, char ***keys, size_t *count,
                          oa_error *err);

/* ------------------------------------------------------------------ */
/* Metrics (/tools/metrics-prometheus)                                  */

/*
 * Called by Orthanc before it answers /tools/metrics-prometheus (and by
 * its own timer); it sets every value with oa_host_set_metric().
 */
typedef void (*oa_host_metrics_fn)(void);

/* Register it (OrthancPluginInitialize only). */
void oa_host_register_metrics(oa_host_metrics_fn fn);

/*
 * One value; `name` a Prometheus name.  An `integer` one goes exactly
 * through OrthancPluginSetMetricsIntegerValue where Orthanc has it
 * (1.12.1), else through OrthancPluginSetMetricsValue (a float).
 */
void oa_host_set_metric(const char *name, double value, bool integer);

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */

typedef enum oa_job_step_status {
    OA_JOB_STEP_SUCCESS = 1,   /* all done */
    OA_JOB_STEP_FAILURE = 2,   /* the job failed */
    OA_JOB_STEP_CONTINUE = 3   /* call step() again */
} oa_job_step_status;

typedef enum oa_job_stop_reason {
    OA_JOB_STOP_SUCCESS = 1,
    OA_JOB_STOP_PAUSED = 2,
    OA_JOB_STOP_FAILURE = 3,
    OA_JOB_STOP_CANCELED = 4
} oa_job_stop_reason;

/*
 * A job's callbacks (OrthancPluginCreateJob).  Orthanc calls them from
 * the one thread that runs the job, never two at once; `content` and
 * `serialized` return strings that stay valid until the next call of the
 * same callback (keep them in the job).  `serialized` may return NULL
 * (not persistent).  `finalize` frees the job.
 */
typedef struct oa_host_job_ops {
    const char *type;
    void (*finalize)(void *job);
    float (*progress)(void *job);
    const char *(*content)(void *job);
    const char *(*serialized)(void *job);
    oa_job_step_status (*step)(void *job);
    oa_status (*stop)(void *job, oa_job_stop_reason reason);
    oa_status (*reset)(void *job);
} oa_host_job_ops;

/*
 * Submit a job to Orthanc's jobs engine; `id` receives the job's ID.
 * Takes ownership of `job` whatever the result: Orthanc (or this
 * function, on failure) calls ops->finalize.  `ops` must be static.
 */
oa_status oa_host_submit_job(const oa_host_job_ops *ops, void *job,
                             int priority, char *id, size_t id_size,
                             oa_error *err);

/*
 * Recreate a saved job: given the type and the string its `serialized`
 * callback returned, return a new job and its ops, or NULL if the type is
 * not ours or the string is unusable.
 */
typedef void *(*oa_host_job_unserializer)(const char *type,
                                          const char *serialized,
                                          const oa_host_job_ops **ops);

/* Register the unserializer (OrthancPluginInitialize only). */
void oa_host_register_job_unserializer(oa_host_job_unserializer fn);

/* ------------------------------------------------------------------ */
/* Orthanc peers                                                        */

/*
 * GET `uri` on the Orthanc peer `name` (OrthancPluginCallPeerApi, with
 * the peer's credentials from Orthanc's configuration); *http_status
 * receives the peer's answer status (401 for refused credentials), 0 if
 * it could not be reached.  OA_ENOTFOUND for a peer Orthanc does not
 * know.  `timeout` in seconds.
 */
oa_status oa_host_peer_get(const char *name, const char *uri,
                           unsigned timeout, uint16_t *http_status,
                           oa_error *err);

/* ------------------------------------------------------------------ */
/* Events, Orthanc Explorer, misc                                       */

typedef enum oa_host_change {
    OA_CHANGE_ORTHANC_STARTED = 0,
    OA_CHANGE_ORTHANC_STOPPED,
    OA_CHANGE_STABLE_STUDY,
    OA_CHANGE_OTHER
} oa_host_change;

/*
 * Called by Orthanc for every change, synchronously with its core: never
 * call the REST API from it (doc/orthanc-1.10.1.md, pitfall 4), hand work to a
 * thread.  `id` is the resource's Orthanc ID or NULL.
 */
typedef void (*oa_host_change_fn)(oa_host_change change, const char *id);

/* Register the change callback (OrthancPluginInitialize only). */
void oa_host_register_on_change(oa_host_change_fn fn);

/* Add JavaScript to Orthanc Explorer (copied). */
void oa_host_extend_explorer(const char *javascript);

/* A new UUID ("8-4-4-4-12" hex).  OA_EIO if Orthanc gave none. */
oa_status oa_host_generate_uuid(char out[37], oa_error *err);

#ifdef __cplusplus
}
#endif
#endif /* OA_ORTHANC_HOST_H */
