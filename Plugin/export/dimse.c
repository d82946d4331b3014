/*
 * A C-STORE SCU of our own (PS3.7 DIMSE, PS3.8 upper layer), for the
 * anonymization on the way out: one association kept for every file a
 * worker sends, where Orthanc 1.10.1's store-straight opens one per file.
 *
 * Sockets only: nothing here calls Orthanc.  The backend (orthanc.c)
 * reads the modality's settings from Orthanc and gives them here.
 *
 * One oa_scu is one association, used by one thread at a time.  It
 * proposes one presentation context per (SOP class, transfer syntax) pair
 * met so far, with the file's own transfer syntax only: we never
 * transcode, so a context accepted with another syntax could carry
 * nothing, and with one syntax a context the SCP accepts is exactly one
 * we can use.  A file whose pair the association lacks makes it released
 * and opened again with the pair added (at most 128); an association the
 * SCP ended while idle (its timeout: a close, an A-ABORT, or an
 * A-RELEASE-RQ, answered with an A-RELEASE-RP) is opened again before the
 * next file too.  A file the SCP takes in no context as it is, or a file we do not
 * understand well enough to send as it is, is OA_EUNSUPPORTED: the caller
 * sends it some other way (Orthanc's store-straight, which transcodes).
 *
 * Everything read from the SCP is checked: every PDU, item and PDV
 * length against what remains and against a ceiling, every loop bounded.
 * Messages name the modality, AE titles, statuses, tags and a file's
 * position in the export, never a DICOM value.
 */
#define _POSIX_C_SOURCE 200809L

#include "export_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PDU_ASSOCIATE_RQ 0x01
#define PDU_ASSOCIATE_AC 0x02
#define PDU_ASSOCIATE_RJ 0x03
#define PDU_DATA 0x04
#define PDU_RELEASE_RQ 0x05
#define PDU_RELEASE_RP 0x06
#define PDU_ABORT 0x07

#define APPLICATION_CONTEXT "1.2.840.10008.3.1.1.1"
/* Our Implementation Class UID: the project's root is none, so a UUID
 * derived one (2.25.<128-bit>) fixed for the plugin. */
#define IMPLEMENTATION_UID "2.25.131862153474513937452896356714981003713"
#define IMPLEMENTATION_NAME "ORTHANC_ANON"

#define AC_MAX (64u * 1024u)    /* an A-ASSOCIATE-AC we read */
#define RSP_MAX (64u * 1024u)   /* a C-STORE-RSP command set */
#define RSP_PDUS 1024           /* PDUs read for one response */
#define ITEMS_MAX 1024          /* items of one PDU */
#define THEIR_MIN 128u          /* a smaller maximum PDU is refused */

struct oa_scu {
    oa_scu_params p;
    int fd;                      /* -1: no association */
    uint32_t their_max;          /* the SCP's maximum PDU (0: none) */
    uint16_t message_id;
    size_t nctx;
    oa_scu_context ctx[OA_SCU_CONTEXTS_MAX];
    uint8_t *rx;                 /* one PDU body */
    size_t rx_cap;
    uint64_t associations;       /* opened so far */
};

/* A UID as DICOM allows it: 1 to 64 digits and dots. */
static bool uid_ok(const char *u)
{
    size_t i, n = strlen(u);

    if (n == 0 || n > 64)
        return false;
    for (i = 0; i < n; i++)
        if (!((u[i] >= '0' && u[i] <= '9') || u[i] == '.'))
            return false;
    return true;
}

/* A UID value (trailing NULs and spaces dropped) into out[65]. */
static bool uid_copy(char out[65], const uint8_t *v, size_t len)
{
    while (len > 0 && (v[len - 1] == '\0' || v[len - 1] == ' '))
        len--;
    if (len == 0 || len > 64)
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return uid_ok(out);
}

/* ------------------------------------------------------------------ */
/* Part 10 files                                                        */

static bool long_vr(const uint8_t *vr)
{
    static const char *const vrs[] = {"OB", "OD", "OF", "OL", "OV", "OW",
                                      "SQ", "SV", "UC", "UN", "UR", "UT",
                                      "UV"};
    size_t i;

    for (i = 0; i < sizeof(vrs) / sizeof(vrs[0]); i++)
        if (vr[0] == (uint8_t)vrs[i][0] && vr[1] == (uint8_t)vrs[i][1])
            return true;
    return false;
}

