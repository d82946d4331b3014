/*
 * fuzz_dimse_peer: arbitrary bytes as what a DICOM peer answers the C-STORE
 * SCU (Plugin/export/dimse.c), through its sockets: the PDU reader, the
 * A-ASSOCIATE-AC/RJ/A-ABORT handling, the P-DATA and PDV reassembly of a
 * C-STORE response, the release.
 *
 * The input is two answers: its first two bytes (big endian) are the
 * length of the first, the rest is the second.  A loopback "peer" thread
 * accepts the SCU's connection, reads its A-ASSOCIATE-RQ, writes the first
 * answer (an A-ASSOCIATE-AC and a C-STORE-RSP, say), then reads the SCU's
 * PDUs and writes the second answer when the second data set is complete,
 * at an A-RELEASE-RQ or when the SCU has sent nothing for 3 ms (it waits
 * for an answer), shuts its side down and drops the rest; nothing is
 * written early, since the SCU takes bytes between two stores as the end
 * of the association.  A second connection (the SCU associating again
 * after an error) is closed at once.  The SCU stores two small
 * files and releases.  The oracle: only the statuses of the header's
 * contract, a message for each failure, never the files' instance UIDs in
 * one; memory errors and hangs are libFuzzer's and the sanitizers'.
 *
 * Failures abort with __builtin_trap(), here only.
 */
#define _POSIX_C_SOURCE 200809L

#include "export/export_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

#define INSTANCE "1.2.826.0.1.3680043.2.1143.424242."

static int lfd = -1, port, wake[2] = {-1, -1};

typedef struct peer {
    const uint8_t *a, *b;   /* the two answers */
    size_t na, nb;
} peer;

/* A Part 10 file: meta group (explicit LE), then `extra` even bytes. */
static size_t make_file(uint8_t *out, const char *instance, size_t extra)
{
    static const char *const uids[3] = {"1.2.840.10008.5.1.4.1.1.7", NULL,
                                        "1.2.840.10008.1.2.1"};
    static const uint16_t elems[3] = {0x0002, 0x0003, 0x0010};
    size_t n = 144, i;

    memset(out, 0, 128);
    memcpy(out + 128, "DICM", 4);
    for (i = 0; i < 3; i++) {
        const char *u = i == 1 ? instance : uids[i];
        size_t l = strlen(u), pl = l + l % 2;

        oa_put_le16(out + n, 0x0002);
        oa_put_le16(out + n + 2, elems[i]);
        out[n + 4] = 'U';
        out[n + 5] = 'I';
        oa_put_le16(out + n + 6, (uint16_t)pl);
        memcpy(out + n + 8, u, l);
        if (pl != l)
            out[n + 8 + l] = '\0';
        n += 8 + pl;
    }
    oa_put_le16(out + 132, 0x0002);
    oa_put_le16(out + 134, 0x0000);
    out[136] = 'U';
    out[137] = 'L';
    oa_put_le16(out + 138, 4);
    oa_put_le32(out + 140, (uint32_t)(n - 144));
    for (i = 0; i < extra; i++)
        out[n + i] = (uint8_t)(i * 7);
    return n + extra;
}

