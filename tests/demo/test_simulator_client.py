"""simulate_traffic's HTTP client and option checks: no database, a local stub server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.demo.management.commands.simulate_traffic import ApiClient, AuthRejected, Stats


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--rate", "0"], "--rate"),
        (["--backfill", "-1"], "--backfill"),
        (["--batch-size", "20000"], "--batch-size"),
        (["--url", "ftp://example"], "--url"),
    ],
)
def test_bad_options_are_refused_naming_the_option(args, field):
    with pytest.raises(CommandError, match=field):
        call_command("simulate_traffic", "--key", "k", "--duration", "1", *args, stdout=StringIO())




class _Stub(BaseHTTPRequestHandler):
    """Answers POSTs from ``answers`` in order, then 202 {"accepted": <events in the body>}."""

    answers: list[tuple[int, dict[str, str], dict]] = []
    bodies: list[bytes] = []
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(body)
        self.paths.append(self.path)
        if self.answers:
            status, headers, body = self.answers.pop(0)
        else:
            status, headers, body = 202, {}, {"accepted": len(json.loads(body))}
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    _Stub.answers, _Stub.bodies, _Stub.paths = [], [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Stub
    server.shutdown()
    server.server_close()


def _client(url: str) -> tuple[ApiClient, list[str]]:
    warnings: list[str] = []
    return ApiClient(url, "k", threading.Event(), warnings.append), warnings


def test_client_waits_retry_after_on_429_and_503_then_resends_the_same_body(stub):
    url, handler = stub
    handler.answers = [(429, {"Retry-After": "1"}, {}), (503, {"Retry-After": "1"}, {}), (202, {}, {"accepted": 1})]
    client, warnings = _client(url)
    stats = Stats()
    started = time.monotonic()
    status, answer = client.post("/api/v1/events/ingest", b'[{"x": 1}]', stats=stats)
    assert (status, answer) == (202, {"accepted": 1})
    assert time.monotonic() - started >= 1.9
    assert handler.bodies == [b'[{"x": 1}]'] * 3
    assert stats.retries == 2 and len(warnings) == 2


def test_client_drops_other_4xx_without_resending_and_stops_on_401(stub):
    url, handler = stub
    handler.answers = [(400, {}, {"detail": "Malformed JSON body"}), (401, {}, {"detail": "Unknown API key."})]
    client, _warnings = _client(url)
    assert client.post("/x", b"{")[0] == 400
    assert len(handler.bodies) == 1
    with pytest.raises(AuthRejected, match="Unknown API key"):
        client.post("/x", b"[]")


def test_client_gives_up_when_stopped_while_waiting(stub):
    url, handler = stub
    handler.answers = [(429, {"Retry-After": "30"}, {})]
    stop = threading.Event()
    client = ApiClient(url, "k", stop, lambda message: stop.set())  # stopped as soon as it starts waiting
    started = time.monotonic()
    assert client.post("/x", b"[]") is None
    assert time.monotonic() - started < 5
