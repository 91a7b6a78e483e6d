"""Ingress: one publisher stream's checks, receive statistics, history and NACK generator.

A packet lost between a publisher and the SFU would otherwise be lost for every subscriber.
:class:`NackGenerator` notices the gap in the publisher's sequence numbers, waits a little in
case the packet is only reordered, then asks the publisher for it (RFC 4585 generic NACK),
again every ~RTT while it is missing, a bounded number of times. A packet that arrives late
goes into the history and is forwarded like any other: its rewritten sequence number puts it
in its place in each subscriber's stream (the subscriber's jitter buffer orders it). A packet
that cannot be recovered (too old, too many tries, a gap larger than the history) is given
up, and for video the stream's key-frame request manager is asked for a key frame, because
the frames after it cannot be decoded anyway.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from . import rtp
from .counters import RoomCounters

if TYPE_CHECKING:
    from .keyframes import KeyframeRequester

HISTORY_SIZE = 1024  # packets kept per publisher stream for NACK (issue asks >= 500)
MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100

NACK_REORDER_DELAY = 0.010  # s a gap may be reordering before the first NACK
NACK_MIN_INTERVAL = 0.020  # s between two NACKs of one packet, at least ...
NACK_MAX_INTERVAL = 0.400  # ... and at most, whatever the RTT
NACK_MAX_TRIES = 10
NACK_MAX_AGE = 1.0  # s after which a missing packet is given up
NACK_MAX_GAP = 300  # a larger jump is given up at once (a key frame is cheaper)
NACK_MAX_MISSING = 500  # packets tracked per stream
NACK_MAX_PER_PACKET = 128  # sequence numbers in one NACK packet
DEFAULT_RTT = 0.1

_unpack_seq = struct.Struct("!H").unpack_from


class StreamSink(Protocol):
    """What a publisher stream's packets are handed to: a slot (``egress.Slot``), or the
    stream's crossing of a pipe to another worker (``pipe.py``)."""

    def forward(
        self,
        data: bytes,
        header: rtp.RtpHeader,
        elements: list[tuple[int, int, int]],
        keyframe: bool,
        now: float,
    ) -> int: ...

    def resync(self) -> None: ...


