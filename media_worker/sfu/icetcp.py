"""ICE-TCP (RFC 6544, framing of RFC 4571) on one TCP port per media worker: the fallback for
sites whose UDP is blocked.

With ``NetworkPolicy.tcp_ports`` set (only together with ``udp_ports``: the connection's
unique ufrag comes from one-port mode), each connection also offers a passive TCP host
candidate on the worker's listening port. A browser connects to it (``tcptype active``) and
sends RFC 4571 frames (a 16-bit length, then a STUN/DTLS/SRTP packet). The first frame on a
new TCP connection must be a STUN binding request whose USERNAME names a connection of this
worker and whose MESSAGE-INTEGRITY checks with its password; the TCP connection is then bound
to that connection's :class:`TcpProtocol`, and every frame of it is fed to aioice as a datagram
from the TCP peer's address. aioice learns that address as a peer-reflexive candidate, checks
it (the check goes back over the same TCP connection) and can nominate it like a UDP pair.
A TCP connection whose first frame is anything else, or that sends nothing valid within
``BIND_TIMEOUT``, is closed and counted (:attr:`TcpMux.counters`).

aioice internals relied on are those of ``udpmux`` (``StunProtocol`` subclassed); aioice itself
never sees a socket here.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any, cast

import aioice.ice
from aioice import stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority

from .udpmux import STUN_COOKIE, authenticated_request

logger = logging.getLogger(__name__)

BIND_TIMEOUT = 10.0  # s a new TCP connection has to send a valid binding request
MAX_UNBOUND = 256  # TCP connections waiting for their first valid request, per address
MAX_BUFFER = 4 * 1024 * 1024  # bytes queued towards one TCP peer before packets are dropped
TCP_LOCAL_PREF = 8191  # below UDP's 65535: UDP wins where both work (RFC 6544 section 4.2)

Address = tuple[str, int]


class TcpProtocol(aioice.ice.StunProtocol):
    """A connection's passive TCP host candidate: aioice's protocol object, whose sends go to
    whichever bound TCP connection has the destination address."""

    def __init__(self, receiver: aioice.ice.Connection, mux: TcpMux) -> None:
        super().__init__(receiver)
        self.mux = mux
        self.links: dict[Address, TcpLink] = {}


class TcpLinkTransport(asyncio.DatagramTransport):
    """What a :class:`TcpProtocol` sees as its transport: ``sendto`` frames the packet onto the
    TCP connection of ``addr``; no raw socket (``DatagramSender`` then uses ``sendto``)."""

    def __init__(self, mux: TcpMux, protocol: TcpProtocol) -> None:
        super().__init__()
        self._mux = mux
        self._protocol = protocol
        self._closing = False
        self.backlog_limit = MAX_BUFFER

    def sendto(self, data: Any, addr: Any = None) -> None:
        link = self._protocol.links.get(addr) if addr is not None else None
        if link is None or self._closing:
            self._mux.counters["send_no_link"] += 1
            return
        link.send(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return (self._mux.address, self._mux.port)
        return default  # no "socket": nothing may write to the stream bypassing the framing

    def get_write_buffer_size(self) -> int:
        return max((link.buffered() for link in self._protocol.links.values()), default=0)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._mux.detach(self._protocol)
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class TcpLink(asyncio.Protocol):
    """One accepted TCP connection: RFC 4571 framing, bound to a protocol by its first frame."""

    def __init__(self, mux: TcpMux) -> None:
        self.mux = mux
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        self.protocol: TcpProtocol | None = None
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        if len(self.mux.unbound) >= MAX_UNBOUND:
            self.mux.counters["refused"] += 1
            self.transport.close()
            return
        self.mux.unbound.add(self)
        self._timer = asyncio.get_running_loop().call_later(BIND_TIMEOUT, self._bind_timeout)

    def _bind_timeout(self) -> None:
        if self.protocol is None:
            self.mux.counters["bind_timeout"] += 1
            self.close()

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        while len(buf) >= 2:
            (length,) = struct.unpack_from("!H", buf)
            if len(buf) < 2 + length:
                return
            frame = bytes(buf[2 : 2 + length])
            del buf[: 2 + length]
            self._frame(frame)
            if self.transport is None or self.transport.is_closing():
                return  # (close() leaves transport set until connection_lost)

    def _frame(self, frame: bytes) -> None:
        protocol = self.protocol
        if protocol is None:
            protocol = self.mux.bind(self, frame)
            if protocol is None:
                self.close()
                return
        protocol.datagram_received(frame, self.peer)

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        if transport.get_write_buffer_size() + len(data) > MAX_BUFFER:
            self.mux.counters["send_dropped"] += 1
            return
        transport.write(struct.pack("!H", len(data)) + data)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
        self.mux.unbound.discard(self)
        if self.protocol is not None and self.protocol.links.get(self.peer) is self:
            del self.protocol.links[self.peer]


class TcpMux:
    """The worker's ICE-TCP listener on one address."""

    def __init__(self, group: TcpGroup, address: str) -> None:
        self.group = group
        self.address = address
        self.port = 0
        self.server: asyncio.Server | None = None
        self.by_ufrag: dict[str, TcpProtocol] = {}
        self.accepts: dict[TcpProtocol, Callable[[str], bool]] = {}
        self.unbound: set[TcpLink] = set()
        self.counters = {
            "connections": 0,
            "bound": 0,
            "not_stun": 0,  # first frame is not a STUN binding request
            "unknown_ufrag": 0,
            "unauthenticated": 0,
            "not_accepted": 0,
            "bind_timeout": 0,
            "refused": 0,  # too many connections waiting for their first request
            "send_no_link": 0,  # a packet for an address with no TCP connection (yet)
            "send_dropped": 0,  # the TCP peer does not read fast enough
        }

    def bind(self, link: TcpLink, frame: bytes) -> TcpProtocol | None:
        """The protocol a new TCP connection belongs to, by its first frame; None = close it."""
        self.counters["connections"] += 1
        if not (len(frame) >= 20 and frame[0] < 4 and frame[4:8] == STUN_COOKIE):
            self.counters["not_stun"] += 1
            return None
        try:
            message = stun.parse_message(frame)
        except ValueError:
            self.counters["not_stun"] += 1
            return None
        username = message.attributes.get("USERNAME")
        if message.message_class != stun.Class.REQUEST or not isinstance(username, str):
            self.counters["not_stun"] += 1
            return None
        protocol = authenticated_request(
            message, link.peer[0], self.by_ufrag, self.accepts, self.counters
        )
        if protocol is None:
            return None
        old = protocol.links.get(link.peer)
        if old is not None and old is not link:
            old.close()
        protocol.links[link.peer] = link
        link.protocol = protocol
        self.unbound.discard(link)
        self.counters["bound"] += 1
        return protocol

    def attach(self, protocol: TcpProtocol, accepts: Callable[[str], bool]) -> None:
        ufrag = protocol.receiver.local_username
        other = self.by_ufrag.get(ufrag)
        if other is not None and other is not protocol:
            raise RuntimeError(f"ICE ufrag {ufrag!r} is already in use on this worker")
        self.by_ufrag[ufrag] = protocol
        self.accepts[protocol] = accepts
        protocol.connection_made(TcpLinkTransport(self, protocol))

    def detach(self, protocol: TcpProtocol) -> None:
        ufrag = protocol.receiver.local_username
        if self.by_ufrag.get(ufrag) is protocol:
            del self.by_ufrag[ufrag]
        for link in list(protocol.links.values()):
            link.close()
        protocol.links.clear()
        self.accepts.pop(protocol, None)
        if not self.accepts:
            self.group.mux_idle(self)


