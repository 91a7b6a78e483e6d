"""Processes for benchmarks/sfu_fanout.py: the server (SFU or MediaRelay), publisher, subscribers.

Run by the benchmark only:
    _sfu_worker.py server sfu|relay          prints {"port": P}, serves JSON lines on 127.0.0.1:P
    _sfu_worker.py publisher PORT CLIPDIR sfu|relay   joins as "pub", loops the clip
    _sfu_worker.py subscribers PORT sfu|relay PREFIX COUNT
        joins COUNT subscribers, then obeys stdin lines "reset" / "report" / "quit"

Everything listens and sends on 127.0.0.1 only. Subscribers count packets and sequence gaps
per SSRC from the decrypted RTP header; nothing is decoded.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import os
import pickle
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aioice.ice

# Loopback only, for every aiortc peer in these processes (the SFU also applies its policy).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

import av  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay  # noqa: E402

CONFIG = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


async def rpc(port: int, message: dict) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 60)
    writer.close()
    return json.loads(line)


# --- servers ---------------------------------------------------------------------------


class SfuServer:
    def __init__(self) -> None:
        from media_worker.sfu import NetworkPolicy, Room

        self.room = Room("bench", thumbnails=0, policy=NetworkPolicy.loopback())

    async def handle(self, msg: dict) -> dict:
        cmd = msg["cmd"]
        if cmd == "join":
            answer = await self.room.join(msg["pid"], msg["offer"])
            return {"answer": answer}
        if cmd == "floor":
            self.room.set_floor(msg["pid"])
            return {}
        if cmd == "leave":
            await self.room.leave(msg["pid"])
            return {}
        if cmd == "stats":
            parts = self.room.stats()["participants"]
            return {
                "forwarded": sum(p["forwarded"] for p in parts.values()),
                "retransmitted": sum(p["retransmitted"] for p in parts.values()),
                "remb": parts.get("pub", {}).get("remb_out"),
                "yields": sum(p["pacer_yields"] for p in parts.values()),
            }
        raise ValueError(cmd)

    async def close(self) -> None:
        await self.room.close()


class RelayServer:
    """aiortc as shipped: decode the publisher once, re-encode for every subscriber."""

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.tracks: dict[str, MediaStreamTrack] = {}

    async def handle(self, msg: dict) -> dict:
        cmd = msg["cmd"]
        if cmd == "join":
            pc = RTCPeerConnection(CONFIG)
            self.pcs[msg["pid"]] = pc
            publisher = msg["pid"] == "pub"

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                self.tracks[track.kind] = track

            await pc.setRemoteDescription(RTCSessionDescription(msg["offer"]["sdp"], "offer"))
            if not publisher:
                for t in pc.getTransceivers():
                    t.sender.replaceTrack(self.relay.subscribe(self.tracks[t.kind]))
                    t.direction = "sendonly"
            await pc.setLocalDescription(await pc.createAnswer())
            return {"answer": {"type": "answer", "sdp": pc.localDescription.sdp}}
        if cmd == "floor":
            return {}
        if cmd == "leave":
            pc = self.pcs.pop(msg["pid"], None)
            if pc is not None:
                await pc.close()
            return {}
        if cmd == "stats":
            sent = 0
            for pid, pc in self.pcs.items():
                if pid == "pub":
                    continue
                for sender in pc.getSenders():
                    sent += sender._RTCRtpSender__packet_count
            return {"forwarded": sent}
        raise ValueError(cmd)

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs.values()), return_exceptions=True)


async def serve(kind: str) -> None:
    server = SfuServer() if kind == "sfu" else RelayServer()
    stop = asyncio.Event()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            msg = json.loads(await reader.readline())
            if msg["cmd"] == "quit":
                stop.set()
                reply: dict = {}
            else:
                reply = await server.handle(msg)
        except Exception as exc:
            reply = {"error": repr(exc)}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(client, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    try:
        await stop.wait()
    finally:
        tcp.close()
        await server.close()


# --- publisher ---------------------------------------------------------------------------


class ClipTrack(MediaStreamTrack):
    """Yields pre-encoded packets in real time, looping; aiortc only packetises them."""

    def __init__(self, kind: str, packets: list[bytes], rate: int, step: int) -> None:
        super().__init__()
        self.kind = kind
        self.packets = packets
        self.rate = rate
        self.step = step
        self.index = 0
        self.start: float | None = None

    async def recv(self) -> av.Packet:
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        pts = self.index * self.step
        delay = self.start + pts / self.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self.packets[self.index % len(self.packets)])
        packet.pts = pts
        packet.time_base = fractions.Fraction(1, self.rate)
        self.index += 1
        return packet


async def publish(port: int, clip_dir: str, layout: str) -> None:
    clip = pickle.loads(Path(clip_dir, "clip.pickle").read_bytes())  # noqa: S301 - our own file
    pc = RTCPeerConnection(CONFIG)
    pc.addTransceiver(ClipTrack("video", clip["video"], 90000, 3000), direction="sendonly")
    pc.addTransceiver(ClipTrack("audio", clip["audio"], 48000, 960), direction="sendonly")
    if layout == "sfu":
        for kind in ["video", "audio", "video", "audio"]:
            pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": "offer", "sdp": pc.localDescription.sdp}
    reply = await rpc(port, {"cmd": "join", "pid": "pub", "offer": offer})
    await pc.setRemoteDescription(RTCSessionDescription(reply["answer"]["sdp"], "answer"))
    print(json.dumps({"joined": True}), flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await pc.close()


# --- subscribers -------------------------------------------------------------------------


class Counter:
    """Per-SSRC packet count and extended sequence range since the last reset."""

    def __init__(self) -> None:
        self.streams: dict[int, list[int]] = {}  # ssrc -> [count, first_ext, last_ext, cycles]
        self.total = 0

    def add(self, data: bytes) -> None:
        if len(data) < 12:
            return
        seq, ssrc = struct.unpack_from("!H", data, 2)[0], struct.unpack_from("!I", data, 8)[0]
        self.total += 1
        s = self.streams.get(ssrc)
        if s is None:
            self.streams[ssrc] = [1, seq, seq, 0]
            return
        s[0] += 1
        last = s[2] & 0xFFFF
        delta = (seq - last) & 0xFFFF
        if delta < 0x8000:
            if seq < last:
                s[3] += 0x10000
            s[2] = s[3] + seq

    def report(self) -> tuple[int, int]:
        received = expected = 0
        for count, first, last, _ in self.streams.values():
            received += count
            expected += max(count, last - first + 1)
        return received, expected


async def subscribe(port: int, layout: str, prefix: str, count: int) -> None:
    pcs: list[RTCPeerConnection] = []
    counters: list[Counter] = []
    for i in range(count):
        pc = RTCPeerConnection(CONFIG)
        if layout == "sfu":
            pc.addTransceiver("video", direction="inactive")
            pc.addTransceiver("audio", direction="inactive")
            for kind in ["video", "audio", "video", "audio"]:
                pc.addTransceiver(kind, direction="recvonly")
        else:
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
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

        dtls._handle_rtp_data = count_only  # no parsing, no jitter buffer, no decoding
        pcs.append(pc)
        counters.append(counter)
    print(json.dumps({"joined": count}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "ready":
                print(json.dumps({"receiving": sum(1 for c in counters if c.total)}), flush=True)
            elif line == "reset":
                for c in counters:
                    c.streams.clear()
                print(json.dumps({"reset": True, "t": time.time()}), flush=True)
            elif line == "report":
                received = expected = 0
                for c in counters:
                    r, e = c.report()
                    received += r
                    expected += e
                print(json.dumps({"received": received, "expected": expected}), flush=True)
            else:
                break
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)


def main() -> None:
    role = sys.argv[1]
    if role == "server":
        profile_to = os.environ.get("SFU_BENCH_PROFILE")
        if profile_to:  # where the server's time goes: SFU_BENCH_PROFILE=out.prof
            import cProfile

            cProfile.run(f"asyncio.run(serve({sys.argv[2]!r}))", profile_to)
        else:
            asyncio.run(serve(sys.argv[2]))
    elif role == "publisher":
        asyncio.run(publish(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    elif role == "subscribers":
        asyncio.run(subscribe(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
