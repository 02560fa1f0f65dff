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
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db

ORIGIN = (b"origin", b"http://testserver")


def _headers(client=None) -> list[tuple[bytes, bytes]]:
    headers = [ORIGIN]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _communicator(client=None, streams: str = "fleet") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/live/?streams={streams}", headers=_headers(client))


def test_an_anonymous_socket_is_refused():
    async def scenario():
        communicator = _communicator()
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected
    assert code == 4401


def test_a_socket_from_a_foreign_origin_is_refused(viewer_client):
    async def scenario():
        headers = [(b"origin", b"http://evil.example"), _headers(viewer_client)[1]]
        communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


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
