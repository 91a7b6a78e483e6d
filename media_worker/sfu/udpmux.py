"""One UDP port per media worker: every peer's ICE on one shared socket per ICE address.

aioice (0.13.0) binds one ephemeral UDP socket per connection and address, so a firewall in
front of a media host would have to open every port. With ``NetworkPolicy.udp_ports`` set, a
connection's host candidates are instead :class:`MuxedProtocol` objects attached to the
worker's :class:`UdpMux` for that address -- one ``DatagramProtocol`` on one configured port --
which demultiplexes every datagram it receives:

- a STUN binding request by the local ufrag in its USERNAME (``local:remote``); each
  connection gets a long random ufrag, unique among the worker's connections. Only a request
  whose MESSAGE-INTEGRITY checks with that connection's password is passed on, and its source
  address is then *learnt* for that connection;
- a STUN response by its transaction id (registered when the connection sent the request);
- everything else (DTLS, SRTP, SRTCP, STUN indications) by the source address learnt above.

What matches nothing is dropped and counted (:attr:`UdpMux.counters`). Sends go out through
the shared socket. The socket is opened with the first peer on this event loop and closed
with the last one (a worker between rooms holds no port).

aioice internals relied on (pinned aioice==0.13.0; ``check_aioice()`` and the tests fail
loudly if they move): ``StunProtocol`` (subclassed: ``transport``, ``local_candidate``,
``datagram_received``, ``request``, ``connection_lost``), ``Connection._local_username``,
``._protocols``, ``._components``, ``.local_password``, and the module's
``server_reflexive_candidate`` / ``relayed_candidate``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import aioice
import aioice.ice
from aioice import stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.utils import random_string

logger = logging.getLogger(__name__)

AIOICE_VERSION = "0.13.0"
UFRAG_LENGTH = 16  # ice-chars; 62**16 values, and checked for uniqueness anyway
MAX_ADDRESSES_PER_CONNECTION = 8  # learnt remote addresses kept per connection (newest win)
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024  # SO_RCVBUF / SO_SNDBUF asked for (capped by the kernel)
BACKLOG_BYTES = 4 * 1024 * 1024  # what DatagramSender may queue on the shared socket
STUN_TURN_TIMEOUT = 5.0  # s to get server-reflexive / relayed candidates (aioice's default)
STUN_COOKIE = b"\x21\x12\xa4\x42"  # RFC 5389's magic cookie, bytes 4-7 of every STUN message

Address = tuple[str, int]
P = TypeVar("P", bound=aioice.ice.StunProtocol)


def authenticated_request(
    message: stun.Message,
    host: str,
    by_ufrag: Mapping[str, P],
    accepts: Mapping[P, Callable[[str], bool]],
    counters: dict[str, int],
) -> P | None:
    """The attached protocol a binding request from ``host`` is for: its USERNAME names the
    protocol's connection by local ufrag, the connection's policy accepts ``host`` and the
    MESSAGE-INTEGRITY checks with the connection's password. None (counted as
    ``unknown_ufrag``, ``not_accepted`` or ``unauthenticated``) otherwise. Shared by the UDP
    mux and the ICE-TCP listener (``icetcp.TcpMux.bind``)."""
    username = message.attributes.get("USERNAME")
    protocol = by_ufrag.get(username.partition(":")[0]) if isinstance(username, str) else None
    if protocol is None:
        counters["unknown_ufrag"] += 1
        return None
    if not accepts[protocol](host):
        counters["not_accepted"] += 1
        return None
    password = protocol.receiver.local_password.encode("utf8")
    if "MESSAGE-INTEGRITY" not in message.attributes or not (
        message.check_message_integrity(password)
    ):
        counters["unauthenticated"] += 1
        return None
    return protocol


def check_aioice() -> None:
    """Raise if aioice is not the version whose internals this module was written against."""
    version = getattr(aioice, "__version__", None)
    if version != AIOICE_VERSION:
        raise RuntimeError(
            f"one-port mode (udpmux) was written against aioice {AIOICE_VERSION}, found {version}"
        )
    probe = aioice.ice.Connection(ice_controlling=False)
    for name in (
        "_local_username",
        "_protocols",
        "_components",
        "_transport_policy",
        "local_password",
        "stun_server",
        "turn_server",
    ):
        if not hasattr(probe, name):
            raise RuntimeError(f"aioice changed: Connection.{name} is missing")
    for name in ("server_reflexive_candidate", "relayed_candidate", "StunProtocol"):
        if not hasattr(aioice.ice, name):
            raise RuntimeError(f"aioice changed: aioice.ice.{name} is missing")
    for name in ("datagram_received", "request", "connection_lost", "connection_made"):
        if not hasattr(aioice.ice.StunProtocol, name):
            raise RuntimeError(f"aioice changed: StunProtocol.{name} is missing")


class MuxTransport(asyncio.DatagramTransport):
    """What one :class:`MuxedProtocol` sees as its transport: the shared socket's, minus
    closing it (closing detaches the protocol from the mux)."""

    def __init__(self, mux: UdpMux, protocol: MuxedProtocol) -> None:
        super().__init__()
        self._mux = mux
        self._protocol = protocol
        self._closing = False
        self.backlog_limit = BACKLOG_BYTES  # read by transport.DatagramSender

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closing:
            return
        transport = self._mux.transport
        if transport is not None:
            transport.sendto(data, addr)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        transport = self._mux.transport
        return transport.get_extra_info(name, default) if transport is not None else default

    def get_write_buffer_size(self) -> int:
        transport = self._mux.transport
        # (asyncio's datagram transports have it; the DatagramTransport type does not say so)
        return cast(Any, transport).get_write_buffer_size() if transport is not None else 0

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


class MuxedProtocol(aioice.ice.StunProtocol):
    """An aioice host-candidate protocol whose socket is the worker's shared one."""

    def __init__(self, receiver: aioice.ice.Connection, mux: UdpMux) -> None:
        super().__init__(receiver)
        self.mux = mux
        self.remote_addresses: OrderedDict[Address, None] = OrderedDict()

    async def request(
        self,
        request: stun.Message,
        addr: Address,
        integrity_key: bytes | None = None,
        retransmissions: int | None = None,
    ) -> tuple[stun.Message, Address]:
        # Responses carry no ufrag: the mux finds their protocol by transaction id.
        self.mux.transactions[request.transaction_id] = self
        try:
            return await super().request(request, addr, integrity_key, retransmissions)
        finally:
            self.mux.transactions.pop(request.transaction_id, None)


