"""Processes for benchmarks/sfu_layout.py: the SFU server, simulcast publishers, subscribers.

Run by the benchmark only:
    _layout_worker.py server                         prints {"port": P}, JSON lines on 127.0.0.1:P
    _layout_worker.py publisher PORT CLIPDIR PID sim|single
        joins as PID and sends the pre-encoded clip's layers itself (VP8 packetised here, with
        rtp-stream-id); in "sim" mode only the layers the room says anyone watches
        (``publish_layers``), in "single" mode the top layer alone, without rids (baseline)
    _layout_worker.py subscribers PORT PREFIX COUNT   the full layout: main, chair, 4 thumbnails

Everything stays on 127.0.0.1. Subscribers count packets, bytes and sequence gaps per SSRC
from the decrypted RTP header; nothing is decoded.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import random
import re
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from media_worker.sfu import rtp  # noqa: E402

CONFIG = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
THUMBNAILS = 4
RIDS = ("l", "m", "h")
RID_EXT, MID_EXT, ABS_EXT, LEVEL_EXT = 10, 1, 3, 2
MAX_PAYLOAD = 1100


async def rpc(port: int, message: dict) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 60)
    writer.close()
    return json.loads(line)


# --- server ------------------------------------------------------------------------------


async def serve() -> None:
    from media_worker.sfu import NetworkPolicy, Room

    layers: dict[str, dict[str, bool]] = {}

    def on_event(event: dict) -> None:
        if event["type"] == "publish_layers":
            layers[event["participant"]] = event["layers"]

    room = Room("layout", thumbnails=THUMBNAILS, policy=NetworkPolicy.loopback(), on_event=on_event)
    stop = asyncio.Event()

    async def handle(msg: dict) -> dict:
        cmd = msg["cmd"]
        if cmd == "join":
            return {"answer": await room.join(msg["pid"], msg["offer"])}
        if cmd == "layout":
            room.set_floor(msg["floor"])
            room.set_chair(msg["chair"])
            room.set_thumbnails(msg["thumbs"])
            return {}
        if cmd == "layers":
            return {"layers": layers.get(msg["pid"])}
        if cmd == "stats":
            octets_in = 0
            for peer in room.peers.values():
                octets_in += sum(s.octets for s in peer.streams.values())
            return {
                "forwarded": room.counters()["packets_out"],
                "packets_in": room.counters()["packets_in"],
                "octets_in": octets_in,
                "slots": {k: (s.source.rid if s.source else None) for k, s in room.slots.items()},
            }
        raise ValueError(cmd)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            msg = json.loads(await reader.readline())
            if msg["cmd"] == "quit":
                stop.set()
                reply: dict = {}
            else:
                reply = await handle(msg)
        except Exception as exc:
            reply = {"error": repr(exc)}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(client, "127.0.0.1", 0)
    print(json.dumps({"port": tcp.sockets[0].getsockname()[1]}), flush=True)
    try:
        await stop.wait()
    finally:
        tcp.close()
        await room.close()


# --- publisher ---------------------------------------------------------------------------


class Silent(MediaStreamTrack):
    """A track that never yields: makes the transceiver sendonly, aiortc sends nothing."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self):  # type: ignore[override]
        await asyncio.Event().wait()


def vp8_packets(frame: bytes) -> list[bytes]:
    """RFC 7741 payloads: a one-byte descriptor (S on the first), ≤ MAX_PAYLOAD each."""
    chunks = [frame[i : i + MAX_PAYLOAD] for i in range(0, len(frame), MAX_PAYLOAD)] or [b""]
    return [(b"\x10" if i == 0 else b"\x00") + c for i, c in enumerate(chunks)]


def one_byte_ext(elements: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elements)
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", rtp.ONE_BYTE_PROFILE, len(body) // 4) + body


class Layer:
    def __init__(self, rid: str | None, frames: list[bytes], ssrc: int) -> None:
        self.rid = rid
        self.frames = [vp8_packets(f) for f in frames]
        self.ssrc = ssrc
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.index = 0
        self.sent = 0


