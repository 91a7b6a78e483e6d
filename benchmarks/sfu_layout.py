"""SFU layout benchmark: the realistic briefing, with simulcast and without (baseline).

    .venv/bin/python benchmarks/sfu_layout.py            # N = 50, 100
    .venv/bin/python benchmarks/sfu_layout.py --n 50 100 150 --window 10
    .venv/bin/python benchmarks/sfu_layout.py --quick    # smoke: N = 10

Prints ONE JSON line:
    {"layout": {"<N>": {"us_per_packet", "us_per_site_second", "mbps_per_site", "pps_per_site",
                        "ingress_mbps", "loss_pct", ...}},
     "baseline": {"<N>": {...same keys...}}, "shaped": {...}, "cores_for_210": ...}

Six publishing sites: one has the floor (``main``), one is the chair, four fill the
thumbnails. Each sends a pre-encoded VP8 clip made here with PyAV in three layers (1920x1080
~2.5 Mbit/s, 960x540 ~600 kbit/s, 480x270 ~150 kbit/s) with their rids, plus Opus; following
the room's ``publish_layers`` it sends only the layers anyone watches. N subscribing sites
each receive the full layout (main + chair video and audio, 4 thumbnails) and count packets
and bytes without decoding. ``baseline`` is the same layout in the same run with one encoding
per publisher (the 1080p layer, no rids): every slot carries Full HD, as before simulcast.

CPU is the server process's only (psutil) over a fixed window once every subscriber receives
every slot. ``us_per_site_second`` = server CPU µs per wall-clock second per subscribing site;
``cores_for_210`` = that figure at the largest N × 210 (an extrapolation by cost × rate, not a
run with 210 sites). ``ingress_210_mbps`` extrapolates ingress to 210 publishing sites: the
six watched sources as measured plus 204 more sites sending audio only (in the baseline:
every site sending its Full HD layer and audio). Loopback only; each child process runs in
its own process group and is ended by its pid.
"""

from __future__ import annotations

import argparse
import fractions
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sfu_fanout  # noqa: E402  (Child, rpc)

WORKER = HERE / "_layout_worker.py"
SOURCES = ["p0", "p1", "p2", "p3", "p4", "p5"]  # floor, chair, 4 thumbnails
LAYERS = {"h": (1920, 1080, 2_500_000), "m": (960, 540, 600_000), "l": (480, 270, 150_000)}
SITES = 210


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