oa_status oa_scu_meta(const uint8_t *data, size_t len, oa_scu_file *f,
                      oa_error *err)
{
    size_t off = 132, group_end = 0;
    bool have_class = false, have_instance = false, have_ts = false;
    unsigned n;

    memset(f, 0, sizeof(*f));
    if (data == NULL || len < 132 + 12 || memcmp(data + 128, "DICM", 4) != 0)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "not a Part 10 file (no DICM prefix)");
    for (n = 0; n < 256 && off + 8 <= len; n++) {
        uint16_t group = oa_get_le16(data + off), elem = oa_get_le16(data + off + 2);
        const uint8_t *vr = data + off + 4;
        size_t head, vlen;
        const uint8_t *v;

        if (group != 0x0002)
            break;
        if (long_vr(vr)) {
            if (off + 12 > len)
                goto truncated;
            head = 12;
            vlen = oa_get_le32(data + off + 8);
        } else {
            head = 8;
            vlen = oa_get_le16(data + off + 6);
        }
        if (vlen == 0xFFFFFFFFu || vlen > len - off - head)
            goto truncated;
        v = data + off + head;
        if (elem == 0x0000) {
            uint32_t gl;

            if (vlen != 4)
                goto truncated;
            gl = oa_get_le32(v);
            if (gl > len - off - head - 4)
                return oa_error_set(err, OA_EUNSUPPORTED,
                                    "its meta information group length "
                                    "(0002,0000) runs past the file's end");
            group_end = off + head + 4 + gl;
        } else if (elem == 0x0002) {
            have_class = uid_copy(f->sop_class, v, vlen);
        } else if (elem == 0x0003) {
            have_instance = uid_copy(f->sop_instance, v, vlen);
        } else if (elem == 0x0010) {
            have_ts = uid_copy(f->transfer_syntax, v, vlen);
        }
        off += head + vlen;
    }
    if (off + 2 <= len && oa_get_le16(data + off) == 0x0002)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "its meta information group has more than %u "
                            "elements", n);
    if (group_end != 0 && group_end != off)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "its meta information group length (0002,0000) "
                            "does not match its elements");
    if (!have_class || !have_instance || !have_ts)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "its meta information lacks a valid (0002,0002),"
                            " (0002,0003) or (0002,0010)");
    if (off >= len)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "no data set after the meta information");
    /* every element is even, and a deflated stream is padded (PS3.5
     * A.5): an odd data set is broken, and SCPs refuse odd PDVs (dcmtk:
     * "Odd Fragment Length") */
    if ((len - off) % 2 != 0)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "its data set has an odd length (%zu bytes)",
                            len - off);
    f->dataset_offset = off;
    return OA_OK;
truncated:
    return oa_error_set(err, OA_EUNSUPPORTED,
                        "its meta information group is truncated");
}

/* ------------------------------------------------------------------ */
/* DIMSE command sets (implicit VR little endian)                       */

static size_t put_el(uint8_t *out, uint16_t elem, const void *v, uint32_t len)
{
    oa_put_le16(out, 0x0000);
    oa_put_le16(out + 2, elem);
    oa_put_le32(out + 4, len);
    memcpy(out + 8, v, len);
    return 8 + (size_t)len;
}

static size_t put_us(uint8_t *out, uint16_t elem, uint16_t v)
{
    uint8_t b[2];

    oa_put_le16(b, v);
    return put_el(out, elem, b, 2);
}

static size_t put_uid(uint8_t *out, uint16_t elem, const char *uid)
{
    uint8_t b[66];
    size_t n = strlen(uid);

    memcpy(b, uid, n);
    if (n % 2 != 0)
        b[n++] = '\0';
    return put_el(out, elem, b, (uint32_t)n);
}

size_t oa_scu_store_command(uint8_t out[OA_SCU_COMMAND_MAX],
                            const char *sop_class, const char *sop_instance,
                            uint16_t message_id)
{
    size_t n = 12;
    uint8_t gl[4];

    n += put_uid(out + n, 0x0002, sop_class);         /* Affected SOP Class */
    n += put_us(out + n, 0x0100, 0x0001);             /* C-STORE-RQ */
    n += put_us(out + n, 0x0110, message_id);
    n += put_us(out + n, 0x0700, 0x0000);             /* MEDIUM */
    n += put_us(out + n, 0x0800, 0x0000);             /* a data set */
    n += put_uid(out + n, 0x1000, sop_instance);      /* Affected SOP Inst. */
    oa_put_le32(gl, (uint32_t)(n - 12));
    put_el(out, 0x0000, gl, 4);                       /* group length */
    return n;
}

