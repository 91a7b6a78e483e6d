"""Per-subscriber bandwidth adaptation with real aiortc peers (media_worker/sfu/adapt.py).

A publisher sends three real VP8 layers (PyAV/libvpx through aiortc's encoder, 320, 160 and
80 pixels wide) with their rids; two aiortc subscribers decode ``main``. One of them reports
a low REMB over its own connection: its ``main`` moves to the smallest layer -- on a key
frame, the stream continuous (sequence numbers, timestamps, VP8 picture ids) and decoded
throughout -- while the other keeps the top layer; when its REMB is high again, it comes
back to the top layer after the allocator's hold time.

The subscribers offer no abs-send-time, so aiortc's own receivers send no REMB (their
estimator sits at ~300 kbit/s on loopback): the REMB the SFU sees is the one the test sends.
"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import re
import time

import av
import pytest
from aiortc.codecs.vpx import Vp8Encoder
from sfu_helpers import Client, wait_for
from test_sfu_simulcast import RID_LINES, packet

from media_worker.sfu import NetworkPolicy, Room, rtp
from media_worker.sfu.allocator import UP_HOLD
from media_worker.sfu.layers import vp8_ids

pytestmark = [pytest.mark.media, pytest.mark.timeout(120)]

SIZES = {"l": (80, 46), "m": (160, 90), "h": (320, 180)}
ABS_SEND_TIME = re.compile(r"a=extmap:\d+ " + re.escape(rtp.URI_ABS_SEND_TIME) + r"\r\n")


class LayerSender:
    """Encodes a moving picture at the three sizes, 30 fps, and injects each layer's RTP
    into the publisher's peer with its rid; key frames every 2 s and on a PLI."""

    def __init__(self, room: Room, pub: Client) -> None:
        self.room = room
        self.pub = pub
        self.encoders = {rid: Vp8Encoder() for rid in SIZES}
        self.seq = dict.fromkeys(SIZES, 1000)
        self.frames = 0
        self.plis = 0
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        peer = self.room.peers["pub"]
        line = peer.layout.publish_video
        pt = next(p for p, c in line.codecs.items() if c == "vp8")
        mid_ext = line.extensions[rtp.URI_MID]
        ssrcs = {"l": 1001, "m": 2002, "h": 3003}
        start = time.monotonic()
        while True:
            plis = self.pub.plis_received()
            key = self.frames % 60 == 0 or plis > self.plis
            self.plis = plis
            w, h = SIZES["h"]
            frame = av.VideoFrame(w, h, "yuv420p")
            band = (self.frames * 4) % (h - 16)
            y = bytearray([90]) * (w * h)
            y[band * w : (band + 16) * w] = bytes(
                (i * 37 + self.frames) & 0xFF for i in range(16 * w)
            )
            frame.planes[0].update(bytes(y))
            frame.planes[1].update(bytes([128]) * (w * h // 4))
            frame.planes[2].update(bytes([128]) * (w * h // 4))
            frame.pts, frame.time_base = self.frames, fractions.Fraction(1, 30)
            for rid, (lw, lh) in SIZES.items():
                scaled = frame if lw == w else frame.reformat(width=lw, height=lh)
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                payloads, ts = self.encoders[rid].encode(scaled, force_keyframe=key)
                for i, payload in enumerate(payloads):
                    data = bytearray(
                        packet(
                            self.seq[rid],
                            ssrcs[rid],
                            [(mid_ext, b"0"), (10, rid.encode())],
                            payload,
                            pt,
                        )
                    )
                    data[4:8] = ts.to_bytes(4, "big")
                    if i == len(payloads) - 1:
                        data[1] |= 0x80  # marker: the frame's last packet
                    self.seq[rid] = (self.seq[rid] + 1) & 0xFFFF
                    await peer._on_rtp(bytes(data), 0)
            self.frames += 1
            await asyncio.sleep(max(0.0, start + self.frames / 30 - time.monotonic()))


def watch_main(client: Client, room: Room) -> list[tuple[float, int, int, int]]:
    """(time, seq, timestamp, VP8 picture id) of every packet of ``main`` the client gets."""
    log: list[tuple[float, int, int, int]] = []
    ssrc = room.slots["main/video"].ssrc
    dtls = client.pc.getTransceivers()[0].receiver.transport
    inner = dtls._handle_rtp_data

    async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
        header = rtp.parse_rtp_header(data)
        if header is not None and header.ssrc == ssrc:
            ids = vp8_ids(data, header.payload_start, header.payload_end)
            log.append(
                (time.monotonic(), header.seq, header.timestamp, ids.picture_id if ids else -1)
            )
        await inner(data, arrival_time_ms)

    dtls._handle_rtp_data = on_rtp
    return log


async def send_remb(client: Client, room: Room, bitrate: int) -> None:
    dtls = client.pc.getTransceivers()[0].receiver.transport
    ssrcs = [s.ssrc for s in room.slots.values() if s.kind == "video"]
    await dtls._send_rtp(rtp.build_remb(0x1234, bitrate, ssrcs))


async def test_a_subscriber_with_a_low_remb_gets_the_small_layer_while_another_keeps_the_top():
    events: list[dict] = []
    room = Room("adapt", thumbnails=1, policy=NetworkPolicy.loopback(), on_event=events.append)
    pub = Client(luma=None, tone=None, thumbnails=1)
    weak = Client(luma=None, tone=None, thumbnails=1)
    strong = Client(luma=None, tone=None, thumbnails=1)
    sender = LayerSender(room, pub)
    try:
        offer = await pub.offer()
        sections = re.split(r"(?=^m=)", offer["sdp"], flags=re.M)
        sections[1] = sections[1].replace("a=inactive", "a=sendonly") + RID_LINES
        await pub.accept(await room.join("pub", {"type": "offer", "sdp": "".join(sections)}))
        for pid, client in (("weak", weak), ("strong", strong)):
            offer = await client.offer()
            offer["sdp"] = ABS_SEND_TIME.sub("", offer["sdp"])
            await client.accept(await room.join(pid, offer))
        await wait_for(lambda: all(p.connected for p in room.peers.values()), timeout=30)
        room.set_floor("pub")
        logs = {"weak": watch_main(weak, room), "strong": watch_main(strong, room)}
        sender.start()
        await wait_for(
            lambda: all(c.slot("main") and c.slot("main").width == 320 for c in (weak, strong)),
            timeout=30,
        )
        # (before this, main may have started on a lower layer that flowed first: a switch
        # of the shared numbering, which does not rewrite picture ids)
        settled = len(logs["weak"])
        # the weak one's link: 100 kbit/s by its REMB -- the smallest layer of everything
        deadline = time.monotonic() + 30
        while weak.slot("main").width != 80:
            assert time.monotonic() < deadline, "the weak subscriber never got the small layer"
            await send_remb(weak, room, 100_000)
            await asyncio.sleep(0.25)
        frames = weak.slot("main").frames
        stats = room.stats()["participants"]
        assert stats["weak"]["quality"] == "reduced" and stats["weak"]["estimate"] == 100_000
        assert stats["strong"]["quality"] == "full" and stats["strong"]["estimate"] is None
        # the other one keeps the top layer, and the weak one keeps decoding; its page is
        # told once the reduced state has lasted QUALITY_HOLD
        for _ in range(14):
            await send_remb(weak, room, 100_000)
            await asyncio.sleep(0.25)
        assert {
            "type": "quality",
            "participant": "weak",
            "quality": "reduced",
            "estimate": 100_000,
        } in events
        told = [
            e["quality"] for e in events if e["type"] == "quality" and e["participant"] == "weak"
        ]
        assert told == ["reduced"], told  # once, no flicker
        assert strong.slot("main").width == 320
        assert weak.slot("main").width == 80 and weak.slot("main").frames >= frames + 30
        # room again: back on the top layer after the hold time, not before
        up_from = time.monotonic()
        while weak.slot("main").width != 320:
            assert time.monotonic() < up_from + 30, "the weak subscriber never came back"
            await send_remb(weak, room, 20_000_000)
            await asyncio.sleep(0.25)
        assert time.monotonic() - up_from >= UP_HOLD
        assert room.stats()["participants"]["weak"]["quality"] == "full"
        assert strong.slot("main").width == 320
        # one stream for the weak subscriber's decoder across both switches
        weak_log = logs["weak"][settled:]
        seqs = [seq for _, seq, _, _ in weak_log]
        steps = {(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs)}
        assert steps == {1}, "sequence numbers continuous across the layer switches"
        stamps = [ts for _, _, ts, _ in weak_log]
        assert all(((b - a) & 0xFFFFFFFF) < 90000 for a, b in itertools.pairwise(stamps))
        pics = [pic for _, _, _, pic in weak_log]
        pic_steps = {(b - a) & 0x7FFF for a, b in itertools.pairwise(pics)} - {0}
        assert pic_steps == {1}, "VP8 picture ids continuous across the layer switches"
        assert room.slots["main/video"].counters.send_errors == 0
    finally:
        await sender.stop()
        await room.close()
        for client in (pub, weak, strong):
            await client.close()
