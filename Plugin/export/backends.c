/*
 * The backend registry and the helpers shared by backends.
 */
#define _POSIX_C_SOURCE 200809L

#include "export_int.h"

#include "../dicom/dicom.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const oa_export_backend *const oa_export_backends[] = {
    &oa_export_backend_zip,
    &oa_export_backend_folder,
    &oa_export_backend_ftp,
    &oa_export_backend_ftps,
    &oa_export_backend_sftp,
    &oa_export_backend_webdav,
    &oa_export_backend_stow,
    NULL,
};

const oa_export_backend *oa_export_backend_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; oa_export_backends[i] != NULL; i++)
        if (strcmp(oa_export_backends[i]->name, name) == 0)
            return oa_export_backends[i];
    return NULL;
}

size_t oa_export_backend_names(const char **names, size_t max)
{
    size_t i;

    for (i = 0; oa_export_backends[i] != NULL && i < max; i++)
        names[i] = oa_export_backends[i]->name;
    return i;
}

void oa_export_result_init(oa_export_result *r)
{
    memset(r, 0, sizeof(*r));
}

void oa_export_result_dispose(oa_export_result *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->archive_count; i++)
        oa_free(r->archive_paths[i]);
    oa_free(r->archive_paths);
    oa_free(r->archive_sizes);
    memset(r, 0, sizeof(*r));
}

static bool safe_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void oa_export_sanitize(char *out, size_t max, const char *in, size_t len)
{
    size_t i, n = 0;

    if (max == 0)
        return;
    /* trim DICOM padding */
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\0'))
        len--;
    while (len > 0 && in[0] == ' ') {
        in++;
        len--;
    }
    for (i = 0; i < len && n + 1 < max; i++) {
        char c = in[i];

        if (c == '\0')
            break;
        if (n == 0 && c == '.')
            c = '_';
        out[n++] = safe_char(c) ? c : '_';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, max, "unknown");
}

bool oa_export_relpath_is_safe(const char *path)
{
    const char *p = path, *start;

    if (path == NULL || path[0] == '\0' || path[0] == '/')
        return false;
    for (;;) {
        start = p;
        while (*p != '\0' && *p != '/') {
            if (!safe_char(*p) && *p != ' ')
                return false;
            p++;
        }
        if (p == start || start[0] == '.')
            return false;   /* empty, ".", ".." or hidden */
        if (*p == '\0')
            return true;
        p++;
    }
}

static int default_port(const char *scheme)
{
    static const struct { const char *scheme; int port; } ports[] = {
        {"ftp", 21}, {"ftps", 21}, {"sftp", 22}, {"http", 80},
        {"https", 443},
    };
    size_t i;

    for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
        if (strcmp(scheme, ports[i].scheme) == 0)
            return ports[i].port;
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

oa_status oa_export_url_parse(const char *url, oa_export_url *u,
                              oa_error *err)
{
    const char *sep, *auth, *end, *at = NULL, *host, *hend, *p;
    size_t n, i;

    memset(u, 0, sizeof(*u));
    sep = url != NULL ? strstr(url, "://") : NULL;
    if (sep == NULL || sep == url ||
        (size_t)(sep - url) >= sizeof(u->scheme))
        return oa_error_set(err, OA_EINVAL,
                            "the URL must start with scheme://");
    for (p = url; p < sep; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > url && ((*p >= '0' && *p <= '9') || *p == '+' ||
                           *p == '-' || *p == '.'))))
            return oa_error_set(err, OA_EINVAL,
                                "the URL's scheme is not valid");
        u->scheme[p - url] = lower(*p);
    }
    auth = sep + 3;
    end = auth + strcspn(auth, "/?#");
    for (p = auth; p < end; p++)
        if (*p == '@')
            at = p;   /* the last one: a password may hold '@' */
    u->has_userinfo = at != NULL;
    host = at != NULL ? at + 1 : auth;
    u->path_off = (size_t)(end - url);
    if (*host == '[') {
        hend = memchr(host, ']', (size_t)(end - host));
        if (hend == NULL)
            return oa_error_set(err, OA_EINVAL,
                                "the URL's IPv6 address lacks its ']'");
        for (p = host + 1; p < hend; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return oa_error_set(err, OA_EINVAL,
                                    "the URL's IPv6 address is not valid");
        hend++;
    } else {
        hend = host;
        while (hend < end && *hend != ':') {
            if (!((*hend >= 'a' && *hend <= 'z') ||
                  (*hend >= 'A' && *hend <= 'Z') ||
                  (*hend >= '0' && *hend <= '9') || *hend == '-' ||
                  *hend == '.' || *hend == '_'))
                return oa_error_set(err, OA_EINVAL,
                                    "the URL's host name is not valid");
            hend++;
        }
    }
    n = (size_t)(hend - host);
    if (n == 0 || (*host == '[' && n <= 2))
        return oa_error_set(err, OA_EINVAL, "the URL has no host");
    if (n >= sizeof(u->host))
        return oa_error_set(err, OA_EINVAL, "the URL's host is too long");
    for (i = 0; i < n; i++)
        u->host[i] = lower(host[i]);
    u->port = default_port(u->scheme);
    if (hend < end) {
        long v = 0;

        if (*hend != ':' || hend + 1 == end)
            return oa_error_set(err, OA_EINVAL,
                                "the URL's port is not valid");
        for (p = hend + 1; p < end; p++) {
            if (*p < '0' || *p > '9' || v > 65535)
                return oa_error_set(err, OA_EINVAL,
                                    "the URL's port is not a number from 1 "
                                    "to 65535");
            v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > 65535)
            return oa_error_set(err, OA_EINVAL,
                                "the URL's port is not a number from 1 to "
                                "65535");
        u->port = (int)v;
    }
    return OA_OK;
}

