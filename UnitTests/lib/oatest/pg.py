"""A disposable local PostgreSQL 15 server for the cluster tests.

Usage (Debian's /usr/bin/python3, as root):

    from oatest.pg import PostgresCluster

    with PostgresCluster() as pg:
        section = pg.orthanc_section()          # Orthanc's "PostgreSQL"
        other = pg.create_database("second")    # another empty database
        print(pg.psql("SELECT 1"))

PostgreSQL refuses to run as root, so initdb, postgres and pg_ctl (from
/usr/lib/postgresql/15/bin, Debian's postgresql-15) run as the `postgres`
user (`runuser -u postgres --`) on a data folder in a tempfile.mkdtemp()
folder chowned to it.  The server listens on 127.0.0.1 only, on a free
port, and on a Unix socket in that folder; TCP connections need a
password (scram-sha-256) and the Unix socket is for `postgres` itself
(peer).  A login role ("orthanc", with a random password) owns the
database "orthanc" (`createdb -O`).

`durable=False` (the default, for tests) turns off fsync,
synchronous_commit and full_page_writes: a crash of the machine would
lose the data, which a test does not care about.  The benchmark passes
durable=True to measure PostgreSQL as it is deployed.

The postmaster runs as a child of this process (`runuser -u postgres --
postgres -D ...`, not daemonized by `pg_ctl start`, so that it is reaped
here).  At the end it is stopped with `pg_ctl stop -m fast`, or by the PID
of its postmaster.pid (SIGTERM, then SIGKILL) if that fails, and the folder
is removed (kept, with its log, when keep=True or a start failed).
"""

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .harness import free_port

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_INDEX_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"


class PostgresError(RuntimeError):
    pass


