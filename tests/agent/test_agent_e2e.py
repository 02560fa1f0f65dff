"""The agent as a process against a live portal: an outage loses no sample; ``check`` names problems."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest

from apps.nodes.models import Node, NodeMetric
from tests.agent.modules import AGENT_DIR
from tests.agent.modules import mailmon_agent as agent
from tests.core import processes
from tests.core.factories import make_agent_key

AGENT = str(AGENT_DIR / "mailmon_agent.py")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _start_portal(port: int, log) -> subprocess.Popen:
    proc = processes.start(["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mailmon.asgi:application"], log)
    processes.wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health/live"), timeout=60, what="daphne",
                       procs=[proc])  # fmt: skip
    return proc


def _metrics(hostname: str) -> list:
    node = Node.objects.filter(hostname=hostname).first()
    return list(NodeMetric.objects.filter(node_id=node.id).order_by("time")) if node else []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_portal_outage_loses_no_sample_and_replayed_ones_keep_their_time(tmp_path):
    key = make_agent_key("e2e", allowed_cidrs=["127.0.0.0/8"])[1]
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    portal = _start_portal(port, tmp_path / "daphne-1.log")
    env = {"PATH": os.environ["PATH"], "MAILMON_URL": url, "MAILMON_API_KEY": key, "MAILMON_SPOOL": str(tmp_path),
           "MAILMON_HOSTNAME": "outage.example.net", "MAILMON_INTERVAL": "1", "MAILMON_MAX_BACKOFF": "2"}  # fmt: skip
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115
    runner = subprocess.Popen(
        [sys.executable, "-I", AGENT, "run", "-v"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    runner.log, runner.log_path = log, tmp_path / "agent.log"
    try:
        processes.wait_for(lambda: len(_metrics("outage.example.net")) >= 3, timeout=60, what="first reports",
                           procs=[runner])  # fmt: skip
        processes.stop(portal)
        down_at = time.time()
        time.sleep(4)  # four intervals without a portal
        portal = _start_portal(port, tmp_path / "daphne-2.log")
        up_at = time.time()
        processes.wait_for(lambda: _metrics("outage.example.net")[-1].time.timestamp() > up_at + 2, timeout=60,
                           what="reports after the outage", procs=[runner])  # fmt: skip
    finally:
        code = processes.stop(runner)
        processes.stop(portal)
    output = (tmp_path / "agent.log").read_text()
    assert code == 0, output
    assert "cannot reach" in output and "waiting in the spool" in output
    times = [m.time for m in _metrics("outage.example.net")]
    during = [t for t in times if down_at + 0.5 < t.timestamp() < up_at - 0.5]
    assert len(during) >= 2, output  # sampled while the portal was down, stored at that time
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < timedelta(seconds=1.9), (gaps, output)  # no hole: every interval has its sample
    assert len(set(times)) == len(times)  # each sample once
    assert not list((tmp_path / "metrics").glob("*.req"))  # or, at most, the very last one in flight


@pytest.mark.django_db(transaction=True)
def test_check_accepts_a_good_setup(live_server, tmp_path, capsys):
    key = make_agent_key("check", allowed_cidrs=["127.0.0.0/8"])[1]
    code = agent.main(["check", "--url", live_server.url, "--api-key", key, "--spool", str(tmp_path),
                       "--queue-command", "echo 3"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "OK" in out.out and out.err == ""
    assert not Node.objects.exists()  # checking stores nothing


@pytest.mark.django_db(transaction=True)
def test_check_names_each_problem_on_its_own_line(live_server, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code = agent.main(["check", "--url", live_server.url, "--api-key", "wrong.key", "--spool",
                       str(tmp_path / "file" / "spool"), "--queue-command", "exit 3"])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(lines) == 3, lines
    assert "--spool/MAILMON_SPOOL" in lines[0] and "not writable" in lines[0]
    assert "--queue-command" in lines[1] and "exited with 3" in lines[1]
    assert "--api-key/MAILMON_API_KEY: the portal does not know this key" in lines[2]


def test_check_names_every_configuration_problem_at_once(capsys, monkeypatch):
    for name in ("MAILMON_URL", "MAILMON_API_KEY", "MAILMON_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert agent.main(["check", "--interval", "0", "--role", "exchange"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "--url/MAILMON_URL",
        "--api-key/MAILMON_API_KEY",
        "--role/MAILMON_ROLE",
        "--interval/MAILMON_INTERVAL",
    ]


def test_check_names_an_unreachable_portal(capsys, tmp_path):
    assert agent.main(["check", "--url", "http://127.0.0.1:9", "--api-key", "k", "--spool", str(tmp_path)]) == 1
    assert "--url/MAILMON_URL: cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_check_names_an_unreadable_postfix_log(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILMON_POSTFIX_LOG", str(tmp_path / "missing.log"))
    assert agent.main(["check", "--url", "http://127.0.0.1:9", "--api-key", "k", "--spool", str(tmp_path)]) == 1
    assert f"MAILMON_POSTFIX_LOG: cannot read {tmp_path / 'missing.log'}" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_check_names_a_hostname_the_key_may_not_report_for(live_server, tmp_path, capsys):
    from tests.nodes.factories import NodeFactory

    _, key = make_agent_key("scoped", node=NodeFactory(hostname="mx1.example.net"), allowed_cidrs=["127.0.0.0/8"])
    args = ["check", "--url", live_server.url, "--api-key", key, "--spool", str(tmp_path)]
    assert agent.main([*args, "--hostname", "mx1.example.net"]) == 0
    assert agent.main([*args, "--hostname", "mx2.example.net"]) == 1
    err = capsys.readouterr().err
    assert "--hostname/MAILMON_HOSTNAME: 'mx2.example.net' is not this key's node" in err and "mx1.example.net" in err