oa_status oa_scu_parse_response(const uint8_t *cmd, size_t len,
                                oa_scu_response *r, oa_error *err)
{
    size_t off = 0;
    bool have_field = false, have_status = false;
    unsigned n;

    memset(r, 0, sizeof(*r));
    for (n = 0; n < 4096 && off < len; n++) {
        uint16_t group, elem;
        uint32_t vlen;
        const uint8_t *v;

        if (len - off < 8)
            return oa_error_set(err, OA_EPARSE,
                                "a command element is truncated");
        group = oa_get_le16(cmd + off);
        elem = oa_get_le16(cmd + off + 2);
        vlen = oa_get_le32(cmd + off + 4);
        if (group != 0x0000 || vlen > len - off - 8)
            return oa_error_set(err, OA_EPARSE,
                                "a command element runs past the command "
                                "set's end or is not of group 0000");
        v = cmd + off + 8;
        if (elem == 0x0100 && vlen == 2) {
            r->command_field = oa_get_le16(v);
            have_field = true;
        } else if (elem == 0x0120 && vlen == 2) {
            r->message_id = oa_get_le16(v);
        } else if (elem == 0x0900 && vlen == 2) {
            r->status = oa_get_le16(v);
            have_status = true;
        } else if (elem == 0x0901) {
            uint32_t i;

            /* Offending Element: AT values, tags only */
            for (i = 0; i + 4 <= vlen &&
                        r->offending_count < OA_SCU_OFFENDING_MAX;
                 i += 4)
                r->offending[r->offending_count++] =
                    OA_TAG(oa_get_le16(v + i), oa_get_le16(v + i + 2));
        }
        off += 8 + (size_t)vlen;
    }
    if (off < len)
        return oa_error_set(err, OA_EPARSE, "too many command elements");
    if (!have_field || !have_status)
        return oa_error_set(err, OA_EPARSE,
                            "a response without Command Field (0000,0100) "
                            "or Status (0000,0900)");
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* A-ASSOCIATE                                                          */

static size_t put_item(uint8_t *out, uint8_t type, const char *text)
{
    size_t n = strlen(text);

    out[0] = type;
    out[1] = 0;
    oa_put_be16(out + 2, (uint16_t)n);
    memcpy(out + 4, text, n);
    return 4 + n;
}

static void put_aet(uint8_t out[16], const char *aet)
{
    size_t n = strlen(aet);

    memset(out, ' ', 16);
    memcpy(out, aet, n > 16 ? 16 : n);
}

size_t oa_scu_associate_rq(uint8_t *out, size_t size, const char *called,
                           const char *calling, uint32_t max_pdu,
                           const oa_scu_context *ctx, size_t nctx)
{
    size_t n = 6, i;
    uint8_t *ui;

    /* header 74 + application context 25 + contexts 8 + 2 x (4 + 64) each
     * + user information 4 + 8 + 4 + 64 + 4 + 16 */
    if (size < 74 + 25 + nctx * 144 + 100 || nctx > OA_SCU_CONTEXTS_MAX)
        return 0;
    out[0] = PDU_ASSOCIATE_RQ;
    out[1] = 0;
    oa_put_be16(out + n, 0x0001);                  /* protocol version */
    oa_put_be16(out + n + 2, 0);
    put_aet(out + n + 4, called);
    put_aet(out + n + 20, calling);
    memset(out + n + 36, 0, 32);
    n += 68;
    n += put_item(out + n, 0x10, APPLICATION_CONTEXT);
    for (i = 0; i < nctx; i++) {
        size_t start = n;

        out[n] = 0x20;
        out[n + 1] = 0;
        out[n + 4] = ctx[i].id;
        out[n + 5] = out[n + 6] = out[n + 7] = 0;
        n += 8;
        n += put_item(out + n, 0x30, ctx[i].sop_class);
        n += put_item(out + n, 0x40, ctx[i].transfer_syntax);
        oa_put_be16(out + start + 2, (uint16_t)(n - start - 4));
    }
    ui = out + n;
    ui[0] = 0x50;
    ui[1] = 0;
    n += 4;
    out[n] = 0x51;
    out[n + 1] = 0;
    oa_put_be16(out + n + 2, 4);
    oa_put_be32(out + n + 4, max_pdu);
    n += 8;
    n += put_item(out + n, 0x52, IMPLEMENTATION_UID);
    n += put_item(out + n, 0x55, IMPLEMENTATION_NAME);
    oa_put_be16(ui + 2, (uint16_t)(out + n - ui - 4));
    oa_put_be32(out + 2, (uint32_t)(n - 6));
    return n;
}

static oa_status parse_ac_items(const uint8_t *body, size_t len,
                                oa_scu_context *ctx, size_t nctx,
                                uint32_t *their_max, oa_error *err)
{
    size_t off = 68, i;
    unsigned n;

    *their_max = 0;
    for (i = 0; i < nctx; i++)
        ctx[i].accepted = false;
    if (len < 68)
        return oa_error_set(err, OA_EPARSE,
                            "an A-ASSOCIATE-AC shorter than its header");
    for (n = 0; n < ITEMS_MAX && off < len; n++) {
        uint8_t type;
        size_t ilen;
        const uint8_t *v;

        if (len - off < 4)
            return oa_error_set(err, OA_EPARSE,
                                "an A-ASSOCIATE-AC item is truncated");
        type = body[off];
        ilen = oa_get_be16(body + off + 2);
        if (ilen > len - off - 4)
            return oa_error_set(err, OA_EPARSE,
                                "an A-ASSOCIATE-AC item (type 0x%02X) runs "
                                "past the PDU's end", (unsigned)type);
        v = body + off + 4;
        if (type == 0x21) {
            /* id, reserved, result, reserved, then one 0x40 sub-item; a
             * refused context's sub-item "shall not be tested" (PS3.8
             * 9.3.3.2): some SCPs send it empty or not at all */
            char ts[65];
            size_t slen = 0;

            if (ilen < 4)
                return oa_error_set(err, OA_EPARSE,
                                    "a presentation context item shorter "
                                    "than its header");
            if (v[2] == 0) {
                if (ilen < 8 || v[4] != 0x40)
                    return oa_error_set(err, OA_EPARSE,
                                        "an accepted presentation context "
                                        "without its transfer syntax");
                slen = oa_get_be16(v + 6);
                if (slen > ilen - 8)
                    return oa_error_set(err, OA_EPARSE,
                                        "a transfer syntax sub-item runs "
                                        "past its item's end");
            }
            for (i = 0; i < nctx; i++) {
                if (ctx[i].id != v[0])
                    continue;
                ctx[i].accepted = v[2] == 0 && uid_copy(ts, v + 8, slen) &&
                                  strcmp(ts, ctx[i].transfer_syntax) == 0;
                ctx[i].result = v[2];
            }
        } else if (type == 0x50) {
            size_t so = 0;
            unsigned k;

            for (k = 0; k < ITEMS_MAX && so < ilen; k++) {
                size_t sl;

                if (ilen - so < 4)
                    return oa_error_set(err, OA_EPARSE,
                                        "a user information sub-item is "
                                        "truncated");
                sl = oa_get_be16(v + so + 2);
                if (sl > ilen - so - 4)
                    return oa_error_set(err, OA_EPARSE,
                                        "a user information sub-item runs "
                                        "past its item's end");
                if (v[so] == 0x51 && sl == 4)
                    *their_max = oa_get_be32(v + so + 4);
                so += 4 + sl;
            }
        }
        off += 4 + ilen;
    }
    if (off < len)
        return oa_error_set(err, OA_EPARSE,
                            "too many items in an A-ASSOCIATE-AC");
    return OA_OK;
}

oa_status oa_scu_parse_ac(const uint8_t *body, size_t len,
                          oa_scu_context *ctx, size_t nctx,
                          uint32_t *their_max, oa_error *err)
{
    oa_status rc = parse_ac_items(body, len, ctx, nctx, their_max, err);
    size_t i;

    if (rc != OA_OK) {
        /* fail closed: an item before the fault may have accepted one */
        for (i = 0; i < nctx; i++)
            ctx[i].accepted = false;
        *their_max = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Sockets                                                              */

static unsigned timeout_of(const oa_scu *s)
{
    return s->p.timeout > 0 ? s->p.timeout : OA_SCU_DEFAULT_TIMEOUT;
}

static int wait_fd(int fd, short events, unsigned seconds)
{
    struct pollfd p;
    int r;
    unsigned tries;

    p.fd = fd;
    p.events = events;
    for (tries = 0; tries < 1000; tries++) {
        p.revents = 0;
        r = poll(&p, 1, (int)(seconds > 86400u ? 86400u : seconds) * 1000);
        if (r >= 0 || errno != EINTR)
            return r;
    }
    return -1;
}

static oa_status net_error(oa_scu *s, oa_error *err, const char *what)
{
    return oa_error_set(err, OA_ENET,
                        "DICOM modality %s (%s:%d): %s (is it running? "
                        "check its Host and Port in DicomModalities)",
                        s->p.name, s->p.host, s->p.port, what);
}

/* Send everything in `iov` (changed), within the timeout for each
 * progress. */
static oa_status send_iov(oa_scu *s, struct iovec *iov, int n, oa_error *err)
{
    unsigned rounds;

    for (rounds = 0; n > 0 && rounds < 1000000; rounds++) {
        struct msghdr m;
        ssize_t w;

        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = (size_t)n;
        w = sendmsg(s->fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int r = wait_fd(s->fd, POLLOUT, timeout_of(s));

                if (r == 0)
                    return oa_error_set(err, OA_ENET,
                                        "DICOM modality %s took no data for "
                                        "%u s (timeout)", s->p.name,
                                        timeout_of(s));
                if (r < 0)
                    return net_error(s, err, "writing failed");
                continue;
            }
            return net_error(s, err, errno == EPIPE || errno == ECONNRESET
                                         ? "the connection was closed"
                                         : "writing failed");
        }
        while (n > 0 && (size_t)w >= iov[0].iov_len) {
            w -= (ssize_t)iov[0].iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + w;
            iov[0].iov_len -= (size_t)w;
        }
    }
    return n == 0 ? OA_OK : net_error(s, err, "writing made no progress");
}

static oa_status send_bytes(oa_scu *s, const void *data, size_t len,
                            oa_error *err)
{
    struct iovec v;

    v.iov_base = (void *)(uintptr_t)data;
    v.iov_len = len;
    return send_iov(s, &v, 1, err);
}

static oa_status recv_all(oa_scu *s, uint8_t *out, size_t len, oa_error *err)
{
    size_t got = 0;
    unsigned rounds;

    for (rounds = 0; got < len && rounds < 1000000; rounds++) {
        ssize_t r = recv(s->fd, out + got, len - got, 0);

        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            return net_error(s, err, "the connection was closed");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(s->fd, POLLIN, timeout_of(s));

            if (w == 0)
                return oa_error_set(err, OA_ENET,
                                    "DICOM modality %s did not answer "
                                    "within %u s (timeout)", s->p.name,
                                    timeout_of(s));
            if (w < 0)
                return net_error(s, err, "reading failed");
            continue;
        }
        return net_error(s, err, errno == ECONNRESET
                                     ? "the connection was reset"
                                     : "reading failed");
    }
    return got == len ? OA_OK : net_error(s, err, "reading made no progress");
}

static void close_fd(oa_scu *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static oa_status connect_tcp(oa_scu *s, oa_error *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int rc, fd = -1, one = 1;
    oa_status st = OA_ENET;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", s->p.port);
    rc = getaddrinfo(s->p.host, port, &hints, &res);
    if (rc != 0)   /* unreachable (the header's OA_ENET), maybe for now */
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s: its host %s is unknown "
                            "(check its Host in DicomModalities)",
                            s->p.name, s->p.host);
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int r, soerr = 0;
        socklen_t sl = sizeof(soerr);

        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            r = wait_fd(fd, POLLOUT, timeout_of(s));
            if (r > 0 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
                soerr == 0)
                r = 0;
            else
                r = -1;
        }
        if (r == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s (%s:%d) could not be reached"
                            " within %u s (is it running? check its Host "
                            "and Port in DicomModalities)",
                            s->p.name, s->p.host, s->p.port, timeout_of(s));
    /* one PDU a write: no Nagle delay between a command and its data */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->fd = fd;
    st = OA_OK;
    return st;
}