class UdpMux(asyncio.DatagramProtocol):
    """The shared socket of one ICE address, and the tables that route its datagrams."""

    def __init__(self, group: MuxGroup, address: str) -> None:
        self.group = group
        self.address = address
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.by_ufrag: dict[str, MuxedProtocol] = {}
        self.by_address: dict[Address, MuxedProtocol] = {}
        self.transactions: dict[bytes, MuxedProtocol] = {}
        self.accepts: dict[MuxedProtocol, Callable[[str], bool]] = {}
        self.counters = {
            "datagrams": 0,
            "unknown_address": 0,  # not STUN, from no address learnt
            "unknown_ufrag": 0,  # binding request for no connection of this worker
            "unauthenticated": 0,  # binding request whose integrity does not check
            "unknown_transaction": 0,  # STUN response to no request of ours
            "malformed": 0,  # looked like STUN, did not parse
            "not_accepted": 0,  # from a network the connection's policy refuses
        }

    # --- lifetime ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def attach(self, protocol: MuxedProtocol, accepts: Callable[[str], bool]) -> None:
        ufrag = protocol.receiver.local_username
        other = self.by_ufrag.get(ufrag)
        if other is not None and other is not protocol:
            raise RuntimeError(f"ICE ufrag {ufrag!r} is already in use on this worker")
        self.by_ufrag[ufrag] = protocol
        self.accepts[protocol] = accepts
        protocol.connection_made(MuxTransport(self, protocol))

    def detach(self, protocol: MuxedProtocol) -> None:
        ufrag = protocol.receiver.local_username
        if self.by_ufrag.get(ufrag) is protocol:
            del self.by_ufrag[ufrag]
        for addr in protocol.remote_addresses:
            if self.by_address.get(addr) is protocol:
                del self.by_address[addr]
        protocol.remote_addresses.clear()
        for tid in [t for t, p in self.transactions.items() if p is protocol]:
            del self.transactions[tid]
        self.accepts.pop(protocol, None)
        if not self.accepts:
            self.group.mux_idle(self)

    def _learn(self, protocol: MuxedProtocol, addr: Address) -> None:
        known = protocol.remote_addresses
        if addr in known:
            known.move_to_end(addr)
        else:
            known[addr] = None
            while len(known) > MAX_ADDRESSES_PER_CONNECTION:
                old, _ = known.popitem(last=False)
                if self.by_address.get(old) is protocol:
                    del self.by_address[old]
        previous = self.by_address.get(addr)
        if previous is not None and previous is not protocol:
            previous.remote_addresses.pop(addr, None)  # that address moved to another peer
        self.by_address[addr] = protocol

    # --- receiving --------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Any) -> None:
        addr = (addr[0], addr[1])
        self.counters["datagrams"] += 1
        if len(data) >= 20 and data[0] < 4 and data[4:8] == STUN_COOKIE:  # RFC 7983: STUN
            self._stun_received(data, addr)
            return
        protocol = self.by_address.get(addr)
        if protocol is None:
            self.counters["unknown_address"] += 1
            return
        protocol.datagram_received(data, addr)

    def _stun_received(self, data: bytes, addr: Address) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            self.counters["malformed"] += 1
            return
        if message.message_class == stun.Class.REQUEST:
            protocol = authenticated_request(
                message, addr[0], self.by_ufrag, self.accepts, self.counters
            )
            if protocol is None:
                return
            self._learn(protocol, addr)
        elif message.message_class in (stun.Class.RESPONSE, stun.Class.ERROR):
            found = self.transactions.get(message.transaction_id)
            if found is None:
                self.counters["unknown_transaction"] += 1
                return
            protocol = found
        else:  # an indication: only from an address we know
            known = self.by_address.get(addr)
            if known is None:
                self.counters["unknown_address"] += 1
                return
            protocol = known
        protocol.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("udpmux %s:%s: %r", self.address, self.port, exc)


