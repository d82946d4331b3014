/*
 * POST /anonymizer/anonymize, and the shortcuts used by Orthanc Explorer
 * and Lua: POST /anonymizer/studies/{id}/anonymize and
 * /anonymizer/patients/{id}/anonymize.
 */
#include "rest_int.h"

#include "../jobs/jobs.h"

#include <stdio.h>
#include <string.h>

static oa_status submit(oa_host_output *out, const oa_rest_request *req,
                        const char *level, const char *id, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *body = NULL, *answer = NULL;
    char job[128], path[160];
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
    rc = oa_anonymize_submit(s, body, level, id, job, sizeof(job), &async,
                             err);
    if (rc != OA_OK)
        goto out;
    if (async) {
        answer = cJSON_CreateObject();
        snprintf(path, sizeof(path), "/jobs/%s", job);
        if (answer == NULL ||
            cJSON_AddStringToObject(answer, "ID", job) == NULL ||
            cJSON_AddStringToObject(answer, "Path", path) == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto out;
        }
    } else {
        rc = oa_job_wait(job, &answer, err);
        if (rc != OA_OK)
            goto out;
    }
    rc = oa_rest_answer_json(out, 200, answer, err);
out:
    cJSON_Delete(body);
    cJSON_Delete(answer);
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
