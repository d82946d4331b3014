/*
 * GET /anonymizer/app/...: the web page, served from the files embedded
 * at build time.  Headers keep the page from being framed or from
 * running anything but its own scripts (a patient name holding
 * "<script>" must stay text even if some code forgot to escape it).
 */
#include "rest_int.h"
#include "resources.h"

#include <stdlib.h>
#include <string.h>

static int by_path(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const oa_resource *)elem)->path);
}

const oa_resource *oa_resource_find(const char *path)
{
    if (path == NULL || oa_resource_count == 0)
        return NULL;
    return bsearch(path, oa_resources, oa_resource_count,
                   sizeof(oa_resources[0]), by_path);
}

oa_status oa_rest_app(oa_host_output *out, const oa_rest_request *req,
                      oa_error *err)
{
    const char *path = req->param_count > 0 && req->params[0][0] != '\0'
                           ? req->params[0]
                           : "index.html";
    const oa_resource *r = oa_resource_find(path);

    if (r == NULL)
        return oa_error_set(err, OA_ENOTFOUND,
                            "no file %s in the anonymizer's web page", path);
    oa_host_set_header(out, "Cache-Control", "no-cache");
    oa_host_set_header(out, "X-Content-Type-Options", "nosniff");
    oa_host_set_header(out, "X-Frame-Options", "SAMEORIGIN");
    oa_host_set_header(out, "Content-Security-Policy",
                       "default-src 'self'; script-src 'self'; "
                       "style-src 'self'; img-src 'self' data:; "
                       "object-src 'none'; base-uri 'none'; "
                       "frame-ancestors 'self'");
    return oa_host_answer(out, 200, r->mime, r->data, r->size, err);
}

/*
 * Orthanc 1.10.1 drops a trailing slash before plugins see the path, so
 * /anonymizer/app and /anonymizer/app/ both arrive as /anonymizer/app,
 * while the browser resolves relative links against what it asked for.
 * A relative redirect to "app/index.html" is right for the first; for
 * the second it lands on /anonymizer/app/app/index.html, which sends the
 * browser one level up.  Relative, so that it works behind a reverse
 * proxy at a sub-path.
 */
oa_status oa_rest_app_redirect(oa_host_output *out,
                               const oa_rest_request *req, oa_error *err)
{
    (void)err;
    if (strcmp(req->http->url, "/anonymizer/app/app/index.html") == 0)
        oa_host_redirect(out, "../index.html");
    else
        oa_host_redirect(out, "app/index.html");
    return OA_OK;
}
