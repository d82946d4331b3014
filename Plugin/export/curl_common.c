/*
 * libcurl helpers shared by the FTP/FTPS and WebDAV backends.
 *
 * Orthanc links the system libcurl too and initializes it; we only make
 * sure curl_global_init() ran once (it is reference counted) and never
 * call curl_global_cleanup() (doc/orthanc-1.10.1.md, pitfall 7).
 */
#define _POSIX_C_SOURCE 200809L

#include "curl_common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

oa_status oa_curl_new(CURL **out, const oa_export_target *t, oa_error *err)
{
    CURL *h;
    long timeout = t->timeout > 0 ? t->timeout : OA_EXPORT_DEFAULT_TIMEOUT;

    pthread_once(&curl_once, curl_init_once);
    *out = NULL;
    h = curl_easy_init();
    if (h == NULL)
        return oa_error_set(err, OA_ENOMEM, "cannot start libcurl");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout);
    /* A transfer that stalls below 1 byte/s for `timeout` s is dead. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, timeout);
    curl_easy_setopt(h, CURLOPT_PROXY, "");   /* never a proxy from env */
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (t->username != NULL)
        curl_easy_setopt(h, CURLOPT_USERNAME, t->username);
    if (t->password != NULL)
        curl_easy_setopt(h, CURLOPT_PASSWORD, t->password);
    if (t->ca_file != NULL && t->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_file);
    *out = h;
    return OA_OK;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *user)
{
    oa_curl_reader *r = user;
    size_t want = size * nitems, left = r->len - r->off;

    if (want > left)
        want = left;
    memcpy(buf, r->data + r->off, want);
    r->off += want;
    return want;
}

static int seek_cb(void *user, curl_off_t offset, int origin)
{
    oa_curl_reader *r = user;

    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->len)
        return CURL_SEEKFUNC_FAIL;
    r->off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

void oa_curl_upload_from(CURL *h, const uint8_t *data, size_t len,
                         void *state)
{
    oa_curl_reader *r = state;

    r->data = data;
    r->len = len;
    r->off = 0;
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, r);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
}

void oa_curl_redact(const char *url, bool keep_path, char *out, size_t size)
{
    oa_export_url_redact(url, keep_path, out, size);
}

oa_status oa_curl_perform(CURL *h, const char *what, long *http,
                          oa_error *err)
{
    char where[512];
    const char *url = NULL;
    CURLcode rc;
    long code = 0;

    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
    oa_curl_redact(url != NULL ? url : "", false, where, sizeof(where));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (http != NULL)
        *http = code;
    switch (rc) {
    case CURLE_OK:
        return OA_OK;
    case CURLE_LOGIN_DENIED:
        return oa_error_set(err, OA_EAUTH,
                            "%s: the server refused the user name or "
                            "password (%s)",
                            what, where);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return oa_error_set(err, OA_EAUTH,
                            "%s: the server's TLS certificate is not trusted "
                            "(set the destination's CaFile) (%s)",
                            what, where);
    case CURLE_USE_SSL_FAILED:
        return oa_error_set(err, OA_EAUTH,
                            "%s: the server does not offer TLS (%s)", what,
                            where);
    case CURLE_COULDNT_RESOLVE_HOST:
        /* a wrong name, not a passing failure: no retry */
        return oa_error_set(err, OA_EINVAL,
                            "%s: unknown host (check the destination's "
                            "Url) (%s)",
                            what, where);
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_FTP_ACCEPT_FAILED:
    case CURLE_FTP_ACCEPT_TIMEOUT:
    case CURLE_FTP_CANT_GET_HOST:
    case CURLE_FTP_WEIRD_PASV_REPLY:
    case CURLE_FTP_WEIRD_227_FORMAT:
    case CURLE_SSL_CONNECT_ERROR:
        return oa_error_set(err, OA_ENET,
                            "%s: the server could not be reached or broke "
                            "the connection: %s (%s)",
                            what, curl_easy_strerror(rc), where);
    default:
        return oa_error_set(err, OA_EIO, "%s: %s (%s)", what,
                            curl_easy_strerror(rc), where);
    }
}

char *oa_curl_url(CURL *h, const char *base, const char *path)
{
    oa_buf b;
    const char *p = path;
    size_t blen = strlen(base);
    char *out = NULL;

    oa_buf_init(&b, 16384);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (oa_buf_append(&b, base, blen) != OA_OK)
        goto out;
    while (*p != '\0') {
        size_t n = strcspn(p, "/");
        char *esc = curl_easy_escape(h, p, (int)n);

        if (esc == NULL || oa_buf_append_byte(&b, '/') != OA_OK ||
            oa_buf_append(&b, esc, strlen(esc)) != OA_OK) {
            curl_free(esc);
            goto out;
        }
        curl_free(esc);
        p += n;
        if (*p == '/') {
            p++;
            if (*p == '\0' && oa_buf_append_byte(&b, '/') != OA_OK)
                goto out;
        }
    }
    out = oa_strdup(oa_buf_cstr(&b));
out:
    oa_buf_dispose(&b);
    return out;
}

char *oa_curl_http_base(const oa_export_target *t, const char *kind,
                        const char *form, oa_error *err)
{
    char *out;
    size_t n;

    if (t->url == NULL || (strncmp(t->url, "http://", 7) != 0 &&
                           strncmp(t->url, "https://", 8) != 0)) {
        oa_error_set(err, OA_EINVAL, "a %s destination needs a URL %s", kind,
                     form);
        return NULL;
    }
    out = oa_strdup(t->url);
    if (out == NULL) {
        oa_error_set(err, OA_ENOMEM, "out of memory");
        return NULL;
    }
    n = strlen(out);
    while (n > 8 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

oa_status oa_curl_http_status(long status, const char *what, const char *url,
                              bool keep_path, const char *not_found,
                              bool conflict_is_not_found, oa_error *err)
{
    char where[512];

    if (status >= 200 && status < 300)
        return OA_OK;
    oa_curl_redact(url, keep_path, where, sizeof(where));
    if (status == 401 || status == 403)
        return oa_error_set(err, OA_EAUTH,
                            "%s: the server refused the user name or "
                            "password (HTTP %ld) (%s)",
                            what, status, where);
    if (status == 404 || (conflict_is_not_found && status == 409) ||
        (!conflict_is_not_found && status == 405))
        return oa_error_set(err, OA_EINVAL, "%s: %s (HTTP %ld) (%s)", what,
                            not_found, status, where);
    if (status == 413)
        return oa_error_set(err, OA_EIO,
                            "%s: the server refuses requests this large "
                            "(HTTP 413) (%s)",
                            what, where);
    if (status == 507)
        return oa_error_set(err, OA_EIO,
                            "%s: the server is out of space (HTTP 507) (%s)",
                            what, where);
    if (status >= 500)
        return oa_error_set(err, OA_ENET, "%s: HTTP %ld (%s)", what, status,
                            where);
    return oa_error_set(err, OA_EIO, "%s: HTTP %ld (%s)", what, status,
                        where);
}
