/*
 * The "folder" backend: the export tree written to a folder of the
 * server (under the configured ExportFolder; the caller resolves and
 * checks the path).  Files go to <folder>/<name>.partial/..., renamed to
 * <folder>/<name> at the end; each file is written to a temporary name
 * and renamed too, so that even <name>.partial never holds a torn file.
 */
#define _POSIX_C_SOURCE 200809L

#include "export_int.h"

#include "../dicom/dicom.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct folder_exporter {
    oa_exporter base;
    char *partial;   /* <folder>/<name>.partial */
    char *final;     /* <folder>/<name> */
} folder_exporter;

static oa_status folder_test(const oa_export_target *t, oa_error *err)
{
    struct stat st;

    if (t->url == NULL || t->url[0] != '/')
        return oa_error_set(err, OA_EINVAL, "folder target without a path");
    if (oa_export_mkdirs(t->url, err) != OA_OK)
        return err != NULL ? err->code : OA_EIO;
    if (stat(t->url, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(t->url, W_OK) != 0)
        return oa_error_set(err, OA_EIO, "folder %s is not writable",
                            t->url);
    return OA_OK;
}

static oa_status folder_open(oa_exporter **out, const oa_export_target *t,
                             const char *name, oa_error *err)
{
    folder_exporter *f;
    char *partial_name;
    oa_status rc;
    struct stat st;
    size_t n;

    *out = NULL;
    rc = folder_test(t, err);
    if (rc != OA_OK)
        return rc;
    n = strlen(name) + sizeof(".partial");
    f = oa_calloc(1, sizeof(*f));
    partial_name = oa_malloc(n);
    if (f == NULL || partial_name == NULL) {
        oa_free(f);
        oa_free(partial_name);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    snprintf(partial_name, n, "%s.partial", name);
    f->base.backend = &oa_export_backend_folder;
    f->partial = oa_export_join(t->url, partial_name);
    f->final = oa_export_join(t->url, name);
    oa_free(partial_name);
    if (f->partial == NULL || f->final == NULL) {
        oa_free(f->partial);
        oa_free(f->final);
        oa_free(f);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    if (lstat(f->final, &st) == 0) {
        rc = oa_error_set(err, OA_ECONFLICT, "%s already exists", f->final);
        goto fail;
    }
    oa_export_remove_tree(f->partial);   /* a leftover of a crash */
    rc = oa_export_mkdirs(f->partial, err);
    if (rc != OA_OK)
        goto fail;
    *out = &f->base;
    return OA_OK;
fail:
    oa_free(f->partial);
    oa_free(f->final);
    oa_free(f);
    return rc;
}

static oa_status folder_put(oa_exporter *e, const char *relpath,
                            const uint8_t *data, size_t len, unsigned flags,
                            oa_error *err)
{
    folder_exporter *f = (folder_exporter *)e;
    char *path, *slash, *tmp;
    oa_status rc;
    size_t n;

    (void)flags;
    if (!oa_export_relpath_is_safe(relpath))
        return oa_error_set(err, OA_EINVAL, "unsafe file name in export");
    path = oa_export_join(f->partial, relpath);
    n = path != NULL ? strlen(path) + sizeof(".tmp") : 0;
    tmp = path != NULL ? oa_malloc(n) : NULL;
    if (tmp == NULL) {
        oa_free(path);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    snprintf(tmp, n, "%s.tmp", path);
    slash = strrchr(path, '/');
    *slash = '\0';
    rc = oa_export_mkdirs(path, err);
    *slash = '/';
    /* Messages name the export's folder, never the path below it (the
     * patient's and study's folders). */
    if (rc != OA_OK)
        rc = oa_error_set(err, rc, "cannot create a folder under %s: %s",
                          f->partial, strerror(errno));
    if (rc == OA_OK)
        rc = oa_file_write(tmp, data, len, err);
    if (rc == OA_OK && rename(tmp, path) != 0)
        rc = oa_error_set(err, OA_EIO, "cannot rename into %s: %s",
                          f->partial, strerror(errno));
    if (rc != OA_OK)
        unlink(tmp);
    oa_free(tmp);
    oa_free(path);
    return rc;
}

static oa_status folder_finish(oa_exporter *e, oa_export_result *res,
                               oa_error *err)
{
    folder_exporter *f = (folder_exporter *)e;

    if (rename(f->partial, f->final) != 0)
        return oa_error_set(err, OA_EIO, "cannot rename %s: %s", f->partial,
                            strerror(errno));
    snprintf(res->location, sizeof(res->location), "%s", f->final);
    return OA_OK;
}

static void folder_abort(oa_exporter *e)
{
    folder_exporter *f = (folder_exporter *)e;

    oa_export_remove_tree(f->partial);
}

static void folder_free(oa_exporter *e)
{
    folder_exporter *f = (folder_exporter *)e;

    if (f == NULL)
        return;
    oa_free(f->partial);
    oa_free(f->final);
    oa_free(f);
}

static const oa_export_ops folder_ops = {
    folder_test,   /* test */
    folder_open,   /* open */
    folder_put,    /* put */
    NULL,          /* put_orthanc */
    folder_finish, /* finish */
    folder_abort,  /* abort */
    folder_free,   /* free */
};

const oa_export_backend oa_export_backend_folder = {"folder", false,
                                                    &folder_ops};
