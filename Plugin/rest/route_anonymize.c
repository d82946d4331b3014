/*
 * POST /anonymizer/anonymize, and the shortcuts used by Orthanc Explorer
 * and Lua: POST /anonymizer/studies/{id}/anonymize and
 * /anonymizer/patients/{id}/anonymize; POST /anonymizer/copies, which of
 * some studies are anonymized copies (the web page marks them).
 */
#include "rest_int.h"

#include "../jobs/jobs.h"
#include "../services/services.h"

#include <stdio.h>
#include <string.h>

static oa_status submit(oa_host_output *out, const oa_rest_request *req,
                        const char *level, const char *id, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *body = NULL;
    char job[128];
    bool async;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = oa_rest_body_json(req, level != NULL, &body, err);
    if (rc != OA_OK)
        return rc;
    if (level != NULL &&
        cJSON_GetObjectItemCaseSensitive(body, "Resources") != NULL) {
        rc = oa_error_set(err, OA_EINVAL,
                          "\"Resources\" is not allowed here: the resource "
                          "is in the path (or use POST "
                          "/anonymizer/anonymize)");
        goto out;
    }
    rc = oa_job_anonymize_submit(s, body, level, id, job, sizeof(job), &async,
                                 err);
    if (rc != OA_OK)
        goto out;
    {
        /* the audit trail: who, which resources, which profile, where */
        cJSON *d = cJSON_CreateObject();
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "Profile");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(body, "Export");

        if (d != NULL) {
            cJSON_AddStringToObject(d, "Job", job);
            oa_audit_resources(
                d, cJSON_GetObjectItemCaseSensitive(body, "Resources"),
                level, id);
            cJSON_AddStringToObject(d, "Profile",
                                    cJSON_IsString(p)   ? p->valuestring
                                    : cJSON_IsObject(p) ? "(inline)"
                                                        : "Default");
            if (x != NULL)   /* "Export": {"Target": {...}} */
                cJSON_AddItemToObject(
                    d, "Target",
                    oa_audit_target(
                        cJSON_GetObjectItemCaseSensitive(x, "Target")));
            oa_rest_audit(req, OA_AUDIT_ANONYMIZATION, d);
        }
    }
    rc = oa_rest_answer_job(out, job, async, OA_EIO, err);
out:
    cJSON_Delete(body);
    return rc;
}

oa_status oa_rest_anonymize(oa_host_output *out, const oa_rest_request *req,
                            oa_error *err)
{
    return submit(out, req, NULL, NULL, err);
}

oa_status oa_rest_anonymize_resource(oa_host_output *out,
                                     const oa_rest_request *req,
                                     oa_error *err)
{
    const char *level =
        strcmp(req->params[0], "patients") == 0 ? "Patient" : "Study";

    return submit(out, req, level, req->params[1], err);
}

#define MAX_COPIES_ASKED 1000

oa_status oa_rest_copies(oa_host_output *out, const oa_rest_request *req,
                         oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *body = NULL, *answer = NULL, *cache = NULL;
    const cJSON *studies, *st;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = oa_rest_body_json(req, false, &body, err);
    if (rc != OA_OK)
        return rc;
    studies = cJSON_GetObjectItemCaseSensitive(body, "Studies");
    if (!cJSON_IsArray(studies)) {
        rc = oa_error_set(err, OA_EINVAL,
                          "expected {\"Studies\": [Orthanc study IDs]}");
        goto out;
    }
    if (cJSON_GetArraySize(studies) > MAX_COPIES_ASKED) {
        rc = oa_error_set(err, OA_ELIMIT,
                          "more than %d studies in one request: ask in parts",
                          MAX_COPIES_ASKED);
        goto out;
    }
    answer = cJSON_CreateObject();
    cache = cJSON_CreateObject();
    if (answer == NULL || cache == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(st, studies) {
        cJSON *origin = NULL;

        if (!cJSON_IsString(st)) {
            rc = oa_error_set(err, OA_EINVAL,
                              "\"Studies\" must hold strings (study IDs)");
            goto out;
        }
        rc = oa_job_study_origin(s, st->valuestring, cache, &origin, err);
        if (rc != OA_OK)
            goto out;
        if (origin != NULL &&
            cJSON_GetObjectItemCaseSensitive(answer, st->valuestring) == NULL)
            cJSON_AddItemToObject(answer, st->valuestring, origin);
        else
            cJSON_Delete(origin);
    }
    rc = oa_rest_answer_json(out, 200, answer, err);
out:
    cJSON_Delete(cache);
    cJSON_Delete(answer);
    cJSON_Delete(body);
    return rc;
}
