/*
 * The "zip" backend: the export tree as ZIP archives in a local folder
 * (the archive folder), downloaded later through the plugin.
 *
 * Parallel: put() copies the file into a bounded queue; a pool of worker
 * threads (one per core, at most 8) deflates whole files with libdeflate
 * (raw DEFLATE and CRC-32); the caller's thread appends the finished
 * entries to the archive in the order they were put (minizip, raw
 * entries), so the archive is the same whatever the threads did.  Memory
 * is bounded: at most 2 files per worker and QUEUE_BYTES are queued, never
 * the study.  Compression ("Compression" of the target): "store" (none),
 * "fast" (level 1, the default: most of the gain on images at a fraction
 * of the time), "best" (level 9).  DICOM with compressed pixel data (an
 * encapsulated or deflated transfer syntax) is always stored, since
 * deflating it again costs time and wins nothing, and so is a file that
 * deflate would not make smaller.  ZIP64 records are used when an archive
 * passes 4 GiB.
 *
 * Orthanc 1.10.1 answers a download from one buffer in memory (< 4 GiB),
 * so an export larger than `max_archive` is split into archives of whole
 * files: <name>.zip, <name>-2.zip, ...  Each is written as
 * <archive>.partial and renamed when the export finishes.
 *
 * The archive folder is Orthanc's alone (oa_export_archive_folder_check:
 * 0700, our owner, not world-writable), and every archive is created
 * with O_NOFOLLOW | O_EXCL, so that no other user can swap a file of it
 * for a symbolic link to something we may read (issue 12, defect 4).
 */
#define _XOPEN_SOURCE 700

#include "export_int.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libdeflate.h>
#include <minizip/ioapi.h>
#include <minizip/zip.h>

#define DEFAULT_MAX_ARCHIVE ((uint64_t)1 << 30)
#define MAX_ARCHIVES 10000
/* Local header + central directory entry + ZIP64 extras, per file. */
#define ENTRY_OVERHEAD 256
#define MAX_WORKERS 8
#define QUEUE_BYTES ((size_t)256 << 20)

/* One file on its way into the archive. */
typedef struct zip_job {
    char entry[1024];        /* <name>/<relpath> */
    uint8_t *data;           /* a copy of the file */
    size_t len;
    bool store;              /* asked to be stored (compressed pixels) */
    uint8_t *deflated;       /* the worker's output, NULL: store */
    size_t deflated_len;
    uint32_t crc;
    int state;               /* JOB_QUEUED, JOB_WORKING, JOB_DONE */
    bool failed;             /* out of memory in the worker */
    struct zip_job *next;
} zip_job;

enum { JOB_QUEUED, JOB_WORKING, JOB_DONE };

typedef struct zip_exporter zip_exporter;

typedef struct zip_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* a job was queued, or stop */
    pthread_cond_t done;     /* a job is done */
    zip_job *head, *tail;    /* in put() order */
    size_t queued, queued_bytes;
    bool stop;
    int level;               /* libdeflate level, 0: store all */
    pthread_t threads[MAX_WORKERS];
    unsigned nthreads;
} zip_pool;

struct zip_exporter {
    oa_exporter base;
    char *folder;
    char *name;
    uint64_t max;
    zipFile zf;             /* the archive being written, or NULL */
    uint64_t written;       /* estimated bytes of the current archive */
    size_t files_in_current;
    size_t count;           /* archives started */
    char **partials;        /* <folder>/<name>[-n].zip.partial */
    uint64_t *sizes;
    zip_pool pool;
    bool pool_started;
    oa_status failure;      /* a write that failed after its put() */
    char failure_msg[OA_ERROR_MSG_MAX];
};

/* ------------------------------------------------------------------ */
/* The worker pool                                                      */

static void job_free(zip_job *j)
{
    if (j == NULL)
        return;
    oa_free(j->data);
    oa_free(j->deflated);
    oa_free(j);
}

/* Deflate one file (raw DEFLATE), or leave it to be stored. */
static void compress_job(struct libdeflate_compressor *c, zip_job *j)
{
    j->crc = (uint32_t)libdeflate_crc32(0, j->data, j->len);
    if (c == NULL || j->store || j->len == 0)
        return;
    {
        size_t bound = libdeflate_deflate_compress_bound(c, j->len);
        uint8_t *out = oa_malloc(bound);
        size_t n;

        if (out == NULL) {
            j->failed = true;
            return;
        }
        n = libdeflate_deflate_compress(c, j->data, j->len, out, bound);
        if (n == 0 || n >= j->len) {   /* no gain: stored */
            oa_free(out);
            return;
        }
        j->deflated = out;
        j->deflated_len = n;
    }
}

