"""The portal as daphne serves it (``mailmon.daphne_server``), spoken to over real sockets.

Bodies are refused while still on the wire; the live websocket's close codes and its
idle life are what a browser sees.
"""

from __future__ import annotations

import asyncio
import socket
import time

import psutil
import pytest
import websockets
from asgiref.sync import async_to_sync
from django.test import Client

from apps.core.live import broadcast
from tests.core.factories import UserFactory

from . import processes

pytestmark = pytest.mark.django_db(transaction=True)

INGEST_LIMIT = 200_000


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    port = processes.free_port()
    with django_db_blocker.unblock():
        proc = processes.start(
            ["-m", "mailmon.daphne_server", "-b", "127.0.0.1", "-p", str(port), "mailmon.asgi:application"],
            tmp_path_factory.mktemp("daphne") / "daphne.log",
            MAILMON_INGEST_MAX_BODY_BYTES=str(INGEST_LIMIT),
        )

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        processes.wait_for(listening, timeout=60, what="daphne listening", procs=[proc])
        proc.port = port
        yield proc
        processes.stop(proc)


def _exchange(port: int, head: bytes, chunks=(), timeout: float = 5) -> tuple[bytes, int, float]:
    """Send a request head and body chunks; the answer's first bytes, bytes of body sent, seconds to answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    started = time.monotonic()
    sent = 0
    try:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        answer = sock.recv(4096)
    except (TimeoutError, ConnectionResetError):
        answer = b""
    finally:
        sock.close()
    return answer, sent, time.monotonic() - started


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def test_a_huge_declared_body_is_answered_413_at_once(daphne):
    answer, _, seconds = _exchange(daphne.port, _head("/health/live", "Content-Length: 1000000000000"))
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"at most" in answer
    assert seconds < 1


def test_an_ingest_post_without_credentials_is_answered_401_before_its_body(daphne):
    answer, _, seconds = _exchange(daphne.port, _head("/api/v1/events/ingest", f"Content-Length: {INGEST_LIMIT}"))
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"Api-Key" in answer and seconds < 1


def test_the_ingest_path_has_its_own_larger_limit(daphne):
    key = "Authorization: Api-Key not-a-key"
    over, _, _ = _exchange(daphne.port, _head("/api/v1/events/ingest", key, f"Content-Length: {INGEST_LIMIT + 1}"))
    assert over.startswith(b"HTTP/1.1 413")
    body = b"x" * 100_000  # over every other path's limit, under the ingest one: reaches the view
    answer, _, _ = _exchange(daphne.port, _head("/api/v1/events/ingest", key, f"Content-Length: {len(body)}"), [body])
    assert answer.startswith(b"HTTP/1.1 401") and b"Content Too Large" not in answer  # the view: unknown key


def test_an_anonymous_300_mb_chunked_post_is_refused_without_growing_daphne(daphne):
    rss_before = psutil.Process(daphne.pid).memory_info().rss
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
    answer, sent, _ = _exchange(
        daphne.port, _head("/health/live", "Transfer-Encoding: chunked"), (chunk for _ in range(300))
    )
    grown = psutil.Process(daphne.pid).memory_info().rss - rss_before
    assert answer.startswith(b"HTTP/1.1 413")
    assert grown < 30 * 2**20, f"daphne grew by {grown / 2**20:.0f} MiB"


def test_a_small_post_still_reaches_the_portal(daphne):
    answer, _, _ = _exchange(daphne.port, _head("/accounts/login/", "Content-Length: 5"), [b"a=b&c"])
    assert answer.startswith(b"HTTP/1.1 403")  # Django's CSRF check: the body was read and judged by the view


def _session_cookie(role: str | None = "Viewer") -> str:
    client = Client()
    client.force_login(UserFactory(username=f"ws-{role}", role=role) if role else UserFactory(username="ws-none"))
    return f"sessionid={client.cookies['sessionid'].value}"


async def _open(port: int, cookie: str | None = None, origin: str | None = None):
    headers = {"Cookie": cookie} if cookie else {}
    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/live/?streams=fleet",
        origin=origin or f"http://127.0.0.1:{port}",
        additional_headers=headers,
        open_timeout=10,
    )


@pytest.mark.parametrize(("role", "code"), [(None, 4401), ("", 4403)])
def test_a_browser_sees_the_documented_close_code(daphne, role, code):
    cookie = None if role is None else _session_cookie(None)

    async def scenario():
        ws = await _open(daphne.port, cookie)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        return closed.value.rcvd.code

    assert async_to_sync(scenario)() == code


def test_a_browser_on_another_port_is_refused(daphne):
    cookie = _session_cookie()

    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            await _open(daphne.port, cookie, origin="http://127.0.0.1:9999")
        return refused.value.response.status_code

    assert async_to_sync(scenario)() == 403


@pytest.mark.slow
def test_an_idle_socket_stays_open_for_a_minute_and_still_receives(daphne):
    cookie = _session_cookie()

    async def scenario():
        ws = await _open(daphne.port, cookie)
        hello = await asyncio.wait_for(ws.recv(), 5)
        await asyncio.sleep(60)
        await asyncio.to_thread(broadcast, "fleet", "test", {"n": 60})
        message = await asyncio.wait_for(ws.recv(), 10)
        await ws.close()
        return hello, message

    hello, message = async_to_sync(scenario)()
    assert '"hello"' in hello
    assert '"n": 60' in message
    assert "1011" not in processes.log_tail(daphne, 100000)
