"""Munger: one slot's outgoing numbering, continuous across source switches.

A slot (``main``, ``chair``, ``thumb0``..) sends ONE stream to its subscribers whatever
source feeds it. :class:`Munger` owns the rewriting that makes that so:

- **sequence numbers** are the source's plus an offset, so gaps inside a source are kept
  (a subscriber's NACK maps back to the source's number through :meth:`Munger.lookup`);
- **timestamps** are the source's plus an offset; on a switch they advance by the
  wall-clock time that passed since the last packet sent;
- **switch**: after :meth:`Munger.switch` video waits for the new source's next key frame,
  and the next packet re-bases both offsets so the numbering follows the last packet sent,
  without a gap; packets of the new source older than the one it started on are dropped
  (late, or recovered by NACK from before the switch: their numbers would reuse ones
  already sent for the old source);
- the **ring** remembers, per outgoing sequence number, which source packet it was, for
  retransmissions.

VP8 picture ids / TL0PICIDX are not rewritten (a switch always starts on a key frame, which
the decoder takes whatever its picture id); layer switching inside one source (simulcast)
will need that rewriting here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ingress import HISTORY_SIZE

if TYPE_CHECKING:
    from .ingress import PublisherStream

# out seq -> (out seq, source, source seq, out timestamp)
RingEntry = tuple[int, "PublisherStream | None", int, int]


class Munger:
    """Sequence/timestamp rewriting and switch state of one slot."""

    def __init__(self, ssrc: int, kind: str) -> None:
        self.ssrc = ssrc
        self.kind = kind
        self.clock_rate = 90000 if kind == "video" else 48000
        self.waiting_keyframe = kind == "video"
        self.resyncing = True  # the next packet re-bases the offsets
        self.seq_offset = 0
        self.ts_offset = 0
        self.start_seq = 0  # the current source's first forwarded packet: older ones are late
        self._fresh = False  # start_seq is recent enough to compare with
        self.late_dropped = 0
        self.last_seq = 0
        self.last_ts = 0
        self.last_time = 0.0
        self.started = False
        self.packets = 0  # packets numbered (sent on the slot, counted once)
        self.ring: list[RingEntry | None] = [None] * HISTORY_SIZE

    def switch(self) -> None:
        """The slot was re-pointed: video waits for a key frame, then numbering re-bases."""
        self.waiting_keyframe = self.kind == "video"
        self.resyncing = True

    def resync(self) -> None:
        """Re-base numbering on the next packet: it follows the last one sent, no gap."""
        self.resyncing = True

    def rewrite(
        self, source: PublisherStream | None, seq: int, ts: int, keyframe: bool, now: float
    ) -> tuple[int, int] | None:
        """The outgoing (sequence, timestamp) of a source packet, or None: not sent.

        Not sent: video before the first key frame after a switch, or a packet older than
        the one the current source started on. A packet that is sent is recorded in the ring.
        """
        if self.waiting_keyframe:
            if not keyframe:
                return None
            self.waiting_keyframe = False
        if self.resyncing:
            self.resyncing = False
            self.start_seq = seq
            if self.started:
                elapsed = max(1, int((now - self.last_time) * self.clock_rate))
                self.ts_offset = (self.last_ts + elapsed - ts) & 0xFFFFFFFF
                self.seq_offset = (self.last_seq + 1 - seq) & 0xFFFF
            else:
                self.started = True
                self.seq_offset = (self.ssrc - seq) & 0xFFFF  # arbitrary, stable start
                self.ts_offset = (self.ssrc * 7 - ts) & 0xFFFFFFFF
            self._fresh = True
        elif self._fresh:
            since = (seq - self.start_seq) & 0xFFFF
            if since & 0x8000:
                # Older than the packet this source started on (late, or recovered by NACK,
                # from before the switch): its number would reuse one sent for the old source.
                self.late_dropped += 1
                return None
            if since > 0x2000:
                self._fresh = False  # nothing that old is still accepted by the ingress
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        if ((out_seq - self.last_seq) & 0xFFFF) < 0x8000 or not self.packets:
            self.last_seq = out_seq
            self.last_ts = out_ts
            self.last_time = now
        self.ring[out_seq % HISTORY_SIZE] = (out_seq, source, seq, out_ts)
        self.packets += 1
        return out_seq, out_ts

    def lookup(self, out_seq: int) -> tuple[PublisherStream, int, int] | None:
        """(source, source seq, out timestamp) of a packet sent as ``out_seq``, if still known."""
        entry = self.ring[out_seq % HISTORY_SIZE]
        if entry is None or entry[0] != out_seq or entry[1] is None:
            return None
        return entry[1], entry[2], entry[3]

    def forget(self, stream: PublisherStream) -> None:
        """Drop the ring's references to a departed publisher's stream (and its history)."""
        ring = self.ring
        for i, entry in enumerate(ring):
            if entry is not None and entry[1] is stream:
                ring[i] = None

    def rtp_time(self, source: PublisherStream | None, now: float) -> int:
        """The slot's RTP time at monotonic ``now``, for a sender report.

        Mapped from the source's own sender report when there is one (so audio and video of
        a source stay in sync for the browser), else from the wall-clock time of the last
        packet sent.
        """
        if source is not None and source.sr_ntp and source.slots and not self.resyncing:
            since = now - source.sr_at
            return source.sr_rtp + self.ts_offset + int(since * self.clock_rate)
        return self.last_ts + int((now - self.last_time) * self.clock_rate)
