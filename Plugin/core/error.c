/*
 * Error records and tag formatting.  An oa_error is filled in place, so
 * reporting never allocates; messages are truncated to OA_ERROR_MSG_MAX.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

void oa_error_clear(oa_error *err)
{
    if (err == NULL)
        return;
    err->code = OA_OK;
    err->tag = OA_NO_TAG;
    err->offset = OA_NO_OFFSET;
    err->msg[0] = '\0';
}

OA_PRINTF(3, 0)
static void error_vset(oa_error *err, oa_status code, const char *fmt,
                       va_list ap)
{
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s", oa_status_str(code));
        return;
    }
    /* Through a copy: the arguments may quote err->msg itself, to wrap an
     * earlier message ("option X: %s", err->msg). */
    {
        char msg[sizeof(err->msg)];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        memcpy(err->msg, msg, sizeof(msg));
    }
}

oa_status oa_error_set(oa_error *err, oa_status code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

oa_status oa_error_at(oa_error *err, oa_status code, uint32_t tag,
                      size_t offset, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->tag = tag;
    err->offset = offset;
    va_start(ap, fmt);
    error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

const char *oa_status_str(oa_status code)
{
    switch (code) {
    case OA_OK: return "success";
    case OA_ENOMEM: return "out of memory";
    case OA_EINVAL: return "invalid argument";
    case OA_EPARSE: return "malformed input";
    case OA_EIO: return "input/output error";
    case OA_ENOTFOUND: return "not found";
    case OA_EAUTH: return "authentication refused";
    case OA_ENET: return "network error";
    case OA_ELIMIT: return "limit exceeded";
    case OA_ECANCELLED: return "cancelled";
    case OA_EUNSUPPORTED: return "unsupported";
    case OA_ELEAK: return "identifying data left in output";
    case OA_ECONFLICT: return "conflict";
    }
    return "unknown error";
}

void oa_error_format(const oa_error *err, char *out, size_t out_size)
{
    char tag[12];
    int n;

    if (out == NULL || out_size == 0)
        return;
    if (err == NULL) {
        snprintf(out, out_size, "%s", oa_status_str(OA_OK));
        return;
    }
    n = snprintf(out, out_size, "%s",
                 err->msg[0] ? err->msg : oa_status_str(err->code));
    if (n < 0 || (size_t)n >= out_size)
        return;
    if (err->tag != OA_NO_TAG) {
        oa_tag_format(err->tag, tag);
        if (err->offset != OA_NO_OFFSET)
            snprintf(out + n, out_size - (size_t)n, " (tag %s, offset %zu)",
                     tag, err->offset);
        else
            snprintf(out + n, out_size - (size_t)n, " (tag %s)", tag);
    } else if (err->offset != OA_NO_OFFSET) {
        snprintf(out + n, out_size - (size_t)n, " (offset %zu)", err->offset);
    }
}

void oa_tag_format(uint32_t tag, char out[12])
{
    snprintf(out, 12, "(%04X,%04X)", (unsigned)OA_TAG_GROUP(tag),
             (unsigned)OA_TAG_ELEMENT(tag));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int oa_tag_parse(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    int digits = 0;
    int paren = 0;

    if (s == NULL || out == NULL)
        return -1;
    if (*s == '(') {
        paren = 1;
        s++;
    }
    for (; *s; s++) {
        int h;
        if (*s == ',' && digits == 4)
            continue;
        if (*s == ')' && paren && digits == 8 && s[1] == '\0')
            break;
        h = hexval(*s);
        if (h < 0 || digits == 8)
            return -1;
        v = (v << 4) | (uint32_t)h;
        digits++;
    }
    if (digits != 8)
        return -1;
    *out = v;
    return 0;
}
