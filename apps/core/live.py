"""Live updates: one sync helper that pushes a message to every open page of a stream.

Call :func:`broadcast` after commit (``transaction.on_commit``) from services or
tasks; the message ``type`` names the consumer handler that delivers it.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

STREAMS = ("fleet", "events", "dnsbl", "alerts")


class LiveMessage(TypedDict):
    type: str  # "live.update"
    stream: str
    event: str
    data: dict[str, Any]


def broadcast(stream: str, event: str, data: dict[str, Any]) -> None:
    """Send ``data`` to every websocket subscribed to ``stream``; never raises."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}")
    message: LiveMessage = {"type": "live.update", "stream": stream, "event": event, "data": data}
    try:
        async_to_sync(get_channel_layer().group_send)(f"live.{stream}", message)
    except Exception:  # a live page missing one update must not fail the caller
        log.warning("broadcast to %s failed", stream, exc_info=True)