static void *worker_main(void *arg)
{
    zip_pool *p = arg;
    struct libdeflate_compressor *c =
        p->level > 0 ? libdeflate_alloc_compressor(p->level) : NULL;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        zip_job *j;

        for (j = p->head; j != NULL && j->state != JOB_QUEUED; j = j->next)
            ;
        if (j == NULL) {
            if (p->stop)
                break;
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        j->state = JOB_WORKING;
        pthread_mutex_unlock(&p->mu);
        if (p->level > 0 && c == NULL)
            j->failed = true;
        else
            compress_job(c, j);
        pthread_mutex_lock(&p->mu);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    libdeflate_free_compressor(c);
    return NULL;
}

static unsigned worker_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        n = 1;
    return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static oa_status pool_start(zip_pool *p, int level, oa_error *err)
{
    unsigned i, want = worker_count();

    memset(p, 0, sizeof(*p));
    p->level = level;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return oa_error_set(err, OA_ENOMEM, "cannot start the ZIP writer");
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (i = 0; i < want; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->mu);
        return oa_error_set(err, OA_ENOMEM,
                            "cannot start the ZIP writer's threads");
    }
    return OA_OK;
}

/* Stop the threads; the jobs still queued are dropped. */
static void pool_stop(zip_pool *p)
{
    unsigned i;
    zip_job *j;

    pthread_mutex_lock(&p->mu);
    p->stop = true;
    /* queued jobs are not started any more */
    for (j = p->head; j != NULL; j = j->next)
        if (j->state == JOB_QUEUED)
            j->state = JOB_DONE;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while (p->head != NULL) {
        j = p->head;
        p->head = j->next;
        job_free(j);
    }
    p->tail = NULL;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
}

static int zip_level(const char *compression)
{
    if (compression != NULL && strcmp(compression, "store") == 0)
        return 0;
    if (compression != NULL && strcmp(compression, "best") == 0)
        return 9;
    return 1;
}

bool oa_export_compression_valid(const char *compression)
{
    return compression == NULL || strcmp(compression, "store") == 0 ||
           strcmp(compression, "fast") == 0 || strcmp(compression, "best") == 0;
}

oa_status oa_export_archive_folder_check(const char *path, oa_error *err)
{
    char parent[4096];
    struct stat st;
    size_t n;

    if (path == NULL || path[0] != '/' || (n = strlen(path)) >= sizeof(parent))
        return oa_error_set(err, OA_EINVAL,
                            "no archive folder: set "
                            "\"Anonymizer.ArchiveFolder\" to an absolute "
                            "folder (Orthanc's StorageDirectory is not "
                            "absolute, so there is no default)");
    memcpy(parent, path, n + 1);
    while (n > 1 && parent[n - 1] != '/')
        n--;
    parent[n > 1 ? n - 1 : 1] = '\0';
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT)
            return oa_error_set(err, OA_EIO, "archive folder %s: %s", path,
                                strerror(errno));
        if (oa_export_mkdirs(parent, err) != OA_OK)
            return err != NULL ? err->code : OA_EIO;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return oa_error_set(err, OA_EIO,
                                "cannot create archive folder %s: %s", path,
                                strerror(errno));
        if (lstat(path, &st) != 0)
            return oa_error_set(err, OA_EIO, "archive folder %s: %s", path,
                                strerror(errno));
    }
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode))
        return oa_error_set(err, OA_EIO,
                            "archive folder %s is a symbolic link or not a "
                            "folder: refused; give \"ArchiveFolder\" a real "
                            "folder of Orthanc's user",
                            path);
    if (st.st_uid != geteuid())
        return oa_error_set(err, OA_EIO,
                            "archive folder %s belongs to user %u, not to "
                            "Orthanc's (%u): refused (its owner could swap "
                            "the archives); remove it or set "
                            "\"ArchiveFolder\" to a folder of Orthanc's "
                            "user",
                            path, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & S_IWOTH)
        return oa_error_set(err, OA_EIO,
                            "archive folder %s is writable by every user: "
                            "refused; chmod 700 it or set \"ArchiveFolder\" "
                            "to a folder of Orthanc's user",
                            path);
    if (lstat(parent, &st) == 0 && (st.st_mode & S_IWOTH) &&
        !(st.st_mode & S_ISVTX))
        return oa_error_set(err, OA_EIO,
                            "archive folder %s is in %s, which every user "
                            "may write to (without the sticky bit): "
                            "refused; choose a folder of Orthanc's user",
                            path, parent);
    return OA_OK;
}

