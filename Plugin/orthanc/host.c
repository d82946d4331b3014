/*
 * The host layer: thin wrappers over the Orthanc plugin SDK.
 *
 * Design.  Orthanc's REST callbacks carry no user pointer, so every route
 * we register goes to one trampoline, rest_callback(), which translates
 * the request into an oa_host_request and hands it to the single
 * dispatcher installed by the rest module.  The dispatcher matches the
 * path against its own route table; Orthanc only needs to know which
 * paths are ours.  All routes are registered with the NoLock variant:
 * Orthanc's locked routes share one global mutex (doc/orthanc-1.10.1.md,
 * pitfall 3).
 *
 * Everything here is a short, direct call into the SDK; the only logic is
 * argument checking (the SDK takes uint32 sizes and rejects some HTTP
 * statuses on the generic path) and freeing SDK memory with the SDK.
 */
#define _POSIX_C_SOURCE 200809L

#include "host.h"

#include "../services/metrics.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <orthanc/OrthancCPlugin.h>

#define OA_STR_(x) #x
#define OA_STR(x) OA_STR_(x)

/*
 * SDK functions newer than 1.10.1 exist only in newer headers: each use
 * is compiled under its guard, and called only when the running Orthanc
 * has the service (host.feature[], set in oa_host_init).  The four calls
 * that newer headers deprecate (SetDescription, SetRootUri, CreateJob,
 * ExtendOrthancExplorer) are still the only ones an older Orthanc knows:
 * with a newer header three are called on such an Orthanc only (CreateJob
 * on every Orthanc, see create_job()), inside OA_OLD_SDK_CALL_BEGIN/END,
 * which silence that one warning there.
 */
#if !defined(ORTHANC_PLUGINS_VERSION_IS_ABOVE)
#define ORTHANC_PLUGINS_VERSION_IS_ABOVE(a, b, c) 0
#endif
#define OA_SDK_HAS_METRICS_INTEGER ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 1)
#define OA_SDK_HAS_THREAD_NAMES ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 2)
#define OA_SDK_HAS_PLUGIN_NAMED ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 4)
#define OA_SDK_HAS_STREAM ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 6)
#define OA_SDK_HAS_KEY_VALUE ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 8)
#define OA_SDK_HAS_CLEAR_THREAD_NAME ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 13, 0)

#define OA_OLD_SDK_CALL_BEGIN                                                \
    _Pragma("GCC diagnostic push")                                           \
    _Pragma("GCC diagnostic ignored \"-Wdeprecated-declarations\"")
#define OA_OLD_SDK_CALL_END _Pragma("GCC diagnostic pop")

/*
 * The host context: set once in OrthancPluginInitialize before Orthanc
 * starts serving requests, read-only afterwards, cleared in Finalize.
 */
static struct {
    OrthancPluginContext *ctx;
    oa_host_rest_fn rest_fn;
    void *rest_user;
    bool feature[OA_HOST_FEATURE_COUNT];
    bool plugin_named;     /* SetDescription2 & co. (1.12.4) */
    bool clear_thread;     /* ClearCurrentThreadName (1.13.0) */
    bool metrics_integer;  /* SetMetricsIntegerValue (1.12.1) */
} host;

/* The running Orthanc is at least major.minor.revision ("mainline" is). */
static bool running_at_least(int major, int minor, int revision)
{
    return host.ctx != NULL &&
           OrthancPluginCheckVersionAdvanced(host.ctx, major, minor,
                                             revision) != 0;
}

void oa_host_init(struct _OrthancPluginContext_t *context)
{
    memset(&host, 0, sizeof(host));
    host.ctx = context;
    if (context == NULL)
        return;
    /* REST only: no SDK function, so any header will do. */
    host.feature[OA_HOST_LABELS] = running_at_least(1, 12, 0);
#if OA_SDK_HAS_STREAM
    host.feature[OA_HOST_STREAM] = running_at_least(1, 12, 6);
#endif
#if OA_SDK_HAS_KEY_VALUE
    host.feature[OA_HOST_KEY_VALUE] = running_at_least(1, 12, 8);
#endif
#if OA_SDK_HAS_THREAD_NAMES
    host.feature[OA_HOST_THREAD_NAMES] = running_at_least(1, 12, 2);
#endif
#if OA_SDK_HAS_PLUGIN_NAMED
    host.feature[OA_HOST_LOG_MESSAGE] = running_at_least(1, 12, 4);
    host.plugin_named = host.feature[OA_HOST_LOG_MESSAGE];
#endif
#if OA_SDK_HAS_CLEAR_THREAD_NAME
    host.clear_thread = running_at_least(1, 13, 0);
#endif
#if OA_SDK_HAS_METRICS_INTEGER
    host.metrics_integer = running_at_least(1, 12, 1);
#endif
}

