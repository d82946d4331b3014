/*
 * Export routes: POST /anonymizer/export (with "Anonymize": anonymized
 * on the way out, jobs/job_anonymize_request.c), the ZIP downloads, and the
 * destinations (GET|PUT|DELETE /anonymizer/destinations/{name}, POST
 * .../test).
 */
#define _POSIX_C_SOURCE 200809L

#include "rest_int.h"

#include "../dicom/dicom.h"
#include "../export/export.h"
#include "../jobs/jobs.h"
#include "../services/services.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest archive answered from one buffer (Orthanc's uint32 size). */
#define MAX_ANSWER ((size_t)0xFFFFFFFFu)

/* One chunk of a streamed download: the memory a download costs. */
#define STREAM_CHUNK ((size_t)1 << 20)

/* Seconds a refused download is told to wait (Retry-After). */
#define RETRY_AFTER "10"

/* Downloads answered from one buffer right now (see below). */
static atomic_uint buffered_downloads;

/*
 * Send the file at `path` as a streamed answer (OA_HOST_STREAM: Orthanc
 * 1.12.6 and later): STREAM_CHUNK bytes at a time, so a download of any
 * size costs one chunk of memory.  The file is opened without following
 * a symbolic link.  A failure before the first byte is an error answer;
 * after it, the connection is cut (logged), since the status is sent.
 */
