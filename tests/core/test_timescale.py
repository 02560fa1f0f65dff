"""TimescaleDB, against a real server given by ``MAILMON_TEST_TIMESCALE_URL`` (skipped without one).

``MAILMON_TEST_TIMESCALE_URL=postgresql://user:pw@host:port/postgres`` names a server with the
timescaledb extension installed; each test makes a scratch database on it and runs the real
``manage.py migrate`` and maintenance task there. What is asserted follows the server: where
``CREATE EXTENSION timescaledb`` works (preloaded) the hypertable path, where it fails (a fresh
package install, not in ``shared_preload_libraries``) the fallback to day partitions.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from django.conf import settings

from apps.core import health

from .processes import subprocess_env

psycopg = pytest.importorskip("psycopg")

TIMESCALE_URL = os.environ.get("MAILMON_TEST_TIMESCALE_URL", "")
pytestmark = pytest.mark.skipif(
    not TIMESCALE_URL, reason="MAILMON_TEST_TIMESCALE_URL unset: no TimescaleDB server to test against"
)
TABLES = ("events_emailevent", "nodes_nodemetric")
_names = itertools.count()


def _connect(url: str):
    return psycopg.connect(url, autocommit=True)


def _query(url: str, sql: str, params=None) -> list[tuple]:
    with _connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def scratch_url():
    """An empty database on the TimescaleDB server, dropped afterwards."""
    name = f"mm_ts_{os.getpid()}_{next(_names)}"
    with _connect(TIMESCALE_URL) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlparse(TIMESCALE_URL)._replace(path=f"/{name}").geturl()
    with _connect(url) as conn:  # empty even where the server hands every name the same database
        conn.execute("DROP EXTENSION IF EXISTS timescaledb CASCADE")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    yield url
    with _connect(TIMESCALE_URL) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _preloaded(url: str) -> bool:
    (libraries,) = _query(url, "SHOW shared_preload_libraries")[0]
    return "timescaledb" in [name.strip() for name in libraries.split(",")]


def _manage(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600,
        env=subprocess_env(DATABASE_URL=url, **env),
    )


def _maintain(url: str) -> dict:
    result = _manage(url, "shell", "-c", "import json; from apps.core.tasks import maintain_partitions_task as t; "
                                         "print(json.dumps(t()))")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _shapes(url: str) -> dict[str, str]:
    rows = _query(url, "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relname = ANY(%s)", [list(TABLES)])
    hypertables = set()
    if _query(url, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"):
        found = _query(url, "SELECT hypertable_name FROM timescaledb_information.hypertables")
        hypertables = {name for (name,) in found}
    return {name: "hypertable" if name in hypertables else "partitions" if kind == "p" else "plain"
            for name, kind in rows}


def test_migrate_makes_hypertables_or_falls_back_to_partitions_with_a_warning(scratch_url):
    preloaded = _preloaded(scratch_url)
    result = _manage(scratch_url, "migrate", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr  # used to die: "must be preloaded"
    shapes = _shapes(scratch_url)
    if shapes == dict.fromkeys(TABLES, "hypertable"):
        assert "not usable" not in result.stderr
        assert _maintain(scratch_url) == {table: {"created": [], "dropped": []} for table in TABLES}
    else:
        assert not preloaded, "timescaledb is preloaded, yet migrate did not make hypertables"
        assert shapes == dict.fromkeys(TABLES, "partitions")
        assert "TimescaleDB is installed but not usable" in result.stderr


def test_asking_for_timescaledb_gives_hypertables_or_stops_migrate_clearly(scratch_url):
    result = _manage(scratch_url, "migrate", "--noinput", MAILMON_TIMESERIES="timescaledb")
    if result.returncode == 0:
        assert _shapes(scratch_url) == dict.fromkeys(TABLES, "hypertable")
    else:
        assert "MAILMON_TIMESERIES=timescaledb but CREATE EXTENSION timescaledb failed" in result.stderr
        assert "hypertable" not in _shapes(scratch_url).values()


def test_a_partitioned_install_that_gains_the_extension_keeps_making_partitions(scratch_url):
    result = _manage(scratch_url, "migrate", "--noinput", MAILMON_TIMESERIES="partitions")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _shapes(scratch_url) == dict.fromkeys(TABLES, "partitions")
    with _connect(scratch_url) as conn:  # e.g. restored into the compose image
        try:
            conn.execute("CREATE EXTENSION timescaledb")
        except psycopg.Error as exc:
            pytest.skip(f"CREATE EXTENSION timescaledb fails on this server (not preloaded?): {exc}")
        conn.execute(f'DROP TABLE "{_newest_partition(conn, TABLES[0])}"')

    result = _maintain(scratch_url)  # used to crash: "events_emailevent" is not a hypertable

    assert len(result[TABLES[0]]["created"]) == 1
    assert _shapes(scratch_url) == dict.fromkeys(TABLES, "partitions")


def _newest_partition(conn, table: str) -> str:
    rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1 DESC", [table])
    return rows.fetchone()[0]


def test_the_hourly_task_runs_failing_policy_jobs_and_reports_them(scratch_url):
    assert _manage(scratch_url, "migrate", "--noinput").returncode == 0
    if _shapes(scratch_url) != dict.fromkeys(TABLES, "hypertable"):
        pytest.skip("timescaledb is not usable on this server: no hypertables, no policy jobs")
    with _connect(scratch_url) as conn:
        (job_id,) = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_compression' AND hypertable_name = 'events_emailevent'").fetchone()
        _record_failed_background_run(conn, job_id)

    _maintain(scratch_url)

    report = health.check_timeseries()
    assert report["tables"] == dict.fromkeys(TABLES, "hypertable")
    assert [(job["job_id"], job["proc_name"], job["ran"]) for job in report["policy_jobs_rerun"]] == [
        (job_id, "policy_compression", "ok")
    ]
    assert "mailmon ran them itself" in report["detail"]


def _record_failed_background_run(conn, job_id: int) -> None:
    """What TimescaleDB's scheduler writes when the job fails in the background worker."""
    updated = conn.execute(
        "UPDATE _timescaledb_internal.bgw_job_stat SET last_finish = now(), last_run_success = false, "
        "total_failures = total_failures + 1 WHERE job_id = %s", [job_id]).rowcount
    if not updated:  # no scheduler has run it yet
        conn.execute(
            "INSERT INTO _timescaledb_internal.bgw_job_stat (job_id, last_start, last_finish, next_start, "
            "last_successful_finish, last_run_success, total_runs, total_duration, total_duration_failures, "
            "total_successes, total_failures, total_crashes, consecutive_failures, consecutive_crashes) "
            "VALUES (%s, now() - interval '1 minute', now(), now() + interval '1 hour', '-infinity', false, "
            "1, '1 second', '1 second', 0, 1, 0, 1, 0)", [job_id])


