/*
 * The part of the host module that needs no SDK: built on the functions of
 * host.h, it serves the plugin (with host.c) and the unit tests (with the
 * fake host of UnitTests/support/fake_host.c, which stands in for host.c
 * only).
 */
#include "host.h"

#include <string.h>

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

oa_status oa_host_rest_get_json(const char *uri, cJSON **out, oa_error *err)
{
    oa_buf answer;
    uint16_t status;
    oa_status rc;

    *out = NULL;
    oa_buf_init(&answer, (size_t)256 << 20);
    rc = oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &answer, &status, err);
    if (rc != OA_OK)
        goto out;
    if (status == 404) {
        rc = oa_error_set(err, OA_ENOTFOUND, "Orthanc has no %s", uri);
        goto out;
    }
    if (status != 200) {
        rc = oa_error_set(err, OA_EIO, "GET %s: HTTP %u", uri,
                          (unsigned)status);
        goto out;
    }
    *out = cJSON_ParseWithLength((const char *)oa_buf_data(&answer),
                                 answer.len);
    if (*out == NULL)
        rc = oa_error_set(err, OA_EPARSE, "GET %s: answer is not JSON", uri);
out:
    oa_buf_dispose(&answer);
    return rc;
}