static oa_status stream_file(oa_host_output *out, const char *path,
                             const char *mime, oa_error *err)
{
    struct stat st;
    uint8_t *chunk;
    uint64_t sent = 0;
    oa_status rc;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return oa_error_set(err, errno == ENOENT ? OA_ENOTFOUND : OA_EIO,
                            "cannot open the archive: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return oa_error_set(err, OA_EIO, "the archive is not a file");
    }
    chunk = oa_malloc(STREAM_CHUNK);
    if (chunk == NULL) {
        close(fd);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    rc = oa_host_stream_start(out, mime, err);
    while (rc == OA_OK) {
        ssize_t n = read(fd, chunk, STREAM_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            oa_log(OA_LOG_ERROR,
                   "anonymizer: download cut after %llu bytes: cannot read "
                   "the archive: %s",
                   (unsigned long long)sent, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (oa_host_stream_chunk(out, chunk, (size_t)n, err) != OA_OK) {
            oa_log(OA_LOG_WARNING,
                   "anonymizer: download stopped after %llu bytes: %s",
                   (unsigned long long)sent, err->msg);
            oa_error_clear(err);
            break;
        }
        sent += (uint64_t)n;
    }
    oa_free(chunk);
    close(fd);
    return rc;   /* OA_OK once started: the stream is the answer */
}

/*
 * Where Orthanc cannot stream (1.10.1), a download is the whole archive
 * in memory, twice (ours, then Orthanc's copy): at most
 * "MaxParallelDownloads" at once, the others answered 503 with
 * Retry-After, so that memory stays below that many archives
 * ("ZipMaxSize" each).  True if this one may go; then call
 * download_done() after it.
 */
static bool download_admit(oa_service *s)
{
    unsigned limit = oa_service_config(s)->max_downloads;
    unsigned now = atomic_fetch_add(&buffered_downloads, 1);

    if (now < limit)
        return true;
    atomic_fetch_sub(&buffered_downloads, 1);
    return false;
}

static void download_done(void)
{
    atomic_fetch_sub(&buffered_downloads, 1);
}

static oa_status answer_busy(oa_host_output *out, oa_service *s,
                             oa_error *err)
{
    char details[320];
    cJSON *body = cJSON_CreateObject();
    oa_status rc;

    snprintf(details, sizeof(details),
             "%u ZIP downloads are already running, the most allowed at "
             "once (\"Anonymizer.MaxParallelDownloads\": on Orthanc %s with "
             "a plugin built for SDK %s a download is answered from memory; "
             "both 1.12.6 or later stream it): retry in %s seconds",
             oa_service_config(s)->max_downloads, oa_host_orthanc_version(),
             oa_host_sdk_version(), RETRY_AFTER);
    if (body == NULL ||
        cJSON_AddStringToObject(body, "Error", "Too many downloads") ==
            NULL ||
        cJSON_AddStringToObject(body, "Details", details) == NULL) {
        cJSON_Delete(body);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    oa_host_set_header(out, "Retry-After", RETRY_AFTER);
    rc = oa_rest_answer_json(out, 503, body, err);
    cJSON_Delete(body);
    return rc;
}

oa_status oa_rest_export(oa_host_output *out, const oa_rest_request *req,
                         oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *body = NULL;
    char job[128];
    bool async, wayout;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = oa_rest_body_json(req, false, &body, err);
    /* "Anonymize": on the way out, an anonymization job whose output goes
     * to the Target only (nothing stored in Orthanc) */
    wayout = rc == OA_OK &&
             cJSON_GetObjectItemCaseSensitive(body, "Anonymize") != NULL;
    if (rc == OA_OK && wayout)
        rc = oa_job_wayout_submit(s, body, job, sizeof(job), &async, err);
    else if (rc == OA_OK)
        rc = oa_job_export_submit(s, body, job, sizeof(job), &async, err);
    if (rc == OA_OK) {   /* the audit trail */
        cJSON *d = cJSON_CreateObject();

        if (d != NULL) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(body, "Anonymize"),
                "Profile");

            cJSON_AddStringToObject(d, "Job", job);
            oa_audit_resources(
                d, cJSON_GetObjectItemCaseSensitive(body, "Resources"), NULL,
                NULL);
            if (wayout) {
                cJSON_AddStringToObject(d, "Profile",
                                        cJSON_IsString(p)   ? p->valuestring
                                        : cJSON_IsObject(p) ? "(inline)"
                                                            : "Default");
                cJSON_AddBoolToObject(d, "Stored", false);
            }
            cJSON_AddItemToObject(
                d, "Target",
                oa_audit_target(
                    cJSON_GetObjectItemCaseSensitive(body, "Target")));
            oa_rest_audit(req, wayout ? OA_AUDIT_ANONYMIZATION
                                      : OA_AUDIT_EXPORT,
                          d);
        }
    }
    if (rc == OA_OK)
        rc = oa_rest_answer_job(out, job, async, OA_ENET, err);
    cJSON_Delete(body);
    return rc;
}

oa_status oa_rest_export_archive(oa_host_output *out,
                                 const oa_rest_request *req, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    char path[1400], name[200], disposition[300];
    unsigned number = 1;
    oa_buf data;
    oa_status rc;

    if (s == NULL)
        return err->code;
    if (req->param_count > 2 && req->params[2][0] != '\0') {
        char *end;
        unsigned long n = strtoul(req->params[2], &end, 10);

        if (*end != '\0' || n < 2 || n > 100000)
            return oa_error_set(err, OA_ENOTFOUND, "no such archive");
        number = (unsigned)n;
    }
    rc = oa_job_export_archive(s, req->params[0], number, path, sizeof(path),
                               name, sizeof(name), err);
    if (rc != OA_OK)
        return rc;
    snprintf(disposition, sizeof(disposition),
             "attachment; filename=\"%s\"", name);
    if (oa_host_has(OA_HOST_STREAM)) {
        oa_host_set_header(out, "Content-Disposition", disposition);
        return stream_file(out, path, "application/zip", err);
    }
    if (!download_admit(s))
        return answer_busy(out, s, err);
    oa_buf_init(&data, MAX_ANSWER);
    rc = oa_file_read_nofollow(path, &data, err);   /* defect 4 */
    if (rc == OA_OK) {
        oa_host_set_header(out, "Content-Disposition", disposition);
        rc = oa_host_answer(out, 200, "application/zip", oa_buf_data(&data),
                            data.len, err);
    }
    oa_buf_dispose(&data);
    download_done();
    return rc;
}

oa_status oa_rest_get_destinations(oa_host_output *out,
                                   const oa_rest_request *req, oa_error *err)
{
    return oa_rest_answer_list(out, req, oa_service_destination_names, err);
}

static oa_status answer_destination(oa_host_output *out, oa_service *s,
                                    const char *name, oa_error *err)
{
    cJSON *full = NULL, *pub;
    bool configured;
    oa_status rc = oa_service_destination(s, name, &full, &configured, err);

    if (rc != OA_OK)
        return rc;
    pub = oa_destination_public(full, name, configured);
    cJSON_Delete(full);
    if (pub == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    rc = oa_rest_answer_json(out, 200, pub, err);
    cJSON_Delete(pub);
    return rc;
}

/* The audit trail: a destination saved or removed (its type and host,
 * never a secret). */
static void audit_destination(const oa_rest_request *req, const char *name,
                              const char *action, const cJSON *body)
{
    cJSON *d = cJSON_CreateObject(), *t;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "Type");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "Url");

    if (d == NULL)
        return;
    cJSON_AddStringToObject(d, "Name", name);
    cJSON_AddStringToObject(d, "Action", action);
    t = cJSON_AddObjectToObject(d, "Target");
    if (t != NULL && cJSON_IsString(type))
        cJSON_AddStringToObject(t, "Type", type->valuestring);
    if (t != NULL && cJSON_IsString(url)) {
        char redacted[300];

        oa_export_url_redact(url->valuestring, false, redacted,
                             sizeof(redacted));
        cJSON_AddStringToObject(t, "Url", redacted);
    }
    oa_rest_audit(req, OA_AUDIT_DESTINATION, d);
}

oa_status oa_rest_destination(oa_host_output *out, const oa_rest_request *req,
                              oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    const char *name = req->params[0];
    cJSON *body = NULL;
    oa_status rc;

    if (s == NULL)
        return err->code;
    switch (req->http->method) {
    case OA_HTTP_GET:
        return answer_destination(out, s, name, err);
    case OA_HTTP_PUT:
        rc = oa_rest_body_json(req, false, &body, err);
        if (rc == OA_OK)
            rc = oa_service_destination_put(s, name, body, err);
        if (rc == OA_OK)
            audit_destination(req, name, "put", body);
        cJSON_Delete(body);
        if (rc == OA_OK)
            rc = answer_destination(out, s, name, err);
        return rc;
    case OA_HTTP_DELETE:
        rc = oa_service_destination_delete(s, name, err);
        if (rc != OA_OK)
            return rc;
        audit_destination(req, name, "delete", NULL);
        return oa_rest_answer_empty(out, err);
    default:
        return oa_error_set(err, OA_EINVAL, "method not allowed");
    }
}

oa_status oa_rest_destination_test(oa_host_output *out,
                                   const oa_rest_request *req, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    const oa_export_backend *backend;
    oa_export_target t;
    cJSON *dest = NULL, *answer = NULL;
    char path[1300];
    bool configured;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = oa_service_destination(s, req->params[0], &dest, &configured, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_destination_target(dest, oa_service_config(s), &t, path,
                               sizeof(path), err);
    if (rc != OA_OK)
        goto out;
    backend = oa_export_backend_find(t.type);
    if (backend == NULL) {
        rc = oa_error_set(err, OA_EINVAL, "no backend for %s", t.type);
        goto out;
    }
    rc = backend->ops->test(&t, err);
    /* Whatever failed is the remote side's (or its settings): 502. */
    if (rc == OA_EIO || rc == OA_EINVAL)
        rc = oa_error_set(err, OA_ENET, "%s", err->msg);
    if (rc != OA_OK)
        goto out;
    answer = cJSON_CreateObject();
    if (answer == NULL || cJSON_AddBoolToObject(answer, "Success", 1) == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    rc = oa_rest_answer_json(out, 200, answer, err);
out:
    cJSON_Delete(answer);
    cJSON_Delete(dest);
    return rc;
}
