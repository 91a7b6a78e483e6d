"""Network policy: which addresses the SFU offers and which remote candidates it accepts.

A plain frozen dataclass so the Django settings (or a test) can build one from
configuration and hand it to :class:`~media_worker.sfu.room.Room` without the SFU importing
Django. The defaults suit a closed network: the host's own non-loopback addresses, no
public STUN server, every remote network accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

logger = logging.getLogger(__name__)

# Bound at import: the default policy uses aioice's real discovery even if a process (a
# test run) patches ``aioice.ice.get_host_addresses`` for its own clients.
_discover_host_addresses = aioice.ice.get_host_addresses


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server, as in ``RTCIceServer`` (``urls`` like ``turn:host:3478``)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class NetworkPolicy:
    """Where the SFU's media may flow.

    - ``local_addresses``: addresses offered as host candidates; ``None`` means every
      non-loopback address of this host (aioice's discovery).
    - ``ice_servers``: optional STUN/TURN servers; none by default, so nothing is sent to a
      public server.
    - ``accepted_networks``: CIDR blocks; remote candidates (from the SDP and
      peer-reflexive ones learnt from connectivity checks) outside them are ignored.
    - ``accept_mdns``: accept ``*.local`` candidates; off, because they cannot be resolved
      on a server and browsers are told not to use them (MEDIA_NOTES).
    - ``udp_ports``: ``(first, last)``: one-port mode -- every connection of this worker
      shares one UDP socket per address, on the first port of the range free when the
      worker's first peer gathers (``udpmux.py``); ``None``: one ephemeral port per
      connection (aioice's default).
    - ``tcp_ports``: ``(first, last)``: also a passive ICE-TCP candidate on one listening
      port per address (``icetcp.py``), the fallback where UDP is blocked; needs ``udp_ports``.
    """

    local_addresses: tuple[str, ...] | None = None
    ice_servers: tuple[IceServer, ...] = ()
    accepted_networks: tuple[str, ...] = ("0.0.0.0/0", "::/0")
    accept_mdns: bool = False
    use_ipv6: bool = False
    udp_ports: tuple[int, int] | None = None
    tcp_ports: tuple[int, int] | None = None
    _networks: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            nets = tuple(ipaddress.ip_network(n, strict=False) for n in self.accepted_networks)
            for a in self.local_addresses or ():
                ipaddress.ip_address(a)
        except ValueError as exc:
            raise ValueError(f"invalid network policy: {exc}") from exc
        for name in ("udp_ports", "tcp_ports"):
            ports = getattr(self, name)
            if ports is not None and not 1 <= ports[0] <= ports[1] <= 65535:
                raise ValueError(f"invalid network policy: {name} {ports!r}")
        if self.tcp_ports is not None and self.udp_ports is None:
            raise ValueError("invalid network policy: tcp_ports (ICE-TCP) needs udp_ports")
        object.__setattr__(self, "_networks", nets)

    @classmethod
    def loopback(cls) -> NetworkPolicy:
        """Tests and benchmarks: offer and accept 127.0.0.1 only."""
        return cls(local_addresses=("127.0.0.1",), accepted_networks=("127.0.0.0/8",))

    def host_addresses(self) -> list[str]:
        if self.local_addresses is not None:
            return list(self.local_addresses)
        return _discover_host_addresses(use_ipv4=True, use_ipv6=self.use_ipv6)

    def accepts(self, host: str) -> bool:
        """Whether a remote candidate address may be used."""
        if host.endswith(".local"):
            return self.accept_mdns
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self._networks)

    def rtc_configuration(self) -> RTCConfiguration:
        # iceServers=[] matters: aiortc's default configuration uses a public STUN server.
        # max-bundle: with aiortc's default "balanced" policy a second audio transceiver
        # shares the first audio transceiver's transport and is never moved onto the
        # BUNDLE transport, so it stays unconnected (aiortc 1.16.0).
        return RTCConfiguration(
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            iceServers=[
                RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in self.ice_servers
            ],
        )

    def apply_to_connection(self, connection: aioice.ice.Connection) -> None:
        """Make one aioice connection gather and accept addresses by this policy.

        Instance-level overrides, so other connections in the process (a test's clients,
        another room with another policy) are untouched.
        """
        policy = self
        ports = self.udp_ports
        tcp_ports = self.tcp_ports
        if ports is not None:
            from . import icetcp, udpmux

            udpmux.prepare(connection, ports)

        async def gather_candidates() -> None:
            if connection._local_candidates_start:
                return
            connection._local_candidates_start = True
            addresses = policy.host_addresses()
            if ports is not None:
                gathering = [
                    udpmux.gather(connection, c, addresses, ports, policy.accepts)
                    for c in sorted(connection._components)
                ]
            else:
                gathering = [
                    connection.get_component_candidates(component=c, addresses=addresses)
                    for c in sorted(connection._components)
                ]
            if tcp_ports is not None:
                gathering += [
                    icetcp.gather(connection, c, addresses, tcp_ports, policy.accepts)
                    for c in sorted(connection._components)
                ]
            results = await asyncio.gather(*gathering)
            for candidates in results:
                connection._local_candidates += candidates
            connection._local_candidates_end = True

        original_request_received = connection.request_received

        def request_received(message: Any, addr: tuple[str, int], protocol: Any) -> None:
            # A connectivity check from an unaccepted address would become a
            # peer-reflexive candidate: answer nothing and let it time out.
            if not policy.accepts(addr[0]):
                logger.info("ignoring ICE check from %s (network policy)", addr[0])
                return
            original_request_received(message, addr, protocol)

        connection.gather_candidates = gather_candidates  # type: ignore[method-assign]
        connection.request_received = request_received  # type: ignore[method-assign]
