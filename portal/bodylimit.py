"""Request-body limits that Daphne enforces before it reads a body.

Contract: a request whose body is larger than ``REQUEST_BODY_MAX_BYTES`` is answered ``413`` as
soon as its headers are in (from ``Content-Length``) or as soon as a chunked body passes the
limit, and the rest of what the client sends is read and thrown away; nothing of it is buffered.
A body larger than ``REQUEST_BODY_ANONYMOUS_MAX_BYTES`` is read only for a request carrying a
signed-in session; anything else gets the same ``413``. A chunked body (no ``Content-Length``;
browsers never send one for a form) is held to the anonymous limit whoever sends it.

Why here and not in an ASGI middleware: Daphne 4.2.3 (pinned) receives the whole body into a
temporary file before it calls the application, then puts all of it, in 8 KB messages, on the
application's queue in one go; a middleware only sees the body once it is already in memory
(a 300 MB POST to ``/login/`` grew the process by 3.5 GB). So the check sits in Daphne's request
object, where Twisted reports the announced length (``gotLength``) and each piece of body
(``handleContentChunk``). The session check for a large body runs in a thread while the
connection is paused (no more bytes are read until it answers). ``install()`` is called by
``portal.asgi``, so every way of starting Daphne on ``portal.asgi:application`` has the limits.
A reverse proxy in front should refuse the same sizes first (docs/operations.md).
"""

from __future__ import annotations

import logging
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

LINGER_SECONDS = (
    5.0  # keep reading (and dropping) a refused body this long so the client sees the 413
)

_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>413</title></head>
<body><h1>Nội dung gửi lên quá lớn</h1><p>Máy chủ chỉ nhận tối đa {limit}. Hãy chọn tệp nhỏ hơn
rồi thử lại.</p><p lang="en">Request body too large: at most {limit}.</p>
<p><a href="/">Giao Ban</a></p></body></html>
"""


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB"
    return f"{max(size // 1024, 1)} KB"


def session_is_authenticated(session_key: str) -> bool:
    """Whether ``session_key`` is the session of a signed-in, active user (runs in a thread)."""
    from django import db
    from django.contrib.auth import get_user

    db.close_old_connections()
    try:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
        return bool(user.is_authenticated and user.is_active)
    except Exception:  # a broken session is simply not a signed-in one
        logger.warning("body limit: session check failed", exc_info=True)
        return False
    finally:
        db.connections.close_all()


def install() -> None:
    """Make Daphne build its HTTP requests from ``BoundedWebRequest`` (idempotent)."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "_giaoban_bounded", False):
        return
    http_protocol.WebRequest = _bounded_request_class(http_protocol.WebRequest)


def _bounded_request_class(base: type) -> type:
    from twisted.internet import reactor, threads

    max_bytes = int(settings.REQUEST_BODY_MAX_BYTES)
    anonymous_max = int(settings.REQUEST_BODY_ANONYMOUS_MAX_BYTES)
    cookie_name = settings.SESSION_COOKIE_NAME.encode("latin-1")

    class BoundedWebRequest(base):
        _giaoban_bounded = True

        def gotLength(self, length: int | None) -> None:
            self._body_seen = 0
            self._body_refused = False
            self._body_limit = anonymous_max
            self._body_waiting: list[bytes] | None = None
            super().gotLength(length)
            if length is None or length <= anonymous_max:
                return
            if length > max_bytes:
                self._refuse(max_bytes)
                return
            session_key = self.received_cookies.get(cookie_name)
            if not session_key:
                self._refuse(anonymous_max)
                return
            # Large body: read none of it until the session is known to be signed in.
            expect = self.requestHeaders.getRawHeaders(b"Expect")
            self.requestHeaders.removeHeader(b"Expect")  # Twisted would answer 100 Continue now
            self._body_waiting = []
            self.channel.transport.pauseProducing()
            checking = threads.deferToThread(
                session_is_authenticated, session_key.decode("latin-1")
            )
            checking.addCallback(self._session_checked, length, bool(expect))
            checking.addErrback(lambda _failure: self._session_checked(False, length, False))

        def _session_checked(self, signed_in: bool, length: int, expect: bool) -> None:
            if self._body_refused or self.channel is None or self.channel.transport is None:
                return
            if not signed_in:
                self._refuse(anonymous_max)
                return
            self._body_limit = length
            waiting, self._body_waiting = self._body_waiting or [], None
            if expect:
                self.channel.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            for data in waiting:
                self._accept_chunk(data)
            if not self._body_refused and self.channel is not None:
                self.channel.transport.resumeProducing()

        def handleContentChunk(self, data: bytes) -> None:
            if self._body_refused:
                return
            if self._body_waiting is not None:
                # Bytes already read before the pause took effect (one socket read at most).
                self._body_waiting.append(data)
                return
            self._accept_chunk(data)

        def _accept_chunk(self, data: bytes) -> None:
            self._body_seen += len(data)
            if self._body_seen > self._body_limit:
                self._refuse(self._body_limit)
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if self._body_refused:
                return
            super().requestReceived(command, path, version)

        def _refuse(self, limit: int) -> None:
            self._body_refused = True
            self._body_waiting = None
            self.requestHeaders.removeHeader(b"Expect")  # no 100 Continue for a refused body
            channel = self.channel
            transport = channel.transport
            body = _PAGE.format(limit=_human(limit)).encode("utf-8")
            head = (
                b"HTTP/1.1 413 Content Too Large\r\n"
                b"Content-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                b"Connection: close\r\n"
                b"X-Content-Type-Options: nosniff\r\n"
                b"Content-Security-Policy: default-src 'none'\r\n\r\n"
            )
            transport.write(head + body)
            logger.warning(
                "body limit: refused %s %s (limit %s bytes)", self.method, self.uri[:200], limit
            )

            # Read and drop whatever else arrives, then close: closing at once would reset the
            # connection under a client still sending, and it would never read the 413.
            def _drop(_data: bytes) -> None:
                return None

            channel.dataReceived = _drop
            channel.rawDataReceived = _drop
            channel.lineReceived = _drop
            transport.resumeProducing()
            reactor.callLater(LINGER_SECONDS, _close, transport)  # type: ignore[arg-type]  # twisted stubs

    return BoundedWebRequest


def _close(transport: Any) -> None:
    if getattr(transport, "connected", False):
        transport.loseConnection()
