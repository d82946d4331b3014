/*
 * The "webdav" backend (libcurl, HTTP or HTTPS with basic auth).
 *
 * WebDAV has no "create missing parents": each folder level is created
 * with MKCOL (405 means it exists already), then files are PUT into
 * <url>/<name>.partial/...; finish MOVEs the collection to <url>/<name>
 * (Overwrite: F, so an existing export is never replaced); abort DELETEs
 * the .partial collection, which WebDAV removes with its content.
 */
#define _POSIX_C_SOURCE 200809L

#include "curl_common.h"

#include <stdio.h>
#include <string.h>

typedef struct dav_exporter {
    oa_exporter base;
    CURL *h;
    char *url;         /* base URL without trailing '/' */
    char *name;
    char *partial;     /* <name>.partial */
    char **dirs;       /* collections created (relative to base) */
    size_t ndirs, cap;
} dav_exporter;

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

static char *base_url(const oa_export_target *t, oa_error *err)
{
    return oa_curl_http_base(t, "WebDAV", "http(s)://host[:port]/folder/",
                             err);
}

/* One request: method on url (a collection when it ends with '/'). */
static oa_status request(CURL *h, const char *method, const char *url,
                         struct curl_slist *headers, const char *what,
                         long *status, oa_error *err)
{
    oa_status rc;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    rc = oa_curl_perform(h, what, status, err);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    return rc;
}

/* Turn an HTTP status into ours; `what` says what was done. */
static oa_status check_status(long status, const char *what, const char *url,
                              oa_error *err)
{
    return oa_curl_http_status(status, what, url, false,
                               "the folder does not exist on the server",
                               true, err);
}

