/*
 * Unit tests of the C-STORE SCU (Plugin/export/dimse.c).
 *
 * The peer is a loopback SCP of this file's own, in a thread (a socket on
 * 127.0.0.1, port 0): it parses what the SCU sends with its own readers
 * (A-ASSOCIATE-RQ items, P-DATA PDVs, the C-STORE-RQ command set), records
 * it, and answers as the test's script says: normally, or with an
 * A-ASSOCIATE-RJ, a refused context, an A-ABORT or a closed connection in
 * the middle of a store, a PDU longer than the ceiling or than what
 * follows, a PDV past its PDU, silence, a failure or warning status, a
 * wrong message ID.  The SCP never calls cmocka (it is another thread): it
 * notes its first complaint in `problem`, checked once it has stopped.
 *
 * The pieces are tested alone too: oa_scu_meta on corpus files and broken
 * ones, oa_scu_store_command read back, oa_scu_parse_ac and
 * oa_scu_parse_response on crafted bodies (and every prefix of them), and
 * the inputs the fuzz target (UnitTests/fuzz/fuzz_dimse.c) found.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "export/export_int.h"
#include "files.h"

#ifndef OA_SOURCE_DIR
#error "OA_SOURCE_DIR must name the repository root"
#endif

#define CT "1.2.840.10008.5.1.4.1.1.2"
#define MR "1.2.840.10008.5.1.4.1.1.4"
#define ILE "1.2.840.10008.1.2"
#define ELE "1.2.840.10008.1.2.1"
#define JPEG "1.2.840.10008.1.2.4.50"
/* The instances' UIDs: none may appear in a message. */
#define UID_BASE "1.2.826.0.1.3680043.2.1143.987654321."

/* ------------------------------------------------------------------ */
/* Bytes                                                                */

