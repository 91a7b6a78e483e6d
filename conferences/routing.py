"""WebSocket routes of the conferences app (collected by ``portal.routing``)."""

from __future__ import annotations

from django.urls import path

from conferences.consumers import ConferenceConsumer

websocket_urlpatterns = [
    # <str:code>, not <uuid:code>: a malformed code must reach the consumer and close with 4404
    # (not_found), not fail routing (an HTTP 500 from Daphne).
    path("ws/conferences/<str:code>/", ConferenceConsumer.as_asgi()),
]
