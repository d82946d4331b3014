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
