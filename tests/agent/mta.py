"""Real MTAs for the shippers' end-to-end tests: an aiosmtpd sink that accepts, 4xx-defers and
5xx-rejects by recipient, and a private Debian Postfix on loopback relaying to it.

They skip when the MTA is not installed, unless ``MAILMON_REQUIRE_MTA=1`` (CI installs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.agent.modules import AGENT_DIR
from tests.core.processes import BASE_DIR, free_port

POSTFIX = "/usr/sbin/postfix"


def require(available: bool, what: str) -> None:
    """Skip (or, when CI asks for every MTA test, fail) when ``what`` is missing."""
    if available:
        return
    if os.environ.get("MAILMON_REQUIRE_MTA") == "1":
        pytest.fail(f"MAILMON_REQUIRE_MTA=1 but {what} is not installed", pytrace=False)
    pytest.skip(f"{what} is not installed")


class ByRecipient:
    """RCPT TO decides: ``defer*@`` gets 451 4.3.0, ``reject*@`` 550 5.1.1, anyone else 250."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, list[str], bytes]] = []
        self.peers: list[str] = []  # the address each delivered message came from

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        local = address.split("@")[0].lower()
        if local.startswith("defer"):
            return "451 4.3.0 Try again later"
        if local.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.peers.append(session.peer[0])
        return "250 2.0.0 Ok: queued as SINK1"


@pytest.fixture
def smtp_sink():
    handler = ByRecipient()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, handler
    controller.stop()


MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
proxywrite unix - - n -  1 proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
local     unix  - n n -  - local
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

# Deferred mail expires after its first attempt (maximal_queue_lifetime = 0), so one test sees
# sent, deferred, bounced and expired.  Debian's "Local only" answer would set default_transport
# and relay_transport to "error": both are set explicitly.
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
myhostname = mx-test.example.com
mydomain = example.com
myorigin = example.com
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {root}/log/mail.log
maillog_file_prefixes = /var, /dev/stdout, {root}/log
default_transport = smtp
relay_transport = smtp
relayhost = [127.0.0.1]:{sink_port}
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
"""


@dataclass
class Postfix:
    root: Path
    port: int

    @property
    def log(self) -> Path:
        return self.root / "log" / "mail.log"

    def command(self, action: str) -> str:
        # Without a tty, `postfix start` prints nothing, errors included: `script` gives it one.
        done = subprocess.run(["script", "-qc", f"{POSTFIX} -c {self.root}/etc {action}", "/dev/null"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        return done.stdout + done.stderr


@pytest.fixture
def postfix(smtp_sink):
    """A private Postfix instance (own config, queue and log under a temporary directory)."""
    require(os.path.exists(POSTFIX) and shutil.which("script") is not None, "Postfix (apt-get install postfix)")
    # pytest's tmp_path is private to root; the postfix user must reach its directories.
    root = Path(tempfile.mkdtemp(prefix="mailmon-postfix-"))
    for sub in ("etc", "spool", "data", "log"):
        (root / sub).mkdir()
    root.chmod(0o755)
    shutil.chown(root / "data", "postfix")
    instance = Postfix(root, free_port())
    (root / "etc" / "main.cf").write_text(MAIN_CF.format(root=root, sink_port=smtp_sink[0]))
    (root / "etc" / "master.cf").write_text(MASTER_CF.format(port=instance.port))
    output = instance.command("start")
    if "starting the Postfix mail system" not in output:
        pytest.fail(f"postfix start failed:\n{output}")
    yield instance
    instance.command("stop")
    shutil.rmtree(root, ignore_errors=True)


HARAKA_VERSION = "3.3.4"  # installed by `make mta-deps` (HARAKA_VERSION there)
HARAKA_BIN = BASE_DIR / "var" / "node" / "node_modules" / "Haraka" / "bin" / "haraka"

# Test-only routing: relay everything from loopback, deliver every domain to the sink.
RELAY_PLUGIN = """\
exports.hook_connect = function (next, connection) { connection.relaying = true; next(); };
"""
ROUTE_PLUGIN = RELAY_PLUGIN + """\
exports.hook_get_mx = function (next, hmail, domain) {
    next(OK, { exchange: '127.0.0.1', port: %(sink_port)d, priority: 10 });
};
"""


@dataclass
class Haraka:
    root: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.root / "haraka.log"


def haraka_install(root: Path, *, sink_port: int, url: str, key: str, node: str, pools: str = "") -> Haraka:
    """A Haraka instance directory with the mailmon plugin installed as docs/integrations.md says.

    ``pools``: extra mailmon.ini sections enabling pool enforcement; its ``route`` then reaches
    the sink, instead of the test-only routing plugin."""
    instance = Haraka(root, free_port())
    config, plugins = root / "config", root / "plugins"
    shutil.copytree(HARAKA_BIN.parent.parent / "config", config)  # what `haraka -i` would install
    plugins.mkdir()
    shutil.copytree(AGENT_DIR / "haraka", plugins / "mailmon", ignore=shutil.ignore_patterns("config"))
    for shared in ("mailmon-ingest.js", "mailmon-pools.js"):
        shutil.copy(AGENT_DIR / "js" / shared, plugins / "mailmon")
    (plugins / "test_route.js").write_text(ROUTE_PLUGIN % {"sink_port": sink_port})
    (plugins / "test_relay.js").write_text(RELAY_PLUGIN)
    (config / "plugins").write_text(f"{'test_relay' if pools else 'test_route'}\nmailmon\n")
    (config / "smtp.ini").write_text(f"[main]\nlisten=127.0.0.1:{instance.port}\nnodes=0\n")
    (config / "outbound.ini").write_text("local_mx_ok=true\nenable_tls=false\ntemp_fail_intervals=5s\n")
    (config / "log.ini").write_text("[main]\nlevel=info\n")
    (config / "me").write_text("haraka-test.example.com\n")
    (config / "mailmon.ini").write_text(
        f"[main]\nurl={url}\napi_key={key}\nnode={node}\nbuffer_dir={root / 'buffer'}\nflush_ms=200\n{pools}"
    )
    return instance


def haraka_start(instance: Haraka) -> None:
    log = open(instance.log, "wb")  # noqa: SIM115 - closed by haraka_stop
    instance.proc = subprocess.Popen(["node", str(HARAKA_BIN), "-c", str(instance.root)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    instance.proc.log, instance.proc.log_path = log, instance.log  # type: ignore[attr-defined]


def haraka_stop(instance: Haraka) -> None:
    if instance.proc and instance.proc.poll() is None:
        instance.proc.terminate()
        try:
            instance.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            instance.proc.kill()
            instance.proc.wait(timeout=5)
    if instance.proc:
        instance.proc.log.close()  # type: ignore[attr-defined]
