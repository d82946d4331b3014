/*
 * Answers: the one place where an oa_status becomes an HTTP status, and
 * the JSON bodies of successes and failures (doc/rest-api.md: errors are
 * {"Error": "...", "Details": "..."} with the right status).
 */
#include "rest.h"

#include <string.h>

uint16_t oa_rest_http_status(oa_status code)
{
    switch (code) {
    case OA_OK:
        return 200;
    case OA_EINVAL:
    case OA_EPARSE:
        return 400;
    case OA_ENOTFOUND:
        return 404;
    case OA_ECONFLICT:
        return 409;
    case OA_ELIMIT:
        return 413;
    case OA_ENET:
    case OA_EAUTH:
        return 502;   /* a remote target failed, not us */
    default:
        return 500;
    }
}

const char *oa_rest_error_title(oa_status code)
{
    switch (code) {
    case OA_OK: return "Success";
    case OA_EINVAL: return "Bad request";
    case OA_EPARSE: return "Malformed input";
    case OA_ENOTFOUND: return "Unknown resource";
    case OA_ECONFLICT: return "Conflict";
    case OA_ELIMIT: return "Limit exceeded";
    case OA_ENET: return "Remote target failed";
    case OA_EAUTH: return "Remote target refused the credentials";
    default: return "Internal error";
    }
}

oa_status oa_rest_answer_json(oa_host_output *out, uint16_t status,
                              const cJSON *json, oa_error *err)
{
    char *text;
    oa_status rc;

    if (json == NULL)
        return oa_error_set(err, OA_EINVAL, "no JSON to answer");
    text = cJSON_Print(json);
    if (text == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory (JSON answer)");
    rc = oa_host_answer(out, status, "application/json", text, strlen(text),
                        err);
    cJSON_free(text);
    return rc;
}

oa_status oa_rest_answer_empty(oa_host_output *out, oa_error *err)
{
    static const char empty[] = "{}";

    return oa_host_answer(out, 200, "application/json", empty,
                          sizeof(empty) - 1, err);
}

void oa_rest_answer_error(oa_host_output *out, oa_status code,
                          const char *details)
{
    static const char fallback[] =
        "{\"Error\": \"Internal error\", \"Details\": \"out of memory\"}";
    uint16_t http = oa_rest_http_status(code);
    cJSON *body;

    if (code == OA_OK) {    /* a caller bug: still answer something */
        code = OA_EUNSUPPORTED;
        http = 500;
    }
    body = cJSON_CreateObject();
    if (body != NULL &&
        cJSON_AddStringToObject(body, "Error", oa_rest_error_title(code)) !=
            NULL &&
        cJSON_AddStringToObject(body, "Details",
                                details != NULL ? details : "") != NULL &&
        oa_rest_answer_json(out, http, body, NULL) == OA_OK) {
        cJSON_Delete(body);
        return;
    }
    cJSON_Delete(body);
    oa_host_answer(out, 500, "application/json", fallback,
                   sizeof(fallback) - 1, NULL);
}
