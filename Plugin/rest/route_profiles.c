/*
 * Profiles: GET /anonymizer/profiles, GET|PUT|DELETE
 * /anonymizer/profiles/{name}, GET /anonymizer/profiles/{name}/rules.
 */
#include "rest_int.h"

#include "../jobs/jobs.h"

#include <stdio.h>

/* Deepest nesting of arrays and objects a request body may have: the
 * deepest valid body (an inline profile) has 5 levels.  cJSON parses
 * recursively, and 999 levels overflowed the stack of Orthanc's HTTP
 * thread (SIGSEGV: issue 12, found by test_rest_fuzz.py). */
#define BODY_DEPTH_MAX 64

/* The offset where the body nests deeper than BODY_DEPTH_MAX, or n.
 * Brackets inside strings do not count.  One pass. */
static size_t body_too_deep(const char *body, size_t n)
{
    size_t i, depth = 0;
    bool in_string = false;

    for (i = 0; i < n; i++) {
        char c = body[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > BODY_DEPTH_MAX)
                return i;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return n;
}

oa_status oa_rest_body_json(const oa_rest_request *req, bool allow_empty,
                            cJSON **out, oa_error *err)
{
    size_t deep;
    const char *body = req->http->body;
    size_t i, n = req->http->body_size;

    *out = NULL;
    for (i = 0; i < n && body != NULL; i++)
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' &&
            body[i] != '\n')
            break;
    if (body == NULL || i == n) {
        if (allow_empty)
            return OA_OK;
        return oa_error_set(err, OA_EINVAL,
                            "the request needs a JSON body");
    }
    deep = body_too_deep(body, n);
    if (deep < n)
        return oa_error_set(err, OA_EINVAL,
                            "the body nests arrays and objects more than %d "
                            "deep (at byte %zu)",
                            BODY_DEPTH_MAX, deep);
    *out = cJSON_ParseWithLength(body, n);
    if (*out == NULL)
        return oa_error_set(err, OA_EPARSE,
                            "the body is not valid JSON (near byte %zu)",
                            (size_t)(cJSON_GetErrorPtr() != NULL &&
                                             cJSON_GetErrorPtr() >= body &&
                                             cJSON_GetErrorPtr() <= body + n
                                         ? cJSON_GetErrorPtr() - body
                                         : 0));
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return oa_error_set(err, OA_EINVAL,
                            "the body must be a JSON object");
    }
    return OA_OK;
}

oa_service *oa_rest_service(oa_error *err)
{
    oa_service *s = oa_service_current();

    if (s == NULL)
        oa_error_set(err, OA_EIO, "the anonymizer is still starting");
    return s;
}

oa_status oa_rest_get_profiles(oa_host_output *out,
                               const oa_rest_request *req, oa_error *err)
{
    return oa_rest_answer_list(out, req, oa_service_profile_names, err);
}

oa_status oa_rest_answer_list(oa_host_output *out, const oa_rest_request *req,
                              oa_status (*list)(struct oa_service *,
                                                cJSON **, oa_error *),
                              oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *json = NULL;
    oa_status rc;

    (void)req;
    if (s == NULL)
        return err->code;
    rc = list(s, &json, err);
    if (rc == OA_OK)
        rc = oa_rest_answer_json(out, 200, json, err);
    cJSON_Delete(json);
    return rc;
}

oa_status oa_rest_answer_job(oa_host_output *out, const char *job,
                             bool asynchronous, oa_status failed_as,
                             oa_error *err)
{
    cJSON *answer = NULL;
    char path[160];
    oa_status rc;

    if (asynchronous) {
        answer = cJSON_CreateObject();
        snprintf(path, sizeof(path), "/jobs/%s", job);
        if (answer == NULL ||
            cJSON_AddStringToObject(answer, "ID", job) == NULL ||
            cJSON_AddStringToObject(answer, "Path", path) == NULL) {
            cJSON_Delete(answer);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    } else {
        rc = oa_job_wait(job, &answer, err);
        if (rc == OA_EIO)   /* the job failed: its error in Details */
            rc = oa_error_set(err, failed_as, "%s", err->msg);
        if (rc != OA_OK)
            return rc;
    }
    rc = oa_rest_answer_json(out, 200, answer, err);
    cJSON_Delete(answer);
    return rc;
}

/* The profile as GET answers it: Name, BuiltIn, then its options. */
static oa_status answer_profile(oa_host_output *out, const oa_profile *p,
                                const char *name, oa_error *err)
{
    cJSON *json = NULL, *answer, *item;
    oa_status rc;

    rc = oa_profile_to_json(&json, p, OA_PROFILE_JSON_EFFECTIVE, err);
    if (rc != OA_OK)
        return rc;
    answer = cJSON_CreateObject();
    if (answer == NULL || cJSON_AddStringToObject(answer, "Name", name) == NULL ||
        cJSON_AddBoolToObject(answer, "BuiltIn",
                              oa_profile_is_builtin_name(name)) == NULL) {
        cJSON_Delete(answer);
        cJSON_Delete(json);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    while ((item = json->child) != NULL) {
        cJSON_DetachItemViaPointer(json, item);
        cJSON_AddItemToObject(answer, item->string, item);
    }
    cJSON_Delete(json);
    rc = oa_rest_answer_json(out, 200, answer, err);
    cJSON_Delete(answer);
    return rc;
}

oa_status oa_rest_profile(oa_host_output *out, const oa_rest_request *req,
                          oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    const char *name = req->params[0];
    oa_profile *p = NULL;
    cJSON *body = NULL;
    oa_status rc;

    if (s == NULL)
        return err->code;
    switch (req->http->method) {
    case OA_HTTP_GET:
        rc = oa_service_profile(s, name, &p, err);
        if (rc == OA_OK)
            rc = answer_profile(out, p, name, err);
        break;
    case OA_HTTP_PUT:
        rc = oa_rest_body_json(req, false, &body, err);
        if (rc == OA_OK)
            rc = oa_service_profile_put(s, name, body, &p, err);
        if (rc == OA_OK)
            rc = answer_profile(out, p, name, err);
        break;
    case OA_HTTP_DELETE:
        rc = oa_service_profile_delete(s, name, err);
        if (rc == OA_OK) {
            rc = oa_rest_answer_empty(out, err);
        }
        break;
    default:
        rc = oa_error_set(err, OA_EINVAL, "method not allowed");
    }
    cJSON_Delete(body);
    oa_profile_free(p);
    return rc;
}

oa_status oa_rest_profile_rules(oa_host_output *out,
                                const oa_rest_request *req, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    oa_profile *p = NULL;
    cJSON *rules = NULL;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = oa_service_profile(s, req->params[0], &p, err);
    if (rc == OA_OK)
        rc = oa_rules_explain_json(&rules, p, err);
    if (rc == OA_OK)
        rc = oa_rest_answer_json(out, 200, rules, err);
    cJSON_Delete(rules);
    oa_profile_free(p);
    return rc;
}
