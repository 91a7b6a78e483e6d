"""Egress: a slot's subscribers, grouped by what they negotiated, and per-packet codec mapping.

A :class:`Slot` (``main``, ``chair``, ``thumb0``..) has ONE outgoing SSRC, sequence space and
timestamp space shared by all its subscribers (its :class:`~.munger.Munger`), so a packet's
header is rewritten once per negotiation group (same payload type mapping and extension ids)
and each subscriber then costs only SRTP protect + ``sendto``. The outgoing payload type comes
from the packet's own codec (:func:`match_codec`): a group that cannot decode that codec gets
nothing rather than garbage. Retransmissions answering a subscriber's NACK are looked up in the
munger's ring and go on the slot's RTX stream where the subscriber negotiated RTX.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import rtp
from .counters import RoomCounters
from .ingress import PublisherStream
from .munger import Munger

__all__ = ["Output", "Slot", "Transmitter", "match_codec"]

_pack_header = struct.Struct("!BHII").pack_into


class Transmitter:
    """What an output needs from a subscriber's peer: a synchronous encrypted send."""

    participant_id: str
    tx: Callable[[bytes], None] | None  # protect + sendto, or None while not connected

    def send_rtp(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Output:
    """One subscriber's view of one slot: its negotiated payload types and extension ids."""

    peer: Transmitter
    # codec key (signalling.codec_key) -> subscriber's payload type; a plain "h264" entry
    # (internal sinks such as the recorder) takes any H.264
    payload_types: dict[str, int]
    extensions: dict[str, int]  # uri -> subscriber's id
    waiting_keyframe: bool = True
    start_packets: int = 0
    start_octets: int = 0
    rtx_pts: dict[int, int] = field(default_factory=dict)  # its media PT -> its RTX PT
    rtx_seq: int = 0  # sequence number of its RTX stream
    retransmitted: int = 0  # packets resent to this subscriber (answering its NACKs)
    retransmitted_rtx: int = 0  # ... of which on RTX
    send_errors: int = 0  # sends to it that raised
    added_at: float = 0.0  # monotonic time the output was added to the slot
    first_keyframe_at: float = 0.0  # ... and its first key frame was sent (0 = not yet)

    @property
    def participant_id(self) -> str:
        return self.peer.participant_id


@dataclass
class _Group:
    pt_map: dict[int, int]  # source payload type -> the group's; unmapped codecs are not sent
    id_map: dict[int, int]
    outputs: list[Output] = field(default_factory=list)


class Slot:
    """An outgoing stream every subscriber receives; its source can be re-pointed."""

    def __init__(
        self, name: str, kind: str, ssrc: int, counters: RoomCounters | None = None
    ) -> None:
        self.name = name
        self.counters = counters if counters is not None else RoomCounters()
        self.kind = kind
        self.ssrc = ssrc
        self.rtx_ssrc = 0  # the slot's RTX SSRC (video), shared by all its subscribers
        self.clock_rate = 90000 if kind == "video" else 48000
        self.source: PublisherStream | None = None
        self.source_pid: str | None = None
        self.outputs: dict[str, Output] = {}
        self._groups: list[_Group] = []
        self.munger = Munger(ssrc, kind)
        self.octets = 0  # payload octets sent on the slot, counted once
        self.switches = 0

    @property
    def packets(self) -> int:
        """Packets sent on the slot, counted once (per subscriber: minus its start)."""
        return self.munger.packets

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
        self.munger.switch()
        self.switches += 1
        self.regroup()
        return True

    def resync(self) -> None:
        """Re-base numbering on the next packet: it follows the last one sent, no gap."""
        self.munger.resync()

    def forget(self, stream: PublisherStream) -> None:
        """Drop the ring's references to a departed publisher's stream (and its history)."""
        if stream is not self.source:
            self.munger.forget(stream)

    def add_output(self, output: Output) -> None:
        output.waiting_keyframe = self.kind == "video"
        output.added_at = time.monotonic()
        output.first_keyframe_at = 0.0 if self.kind == "video" else output.added_at
        output.start_packets = self.packets
        output.start_octets = self.octets
        self.outputs[output.participant_id] = output
        self.regroup()

    def remove_output(self, pid: str) -> None:
        if self.outputs.pop(pid, None) is not None:
            self.regroup()

    def regroup(self) -> None:
        """Group outputs that need byte-identical packets; a source never gets itself."""
        groups: dict[tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]], _Group] = {}
        src = self.source
        if src is not None:
            for pid, out in self.outputs.items():
                if pid == src.owner:
                    continue
                pt_map = {}
                for src_pt, codec in src.codec_keys.items():
                    pt = match_codec(out.payload_types, codec)
                    if pt is not None:
                        pt_map[src_pt] = pt
                if not pt_map:
                    continue  # it cannot decode anything this source sends
                id_map = {
                    i: out.extensions.get(uri, 0)
                    for i, uri in src.uri_by_id.items()
                    if uri != rtp.URI_MID
                }
                key = (tuple(sorted(pt_map.items())), tuple(sorted(id_map.items())))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(pt_map, id_map)
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
        numbered = self.munger.rewrite(self.source, header.seq, header.timestamp, keyframe, now)
        if numbered is None:
            return 0
        out_seq, out_ts = numbered
        self.octets += header.payload_end - header.payload_start
        sent = 0
        marker = header.marker_pt & 0x80
        src_pt = header.marker_pt & 0x7F
        two_byte = header.two_byte_ext
        ssrc = self.ssrc
        for group in self._groups:
            pt = group.pt_map.get(src_pt)
            if pt is None:
                continue  # this group cannot decode the packet's codec: nothing, not garbage
            buf = bytearray(data)
            _pack_header(buf, 1, marker | pt, out_seq, out_ts, ssrc)
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
                    out.first_keyframe_at = now
                try:
                    tx(packet)
                except Exception:  # a dead socket must not stop the fan-out (counted)
                    out.send_errors += 1
                    self.counters.send_errors += 1
                    continue
                sent += 1
        self.counters.packets_out += sent
        return sent

    def retransmit(self, output: Output, seqs: list[int]) -> list[tuple[PublisherStream, int]]:
        """Resend NACKed packets to one output; return (source, seq) pairs we no longer have."""
        missing: list[tuple[PublisherStream, int]] = []
        tx = output.peer.tx
        if tx is None or output.waiting_keyframe:
            return missing
        lookup = self.munger.lookup
        for out_seq in seqs[:64]:
            entry = lookup(out_seq)
            if entry is None:
                continue
            source, src_seq, out_ts = entry
            data = source.stored(src_seq)
            if data is None:
                missing.append((source, src_seq))
                continue
            header = rtp.parse_rtp_header(data)
            if header is None:
                continue
            codec = source.codec_keys.get(header.marker_pt & 0x7F)
            pt = None if codec is None else match_codec(output.payload_types, codec)
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
            rtx_pt = output.rtx_pts.get(pt) if self.rtx_ssrc else None
            if rtx_pt is not None:
                # RFC 4588: on the slot's RTX stream, the original number in front
                buf = rtp.wrap_rtx(
                    bytes(buf), header, rtx_pt, output.rtx_seq, self.rtx_ssrc, out_seq
                )
                output.rtx_seq = (output.rtx_seq + 1) & 0xFFFF
            try:
                tx(bytes(buf))
            except Exception:
                output.send_errors += 1
                self.counters.send_errors += 1
                continue
            output.retransmitted += 1
            self.counters.retransmitted_downstream += 1
            if rtx_pt is not None:
                output.retransmitted_rtx += 1
                self.counters.rtx_out += 1
        return missing

    def sender_report(self, output: Output) -> bytes | None:
        """An SR for this slot as one subscriber has received it, or None before media."""
        if not self.munger.started or output.waiting_keyframe:
            return None
        return rtp.build_sr(
            self.ssrc,
            rtp.ntp_now(),
            self.munger.rtp_time(self.source, time.monotonic()),
            self.packets - output.start_packets,
            self.octets - output.start_octets,
        )


def match_codec(payload_types: dict[str, int], codec: str) -> int | None:
    """The subscriber's payload type for a source codec key, or None if it cannot decode it.

    Exact keys only (H.264 profile and packetization mode included), except that a plain
    codec name in ``payload_types`` (an internal sink that depacketizes anything) matches
    every variant of that codec.
    """
    pt = payload_types.get(codec)
    if pt is None and "/" in codec:
        pt = payload_types.get(codec.split("/", 1)[0])
    return pt
