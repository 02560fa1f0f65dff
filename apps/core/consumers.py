"""The live websocket: authenticated staff subscribe to streams (?streams=fleet,events)."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .live import STREAMS, LiveMessage
from .roles import has_role

# Close codes a refused socket gets (docs/api.md). The socket is accepted first and closed at
# once: a close before accepting would reach the browser as a bare HTTP 403, without a code.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NO_ROLE = 4403


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        if not await database_sync_to_async(has_role)(user):
            await self.accept()
            await self.close(code=CLOSE_NO_ROLE)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        wanted = ",".join(query.get("streams", ["fleet"])).split(",")
        self.groups_joined = [f"live.{s}" for s in wanted if s in STREAMS]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"stream": "system", "event": "hello", "data": {"streams": wanted}})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def live_update(self, message: LiveMessage) -> None:
        await self.send_json({"stream": message["stream"], "event": message["event"], "data": message["data"]})