/* A byte string being built (test-side, aborting on no memory is fine
 * here: cmocka reports it). */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void b_add(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        uint8_t *q = realloc(b->p, cap);

        assert_non_null(q);
        b->p = q;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void b_u8(bytes *b, uint8_t v)
{
    b_add(b, &v, 1);
}

static void b_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* An A-ASSOCIATE item: type, reserved, 16-bit length, body. */
static void b_item(bytes *b, uint8_t type, const void *body, size_t n)
{
    uint8_t h[4] = {type, 0, 0, 0};

    oa_put_be16(h + 2, (uint16_t)n);
    b_add(b, h, 4);
    b_add(b, body, n);
}

/* A group 0000 element (implicit VR little endian), padded even. */
static void b_cmd_el(bytes *b, uint16_t elem, const void *v, size_t n)
{
    uint8_t h[8];
    size_t padded = n + (n % 2);

    oa_put_le16(h, 0x0000);
    oa_put_le16(h + 2, elem);
    oa_put_le32(h + 4, (uint32_t)padded);
    b_add(b, h, 8);
    b_add(b, v, n);
    if (padded != n)
        b_u8(b, 0);
}

static void b_cmd_us(bytes *b, uint16_t elem, uint16_t v)
{
    uint8_t x[2];

    oa_put_le16(x, v);
    b_cmd_el(b, elem, x, 2);
}

/* ------------------------------------------------------------------ */
/* Part 10 files                                                        */

typedef struct file {
    uint8_t *p;
    size_t len;
    size_t dataset_offset;
    char instance[65];
} file;

static void meta_el(bytes *b, uint16_t elem, const char *vr, const void *v,
                    size_t n)
{
    uint8_t h[12];
    size_t padded = n + (n % 2);

    oa_put_le16(h, 0x0002);
    oa_put_le16(h + 2, elem);
    h[4] = (uint8_t)vr[0];
    h[5] = (uint8_t)vr[1];
    if (strcmp(vr, "OB") == 0) {
        h[6] = h[7] = 0;
        oa_put_le32(h + 8, (uint32_t)padded);
        b_add(b, h, 12);
    } else {
        oa_put_le16(h + 6, (uint16_t)padded);
        b_add(b, h, 8);
    }
    b_add(b, v, n);
    if (padded != n)
        b_u8(b, 0);
}

/*
 * A Part 10 file of `sop_class` in transfer syntax `ts`, its instance
 * UID_BASE + `n`, its data set (0008,0016), (0008,0018) and a Pixel Data
 * of `pixels` pseudo-random bytes, encoded per `ts` (implicit or explicit
 * VR little endian; other syntaxes get explicit: the SCU does not read
 * the data set).
 */
static file make_file(const char *sop_class, const char *ts, unsigned n,
                      size_t pixels)
{
    bytes meta = {0}, all = {0};
    uint8_t pre[128] = {0}, gl[4], h[12];
    file f;
    bool implicit = strcmp(ts, ILE) == 0;
    size_t i;
    uint32_t x = 2463534242u + n;

    memset(&f, 0, sizeof(f));
    snprintf(f.instance, sizeof(f.instance), UID_BASE "%u", n);
    meta_el(&meta, 0x0001, "OB", "\0\1", 2);
    meta_el(&meta, 0x0002, "UI", sop_class, strlen(sop_class));
    meta_el(&meta, 0x0003, "UI", f.instance, strlen(f.instance));
    meta_el(&meta, 0x0010, "UI", ts, strlen(ts));
    meta_el(&meta, 0x0012, "UI", "1.2.3.4", 7);
    b_add(&all, pre, 128);
    b_add(&all, "DICM", 4);
    oa_put_le32(gl, (uint32_t)meta.len);
    meta_el(&all, 0x0000, "UL", gl, 4);
    b_add(&all, meta.p, meta.len);
    f.dataset_offset = all.len;
    for (i = 0; i < 2; i++) {
        const char *v = i == 0 ? sop_class : f.instance;
        size_t vl = strlen(v), padded = vl + vl % 2;

        oa_put_le16(h, 0x0008);
        oa_put_le16(h + 2, (uint16_t)(0x0016 + 2 * i));
        if (implicit) {
            oa_put_le32(h + 4, (uint32_t)padded);
            b_add(&all, h, 8);
        } else {
            h[4] = 'U';
            h[5] = 'I';
            oa_put_le16(h + 6, (uint16_t)padded);
            b_add(&all, h, 8);
        }
        b_add(&all, v, vl);
        if (padded != vl)
            b_u8(&all, 0);
    }
    pixels += pixels % 2;
    oa_put_le16(h, 0x7FE0);
    oa_put_le16(h + 2, 0x0010);
    if (implicit) {
        oa_put_le32(h + 4, (uint32_t)pixels);
        b_add(&all, h, 8);
    } else {
        h[4] = 'O';
        h[5] = 'B';
        h[6] = h[7] = 0;
        oa_put_le32(h + 8, (uint32_t)pixels);
        b_add(&all, h, 12);
    }
    for (i = 0; i < pixels; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b_u8(&all, (uint8_t)x);
    }
    b_free(&meta);
    f.p = all.p;
    f.len = all.len;
    return f;
}

static void free_file(file *f)
{
    free(f->p);
    memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------------ */
/* The loopback SCP                                                     */

typedef enum fault {
    F_NONE,
    F_REJECT,       /* every association: A-ASSOCIATE-RJ rj_* */
    F_SILENT_AC,    /* no answer to the A-ASSOCIATE-RQ */
    F_ABORT_MID,    /* A-ABORT after the first data set PDV, then drain */
    F_CLOSE_MID,    /* the connection closed after the first data set PDV */
    F_PDU_HUGE,     /* a P-DATA PDU whose length passes any ceiling */
    F_PDU_SHORT,    /* a PDU header longer than what follows, then close */
    F_PDV_OVERRUN,  /* a PDV whose length passes its PDU */
    F_SILENT,       /* no answer to the C-STORE-RQ */
    F_NO_RP,        /* no answer to the A-RELEASE-RQ */
    F_DATA_RSP,     /* a response PDV marked as a data set */
    F_IDLE_CLOSE,   /* the connection closed after the first response */
    F_IDLE_RELEASE  /* an A-RELEASE-RQ after the first response */
} fault;

#define SCP_STORES 64
#define SCP_CTX 130

typedef struct rx_store {
    unsigned association;        /* 1, 2, ... */
    uint8_t pc;
    char sop_class[65], sop_instance[65];
    uint16_t message_id, priority;
    uint8_t *dataset;
    size_t dataset_len;
    unsigned dataset_pdus;       /* P-DATA PDUs of the data set */
    size_t largest_pdu;          /* their largest PDU length field */
} rx_store;

typedef struct rx_ctx {
    uint8_t id;
    char abstract[65];
    char ts[4][65];
    unsigned nts;
} rx_ctx;

typedef struct scp {
    /* script */
    uint32_t max_pdu;            /* in the AC (0: no 0x51 sub-item) */
    char refuse_class[65];       /* contexts of it: result refuse_result */
    uint8_t refuse_result;
    bool refuse_without_ts;      /* ... and no transfer syntax sub-item */
    char other_ts_class[65];     /* contexts of it accepted in ILE */
    uint16_t status;
    uint32_t offending[2];
    unsigned noffending;
    int message_id_delta;
    bool split_response;         /* the response in two PDUs */
    bool omit_contexts;          /* an AC without context items */
    fault fault;
    unsigned fault_at;           /* the n-th C-STORE (all associations) */
    uint8_t rj_result, rj_source, rj_reason;
    /* recorded */
    unsigned associations, releases, aborts, connections;
    unsigned nstores;
    rx_store st[SCP_STORES];
    rx_ctx ctx[SCP_CTX];         /* of the last A-ASSOCIATE-RQ */
    size_t nctx;
    uint32_t their_max;          /* the SCU's maximum PDU */
    char called[17], calling[17];
    char problem[256];
    /* running */
    int lfd, port;
    atomic_int stop;
    pthread_t thread;
    bool running;
    atomic_int idle_ended;       /* F_IDLE_*: done */
    unsigned release_rps;        /* A-RELEASE-RPs drained after our RQ */
} scp;

static void scp_fail(scp *s, const char *fmt, ...) OA_PRINTF(2, 3);

static void scp_fail(scp *s, const char *fmt, ...)
{
    va_list ap;

    if (s->problem[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(s->problem, sizeof(s->problem), fmt, ap);
    va_end(ap);
}

static bool send_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;

    while (n > 0) {
        ssize_t w = send(fd, q, n, MSG_NOSIGNAL);

        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return false;
        }
        q += w;
        n -= (size_t)w;
    }
    return true;
}

static bool recv_full(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);

        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return false;
        }
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* One PDU: its type and body (malloc'd); false at the end or on error. */
static bool scp_read_pdu(int fd, uint8_t *type, uint8_t **body, size_t *len)
{
    uint8_t h[6];
    uint32_t n;

    *body = NULL;
    if (!recv_full(fd, h, 6))
        return false;
    n = oa_get_be32(h + 2);
    if (n > 8u * 1024u * 1024u)
        return false;
    *body = malloc(n > 0 ? n : 1);
    if (*body == NULL || !recv_full(fd, *body, n)) {
        free(*body);
        *body = NULL;
        return false;
    }
    *type = h[0];
    *len = n;
    return true;
}

/* Read and drop until the SCU closes (or the 5 s receive timeout). */
static void drain(scp *s, int fd)
{
    uint8_t b[4096];
    unsigned k;

    for (k = 0; k < 100000; k++) {
        ssize_t r = recv(fd, b, sizeof(b), 0);

        if (r <= 0)
            break;
        if (r >= 1 && b[0] == 0x07 && r == 10)
            s->aborts++;
        if (r >= 1 && b[0] == 0x06 && r == 10)
            s->release_rps++;
    }
}

static void ae_copy(char out[17], const uint8_t *p)
{
    size_t n = 16;

    memcpy(out, p, 16);
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static bool text_copy(char out[65], const uint8_t *p, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return strlen(out) == n;
}

/*
 * The SCP's reader of an A-ASSOCIATE-RQ body (after the 6-byte header):
 * header fields, application context, presentation contexts, our maximum.
 * Returns false with s->problem set.
 */
static bool parse_rq(scp *s, const uint8_t *b, size_t len)
{
    size_t off = 68;
    bool app = false, have_max = false, impl = false;

    s->nctx = 0;
    if (len < 68 || oa_get_be16(b) != 1)
        return scp_fail(s, "A-ASSOCIATE-RQ: short or protocol version"),
               false;
    ae_copy(s->called, b + 4);
    ae_copy(s->calling, b + 20);
    for (size_t i = 36; i < 68; i++)
        if (b[i] != 0)
            return scp_fail(s, "A-ASSOCIATE-RQ: reserved bytes"), false;
    while (off < len) {
        uint8_t t;
        size_t il;
        const uint8_t *v;

        if (len - off < 4)
            return scp_fail(s, "A-ASSOCIATE-RQ: truncated item"), false;
        t = b[off];
        il = oa_get_be16(b + off + 2);
        if (il > len - off - 4)
            return scp_fail(s, "A-ASSOCIATE-RQ: item past end"), false;
        v = b + off + 4;
        if (t == 0x10) {
            app = il == 21 && memcmp(v, "1.2.840.10008.3.1.1.1", 21) == 0;
        } else if (t == 0x20) {
            rx_ctx *c;
            size_t so = 4;

            if (il < 4 || s->nctx == SCP_CTX)
                return scp_fail(s, "A-ASSOCIATE-RQ: context item"), false;
            c = &s->ctx[s->nctx++];
            memset(c, 0, sizeof(*c));
            c->id = v[0];
            while (so < il) {
                size_t sl;

                if (il - so < 4)
                    return scp_fail(s, "context sub-item truncated"), false;
                sl = oa_get_be16(v + so + 2);
                if (sl > il - so - 4)
                    return scp_fail(s, "context sub-item past end"), false;
                if (v[so] == 0x30) {
                    if (c->abstract[0] ||
                        !text_copy(c->abstract, v + so + 4, sl))
                        return scp_fail(s, "abstract syntax"), false;
                } else if (v[so] == 0x40) {
                    if (c->nts == 4 || !text_copy(c->ts[c->nts++],
                                                  v + so + 4, sl))
                        return scp_fail(s, "transfer syntax"), false;
                } else {
                    return scp_fail(s, "context sub-item type"), false;
                }
                so += 4 + sl;
            }
            if (c->id % 2 == 0 || c->abstract[0] == '\0' || c->nts == 0)
                return scp_fail(s, "context %u: even id or incomplete",
                                (unsigned)c->id),
                       false;
            for (size_t i = 0; i + 1 < s->nctx; i++)
                if (s->ctx[i].id == c->id)
                    return scp_fail(s, "context id %u twice",
                                    (unsigned)c->id),
                           false;
        } else if (t == 0x50) {
            size_t so = 0;

            while (so < il) {
                size_t sl;

                if (il - so < 4)
                    return scp_fail(s, "user sub-item truncated"), false;
                sl = oa_get_be16(v + so + 2);
                if (sl > il - so - 4)
                    return scp_fail(s, "user sub-item past end"), false;
                if (v[so] == 0x51 && sl == 4) {
                    s->their_max = oa_get_be32(v + so + 4);
                    have_max = true;
                } else if (v[so] == 0x52 && sl > 0) {
                    impl = true;
                }
                so += 4 + sl;
            }
        } else {
            return scp_fail(s, "A-ASSOCIATE-RQ: item type 0x%02X",
                            (unsigned)t),
                   false;
        }
        off += 4 + il;
    }
    if (!app || !have_max || !impl)
        return scp_fail(s, "A-ASSOCIATE-RQ: application context, maximum "
                           "length or implementation class missing"),
               false;
    return true;
}

static void scp_send_ac(scp *s, int fd, const uint8_t *rq)
{
    bytes b = {0}, ui = {0};
    uint8_t h[6] = {0x02, 0, 0, 0, 0, 0}, mx[4];

    b_add(&b, rq, 68);   /* protocol, reserved, AE titles, reserved */
    b_item(&b, 0x10, "1.2.840.10008.3.1.1.1", 21);
    for (size_t i = 0; i < (s->omit_contexts ? 0 : s->nctx); i++) {
        const rx_ctx *c = &s->ctx[i];
        bytes it = {0};
        uint8_t head[4] = {c->id, 0, 0, 0};
        const char *ts = c->ts[0];

        if (s->refuse_class[0] && strcmp(c->abstract, s->refuse_class) == 0)
            head[2] = s->refuse_result;
        if (s->other_ts_class[0] &&
            strcmp(c->abstract, s->other_ts_class) == 0)
            ts = ILE;
        b_add(&it, head, 4);
        if (head[2] == 0 || !s->refuse_without_ts)
            b_item(&it, 0x40, ts, strlen(ts));
        b_item(&b, 0x21, it.p, it.len);
        b_free(&it);
    }
    if (s->max_pdu != 0) {
        oa_put_be32(mx, s->max_pdu);
        b_item(&ui, 0x51, mx, 4);
    }
    b_item(&ui, 0x52, "1.2.3.4.5", 9);
    b_item(&ui, 0x55, "TEST_SCP", 8);
    b_item(&b, 0x50, ui.p, ui.len);
    oa_put_be32(h + 2, (uint32_t)b.len);
    if (!send_all(fd, h, 6) || !send_all(fd, b.p, b.len))
        scp_fail(s, "A-ASSOCIATE-AC not sent");
    b_free(&b);
    b_free(&ui);
}

/* The SCP's reader of a C-STORE-RQ command set. */
static bool parse_store_rq(scp *s, const uint8_t *c, size_t len,
                           rx_store *r)
{
    size_t off = 0;
    uint32_t last = 0;
    bool first = true, have_field = false, have_id = false;
    bool have_class = false, have_inst = false, have_type = false;
    uint16_t type = 0;

    while (off < len) {
        uint16_t g, e;
        uint32_t vl;
        const uint8_t *v;

        if (len - off < 8)
            return scp_fail(s, "command element truncated"), false;
        g = oa_get_le16(c + off);
        e = oa_get_le16(c + off + 2);
        vl = oa_get_le32(c + off + 4);
        v = c + off + 8;
        if (g != 0 || vl > len - off - 8 || vl % 2 != 0)
            return scp_fail(s, "command element group/length"), false;
        if (!first && OA_TAG(g, e) <= last)
            return scp_fail(s, "command elements not ascending"), false;
        last = OA_TAG(g, e);
        if (first && (e != 0x0000 || vl != 4 || oa_get_le32(v) != len - 12))
            return scp_fail(s, "command group length wrong"), false;
        first = false;
        if (e == 0x0002 || e == 0x1000) {
            char *out = e == 0x0002 ? r->sop_class : r->sop_instance;
            size_t n = vl;

            if (n > 0 && v[n - 1] == '\0')
                n--;
            if (!text_copy(out, v, n))
                return scp_fail(s, "command UID"), false;
            if (e == 0x0002)
                have_class = true;
            else
                have_inst = true;
        } else if (e == 0x0100 && vl == 2) {
            have_field = oa_get_le16(v) == 0x0001;
        } else if (e == 0x0110 && vl == 2) {
            r->message_id = oa_get_le16(v);
            have_id = true;
        } else if (e == 0x0700 && vl == 2) {
            r->priority = oa_get_le16(v);
        } else if (e == 0x0800 && vl == 2) {
            type = oa_get_le16(v);
            have_type = true;
        }
        off += 8 + vl;
    }
    if (!have_field || !have_id || !have_class || !have_inst ||
        !have_type || type == 0x0101)
        return scp_fail(s, "C-STORE-RQ incomplete"), false;
    return true;
}

static void scp_send_rsp(scp *s, int fd, const rx_store *r)
{
    bytes body = {0}, cmd = {0};
    uint8_t gl[4];

    b_cmd_el(&body, 0x0002, r->sop_class, strlen(r->sop_class));
    b_cmd_us(&body, 0x0100, 0x8001);
    b_cmd_us(&body, 0x0120,
             (uint16_t)((int)r->message_id + s->message_id_delta));
    b_cmd_us(&body, 0x0800, 0x0101);
    b_cmd_us(&body, 0x0900, s->status);
    if (s->noffending > 0) {
        uint8_t at[8];

        for (unsigned i = 0; i < s->noffending; i++) {
            oa_put_le16(at + 4 * i, OA_TAG_GROUP(s->offending[i]));
            oa_put_le16(at + 4 * i + 2, OA_TAG_ELEMENT(s->offending[i]));
        }
        b_cmd_el(&body, 0x0901, at, 4 * s->noffending);
    }
    b_cmd_el(&body, 0x1000, r->sop_instance, strlen(r->sop_instance));
    oa_put_le32(gl, (uint32_t)body.len);
    b_cmd_el(&cmd, 0x0000, gl, 4);
    b_add(&cmd, body.p, body.len);
    {
        /* one PDV a PDU; split: the first 20 bytes, then the rest */
        size_t cut = s->split_response ? 20 : cmd.len;
        size_t parts[2][2] = {{0, cut}, {cut, cmd.len - cut}};

        for (int k = 0; k < (s->split_response ? 2 : 1); k++) {
            uint8_t h[12];
            size_t n = parts[k][1];
            bool last = k == (s->split_response ? 1 : 0);

            h[0] = 0x04;
            h[1] = 0;
            oa_put_be32(h + 2, (uint32_t)(n + 6));
            oa_put_be32(h + 6, (uint32_t)(n + 2));
            h[10] = r->pc;
            h[11] = (uint8_t)((s->fault == F_DATA_RSP &&
                                       s->nstores == s->fault_at
                                   ? 0
                                   : 1) |
                              (last ? 2 : 0));
            if (!send_all(fd, h, 12) ||
                !send_all(fd, cmd.p + parts[k][0], n))
                scp_fail(s, "response not sent");
        }
    }
    b_free(&body);
    b_free(&cmd);
}

/* A response fault: true when the connection is to end (after drain). */
static bool scp_response_fault(scp *s, int fd, const rx_store *r)
{
    switch (s->fault) {
    case F_PDU_HUGE: {
        uint8_t h[16] = {0x04, 0, 0x7F, 0xFF, 0xFF, 0xF0};

        send_all(fd, h, sizeof(h));
        return true;
    }
    case F_PDU_SHORT: {
        uint8_t h[16] = {0x04, 0, 0, 0, 0, 200};

        send_all(fd, h, sizeof(h));
        return true;   /* closed: the SCU waits for 190 more bytes */
    }
    case F_PDV_OVERRUN: {
        uint8_t h[20] = {0x04, 0, 0, 0, 0, 14, 0, 0, 0, 100, r->pc, 3};

        send_all(fd, h, sizeof(h));
        return true;
    }
    case F_SILENT:
        return true;
    default:
        return false;
    }
}

/* One association, from the A-ASSOCIATE-RQ to its end. */
static void scp_session(scp *s, int fd)
{
    uint8_t type = 0, *b = NULL;
    size_t len = 0;
    rx_store *cur = NULL;
    bool in_command = true;
    bytes cmd = {0}, ds = {0};
    uint8_t cmd_pc = 0;
    unsigned pdus;

    if (!scp_read_pdu(fd, &type, &b, &len) || type != 0x01) {
        scp_fail(s, "no A-ASSOCIATE-RQ");
        free(b);
        return;
    }
    if (!parse_rq(s, b, len)) {
        free(b);
        return;
    }
    if (s->fault == F_SILENT_AC) {
        free(b);
        drain(s, fd);
        return;
    }
    if (s->fault == F_REJECT) {
        uint8_t rj[10] = {0x03, 0, 0, 0, 0, 4, 0, s->rj_result, s->rj_source,
                          s->rj_reason};

        free(b);
        send_all(fd, rj, sizeof(rj));
        return;
    }
    scp_send_ac(s, fd, b);
    free(b);
    s->associations++;
    for (pdus = 0; pdus < 100000; pdus++) {
        size_t off = 0;

        if (!scp_read_pdu(fd, &type, &b, &len))
            break;   /* closed */
        if (type == 0x05) {
            s->releases++;
            if (s->fault == F_NO_RP) {
                free(b);
                b = NULL;
                drain(s, fd);
                break;
            }
            {
                uint8_t rp[10] = {0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0};

                send_all(fd, rp, sizeof(rp));
            }
            free(b);
            b = NULL;
            break;
        }
        if (type == 0x07) {
            s->aborts++;
            free(b);
            b = NULL;
            break;
        }
        if (type != 0x04) {
            scp_fail(s, "PDU type 0x%02X in an association", (unsigned)type);
            free(b);
            b = NULL;
            break;
        }
        if (s->max_pdu != 0 && len > s->max_pdu)
            scp_fail(s, "a P-DATA PDU of %zu bytes above our %u", len,
                     (unsigned)s->max_pdu);
        while (off < len) {
            uint32_t pl;
            uint8_t pc, mch;

            if (len - off < 6 || (pl = oa_get_be32(b + off)) < 2 ||
                pl > len - off - 4) {
                scp_fail(s, "a PDV past its PDU");
                break;
            }
            pc = b[off + 4];
            mch = b[off + 5];
            if (in_command) {
                if ((mch & 1) == 0) {
                    scp_fail(s, "a data set PDV before the command");
                    break;
                }
                if (cmd.len == 0)
                    cmd_pc = pc;
                else if (pc != cmd_pc)
                    scp_fail(s, "a command in two contexts");
                b_add(&cmd, b + off + 6, pl - 2);
                if (mch & 2) {
                    if (s->nstores == SCP_STORES) {
                        scp_fail(s, "too many stores");
                        break;
                    }
                    cur = &s->st[s->nstores];
                    memset(cur, 0, sizeof(*cur));
                    cur->association = s->associations;
                    cur->pc = cmd_pc;
                    if (!parse_store_rq(s, cmd.p, cmd.len, cur))
                        break;
                    cmd.len = 0;
                    in_command = false;
                    ds.len = 0;
                }
            } else {
                if (mch & 1) {
                    scp_fail(s, "a command PDV inside the data set");
                    break;
                }
                if (pc != cur->pc)
                    scp_fail(s, "a data set PDV in another context");
                b_add(&ds, b + off + 6, pl - 2);
                if (off == 0) {
                    cur->dataset_pdus++;
                    if (len > cur->largest_pdu)
                        cur->largest_pdu = len;
                }
                if (s->nstores + 1 == s->fault_at &&
                    (s->fault == F_ABORT_MID || s->fault == F_CLOSE_MID)) {
                    s->nstores++;   /* counted, not complete */
                    free(b);
                    b = NULL;
                    if (s->fault == F_ABORT_MID) {
                        uint8_t ab[10] = {0x07, 0, 0, 0, 0, 4, 0, 0, 2, 1};

                        send_all(fd, ab, sizeof(ab));
                        drain(s, fd);
                    }
                    goto end;
                }
                if (mch & 2) {
                    cur->dataset = malloc(ds.len ? ds.len : 1);
                    if (cur->dataset != NULL)
                        memcpy(cur->dataset, ds.p, ds.len);
                    cur->dataset_len = ds.len;
                    s->nstores++;
                    in_command = true;
                    if (s->nstores == s->fault_at &&
                        scp_response_fault(s, fd, cur)) {
                        free(b);
                        b = NULL;
                        if (s->fault != F_PDU_SHORT)
                            drain(s, fd);
                        goto end;
                    }
                    scp_send_rsp(s, fd, cur);
                    if (s->nstores == s->fault_at &&
                        (s->fault == F_IDLE_CLOSE ||
                         s->fault == F_IDLE_RELEASE)) {
                        uint8_t rq[10] = {0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0};

                        free(b);
                        b = NULL;
                        if (s->fault == F_IDLE_RELEASE)
                            send_all(fd, rq, sizeof(rq));
                        else
                            shutdown(fd, SHUT_WR);
                        atomic_store(&s->idle_ended, 1);
                        drain(s, fd);
                        goto end;
                    }
                }
            }
            off += 4 + pl;
        }
        free(b);
        b = NULL;
    }
end:
    free(b);
    b_free(&cmd);
    b_free(&ds);
}

static void *scp_main(void *arg)
{
    scp *s = arg;

    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        int fd;
        struct timeval tv = {5, 0};

        if (poll(&p, 1, 20) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        s->connections++;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        scp_session(s, fd);
        close(fd);
    }
    return NULL;
}

static scp *scp_new(void)
{
    scp *s = calloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t al = sizeof(a);

    assert_non_null(s);
    s->max_pdu = 16384;
    s->fault_at = 1;
    s->refuse_result = 3;   /* abstract syntax not supported */
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    return s;
}

static void scp_start(scp *s)
{
    atomic_store(&s->stop, 0);
    assert_int_equal(pthread_create(&s->thread, NULL, scp_main, s), 0);
    s->running = true;
}

/* Stop and join; the SCP's complaint, if any, fails the test. */
static void scp_stop(scp *s)
{
    if (s->running) {
        atomic_store(&s->stop, 1);
        pthread_join(s->thread, NULL);
        s->running = false;
    }
    if (s->problem[0] != '\0')
        fail_msg("the SCP: %s", s->problem);
}

static void scp_free(scp *s)
{
    if (s == NULL)
        return;
    if (s->running) {
        atomic_store(&s->stop, 1);
        pthread_join(s->thread, NULL);
    }
    for (unsigned i = 0; i < s->nstores; i++)
        free(s->st[i].dataset);
    close(s->lfd);
    free(s);
}

static oa_scu_params params(const scp *s, unsigned timeout)
{
    oa_scu_params p;

    memset(&p, 0, sizeof(p));
    snprintf(p.name, sizeof(p.name), "%s", "test-scp");
    snprintf(p.host, sizeof(p.host), "%s", "127.0.0.1");
    p.port = s != NULL ? s->port : 0;
    snprintf(p.called_aet, sizeof(p.called_aet), "%s", "STORESCP");
    snprintf(p.calling_aet, sizeof(p.calling_aet), "%s", "ORTHANC_OA");
    p.timeout = timeout;
    return p;
}

/* What the SCP got for store `k` is file `f`'s data set and identity. */
static void assert_received(const scp *s, unsigned k, const file *f,
                            const char *sop_class)
{
    const rx_store *r = &s->st[k];

    assert_true(k < s->nstores);
    assert_string_equal(r->sop_class, sop_class);
    assert_string_equal(r->sop_instance, f->instance);
    assert_int_equal(r->priority, 0);
    assert_non_null(r->dataset);
    assert_int_equal(r->dataset_len, f->len - f->dataset_offset);
    assert_memory_equal(r->dataset, f->p + f->dataset_offset,
                        r->dataset_len);
}

/* An error message names no instance UID of the test. */
static void assert_no_uid(const oa_error *err)
{
    assert_true(err->msg[0] != '\0');
    assert_null(strstr(err->msg, UID_BASE));
    assert_null(strstr(err->msg, "987654321"));
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&t, NULL);
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Stores against the loopback SCP                                     */

static void test_store_two_classes(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f[5];

    (void)state;
    s->max_pdu = 4096;   /* the big files go in several PDUs */
    f[0] = make_file(CT, ELE, 1, 10000);
    f[1] = make_file(CT, ELE, 2, 11);
    f[2] = make_file(MR, ELE, 3, 20001);
    f[3] = make_file(CT, ELE, 4, 3000);
    f[4] = make_file(MR, ILE, 5, 5000);
    scp_start(s);
    oa_error_clear(&err);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_false(oa_scu_associated(u));
    assert_int_equal(oa_scu_associations(u), 0);
    assert_int_equal(oa_scu_store(u, f[0].p, f[0].len, 1, &err), OA_OK);
    assert_true(oa_scu_associated(u));
    assert_int_equal(oa_scu_their_max(u), 4096);
    assert_int_equal(oa_scu_store(u, f[1].p, f[1].len, 2, &err), OA_OK);
    assert_int_equal(oa_scu_associations(u), 1);
    /* a new SOP class: released, associated again with both contexts */
    assert_int_equal(oa_scu_store(u, f[2].p, f[2].len, 3, &err), OA_OK);
    assert_int_equal(oa_scu_associations(u), 2);
    assert_int_equal(oa_scu_store(u, f[3].p, f[3].len, 4, &err), OA_OK);
    /* a known class in a new transfer syntax: a third context */
    assert_int_equal(oa_scu_store(u, f[4].p, f[4].len, 5, &err), OA_OK);
    assert_int_equal(oa_scu_associations(u), 3);
    assert_int_equal(oa_scu_release(u, &err), OA_OK);
    assert_false(oa_scu_associated(u));
    assert_int_equal(oa_scu_release(u, &err), OA_OK);   /* nothing to do */
    oa_scu_free(u);
    scp_stop(s);

    assert_int_equal(s->associations, 3);
    assert_int_equal(s->releases, 3);
    assert_int_equal(s->aborts, 0);
    assert_string_equal(s->called, "STORESCP");
    assert_string_equal(s->calling, "ORTHANC_OA");
    assert_int_equal(s->their_max, OA_SCU_DEFAULT_PDU);
    /* the last association proposed the three pairs, each with its file's
     * own syntax only */
    assert_int_equal(s->nctx, 3);
    assert_string_equal(s->ctx[0].abstract, CT);
    assert_string_equal(s->ctx[1].abstract, MR);
    assert_string_equal(s->ctx[2].abstract, MR);
    assert_string_equal(s->ctx[2].ts[0], ILE);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(s->ctx[i].nts, 1);
    assert_int_equal(s->nstores, 5);
    assert_received(s, 0, &f[0], CT);
    assert_received(s, 1, &f[1], CT);
    assert_received(s, 2, &f[2], MR);
    assert_received(s, 3, &f[3], CT);
    assert_received(s, 4, &f[4], MR);
    /* message IDs increase within an association */
    assert_int_equal(s->st[0].association, 1);
    assert_int_equal(s->st[1].association, 1);
    assert_true(s->st[1].message_id > s->st[0].message_id);
    assert_int_equal(s->st[2].association, 2);
    assert_int_equal(s->st[3].association, 2);
    assert_true(s->st[3].message_id > s->st[2].message_id);
    assert_int_equal(s->st[4].association, 3);
    /* fragments within the SCP's maximum: 10,000 bytes in >= 3 PDUs */
    assert_true(s->st[0].dataset_pdus >= 3);
    assert_true(s->st[2].dataset_pdus >= 5);
    assert_int_equal(s->st[1].dataset_pdus, 1);
    for (unsigned k = 0; k < 5; k++)
        assert_true(s->st[k].largest_pdu <= 4096);
    assert_int_not_equal(s->st[0].pc, s->st[2].pc);
    for (int i = 0; i < 5; i++)
        free_file(&f[i]);
    scp_free(s);
}

/* No maximum in the AC: our own bounds the fragments. */
static void test_store_no_their_max(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100000);

    (void)state;
    s->max_pdu = 0;
    s->split_response = true;   /* and a response in two PDUs */
    p.max_pdu = 1000;           /* clamped to OA_SCU_MIN_PDU */
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_OK);
    assert_int_equal(oa_scu_their_max(u), 0);
    oa_scu_free(u);   /* aborts */
    scp_stop(s);
    assert_int_equal(s->their_max, OA_SCU_MIN_PDU);
    assert_int_equal(s->aborts, 1);
    assert_received(s, 0, &f, CT);
    assert_true(s->st[0].dataset_pdus >= 7);
    assert_true(s->st[0].largest_pdu <= OA_SCU_MIN_PDU);
    free_file(&f);
    scp_free(s);
}

static void test_store_many(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    uint16_t last = 0;

    (void)state;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    for (unsigned i = 0; i < 40; i++) {
        file f = make_file(i % 2 ? CT : MR, ELE, 100 + i, 50 + 37 * i);

        assert_int_equal(oa_scu_store(u, f.p, f.len, i + 1, &err), OA_OK);
        free_file(&f);
    }
    assert_int_equal(oa_scu_associations(u), 2);
    assert_int_equal(oa_scu_release(u, &err), OA_OK);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->nstores, 40);
    for (unsigned i = 1; i < 40; i++) {
        if (s->st[i].association == s->st[i - 1].association)
            assert_true(s->st[i].message_id > s->st[i - 1].message_id);
        last = s->st[i].message_id;
    }
    assert_true(last >= 38);
    scp_free(s);
}

