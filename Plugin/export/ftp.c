/*
 * The "ftp" and "ftps" backends (libcurl).  "ftps" is explicit TLS
 * (AUTH TLS on the FTP port, CURLUSESSL_ALL: control and data encrypted,
 * refused if the server cannot), whatever the URL's scheme says.
 *
 * Files are uploaded to <url>/<name>.partial/<relpath> (curl creates the
 * folders), over one control connection reused for every file; finish
 * renames the folder with RNFR/RNTO; abort deletes what was uploaded
 * (DELE each file, RMD each folder, deepest first).
 */
#define _POSIX_C_SOURCE 200809L

#include "curl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ftp_exporter {
    oa_exporter base;
    const oa_export_target *t;  /* borrowed for the export's life */
    CURL *h;
    char *url;        /* base URL, ftp://host:port/folder (no '/' at end) */
    char *name;
    char *partial;    /* <name>.partial */
    bool tls;
    char **files;     /* relpaths written, for abort */
    size_t nfiles, cap;
} ftp_exporter;

/* The base URL for `t`: ftps:// becomes ftp:// (explicit TLS).  The
 * scheme must be the backend's (`tls`: ftps://), never a plain login
 * for an ftps:// Url, and the Url carries no user info. */
static char *base_url(const oa_export_target *t, bool tls, oa_error *err)
{
    const char *u = t->url;
    oa_export_url parsed;
    char *out;
    size_t n;

    if (u == NULL || strncmp(u, tls ? "ftps://" : "ftp://",
                             tls ? 7 : 6) != 0) {
        oa_error_set(err, OA_EINVAL,
                     tls ? "an FTPS destination needs a URL "
                           "ftps://host[:port]/folder"
                         : "an FTP destination needs a URL "
                           "ftp://host[:port]/folder");
        return NULL;
    }
    if (oa_export_url_parse(u, &parsed, err) != OA_OK)
        return NULL;
    if (parsed.has_userinfo) {
        oa_error_set(err, OA_EINVAL,
                     "an FTP URL must not hold a user name or password");
        return NULL;
    }
    u += strncmp(u, "ftps://", 7) == 0 ? 7 : 6;
    n = strlen(u) + sizeof("ftp://");
    out = oa_malloc(n);
    if (out == NULL) {
        oa_error_set(err, OA_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(out, n, "ftp://%s", u);
    n = strlen(out);
    while (n > 6 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

/* (Re)configure the handle for the next request. */
static oa_status configure(CURL **h, const oa_export_target *t, bool tls,
                           oa_error *err)
{
    oa_status rc;

    if (*h == NULL) {
        rc = oa_curl_new(h, t, err);
        if (rc != OA_OK)
            return rc;
    }
    if (tls) {
        curl_easy_setopt(*h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        /* TLS 1.2 at most: with TLS 1.3, uploads to Debian's vsftpd 3.0.3
         * end truncated (426, "unexpected eof") for most files of
         * a few hundred KB; 1.2 is clean (curl's own tool behaves the
         * same). */
        curl_easy_setopt(*h, CURLOPT_SSLVERSION,
                         (long)(CURL_SSLVERSION_TLSv1_2 |
                                CURL_SSLVERSION_MAX_TLSv1_2));
    }
    curl_easy_setopt(*h, CURLOPT_FTP_CREATE_MISSING_DIRS,
                     (long)CURLFTP_CREATE_DIR_RETRY);
    curl_easy_setopt(*h, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(*h, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(*h, CURLOPT_POSTQUOTE, NULL);
    return OA_OK;
}

/*
 * Run FTP commands in the base folder: CWD there without a transfer,
 * then the commands.  A command starting with '*' may fail.
 */
static oa_status run_commands(CURL *h, const char *url,
                              struct curl_slist *cmds, const char *what,
                              oa_error *err)
{
    char *dir = oa_export_join(url, "");
    oa_status rc;

    if (dir == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    curl_easy_setopt(h, CURLOPT_URL, dir);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_POSTQUOTE, cmds);
    rc = oa_curl_perform(h, what, NULL, err);
    curl_easy_setopt(h, CURLOPT_POSTQUOTE, NULL);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    oa_free(dir);
    return rc;
}

static oa_status test_with(const oa_export_target *t, bool tls,
                           oa_error *err)
{
    CURL *h = NULL;
    char *url = base_url(t, tls, err);
    oa_status rc;

    if (url == NULL)
        return err != NULL ? err->code : OA_EINVAL;
    rc = configure(&h, t, tls, err);
    if (rc == OA_OK)
        rc = run_commands(h, url, NULL, "FTP connection test", err);
    if (h != NULL)
        curl_easy_cleanup(h);
    oa_free(url);
    return rc;
}

static oa_status ftp_test(const oa_export_target *t, oa_error *err)
{
    return test_with(t, false, err);
}

static oa_status ftps_test(const oa_export_target *t, oa_error *err)
{
    return test_with(t, true, err);
}

static void ftp_free(oa_exporter *e)
{
    ftp_exporter *f = (ftp_exporter *)e;
    size_t i;

    if (f == NULL)
        return;
    if (f->h != NULL)
        curl_easy_cleanup(f->h);
    for (i = 0; i < f->nfiles; i++)
        oa_free(f->files[i]);
    oa_free(f->files);
    oa_free(f->url);
    oa_free(f->name);
    oa_free(f->partial);
    oa_free(f);
}

static oa_status open_with(oa_exporter **out, const oa_export_target *t,
                           const char *name, bool tls,
                           const oa_export_backend *backend, oa_error *err)
{
    ftp_exporter *f;
    struct curl_slist *cmds = NULL;
    char cmd[600];
    oa_status rc;
    size_t n;

    *out = NULL;
    f = oa_calloc(1, sizeof(*f));
    if (f == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    f->base.backend = backend;
    f->t = t;
    f->tls = tls;
    f->url = base_url(t, tls, err);
    if (f->url == NULL) {
        rc = err != NULL ? err->code : OA_EINVAL;
        goto fail;
    }
    n = strlen(name) + sizeof(".partial");
    f->name = oa_strdup(name);
    f->partial = oa_malloc(n);
    if (f->name == NULL || f->partial == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(f->partial, n, "%s.partial", name);
    rc = configure(&f->h, t, tls, err);
    if (rc != OA_OK)
        goto fail;
    /* Log in, check the folder, and create <name>.partial (a leftover of
     * an earlier crash makes MKD fail: allowed). */
    snprintf(cmd, sizeof(cmd), "*MKD %s", f->partial);
    cmds = curl_slist_append(NULL, cmd);
    if (cmds == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    rc = run_commands(f->h, f->url, cmds, "FTP login", err);
    curl_slist_free_all(cmds);
    if (rc != OA_OK)
        goto fail;
    *out = &f->base;
    return OA_OK;
fail:
    ftp_free(&f->base);
    return rc;
}

static oa_status ftp_open(oa_exporter **out, const oa_export_target *t,
                          const char *name, oa_error *err)
{
    return open_with(out, t, name, false, &oa_export_backend_ftp, err);
}

static oa_status ftps_open(oa_exporter **out, const oa_export_target *t,
                           const char *name, oa_error *err)
{
    return open_with(out, t, name, true, &oa_export_backend_ftps, err);
}

static oa_status remember(ftp_exporter *f, const char *relpath,
                          oa_error *err)
{
    if (f->nfiles == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 64;
        char **grown = oa_realloc(f->files, ncap * sizeof(*grown));

        if (grown == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        f->files = grown;
        f->cap = ncap;
    }
    f->files[f->nfiles] = oa_strdup(relpath);
    if (f->files[f->nfiles] == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    f->nfiles++;
    return OA_OK;
}

static oa_status ftp_put(oa_exporter *e, const char *relpath,
                         const uint8_t *data, size_t len, unsigned flags,
                         oa_error *err)
{
    ftp_exporter *f = (ftp_exporter *)e;
    oa_curl_reader reader;
    char *rel, *url;
    size_t n;
    oa_status rc;

    (void)flags;
    if (!oa_export_relpath_is_safe(relpath))
        return oa_error_set(err, OA_EINVAL, "unsafe file name in export");
    n = strlen(f->partial) + strlen(relpath) + 2;
    rel = oa_malloc(n);
    if (rel == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    snprintf(rel, n, "%s/%s", f->partial, relpath);
    url = oa_curl_url(f->h, f->url, rel);
    oa_free(rel);
    if (url == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    /* Remember first: abort must remove even a half-written file. */
    rc = remember(f, relpath, err);
    if (rc == OA_OK)
        rc = configure(&f->h, f->t, f->tls, err);
    if (rc == OA_OK) {
        curl_easy_setopt(f->h, CURLOPT_URL, url);
        oa_curl_upload_from(f->h, data, len, &reader);
        rc = oa_curl_perform(f->h, "FTP upload", NULL, err);
        curl_easy_setopt(f->h, CURLOPT_UPLOAD, 0L);
    }
    oa_free(url);
    return rc;
}

static oa_status ftp_finish(oa_exporter *e, oa_export_result *res,
                            oa_error *err)
{
    ftp_exporter *f = (ftp_exporter *)e;
    struct curl_slist *cmds = NULL, *more;
    char cmd[600], where[512];
    oa_status rc;

    snprintf(cmd, sizeof(cmd), "RNFR %s", f->partial);
    cmds = curl_slist_append(NULL, cmd);
    snprintf(cmd, sizeof(cmd), "RNTO %s", f->name);
    more = cmds != NULL ? curl_slist_append(cmds, cmd) : NULL;
    if (more == NULL) {
        curl_slist_free_all(cmds);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    rc = configure(&f->h, f->t, f->tls, err);
    if (rc == OA_OK)
        rc = run_commands(f->h, f->url, cmds, "FTP rename", err);
    curl_slist_free_all(cmds);
    if (rc != OA_OK)
        return rc;
    oa_curl_redact(f->url, true, where, sizeof(where));
    snprintf(res->location, sizeof(res->location), "%s/%s", where, f->name);
    return OA_OK;
}

/* The folders of the written files, deepest first, each once. */
static int by_depth_desc(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t dx = 0, dy = 0;

    for (; *x != '\0'; x++)
        dx += *x == '/';
    for (; *y != '\0'; y++)
        dy += *y == '/';
    if (dx != dy)
        return dx > dy ? -1 : 1;
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void ftp_abort(oa_exporter *e)
{
    ftp_exporter *f = (ftp_exporter *)e;
    struct curl_slist *cmds = NULL, *more;
    char **dirs = NULL, cmd[1200];
    size_t i, ndirs = 0;

    if (configure(&f->h, f->t, f->tls, NULL) != OA_OK)
        return;
    dirs = oa_calloc(f->nfiles * 3 + 1, sizeof(char *));
    if (dirs == NULL)
        return;
    for (i = 0; i < f->nfiles; i++) {
        char *d = oa_strdup(f->files[i]), *slash;

        snprintf(cmd, sizeof(cmd), "*DELE %s/%s", f->partial, f->files[i]);
        more = curl_slist_append(cmds, cmd);
        if (more == NULL || d == NULL) {
            oa_free(d);
            goto out;
        }
        cmds = more;
        /* every ancestor folder of the file */
        while ((slash = strrchr(d, '/')) != NULL) {
            size_t k;
            bool seen = false;

            *slash = '\0';
            for (k = 0; k < ndirs && !seen; k++)
                seen = strcmp(dirs[k], d) == 0;
            if (!seen && ndirs < f->nfiles * 3 + 1)
                dirs[ndirs++] = oa_strdup(d);
        }
        oa_free(d);
    }
    qsort(dirs, ndirs, sizeof(*dirs), by_depth_desc);
    for (i = 0; i < ndirs; i++) {
        if (dirs[i] == NULL)
            continue;
        snprintf(cmd, sizeof(cmd), "*RMD %s/%s", f->partial, dirs[i]);
        more = curl_slist_append(cmds, cmd);
        if (more == NULL)
            goto out;
        cmds = more;
    }
    snprintf(cmd, sizeof(cmd), "*RMD %s", f->partial);
    more = curl_slist_append(cmds, cmd);
    if (more == NULL)
        goto out;
    cmds = more;
    run_commands(f->h, f->url, cmds, "FTP clean-up", NULL);
out:
    curl_slist_free_all(cmds);
    for (i = 0; i < ndirs; i++)
        oa_free(dirs[i]);
    oa_free(dirs);
}

static const oa_export_ops ftp_ops = {
    ftp_test,   /* test */
    ftp_open,   /* open */
    ftp_put,    /* put */
    NULL,       /* put_orthanc */
    ftp_finish, /* finish */
    ftp_abort,  /* abort */
    ftp_free,   /* free */
};

static const oa_export_ops ftps_ops = {
    ftps_test,  /* test */
    ftps_open,  /* open */
    ftp_put,    /* put */
    NULL,       /* put_orthanc */
    ftp_finish, /* finish */
    ftp_abort,  /* abort */
    ftp_free,   /* free */
};

const oa_export_backend oa_export_backend_ftp = {"ftp", true, &ftp_ops};
const oa_export_backend oa_export_backend_ftps = {"ftps", true, &ftps_ops};
