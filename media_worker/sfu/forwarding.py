"""Forwarding: publisher streams, slots and the per-subscriber outputs of a slot.

A :class:`Slot` (``main``, ``chair``, ``thumb0``..) has ONE outgoing SSRC, sequence space and
timestamp space shared by all its subscribers, so a packet's header is rewritten once per
negotiation group (same payload type and extension ids) and each subscriber then costs only
SRTP protect + ``sendto``. Re-pointing a slot moves the offsets so the subscriber sees one
continuous stream: sequence numbers go on from the last one sent (gaps inside a source are
kept, so NACKs still map back), timestamps advance by the wall-clock time that passed, and
video resumes on the new source's next key frame.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import rtp

HISTORY_SIZE = 1024  # packets kept per publisher stream for NACK (issue asks >= 500)
MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100
_pack_header = struct.Struct("!BHII").pack_into


class Transmitter:
    """What an output needs from a subscriber's peer: a synchronous encrypted send."""

    participant_id: str
    tx: Callable[[bytes], None] | None  # protect + sendto, or None while not connected

    def send_rtp(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class PublisherStream:
    """One incoming RTP stream (a participant's camera or microphone)."""

    def __init__(
        self,
        owner: str,
        kind: str,
        ssrc: int,
        codecs: dict[int, str],
        extensions: dict[str, int],
    ) -> None:
        self.owner = owner
        self.kind = kind
        self.ssrc = ssrc
        self.codecs = codecs
        self.clock_rate = 90000 if kind == "video" else 48000
        self.uri_by_id = {i: u for u, i in extensions.items()}
        self.abs_send_time_id = extensions.get(rtp.URI_ABS_SEND_TIME, 0)
        self.audio_level_id = extensions.get(rtp.URI_AUDIO_LEVEL, 0)
        self.history: list[bytes | None] = [None] * HISTORY_SIZE
        self.slots: list[Slot] = []
        self.muted = False
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
        self.audio_level = 127  # smoothed -dBov; 127 is silence
        self.keyframes = 0
        self.bad_seq = -1
        self.restarts = 0

    def stored(self, seq: int) -> bytes | None:
        data = self.history[seq % HISTORY_SIZE]
        if data is not None and struct.unpack_from("!H", data, 2)[0] == seq:
            return data
        return None

    def note_arrival(self, data: bytes, seq: int, timestamp: int, now: float) -> bool:
        """Account for a packet; return False if its sequence number is implausible.

        RFC 3550 A.1: a jump of more than MAX_DROPOUT ahead or MAX_MISORDER behind is
        dropped, unless the next packet continues from it (the source restarted). This keeps
        a broken or hostile sender from throwing the subscribers' sequence and SRTP index
        estimates off.
        """
        if self.base_seq < 0:
            self.base_seq = seq
            self.max_seq = seq
        else:
            delta = (seq - self.max_seq) & 0xFFFF
            if delta < MAX_DROPOUT:
                if seq < self.max_seq:
                    self.cycles += 0x10000
                self.max_seq = seq
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
                for slot in self.slots:
                    slot.resync()  # keep the subscribers' numbering continuous
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


@dataclass
class Output:
    """One subscriber's view of one slot: its negotiated payload types and extension ids."""

    peer: Transmitter
    payload_types: dict[str, int]  # codec name -> subscriber's payload type
    extensions: dict[str, int]  # uri -> subscriber's id
    waiting_keyframe: bool = True
    start_packets: int = 0
    start_octets: int = 0
    retransmitted: int = 0

    @property
    def participant_id(self) -> str:
        return self.peer.participant_id


@dataclass
class _Group:
    payload_type: int
    id_map: dict[int, int]
    outputs: list[Output] = field(default_factory=list)


class Slot:
    """An outgoing stream every subscriber receives; its source can be re-pointed."""

    def __init__(self, name: str, kind: str, ssrc: int) -> None:
        self.name = name
        self.kind = kind
        self.ssrc = ssrc
        self.clock_rate = 90000 if kind == "video" else 48000
        self.source: PublisherStream | None = None
        self.source_pid: str | None = None
        self.outputs: dict[str, Output] = {}
        self._groups: list[_Group] = []
        self.waiting_keyframe = kind == "video"
        self._resync = True
        self.seq_offset = 0
        self.ts_offset = 0
        self.last_seq = 0
        self.last_ts = 0
        self.last_time = 0.0
        self.started = False
        self.packets = 0  # sent on the slot, counted once (per-subscriber = minus start)
        self.octets = 0
        self.switches = 0
        # out seq -> (out seq, source, source seq, out timestamp) for NACK mapping
        self.ring: list[tuple[int, PublisherStream, int, int] | None] = [None] * HISTORY_SIZE

    # --- configuration (off the hot path) -----------------------------------------------

    def set_source(self, pid: str | None, stream: PublisherStream | None) -> bool:
        """Point the slot at ``stream``; return True if it changed."""
        if stream is self.source and pid == self.source_pid:
            return False
        if self.source is not None and self in self.source.slots:
            self.source.slots.remove(self)
        self.source = stream
        self.source_pid = pid
        if stream is not None:
            stream.slots.append(self)
        self.waiting_keyframe = self.kind == "video"
        self._resync = True
        self.switches += 1
        self.regroup()
        return True

    def resync(self) -> None:
        """Re-base numbering on the next packet: it follows the last one sent, no gap."""
        self._resync = True

    def add_output(self, output: Output) -> None:
        output.waiting_keyframe = self.kind == "video"
        output.start_packets = self.packets
        output.start_octets = self.octets
        self.outputs[output.participant_id] = output
        self.regroup()

    def remove_output(self, pid: str) -> None:
        if self.outputs.pop(pid, None) is not None:
            self.regroup()

    def regroup(self) -> None:
        """Group outputs that need byte-identical packets; a source never gets itself."""
        groups: dict[tuple[int, tuple[tuple[int, int], ...]], _Group] = {}
        src = self.source
        if src is not None:
            for pid, out in self.outputs.items():
                if pid == src.owner:
                    continue
                pt = _first_pt(out.payload_types, src.codecs)
                if pt is None:
                    continue
                id_map = {
                    i: out.extensions.get(uri, 0)
                    for i, uri in src.uri_by_id.items()
                    if uri != rtp.URI_MID
                }
                key = (pt, tuple(sorted(id_map.items())))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(pt, id_map)
                group.outputs.append(out)
        self._groups = list(groups.values())

    # --- hot path -----------------------------------------------------------------------

    def forward(
        self,
        data: bytes,
        header: rtp.RtpHeader,
        elements: list[tuple[int, int, int]],
        keyframe: bool,
        now: float,
    ) -> int:
        """Rewrite and send one source packet to every output; return packets sent."""
        if self.waiting_keyframe:
            if not keyframe:
                return 0
            self.waiting_keyframe = False
        seq = header.seq
        ts = header.timestamp
        if self._resync:
            self._resync = False
            if self.started:
                elapsed = max(1, int((now - self.last_time) * self.clock_rate))
                self.ts_offset = (self.last_ts + elapsed - ts) & 0xFFFFFFFF
                self.seq_offset = (self.last_seq + 1 - seq) & 0xFFFF
            else:
                self.started = True
                self.seq_offset = (self.ssrc - seq) & 0xFFFF  # arbitrary, stable start
                self.ts_offset = (self.ssrc * 7 - ts) & 0xFFFFFFFF
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        if ((out_seq - self.last_seq) & 0xFFFF) < 0x8000 or not self.packets:
            self.last_seq = out_seq
            self.last_ts = out_ts
            self.last_time = now
        self.ring[out_seq % HISTORY_SIZE] = (out_seq, self.source, seq, out_ts)  # type: ignore[arg-type]
        self.packets += 1
        self.octets += header.payload_end - header.payload_start
        sent = 0
        marker = header.marker_pt & 0x80
        two_byte = header.two_byte_ext
        ssrc = self.ssrc
        for group in self._groups:
            buf = bytearray(data)
            _pack_header(buf, 1, marker | group.payload_type, out_seq, out_ts, ssrc)
            if elements:
                rtp.rewrite_extensions(buf, two_byte, elements, group.id_map)
            packet = bytes(buf)
            for out in group.outputs:
                tx = out.peer.tx
                if tx is None:
                    continue  # not connected yet: it still needs to start on a key frame
                if out.waiting_keyframe:
                    if not keyframe:
                        continue
                    out.waiting_keyframe = False
                try:
                    tx(packet)
                except Exception:  # noqa: S112 - a dead socket must not stop the fan-out
                    continue
                sent += 1
        return sent

    def retransmit(self, output: Output, seqs: list[int]) -> list[tuple[PublisherStream, int]]:
        """Resend NACKed packets to one output; return (source, seq) pairs we no longer have."""
        missing: list[tuple[PublisherStream, int]] = []
        tx = output.peer.tx
        if tx is None or output.waiting_keyframe:
            return missing
        for out_seq in seqs[:64]:
            entry = self.ring[out_seq % HISTORY_SIZE]
            if entry is None or entry[0] != out_seq:
                continue
            _, source, src_seq, out_ts = entry
            data = source.stored(src_seq)
            if data is None:
                missing.append((source, src_seq))
                continue
            header = rtp.parse_rtp_header(data)
            if header is None:
                continue
            pt = _first_pt(output.payload_types, source.codecs)
            if pt is None:
                continue
            id_map = {
                i: output.extensions.get(uri, 0)
                for i, uri in source.uri_by_id.items()
                if uri != rtp.URI_MID
            }
            elements = rtp.extension_elements(data, header) or []
            buf = bytearray(data)
            _pack_header(buf, 1, (header.marker_pt & 0x80) | pt, out_seq, out_ts, self.ssrc)
            rtp.rewrite_extensions(buf, header.two_byte_ext, elements, id_map)
            try:
                tx(bytes(buf))
            except Exception:  # noqa: S112
                continue
            output.retransmitted += 1
        return missing

    def sender_report(self, output: Output) -> bytes | None:
        """An SR for this slot as one subscriber has received it, or None before media.

        The RTP time is mapped from the source's own sender report when there is one (so
        audio and video of a source stay in sync for the browser), else from the wall-clock
        time of the last packet sent.
        """
        if not self.started or output.waiting_keyframe:
            return None
        now_ntp = rtp.ntp_now()
        now = time.monotonic()
        src = self.source
        if src is not None and src.sr_ntp and src.slots and not self._resync:
            since = now - src.sr_at
            rtp_now = src.sr_rtp + self.ts_offset + int(since * self.clock_rate)
        else:
            rtp_now = self.last_ts + int((now - self.last_time) * self.clock_rate)
        return rtp.build_sr(
            self.ssrc,
            now_ntp,
            rtp_now,
            self.packets - output.start_packets,
            self.octets - output.start_octets,
        )


def _first_pt(payload_types: dict[str, int], source_codecs: dict[int, str]) -> int | None:
    for name in source_codecs.values():
        pt = payload_types.get(name)
        if pt is not None:
            return pt
    return None


class Pacer:
    """Yields to the event loop when forwarding has held it for longer than ``budget``.

    The receive task of a peer handles queued datagrams back to back without suspending,
    so a key frame burst to many subscribers would hold the loop for its whole length.
    ``begin``/``end`` bracket each packet: a run of packets handled with less than ``gap``
    between them is one busy stretch, and after ``budget`` seconds of it ``end`` yields once
    (``asyncio.sleep(0)``) so the receive path, RTCP and other rooms get to run.
    """

    def __init__(self, budget: float = 0.004, gap: float = 0.0005) -> None:
        self.budget = budget
        self.gap = gap
        self._run_start = 0.0
        self._last_end = 0.0
        self.yields = 0

    def begin(self) -> None:
        now = time.perf_counter()
        if now - self._last_end > self.gap:
            self._run_start = now

    async def end(self) -> None:
        now = time.perf_counter()
        self._last_end = now
        if now - self._run_start >= self.budget:
            self.yields += 1
            await asyncio.sleep(0)
            self._run_start = self._last_end = time.perf_counter()
