"""Egress: a slot's subscribers, grouped by what they negotiated, and per-packet codec mapping.

A :class:`Slot` (``main``, ``chair``, ``thumb0``..) has ONE outgoing SSRC, sequence space and
timestamp space shared by all its subscribers (its :class:`~.munger.Munger`), so a packet's
header is rewritten once per negotiation group (same payload type mapping and extension ids)
and each subscriber then costs only SRTP protect + ``sendto``. The outgoing payload type comes
from the packet's own codec (:func:`match_codec`): a group that cannot decode that codec gets
nothing rather than garbage. Retransmissions answering a subscriber's NACK are looked up in the
munger's ring and go on the slot's RTX stream where the subscriber negotiated RTX.

**Per-subscriber layers.** When the slot's source publishes simulcast, the slot is attached
to every layer of it, and the shared numbering carries the slot's default layer
(``source``). A subscriber the allocator gives another layer (or none: paused) leaves the
shared path for its own :class:`~.layers.LayerMunger`, seeded from the shared numbering, so
its stream stays continuous (sequence numbers, timestamps, VP8 picture ids / TL0PICIDX) and
switches layer only on a key frame of the target layer. Such an output costs a header
rewrite of its own per packet; everyone on the default layer still shares one.

**abs-send-time** is overwritten with the SFU's clock when a packet is sent, so a
subscriber's delay-based estimate (REMB) measures the SFU-to-subscriber path, not the
publisher's upstream jitter or a switch between layers sent at different times.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from . import rtp
from .counters import RoomCounters
from .ingress import PublisherStream
from .layers import LayerMunger, Vp8Ids, vp8_ids, vp8_rewrite
from .munger import Munger

__all__ = ["Output", "Slot", "Transmitter", "match_codec"]

_pack_header = struct.Struct("!BHII").pack_into
ABS_SEND_TIME_UNITS = 1 << 18  # 6.18 fixed point seconds


def _abs_value_at(source: PublisherStream, two_byte: bool, elements: list) -> tuple[int, int]:
    """(byte offset of the 3-byte abs-send-time value, its source id) or (-1, 0)."""
    ext_id = source.abs_send_time_id
    if ext_id:
        for offset, eid, length in elements:
            if eid == ext_id and length == 3:
                return offset + (2 if two_byte else 1), eid
    return -1, 0


def _stamp(buf: bytearray, at: int) -> None:
    t = int(time.monotonic() * ABS_SEND_TIME_UNITS) & 0xFFFFFF
    buf[at] = t >> 16
    buf[at + 1] = (t >> 8) & 0xFF
    buf[at + 2] = t & 0xFF


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
    # its own numbering (a layer other than the slot's default, or paused), else None
    own: LayerMunger[PublisherStream] | None = None
    own_packets: int = 0  # packets / payload octets sent to it on its own numbering,
    own_octets: int = 0  # counted from its start on the slot (for its sender reports)
    own_holes: int = 0  # ... and sequence numbers skipped on it (see Slot.holes)
    id_maps: dict[str, dict[int, int]] = field(default_factory=dict)  # source owner -> ids

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
        # simulcast: every layer of the source's publisher (the slot is attached to each),
        # by SSRC; the outputs on their own numbering; the shared stream's last VP8 ids
        self.layers: dict[int, PublisherStream] = {}
        self._attached: list[PublisherStream] = []
        self._own: list[Output] = []
        self._last_pic = 0
        self._last_tl0 = 0
        # sequence numbers the shared numbering skipped (lost upstream and never recovered
        # before the next packet), minus the late ones that filled a gap: a subscriber's
        # receiver reports count those as lost although the SFU never sent them
        self.holes = 0

    @property
    def packets(self) -> int:
        """Packets sent on the slot, counted once (per subscriber: minus its start)."""
        return self.munger.packets

    # --- configuration (off the hot path) -----------------------------------------------

    def set_source(self, pid: str | None, stream: PublisherStream | None) -> bool:
        """Point the slot at ``stream``; return True if it changed."""
        if stream is self.source and pid == self.source_pid:
            return False
        other = pid != self.source_pid
        self.source = stream
        self.source_pid = pid
        if other:
            self.layers = {}
            for out in self._own:  # another publisher: its default layer, on a key frame
                if out.own is not None and not out.own.paused and stream is not None:
                    out.own.set_target(stream)
        self._attach()
        self.munger.switch()
        self.switches += 1
        self.regroup()
        return True

    def set_layers(self, layers: list[PublisherStream]) -> None:
        """Every layer of the source's publisher (simulcast; empty without): the outputs on
        their own numbering may be on any of them. The slot is attached (receives the
        packets) only of its default layer and of those its own outputs are on or switching
        to: a layer nobody here takes is not asked for (a pipe forwards only what its slots
        hold)."""
        by_ssrc = {s.ssrc: s for s in layers}
        if by_ssrc != self.layers:
            self.layers = by_ssrc
            self._attach()

    def _attach(self) -> None:
        wanted = [] if self.source is None else [self.source]
        for stream in self.own_layers():
            if stream not in wanted and stream.ssrc in self.layers:
                wanted.append(stream)
        for stream in self._attached:
            if stream not in wanted and self in stream.slots:
                stream.slots.remove(self)
        for stream in wanted:
            if self not in stream.slots:
                stream.slots.append(self)
        self._attached = wanted

    def set_output_layer(self, pid: str, layer: PublisherStream | None) -> bool:
        """Give one output ``layer`` (None: pause it). Returns True while it waits for a key
        frame of ``layer`` (the caller asks that layer's key-frame manager for one).

        An output on the slot's default layer stays on the shared numbering; the first
        time it gets another one it moves to its own, and stays there.
        """
        out = self.outputs.get(pid)
        if out is None:
            return False
        if out.own is None:
            if layer is self.source:
                return False
            self._diverge(out)
        own = out.own
        assert own is not None
        if layer is None:
            if not own.paused:
                own.set_target(None)
                self._attach()
            return False
        if own.paused or own.target is not layer:
            own.set_target(layer)
            self._attach()
        return own.current is not layer

    def tidy(self) -> None:
        """Detach from layers its own outputs have switched away from (the adaptation's
        tick calls it once per slot)."""
        if self._own or len(self._attached) > 1:
            self._attach()

    def own_layers(self) -> list[PublisherStream]:
        """The layers outputs on their own numbering are on or switching to."""
        out: list[PublisherStream] = []
        for o in self._own:
            if o.own is not None:
                out += [s for s in (o.own.current, o.own.target) if s is not None]
        return out

    def output_layer(self, pid: str) -> PublisherStream | None:
        """The stream an output is being sent now (None: paused, or not started)."""
        out = self.outputs.get(pid)
        if out is None:
            return None
        if out.own is None:
            return self.source
        return out.own.current

    def _diverge(self, out: Output) -> None:
        own: LayerMunger[PublisherStream] = LayerMunger(self.clock_rate, seed=self.ssrc)
        m = self.munger
        out.own_holes = self.holes
        if m.started and not out.waiting_keyframe and self.source is not None:
            own.seed(
                self.source,
                seq_offset=m.seq_offset,
                ts_offset=m.ts_offset,
                start_seq=m.start_seq,
                last_seq=m.last_seq,
                last_ts=m.last_ts,
                last_time=m.last_time,
                last_pic=self._last_pic,
                last_tl0=self._last_tl0,
            )
            out.own_packets = self.packets - out.start_packets
            out.own_octets = self.octets - out.start_octets
        else:
            own.set_target(self.source)
        out.own = own
        self._own.append(out)
        self.regroup()

    def resync(self) -> None:
        """Re-base numbering on the next packet: it follows the last one sent, no gap."""
        self.munger.resync()
        for out in self._own:  # own numbering: re-based on the layer's next key frame
            own = out.own
            if own is not None and own.current is not None:
                own.target, own.current = own.current, None

    def forget(self, stream: PublisherStream) -> None:
        """Drop the ring's references to a departed publisher's stream (and its history)."""
        if stream is not self.source:
            self.munger.forget(stream)
        for out in self._own:
            if out.own is not None:
                out.own.forget(stream)

    def add_output(self, output: Output) -> None:
        output.waiting_keyframe = self.kind == "video"
        output.added_at = time.monotonic()
        output.first_keyframe_at = 0.0 if self.kind == "video" else output.added_at
        output.start_packets = self.packets
        output.start_octets = self.octets
        self.outputs[output.participant_id] = output
        self.regroup()

    def remove_output(self, pid: str) -> None:
        out = self.outputs.pop(pid, None)
        if out is not None:
            if out in self._own:
                self._own.remove(out)
            self.regroup()

    def regroup(self) -> None:
        """Group outputs that need byte-identical packets; a source never gets itself."""
        groups: dict[tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]], _Group] = {}
        src = self.source
        if src is not None:
            for pid, out in self.outputs.items():
                if pid == src.owner or out.own is not None:
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
        src = self.source
        if src is None:
            return 0
        if header.ssrc != src.ssrc:  # another layer of the source's publisher
            layer = self.layers.get(header.ssrc)
            if layer is None or not self._own:
                return 0
            return self._forward_own(layer, data, header, elements, keyframe, now)
        ids = None
        if self.layers and src.codecs.get(header.marker_pt & 0x7F) == "vp8":
            ids = vp8_ids(data, header.payload_start, header.payload_end)
        sent = (
            self._forward_own(src, data, header, elements, keyframe, now, ids) if self._own else 0
        )
        munger = self.munger
        last = munger.last_seq if munger.packets else -1
        numbered = munger.rewrite(src, header.seq, header.timestamp, keyframe, now)
        if numbered is None:
            return sent
        out_seq, out_ts = numbered
        if last >= 0:
            step = (out_seq - last) & 0xFFFF
            if step & 0x8000:
                self.holes -= 1  # a late packet filled a gap
            elif step > 1:
                self.holes += step - 1
        if ids is not None and munger.last_seq == out_seq:
            self._last_pic, self._last_tl0 = ids.picture_id, ids.tl0
        self.octets += header.payload_end - header.payload_start
        marker = header.marker_pt & 0x80
        src_pt = header.marker_pt & 0x7F
        two_byte = header.two_byte_ext
        ssrc = self.ssrc
        abs_at, abs_id = _abs_value_at(src, two_byte, elements) if elements else (-1, 0)
        for group in self._groups:
            pt = group.pt_map.get(src_pt)
            if pt is None:
                continue  # this group cannot decode the packet's codec: nothing, not garbage
            buf = bytearray(data)
            _pack_header(buf, 1, marker | pt, out_seq, out_ts, ssrc)
            if elements:
                rtp.rewrite_extensions(buf, two_byte, elements, group.id_map)
                if abs_at >= 0 and group.id_map.get(abs_id):
                    _stamp(buf, abs_at)
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

    def _forward_own(
        self,
        layer: PublisherStream,
        data: bytes,
        header: rtp.RtpHeader,
        elements: list[tuple[int, int, int]],
        keyframe: bool,
        now: float,
        ids: Vp8Ids | None = None,
    ) -> int:
        """Send a packet of ``layer`` to the outputs on their own numbering that are on it
        (or switch to it on this key frame)."""
        src_pt = header.marker_pt & 0x7F
        codec = layer.codec_keys.get(src_pt)
        if codec is None:
            return 0
        if ids is None and layer.codecs.get(src_pt) == "vp8":
            ids = vp8_ids(data, header.payload_start, header.payload_end)
        pic = ids.picture_id if ids is not None else 0
        tl0 = ids.tl0 if ids is not None else 0
        marker = header.marker_pt & 0x80
        two_byte = header.two_byte_ext
        abs_at, abs_id = _abs_value_at(layer, two_byte, elements) if elements else (-1, 0)
        octets = header.payload_end - header.payload_start
        sent = 0
        for out in self._own:
            own = out.own
            tx = out.peer.tx
            if own is None or tx is None or out.participant_id == layer.owner:
                continue
            last = own.last_seq if own.started else -1
            numbered = own.rewrite(layer, header.seq, header.timestamp, keyframe, now, pic, tl0)
            if numbered is None:
                continue
            pt = match_codec(out.payload_types, codec)
            if pt is None:
                continue
            if last >= 0:
                step = (numbered.seq - last) & 0xFFFF
                if step & 0x8000:
                    out.own_holes -= 1
                elif step > 1:
                    out.own_holes += step - 1
            id_map = self._id_map(out, layer)
            buf = bytearray(data)
            _pack_header(buf, 1, marker | pt, numbered.seq, numbered.timestamp, self.ssrc)
            if elements:
                rtp.rewrite_extensions(buf, two_byte, elements, id_map)
                if abs_at >= 0 and id_map.get(abs_id):
                    _stamp(buf, abs_at)
            if ids is not None:
                vp8_rewrite(buf, ids, numbered.picture_id, numbered.tl0)
            if out.waiting_keyframe:
                out.waiting_keyframe = False
                out.first_keyframe_at = now
            try:
                tx(bytes(buf))
            except Exception:
                out.send_errors += 1
                self.counters.send_errors += 1
                continue
            out.own_packets += 1
            out.own_octets += octets
            sent += 1
        self.counters.packets_out += sent
        return sent

    @staticmethod
    def _id_map(out: Output, source: PublisherStream) -> dict[int, int]:
        id_map = out.id_maps.get(source.owner)
        if id_map is None:
            id_map = out.id_maps[source.owner] = {
                i: out.extensions.get(uri, 0)
                for i, uri in source.uri_by_id.items()
                if uri != rtp.URI_MID
            }
        return id_map

    def holes_of(self, output: Output) -> int:
        """Sequence numbers skipped on an output's stream so far (see ``holes``)."""
        return output.own_holes if output.own is not None else self.holes

    def retransmit(self, output: Output, seqs: list[int]) -> list[tuple[PublisherStream, int]]:
        """Resend NACKed packets to one output; return (source, seq) pairs we no longer have."""
        missing: list[tuple[PublisherStream, int]] = []
        tx = output.peer.tx
        if tx is None or output.waiting_keyframe:
            return missing
        lookup = self.munger.lookup
        own = output.own
        for out_seq in seqs[:64]:
            span = None
            if own is not None:
                span = own.span(out_seq)
                if span is None:
                    continue
                source = cast(PublisherStream, span.layer)
                src_seq = (out_seq - span.seq_offset) & 0xFFFF
            else:
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
            if span is not None:
                out_ts = (header.timestamp + span.ts_offset) & 0xFFFFFFFF
            codec = source.codec_keys.get(header.marker_pt & 0x7F)
            pt = None if codec is None else match_codec(output.payload_types, codec)
            if pt is None:
                continue
            id_map = self._id_map(output, source)
            elements = rtp.extension_elements(data, header) or []
            buf = bytearray(data)
            _pack_header(buf, 1, (header.marker_pt & 0x80) | pt, out_seq, out_ts, self.ssrc)
            rtp.rewrite_extensions(buf, header.two_byte_ext, elements, id_map)
            if span is not None and (span.pic_offset or span.tl0_offset):
                ids = vp8_ids(buf, header.payload_start, header.payload_end)
                if ids is not None:
                    vp8_rewrite(
                        buf, ids, ids.picture_id + span.pic_offset, ids.tl0 + span.tl0_offset
                    )
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
        own = output.own
        if own is not None:
            layer = own.current
            if layer is None or not own.started or output.waiting_keyframe:
                return None
            now = time.monotonic()
            if layer.sr_ntp:
                ts = layer.sr_rtp + own.ts_offset + int((now - layer.sr_at) * self.clock_rate)
            else:
                ts = own.last_ts + int((now - own.last_time) * self.clock_rate)
            return rtp.build_sr(
                self.ssrc, rtp.ntp_now(), ts & 0xFFFFFFFF, output.own_packets, output.own_octets
            )
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
