/*
 * The "sftp" backend (libssh2).
 *
 * The server's host key is always checked, against a pinned SHA-256
 * fingerprint (base64, as `ssh-keygen -l -E sha256` prints it) or a
 * known_hosts line; a destination with neither is refused rather than
 * trusting the first key it sees.  Authentication by password or by a
 * private key given as text (ed25519 in OpenSSH format: libssh2 1.10
 * signs RSA with SHA-1 only, which OpenSSH >= 8.8 refuses).
 *
 * Files go to <folder>/<name>.partial/..., renamed to <folder>/<name> at
 * the end (SSH_FXP_RENAME refuses an existing target); abort removes the
 * files and folders it wrote.  A broken session is reconnected on the
 * next put(), so the job's retries work.
 *
 * URL: sftp://host[:port]/absolute/folder, or sftp://host/~/folder for a
 * folder relative to the login folder.
 */
#define _POSIX_C_SOURCE 200809L

#include "export_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

typedef struct sftp_exporter {
    oa_exporter base;
    const oa_export_target *t;
    char host[256];
    int port;
    char *folder;     /* remote folder ("" = login folder) */
    char *name;
    char *partial;    /* <folder>/<name>.partial */
    char *final;
    int sock;
    LIBSSH2_SESSION *session;
    LIBSSH2_SFTP *sftp;
    bool broken;
    char **paths;     /* files (then folders) written, for abort */
    bool *is_dir;
    size_t npaths, cap;
} sftp_exporter;

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;

static void ssh_init_once(void)
{
    libssh2_init(0);
}

/* sftp://[user@]host[:port]/path -> host, port, folder. */
static oa_status parse_url(const char *url, char *host, size_t host_size,
                           int *port, char **folder, oa_error *err)
{
    const char *p, *end, *at, *colon, *path;
    size_t n;

    if (url == NULL || strncmp(url, "sftp://", 7) != 0)
        return oa_error_set(err, OA_EINVAL,
                            "an SFTP destination needs a URL "
                            "sftp://host[:port]/folder");
    p = url + 7;
    end = p + strcspn(p, "/");
    at = memchr(p, '@', (size_t)(end - p));
    if (at != NULL)   /* the user is the destination's Username */
        return oa_error_set(err, OA_EINVAL,
                            "an SFTP URL must not hold a user name or "
                            "password");
    colon = memchr(p, ':', (size_t)(end - p));
    n = (size_t)((colon != NULL ? colon : end) - p);
    if (n == 0 || n >= host_size)
        return oa_error_set(err, OA_EINVAL, "SFTP URL without a host");
    memcpy(host, p, n);
    host[n] = '\0';
    *port = 22;
    if (colon != NULL) {
        char *stop;
        long v = strtol(colon + 1, &stop, 10);

        if (stop != end || v <= 0 || v > 65535)
            return oa_error_set(err, OA_EINVAL, "SFTP URL with a bad port");
        *port = (int)v;
    }
    path = *end == '/' ? end : "/";
    if (strncmp(path, "/~/", 3) == 0 || strcmp(path, "/~") == 0)
        path += strlen(path) > 2 ? 3 : 2;   /* relative to login folder */
    *folder = oa_strdup(path);
    if (*folder == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    n = strlen(*folder);
    while (n > 1 && (*folder)[n - 1] == '/')
        (*folder)[--n] = '\0';
    return OA_OK;
}

/* Connect with a timeout; -1 with `err` set on failure. */
static int tcp_connect(const char *host, int port, long timeout,
                       oa_error *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[16];
    int fd = -1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        /* a wrong name, not a passing failure: no retry */
        oa_error_set(err, rc == EAI_AGAIN ? OA_ENET : OA_EINVAL,
                     "SFTP: unknown host %s (check the destination's Url): "
                     "%s",
                     host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        struct pollfd pfd;
        int flags, soerr = 0;
        socklen_t len = sizeof(soerr);

        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pfd.fd = fd;
            pfd.events = POLLOUT;
            rc = poll(&pfd, 1, (int)(timeout * 1000)) == 1 &&
                         getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
                                    &len) == 0 &&
                         soerr == 0
                     ? 0
                     : -1;
            if (rc != 0 && soerr != 0)
                errno = soerr;
            else if (rc != 0)
                errno = ETIMEDOUT;
        }
        if (rc == 0) {
            fcntl(fd, F_SETFL, flags);
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        oa_error_set(err, OA_ENET, "SFTP: cannot connect to %s:%d: %s",
                     host, port, strerror(errno));
    return fd;
}

/* Base64 of the SHA-256 of the host key, without '=' padding. */
static void key_fingerprint(const char *key, size_t len, char out[64])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int n;

    SHA256((const unsigned char *)key, len, digest);
    n = EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest));
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
}

