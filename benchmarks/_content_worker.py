"""Processes for benchmarks/sfu_content.py: the SFU server, publishers, content subscribers.

Run by the benchmark only:
    _content_worker.py server                          prints {"port": P}, JSON lines on 127.0.0.1:P
    _content_worker.py publisher PORT CLIPDIR PID LAYER [content]
        joins as PID with the content lines and sends the clip's LAYER on its camera line, plus
        Opus; with ``content`` it shares the screen clip on the content line between a "share"
        and a "stop" line on stdin, starting on its key frame, and restarts it on the key frame
        when the SFU sends a PLI for it (as a browser's encoder does)
    _content_worker.py subscribers PORT PREFIX COUNT    main, chair and the content slot

The packet helpers and the per-SSRC counter are _layout_worker.py's. Subscribers note the wall
time of the first content packet that ends a frame (marker bit) after "arm". Everything stays
on 127.0.0.1; nothing is decoded.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _layout_worker as lw  # also limits aioice to 127.0.0.1
from aiortc import RTCPeerConnection, RTCSessionDescription

CONTENT_FPS = 15


async def serve() -> None:
    from media_worker.sfu import NetworkPolicy, Room

    room = Room("content", thumbnails=0, policy=NetworkPolicy.loopback())
    stop = asyncio.Event()

    async def handle(msg: dict) -> dict:
        cmd = msg["cmd"]
        if cmd == "join":
            return {"answer": await room.join(msg["pid"], msg["offer"])}
        if cmd == "layout":
            room.set_floor(msg["floor"])
            room.set_chair(msg["chair"])
            return {}
        if cmd == "content":
            room.set_content(msg["pid"])
            return {}
        if cmd == "stats":
            slot = room.slots["content/video"]
            return {
                "forwarded": room.counters()["packets_out"],
                "content_outputs": len(slot.outputs),
                "content_source": slot.source.owner if slot.source else None,
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


def _is_pli_for(data: bytes, ssrc: int) -> bool:
    pos = 0
    while pos + 12 <= len(data):
        fmt, pt = data[pos] & 0x1F, data[pos + 1]
        length = (struct.unpack_from("!H", data, pos + 2)[0] + 1) * 4
        if pt == 206 and fmt in (1, 4) and struct.unpack_from("!I", data, pos + 8)[0] == ssrc:
            return True  # PLI, or FIR
        pos += length
    return False


async def publish(port: int, clip_dir: str, pid: str, layer: str, shares: bool) -> None:
    clip = pickle.loads(Path(clip_dir, "content.pickle").read_bytes())  # noqa: S301 - our file
    pc = RTCPeerConnection(lw.CONFIG)
    video_t = pc.addTransceiver(lw.Silent("video"), direction="sendonly")
    audio_t = pc.addTransceiver(lw.Silent("audio"), direction="sendonly")
    for kind in ["video", "audio", "video", "audio"]:
        pc.addTransceiver(kind, direction="inactive")
    content_t = pc.addTransceiver(lw.Silent("video"), direction="sendonly")
    pc.addTransceiver("video", direction="inactive")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": "offer", "sdp": pc.localDescription.sdp, "content": True}
    reply = await lw.rpc(port, {"cmd": "join", "pid": pid, "offer": offer})
    answer = reply["answer"]["sdp"]
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    video_pt = int(re.search(r"a=rtpmap:(\d+) VP8/90000", answer).group(1))
    audio_pt = int(re.search(r"a=rtpmap:(\d+) opus/48000", answer).group(1))
    dtls = video_t.sender.transport
    for _ in range(600):  # bounded: 30 s
        if dtls.state == "connected":
            break
        await asyncio.sleep(0.05)
    camera = lw.Layer(None, clip[layer], video_t.sender._ssrc)
    screen = lw.Layer(None, clip["screen"], content_t.sender._ssrc)
    content_mid = (content_t.mid or "6").encode()
    state = {"sharing": False}

    original_rtcp = dtls._handle_rtcp_data

    async def on_rtcp(data: bytes) -> None:
        if state["sharing"] and _is_pli_for(data, screen.ssrc):
            screen.index = 0  # a key frame next, as an encoder asked for one
        await original_rtcp(data)

    dtls._handle_rtcp_data = on_rtcp
    print(json.dumps({"joined": True}), flush=True)

    async def send_frame(stream: lw.Layer, mid: bytes, step: int) -> None:
        packets = stream.frames[stream.index % len(stream.frames)]
        stream.index += 1
        stream.ts = (stream.ts + step) & 0xFFFFFFFF
        abs_time = (int(time.time() * (1 << 18)) & 0xFFFFFF).to_bytes(3, "big")
        ext = lw.one_byte_ext([(lw.MID_EXT, mid), (lw.ABS_EXT, abs_time)])
        for i, payload in enumerate(packets):
            marker = 0x80 if i == len(packets) - 1 else 0
            header = struct.pack(
                "!BBHII", 0x90, marker | video_pt, stream.seq, stream.ts, stream.ssrc
            )
            stream.seq = (stream.seq + 1) & 0xFFFF
            try:
                await dtls._send_rtp(header + ext + payload)
            except ConnectionError:
                continue

    async def send_video() -> None:
        start = time.monotonic()
        n = 0
        while True:
            n += 1
            delay = start + n / 30 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await send_frame(camera, b"0", 3000)

    async def send_screen() -> None:
        start = time.monotonic()
        n = 0
        while True:
            n += 1
            delay = start + n / CONTENT_FPS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if state["sharing"]:
                await send_frame(screen, content_mid, 90000 // CONTENT_FPS)

    async def send_audio() -> None:
        start = time.monotonic()
        seq, ts, n = random.getrandbits(16), random.getrandbits(32), 0
        ssrc = audio_t.sender._ssrc
        ext = lw.one_byte_ext([(lw.MID_EXT, b"1"), (lw.LEVEL_EXT, b"\x1e")])
        while True:
            n += 1
            delay = start + n * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = clip["audio"][n % len(clip["audio"])]
            header = struct.pack("!BBHII", 0x90, audio_pt, seq, ts, ssrc)
            seq, ts = (seq + 1) & 0xFFFF, (ts + 960) & 0xFFFFFFFF
            try:
                await dtls._send_rtp(header + ext + payload)
            except ConnectionError:
                continue

    tasks = [asyncio.ensure_future(t()) for t in (send_video, send_screen, send_audio)]
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "share" and shares:
                screen.index = 0  # a new capture starts on a key frame
                state["sharing"] = True
                print(json.dumps({"sharing": True}), flush=True)
            elif line == "stop":
                state["sharing"] = False
                print(json.dumps({"sharing": False}), flush=True)
            else:
                break
    finally:
        for t in tasks:
            t.cancel()
        await pc.close()


def _slot_ssrc(answer: dict, slot: str) -> int | None:
    mid = answer["slots"].get(slot, {}).get("video_mid")
    for section in re.split(r"(?=^m=)", answer["sdp"], flags=re.M):
        if f"a=mid:{mid}\r" in section:
            found = re.search(r"^a=ssrc:(\d+) ", section, flags=re.M)
            return int(found.group(1)) if found else None
    return None


async def subscribe(port: int, prefix: str, count: int) -> None:
    pcs: list[RTCPeerConnection] = []
    counters: list[lw.Counter] = []
    firsts: list[list[float | None]] = []
    armed = {"on": False}
    content_ssrc: int | None = None
    for i in range(count):
        pc = RTCPeerConnection(lw.CONFIG)
        pc.addTransceiver("video", direction="inactive")
        pc.addTransceiver("audio", direction="inactive")
        for kind in ["video", "audio", "video", "audio"]:
            pc.addTransceiver(kind, direction="recvonly")
        pc.addTransceiver("video", direction="inactive")  # never presents
        pc.addTransceiver("video", direction="recvonly")  # the content slot
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp, "content": True}
        reply = await lw.rpc(port, {"cmd": "join", "pid": f"{prefix}{i}", "offer": offer})
        if "answer" not in reply:
            raise RuntimeError(reply)
        content_ssrc = _slot_ssrc(reply["answer"], "content")
        await pc.setRemoteDescription(RTCSessionDescription(reply["answer"]["sdp"], "answer"))
        counter = lw.Counter()
        first: list[float | None] = [None]
        dtls = pc.getTransceivers()[0].receiver.transport

        async def count_only(
            data: bytes,
            arrival_time_ms: int,
            counter: lw.Counter = counter,
            first: list[float | None] = first,
            ssrc: int | None = content_ssrc,
        ) -> None:
            counter.add(data)
            if (
                armed["on"]
                and first[0] is None
                and data[1] & 0x80
                and struct.unpack_from("!I", data, 8)[0] == ssrc
            ):
                first[0] = time.time()

        dtls._handle_rtp_data = count_only
        pcs.append(pc)
        counters.append(counter)
        firsts.append(first)
    print(json.dumps({"joined": count}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "ready":
                # receiving = main and chair video and audio have arrived
                full = sum(1 for c in counters if len(c.streams) >= 4)
                print(json.dumps({"receiving": full}), flush=True)
            elif line == "reset":
                for c in counters:
                    c.streams.clear()
                print(json.dumps({"reset": True}), flush=True)
            elif line == "arm":
                for f in firsts:
                    f[0] = None
                armed["on"] = True
                print(json.dumps({"armed": True}), flush=True)
            elif line == "firsts":
                print(json.dumps({"firsts": [f[0] for f in firsts]}), flush=True)
            elif line == "report":
                received = expected = octets = 0
                content = 0
                for c in counters:
                    r, e, o = c.report()
                    received += r
                    expected += e
                    octets += o
                    content += (c.streams.get(content_ssrc) or [0])[0]
                print(
                    json.dumps(
                        {
                            "received": received,
                            "expected": expected,
                            "octets": octets,
                            "content": content,
                        }
                    ),
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
        shares = len(sys.argv) > 6 and sys.argv[6] == "content"
        asyncio.run(publish(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], shares))
    elif role == "subscribers":
        asyncio.run(subscribe(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