class MuxGroup:
    """The worker's muxes on one event loop: one per ICE address, all on one port."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
        self.loop = loop
        self.ports = ports
        self.muxes: dict[str, UdpMux] = {}
        self.port: int | None = None
        self._lock = asyncio.Lock()

    def in_use(self, ufrag: str) -> bool:
        return any(ufrag in mux.by_ufrag for mux in self.muxes.values())

    async def mux(self, address: str) -> UdpMux:
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
                try:
                    mux = await self._bind(address, port)
                except OSError as exc:
                    error = exc
                    continue
                self.muxes[address] = mux
                self.port = port
                return mux
            raise OSError(
                f"one-port mode: cannot bind UDP {address} on port(s) "
                f"{'-'.join(str(p) for p in sorted(set(candidates)))}: {error}"
            )

    async def _bind(self, address: str, port: int) -> UdpMux:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((address, port))
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
                except OSError:
                    pass
        except BaseException:
            sock.close()
            raise
        _, mux = await self.loop.create_datagram_endpoint(lambda: UdpMux(self, address), sock=sock)
        logger.info(
            "one-port mode: media on udp %s:%s (SO_RCVBUF %d bytes)",
            address,
            port,
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        )
        return mux

    def mux_idle(self, mux: UdpMux) -> None:
        if self.muxes.get(mux.address) is mux:
            del self.muxes[mux.address]
            for name, value in mux.counters.items():
                _closed_totals[name] = _closed_totals.get(name, 0) + value
        if mux.transport is not None:
            mux.transport.close()
        if not self.muxes:
            self.port = None
            if _groups.get((self.loop, self.ports)) is self:
                del _groups[(self.loop, self.ports)]


_groups: dict[tuple[asyncio.AbstractEventLoop, tuple[int, int]], MuxGroup] = {}
_closed_totals: dict[str, int] = {}  # counters of the muxes closed so far in this process


def group_for(ports: tuple[int, int]) -> MuxGroup:
    """The worker's mux group for this port range on the running loop."""
    loop = asyncio.get_running_loop()
    group = _groups.get((loop, ports))
    if group is None:
        group = _groups[(loop, ports)] = MuxGroup(loop, ports)
    return group


