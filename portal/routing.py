"""WebSocket routes of every app, collected for ``portal.asgi``.

Imported statically: an import error anywhere below the live routing must stop the process at
start, not leave a portal without its live socket route.
"""

from __future__ import annotations

from django.urls import URLPattern

from conferences.routing import websocket_urlpatterns as _conference_ws

websocket_urlpatterns: list[URLPattern] = [*_conference_ws]
