"""A real IMAP server for the engagement tests: Debian's Dovecot, as a private instance on
loopback ports with its own configuration, passwd-file users, maildirs and self-signed
certificate in a temporary directory (plain IMAP with STARTTLS, and implicit TLS).

As root (CI), Dovecot's master stays root, logins run as ``dovenull`` (chrooted), its own
helpers as ``dovecot`` and mail processes as ``mail`` — the users the Debian package creates;
as anyone else the whole instance runs as that user. Skips when Dovecot is not installed,
unless ``MAILMON_REQUIRE_IMAP=1`` (``.ci/run`` installs it: ``make imap-deps``).
"""

from __future__ import annotations

import datetime as dt
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.core.processes import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """\
# private instance for mailmon's warmup tests: nothing here reads /etc/dovecot
instance_name = mailmon-test-{port}
base_dir = {root}/run
state_dir = {root}/state
listen = 127.0.0.1
protocols = imap
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
last_valid_gid = {mail_gid}
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
{login_chroot}}}
service anvil {{
{anvil_chroot}}}
{extra}
"""


def require_dovecot() -> None:
    if os.path.exists(DOVECOT):
        return
    if os.environ.get("MAILMON_REQUIRE_IMAP") == "1":
        pytest.fail(f"MAILMON_REQUIRE_IMAP=1 but Dovecot ({DOVECOT}) is not installed", pytrace=False)
    pytest.skip("Dovecot is not installed (make imap-deps, or apt-get install dovecot-imapd)")


def self_signed(root: Path) -> Path:
    """A certificate for 127.0.0.1/localhost (the tests trust it through SSL_CERT_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (root / "key.pem").chmod(0o600)
    return root / "cert.pem"


def _users() -> dict:
    if os.geteuid() == 0:
        mail = pwd.getpwnam("mail")
        return {"login_user": "dovenull", "internal_user": "dovecot", "internal_group": "dovecot",
                "mail_uid": mail.pw_uid, "mail_gid": mail.pw_gid, "login_chroot": "", "anvil_chroot": ""}
    me = pwd.getpwuid(os.geteuid())
    return {"login_user": me.pw_name, "internal_user": me.pw_name, "internal_group": grp.getgrgid(os.getegid()).gr_name,
            "mail_uid": me.pw_uid, "mail_gid": os.getegid(),
            # chroot needs root
            "login_chroot": "  chroot =\n", "anvil_chroot": "  chroot =\n"}


@dataclass
class Dovecot:
    root: Path
    port: int
    tls_port: int
    cert: Path
    proc: subprocess.Popen | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    extra: str = ""  # more configuration, e.g. "protocol imap {\n imap_capability = …\n}"

    def start(self) -> None:
        users = _users()
        (self.root / "mail").mkdir()
        os.chown(self.root / "mail", users["mail_uid"], users["mail_gid"])
        (self.root / "users").write_text("")
        (self.root / "dovecot.conf").write_text(CONFIG.format(root=self.root, port=self.port, tls_port=self.tls_port,
                                                              extra=self.extra, **users))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dovecot exited with {self.proc.returncode}:\n{self.log()}")
            try:
                imaplib.IMAP4(self.host, self.port, timeout=2).logout()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"dovecot did not answer on {self.port} within 30 s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def add_user(self, username: str, password: str) -> None:
        """A user with INBOX, Junk and Trash (passwd-file is read again when it changes)."""
        self.passwords[username] = password
        time.sleep(0.01)  # a new mtime even on coarse clocks
        (self.root / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.passwords.items()))
        self.client(username).logout()

    def client(self, username: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(username, self.passwords[username])
        return client

    def append(self, username: str, folder: str, message: bytes, flags: str = "") -> None:
        client = self.client(username)
        try:
            status, data = client.append(f'"{folder}"', f"({flags})" if flags else None,
                                         imaplib.Time2Internaldate(time.time()), message)
            assert status == "OK", data
        finally:
            client.logout()

    def messages(self, username: str, folder: str) -> list[tuple[set[str], bytes]]:
        """(flags, header block) of every message in ``folder``."""
        client = self.client(username)
        try:
            status, _ = client.select(f'"{folder}"', readonly=True)
            assert status == "OK"
            _, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER])")
            found = []
            for item in data:
                if isinstance(item, tuple):
                    flags = set(imaplib.ParseFlags(item[0])) if b"FLAGS" in item[0] else set()
                    found.append(({f.decode() for f in flags}, item[1]))
            return found
        finally:
            client.logout()


@pytest.fixture
def dovecot(request):
    """A running Dovecot; ``indirect`` parametrization passes more configuration text."""
    require_dovecot()
    root = Path(tempfile.mkdtemp(prefix="mailmon-dovecot-"))  # under /tmp: reachable by the mail user
    root.chmod(0o755)
    server = Dovecot(root=root, port=free_port(), tls_port=free_port(), cert=self_signed(root),
                     extra=getattr(request, "param", ""))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
