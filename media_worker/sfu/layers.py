"""Layer switching for one subscriber: continuous numbering across simulcast layers.

Each simulcast layer of a publisher is its own RTP stream: its own SSRC, sequence numbers,
timestamps and, for VP8, picture ids and TL0PICIDX. A subscriber that moves from one layer
to another must see ONE stream, as after a slot switch. :class:`LayerMunger` does that for
one subscriber of one slot:

- it forwards packets of its **current** layer only; a **target** layer (set by the
  allocator) takes over on that layer's next **key frame** -- until then the current layer
  goes on, so the picture never stops while a switch is pending;
- on the switch, the outgoing sequence number follows the last one sent (+1), the timestamp
  advances by the wall-clock time that passed, the VP8 picture id follows the last one (+1)
  and TL0PICIDX the last one (+1): the decoder sees a continuous stream starting on a key
  frame;
- inside one layer, offsets are constant, so gaps are kept and a NACK maps back:
  :meth:`LayerMunger.lookup` finds the layer and source sequence number of an outgoing one
  in a short history of (first outgoing seq, offset, layer) spans -- no per-packet ring;
- packets of the new layer older than its switch point are dropped (their numbers would
  reuse ones already sent for the old layer); ``paused`` (the allocator found no room)
  forwards nothing and resumes like a switch.

The VP8 helpers read and rewrite the payload descriptor (RFC 7741 section 4.2) in place:
picture ids keep their width (7 or 15 bits), so the packet length never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")  # a layer's stream (PublisherStream in the SFU; anything in tests)

SPANS = 16  # switches remembered for NACK lookups


@dataclass(frozen=True)
class Vp8Ids:
    """Offsets (into the packet) and values of a VP8 descriptor's picture id and TL0PICIDX."""

    pic_at: int  # -1: no picture id
    pic_bits: int  # 7 or 15
    picture_id: int
    tl0_at: int  # -1: no TL0PICIDX
    tl0: int


def vp8_ids(data: bytes | bytearray, start: int, end: int) -> Vp8Ids | None:
    """The picture id / TL0PICIDX of the VP8 payload ``data[start:end]``, or None if truncated."""
    if end - start < 1:
        return None
    b0 = data[start]
    pic_at = tl0_at = -1
    bits = picture_id = tl0 = 0
    if not b0 & 0x80:  # no X byte: neither field
        return Vp8Ids(-1, 0, 0, -1, 0)
    if start + 1 >= end:
        return None
    x = data[start + 1]
    i = start + 2
    if x & 0x80:  # I: picture id
        if i >= end:
            return None
        if data[i] & 0x80:  # M: 15 bits
            if i + 1 >= end:
                return None
            pic_at, bits, picture_id = i, 15, ((data[i] & 0x7F) << 8) | data[i + 1]
            i += 2
        else:
            pic_at, bits, picture_id = i, 7, data[i] & 0x7F
            i += 1
    if x & 0x40:  # L: TL0PICIDX
        if i >= end:
            return None
        tl0_at, tl0 = i, data[i]
    return Vp8Ids(pic_at, bits, picture_id, tl0_at, tl0)


def vp8_rewrite(buf: bytearray, ids: Vp8Ids, picture_id: int, tl0: int) -> None:
    """Write ``picture_id`` (modulo its width) and ``tl0`` where ``ids`` found them."""
    if ids.pic_at >= 0:
        if ids.pic_bits == 15:
            value = picture_id & 0x7FFF
            buf[ids.pic_at] = 0x80 | (value >> 8)
            buf[ids.pic_at + 1] = value & 0xFF
        else:
            buf[ids.pic_at] = picture_id & 0x7F
    if ids.tl0_at >= 0:
        buf[ids.tl0_at] = tl0 & 0xFF


@dataclass
class Span:
    """Outgoing numbers from ``first_out`` on: one layer, constant offsets."""

    first_out: int  # first outgoing sequence number of the span
    seq_offset: int
    layer: object
    ts_offset: int = 0
    pic_offset: int = 0
    tl0_offset: int = 0


@dataclass(frozen=True)
class Rewritten:
    seq: int
    timestamp: int
    picture_id: int
    tl0: int