def make_layers(directory: Path, seconds: int = 2) -> dict:
    """Encode the three layers of one 30 fps clip (one key frame per loop) and Opus."""
    fps = 30
    w, h = LAYERS["h"][:2]
    # one random 8x8-block texture scrolling 8 rows a frame: busy, but with motion an encoder
    # can use, so libvpx's rate control lands near each layer's target (pure noise overshoots)
    texture = b"".join(
        bytes(b for b in os.urandom(w // 8) for _ in range(8)) * 8 for _ in range(h // 8)
    )
    frames = []
    for i in range(seconds * fps):
        frame = av.VideoFrame(w, h, "yuv420p")
        shift = (i * 8 * w) % len(texture)
        frame.planes[0].update(texture[shift:] + texture[:shift])
        frame.planes[1].update(bytes([128]) * (w * h // 4))
        frame.planes[2].update(bytes([128]) * (w * h // 4))
        frames.append(frame)
    out: dict = {}
    stats = {}
    for rid, (lw, lh, rate) in LAYERS.items():
        ctx = av.CodecContext.create("libvpx", "w")
        ctx.width, ctx.height, ctx.pix_fmt = lw, lh, "yuv420p"
        ctx.time_base = fractions.Fraction(1, fps)
        ctx.framerate = fps
        ctx.bit_rate = rate
        ctx.gop_size = seconds * fps
        ctx.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "minrate": str(rate),
            "maxrate": str(rate),
            "bufsize": str(rate),
        }
        packets: list[bytes] = []
        for i, src in enumerate(frames):
            frame = src if (lw, lh) == (w, h) else src.reformat(width=lw, height=lh)
            frame.pts = i
            frame.time_base = ctx.time_base
            packets += [bytes(p) for p in ctx.encode(frame)]
        packets += [bytes(p) for p in ctx.encode(None)]
        out[rid] = packets
        stats[rid] = round(sum(len(p) for p in packets) * 8 / seconds / 1000)
    actx = av.CodecContext.create("libopus", "w")
    actx.sample_rate = 48000
    actx.layout = "stereo"
    actx.format = "s16"
    actx.bit_rate = 32000
    tone = b"".join(
        int(8000 * math.sin(2 * math.pi * 440 * i / 48000)).to_bytes(2, "little", signed=True) * 2
        for i in range(960)
    )
    audio: list[bytes] = []
    for i in range(seconds * 50):
        af = av.AudioFrame(format="s16", layout="stereo", samples=960)
        af.planes[0].update(tone)
        af.sample_rate = 48000
        af.pts = i * 960
        af.time_base = fractions.Fraction(1, 48000)
        audio += [bytes(p) for p in actx.encode(af)]
    out["audio"] = audio
    (directory / "layers.pickle").write_bytes(pickle.dumps(out))
    return {"kbps": stats, "frames": len(out["h"])}


def run_case(mode: str, n: int, clip_dir: Path, window: float) -> dict:
    children: list[Child] = []
    port = 0
    try:
        server = Child("server")
        children.append(server)
        port = server.read()["port"]
        server_proc = psutil.Process(server.proc.pid)
        for pid in SOURCES:
            pub = Child("publisher", str(port), str(clip_dir), pid, mode)
            children.append(pub)
            pub.read()
        sfu_fanout.rpc(port, {"cmd": "layout", "floor": "p0", "chair": "p1", "thumbs": SOURCES[2:]})
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
        before = sfu_fanout.rpc(port, {"cmd": "stats"})
        cpu0 = server_proc.cpu_times()
        time.sleep(window)
        cpu1 = server_proc.cpu_times()
        after = sfu_fanout.rpc(port, {"cmd": "stats"})
        received = expected = octets = 0
        for sub in subs:
            sub.send("report")
            r = sub.read()
            received += r["received"]
            expected += r["expected"]
            octets += r["octets"]
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        forwarded = after["forwarded"] - before["forwarded"]
        ingress = (after["octets_in"] - before["octets_in"]) * 8 / window / 1e6
        return {
            "us_per_packet": round(cpu / max(1, forwarded) * 1e6, 2),
            "us_per_site_second": round(cpu / window / n * 1e6, 1),
            "mbps_per_site": round(octets * 8 / window / n / 1e6, 3),
            "pps_per_site": round(received / window / n, 1),
            "ingress_mbps": round(ingress, 2),
            "loss_pct": round(100 * (expected - received) / max(1, expected), 3),
            "server_cpu_pct": round(100 * cpu / window, 1),
            "receiving": receiving,
            "slot_layers": after["slots"],
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
    parser.add_argument("--n", type=int, nargs="*", help="subscriber counts (default 50 100)")
    parser.add_argument("--window", type=float, help="measurement seconds per case")
    args = parser.parse_args()
    ns = args.n or ([10] if args.quick else [50, 100])
    window = args.window or (3.0 if args.quick else 10.0)
    started = time.monotonic()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sfu-layout-") as tmp:
        clip_dir = Path(tmp)
        clip = make_layers(clip_dir)
        layout: dict = {}
        baseline: dict = {}
        for n in ns:  # alternating, so both see the same machine
            layout[str(n)] = run_case("sim", n, clip_dir, window)
            baseline[str(n)] = run_case("single", n, clip_dir, window)
    top = str(ns[-1])
    audio_mbps = 32_000 * 1.3 / 1e6  # Opus 32 kbit/s plus RTP/extension overhead, per site
    sources = len(SOURCES)
    print(
        json.dumps(
            {
                "layout": layout,
                "baseline": baseline,
                "shaped": {
                    "freeze_pct": None,
                    "layers": [],
                    "note": "not run: layers are chosen per slot, not yet per subscriber",
                },
                "cores_for_210": round(layout[top]["us_per_site_second"] * SITES / 1e6, 2),
                "baseline_cores_for_210": round(
                    baseline[top]["us_per_site_second"] * SITES / 1e6, 2
                ),
                "ingress_210_mbps": round(
                    layout[top]["ingress_mbps"] + (SITES - sources) * audio_mbps, 1
                ),
                "baseline_ingress_210_mbps": round(
                    baseline[top]["ingress_mbps"] / sources * SITES, 1
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