static oa_status check_host_key(LIBSSH2_SESSION *s, const oa_export_target *t,
                                const char *host, int port, oa_error *err)
{
    size_t len = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(s, &len, &type);

    if (key == NULL || len == 0)
        return oa_error_set(err, OA_ENET, "SFTP: the server sent no host key");
    if (t->host_key_sha256 != NULL && t->host_key_sha256[0] != '\0') {
        char got[64], want[128];
        const char *w = t->host_key_sha256;
        size_t n;

        if (strncmp(w, "SHA256:", 7) == 0)
            w += 7;
        snprintf(want, sizeof(want), "%s", w);
        n = strlen(want);
        while (n > 0 && want[n - 1] == '=')
            want[--n] = '\0';
        key_fingerprint(key, len, got);
        if (strcmp(got, want) != 0)
            return oa_error_set(err, OA_EAUTH,
                                "SFTP: the host key of %s:%d does not match "
                                "the destination's HostKeySha256 (got "
                                "SHA256:%s): refusing to connect",
                                host, port, got);
        return OA_OK;
    }
    if (t->known_hosts != NULL && t->known_hosts[0] != '\0') {
        LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
        const char *line = t->known_hosts;
        int check = LIBSSH2_KNOWNHOST_CHECK_FAILURE;

        if (kh == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        /* one or more lines */
        while (*line != '\0') {
            size_t n = strcspn(line, "\n");

            if (n > 0)
                libssh2_knownhost_readline(kh, line, n,
                                           LIBSSH2_KNOWNHOST_FILE_OPENSSH);
            line += n;
            if (*line == '\n')
                line++;
        }
        check = libssh2_knownhost_checkp(kh, host, port, key, len,
                                         LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                             LIBSSH2_KNOWNHOST_KEYENC_RAW,
                                         NULL);
        libssh2_knownhost_free(kh);
        if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH)
            return OA_OK;
        return oa_error_set(err, OA_EAUTH,
                            "SFTP: the host key of %s:%d %s the "
                            "destination's KnownHosts: refusing to connect",
                            host, port,
                            check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH
                                ? "does not match"
                                : "is not in");
    }
    return oa_error_set(err, OA_EINVAL,
                        "SFTP destination without KnownHosts or "
                        "HostKeySha256: the server's key cannot be checked");
}

static void disconnect(sftp_exporter *x)
{
    if (x->sftp != NULL)
        libssh2_sftp_shutdown(x->sftp);
    x->sftp = NULL;
    if (x->session != NULL) {
        libssh2_session_disconnect(x->session, "done");
        libssh2_session_free(x->session);
    }
    x->session = NULL;
    if (x->sock >= 0)
        close(x->sock);
    x->sock = -1;
}

/* A session error as ours. */
static oa_status session_error(sftp_exporter *x, const char *what,
                               oa_error *err)
{
    char *msg = NULL;
    int code = x->session != NULL
                   ? libssh2_session_last_error(x->session, &msg, NULL, 0)
                   : 0;

    if (code == LIBSSH2_ERROR_SFTP_PROTOCOL && x->sftp != NULL) {
        unsigned long fx = libssh2_sftp_last_error(x->sftp);

        if (fx == 3 /* LIBSSH2_FX_PERMISSION_DENIED */)
            return oa_error_set(err, OA_EIO,
                                "SFTP %s: permission denied on %s", what,
                                x->host);
        if (fx == 2 /* NO_SUCH_FILE */ || fx == 10 /* NO_SUCH_PATH */)
            return oa_error_set(err, OA_EINVAL,
                                "SFTP %s: the folder does not exist on %s",
                                what, x->host);
        return oa_error_set(err, OA_EIO, "SFTP %s: server status %lu on %s",
                            what, fx, x->host);
    }
    x->broken = true;
    return oa_error_set(err, OA_ENET, "SFTP %s on %s:%d failed: %s", what,
                        x->host, x->port, msg != NULL ? msg : "?");
}

