/*
 * The "stow" backend: DICOMweb STOW-RS (PS3.18 10.5), libcurl, HTTP or
 * HTTPS.  The destination's Url is the service's base
 * (https://host/dicom-web); instances are POSTed to <base>/studies in
 * multipart/related requests (type="application/dicom") of up to
 * STOW_BATCH instances or STOW_BATCH_BYTES bytes.  Authentication: basic
 * with Username and Password, or a bearer token: a Password without a
 * Username.  The answer's Failed SOP Sequence (0008,1198) becomes an error
 * that names the instances the server refused (their new UIDs, never a
 * value of the original) and its Failure Reason.
 *
 * Like C-STORE, a store cannot be taken back: abort() sends nothing more,
 * and what the server already stored stays there.  A batch is kept until
 * the server took it, so a retried put() (a transient network error)
 * sends it again; STOW-RS servers store a SOP instance sent twice once.
 */
#define _GNU_SOURCE   /* memmem */

#include "curl_common.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define STOW_BATCH 16
#define STOW_BATCH_BYTES ((size_t)32 << 20)
#define STOW_ANSWER_MAX ((size_t)4 << 20)
#define STOW_NAMED_FAILURES 3

typedef struct stow_exporter {
    oa_exporter base;
    CURL *h;
    char *url;             /* base URL, no trailing '/' */
    char boundary[40];
    oa_buf batch;          /* the multipart body so far */
    size_t count;          /* instances in it */
    size_t sent;           /* instances the server took */
    struct curl_slist *headers;
} stow_exporter;

static char *base_url(const oa_export_target *t, oa_error *err)
{
    return oa_curl_http_base(t, "STOW-RS",
                             "http(s)://host[:port]/dicom-web (the DICOMweb "
                             "base)",
                             err);
}

/* Basic authentication with a user name; a password alone is a bearer
 * token. */
static void set_auth(CURL *h, const oa_export_target *t)
{
    if ((t->username == NULL || t->username[0] == '\0') &&
        t->password != NULL && t->password[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_PASSWORD, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, t->password);
    } else if (t->username != NULL && t->username[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    }
}

static size_t collect(char *p, size_t size, size_t n, void *user)
{
    oa_buf *b = user;

    if (oa_buf_append(b, p, size * n) != OA_OK)
        return 0;   /* past the ceiling: the transfer fails */
    return size * n;
}

/* The HTTP status of a STOW-RS or QIDO-RS exchange as ours. */
static oa_status check_status(long status, const char *what, const char *url,
                              oa_error *err)
{
    return oa_curl_http_status(status, what, url, true,
                               "no DICOMweb service at this Url: give its "
                               "base, e.g. https://host/dicom-web",
                               false, err);
}

/* The first value of a DICOM JSON attribute `tag` ("00081155") of `obj`:
 * a string, or NULL; numbers into *number. */
static const cJSON *json_value(const cJSON *obj, const char *tag)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, tag);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "Value");

    return cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : NULL;
}

oa_status oa_export_stow_answer(const char *body, size_t len, size_t sent,
                                oa_error *err)
{
    cJSON *root = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "00081198"), "Value");
    const cJSON *item;
    char names[3 * 80 + 16] = "";
    size_t n = 0, used = 0;

    if (!cJSON_IsArray(failed) || cJSON_GetArraySize(failed) == 0) {
        cJSON_Delete(root);
        return OA_OK;
    }
    cJSON_ArrayForEach(item, failed) {
        const cJSON *uid = json_value(item, "00081155");
        const cJSON *why = json_value(item, "00081197");

        if (n < STOW_NAMED_FAILURES && used < sizeof(names) - 1) {
            int k = snprintf(names + used, sizeof(names) - used, "%s%s (%s%04X)",
                             n ? ", " : "",
                             cJSON_IsString(uid) ? uid->valuestring : "?",
                             cJSON_IsNumber(why) ? "reason " : "no reason ",
                             cJSON_IsNumber(why) ? (unsigned)why->valueint
                                                 : 0u);
            if (k > 0)
                used += (size_t)k < sizeof(names) - used
                            ? (size_t)k
                            : sizeof(names) - used - 1;
        }
        n++;
    }
    cJSON_Delete(root);
    return oa_error_set(err, OA_EIO,
                        "STOW-RS: the server refused %zu of %zu instances: "
                        "%s%s (see its log; A7xx: out of resources, "
                        "A9xx/C0xx: data or SOP class refused)",
                        n, sent, names, n > STOW_NAMED_FAILURES ? ", ..." : "");
}

