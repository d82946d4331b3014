/*
 * The "zip" backend: the export tree as ZIP archives in a local folder
 * (the archive folder), downloaded later through the plugin.
 *
 * Parallel: put() copies the file into a bounded queue; a pool of worker
 * threads (one per core, at most 8) deflates whole files (raw DEFLATE:
 * our own fast compressor of deflate.c, or libdeflate's level 9; CRC-32
 * by libdeflate); the caller's thread appends the finished
 * entries to the archive in the order they were put (our own writer:
 * the records minizip 1.1 wrote, each entry's bytes written once from the
 * worker's buffer), so the archive is the same whatever the threads did.  Memory
 * is bounded: at most 2 files per worker and QUEUE_BYTES are queued, never
 * the study.  Compression ("Compression" of the target): "store" (none),
 * "fast" (the default: deflate.c, runs and Huffman codes, most of the
 * gain on images at a fraction of the time), "best" (libdeflate's
 * level 9).  DICOM with compressed pixel data (an
 * encapsulated or deflated transfer syntax) is always stored, since
 * deflating it again costs time and wins nothing, and so is a file that
 * deflate would not make smaller.  ZIP64 records are used when an archive
 * passes 4 GiB or 65,534 entries.
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

#define DEFAULT_MAX_ARCHIVE ((uint64_t)1 << 30)
#define MAX_ARCHIVES 10000
/* Local header + central directory entry + ZIP64 extras, per file. */
#define ENTRY_OVERHEAD 256
#define MAX_WORKERS 8
#define QUEUE_BYTES ((size_t)256 << 20)
/* The archive's own write buffer (headers and small entries). */
#define OUT_BUFFER ((size_t)64 << 10)

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

/* The archive being written: its file, what was written to it, and its
 * central directory (written at the end). */
typedef struct zip_out {
    int fd;                  /* -1: no archive open */
    uint64_t pos;            /* bytes of the archive so far */
    uint8_t *buf;            /* OUT_BUFFER bytes not yet written */
    size_t buf_len;
    uint8_t *cdir;           /* the central directory's entries */
    size_t cdir_len, cdir_cap;
    uint64_t entries;
    int error;               /* errno of the first failed write, or 0 */
} zip_out;

typedef struct zip_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* a job was queued, or stop */
    pthread_cond_t done;     /* a job is done */
    zip_job *head, *tail;    /* in put() order */
    size_t queued, queued_bytes;
    bool stop;
    int level;               /* 0: store all, 1: fast (ours), 9: best */
    pthread_t threads[MAX_WORKERS];
    unsigned nthreads;
} zip_pool;

