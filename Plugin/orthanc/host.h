/*
 * orthanc: the only module that calls the Orthanc plugin SDK
 * (OrthancPlugin* functions).  Everything else in the plugin talks to
 * Orthanc through the thin wrappers below, so that it can be compiled and
 * tested without the SDK and so that every SDK pitfall of Orthanc 1.10.1
 * (see shared/reference/orthanc-1.10.1.md) is handled in one place.
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
 * True if the running Orthanc is at least the version of the SDK header we
 * were built with (1.10.1 on Debian 12), as OrthancPluginCheckVersion()
 * decides.  On false, the plugin must refuse to load.
 */
bool oa_host_check_version(void);

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

#ifdef __cplusplus
}
#endif
#endif /* OA_ORTHANC_HOST_H */