class LayerMunger(Generic[S]):
    """One subscriber's numbering of one slot across its source's layers (see module doc)."""

    def __init__(self, clock_rate: int = 90000, seed: int = 0) -> None:
        self.clock_rate = clock_rate
        self.current: S | None = None
        self.target: S | None = None
        self.paused = False
        self.started = False
        self.seq_offset = seed & 0xFFFF
        self.ts_offset = (seed * 7) & 0xFFFFFFFF
        self.pic_offset = 0
        self.tl0_offset = 0
        self.last_seq = 0
        self.last_ts = 0
        self.last_time = 0.0
        self.last_pic = 0
        self.last_tl0 = 0
        self.start_seq = 0  # the current layer's first forwarded packet: older ones are late
        self._fresh = False  # start_seq is recent enough to compare with (16-bit wrap)
        self.switches = 0
        self.late_dropped = 0
        self._spans: list[Span] = []

    def set_target(self, layer: S | None) -> None:
        """The layer the allocator chose (None = pause). Takes effect on its key frame."""
        if layer is None:
            self.paused = True
            self.target = None
            self.current = None
            return
        self.paused = False
        self.target = layer

    @property
    def switching(self) -> bool:
        return self.target is not None and self.target is not self.current

    def rewrite(
        self,
        layer: S,
        seq: int,
        ts: int,
        keyframe: bool,
        now: float,
        picture_id: int = 0,
        tl0: int = 0,
    ) -> Rewritten | None:
        """The outgoing numbers of a packet of ``layer``, or None: not for this subscriber."""
        if layer is not self.current:
            if layer is not self.target or not keyframe:
                return None
            self._switch(layer, seq, ts, now, picture_id, tl0)
        elif self._fresh:
            since = (seq - self.start_seq) & 0xFFFF
            if since & 0x8000:
                self.late_dropped += 1  # older than the switch point: its number is taken
                return None
            if since > 0x2000:
                self._fresh = False  # nothing that old is still accepted by the ingress
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        out_pic = (picture_id + self.pic_offset) & 0x7FFF
        out_tl0 = (tl0 + self.tl0_offset) & 0xFF
        if ((out_seq - self.last_seq) & 0xFFFF) < 0x8000:
            self.last_seq = out_seq
            self.last_ts = out_ts
            self.last_time = now
            self.last_pic = out_pic
            self.last_tl0 = out_tl0
        return Rewritten(out_seq, out_ts, out_pic, out_tl0)

    def _switch(self, layer: S, seq: int, ts: int, now: float, picture_id: int, tl0: int) -> None:
        if self.started:
            elapsed = max(1, int((now - self.last_time) * self.clock_rate))
            self.seq_offset = (self.last_seq + 1 - seq) & 0xFFFF
            self.ts_offset = (self.last_ts + elapsed - ts) & 0xFFFFFFFF
            self.pic_offset = (self.last_pic + 1 - picture_id) & 0x7FFF
            self.tl0_offset = (self.last_tl0 + 1 - tl0) & 0xFF
        else:
            self.started = True
            self.seq_offset = (self.seq_offset - seq) & 0xFFFF
            self.ts_offset = (self.ts_offset - ts) & 0xFFFFFFFF
            self.last_seq = (seq + self.seq_offset - 1) & 0xFFFF
        self.current = layer
        self.start_seq = seq
        self._fresh = True
        self.switches += 1
        self._add_span((seq + self.seq_offset) & 0xFFFF, layer)

    def _add_span(self, first_out: int, layer: S) -> None:
        self._spans.append(
            Span(
                first_out,
                self.seq_offset,
                layer,
                self.ts_offset,
                self.pic_offset,
                self.tl0_offset,
            )
        )
        del self._spans[:-SPANS]

    def seed(
        self,
        layer: S,
        *,
        seq_offset: int,
        ts_offset: int,
        start_seq: int,
        last_seq: int,
        last_ts: int,
        last_time: float,
        last_pic: int,
        last_tl0: int,
    ) -> None:
        """Continue a stream numbered elsewhere (the slot's shared numbering) on ``layer``:
        same offsets, picture ids as the source's, and the next switch follows from it."""
        self.started = True
        self.current = self.target = layer
        self.paused = False
        self.seq_offset, self.ts_offset = seq_offset & 0xFFFF, ts_offset & 0xFFFFFFFF
        self.pic_offset = self.tl0_offset = 0
        self.start_seq = start_seq
        self._fresh = ((last_seq - seq_offset - start_seq) & 0xFFFF) <= 0x2000
        self.last_seq, self.last_ts, self.last_time = last_seq, last_ts, last_time
        self.last_pic, self.last_tl0 = last_pic, last_tl0
        self._add_span((start_seq + self.seq_offset) & 0xFFFF, layer)

    def span(self, out_seq: int) -> Span | None:
        """The span an outgoing sequence number belongs to, if it is recent enough."""
        for span in reversed(self._spans):
            if ((out_seq - span.first_out) & 0xFFFF) < 0x8000:
                return span
        return None

    def forget(self, layer: S) -> None:
        """A layer's publisher left: no span may keep it (or its history) alive."""
        self._spans = [s for s in self._spans if s.layer is not layer]
        if self.current is layer:
            self.current = None
        if self.target is layer:
            self.target = None

    def lookup(self, out_seq: int) -> tuple[S, int] | None:
        """(layer, source sequence number) of an outgoing one, if it is recent enough."""
        span = self.span(out_seq)
        if span is None:
            return None
        return span.layer, (out_seq - span.seq_offset) & 0xFFFF  # type: ignore[return-value]
