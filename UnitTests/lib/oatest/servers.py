"""Real export servers on loopback for the integration tests.

    from oatest.servers import FtpServer, SftpServer, WebDavServer, StoreScp

    with FtpServer() as ftp:             # vsftpd: FTP and explicit FTPS
        ftp.url, ftp.username, ftp.password, ftp.ca_file, ftp.data_dir
    with SftpServer() as sftp:           # OpenSSH sshd, internal-sftp
        sftp.url, sftp.key_path, sftp.private_key, sftp.known_hosts_line,
        sftp.host_key_sha256, sftp.data_dir
    with WebDavServer() as dav:          # apache2 + mod_dav_fs, HTTP and HTTPS
        dav.url, dav.https_url, dav.ca_file, dav.data_dir
    with StoreScp() as scp:              # dcmtk storescp (C-STORE SCP)
        scp.port, scp.aet, scp.data_dir

How each server is set up, and why, is described in
doc/test-servers.md.  Every server runs in its own
tempfile.mkdtemp() folder, on free ports, in the foreground as a child of
this process (so waiting for it reaps it: no zombie), in a process group
of its own.  stop() ends it by PID (SIGTERM, a wait, then SIGKILL; the
group too, for the per-connection children of vsftpd) and may be called
in the middle of a test to simulate a server that is down; the folder
stays until close() (or the end of the `with` block), which also deletes
the local account of the FTP and SFTP servers.

Everything listens on 127.0.0.1 only, except storescp, which has no bind
option (it listens on every address).  The FTP and SFTP servers need
root: they log a real local account in (useradd, chpasswd), one account
per server, named oaexport-<random>, with a random password.

Needs Debian's vsftpd, openssh-server, openssh-client, apache2,
apache2-utils, dcmtk, openssl, curl (the self-test).  Standard library only.
Nothing here reads or prints a DICOM value.
"""

import base64
import http.client
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from .harness import free_port

APACHE_MODULES = "/usr/lib/apache2/modules"


class ServerError(RuntimeError):
    pass


# -- ports -------------------------------------------------------------


def port_is_free(port):
    """True if a TCP socket can bind port on 127.0.0.1 and on 0.0.0.0."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port_range(count):
    """`count` consecutive free ports below the kernel's ephemeral range
    (so that no client socket takes one meanwhile)."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 32000 - count)
        if all(port_is_free(p) for p in range(base, base + count)):
            return base
    raise ServerError("no %d consecutive free ports" % count)


# -- processes ---------------------------------------------------------


def run(args, **kw):
    """Run a set-up command; raise ServerError with its output on failure."""
    p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, **kw)
    if p.returncode != 0:
        raise ServerError("%s failed (%d): %s" % (
            " ".join(args[:2]), p.returncode,
            p.stdout.decode("utf-8", "replace").strip()[-600:]))
    return p.stdout.decode("utf-8", "replace")


