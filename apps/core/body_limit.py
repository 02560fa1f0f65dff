"""Request bodies refused before they are read: too large for their path, or anonymous.

One decision, :func:`body_policy`, made from the request line and headers alone, used
by the daphne hook (``mailmon/daphne_server.py``: refuses while the body is still on
the wire, so ``Content-Length: 10**12`` is answered at once and a chunked body is never
held past its limit) and by :class:`BodyLimitMiddleware` (any other ASGI server).
The reverse proxy (``deploy/nginx/mailmon.conf``) applies the same limits in front.

| path | needs before any byte of body is read | largest body |
|---|---|---|
| ``/api/v1/events/ingest`` | an ``Authorization`` header (else 401) | ``MAILMON_INGEST_MAX_BODY_BYTES`` |
| ``/api/v1/nodes/metrics`` | an ``Authorization`` header (else 401) | ``MAILMON_MAX_BODY_BYTES`` |
| anything, with a session cookie or ``Authorization`` | — | ``MAILMON_MAX_BODY_BYTES`` |
| anything else (the login form, anonymous posts) | — | ``MAILMON_ANONYMOUS_MAX_BODY_BYTES`` |
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

INGEST_PATH = "/api/v1/events/ingest"
AGENT_PATHS = (INGEST_PATH, "/api/v1/nodes/metrics")


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str

    def body(self) -> bytes:
        return json.dumps({"detail": self.detail}).encode()


def too_large(limit: int) -> Refusal:
    return Refusal(413, f"Request body too large: at most {limit} bytes on this path.")


def body_limit(path: str, headers: dict[str, str]) -> int | Refusal:
    """The largest body this request may send, or why it is refused outright.

    ``headers`` have lower-case names. Only whether a credential is present is
    checked here (it costs nothing); the view checks whether it is valid.
    """
    path = path.split("?", 1)[0].rstrip("/")
    has_auth = bool(headers.get("authorization"))
    if path in AGENT_PATHS:
        if not has_auth:
            return Refusal(401, "Authentication credentials were not provided: send Authorization: Api-Key <key>.")
        return settings.MAILMON_INGEST_MAX_BODY_BYTES if path == INGEST_PATH else settings.MAILMON_MAX_BODY_BYTES
    has_session = f"{settings.SESSION_COOKIE_NAME}=" in headers.get("cookie", "")
    return settings.MAILMON_MAX_BODY_BYTES if has_auth or has_session else settings.MAILMON_ANONYMOUS_MAX_BODY_BYTES


def body_policy(path: str, headers: dict[str, str], declared_length: int | None) -> int | Refusal:
    """:func:`body_limit`, refusing at once a declared ``Content-Length`` over the limit."""
    limit = body_limit(path, headers)
    if isinstance(limit, Refusal):
        return limit
    if declared_length is not None and declared_length > limit:
        return too_large(limit)
    return limit


def _declared_length(headers: dict[str, str]) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


class BodyLimitMiddleware:
    """ASGI: apply :func:`body_policy` to HTTP requests before the application reads the body.

    The body (at most the path's limit) is read here and replayed to the application,
    so the application never starts on a request that would be refused.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}
        policy = body_policy(scope.get("path", ""), headers, _declared_length(headers))
        if isinstance(policy, Refusal):
            return await _refuse(send, policy)
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > policy:
                return await _refuse(send, too_large(policy))
            if not message.get("more_body"):
                break
        replay = iter(messages)

        async def replay_receive():
            return next(replay, None) or await receive()

        return await self.application(scope, replay_receive, send)


async def _refuse(send, refusal: Refusal) -> None:
    body = refusal.body()
    await send({
        "type": "http.response.start",
        "status": refusal.status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
