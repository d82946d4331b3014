#!/usr/bin/python3
"""Self-test of oatest/servers.py: every export server starts on loopback,
takes uploads from curl / storescu into its data folder, refuses a wrong
password (or host key, or CA), and is down after stop().

    /usr/bin/python3 test_export_servers.py

Does not need the plugin (--plugin, --orthanc and --expect-version are
accepted and ignored, for add_oa_integration_test).  Needs root, curl,
vsftpd, openssh-server, apache2, apache2-utils, dcmtk, openssl.  Prints
one line per check, the start-up times and "N passed, M failed"; exits
non-zero on any failure.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from oatest import servers as es  # noqa: E402
from oatest.harness import Checks  # noqa: E402

CURL_OK = 0
CURL_COULDNT_CONNECT = 7
CURL_PEER_FAILED_VERIFICATION = 60
CURL_LOGIN_DENIED = 67


class Curl:
    """Runs curl with a HOME of its own (no ~/.ssh/known_hosts, no .netrc
    from the real one) and no proxy."""

    def __init__(self, work):
        self.work = work
        self.home = os.path.join(work, "home")
        os.makedirs(os.path.join(self.home, ".ssh"))

    def known_hosts(self, line):
        path = os.path.join(self.home, ".ssh", "known_hosts")
        if line is None:
            if os.path.exists(path):
                os.unlink(path)
        else:
            with open(path, "w") as f:
                f.write(line + "\n")

    def __call__(self, *args, timeout=30):
        env = {k: v for k, v in os.environ.items()
               if "proxy" not in k.lower()}
        env["HOME"] = self.home
        p = subprocess.run(["curl", "-sS", "--max-time", "20",
                            "--noproxy", "*"] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")


def expect(result, code, what):
    rc, out, err = result
    assert rc == code, "%s: curl exit %d, expected %d (%s)" % (
        what, rc, code, err.strip()[-300:])
    return out


def same_file(path, data, what):
    assert os.path.isfile(path), "%s: %s not written" % (what, path)
    with open(path, "rb") as f:
        got = f.read()
    assert got == data, "%s: %s has %d bytes, expected %d" % (
        what, path, len(got), len(data))


def port_closed(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def check_stopped(checks, server, ports, label):
    with checks.check("%s: stop() ends it (no process, no zombie, "
                      "ports closed)" % label):
        pid = server.pid
        t0 = time.monotonic()
        server.stop()
        assert time.monotonic() - t0 < 6, "stop took too long"
        assert not server.running(), "still running"
        assert not es.pid_alive(pid), "pid %d still alive" % pid
        for port in ports:
            assert port_closed(port), "port %d still answers" % port


def check_closed(checks, server, label):
    with checks.check("%s: close() removes its folder and account"
                      % label):
        folder = server.folder
        account = getattr(server, "account", None)
        server.close()
        assert not os.path.exists(folder), "folder left: " + folder
        if account is not None:
            out = subprocess.run(["getent", "passwd", account.name],
                                 stdout=subprocess.PIPE).stdout
            assert not out, "account %s left" % account.name


def ftp_checks(checks, curl, payload, times):
    with es.FtpServer() as ftp:
        times.append(("vsftpd", ftp.setup_seconds, ftp.start_seconds))
        auth = "%s:%s" % (ftp.username, ftp.password)
        src = os.path.join(curl.work, "payload.bin")

        with checks.check("ftp: plain upload lands in data_dir"):
            expect(curl("-T", src, "-u", auth, ftp.url + "/plain.bin"),
                   CURL_OK, "upload")
            same_file(os.path.join(ftp.data_dir, "plain.bin"), payload,
                      "ftp")

        with checks.check("ftp: --ftp-create-dirs makes sub-folders"):
            expect(curl("-T", src, "-u", auth, "--ftp-create-dirs",
                        ftp.url + "/a/b/deep.bin"), CURL_OK, "upload")
            same_file(os.path.join(ftp.data_dir, "a", "b", "deep.bin"),
                      payload, "ftp deep")

        with checks.check("ftps: explicit TLS upload with the CA file"):
            expect(curl("-T", src, "-u", auth, "--ssl-reqd", "--cacert",
                        ftp.ca_file, ftp.url + "/tls.bin"),
                   CURL_OK, "ftps upload")
            same_file(os.path.join(ftp.data_dir, "tls.bin"), payload,
                      "ftps")

        with checks.check("ftps: 8 uploads of 530 KB in one session "
                          "(TLS 1.2) all land whole"):
            big = os.path.join(curl.work, "big.bin")
            blob = os.urandom(530000)
            with open(big, "wb") as f:
                f.write(blob)
            expect(curl("-u", auth, "--ssl-reqd", "--cacert", ftp.ca_file,
                        "--tls-max", "1.2", "--ftp-create-dirs",
                        *sum((["-T", big, "-o", "/dev/null",
                               ftp.url + "/big/%d.bin" % i]
                              for i in range(8)), [])),
                   CURL_OK, "8 FTPS uploads")
            for i in range(8):
                same_file(os.path.join(ftp.data_dir, "big", "%d.bin" % i),
                          blob, "ftps big %d" % i)

        with checks.check("ftps: without the CA file the certificate is "
                          "refused (60)"):
            expect(curl("-T", src, "-u", auth, "--ssl-reqd",
                        ftp.url + "/notls.bin"),
                   CURL_PEER_FAILED_VERIFICATION, "ftps no CA")
            assert not os.path.exists(os.path.join(ftp.data_dir,
                                                   "notls.bin"))

        with checks.check("ftp: a wrong password is refused (67), "
                          "nothing written"):
            expect(curl("-T", src, "-u", ftp.username + ":wrong-pw",
                        ftp.url + "/wrong.bin"),
                   CURL_LOGIN_DENIED, "wrong password")
            assert not os.path.exists(os.path.join(ftp.data_dir,
                                                   "wrong.bin"))

        with checks.check("ftp: files belong to the account"):
            st = os.stat(os.path.join(ftp.data_dir, "plain.bin"))
            assert st.st_uid == ftp.account.uid, "owner uid %d" % st.st_uid

        check_stopped(checks, ftp, [ftp.port], "ftp")
        with checks.check("ftp: a stopped server cannot be reached (7)"):
            expect(curl("-T", src, "-u", auth, ftp.url + "/down.bin"),
                   CURL_COULDNT_CONNECT, "server down")
        with checks.check("ftp: restart() serves again on the same port"):
            port = ftp.port
            ftp.restart()
            assert ftp.port == port
            expect(curl("-T", src, "-u", auth, ftp.url + "/again.bin"),
                   CURL_OK, "after restart")
            same_file(os.path.join(ftp.data_dir, "again.bin"), payload,
                      "ftp again")
        check_closed(checks, ftp, "ftp")


def sftp_checks(checks, curl, payload, times):
    with es.SftpServer() as sftp:
        times.append(("sshd", sftp.setup_seconds, sftp.start_seconds))
        auth = "%s:%s" % (sftp.username, sftp.password)
        src = os.path.join(curl.work, "payload.bin")
        pin = ["--hostpubsha256", sftp.host_key_sha256]

        with checks.check("sftp: fingerprint is ssh-keygen's base64 "
                          "without SHA256:"):
            assert not sftp.host_key_sha256.startswith("SHA256:")
            assert len(sftp.host_key_sha256) == 43, \
                len(sftp.host_key_sha256)
            assert sftp.host_key_sha256 != sftp.wrong_host_key_sha256

        with checks.check("sftp: known_hosts line matches ssh-keyscan"):
            out = subprocess.run(
                ["ssh-keyscan", "-t", "ed25519", "-p", str(sftp.port),
                 "127.0.0.1"], stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, timeout=10).stdout.decode()
            assert sftp.known_hosts_line in out.splitlines(), \
                "ssh-keyscan: %r" % out
            assert sftp.known_hosts_line.startswith(
                "[127.0.0.1]:%d ssh-ed25519 " % sftp.port)

        with checks.check("sftp: password upload, host key pinned"):
            expect(curl("-T", src, "-u", auth, *pin,
                        sftp.url + "/pw.bin"), CURL_OK, "password")
            same_file(os.path.join(sftp.data_dir, "pw.bin"), payload,
                      "sftp pw")

        with checks.check("sftp: ed25519 key upload, host key pinned"):
            expect(curl("-T", src, "-u", sftp.username + ":", "--key",
                        sftp.key_path, *pin, sftp.url + "/key.bin"),
                   CURL_OK, "key")
            same_file(os.path.join(sftp.data_dir, "key.bin"), payload,
                      "sftp key")
            assert sftp.private_key.startswith(
                "-----BEGIN OPENSSH PRIVATE KEY-----")

        with checks.check("sftp: key upload with the known_hosts line"):
            curl.known_hosts(sftp.known_hosts_line)
            try:
                expect(curl("-T", src, "-u", sftp.username + ":", "--key",
                            sftp.key_path, sftp.url + "/kh.bin"),
                       CURL_OK, "known_hosts")
            finally:
                curl.known_hosts(None)
            same_file(os.path.join(sftp.data_dir, "kh.bin"), payload,
                      "sftp kh")

        with checks.check("sftp: --ftp-create-dirs makes sub-folders"):
            expect(curl("-T", src, "-u", auth, *pin, "--ftp-create-dirs",
                        sftp.url + "/a/b/deep.bin"), CURL_OK, "deep")
            same_file(os.path.join(sftp.data_dir, "a", "b", "deep.bin"),
                      payload, "sftp deep")

        with checks.check("sftp: a wrong pinned fingerprint is refused "
                          "(60)"):
            expect(curl("-T", src, "-u", auth, "--hostpubsha256",
                        sftp.wrong_host_key_sha256, sftp.url + "/pin.bin"),
                   CURL_PEER_FAILED_VERIFICATION, "wrong pin")
            assert not os.path.exists(os.path.join(sftp.data_dir,
                                                   "pin.bin"))

        with checks.check("sftp: a wrong known_hosts line is refused (60)"):
            curl.known_hosts(sftp.wrong_known_hosts_line)
            try:
                expect(curl("-T", src, "-u", auth, sftp.url + "/kh2.bin"),
                       CURL_PEER_FAILED_VERIFICATION, "wrong known_hosts")
            finally:
                curl.known_hosts(None)
            assert not os.path.exists(os.path.join(sftp.data_dir,
                                                   "kh2.bin"))

        with checks.check("sftp: a wrong password is refused (67)"):
            expect(curl("-T", src, "-u", sftp.username + ":wrong-pw", *pin,
                        sftp.url + "/wrong.bin"),
                   CURL_LOGIN_DENIED, "wrong password")
            assert not os.path.exists(os.path.join(sftp.data_dir,
                                                   "wrong.bin"))

        with checks.check("sftp: another key is refused (67)"):
            other = os.path.join(curl.work, "other_ed25519")
            if not os.path.exists(other):
                es.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-f", other])
            expect(curl("-T", src, "-u", sftp.username + ":", "--key",
                        other, *pin, sftp.url + "/otherkey.bin"),
                   CURL_LOGIN_DENIED, "other key")

        check_stopped(checks, sftp, [sftp.port], "sftp")
        with checks.check("sftp: a stopped server cannot be reached (7)"):
            expect(curl("-T", src, "-u", auth, *pin, sftp.url + "/d.bin"),
                   CURL_COULDNT_CONNECT, "server down")
        check_closed(checks, sftp, "sftp")


def webdav_checks(checks, curl, payload, times):
    with es.WebDavServer() as dav:
        times.append(("apache2", dav.setup_seconds, dav.start_seconds))
        auth = "%s:%s" % (dav.username, dav.password)
        src = os.path.join(curl.work, "payload.bin")
        code = ["-o", "/dev/null", "-w", "%{http_code}"]

        with checks.check("webdav: PUT over HTTP gives 201, lands in "
                          "data_dir"):
            out = expect(curl("-T", src, "-u", auth, *code,
                              dav.url + "plain.bin"), CURL_OK, "PUT")
            assert out == "201", "HTTP %s" % out
            same_file(os.path.join(dav.data_dir, "plain.bin"), payload,
                      "dav")

        with checks.check("webdav: MKCOL then PUT into it; PUT into a "
                          "missing folder gives 409"):
            out = expect(curl("-X", "MKCOL", "-u", auth, *code,
                              dav.url + "col/"), CURL_OK, "MKCOL")
            assert out == "201", "MKCOL: HTTP %s" % out
            out = expect(curl("-T", src, "-u", auth, *code,
                              dav.url + "col/f.bin"), CURL_OK, "PUT")
            assert out == "201", "PUT: HTTP %s" % out
            same_file(os.path.join(dav.data_dir, "col", "f.bin"), payload,
                      "dav col")
            out = expect(curl("-T", src, "-u", auth, *code,
                              dav.url + "missing/f.bin"), CURL_OK, "PUT")
            assert out == "409", "PUT into missing: HTTP %s" % out

        with checks.check("webdav: MOVE renames a collection"):
            out = expect(curl("-X", "MOVE", "-u", auth, "-H",
                              "Destination: " + dav.url + "moved/", *code,
                              dav.url + "col/"), CURL_OK, "MOVE")
            assert out == "201", "MOVE: HTTP %s" % out
            same_file(os.path.join(dav.data_dir, "moved", "f.bin"), payload,
                      "dav moved")
            assert not os.path.exists(os.path.join(dav.data_dir, "col"))

        with checks.check("webdav: PUT over HTTPS with the CA file"):
            out = expect(curl("-T", src, "-u", auth, "--cacert",
                              dav.ca_file, *code, dav.https_url + "tls.bin"),
                         CURL_OK, "HTTPS PUT")
            assert out == "201", "HTTP %s" % out
            same_file(os.path.join(dav.data_dir, "tls.bin"), payload,
                      "dav https")

        with checks.check("webdav: HTTPS without the CA file is refused "
                          "(60)"):
            expect(curl("-T", src, "-u", auth, dav.https_url + "n.bin"),
                   CURL_PEER_FAILED_VERIFICATION, "no CA")

        with checks.check("webdav: a wrong password gives 401, nothing "
                          "written"):
            out = expect(curl("-T", src, "-u", dav.username + ":wrong-pw",
                              *code, dav.url + "wrong.bin"), CURL_OK, "PUT")
            assert out == "401", "HTTP %s" % out
            out = expect(curl("-T", src, *code, dav.url + "noauth.bin"),
                         CURL_OK, "PUT")
            assert out == "401", "no auth: HTTP %s" % out
            assert not os.path.exists(os.path.join(dav.data_dir,
                                                   "wrong.bin"))

        check_stopped(checks, dav, [dav.port, dav.https_port], "webdav")
        with checks.check("webdav: no worker left after stop()"):
            out = subprocess.run(["ps", "-eo", "args"],
                                 stdout=subprocess.PIPE).stdout.decode()
            assert dav.config_path not in out, "apache2 still running"
        with checks.check("webdav: a stopped server cannot be reached (7)"):
            expect(curl("-T", src, "-u", auth, dav.url + "d.bin"),
                   CURL_COULDNT_CONNECT, "server down")
        check_closed(checks, dav, "webdav")


def dicom_file(work):
    """A small DICOM file made with dump2dcm (no pydicom needed); returns
    (path, SOP Instance UID).  Synthetic values only."""
    sop = "1.2.826.0.1.3680043.8.498.4242.99.%d" % os.getpid()
    dump = os.path.join(work, "t.dump")
    with open(dump, "w") as f:
        f.write('(0002,0001) OB 00\\01\n'
                '(0002,0002) UI =SecondaryCaptureImageStorage\n'
                '(0002,0003) UI [%s]\n'
                '(0002,0010) UI =LittleEndianExplicit\n'
                '(0008,0016) UI =SecondaryCaptureImageStorage\n'
                '(0008,0018) UI [%s]\n'
                '(0008,0060) CS [OT]\n'
                '(0010,0010) PN [TEST^SERVERS]\n'
                '(0010,0020) LO [OATEST]\n'
                '(0020,000d) UI [%s.1]\n'
                '(0020,000e) UI [%s.2]\n' % (sop, sop, sop, sop))
    path = os.path.join(work, "t.dcm")
    es.run(["dump2dcm", "+te", dump, path])
    return path, sop


def storescu(port, aec, path):
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    return subprocess.run(["storescu", "-to", "5", "-aet", "OATEST",
                           "-aec", aec, "127.0.0.1", str(port), path],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env,
                          timeout=30).returncode


def dicom_checks(checks, work, times):
    path, sop = dicom_file(work)
    with es.StoreScp() as scp:
        times.append(("storescp", scp.setup_seconds, scp.start_seconds))
        with checks.check("storescp: storescu's instance lands in "
                          "data_dir as <prefix>.<SOPInstanceUID>"):
            rc = storescu(scp.port, scp.aet, path)
            assert rc == 0, "storescu exit %d" % rc
            names = scp.files()
            assert len(names) == 1 and names[0].endswith("." + sop), \
                "files: %r" % names
            p = subprocess.run(["dcmdump", "-q", "+P", "0008,0018",
                                os.path.join(scp.data_dir, names[0])],
                               stdout=subprocess.PIPE, timeout=10)
            assert p.returncode == 0 and sop in p.stdout.decode(), \
                "stored file does not parse"
        with checks.check("storescp: modality() is [AET, host, port]"):
            assert scp.modality() == [scp.aet, "127.0.0.1", scp.port]
        check_stopped(checks, scp, [scp.port], "storescp")
        with checks.check("storescp: a stopped SCP refuses storescu"):
            rc = storescu(scp.port, scp.aet, path)
            assert rc != 0, "storescu succeeded"
        check_closed(checks, scp, "storescp")

    with es.StoreScp(refuse=True) as scp:
        with checks.check("storescp --refuse rejects the association"):
            rc = storescu(scp.port, scp.aet, path)
            assert rc != 0, "storescu succeeded"
            assert scp.files() == [], scp.files()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin")          # accepted, unused
    ap.add_argument("--orthanc")
    ap.add_argument("--expect-version")
    ap.parse_args()

    checks = Checks()
    if os.geteuid() != 0:
        with checks.check("runs as root (local accounts for FTP/SFTP)"):
            raise AssertionError("not root")
        return checks.finish()
    for tool in ("curl", "/usr/sbin/vsftpd", "/usr/sbin/sshd",
                 "/usr/sbin/apache2", "htpasswd", "storescp", "storescu",
                 "dump2dcm", "openssl", "ssh-keygen", "ssh-keyscan"):
        with checks.check("tool available: %s" % tool):
            assert shutil.which(tool), "missing (see setup-common.sh)"
    if checks.failed:
        return checks.finish()

    work = tempfile.mkdtemp(prefix="oa-test-servers-")
    times = []
    t0 = time.monotonic()
    try:
        curl = Curl(work)
        payload = os.urandom(70000) + b"end"
        with open(os.path.join(work, "payload.bin"), "wb") as f:
            f.write(payload)
        for fn in (ftp_checks, sftp_checks, webdav_checks):
            try:
                fn(checks, curl, payload, times)
            except es.ServerError as e:
                with checks.check("%s: server starts" % fn.__name__):
                    raise AssertionError(str(e))
        try:
            dicom_checks(checks, work, times)
        except es.ServerError as e:
            with checks.check("storescp: server starts"):
                raise AssertionError(str(e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, setup, start in times:
        print("time %-9s set-up %4.0f ms, exec->ready %4.0f ms"
              % (name, setup * 1000, start * 1000))
    print("total %.1f s" % (time.monotonic() - t0))
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
