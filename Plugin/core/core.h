/*
 * core: status codes, the error record, bounded buffers, overflow-checked
 * size arithmetic and the logging hook.  Everything else in the plugin
 * stands on this module; it depends on libc only.
 *
 * Conventions (see README "Code conventions"):
 *  - every fallible function returns oa_status (OA_OK == 0, failures < 0)
 *    and takes an optional `oa_error *err` last;
 *  - oa_error is caller-provided and fixed-size, so reporting a failure
 *    never allocates and needs no thread-local storage;
 *  - error messages name tags and byte offsets, never values: this is an
 *    anonymizer and values may be patient data.
 */
#ifndef OA_CORE_H
#define OA_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define OA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define OA_UNUSED __attribute__((unused))
#else
#define OA_PRINTF(fmt, args)
#define OA_UNUSED
#endif

/* Status codes.  Keep this list short (libgit2, libdicom). */
typedef enum oa_status {
    OA_OK = 0,
    OA_ENOMEM = -1,      /* allocation failed */
    OA_EINVAL = -2,      /* bad argument, bad option, bad JSON */
    OA_EPARSE = -3,      /* malformed input (DICOM, JSON, ...) */
    OA_EIO = -4,         /* local file system */
    OA_ENOTFOUND = -5,   /* unknown resource */
    OA_EAUTH = -6,       /* remote refused the credentials */
    OA_ENET = -7,        /* remote unreachable or failed */
    OA_ELIMIT = -8,      /* a ceiling (size, depth, count) was reached */
    OA_ECANCELLED = -9,  /* the user cancelled */
    OA_EUNSUPPORTED = -10, /* valid input we do not handle */
    OA_ELEAK = -11,      /* the leak check found identifying data */
    OA_ECONFLICT = -12   /* state conflict (e.g. built-in profile) */
} oa_status;

/* Returned by handlers to ask for the current subtree to be skipped. */
#define OA_SKIP 1

#define OA_ERROR_MSG_MAX 256
#define OA_NO_TAG 0xFFFFFFFFu
#define OA_NO_OFFSET ((size_t)-1)

/*
 * An error record.  `tag` is the DICOM tag the failure concerns
 * (OA_NO_TAG if none) and `offset` the byte offset in the input
 * (OA_NO_OFFSET if none).  The message never contains a DICOM value.
 */
typedef struct oa_error {
    oa_status code;
    uint32_t tag;
    size_t offset;
    char msg[OA_ERROR_MSG_MAX];
} oa_error;

/* Reset to "no error". NULL-safe. */
void oa_error_clear(oa_error *err);

/*
 * Record a failure and return `code`, so that `return oa_error_set(...)`
 * works.  NULL-safe: with err == NULL only `code` is returned.  The tag
 * and offset of an earlier oa_error_at() are kept.  The arguments may
 * include err->msg (to wrap an earlier message).
 */
oa_status oa_error_set(oa_error *err, oa_status code, const char *fmt, ...)
    OA_PRINTF(3, 4);

/* Same, naming a tag and an input offset. */
oa_status oa_error_at(oa_error *err, oa_status code, uint32_t tag,
                      size_t offset, const char *fmt, ...) OA_PRINTF(5, 6);

/* Short English name of a status ("parse error", ...). Never NULL. */
const char *oa_status_str(oa_status code);

/*
 * Format an error for a log line or an HTTP answer, with the tag as
 * "(gggg,eeee)" and the offset when known.  Always NUL-terminates.
 */
void oa_error_format(const oa_error *err, char *out, size_t out_size);

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
static inline int oa_size_add(size_t *out, size_t a, size_t b)
{
    if (a > SIZE_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

static inline int oa_size_mul(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/*
 * Allocation.  All plugin code allocates through these so that a test can
 * fail the n-th allocation (oa_alloc_fail_after) and check that every path
 * returns OA_ENOMEM without leaking.
 */
void *oa_malloc(size_t size);
void *oa_calloc(size_t n, size_t size);
void *oa_realloc(void *p, size_t size);
void oa_free(void *p);
char *oa_strdup(const char *s);
char *oa_strndup(const char *s, size_t n);
/* Testing only: make the n-th next allocation fail (0 = none). */
void oa_alloc_fail_after(long n);

/*
 * A growable byte buffer with a ceiling (curl's dynbuf): it never grows
 * past `max`.  An append that would exceed it fails with OA_ELIMIT and
 * leaves the buffer unchanged.  `head` bytes of headroom may be reserved
 * in front of the data (used by the DICOM writer to prepend the meta group
 * without a copy).
 */
typedef struct oa_buf {
    uint8_t *mem;     /* allocation */
    size_t head;      /* headroom before data */
    size_t len;       /* bytes of data */
    size_t cap;       /* bytes allocated after head */
    size_t max;       /* ceiling on len */
} oa_buf;

/* Bytes in a buffer, little and big endian (the caller checked the room). */
static inline uint16_t oa_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t oa_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint16_t oa_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t oa_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static inline void oa_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void oa_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void oa_put_le64(uint8_t *p, uint64_t v)
{
    oa_put_le32(p, (uint32_t)v);
    oa_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline void oa_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void oa_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void oa_buf_init(oa_buf *b, size_t max);
void oa_buf_dispose(oa_buf *b);
/* Forget the data, keep the allocation. */
void oa_buf_reset(oa_buf *b);
/* Make room for at least `extra` more bytes. */
oa_status oa_buf_reserve(oa_buf *b, size_t extra);
/* Reserve `head` bytes of headroom; only on an empty buffer. */
oa_status oa_buf_set_headroom(oa_buf *b, size_t head);
oa_status oa_buf_append(oa_buf *b, const void *data, size_t len);
oa_status oa_buf_append_byte(oa_buf *b, uint8_t byte);
oa_status oa_buf_printf(oa_buf *b, const char *fmt, ...) OA_PRINTF(2, 3);
/* Pointer to the data (borrowed). */
static inline uint8_t *oa_buf_data(const oa_buf *b)
{
    return b->mem ? b->mem + b->head : NULL;
}
/* NUL-terminate (not counted in len) and return the data as a string. */
const char *oa_buf_cstr(oa_buf *b);

/*
 * Logging.  The sink is set once at start-up (the Orthanc layer routes it to
 * Orthanc's log; the command-line tool to stderr).  Messages must not hold
 * PHI.
 */
typedef enum oa_log_level {
    OA_LOG_ERROR = 0,
    OA_LOG_WARNING = 1,
    OA_LOG_INFO = 2
} oa_log_level;

typedef void (*oa_log_sink)(oa_log_level level, const char *msg);
void oa_log_set_sink(oa_log_sink sink);
void oa_log(oa_log_level level, const char *fmt, ...) OA_PRINTF(2, 3);

/* Tag helpers. */
#define OA_TAG(g, e) ((uint32_t)(((uint32_t)(g) << 16) | (uint32_t)(e)))
#define OA_TAG_GROUP(t) ((uint16_t)((t) >> 16))
#define OA_TAG_ELEMENT(t) ((uint16_t)((t) & 0xFFFFu))

/* Format a tag as "(gggg,eeee)" into out[12]. */
void oa_tag_format(uint32_t tag, char out[12]);
/* Parse "gggg,eeee", "(gggg,eeee)" or "ggggeeee"; returns 0 on success. */
int oa_tag_parse(const char *s, uint32_t *out);

/* The decimal of the 128-bit big-endian number `in` into `out` (at most
 * 39 digits and a NUL); its length, or 0 when `size` is too small. */
size_t oa_u128_decimal(const uint8_t in[16], char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* OA_CORE_H */