class PostgresCluster:
    def __init__(self, bindir=PG_BIN, user="orthanc", database="orthanc",
                 durable=False, keep=False, max_connections=200,
                 os_user="postgres"):
        self.bindir = bindir
        self.user = user
        self.database = database
        self.durable = durable
        self.keep = keep
        self.max_connections = max_connections
        self.os_user = os_user
        self.password = secrets.token_hex(16)
        self.folder = None
        self.data = None
        self.port = None
        self.host = "127.0.0.1"
        self.log_path = None
        self.started = False
        self.process = None

    # -- commands run as postgres --------------------------------------

    def _run(self, args, check=True, input_text=None, env=None, timeout=120):
        cmd = ["runuser", "-u", self.os_user, "--"] + args
        full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                    "LANG": "C.UTF-8"}
        full_env.update(env or {})
        r = subprocess.run(cmd, input=input_text, capture_output=True,
                           text=True, env=full_env, cwd=self.folder,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise PostgresError("%s: status %d: %s" % (
                os.path.basename(args[0]), r.returncode,
                (r.stderr or r.stdout).strip()[-2000:]))
        return r

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def psql(self, sql, database=None, admin=True):
        """Run SQL; returns psql's unaligned, tuples-only output.  As
        `postgres` over the Unix socket (admin=True), or as the login role
        over TCP with its password (admin=False: checks password auth)."""
        if admin:
            args = [self._bin("psql"), "-h", self.folder, "-p",
                    str(self.port), "-U", "postgres"]
            env = {}
        else:
            args = [self._bin("psql"), "-h", self.host, "-p", str(self.port),
                    "-U", self.user]
            env = {"PGPASSWORD": self.password}
        args += ["-d", database or self.database, "-X", "-q", "-A", "-t",
                 "-v", "ON_ERROR_STOP=1", "-c", sql]
        return self._run(args, env=env).stdout

    # -- life cycle ----------------------------------------------------

    def start(self):
        for tool in ("initdb", "postgres", "pg_ctl", "pg_isready", "psql",
                     "createdb"):
            if not os.access(self._bin(tool), os.X_OK):
                raise PostgresError(
                    "%s not found: apt-get install postgresql" %
                    self._bin(tool))
        pw = pwd.getpwnam(self.os_user)
        self.folder = tempfile.mkdtemp(prefix="oa-pg-")
        os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        os.chmod(self.folder, 0o700)
        self.data = os.path.join(self.folder, "data")
        self.log_path = os.path.join(self.folder, "postgres.log")
        try:
            self._run([self._bin("initdb"), "-D", self.data, "-U",
                       "postgres", "-E", "UTF8", "--no-locale",
                       "--auth-local=peer", "--auth-host=scram-sha-256"])
            last = None
            for _ in range(3):
                self.port = free_port()
                self._write_conf()
                if self._spawn():
                    self.started = True
                    break
                last = PostgresError("postgres did not start:\n%s"
                                     % self.log_tail())
                if "could not bind" not in self.log_tail().lower():
                    break
            if not self.started:
                raise last
            self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'"
                      % (self.user, self.password), database="postgres")
            self.create_database(self.database)
            # Password authentication over TCP, as Orthanc will connect.
            if self.psql("SELECT 1", admin=False).strip() != "1":
                raise PostgresError("password login over TCP failed")
        except BaseException:
            self.keep = True
            self.stop()
            raise
        return self

    def _spawn(self):
        """Run the postmaster as our child (through runuser), not daemonized
        by pg_ctl: this process then reaps it (a container's init may
        not).  True once it accepts connections."""
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                ["runuser", "-u", self.os_user, "--", self._bin("postgres"),
                 "-D", self.data],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.folder,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                     "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
        finally:
            log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            r = self._run([self._bin("pg_isready"), "-q", "-h", self.folder,
                           "-p", str(self.port)], check=False)
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def _write_conf(self):
        lines = [
            "listen_addresses = '127.0.0.1'",
            "port = %d" % self.port,
            "unix_socket_directories = '%s'" % self.folder,
            "max_connections = %d" % self.max_connections,
            "shared_buffers = 128MB",
        ]
        if not self.durable:
            lines += ["fsync = off", "synchronous_commit = off",
                      "full_page_writes = off"]
        conf = os.path.join(self.data, "postgresql.auto.conf")
        pw = pwd.getpwnam(self.os_user)
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chown(conf, pw.pw_uid, pw.pw_gid)

    def create_database(self, name):
        """An empty database owned by the login role; returns its name."""
        self._run([self._bin("createdb"), "-h", self.folder, "-p",
                   str(self.port), "-U", "postgres", "-O", self.user, name])
        return name

    def orthanc_section(self, database=None, lock=False, **extra):
        """Orthanc's "PostgreSQL" configuration section for this server:
        the index (not the storage) in `database`, "Lock": false so that
        several Orthancs share it."""
        section = {
            "EnableIndex": True,
            "EnableStorage": False,
            "Host": self.host,
            "Port": self.port,
            "Database": database or self.database,
            "Username": self.user,
            "Password": self.password,
            "Lock": lock,
        }
        section.update(extra)
        return section

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """Stop the server (pg_ctl stop -m fast, else by PID) and remove
        the folder unless keep."""
        if self.folder is None:
            return
        pid = self.pid()
        if pid is not None:
            r = self._run([self._bin("pg_ctl"), "-D", self.data, "-m", "fast",
                           "-w", "-t", "30", "stop"], check=False)
            if r.returncode != 0 and self._alive(pid):
                sys.stderr.write("pg_ctl stop failed (status %d): SIGTERM "
                                 "to %d\n" % (r.returncode, pid))
                self._signal_wait(pid, signal.SIGTERM, 15) or \
                    self._signal_wait(pid, signal.SIGKILL, 10)
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.started = False
        if self.keep:
            sys.stderr.write("PostgreSQL folder kept: %s\n" % self.folder)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def halt(self):
        """PostgreSQL gone in the middle of a test: `pg_ctl stop -m
        immediate` (no shutdown checkpoint: what a crash leaves; clients
        lose their connections at once).  The folder stays: resume()
        starts it again on the same data and port."""
        self._run([self._bin("pg_ctl"), "-D", self.data, "-m", "immediate",
                   "-w", "-t", "30", "stop"], check=False)
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.started = False

    def resume(self):
        """Start the server halt() stopped, on the same data and port."""
        if not self._spawn():
            raise PostgresError("postgres did not start again:\n%s"
                                % self.log_tail())
        self.started = True

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def _signal_wait(self, pid, sig, timeout):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(pid):
                return True
            time.sleep(0.1)
        return False

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            sys.stderr.write("---- PostgreSQL log ----\n%s\n----\n"
                             % self.log_tail())
        self.stop()
        return False


def main():
    """Self-check: start, log in with the password over TCP, stop."""
    with PostgresCluster() as pg:
        print("PostgreSQL %s on 127.0.0.1:%d, folder %s"
              % (pg.psql("SHOW server_version").strip(), pg.port, pg.folder))
        assert pg.psql("SELECT current_user", admin=False).strip() == pg.user
        folder = pg.folder
    assert not os.path.exists(folder)
    print("stopped, folder removed")


if __name__ == "__main__":
    main()