/* Read one PDU: its type, its body in s->rx (at most `ceiling` bytes). */
static oa_status read_pdu(oa_scu *s, uint8_t *type, size_t *len,
                          size_t ceiling, oa_error *err)
{
    uint8_t h[6];
    uint32_t n;
    oa_status rc = recv_all(s, h, 6, err);

    if (rc != OA_OK)
        return rc;
    *type = h[0];
    n = oa_get_be32(h + 2);
    if (h[0] == PDU_ASSOCIATE_RJ || h[0] == PDU_RELEASE_RQ ||
        h[0] == PDU_RELEASE_RP || h[0] == PDU_ABORT)
        ceiling = 64;   /* these have 4 bytes */
    if (h[0] < PDU_ASSOCIATE_RQ || h[0] > PDU_ABORT)
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s sent an unknown PDU (type "
                            "0x%02X)", s->p.name, (unsigned)h[0]);
    if (n > ceiling)
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s sent a PDU (type 0x%02X) of "
                            "%lu bytes, more than the %lu allowed",
                            s->p.name, (unsigned)h[0], (unsigned long)n,
                            (unsigned long)ceiling);
    if (n > s->rx_cap) {
        uint8_t *p = oa_realloc(s->rx, n);

        if (p == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        s->rx = p;
        s->rx_cap = n;
    }
    *len = n;
    return recv_all(s, s->rx, n, err);
}

