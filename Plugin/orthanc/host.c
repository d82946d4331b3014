/*
 * The host layer: thin wrappers over the Orthanc plugin SDK.
 *
 * Design.  Orthanc's REST callbacks carry no user pointer, so every route
 * we register goes to one trampoline, rest_callback(), which translates
 * the request into an oa_host_request and hands it to the single
 * dispatcher installed by the rest module.  The dispatcher matches the
 * path against its own route table; Orthanc only needs to know which
 * paths are ours.  All routes are registered with the NoLock variant:
 * Orthanc's locked routes share one global mutex (pitfall 3).
 *
 * Everything here is a short, direct call into the SDK; the only logic is
 * argument checking (the SDK takes uint32 sizes and rejects some HTTP
 * statuses on the generic path) and freeing SDK memory with the SDK.
 */
#include "host.h"

#include <stdio.h>
#include <string.h>

#include <orthanc/OrthancCPlugin.h>

#define OA_STR_(x) #x
#define OA_STR(x) OA_STR_(x)

/*
 * The host context: set once in OrthancPluginInitialize before Orthanc
 * starts serving requests, read-only afterwards, cleared in Finalize.
 */
static struct {
    OrthancPluginContext *ctx;
    oa_host_rest_fn rest_fn;
    void *rest_user;
} host;

void oa_host_init(struct _OrthancPluginContext_t *context)
{
    host.ctx = context;
    host.rest_fn = NULL;
    host.rest_user = NULL;
}

void oa_host_finalize(void)
{
    host.rest_fn = NULL;
    host.rest_user = NULL;
    host.ctx = NULL;
}

bool oa_host_check_version(void)
{
    if (host.ctx == NULL)
        return false;
    return OrthancPluginCheckVersion(host.ctx) != 0;
}

const char *oa_host_orthanc_version(void)
{
    if (host.ctx == NULL || host.ctx->orthancVersion == NULL)
        return "unknown";
    return host.ctx->orthancVersion;
}

const char *oa_host_sdk_version(void)
{
    return OA_STR(ORTHANC_PLUGINS_MINIMAL_MAJOR_NUMBER) "." OA_STR(
        ORTHANC_PLUGINS_MINIMAL_MINOR_NUMBER) "." OA_STR(ORTHANC_PLUGINS_MINIMAL_REVISION_NUMBER);
}

void oa_host_log(oa_log_level level, const char *msg)
{
    if (msg == NULL)
        return;
    if (host.ctx == NULL) {
        fprintf(stderr, "anonymizer: %s\n", msg);
        return;
    }
    switch (level) {
    case OA_LOG_ERROR:
        OrthancPluginLogError(host.ctx, msg);
        break;
    case OA_LOG_WARNING:
        OrthancPluginLogWarning(host.ctx, msg);
        break;
    case OA_LOG_INFO:
    default:
        OrthancPluginLogInfo(host.ctx, msg);
        break;
    }
}

void oa_host_set_description(const char *description)
{
    if (host.ctx != NULL && description != NULL)
        OrthancPluginSetDescription(host.ctx, description);
}

void oa_host_set_root_uri(const char *uri)
{
    if (host.ctx != NULL && uri != NULL)
        OrthancPluginSetRootUri(host.ctx, uri);
}

