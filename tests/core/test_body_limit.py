"""Which bodies are refused before they are read, and the ASGI middleware that applies it."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import ApplicationCommunicator

from apps.core.body_limit import BodyLimitMiddleware, Refusal, body_policy

AUTH = {"authorization": "Api-Key x"}


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.MAILMON_INGEST_MAX_BODY_BYTES = 10_000
    settings.MAILMON_MAX_BODY_BYTES = 2_000
    settings.MAILMON_ANONYMOUS_MAX_BODY_BYTES = 1_000


@pytest.mark.parametrize(
    ("path", "headers", "length", "expected"),
    [
        ("/api/v1/events/ingest", AUTH, None, 10_000),
        ("/api/v1/events/ingest?x=1", AUTH, 10_000, 10_000),
        ("/api/v1/events/ingest", AUTH, 10_001, 413),
        ("/api/v1/events/ingest", {}, 10, 401),
        ("/api/v1/nodes/metrics", {}, None, 401),
        ("/api/v1/nodes/metrics", AUTH, 2_001, 413),
        ("/accounts/login/", {}, 999, 1_000),
        ("/health/live", {}, 10**12, 413),
        ("/admin/ips/sendingip/1/change/", {"cookie": "csrftoken=a; sessionid=b"}, 1_500, 2_000),
    ],
)
def test_each_path_has_its_limit_and_agent_paths_need_a_credential(path, headers, length, expected):
    policy = body_policy(path, headers, length)
    assert (policy.status if isinstance(policy, Refusal) else policy) == expected


async def _app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read %d" % len(body)})


def _post(chunks: list[bytes], headers=()) -> tuple[int, bytes]:
    async def scenario():
        scope = {"type": "http", "method": "POST", "path": "/health/live", "headers": list(headers)}
        communicator = ApplicationCommunicator(BodyLimitMiddleware(_app), scope)
        for i, chunk in enumerate(chunks):
            await communicator.send_input({"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1})
        start = await communicator.receive_output(timeout=5)
        body = await communicator.receive_output(timeout=5)
        return start["status"], body["body"]

    return async_to_sync(scenario)()


def test_a_chunked_body_is_counted_while_it_arrives_and_refused_past_the_limit():
    status, body = _post([b"x" * 600, b"x" * 600, b"x" * 600])
    assert status == 413 and b"at most 1000 bytes" in body


def test_a_body_within_the_limit_reaches_the_application_whole():
    assert _post([b"x" * 400, b"x" * 400]) == (200, b"read 800")
