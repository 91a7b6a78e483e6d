"""What a subscriber of benchmarks/sfu_loss.py sees: VP8 frames reassembled from RTP, a
decoder model and packet loss, without decoding.

Pure Python, no I/O: the unit tests feed crafted RTP (tests/media_worker/test_loss_harness.py).

- :class:`SeqCounter` extends 16-bit sequence numbers and records which ones arrived (a bitmap),
  so residual loss over any range is exact, retransmissions and duplicates counted once.
- :class:`Vp8Receiver` groups VP8 packets into frames by RTP timestamp. A frame is *complete*
  when its first packet (VP8 payload descriptor S=1, partition 0), its last (RTP marker) and
  every sequence number between them arrived. A live decoder model then shows frames in order:
  a complete key frame, or a complete frame whose predecessor was shown. A frame still
  incomplete ``give_up`` seconds after it began (or entirely missing while a later frame has
  waited that long) breaks the chain: nothing is shown until the next complete key frame, and
  the receiver asks for one (``want_keyframe``), as a browser sends a PLI. libvpx in realtime
  mode without temporal layers predicts every inter frame from the previous one, so this is
  what a real decoder would do, less concealment.
- :func:`freeze_seconds` sums the gaps longer than ``threshold`` between shown frames.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

FRAME_STEP = 3000  # 90 kHz RTP clock at 30 fps: the clip's timestamps advance by exactly this
GIVE_UP = 0.25  # seconds a decoder waits for a missing frame before it needs a key frame
MAX_LATE = 1.0  # a frame completed later than this after its first packet does not count
FREEZE_GAP = 0.2  # seconds without a new shown frame that count as a freeze


def parse_rtp(data: bytes) -> tuple[int, int, int, bool, int, int] | None:
    """``(payload_type, seq, timestamp, marker, ssrc, payload_offset)`` or None if malformed."""
    n = len(data)
    if n < 12 or data[0] & 0xC0 != 0x80:
        return None
    b0, b1 = data[0], data[1]
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if pos + 4 > n:
            return None
        words = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 4 + 4 * words
    if pos >= n:
        return None
    seq = int.from_bytes(data[2:4], "big")
    ts = int.from_bytes(data[4:8], "big")
    ssrc = int.from_bytes(data[8:12], "big")
    return b1 & 0x7F, seq, ts, bool(b1 & 0x80), ssrc, pos


def unwrap_rtx(data: bytes, payload_type: int, ssrc: int) -> bytes | None:
    """The original packet inside an RTX packet (RFC 4588): its sequence number from the
    first two payload bytes, ``payload_type`` and ``ssrc`` of the original stream. None for
    a malformed or padding-only RTX packet."""
    parsed = parse_rtp(data)
    if parsed is None:
        return None
    end = len(data)
    if data[0] & 0x20:  # padding
        end -= data[-1]
    pos = parsed[5]
    if end - pos < 3:
        return None
    header = bytearray(data[:pos])
    header[0] &= ~0x20 & 0xFF
    header[1] = (header[1] & 0x80) | payload_type
    header[2:4] = data[pos : pos + 2]
    header[8:12] = ssrc.to_bytes(4, "big")
    return bytes(header) + data[pos + 2 : end]


def vp8_descriptor(data: bytes, pos: int) -> tuple[bool, bool] | None:
    """``(starts_frame, keyframe)`` from the VP8 payload descriptor at ``pos`` (RFC 7741).

    ``starts_frame`` is S=1 with partition index 0; ``keyframe`` is only meaningful then
    (the P bit of the VP8 frame header, 0 = key frame).
    """
    n = len(data)
    if pos >= n:
        return None
    b0 = data[pos]
    i = pos + 1
    if b0 & 0x80:  # X: extension byte follows
        if i >= n:
            return None
        x = data[i]
        i += 1
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if i >= n:
                return None
            i += 2 if data[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX byte
            i += 1
    starts = bool(b0 & 0x10) and (b0 & 0x07) == 0
    if not starts:
        return False, False
    if i >= n:
        return None
    return True, not (data[i] & 0x01)


class SeqCounter:
    """Which extended sequence numbers of one SSRC arrived (each counted once)."""

    def __init__(self) -> None:
        self.base: int | None = None
        self.highest = -1  # extended, relative numbering starts at 0 for the first packet
        self.bits = bytearray()
        self.duplicates = 0

    def extend(self, seq: int) -> int:
        """The extended number of ``seq`` (closest to the highest seen; wraps at 2^16)."""
        if self.base is None:
            self.base = seq
            return 0
        ref = self.highest if self.highest >= 0 else 0
        cand = ((seq - self.base) & 0xFFFF) + (ref & ~0xFFFF)
        if cand - ref > 0x8000:
            cand -= 0x10000
        elif ref - cand > 0x8000:
            cand += 0x10000
        return cand

    def add(self, seq: int) -> tuple[int, bool]:
        """Record ``seq``; return ``(extended, new)`` (False for a duplicate or a too-old one)."""
        ext = self.extend(seq)
        if ext < 0:
            return ext, False
        if ext >= len(self.bits) * 8:
            self.bits.extend(bytes(max(1024, ext // 8 + 1 - len(self.bits))))
        byte, bit = ext >> 3, 1 << (ext & 7)
        if self.bits[byte] & bit:
            self.duplicates += 1
            return ext, False
        self.bits[byte] |= bit
        if ext > self.highest:
            self.highest = ext
        return ext, True

    def has(self, ext: int) -> bool:
        return 0 <= ext < len(self.bits) * 8 and bool(self.bits[ext >> 3] & (1 << (ext & 7)))

    def received(self, lo: int, hi: int) -> int:
        """How many of the extended numbers ``lo..hi`` (inclusive) arrived."""
        lo = max(lo, 0)
        return sum(1 for e in range(lo, hi + 1) if self.has(e))


class Frame:
    __slots__ = ("complete_at", "end", "first_arrival", "keyframe", "seqs", "shown_at", "start")

    def __init__(self, now: float) -> None:
        self.first_arrival = now
        self.start: int | None = None  # extended seq of the S=1/partition-0 packet
        self.end: int | None = None  # extended seq of the marker packet
        self.keyframe = False
        self.seqs: set[int] | None = set()  # dropped once complete
        self.complete_at: float | None = None
        self.shown_at: float | None = None


@dataclass
class FrameSummary:
    sent: int = 0  # frames the timestamps say were sent in the range
    complete: int = 0  # all packets arrived (within MAX_LATE)
    shown: int = 0  # complete and decodable (the chain from a key frame unbroken)
    keyframes: int = 0  # complete key frames
    shown_times: list[float] | None = None


class Vp8Receiver:
    """One subscriber's video slot: frames by timestamp, completeness, a decoder model."""

    def __init__(self, *, step: int = FRAME_STEP, give_up: float = GIVE_UP) -> None:
        self.step = step
        self.give_up = give_up
        self.seqs = SeqCounter()
        self.frames: dict[int, Frame] = {}
        self.base_ts: int | None = None
        self.highest_idx = -1
        self.next_idx: int | None = None  # next frame the decoder wants
        self.waiting_key = True
        self.want_keyframe = False  # set when the chain breaks; the caller clears it
        self.chain_breaks = 0
        self.malformed = 0
        self.shown: list[tuple[int, float]] = []  # (frame index, time), in showing order

    def frame_index(self, ts: int) -> int:
        if self.base_ts is None:
            self.base_ts = ts
        delta = (ts - self.base_ts) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 0x100000000
        return round(delta / self.step)

    def add(self, data: bytes, now: float) -> int | None:
        """Take one RTP packet; return its extended sequence number (None if malformed)."""
        parsed = parse_rtp(data)
        if parsed is None:
            self.malformed += 1
            return None
        _, seq, ts, marker, _, pos = parsed
        desc = vp8_descriptor(data, pos)
        if desc is None:
            self.malformed += 1
            return None
        ext, new = self.seqs.add(seq)
        if not new:
            return ext
        idx = self.frame_index(ts)
        if idx < 0:
            return ext  # older than the first frame seen
        frame = self.frames.get(idx)
        if frame is None:
            frame = self.frames[idx] = Frame(now)
            if idx > self.highest_idx:
                self.highest_idx = idx
        if frame.seqs is None:
            return ext  # already complete (cannot happen without a duplicate)
        frame.seqs.add(ext)
        starts, key = desc
        if starts:
            frame.start = ext
            frame.keyframe = key
        if marker:
            frame.end = ext
        if (
            frame.start is not None
            and frame.end is not None
            and len(frame.seqs) == frame.end - frame.start + 1
        ):
            frame.complete_at = now
            frame.seqs = None
        self.poll(now)
        return ext

    def poll(self, now: float) -> None:
        """Advance the decoder model: show what can be shown, give up what waited too long."""
        frames = self.frames
        for _ in range(10_000):  # bounded; each pass shows or skips at least one frame
            if self.waiting_key:
                start = self.next_idx if self.next_idx is not None else 0
                key = None
                for idx in range(start, self.highest_idx + 1):
                    f = frames.get(idx)
                    if f is not None and f.complete_at is not None and f.keyframe:
                        key = idx
                        break
                if key is None:
                    return
                self.next_idx = key
                self.waiting_key = False
            assert self.next_idx is not None
            idx = self.next_idx
            f = frames.get(idx)
            if f is not None and f.complete_at is not None:
                f.shown_at = now
                self.shown.append((idx, now))
                self.next_idx = idx + 1
                continue
            if idx > self.highest_idx:
                return
            if f is not None:
                waited = now - f.first_arrival
            else:
                later = now
                for i in range(idx + 1, self.highest_idx + 1):
                    g = frames.get(i)
                    if g is not None:
                        later = g.first_arrival
                        break
                waited = now - later
            if waited <= self.give_up:
                return
            self.waiting_key = True
            self.want_keyframe = True
            self.chain_breaks += 1
            self.next_idx = idx + 1

    def summary(self, lo: int, hi: int) -> FrameSummary:
        """Frames with index ``lo..hi`` (inclusive): sent, complete, shown."""
        s = FrameSummary(sent=max(0, hi - lo + 1), shown_times=[])
        assert s.shown_times is not None
        for idx in range(lo, hi + 1):
            f = self.frames.get(idx)
            if f is None:
                continue
            if f.complete_at is not None and f.complete_at - f.first_arrival <= MAX_LATE:
                s.complete += 1
                if f.keyframe:
                    s.keyframes += 1
            if f.shown_at is not None:
                s.shown += 1
                s.shown_times.append(f.shown_at)
        return s

    def shown_between(self, t0: float, t1: float) -> list[float]:
        """Times at which frames were shown within ``[t0, t1]``."""
        return [t for _, t in self.shown if t0 <= t <= t1]


def freeze_seconds(
    shown_times: list[float], t0: float, t1: float, gap: float = FREEZE_GAP
) -> float:
    """Total length of the intervals longer than ``gap`` without a newly shown frame in
    ``[t0, t1]`` (the window's edges count as boundaries)."""
    if t1 <= t0:
        return 0.0
    points = [t0, *sorted(t for t in shown_times if t0 <= t <= t1), t1]
    return sum(b - a for a, b in itertools.pairwise(points) if b - a > gap)


def median(values: list[float]) -> float:
    if not values:
        return math.nan
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
