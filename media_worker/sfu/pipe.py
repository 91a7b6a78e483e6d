"""Cascading: one conference's rooms on several media workers, joined worker to worker.

A conference too large for one process is hosted by a :class:`~.room.Room` on each of several
media workers; each site's peer lives on one of them. Two rooms of the same conference are
joined by one :class:`RoomPipe` per pair of workers: plain RTP/RTCP over one UDP socket,
encrypted and authenticated with SRTP (AEAD AES-128-GCM) under a per-room key, no ICE and no
DTLS (both ends are ours; the control plane hands them the key and each other's address).

What crosses, and only once: a local publisher stream crosses when a slot on the other side
points at it, whatever the number of subscribers there (the origin puts one sink in the
stream's ``slots``, fed where the egress slots are fed). On the other side it is a remote
source (:class:`RemoteParticipant`) that the room's slots point at like a local publisher.
What travels back: the remote side's key-frame requests (PLI) into the origin stream's
key-frame manager, its NACKs (answered from the origin's history), the streams and simulcast
layers it wants. Control messages are RTCP APP packets (name ``GBPI``, JSON), protected like
the media, repeated periodically so a lost one heals:

- ``INVENTORY`` (origin -> remote, every 0.5 s and on change): the pipe SSRCs on offer and
  whether each is flowing at the origin; the remote asks ``DESCRIBE`` for those it does not
  know and drops those no longer listed;
- ``ANNOUNCE`` (origin -> remote, for a new stream and for each ``DESCRIBE``): owner, role,
  codecs, header extensions, simulcast layer;
- ``WANT`` (remote -> origin, on change and every second): the pipe SSRCs its slots point at,
  and per simulcast publisher the layers it watches (the origin keeps them unpaused);
- ``DECISIONS`` (from the end that ``leads``, on change and every second): the room's slot
  decisions (``Room.decisions``), versioned, applied by the other room -- made once, by the
  room host, and the same on every worker.

The wire (keys, sessions, message checks) is ``pipe_wire.py``; what crosses (a local stream's
sink, a remote participant) is ``pipe_sources.py``. See docs/sfu.md, "Cascading".
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pylibsrtp

from . import rtp
from .counters import RoomCounters
from .ingress import PublisherStream
from .keyframes import KeyframeRequester
from .pipe_sources import Export, RemoteParticipant
from .pipe_wire import (
    ANNOUNCE,
    APP_NAME,
    DECISIONS,
    DESCRIBE,
    INVENTORY,
    INVENTORY_PART,
    KEY_LENGTH,
    MAX_DESCRIBE,
    MAX_PARTS,
    MAX_STREAMS,
    PROFILE,
    RTCP_APP,
    WANT,
    PipeError,
    app_packet,
    check,
    check_decisions,
    direction_key,
    parse_description,
    pipe_key,
    session,
    ssrc_of,
)
from .transport import DatagramSender, srtp_sender

if TYPE_CHECKING:
    from .room import Room

__all__ = [
    "KEY_LENGTH",
    "PROFILE",
    "PipeError",
    "RemoteParticipant",
    "RoomPipe",
    "pipe_key",
]

logger = logging.getLogger(__name__)

TICK = 0.25  # s between periodic checks
INVENTORY_EVERY = 2  # ticks (0.5 s)
WANT_EVERY = 4  # ticks (1 s); sender reports too
FLOWING = 1.0  # s: a stream with a packet at the origin within this is flowing (LIVE_FOR)


class RoomPipe(asyncio.DatagramProtocol):
    """One room's end of the pipe to the same conference's room on another worker.

    Open with :meth:`open`, tell it the other end's address with :meth:`connect`, close with
    :meth:`close` (or with the room; safe twice). Both directions at once: it offers this
    room's local publishers and receives the other room's.

    :param key: the room's pipe key (:func:`pipe_key`), the same at both ends.
    :param name: this worker's name in the room's pipes, ``peer_name`` the other's; the
        two must differ (each direction derives its own SRTP key from them).
    :param leads: this end's room makes the slot decisions (the lease holder's): they are
        sent to the other end, which applies them. The other end's are never applied here.
    """

    def __init__(
        self, room: Room, *, key: bytes, name: str, peer_name: str, leads: bool = False
    ) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_LENGTH:
            raise PipeError(f"the pipe key must be {KEY_LENGTH} bytes")
        for value in (name, peer_name):
            if not isinstance(value, str) or not 0 < len(value) <= 64:
                raise PipeError("pipe end names must be strings of 1..64 characters")
        if name == peer_name:
            raise PipeError("the two ends of a pipe need different names")
        self.room = room
        self.counters: RoomCounters = room.totals
        self.name = name
        self.peer_name = peer_name
        self.leads = leads
        self._decisions_sent: dict[str, Any] | None = None
        self._decisions_version = 0
        self._decisions_applied = -1
        self._tx_session = session(direction_key(key, name, peer_name), outbound=True)
        self._rx_session = session(direction_key(key, peer_name, name), outbound=False)
        self.ssrc = random.getrandbits(32) or 1  # our sender SSRC in RTCP
        self.transport: asyncio.DatagramTransport | None = None
        self.remote_address: tuple[str, int] | None = None
        self._tx: Callable[[bytes], None] | None = None  # SRTP protect + sendto
        self._sendto: DatagramSender | None = None
        self.closed = False
        self.remote_closed = False  # the other end said BYE
        self._task: asyncio.Task[None] | None = None
        # what we offer
        self._exports: dict[int, Export] = {}  # pipe SSRC -> export
        self._export_of: dict[PublisherStream, Export] = {}
        self._wanted: set[int] = set()  # pipe SSRCs the other side wants
        self._watched: dict[str, list[str]] = {}  # pid -> layers the other side watches
        self._inventory_gen = 0
        self._inventory_dirty = True
        # what the other side offers
        self._streams: dict[int, PublisherStream] = {}  # its pipe SSRC -> remote stream
        self._remotes: dict[str, RemoteParticipant] = {}
        self._parts_gen = -1
        self._parts: dict[int, list[int]] = {}
        self._want_sent: tuple[list[int], dict[str, list[str]]] | None = None
        # counts (stats())
        self.rejected = {"malformed": 0, "auth": 0, "replayed": 0}
        self.unknown_stream = 0
        self.plis_in = self.plis_out = self.nacks_in = self.nacks_out = 0
        self.retransmitted = 0
        self.send_errors = 0

    @classmethod
    async def open(
        cls,
        room: Room,
        *,
        key: bytes,
        name: str,
        peer_name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        leads: bool = False,
    ) -> RoomPipe:
        """Bind the pipe's UDP socket on ``host:port`` (0 = any free port) and attach it."""
        pipe = cls(room, key=key, name=name, peer_name=peer_name, leads=leads)
        if room.closed:
            raise PipeError("the room is closed")
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: pipe, local_addr=(host, port))
        room.attach_pipe(pipe)
        pipe._task = loop.create_task(pipe._run())
        pipe.repointed()
        return pipe

    @property
    def address(self) -> tuple[str, int]:
        """The local ``(host, port)`` the other end sends to."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def connect(self, host: str, port: int) -> None:
        """Send to the other end at ``host:port`` from now on."""
        if self.closed:
            raise PipeError("the pipe is closed")
        if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
            raise PipeError("connect() takes a host string and a port 1..65535")
        assert self.transport is not None
        self.remote_address = (host, port)
        self._sendto = DatagramSender(self.transport)
        self._tx = srtp_sender(self._tx_session, self._sendto, self.remote_address)
        self._inventory_dirty = True
        self._send_inventory()
        self._send_want(force=True)
        self._send_decisions(force=True)

    # --- asyncio.DatagramProtocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.closed:
            return
        try:
            if len(data) < 12 or data[0] & 0xC0 != 0x80:
                self._reject("malformed")
            elif 192 <= data[1] <= 223:
                self._on_rtcp(data)
            else:
                self._on_rtp(data)
        except Exception:  # anything the checks missed: counted, never raised into asyncio
            self._reject("malformed")
            logger.debug(
                "pipe %s<-%s: dropping a datagram", self.name, self.peer_name, exc_info=True
            )

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.send_errors += 1

    def _reject(self, why: str) -> None:
        self.rejected[why] += 1
        self.counters.pipe_rejected += 1

    # --- the room's hook --------------------------------------------------------------

    def repointed(self) -> None:
        """Called by the room after every re-point: offer new local streams, withdraw gone
        ones, and tell the other side if what our slots want from it changed."""
        if self.closed:
            return
        self._sync_exports()
        self._send_want()
        self._send_decisions()

    def watched_remotely(self) -> dict[str, list[str]]:
        """Simulcast layers of our publishers that the other side's slots want (pid -> rids)."""
        return self._watched

    # --- what we offer ------------------------------------------------------------------

    def _sync_exports(self) -> None:
        current: dict[PublisherStream, str] = {}
        for peer in self.room.peers.values():
            for stream in peer.streams.values():
                if stream is peer.content:
                    role = "content"
                else:
                    role = stream.kind
                current[stream] = role
        changed = False
        for stream in [s for s in self._export_of if s not in current]:
            export = self._export_of.pop(stream)
            del self._exports[export.ssrc]
            export.detach()
            changed = True
        for stream, role in current.items():
            if stream in self._export_of or len(self._exports) >= MAX_STREAMS:
                continue
            ssrc = 0
            while ssrc == 0 or ssrc in self._exports:
                ssrc = random.getrandbits(32)
            export = self._exports[ssrc] = self._export_of[stream] = Export(
                self, stream, role, ssrc
            )
            self._announce(export)
            changed = True
        if changed:
            self._inventory_dirty = True
            self._send_inventory()
        self._apply_wants()

    def _apply_wants(self) -> None:
        for ssrc, export in self._exports.items():
            want = ssrc in self._wanted and self._tx is not None
            if want and not export.sending:
                export.attach()
                if export.stream.kind == "video":  # the other side's slots start on one
                    self._local_keyframe(export)
            elif not want and export.sending:
                export.detach()

    def _local_keyframe(self, export: Export) -> None:
        peer = self.room.peers.get(export.stream.owner)
        if peer is not None:
            peer.request_keyframe(export.stream, forced=True)

    def _announce(self, export: Export) -> None:
        peer = self.room.peers.get(export.stream.owner)
        rids = peer.layer_rids if peer is not None else ()
        self._send_rtcp(app_packet(ANNOUNCE, self.ssrc, export.describe(rids)))

    def _send_inventory(self) -> None:
        if self._tx is None:
            return
        self._inventory_dirty = False
        self._inventory_gen = (self._inventory_gen + 1) & 0x7FFFFFFF
        now = time.monotonic()
        entries = [
            [ssrc, int(now - e.stream.last_arrival <= FLOWING)] for ssrc, e in self._exports.items()
        ]
        parts = [entries[i : i + INVENTORY_PART] for i in range(0, len(entries), INVENTORY_PART)]
        parts = parts or [[]]
        for i, part in enumerate(parts):
            payload = {"g": self._inventory_gen, "i": i, "n": len(parts), "s": part}
            self._send_rtcp(app_packet(INVENTORY, self.ssrc, payload))

    def _send_reports(self) -> None:
        """An SR per crossing stream, mapped from its publisher's own SR, so the other
        side's slots keep audio and video in sync for their subscribers."""
        now = time.monotonic()
        reports = []
        for export in self._exports.values():
            stream = export.stream
            if not export.sending or not stream.sr_ntp or not export.munger.started:
                continue
            ntp = stream.sr_ntp + int((now - stream.sr_at) * (1 << 32))
            rtp_ts = export.munger.rtp_time(stream, now)
            reports.append(rtp.build_sr(export.ssrc, ntp, rtp_ts, export.packets, export.octets))
        for i in range(0, len(reports), 16):
            self._send_rtcp(b"".join(reports[i : i + 16]))

    # --- what the other side offers ------------------------------------------------------

    def _send_want(self, *, force: bool = False) -> None:
        wanted = sorted(ssrc for ssrc, s in self._streams.items() if s.slots)
        watched = {pid: sorted(r.watched) for pid, r in self._remotes.items() if r.watched}
        if not force and self._want_sent == (wanted, watched):
            return
        if self._tx is None:
            return
        self._want_sent = (wanted, watched)
        self._send_rtcp(app_packet(WANT, self.ssrc, {"s": wanted, "w": watched}))

    # --- slot decisions -----------------------------------------------------------------

    def _send_decisions(self, *, force: bool = False) -> None:
        if not self.leads or self._tx is None:
            return
        decisions = self.room.decisions()
        if decisions != self._decisions_sent:
            self._decisions_sent = decisions
            self._decisions_version += 1
        elif not force:
            return
        payload = {"v": self._decisions_version, "d": decisions}
        self._send_rtcp(app_packet(DECISIONS, self.ssrc, payload))

    def _on_decisions(self, payload: dict[str, Any]) -> None:
        version, d = payload["v"], payload["d"]
        check(isinstance(version, int) and isinstance(d, dict), "decisions")
        if self.leads or version < self._decisions_applied:
            return  # we decide; or an older message (reordered). A repeat is applied again:
            # what changed here since (a local set_*) goes back to the leader's decision
        decisions = check_decisions(d)
        self._decisions_applied = version
        self.room.apply_decisions(decisions)

    def _on_inventory(self, payload: dict[str, Any]) -> None:
        gen, index, count, entries = payload["g"], payload["i"], payload["n"], payload["s"]
        check(isinstance(gen, int) and isinstance(index, int) and isinstance(count, int), "inv")
        check(0 <= index < count <= MAX_PARTS and isinstance(entries, list), "inventory part")
        check(len(entries) <= INVENTORY_PART, "inventory part too long")
        now = time.monotonic()
        ssrcs = []
        for entry in entries:
            check(isinstance(entry, list) and len(entry) == 2, "inventory entry")
            ssrc = ssrc_of(entry[0])
            ssrcs.append(ssrc)
            stream = self._streams.get(ssrc)
            if stream is not None and entry[1]:
                stream.last_arrival = max(stream.last_arrival, now)  # flowing at the origin
        if gen != self._parts_gen:
            self._parts_gen = gen
            self._parts = {}
        self._parts[index] = ssrcs
        if len(self._parts) < count:
            return
        offered = {s for part in self._parts.values() for s in part}
        self._parts = {}
        for ssrc in [s for s in self._streams if s not in offered]:
            self._remove_stream(ssrc)
        unknown = sorted(s for s in offered if s not in self._streams)
        if unknown:
            self._send_rtcp(app_packet(DESCRIBE, self.ssrc, {"s": unknown[:MAX_DESCRIBE]}))

    def _on_announce(self, payload: dict[str, Any]) -> None:
        d = parse_description(payload)
        ssrc, owner, kind, role, rid = d.ssrc, d.owner, d.kind, d.role, d.rid
        if ssrc in self._streams or len(self._streams) >= MAX_STREAMS:
            return
        stream = PublisherStream(
            owner, kind, ssrc, d.codecs, d.extensions, self.counters, codec_keys=d.codec_keys
        )
        stream.rid = rid
        stream.layer = d.layer
        if kind == "video":
            stream.keyframe_requests = KeyframeRequester(
                lambda: self._send_pli(ssrc), self.counters
            )
        nack = stream.nack
        nack.enabled = True  # loss on the pipe is asked for again, whatever the room's setting
        nack.send = lambda seqs: self._send_nack(ssrc, seqs)
        if kind == "video":
            nack.give_up = lambda: stream.keyframe_requests.request(forced=True)  # type: ignore[union-attr]
        self._streams[ssrc] = stream
        remote = self._remotes.get(owner)
        new = remote is None
        if remote is None:
            remote = self._remotes[owner] = RemoteParticipant(owner)
        remote.layer_rids = d.rids
        remote.streams[ssrc] = stream
        if role == "content":
            remote.content = stream
        elif role == "audio":
            remote.audio = stream
        else:
            if rid is not None:
                remote.layers[rid] = stream
            if rid is None or remote.video is None:
                remote.video = stream
        if new:
            self.room.add_remote(remote)
        else:
            self.room.sources_changed()

    def _remove_stream(self, ssrc: int) -> None:
        stream = self._streams.pop(ssrc)
        remote = self._remotes.get(stream.owner)
        if remote is not None and len(remote.streams) <= 1:
            del self._remotes[stream.owner]
            if self.room.remotes.get(stream.owner) is remote:
                self.room.remove_remote(stream.owner)  # re-points, then forgets its streams
        elif remote is not None:
            remote._drop(stream)
            self.room.sources_changed()
            for slot in self.room.slots.values():
                slot.forget(stream)
        stream.close()

    def _drop_remotes(self) -> None:
        for pid, remote in list(self._remotes.items()):
            if self.room.remotes.get(pid) is remote:
                self.room.remove_remote(pid)
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
        self._remotes.clear()
        self._want_sent = None

    # --- receiving ----------------------------------------------------------------------

    def _on_rtp(self, data: bytes) -> None:
        try:
            plain = self._rx_session.unprotect(data)
        except pylibsrtp.Error as exc:
            self._reject("replayed" if "replay" in str(exc) else "auth")
            return
        header = rtp.parse_rtp_header(plain)
        if header is None:
            self._reject("malformed")
            return
        stream = self._streams.get(header.ssrc)
        if stream is None:
            self.unknown_stream += 1  # not described yet (the next inventory asks)
            return
        codec = stream.codecs.get(header.marker_pt & 0x7F)
        elements = rtp.extension_elements(plain, header)
        if codec is None or elements is None:
            self._reject("malformed")
            return
        self.counters.pipe_in += 1
        now = time.monotonic()
        if not stream.note_arrival(plain, header.seq, header.timestamp, now):
            return  # a duplicate or an implausible jump (counted by the stream)
        keyframe = True
        if stream.kind == "video":
            keyframe = rtp.KEYFRAME_DETECTORS[codec](
                plain, header.payload_start, header.payload_end
            )
            if keyframe:
                stream.keyframes += 1
                if stream.keyframe_requests is not None:
                    stream.keyframe_requests.keyframe()
        for slot in stream.slots:
            slot.forward(plain, header, elements, keyframe, now)

    def _on_rtcp(self, data: bytes) -> None:
        try:
            plain = self._rx_session.unprotect_rtcp(data)
        except pylibsrtp.Error as exc:
            self._reject("replayed" if "replay" in str(exc) else "auth")
            return
        items = rtp.split_rtcp(plain)
        if items is None:
            self._reject("malformed")
            return
        for item in items:
            self._rtcp_item(item)

    def _rtcp_item(self, item: rtp.RtcpItem) -> None:
        body = item.body
        kind = item.packet_type
        if kind == rtp.RTCP_SR and len(body) >= 24:
            stream = self._streams.get(int.from_bytes(body[0:4], "big"))
            if stream is not None:
                stream.sr_ntp = int.from_bytes(body[4:12], "big")
                stream.sr_rtp = int.from_bytes(body[12:16], "big")
                stream.sr_at = time.monotonic()
        elif kind == rtp.RTCP_PSFB and item.fmt in (rtp.PSFB_PLI, rtp.PSFB_FIR):
            at = 4 if item.fmt == rtp.PSFB_PLI else 8
            check(len(body) >= at + 4, "feedback")
            export = self._exports.get(int.from_bytes(body[at : at + 4], "big"))
            if export is not None and export.sending:
                self.plis_in += 1
                self._local_keyframe(export)  # into the origin stream's key-frame manager
        elif kind == rtp.RTCP_RTPFB and item.fmt == rtp.RTPFB_NACK:
            parsed = rtp.parse_nack_body(body)
            check(parsed is not None, "nack")
            assert parsed is not None
            export = self._exports.get(parsed[1])
            if export is not None:
                self.nacks_in += 1
                sent = export.retransmit(parsed[2])
                self.retransmitted += sent
                self.counters.pipe_retransmitted += sent
        elif kind == RTCP_APP and len(body) >= 8 and body[4:8] == APP_NAME:
            payload = json.loads(body[8:])
            check(isinstance(payload, dict), "payload")
            if item.fmt == INVENTORY:
                self._on_inventory(payload)
            elif item.fmt == DESCRIBE:
                asked = payload["s"]
                check(isinstance(asked, list) and len(asked) <= MAX_DESCRIBE, "describe")
                for ssrc in asked:
                    export = self._exports.get(ssrc_of(ssrc))
                    if export is not None:
                        self._announce(export)
            elif item.fmt == ANNOUNCE:
                self._on_announce(payload)
            elif item.fmt == WANT:
                self._on_want(payload)
            elif item.fmt == DECISIONS:
                self._on_decisions(payload)
        elif kind == rtp.RTCP_BYE:
            self._remote_gone()

    def _on_want(self, payload: dict[str, Any]) -> None:
        wanted, watched = payload["s"], payload["w"]
        check(isinstance(wanted, list) and len(wanted) <= MAX_STREAMS, "want")
        check(isinstance(watched, dict) and len(watched) <= MAX_STREAMS, "watched")
        self._wanted = {ssrc_of(s) for s in wanted}
        layers: dict[str, list[str]] = {}
        for pid, rids in watched.items():
            check(isinstance(rids, list) and len(rids) <= 4, "watched layers")
            layers[str(pid)] = [str(r) for r in rids]
        self._apply_wants()
        if layers != self._watched:
            self._watched = layers
            self.room.sources_changed()  # the origin's publish_layers now count them

    def _remote_gone(self) -> None:
        self.remote_closed = True
        self._wanted = set()
        self._watched = {}
        self._apply_wants()
        self._drop_remotes()
        self.room.sources_changed()

    # --- sending RTCP -------------------------------------------------------------------

    def _send_rtcp(self, packet: bytes) -> None:
        sendto, addr = self._sendto, self.remote_address
        if sendto is None or addr is None or self.closed:
            return
        try:
            sendto(self._tx_session.protect_rtcp(packet), addr)
        except Exception:
            self.send_errors += 1
            logger.debug("pipe %s->%s: RTCP send failed", self.name, self.peer_name, exc_info=True)

    def _send_pli(self, ssrc: int) -> None:
        self.plis_out += 1
        self._send_rtcp(rtp.build_pli(self.ssrc, ssrc))

    def _send_nack(self, ssrc: int, seqs: list[int]) -> None:
        self.nacks_out += 1
        self._send_rtcp(rtp.build_nack(self.ssrc, ssrc, seqs))

    # --- periodic work, lifetime --------------------------------------------------------

    async def _run(self) -> None:
        n = 0
        while not self.closed:
            await asyncio.sleep(TICK)
            n += 1
            try:
                if self._inventory_dirty or n % INVENTORY_EVERY == 0:
                    self._send_inventory()
                self._send_decisions(force=n % WANT_EVERY == 0)  # set_muted re-points nothing
                if n % WANT_EVERY == 0:
                    self._send_want(force=True)
                    self._send_reports()
            except Exception:
                logger.exception("pipe %s->%s: periodic work failed", self.name, self.peer_name)

    async def close(self) -> None:
        """Say BYE, stop crossing, drop the other side's sources, close the socket. Safe
        to call twice."""
        if self.closed:
            return
        self._send_rtcp(struct.pack("!BBHI", 0x81, rtp.RTCP_BYE, 1, self.ssrc))
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for export in self._exports.values():
            export.detach()
        self._exports.clear()
        self._export_of.clear()
        self._drop_remotes()
        self._tx = None
        self._sendto = None
        if self.transport is not None:
            self.transport.close()
        self.room.detach_pipe(self)
        self.room.sources_changed()

    def stats(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (``Room.stats()["pipes"]``)."""
        return {
            "name": self.name,
            "peer": self.peer_name,
            "address": list(self.address) if self.transport and not self.closed else None,
            "remote_address": list(self.remote_address) if self.remote_address else None,
            "closed": self.closed,
            "remote_closed": self.remote_closed,
            "offered": len(self._exports),
            "crossing": sum(1 for e in self._exports.values() if e.sending),
            "packets_out": sum(e.packets for e in self._exports.values()),
            "remote_streams": len(self._streams),
            "remote_participants": sorted(self._remotes),
            "leads": self.leads,
            "decisions_version": self._decisions_version if self.leads else self._decisions_applied,
            "rejected": dict(self.rejected),
            "unknown_stream": self.unknown_stream,
            "plis_in": self.plis_in,
            "plis_out": self.plis_out,
            "nacks_in": self.nacks_in,
            "nacks_out": self.nacks_out,
            "retransmitted": self.retransmitted,
            "send_errors": self.send_errors,
        }
