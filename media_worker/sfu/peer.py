"""One participant's RTCPeerConnection, with aiortc's media pipeline taken out of the path.

aiortc still does SDP, ICE and DTLS-SRTP. After negotiation this module

- replaces ``RTCDtlsTransport._handle_rtp_data`` / ``_handle_rtcp_data`` on the
  participant's (bundled) transport, so decrypted packets come here instead of through
  aiortc's parser, jitter buffer and decoder thread;
- makes the transceivers' ``sender.send`` / ``receiver.receive`` no-ops that only record
  the negotiated parameters, so aiortc starts no encoder, decoder, polling loop or RTCP
  task of its own (the SFU sends all RTCP itself, with the right numbers);
- sends by SRTP-protecting with the transport's session and writing to the nominated ICE
  pair's socket synchronously.

These are private aiortc 1.16.0 attributes (pinned in requirements); ``transport.check_aiortc()``
and the tests fail loudly if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCDtlsTransport

from . import rtp
from .counters import RoomCounters
from .egress import Transmitter
from .ingress import PublisherStream
from .keyframes import KeyframeRequester
from .policy import NetworkPolicy
from .rtcp import RtcpSender
from .signalling import (
    OfferLayout,
    SignallingError,
    add_opus_options,
    add_start_bitrate,
    codec_key,
)
from .simulcast import add_simulcast_to_answer, stream_id
from .transport import ArrivalClock, DatagramSender, Pacer, socket_sender, srtp_sender

logger = logging.getLogger(__name__)

FEEDBACK_BUDGET = 200  # PLI/FIR/NACK packets a peer may send per second; more are ignored
NACKED_BUDGET = 2000  # sequence numbers it may ask to be resent per second


def _codec_caps(kind: str, names: tuple[str, ...]) -> list[Any]:
    caps = RTCRtpReceiver.getCapabilities(kind)
    if caps is None:
        return []
    return [c for n in names for c in caps.codecs if c.name.lower() == n]


class PeerListener(Protocol):
    """What a :class:`Peer` needs from its room (``Room`` implements it; no import of it here).

    Settings it reads, the room's counters and slot SSRCs, and the events it reports.
    """

    upstream_nack: bool
    start_bitrate_kbps: int
    max_publish_bitrate: int | None
    totals: RoomCounters

    @property
    def slot_by_ssrc(self) -> dict[int, Any]: ...

    def _peer_connected(self, peer: Peer) -> None: ...

    def _peer_gone(self, peer: Peer, state: str) -> None: ...

    def _stream_bound(self, peer: Peer, stream: PublisherStream) -> None: ...

    def _keyframe_wanted(self, media_ssrc: int) -> None: ...

    def _nack(self, peer: Peer, media_ssrc: int, seqs: list[int]) -> None: ...


class Peer(Transmitter):
    """The SFU's side of one participant: publishes up to three streams (camera, microphone,
    a shared screen on the content line), receives slots."""

    def __init__(self, participant_id: str, room: PeerListener, policy: NetworkPolicy) -> None:
        self.participant_id = participant_id
        self.room = room
        self.policy = policy
        self.pc = RTCPeerConnection(policy.rtc_configuration())
        self.tx: Callable[[bytes], None] | None = None
        self._send_rtcp: Callable[[bytes], None] | None = None
        self.transport: RTCDtlsTransport | None = None
        self.sender: DatagramSender | None = None
        self.layout: OfferLayout | None = None
        self.rtcp = RtcpSender(random.getrandbits(32) or 1, self.send_rtcp, f"sfu-{participant_id}")
        self.streams: dict[int, PublisherStream] = {}
        self._rtx_streams: dict[int, PublisherStream] = {}  # RTX SSRC -> the stream it repairs
        self.rtx_in = 0
        self.rtx_padding = 0
        self.video: PublisherStream | None = None  # with simulcast: the first layer bound
        self.layers: dict[str, PublisherStream] = {}  # simulcast: rid -> that layer's stream
        self.audio: PublisherStream | None = None
        self.content: PublisherStream | None = None  # a shared screen (the content line)
        self._rtx_mids: dict[int, str] = {}  # RTX SSRC -> mid of the publish line it repairs
        self.pacer = Pacer()
        self.estimator: RemoteBitrateEstimator | None = None  # made with the video stream
        self.arrivals = ArrivalClock()
        self.closed = False
        self.state = "new"
        self.counters = room.totals
        self.rtt: float | None = None  # s, from receiver reports on the slots sent to it
        self.nack_mids: set[str] = set()  # m-lines where the answer has "nack" (any kind)
        # counters for stats()
        self.rtp_in = 0
        self.rtcp_in = 0
        self.dropped = 0
        self.forwarded = 0
        self.nacks_in = 0
        self.plis_in = 0
        self.limited = 0  # feedback ignored over the budget (NACK/PLI storms)
        self._budget_at = 0.0
        self._feedback_used = 0
        self._nacked_used = 0
        self.remb_in: int | None = None
        self.remb_in_at = 0.0  # monotonic time of the last REMB it sent us
        # slot SSRC -> (cumulative lost, extended highest seq) of its last receiver report
        self.slot_reports: dict[int, tuple[int, int]] = {}

    # --- negotiation ----------------------------------------------------------------

    async def negotiate(
        self,
        layout: OfferLayout,
        slot_ssrcs: dict[str, int],
        start_bitrate_kbps: int,
        rtx_ssrcs: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """Apply a validated offer; return the answer dict (without ``slots``)."""
        self.layout = layout
        pc = self.pc
        lines = sorted([*layout.publish_lines, *layout.slots.values()], key=lambda ln: ln.index)
        transceivers = []
        # Created in m-line order, one kind after another, so setRemoteDescription binds
        # each m-line to the transceiver made for it (it takes the first unassigned one of
        # the same kind).
        for line in lines:
            direction = "recvonly" if line.role == "publish" else "sendonly"
            t = pc.addTransceiver(line.kind, direction=direction)
            # rtx: RFC 4588 retransmissions both ways where the client offers it
            names = ("vp8", "h264", "rtx") if line.kind == "video" else ("opus",)
            t.setCodecPreferences(_codec_caps(line.kind, names))
            if line.role != "publish":
                key = f"{line.role}/{line.kind}"
                t.sender._ssrc = slot_ssrcs[key]
                if rtx_ssrcs and key in rtx_ssrcs:
                    t.sender._rtx_ssrc = rtx_ssrcs[key]
                t.sender._stream_id = line.role
                t.sender._track_id = f"{line.role}-{line.kind}"
            self._neutralise(t)
            transceivers.append(t)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=layout.sdp, type="offer"))
        except Exception as exc:
            raise SignallingError("negotiation_failed", f"offer rejected: {exc}") from exc
        for line, t in zip(lines, transceivers, strict=True):
            if t.mid != line.mid:
                raise SignallingError("bad_layout", f"m-line {line.index} did not bind in order")
        dtls = transceivers[0].receiver.transport
        for t in transceivers:
            self.policy.apply_to_connection(t.receiver.transport.transport.iceGatherer._connection)
        self._hook_transport(dtls)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        ice = dtls.transport
        self.arrivals.attach(ice.iceGatherer._connection, ice)
        sdp = pc.localDescription.sdp
        simulcast = layout.publish_video.simulcast
        if simulcast is not None:
            sdp = add_simulcast_to_answer(sdp, layout.publish_video.mid, simulcast)
        # aiortc answers Opus without the offer's nack and FEC: put them back, so audio lost
        # on its way in is NACKed like video and a subscriber may NACK its audio slots
        sdp = add_opus_options(sdp, layout.sdp)
        self._note_negotiated(sdp)
        if start_bitrate_kbps and layout.publishes_video:
            sdp = add_start_bitrate(sdp, layout.publish_video.mid, start_bitrate_kbps)
        return {"type": "answer", "sdp": sdp}

    def _note_negotiated(self, answer_sdp: str) -> None:
        """Record the answer's payload types and extension ids per mid."""
        from aiortc import sdp as aiortc_sdp

        self.negotiated: dict[str, tuple[dict[int, str], dict[str, int]]] = {}
        self.codec_keys: dict[str, dict[int, str]] = {}
        self.rtx_apt: dict[str, dict[int, int]] = {}  # mid -> RTX payload type -> apt
        for m in aiortc_sdp.SessionDescription.parse(answer_sdp).media:
            self.rtx_apt[m.rtp.muxId] = {
                c.payloadType: int(str(c.parameters.get("apt")))
                for c in m.rtp.codecs
                if c.name.lower() == "rtx"
                and c.payloadType is not None
                and str(c.parameters.get("apt", "")).isdigit()
            }
            self.codec_keys[m.rtp.muxId] = {
                c.payloadType: codec_key(c.name, dict(c.parameters))
                for c in m.rtp.codecs
                if c.name.lower() in ("vp8", "h264", "opus") and c.payloadType is not None
            }
            codecs = {
                c.payloadType: c.name.lower()
                for c in m.rtp.codecs
                if c.name.lower() in ("vp8", "h264", "opus") and c.payloadType is not None
            }
            self.negotiated[m.rtp.muxId] = (codecs, {e.uri: e.id for e in m.rtp.headerExtensions})
            if any(
                fb.type == "nack" and not fb.parameter
                for c in m.rtp.codecs
                if c.name.lower() in ("vp8", "h264", "opus")
                for fb in c.rtcpFeedback
            ):
                self.nack_mids.add(m.rtp.muxId)
        assert self.layout is not None
        for line in self.layout.publish_lines:
            codecs, exts = self.negotiated.get(line.mid, ({}, {}))
            line.codecs = codecs
            line.extensions = exts

    def _neutralise(self, transceiver: Any) -> None:
        sender = transceiver.sender
        receiver = transceiver.receiver

        async def send(parameters: Any) -> None:
            if parameters.rtcp and parameters.rtcp.cname:
                self.rtcp.cname = parameters.rtcp.cname

        async def receive(parameters: Any) -> None:
            return None

        sender.send = send
        receiver.receive = receive

    def _hook_transport(self, dtls: RTCDtlsTransport) -> None:
        self.transport = dtls

        @self.pc.on("connectionstatechange")
        def on_connection_state() -> None:
            # ICE that never connects leaves DTLS at "new": catch the failure here too.
            if self.pc.connectionState == "failed" and not self.closed:
                self.state = "failed"
                self.room._peer_gone(self, "failed")

        dtls._handle_rtp_data = self._on_rtp  # type: ignore[method-assign]
        dtls._handle_rtcp_data = self._on_rtcp  # type: ignore[method-assign]

        @dtls.on("statechange")
        def on_state() -> None:
            if dtls.state == "connected":
                pair = dtls.transport._connection._nominated.get(1)
                if pair is not None:
                    sendto = self.sender = socket_sender(pair.protocol.transport)
                    addr = pair.remote_addr
                    self.tx = srtp_sender(dtls._tx_srtp, sendto, addr)
                    protect_rtcp = dtls._tx_srtp.protect_rtcp
                    self._send_rtcp = lambda data: sendto(protect_rtcp(data), addr)
                    self.room._peer_connected(self)
            else:
                self.tx = None
                self._send_rtcp = None
            self.state = dtls.state
            if dtls.state in ("closed", "failed"):
                self.room._peer_gone(self, dtls.state)

    # --- sending --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """DTLS is up and a send path to the nominated ICE pair exists."""
        return self.tx is not None

    @property
    def rtcp_ssrc(self) -> int:
        return self.rtcp.ssrc

    @property
    def cname(self) -> str:
        return self.rtcp.cname

    @property
    def plis_out(self) -> int:
        return self.rtcp.plis

    @property
    def nacks_out(self) -> int:
        return self.rtcp.nacks

    @property
    def remb_bitrate(self) -> int:
        return self.rtcp.remb_bitrate

    def send_rtp(self, data: bytes) -> None:
        tx = self.tx
        if tx is not None:
            tx(data)

    def send_rtcp(self, data: bytes) -> None:
        send = self._send_rtcp
        if send is None:
            return
        try:
            send(data)
        except Exception as exc:
            logger.debug("RTCP send to %s failed: %r", self.participant_id, exc)

    def request_keyframe(self, stream: PublisherStream, *, forced: bool) -> None:
        """Ask for a key frame through the stream's manager (see ``keyframes.py``)."""
        if stream.keyframe_requests is not None:
            stream.keyframe_requests.request(forced=forced)

    # --- ingress --------------------------------------------------------------------

    @property
    def layer_rids(self) -> tuple[str, ...]:
        """The simulcast layers negotiated (lowest first); empty with one encoding."""
        line = self.layout.publish_video if self.layout is not None else None
        return line.simulcast.rids if line is not None and line.simulcast is not None else ()

    @property
    def layer_count(self) -> int:
        return len(self.layer_rids) or 1

    def video_layers(self) -> list[PublisherStream]:
        """The publish video streams bound so far, lowest layer first (one without simulcast)."""
        if self.layers:
            return sorted(self.layers.values(), key=lambda s: s.layer)
        return [self.video] if self.video is not None else []

    def _rtx_stream(
        self, ssrc: int, payload_type: int, data: bytes, header: rtp.RtpHeader
    ) -> PublisherStream | None:
        """The video stream an RTX packet repairs, or None if it is not one of ours.

        Only an RTX payload type negotiated on the publish line, and only the SSRC the offer
        paired with the video SSRC (``a=ssrc-group:FID``) -- or, when the offer lists no
        SSRCs, the first one seen with that payload type (camera only: the content line is
        matched by its signalled SSRCs alone).
        """
        stream = self._rtx_streams.get(ssrc)
        if stream is not None:
            return stream
        layout = self.layout
        if layout is None:
            return None
        content = layout.publish_content
        if content is not None and self.content is not None and content.rtx_ssrcs:
            if content.rtx_ssrcs.get(ssrc) == self.content.ssrc:
                if payload_type not in self.rtx_apt.get(content.mid, {}):
                    return None
                self._rtx_streams[ssrc] = self.content
                self._rtx_mids[ssrc] = content.mid
                return self.content
        video = self.video
        if video is None:
            return None
        if payload_type not in self.rtx_apt.get(layout.publish_video.mid, {}):
            return None
        line = layout.publish_video
        if line.simulcast is not None:
            # each layer's RTX carries the rid it repairs (repaired-rtp-stream-id)
            elements = rtp.extension_elements(data, header) or []
            rid = stream_id(data, header, elements, line.simulcast.repaired_ext)
            layer = self.layers.get(rid) if rid is not None else None
            if layer is not None:
                self._rtx_streams[ssrc] = layer
                self._rtx_mids[ssrc] = line.mid
            return layer
        if line.rtx_ssrcs:
            if line.rtx_ssrcs.get(ssrc) != video.ssrc:
                return None
        elif line.ssrcs or self._rtx_streams:
            return None
        if content is not None and ssrc in content.rtx_ssrcs:
            return None
        self._rtx_streams[ssrc] = video
        self._rtx_mids[ssrc] = line.mid
        return video

    def _bind_stream(
        self, ssrc: int, payload_type: int, data: bytes, header: rtp.RtpHeader
    ) -> PublisherStream | None:
        layout = self.layout
        if layout is None:
            return None
        content = layout.publish_content
        candidates = [(layout.publish_video, "video"), (layout.publish_audio, "audio")]
        if content is not None and ssrc in content.ssrcs:
            # a shared screen: only the SSRCs its line signalled (the camera line may list none)
            candidates = [(content, "content")]
        for line, attr in candidates:
            if line.direction not in ("sendonly", "sendrecv") or payload_type not in line.codecs:
                continue
            simulcast = line.simulcast if line.kind == "video" else None
            rid = None
            if simulcast is not None:
                # an SSRC the SDP never named: its layer is the rid its first packets carry
                elements = rtp.extension_elements(data, header) or []
                rid = stream_id(data, header, elements, simulcast.rid_ext)
                if rid is None or simulcast.rank(rid) < 0 or rid in self.layers:
                    return None
            elif getattr(self, attr) is not None:
                return None  # one stream per kind; extra SSRCs are dropped
            elif line.ssrcs and ssrc not in line.ssrcs:
                return None  # (with rids the rid binds, whatever a=ssrc lines say)
            stream = PublisherStream(
                self.participant_id,
                line.kind,
                ssrc,
                line.codecs,
                line.extensions,
                self.counters,
                codec_keys=self.codec_keys.get(line.mid),
            )
            if simulcast is not None and rid is not None:
                stream.rid = rid
                stream.layer = simulcast.rank(rid)
                stream.last_arrival = time.monotonic()  # flowing: its first packet is here
                self.layers[rid] = stream
            if line.kind == "video":
                self._attach_keyframe_requests(stream)
            if line.mid in self.nack_mids:  # video, and audio whose offer asked for nack
                self._attach_nack(stream)
            if getattr(self, attr) is None:
                setattr(self, attr, stream)
            self.streams[ssrc] = stream
            self.room._stream_bound(self, stream)
            return stream
        return None

    def _attach_keyframe_requests(self, stream: PublisherStream) -> None:
        media_ssrc = stream.ssrc
        rtcp = self.rtcp

        def send() -> None:
            rtcp.pli(media_ssrc)

        stream.keyframe_requests = KeyframeRequester(send, self.counters)

    def _attach_nack(self, stream: PublisherStream) -> None:
        """Upstream NACKs for a stream whose publisher negotiated ``nack`` (video; audio
        when its offer had ``a=rtcp-fb:<opus> nack``). Giving up on an audio packet asks
        for nothing more: there is no key frame to request."""
        nack = stream.nack
        nack.enabled = self.room.upstream_nack
        media_ssrc = stream.ssrc
        rtcp = self.rtcp

        def send(seqs: list[int]) -> None:
            rtcp.nack(media_ssrc, seqs)

        def give_up() -> None:
            self.request_keyframe(stream, forced=True)

        nack.send = send
        nack.give_up = give_up
        if self.rtt is not None:
            nack.set_rtt(self.rtt)

    def _drop(self) -> None:
        self.dropped += 1
        self.counters.dropped += 1

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        self.pacer.begin()
        try:
            self._ingest(data, arrival_time_ms)
        except Exception:
            # Malformed input must never take down the receive task of this transport.
            self._drop()
            logger.debug("dropping RTP from %s", self.participant_id, exc_info=True)
        await self.pacer.end()

    def _ingest(self, data: bytes, arrival_time_ms: int) -> None:
        self.rtp_in += 1
        self.counters.packets_in += 1
        header = rtp.parse_rtp_header(data)
        if header is None:
            self._drop()
            return
        stream = self.streams.get(header.ssrc)
        if stream is None:
            repaired = self._rtx_stream(header.ssrc, header.marker_pt & 0x7F, data, header)
            if repaired is not None:
                stream = repaired
                mid = self._rtx_mids.get(header.ssrc, "")
                apt = self.rtx_apt.get(mid, {}).get(header.marker_pt & 0x7F)
                if apt is None or apt not in stream.codecs:
                    self._drop()
                    return
                unwrapped = rtp.unwrap_rtx(data, header, apt, stream.ssrc)
                if unwrapped is None:
                    self.rtx_padding += 1  # padding-only (bandwidth probing): nothing to do
                    return
                self.rtx_in += 1
                self.counters.rtx_in += 1
                data = unwrapped
                header = rtp.parse_rtp_header(data)
                if header is None:
                    self._drop()
                    return
            else:
                stream = self._bind_stream(header.ssrc, header.marker_pt & 0x7F, data, header)
            if stream is None:
                self._drop()
                return
        codec = stream.codecs.get(header.marker_pt & 0x7F)
        if codec is None:
            self._drop()
            return
        elements = rtp.extension_elements(data, header)
        if elements is None:
            self._drop()
            return
        now = time.monotonic()
        if not stream.note_arrival(data, header.seq, header.timestamp, now):
            self._drop()
            return
        if stream.kind == "audio":
            if stream.audio_level_id:
                level = rtp.audio_level(data, header, elements, stream.audio_level_id)
                if level is not None:
                    stream.audio_level += (level - stream.audio_level) * 0.2
            if stream.muted:
                return
            keyframe = True
        else:
            keyframe = rtp.KEYFRAME_DETECTORS[codec](data, header.payload_start, header.payload_end)
            if keyframe:
                stream.keyframes += 1
                self.counters.keyframes_received += 1
                if stream.keyframe_requests is not None:
                    stream.keyframe_requests.keyframe()
            if stream.abs_send_time_id:
                abs_time = rtp.abs_send_time(data, header, elements, stream.abs_send_time_id)
                if abs_time is not None:
                    # Our monotonic clock minus the kernel-measured wait, not the caller's
                    # time: the estimator's rate counter walks every millisecond between
                    # two arrival times, and our own backlog is not network congestion.
                    arrival = now - self.arrivals.delay
                    self._estimate(int(arrival * 1000), abs_time, header, stream.ssrc)
        for slot in stream.slots:
            self.forwarded += slot.forward(data, header, elements, keyframe, now)

    def _estimate(self, arrival_ms: int, abs_time: int, header: rtp.RtpHeader, ssrc: int) -> None:
        if self.estimator is None:
            self.estimator = RemoteBitrateEstimator()
        result = self.estimator.add(
            arrival_ms, abs_time, header.payload_end - header.payload_start, ssrc
        )
        if result is None:
            return
        bitrate, ssrcs = result
        # aiortc's rate control grows without bound while nothing is congested; like
        # libwebrtc, never promise much more than 1.5x what arrives (but at least the start
        # bitrate, so a Full HD publisher is not held back while it ramps up).
        incoming = self.estimator.incoming_bitrate.rate(arrival_ms) or 0
        floor = self.room.start_bitrate_kbps * 1000
        bitrate = min(bitrate, max(int(1.5 * incoming) + 10_000, floor))
        cap = self.room.max_publish_bitrate
        if cap:
            bitrate = min(bitrate, cap)
        self.rtcp.remb(bitrate, ssrcs, time.monotonic())

    async def _on_rtcp(self, data: bytes) -> None:
        self.rtcp_in += 1
        try:
            items = rtp.split_rtcp(data)
            if items is None:
                self._drop()
                return
            for item in items:
                self._rtcp_item(item)
        except Exception:
            self._drop()
            logger.debug("dropping RTCP from %s", self.participant_id, exc_info=True)

    def _rtcp_item(self, item: rtp.RtcpItem) -> None:
        body = item.body
        if item.packet_type == rtp.RTCP_SR and len(body) >= 24:
            ssrc = int.from_bytes(body[0:4], "big")
            stream = self.streams.get(ssrc)
            if stream is not None:
                stream.sr_ntp = int.from_bytes(body[4:12], "big")
                stream.sr_rtp = int.from_bytes(body[12:16], "big")
                stream.sr_at = time.monotonic()
            self._note_report_blocks(body, 24, item.fmt)
        elif item.packet_type == rtp.RTCP_RR and len(body) >= 4:
            self._note_report_blocks(body, 4, item.fmt)
        elif item.packet_type == rtp.RTCP_PSFB and len(body) >= 8:
            media_ssrc = int.from_bytes(body[4:8], "big")
            if item.fmt in (rtp.PSFB_PLI, rtp.PSFB_FIR) and not self._within_budget(0):
                return
            if item.fmt == rtp.PSFB_PLI:
                self.plis_in += 1
                self.room._keyframe_wanted(media_ssrc)
            elif item.fmt == rtp.PSFB_FIR and len(body) >= 12:
                self.plis_in += 1
                self.room._keyframe_wanted(int.from_bytes(body[8:12], "big"))
            elif item.fmt == rtp.PSFB_APP:
                remb = rtp.parse_remb_fci(body[8:])
                if remb is not None:
                    self.remb_in = remb[0]
                    self.remb_in_at = time.monotonic()
        elif item.packet_type == rtp.RTCP_RTPFB and item.fmt == rtp.RTPFB_NACK:
            parsed = rtp.parse_nack_body(body)
            if parsed is not None and self._within_budget(len(parsed[2])):
                self.nacks_in += 1
                self.counters.nacks_received += 1
                self.room._nack(self, parsed[1], parsed[2])

    def _within_budget(self, nacked: int) -> bool:
        """Bounded work per second for one peer's feedback: a storm is counted and ignored."""
        now = time.monotonic()
        if now - self._budget_at >= 1.0:
            self._budget_at = now
            self._feedback_used = self._nacked_used = 0
        if self._feedback_used >= FEEDBACK_BUDGET or self._nacked_used + nacked > NACKED_BUDGET:
            self.limited += 1
            self.counters.rtcp_limited += 1
            return False
        self._feedback_used += 1
        self._nacked_used += nacked
        return True

    def _note_report_blocks(self, body: bytes, offset: int, count: int) -> None:
        """Round-trip time from the report blocks about the slots we send (RFC 3550 6.4.1),
        and each block's loss counters for the bandwidth estimate (``slot_reports``)."""
        slot_ssrcs = self.room.slot_by_ssrc
        timed = False
        for i in range(min(count, 31)):
            pos = offset + 24 * i
            if pos + 24 > len(body):
                return
            ssrc = int.from_bytes(body[pos : pos + 4], "big")
            if ssrc not in slot_ssrcs:
                continue
            lost = int.from_bytes(body[pos + 5 : pos + 8], "big", signed=True)
            self.slot_reports[ssrc] = (lost, int.from_bytes(body[pos + 8 : pos + 12], "big"))
            lsr = int.from_bytes(body[pos + 16 : pos + 20], "big")
            dlsr = int.from_bytes(body[pos + 20 : pos + 24], "big")
            if not lsr or timed:
                continue
            now = (rtp.ntp_now() >> 16) & 0xFFFFFFFF
            rtt = ((now - lsr - dlsr) & 0xFFFFFFFF) / 65536
            if rtt < 5.0:
                self.rtt = rtt if self.rtt is None else self.rtt + (rtt - self.rtt) / 8
                for stream in self.streams.values():
                    stream.nack.set_rtt(self.rtt)
            timed = True

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for stream in self.streams.values():
            stream.close()
        self.tx = None
        self._send_rtcp = None
        try:
            # Shielded: a caller cancelled mid-close (Daphne cancelling a consumer) must not
            # cancel aiortc's internal close future, which breaks its own close task.
            await asyncio.shield(self.pc.close())
        except Exception:
            logger.debug("closing peer %s", self.participant_id, exc_info=True)
