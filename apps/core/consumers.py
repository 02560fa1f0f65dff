"""The live websocket: authenticated staff subscribe to streams (?streams=fleet,events)."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .live import STREAMS, LiveMessage


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
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
