/*
 * Export routes: POST /anonymizer/export, the ZIP downloads, and the
 * destinations (GET|PUT|DELETE /anonymizer/destinations/{name}, POST
 * .../test).
 */
#include "rest_int.h"

#include "../dicom/dicom.h"
#include "../export/export.h"
#include "../jobs/jobs.h"
#include "../services/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest archive answered (Orthanc's uint32 answer size). */
#define MAX_ANSWER ((size_t)0xFFFFFFFFu)

oa_status oa_rest_export(oa_host_output *out, const oa_rest_request *req,
                         oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *body = NULL;
    char job[128];
    bool async;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = oa_rest_body_json(req, false, &body, err);
    if (rc == OA_OK)
        rc = oa_job_export_submit(s, body, job, sizeof(job), &async, err);
    if (rc == OA_OK) {   /* the audit trail */
        cJSON *d = cJSON_CreateObject();

        if (d != NULL) {
            cJSON_AddStringToObject(d, "Job", job);
            oa_audit_resources(
                d, cJSON_GetObjectItemCaseSensitive(body, "Resources"), NULL,
                NULL);
            cJSON_AddItemToObject(
                d, "Target",
                oa_audit_target(
                    cJSON_GetObjectItemCaseSensitive(body, "Target")));
            oa_rest_audit(req, OA_AUDIT_EXPORT, d);
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
    oa_buf_init(&data, MAX_ANSWER);
    rc = oa_file_read_nofollow(path, &data, err);   /* defect 4 */
    if (rc == OA_OK) {
        snprintf(disposition, sizeof(disposition),
                 "attachment; filename=\"%s\"", name);
        oa_host_set_header(out, "Content-Disposition", disposition);
        rc = oa_host_answer(out, 200, "application/zip", oa_buf_data(&data),
                            data.len, err);
    }
    oa_buf_dispose(&data);
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