async def publish(port: int, clip_dir: str, pid: str, mode: str) -> None:
    clip = pickle.loads(Path(clip_dir, "layers.pickle").read_bytes())  # noqa: S301 - our file
    pc = RTCPeerConnection(CONFIG)
    video_t = pc.addTransceiver(Silent("video"), direction="sendonly")
    audio_t = pc.addTransceiver(Silent("audio"), direction="sendonly")
    for kind in ["video", "audio", "video", "audio"]:
        pc.addTransceiver(kind, direction="inactive")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    if mode == "sim":
        sections = re.split(r"(?=^m=)", sdp, flags=re.M)
        sections[1] += (
            f"a=extmap:{RID_EXT} urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
            + "".join(f"a=rid:{r} send\r\n" for r in RIDS)
            + "a=simulcast:send "
            + ";".join(RIDS)
            + "\r\n"
        )
        sdp = "".join(sections)
    reply = await rpc(port, {"cmd": "join", "pid": pid, "offer": {"type": "offer", "sdp": sdp}})
    answer = reply["answer"]["sdp"]
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    video_pt = int(re.search(r"a=rtpmap:(\d+) VP8/90000", answer).group(1))
    audio_pt = int(re.search(r"a=rtpmap:(\d+) opus/48000", answer).group(1))
    dtls = video_t.sender.transport
    for _ in range(600):  # bounded: 30 s
        if dtls.state == "connected":
            break
        await asyncio.sleep(0.05)
    if mode == "sim":
        layers = [Layer(r, clip[r], random.getrandbits(32) or 1) for r in RIDS]
    else:
        layers = [Layer(None, clip["h"], video_t.sender._ssrc)]
    audio_ssrc = audio_t.sender._ssrc
    active = {layer.rid: True for layer in layers}
    print(json.dumps({"joined": True}), flush=True)

    async def follow_layers() -> None:
        while mode == "sim":
            try:
                got = (await rpc(port, {"cmd": "layers", "pid": pid})).get("layers")
            except (OSError, TimeoutError, ValueError):
                got = None  # the server is busy: ask again
            if got:
                active.update(got)
            await asyncio.sleep(0.5)

    async def send_video() -> None:
        start = time.monotonic()
        n = 0
        while True:
            n += 1
            delay = start + n / 30 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for layer in layers:
                packets = layer.frames[layer.index % len(layer.frames)]
                layer.index += 1
                layer.ts = (layer.ts + 3000) & 0xFFFFFFFF
                if not active.get(layer.rid, True):
                    continue  # paused (active: false): nothing on the wire
                abs_time = (int(time.time() * (1 << 18)) & 0xFFFFFF).to_bytes(3, "big")
                elements = [(MID_EXT, b"0"), (ABS_EXT, abs_time)]
                if layer.rid:
                    elements.append((RID_EXT, layer.rid.encode()))
                ext = one_byte_ext(elements)
                for i, payload in enumerate(packets):
                    marker = 0x80 if i == len(packets) - 1 else 0
                    header = struct.pack(
                        "!BBHII", 0x90, marker | video_pt, layer.seq, layer.ts, layer.ssrc
                    )
                    layer.seq = (layer.seq + 1) & 0xFFFF
                    try:
                        await dtls._send_rtp(header + ext + payload)
                    except ConnectionError:
                        continue  # not (yet) connected: this packet is lost, the clip goes on
                    layer.sent += 1

    async def send_audio() -> None:
        start = time.monotonic()
        seq, ts, n = random.getrandbits(16), random.getrandbits(32), 0
        ext = one_byte_ext([(MID_EXT, b"1"), (LEVEL_EXT, b"\x1e")])
        while True:
            n += 1
            delay = start + n * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = clip["audio"][n % len(clip["audio"])]
            header = struct.pack("!BBHII", 0x90, audio_pt, seq, ts, audio_ssrc)
            seq, ts = (seq + 1) & 0xFFFF, (ts + 960) & 0xFFFFFFFF
            try:
                await dtls._send_rtp(header + ext + payload)
            except ConnectionError:
                continue

    tasks = [asyncio.ensure_future(t()) for t in (follow_layers, send_video, send_audio)]
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        for t in tasks:
            t.cancel()
        await pc.close()


# --- subscribers -------------------------------------------------------------------------


class Counter:
    """Per-SSRC packets, bytes and extended sequence range since the last reset."""

    def __init__(self) -> None:
        self.streams: dict[int, list[int]] = {}  # ssrc -> [count, first, last, cycles, bytes]
        self.total = 0

    def add(self, data: bytes) -> None:
        if len(data) < 12:
            return
        seq, ssrc = struct.unpack_from("!H", data, 2)[0], struct.unpack_from("!I", data, 8)[0]
        self.total += 1
        s = self.streams.get(ssrc)
        if s is None:
            self.streams[ssrc] = [1, seq, seq, 0, len(data)]
            return
        s[0] += 1
        s[4] += len(data)
        last = s[2] & 0xFFFF
        delta = (seq - last) & 0xFFFF
        if delta < 0x8000:
            if seq < last:
                s[3] += 0x10000
            s[2] = s[3] + seq

    def report(self) -> tuple[int, int, int]:
        received = expected = octets = 0
        for count, first, last, _, size in self.streams.values():
            received += count
            expected += max(count, last - first + 1)
            octets += size
        return received, expected, octets


async def subscribe(port: int, prefix: str, count: int) -> None:
    pcs: list[RTCPeerConnection] = []
    counters: list[Counter] = []
    for i in range(count):
        pc = RTCPeerConnection(CONFIG)
        pc.addTransceiver("video", direction="inactive")
        pc.addTransceiver("audio", direction="inactive")
        for kind in ["video", "audio", "video", "audio"] + ["video"] * THUMBNAILS:
            pc.addTransceiver(kind, direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        reply = await rpc(port, {"cmd": "join", "pid": f"{prefix}{i}", "offer": offer})
        if "answer" not in reply:
            raise RuntimeError(reply)
        await pc.setRemoteDescription(RTCSessionDescription(reply["answer"]["sdp"], "answer"))
        counter = Counter()
        dtls = pc.getTransceivers()[0].receiver.transport

        async def count_only(data: bytes, arrival_time_ms: int, counter: Counter = counter) -> None:
            counter.add(data)

        dtls._handle_rtp_data = count_only
        pcs.append(pc)
        counters.append(counter)
    print(json.dumps({"joined": count}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "ready":
                # receiving = every video slot (main, chair, thumbnails) has arrived
                full = sum(1 for c in counters if len(c.streams) >= 2 + 2 + THUMBNAILS)
                print(json.dumps({"receiving": full}), flush=True)
            elif line == "reset":
                for c in counters:
                    c.streams.clear()
                print(json.dumps({"reset": True}), flush=True)
            elif line == "report":
                received = expected = octets = 0
                for c in counters:
                    r, e, o = c.report()
                    received += r
                    expected += e
                    octets += o
                print(
                    json.dumps({"received": received, "expected": expected, "octets": octets}),
                    flush=True,
                )
            else:
                break
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)


def main() -> None:
    role = sys.argv[1]
    if role == "server":
        asyncio.run(serve())
    elif role == "publisher":
        asyncio.run(publish(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
    elif role == "subscribers":
        asyncio.run(subscribe(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