/* An AC answering none of the contexts: nothing accepted. */
static void test_contexts_unanswered(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    s->omit_contexts = true;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_EUNSUPPORTED);
    assert_no_uid(&err);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->nstores, 0);
    free_file(&f);
    scp_free(s);
}

/* A maximum PDU below 128 bytes: the AC is refused (A-ABORT). */
static void test_their_max_too_small(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    s->max_pdu = 100;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    assert_non_null(strstr(err.msg, "maximum PDU length of 100 bytes"));
    assert_false(oa_scu_associated(u));
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->nstores, 0);
    assert_int_equal(s->aborts, 1);
    free_file(&f);
    scp_free(s);
}

static void test_reject_permanent(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    s->fault = F_REJECT;
    s->rj_result = 1;
    s->rj_source = 1;
    s->rj_reason = 3;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    oa_error_clear(&err);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_EAUTH);
    assert_false(oa_scu_associated(u));
    assert_int_equal(oa_scu_associations(u), 0);
    assert_non_null(strstr(err.msg, "permanent"));
    assert_non_null(strstr(err.msg, "calling AE title not recognized"));
    assert_non_null(strstr(err.msg, "ORTHANC_OA"));
    assert_no_uid(&err);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->associations, 0);
    free_file(&f);
    scp_free(s);
}

