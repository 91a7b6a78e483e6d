"""SFU content benchmark (issue 14): the cost of carrying a shared screen to N subscribers
next to the camera slots, and the time from "start sharing" to the first content frame.

    .venv/bin/python benchmarks/sfu_content.py                 # N = 100, 8 s windows, 20 starts
    .venv/bin/python benchmarks/sfu_content.py --n 50 100 --starts 30
    .venv/bin/python benchmarks/sfu_content.py --quick         # smoke: N = 10, 3 s, 5 starts

Prints ONE JSON line:
    {"cases": {"<N>": {"camera_only": {...}, "with_content": {...}, "content_cost": {...},
                       "start_to_first_frame_ms": {...}}}, "clip": ..., "loadavg_before": ...}

Two publishing sites: the floor (``main``) sends the 1920x1080 camera layer of sfu_layout.py's
clip and shares a screen on its content line, the chair sends the 960x540 layer; both send
Opus. The screen is a clip encoded here: a 1920x1080 "slide" (fine dark blocks on white, like
text) with a moving pointer, VP8 at 15 fps, a key frame per 2 s loop. N subscribers (25 per
process) receive main and chair video and audio and the content slot, and count packets per
SSRC without decoding. Per case, in one run: a window with nobody presenting
(``camera_only``), then a window with the screen shared (``with_content``); ``content_cost``
is the difference — server CPU µs per forwarded content packet and per subscribing
site-second, measured as the difference of the two windows (noisy) and attributed (content
packets each site received × the with-content window's µs per packet: cost × rate). Then
``--starts`` times: stop sharing (publisher stops, ``room.set_content(None)``),
then "start sharing" — the publisher starts the capture on a key frame and
``room.set_content(pid)`` is called — and the time until a subscriber receives the last packet
of its first content frame (the SFU forwards from a key frame on; it asks for one with a PLI,
which the publisher answers as a browser's encoder does). ``first_subscriber`` is one fixed
subscriber, ``all`` the last of the N. The socket round trip of ``content.start`` and the
database write before ``room_sync`` are not in it. CPU is the server process's only (psutil).
Loopback only; every child runs in its own process group and is ended by its pid.
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sfu_fanout  # noqa: E402  (Child, rpc, start_subscribers)
import sfu_layout  # noqa: E402  (make_layers)

WORKER = HERE / "_content_worker.py"
SCREEN = (1920, 1080, 15, 1_000_000)  # width, height, fps, target bit/s


class Child(sfu_fanout.Child):
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )


def make_clips(directory: Path) -> dict:
    """The camera layers (sfu_layout.make_layers) and the shared screen, in content.pickle."""
    camera = sfu_layout.make_layers(directory)
    clips = pickle.loads((directory / "layers.pickle").read_bytes())  # noqa: S301 - ours
    w, h, fps, rate = SCREEN
    seconds = 2
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.framerate = fps
    ctx.bit_rate = rate
    ctx.gop_size = seconds * fps
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    # a slide: lines of small dark "glyph" blocks on white, fixed; a pointer that moves
    slide = bytearray([235]) * (w * h)
    rnd = os.urandom((w // 8) * (h // 24))
    for line in range(h // 24):
        y0 = line * 24 + 6
        for col in range(w // 8):
            if rnd[line * (w // 8) + col] < 150:
                for y in range(y0, y0 + 10):
                    slide[y * w + col * 8 : y * w + col * 8 + 6] = b"\x20" * 6
    packets: list[bytes] = []
    for i in range(seconds * fps):
        frame = av.VideoFrame(w, h, "yuv420p")
        y = bytearray(slide)
        px, py = (200 + i * 40) % (w - 32), (300 + i * 12) % (h - 32)
        for row in range(py, py + 32):
            y[row * w + px : row * w + px + 32] = b"\x10" * 32
        frame.planes[0].update(bytes(y))
        frame.planes[1].update(bytes([128]) * (w * h // 4))
        frame.planes[2].update(bytes([128]) * (w * h // 4))
        frame.pts = i
        frame.time_base = ctx.time_base
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    clips["screen"] = packets
    (directory / "content.pickle").write_bytes(pickle.dumps(clips))
    return {
        "camera_kbps": camera["kbps"],
        "screen_kbps": round(sum(len(p) for p in packets) * 8 / seconds / 1000),
        "screen_keyframe_bytes": len(packets[0]),
        "screen": f"{w}x{h}@{fps}",
    }


def measure(port: int, server: psutil.Process, subs: list, window: float, n: int) -> dict:
    for sub in subs:
        sub.send("reset")
        sub.read()
    before = sfu_fanout.rpc(port, {"cmd": "stats"})
    cpu0 = server.cpu_times()
    time.sleep(window)
    cpu1 = server.cpu_times()
    after = sfu_fanout.rpc(port, {"cmd": "stats"})
    received = expected = octets = content = 0
    for sub in subs:
        sub.send("report")
        r = sub.read()
        received += r["received"]
        expected += r["expected"]
        octets += r["octets"]
        content += r["content"]
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    forwarded = after["forwarded"] - before["forwarded"]
    return {
        "cpu_s": round(cpu, 3),
        "forwarded": forwarded,
        "us_per_packet": round(cpu / max(1, forwarded) * 1e6, 2),
        "us_per_site_second": round(cpu / window / n * 1e6, 1),
        "pps_per_site": round(received / window / n, 1),
        "mbps_per_site": round(octets * 8 / window / n / 1e6, 3),
        "content_pps_per_site": round(content / window / n, 1),
        "loss_pct": round(100 * (expected - received) / max(1, expected), 3),
        "server_cpu_pct": round(100 * cpu / window, 1),
        "content_outputs": after["content_outputs"],
    }


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def start_times(port: int, presenter, subs: list, starts: int) -> dict:
    """Stop, then start sharing ``starts`` times; ms to the first content frame."""
    first: list[float] = []
    last: list[float] = []
    missed = 0
    for _ in range(starts):
        presenter.send("stop")
        presenter.read()
        sfu_fanout.rpc(port, {"cmd": "content", "pid": None})
        time.sleep(0.6)  # what was in flight has arrived
        for sub in subs:
            sub.send("arm")
            sub.read()
        t0 = time.time()
        presenter.send("share")
        presenter.read()
        sfu_fanout.rpc(port, {"cmd": "content", "pid": "p0"})
        deadline = time.monotonic() + 5
        times: list[float | None] = []
        while time.monotonic() < deadline:
            times = []
            for sub in subs:
                sub.send("firsts")
                times += sub.read()["firsts"]
            if all(t is not None for t in times):
                break
            time.sleep(0.05)
        got = [t for t in times if t is not None]
        missed += len(times) - len(got)
        if times and times[0] is not None:
            first.append((times[0] - t0) * 1000)
        if got:
            last.append((max(got) - t0) * 1000)
    return {
        "starts": starts,
        "p50_first_subscriber": pct(first, 0.5),
        "p95_first_subscriber": pct(first, 0.95),
        "p50_all": pct(last, 0.5),
        "p95_all": pct(last, 0.95),
        "max_all": round(max(last), 1) if last else None,
        "mean_first_subscriber": round(statistics.fmean(first), 1) if first else None,
        "missed_within_5s": missed,
    }


def run_case(n: int, clip_dir: Path, window: float, starts: int) -> dict:
    children: list = []
    port = 0
    try:
        server = Child("server")
        children.append(server)
        port = server.read()["port"]
        server_proc = psutil.Process(server.proc.pid)
        presenter = Child("publisher", str(port), str(clip_dir), "p0", "h", "content")
        children.append(presenter)
        presenter.read()
        chair = Child("publisher", str(port), str(clip_dir), "p1", "m")
        children.append(chair)
        chair.read()
        sfu_fanout.rpc(port, {"cmd": "layout", "floor": "p0", "chair": "p1"})
        subs, receiving = sfu_fanout.start_subscribers(
            port,
            "",
            n,
            "s",
            children,
            wait=40,
            spawn=lambda first, count: Child("subscribers", str(port), f"s{first}-", str(count)),
            start_timeout=240,
            settle=1.5,
        )
        camera = measure(port, server_proc, subs, window, n)
        presenter.send("share")
        presenter.read()
        sfu_fanout.rpc(port, {"cmd": "content", "pid": "p0"})
        time.sleep(2.5)  # past the first key frame at every subscriber
        content = measure(port, server_proc, subs, window, n)
        extra_packets = content["forwarded"] - camera["forwarded"]
        extra_cpu = content["cpu_s"] - camera["cpu_s"]
        cost = {
            # the difference of the two windows (noisy: a few % of the server's CPU)
            "us_per_content_packet": round(extra_cpu / max(1, extra_packets) * 1e6, 2),
            "us_per_site_second": round(extra_cpu / window / n * 1e6, 1),
            "content_packets_per_s": round(extra_packets / window, 1),
            # cost × rate: content packets each site got × the window's µs per packet
            "attributed_us_per_site_second": round(
                content["content_pps_per_site"] * content["us_per_packet"], 1
            ),
        }
        latency = start_times(port, presenter, subs, starts)
        return {
            "receiving": receiving,
            "camera_only": camera,
            "with_content": content,
            "content_cost": cost,
            "start_to_first_frame_ms": latency,
        }
    finally:
        for child in reversed(children):
            if child is children[0] and port:
                try:
                    sfu_fanout.rpc(port, {"cmd": "quit"})
                except Exception:  # noqa: S110 - the server may be gone already
                    pass
            child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fast smoke run (N = 10)")
    parser.add_argument("--n", type=int, nargs="*", help="subscriber counts (default 100)")
    parser.add_argument("--window", type=float, help="measurement seconds per window")
    parser.add_argument("--starts", type=int, help="repeated starts of sharing (default 20)")
    args = parser.parse_args()
    ns = args.n or ([10] if args.quick else [100])
    window = args.window or (3.0 if args.quick else 8.0)
    starts = args.starts or (5 if args.quick else 20)
    started = time.monotonic()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sfu-content-") as tmp:
        clip_dir = Path(tmp)
        clip = make_clips(clip_dir)
        cases = {str(n): run_case(n, clip_dir, window, starts) for n in ns}
    top = cases[str(ns[-1])]
    print(
        json.dumps(
            {
                "cases": cases,
                # cost × rate, from the largest N run: the content's share of a core at 100
                # and 210 subscribing sites (an extrapolation when that N is smaller), from
                # the attributed cost (content packets × µs per packet)
                "content_cores_at_100": round(
                    top["content_cost"]["attributed_us_per_site_second"] * 100 / 1e6, 3
                ),
                "content_cores_at_210": round(
                    top["content_cost"]["attributed_us_per_site_second"] * 210 / 1e6, 3
                ),
                "clip": clip,
                "window_s": window,
                "loadavg_before": [round(x, 2) for x in load],
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "elapsed_s": round(time.monotonic() - started, 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