static oa_status dav_test(const oa_export_target *t, oa_error *err)
{
    struct curl_slist *hdr = NULL;
    CURL *h = NULL;
    char *url = base_url(t, err), *dir = NULL;
    long status = 0;
    oa_status rc;

    if (url == NULL)
        return err != NULL ? err->code : OA_EINVAL;
    dir = oa_export_join(url, "");
    hdr = curl_slist_append(NULL, "Depth: 0");
    if (dir == NULL || hdr == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    rc = oa_curl_new(&h, t, err);
    if (rc == OA_OK)
        rc = request(h, "PROPFIND", dir, hdr, "WebDAV connection test",
                     &status, err);
    if (rc == OA_OK)
        rc = check_status(status, "WebDAV connection test", dir, err);
out:
    curl_slist_free_all(hdr);
    if (h != NULL)
        curl_easy_cleanup(h);
    oa_free(dir);
    oa_free(url);
    return rc;
}

/* MKCOL `rel` (relative to the base) unless done already. */
static oa_status mkcol(dav_exporter *d, const char *rel, oa_error *err)
{
    char *url, *coll;
    long status = 0;
    size_t i;
    oa_status rc;

    for (i = 0; i < d->ndirs; i++)
        if (strcmp(d->dirs[i], rel) == 0)
            return OA_OK;
    url = oa_curl_url(d->h, d->url, rel);
    coll = url != NULL ? oa_export_join(url, "") : NULL;
    oa_free(url);
    if (coll == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    rc = request(d->h, "MKCOL", coll, NULL, "WebDAV MKCOL", &status, err);
    if (rc == OA_OK && status != 405)   /* 405: exists already */
        rc = check_status(status, "WebDAV MKCOL", coll, err);
    oa_free(coll);
    if (rc != OA_OK)
        return rc;
    if (d->ndirs == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        char **grown = oa_realloc(d->dirs, ncap * sizeof(*grown));

        if (grown == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        d->dirs = grown;
        d->cap = ncap;
    }
    if ((d->dirs[d->ndirs] = oa_strdup(rel)) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    d->ndirs++;
    return OA_OK;
}

static void dav_free(oa_exporter *e)
{
    dav_exporter *d = (dav_exporter *)e;
    size_t i;

    if (d == NULL)
        return;
    if (d->h != NULL)
        curl_easy_cleanup(d->h);
    for (i = 0; i < d->ndirs; i++)
        oa_free(d->dirs[i]);
    oa_free(d->dirs);
    oa_free(d->url);
    oa_free(d->name);
    oa_free(d->partial);
    oa_free(d);
}

static oa_status dav_open(oa_exporter **out, const oa_export_target *t,
                          const char *name, oa_error *err)
{
    dav_exporter *d;
    oa_status rc;
    size_t n;

    *out = NULL;
    rc = dav_test(t, err);   /* credentials and base folder first */
    if (rc != OA_OK)
        return rc;
    d = oa_calloc(1, sizeof(*d));
    if (d == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    d->base.backend = &oa_export_backend_webdav;
    d->url = base_url(t, err);
    n = strlen(name) + sizeof(".partial");
    d->name = oa_strdup(name);
    d->partial = oa_malloc(n);
    if (d->url == NULL || d->name == NULL || d->partial == NULL) {
        dav_free(&d->base);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    snprintf(d->partial, n, "%s.partial", name);
    rc = oa_curl_new(&d->h, t, err);
    if (rc == OA_OK)
        rc = mkcol(d, d->partial, err);
    if (rc != OA_OK) {
        dav_free(&d->base);
        return rc;
    }
    *out = &d->base;
    return OA_OK;
}

static oa_status dav_put(oa_exporter *e, const char *relpath,
                         const uint8_t *data, size_t len, unsigned flags,
                         oa_error *err)
{
    dav_exporter *d = (dav_exporter *)e;
    oa_curl_reader reader;
    char rel[1200], *url, *slash;
    long status = 0;
    oa_status rc;
    int n;

    (void)flags;
    if (!oa_export_relpath_is_safe(relpath))
        return oa_error_set(err, OA_EINVAL, "unsafe file name in export");
    n = snprintf(rel, sizeof(rel), "%s/%s", d->partial, relpath);
    if (n < 0 || (size_t)n >= sizeof(rel))
        return oa_error_set(err, OA_EINVAL, "file name too long");
    /* each parent collection, top down */
    for (slash = strchr(rel + strlen(d->partial) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        rc = mkcol(d, rel, err);
        *slash = '/';
        if (rc != OA_OK)
            return rc;
    }
    url = oa_curl_url(d->h, d->url, rel);
    if (url == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    curl_easy_setopt(d->h, CURLOPT_URL, url);
    curl_easy_setopt(d->h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, discard);
    oa_curl_upload_from(d->h, data, len, &reader);
    rc = oa_curl_perform(d->h, "WebDAV upload", &status, err);
    curl_easy_setopt(d->h, CURLOPT_UPLOAD, 0L);
    if (rc == OA_OK)
        rc = check_status(status, "WebDAV upload", url, err);
    oa_free(url);
    return rc;
}

static oa_status dav_finish(oa_exporter *e, oa_export_result *res,
                            oa_error *err)
{
    dav_exporter *d = (dav_exporter *)e;
    struct curl_slist *hdr = NULL, *more;
    char *from = NULL, *to = NULL, *from_dir = NULL, *to_dir = NULL;
    char *header = NULL, where[512];
    long status = 0;
    oa_status rc;
    size_t n;

    from = oa_curl_url(d->h, d->url, d->partial);
    to = oa_curl_url(d->h, d->url, d->name);
    from_dir = from != NULL ? oa_export_join(from, "") : NULL;
    to_dir = to != NULL ? oa_export_join(to, "") : NULL;
    n = to_dir != NULL ? strlen(to_dir) + sizeof("Destination: ") : 0;
    header = n ? oa_malloc(n) : NULL;
    if (header == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(header, n, "Destination: %s", to_dir);
    hdr = curl_slist_append(NULL, header);
    more = hdr != NULL ? curl_slist_append(hdr, "Overwrite: F") : NULL;
    if (more == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    rc = request(d->h, "MOVE", from_dir, hdr, "WebDAV MOVE", &status, err);
    if (rc == OA_OK && status == 412)
        rc = oa_error_set(err, OA_ECONFLICT,
                          "WebDAV MOVE: the export folder already exists");
    else if (rc == OA_OK)
        rc = check_status(status, "WebDAV MOVE", from_dir, err);
    if (rc == OA_OK) {
        oa_curl_redact(to_dir, true, where, sizeof(where));
        snprintf(res->location, sizeof(res->location), "%s", where);
    }
out:
    curl_slist_free_all(hdr);
    oa_free(header);
    oa_free(from);
    oa_free(to);
    oa_free(from_dir);
    oa_free(to_dir);
    return rc;
}

static void dav_abort(oa_exporter *e)
{
    dav_exporter *d = (dav_exporter *)e;
    char *url = oa_curl_url(d->h, d->url, d->partial), *dir;
    long status;

    dir = url != NULL ? oa_export_join(url, "") : NULL;
    if (dir != NULL)
        request(d->h, "DELETE", dir, NULL, "WebDAV clean-up", &status, NULL);
    oa_free(dir);
    oa_free(url);
}

static const oa_export_ops dav_ops = {
    dav_test,   /* test */
    dav_open,   /* open */
    dav_put,    /* put */
    NULL,       /* put_orthanc */
    dav_finish, /* finish */
    dav_abort,  /* abort */
    dav_free,   /* free */
};

const oa_export_backend oa_export_backend_webdav = {"webdav", true,
                                                    &dav_ops};