def test_a_partitioned_install_converts_to_hypertables_keeping_its_rows(scratch_url):
    assert _manage(scratch_url, "migrate", "--noinput", MAILMON_TIMESERIES="partitions").returncode == 0
    with _connect(scratch_url) as conn:
        try:
            conn.execute("CREATE EXTENSION timescaledb")
        except psycopg.Error as exc:
            pytest.skip(f"CREATE EXTENSION timescaledb fails on this server (not preloaded?): {exc}")
    indexes_before = _indexes(scratch_url)
    add = ("from django.utils import timezone; from apps.nodes.services import node_metric_record as r; "
           "[r(hostname='mx1', time=timezone.now() - timezone.timedelta(hours=h), load1=h) for h in (0, 30)]")
    assert _manage(scratch_url, "shell", "-c", add).returncode == 0

    result = _manage(scratch_url, "timeseries", "convert")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "nodes_nodemetric: 2 rows moved into a hypertable" in result.stdout
    assert _shapes(scratch_url) == dict.fromkeys(TABLES, "hypertable")
    assert _indexes(scratch_url) >= indexes_before  # Django's names kept (plus the FK index a fresh install has)
    assert _manage(scratch_url, "shell", "-c", add).returncode == 0  # ids go on from the old rows
    ids = _query(scratch_url, "SELECT id FROM nodes_nodemetric ORDER BY id")
    assert len({id_ for (id_,) in ids}) == 4


def _indexes(url: str) -> set[str]:
    rows = _query(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s)",
                  [list(TABLES)])
    return {name for (name,) in rows}