static const char *abort_reason(uint8_t source, uint8_t reason)
{
    static const char *const provider[] = {
        "reason not specified", "unrecognized PDU", "unexpected PDU",
        "reserved", "unrecognized PDU parameter", "unexpected PDU parameter",
        "invalid PDU parameter value"};

    if (source == 0)
        return "by the SCP's user";
    if (source == 2 && reason < sizeof(provider) / sizeof(provider[0]))
        return provider[reason];
    return "reason not specified";
}

/* The error of an A-ABORT PDU just read. */
static oa_status aborted(oa_scu *s, size_t len, oa_error *err)
{
    uint8_t source = len >= 4 ? s->rx[2] : 0, reason = len >= 4 ? s->rx[3] : 0;

    close_fd(s);
    return oa_error_set(err, OA_ENET,
                        "DICOM modality %s aborted the association (A-ABORT"
                        " source %u, %s): see its log",
                        s->p.name, (unsigned)source,
                        abort_reason(source, reason));
}

static const char *reject_reason(uint8_t source, uint8_t reason)
{
    if (source == 1) {
        switch (reason) {
        case 2: return "application context name not supported";
        case 3: return "calling AE title not recognized";
        case 7: return "called AE title not recognized";
        default: return "no reason given";
        }
    }
    if (source == 2)
        return reason == 2 ? "protocol version not supported"
                           : "no reason given";
    if (source == 3)
        return reason == 1 ? "temporary congestion"
               : reason == 2 ? "local limit exceeded"
                             : "no reason given";
    return "no reason given";
}

/* ------------------------------------------------------------------ */
/* Association                                                          */

oa_status oa_scu_new(oa_scu **out, const oa_scu_params *p, oa_error *err)
{
    oa_scu *s = oa_calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    s->p = *p;
    s->p.name[sizeof(s->p.name) - 1] = '\0';
    s->p.host[sizeof(s->p.host) - 1] = '\0';
    s->p.called_aet[sizeof(s->p.called_aet) - 1] = '\0';
    s->p.calling_aet[sizeof(s->p.calling_aet) - 1] = '\0';
    if (s->p.max_pdu == 0)
        s->p.max_pdu = OA_SCU_DEFAULT_PDU;
    if (s->p.max_pdu < OA_SCU_MIN_PDU)
        s->p.max_pdu = OA_SCU_MIN_PDU;
    if (s->p.max_pdu > OA_SCU_MAX_PDU)
        s->p.max_pdu = OA_SCU_MAX_PDU;
    s->fd = -1;
    *out = s;
    return OA_OK;
}

bool oa_scu_associated(const oa_scu *s)
{
    return s->fd >= 0;
}

uint64_t oa_scu_associations(const oa_scu *s)
{
    return s->associations;
}

uint32_t oa_scu_their_max(const oa_scu *s)
{
    return s->their_max;
}

