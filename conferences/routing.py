"""WebSocket routes of the conferences app (collected by ``portal.routing``)."""

from __future__ import annotations

from django.urls import path

from conferences.consumers import ConferenceConsumer

websocket_urlpatterns = [
    path("ws/conferences/<uuid:code>/", ConferenceConsumer.as_asgi()),
]