class TcpGroup:
    """The worker's ICE-TCP listeners on one event loop: one per address, all on one port."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
        self.loop = loop
        self.ports = ports
        self.muxes: dict[str, TcpMux] = {}
        self.port: int | None = None
        self._lock = asyncio.Lock()

    async def mux(self, address: str) -> TcpMux:
        async with self._lock:
            found = self.muxes.get(address)
            if found is not None:
                return found
            candidates = (
                [self.port]
                if self.port is not None
                else list(range(self.ports[0], self.ports[1] + 1))
            )
            error: OSError | None = None
            for port in candidates:
                mux = TcpMux(self, address)

                def link(mux: TcpMux = mux) -> TcpLink:
                    return TcpLink(mux)

                try:
                    mux.server = await self.loop.create_server(
                        link, host=address, port=port, reuse_address=True
                    )
                except OSError as exc:
                    error = exc
                    continue
                mux.port = port
                self.muxes[address] = mux
                self.port = port
                logger.info("ICE-TCP: listening on tcp %s:%s", address, port)
                return mux
            raise OSError(
                f"ICE-TCP: cannot listen on TCP {address} port(s) "
                f"{'-'.join(str(p) for p in sorted(set(candidates)))}: {error}"
            )

    def mux_idle(self, mux: TcpMux) -> None:
        if self.muxes.get(mux.address) is mux:
            del self.muxes[mux.address]
            for name, value in mux.counters.items():
                _closed_totals[name] = _closed_totals.get(name, 0) + value
        if mux.server is not None:
            mux.server.close()
        for link in list(mux.unbound):
            link.close()
        if not self.muxes:
            self.port = None
            if _groups.get((self.loop, self.ports)) is self:
                del _groups[(self.loop, self.ports)]


_groups: dict[tuple[asyncio.AbstractEventLoop, tuple[int, int]], TcpGroup] = {}
_closed_totals: dict[str, int] = {}  # counters of the listeners closed so far in this process


def group_for(ports: tuple[int, int]) -> TcpGroup:
    loop = asyncio.get_running_loop()
    group = _groups.get((loop, ports))
    if group is None:
        group = _groups[(loop, ports)] = TcpGroup(loop, ports)
    return group


def open_muxes() -> list[TcpMux]:
    """Every ICE-TCP listener open in this process (for metrics and tests)."""
    return [mux for group in _groups.values() for mux in group.muxes.values()]


def counters() -> dict[str, int]:
    """This process's ICE-TCP counters since it started (open and closed listeners summed)."""
    total = dict(_closed_totals)
    for mux in open_muxes():
        for name, value in mux.counters.items():
            total[name] = total.get(name, 0) + value
    return total


async def gather(
    connection: aioice.ice.Connection,
    component: int,
    addresses: list[str],
    ports: tuple[int, int],
    accepts: Callable[[str], bool],
) -> list[Candidate]:
    """One passive TCP host candidate per address on the worker's ICE-TCP port."""
    group = group_for(ports)
    candidates: list[Candidate] = []
    for address in addresses:
        mux = await group.mux(address)
        protocol = TcpProtocol(connection, mux)
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "tcp", address),
            component=component,
            transport="tcp",
            priority=candidate_priority(component, "host", TCP_LOCAL_PREF),
            host=address,
            port=mux.port,
            type="host",
            tcptype="passive",
        )
        mux.attach(protocol, accepts)
        connection._protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    return candidates
