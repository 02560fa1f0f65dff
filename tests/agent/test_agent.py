"""The node agent (agent/mailmon_agent.py): collection, configuration, delivery and backoff."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import psutil
import pytest

from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import Node, NodeMetric
from tests.agent.modules import AGENT_DIR
from tests.agent.modules import mailmon_agent as agent
from tests.core.factories import make_agent_key
from tests.nodes.factories import NodeFactory

AGENT_PATH = AGENT_DIR / "mailmon_agent.py"
MY_PROCESS = psutil.Process().name()


def _config(**overrides) -> agent.Config:
    values = {"url": "http://127.0.0.1:9", "api_key": "k", "hostname": "mx.example.net", **overrides}
    return agent.Config(**values)


@pytest.fixture(autouse=True)
def _spool(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILMON_SPOOL", str(tmp_path / "spool"))


# --- against the real portal ------------------------------------------------------------------------


@pytest.fixture
def key(transactional_db) -> str:
    return make_agent_key("agent", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]


def _once(live_server, key: str, *args: str) -> int:
    return agent.main(["--once", "--url", live_server.url, "--api-key", key, *args])


@pytest.mark.django_db(transaction=True)
def test_once_posts_a_valid_report_and_the_node_appears_online(live_server, key):
    code = _once(live_server, key, "--hostname", "relay-9.example.net", "--role", "postfix",
                 "--queue-command", "echo 42", "--process", MY_PROCESS)  # fmt: skip
    assert code == 0
    node = Node.objects.get(hostname="relay-9.example.net")
    assert node.status == NodeStatus.ONLINE
    assert node.role == NodeRole.POSTFIX
    assert node.last_seen is not None
    metric = NodeMetric.objects.get(node_id=node.id)
    assert metric.queue_size == 42
    assert metric.services == {MY_PROCESS: True}
    assert "/" in metric.disks and 0 <= metric.disks["/"]["used_percent"] <= 100
    assert 0 <= metric.cpu_percent <= 100 and 0 < metric.memory_percent <= 100
    assert metric.net_rx_bytes is not None and metric.load1 is not None


@pytest.mark.django_db(transaction=True)
def test_a_large_report_is_accepted(live_server, key):
    names = [arg for n in range(80) for arg in ("--process", f"no-such-daemon-{n:03d}")]
    assert _once(live_server, key, "--hostname", "big.example.net", *names) == 0
    assert len(NodeMetric.objects.get().services) == 80


@pytest.mark.django_db(transaction=True)
def test_a_service_that_is_down_makes_the_node_degraded(live_server, key):
    code = _once(live_server, key, "--hostname", "mta-9.example.net", "--process", "no-such-daemon-here")
    assert code == 0
    assert Node.objects.get(hostname="mta-9.example.net").status == NodeStatus.DEGRADED


@pytest.mark.django_db(transaction=True)
def test_a_key_scoped_to_another_node_and_an_unknown_key_exit_2(live_server):
    other = NodeFactory(hostname="other.example.net")
    _, scoped = make_agent_key("scoped", node=other, allowed_cidrs=["127.0.0.0/8"])
    assert _once(live_server, scoped, "--hostname", "mine.example.net") == 2
    assert _once(live_server, "nope.nope", "--hostname", "mine.example.net") == 2
    assert not Node.objects.filter(hostname="mine.example.net").exists()


def test_an_unreachable_portal_exits_1_and_keeps_the_report(tmp_path):
    assert agent.main(["--once", "--url", "http://127.0.0.1:9", "--api-key", "k", "--timeout", "2"]) == 1
    assert len(list((tmp_path / "spool" / "metrics").glob("*.req"))) == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_runs_standalone_without_django(live_server, key):
    """The script is copied onto mail servers: it must not need the portal's code."""
    env = {"PATH": os.environ["PATH"], "MAILMON_URL": live_server.url, "MAILMON_API_KEY": key,
           "MAILMON_SPOOL": os.environ["MAILMON_SPOOL"],
           "MAILMON_HOSTNAME": "standalone.example.net", "MAILMON_ROLE": "haraka"}  # fmt: skip
    done = subprocess.run([sys.executable, "-I", str(AGENT_PATH), "--once"], env=env, capture_output=True,
                          text=True, timeout=60, cwd="/")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Node.objects.get(hostname="standalone.example.net").role == NodeRole.HARAKA
    probe = (f"import sys; sys.path.insert(0, {str(AGENT_PATH.parent)!r}); import mailmon_agent; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'apps', 'mailmon')))")  # fmt: skip
    imported = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    assert imported.stdout.strip() == "[]", imported.stderr