def pid_alive(pid):
    """True if pid exists and is not a zombie (kill -0 succeeds on
    zombies: read the state field of /proc/PID/stat)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2:].split(" ", 1)[0]
    return state not in ("Z", "X")


def make_cert(folder):
    """A self-signed EC P-256 certificate for 127.0.0.1 and localhost;
    returns (cert path, key path).  The certificate is its own CA file."""
    cert = os.path.join(folder, "cert.pem")
    key = os.path.join(folder, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", key, "-out", cert])
    os.chmod(key, 0o600)
    return cert, key


# -- local accounts (FTP, SFTP) ---------------------------------------


def _retry(args, tries=20):
    """useradd & co. fail while another process holds /etc/passwd's lock."""
    for i in range(tries):
        p = subprocess.run(args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0:
            return
        out = p.stdout.decode("utf-8", "replace")
        if "lock" not in out.lower() or i == tries - 1:
            raise ServerError("%s failed (%d): %s" % (args[0], p.returncode,
                                                      out.strip()))
        time.sleep(0.1 + random.random() * 0.2)


class LocalAccount:
    """A local account for vsftpd (PAM) and sshd (/etc/shadow): shell
    /bin/sh (listed in /etc/shells, for pam_shells), an existing home
    folder, a random password set with chpasswd (which also unlocks it)."""

    def __init__(self, home, prefix="oaexport"):
        if os.geteuid() != 0:
            raise ServerError("a local account needs root")
        self.name = "%s-%s" % (prefix, secrets.token_hex(3))
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.home = home
        os.makedirs(home, exist_ok=True)
        _retry(["useradd", "--no-create-home", "--home-dir", home,
                "--shell", "/bin/sh", "--user-group", self.name])
        self.created = True
        p = subprocess.run(["chpasswd"], input=("%s:%s\n" % (
            self.name, self.password)).encode(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.delete()
            raise ServerError("chpasswd failed: %s" % p.stdout.decode(
                "utf-8", "replace").strip())
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.chown(home, self.uid, self.gid)

    def chown(self, path):
        os.chown(path, self.uid, self.gid)

    def delete(self):
        if self.created:
            self.created = False
            try:
                _retry(["userdel", self.name])
            except ServerError as e:
                sys.stderr.write("oatest.servers: %s\n" % e)


# -- the base class ----------------------------------------------------


class Server:
    """A server process in its own temporary folder; a context manager.

    Subclasses implement _prepare() (files, ports; may be called again
    with new ports), _command() and _probe() (True once it answers)."""

    name = "server"
    start_timeout = 20.0
    stop_timeout = 5.0

    def __init__(self):
        self.folder = None
        self.process = None
        self.log_path = None
        self.start_seconds = None      # exec -> ready (the last start)
        self.setup_seconds = None      # folder, account, keys, certs
        self._log = None
        self._closed = False

    # life cycle

    def start(self):
        t0 = time.monotonic()
        self.folder = tempfile.mkdtemp(prefix="oa-%s-" % self.name)
        os.chmod(self.folder, 0o755)   # traversable by the server's users
        self.log_path = os.path.join(self.folder, "server.log")
        try:
            self._setup()
            self.setup_seconds = time.monotonic() - t0
            last = None
            for attempt in range(3):
                if attempt:
                    self._new_ports()
                try:
                    self._spawn_and_wait()
                    return self
                except ServerError as e:
                    last = e
                    self.stop()
            raise last
        except BaseException:
            self.print_log_tail()
            self.close()
            raise

    def restart(self):
        """Start the stopped server again on the same folder and ports."""
        if self.running():
            return self
        self._spawn_and_wait()
        return self

    def running(self):
        return (self.process is not None and self.process.poll() is None
                and pid_alive(self.process.pid))

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def stop(self):
        """Stop the server by PID: SIGTERM, wait, SIGKILL; then its process
        group (per-connection children).  The folder stays."""
        p = self.process
        if p is not None:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    sys.stderr.write("%s (pid %d) ignored SIGTERM: SIGKILL\n"
                                     % (self.name, p.pid))
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
            # The group has the server's PID as its ID (start_new_session):
            # what it forked and left behind (a vsftpd session, ...).
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def descendants(self):
        """PIDs of every process below the server (its per-connection
        children, which may be in sessions of their own), from /proc."""
        if self.process is None:
            return []
        children = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                out.append(child)
                todo.append(child)
        return out

    def freeze(self, known=()):
        """SIGSTOP the server's process group, the processes in `known`,
        then every process /proc shows below the server, until no new one
        turns up (a stopped process forks no more): a transfer stalls in
        the middle and cannot finish while kill() walks /proc.  kill()
        must follow (SIGKILL ends a stopped process)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGSTOP)
        except (ProcessLookupError, PermissionError):
            pass
        stopped, todo = set(), [self.process.pid] + list(known)
        while todo:
            for pid in todo:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
                stopped.add(pid)
            todo = [p for p in self.descendants() if p not in stopped]

    def kill(self):
        """A crash of the server in the middle of a transfer: SIGKILL to
        it and to every process below it (the connection being served
        too), then stop().  restart() starts it again."""
        victims = self.descendants()
        if self.process is not None and self.process.poll() is None:
            victims.insert(0, self.process.pid)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.stop()

    def close(self):
        """stop() and delete the folder (and the local account)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self._teardown()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.print_log_tail()
        self.close()
        return False

    # internals

    def _setup(self):
        raise NotImplementedError

    def _new_ports(self):
        raise NotImplementedError

    def _command(self):
        raise NotImplementedError

    def _probe(self):
        raise NotImplementedError

    def _env(self):
        return dict(os.environ)

    def _teardown(self):
        pass

    def _stdin(self):
        return subprocess.DEVNULL

    def _spawn_and_wait(self):
        self._log = open(self.log_path, "ab")
        t0 = time.monotonic()
        stdin = self._stdin()
        try:
            self.process = subprocess.Popen(
                self._command(), cwd=self.folder, env=self._env(),
                stdin=stdin, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            if stdin is not subprocess.DEVNULL:
                stdin.close()
        deadline = t0 + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise ServerError("%s exited with status %d at start: %s"
                                  % (self.name, self.process.returncode,
                                     self.log_tail(5)))
            try:
                if self._probe():
                    self.start_seconds = time.monotonic() - t0
                    return
            except (OSError, ssl.SSLError, http.client.HTTPException,
                    subprocess.SubprocessError):
                pass
            if time.monotonic() > deadline:
                raise ServerError("%s not ready within %.0f s" % (
                    self.name, self.start_timeout))
            time.sleep(0.05)

    def log_text(self):
        out = []
        for name in sorted(os.listdir(self.folder)) if self.folder and \
                os.path.isdir(self.folder) else []:
            if name.endswith(".log"):
                with open(os.path.join(self.folder, name), "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "\n".join(out)

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def print_log_tail(self, lines=30):
        tail = self.log_tail(lines)
        if tail:
            sys.stderr.write("---- %s log (%s) ----\n%s\n----\n"
                             % (self.name, self.folder, tail))

    def files(self, under=None):
        """Paths (relative to `under`, default data_dir) of every regular
        file below it, sorted."""
        root = under or self.data_dir
        out = []
        for d, _, names in os.walk(root):
            for n in names:
                p = os.path.join(d, n)
                if os.path.isfile(p):
                    out.append(os.path.relpath(p, root))
        return sorted(out)

    def clear_data(self):
        """Empty data_dir (keep the folder, its owner and mode)."""
        for n in os.listdir(self.data_dir):
            p = os.path.join(self.data_dir, n)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)


def _tcp_banner(port, prefix, timeout=1.0):
    """Connect to 127.0.0.1:port and check that the greeting starts with
    prefix."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        data = b""
        while b"\n" not in data and len(data) < 512:
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
    return data.startswith(prefix)


# -- FTP / FTPS: vsftpd ------------------------------------------------


class FtpServer(Server):
    """vsftpd on 127.0.0.1: plain FTP and explicit FTPS (AUTH TLS) on the
    same port, a self-signed EC certificate (ca_file), passive data on
    127.0.0.1 in a port range of its own.  Log-in with a local account
    (username, password) chrooted to its `root_dir`; uploads to `url`
    (ftp://127.0.0.1:port/incoming) land in `data_dir` (root_dir/incoming).

    A failed log-in takes about 2.7 s (PAM and vsftpd delays).

    FTPS over TLS 1.3 (what Debian 12's vsftpd 3.0.3 and libcurl 7.88
    negotiate): uploads of a few hundred KB fail now and then with "426
    Failure reading network stream" (vsftpd logs "unexpected eof while
    reading"; curl exits 18): the client closes the data connection with
    the server's session tickets unread, the kernel sends a reset and the
    data vsftpd had not read yet is lost.  Small files and TLS 1.2
    (curl --tls-max 1.2) do not show it.  Kept as Debian ships it: a
    client must cope with it (or pass tls_max="TLSv1.2")."""

    name = "ftp"
    PASV_PORTS = 10

    def __init__(self, tls_max=None):
        """tls_max: e.g. "TLSv1.2" to cap the server's TLS version (an
        OpenSSL configuration file in OPENSSL_CONF); None: as Debian."""
        super().__init__()
        self.tls_max = tls_max

    def _env(self):
        env = dict(os.environ)
        if self.tls_max:
            path = os.path.join(self.folder, "openssl.cnf")
            with open(path, "w") as f:
                f.write("openssl_conf = oa_init\n[oa_init]\n"
                        "ssl_conf = oa_ssl\n[oa_ssl]\n"
                        "system_default = oa_default\n[oa_default]\n"
                        "MaxProtocol = %s\n" % self.tls_max)
            env["OPENSSL_CONF"] = path
        return env

    def _setup(self):
        d = self.folder
        self.root_dir = os.path.join(d, "root")
        self.data_dir = os.path.join(self.root_dir, "incoming")
        self.empty_dir = os.path.join(d, "empty")
        os.makedirs(self.data_dir)
        os.makedirs(self.empty_dir)
        os.chmod(self.empty_dir, 0o755)
        self.account = LocalAccount(os.path.join(d, "home"))
        self.account.chown(self.root_dir)
        self.account.chown(self.data_dir)
        self.username = self.account.name
        self.password = self.account.password
        self.ca_file, self.key_file = make_cert(d)
        self.config_path = os.path.join(d, "vsftpd.conf")
        self.oops_path = os.path.join(d, "oops.log")
        self._new_ports()

    def _new_ports(self):
        self.port = free_port()
        self.pasv_min = free_port_range(self.PASV_PORTS)
        self.pasv_max = self.pasv_min + self.PASV_PORTS - 1
        self.url = "ftp://127.0.0.1:%d/incoming" % self.port
        conf = {
            "listen": "YES", "listen_ipv6": "NO",
            "listen_address": "127.0.0.1", "listen_port": self.port,
            "background": "NO",
            "anonymous_enable": "NO", "local_enable": "YES",
            "write_enable": "YES", "local_umask": "022",
            "local_root": self.root_dir,
            "chroot_local_user": "YES", "allow_writeable_chroot": "YES",
            "secure_chroot_dir": self.empty_dir,
            "pam_service_name": "vsftpd",
            "pasv_enable": "YES", "pasv_address": "127.0.0.1",
            "pasv_min_port": self.pasv_min, "pasv_max_port": self.pasv_max,
            "seccomp_sandbox": "NO", "isolate": "NO",
            "isolate_network": "NO",
            "ssl_enable": "YES", "rsa_cert_file": self.ca_file,
            "rsa_private_key_file": self.key_file,
            "force_local_logins_ssl": "NO", "force_local_data_ssl": "NO",
            "ssl_ciphers": "HIGH", "require_ssl_reuse": "NO",
            "xferlog_enable": "YES",
            "vsftpd_log_file": os.path.join(self.folder, "vsftpd.log"),
            "dual_log_enable": "YES",
            "log_ftp_protocol": "YES",
            "userlist_enable": "NO",
        }
        with open(self.config_path, "w") as f:
            for k, v in conf.items():
                f.write("%s=%s\n" % (k, v))
        os.chmod(self.config_path, 0o600)    # owned by root: vsftpd checks

    def _stdin(self):
        # vsftpd writes its start-up errors ("500 OOPS: ...") to fd 0.
        return open(self.oops_path, "a+b")

    def _command(self):
        return ["/usr/sbin/vsftpd", self.config_path]

    def _probe(self):
        return _tcp_banner(self.port, b"220")

    def _teardown(self):
        if hasattr(self, "account"):
            self.account.delete()


# -- SFTP: OpenSSH sshd ------------------------------------------------


class SftpServer(Server):
    """OpenSSH sshd on 127.0.0.1 with internal-sftp only: an ed25519 host
    key, password log-in and an ed25519 client key (key_path, its text in
    private_key) for a local account.  `url` is
    sftp://127.0.0.1:port<data_dir> (an absolute path: no chroot).

    known_hosts_line: "[127.0.0.1]:port ssh-ed25519 AAAA..."
    host_key_sha256:  base64 SHA-256 fingerprint as `ssh-keygen -l -E
                      sha256` prints it, without "SHA256:"
    wrong_known_hosts_line / wrong_host_key_sha256: those of another
                      ed25519 key, for the negative tests."""

    name = "sftp"

    def _setup(self):
        d = self.folder
        self.data_dir = os.path.join(d, "data")
        os.makedirs(self.data_dir)
        self.account = LocalAccount(os.path.join(d, "home"))
        self.account.chown(self.data_dir)
        self.username = self.account.name
        self.password = self.account.password
        self.host_key_path = os.path.join(d, "ssh_host_ed25519_key")
        self.key_path = os.path.join(d, "client_ed25519")
        other = os.path.join(d, "other_host_ed25519_key")
        for path in (self.host_key_path, self.key_path, other):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                 "oa-test", "-f", path])
        with open(self.key_path) as f:
            self.private_key = f.read()
        self.authorized_keys = os.path.join(d, "authorized_keys")
        shutil.copyfile(self.key_path + ".pub", self.authorized_keys)
        os.chmod(self.authorized_keys, 0o644)
        self.host_key_sha256 = self._fingerprint(self.host_key_path)
        self.wrong_host_key_sha256 = self._fingerprint(other)
        with open(self.host_key_path + ".pub") as f:
            self._host_pub = " ".join(f.read().split()[:2])
        with open(other + ".pub") as f:
            self._other_pub = " ".join(f.read().split()[:2])
        self.config_path = os.path.join(d, "sshd_config")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self._new_ports()

    @staticmethod
    def _fingerprint(key):
        out = run(["ssh-keygen", "-l", "-E", "sha256", "-f", key + ".pub"])
        fp = out.split()[1]
        assert fp.startswith("SHA256:"), "unexpected ssh-keygen output"
        return fp[len("SHA256:"):]

    def _new_ports(self):
        self.port = free_port()
        self.url = "sftp://127.0.0.1:%d%s" % (self.port, self.data_dir)
        self.known_hosts_line = "[127.0.0.1]:%d %s" % (self.port,
                                                       self._host_pub)
        self.wrong_known_hosts_line = "[127.0.0.1]:%d %s" % (self.port,
                                                             self._other_pub)
        self.known_hosts_path = os.path.join(self.folder, "known_hosts")
        with open(self.known_hosts_path, "w") as f:
            f.write(self.known_hosts_line + "\n")
        lines = [
            "ListenAddress 127.0.0.1:%d" % self.port,
            "HostKey %s" % self.host_key_path,
            "PidFile %s" % os.path.join(self.folder, "sshd.pid"),
            "AuthorizedKeysFile %s" % self.authorized_keys,
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin no",
            "AllowUsers %s" % self.username,
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "ForceCommand internal-sftp -d %s" % self.data_dir,
        ]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        run(["/usr/sbin/sshd", "-t", "-f", self.config_path])

    def _command(self):
        # An absolute path: sshd re-executes itself.
        return ["/usr/sbin/sshd", "-D", "-f", self.config_path,
                "-E", os.path.join(self.folder, "sshd.log")]

    def _probe(self):
        if not _tcp_banner(self.port, b"SSH-2.0-"):
            return False
        out = subprocess.run(
            ["ssh-keyscan", "-T", "2", "-t", "ed25519", "-p", str(self.port),
             "127.0.0.1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, timeout=5).stdout.decode()
        return self._host_pub in out

    def _teardown(self):
        if hasattr(self, "account"):
            self.account.delete()


# -- WebDAV: apache2 + mod_dav_fs --------------------------------------


class WebDavServer(Server):
    """apache2 with mod_dav_fs and its own httpd.conf on 127.0.0.1: HTTP
    on `port` and HTTPS on `https_port` (self-signed EC certificate,
    ca_file), basic authentication (username, password, from htpasswd).
    `url` = http://127.0.0.1:port/dav/ and `https_url` the same over
    HTTPS; both write into data_dir (files owned by www-data)."""

    name = "webdav"
    MODULES = ["mpm_event", "authn_core", "authn_file", "authz_core",
               "authz_user", "auth_basic", "alias", "dav", "dav_fs",
               "autoindex", "dir", "mime", "ssl", "socache_shmcb"]

    def _setup(self):
        d = self.folder
        self.data_dir = os.path.join(d, "data")
        self.lock_dir = os.path.join(d, "lock")
        self.run_dir = os.path.join(d, "run")
        for p in (self.data_dir, self.lock_dir, self.run_dir):
            os.makedirs(p)
        www = pwd.getpwnam("www-data")
        for p in (self.data_dir, self.lock_dir):
            os.chown(p, www.pw_uid, www.pw_gid)
        self.username = "oaexport"
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.htpasswd = os.path.join(d, "htpasswd")
        run(["htpasswd", "-b", "-c", "-B", self.htpasswd, self.username,
             self.password])
        os.chmod(self.htpasswd, 0o644)
        self.ca_file, self.key_file = make_cert(d)
        self.config_path = os.path.join(d, "httpd.conf")
        self._new_ports()

    def _new_ports(self):
        self.port = free_port()
        self.https_port = free_port()
        while self.https_port == self.port:
            self.https_port = free_port()
        self.url = "http://127.0.0.1:%d/dav/" % self.port
        self.https_url = "https://127.0.0.1:%d/dav/" % self.https_port
        d = self.folder
        lines = ["ServerRoot %s" % d,
                 "ServerName 127.0.0.1",
                 "PidFile %s" % os.path.join(self.run_dir, "httpd.pid"),
                 "DefaultRuntimeDir %s" % self.run_dir,
                 "ErrorLog %s" % os.path.join(d, "error.log"),
                 "LogLevel warn",
                 "User www-data", "Group www-data"]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m)
                  for m in self.MODULES]
        lines += [
            'LogFormat "%h %u \\"%r\\" %>s %b" common',
            "CustomLog %s common" % os.path.join(d, "access.log"),
            "Listen 127.0.0.1:%d" % self.port,
            "Listen 127.0.0.1:%d" % self.https_port,
            "StartServers 1", "ServerLimit 2", "ThreadsPerChild 16",
            "MaxRequestWorkers 32",
            "DocumentRoot %s" % self.run_dir,
            "TypesConfig %s" % ("/etc/mime.types"
                                if os.path.exists("/etc/mime.types")
                                else os.devnull),
            "DAVLockDB %s" % os.path.join(self.lock_dir, "DAVLock"),
            "SSLSessionCache shmcb:%s(512000)"
            % os.path.join(self.run_dir, "ssl_scache"),
            "Alias /dav %s" % self.data_dir,
            "<Directory %s>" % self.data_dir,
            "  Dav On",
            "  Options None",
            "  AuthType Basic",
            '  AuthName "oa-export-test"',
            "  AuthUserFile %s" % self.htpasswd,
            "  Require valid-user",
            "</Directory>",
            "<VirtualHost 127.0.0.1:%d>" % self.https_port,
            "  SSLEngine on",
            "  SSLCertificateFile %s" % self.ca_file,
            "  SSLCertificateKeyFile %s" % self.key_file,
            "</VirtualHost>",
        ]
        with open(self.config_path, "w") as f:
            f.write("\n".join(x for x in lines if x) + "\n")
        run(["/usr/sbin/apache2", "-t", "-f", self.config_path])

    def _command(self):
        return ["/usr/sbin/apache2", "-f", self.config_path, "-DFOREGROUND"]

    def _probe(self):
        for conn in (http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=1),
                     http.client.HTTPSConnection(
                         "127.0.0.1", self.https_port, timeout=1,
                         context=ssl.create_default_context(
                             cafile=self.ca_file))):
            try:
                conn.request("OPTIONS", "/dav/")
                status = conn.getresponse().status
            finally:
                conn.close()
            if status != 401:     # no credentials: the DAV folder says 401
                return False
        return True

    def basic_auth(self, username=None, password=None):
        raw = "%s:%s" % (username or self.username,
                         self.password if password is None else password)
        return "Basic " + base64.b64encode(raw.encode()).decode()


# -- DICOM: dcmtk storescp ---------------------------------------------


class StoreScp(Server):
    """dcmtk's storescp, one process, storing every received instance in
    data_dir as <modality prefix>.<SOPInstanceUID> (+xa: compressed
    transfer syntaxes too; -pm: unknown SOP classes).  It accepts any
    called AE title and listens on every address (no bind option).
    refuse=True starts it with --refuse (every association rejected);
    syntaxes replaces +xa (e.g. ("+xi",): implicit VR little endian
    only)."""

    name = "storescp"

    def __init__(self, aet="EXPORTSCP", refuse=False, syntaxes=("+xa",)):
        super().__init__()
        self.aet = aet
        self.refuse = refuse
        self.syntaxes = tuple(syntaxes)

    def _setup(self):
        self.data_dir = os.path.join(self.folder, "data")
        os.makedirs(self.data_dir)
        self._new_ports()

    def _new_ports(self):
        self.port = free_port()
        while not port_is_free(self.port):     # 0.0.0.0 too
            self.port = free_port()
        self.host = "127.0.0.1"

    def _env(self):
        env = dict(os.environ)
        env["TCP_NODELAY"] = "1"
        return env

    def _command(self):
        args = ["storescp", "-aet", self.aet, "-od", self.data_dir] + \
            list(self.syntaxes) + ["-pm", "-dhl", "-ll", "info"]
        if self.refuse:
            args.append("--refuse")
        return args + [str(self.port)]

    def _probe(self):
        if self.refuse:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=1):
                return True
        p = subprocess.run(["echoscu", "-to", "2", "-aet", "PROBE",
                            "-aec", self.aet, "127.0.0.1", str(self.port)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=self._env(),
                           timeout=10)
        return p.returncode == 0

    def modality(self):
        """The entry for Orthanc's "DicomModalities"."""
        return [self.aet, self.host, self.port]

    def associations(self):
        """Associations received so far (its log at -ll info)."""
        with open(self.log_path, errors="replace") as f:
            return f.read().count("Association Received")


ALL = (FtpServer, SftpServer, WebDavServer, StoreScp)