static oa_status associate(oa_scu *s, oa_error *err)
{
    uint8_t *rq, type = 0;
    size_t n, cap = 74 + 25 + OA_SCU_CONTEXTS_MAX * 144 + 100, len = 0;
    oa_status rc;

    rq = oa_malloc(cap);
    if (rq == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    n = oa_scu_associate_rq(rq, cap, s->p.called_aet, s->p.calling_aet,
                            s->p.max_pdu, s->ctx, s->nctx);
    rc = connect_tcp(s, err);
    if (rc == OA_OK)
        rc = send_bytes(s, rq, n, err);
    oa_free(rq);
    if (rc == OA_OK)
        rc = read_pdu(s, &type, &len, AC_MAX, err);
    if (rc != OA_OK) {
        close_fd(s);
        return rc;
    }
    if (type == PDU_ASSOCIATE_RJ) {
        uint8_t result = len >= 4 ? s->rx[1] : 0;
        uint8_t source = len >= 4 ? s->rx[2] : 0;
        uint8_t reason = len >= 4 ? s->rx[3] : 0;

        close_fd(s);
        return oa_error_set(err, result == 2 ? OA_ENET : OA_EAUTH,
                            "DICOM modality %s rejected the association "
                            "(A-ASSOCIATE-RJ %s, %s): check its AET, Host "
                            "and Port in DicomModalities (called AE %s, "
                            "calling AE %s) and that it knows the calling "
                            "AE", s->p.name,
                            result == 2 ? "transient" : "permanent",
                            reject_reason(source, reason), s->p.called_aet,
                            s->p.calling_aet);
    }
    if (type == PDU_ABORT)
        return aborted(s, len, err);
    if (type != PDU_ASSOCIATE_AC) {
        oa_scu_abort(s);
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s answered the association "
                            "request with a PDU of type 0x%02X",
                            s->p.name, (unsigned)type);
    }
    rc = oa_scu_parse_ac(s->rx, len, s->ctx, s->nctx, &s->their_max, err);
    if (rc == OA_OK && s->their_max != 0 && s->their_max < THEIR_MIN)
        rc = oa_error_set(err, OA_EPARSE,
                          "a maximum PDU length of %lu bytes",
                          (unsigned long)s->their_max);
    if (rc != OA_OK) {
        char why[OA_ERROR_MSG_MAX];

        snprintf(why, sizeof(why), "%s", err->msg);
        oa_scu_abort(s);
        return oa_error_set(err, OA_ENET,
                            "DICOM modality %s: its A-ASSOCIATE-AC is "
                            "refused (%s)", s->p.name, why);
    }
    s->associations++;
    s->message_id = 0;
    return OA_OK;
}

/* Fragment `data` into P-DATA-TF PDUs of one PDV each, within the SCP's
 * maximum (none given: ours). */
static oa_status send_pdvs(oa_scu *s, uint8_t pc, bool command,
                           const uint8_t *data, size_t len, oa_error *err)
{
    size_t max = s->their_max != 0 ? s->their_max : s->p.max_pdu;
    size_t frag = max - 6, off = 0;
    oa_status rc = OA_OK;

    if (frag > OA_SCU_MAX_PDU)
        frag = OA_SCU_MAX_PDU;   /* our own writes stay moderate */
    frag &= ~(size_t)1;
    do {
        size_t n = len - off < frag ? len - off : frag;
        uint8_t h[12];
        struct iovec v[2];

        h[0] = PDU_DATA;
        h[1] = 0;
        oa_put_be32(h + 2, (uint32_t)(n + 6));
        oa_put_be32(h + 6, (uint32_t)(n + 2));
        h[10] = pc;
        h[11] = (uint8_t)((command ? 1 : 0) | (off + n == len ? 2 : 0));
        v[0].iov_base = h;
        v[0].iov_len = 12;
        v[1].iov_base = (void *)(uintptr_t)(data + off);
        v[1].iov_len = n;
        rc = send_iov(s, v, n > 0 ? 2 : 1, err);
        off += n;
    } while (rc == OA_OK && off < len);
    return rc;
}

/* Read the command set of the next response into `cmd`. */
static oa_status read_response(oa_scu *s, uint8_t pc, oa_buf *cmd,
                               oa_error *err)
{
    unsigned pdus;

    for (pdus = 0; pdus < RSP_PDUS; pdus++) {
        uint8_t type = 0;
        size_t len = 0, off = 0;
        unsigned k;
        oa_status rc = read_pdu(s, &type, &len, s->p.max_pdu, err);

        if (rc != OA_OK)
            return rc;
        if (type == PDU_ABORT)
            return aborted(s, len, err);
        if (type != PDU_DATA)
            return oa_error_set(err, OA_ENET,
                                "DICOM modality %s sent a PDU of type 0x%02X"
                                " instead of a C-STORE response",
                                s->p.name, (unsigned)type);
        for (k = 0; k < ITEMS_MAX && off < len; k++) {
            uint32_t plen;
            uint8_t id, mch;

            if (len - off < 6)
                return oa_error_set(err, OA_ENET,
                                    "DICOM modality %s sent a truncated PDV",
                                    s->p.name);
            plen = oa_get_be32(s->rx + off);
            if (plen < 2 || plen > len - off - 4)
                return oa_error_set(err, OA_ENET,
                                    "DICOM modality %s sent a PDV whose "
                                    "length (%lu) runs past its PDU",
                                    s->p.name, (unsigned long)plen);
            id = s->rx[off + 4];
            mch = s->rx[off + 5];
            if (id != pc || (mch & 1) == 0)
                return oa_error_set(err, OA_ENET,
                                    "DICOM modality %s sent a PDV of another"
                                    " presentation context (%u) or a data "
                                    "set with its C-STORE response",
                                    s->p.name, (unsigned)id);
            if (oa_buf_append(cmd, s->rx + off + 6, plen - 2) != OA_OK)
                return oa_error_set(err, OA_ENET,
                                    "DICOM modality %s sent a C-STORE "
                                    "response above %u bytes", s->p.name,
                                    RSP_MAX);
            off += 4 + (size_t)plen;
            if (mch & 2) {
                if (off != len)
                    return oa_error_set(err, OA_ENET,
                                        "DICOM modality %s sent more after "
                                        "the last fragment of a response",
                                        s->p.name);
                return OA_OK;
            }
        }
        if (off < len)
            return oa_error_set(err, OA_ENET,
                                "DICOM modality %s sent too many PDVs",
                                s->p.name);
    }
    return oa_error_set(err, OA_ENET,
                        "DICOM modality %s sent a response in too many "
                        "PDUs", s->p.name);
}