# --- configuration ----------------------------------------------------------------------------------


def test_configuration_comes_from_the_environment(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("secret.key\n")
    env = {"MAILMON_URL": "https://mailmon.example.com/", "MAILMON_API_KEY_FILE": str(key_file),
           "MAILMON_ROLE": "zonemta-outbound", "MAILMON_UNITS": "zone-mta.service, mongod.service",
           "MAILMON_QUEUE_URL": "http://127.0.0.1:12080/queue/default", "MAILMON_INTERVAL": "30"}  # fmt: skip
    config, args = agent.parse_config([], env)
    assert config.url == "https://mailmon.example.com"
    assert config.api_key == "secret.key"
    assert config.role == "zonemta-outbound"
    assert config.units == ("zone-mta.service", "mongod.service")
    assert config.queue_fields == ("queued", "deferred")
    assert config.interval == 30 and not args.once
    config, _ = agent.parse_config(["--api-key", "cli", "--interval", "20"], {**env, "MAILMON_API_KEY": "env"})
    assert config.api_key == "cli" and config.interval == 20


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        ([], {"MAILMON_API_KEY": "k"}, "MAILMON_URL"),
        ([], {"MAILMON_URL": "http://x"}, "MAILMON_API_KEY"),
        (["--url", "mailmon.example.com"], {"MAILMON_API_KEY": "k"}, "--url"),
        (["--interval", "0.5"], {"MAILMON_URL": "http://x", "MAILMON_API_KEY": "k"}, "--interval"),
        ([], {"MAILMON_URL": "http://x", "MAILMON_API_KEY_FILE": "/nonexistent/key"}, "MAILMON_API_KEY_FILE"),
    ],
)
def test_bad_configuration_names_the_option(argv, env, named):
    with pytest.raises(agent.ConfigError, match=named):
        agent.parse_config(argv, env)


def test_main_exits_2_on_bad_configuration(capsys, monkeypatch):
    monkeypatch.delenv("MAILMON_URL", raising=False)
    assert agent.main(["--once", "--api-key", "k"]) == 2
    assert "MAILMON_URL" in capsys.readouterr().err


# --- collection -------------------------------------------------------------------------------------


def test_queue_size_comes_from_a_command_pipeline():
    assert agent.queue_size(_config(queue_command="printf 'a\\nb\\nc\\n' | wc -l")) == 3
    assert agent.queue_size(_config(queue_command="echo 'Mail queue is empty'")) is None
    assert agent.queue_size(_config(queue_command="exit 3")) is None
    assert agent.queue_size(_config()) is None


