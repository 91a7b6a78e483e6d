"""Low-level helpers around aiortc's transports: fast sends, receive times, the hook check.

These touch private attributes of aiortc 1.16.0, aioice 0.13.0 and pylibsrtp 1.0.0 (pinned in
requirements); ``check_aiortc`` fails a Room at construction if the hooks are gone, and the
media tests exercise every one of them.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc.rtcdtlstransport import RTCDtlsTransport


def check_aiortc() -> None:
    """Raise if the private aiortc/aioice attributes this module relies on are gone."""
    import aioice.ice

    for owner, name in (
        (RTCDtlsTransport, "_handle_rtp_data"),
        (RTCDtlsTransport, "_handle_rtcp_data"),
        (RTCDtlsTransport, "_send_rtp"),
        (aioice.ice.Connection, "get_component_candidates"),
        (aioice.ice.Connection, "request_received"),
    ):
        if not hasattr(owner, name):
            raise RuntimeError(f"aiortc/aioice changed: {owner.__name__}.{name} is missing")


MAX_BACKLOG_BYTES = 256 * 1024
"""Most a subscriber's socket may queue in the event loop once the kernel refuses more."""


class DatagramSender:
    """``sendto(data, addr)`` on a datagram transport's socket, with a bounded backlog.

    asyncio's ``transport.sendto`` re-checks its arguments on every call; the raw socket
    skips that. When the kernel's send buffer is full (``BlockingIOError``) packets go to the
    transport, which queues them in order and writes them when the socket drains; until that
    backlog is empty every packet takes the same queue, so nothing is reordered. The queue is
    bounded by ``limit`` bytes: a peer that cannot keep up loses packets (counted in
    ``dropped``) instead of growing the process's memory without end.
    """

    def __init__(self, transport: Any, limit: int = MAX_BACKLOG_BYTES) -> None:
        self.transport = transport
        self.limit = limit
        self.dropped = 0
        self._backlog = False
        sock = transport.get_extra_info("socket")
        raw = getattr(sock, "_sock", None)  # asyncio's TransportSocket wraps the real one
        self._raw_sendto = getattr(raw, "sendto", None)

    def __call__(self, data: Any, addr: Any) -> None:
        if self._backlog or self._raw_sendto is None:
            queued = self.transport.get_write_buffer_size()
            if queued or self._raw_sendto is None:
                if queued + len(data) > self.limit:
                    self.dropped += 1
                    return
                self.transport.sendto(bytes(data), addr)
                return
            self._backlog = False
        try:
            self._raw_sendto(data, addr)
        except BlockingIOError:
            self._backlog = True
            self.transport.sendto(bytes(data), addr)


def socket_sender(transport: Any) -> DatagramSender:
    """The fast, bounded ``sendto`` for one ICE pair's transport (see :class:`DatagramSender`).

    A one-port mode transport (``udpmux.MuxTransport``) shares its socket, and so its backlog,
    with every peer of the worker: it names a larger ``backlog_limit``."""
    return DatagramSender(transport, getattr(transport, "backlog_limit", MAX_BACKLOG_BYTES))


def srtp_sender(
    session: Any, sendto: Callable[[Any, Any], None], addr: Any
) -> Callable[[bytes], None]:
    """``sendto(session.protect(data), addr)`` without pylibsrtp's per-call Python wrapper.

    Calls libsrtp through the session's own cffi buffer (what ``Session.protect`` does,
    minus its argument checks and per-call allocation) and sends a view of that buffer.
    Falls back to the public API if pylibsrtp's internals are not where 1.0.0 has them.
    """
    try:
        from pylibsrtp._binding import ffi, lib

        srtp = session._srtp[0]
        cdata = session._cdata
        buf = session._buffer
        view = memoryview(buf)
        limit = len(cdata) - 144  # SRTP_MAX_TRAILER_LEN
        protect = lib.srtp_protect
    except (ImportError, AttributeError, TypeError):
        public = session.protect
        return lambda data: sendto(public(data), addr)
    length = ffi.new("int *")

    def send(data: bytes) -> None:
        n = len(data)
        if n > limit:
            raise ValueError("packet is too long")
        length[0] = n
        buf[0:n] = data
        if protect(srtp, cdata, length):
            raise RuntimeError("srtp_protect failed")
        sendto(view[: length[0]], addr)

    return send


class ArrivalClock:
    """Kernel receive timestamps for one ICE connection's datagrams, in queue order.

    The REMB estimator needs each packet's arrival time. Stamped when the SFU gets to the
    packet, that time includes the loop's own forwarding backlog, which the estimator reads
    as network congestion (MEDIA_NOTES: ~4 -> ~1 Mbit/s at 200 subscribers). Linux keeps
    the time each datagram reached the socket (``SIOCGSTAMP``, last datagram read); this
    records it as a delay per queued datagram, and ``delay`` is that of the datagram the
    transport consumed last. Where the ioctl is unavailable the delay is 0.
    """

    SIOCGSTAMP = 0x8906

    def __init__(self) -> None:
        self._delays: deque[float] = deque(maxlen=4096)
        self._pending = 0.0
        self.delay = 0.0
        self.enabled = sys.platform.startswith("linux")

    def attach(self, connection: Any, ice_transport: Any) -> None:
        if not self.enabled:
            return
        for protocol in list(connection._protocols):
            self._wrap_protocol(protocol)
        original_data_received = connection.data_received

        def data_received(data: bytes, component: int) -> None:
            self._delays.append(self._pending)
            self._pending = 0.0
            original_data_received(data, component)

        original_recv = ice_transport._recv

        async def recv() -> bytes:
            data = await original_recv()
            self.delay = self._delays.popleft() if self._delays else 0.0
            return data

        connection.data_received = data_received
        ice_transport._recv = recv

    def _wrap_protocol(self, protocol: Any) -> None:
        try:
            fd = protocol.transport.get_extra_info("socket").fileno()
        except (AttributeError, OSError):
            return
        original = protocol.datagram_received
        ioctl = fcntl.ioctl
        request = self.SIOCGSTAMP
        zero = bytes(16)

        def datagram_received(data: bytes, addr: Any) -> None:
            try:
                sec, usec = _unpack_timeval(ioctl(fd, request, zero))
                delay = time.time() - (sec + usec / 1e6)
                self._pending = delay if 0.0 <= delay < 1.0 else 0.0
            except OSError:
                self._pending = 0.0
            original(data, addr)

        protocol.datagram_received = datagram_received


_unpack_timeval = struct.Struct("@qq").unpack


class Pacer:
    """Yields to the event loop when forwarding has held it for longer than ``budget``.

    The receive task of a peer handles queued datagrams back to back without suspending,
    so a key frame burst to many subscribers would hold the loop for its whole length.
    ``begin``/``end`` bracket each packet: a run of packets handled with less than ``gap``
    between them is one busy stretch, and after ``budget`` seconds of it ``end`` yields once
    (``asyncio.sleep(0)``) so the receive path, RTCP and other rooms get to run.
    """

    def __init__(self, budget: float = 0.004, gap: float = 0.0005) -> None:
        self.budget = budget
        self.gap = gap
        self._run_start = 0.0
        self._last_end = 0.0
        self.yields = 0

    def begin(self) -> None:
        now = time.perf_counter()
        if now - self._last_end > self.gap:
            self._run_start = now

    async def end(self) -> None:
        now = time.perf_counter()
        self._last_end = now
        if now - self._run_start >= self.budget:
            self.yields += 1
            await asyncio.sleep(0)
            self._run_start = self._last_end = time.perf_counter()
