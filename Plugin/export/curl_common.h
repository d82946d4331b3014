/*
 * Private to export/: what the libcurl backends (ftp.c, webdav.c) share:
 * a configured easy handle, an upload from memory, and the translation
 * of libcurl's errors into ours (the one place, as libgit2 does for its
 * transports).
 */
#ifndef OA_EXPORT_CURL_COMMON_H
#define OA_EXPORT_CURL_COMMON_H

#include "export_int.h"

#include <curl/curl.h>

/*
 * A new easy handle for `t`: timeouts, credentials, CA file, no signals,
 * no proxy from the environment.  OA_ENOMEM.
 */
oa_status oa_curl_new(CURL **out, const oa_export_target *t, oa_error *err);

/* Make the handle upload `len` bytes at `data` (CURLOPT_UPLOAD). */
void oa_curl_upload_from(CURL *h, const uint8_t *data, size_t len,
                         void *state /* an oa_curl_reader */);

typedef struct oa_curl_reader {
    const uint8_t *data;
    size_t len, off;
} oa_curl_reader;

/*
 * Run the transfer and translate the result: OA_EAUTH for refused
 * credentials or an untrusted TLS certificate, OA_ENET for a server that
 * cannot be reached or broke the transfer, OA_EIO otherwise.  `what`
 * says what was being done ("upload to ftp://host/dir").  For HTTP,
 * *http (may be NULL) receives the status; statuses are not errors here.
 */
oa_status oa_curl_perform(CURL *h, const char *what, long *http,
                          oa_error *err);

/*
 * The URL without user info, query, and -- unless `keep_path` -- path:
 * paths below a destination's folder name the patient and study (our
 * tree), so messages show scheme://host:port only.  `keep_path` is for a
 * destination's own URL.  Always terminates.
 */
void oa_curl_redact(const char *url, bool keep_path, char *out, size_t size);

/*
 * The destination's http(s):// Url without trailing '/' (oa_free), or
 * NULL with OA_EINVAL saying "a <kind> destination needs <form>".
 */
char *oa_curl_http_base(const oa_export_target *t, const char *kind,
                        const char *form, oa_error *err);

/*
 * An HTTP status as ours: 2xx OA_OK; 401/403 OA_EAUTH (credentials
 * refused); 404 (and 405, 409 where `not_found` says so) OA_EINVAL with
 * `not_found` ("the folder does not exist on the server"); 413 and 507
 * OA_EIO; other 5xx OA_ENET (worth a retry); the rest OA_EIO.  `what` says
 * what was done; `url` is shown redacted (with its path if `keep_path`).
 */
oa_status oa_curl_http_status(long status, const char *what, const char *url,
                              bool keep_path, const char *not_found,
                              bool conflict_is_not_found, oa_error *err);

/* `base` (a URL) + "/" + `path`, each component %-escaped.  oa_free. */
char *oa_curl_url(CURL *h, const char *base, const char *path);

#endif
