"""The embedded servers: started by an entry point, stopped by whoever started them (make demo, a test run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import psutil
import pytest
from django.conf import settings

from mailmon import embedded

pytestmark = pytest.mark.slow

PROBE = (
    "import os, psycopg, redis; psycopg.connect(os.environ['DATABASE_URL']).close(); "
    "assert redis.Redis.from_url(os.environ['REDIS_URL']).ping(); print('servers answer')"
)


@pytest.fixture
def var_dir():
    # Under var/: unix socket paths must stay short, and pgserver's data must be readable by its user.
    path = settings.BASE_DIR / "var" / f"t-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True)
    yield path
    embedded.stop(path)
    shutil.rmtree(path, ignore_errors=True)


def manage(var_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"MAILMON_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "mailmon.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def running(var_dir) -> set[str]:
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(var_dir) in cmdline:
            found.add("postgresql" if "postgres" in cmdline else "redis" if "redis" in cmdline else cmdline)
    return found


def test_embedded_run_stops_the_servers_it_started(var_dir):
    result = manage(var_dir, "embedded", "run", "--", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    assert "servers answer" in result.stdout
    assert "embedded servers stopped: redis, postgresql" in result.stderr
    assert running(var_dir) == set()


def test_embedded_run_leaves_servers_that_were_already_running(var_dir):
    assert "started: postgresql, redis" in manage(var_dir, "embedded", "start").stdout
    result = manage(var_dir, "embedded", "run", "--", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    assert "servers answer" in result.stdout
    assert running(var_dir) == {"postgresql", "redis"}
    assert "stopped: redis, postgresql" in manage(var_dir, "embedded", "stop").stdout
    assert running(var_dir) == set()


def test_a_test_run_stops_the_embedded_postgresql_it_started(var_dir):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env["MAILMON_VAR_DIR"] = str(var_dir)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/pools/test_services.py::test_creating_a_pool_is_audited"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    assert (var_dir / "pgdata" / "PG_VERSION").exists()  # the run used the embedded server ...
    assert running(var_dir) == set()  # ... and stopped it, and its private Redis
