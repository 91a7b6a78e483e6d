"""A media worker's own HTTP endpoint: ``GET /metrics`` (Prometheus text, :mod:`media_worker.metrics`)
and ``GET /health`` (200 ``ok`` while the runner heartbeats, 503 otherwise).

A tiny server on the runner's asyncio loop (``asyncio.start_server``) rather than
``prometheus_client``: the text is already rendered by :func:`media_worker.metrics.render` from
the runner's rooms, and prometheus_client's server would run on a thread of its own reading those
rooms across threads; this one reads them on the loop that owns them, costs no dependency, and
answers one request per connection (HTTP/1.0 style) with bounded reads and timeouts, which is
all a scraper needs. Bind it to loopback or the internal network only (no authentication).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

READ_TIMEOUT = 5.0
MAX_REQUEST = 8192
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class HealthServer:
    """Serves ``metrics()`` and ``healthy()`` of its owner on ``address``."""

    def __init__(
        self, address: str, *, metrics: Callable[[], str], healthy: Callable[[], bool]
    ) -> None:
        self.address = address
        self.metrics = metrics
        self.healthy = healthy
        self.server: asyncio.Server | None = None
        self.bound = ""  # host:port actually bound (port 0 picks one)

    async def start(self) -> str:
        host, port = split_address(self.address)
        self.server = await asyncio.start_server(self._serve, host, port)
        sock = self.server.sockets[0].getsockname()
        self.bound = f"[{sock[0]}]:{sock[1]}" if ":" in sock[0] else f"{sock[0]}:{sock[1]}"
        return self.bound

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def _route(self, method: str, path: str) -> tuple[int, str, str]:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", "method not allowed\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE, self.metrics()
        if path in ("/health", "/healthz"):
            ok = self.healthy()
            return (200 if ok else 503), "text/plain; charset=utf-8", "ok\n" if ok else "stale\n"
        return 404, "text/plain; charset=utf-8", "not found\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            if len(head) > MAX_REQUEST:
                raise ValueError("request too large")
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            try:
                status, kind, body = self._route(method, path)
            except Exception:
                logger.exception("health endpoint: %s failed", path)
                status, kind, body = 500, "text/plain; charset=utf-8", "error\n"
            data = body.encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Unavailable"}
            writer.write(
                (
                    f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\n"
                    f"Content-Type: {kind}\r\nContent-Length: {len(data)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
            )
            if method != "HEAD":
                writer.write(data)
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            ConnectionError,
        ):
            pass  # a scraper that went away, was too slow or sent garbage: nothing to answer
        finally:
            writer.close()