class NackGenerator:
    """Missing sequence numbers of one stream and when to ask for them again.

    ``missing`` maps a 16-bit sequence number to ``[first seen missing, last NACKed, tries]``.
    With ``enabled`` false (a publisher that did not negotiate ``nack`` for the stream --
    audio whose offer did not ask for it --, or ``Room(upstream_nack=False)``) the gaps are
    still counted -- lost, late, given up -- but nothing is sent: the SFU's behaviour before
    the generator existed.
    """

    def __init__(self, counters: RoomCounters, *, enabled: bool = False) -> None:
        self.counters = counters
        self.enabled = enabled
        self.missing: dict[int, list[float]] = {}
        self.send: Callable[[list[int]], None] | None = None  # NACK these seqs upstream
        self.give_up: Callable[[], None] | None = None  # ask for a key frame instead
        self.rtt = DEFAULT_RTT
        self.rtt_measured = False
        self.lost = 0  # this stream's share of the room counters
        self.recovered = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.closed = False

    # --- called by PublisherStream.note_arrival ------------------------------------

    def gap(self, first: int, count: int, now: float) -> None:
        """``count`` sequence numbers from ``first`` on were skipped."""
        self.counters.lost_upstream += count
        self.lost += count
        if count > NACK_MAX_GAP:
            self.counters.unrecovered += count
            self._gave_up()
            return
        missing = self.missing
        if not self.enabled and missing:
            self._expire_oldest(now)
        for i in range(count):
            missing[(first + i) & 0xFFFF] = [now, 0.0, 0]
        excess = len(missing) - NACK_MAX_MISSING
        if excess > 0:  # dicts keep insertion order: the oldest go first
            for seq in list(missing)[:excess]:
                del missing[seq]
            self.counters.unrecovered += excess
            self._gave_up()
        if self.enabled:
            self._schedule(now + NACK_REORDER_DELAY)

    def _expire_oldest(self, now: float) -> None:
        """Without NACKs nothing is timed: forget what is older than NACK_MAX_AGE."""
        missing = self.missing
        expired = 0
        for entry in missing.values():
            if now - entry[0] < NACK_MAX_AGE:
                break
            expired += 1
        if expired:
            for seq in list(missing)[:expired]:
                del missing[seq]
            self.counters.unrecovered += expired

    def arrived(self, seq: int, now: float) -> bool:
        """A late packet arrived; return True if it was one we were missing."""
        entry = self.missing.pop(seq, None)
        if entry is None:
            return False
        self.counters.recovered += 1
        self.recovered += 1
        if entry[2] == 1 and not self.rtt_measured:
            # the answer to a first NACK: a round trip, until receiver reports give one
            self.rtt += (max(0.001, now - entry[1]) - self.rtt) / 4
        return True

    def reset(self) -> None:
        """The source restarted its numbering: what was missing will never come."""
        self.counters.unrecovered += len(self.missing)
        self.missing.clear()

    def set_rtt(self, rtt: float) -> None:
        """The peer's smoothed round-trip time from receiver reports."""
        if 0.0 < rtt < 5.0:
            self.rtt = rtt
            self.rtt_measured = True

    # --- the timer -------------------------------------------------------------------

    def interval(self) -> float:
        return min(NACK_MAX_INTERVAL, max(NACK_MIN_INTERVAL, 1.25 * self.rtt + 0.005))

    def _schedule(self, when: float) -> None:
        if self.closed or (self._timer is not None and self._timer_at <= when):
            return
        if self._timer is not None:
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven by hand (unit tests): _run() is called directly
            return
        self._timer_at = when
        self._timer = loop.call_at(loop.time() + max(0.0, when - time.monotonic()), self._run)

    def _run(self) -> None:
        self._timer = None
        if self.closed:
            return
        now = time.monotonic()
        interval = self.interval()
        enabled = self.enabled and self.send is not None
        batch: list[int] = []
        expired: list[int] = []
        next_at = float("inf")
        for seq, entry in self.missing.items():
            first, sent, tries = entry
            if now - first >= NACK_MAX_AGE or (tries >= NACK_MAX_TRIES and now - sent >= interval):
                expired.append(seq)
                continue
            if not enabled:
                due = first + NACK_MAX_AGE
            elif tries == 0:
                due = first + NACK_REORDER_DELAY
            else:
                due = sent + interval
            if due <= now + 0.001 and enabled and tries < NACK_MAX_TRIES:
                batch.append(seq)
                entry[1] = now
                entry[2] = tries + 1
                due = now + interval
            next_at = min(next_at, due, first + NACK_MAX_AGE)
        for seq in expired:
            del self.missing[seq]
        if expired:
            self.counters.unrecovered += len(expired)
            self._gave_up()
        if batch and self.send is not None:
            for i in range(0, len(batch), NACK_MAX_PER_PACKET):
                part = batch[i : i + NACK_MAX_PER_PACKET]
                self.counters.nacks_sent += 1
                self.counters.nacked_packets += len(part)
                self.send(part)
        if self.missing:
            self._schedule(next_at)

    def _gave_up(self) -> None:
        if self.enabled and self.give_up is not None:
            self.give_up()

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.missing.clear()