static void test_reject_transient(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    s->fault = F_REJECT;
    s->rj_result = 2;
    s->rj_source = 3;
    s->rj_reason = 1;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    assert_non_null(strstr(err.msg, "transient"));
    assert_non_null(strstr(err.msg, "temporary congestion"));
    assert_no_uid(&err);
    /* and again: a new connection each time, rejected again */
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->connections, 2);
    free_file(&f);
    scp_free(s);
}

static void context_refused(bool without_ts, bool other_ts)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file mr = make_file(MR, ELE, 1, 100), ct = make_file(CT, ELE, 2, 100);

    if (other_ts)
        snprintf(s->other_ts_class, sizeof(s->other_ts_class), "%s", MR);
    else
        snprintf(s->refuse_class, sizeof(s->refuse_class), "%s", MR);
    s->refuse_without_ts = without_ts;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, mr.p, mr.len, 1, &err),
                     OA_EUNSUPPORTED);
    assert_no_uid(&err);
    assert_non_null(strstr(err.msg, MR));
    /* the association stays; the same pair again: no new association */
    assert_true(oa_scu_associated(u));
    assert_int_equal(oa_scu_store(u, mr.p, mr.len, 2, &err),
                     OA_EUNSUPPORTED);
    assert_int_equal(oa_scu_associations(u), 1);
    /* another class is accepted (a second association with both) */
    assert_int_equal(oa_scu_store(u, ct.p, ct.len, 3, &err), OA_OK);
    assert_int_equal(oa_scu_associations(u), 2);
    assert_int_equal(oa_scu_store(u, mr.p, mr.len, 4, &err),
                     OA_EUNSUPPORTED);
    assert_int_equal(oa_scu_release(u, &err), OA_OK);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->nstores, 1);
    assert_received(s, 0, &ct, CT);
    free_file(&mr);
    free_file(&ct);
    scp_free(s);
}