class _Json(BaseHTTPRequestHandler):
    document: object = None

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        payload = json.dumps(self.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def json_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/queue/default", _Json
    server.shutdown()
    server.server_close()


def test_queue_size_comes_from_zonemtas_queue_api(json_server):
    url, handler = json_server
    handler.document = {"time": "2026-11-25T10:00:00Z", "queued": 120, "deferred": 37, "domains": []}
    assert agent.queue_size(_config(queue_url=url)) == 157
    handler.document = {"active": {"rows": 3}, "delayed": {"rows": 9}}
    assert agent.queue_size(_config(queue_url=url, queue_fields=("active.rows", "delayed.rows"))) == 12
    handler.document = 77
    assert agent.queue_size(_config(queue_url=url)) == 77
    handler.document = {"unrelated": 1}
    assert agent.queue_size(_config(queue_url=url)) is None


def test_services_are_up_by_process_name_or_systemd_unit():
    def systemctl(command, **kwargs):
        return SimpleNamespace(returncode=0 if command[-1] == "postfix.service" else 3)

    config = _config(processes=(MY_PROCESS, "no-such-daemon"), units=("postfix.service", "rspamd.service"))
    assert agent.services(config, psutil, run=systemctl) == {
        MY_PROCESS: True,
        "no-such-daemon": False,
        "postfix.service": True,
        "rspamd.service": False,
    }

    def missing(command, **kwargs):
        raise FileNotFoundError("systemctl")

    assert agent.services(_config(units=("x.service",)), psutil, run=missing) == {"x.service": False}


def test_disks_report_real_filesystems_only():
    fake = SimpleNamespace(
        disk_partitions=lambda all: [
            SimpleNamespace(mountpoint="/", fstype="ext4"),
            SimpleNamespace(mountpoint="/var/lib/mongodb", fstype="xfs"),
            SimpleNamespace(mountpoint="/snap/core/1", fstype="squashfs"),
            SimpleNamespace(mountpoint="/run", fstype="tmpfs"),
        ],
        disk_usage=lambda mount: SimpleNamespace(percent=41.26, free=10, total=100),
    )
    assert agent.disks(_config(), fake) == {
        "/": {"used_percent": 41.3, "free_bytes": 10, "total_bytes": 100},
        "/var/lib/mongodb": {"used_percent": 41.3, "free_bytes": 10, "total_bytes": 100},
    }
    assert list(agent.disks(_config(mounts=("/",)), fake)) == ["/"]


# --- the loop ---------------------------------------------------------------------------------------


class _Recorder(threading.Event):
    """A stop event that records the waits instead of sleeping, and stops after ``limit``."""

    def __init__(self, limit: int):
        super().__init__()
        self.waits: list[float] = []
        self.limit = limit

    def wait(self, timeout=None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


def test_a_failing_collector_is_logged_and_retried_not_fatal(monkeypatch, caplog, tmp_path):
    calls = []

    def collect(config, psutil_module=None, *, cpu_interval=None):
        calls.append(cpu_interval)
        if len(calls) == 1:
            raise RuntimeError("psutil hiccup")
        return {"hostname": config.hostname}

    monkeypatch.setattr(agent, "collect", collect)
    monkeypatch.setattr(agent, "send", lambda config, path, body, content_type: agent.Outcome(agent.DONE, 202))
    stop = _Recorder(limit=2)
    runner = agent.Agent(_config(interval=10, spool=str(tmp_path)), psutil, stop=stop, rng=random.Random(3))
    runner.run()
    assert len(calls) == 2 and runner.sent == 1
    assert "collecting the report failed" in caplog.text
    assert 9 <= stop.waits[0] <= 10  # the cadence holds


def test_the_agent_is_its_own_distribution_with_a_console_script():
    import tomllib

    project = tomllib.loads((AGENT_DIR / "pyproject.toml").read_text())
    assert project["project"]["name"] == "mailmon-agent"
    assert project["project"]["dependencies"] == ["psutil>=5.8"]  # and the standard library only
    module, function = project["project"]["scripts"]["mailmon-agent"].split(":")
    assert callable(getattr(agent, function)) and module == agent.__name__
    assert all((AGENT_DIR / f"{name}.py").exists() for name in project["tool"]["setuptools"]["py-modules"])


def test_subcommands_and_a_bare_once_reach_the_right_code(monkeypatch):
    seen = []
    monkeypatch.setattr(agent, "run", lambda argv: seen.append(("run", argv)) or 0)
    monkeypatch.setattr(agent, "check", lambda argv: seen.append(("check", argv)) or 0)
    agent.main(["--once"])
    agent.main(["run", "--once"])
    agent.main(["check", "--url", "http://x"])
    assert seen == [("run", ["--once"]), ("run", ["--once"]), ("check", ["--url", "http://x"])]