static const char *status_meaning(uint16_t st)
{
    if ((st & 0xFF00) == 0xA700)
        return "out of resources";
    if ((st & 0xFF00) == 0xA900)
        return "data set does not match SOP class";
    if ((st & 0xF000) == 0xC000)
        return "cannot understand";
    switch (st) {
    case 0x0122: return "SOP class not supported";
    case 0x0124: return "not authorized";
    case 0x0210: return "duplicate invocation";
    case 0x0211: return "unrecognized operation";
    case 0x0212: return "mistyped argument";
    case 0xB000: return "coercion of data elements";
    case 0xB006: return "elements discarded";
    case 0xB007: return "data set does not match SOP class";
    default: return "refused";
    }
}

static void tags_text(const oa_scu_response *r, char *out, size_t size)
{
    size_t i, n = 0;

    out[0] = '\0';
    for (i = 0; i < r->offending_count && n + 14 < size; i++) {
        char t[12];

        oa_tag_format(r->offending[i], t);
        n += (size_t)snprintf(out + n, size - n, " %s", t);
    }
}

/* Something to read (or a hang-up) on an idle association. */
static bool peer_spoke(const oa_scu *s)
{
    struct pollfd p;

    p.fd = s->fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) > 0 &&
           (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

/* The SCP spoke on an idle association: an A-RELEASE-RQ is answered
 * with an A-RELEASE-RP (PS3.8 9.3.7: either side may release), anything
 * else (its close, an A-ABORT, a PDU out of turn) ends it with an
 * A-ABORT.  Either way the association is closed; the next store opens
 * a new one. */
static void idle_ended(oa_scu *s)
{
    static const uint8_t rp[10] = {PDU_RELEASE_RP, 0, 0, 0, 0, 4, 0, 0, 0, 0};
    uint8_t type = 0;
    size_t len = 0;
    oa_error e;

    oa_error_clear(&e);
    if (read_pdu(s, &type, &len, s->p.max_pdu, &e) == OA_OK &&
        type == PDU_RELEASE_RQ) {
        (void)send(s->fd, rp, sizeof(rp), MSG_NOSIGNAL | MSG_DONTWAIT);
        close_fd(s);
        oa_log(OA_LOG_INFO,
               "DICOM modality %s released the association between two "
               "stores: associating again", s->p.name);
        return;
    }
    oa_log(OA_LOG_INFO,
           "DICOM modality %s ended the association between two stores "
           "(%s): associating again", s->p.name,
           type == PDU_ABORT ? "A-ABORT" : "closed or out of turn");
    oa_scu_abort(s);
}

static size_t find_ctx(const oa_scu *s, const oa_scu_file *f)
{
    size_t i;

    for (i = 0; i < s->nctx; i++)
        if (strcmp(s->ctx[i].sop_class, f->sop_class) == 0 &&
            strcmp(s->ctx[i].transfer_syntax, f->transfer_syntax) == 0)
            return i;
    return (size_t)-1;
}

oa_status oa_scu_store(oa_scu *s, const uint8_t *data, size_t len,
                       uint64_t position, oa_error *err)
{
    oa_scu_file f;
    oa_scu_response r;
    uint8_t command[OA_SCU_COMMAND_MAX];
    size_t i, n;
    oa_buf rsp;
    char tags[200];
    oa_error local;
    oa_status rc;

    if (err == NULL)
        err = &local;   /* its message is read below */
    rc = oa_scu_meta(data, len, &f, err);
    if (rc != OA_OK)
        return rc;   /* OA_EUNSUPPORTED: sent some other way */
    /* An SCP may end an idle association (Orthanc: DicomScpTimeout,
     * 30 s): between two stores nothing is due from it, so anything to
     * read (its close, an A-ABORT, an A-RELEASE-RQ) means the association
     * is gone.  This file is not sent yet: a new association takes it. */
    if (s->fd >= 0 && peer_spoke(s))
        idle_ended(s);
    i = find_ctx(s, &f);
    if (i == (size_t)-1) {
        if (s->nctx == OA_SCU_CONTEXTS_MAX)
            return oa_error_set(err, OA_EUNSUPPORTED,
                                "%d presentation contexts proposed already",
                                OA_SCU_CONTEXTS_MAX);
        i = s->nctx++;
        memset(&s->ctx[i], 0, sizeof(s->ctx[i]));
        snprintf(s->ctx[i].sop_class, sizeof(s->ctx[i].sop_class), "%s",
                 f.sop_class);
        snprintf(s->ctx[i].transfer_syntax,
                 sizeof(s->ctx[i].transfer_syntax), "%s", f.transfer_syntax);
        s->ctx[i].id = (uint8_t)(2 * i + 1);
        if (s->fd >= 0 && oa_scu_release(s, err) != OA_OK) {
            oa_log(OA_LOG_WARNING, "%s", err->msg);   /* opened again below */
            oa_error_clear(err);
        }
    }
    if (s->fd < 0) {
        rc = associate(s, err);
        if (rc != OA_OK)
            return rc;
    }
    if (!s->ctx[i].accepted)
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "DICOM modality %s accepts SOP class %s in "
                            "transfer syntax %s in no presentation context "
                            "(result %u)", s->p.name, f.sop_class,
                            f.transfer_syntax, (unsigned)s->ctx[i].result);
    s->message_id = (uint16_t)(s->message_id + 1);
    if (s->message_id == 0)
        s->message_id = 1;
    n = oa_scu_store_command(command, f.sop_class, f.sop_instance,
                             s->message_id);
    rc = send_pdvs(s, s->ctx[i].id, true, command, n, err);
    if (rc == OA_OK)
        rc = send_pdvs(s, s->ctx[i].id, false, data + f.dataset_offset,
                       len - f.dataset_offset, err);
    oa_buf_init(&rsp, RSP_MAX);
    if (rc == OA_OK)
        rc = read_response(s, s->ctx[i].id, &rsp, err);
    if (rc == OA_OK) {
        rc = oa_scu_parse_response(oa_buf_data(&rsp), rsp.len, &r, err);
        if (rc != OA_OK) {
            char why[OA_ERROR_MSG_MAX];

            snprintf(why, sizeof(why), "%s", err->msg);
            rc = oa_error_set(err, OA_ENET,
                              "DICOM modality %s sent a C-STORE response "
                              "that is refused (%s)", s->p.name, why);
        } else if (r.command_field != 0x8001 ||
                   r.message_id != s->message_id) {
            rc = oa_error_set(err, OA_ENET,
                              "DICOM modality %s answered another command "
                              "(0x%04X, message %u for %u)", s->p.name,
                              (unsigned)r.command_field,
                              (unsigned)r.message_id,
                              (unsigned)s->message_id);
        }
    }
    oa_buf_dispose(&rsp);
    if (rc != OA_OK) {
        if (rc != OA_ENOMEM)
            rc = OA_ENET;
        oa_scu_abort(s);   /* the association is no longer in step */
        return rc;
    }
    if (r.status == 0x0000)
        return OA_OK;
    tags_text(&r, tags, sizeof(tags));
    if (r.status == 0xB000 || r.status == 0xB006 || r.status == 0xB007) {
        oa_log(OA_LOG_WARNING,
               "DICOM modality %s stored file %llu of the export with "
               "warning 0x%04X (%s)%s%s", s->p.name,
               (unsigned long long)position, (unsigned)r.status,
               status_meaning(r.status), tags[0] ? ", elements" : "", tags);
        return OA_OK;
    }
    return oa_error_set(err, (r.status & 0xFF00) == 0xA700 ? OA_ENET
                                                           : OA_EINVAL,
                        "DICOM modality %s refused file %llu of the export "
                        "(C-STORE status 0x%04X, %s)%s%s", s->p.name,
                        (unsigned long long)position, (unsigned)r.status,
                        status_meaning(r.status),
                        tags[0] ? ", elements" : "", tags);
}

