"""The ingest endpoint served by real gunicorn and daphne processes, and a raw HTTP client.

The Django test client never frames a body: chunked transfer encoding, what the servers
do with a body larger than the limit, and worker/thread starvation only show against
the servers themselves.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.core import processes
from tests.events.wire_samples import wire_event

URL = "/api/v1/events/ingest"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def recent_events(count: int, *, prefix: str = "served", start: int = 0) -> list[dict]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        wire_event(n, event_id=f"{prefix}-{n}", time=(now - timedelta(seconds=n % 600)).isoformat())
        for n in range(start, start + count)
    ]


def server_command(kind: str, port: int, workers: int = 1) -> list[str]:
    if kind == "gunicorn":  # gunicorn.conf.py (repository root = the process's cwd) applies
        return ["-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "60",
                "mailmon.wsgi:application"]
    return ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mailmon.asgi:application"]


@contextmanager
def served(kind: str, log_dir: Path, *, workers: int = 1, **env: str) -> Iterator[int]:
    """Start ``kind`` (gunicorn or daphne) on a free port against the test database; yields the port."""
    port = processes.free_port()
    proc = processes.start(server_command(kind, port, workers), log_dir / f"{kind}-{port}.log", **env)
    try:
        processes.wait_for(
            lambda: _answers(port), timeout=60, what=f"{kind} serving /health/live", procs=[proc], interval=0.2
        )
        yield port
    finally:
        processes.stop(proc)


def _answers(port: int) -> bool:
    try:
        return request(port, "GET", "/health/live", timeout=2).status == 200
    except OSError:
        return False


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
    timeout: float = 30,
) -> Answer:
    """One request with http.client; ``chunked`` sends the body with Transfer-Encoding: chunked."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunked:
            chunks = [body] if isinstance(body, bytes) else body
            conn.request(method, path, body=iter(chunks), headers=headers or {}, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def ingest(port: int, key: str, body: bytes, *, chunked: bool = False, **headers: str) -> Answer:
    all_headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json", **headers}
    return request(port, "POST", URL, body, all_headers, chunked=chunked)


def chunked_flood(port: int, key: str, *, total: int, chunk: int = 64 * 1024, timeout: float = 30) -> tuple[int, bytes]:
    """POST ``total`` bytes chunked over a raw socket, stopping early if the server answers or closes.

    Returns (bytes sent, what the server answered).  http.client would insist on sending the
    whole body before reading an answer; a server enforcing its limit answers early.
    """
    head = (
        f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Key {key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"%x\r\n" % chunk + b"[" + b" " * (chunk - 1) + b"\r\n"
    sent, answer, finished = 0, b"", False
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            if sent >= total and not finished:
                sock.sendall(b"0\r\n\r\n")
                finished = True
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 0.5)
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            elif writable:
                try:
                    sock.sendall(piece)
                except OSError:  # the server closed the connection: read what it said
                    sock.settimeout(2)
                    with suppress(OSError):
                        answer += sock.recv(65536)
                    break
                sent += len(piece)
        answer += _rest_of_answer(sock, answer)
    return sent, answer


def _rest_of_answer(sock: socket.socket, answer: bytes) -> bytes:
    head, _, body = answer.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    length = lengths[0] if lengths else 0
    rest = b""
    sock.settimeout(2)
    with suppress(OSError):
        while len(body) + len(rest) < length:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
    return rest
