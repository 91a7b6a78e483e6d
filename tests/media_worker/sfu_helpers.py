"""aiortc test clients for the SFU: publish synthetic camera/mic, record what arrives.

Clients offer in the layout of docs/sfu.md and only ever use 127.0.0.1 (the conftest
patches aioice's host discovery; ``iceServers=[]`` keeps STUN off).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import struct
from collections.abc import Callable

import av
from aiortc import (
    AudioStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError

from media_worker.sfu import rtp
from media_worker.sfu.signalling import offer_opus_nack

WIDTH, HEIGHT = 320, 240


class LumaTrack(VideoStreamTrack):
    """A camera whose picture is flat grey at ``luma`` with a moving noisy band."""

    def __init__(self, luma: int) -> None:
        super().__init__()
        self.luma = luma
        self.frames = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        y = bytearray([self.luma]) * (WIDTH * HEIGHT)
        band = (self.frames * 4) % (HEIGHT - 16)
        for row in range(band, band + 16):
            start = row * WIDTH
            y[start : start + WIDTH] = bytes(
                (self.luma + (i * 37 + self.frames * 11) % 50) & 0xFF for i in range(WIDTH)
            )
        frame.planes[0].update(bytes(y))
        frame.planes[1].update(bytes([128]) * (WIDTH * HEIGHT // 4))
        frame.planes[2].update(bytes([128]) * (WIDTH * HEIGHT // 4))
        frame.pts = pts
        frame.time_base = time_base
        self.frames += 1
        return frame


class ToneTrack(AudioStreamTrack):
    """A microphone: a 440 Hz tone at ``amplitude`` (0 = silence), 20 ms frames at 48 kHz."""

    def __init__(self, amplitude: int = 8000) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._tone = b"".join(
            struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 440 * i / 48000)))
            for i in range(960)
        )
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._samples += 960
            await asyncio.sleep(max(0.0, self._start + self._samples / 48000 - loop.time()))
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._tone)
        frame.sample_rate = 48000
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


class Received:
    """Frames decoded from one received slot track."""

    def __init__(self, mid: str, kind: str) -> None:
        self.mid = mid
        self.kind = kind
        self.frames = 0
        self.luma: int | None = None
        self.lumas: list[int] = []
        self.width = 0  # of the last decoded video frame

    def add(self, frame) -> None:
        self.frames += 1
        if self.kind == "video":
            self.width = frame.width
            plane = frame.planes[0]
            row = bytes(plane)[plane.line_size * (frame.height // 4) :][:64]
            self.luma = sum(row) // max(1, len(row))
            self.lumas.append(self.luma)


class Client:
    """An aiortc participant speaking the SFU's offer layout."""

    def __init__(
        self,
        *,
        luma: int | None = 200,
        tone: int | None = 0,
        thumbnails: int = 4,
        drop: Callable[[int, int], bool] | None = None,
        video_codec: str | None = None,
        content: int | bool | None = False,
        content_slot: str = "recvonly",
        opus_nack: bool = False,
    ) -> None:
        """``content``: False = an older client without the content lines; None = the content
        lines, publishing nothing; an int = a shared screen of that luma. ``content_slot``:
        the content slot line's direction (``inactive`` opts out). ``opus_nack``: offer
        ``nack`` for Opus as the pages do (``signalling.offer_opus_nack``)."""
        # max-bundle: see NetworkPolicy.rtc_configuration for the aiortc balanced-bundle bug.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.video = LumaTrack(luma) if luma is not None else None
        self.audio = ToneTrack(tone) if tone is not None else None
        self.thumbnails = thumbnails
        self.video_codec = video_codec  # e.g. "H264": publish only that codec
        self.with_content = content is not False
        self.screen = (
            LumaTrack(content) if isinstance(content, int) and content is not True else None
        )
        self.content_slot = content_slot
        self.opus_nack = opus_nack
        self.drop = drop  # (ssrc, seq) -> drop this incoming packet once
        self.received: dict[str, Received] = {}
        self.rtp_log: dict[int, list[tuple[int, int]]] = {}
        self.pt_log: dict[int, set[int]] = {}  # ssrc -> payload types seen
        self.rtx_primary: dict[int, int] = {}  # RTX SSRC in the answer -> the slot's SSRC
        self.rtx_received = 0  # retransmissions that came on RTX (logged under the primary)
        self.dropped: set[tuple[int, int]] = set()
        self.rtcp_in: list[tuple[int, int]] = []  # (packet type, fmt)
        self.answer: dict | None = None
        self._tasks: list[asyncio.Task] = []

        @self.pc.on("track")
        def on_track(track):
            mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
            received = self.received[mid] = Received(mid, track.kind)
            self._tasks.append(asyncio.ensure_future(self._consume(track, received)))

    async def _consume(self, track, received: Received) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                received.add(await track.recv())

    async def offer(self) -> dict:
        pc = self.pc
        if self.video is not None:
            t = pc.addTransceiver(self.video, direction="sendonly")
            if self.video_codec:
                caps = RTCRtpSender.getCapabilities("video").codecs
                t.setCodecPreferences([c for c in caps if c.name == self.video_codec])
        else:
            pc.addTransceiver("video", direction="inactive")
        if self.audio is not None:
            pc.addTransceiver(self.audio, direction="sendonly")
        else:
            pc.addTransceiver("audio", direction="inactive")
        for kind in ["video", "audio", "video", "audio"] + ["video"] * self.thumbnails:
            pc.addTransceiver(kind, direction="recvonly")
        if self.with_content:
            if self.screen is not None:
                pc.addTransceiver(self.screen, direction="sendonly")
            else:
                pc.addTransceiver("video", direction="inactive")
            pc.addTransceiver("video", direction=self.content_slot)
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        if self.opus_nack:
            offer["sdp"] = offer_opus_nack(offer["sdp"])
        if self.with_content:
            offer["content"] = True
        return offer

    async def accept(self, answer: dict) -> None:
        self.answer = answer
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for line in answer["sdp"].splitlines():
            if line.startswith("a=ssrc-group:FID "):
                primary, rtx_ssrc = (int(x) for x in line.split()[1:3])
                self.rtx_primary[rtx_ssrc] = primary
        dtls = self.pc.getTransceivers()[0].receiver.transport
        original_rtp = dtls._handle_rtp_data
        original_rtcp = dtls._handle_rtcp_data
        ice = dtls.transport
        original_recv = ice._recv

        async def recv() -> bytes:
            # Simulated loss happens before SRTP, as on a network: a packet dropped after
            # decryption would make its retransmission an SRTP replay.
            while True:
                data = await original_recv()
                if self.drop and 127 < data[0] < 192 and not 192 <= data[1] <= 223:
                    header = rtp.parse_rtp_header(data)
                    if header is not None:
                        key = (header.ssrc, header.seq)
                        if key not in self.dropped and self.drop(*key):
                            self.dropped.add(key)
                            continue
                return data

        ice._recv = recv

        async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
            header = rtp.parse_rtp_header(data)
            if header is not None and header.ssrc in self.rtx_primary:
                # RFC 4588: log the original sequence number under the slot's SSRC
                self.rtx_received += 1
                osn = struct.unpack_from("!H", data, header.payload_start)[0]
                primary = self.rtx_primary[header.ssrc]
                self.rtp_log.setdefault(primary, []).append((osn, header.timestamp))
            elif header is not None:
                self.rtp_log.setdefault(header.ssrc, []).append((header.seq, header.timestamp))
                self.pt_log.setdefault(header.ssrc, set()).add(header.marker_pt & 0x7F)
            await original_rtp(data, arrival_time_ms)

        async def on_rtcp(data: bytes) -> None:
            for item in rtp.split_rtcp(data) or []:
                self.rtcp_in.append((item.packet_type, item.fmt))
            await original_rtcp(data)

        dtls._handle_rtp_data = on_rtp
        dtls._handle_rtcp_data = on_rtcp

    def slot(self, name: str, kind: str = "video") -> Received | None:
        assert self.answer is not None
        return self.received.get(self.answer["slots"][name][f"{kind}_mid"])

    def answer_payload_types(self, name: str, kind: str = "video") -> dict[str, int]:
        """Codec key (``signalling.codec_key``) -> the payload type in the SFU's answer."""
        from aiortc import sdp as aiortc_sdp

        from media_worker.sfu.signalling import codec_key

        assert self.answer is not None
        mid = self.answer["slots"][name][f"{kind}_mid"]
        out: dict[str, int] = {}
        for m in aiortc_sdp.SessionDescription.parse(self.answer["sdp"]).media:
            if m.rtp.muxId == mid:
                for c in m.rtp.codecs:
                    out.setdefault(codec_key(c.name, dict(c.parameters)), c.payloadType)
        return out

    def slot_ssrc(self, room, name: str, kind: str = "video") -> int:
        return room.slots[f"{name}/{kind}"].ssrc

    def plis_received(self) -> int:
        return sum(1 for t, f in self.rtcp_in if t == rtp.RTCP_PSFB and f == rtp.PSFB_PLI)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()


async def connect(room, pid: str, client: Client) -> dict:
    answer = await room.join(pid, await client.offer())
    await client.accept(answer)
    return answer


async def wait_for(
    predicate: Callable[[], bool], timeout: float = 15.0, step: float = 0.05
) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds (bounded loop)."""
    for _ in range(int(timeout / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


def drop_upstream(room, pid: str, drop: Callable[[int, int], bool]) -> set[tuple[int, int]]:
    """Drop RTP datagrams from participant ``pid`` on their way into the SFU.

    The filter sits on the SFU's ICE transport, before SRTP, as a network would: each
    ``(ssrc, seq)`` for which ``drop`` is true is dropped the first time only, so a
    retransmission answering the SFU's NACK gets through. Returns the set of dropped keys.
    """
    ice = room.peers[pid].transport.transport
    inner = ice._recv
    dropped: set[tuple[int, int]] = set()

    async def recv() -> bytes:
        while True:
            data = await inner()
            if 127 < data[0] < 192 and not 192 <= data[1] <= 223:
                header = rtp.parse_rtp_header(data)
                if header is not None:
                    key = (header.ssrc, header.seq)
                    if key not in dropped and drop(*key):
                        dropped.add(key)
                        continue
            return data

    ice._recv = recv
    return dropped
