/*
 * rest: the plugin's REST API (doc/rest-api.md): a route table, the
 * dispatcher that matches requests against it, the handlers, and the
 * translation of oa_status into HTTP answers.
 *
 * A route is (methods, regex, handler).  The regex is POSIX extended
 * syntax and must match the whole decoded path ("/anonymizer/info",
 * "/anonymizer/profiles/([^/]+)"); its groups become the request's
 * params.  The dispatcher answers:
 *   - a path and method that match a route: that route's handler;
 *   - a path that matches only with other methods: 405 with "Allow";
 *   - any other path under /anonymizer/: 404 {"Error", "Details"}.
 *
 * Handler contract: on success the handler has answered (one answer) and
 * returns OA_OK; on failure it has NOT answered and returns the status,
 * with a message for a person in `err`; the dispatcher then answers
 * {"Error": ..., "Details": err->msg} with oa_rest_http_status(status).
 * Messages never hold PHI.
 *
 * Thread safety: the router is built once at start-up and read-only
 * afterwards; dispatch runs concurrently on Orthanc's HTTP threads.
 */
#ifndef OA_REST_H
#define OA_REST_H

#include "../core/core.h"
#include "../orthanc/host.h"

#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most regex groups a route may have. */
#define OA_REST_MAX_PARAMS 4

/* A request as a handler sees it.  Everything is borrowed. */
typedef struct oa_rest_request {
    const oa_host_request *http;              /* method, url, body, ... */
    unsigned param_count;                     /* regex groups matched */
    const char *params[OA_REST_MAX_PARAMS];   /* NUL-terminated groups */
} oa_rest_request;

typedef oa_status (*oa_rest_handler)(oa_host_output *out,
                                     const oa_rest_request *req,
                                     oa_error *err);

typedef struct oa_route {
    unsigned methods;        /* OA_HTTP_* bits */
    const char *pattern;     /* POSIX ERE for the whole path, no anchors */
    oa_rest_handler handler;
} oa_route;

/* ------------------------------------------------------------------ */
/* Router                                                               */

typedef struct oa_rest_router oa_rest_router;

/*
 * Compile a route table.  `routes` is borrowed and must outlive the
 * router (it is a static table).  OA_EINVAL names the route whose regex
 * does not compile.  Caller frees with oa_rest_router_free().
 */
oa_status oa_rest_router_new(oa_rest_router **out, const oa_route *routes,
                             size_t count, oa_error *err);

/* NULL-safe. */
void oa_rest_router_free(oa_rest_router *router);

/*
 * Answer one request (always exactly once: handler, 404, 405 or error).
 * An oa_host_rest_fn with `user` = the router.
 */
void oa_rest_dispatch(void *router, oa_host_output *out,
                      const oa_host_request *req);

/* The built-in route table (borrowed, static) and its length. */
const oa_route *oa_rest_routes(size_t *count);

/*
 * Build the router of the built-in routes, install it as the host's
 * dispatcher and register our paths with Orthanc.  Call once from
 * the plugin's Initialize (Plugin.c).
 */
oa_status oa_rest_register(oa_error *err);

/* Uninstall and free the router (the plugin's Finalize).  NULL-safe. */
void oa_rest_unregister(void);

/* ------------------------------------------------------------------ */
/* Answers                                                              */

/*
 * HTTP status of a failure: 400 EINVAL/EPARSE, 404 ENOTFOUND,
 * 409 ECONFLICT, 413 ELIMIT, 502 ENET/EAUTH (a remote target failed),
 * 500 otherwise.  200 for OA_OK.
 */
uint16_t oa_rest_http_status(oa_status code);

/* Short title for the "Error" field ("Unknown resource").  Static. */
const char *oa_rest_error_title(oa_status code);

/* Answer `json` (printed) with `status` and application/json. */
oa_status oa_rest_answer_json(oa_host_output *out, uint16_t status,
                              const cJSON *json, oa_error *err);

/* Answer 200 {} (a DELETE that succeeded). */
oa_status oa_rest_answer_empty(oa_host_output *out, oa_error *err);

/*
 * Answer a failure: status oa_rest_http_status(code), body
 * {"Error": oa_rest_error_title(code), "Details": details}.  Never fails
 * (falls back to a static body when out of memory).
 */
void oa_rest_answer_error(oa_host_output *out, oa_status code,
                          const char *details);

#ifdef __cplusplus
}
#endif
#endif /* OA_REST_H */