oa_status oa_host_get_configuration(cJSON **out, oa_error *err)
{
    char *text;
    cJSON *json;

    *out = NULL;
    if (host.ctx == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    text = OrthancPluginGetConfiguration(host.ctx);
    if (text == NULL)
        return oa_error_set(err, OA_EIO,
                            "Orthanc did not give its configuration");
    json = cJSON_Parse(text);
    OrthancPluginFreeString(host.ctx, text);
    if (json == NULL)
        return oa_error_set(err, OA_EPARSE,
                            "Orthanc's configuration is not valid JSON");
    *out = json;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* REST                                                                 */

const char *oa_http_method_name(oa_http_method method)
{
    switch (method) {
    case OA_HTTP_GET: return "GET";
    case OA_HTTP_POST: return "POST";
    case OA_HTTP_PUT: return "PUT";
    case OA_HTTP_DELETE: return "DELETE";
    }
    return "?";
}

/* ASCII case-insensitive equality (header names are ASCII tokens). */
static bool name_equal(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return false;
        if (ca == '\0')
            return true;
    }
}

static const char *lookup(uint32_t count, const char *const *keys,
                          const char *const *values, const char *name)
{
    uint32_t i;

    if (name == NULL || keys == NULL || values == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        if (keys[i] != NULL && name_equal(keys[i], name))
            return values[i];
    }
    return NULL;
}

const char *oa_host_request_header(const oa_host_request *req,
                                   const char *name)
{
    return lookup(req->header_count, req->header_keys, req->header_values,
                  name);
}

const char *oa_host_request_get(const oa_host_request *req, const char *key)
{
    return lookup(req->get_count, req->get_keys, req->get_values, key);
}

void oa_host_set_rest_dispatcher(oa_host_rest_fn fn, void *user)
{
    host.rest_fn = fn;
    host.rest_user = user;
}

void *oa_host_rest_dispatcher_user(void)
{
    return host.rest_user;
}

/* The one Orthanc REST callback: translate and dispatch. */
static OrthancPluginErrorCode rest_callback(OrthancPluginRestOutput *output,
                                            const char *url,
                                            const OrthancPluginHttpRequest *r)
{
    oa_host_request req;

    if (host.ctx == NULL)
        return OrthancPluginErrorCode_InternalError;
    if (host.rest_fn == NULL) {
        OrthancPluginSendHttpStatusCode(host.ctx, output, 404);
        return OrthancPluginErrorCode_Success;
    }

    memset(&req, 0, sizeof(req));
    switch (r->method) {
    case OrthancPluginHttpMethod_Get: req.method = OA_HTTP_GET; break;
    case OrthancPluginHttpMethod_Post: req.method = OA_HTTP_POST; break;
    case OrthancPluginHttpMethod_Put: req.method = OA_HTTP_PUT; break;
    case OrthancPluginHttpMethod_Delete: req.method = OA_HTTP_DELETE; break;
    default:
        OrthancPluginSendMethodNotAllowed(host.ctx, output,
                                          "GET,POST,PUT,DELETE");
        return OrthancPluginErrorCode_Success;
    }
    req.url = url;
    req.body = r->body;
    req.body_size = r->bodySize;
    req.header_count = r->headersCount;
    req.header_keys = r->headersKeys;
    req.header_values = r->headersValues;
    /* Orthanc fills the GET arguments for GET requests only. */
    if (r->method == OrthancPluginHttpMethod_Get) {
        req.get_count = r->getCount;
        req.get_keys = r->getKeys;
        req.get_values = r->getValues;
    }

    host.rest_fn(host.rest_user, (oa_host_output *)output, &req);
    return OrthancPluginErrorCode_Success;
}

void oa_host_register_route(const char *regex)
{
    if (host.ctx != NULL && regex != NULL)
        OrthancPluginRegisterRestCallbackNoLock(host.ctx, regex,
                                                rest_callback);
}

oa_status oa_host_answer(oa_host_output *out, uint16_t status,
                         const char *mime, const void *body, size_t len,
                         oa_error *err)
{
    OrthancPluginRestOutput *output = (OrthancPluginRestOutput *)out;

    if (host.ctx == NULL || out == NULL)
        return oa_error_set(err, OA_EINVAL, "no connection to answer on");
    if (len > UINT32_MAX)
        return oa_error_set(err, OA_ELIMIT,
                            "answer of %zu bytes exceeds Orthanc's 4 GiB",
                            len);
    if (body == NULL && len != 0)
        return oa_error_set(err, OA_EINVAL, "answer body missing");
    if (mime == NULL)
        mime = "application/octet-stream";

    if (status == 200) {
        OrthancPluginAnswerBuffer(host.ctx, output, body, (uint32_t)len,
                                  mime);
        return OA_OK;
    }
    /* The SDK has dedicated calls for these; the generic one throws. */
    if (status < 100 || status > 599 || status == 301 || status == 401 ||
        status == 405)
        return oa_error_set(err, OA_EINVAL,
                            "HTTP status %u needs its own SDK call",
                            (unsigned)status);
    if (len == 0) {
        OrthancPluginSendHttpStatusCode(host.ctx, output, status);
        return OA_OK;
    }
    OrthancPluginSetHttpHeader(host.ctx, output, "Content-Type", mime);
    OrthancPluginSendHttpStatus(host.ctx, output, status, body,
                                (uint32_t)len);
    return OA_OK;
}

void oa_host_answer_method_not_allowed(oa_host_output *out,
                                       const char *allowed)
{
    if (host.ctx != NULL && out != NULL)
        OrthancPluginSendMethodNotAllowed(
            host.ctx, (OrthancPluginRestOutput *)out,
            allowed != NULL ? allowed : "");
}

void oa_host_set_header(oa_host_output *out, const char *key,
                        const char *value)
{
    if (host.ctx != NULL && out != NULL && key != NULL && value != NULL)
        OrthancPluginSetHttpHeader(host.ctx, (OrthancPluginRestOutput *)out,
                                   key, value);
}

void oa_host_set_error_details(oa_host_output *out, const char *details,
                               bool log)
{
    if (host.ctx != NULL && out != NULL && details != NULL)
        OrthancPluginSetHttpErrorDetails(
            host.ctx, (OrthancPluginRestOutput *)out, details, log ? 1 : 0);
}