/* GET <base>/studies?limit=1 (QIDO-RS): reachable, logged in, a DICOMweb
 * service. */
static oa_status probe(CURL *h, const char *base, oa_error *err)
{
    char *url = oa_export_join(base, "studies?limit=1");
    oa_buf answer;
    long status = 0;
    oa_status rc;

    if (url == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    oa_buf_init(&answer, STOW_ANSWER_MAX);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    rc = oa_curl_perform(h, "STOW-RS: connect", &status, err);
    if (rc == OA_OK)
        rc = check_status(status, "STOW-RS: connect", base, err);
    oa_buf_dispose(&answer);
    oa_free(url);
    return rc;
}

static oa_status stow_test(const oa_export_target *t, oa_error *err)
{
    CURL *h = NULL;
    char *url = base_url(t, err);
    oa_status rc;

    if (url == NULL)
        return err != NULL ? err->code : OA_EINVAL;
    rc = oa_curl_new(&h, t, err);
    if (rc == OA_OK) {
        set_auth(h, t);
        rc = probe(h, url, err);
    }
    curl_easy_cleanup(h);
    oa_free(url);
    return rc;
}

static oa_status stow_open(oa_exporter **out, const oa_export_target *t,
                           const char *name, oa_error *err)
{
    stow_exporter *e;
    uint8_t rnd[16];
    char ctype[128];
    oa_status rc;
    size_t i;

    (void)name;   /* the receiver files instances by their own UIDs */
    *out = NULL;
    e = oa_calloc(1, sizeof(*e));
    if (e == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    e->base.backend = &oa_export_backend_stow;
    oa_buf_init(&e->batch, STOW_BATCH_BYTES + ((size_t)1 << 30));
    e->url = base_url(t, err);
    if (e->url == NULL) {
        rc = err != NULL ? err->code : OA_EINVAL;
        goto fail;
    }
    rc = oa_curl_new(&e->h, t, err);
    if (rc != OA_OK)
        goto fail;
    set_auth(e->h, t);
    rc = probe(e->h, e->url, err);
    if (rc != OA_OK)
        goto fail;
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        rc = oa_error_set(err, OA_EIO, "no random numbers for a boundary");
        goto fail;
    }
    memcpy(e->boundary, "oa-", 3);
    for (i = 0; i < sizeof(rnd); i++)
        snprintf(e->boundary + 3 + 2 * i, 3, "%02x", rnd[i]);
    snprintf(ctype, sizeof(ctype),
             "Content-Type: multipart/related; type=\"application/dicom\"; "
             "boundary=%s",
             e->boundary);
    e->headers = curl_slist_append(NULL, ctype);
    if (e->headers != NULL)
        e->headers = curl_slist_append(e->headers,
                                       "Accept: application/dicom+json");
    if (e->headers == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    *out = &e->base;
    return OA_OK;
fail:
    e->base.backend->ops->free(&e->base);
    return rc;
}

/* POST the batch; on success it is emptied, on failure it is kept. */
static oa_status flush(stow_exporter *e, oa_error *err)
{
    char end[64], *url;
    oa_buf answer;
    long status = 0;
    size_t body_len;
    oa_status rc;

    if (e->count == 0)
        return OA_OK;
    snprintf(end, sizeof(end), "--%s--\r\n", e->boundary);
    body_len = e->batch.len;
    rc = oa_buf_append(&e->batch, end, strlen(end));
    if (rc != OA_OK)
        return oa_error_set(err, rc, "out of memory (STOW-RS)");
    url = oa_export_join(e->url, "studies");
    if (url == NULL) {
        e->batch.len = body_len;
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    oa_buf_init(&answer, STOW_ANSWER_MAX);
    curl_easy_setopt(e->h, CURLOPT_URL, url);
    curl_easy_setopt(e->h, CURLOPT_POST, 1L);
    curl_easy_setopt(e->h, CURLOPT_POSTFIELDS, oa_buf_data(&e->batch));
    curl_easy_setopt(e->h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)e->batch.len);
    curl_easy_setopt(e->h, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(e->h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e->h, CURLOPT_WRITEDATA, &answer);
    rc = oa_curl_perform(e->h, "STOW-RS: store", &status, err);
    curl_easy_setopt(e->h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e->h, CURLOPT_POSTFIELDS, NULL);
    /* 409: every instance refused, with the Failed SOP Sequence; 202:
     * some refused */
    if (rc == OA_OK && (status == 409 || status == 202 || status == 200))
        rc = oa_export_stow_answer((const char *)oa_buf_data(&answer),
                                   answer.len, e->count, err);
    if (rc == OA_OK && status == 409)
        rc = oa_error_set(err, OA_EIO,
                          "STOW-RS: the server refused the instances (HTTP "
                          "409)");
    if (rc == OA_OK)
        rc = check_status(status, "STOW-RS: store", e->url, err);
    oa_buf_dispose(&answer);
    oa_free(url);
    if (rc != OA_OK) {
        e->batch.len = body_len;   /* kept for a retry */
        return rc;
    }
    e->sent += e->count;
    e->count = 0;
    oa_buf_reset(&e->batch);
    return OA_OK;
}

static oa_status stow_put(oa_exporter *base, const char *relpath,
                          const uint8_t *data, size_t len, unsigned flags,
                          oa_error *err)
{
    stow_exporter *e = (stow_exporter *)base;
    char head[160];
    oa_status rc;

    (void)relpath;
    (void)flags;
    if (e->count > 0 && (e->count >= STOW_BATCH ||
                         e->batch.len + len > STOW_BATCH_BYTES)) {
        rc = flush(e, err);
        if (rc != OA_OK)
            return rc;
    }
    /* the boundary must not occur in the data (random: it never does,
     * but a file that holds it would cut the request short) */
    if (len >= strlen(e->boundary) &&
        memmem(data, len, e->boundary, strlen(e->boundary)) != NULL)
        return oa_error_set(err, OA_EIO,
                            "STOW-RS: an instance holds the request's "
                            "boundary: export again");
    snprintf(head, sizeof(head),
             "--%s\r\nContent-Type: application/dicom\r\n\r\n", e->boundary);
    rc = oa_buf_append(&e->batch, head, strlen(head));
    if (rc == OA_OK)
        rc = oa_buf_append(&e->batch, data, len);
    if (rc == OA_OK)
        rc = oa_buf_append(&e->batch, "\r\n", 2);
    if (rc != OA_OK)
        return oa_error_set(err, rc, "out of memory (STOW-RS)");
    e->count++;
    return OA_OK;
}

static oa_status stow_finish(oa_exporter *base, oa_export_result *res,
                             oa_error *err)
{
    stow_exporter *e = (stow_exporter *)base;
    oa_status rc = flush(e, err);

    if (rc != OA_OK)
        return rc;
    oa_curl_redact(e->url, true, res->location, sizeof(res->location));
    return OA_OK;
}

static void stow_abort(oa_exporter *base)
{
    stow_exporter *e = (stow_exporter *)base;

    /* nothing to take back: what the server stored stays (like C-STORE) */
    oa_buf_reset(&e->batch);
    e->count = 0;
}

static void stow_free(oa_exporter *base)
{
    stow_exporter *e = (stow_exporter *)base;

    if (e == NULL)
        return;
    if (e->h != NULL)
        curl_easy_cleanup(e->h);
    curl_slist_free_all(e->headers);
    oa_buf_dispose(&e->batch);
    oa_free(e->url);
    oa_free(e);
}

static const oa_export_ops stow_ops = {
    stow_test, stow_open, stow_put, NULL, stow_finish, stow_abort, stow_free,
};

const oa_export_backend oa_export_backend_stow = {"stow", true, &stow_ops};