void oa_host_finalize(void)
{
    memset(&host, 0, sizeof(host));
}

bool oa_host_check_version(void)
{
    /* 1.10.1: Debian 12's Orthanc, the oldest the plugin is tested on;
     * every service called unconditionally is in it. */
    return running_at_least(1, 10, 1);
}

bool oa_host_has(oa_host_feature feature)
{
    return (unsigned)feature < OA_HOST_FEATURE_COUNT &&
           host.feature[feature];
}

const char *oa_host_feature_name(oa_host_feature feature)
{
    switch (feature) {
    case OA_HOST_STREAM: return "StreamedDownloads";
    case OA_HOST_LABELS: return "Labels";
    case OA_HOST_KEY_VALUE: return "KeyValueStore";
    case OA_HOST_THREAD_NAMES: return "ThreadNames";
    case OA_HOST_LOG_MESSAGE: return "LogMessage";
    default: return "?";
    }
}

void oa_host_set_thread_name(const char *name)
{
#if OA_SDK_HAS_THREAD_NAMES
    if (host.feature[OA_HOST_THREAD_NAMES] && name != NULL)
        OrthancPluginSetCurrentThreadName(host.ctx, name);
#else
    (void)name;
#endif
}

void oa_host_clear_thread_name(void)
{
#if OA_SDK_HAS_CLEAR_THREAD_NAME
    if (host.feature[OA_HOST_THREAD_NAMES] && host.clear_thread)
        OrthancPluginClearCurrentThreadName(host.ctx);
#endif
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
#if OA_SDK_HAS_PLUGIN_NAMED
    if (host.feature[OA_HOST_LOG_MESSAGE]) {
        OrthancPluginLogLevel l = level == OA_LOG_ERROR
                                      ? OrthancPluginLogLevel_Error
                                  : level == OA_LOG_WARNING
                                      ? OrthancPluginLogLevel_Warning
                                      : OrthancPluginLogLevel_Info;

        /* Our messages name their module; no file and line of ours. */
        OrthancPluginLogMessage(host.ctx, msg, OA_PLUGIN_NAME, "anonymizer",
                                0, OrthancPluginLogCategory_Generic, l);
        return;
    }
#endif
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
    if (host.ctx == NULL || description == NULL)
        return;
#if OA_SDK_HAS_PLUGIN_NAMED
    if (host.plugin_named) {
        OrthancPluginSetDescription2(host.ctx, OA_PLUGIN_NAME, description);
        return;
    }
#endif
    OA_OLD_SDK_CALL_BEGIN
    OrthancPluginSetDescription(host.ctx, description);
    OA_OLD_SDK_CALL_END
}

void oa_host_set_root_uri(const char *uri)
{
    if (host.ctx == NULL || uri == NULL)
        return;
#if OA_SDK_HAS_PLUGIN_NAMED
    if (host.plugin_named) {
        OrthancPluginSetRootUri2(host.ctx, OA_PLUGIN_NAME, uri);
        return;
    }
#endif
    OA_OLD_SDK_CALL_BEGIN
    OrthancPluginSetRootUri(host.ctx, uri);
    OA_OLD_SDK_CALL_END
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

oa_status oa_host_stream_start(oa_host_output *out, const char *mime,
                               oa_error *err)
{
#if OA_SDK_HAS_STREAM
    OrthancPluginErrorCode code;

    if (!host.feature[OA_HOST_STREAM] || out == NULL)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "this Orthanc cannot stream answers");
    code = OrthancPluginStartStreamAnswer(host.ctx,
                                          (OrthancPluginRestOutput *)out,
                                          mime != NULL
                                              ? mime
                                              : "application/octet-stream");
    if (code != OrthancPluginErrorCode_Success)
        return oa_error_set(err, OA_ENET, "cannot start the answer: %s",
                            OrthancPluginGetErrorDescription(host.ctx, code));
    return OA_OK;
#else
    (void)out;
    (void)mime;
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "built without streamed answers (SDK < 1.12.6)");
#endif
}