static bool recv_n(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);

        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static void send_n(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* One PDU of the SCU (at most 64 KB: ours is 16 KB): its type, body. */
static bool read_pdu(int fd, uint8_t *type, uint8_t *body, size_t cap,
                     size_t *len)
{
    uint8_t h[6];
    uint32_t n;

    if (!recv_n(fd, h, 6))
        return false;
    n = ((uint32_t)h[2] << 24) | ((uint32_t)h[3] << 16) |
        ((uint32_t)h[4] << 8) | h[5];
    if (n > cap || !recv_n(fd, body, n))
        return false;
    *type = h[0];
    *len = n;
    return true;
}

static void serve(int fd, const peer *pe)
{
    static uint8_t b[65536];
    uint8_t type = 0;
    size_t len = 0;
    unsigned datasets = 0, k;
    bool second = false;
    struct timeval tv = {5, 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!read_pdu(fd, &type, b, sizeof(b), &len) || type != 0x01)
        return;
    send_n(fd, pe->a, pe->na);
    for (k = 0; k < 100000; k++) {
        size_t off = 0;
        struct pollfd p = {fd, POLLIN, 0};

        if (!second && poll(&p, 1, 3) == 0) {
            second = true;   /* the SCU waits */
            send_n(fd, pe->b, pe->nb);
            shutdown(fd, SHUT_WR);
            continue;
        }
        if (!read_pdu(fd, &type, b, sizeof(b), &len))
            break;

        if (type == 0x07)
            return;
        if (type == 0x04) {
            /* PDVs: a data set's last fragment (mch 2) ends a store */
            while (len - off >= 6) {
                uint32_t pl = ((uint32_t)b[off] << 24) |
                              ((uint32_t)b[off + 1] << 16) |
                              ((uint32_t)b[off + 2] << 8) | b[off + 3];

                if (pl < 2 || pl > len - off - 4)
                    break;
                if ((b[off + 5] & 3) == 2)
                    datasets++;
                off += 4 + pl;
            }
        }
        if (!second && (datasets >= 2 || type == 0x05)) {
            second = true;
            send_n(fd, pe->b, pe->nb);
            shutdown(fd, SHUT_WR);
        }
    }
}

static void *peer_main(void *arg)
{
    const peer *pe = arg;
    bool first = true;

    for (;;) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {wake[0], POLLIN, 0}};
        int fd;

        if (poll(p, 2, 10000) <= 0 || (p[1].revents & POLLIN))
            break;
        fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (first)
            serve(fd, pe);
        first = false;
        close(fd);
    }
    return NULL;
}

static void quiet(oa_log_level level, const char *msg)
{
    (void)level;
    (void)msg;
}

static bool setup(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);

    if (lfd >= 0)
        return true;
    oa_log_set_sink(quiet);   /* the warning statuses' lines */
    if (pipe(wake) != 0)
        return false;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return false;
    port = ntohs(a.sin_port);
    return true;
}

static void check_rc(oa_status rc, const oa_error *err)
{
    CHECK(rc == OA_OK || rc == OA_ENET || rc == OA_EAUTH ||
          rc == OA_EINVAL || rc == OA_EUNSUPPORTED || rc == OA_ENOMEM);
    if (rc != OA_OK) {
        CHECK(err->msg[0] != '\0');
        CHECK(strstr(err->msg, "424242") == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t f1[512], f2[4096];
    static size_t n1, n2;
    size_t na = size >= 2 ? (size_t)((data[0] << 8) | data[1]) : 0;
    peer pe;
    pthread_t t;
    oa_scu_params p;
    oa_scu *u = NULL;
    oa_error err;
    oa_status rc;
    char c = 'x';

    CHECK(setup());
    if (na > size - (size >= 2 ? 2 : size))
        na = size - (size >= 2 ? 2 : size);
    pe.a = data + (size >= 2 ? 2 : size);
    pe.na = na;
    pe.b = pe.a + na;
    pe.nb = size - (size >= 2 ? 2 : size) - na;
    if (n1 == 0) {
        n1 = make_file(f1, INSTANCE "1", 64);
        n2 = make_file(f2, INSTANCE "2", 3000);
    }
    memset(&p, 0, sizeof(p));
    strcpy(p.name, "fuzz");
    strcpy(p.host, "127.0.0.1");
    p.port = port;
    strcpy(p.called_aet, "STORESCP");
    strcpy(p.calling_aet, "FUZZ");
    p.timeout = 2;
    p.max_pdu = 16384;
    CHECK(pthread_create(&t, NULL, peer_main, &pe) == 0);
    CHECK(oa_scu_new(&u, &p, &err) == OA_OK);
    oa_error_clear(&err);
    rc = oa_scu_store(u, f1, n1, 1, &err);
    check_rc(rc, &err);
    oa_error_clear(&err);
    rc = oa_scu_store(u, f2, n2, 2, &err);
    check_rc(rc, &err);
    oa_error_clear(&err);
    rc = oa_scu_release(u, &err);
    CHECK(rc == OA_OK || rc == OA_ENET || rc == OA_ENOMEM);
    CHECK(!oa_scu_associated(u));
    oa_scu_free(u);
    CHECK(write(wake[1], &c, 1) == 1);
    pthread_join(t, NULL);
    CHECK(read(wake[0], &c, 1) == 1);
    return 0;
}
