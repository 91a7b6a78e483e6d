"""Processes for benchmarks/sfu_loss.py: the SFU server, the publisher, the subscribers.

Run by the benchmark only, inside its private network namespace (loopback only):
    _loss_worker.py server on|off     prints {"port": P, ...}; JSON lines on 127.0.0.1:P;
                                      on/off = the room's upstream NACK generator
    _loss_worker.py publisher PORT CLIPDIR
        joins as "pub" (offering nack for Opus), loops the clip, honours key-frame requests
        by restarting the clip at its key frame; prints {"joined": true, "port": <its UDP port>}; stdin: "stats"/"quit"
    _loss_worker.py subscribers PORT PREFIX COUNT
        joins COUNT subscribers that reassemble VP8 frames (_loss_frames.Vp8Receiver), send
        NACKs for gaps and a PLI when their decoder model loses the chain, as a browser does;
        stdin: "ready" / "reset" / "mark" / "report" / "quit"
"""

from __future__ import annotations

import asyncio
import fractions
import inspect
import json
import pickle
import random
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import av
from _loss_frames import SeqCounter, Vp8Receiver, freeze_seconds, unwrap_rtx
from _sfu_worker import CONFIG, ClipTrack, rpc
from aiortc import RTCPeerConnection, RTCSessionDescription

from media_worker.sfu.signalling import offer_opus_nack

COUNTER_KEYS = (
    "packets_in",
    "packets_out",
    "lost_upstream",
    "recovered",
    "unrecovered",
    "nacks_sent",
    "nacked_packets",
    "nacks_received",
    "retransmitted_downstream",
    "keyframes_requested",
    "keyframes_received",
    "send_errors",
    "duplicates",
)
NACK_TRIES = 4  # a subscriber asks for a missing packet at most this often
NACK_INTERVAL = 0.03  # seconds between two asks for the same packet
NACK_PENDING_MAX = 256  # bounded per subscriber
PLI_INTERVAL = 0.5  # seconds between two key-frame requests of one subscriber
TICK = 0.02


def _read_json_line() -> str:
    return sys.stdin.readline().strip()


# --- server ------------------------------------------------------------------------------


def _flat_counters(value: Any) -> dict[str, int]:
    """Room-wide totals from ``room.counters()``, whatever nesting it uses."""
    if not isinstance(value, dict):
        return {}
    if "lost_upstream" not in value:
        for key in ("room", "totals", "total"):
            inner = value.get(key)
            if isinstance(inner, dict) and "lost_upstream" in inner:
                value = inner
                break
    return {k: int(v) for k, v in value.items() if k in COUNTER_KEYS and isinstance(v, int)}


class LossServer:
    def __init__(self, upstream_nack: bool) -> None:
        from media_worker.sfu import NetworkPolicy, Room

        kwargs: dict[str, Any] = {}
        self.switchable = "upstream_nack" in inspect.signature(Room).parameters
        if self.switchable:
            kwargs["upstream_nack"] = upstream_nack
        self.room = Room("loss", thumbnails=0, policy=NetworkPolicy.loopback(), **kwargs)

    async def handle(self, msg: dict) -> dict:
        cmd = msg["cmd"]
        if cmd == "join":
            return {"answer": await self.room.join(msg["pid"], msg["offer"])}
        if cmd == "floor":
            self.room.set_floor(msg["pid"])
            return {}
        if cmd == "stats":
            counters_fn = getattr(self.room, "counters", None)
            counters = _flat_counters(counters_fn()) if callable(counters_fn) else {}
            parts = self.room.stats().get("participants", {})
            pub = parts.get("pub", {})
            return {
                "forwarded": sum(int(p.get("forwarded", 0)) for p in parts.values()),
                "counters": counters,
                "pub_plis_out": int(pub.get("plis_out", 0)),
                "pub_rtp_in": int(pub.get("rtp_in", 0)),
                "retransmitted": sum(int(p.get("retransmitted", 0)) for p in parts.values()),
            }
        raise ValueError(cmd)


async def serve(mode: str) -> None:
    server = LossServer(mode == "on")
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
    print(json.dumps({"port": port, "switchable": server.switchable}), flush=True)
    try:
        await stop.wait()
    finally:
        tcp.close()
        await server.room.close()


