"""Websocket routes: one thin consumer per live stream."""

from django.urls import path

from apps.core.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]
