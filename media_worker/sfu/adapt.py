"""Per-subscriber bandwidth adaptation: the estimate, the allocator and egress, wired.

Every :data:`ADAPT_EVERY` seconds the room calls :meth:`Adaptation.tick`. For each
connected subscriber it

1. feeds the subscriber's :class:`~.estimate.DownstreamEstimate` with its latest REMB and
   with the loss its receiver reports show on the video slots -- **minus the sequence
   numbers the SFU itself never sent** (lost upstream and not recovered before the next
   packet: ``Slot.holes_of``), so a publisher's bad uplink does not lower the budgets of
   everyone who watches it;
2. builds one track per slot it receives from someone else, with the measured bitrate of
   each layer of the slot's source that is **flowing** (a layer measured under
   :data:`LIVE_BPS`, or with no packet for ``simulcast.LIVE_FOR``, is paused by its publisher:
   it is neither chosen nor counted);
3. asks its :class:`~.allocator.SubscriberAllocator` (the allocator with hysteresis) for a
   layer per slot, and gives each video output that layer through
   ``Slot.set_output_layer`` -- the switch happens on the target layer's key frame, which
   is requested through the layer's key-frame manager;
4. emits ``{"type": "quality", "participant", "quality", "estimate"}`` when what the
   subscriber gets changes between ``full``, ``reduced`` (some video on a lower layer or
   paused) and ``audio`` (no video at all) and the new state has lasted
   :data:`QUALITY_HOLD` (the page's indicator does not flicker; ``stats()`` shows the
   current state at once). Audio is budgeted first and never paused.

**REMB alone never pauses video; loss does.** A delay-based estimate under what the
smallest layers need moves every slot to its smallest layer, not off: the estimate of a
receiver is bounded by ~1.5x what it receives, and some receivers' estimators sit far under
what they carry without loss (aiortc's at ~300 kbit/s on loopback). Slots are paused, down
to audio only, when the loss bound is what limits the estimate (receiver reports show
> 10 % lost downstream).

A subscriber that sends no REMB (an aiortc client, the recorder) keeps every slot at its
preferred layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .allocator import RankedTrack, SubscriberAllocator, Track, cost, reduced
from .estimate import DownstreamEstimate
from .signalling import CONTENT
from .simulcast import LIVE_FOR, slot_rank

if TYPE_CHECKING:
    from .egress import Slot
    from .ingress import PublisherStream
    from .peer import Peer
    from .pipe import RemoteParticipant

ADAPT_EVERY = 0.5  # s between two decisions
RATE_WINDOW = 1.5  # s: the time constant of a layer's measured bitrate
LIVE_BPS = 10_000  # a layer measured under this is not flowing (paused by its publisher)


class AdaptedRoom(Protocol):
    """What :class:`Adaptation` needs of a room (``Room`` has it)."""

    @property
    def peers(self) -> Mapping[str, Peer]: ...

    @property
    def slots(self) -> Mapping[str, Slot]: ...

    @property
    def remotes(self) -> Mapping[str, RemoteParticipant]: ...


@dataclass
class _Rate:
    octets: int
    at: float
    bps: float = 0.0


@dataclass
class _Subscriber:
    estimate: DownstreamEstimate = field(default_factory=DownstreamEstimate)
    allocator: SubscriberAllocator = field(default_factory=SubscriberAllocator)
    remb_at: float = 0.0
    reports: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # ssrc -> last
    quality: str = "full"  # what it gets now (stats)
    quality_since: float = 0.0
    shown: str = "full"  # what its page was last told

    def settle(self, quality: str, now: float) -> str | None:
        """Record what it gets now; the quality to tell its page, once a change has lasted
        :data:`QUALITY_HOLD` (None while it has not, or nothing changed)."""
        if quality != self.quality:
            self.quality = quality
            self.quality_since = now
        if self.quality != self.shown and now - self.quality_since >= QUALITY_HOLD:
            self.shown = self.quality
            return self.shown
        return None


# s a new quality must last before the page is told: the indicator does not flicker when a
# layer's flow or the estimate wavers for a tick or two
QUALITY_HOLD = 2.0


class Adaptation:
    """The adaptation state of one room (see the module doc)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self.emit = emit
        self.subscribers: dict[str, _Subscriber] = {}
        self._rates: dict[PublisherStream, _Rate] = {}

    def forget(self, pid: str) -> None:
        self.subscribers.pop(pid, None)
        self._rates = {s: r for s, r in self._rates.items() if s.owner != pid}

    def bitrate(self, stream: PublisherStream, now: float) -> float:
        """The stream's measured bitrate in bit/s (0 once it stops flowing)."""
        if now - stream.last_arrival > LIVE_FOR:
            return 0.0
        rate = self._rates.get(stream)
        if rate is None:
            self._rates[stream] = _Rate(stream.octets, now)
            return 0.0
        elapsed = now - rate.at
        if elapsed >= 0.2:
            sample = (stream.octets - rate.octets) * 8 / elapsed
            weight = min(1.0, elapsed / RATE_WINDOW)
            rate.bps = sample if rate.bps == 0.0 else rate.bps + (sample - rate.bps) * weight
            rate.octets, rate.at = stream.octets, now
        return rate.bps

    def stats(self, pid: str) -> dict[str, Any]:
        sub = self.subscribers.get(pid)
        if sub is None:
            return {"quality": "full", "estimate": None, "upgrades": 0, "downgrades": 0}
        est = sub.estimate
        return {
            "quality": sub.quality,
            "estimate": est.value() if est.remb is not None else None,
            "upgrades": sub.allocator.upgrades,
            "downgrades": sub.allocator.downgrades,
        }

    def tick(self, room: AdaptedRoom, now: float) -> None:
        for stream in list(self._rates):  # measured once per tick, for every subscriber
            if now - stream.last_arrival > 30.0:
                del self._rates[stream]  # gone (a remote source's stream, a closed layer)
            else:
                self.bitrate(stream, now)
        for pid, peer in room.peers.items():
            if peer.connected:
                self._adapt(room, pid, peer, now)
        for slot in room.slots.values():
            slot.tidy()

    def _adapt(self, room: AdaptedRoom, pid: str, peer: Peer, now: float) -> None:
        sub = self.subscribers.get(pid)
        if sub is None:
            sub = self.subscribers[pid] = _Subscriber()
        est = sub.estimate
        if peer.remb_in is not None and peer.remb_in_at > sub.remb_at:
            sub.remb_at = peer.remb_in_at
            est.on_remb(peer.remb_in, now)
        tracks: list[tuple[RankedTrack, Slot, list[PublisherStream]]] = []
        lost = expected = 0
        for key, slot in room.slots.items():
            out = slot.outputs.get(pid)
            source = slot.source
            if out is None or source is None or source.owner == pid:
                continue
            publisher = room.peers.get(source.owner) or room.remotes.get(source.owner)
            layered = (
                slot.kind == "video"
                and slot.name != CONTENT
                and publisher is not None
                and bool(publisher.layers)
            )
            layers = publisher.video_layers() if layered and publisher else [source]
            flowing = [(s, self.bitrate(s, now)) for s in layers]
            flowing = [(s, bps) for s, bps in flowing if bps >= LIVE_BPS]
            if slot.kind == "video":
                part = self._downstream_loss(sub, slot, peer, out)
                lost, expected = lost + part[0], expected + part[1]
            if not flowing:
                continue  # nothing arrives from this source now: nothing to decide
            ranks = tuple(s.layer for s, _ in flowing)
            wanted = slot_rank(slot.name, publisher.layer_count) if layered and publisher else 0
            ranked = RankedTrack(Track(key, tuple(int(b) for _, b in flowing), 0), ranks)
            preferred = ranked.index(wanted) or 0
            ranked = RankedTrack(Track(key, ranked.track.bitrates, preferred), ranks)
            tracks.append((ranked, slot, [s for s, _ in flowing]))
        if expected:
            # the loss bound cuts from what this subscriber is sent now (as a GCC sender cuts
            # its own rate), not from its REMB: with a REMB far under what it carries without
            # loss (aiortc's ~300 kbit/s) one report over 10 % would otherwise drop the bound
            # under every video slot and pause them
            plain = [t.track for t, _, _ in tracks]
            now_sent = cost(
                {t.track.key: t.index(sub.allocator.chosen.get(t.track.key)) for t, _, _ in tracks},
                plain,
            )
            est.on_loss(lost / expected, now, sent=now_sent or None)
        budget = est.value() if est.remb is not None else None
        # REMB alone never pauses video, loss does: see the module doc
        pause = est.remb is not None and est.loss_bound < est.remb
        decision = sub.allocator.decide(budget, [t for t, _, _ in tracks], now, pause=pause)
        for ranked, slot, streams in tracks:
            if ranked.track.is_audio:
                continue  # audio is budgeted first and never paused
            rank = decision.get(ranked.track.key)
            target = None if rank is None else next(s for s in streams if s.layer == rank)
            if slot.set_output_layer(pid, target) and target is not None:
                owner = room.peers.get(target.owner) or room.remotes.get(target.owner)
                if owner is not None:
                    owner.request_keyframe(target, forced=True)
        chosen = {t.track.key: t.index(decision.get(t.track.key)) for t, _, _ in tracks}
        quality = reduced(chosen, [t.track for t, _, _ in tracks]) if tracks else sub.quality
        told = sub.settle(quality, now)
        if told is not None:
            self.emit({"type": "quality", "participant": pid, "quality": told, "estimate": budget})

    @staticmethod
    def _downstream_loss(sub: _Subscriber, slot: Slot, peer: Peer, out: Any) -> tuple[int, int]:
        """(packets lost between the SFU and the subscriber, packets expected) on one slot
        since its previous receiver report: its report's loss minus what we never sent."""
        report = peer.slot_reports.get(slot.ssrc)
        if report is None:
            return 0, 0
        holes = slot.holes_of(out)
        prev = sub.reports.get(slot.ssrc)
        if prev is not None and prev[:2] == report:
            return 0, 0  # no new report since the last tick
        sub.reports[slot.ssrc] = (report[0], report[1], holes)
        if prev is None:
            return 0, 0
        expected = (report[1] - prev[1]) & 0xFFFFFFFF
        if expected == 0 or expected > 0x8000:
            return 0, 0  # no new report, or a restart of the numbering
        lost = (report[0] - prev[0]) - max(0, holes - prev[2])
        return min(max(0, lost), expected), expected
