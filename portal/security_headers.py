"""Security headers on every response: pages (Django middleware) and static files (ASGI).

Contract:
- ``Content-Security-Policy``: only same-origin scripts (ES modules, no inline script or event
  handler, no ``eval``), styles from our own files (inline ``style`` attributes allowed, ``<style>``
  elements not), images/media from us (plus ``data:``/``blob:``), WebSockets to the same host,
  no plugins, no framing, forms post only to us.
- ``Permissions-Policy``: camera and microphone are off everywhere except the live pages
  (``MEDIA_DEVICE_URL_NAMES``: the join page, the chair console, the watch page — which
  asks for the microphone only to unlock its addresses —, personal join links).
- ``Referrer-Policy``, ``X-Content-Type-Options``, ``X-Frame-Options``,
  ``Cross-Origin-Opener-Policy``: also on static files, which Django's ``ASGIStaticFilesHandler``
  serves without running any middleware.

Why hand-written rather than django-csp: the policy is one fixed string (no nonces, nothing per
view but the WebSocket host), and the same headers must also go on responses that never pass
through Django's middleware (static files, Daphne's own 413); one small module serves both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

MEDIA_DEVICE_URL_NAMES = frozenset(
    {"conference_join", "conference_console", "conference_watch", "join_link"}
)

_POLICY = [
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("style-src-attr", "'unsafe-inline'"),
    ("img-src", "'self' data: blob:"),
    ("media-src", "'self' blob: mediastream:"),
    ("font-src", "'self'"),
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("frame-src", "'none'"),
    ("worker-src", "'self'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
]

_DENIED_FEATURES = (
    "accelerometer=(), geolocation=(), gyroscope=(), magnetometer=(), payment=(), usb=(), serial=()"
)
PERMISSIONS_DEFAULT = f"camera=(), microphone=(), display-capture=(), {_DENIED_FEATURES}"
PERMISSIONS_LIVE = (
    f"camera=(self), microphone=(self), display-capture=(self), autoplay=(self), {_DENIED_FEATURES}"
)


def content_security_policy(host: str = "") -> str:
    """The policy; ``host`` (the request's) adds ws:/wss: to it for browsers that do not count
    WebSockets to the page's own host as 'self'."""
    parts = []
    for name, value in _POLICY:
        if name == "connect-src" and host:
            value = f"{value} ws://{host} wss://{host}"
        parts.append(f"{name} {value}")
    return "; ".join(parts)


def static_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy().encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode()),
        (b"x-frame-options", settings.X_FRAME_OPTIONS.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", PERMISSIONS_DEFAULT.encode()),
    ]


class SecurityHeadersMiddleware:
    """Adds the policy and Permissions-Policy to every Django response (after SecurityMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        try:
            host = request.get_host()
        except Exception:  # DisallowedHost: the error page still gets the plain policy
            host = ""
        response.headers.setdefault("Content-Security-Policy", content_security_policy(host))
        match = getattr(request, "resolver_match", None)
        live = match is not None and match.url_name in MEDIA_DEVICE_URL_NAMES
        response.headers.setdefault(
            "Permissions-Policy", PERMISSIONS_LIVE if live else PERMISSIONS_DEFAULT
        )
        return response


class StaticSecurityHeaders:
    """ASGI wrapper: the same headers on responses that bypass Django's middleware (static files)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers = static_headers()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _value in message.get("headers", [])}
                extra = [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