static void test_context_refused(void **state)
{
    (void)state;
    context_refused(false, false);
}

static void test_context_refused_without_ts(void **state)
{
    (void)state;
    context_refused(true, false);
}

/* Accepted, but with another transfer syntax than the one proposed. */
static void test_context_other_ts(void **state)
{
    (void)state;
    context_refused(false, true);
}

/* A fault of the SCP during the first store: `code`, the association
 * gone, a message with `needle`; the second store works on a new one. */
static void store_fault(fault fl, oa_status code, const char *needle,
                        size_t pixels)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 1);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, pixels), g = make_file(CT, ELE, 2, 500);
    double t0;

    s->fault = fl;
    s->max_pdu = 4096;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    oa_error_clear(&err);
    t0 = now_s();
    assert_int_equal(oa_scu_store(u, f.p, f.len, 7, &err), code);
    assert_true(now_s() - t0 < 3.0);
    if (needle != NULL && strstr(err.msg, needle) == NULL)
        fail_msg("message without '%s': %s", needle, err.msg);
    assert_no_uid(&err);
    assert_false(oa_scu_associated(u));
    assert_int_equal(oa_scu_store(u, g.p, g.len, 8, &err), OA_OK);
    assert_int_equal(oa_scu_associations(u), 2);
    assert_int_equal(oa_scu_release(u, &err), OA_OK);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->associations, 2);
    assert_received(s, s->nstores - 1, &g, CT);
    free_file(&f);
    free_file(&g);
    scp_free(s);
}

/* The faults of the first store, each a test of its own (main). */
typedef struct fault_case {
    fault fl;
    const char *needle;   /* in the message, or NULL */
    size_t pixels;        /* the first file's size */
    double min_seconds;   /* the store took at least this long */
} fault_case;

static const fault_case fault_abort_mid = {F_ABORT_MID, NULL, 30000, 0};
/* a small file, read whole: the SCU reads the A-ABORT itself */
static const fault_case fault_abort_before = {
    F_ABORT_MID, "aborted the association", 100, 0};
static const fault_case fault_closed_mid = {F_CLOSE_MID, NULL, 200000, 0};
static const fault_case fault_closed_before = {F_CLOSE_MID, "closed", 100,
                                               0};
static const fault_case fault_pdu_huge = {F_PDU_HUGE, "more than the", 100,
                                          0};
static const fault_case fault_pdu_short = {F_PDU_SHORT, "closed", 100, 0};
static const fault_case fault_pdv_overrun = {F_PDV_OVERRUN,
                                             "runs past its PDU", 100, 0};
static const fault_case fault_data_rsp = {F_DATA_RSP, "presentation context",
                                          100, 0};
static const fault_case fault_silent = {F_SILENT, "timeout", 100, 0.9};

static void test_store_fault(void **state)
{
    const fault_case *c = *state;
    double t0 = now_s();

    store_fault(c->fl, OA_ENET, c->needle, c->pixels);
    assert_true(now_s() - t0 >= c->min_seconds);
}