def open_muxes() -> list[UdpMux]:
    """Every mux open in this process (for metrics and tests)."""
    return [mux for group in _groups.values() for mux in group.muxes.values()]


def counters() -> dict[str, int]:
    """This process's one-port counters since it started (open and closed muxes, summed):
    datagrams received and those dropped, by reason (see ``UdpMux.counters``)."""
    total = dict(_closed_totals)
    for mux in open_muxes():
        for name, value in mux.counters.items():
            total[name] = total.get(name, 0) + value
    return total


_checked = False


def prepare(connection: aioice.ice.Connection, ports: tuple[int, int]) -> None:
    """Give a connection a ufrag no other connection of this worker has (before the answer)."""
    global _checked
    if not _checked:
        check_aioice()
        _checked = True
    group = group_for(ports)
    for _ in range(8):
        ufrag = random_string(UFRAG_LENGTH)
        if not group.in_use(ufrag):
            connection._local_username = ufrag
            return
    raise RuntimeError("could not find a free ICE ufrag")  # pragma: no cover


async def gather(
    connection: aioice.ice.Connection,
    component: int,
    addresses: list[str],
    ports: tuple[int, int],
    accepts: Callable[[str], bool],
) -> list[Candidate]:
    """``Connection.get_component_candidates`` on the shared sockets: one host candidate per
    address on the worker's port, plus server-reflexive (through the shared socket) and
    relayed candidates (a TURN client socket of its own) when STUN/TURN servers are set."""
    if connection._components != {1}:
        raise RuntimeError("one-port mode needs a single ICE component (rtcp-mux)")
    group = group_for(ports)
    candidates: list[Candidate] = []
    protocols: list[MuxedProtocol] = []
    for address in addresses:
        mux = await group.mux(address)
        protocol = MuxedProtocol(connection, mux)
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", address),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=address,
            port=mux.port,
            type="host",
        )
        mux.attach(protocol, accepts)
        # the connection's once attached: if a later address fails to bind, the failed join's
        # close detaches it (and closes a socket left with no peer)
        connection._protocols.append(protocol)
        protocols.append(protocol)
        candidates.append(protocol.local_candidate)

    tasks: list[asyncio.Task[Any]] = []
    if connection.stun_server:
        for protocol in protocols:
            if ipaddress.ip_address(protocol.local_candidate.host).version == 4:
                tasks.append(
                    asyncio.create_task(
                        aioice.ice.server_reflexive_candidate(protocol, connection.stun_server)
                    )
                )
    if connection.turn_server:
        tasks.append(
            asyncio.create_task(
                aioice.ice.relayed_candidate(
                    component=component,
                    hide_related_address=(
                        connection._transport_policy == aioice.ice.TransportPolicy.RELAY
                    ),
                    protocol_factory=lambda: aioice.ice.StunProtocol(connection),
                    turn_server=connection.turn_server,
                    turn_username=connection.turn_username,
                    turn_password=connection.turn_password,
                    turn_ssl=connection.turn_ssl,
                    turn_transport=connection.turn_transport,
                )
            )
        )
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=STUN_TURN_TIMEOUT)
        for task in done:
            if task.exception() is None:
                candidate, relay_protocol = task.result()
                candidates.append(candidate)
                if relay_protocol is not None:
                    connection._protocols.append(relay_protocol)
        for task in pending:
            task.cancel()
    return candidates
