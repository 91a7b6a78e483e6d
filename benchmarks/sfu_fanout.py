"""SFU fan-out benchmark: CPU per forwarded packet and loss, against aiortc's MediaRelay.

    .venv/bin/python benchmarks/sfu_fanout.py            # N = 10, 50, 100; relay N = 2, 5
    .venv/bin/python benchmarks/sfu_fanout.py --quick    # smoke: N = 5, 10; relay N = 1

Prints ONE JSON line:
    {"sfu": {"<N>": {"us_per_packet", "loss_pct", ...}}, "relay": {"<N>": {...}}, "ratio": ...}
``ratio`` = relay µs per packet at its largest N ÷ SFU µs per packet at its largest N.

One publisher loops a pre-encoded VP8 clip (1280x720, 30 fps, ~2.5 Mbit/s, made here with
PyAV) plus Opus, to N subscribers in separate processes that count packets and sequence
gaps without decoding. CPU is that of the server process only (psutil), over a fixed
window after every subscriber is receiving. All traffic is on 127.0.0.1; every child runs
in its own process group and is ended by its pid.
"""

from __future__ import annotations

import argparse
import fractions
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_sfu_worker.py"
PER_PROCESS = 25  # subscribers hosted by one subscriber process


def make_clip(directory: Path, seconds: int = 3) -> dict:
    """Encode a 720p30 VP8 clip at ~2.5 Mbit/s and 20 ms Opus frames; return stats."""
    w, h, fps = 1280, 720, 30
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.framerate = fps
    ctx.bit_rate = 2_500_000
    ctx.gop_size = seconds * fps  # one key frame per loop
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    video: list[bytes] = []
    bw, bh = 16, 8  # random 16x8 luma blocks: ~2.5 Mbit/s from libvpx at this size
    rnd = os.urandom
    for i in range(seconds * fps):
        frame = av.VideoFrame(w, h, "yuv420p")
        rows = []
        for _ in range(h // bh):
            row = bytes(b for b in rnd(w // bw) for _ in range(bw))
            rows.append(row * bh)
        frame.planes[0].update(b"".join(rows))
        frame.planes[1].update(bytes([128]) * (w * h // 4))
        frame.planes[2].update(bytes([128]) * (w * h // 4))
        frame.pts = i
        frame.time_base = ctx.time_base
        video += [bytes(p) for p in ctx.encode(frame)]
    video += [bytes(p) for p in ctx.encode(None)]
    actx = av.CodecContext.create("libopus", "w")
    actx.sample_rate = 48000
    actx.layout = "stereo"
    actx.format = "s16"
    actx.bit_rate = 64000
    audio: list[bytes] = []
    tone = b"".join(
        int(8000 * math.sin(2 * math.pi * 440 * i / 48000)).to_bytes(2, "little", signed=True) * 2
        for i in range(960)
    )
    for i in range(seconds * 50):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(tone)
        frame.sample_rate = 48000
        frame.pts = i * 960
        frame.time_base = fractions.Fraction(1, 48000)
        audio += [bytes(p) for p in actx.encode(frame)]
    (directory / "clip.pickle").write_bytes(pickle.dumps({"video": video, "audio": audio}))
    kbps = sum(len(v) for v in video) * 8 / seconds / 1000
    return {"video_kbps": round(kbps), "video_frames": len(video), "audio_packets": len(audio)}


class Child:
    """A worker subprocess in its own process group, talking JSON lines on stdin/stdout."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def read(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        import select

        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"worker {self.proc.args[2:]} exited")
                if line.startswith("{"):
                    return json.loads(line)
            elif self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker {self.proc.args[2:]} exited with {self.proc.returncode}"
                )
        raise TimeoutError(f"worker {self.proc.args[2:]} did not answer")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own group: started with setsid
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def rpc(port: int, message: dict) -> dict:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def start_subscribers(
    port: int,
    kind: str,
    n: int,
    prefix: str,
    children: list,
    *,
    wait: float,
    spawn=None,
    start_timeout: float = 180,
    settle: float = 1.0,
) -> tuple[list[Child], int]:
    """Start ``n`` subscribers (``PER_PROCESS`` per process, added to ``children``), wait a
    bounded time until every one receives (video starts on the clip's key frame), then reset
    their counters so the measured window starts clean. Returns them and how many received.
    ``spawn(first, count)`` starts one subscriber process of another benchmark's worker."""
    subs = []
    receiving = 0
    for start in range(0, n, PER_PROCESS):
        count = min(PER_PROCESS, n - start)
        if spawn is None:
            sub = Child("subscribers", str(port), kind, f"{prefix}{start}-", str(count))
        else:
            sub = spawn(start, count)
        children.append(sub)
        subs.append(sub)
    for sub in subs:
        sub.read(timeout=start_timeout)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        receiving = 0
        for sub in subs:
            sub.send("ready")
            receiving += sub.read()["receiving"]
        if receiving >= n:
            break
        time.sleep(0.5)
    time.sleep(settle)
    for sub in subs:
        sub.send("reset")
        sub.read()
    return subs, receiving


def run_case(kind: str, n: int, clip_dir: Path, window: float) -> dict:
    """One server, one publisher, ``n`` subscribers; measure over ``window`` seconds."""
    children: list[Child] = []
    try:
        server = Child("server", kind)
        children.append(server)
        port = server.read()["port"]
        server_proc = psutil.Process(server.proc.pid)
        publisher = Child("publisher", str(port), str(clip_dir), kind)
        children.append(publisher)
        publisher.read()
        rpc(port, {"cmd": "floor", "pid": "pub"})
        subs, receiving = start_subscribers(port, kind, n, "s", children, wait=30)
        before = rpc(port, {"cmd": "stats"})
        cpu0 = server_proc.cpu_times()
        time.sleep(window)
        cpu1 = server_proc.cpu_times()
        after = rpc(port, {"cmd": "stats"})
        received = expected = 0
        for sub in subs:
            sub.send("report")
            r = sub.read()
            received += r["received"]
            expected += r["expected"]
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        forwarded = after["forwarded"] - before["forwarded"]
        result = {
            "us_per_packet": round(cpu / max(1, forwarded) * 1e6, 2),
            "loss_pct": round(100 * (expected - received) / max(1, expected), 3),
            "forwarded_pps": round(forwarded / window),
            "server_cpu_pct": round(100 * cpu / window, 1),
            "receiving": receiving,
        }
        if kind == "sfu":
            result["retransmitted"] = after.get("retransmitted", 0) - before.get("retransmitted", 0)
            result["remb_bps"] = after.get("remb")
        return result
    finally:
        for child in reversed(children):
            if child is children[0]:
                try:
                    rpc(port, {"cmd": "quit"})
                except Exception:  # noqa: S110 - the server may be gone already
                    pass
            child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument("--window", type=float, help="measurement seconds per case")
    args = parser.parse_args()
    sfu_ns = [5, 10] if args.quick else [10, 50, 100]
    relay_ns = [1] if args.quick else [2, 5]
    window = args.window or (3.0 if args.quick else 10.0)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sfu-bench-") as tmp:
        clip_dir = Path(tmp)
        clip = make_clip(clip_dir)
        sfu = {str(n): run_case("sfu", n, clip_dir, window) for n in sfu_ns}
        relay = {str(n): run_case("relay", n, clip_dir, window) for n in relay_ns}
    top_sfu = sfu[str(sfu_ns[-1])]["us_per_packet"]
    top_relay = relay[str(relay_ns[-1])]["us_per_packet"]
    print(
        json.dumps(
            {
                "sfu": sfu,
                "relay": relay,
                "ratio": round(top_relay / max(top_sfu, 1e-9), 1),
                "clip": clip,
                "window_s": window,
                "elapsed_s": round(time.monotonic() - started, 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
