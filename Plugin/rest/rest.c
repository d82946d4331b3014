/*
 * The route table and the dispatcher.
 *
 * Orthanc is told about one path pattern only, "/anonymizer(/.*)?", and
 * every request under it comes to oa_rest_dispatch(), which matches the
 * path against the table with POSIX regexes compiled once at start-up.
 * Doing the matching here rather than registering one Orthanc route per
 * pattern gives us, for every path under /anonymizer/, one place that
 * knows all methods of a path (for 405 + Allow) and answers unknown paths
 * with our own JSON 404, and it needs no per-route trampoline (Orthanc's
 * callbacks carry no user pointer).
 *
 * A new route is one line in `routes[]` plus its handler in rest_int.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "rest_int.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

/* Every path Orthanc sends us.  Orthanc matches the whole path. */
#define OA_REST_ORTHANC_PATTERN "/anonymizer(/.*)?"

/* Longest path we accept; longer ones answer 404 without matching. */
#define OA_REST_MAX_URL 4096

/* A name or ID in a path: any segment; the handlers check it (400 for a
 * bad name to create, 404 for one that cannot exist). */
#define NAME "([^/]+)"

static const oa_route routes[] = {
    {OA_HTTP_GET, "/anonymizer/info", oa_rest_get_info},
    {OA_HTTP_GET, "/anonymizer/app", oa_rest_app_redirect},
    {OA_HTTP_GET, "/anonymizer/app/app/index.html", oa_rest_app_redirect},
    {OA_HTTP_GET, "/anonymizer/app/([A-Za-z0-9_./-]*)", oa_rest_app},
    {OA_HTTP_GET, "/anonymizer/profiles", oa_rest_get_profiles},
    {OA_HTTP_GET | OA_HTTP_PUT | OA_HTTP_DELETE, "/anonymizer/profiles/" NAME,
     oa_rest_profile},
    {OA_HTTP_GET, "/anonymizer/profiles/" NAME "/rules",
     oa_rest_profile_rules},
    {OA_HTTP_POST, "/anonymizer/anonymize", oa_rest_anonymize},
    {OA_HTTP_POST, "/anonymizer/(studies|patients)/([^/]+)/anonymize",
     oa_rest_anonymize_resource},
    {OA_HTTP_POST, "/anonymizer/copies", oa_rest_copies},
    {OA_HTTP_GET, "/anonymizer/reports", oa_rest_get_reports},
    {OA_HTTP_GET, "/anonymizer/jobs", oa_rest_get_jobs},
    {OA_HTTP_GET, "/anonymizer/reports/" NAME, oa_rest_get_report},
    {OA_HTTP_GET, "/anonymizer/reports/" NAME "/csv",
     oa_rest_get_report_csv},
    {OA_HTTP_GET, "/anonymizer/reports/" NAME "/(uids|patients)\\.csv",
     oa_rest_get_report_mapping},
    {OA_HTTP_POST, "/anonymizer/export", oa_rest_export},
    {OA_HTTP_GET, "/anonymizer/exports/([^/]+)/archive(-([0-9]+))?\\.zip",
     oa_rest_export_archive},
    {OA_HTTP_GET, "/anonymizer/destinations", oa_rest_get_destinations},
    {OA_HTTP_GET | OA_HTTP_PUT | OA_HTTP_DELETE,
     "/anonymizer/destinations/" NAME, oa_rest_destination},
    {OA_HTTP_POST, "/anonymizer/destinations/" NAME "/test",
     oa_rest_destination_test},
    {OA_HTTP_GET, "/anonymizer/audit(\\.csv)?", oa_rest_get_audit},
};

struct oa_rest_router {
    const oa_route *routes;
    size_t count;
    size_t compiled;   /* regexes compiled so far (for cleanup) */
    regex_t *regex;    /* one per route */
};

