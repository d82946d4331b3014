/*
 * Whole-file input and atomic output for the command-line tool and the
 * tests.  A file is read into a reusable bounded buffer; a file is written
 * under a temporary name in the same folder and renamed, so a reader never
 * sees half of it under its final name.
 */
#define _XOPEN_SOURCE 700
#include "dicom.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static oa_status file_read(const char *path, int flags, oa_buf *buf,
                           oa_error *err)
{
    struct stat st;
    int fd;
    size_t done = 0;
    oa_status rc = OA_OK;

    oa_buf_reset(buf);
    fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0 && errno == ELOOP && (flags & O_NOFOLLOW))
        return oa_error_set(err, OA_EIO,
                            "refused to open a symbolic link: the file "
                            "was replaced");
    if (fd < 0)
        return oa_error_set(err, errno == ENOENT ? OA_ENOTFOUND : OA_EIO,
                            "cannot open input file: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return oa_error_set(err, OA_EIO, "input is not a regular file");
    }
    if ((uint64_t)st.st_size > buf->max) {
        close(fd);
        return oa_error_set(err, OA_ELIMIT,
                            "input file of %lld bytes exceeds the %zu-byte "
                            "ceiling", (long long)st.st_size, buf->max);
    }
    rc = oa_buf_reserve(buf, (size_t)st.st_size);
    if (rc != OA_OK) {
        close(fd);
        return oa_error_set(err, rc, "cannot allocate the input buffer");
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, oa_buf_data(buf) + done,
                         (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = oa_error_set(err, OA_EIO, "cannot read input file: %s",
                              n < 0 ? strerror(errno) : "file shrank");
            break;
        }
        done += (size_t)n;
    }
    close(fd);
    buf->len = done;
    return rc;
}

oa_status oa_file_read(const char *path, oa_buf *buf, oa_error *err)
{
    return file_read(path, 0, buf, err);
}

oa_status oa_file_read_nofollow(const char *path, oa_buf *buf,
                                oa_error *err)
{
    return file_read(path, O_NOFOLLOW, buf, err);
}

oa_status oa_file_write(const char *path, const uint8_t *data, size_t len,
                        oa_error *err)
{
    char tmp[4096];
    int fd, n;
    size_t done = 0;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return oa_error_set(err, OA_EINVAL, "output path too long");
    fd = mkstemp(tmp);
    if (fd < 0)
        return oa_error_set(err, OA_EIO, "cannot create output file: %s",
                            strerror(errno));
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return oa_error_set(err, OA_EIO, "cannot write output file: %s",
                                strerror(e));
        }
        done += (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
        unlink(tmp);
        return oa_error_set(err, OA_EIO, "cannot close output file");
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return oa_error_set(err, OA_EIO, "cannot rename output file: %s",
                            strerror(e));
    }
    return OA_OK;
}