oa_status oa_host_stream_chunk(oa_host_output *out, const void *data,
                               size_t len, oa_error *err)
{
#if OA_SDK_HAS_STREAM
    OrthancPluginErrorCode code;

    if (!host.feature[OA_HOST_STREAM] || out == NULL)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "this Orthanc cannot stream answers");
    if (len > UINT32_MAX)
        return oa_error_set(err, OA_ELIMIT, "chunk of %zu bytes", len);
    if (len == 0)
        return OA_OK;
    code = OrthancPluginSendStreamChunk(host.ctx,
                                        (OrthancPluginRestOutput *)out, data,
                                        (uint32_t)len);
    if (code != OrthancPluginErrorCode_Success)
        return oa_error_set(err, OA_ENET,
                            "the client closed the connection (%s)",
                            OrthancPluginGetErrorDescription(host.ctx, code));
    return OA_OK;
#else
    (void)out;
    (void)data;
    (void)len;
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "built without streamed answers (SDK < 1.12.6)");
#endif
}

void oa_host_redirect(oa_host_output *out, const char *location)
{
    if (host.ctx != NULL && out != NULL && location != NULL)
        OrthancPluginRedirect(host.ctx, (OrthancPluginRestOutput *)out,
                              location);
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

/* ------------------------------------------------------------------ */
/* Orthanc's REST API                                                   */

static OrthancPluginHttpMethod sdk_method(oa_http_method method)
{
    switch (method) {
    case OA_HTTP_POST: return OrthancPluginHttpMethod_Post;
    case OA_HTTP_PUT: return OrthancPluginHttpMethod_Put;
    case OA_HTTP_DELETE: return OrthancPluginHttpMethod_Delete;
    case OA_HTTP_GET:
    default: return OrthancPluginHttpMethod_Get;
    }
}

oa_status oa_host_rest(oa_http_method method, const char *uri,
                       const void *body, size_t body_size, oa_buf *answer,
                       uint16_t *http_status, oa_error *err)
{
    OrthancPluginMemoryBuffer buf;
    OrthancPluginErrorCode code;
    uint16_t status = 0;
    oa_status rc = OA_OK;

    *http_status = 0;
    if (host.ctx == NULL || uri == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    if (body_size > UINT32_MAX)
        return oa_error_set(err, OA_ELIMIT,
                            "request body of %zu bytes exceeds 4 GiB",
                            body_size);
    memset(&buf, 0, sizeof(buf));
    code = OrthancPluginCallRestApi(
        host.ctx, &buf, NULL, &status, sdk_method(method), uri, 0, NULL,
        NULL, body, (uint32_t)body_size, 0 /* built-in routes only */);
    if (code == OrthancPluginErrorCode_UnknownResource) {
        status = 404;
    } else if (code != OrthancPluginErrorCode_Success) {
        /* Orthanc raises some HTTP errors as error codes. */
        const char *why = OrthancPluginGetErrorDescription(host.ctx, code);

        if (status == 0) {
            if (code == OrthancPluginErrorCode_BadFileFormat ||
                code == OrthancPluginErrorCode_BadRequest ||
                code == OrthancPluginErrorCode_BadJson ||
                code == OrthancPluginErrorCode_ParameterOutOfRange ||
                code == OrthancPluginErrorCode_InexistentTag)
                status = 400;
            else
                rc = oa_error_set(err, OA_EIO, "%s %s: %s",
                                  oa_http_method_name(method), uri,
                                  why != NULL ? why : "Orthanc error");
        }
    }
    if (rc == OA_OK && answer != NULL && buf.data != NULL && buf.size > 0 &&
        method != OA_HTTP_DELETE) {
        if (oa_buf_append(answer, buf.data, buf.size) != OA_OK)
            rc = oa_error_set(err, OA_ELIMIT,
                              "answer of %s too large (%u bytes)", uri,
                              (unsigned)buf.size);
    }
    if (buf.data != NULL)
        OrthancPluginFreeMemoryBuffer(host.ctx, &buf);
    *http_status = status;
    return rc;
}

/* ------------------------------------------------------------------ */
/* DICOM files                                                          */

oa_status oa_host_get_dicom(const char *instance_id, oa_host_blob *out,
                            oa_error *err)
{
    OrthancPluginMemoryBuffer *buf;
    OrthancPluginErrorCode code;

    memset(out, 0, sizeof(*out));
    if (host.ctx == NULL || instance_id == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    buf = oa_calloc(1, sizeof(*buf));
    if (buf == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    code = OrthancPluginGetDicomForInstance(host.ctx, buf, instance_id);
    if (code != OrthancPluginErrorCode_Success) {
        oa_free(buf);
        if (code == OrthancPluginErrorCode_UnknownResource ||
            code == OrthancPluginErrorCode_InexistentItem)
            return oa_error_set(err, OA_ENOTFOUND,
                                "instance %s is not in Orthanc (deleted?)",
                                instance_id);
        return oa_error_set(err, OA_EIO,
                            "cannot read instance %s from Orthanc: %s",
                            instance_id,
                            OrthancPluginGetErrorDescription(host.ctx, code));
    }
    out->data = buf->data;
    out->size = buf->size;
    out->priv = buf;
    return OA_OK;
}

oa_status oa_host_transcode(const uint8_t *data, size_t size,
                            const char *transfer_syntax, oa_host_blob *out,
                            oa_error *err)
{
    OrthancPluginDicomInstance *inst;
    OrthancPluginMemoryBuffer *buf;
    OrthancPluginErrorCode code;

    memset(out, 0, sizeof(*out));
    if (host.ctx == NULL || data == NULL || transfer_syntax == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    if (size > UINT32_MAX)
        return oa_error_set(err, OA_ELIMIT,
                            "a DICOM file of %zu bytes is too large to "
                            "transcode", size);
    inst = OrthancPluginTranscodeDicomInstance(host.ctx, data,
                                               (uint32_t)size,
                                               transfer_syntax);
    if (inst == NULL)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Orthanc cannot transcode this instance to %s "
                            "(no decoder for its transfer syntax)",
                            transfer_syntax);
    buf = oa_calloc(1, sizeof(*buf));
    if (buf == NULL) {
        OrthancPluginFreeDicomInstance(host.ctx, inst);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    code = OrthancPluginSerializeDicomInstance(host.ctx, buf, inst);
    OrthancPluginFreeDicomInstance(host.ctx, inst);
    if (code != OrthancPluginErrorCode_Success) {
        oa_free(buf);
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "Orthanc could not write the transcoded "
                            "instance: %s",
                            OrthancPluginGetErrorDescription(host.ctx, code));
    }
    out->data = buf->data;
    out->size = buf->size;
    out->priv = buf;
    return OA_OK;
}

void oa_host_blob_free(oa_host_blob *blob)
{
    if (blob == NULL)
        return;
    if (blob->priv != NULL) {
        OrthancPluginMemoryBuffer *buf = blob->priv;

        if (host.ctx != NULL && buf->data != NULL)
            OrthancPluginFreeMemoryBuffer(host.ctx, buf);
        oa_free(buf);
    }
    memset(blob, 0, sizeof(*blob));
}

/* ------------------------------------------------------------------ */
/* Global properties                                                    */

oa_status oa_host_get_property(int32_t property, char **out, oa_error *err)
{
    char *value;

    *out = NULL;
    if (host.ctx == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    /* The SDK returns the default when unset: "" tells "never set". */
    value = OrthancPluginGetGlobalProperty(host.ctx, property, "");
    if (value == NULL)
        return oa_error_set(err, OA_EIO,
                            "cannot read global property %d (is Orthanc's "
                            "database open yet?)",
                            (int)property);
    if (value[0] != '\0') {
        *out = oa_strdup(value);
        if (*out == NULL) {
            OrthancPluginFreeString(host.ctx, value);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    }
    OrthancPluginFreeString(host.ctx, value);
    return OA_OK;
}

oa_status oa_host_set_property(int32_t property, const char *value,
                               oa_error *err)
{
    OrthancPluginErrorCode code;

    if (host.ctx == NULL || value == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    if (property < OA_HOST_FIRST_PLUGIN_PROPERTY)
        return oa_error_set(err, OA_EINVAL,
                            "global property %d is reserved to Orthanc",
                            (int)property);
    code = OrthancPluginSetGlobalProperty(host.ctx, property, value);
    if (code != OrthancPluginErrorCode_Success)
        return oa_error_set(err, OA_EIO,
                            "cannot write global property %d: %s",
                            (int)property,
                            OrthancPluginGetErrorDescription(host.ctx, code));
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */

/*
 * What Orthanc holds as the job: our ops and our job.  The trampolines
 * below unwrap it; finalize frees it.
 */
typedef struct host_job {
    const oa_host_job_ops *ops;
    void *job;
    bool running;              /* between a step and the next stop */
    bool started;              /* `begun` is set */
    struct timespec begun;     /* first step, for the job's duration */
} host_job;

/* The metrics of jobs (services/metrics.h): running, last duration. */
static void job_now_running(host_job *hj)
{
    if (hj->running)
        return;
    hj->running = true;
    oa_metrics_add(OA_METRIC_JOBS_RUNNING, 1);
    if (!hj->started) {
        hj->started = true;
        clock_gettime(CLOCK_MONOTONIC, &hj->begun);
    }
}

static void job_not_running(host_job *hj, bool ended)
{
    struct timespec now;

    if (hj->running) {
        hj->running = false;
        oa_metrics_add(OA_METRIC_JOBS_RUNNING, -1);
    }
    if (ended && hj->started) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        oa_metrics_job_ended((double)(now.tv_sec - hj->begun.tv_sec) +
                             (double)(now.tv_nsec - hj->begun.tv_nsec) /
                                 1e9);
        hj->started = false;
    }
}

static void job_finalize(void *p)
{
    host_job *hj = p;

    if (hj == NULL)
        return;
    job_not_running(hj, false);
    if (hj->ops->finalize != NULL)
        hj->ops->finalize(hj->job);
    oa_free(hj);
}

static float job_progress(void *p)
{
    host_job *hj = p;

    return hj->ops->progress != NULL ? hj->ops->progress(hj->job) : 0.0f;
}

static const char *job_content(void *p)
{
    host_job *hj = p;

    return hj->ops->content != NULL ? hj->ops->content(hj->job) : "{}";
}

static const char *job_serialized(void *p)
{
    host_job *hj = p;

    return hj->ops->serialized != NULL ? hj->ops->serialized(hj->job)
                                       : NULL;
}

static OrthancPluginJobStepStatus job_step(void *p)
{
    host_job *hj = p;

    job_now_running(hj);
    switch (hj->ops->step(hj->job)) {
    case OA_JOB_STEP_SUCCESS: return OrthancPluginJobStepStatus_Success;
    case OA_JOB_STEP_CONTINUE: return OrthancPluginJobStepStatus_Continue;
    case OA_JOB_STEP_FAILURE:
    default: return OrthancPluginJobStepStatus_Failure;
    }
}

static OrthancPluginErrorCode job_stop(void *p,
                                       OrthancPluginJobStopReason reason)
{
    host_job *hj = p;
    oa_job_stop_reason r;

    switch (reason) {
    case OrthancPluginJobStopReason_Success: r = OA_JOB_STOP_SUCCESS; break;
    case OrthancPluginJobStopReason_Paused: r = OA_JOB_STOP_PAUSED; break;
    case OrthancPluginJobStopReason_Canceled: r = OA_JOB_STOP_CANCELED; break;
    case OrthancPluginJobStopReason_Failure:
    default: r = OA_JOB_STOP_FAILURE; break;
    }
    job_not_running(hj, r == OA_JOB_STOP_SUCCESS ||
                            r == OA_JOB_STOP_FAILURE);
    if (hj->ops->stop != NULL && hj->ops->stop(hj->job, r) != OA_OK)
        return OrthancPluginErrorCode_Plugin;
    return OrthancPluginErrorCode_Success;
}

static OrthancPluginErrorCode job_reset(void *p)
{
    host_job *hj = p;

    if (hj->ops->reset != NULL && hj->ops->reset(hj->job) != OA_OK)
        return OrthancPluginErrorCode_Plugin;
    return OrthancPluginErrorCode_Success;
}

static OrthancPluginJob *create_job(const oa_host_job_ops *ops, void *job)
{
    host_job *hj;
    OrthancPluginJob *oj;

    hj = oa_calloc(1, sizeof(*hj));
    if (hj == NULL)
        return NULL;
    hj->ops = ops;
    hj->job = job;
    /* CreateJob, deprecated since 1.11.3, on every Orthanc: with
     * CreateJob2 (content and serialization in Orthanc's buffers) Orthanc
     * 1.12.7 saved no such job at shutdown (its jobs registry was
     * {"Jobs": {}}, test_restart.py case A failed), while CreateJob keeps
     * them on 1.10.1, 1.12.7 and 1.13.0.  Orthanc still serves it. */
    OA_OLD_SDK_CALL_BEGIN
    oj = OrthancPluginCreateJob(host.ctx, hj, job_finalize, ops->type,
                                job_progress, job_content, job_serialized,
                                job_step, job_stop, job_reset);
    OA_OLD_SDK_CALL_END
    if (oj == NULL)
        oa_free(hj);
    return oj;
}

oa_status oa_host_submit_job(const oa_host_job_ops *ops, void *job,
                             int priority, char *id, size_t id_size,
                             oa_error *err)
{
    OrthancPluginJob *oj;
    char *jid;

    if (host.ctx == NULL || ops == NULL || ops->step == NULL) {
        if (ops != NULL && ops->finalize != NULL)
            ops->finalize(job);
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    }
    oj = create_job(ops, job);
    if (oj == NULL) {
        if (ops->finalize != NULL)
            ops->finalize(job);
        return oa_error_set(err, OA_EIO, "Orthanc refused to create a job");
    }
    /* From here Orthanc owns the job, also if submitting fails. */
    jid = OrthancPluginSubmitJob(host.ctx, oj, priority);
    if (jid == NULL)
        return oa_error_set(err, OA_EIO, "Orthanc refused to submit a job");
    snprintf(id, id_size, "%s", jid);
    OrthancPluginFreeString(host.ctx, jid);
    return OA_OK;
}

static oa_host_job_unserializer unserializer_fn;

static OrthancPluginJob *unserialize_trampoline(const char *type,
                                                const char *serialized)
{
    const oa_host_job_ops *ops = NULL;
    OrthancPluginJob *oj;
    void *job;

    if (unserializer_fn == NULL || type == NULL || serialized == NULL)
        return NULL;
    job = unserializer_fn(type, serialized, &ops);
    if (job == NULL || ops == NULL)
        return NULL;
    oj = create_job(ops, job);
    if (oj == NULL && ops->finalize != NULL)
        ops->finalize(job);
    return oj;
}

void oa_host_register_job_unserializer(oa_host_job_unserializer fn)
{
    if (host.ctx == NULL)
        return;
    unserializer_fn = fn;
    OrthancPluginRegisterJobsUnserializer(host.ctx, unserialize_trampoline);
}

/* ------------------------------------------------------------------ */
/* Orthanc peers                                                        */

oa_status oa_host_peer_get(const char *name, const char *uri,
                           unsigned timeout, uint16_t *http_status,
                           oa_error *err)
{
    OrthancPluginPeers *peers;
    OrthancPluginMemoryBuffer answer;
    uint32_t count, i;
    oa_status rc = OA_OK;
    bool found = false;

    *http_status = 0;
    if (host.ctx == NULL || name == NULL || uri == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    peers = OrthancPluginGetPeers(host.ctx);
    if (peers == NULL)
        return oa_error_set(err, OA_EIO, "Orthanc gave no list of peers");
    count = OrthancPluginGetPeersCount(host.ctx, peers);
    for (i = 0; i < count && !found; i++) {
        const char *n = OrthancPluginGetPeerName(host.ctx, peers, i);

        if (n == NULL || strcmp(n, name) != 0)
            continue;
        found = true;
        memset(&answer, 0, sizeof(answer));
        /* A failure (no answer at all) leaves the status 0. */
        OrthancPluginCallPeerApi(host.ctx, &answer, NULL, http_status, peers,
                                 i, OrthancPluginHttpMethod_Get, uri, 0, NULL,
                                 NULL, NULL, 0, timeout);
        if (answer.data != NULL)
            OrthancPluginFreeMemoryBuffer(host.ctx, &answer);
    }
    OrthancPluginFreePeers(host.ctx, peers);
    if (!found)
        rc = oa_error_set(err, OA_ENOTFOUND, "Orthanc knows no peer %s", name);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Events, Explorer, misc                                               */

static oa_host_change_fn change_fn;

static OrthancPluginErrorCode change_trampoline(OrthancPluginChangeType type,
                                                OrthancPluginResourceType rt,
                                                const char *id)
{
    oa_host_change change;

    (void)rt;
    if (change_fn == NULL)
        return OrthancPluginErrorCode_Success;
    switch (type) {
    case OrthancPluginChangeType_OrthancStarted:
        change = OA_CHANGE_ORTHANC_STARTED;
        break;
    case OrthancPluginChangeType_OrthancStopped:
        change = OA_CHANGE_ORTHANC_STOPPED;
        break;
    case OrthancPluginChangeType_StableStudy:
        change = OA_CHANGE_STABLE_STUDY;
        break;
    default:
        return OrthancPluginErrorCode_Success;   /* not of interest */
    }
    change_fn(change, id);
    return OrthancPluginErrorCode_Success;
}

void oa_host_register_on_change(oa_host_change_fn fn)
{
    if (host.ctx == NULL)
        return;
    change_fn = fn;
    OrthancPluginRegisterOnChangeCallback(host.ctx, change_trampoline);
}

void oa_host_extend_explorer(const char *javascript)
{
    if (host.ctx == NULL || javascript == NULL)
        return;
#if OA_SDK_HAS_PLUGIN_NAMED
    if (host.plugin_named) {
        OrthancPluginExtendOrthancExplorer2(host.ctx, OA_PLUGIN_NAME,
                                            javascript);
        return;
    }
#endif
    OA_OLD_SDK_CALL_BEGIN
    OrthancPluginExtendOrthancExplorer(host.ctx, javascript);
    OA_OLD_SDK_CALL_END
}

/* ------------------------------------------------------------------ */
/* Metrics                                                              */

static oa_host_metrics_fn metrics_fn;

static void metrics_trampoline(void)
{
    if (metrics_fn != NULL)
        metrics_fn();
}

void oa_host_register_metrics(oa_host_metrics_fn fn)
{
    if (host.ctx == NULL)
        return;
    metrics_fn = fn;
    OrthancPluginRegisterRefreshMetricsCallback(host.ctx,
                                                metrics_trampoline);
}

void oa_host_set_metric(const char *name, double value, bool integer)
{
    if (host.ctx == NULL || name == NULL)
        return;
#if OA_SDK_HAS_METRICS_INTEGER
    if (integer && host.metrics_integer) {
        OrthancPluginSetMetricsIntegerValue(host.ctx, name, (int64_t)value,
                                            OrthancPluginMetricsType_Default);
        return;
    }
#else
    (void)integer;
#endif
    OrthancPluginSetMetricsValue(host.ctx, name, (float)value,
                                 OrthancPluginMetricsType_Default);
}

/* ------------------------------------------------------------------ */
/* Key-value stores                                                     */

#if OA_SDK_HAS_KEY_VALUE
static oa_status kv_ready(const char *store, const char *key, oa_error *err)
{
    if (!host.feature[OA_HOST_KEY_VALUE])
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "this Orthanc has no key-value store");
    if (store == NULL || key == NULL)
        return oa_error_set(err, OA_EINVAL, "no key");
    return OA_OK;
}
#endif

oa_status oa_host_kv_put(const char *store, const char *key,
                         const char *value, oa_error *err)
{
#if OA_SDK_HAS_KEY_VALUE
    OrthancPluginErrorCode code;
    size_t len;
    oa_status rc = kv_ready(store, key, err);

    if (rc != OA_OK)
        return rc;
    if (value == NULL)
        return oa_error_set(err, OA_EINVAL, "no value");
    len = strlen(value);
    if (len > UINT32_MAX)
        return oa_error_set(err, OA_ELIMIT, "value of %zu bytes", len);
    code = OrthancPluginStoreKeyValue(host.ctx, store, key, value,
                                      (uint32_t)len);
    if (code != OrthancPluginErrorCode_Success)
        return oa_error_set(err, OA_EIO,
                            "cannot write %s in Orthanc's key-value store "
                            "%s: %s",
                            key, store,
                            OrthancPluginGetErrorDescription(host.ctx, code));
    return OA_OK;
#else
    (void)store;
    (void)key;
    (void)value;
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "built without key-value stores (SDK < 1.12.8)");
#endif
}

oa_status oa_host_kv_get(const char *store, const char *key, char **value,
                         oa_error *err)
{
#if OA_SDK_HAS_KEY_VALUE
    OrthancPluginMemoryBuffer buf;
    OrthancPluginErrorCode code;
    uint8_t found = 0;
    oa_status rc;

    *value = NULL;
    rc = kv_ready(store, key, err);
    if (rc != OA_OK)
        return rc;
    memset(&buf, 0, sizeof(buf));
    code = OrthancPluginGetKeyValue(host.ctx, &found, &buf, store, key);
    if (code != OrthancPluginErrorCode_Success)
        return oa_error_set(err, OA_EIO,
                            "cannot read %s from Orthanc's key-value store "
                            "%s: %s",
                            key, store,
                            OrthancPluginGetErrorDescription(host.ctx, code));
    if (found) {
        *value = oa_malloc((size_t)buf.size + 1);
        if (*value == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        else {
            if (buf.size > 0)
                memcpy(*value, buf.data, buf.size);
            (*value)[buf.size] = '\0';
        }
    }
    if (buf.data != NULL)
        OrthancPluginFreeMemoryBuffer(host.ctx, &buf);
    return rc;
#else
    (void)store;
    (void)key;
    *value = NULL;
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "built without key-value stores (SDK < 1.12.8)");
#endif
}

oa_status oa_host_kv_delete(const char *store, const char *key,
                            oa_error *err)
{
#if OA_SDK_HAS_KEY_VALUE
    OrthancPluginErrorCode code;
    oa_status rc = kv_ready(store, key, err);

    if (rc != OA_OK)
        return rc;
    code = OrthancPluginDeleteKeyValue(host.ctx, store, key);
    if (code != OrthancPluginErrorCode_Success)
        return oa_error_set(err, OA_EIO,
                            "cannot delete %s from Orthanc's key-value "
                            "store %s: %s",
                            key, store,
                            OrthancPluginGetErrorDescription(host.ctx, code));
    return OA_OK;
#else
    (void)store;
    (void)key;
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "built without key-value stores (SDK < 1.12.8)");
#endif
}

/* Bound on one store's keys (a store never holds more in practice). */
#define KV_MAX_KEYS ((size_t)1 << 22)

oa_status oa_host_kv_keys(const char *store, char ***keys, size_t *count,
                          oa_error *err)
{
#if OA_SDK_HAS_KEY_VALUE
    OrthancPluginKeysValuesIterator *it;
    char **list = NULL;
    size_t n = 0, cap = 0;
    oa_status rc = kv_ready(store, "", err);

    *keys = NULL;
    *count = 0;
    if (rc != OA_OK)
        return rc;
    it = OrthancPluginCreateKeysValuesIterator(host.ctx, store);
    if (it == NULL)
        return oa_error_set(err, OA_EIO,
                            "cannot list Orthanc's key-value store %s",
                            store);
    for (;;) {
        /* Despite its name and the header's comment, Orthanc sets this
         * flag when the iterator moved to an element (1.13.0; and the
         * SDK's own C++ wrapper reads it so: Next() is "done != 0"). */
        uint8_t has_element = 0;
        const char *k;
        OrthancPluginErrorCode code =
            OrthancPluginKeysValuesIteratorNext(host.ctx, &has_element, it);

        if (code != OrthancPluginErrorCode_Success) {
            rc = oa_error_set(err, OA_EIO,
                              "cannot list Orthanc's key-value store %s: %s",
                              store,
                              OrthancPluginGetErrorDescription(host.ctx,
                                                               code));
            break;
        }
        if (!has_element)
            break;
        k = OrthancPluginKeysValuesIteratorGetKey(host.ctx, it);
        if (k == NULL) {
            rc = oa_error_set(err, OA_EIO,
                              "Orthanc's key-value store %s gave no key",
                              store);
            break;
        }
        if (n >= KV_MAX_KEYS) {
            rc = oa_error_set(err, OA_ELIMIT,
                              "key-value store %s holds more than %zu keys",
                              store, KV_MAX_KEYS);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **grown = oa_realloc(list, ncap * sizeof(*grown));

            if (grown == NULL) {
                rc = oa_error_set(err, OA_ENOMEM, "out of memory");
                break;
            }
            list = grown;
            cap = ncap;
        }
        list[n] = oa_strdup(k);
        if (list[n] == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    OrthancPluginFreeKeysValuesIterator(host.ctx, it);
    if (rc != OA_OK) {
        while (n > 0)
            oa_free(list[--n]);
        oa_free(list);
        return rc;
    }
    *keys = list;
    *count = n;
    return OA_OK;
#else
    (void)store;
    *keys = NULL;
    *count = 0;
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "built without key-value stores (SDK < 1.12.8)");
#endif
}

oa_status oa_host_generate_uuid(char out[37], oa_error *err)
{
    char *uuid;

    out[0] = '\0';
    if (host.ctx == NULL)
        return oa_error_set(err, OA_EINVAL, "plugin host not initialized");
    uuid = OrthancPluginGenerateUuid(host.ctx);
    if (uuid == NULL)
        return oa_error_set(err, OA_EIO, "Orthanc gave no UUID");
    snprintf(out, 37, "%s", uuid);
    OrthancPluginFreeString(host.ctx, uuid);
    return OA_OK;
}