const oa_route *oa_rest_routes(size_t *count)
{
    *count = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

void oa_rest_router_free(oa_rest_router *router)
{
    size_t i;

    if (router == NULL)
        return;
    for (i = 0; i < router->compiled; i++)
        regfree(&router->regex[i]);
    oa_free(router->regex);
    oa_free(router);
}

oa_status oa_rest_router_new(oa_rest_router **out, const oa_route *table,
                             size_t count, oa_error *err)
{
    oa_rest_router *router;
    oa_status status = OA_OK;
    char anchored[512];
    size_t i;

    *out = NULL;
    router = oa_calloc(1, sizeof(*router));
    if (router == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory (router)");
    router->routes = table;
    router->count = count;
    router->regex = oa_calloc(count ? count : 1, sizeof(regex_t));
    if (router->regex == NULL) {
        status = oa_error_set(err, OA_ENOMEM, "out of memory (router)");
        goto out;
    }

    for (i = 0; i < count; i++) {
        int n, rc;

        if (table[i].pattern == NULL || table[i].handler == NULL ||
            table[i].methods == 0) {
            status = oa_error_set(err, OA_EINVAL, "route %zu incomplete", i);
            goto out;
        }
        n = snprintf(anchored, sizeof(anchored), "^%s$", table[i].pattern);
        if (n < 0 || (size_t)n >= sizeof(anchored)) {
            status = oa_error_set(err, OA_EINVAL, "route %s: too long",
                                  table[i].pattern);
            goto out;
        }
        rc = regcomp(&router->regex[i], anchored, REG_EXTENDED);
        if (rc != 0) {
            char why[128];

            regerror(rc, NULL, why, sizeof(why));
            status = oa_error_set(err, OA_EINVAL, "route %s: bad regex: %s",
                                  table[i].pattern, why);
            goto out;
        }
        if (router->regex[i].re_nsub > OA_REST_MAX_PARAMS) {
            router->compiled = i + 1;
            status = oa_error_set(err, OA_EINVAL,
                                  "route %s: more than %d groups",
                                  table[i].pattern, OA_REST_MAX_PARAMS);
            goto out;
        }
        router->compiled = i + 1;
    }

out:
    if (status != OA_OK) {
        oa_rest_router_free(router);
        return status;
    }
    *out = router;
    return OA_OK;
}

/* "GET,PUT" for the methods in `bits`. */
static void format_allow(unsigned bits, char *out, size_t size)
{
    static const oa_http_method order[] = {OA_HTTP_GET, OA_HTTP_POST,
                                           OA_HTTP_PUT, OA_HTTP_DELETE};
    size_t i, len = 0;

    out[0] = '\0';
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        int n;

        if ((bits & (unsigned)order[i]) == 0)
            continue;
        n = snprintf(out + len, size - len, "%s%s", len ? "," : "",
                     oa_http_method_name(order[i]));
        if (n < 0 || (size_t)n >= size - len)
            return;
        len += (size_t)n;
    }
}

/*
 * Copy the matched groups into `storage` and point req->params at them.
 * Groups may nest, so `storage` holds (url length + 1) bytes per group.
 * Unmatched optional groups are "".
 */
static void fill_params(oa_rest_request *req, const regmatch_t *match,
                        size_t nsub, const char *url, char *storage)
{
    size_t g;

    req->param_count = 0;
    for (g = 1; g <= nsub && g <= OA_REST_MAX_PARAMS; g++) {
        size_t len = 0;

        if (match[g].rm_so >= 0 && match[g].rm_eo >= match[g].rm_so) {
            len = (size_t)(match[g].rm_eo - match[g].rm_so);
            memcpy(storage, url + match[g].rm_so, len);
        }
        storage[len] = '\0';
        req->params[req->param_count++] = storage;
        storage += len + 1;
    }
}

void oa_rest_dispatch(void *user, oa_host_output *out,
                      const oa_host_request *http)
{
    oa_rest_router *router = user;
    regmatch_t match[OA_REST_MAX_PARAMS + 1];
    const oa_route *chosen = NULL;
    size_t chosen_nsub = 0, url_len, i;
    unsigned allowed = 0;
    oa_rest_request req;
    char *storage;
    oa_error err;
    oa_status status;

    if (router == NULL || http == NULL || http->url == NULL) {
        oa_rest_answer_error(out, OA_EINVAL, "no request to answer");
        return;
    }
    url_len = strlen(http->url);
    if (url_len > OA_REST_MAX_URL) {
        oa_rest_answer_error(out, OA_ENOTFOUND, "path too long");
        return;
    }

    /* First route matching path and method wins; others give Allow. */
    for (i = 0; i < router->count; i++) {
        regmatch_t m[OA_REST_MAX_PARAMS + 1];

        if (regexec(&router->regex[i], http->url, OA_REST_MAX_PARAMS + 1, m,
                    0) != 0)
            continue;
        allowed |= router->routes[i].methods;
        if (chosen == NULL &&
            (router->routes[i].methods & (unsigned)http->method) != 0) {
            chosen = &router->routes[i];
            chosen_nsub = router->regex[i].re_nsub;
            memcpy(match, m, sizeof(match));
        }
    }

    if (chosen == NULL) {
        if (allowed != 0) {
            char allow[64];

            format_allow(allowed, allow, sizeof(allow));
            oa_host_answer_method_not_allowed(out, allow);
            return;
        }
        /* The path is the user's own input, echoed to them only. */
        {
            char details[OA_REST_MAX_URL + 64];

            snprintf(details, sizeof(details),
                     "No anonymizer resource at %s (see GET "
                     "/anonymizer/info and the REST API in README)",
                     http->url);
            oa_rest_answer_error(out, OA_ENOTFOUND, details);
        }
        return;
    }

    memset(&req, 0, sizeof(req));
    req.http = http;
    /* url_len <= OA_REST_MAX_URL and groups <= OA_REST_MAX_PARAMS: no
     * overflow. */
    storage = oa_malloc((url_len + 1) * (chosen_nsub ? chosen_nsub : 1));
    if (storage == NULL) {
        oa_rest_answer_error(out, OA_ENOMEM, "out of memory");
        return;
    }
    fill_params(&req, match, chosen_nsub, http->url, storage);

    oa_error_clear(&err);
    status = chosen->handler(out, &req, &err);
    if (status != OA_OK) {
        char details[OA_ERROR_MSG_MAX + 64];

        if (err.code == OA_OK)
            oa_error_set(&err, status, "%s", oa_status_str(status));
        oa_error_format(&err, details, sizeof(details));
        /* Server-side failures go to the log too; 4xx are the client's. */
        if (oa_rest_http_status(status) >= 500)
            oa_log(oa_rest_http_status(status) == 500 ? OA_LOG_ERROR
                                                      : OA_LOG_WARNING,
                   "%s %s failed: %s",
                   oa_http_method_name(http->method), chosen->pattern,
                   details);
        oa_rest_answer_error(out, status, details);
    }
    oa_free(storage);
}

oa_status oa_rest_register(oa_error *err)
{
    oa_rest_router *router;
    oa_status status;
    size_t count;
    const oa_route *table = oa_rest_routes(&count);

    status = oa_rest_router_new(&router, table, count, err);
    if (status != OA_OK)
        return status;
    oa_host_set_rest_dispatcher(oa_rest_dispatch, router);
    oa_host_register_route(OA_REST_ORTHANC_PATTERN);
    return OA_OK;
}

void oa_rest_unregister(void)
{
    oa_rest_router *router = oa_host_rest_dispatcher_user();

    oa_host_set_rest_dispatcher(NULL, NULL);
    oa_rest_router_free(router);
}