class PublisherStream:
    """One incoming RTP stream (a participant's camera or microphone)."""

    def __init__(
        self,
        owner: str,
        kind: str,
        ssrc: int,
        codecs: dict[int, str],
        extensions: dict[str, int],
        counters: RoomCounters | None = None,
        *,
        codec_keys: dict[int, str] | None = None,
    ) -> None:
        self.owner = owner
        self.kind = kind
        self.ssrc = ssrc
        self.codecs = codecs  # payload type -> codec name
        self.rid: str | None = None  # simulcast layer (RFC 8851 rid), None without simulcast
        self.layer = 0  # its rank among the publisher's layers, 0 = lowest
        # payload type -> what a subscriber must match to decode it (signalling.codec_key)
        self.codec_keys = {pt: (codec_keys or {}).get(pt, name) for pt, name in codecs.items()}
        self.clock_rate = 90000 if kind == "video" else 48000
        self.uri_by_id = {i: u for u, i in extensions.items()}
        self.abs_send_time_id = extensions.get(rtp.URI_ABS_SEND_TIME, 0)
        self.audio_level_id = extensions.get(rtp.URI_AUDIO_LEVEL, 0)
        self.history: list[bytes | None] = [None] * HISTORY_SIZE
        self.slots: list[StreamSink] = []  # the slots it fills (and pipes it crosses)
        self.muted = False
        self.counters = counters if counters is not None else RoomCounters()
        self.nack = NackGenerator(self.counters)
        self.keyframe_requests: KeyframeRequester | None = None  # video: set by the peer
        # receive statistics for receiver reports (RFC 3550 A.3, A.8)
        self.packets = 0
        self.octets = 0
        self.base_seq = -1
        self.max_seq = 0
        self.cycles = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        self.last_transit: float | None = None
        self.last_arrival = 0.0
        self.sr_ntp = 0  # last sender report: NTP and RTP time, local receive time
        self.sr_rtp = 0
        self.sr_at = 0.0
        self.audio_level: float = 127  # smoothed -dBov; 127 is silence
        self.keyframes = 0
        self.bad_seq = -1
        self.restarts = 0
        self.duplicates = 0

    def stored(self, seq: int) -> bytes | None:
        data = self.history[seq % HISTORY_SIZE]
        if data is not None and _unpack_seq(data, 2)[0] == seq:
            return data
        return None

    def note_arrival(self, data: bytes, seq: int, timestamp: int, now: float) -> bool:
        """Account for a packet; return False if it must be dropped.

        RFC 3550 A.1: a jump of more than MAX_DROPOUT ahead or MAX_MISORDER behind is
        dropped, unless the next packet continues from it (the source restarted), or it is
        a packet the NACK generator is waiting for. This keeps a broken or hostile sender
        from throwing the subscribers' sequence and SRTP index estimates off. A packet
        received twice is dropped too (a retransmission that crossed the original).
        """
        if self.base_seq < 0:
            self.base_seq = seq
            self.max_seq = seq
        else:
            delta = (seq - self.max_seq) & 0xFFFF
            if delta == 0:
                self.duplicates += 1
                self.counters.duplicates += 1
                return False
            if delta < MAX_DROPOUT:
                if delta > 1:
                    self.nack.gap((self.max_seq + 1) & 0xFFFF, delta - 1, now)
                if seq < self.max_seq:
                    self.cycles += 0x10000
                self.max_seq = seq
            elif self.nack.missing and self.nack.arrived(seq, now):
                pass  # late, but asked for: into the history and on to the subscribers
            elif delta <= 0x10000 - MAX_MISORDER:
                if seq != self.bad_seq:
                    self.bad_seq = (seq + 1) & 0xFFFF
                    return False
                # two in a row: the source restarted its numbering
                self.base_seq = seq
                self.max_seq = seq
                self.cycles = 0
                self.packets = 0
                self.expected_prior = self.received_prior = 0
                self.restarts += 1
                self.nack.reset()
                for slot in self.slots:
                    slot.resync()  # keep the subscribers' numbering continuous
            elif self.stored(seq) is not None:
                self.duplicates += 1
                self.counters.duplicates += 1
                return False
        self.history[seq % HISTORY_SIZE] = data
        self.packets += 1
        self.octets += len(data)
        self.last_arrival = now
        transit = now * self.clock_rate - timestamp
        if self.last_transit is not None:
            d = abs(transit - self.last_transit)
            if d < self.clock_rate:  # ignore timestamp jumps (source switch, wrap)
                self.jitter += (d - self.jitter) / 16
        self.last_transit = transit
        return True

    def report_block(self) -> rtp.ReportBlock:
        extended = self.cycles + self.max_seq
        expected = extended - self.base_seq + 1
        lost = expected - self.packets
        expected_interval = expected - self.expected_prior
        received_interval = self.packets - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.packets
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lsr = (self.sr_ntp >> 16) & 0xFFFFFFFF
        dlsr = int((time.monotonic() - self.sr_at) * 65536) if self.sr_ntp else 0
        return rtp.ReportBlock(
            self.ssrc, fraction, lost, extended, int(self.jitter), lsr, dlsr & 0xFFFFFFFF
        )

    def close(self) -> None:
        self.nack.close()
        if self.keyframe_requests is not None:
            self.keyframe_requests.close()