/* No answer to the association request: the 1 s timeout too. */
static void test_silent_association(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 1);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);
    double t0;

    (void)state;
    s->fault = F_SILENT_AC;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    t0 = now_s();
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    assert_true(now_s() - t0 >= 0.9 && now_s() - t0 < 3.0);
    assert_non_null(strstr(err.msg, "timeout"));
    assert_false(oa_scu_associated(u));
    oa_scu_free(u);
    scp_stop(s);
    free_file(&f);
    scp_free(s);
}

/* The SCP ends the association while the SCU is idle: the next store
 * goes on a new association, with no error. */
static void idle_end(fault fl)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100), g = make_file(CT, ELE, 2, 300);

    s->fault = fl;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_OK);
    for (int k = 0; k < 400 && !atomic_load(&s->idle_ended); k++)
        sleep_ms(5);
    assert_true(atomic_load(&s->idle_ended));
    sleep_ms(20);   /* its FIN or PDU on the way */
    assert_true(oa_scu_associated(u));
    oa_error_clear(&err);
    if (oa_scu_store(u, g.p, g.len, 2, &err) != OA_OK)
        fail_msg("second store: %s", err.msg);
    assert_int_equal(oa_scu_associations(u), 2);
    assert_int_equal(oa_scu_release(u, &err), OA_OK);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->associations, 2);
    assert_int_equal(s->nstores, 2);
    assert_received(s, 1, &g, CT);
    if (fl == F_IDLE_RELEASE) {
        /* its A-RELEASE-RQ answered by an A-RELEASE-RP, not an A-ABORT */
        assert_int_equal(s->release_rps, 1);
        assert_int_equal(s->aborts, 0);
    }
    free_file(&f);
    free_file(&g);
    scp_free(s);
}

static void test_idle_close(void **state)
{
    (void)state;
    idle_end(F_IDLE_CLOSE);
}

static void test_idle_release_rq(void **state)
{
    (void)state;
    idle_end(F_IDLE_RELEASE);
}

static void test_release_unanswered(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 1);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    s->fault = F_NO_RP;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_OK);
    assert_int_equal(oa_scu_release(u, &err), OA_ENET);
    assert_non_null(strstr(err.msg, "timeout"));
    assert_false(oa_scu_associated(u));
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->releases, 1);
    assert_int_equal(s->aborts, 1);   /* the SCU gave up with an A-ABORT */
    free_file(&f);
    scp_free(s);
}

/* A status: `code`; the association stays (no protocol error). */
static void store_status(uint16_t status, unsigned noffending,
                         oa_status code, const char *needle)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100), g = make_file(CT, ELE, 2, 100);

    s->status = status;
    s->noffending = noffending;
    s->offending[0] = OA_TAG(0x0010, 0x0010);
    s->offending[1] = OA_TAG(0x0008, 0x0018);
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    oa_error_clear(&err);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 12, &err), code);
    if (code != OA_OK) {
        char st[16];

        snprintf(st, sizeof(st), "0x%04X", (unsigned)status);
        assert_non_null(strstr(err.msg, st));
        assert_non_null(strstr(err.msg, "file 12"));
        assert_no_uid(&err);
        if (needle != NULL && strstr(err.msg, needle) == NULL)
            fail_msg("message without '%s': %s", needle, err.msg);
    }
    assert_true(oa_scu_associated(u));
    assert_int_equal(oa_scu_store(u, g.p, g.len, 13, &err), code);
    assert_int_equal(oa_scu_associations(u), 1);
    assert_int_equal(oa_scu_release(u, &err), OA_OK);
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->nstores, 2);
    assert_received(s, 0, &f, CT);
    free_file(&f);
    free_file(&g);
    scp_free(s);
}

static void test_status_out_of_resources(void **state)
{
    (void)state;
    store_status(0xA700, 0, OA_ENET, "out of resources");
}

static void test_status_cannot_understand(void **state)
{
    (void)state;
    store_status(0xC000, 2, OA_EINVAL, "(0010,0010) (0008,0018)");
}

static void test_status_mismatch(void **state)
{
    (void)state;
    store_status(0xA900, 0, OA_EINVAL, "does not match");
}

static void test_status_warning(void **state)
{
    (void)state;
    store_status(0xB000, 1, OA_OK, NULL);
    store_status(0xB007, 0, OA_OK, NULL);
}

static void test_wrong_message_id(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    s->message_id_delta = 1;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    assert_non_null(strstr(err.msg, "message 2 for 1"));
    assert_no_uid(&err);
    assert_false(oa_scu_associated(u));   /* out of step: aborted */
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->aborts, 1);
    free_file(&f);
    scp_free(s);
}

static void test_nobody_listening(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 1);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    close(s->lfd);   /* the port is free: connection refused */
    s->lfd = -1;
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    assert_non_null(strstr(err.msg, "could not be reached"));
    assert_no_uid(&err);
    assert_false(oa_scu_associated(u));
    /* an unknown host: unreachable too */
    oa_scu_free(u);
    snprintf(p.host, sizeof(p.host), "%s", "no-such-host.invalid");
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_ENET);
    assert_no_uid(&err);
    oa_scu_free(u);
    free_file(&f);
    free(s);
}

/* A file that cannot go as it is: OA_EUNSUPPORTED, no connection. */
static void test_store_not_part10(void **state)
{
    scp *s = scp_new();
    oa_scu_params p = params(s, 5);
    oa_scu *u = NULL;
    oa_error err;
    file f = make_file(CT, ELE, 1, 100);

    (void)state;
    scp_start(s);
    assert_int_equal(oa_scu_new(&u, &p, &err), OA_OK);
    f.p[128] = 'X';
    assert_int_equal(oa_scu_store(u, f.p, f.len, 1, &err), OA_EUNSUPPORTED);
    assert_int_equal(oa_scu_store(u, f.p, 10, 1, &err), OA_EUNSUPPORTED);
    f.p[128] = 'D';
    assert_int_equal(oa_scu_store(u, f.p, f.len - 1, 1, &err),
                     OA_EUNSUPPORTED);
    assert_int_equal(oa_scu_store(u, NULL, 0, 1, NULL), OA_EUNSUPPORTED);
    assert_false(oa_scu_associated(u));
    oa_scu_free(u);
    scp_stop(s);
    assert_int_equal(s->connections, 0);
    free_file(&f);
    scp_free(s);
}

/* ------------------------------------------------------------------ */
/* The pieces                                                           */

/* Part 10 files of the corpus ($OA_CORPUS, else ../shared/corpus). */
static char corpus[2048];

/* The INDEX.tsv columns of `rel`: transfer syntax and SOP class. */
static bool index_row(const char *rel, char ts[65], char cls[65])
{
    char path[4096], line[8192];
    FILE *fp;
    bool found = false;

    snprintf(path, sizeof(path), "%s/INDEX.tsv", corpus);
    fp = fopen(path, "r");
    if (fp == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), fp) != NULL) {
        char *col[8];
        int n = 0;
        char *save = NULL, *t;

        for (t = strtok_r(line, "\t", &save); t != NULL && n < 8;
             t = strtok_r(NULL, "\t", &save))
            col[n++] = t;
        if (n >= 6 && strcmp(col[0], rel) == 0) {
            snprintf(ts, 65, "%s", col[3]);
            snprintf(cls, 65, "%s", col[5]);
            found = true;
        }
    }
    fclose(fp);
    return found;
}

