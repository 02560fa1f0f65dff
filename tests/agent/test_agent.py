"""The node agent (agent/mailmon_agent.py): collection, configuration, delivery and backoff."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from django.conf import settings

from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import Node, NodeMetric
from tests.core.factories import make_agent_key
from tests.nodes.factories import NodeFactory

AGENT_PATH = Path(settings.BASE_DIR) / "agent" / "mailmon_agent.py"


def _load_agent():
    spec = importlib.util.spec_from_file_location("mailmon_agent", AGENT_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mailmon_agent"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


agent = _load_agent()
MY_PROCESS = psutil.Process().name()


def _config(**overrides) -> agent.Config:
    values = {"url": "http://127.0.0.1:9", "api_key": "k", "hostname": "mx.example.net", **overrides}
    return agent.Config(**values)


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


def test_an_unreachable_portal_exits_1():
    assert agent.main(["--once", "--url", "http://127.0.0.1:9", "--api-key", "k", "--timeout", "2"]) == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_runs_standalone_without_django(live_server, key):
    """The script is copied onto mail servers: it must not need the portal's code."""
    env = {"PATH": os.environ["PATH"], "MAILMON_URL": live_server.url, "MAILMON_API_KEY": key,
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


# --- backoff ----------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_five_minutes():
    rng = random.Random(1)
    assert agent.next_delay(0, 15, rng) == 15
    delays = [agent.next_delay(n, 15, rng) for n in range(1, 10)]
    assert 24 <= delays[0] <= 36 and 48 <= delays[1] <= 72
    assert all(d <= 360 for d in delays) and delays[-1] >= 240


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


def test_the_loop_backs_off_while_the_portal_fails_and_returns_to_its_interval(monkeypatch):
    statuses = [OSError("connection refused"), 503, 202, 202]

    def post(config, report):
        status = statuses.pop(0)
        if isinstance(status, Exception):
            raise status
        return status

    monkeypatch.setattr(agent, "post_report", post)
    stop = _Recorder(limit=4)
    runner = agent.Agent(_config(interval=10), psutil, stop=stop, rng=random.Random(2))
    runner.run()
    first, second, third, fourth = stop.waits
    assert 15 <= first <= 24  # 20 s +-20 %, less the time the report took
    assert 31 <= second <= 48
    assert 9 <= third <= 10 and 9 <= fourth <= 10
    assert runner.sent == 2


def test_a_failing_collector_is_logged_and_retried_not_fatal(monkeypatch, caplog):
    calls = []

    def collect(config, psutil_module=None, *, cpu_interval=None):
        calls.append(cpu_interval)
        if len(calls) == 1:
            raise RuntimeError("psutil hiccup")
        return {"hostname": config.hostname}

    monkeypatch.setattr(agent, "collect", collect)
    monkeypatch.setattr(agent, "post_report", lambda config, report: 202)
    stop = _Recorder(limit=2)
    runner = agent.Agent(_config(interval=10), psutil, stop=stop, rng=random.Random(3))
    runner.run()
    assert len(calls) == 2 and runner.sent == 1
    assert "collecting the report failed" in caplog.text
    assert stop.waits[0] >= 15  # backed off after the failure
