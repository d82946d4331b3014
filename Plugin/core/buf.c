/*
 * Allocation wrappers (with a failure-injection hook for tests) and the
 * bounded growable buffer.  A buffer grows geometrically but never past
 * its ceiling; a failed append leaves it as it was.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Failure injection for tests only.  Not thread-safe by design: tests
 * that use it are single-threaded, and production never sets it.
 */
static long alloc_fail_countdown;

void oa_alloc_fail_after(long n)
{
    alloc_fail_countdown = n;
}

static int alloc_should_fail(void)
{
    if (alloc_fail_countdown <= 0)
        return 0;
    if (--alloc_fail_countdown == 0)
        return 1;
    return 0;
}

void *oa_malloc(size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *oa_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *oa_realloc(void *p, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, size ? size : 1);
}

void oa_free(void *p)
{
    free(p);
}

char *oa_strndup(const char *s, size_t n)
{
    char *copy;
    size_t len = 0;

    if (s == NULL)
        return NULL;
    while (len < n && s[len])
        len++;
    copy = oa_malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *oa_strdup(const char *s)
{
    return s ? oa_strndup(s, strlen(s)) : NULL;
}

void oa_buf_init(oa_buf *b, size_t max)
{
    b->mem = NULL;
    b->head = 0;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void oa_buf_dispose(oa_buf *b)
{
    if (b == NULL)
        return;
    oa_free(b->mem);
    b->mem = NULL;
    b->head = 0;
    b->len = 0;
    b->cap = 0;
}

void oa_buf_reset(oa_buf *b)
{
    b->len = 0;
}

oa_status oa_buf_reserve(oa_buf *b, size_t extra)
{
    size_t need, newcap, total;
    uint8_t *mem;

    if (oa_size_add(&need, b->len, extra) != 0 || need > b->max)
        return OA_ELIMIT;
    /* one spare byte for oa_buf_cstr() */
    if (need + 1 <= b->cap)
        return OA_OK;
    newcap = b->cap ? b->cap : 256;
    while (newcap < need + 1) {
        if (newcap > SIZE_MAX / 2) {
            newcap = need + 1;
            break;
        }
        newcap *= 2;
    }
    if (newcap > b->max + 1)
        newcap = b->max + 1;
    if (oa_size_add(&total, newcap, b->head) != 0)
        return OA_ELIMIT;
    mem = oa_realloc(b->mem, total);
    if (mem == NULL)
        return OA_ENOMEM;
    b->mem = mem;
    b->cap = newcap;
    return OA_OK;
}

oa_status oa_buf_set_headroom(oa_buf *b, size_t head)
{
    uint8_t *mem;

    if (b->len != 0)
        return OA_EINVAL;
    if (head == b->head)
        return OA_OK;
    mem = oa_realloc(b->mem, head + b->cap + 1);
    if (mem == NULL)
        return OA_ENOMEM;
    b->mem = mem;
    b->head = head;
    return OA_OK;
}

oa_status oa_buf_append(oa_buf *b, const void *data, size_t len)
{
    oa_status rc;

    if (len == 0)
        return OA_OK;
    rc = oa_buf_reserve(b, len);
    if (rc != OA_OK)
        return rc;
    memcpy(b->mem + b->head + b->len, data, len);
    b->len += len;
    return OA_OK;
}

oa_status oa_buf_append_byte(oa_buf *b, uint8_t byte)
{
    return oa_buf_append(b, &byte, 1);
}

oa_status oa_buf_printf(oa_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    oa_status rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return OA_EINVAL;
    rc = oa_buf_reserve(b, (size_t)n + 1);
    if (rc != OA_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->mem + b->head + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return OA_OK;
}

const char *oa_buf_cstr(oa_buf *b)
{
    static const char empty[1] = "";

    if (b->mem == NULL)
        return empty;
    /* oa_buf_reserve always keeps one spare byte after len */
    b->mem[b->head + b->len] = '\0';
    return (const char *)b->mem + b->head;
}