oa_status oa_scu_release(oa_scu *s, oa_error *err)
{
    static const uint8_t rq[10] = {PDU_RELEASE_RQ, 0, 0, 0, 0, 4, 0, 0, 0, 0};
    oa_status rc;
    unsigned k;

    if (s->fd < 0)
        return OA_OK;
    rc = send_bytes(s, rq, sizeof(rq), err);
    for (k = 0; rc == OA_OK && k < 16; k++) {
        uint8_t type = 0;
        size_t len = 0;

        rc = read_pdu(s, &type, &len, s->p.max_pdu, err);
        if (rc != OA_OK)
            break;
        if (type == PDU_RELEASE_RP) {
            close_fd(s);
            return OA_OK;
        }
        if (type == PDU_ABORT)
            return aborted(s, len, err);
        /* a P-DATA-TF still in flight: skipped */
    }
    if (rc == OA_OK)
        rc = oa_error_set(err, OA_ENET,
                          "DICOM modality %s did not confirm the release",
                          s->p.name);
    oa_scu_abort(s);
    return rc;
}

void oa_scu_abort(oa_scu *s)
{
    static const uint8_t ab[10] = {PDU_ABORT, 0, 0, 0, 0, 4, 0, 0, 0, 0};

    if (s->fd < 0)
        return;
    /* best effort, never waiting */
    (void)send(s->fd, ab, sizeof(ab), MSG_NOSIGNAL | MSG_DONTWAIT);
    close_fd(s);
}

void oa_scu_free(oa_scu *s)
{
    if (s == NULL)
        return;
    oa_scu_abort(s);
    oa_free(s->rx);
    oa_free(s);
}
