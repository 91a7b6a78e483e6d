"""WebSocket routes of every app, collected for ``portal.asgi``."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []

try:  # the live-conference consumer arrives with the conferences app's routing module
    from conferences.routing import websocket_urlpatterns as _conference_ws
except ImportError:  # pragma: no cover - until conferences/routing.py exists
    _conference_ws = []
websocket_urlpatterns += _conference_ws