static void test_meta_corpus(void **state)
{
    static const char *const good[] = {
        "orthanc-tests/Issue196.dcm",                 /* explicit LE */
        "pydicom-test_files/MR_small_implicit.dcm",   /* implicit LE */
        "pydicom-test_files/JPEG-lossy.dcm",          /* JPEG */
        "dcm4che/CT-JPEGLosslessSV1.dcm",             /* JPEG lossless */
        "pydicom-data/liver_deflate.dcm",             /* deflated */
        "pydicom-test_files/SC_rgb_small_odd_big_endian.dcm",
    };
    static const char *const bad[] = {
        "pydicom-test_files/ExplVR_BigEndNoMeta.dcm", /* no meta group */
        "pydicom-test_files/meta_missing_tsyntax.dcm",/* no (0002,0010) */
    };
    char path[4096];

    (void)state;
    if (corpus[0] == '\0') {
        print_message("skipped: corpus not found (set OA_CORPUS)\n");
        skip();
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint8_t *d;
        size_t len, off;
        char ts[65], cls[65];
        oa_scu_file f;
        oa_error err;

        snprintf(path, sizeof(path), "%s/%s", corpus, good[i]);
        assert_true(read_whole(path, &d, &len));
        assert_true(index_row(good[i], ts, cls));
        oa_error_clear(&err);
        if (oa_scu_meta(d, len, &f, &err) != OA_OK)
            fail_msg("%s: %s", good[i], err.msg);
        assert_string_equal(f.transfer_syntax, ts);
        assert_string_equal(f.sop_class, cls);
        assert_true(strlen(f.sop_instance) > 0);
        /* the data set starts after the group length's count of bytes */
        assert_int_equal(oa_get_le16(d + 132), 0x0002);
        assert_int_equal(oa_get_le16(d + 134), 0x0000);
        off = 132 + 12 + oa_get_le32(d + 140);
        assert_int_equal(f.dataset_offset, off);
        assert_int_not_equal(oa_get_le16(d + off), 0x0002);
        /* every prefix that ends in the meta group: refused, no crash */
        for (size_t n = 0; n <= off; n++)
            assert_int_equal(oa_scu_meta(d, n, &f, &err), OA_EUNSUPPORTED);
        /* a group length one too long or short: refused */
        oa_put_le32(d + 140, oa_get_le32(d + 140) + 2);
        assert_int_equal(oa_scu_meta(d, len, &f, &err), OA_EUNSUPPORTED);
        oa_put_le32(d + 140, oa_get_le32(d + 140) - 4);
        assert_int_equal(oa_scu_meta(d, len, &f, &err), OA_EUNSUPPORTED);
        oa_put_le32(d + 140, 0xFFFFFFF0u);
        assert_int_equal(oa_scu_meta(d, len, &f, &err), OA_EUNSUPPORTED);
        free(d);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *d;
        size_t len;
        oa_scu_file f;
        oa_error err;

        snprintf(path, sizeof(path), "%s/%s", corpus, bad[i]);
        assert_true(read_whole(path, &d, &len));
        oa_error_clear(&err);
        assert_int_equal(oa_scu_meta(d, len, &f, &err), OA_EUNSUPPORTED);
        assert_true(err.msg[0] != '\0');
        free(d);
    }
}

static void test_meta_crafted(void **state)
{
    file f = make_file(CT, ELE, 1, 10);
    oa_scu_file m;
    oa_error err;
    bytes b = {0};

    (void)state;
    assert_int_equal(oa_scu_meta(f.p, f.len, &m, &err), OA_OK);
    assert_string_equal(m.sop_instance, f.instance);
    assert_int_equal(m.dataset_offset, f.dataset_offset);
    /* no group length: the elements of group 0002 */
    b_add(&b, f.p, 132);
    b_add(&b, f.p + 144, f.len - 144);
    assert_int_equal(oa_scu_meta(b.p, b.len, &m, &err), OA_OK);
    assert_int_equal(m.dataset_offset, f.dataset_offset - 12);
    b_free(&b);
    /* an instance UID that is not one (letters): refused */
    {
        uint8_t *q = NULL, was;
        size_t il = strlen(f.instance);

        for (size_t i = 132; q == NULL && i + il <= f.dataset_offset; i++)
            if (memcmp(f.p + i, f.instance, il) == 0)
                q = f.p + i;
        assert_non_null(q);
        was = q[4];
        q[4] = 'x';
        assert_int_equal(oa_scu_meta(f.p, f.len, &m, &err),
                         OA_EUNSUPPORTED);
        assert_no_uid(&err);
        q[4] = was;
        assert_int_equal(oa_scu_meta(f.p, f.len, &m, &err), OA_OK);
    }
    /* an odd data set (a byte cut): broken, SCPs refuse odd PDVs */
    assert_int_equal(oa_scu_meta(f.p, f.len - 1, &m, &err),
                     OA_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "odd"));
    /* only a meta group: no data set */
    assert_int_equal(oa_scu_meta(f.p, f.dataset_offset, &m, &err),
                     OA_EUNSUPPORTED);
    /* 300 elements of group 0002 (no group length): refused */
    {
        bytes c = {0};

        b_add(&c, f.p, 132);
        for (unsigned i = 0; i < 300; i++)
            meta_el(&c, (uint16_t)(0x0100 + i), "SH", "ab", 2);
        b_add(&c, f.p + 144, f.len - 144);
        assert_int_equal(oa_scu_meta(c.p, c.len, &m, &err),
                         OA_EUNSUPPORTED);
        b_free(&c);
    }
    free_file(&f);
}

static void test_store_command(void **state)
{
    uint8_t out[OA_SCU_COMMAND_MAX];
    char uid64[65];
    scp s;
    rx_store r;
    size_t n;

    (void)state;
    memset(&s, 0, sizeof(s));
    memset(&r, 0, sizeof(r));
    n = oa_scu_store_command(out, CT, UID_BASE "1", 513);
    assert_true(n > 12 && n <= OA_SCU_COMMAND_MAX);
    assert_true(parse_store_rq(&s, out, n, &r));
    assert_string_equal(s.problem, "");
    assert_string_equal(r.sop_class, CT);           /* odd: NUL padded */
    assert_string_equal(r.sop_instance, UID_BASE "1");
    assert_int_equal(r.message_id, 513);
    assert_int_equal(r.priority, 0);
    /* UIDs of 64 characters: the longest command fits */
    memset(uid64, '1', 64);
    uid64[64] = '\0';
    uid64[1] = '.';
    n = oa_scu_store_command(out, uid64, uid64, 65535);
    assert_true(n <= OA_SCU_COMMAND_MAX);
    memset(&r, 0, sizeof(r));
    assert_true(parse_store_rq(&s, out, n, &r));
    assert_string_equal(r.sop_instance, uid64);
    assert_int_equal(r.message_id, 65535);
    /* a request has no Status: not a response */
    {
        oa_scu_response rsp;
        oa_error err;

        assert_int_equal(oa_scu_parse_response(out, n, &rsp, &err),
                         OA_EPARSE);
    }
}

static void test_parse_response(void **state)
{
    bytes body = {0}, cmd = {0};
    uint8_t gl[4], at[8];
    oa_scu_response r;
    oa_error err;
    size_t after_status, last_el;

    (void)state;
    b_cmd_el(&body, 0x0002, CT, strlen(CT));
    b_cmd_us(&body, 0x0100, 0x8001);
    b_cmd_us(&body, 0x0120, 42);
    b_cmd_us(&body, 0x0800, 0x0101);
    b_cmd_us(&body, 0x0900, 0xA900);
    after_status = 12 + body.len;
    oa_put_le16(at, 0x0010);
    oa_put_le16(at + 2, 0x0020);
    oa_put_le16(at + 4, 0x0008);
    oa_put_le16(at + 6, 0x0018);
    b_cmd_el(&body, 0x0901, at, 8);
    b_cmd_el(&body, 0x0902, "an error comment", 16);
    last_el = 12 + body.len;
    b_cmd_el(&body, 0x1000, UID_BASE "1", strlen(UID_BASE "1"));
    oa_put_le32(gl, (uint32_t)body.len);
    b_cmd_el(&cmd, 0x0000, gl, 4);
    b_add(&cmd, body.p, body.len);
    assert_int_equal(oa_scu_parse_response(cmd.p, cmd.len, &r, &err), OA_OK);
    assert_int_equal(r.command_field, 0x8001);
    assert_int_equal(r.message_id, 42);
    assert_int_equal(r.status, 0xA900);
    assert_int_equal(r.offending_count, 2);
    assert_int_equal(r.offending[0], OA_TAG(0x0010, 0x0020));
    assert_int_equal(r.offending[1], OA_TAG(0x0008, 0x0018));
    /* every proper prefix: refused (an element cut, or no status yet);
     * cut between elements after the status, parsed; never a crash */
    for (size_t n = 0; n < cmd.len; n++) {
        oa_status rc = oa_scu_parse_response(cmd.p, n, &r, &err);

        if (n < after_status)
            assert_int_equal(rc, OA_EPARSE);
        else if (rc == OA_OK)
            assert_int_equal(r.status, 0xA900);
        else
            assert_int_equal(rc, OA_EPARSE);
    }
    /* an element of another group */
    cmd.p[last_el] = 0x08;   /* the last element's group */
    assert_int_equal(oa_scu_parse_response(cmd.p, cmd.len, &r, &err),
                     OA_EPARSE);
    b_free(&body);
    b_free(&cmd);
}

/* An AC body (after the PDU header) with `n` contexts. */
static void ac_body(bytes *b, const uint8_t *ids, const uint8_t *results,
                    const char *const *ts, size_t n, uint32_t max_pdu)
{
    uint8_t head[68] = {0, 1}, mx[4];
    bytes ui = {0};

    b_add(b, head, 68);
    b_item(b, 0x10, "1.2.840.10008.3.1.1.1", 21);
    for (size_t i = 0; i < n; i++) {
        bytes it = {0};
        uint8_t h[4] = {ids[i], 0, results[i], 0};

        b_add(&it, h, 4);
        if (ts[i] != NULL)
            b_item(&it, 0x40, ts[i], strlen(ts[i]));
        b_item(b, 0x21, it.p, it.len);
        b_free(&it);
    }
    oa_put_be32(mx, max_pdu);
    b_item(&ui, 0x51, mx, 4);
    b_item(&ui, 0x52, "1.2.3", 5);
    b_item(&ui, 0x53, "\0\1\0\1", 4);   /* asynchronous operations */
    b_item(b, 0x50, ui.p, ui.len);
    b_free(&ui);
}