# --- publisher ---------------------------------------------------------------------------


class KeyframeClipTrack(ClipTrack):
    """The fan-out clip, looped; a PLI/FIR restarts it at its key frame (frame 0).

    aiortc's sender only sets a flag on a key-frame request (its encoder reads it); with
    pre-encoded packets nobody reads it, so this track does. Restarting the clip keeps the
    bitstream valid for a real decoder.
    """

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__("video", packets, 90000, 3000)
        self.sender: Any = None
        self.offset = 0
        self.forced = 0

    async def recv(self) -> av.Packet:
        sender = self.sender
        if sender is not None and getattr(sender, "_RTCRtpSender__force_keyframe", False):
            sender._RTCRtpSender__force_keyframe = False
            self.offset = self.index
            self.forced += 1
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        pts = self.index * self.step
        delay = self.start + pts / self.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self.packets[(self.index - self.offset) % len(self.packets)])
        packet.pts = pts
        packet.time_base = fractions.Fraction(1, self.rate)
        self.index += 1
        return packet


async def publish(port: int, clip_dir: str) -> None:
    clip = pickle.loads(Path(clip_dir, "clip.pickle").read_bytes())  # noqa: S301 - our own file
    pc = RTCPeerConnection(CONFIG)
    video = KeyframeClipTrack(clip["video"])
    vt = pc.addTransceiver(video, direction="sendonly")
    video.sender = vt.sender
    pc.addTransceiver(ClipTrack("audio", clip["audio"], 48000, 960), direction="sendonly")
    for kind in ["video", "audio", "video", "audio"]:
        pc.addTransceiver(kind, direction="recvonly")
    asks = {"nacked": 0, "in_history": 0}
    original = vt.sender._retransmit
    history = vt.sender._RTCRtpSender__rtp_history

    async def retransmit(seq: int) -> None:
        asks["nacked"] += 1
        packet = history.get(seq % 128)
        if packet is not None and packet.sequence_number == seq:
            asks["in_history"] += 1
        await original(seq)

    vt.sender._retransmit = retransmit
    await pc.setLocalDescription(await pc.createOffer())
    # aiortc offers Opus without nack (its sender answers audio NACKs all the same): ask for
    # it as the pages do, so the SFU NACKs this publisher's lost audio too
    offer = {"type": "offer", "sdp": offer_opus_nack(pc.localDescription.sdp)}
    reply = await rpc(port, {"cmd": "join", "pid": "pub", "offer": offer})
    await pc.setRemoteDescription(RTCSessionDescription(reply["answer"]["sdp"], "answer"))
    ice = vt.sender.transport.transport
    for _ in range(400):  # bounded: 20 s
        if ice.state in ("connected", "completed"):
            break
        await asyncio.sleep(0.05)
    else:
        raise SystemExit("publisher ICE did not connect")
    ports = sorted({c.port for c in ice.iceGatherer.getLocalCandidates()})
    if len(ports) != 1:
        raise SystemExit(f"publisher has {len(ports)} local UDP ports, expected one")
    print(json.dumps({"joined": True, "port": ports[0]}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, _read_json_line)
            if line == "stats":
                print(
                    json.dumps(
                        {
                            "frames": video.index,
                            "keyframes_forced": video.forced,
                            "nacked": asks["nacked"],
                            "nacked_in_history": asks["in_history"],
                        }
                    ),
                    flush=True,
                )
            else:
                break
    finally:
        await pc.close()


# --- subscribers -------------------------------------------------------------------------


def _payload_types(sdp: str) -> tuple[set[int], set[int], dict[int, int]]:
    """VP8 and Opus payload types of an answer, and RTX payload type -> the one it repairs."""
    vp8: set[int] = set()
    opus: set[int] = set()
    rtx: set[int] = set()
    apt: dict[int, int] = {}
    for line in sdp.splitlines():
        if line.startswith("a=rtpmap:"):
            pt, _, name = line[len("a=rtpmap:") :].partition(" ")
            codec = name.split("/")[0].lower()
            if codec == "vp8":
                vp8.add(int(pt))
            elif codec == "opus":
                opus.add(int(pt))
            elif codec == "rtx":
                rtx.add(int(pt))
        elif line.startswith("a=fmtp:") and "apt=" in line:
            pt, _, params = line[len("a=fmtp:") :].partition(" ")
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key == "apt" and value.isdigit():
                    apt[int(pt)] = int(value)
    return vp8, opus, {pt: apt[pt] for pt in rtx if apt.get(pt) in vp8}


def build_pli(sender: int, media: int) -> bytes:
    return struct.pack("!BBHII", 0x81, 206, 2, sender, media)


def build_nack(sender: int, media: int, seqs: list[int]) -> bytes:
    """A generic NACK (RFC 4585) for 16-bit ``seqs``."""
    fci: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if fci and 0 < (seq - fci[-1][0]) & 0xFFFF <= 16:
            pid, blp = fci[-1]
            fci[-1] = (pid, blp | (1 << (((seq - pid) & 0xFFFF) - 1)))
        else:
            fci.append((seq, 0))
    body = b"".join(struct.pack("!HH", p, b) for p, b in fci)
    return struct.pack("!BBHII", 0x81, 205, 2 + len(fci), sender, media) + body


class Subscriber:
    def __init__(
        self, pc: RTCPeerConnection, vp8: set[int], opus: set[int], rtx: dict[int, int]
    ) -> None:
        self.pc = pc
        self.vp8 = vp8
        self.opus = opus
        self.rtx = rtx  # RTX payload type -> VP8 payload type it repairs
        self.rtx_received = 0
        self.video = Vp8Receiver()
        self.audio = SeqCounter()
        self.video_ssrc = 0
        self.rtcp_ssrc = random.getrandbits(32) or 1
        self.dtls: Any = None
        self.pending: dict[int, list[float]] = {}  # ext seq -> [tries, next ask time]
        self.last_pli = 0.0
        self.nacks_sent = 0
        self.plis_sent = 0
        self.other = 0
        self.window: dict[str, Any] = {}

    def on_rtp(self, data: bytes) -> None:
        if len(data) < 12:
            return
        pt = data[1] & 0x7F
        now = time.monotonic()
        if pt in self.rtx:  # a retransmission on RTX (RFC 4588): unwrap, then as VP8
            if not self.video_ssrc:
                return
            original = unwrap_rtx(data, self.rtx[pt], self.video_ssrc)
            if original is None:
                self.other += 1
                return
            self.rtx_received += 1
            data, pt = original, self.rtx[pt]
        if pt in self.vp8:
            self.video_ssrc = int.from_bytes(data[8:12], "big")
            before = self.video.seqs.highest
            ext = self.video.add(data, now)
            if ext is not None and before >= 0 and ext > before + 1:
                for missing in range(max(before + 1, ext - NACK_PENDING_MAX), ext):
                    if len(self.pending) < NACK_PENDING_MAX:
                        self.pending[missing] = [0, now]
        elif pt in self.opus:
            self.audio.add(int.from_bytes(data[2:4], "big"))
        else:
            self.other += 1

    def feedback(self, now: float) -> list[bytes]:
        """NACKs due now and a PLI if the decoder model needs a key frame."""
        self.video.poll(now)
        out: list[bytes] = []
        if not self.video_ssrc:
            return out
        ask: list[int] = []
        for ext, state in list(self.pending.items()):
            if self.video.seqs.has(ext) or state[0] >= NACK_TRIES:
                del self.pending[ext]
            elif state[1] <= now:
                state[0] += 1
                state[1] = now + NACK_INTERVAL
                ask.append(ext)
        if ask:
            base = self.video.seqs.base or 0
            out.append(
                build_nack(self.rtcp_ssrc, self.video_ssrc, [(base + e) & 0xFFFF for e in ask])
            )
            self.nacks_sent += 1
        video = self.video
        if video.shown and video.waiting_key and now - self.last_pli >= PLI_INTERVAL:
            # Only after the first frame was shown: the SFU itself asks on join.
            video.want_keyframe = False
            self.last_pli = now
            self.plis_sent += 1
            out.append(build_pli(self.rtcp_ssrc, self.video_ssrc))
        return out

    def reset(self, now: float) -> None:
        self.window = {
            "t0": now,
            "lo": self.video.highest_idx + 1,
            "vlo": self.video.seqs.highest + 1,
            "alo": self.audio.highest + 1,
            "nacks": self.nacks_sent,
            "plis": self.plis_sent,
            "breaks": self.video.chain_breaks,
            "rtx": self.rtx_received,
            "other": self.other,
        }

    def mark(self, now: float) -> None:
        self.window.update(
            t1=now,
            hi=self.video.highest_idx - 1,
            vhi=self.video.seqs.highest,
            ahi=self.audio.highest,
        )

    def report(self) -> dict[str, Any]:
        w = self.window
        s = self.video.summary(w["lo"], w["hi"])
        t0, t1 = w["t0"], w["t1"]
        return {
            "frames_sent": s.sent,
            "frames_complete": s.complete,
            "frames_shown": s.shown,
            "keyframes": s.keyframes,
            "video_expected": max(0, w["vhi"] - w["vlo"] + 1),
            "video_received": self.video.seqs.received(w["vlo"], w["vhi"]),
            "audio_expected": max(0, w["ahi"] - w["alo"] + 1),
            "audio_received": self.audio.received(w["alo"], w["ahi"]),
            "freeze_s": freeze_seconds(self.video.shown_between(t0, t1), t0, t1),
            "seconds": t1 - t0,
            "nacks_sent": self.nacks_sent - w["nacks"],
            "plis_sent": self.plis_sent - w["plis"],
            "chain_breaks": self.video.chain_breaks - w["breaks"],
            "rtx_received": self.rtx_received - w["rtx"],
            "other_packets": self.other - w["other"],
        }


async def subscribe(port: int, prefix: str, count: int) -> None:
    subs: list[Subscriber] = []
    for i in range(count):
        pc = RTCPeerConnection(CONFIG)
        pc.addTransceiver("video", direction="inactive")
        pc.addTransceiver("audio", direction="inactive")
        for kind in ["video", "audio", "video", "audio"]:
            pc.addTransceiver(kind, direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        reply = await rpc(port, {"cmd": "join", "pid": f"{prefix}{i}", "offer": offer})
        if "answer" not in reply:
            raise RuntimeError(reply)
        await pc.setRemoteDescription(RTCSessionDescription(reply["answer"]["sdp"], "answer"))
        sub = Subscriber(pc, *_payload_types(reply["answer"]["sdp"]))
        sub.dtls = pc.getTransceivers()[0].receiver.transport

        async def on_rtp(data: bytes, arrival_time_ms: int, sub: Subscriber = sub) -> None:
            sub.on_rtp(data)

        sub.dtls._handle_rtp_data = on_rtp  # no aiortc jitter buffer or decoder
        subs.append(sub)
    print(json.dumps({"joined": count}), flush=True)

    async def feedback_loop() -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for sub in subs:
                for packet in sub.feedback(now):
                    try:
                        await sub.dtls._send_rtp(packet)  # RTCP is recognised and protected
                    except ConnectionError:
                        pass

    task = asyncio.get_running_loop().create_task(feedback_loop())
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, _read_json_line)
            now = time.monotonic()
            if line == "ready":
                print(json.dumps({"receiving": sum(1 for s in subs if s.video.shown)}), flush=True)
            elif line == "reset":
                for s in subs:
                    s.reset(now)
                print(json.dumps({"reset": True}), flush=True)
            elif line == "mark":
                for s in subs:
                    s.mark(now)
                print(json.dumps({"mark": True}), flush=True)
            elif line == "report":
                print(json.dumps({"subscribers": [s.report() for s in subs]}), flush=True)
            else:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.gather(*(s.pc.close() for s in subs), return_exceptions=True)


def main() -> None:
    role = sys.argv[1]
    if role == "server":
        asyncio.run(serve(sys.argv[2]))
    elif role == "publisher":
        asyncio.run(publish(int(sys.argv[2]), sys.argv[3]))
    elif role == "subscribers":
        asyncio.run(subscribe(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
