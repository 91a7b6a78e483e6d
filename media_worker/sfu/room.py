"""A conference's media room: participants, slots, floor/broadcast/chair/mute, events.

Runs on whatever asyncio loop calls it (Daphne's, or ``asyncio.run`` in a media worker);
every method must be called from that loop. Nothing here imports Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .adapt import ADAPT_EVERY, Adaptation
from .counters import RoomCounters
from .egress import Output, Slot, Transmitter
from .ingress import PublisherStream
from .peer import Peer
from .pipe import RemoteParticipant, RoomPipe
from .policy import NetworkPolicy
from .rtcp import REPORT_INTERVAL, send_room_reports
from .signalling import CONTENT, OfferLayout, SignallingError, parse_offer, slot_order
from .simulcast import pick_layer, slot_rank
from .transport import check_aiortc

logger = logging.getLogger(__name__)

TICK = 0.25  # seconds between speaker checks; RTCP reports every REPORT_INTERVAL
SPEAKING_LEVEL = 50  # -dBov; a smoothed level at or under this counts as speaking
SPEAKER_HYSTERESIS = 4  # dB a challenger must beat the current speaker by

EventCallback = Callable[[dict[str, Any]], None]


class _MemberLock:
    """A per-participant lock and how many joins/leaves hold or wait for it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Room:
    """A forwarding room. See docs/sfu.md for the protocol and the slot layout.

    :param room_id: any string, used in logs and ``stats()``.
    :param thumbnails: K, the number of thumbnail video slots (0..16).
    :param policy: where media may flow; defaults to ``NetworkPolicy()``.
    :param on_event: called with plain JSON-serialisable dicts (``{"type": ...}``).
    :param start_bitrate_kbps: ``x-google-start-bitrate`` put in answers (0 = none).
    :param max_publish_bitrate: cap (bit/s) on the REMB sent to publishers (None = none).
    :param upstream_nack: ask publishers again for packets lost on their way to the SFU
        (NACK generation, docs/sfu.md); False = the behaviour without it (benchmark baseline).
    """

    def __init__(
        self,
        room_id: str,
        *,
        thumbnails: int = 4,
        policy: NetworkPolicy | None = None,
        on_event: EventCallback | None = None,
        start_bitrate_kbps: int = 2500,
        max_publish_bitrate: int | None = None,
        upstream_nack: bool = True,
    ) -> None:
        if not 0 <= thumbnails <= 16:
            raise ValueError("thumbnails must be between 0 and 16")
        check_aiortc()
        self.room_id = room_id
        self.thumbnails = thumbnails
        self.policy = policy or NetworkPolicy()
        self.on_event = on_event
        self.start_bitrate_kbps = start_bitrate_kbps
        self.max_publish_bitrate = max_publish_bitrate
        self.upstream_nack = upstream_nack
        self.totals = RoomCounters()
        self.peers: dict[str, Peer] = {}
        self.slots: dict[str, Slot] = {}
        used: set[int] = set()
        for name, kind in slot_order(thumbnails, content=True):
            ssrc = 0
            while ssrc == 0 or ssrc in used:
                ssrc = random.getrandbits(32)
            used.add(ssrc)
            slot = self.slots[f"{name}/{kind}"] = Slot(name, kind, ssrc, self.totals)
            if kind == "video":
                while slot.rtx_ssrc == 0 or slot.rtx_ssrc in used:
                    slot.rtx_ssrc = random.getrandbits(32)
                used.add(slot.rtx_ssrc)
        self.slot_by_ssrc = {s.ssrc: s for s in self.slots.values()}
        self.floor: str | None = None
        self.broadcast: str | None = None
        self.chair: str | None = None
        self.content: str | None = None  # whose content line fills the content slot
        self.muted: set[str] = set()
        self.thumbnail_ids: list[str] | None = None
        self.speaker: str | None = None
        self.closed = False
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_sources: dict[str, str | None] = {}
        # One join (or leave) at a time per participant: a join checks "already here?" before
        # negotiating and installs its peer after, so two at once would both install and the
        # first RTCPeerConnection would never be closed.
        self._member_locks: dict[str, _MemberLock] = {}
        self._negotiating: set[Peer] = set()
        self._sinks: dict[str, list[Any]] = {}  # slot key -> attached sinks (the recorder)
        self._publish_layers: dict[str, dict[str, bool]] = {}  # pid -> rid -> watched (sent)
        # cascading (pipe.py): participants hosted by the conference's other workers, and
        # the pipes to those workers
        self.remotes: dict[str, RemoteParticipant] = {}
        self._pipes: list[RoomPipe] = []
        self.adaptation = Adaptation(self._emit)  # per-subscriber layers (adapt.py)

    # --- membership -----------------------------------------------------------------

    async def join(
        self, participant_id: str, offer: dict[str, Any], *, receives_content: bool = True
    ) -> dict[str, Any]:
        """Accept a participant's offer; return ``{"type": "answer", "sdp", "slots", "publish"}``.

        A participant that is already in the room is replaced (a reconnecting browser).
        ``receives_content=False``: the ``content`` slot is answered but nothing is ever
        forwarded on it (server-enforced, like an ``inactive`` line: a reader who may not see
        the shared screen). Raises :class:`SignallingError` for a bad offer; the room is
        unaffected.
        """
        if self.closed:
            raise SignallingError("room_closed", "the room is closed")
        if not isinstance(participant_id, str) or not participant_id:
            raise SignallingError("invalid_message", "participant id must be a non-empty string")
        layout = parse_offer(offer, thumbnails=self.thumbnails, policy=self.policy)
        async with self._member_lock(participant_id):
            return await self._join_locked(participant_id, layout, receives_content)

    async def _join_locked(
        self, participant_id: str, layout: OfferLayout, receives_content: bool = True
    ) -> dict[str, Any]:
        if self.closed:
            raise SignallingError("room_closed", "the room is closed")
        if participant_id in self.peers:
            await self._leave_locked(participant_id)
        peer = Peer(participant_id, self, self.policy)
        self._negotiating.add(peer)
        try:
            answer = await peer.negotiate(
                layout,
                {k: s.ssrc for k, s in self.slots.items()},
                self.start_bitrate_kbps,
                rtx_ssrcs={k: s.rtx_ssrc for k, s in self.slots.items() if s.rtx_ssrc},
            )
        except SignallingError:
            await peer.close()
            raise
        except Exception as exc:
            await peer.close()
            if self.closed:
                raise SignallingError("room_closed", "the room closed during negotiation") from exc
            logger.warning("room %s: negotiation with %s failed", self.room_id, participant_id)
            raise SignallingError("negotiation_failed", repr(exc)) from exc
        finally:
            self._negotiating.discard(peer)
        if self.closed:
            await peer.close()
            raise SignallingError("room_closed", "the room closed during negotiation")
        self.peers[participant_id] = peer
        for key, line in layout.slots.items():
            if line.direction == "inactive" or (key == f"{CONTENT}/video" and not receives_content):
                continue
            _, exts = peer.negotiated.get(line.mid, ({}, {}))
            payload_types: dict[str, int] = {}  # codec key -> the subscriber's payload type
            for pt, key_ in peer.codec_keys.get(line.mid, {}).items():
                payload_types.setdefault(key_, pt)
            # the subscriber's media payload type -> its RTX payload type (RFC 4588 apt)
            rtx_pts = {apt: pt for pt, apt in peer.rtx_apt.get(line.mid, {}).items()}
            self.slots[key].add_output(Output(peer, payload_types, exts, rtx_pts=rtx_pts))
        self._repoint()
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        self._emit({"type": "participant_joined", "participant": participant_id})
        answer["slots"] = layout.slot_info()
        answer["publish"] = layout.publish_info()
        if peer.layer_rids:
            answer["publish"]["layers"] = list(peer.layer_rids)  # simulcast, lowest first
        return answer

    async def leave(self, participant_id: str) -> None:
        """Remove a participant and close its connection; unknown ids are ignored.

        Waits for a join of the same participant that is still negotiating, then removes it.
        """
        if participant_id not in self.peers and participant_id not in self._member_locks:
            return
        async with self._member_lock(participant_id):
            await self._leave_locked(participant_id)

    async def _leave_peer(self, peer: Peer) -> None:
        """Remove ``peer`` if it is still the participant's connection (not a successor)."""
        async with self._member_lock(peer.participant_id):
            if self.peers.get(peer.participant_id) is peer:
                await self._leave_locked(peer.participant_id)

    @contextlib.asynccontextmanager
    async def _member_lock(self, participant_id: str) -> AsyncIterator[None]:
        entry = self._member_locks.get(participant_id)
        if entry is None:
            entry = self._member_locks[participant_id] = _MemberLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            # Pruned once nobody holds or waits for it: the dict stays as small as the room.
            entry.users -= 1
            if not entry.users:
                del self._member_locks[participant_id]

    async def _leave_locked(self, participant_id: str) -> None:
        peer = self.peers.pop(participant_id, None)
        if peer is None:
            return
        for slot in self.slots.values():
            slot.remove_output(participant_id)
        self._repoint()
        for stream in peer.streams.values():
            for slot in self.slots.values():
                slot.forget(stream)  # the ring must not keep its history alive
        if self.speaker == participant_id:
            self.speaker = None
            self._emit({"type": "speaking", "participant": None, "level": 0})
        self._publish_layers.pop(participant_id, None)
        self.adaptation.forget(participant_id)
        self._emit({"type": "participant_left", "participant": participant_id})
        await peer.close()

    async def close(self) -> None:
        """Close every peer connection and stop the room's tasks. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self._ticker is not None:
            self._ticker.cancel()
        peers = [*self.peers.values(), *self._negotiating]
        self.peers.clear()
        for slot in self.slots.values():
            slot.set_source(None, None)
            slot.outputs.clear()
            slot.regroup()
        for pipe in list(self._pipes):
            await pipe.close()
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        # Pending leave() tasks are only closing peers: let them finish rather than cancel
        # them half-way through aiortc's close().
        pending = [t for t in [self._ticker, *self._tasks] if t is not None]
        if pending:
            await asyncio.wait(pending, timeout=10)
        self._tasks.clear()

    # --- control --------------------------------------------------------------------

    def set_floor(self, participant_id: str | None) -> None:
        """Who speaks: their video and audio fill ``main`` unless someone is broadcast."""
        self.floor = participant_id
        self._repoint()

    def set_broadcast(self, participant_id: str | None) -> None:
        """Who is broadcast: takes ``main`` over the floor while set."""
        self.broadcast = participant_id
        self._repoint()

    def set_chair(self, participant_id: str | None) -> None:
        self.chair = participant_id
        self._repoint()

    def set_content(self, participant_id: str | None) -> None:
        """Who presents: their content line fills the ``content`` slot. Server-enforced: the
        content of anybody else is received and counted but never forwarded."""
        self.content = participant_id
        self._repoint()

    def set_thumbnails(self, participant_ids: list[str] | None) -> None:
        """Who fills ``thumb0..``; ``None`` = automatic (publishers in join order)."""
        self.thumbnail_ids = None if participant_ids is None else list(participant_ids)
        self._repoint()

    def set_muted(self, participant_id: str, muted: bool) -> None:
        """Server-enforced mute: a muted participant's audio is not forwarded at all."""
        if muted:
            self.muted.add(participant_id)
        else:
            self.muted.discard(participant_id)
        peer = self.peers.get(participant_id)
        if peer is not None and peer.audio is not None and peer.audio.muted != muted:
            peer.audio.muted = muted
            for slot in peer.audio.slots:
                slot.resync()  # subscribers see one continuous stream across the silence
        self._emit({"type": "muted", "participant": participant_id, "muted": bool(muted)})

    def attach(self, slot_key: str, sink: Transmitter, payload_types: dict[str, int]) -> None:
        """Send ``slot_key``'s forwarded packets to ``sink`` too (the recorder), as to a
        subscriber: rewritten, continuous across switches, video from a key frame. ``sink``
        (unique ``participant_id``, ``tx``) may have ``switched(pid)``, called with the
        slot's new source whenever it changes (and now)."""
        self.slots[slot_key].add_output(Output(sink, payload_types, {}))
        self._sinks.setdefault(slot_key, []).append(sink)
        if hasattr(sink, "switched"):
            sink.switched(self.slots[slot_key].source_pid)

    # --- cascading (pipe.py) -----------------------------------------------------------

    def attach_pipe(self, pipe: RoomPipe) -> None:
        """A pipe to another worker of this conference: told of every re-point; closed with
        the room."""
        if pipe not in self._pipes:
            self._pipes.append(pipe)

    def detach_pipe(self, pipe: RoomPipe) -> None:
        if pipe in self._pipes:
            self._pipes.remove(pipe)

    def add_remote(self, source: RemoteParticipant) -> None:
        """A participant hosted by another worker: its streams fill slots like a local
        publisher's (a local participant of the same id wins)."""
        self.remotes[source.participant_id] = source
        self._repoint()

    def remove_remote(self, participant_id: str) -> None:
        source = self.remotes.pop(participant_id, None)
        if source is None:
            return
        self._repoint()
        for stream in source.streams.values():
            for slot in self.slots.values():
                slot.forget(stream)

    def decisions(self) -> dict[str, Any]:
        """The slot decisions, for the conference's other rooms (a leading pipe sends them):
        thumbnails resolved to the participants shown, so every room shows the same ones."""
        return {
            "floor": self.floor,
            "broadcast": self.broadcast,
            "chair": self.chair,
            "content": self.content,
            "thumbnails": self._thumbnail_order()[: self.thumbnails],
            "muted": sorted(self.muted),
        }

    def apply_decisions(self, decisions: dict[str, Any]) -> None:
        """Apply :meth:`decisions` of the room that leads (what changed only)."""
        if self.floor != decisions["floor"]:
            self.set_floor(decisions["floor"])
        if self.broadcast != decisions["broadcast"]:
            self.set_broadcast(decisions["broadcast"])
        if self.chair != decisions["chair"]:
            self.set_chair(decisions["chair"])
        if self.content != decisions["content"]:
            self.set_content(decisions["content"])
        if self.thumbnail_ids != decisions["thumbnails"]:
            self.set_thumbnails(decisions["thumbnails"])
        muted = set(decisions["muted"])
        for pid in sorted(muted - self.muted):
            self.set_muted(pid, True)
        for pid in sorted(self.muted - muted):
            self.set_muted(pid, False)

    def sources_changed(self) -> None:
        """Re-evaluate the slots (a remote source's streams or wanted layers changed)."""
        self._repoint()

    def _source(self, pid: str | None) -> Peer | RemoteParticipant | None:
        if pid is None:
            return None
        return self.peers.get(pid) or self.remotes.get(pid)

    # --- introspection --------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Room-wide totals since the room was created (cheap: no scan of participants).

        Keys (all ints): ``packets_in``, ``packets_out``, ``dropped``, ``lost_upstream``,
        ``recovered``, ``unrecovered``, ``duplicates``, ``nacks_sent``, ``nacked_packets``,
        ``nacks_received``, ``retransmitted_downstream``, ``keyframes_requested``,
        ``keyframes_received``, ``send_errors``, ``rtcp_limited``; see docs/sfu.md.
        """
        return self.totals.as_dict()

    def stats(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the room for dashboards and tests."""
        return {
            "counters": self.totals.as_dict(),
            "room": self.room_id,
            "closed": self.closed,
            "floor": self.floor,
            "broadcast": self.broadcast,
            "chair": self.chair,
            "content": self.content,
            "muted": sorted(self.muted),
            "speaker": self.speaker,
            "remotes": sorted(self.remotes),
            "pipes": [pipe.stats() for pipe in self._pipes],
            "slots": {
                key: {
                    "source": slot.source_pid if slot.source else None,
                    "ssrc": slot.ssrc,
                    "packets": slot.packets,
                    "switches": slot.switches,
                    "subscribers": len(slot.outputs),
                }
                for key, slot in self.slots.items()
            },
            "participants": {
                pid: {
                    "state": p.state,
                    "video": p.video is not None,
                    "audio": p.audio is not None,
                    "content": p.content is not None,
                    "rtp_in": p.rtp_in,
                    "rtcp_in": p.rtcp_in,
                    "dropped": p.dropped,
                    "forwarded": p.forwarded,
                    "nacks_in": p.nacks_in,
                    "plis_in": p.plis_in,
                    "plis_out": p.plis_out,
                    "retransmitted": self._output_sum(pid, "retransmitted"),
                    "send_errors": self._output_sum(pid, "send_errors"),
                    "nacks_out": p.nacks_out,
                    "limited": p.limited,
                    "rtx_in": p.rtx_in,
                    "retransmitted_rtx": self._output_sum(pid, "retransmitted_rtx"),
                    "lost_upstream": sum(s.nack.lost for s in p.streams.values()),
                    "recovered": sum(s.nack.recovered for s in p.streams.values()),
                    "duplicates": sum(s.duplicates for s in p.streams.values()),
                    "rtt_ms": None if p.rtt is None else round(p.rtt * 1000, 1),
                    "first_keyframe_ms": self._first_keyframe_ms(pid),
                    "remb_out": p.remb_bitrate,
                    "remb_in": p.remb_in,
                    "keyframes_in": p.video.keyframes if p.video else 0,
                    "pacer_yields": p.pacer.yields,
                    "send_dropped": p.sender.dropped if p.sender else 0,
                    **self.adaptation.stats(pid),
                }
                for pid, p in self.peers.items()
            },
        }

    def _output_sum(self, pid: str, name: str) -> int:
        """Sum a counter over the slots a participant receives (O(slots), not O(N))."""
        total = 0
        for slot in self.slots.values():
            output = slot.outputs.get(pid)
            if output is not None:
                total += getattr(output, name)
        return total

    def _first_keyframe_ms(self, pid: str) -> dict[str, float | None]:
        """Per video slot a participant receives: ms from joining to its first key frame."""
        out: dict[str, float | None] = {}
        for key, slot in self.slots.items():
            output = slot.outputs.get(pid)
            if output is None or slot.kind != "video":
                continue
            at = output.first_keyframe_at
            out[key] = round((at - output.added_at) * 1000, 1) if at else None
        return out

    # --- internals called by peers ----------------------------------------------------

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            logger.exception("room %s: on_event raised", self.room_id)

    def _desired_sources(self) -> dict[str, str | None]:
        wanted: dict[str, str | None] = {
            "main": self.broadcast or self.floor,
            "chair": self.chair,
            "content": self.content,
        }
        thumbs = self._thumbnail_order()
        for i in range(self.thumbnails):
            wanted[f"thumb{i}"] = thumbs[i] if i < len(thumbs) else None
        return wanted

    def _thumbnail_order(self) -> list[str]:
        if self.thumbnail_ids is not None:
            return self.thumbnail_ids
        # a simulcast publisher counts before its first packet: its layers may be paused
        thumbs = [pid for pid, p in self.peers.items() if p.video is not None or p.layer_rids]
        thumbs += [
            pid
            for pid, r in self.remotes.items()
            if pid not in self.peers and (r.video is not None or r.layer_rids)
        ]
        return thumbs

    def _repoint(self) -> None:
        if self.closed:
            return
        wanted = self._desired_sources()
        now = time.monotonic()
        for slot in self.slots.values():
            pid = wanted.get(slot.name)
            peer = self._source(pid)
            stream = None
            if peer is not None and slot.name == CONTENT:
                stream = peer.content
            elif peer is not None and slot.kind == "video":
                layers = peer.video_layers()  # one without simulcast
                stream = pick_layer(layers, slot_rank(slot.name, peer.layer_count), now)
            elif peer is not None:
                stream = peer.audio
            changed = slot.set_source(pid if stream else None, stream)
            if slot.kind == "video" and slot.name != CONTENT:
                slot.set_layers(peer.video_layers() if peer is not None and peer.layers else [])
            if changed:
                for sink in self._sinks.get(f"{slot.name}/{slot.kind}", ()):
                    if hasattr(sink, "switched"):
                        sink.switched(slot.source_pid)
                if slot.kind == "video" and peer is not None and stream is not None:
                    peer.request_keyframe(stream, forced=True)
        sources = {
            name: wanted.get(name) for name in dict.fromkeys(s.name for s in self.slots.values())
        }
        if sources != self._last_sources:
            self._last_sources = sources
            self._emit({"type": "slots", "slots": sources})
        self._update_publish_layers(wanted)
        for pipe in self._pipes:
            pipe.repointed()

    def _update_publish_layers(self, wanted: dict[str, str | None]) -> None:
        """Tell each simulcast publisher which of its layers anyone receives.

        A layer is watched when a video slot with a subscriber other than the publisher wants
        it (``slot_rank``) -- even before it is bound, so it is never paused before its first
        packet -- or shows it now (a fallback until the wanted one arrives). The page sets
        ``active: false`` on the others (``publish_layers`` event, docs/sfu.md). The lowest
        layer is never paused.
        """
        watched: dict[str, dict[str, bool]] = {}
        sources: list[tuple[str, Peer | RemoteParticipant]] = [*self.peers.items()]
        sources += [(pid, r) for pid, r in self.remotes.items() if pid not in self.peers]
        for pid, peer in sources:
            if peer.layer_rids:
                watched[pid] = dict.fromkeys(peer.layer_rids, False)
                # the smallest layer always flows (~150 kbit/s): a site that gets a slot
                # shows at once, on the next key frame, not after a round trip to its page
                watched[pid][peer.layer_rids[0]] = True
        if not watched:
            return
        for pipe in self._pipes:  # layers another worker's slots want cross its pipe
            for pid, rids in pipe.watched_remotely().items():
                for rid in rids:
                    if rid in watched.get(pid, {}):
                        watched[pid][rid] = True
        for slot in self.slots.values():
            if slot.kind != "video":
                continue
            source = wanted.get(slot.name)
            layers = watched.get(source) if source else None
            if layers is None or not any(viewer != source for viewer in slot.outputs):
                continue
            names = list(layers)
            layers[names[slot_rank(slot.name, len(names))]] = True
            if slot.source is not None and slot.source.rid in layers:
                layers[slot.source.rid] = True
            for stream in slot.own_layers():  # subscribers the allocator moved
                if stream.rid in layers:
                    layers[stream.rid] = True
        for pid, layers in watched.items():
            remote = self.remotes.get(pid) if pid not in self.peers else None
            if remote is not None:
                remote.watched = [rid for rid, on in layers.items() if on]  # told to its pipe
                continue
            if self._publish_layers.get(pid) != layers:
                self._publish_layers[pid] = layers
                self._emit({"type": "publish_layers", "participant": pid, "layers": layers})

    def _stream_bound(self, peer: Peer, stream: PublisherStream) -> None:
        stream.muted = peer.participant_id in self.muted
        self._emit(
            {
                "type": "participant_media",
                "participant": peer.participant_id,
                "video": peer.video is not None,
                "audio": peer.audio is not None,
            }
        )
        self._repoint()

    def _peer_connected(self, peer: Peer) -> None:
        self._emit(
            {
                "type": "participant_connection",
                "participant": peer.participant_id,
                "state": "connected",
            }
        )
        # A new subscriber starts each video slot on a key frame: ask every source for one.
        for slot in self.slots.values():
            if (
                slot.kind == "video"
                and slot.source is not None
                and peer.participant_id in slot.outputs
            ):
                source_peer = self._source(slot.source.owner)
                if source_peer is not None:
                    source_peer.request_keyframe(slot.source, forced=True)

    def _peer_gone(self, peer: Peer, state: str) -> None:
        if self.closed or self.peers.get(peer.participant_id) is not peer:
            return
        self._emit(
            {"type": "participant_connection", "participant": peer.participant_id, "state": state}
        )
        task = asyncio.get_running_loop().create_task(self._leave_peer(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _keyframe_wanted(self, media_ssrc: int) -> None:
        slot = self.slot_by_ssrc.get(media_ssrc)
        if slot is None or slot.source is None:
            return
        source_peer = self._source(slot.source.owner)
        if source_peer is not None:
            source_peer.request_keyframe(slot.source, forced=False)

    def _nack(self, peer: Peer, media_ssrc: int, seqs: list[int]) -> None:
        slot = self.slot_by_ssrc.get(media_ssrc)
        if slot is None:
            return
        output = slot.outputs.get(peer.participant_id)
        if output is None:
            return
        missing = slot.retransmit(output, seqs)
        if self.upstream_nack:
            return  # the sources' NACK generators already ask for what is missing
        by_source: dict[PublisherStream, list[int]] = {}
        for source, seq in missing:
            by_source.setdefault(source, []).append(seq)
        for source, lost in by_source.items():
            source_peer = self.peers.get(source.owner)
            if source_peer is not None:
                source_peer.rtcp.nack(source.ssrc, lost)

    # --- periodic work ------------------------------------------------------------------

    async def _tick(self) -> None:
        n = 0
        report_every = max(1, round(REPORT_INTERVAL / TICK))
        adapt_every = max(1, round(ADAPT_EVERY / TICK))
        while not self.closed:
            await asyncio.sleep(TICK)
            n += 1
            try:
                self._detect_speaker()
                if any(p.layer_rids for p in self.peers.values()) or any(
                    r.layer_rids for r in self.remotes.values()
                ):
                    self._repoint()  # a simulcast layer paused or resumed: re-pick layers
                if n % adapt_every == 0:
                    self.adaptation.tick(self, time.monotonic())
                if n % report_every == 0:
                    send_room_reports(list(self.peers.values()), self.slots.values())
            except Exception:
                logger.exception("room %s: periodic work failed", self.room_id)

    def _detect_speaker(self) -> None:
        now = time.monotonic()
        best: tuple[float, str] | None = None
        current_level = 127.0
        for pid, peer in self.peers.items():
            stream = peer.audio
            if stream is None or stream.muted or now - stream.last_arrival > 1.0:
                continue
            if pid == self.speaker:
                current_level = stream.audio_level
            if stream.audio_level <= SPEAKING_LEVEL and (
                best is None or stream.audio_level < best[0]
            ):
                best = (stream.audio_level, pid)
        if best is None:
            if self.speaker is not None:
                self.speaker = None
                self._emit({"type": "speaking", "participant": None, "level": 0})
            return
        level, pid = best
        if pid == self.speaker:
            return
        if self.speaker is not None and current_level <= SPEAKING_LEVEL:
            if current_level - level < SPEAKER_HYSTERESIS:
                return
        self.speaker = pid
        self._emit({"type": "speaking", "participant": pid, "level": round(127 - level)})
