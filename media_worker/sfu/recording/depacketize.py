"""From RTP payloads back to the encoded frames a muxer stores (nothing is decoded).

- VP8 (RFC 7741): strip the payload descriptor; a frame starts at S=1, partition 0; a key
  frame has the P bit of the VP8 frame tag clear and carries its size after the start code.
- H.264 (RFC 6184, packetization mode 1): single NAL units, STAP-A and FU-A become NAL units;
  an access unit starts with a parameter set, an AUD/SEI or the first slice of a picture
  (``first_mb_in_slice == 0``); it is a key frame when it holds an IDR slice. Matroska stores
  NAL units length-prefixed, with SPS/PPS in the track's ``avcC`` record.
- Opus (RFC 7587): one RTP payload is one Opus packet.

:class:`FrameAssembler` turns the packets of one video stream (in any order, with losses and
duplicates) into complete frames in order. An incomplete frame is given up after a short wait
(retransmissions have had their chance); from then on frames are dropped until the next key
frame, because a VP8/H.264 delta frame after a missing one does not decode cleanly.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

# --- VP8 ----------------------------------------------------------------------------------


def vp8_descriptor_size(payload: bytes) -> int:
    """Bytes of the VP8 payload descriptor at the start of ``payload`` (0 if malformed)."""
    n = len(payload)
    if n < 2:
        return 0
    b = payload[0]
    i = 1
    if b & 0x80:
        x = payload[1]
        i = 2
        if x & 0x80:
            if i >= n:
                return 0
            i += 2 if payload[i] & 0x80 else 1
        if x & 0x40:
            i += 1
        if x & 0x30:
            i += 1
    return i if i < n else 0


def vp8_is_start(payload: bytes) -> bool:
    return len(payload) >= 2 and bool(payload[0] & 0x10) and not payload[0] & 0x07


def vp8_frame_info(frame: bytes) -> tuple[bool, int, int]:
    """``(keyframe, width, height)`` of an assembled VP8 frame (0, 0 for delta frames)."""
    if len(frame) < 3 or frame[0] & 0x01:
        return False, 0, 0
    if len(frame) >= 10 and frame[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", frame, 6)
        return True, width & 0x3FFF, height & 0x3FFF
    return True, 0, 0


# --- H.264 --------------------------------------------------------------------------------

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
STAP_A = 24
FU_A = 28


def h264_nal_units(payload: bytes) -> tuple[list[bytes], bytes | None, bool]:
    """``(complete NAL units, FU-A fragment, fragment ends)`` carried by one payload.

    A FU-A fragment comes back as bytes to append to the NAL being rebuilt: with the
    reconstructed NAL header when it is the start fragment.
    """
    if not payload:
        return [], None, False
    nal_type = payload[0] & 0x1F
    if 1 <= nal_type <= 23:
        return [payload], None, False
    if nal_type == STAP_A:
        units = []
        i = 1
        n = len(payload)
        while i + 2 <= n:
            size = struct.unpack_from("!H", payload, i)[0]
            i += 2
            if size == 0 or i + size > n:
                break
            units.append(payload[i : i + size])
            i += size
        return units, None, False
    if nal_type == FU_A and len(payload) >= 2:
        fu = payload[1]
        body = payload[2:]
        if fu & 0x80:  # start: rebuild the NAL header from the indicator and the FU header
            body = bytes([(payload[0] & 0xE0) | (fu & 0x1F)]) + body
        return [], body, bool(fu & 0x40)
    return [], None, False


def h264_is_start(payload: bytes) -> bool:
    """Does this payload begin an access unit?"""
    if len(payload) < 2:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (NAL_SEI, NAL_SPS, NAL_PPS, NAL_AUD, STAP_A):
        return True
    if nal_type in (NAL_SLICE, NAL_IDR):
        return bool(payload[1] & 0x80)  # first_mb_in_slice == 0 is the exp-Golomb bit "1"
    if nal_type == FU_A and len(payload) >= 3:
        fu = payload[1]
        return bool(fu & 0x80) and fu & 0x1F in (NAL_SLICE, NAL_IDR) and bool(payload[2] & 0x80)
    return False


def _unescape(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 → 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.pos >> 3
        if byte >= len(self.data):
            raise ValueError("SPS truncated")
        value = (self.data[byte] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        v = self.ue()
        return (v + 1) // 2 if v & 1 else -(v // 2)


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """Picture ``(width, height)`` from a sequence parameter set NAL (0, 0 if unreadable)."""
    try:
        r = _Bits(_unescape(sps[1:]))
        profile = r.bits(8)
        r.bits(16)  # constraint flags, level
        r.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma = r.ue()
            if chroma == 3:
                r.bit()
            r.ue()
            r.ue()
            r.bit()
            if r.bit():  # seq_scaling_matrix_present_flag
                for i in range(8 if chroma != 3 else 12):
                    if r.bit():
                        last, nxt = 8, 8
                        for _ in range(16 if i < 6 else 64):
                            if nxt:
                                nxt = (last + r.se() + 256) % 256
                            last = nxt or last
        r.ue()  # log2_max_frame_num_minus4
        poc_type = r.ue()
        if poc_type == 0:
            r.ue()
        elif poc_type == 1:
            r.bit()
            r.se()
            r.se()
            for _ in range(r.ue()):
                r.se()
        r.ue()  # max_num_ref_frames
        r.bit()
        width_mbs = r.ue() + 1
        height_units = r.ue() + 1
        frame_mbs_only = r.bit()
        if not frame_mbs_only:
            r.bit()
        r.bit()  # direct_8x8_inference_flag
        width = width_mbs * 16
        height = height_units * 16 * (2 - frame_mbs_only)
        if r.bit():  # frame_cropping_flag
            left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
            crop_x = 1 if chroma == 0 or chroma == 3 else 2
            crop_y = (1 if chroma in (0, 3) or chroma == 2 else 2) * (2 - frame_mbs_only)
            width -= (left + right) * crop_x
            height -= (top + bottom) * crop_y
        return max(0, width), max(0, height)
    except (ValueError, IndexError):
        return 0, 0


def avcc_record(sps: bytes, pps: bytes) -> bytes:
    """The ``AVCDecoderConfigurationRecord`` (ISO 14496-15) Matroska keeps as CodecPrivate."""
    return (
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1])
        + struct.pack("!H", len(sps))
        + sps
        + b"\x01"
        + struct.pack("!H", len(pps))
        + pps
    )


# --- frames -------------------------------------------------------------------------------


@dataclass(slots=True)
class Frame:
    """One encoded video frame, ready for a container."""

    codec: str  # "vp8" | "h264"
    data: bytes  # VP8 frame, or H.264 NAL units each prefixed by its 4-byte length
    timestamp: int  # RTP timestamp (90 kHz), unwrapped by the caller if it wishes
    arrival: float  # arrival time of its first packet (the caller's clock)
    keyframe: bool
    width: int = 0
    height: int = 0
    sps: bytes = b""
    pps: bytes = b""


def _build_vp8(payloads: list[bytes]) -> tuple[bytes, bool, int, int, bytes, bytes] | None:
    parts = []
    for p in payloads:
        size = vp8_descriptor_size(p)
        if not size:
            return None
        parts.append(p[size:])
    frame = b"".join(parts)
    keyframe, width, height = vp8_frame_info(frame)
    return frame, keyframe, width, height, b"", b""


def _build_h264(payloads: list[bytes]) -> tuple[bytes, bool, int, int, bytes, bytes] | None:
    units: list[bytes] = []
    fragment: bytearray | None = None
    for p in payloads:
        complete, piece, ends = h264_nal_units(p)
        if piece is not None:
            if fragment is None:
                if not p[1] & 0x80:
                    return None  # a middle fragment without its start
                fragment = bytearray()
            fragment += piece
            if ends:
                units.append(bytes(fragment))
                fragment = None
            continue
        if fragment is not None:
            return None  # fragmented NAL never finished
        units.extend(complete)
    if fragment is not None or not units:
        return None
    keyframe = False
    sps = pps = b""
    out = bytearray()
    for unit in units:
        kind = unit[0] & 0x1F
        if kind == NAL_IDR:
            keyframe = True
        elif kind == NAL_SPS:
            sps = unit
        elif kind == NAL_PPS:
            pps = unit
        out += struct.pack("!I", len(unit)) + unit
    width, height = h264_sps_size(sps) if sps else (0, 0)
    return bytes(out), keyframe, width, height, sps, pps


CODECS: dict[
    str,
    tuple[
        Callable[[bytes], bool],
        Callable[[list[bytes]], tuple[bytes, bool, int, int, bytes, bytes] | None],
    ],
] = {
    "vp8": (vp8_is_start, _build_vp8),
    "h264": (h264_is_start, _build_h264),
}


class _Pending:
    __slots__ = ("arrival", "codec", "first", "low", "marker", "packets", "timestamp")

    def __init__(self, timestamp: int, codec: str, arrival: float) -> None:
        self.timestamp = timestamp
        self.codec = codec
        self.arrival = arrival
        self.packets: dict[int, tuple[bool, bytes]] = {}  # ext seq -> (is start, payload)
        self.low = 1 << 62  # lowest ext seq seen: frames are emitted in this order
        self.first = -1  # ext seq of the packet that starts the frame, when seen
        self.marker = -1  # ext seq of the packet with the marker bit, when seen


class FrameAssembler:
    """Complete frames of one video stream, in order; broken ones dropped until a key frame.

    :param max_wait: seconds an incomplete frame may wait for its missing packets (NACK
        retransmissions) while later packets arrive; then it is given up.
    :param max_frames: frames held at most (bounds memory whatever the input).
    :param on_loss: called when a frame is given up (the recorder asks for a key frame).
    """

    def __init__(
        self,
        *,
        max_wait: float = 0.35,
        max_frames: int = 60,
        on_loss: Callable[[], None] | None = None,
    ) -> None:
        self.max_wait = max_wait
        self.max_frames = max_frames
        self.on_loss = on_loss
        self._frames: dict[int, _Pending] = {}  # timestamp -> frame being assembled
        self._max_seq = -1  # highest extended sequence number seen
        self._done_seq = -1  # packets at or below this were emitted or given up
        self.need_keyframe = True
        # counters
        self.frames = 0
        self.keyframes = 0
        self.lost_frames = 0  # given up incomplete
        self.skipped_frames = 0  # complete, but dropped while waiting for a key frame
        self.late_packets = 0

    def reset(self) -> None:
        """Forget everything (the source changed): wait for a key frame."""
        self._frames.clear()
        self._max_seq = -1
        self._done_seq = -1
        self.need_keyframe = True

    def _extend(self, seq: int) -> int:
        if self._max_seq < 0:
            self._max_seq = seq
            return seq
        delta = (seq - self._max_seq) & 0xFFFF
        ext = self._max_seq + delta if delta < 0x8000 else self._max_seq + delta - 0x10000
        if ext > self._max_seq:
            self._max_seq = ext
        return ext

    def push(
        self, seq: int, timestamp: int, marker: bool, payload: bytes, codec: str, arrival: float
    ) -> list[Frame]:
        """Add one packet's payload; return the frames it completes (possibly none)."""
        if codec not in CODECS:
            return []
        ext = self._extend(seq)
        if ext <= self._done_seq:
            self.late_packets += 1
            return []
        if self._max_seq - ext > 3000:
            self.late_packets += 1
            return []
        pending = self._frames.get(timestamp)
        if pending is None or pending.codec != codec:
            if pending is not None:
                self._drop(pending)
            pending = _Pending(timestamp, codec, arrival)
            self._frames[timestamp] = pending
        if ext in pending.packets:
            return []
        is_start = CODECS[codec][0](payload)
        pending.packets[ext] = (is_start, payload)
        pending.low = min(pending.low, ext)
        if is_start and (pending.first < 0 or ext < pending.first):
            pending.first = ext
        if marker:
            pending.marker = ext
        pending.arrival = min(pending.arrival, arrival)
        return self._drain(arrival)

    def _complete(self, f: _Pending) -> bool:
        if f.marker < 0:
            return False
        first = f.first
        if first < 0:
            # No start bit seen (H.264 with a start we cannot tell): contiguous with the
            # frame emitted before it.
            if self._done_seq < 0 or (self._done_seq + 1) not in f.packets:
                return False
            first = self._done_seq + 1
        return f.marker - first + 1 == sum(1 for s in f.packets if first <= s <= f.marker)

    def _oldest(self) -> _Pending | None:
        return min(self._frames.values(), key=lambda f: f.low, default=None)

    def _drop(self, f: _Pending) -> None:
        self._frames.pop(f.timestamp, None)

    def _drain(self, now: float) -> list[Frame]:
        out: list[Frame] = []
        while True:
            f = self._oldest()
            if f is None:
                return out
            waited = now - f.arrival > self.max_wait or len(self._frames) > self.max_frames
            if self._complete(f):
                first = f.first if f.first >= 0 else self._done_seq + 1
                if self._done_seq >= 0 and first != self._done_seq + 1:
                    # Packets between the last frame and this one never came: a whole frame
                    # may be missing. Wait for them a little, then count it lost.
                    if not (waited or now - f.arrival > self.max_wait / 2):
                        return out
                    self._lost()
                self._drop(f)
                frame = self._build(f)
                if frame is not None or self._done_seq >= 0:
                    self._done_seq = max(self._done_seq, f.marker)
                if frame is not None:
                    out.append(frame)
                continue
            # Incomplete: a later frame already complete, or too old, or too many held.
            later_complete = any(
                g is not f and g.first >= 0 and self._complete(g) for g in self._frames.values()
            )
            if not (waited or (later_complete and now - f.arrival > self.max_wait / 2)):
                return out
            self._drop(f)
            self._done_seq = max(self._done_seq, max(f.packets) if f.packets else -1)
            self._lost()

    def _lost(self) -> None:
        self.lost_frames += 1
        self.need_keyframe = True
        if self.on_loss is not None:
            self.on_loss()

    def _build(self, f: _Pending) -> Frame | None:
        first = f.first if f.first >= 0 else min(s for s in f.packets)
        payloads = [f.packets[s][1] for s in range(first, f.marker + 1)]
        built = CODECS[f.codec][1](payloads)
        if built is None:
            self._lost()
            return None
        data, keyframe, width, height, sps, pps = built
        if f.codec == "h264" and keyframe and not (sps and pps):
            keyframe = False  # an IDR without parameter sets cannot start a recording
        if self.need_keyframe and not keyframe:
            self.skipped_frames += 1
            return None
        self.need_keyframe = False
        self.frames += 1
        if keyframe:
            self.keyframes += 1
        return Frame(f.codec, data, f.timestamp, f.arrival, keyframe, width, height, sps, pps)