/* minizip's stdio functions, but the archive is created with O_NOFOLLOW
 * and O_EXCL (the .partial was just unlinked: nobody else may be there). */
static voidpf ZCALLBACK open_nofollow(voidpf opaque, const void *filename,
                                      int mode)
{
    int fd;
    FILE *f;

    (void)opaque;
    if (filename == NULL ||
        (mode & ZLIB_FILEFUNC_MODE_CREATE) == 0)
        return NULL;   /* we only ever create archives */
    fd = open((const char *)filename,
              O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w+b");
    if (f == NULL)
        close(fd);
    return f;
}

static zipFile create_archive(const char *path)
{
    zlib_filefunc64_def io;

    fill_fopen64_filefunc(&io);
    io.zopen64_file = open_nofollow;
    return zipOpen2_64(path, APPEND_STATUS_CREATE, NULL, &io);
}

static oa_status zip_test(const oa_export_target *t, oa_error *err)
{
    if (oa_export_archive_folder_check(t->url, err) != OA_OK)
        return err != NULL ? err->code : OA_EIO;
    if (access(t->url, W_OK) != 0)
        return oa_error_set(err, OA_EIO, "archive folder %s is not writable",
                            t->url);
    return OA_OK;
}

/* <folder>/<name>.zip or <folder>/<name>-<n>.zip, with `suffix`. */
static char *archive_path(const zip_exporter *z, size_t n, const char *suffix)
{
    char file[512];
    int len;

    if (n <= 1)
        len = snprintf(file, sizeof(file), "%s.zip%s", z->name, suffix);
    else
        len = snprintf(file, sizeof(file), "%s-%zu.zip%s", z->name, n,
                       suffix);
    if (len < 0 || (size_t)len >= sizeof(file))
        return NULL;
    return oa_export_join(z->folder, file);
}

static oa_status close_current(zip_exporter *z, oa_error *err)
{
    int rc;

    if (z->zf == NULL)
        return OA_OK;
    errno = 0;
    rc = zipClose(z->zf, NULL);
    z->zf = NULL;
    if (rc != ZIP_OK)
        return oa_error_set(err, OA_EIO, "cannot finish archive %zu (%d): %s",
                            z->count, rc,
                            errno != 0 ? strerror(errno) : "disk full?");
    return OA_OK;
}

static oa_status start_archive(zip_exporter *z, oa_error *err)
{
    char **paths;
    uint64_t *sizes;
    char *path;

    if (z->count >= MAX_ARCHIVES)
        return oa_error_set(err, OA_ELIMIT, "more than %d archives",
                            MAX_ARCHIVES);
    paths = oa_realloc(z->partials, (z->count + 1) * sizeof(*paths));
    if (paths == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    z->partials = paths;
    sizes = oa_realloc(z->sizes, (z->count + 1) * sizeof(*sizes));
    if (sizes == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    z->sizes = sizes;
    path = archive_path(z, z->count + 1, ".partial");
    if (path == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    unlink(path);
    z->zf = create_archive(path);
    if (z->zf == NULL) {
        oa_status rc = oa_error_set(err, OA_EIO, "cannot create %s: %s",
                                    path, strerror(errno));

        oa_free(path);
        return rc;
    }
    z->partials[z->count] = path;
    z->sizes[z->count] = 0;
    z->count++;
    z->written = 0;
    z->files_in_current = 0;
    return OA_OK;
}

static oa_status zip_open(oa_exporter **out, const oa_export_target *t,
                          const char *name, oa_error *err)
{
    zip_exporter *z;
    oa_status rc;

    *out = NULL;
    rc = zip_test(t, err);
    if (rc != OA_OK)
        return rc;
    z = oa_calloc(1, sizeof(*z));
    if (z == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    z->base.backend = &oa_export_backend_zip;
    z->folder = oa_strdup(t->url);
    z->name = oa_strdup(name);
    z->max = t->max_archive ? t->max_archive : DEFAULT_MAX_ARCHIVE;
    if (z->folder == NULL || z->name == NULL) {
        oa_free(z->folder);
        oa_free(z->name);
        oa_free(z);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    rc = start_archive(z, err);
    if (rc == OA_OK)
        rc = pool_start(&z->pool, zip_level(t->compression), err);
    if (rc != OA_OK) {
        z->base.backend->ops->free(&z->base);
        return rc;
    }
    z->pool_started = true;
    *out = &z->base;
    return OA_OK;
}

/* Append a finished job to the archive (the caller's thread, in order). */
static oa_status write_job(zip_exporter *z, zip_job *j, oa_error *err)
{
    zip_fileinfo info;
    const uint8_t *data = j->deflated != NULL ? j->deflated : j->data;
    size_t len = j->deflated != NULL ? j->deflated_len : j->len;
    uint64_t cost = (uint64_t)len + ENTRY_OVERHEAD + 2 * strlen(j->entry);
    bool deflated = j->deflated != NULL;
    int zip64, rc;
    time_t now = time(NULL);
    struct tm tm;
    size_t off;
    oa_status st;

    if (j->failed)
        return oa_error_set(err, OA_ENOMEM,
                            "out of memory while compressing a file");
    /* Split before a file that would take the archive past the limit. */
    if (z->files_in_current > 0 && z->written + cost > z->max) {
        st = close_current(z, err);
        if (st == OA_OK)
            st = start_archive(z, err);
        if (st != OA_OK)
            return st;
    }
    memset(&info, 0, sizeof(info));
    localtime_r(&now, &tm);
    info.tmz_date.tm_sec = (uInt)tm.tm_sec;
    info.tmz_date.tm_min = (uInt)tm.tm_min;
    info.tmz_date.tm_hour = (uInt)tm.tm_hour;
    info.tmz_date.tm_mday = (uInt)tm.tm_mday;
    info.tmz_date.tm_mon = (uInt)tm.tm_mon;
    info.tmz_date.tm_year = (uInt)tm.tm_year + 1900;
    info.external_fa = 0644u << 16;
    zip64 = (z->written + cost >= 0xFFFFFFFFull || j->len >= 0xFFFFFFFFull);
    errno = 0;   /* minizip reports no errno: the one stdio left says why */
    /* raw: the bytes are already what the entry holds (deflated or not) */
    rc = zipOpenNewFileInZip4_64(z->zf, j->entry, &info, NULL, 0, NULL, 0,
                                 NULL, deflated ? Z_DEFLATED : 0,
                                 deflated ? z->pool.level : 0, 1, -MAX_WBITS,
                                 DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY, NULL, 0, 0,
                                 0, zip64);
    if (rc != ZIP_OK)
        return oa_error_set(err, OA_EIO, "cannot add a file to the archive "
                            "(%d): %s", rc,
                            errno != 0 ? strerror(errno) : "disk full?");
    for (off = 0; off < len && rc == ZIP_OK;) {
        unsigned chunk = len - off > (1u << 30) ? (1u << 30)
                                                : (unsigned)(len - off);

        rc = zipWriteInFileInZip(z->zf, data + off, chunk);
        off += chunk;
    }
    if (zipCloseFileInZipRaw64(z->zf, (ZPOS64_T)j->len, j->crc) != ZIP_OK ||
        rc != ZIP_OK)
        return oa_error_set(err, OA_EIO, "cannot write to the archive: %s",
                            errno != 0 ? strerror(errno) : "disk full?");
    z->written += cost;
    z->files_in_current++;
    return OA_OK;
}

/* Write the finished jobs at the head of the queue; with `wait`, wait for
 * the head until at most `keep` jobs and QUEUE_BYTES stay queued. */
static oa_status drain(zip_exporter *z, size_t keep, oa_error *err)
{
    zip_pool *p = &z->pool;
    oa_status rc = OA_OK;

    pthread_mutex_lock(&p->mu);
    while (p->head != NULL) {
        zip_job *j = p->head;

        if (j->state != JOB_DONE) {
            if (p->queued <= keep && p->queued_bytes <= QUEUE_BYTES)
                break;
            pthread_cond_wait(&p->done, &p->mu);
            continue;
        }
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued--;
        p->queued_bytes -= j->len;
        pthread_mutex_unlock(&p->mu);
        if (rc == OA_OK)
            rc = write_job(z, j, err);
        job_free(j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static oa_status zip_put(oa_exporter *e, const char *relpath,
                         const uint8_t *data, size_t len, unsigned flags,
                         oa_error *err)
{
    zip_exporter *z = (zip_exporter *)e;
    zip_pool *p = &z->pool;
    zip_job *j;
    int n;
    oa_status rc;

    if (z->failure != OA_OK)   /* an earlier file could not be written */
        return oa_error_set(err, z->failure, "%s", z->failure_msg);
    if (!oa_export_relpath_is_safe(relpath))
        return oa_error_set(err, OA_EINVAL, "unsafe file name in export");
    j = oa_calloc(1, sizeof(*j));
    if (j == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    n = snprintf(j->entry, sizeof(j->entry), "%s/%s", z->name, relpath);
    if (n < 0 || (size_t)n >= sizeof(j->entry)) {
        oa_free(j);
        return oa_error_set(err, OA_EINVAL, "file name too long");
    }
    j->data = oa_malloc(len ? len : 1);
    if (j->data == NULL) {
        oa_free(j);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    memcpy(j->data, data, len);
    j->len = len;
    j->store = (flags & OA_EXPORT_PUT_COMPRESSED) != 0 || p->level == 0;
    /* room first: at most 2 files per worker and QUEUE_BYTES queued */
    rc = drain(z, 2 * (size_t)p->nthreads - 1, err);
    if (rc != OA_OK) {
        job_free(j);
        z->failure = rc;
        snprintf(z->failure_msg, sizeof(z->failure_msg), "%s", err->msg);
        return rc;
    }
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    p->queued_bytes += len;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return OA_OK;
}

static oa_status zip_finish(oa_exporter *e, oa_export_result *res,
                            oa_error *err)
{
    zip_exporter *z = (zip_exporter *)e;
    oa_status rc = z->failure != OA_OK
                       ? oa_error_set(err, z->failure, "%s", z->failure_msg)
                       : drain(z, 0, err);
    size_t i;

    if (rc == OA_OK)
        rc = close_current(z, err);
    if (rc != OA_OK)
        return rc;
    res->archive_paths = oa_calloc(z->count, sizeof(char *));
    res->archive_sizes = oa_calloc(z->count, sizeof(uint64_t));
    if (res->archive_paths == NULL || res->archive_sizes == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    for (i = 0; i < z->count; i++) {
        char *final = archive_path(z, i + 1, "");
        struct stat st;

        if (final == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        if (rename(z->partials[i], final) != 0) {
            rc = oa_error_set(err, OA_EIO, "cannot rename %s: %s",
                              z->partials[i], strerror(errno));
            oa_free(final);
            return rc;
        }
        if (lstat(final, &st) == 0 && S_ISREG(st.st_mode))
            res->archive_sizes[i] = (uint64_t)st.st_size;
        res->archive_paths[i] = final;
        res->archive_count = i + 1;
    }
    snprintf(res->location, sizeof(res->location), "%s",
             res->archive_count > 0 ? res->archive_paths[0] : z->folder);
    return OA_OK;
}

static void zip_abort(oa_exporter *e)
{
    zip_exporter *z = (zip_exporter *)e;
    size_t i;

    if (z->pool_started) {
        pool_stop(&z->pool);
        z->pool_started = false;
    }
    if (z->zf != NULL) {
        zipClose(z->zf, NULL);
        z->zf = NULL;
    }
    for (i = 0; i < z->count; i++)
        unlink(z->partials[i]);
}

static void zip_free(oa_exporter *e)
{
    zip_exporter *z = (zip_exporter *)e;
    size_t i;

    if (z == NULL)
        return;
    if (z->zf != NULL)
        zip_abort(e);
    if (z->pool_started) {
        pool_stop(&z->pool);
        z->pool_started = false;
    }
    for (i = 0; i < z->count; i++)
        oa_free(z->partials[i]);
    oa_free(z->partials);
    oa_free(z->sizes);
    oa_free(z->folder);
    oa_free(z->name);
    oa_free(z);
}

static const oa_export_ops zip_ops = {
    zip_test,   /* test */
    zip_open,   /* open */
    zip_put,    /* put */
    NULL,       /* put_orthanc */
    zip_finish, /* finish */
    zip_abort,  /* abort */
    zip_free,   /* free */
};

const oa_export_backend oa_export_backend_zip = {"zip", false, &zip_ops};
