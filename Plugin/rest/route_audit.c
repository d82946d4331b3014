/*
 * The audit trail (services/audit.c): GET /anonymizer/audit (and
 * /anonymizer/audit.csv), and the entries the other routes append.
 *
 * Who asked comes from the request's headers, since Orthanc 1.10.1 gives
 * a plugin's REST callback no user and no client address: the user of
 * HTTP Basic authentication ("Authorization", which Orthanc checks when
 * its "AuthenticationEnabled" is on; the password is never kept), else
 * what an authenticating reverse proxy says ("X-Forwarded-User",
 * "X-Remote-User"); the address from "X-Forwarded-For" (its first
 * address) or "X-Real-IP".  Headers are recorded as given: without a
 * proxy that sets them, a client may write anything there.
 */
#include "rest_int.h"

#include "../services/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The user name of "Basic <base64(user:password)>", or "" (decoded
 * here, up to the ':'; the password is decoded into nothing). */
static void basic_user(const char *auth, char *out, size_t size)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0, bits = 0;
    size_t n = 0;
    const char *p;

    out[0] = '\0';
    if (auth == NULL || strncmp(auth, "Basic ", 6) != 0)
        return;
    for (p = auth + 6; *p != '\0' && *p != '='; p++) {
        const char *c = strchr(b64, *p);

        if (c == NULL || *p == '\0') {
            out[0] = '\0';   /* not base64: no user */
            return;
        }
        acc = (acc << 6) | (unsigned)(c - b64);
        bits += 6;
        if (bits >= 8) {
            char ch = (char)((acc >> (bits - 8)) & 0xff);

            bits -= 8;
            if (ch == ':') {
                out[n] = '\0';
                return;
            }
            if (n + 1 >= size)
                break;
            out[n++] = ch;
        }
    }
    out[0] = '\0';   /* no ':': not a user:password pair */
}

void oa_rest_actor(const oa_rest_request *req, oa_audit_actor *actor)
{
    char user[128], remote[128];
    const char *h;

    basic_user(oa_host_request_header(req->http, "Authorization"), user,
               sizeof(user));
    if (user[0] == '\0') {
        h = oa_host_request_header(req->http, "X-Forwarded-User");
        if (h == NULL)
            h = oa_host_request_header(req->http, "X-Remote-User");
        snprintf(user, sizeof(user), "%s", h != NULL ? h : "");
    }
    h = oa_host_request_header(req->http, "X-Forwarded-For");
    if (h != NULL) {
        size_t n = strcspn(h, ",");

        while (n > 0 && h[n - 1] == ' ')
            n--;
        snprintf(remote, sizeof(remote), "%.*s", (int)(n < 127 ? n : 127),
                 h);
    } else {
        h = oa_host_request_header(req->http, "X-Real-IP");
        snprintf(remote, sizeof(remote), "%s", h != NULL ? h : "");
    }
    oa_audit_actor_set(actor, user, remote);
}

void oa_rest_audit(const oa_rest_request *req, const char *kind,
                   cJSON *details)
{
    oa_service *s = oa_service_current();
    oa_audit_actor actor;
    oa_error err;

    oa_error_clear(&err);
    if (s == NULL) {
        cJSON_Delete(details);
        return;
    }
    oa_rest_actor(req, &actor);
    if (oa_audit_append(oa_service_store(s), kind, &actor, details, &err) !=
        OA_OK)
        oa_log(OA_LOG_ERROR, "audit trail: the %s entry was not written: %s",
               kind, err.msg);
}

oa_status oa_rest_get_audit(oa_host_output *out, const oa_rest_request *req,
                            oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    const char *format = oa_host_request_get(req->http, "format");
    const char *limit_s = oa_host_request_get(req->http, "limit");
    bool csv = req->param_count > 0 && req->params[0][0] != '\0';
    unsigned long limit = 0;
    cJSON *list = NULL;
    oa_status rc;

    if (s == NULL)
        return err->code;
    if (format != NULL) {
        if (strcmp(format, "csv") == 0)
            csv = true;
        else if (strcmp(format, "json") != 0)
            return oa_error_set(err, OA_EINVAL,
                                "\"format\" must be json or csv");
    }
    if (limit_s != NULL) {
        char *end;

        limit = strtoul(limit_s, &end, 10);
        if (*end != '\0' || limit_s[0] == '\0' || limit_s[0] == '-' ||
            limit == 0 || limit > OA_AUDIT_MAX_LIMIT)
            return oa_error_set(err, OA_EINVAL,
                                "\"limit\" must be a number from 1 to %d",
                                OA_AUDIT_MAX_LIMIT);
    }
    rc = oa_audit_query(oa_service_store(s),
                        oa_host_request_get(req->http, "since"),
                        oa_host_request_get(req->http, "until"),
                        oa_host_request_get(req->http, "kind"),
                        (size_t)limit, &list, err);
    if (rc != OA_OK)
        return rc;
    if (csv) {
        oa_buf text;

        oa_buf_init(&text, (size_t)256 << 20);
        rc = oa_audit_csv(list, &text, err);
        if (rc == OA_OK) {
            oa_host_set_header(out, "Content-Disposition",
                               "attachment; filename=\"audit.csv\"");
            rc = oa_host_answer(out, 200, "text/csv; charset=utf-8",
                                oa_buf_data(&text), text.len, err);
        }
        oa_buf_dispose(&text);
    } else {
        rc = oa_rest_answer_json(out, 200, list, err);
    }
    cJSON_Delete(list);
    return rc;
}
