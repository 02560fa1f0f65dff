"""The live websocket: authenticated only; broadcasts and the fleet task reach open sockets."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from apps.core.live import broadcast
from apps.nodes.choices import NodeStatus
from apps.nodes.tasks import refresh_status_task
from mailmon.asgi import application
from tests.core.factories import UserFactory
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db

ORIGIN = (b"origin", b"http://testserver")
HOST = (b"host", b"testserver")


def _headers(client=None) -> list[tuple[bytes, bytes]]:
    headers = [HOST, ORIGIN]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _communicator(client=None, streams: str = "fleet") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/live/?streams={streams}", headers=_headers(client))


def _close_code(headers) -> tuple[bool, int | None]:
    """Open a socket with ``headers``; whether the handshake succeeded and the close code that followed."""

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/live/?streams=fleet", headers=headers)
        connected, code = await communicator.connect()
        if connected:
            message = await communicator.receive_output(timeout=5)
            code = message.get("code") if message["type"] == "websocket.close" else None
        await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def test_an_anonymous_socket_is_closed_with_4401():
    assert _close_code(_headers()) == (True, 4401)


def test_a_socket_of_a_user_without_a_role_is_closed_with_4403(client):
    client.force_login(UserFactory(username="no-role"))
    assert _close_code(_headers(client)) == (True, 4403)


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:9999", "https://localhost", "https://127.0.0.1:8000", "http://localhost:8000",
     "http://evil.example", "null", "http://127.0.0.1:8000.evil.example"],
)
def test_a_socket_from_another_origin_is_refused(viewer_client, origin):
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin.encode()), _headers(viewer_client)[-1]]
    assert _close_code(headers)[0] is False


def test_a_socket_without_an_origin_is_refused(viewer_client):
    assert _close_code([(b"host", b"127.0.0.1:8000"), _headers(viewer_client)[-1]])[0] is False


@pytest.mark.parametrize(
    ("host", "origin"),
    [("127.0.0.1:8000", "http://127.0.0.1:8000"), ("localhost", "http://localhost:80"), ("[::1]:8000", "http://[::1]:8000")],
)
def test_a_socket_from_the_pages_own_origin_is_accepted(viewer_client, host, origin):
    headers = [(b"host", host.encode()), (b"origin", origin.encode()), _headers(viewer_client)[-1]]
    assert _close_code(headers) == (True, None)  # accepted, then the hello message


def test_behind_a_tls_proxy_the_page_origin_is_https(viewer_client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    base = [(b"host", b"localhost"), (b"x-forwarded-proto", b"https"), _headers(viewer_client)[-1]]
    assert _close_code([*base, (b"origin", b"https://localhost")]) == (True, None)
    assert _close_code([*base, (b"origin", b"http://localhost")])[0] is False


def test_a_logged_in_user_receives_what_broadcast_sends(viewer_client):
    async def scenario():
        communicator = _communicator(viewer_client, "fleet,events")
        connected, _ = await communicator.connect()
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        await sync_to_async(broadcast)("fleet", "test", {"n": 1})
        await sync_to_async(broadcast)("events", "test", {"n": 2})
        received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        await communicator.disconnect()
        return hello, received

    hello, received = async_to_sync(scenario)()
    assert hello == {"stream": "system", "event": "hello", "data": {"streams": ["fleet", "events"]}}
    assert {"stream": "fleet", "event": "test", "data": {"n": 1}} in received
    assert {"stream": "events", "event": "test", "data": {"n": 2}} in received


def test_a_socket_gets_only_the_streams_it_asked_for(viewer_client):
    async def scenario():
        communicator = _communicator(viewer_client, "events")
        await communicator.connect()
        await communicator.receive_json_from(timeout=5)  # hello
        await sync_to_async(broadcast)("fleet", "test", {"n": 1})
        nothing = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return nothing

    assert async_to_sync(scenario)() is True


def test_broadcast_refuses_an_unknown_stream():
    with pytest.raises(ValueError, match="unknown stream"):
        broadcast("nope", "x", {})


def test_the_refresh_task_broadcasts_the_fleet_summary_to_the_socket(viewer_client, django_capture_on_commit_callbacks):
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    NodeFactory(hostname="quiet.example.net", status=NodeStatus.ONLINE, last_seen=an_hour_ago)
    NodeFactory(hostname="chatty.example.net", status=NodeStatus.ONLINE, last_seen=timezone.now())

    def run_task() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return refresh_status_task()

    async def scenario():
        communicator = _communicator(viewer_client)
        await communicator.connect()
        await communicator.receive_json_from(timeout=5)  # hello
        changed = await sync_to_async(run_task)()
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return changed, message

    changed, message = async_to_sync(scenario)()
    assert changed == 1
    assert message["stream"] == "fleet" and message["event"] == "summary"
    assert message["data"]["total"] == 2
    assert message["data"]["by_status"]["offline"] == 1
    assert message["data"]["by_status"]["online"] == 1