static oa_status connect_session(sftp_exporter *x, oa_error *err)
{
    const oa_export_target *t = x->t;
    long timeout = t->timeout > 0 ? t->timeout : OA_EXPORT_DEFAULT_TIMEOUT;
    const char *user = t->username != NULL ? t->username : "";
    oa_status rc;
    int r;

    pthread_once(&ssh_once, ssh_init_once);
    disconnect(x);
    x->broken = false;
    x->sock = tcp_connect(x->host, x->port, timeout, err);
    if (x->sock < 0)
        return err != NULL ? err->code : OA_ENET;
    x->session = libssh2_session_init();
    if (x->session == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    libssh2_session_set_blocking(x->session, 1);
    libssh2_session_set_timeout(x->session, timeout * 1000);
    if (libssh2_session_handshake(x->session, x->sock) != 0)
        return session_error(x, "handshake", err);
    rc = check_host_key(x->session, t, x->host, x->port, err);
    if (rc != OA_OK)
        return rc;
    if (t->private_key != NULL && t->private_key[0] != '\0')
        r = libssh2_userauth_publickey_frommemory(
            x->session, user, strlen(user), NULL, 0, t->private_key,
            strlen(t->private_key), NULL);
    else
        r = libssh2_userauth_password(x->session, user,
                                      t->password != NULL ? t->password
                                                          : "");
    if (r != 0) {
        if (r == LIBSSH2_ERROR_AUTHENTICATION_FAILED ||
            r == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED ||
            r == LIBSSH2_ERROR_FILE || r == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED)
            return oa_error_set(err, OA_EAUTH,
                                "SFTP: %s:%d refused the %s of user %s",
                                x->host, x->port,
                                t->private_key != NULL ? "private key"
                                                       : "password",
                                user);
        return session_error(x, "login", err);
    }
    x->sftp = libssh2_sftp_init(x->session);
    if (x->sftp == NULL)
        return session_error(x, "start", err);
    return OA_OK;
}

/* mkdir that accepts an existing folder. */
static oa_status make_dir(sftp_exporter *x, const char *path, oa_error *err)
{
    LIBSSH2_SFTP_ATTRIBUTES attrs;

    if (libssh2_sftp_mkdir(x->sftp, path, 0755) == 0)
        return OA_OK;
    if (libssh2_sftp_stat(x->sftp, path, &attrs) == 0 &&
        LIBSSH2_SFTP_S_ISDIR(attrs.permissions))
        return OA_OK;
    return session_error(x, "mkdir", err);
}

static void sftp_free(oa_exporter *e)
{
    sftp_exporter *x = (sftp_exporter *)e;
    size_t i;

    if (x == NULL)
        return;
    disconnect(x);
    for (i = 0; i < x->npaths; i++)
        oa_free(x->paths[i]);
    oa_free(x->paths);
    oa_free(x->is_dir);
    oa_free(x->folder);
    oa_free(x->name);
    oa_free(x->partial);
    oa_free(x->final);
    oa_free(x);
}

static oa_status new_exporter(sftp_exporter **out, const oa_export_target *t,
                              oa_error *err)
{
    sftp_exporter *x = oa_calloc(1, sizeof(*x));
    oa_status rc;

    *out = NULL;
    if (x == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    x->base.backend = &oa_export_backend_sftp;
    x->t = t;
    x->sock = -1;
    rc = parse_url(t->url, x->host, sizeof(x->host), &x->port, &x->folder,
                   err);
    if (rc != OA_OK) {
        sftp_free(&x->base);
        return rc;
    }
    *out = x;
    return OA_OK;
}

static oa_status sftp_test(const oa_export_target *t, oa_error *err)
{
    sftp_exporter *x;
    LIBSSH2_SFTP_ATTRIBUTES attrs;
    oa_status rc = new_exporter(&x, t, err);

    if (rc != OA_OK)
        return rc;
    rc = connect_session(x, err);
    if (rc == OA_OK &&
        libssh2_sftp_stat(x->sftp, x->folder[0] ? x->folder : ".", &attrs) !=
            0)
        rc = session_error(x, "folder check", err);
    sftp_free(&x->base);
    return rc;
}

static char *in_folder(const char *folder, const char *name, const char *sfx)
{
    size_t n = strlen(folder) + strlen(name) + strlen(sfx) + 2;
    char *out = oa_malloc(n);

    if (out != NULL)
        snprintf(out, n, "%s%s%s%s", folder,
                 folder[0] != '\0' && folder[strlen(folder) - 1] != '/' ? "/"
                                                                         : "",
                 name, sfx);
    return out;
}

static oa_status remember(sftp_exporter *x, const char *path, bool dir,
                          oa_error *err)
{
    if (x->npaths == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 64;
        char **p = oa_realloc(x->paths, ncap * sizeof(*p));
        bool *d;

        if (p == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        x->paths = p;
        d = oa_realloc(x->is_dir, ncap * sizeof(*d));
        if (d == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        x->is_dir = d;
        x->cap = ncap;
    }
    if ((x->paths[x->npaths] = oa_strdup(path)) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    x->is_dir[x->npaths++] = dir;
    return OA_OK;
}

static oa_status sftp_open(oa_exporter **out, const oa_export_target *t,
                           const char *name, oa_error *err)
{
    sftp_exporter *x;
    oa_status rc = new_exporter(&x, t, err);

    *out = NULL;
    if (rc != OA_OK)
        return rc;
    x->name = oa_strdup(name);
    x->partial = in_folder(x->folder, name, ".partial");
    x->final = in_folder(x->folder, name, "");
    if (x->name == NULL || x->partial == NULL || x->final == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    rc = connect_session(x, err);
    if (rc == OA_OK)
        rc = make_dir(x, x->partial, err);
    if (rc == OA_OK)
        rc = remember(x, x->partial, true, err);
    if (rc != OA_OK)
        goto fail;
    *out = &x->base;
    return OA_OK;
fail:
    sftp_free(&x->base);
    return rc;
}

static bool known(sftp_exporter *x, const char *path)
{
    size_t i;

    for (i = 0; i < x->npaths; i++)
        if (x->is_dir[i] && strcmp(x->paths[i], path) == 0)
            return true;
    return false;
}

static oa_status sftp_put(oa_exporter *e, const char *relpath,
                          const uint8_t *data, size_t len, unsigned flags,
                          oa_error *err)
{
    sftp_exporter *x = (sftp_exporter *)e;
    LIBSSH2_SFTP_HANDLE *fh;
    char *path, *slash;
    size_t off = 0;
    oa_status rc = OA_OK;

    (void)flags;
    if (!oa_export_relpath_is_safe(relpath))
        return oa_error_set(err, OA_EINVAL, "unsafe file name in export");
    if (x->broken || x->sftp == NULL) {
        rc = connect_session(x, err);
        if (rc != OA_OK)
            return rc;
    }
    path = in_folder(x->partial, relpath, "");
    if (path == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    /* parent folders, top down */
    for (slash = strchr(path + strlen(x->partial) + 1, '/');
         slash != NULL && rc == OA_OK; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (!known(x, path)) {
            rc = make_dir(x, path, err);
            if (rc == OA_OK)
                rc = remember(x, path, true, err);
        }
        *slash = '/';
    }
    if (rc == OA_OK)
        rc = remember(x, path, false, err);
    if (rc != OA_OK) {
        oa_free(path);
        return rc;
    }
    fh = libssh2_sftp_open(x->sftp, path,
                           LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT |
                               LIBSSH2_FXF_TRUNC,
                           0644);
    oa_free(path);
    if (fh == NULL)
        return session_error(x, "open", err);
    while (off < len) {
        ssize_t n = libssh2_sftp_write(fh, (const char *)data + off,
                                       len - off);

        if (n <= 0) {
            libssh2_sftp_close(fh);
            return session_error(x, "write", err);
        }
        off += (size_t)n;
    }
    if (libssh2_sftp_close(fh) != 0)
        return session_error(x, "close", err);
    return OA_OK;
}

static oa_status sftp_finish(oa_exporter *e, oa_export_result *res,
                             oa_error *err)
{
    sftp_exporter *x = (sftp_exporter *)e;

    if (x->broken || x->sftp == NULL) {
        oa_status rc = connect_session(x, err);

        if (rc != OA_OK)
            return rc;
    }
    if (libssh2_sftp_rename_ex(x->sftp, x->partial,
                               (unsigned)strlen(x->partial), x->final,
                               (unsigned)strlen(x->final),
                               LIBSSH2_SFTP_RENAME_ATOMIC |
                                   LIBSSH2_SFTP_RENAME_NATIVE) != 0)
        return session_error(x, "rename", err);
    snprintf(res->location, sizeof(res->location), "sftp://%s:%d%s%s",
             x->host, x->port, x->final[0] == '/' ? "" : "/~/", x->final);
    return OA_OK;
}

static void sftp_abort(oa_exporter *e)
{
    sftp_exporter *x = (sftp_exporter *)e;
    size_t i;

    if ((x->broken || x->sftp == NULL) && connect_session(x, NULL) != OA_OK)
        return;
    /* files first, then folders in reverse order of creation */
    for (i = x->npaths; i-- > 0;)
        if (!x->is_dir[i])
            libssh2_sftp_unlink(x->sftp, x->paths[i]);
    for (i = x->npaths; i-- > 0;)
        if (x->is_dir[i])
            libssh2_sftp_rmdir(x->sftp, x->paths[i]);
}

static const oa_export_ops sftp_ops = {
    sftp_test,   /* test */
    sftp_open,   /* open */
    sftp_put,    /* put */
    NULL,        /* put_orthanc */
    sftp_finish, /* finish */
    sftp_abort,  /* abort */
    sftp_free,   /* free */
};

const oa_export_backend oa_export_backend_sftp = {"sftp", true, &sftp_ops};