void oa_export_url_redact(const char *url, bool keep_path, char *out,
                          size_t size)
{
    const char *sep, *auth, *end, *host, *p;

    if (size == 0)
        return;
    out[0] = '\0';
    if (url == NULL)
        return;
    sep = strstr(url, "://");
    if (sep == NULL) {
        snprintf(out, size, "%s", strchr(url, '@') != NULL ? "(a URL)" : url);
        return;
    }
    auth = sep + 3;
    end = auth + strcspn(auth, "/?#");
    host = auth;
    for (p = auth; p < end; p++)
        if (*p == '@')
            host = p + 1;
    snprintf(out, size, "%.*s://%.*s%.*s", (int)(sep - url), url,
             (int)(end - host), host,
             keep_path ? (int)strcspn(end, "?#") : 0, end);
}

oa_status oa_export_mkdirs(const char *path, oa_error *err)
{
    char buf[4096];
    size_t n = strlen(path), i;

    if (n == 0 || n >= sizeof(buf))
        return oa_error_set(err, OA_EINVAL, "folder path too long");
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return oa_error_set(err, OA_EIO, "cannot create folder %s: %s",
                                buf, strerror(errno));
        if (i < n)
            buf[i] = '/';
    }
    return OA_OK;
}

/* Depth-limited: our own trees are 4 levels deep. */
static void remove_tree_at(int parent, const char *name, unsigned depth)
{
    struct stat st;
    int fd;
    DIR *d;
    struct dirent *e;

    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlinkat(parent, name, 0);
        return;
    }
    if (depth > 16)
        return;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        remove_tree_at(dirfd(d), e->d_name, depth + 1);
    }
    closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

void oa_export_remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path, 0);
}

/* Stop the parse as soon as the syntax is known. */
static oa_status ts_begin(void *user, const oa_parse_info *info,
                          oa_error *err)
{
    (void)err;
    *(bool *)user = info->ts != NULL &&
                    (info->ts->encapsulated || info->ts->deflated);
    return OA_ECANCELLED;
}

bool oa_export_is_compressed_dicom(const uint8_t *data, size_t len)
{
    oa_dicom_handler h;
    bool compressed = false;

    memset(&h, 0, sizeof(h));
    h.user = &compressed;
    h.begin = ts_begin;
    oa_dicom_parse(data, len, NULL, &h, NULL, NULL);
    return compressed;
}

char *oa_export_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), n;
    char *out;

    while (na > 0 && a[na - 1] == '/')
        na--;
    if (oa_size_add(&n, na, nb) != 0 || oa_size_add(&n, n, 2) != 0)
        return NULL;
    out = oa_malloc(n);
    if (out == NULL)
        return NULL;
    memcpy(out, a, na);
    out[na] = '/';
    memcpy(out + na + 1, b, nb + 1);
    return out;
}