struct zip_exporter {
    oa_exporter base;
    char *folder;
    char *name;
    uint64_t max;
    zip_out out;            /* the archive being written (fd -1: none) */
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

/* One worker's compressor: ours for "fast", libdeflate's for "best". */
typedef struct zip_compressor {
    oa_deflater *fast;
    struct libdeflate_compressor *best;
} zip_compressor;

/* Deflate one file (raw DEFLATE), or leave it to be stored. */
static void compress_job(zip_compressor *c, zip_job *j)
{
    j->crc = (uint32_t)libdeflate_crc32(0, j->data, j->len);
    if ((c->fast == NULL && c->best == NULL) || j->store || j->len == 0)
        return;
    {
        size_t bound = c->fast != NULL
                           ? oa_deflate_fast_bound(j->len)
                           : libdeflate_deflate_compress_bound(c->best, j->len);
        uint8_t *out = oa_malloc(bound);
        size_t n;

        if (out == NULL) {
            j->failed = true;
            return;
        }
        n = c->fast != NULL
                ? oa_deflate_fast(c->fast, j->data, j->len, out, bound)
                : libdeflate_deflate_compress(c->best, j->data, j->len, out,
                                              bound);
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
    zip_compressor c = {NULL, NULL};
    bool ready = true;

    if (p->level == 1)
        ready = (c.fast = oa_deflater_new()) != NULL;
    else if (p->level > 1)
        ready = (c.best = libdeflate_alloc_compressor(p->level)) != NULL;
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
        if (!ready)
            j->failed = true;
        else
            compress_job(&c, j);
        pthread_mutex_lock(&p->mu);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    oa_deflater_free(c.fast);
    libdeflate_free_compressor(c.best);
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

/* ------------------------------------------------------------------ */
/* The archive's writer                                                 */
/*
 * Our own, since every entry arrives finished (deflated or not, its
 * CRC-32 known): minizip copied each byte into its buffer and computed a
 * CRC-32 of the written bytes again, on the one thread that appends, for
 * a value it then discards (a third of a `store` export's CPU).  The
 * records are those minizip 1.1 wrote (zipOpenNewFileInZip4_64 raw with
 * version-made-by 0, zipCloseFileInZipRaw64, zipClose), byte for byte, the
 * local header written once with its final values instead of patched;
 * and the ZIP64 end records are also written from 65,535 entries on
 * (minizip 1.1 wrote them only past 4 GiB: an archive of more entries
 * failed `unzip -t`).
 */

static void out_init(zip_out *o)
{
    memset(o, 0, sizeof(*o));
    o->fd = -1;
}

/* Write n bytes to the file (retried on short writes and EINTR). */
static bool out_write_fd(zip_out *o, const uint8_t *p, size_t n)
{
    while (n > 0 && o->error == 0) {
        ssize_t w = write(o->fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30
                                                          : n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            o->error = w < 0 ? errno : ENOSPC;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    return o->error == 0;
}

static bool out_flush(zip_out *o)
{
    bool ok = out_write_fd(o, o->buf, o->buf_len);

    o->buf_len = 0;
    return ok;
}

/* Append n bytes to the archive: small ones through the buffer, large
 * ones straight from the caller's memory. */
static bool out_write(zip_out *o, const void *data, size_t n)
{
    const uint8_t *p = data;

    if (o->error != 0)
        return false;
    if (n == 0)
        return true;   /* data may be NULL (an empty comment, say) */
    o->pos += n;
    if (n >= OUT_BUFFER / 2) {
        return out_flush(o) && out_write_fd(o, p, n);
    }
    if (o->buf_len + n > OUT_BUFFER && !out_flush(o))
        return false;
    memcpy(o->buf + o->buf_len, p, n);
    o->buf_len += n;
    return true;
}

/* Create the archive with O_NOFOLLOW and O_EXCL (the .partial was just
 * unlinked: nobody else may be there). */
static bool out_create(zip_out *o, const char *path)
{
    out_init(o);
    o->buf = oa_malloc(OUT_BUFFER);
    if (o->buf == NULL) {
        errno = ENOMEM;
        return false;
    }
    o->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600);
    if (o->fd < 0) {
        int e = errno;

        oa_free(o->buf);
        o->buf = NULL;
        errno = e;
        return false;
    }
    return true;
}

/* Close the file, without the end records (abort), and free. */
static void out_discard(zip_out *o)
{
    if (o->fd >= 0)
        close(o->fd);
    oa_free(o->buf);
    oa_free(o->cdir);
    out_init(o);
}

static bool cdir_reserve(zip_out *o, size_t n)
{
    size_t cap = o->cdir_cap ? o->cdir_cap : 4096;
    uint8_t *p;

    if (n <= o->cdir_cap - o->cdir_len)
        return true;
    while (cap - o->cdir_len < n) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    p = oa_realloc(o->cdir, cap);
    if (p == NULL)
        return false;
    o->cdir = p;
    o->cdir_cap = cap;
    return true;
}

/* MS-DOS date and time of `t` (local time, as minizip's tm_zip gave). */
static uint32_t dos_date(time_t t)
{
    struct tm tm;
    uint32_t year;

    localtime_r(&t, &tm);
    year = (uint32_t)tm.tm_year + 1900;
    if (year >= 1980)
        year -= 1980;
    else if (year >= 80)
        year -= 80;
    return (((uint32_t)tm.tm_mday + 32u * (uint32_t)(tm.tm_mon + 1) +
             512u * year) << 16) |
           ((uint32_t)tm.tm_sec / 2 + 32u * (uint32_t)tm.tm_min +
            2048u * (uint32_t)tm.tm_hour);
}

/*
 * One entry: its local header, its bytes (`data`, `len`: deflated or
 * stored as they go in the archive), its central directory record kept
 * for the end.  `zip64`: the local header has room for ZIP64 sizes (the
 * archive may pass 4 GiB).  False on a failed write or out of memory.
 */
static bool out_entry(zip_out *o, const char *name, const uint8_t *data,
                      size_t len, uint64_t usize, uint32_t crc, bool deflated,
                      int level, bool zip64, time_t now)
{
    uint8_t h[30 + 20], *c;
    size_t nlen = strlen(name);
    uint64_t at = o->pos, csize = len;
    unsigned flag = 0, extra = 0;
    uint32_t date = dos_date(now);
    bool big = csize >= 0xFFFFFFFFu || usize >= 0xFFFFFFFFu ||
               at >= 0xFFFFFFFFu;

    if (nlen > 0xFFFF)
        return false;
    if (deflated && (level == 8 || level == 9))
        flag = 2;
    else if (deflated && level == 2)
        flag = 4;
    else if (deflated && level == 1)
        flag = 6;
    /* the local header */
    oa_put_le32(h, 0x04034b50u);
    oa_put_le16(h + 4, zip64 ? 45 : 20);
    oa_put_le16(h + 6, flag);
    oa_put_le16(h + 8, deflated ? 8 : 0);
    oa_put_le32(h + 10, date);
    oa_put_le32(h + 14, crc);
    if (zip64 && usize >= 0xFFFFFFFFu) {
        oa_put_le32(h + 18, 0xFFFFFFFFu);
        oa_put_le32(h + 22, 0xFFFFFFFFu);
    } else {
        oa_put_le32(h + 18, (uint32_t)csize);
        oa_put_le32(h + 22, (uint32_t)usize);
    }
    oa_put_le16(h + 26, nlen);
    oa_put_le16(h + 28, zip64 ? 20 : 0);
    if (!out_write(o, h, 30) || !out_write(o, name, nlen))
        return false;
    if (zip64) {   /* its sizes only when they need it, as minizip */
        bool sizes = usize >= 0xFFFFFFFFu;

        oa_put_le16(h, 1);
        oa_put_le16(h + 2, 16);
        oa_put_le64(h + 4, sizes ? usize : 0);
        oa_put_le64(h + 12, sizes ? csize : 0);
        if (!out_write(o, h, 20))
            return false;
    }
    if (!out_write(o, data, len))
        return false;
    /* the central directory record */
    if (!cdir_reserve(o, 46 + nlen + 28))
        return false;
    c = o->cdir + o->cdir_len;
    oa_put_le32(c, 0x02014b50u);
    oa_put_le16(c + 4, big ? 45 : 0);
    oa_put_le16(c + 6, big ? 45 : 20);
    oa_put_le16(c + 8, flag);
    oa_put_le16(c + 10, deflated ? 8 : 0);
    oa_put_le32(c + 12, date);
    oa_put_le32(c + 16, crc);
    oa_put_le32(c + 20, csize >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)csize);
    oa_put_le32(c + 24, usize >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)usize);
    oa_put_le16(c + 28, nlen);
    oa_put_le16(c + 32, 0);                      /* comment */
    oa_put_le16(c + 34, 0);                      /* disk */
    oa_put_le16(c + 36, 0);                      /* internal attributes */
    oa_put_le32(c + 38, 0644u << 16);            /* external: rw-r--r-- */
    oa_put_le32(c + 42, at >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)at);
    memcpy(c + 46, name, nlen);
    extra = 0;
    if (usize >= 0xFFFFFFFFu)
        extra += 8;
    if (csize >= 0xFFFFFFFFu)
        extra += 8;
    if (at >= 0xFFFFFFFFu)
        extra += 8;
    if (extra > 0) {
        uint8_t *p = c + 46 + nlen;

        oa_put_le16(p, 1);
        oa_put_le16(p + 2, extra);
        p += 4;
        if (usize >= 0xFFFFFFFFu) {
            oa_put_le64(p, usize);
            p += 8;
        }
        if (csize >= 0xFFFFFFFFu) {
            oa_put_le64(p, csize);
            p += 8;
        }
        if (at >= 0xFFFFFFFFu)
            oa_put_le64(p, at);
        extra += 4;
    }
    oa_put_le16(c + 30, extra);
    o->cdir_len += 46 + nlen + extra;
    o->entries++;
    return true;
}

/* The central directory and the end records; the file closed. */
static bool out_close(zip_out *o)
{
    uint8_t e[56 + 20 + 22];
    uint64_t at = o->pos, size = o->cdir_len;
    size_t n = 0;
    bool ok;

    ok = out_write(o, o->cdir, o->cdir_len);
    if (at >= 0xFFFFFFFFu || o->entries >= 0xFFFF ||
        size >= 0xFFFFFFFFu) {
        uint64_t eocd64 = o->pos;

        oa_put_le32(e, 0x06064b50u);
        oa_put_le64(e + 4, 44);
        oa_put_le16(e + 12, 45);
        oa_put_le16(e + 14, 45);
        oa_put_le32(e + 16, 0);
        oa_put_le32(e + 20, 0);
        oa_put_le64(e + 24, o->entries);
        oa_put_le64(e + 32, o->entries);
        oa_put_le64(e + 40, size);
        oa_put_le64(e + 48, at);
        oa_put_le32(e + 56, 0x07064b50u);
        oa_put_le32(e + 60, 0);
        oa_put_le64(e + 64, eocd64);
        oa_put_le32(e + 72, 1);
        n = 76;
    }
    oa_put_le32(e + n, 0x06054b50u);
    oa_put_le16(e + n + 4, 0);
    oa_put_le16(e + n + 6, 0);
    oa_put_le16(e + n + 8, o->entries >= 0xFFFF ? 0xFFFF : (unsigned)o->entries);
    oa_put_le16(e + n + 10, o->entries >= 0xFFFF ? 0xFFFF : (unsigned)o->entries);
    oa_put_le32(e + n + 12, size >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)size);
    oa_put_le32(e + n + 16, at >= 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)at);
    oa_put_le16(e + n + 20, 0);                  /* comment */
    n += 22;
    ok = ok && out_write(o, e, n) && out_flush(o);
    if (close(o->fd) != 0 && ok) {
        o->error = errno;
        ok = false;
    }
    o->fd = -1;
    return ok;
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
    bool ok;
    int e;

    if (z->out.fd < 0)
        return OA_OK;
    ok = out_close(&z->out);
    e = z->out.error;
    out_discard(&z->out);
    if (!ok)
        return oa_error_set(err, OA_EIO, "cannot finish archive %zu: %s",
                            z->count, e != 0 ? strerror(e) : "out of memory");
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
    if (!out_create(&z->out, path)) {
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
    out_init(&z->out);
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
    const uint8_t *data = j->deflated != NULL ? j->deflated : j->data;
    size_t len = j->deflated != NULL ? j->deflated_len : j->len;
    uint64_t cost = (uint64_t)len + ENTRY_OVERHEAD + 2 * strlen(j->entry);
    bool zip64;
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
    zip64 = (z->written + cost >= 0xFFFFFFFFull || j->len >= 0xFFFFFFFFull);
    if (!out_entry(&z->out, j->entry, data, len, j->len, j->crc,
                   j->deflated != NULL, z->pool.level, zip64, time(NULL)))
        return oa_error_set(err, OA_EIO, "cannot write to the archive: %s",
                            z->out.error != 0 ? strerror(z->out.error)
                                              : "out of memory");
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
    if (len > 0)   /* data may be NULL for an empty file */
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
    out_discard(&z->out);
    for (i = 0; i < z->count; i++)
        unlink(z->partials[i]);
}

static void zip_free(oa_exporter *e)
{
    zip_exporter *z = (zip_exporter *)e;
    size_t i;

    if (z == NULL)
        return;
    if (z->out.fd >= 0)
        zip_abort(e);
    if (z->pool_started) {
        pool_stop(&z->pool);
        z->pool_started = false;
    }
    out_discard(&z->out);
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