static void test_parse_ac(void **state)
{
    oa_scu_context ctx[4];
    const uint8_t ids[4] = {1, 3, 5, 7}, res[4] = {0, 3, 0, 4};
    const char *ts[4] = {ELE, NULL, ILE, JPEG};
    bytes b = {0};
    uint32_t mx = 0;
    oa_error err;

    (void)state;
    memset(ctx, 0, sizeof(ctx));
    for (size_t i = 0; i < 4; i++) {
        ctx[i].id = ids[i];
        snprintf(ctx[i].sop_class, 65, "%s", CT);
    }
    snprintf(ctx[0].transfer_syntax, 65, "%s", ELE);
    snprintf(ctx[1].transfer_syntax, 65, "%s", ELE);
    snprintf(ctx[2].transfer_syntax, 65, "%s", ELE);   /* answered: ILE */
    snprintf(ctx[3].transfer_syntax, 65, "%s", JPEG);
    ac_body(&b, ids, res, ts, 4, 32768);
    assert_int_equal(oa_scu_parse_ac(b.p, b.len, ctx, 4, &mx, &err), OA_OK);
    assert_int_equal(mx, 32768);
    assert_true(ctx[0].accepted);
    assert_false(ctx[1].accepted);   /* refused, no sub-item: fine */
    assert_int_equal(ctx[1].result, 3);
    assert_false(ctx[2].accepted);   /* another syntax */
    assert_int_equal(ctx[2].result, 0);
    assert_false(ctx[3].accepted);
    assert_int_equal(ctx[3].result, 4);
    /* every proper prefix: refused (or, cut between items, parsed), never
     * a crash, and nothing accepted when refused */
    for (size_t n = 0; n < b.len; n++) {
        oa_status rc = oa_scu_parse_ac(b.p, n, ctx, 4, &mx, &err);

        assert_true(rc == OA_OK || rc == OA_EPARSE);
        if (rc != OA_OK) {
            for (size_t i = 0; i < 4; i++)
                assert_false(ctx[i].accepted);
            assert_int_equal(mx, 0);
        }
    }
    /* an item longer than the body */
    b.p[68 + 2] = 0xFF;
    assert_int_equal(oa_scu_parse_ac(b.p, b.len, ctx, 4, &mx, &err),
                     OA_EPARSE);
    b_free(&b);
    /* an accepted context without its transfer syntax sub-item */
    {
        const uint8_t id1[1] = {1}, r0[1] = {0};
        const char *none[1] = {NULL};

        ac_body(&b, id1, r0, none, 1, 0);
        assert_int_equal(oa_scu_parse_ac(b.p, b.len, ctx, 4, &mx, &err),
                         OA_EPARSE);
        assert_false(ctx[0].accepted);
        b_free(&b);
    }
    /* the fuzz target's finds (UnitTests/fuzz/corpus/fuzz_dimse/crash-*):
     * an item accepted before a faulty user information item was left
     * accepted */
    {
        char path[4096];
        uint8_t *d;
        size_t len;

        snprintf(path, sizeof(path), "%s",
                 OA_SOURCE_DIR "/UnitTests/fuzz/corpus/fuzz_dimse/"
                               "crash-2ada7235");
        assert_true(read_whole(path, &d, &len));
        snprintf(ctx[0].transfer_syntax, 65, "%s", ILE);
        assert_int_equal(oa_scu_parse_ac(d, len, ctx, 4, &mx, &err),
                         OA_EPARSE);
        assert_false(ctx[0].accepted);
        /* the same body cut before the faulty item accepts context 1 */
        assert_int_equal(oa_scu_parse_ac(d, 0x7a, ctx, 4, &mx, &err),
                         OA_OK);
        assert_true(ctx[0].accepted);
        free(d);
    }
}

static void test_associate_rq(void **state)
{
    oa_scu_context ctx[OA_SCU_CONTEXTS_MAX];
    size_t cap = 74 + 25 + OA_SCU_CONTEXTS_MAX * 144 + 100, n;
    uint8_t *out = malloc(cap);
    scp *s = calloc(1, sizeof(*s));

    (void)state;
    assert_non_null(out);
    assert_non_null(s);
    memset(ctx, 0, sizeof(ctx));
    for (size_t i = 0; i < OA_SCU_CONTEXTS_MAX; i++) {
        memset(ctx[i].sop_class, '1', 64);
        ctx[i].sop_class[1] = '.';
        snprintf(ctx[i].transfer_syntax, 65, "%s", i % 2 ? ELE : JPEG);
        ctx[i].id = (uint8_t)(2 * i + 1);
    }
    n = oa_scu_associate_rq(out, cap, "A_CALLED_AE_16CH", "CALLING", 65536,
                            ctx, OA_SCU_CONTEXTS_MAX);
    assert_true(n > 6 && n <= cap);
    assert_int_equal(out[0], 0x01);
    assert_int_equal(oa_get_be32(out + 2), n - 6);
    assert_true(parse_rq(s, out + 6, n - 6));
    assert_string_equal(s->problem, "");
    assert_string_equal(s->called, "A_CALLED_AE_16CH");
    assert_string_equal(s->calling, "CALLING");
    assert_int_equal(s->their_max, 65536);
    assert_int_equal(s->nctx, OA_SCU_CONTEXTS_MAX);
    assert_int_equal(s->ctx[127].id, 255);
    assert_string_equal(s->ctx[127].ts[0], ELE);
    assert_string_equal(s->ctx[126].abstract, ctx[126].sop_class);
    /* too small a buffer: 0 */
    assert_int_equal(oa_scu_associate_rq(out, 100, "A", "B", 65536, ctx, 1),
                     0);
    free(out);
    free(s);
}

static int group_setup(void **state)
{
    (void)state;
    find_corpus(corpus, sizeof(corpus), OA_SOURCE_DIR);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_corpus),
        cmocka_unit_test(test_meta_crafted),
        cmocka_unit_test(test_store_command),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_parse_ac),
        cmocka_unit_test(test_associate_rq),
        cmocka_unit_test(test_store_two_classes),
        cmocka_unit_test(test_store_no_their_max),
        cmocka_unit_test(test_store_many),
        cmocka_unit_test(test_contexts_unanswered),
        cmocka_unit_test(test_their_max_too_small),
        cmocka_unit_test(test_reject_permanent),
        cmocka_unit_test(test_reject_transient),
        cmocka_unit_test(test_context_refused),
        cmocka_unit_test(test_context_refused_without_ts),
        cmocka_unit_test(test_context_other_ts),
        {"test_abort_mid_store", test_store_fault, NULL, NULL,
         (void *)&fault_abort_mid},
        {"test_abort_before_response", test_store_fault, NULL, NULL,
         (void *)&fault_abort_before},
        {"test_closed_mid_store", test_store_fault, NULL, NULL,
         (void *)&fault_closed_mid},
        {"test_closed_before_response", test_store_fault, NULL, NULL,
         (void *)&fault_closed_before},
        {"test_pdu_above_ceiling", test_store_fault, NULL, NULL,
         (void *)&fault_pdu_huge},
        {"test_pdu_longer_than_sent", test_store_fault, NULL, NULL,
         (void *)&fault_pdu_short},
        {"test_pdv_past_pdu", test_store_fault, NULL, NULL,
         (void *)&fault_pdv_overrun},
        {"test_response_as_data_set", test_store_fault, NULL, NULL,
         (void *)&fault_data_rsp},
        {"test_silent_scp", test_store_fault, NULL, NULL,
         (void *)&fault_silent},
        cmocka_unit_test(test_silent_association),
        cmocka_unit_test(test_release_unanswered),
        cmocka_unit_test(test_idle_close),
        cmocka_unit_test(test_idle_release_rq),
        cmocka_unit_test(test_status_out_of_resources),
        cmocka_unit_test(test_status_cannot_understand),
        cmocka_unit_test(test_status_mismatch),
        cmocka_unit_test(test_status_warning),
        cmocka_unit_test(test_wrong_message_id),
        cmocka_unit_test(test_nobody_listening),
        cmocka_unit_test(test_store_not_part10),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
