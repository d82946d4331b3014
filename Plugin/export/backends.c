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
