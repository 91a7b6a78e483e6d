"""Recording benchmark: the SFU's recorder (no re-encoding) against decode + re-encode.

    .venv/bin/python benchmarks/recording.py                   # 10 min of 1080p content
    .venv/bin/python benchmarks/recording.py --quick           # smoke: 1 min, 5 s baseline

Prints ONE JSON line:
    {"recorder": {"cpu_pct", "rss_mb_start", "rss_mb_end", "mb_per_hour", ...},
     "recorder_no_mix": {...}, "mix_cpu_pct": ...,
     "baseline": {"cpu_pct", ...}, "ratio": baseline cpu ÷ recorder cpu, "seek_ms": ...}

Content: a 1920x1080 30 fps VP8 clip at ~2.5 Mbit/s (random 16x8 luma blocks, the fan-out
benchmark's recipe at 1080p; key frame every 3 s), packetised into RTP as a browser sends it,
looped, plus two Opus streams (floor and chair, 20 ms). Both contenders get the same packets:

- ``recorder``: ``media_worker.sfu.recording.Recorder`` as configured by default — depacketise,
  mux WebM segments (default 300 s), mix the two voices into the listening track (two Opus
  decodes per 20 ms + one encode per 60 ms). ``recorder_no_mix``: the same without the mix
  (``RECORDING_MIX=0``); ``mix_cpu_pct`` = the difference, what the mix costs.
  Its clock is simulated (content time), so minutes of content run in seconds; ``cpu_pct`` is
  CPU seconds spent in the recorder (``push``/``tick``, measured with the thread's CPU clock)
  per content second — the share of one core it needs in a live room. Memory: RSS after the
  first segment opened and at the end (bounded = the same after 10 min as after 1).
- ``baseline``: what a recorder that decodes does (Jibri/BigBlueButton-style): depacketise, decode
  each VP8 frame (PyAV/libvpx), re-encode it with libvpx at the same bitrate (deadline realtime,
  cpu-used 8, the fastest setting), mux to WebM; audio copied. ``cpu_pct`` as above over
  ``--baseline-seconds`` of content (process CPU, all codec threads).
- ``seek_ms``: the player's side of jumping to a chapter in a served 5-minute segment: open the
  file, seek (WebM cues) to a random time, decode the first picture there; median of 20.

Single process; nothing on the network. Run under the heavy lock (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import fractions
import io
import json
import math
import os
import random
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiortc.codecs.vpx import Vp8Encoder  # noqa: E402

from media_worker.sfu.recording import Recorder, RecorderConfig  # noqa: E402

W, H, FPS = 1920, 1080, 30
BITRATE = 2_500_000
LOOP_SECONDS = 3
T0 = 1_780_000_000.0


def make_clip() -> tuple[list[bytes], list[bytes]]:
    """Encoded VP8 frames (one loop, key frame first) and 20 ms Opus packets."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = W, H, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = FPS
    ctx.bit_rate = BITRATE
    ctx.gop_size = LOOP_SECONDS * FPS
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []
    bw, bh = 16, 8
    for i in range(LOOP_SECONDS * FPS):
        frame = av.VideoFrame(W, H, "yuv420p")
        rows = []
        for _ in range(H // bh):
            row = bytes(b for b in os.urandom(W // bw) for _ in range(bw))
            rows.append(row * bh)
        frame.planes[0].update(b"".join(rows))
        frame.planes[1].update(bytes([128]) * (W * H // 4))
        frame.planes[2].update(bytes([128]) * (W * H // 4))
        frame.pts = i
        frame.time_base = ctx.time_base
        frames += [bytes(p) for p in ctx.encode(frame)]
    frames += [bytes(p) for p in ctx.encode(None)]
    actx = av.CodecContext.create("libopus", "w")
    actx.sample_rate = 48000
    actx.layout = "stereo"
    actx.format = "s16"
    actx.bit_rate = 32000
    tone = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * 220 * i / 48000))) * 2
        for i in range(960)
    )
    audio: list[bytes] = []
    for i in range(LOOP_SECONDS * 50):
        af = av.AudioFrame(format="s16", layout="stereo", samples=960)
        af.planes[0].update(tone)
        af.sample_rate = 48000
        af.pts = i * 960
        audio += [bytes(p) for p in actx.encode(af)]
    return frames, audio


class RtpSource:
    """The clip as a browser's RTP: fresh sequence numbers and timestamps on every loop."""

    def __init__(self, frames: list[bytes], audio: list[bytes]) -> None:
        self.video = [Vp8Encoder._packetize(f, i) for i, f in enumerate(frames)]
        self.audio = audio
        self.vseq = 1000
        self.aseq = {111: 5000, 112: 9000}

    def _rtp(self, pt: int, marker: bool, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
        return (
            struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, ssrc)
            + payload
        )

    def packets(self, seconds: float):
        """(content time, track, rtp bytes), in time order."""
        n_video = int(seconds * FPS)
        n_audio = int(seconds * 50)
        vi = ai = 0
        while vi < n_video or ai < n_audio:
            tv = vi / FPS if vi < n_video else math.inf
            ta = ai * 0.02 if ai < n_audio else math.inf
            if tv <= ta:
                payloads = self.video[vi % len(self.video)]
                ts = (vi * 3000) & 0xFFFFFFFF
                for k, p in enumerate(payloads):
                    yield tv, "video", self._rtp(96, k == len(payloads) - 1, self.vseq, ts, 1, p)
                    self.vseq += 1
                vi += 1
            else:
                packet = self.audio[ai % len(self.audio)]
                ts = (ai * 960) & 0xFFFFFFFF
                for track, ssrc in (("floor", 111), ("chair", 112)):
                    seq = self.aseq[ssrc]
                    self.aseq[ssrc] = seq + 1
                    yield ta, track, self._rtp(111, False, seq, ts, ssrc, packet)
                ai += 1


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def run_recorder(
    clip, seconds: float, directory: Path, segment_seconds: float, *, mix: bool = True
) -> dict:
    source = RtpSource(*clip)
    now = [T0]
    events: list[dict] = []
    rss_start: list[float] = []

    def on_segment(event: dict) -> None:
        events.append(event)
        if event["state"] == "started" and not rss_start:
            rss_start.append(rss_mb())

    recorder = Recorder(
        RecorderConfig(directory=directory, segment_seconds=segment_seconds, mix=mix),
        on_segment=on_segment,
        request_keyframe=lambda: None,  # a looped clip: key frames come every 3 s anyway
        clock=lambda: now[0],
    )
    for track in ("video", "floor", "chair"):
        recorder.switch(track, "speaker" if track != "chair" else "chair")
    recorder.start()
    cpu = 0.0
    clock = time.thread_time
    next_tick = T0 + 1
    packets = 0
    wall = time.perf_counter()
    for t, track, data in source.packets(seconds):
        at = T0 + t
        now[0] = at
        c0 = clock()
        while at >= next_tick:
            recorder.tick()
            next_tick += 1
        recorder.push(track, data, at)
        cpu += clock() - c0
        packets += 1
    c0 = clock()
    recorder.close()
    cpu += clock() - c0
    wall = time.perf_counter() - wall
    closed = [e for e in events if e["state"] == "closed"]
    total = sum(e["bytes"] for e in closed)
    return {
        "cpu_pct": round(100 * cpu / seconds, 3),
        "cpu_s": round(cpu, 2),
        "content_s": seconds,
        "wall_s": round(wall, 1),
        "packets": packets,
        "us_per_packet": round(1e6 * cpu / packets, 2),
        "rss_mb_start": round(rss_start[0] if rss_start else 0.0, 1),
        "rss_mb_end": round(rss_mb(), 1),
        "segments": len(closed),
        "mb_per_hour": round(total / 1e6 * 3600 / seconds, 1),
        "stats": recorder.stats(),
        "_files": [directory / e["name"] for e in closed],
    }


def run_baseline(clip, seconds: float, directory: Path) -> dict:
    """Depacketise → decode → re-encode (libvpx realtime) → mux; audio copied."""
    from media_worker.sfu.recording.depacketize import FrameAssembler

    source = RtpSource(*clip)
    decoder = av.CodecContext.create("libvpx", "r")  # libvpx-vp8 decoder
    out = av.open(str(directory / "baseline.webm"), "w", format="webm")
    stream = out.add_stream("libvpx", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    stream.bit_rate = BITRATE
    stream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    assembler = FrameAssembler()
    proc = psutil.Process()
    t0 = proc.cpu_times()
    wall = time.perf_counter()
    encoded = 0
    n = 0
    for _t, track, data in source.packets(seconds):
        if track != "video":
            continue  # audio would be copied: negligible next to video
        for frame in assembler.push(
            int.from_bytes(data[2:4], "big"),
            int.from_bytes(data[4:8], "big"),
            bool(data[1] & 0x80),
            data[12:],
            "vp8",
            0.0,
        ):
            for picture in decoder.decode(av.Packet(frame.data)):
                picture.pts = n
                picture.time_base = fractions.Fraction(1, FPS)
                n += 1
                for packet in stream.encode(picture):
                    out.mux(packet)
                    encoded += 1
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    t1 = proc.cpu_times()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    return {
        "cpu_pct": round(100 * cpu / seconds, 1),
        "cpu_s": round(cpu, 2),
        "content_s": seconds,
        "wall_s": round(time.perf_counter() - wall, 1),
        "frames": n,
        "realtime": round(seconds / (time.perf_counter() - wall), 2),
    }


def seek_ms(path: Path, repeats: int = 20) -> float:
    data = path.read_bytes()
    rnd = random.Random(1)
    with av.open(io.BytesIO(data)) as c:
        duration = (c.duration or 0) / 1e6
    times = []
    for _ in range(repeats):
        target = rnd.uniform(0, max(1.0, duration - 5))
        t0 = time.perf_counter()
        with av.open(io.BytesIO(data)) as c:
            stream = c.streams.video[0]
            c.seek(int(target * 1e6), backward=True)
            next(c.decode(stream))
        times.append(1000 * (time.perf_counter() - t0))
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600.0, help="content recorded")
    parser.add_argument("--segment-seconds", type=float, default=300.0)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.segment_seconds, args.baseline_seconds = 60.0, 30.0, 5.0
    clip = make_clip()
    with tempfile.TemporaryDirectory(prefix="giaoban-recbench-") as tmp:
        rec_dir = Path(tmp, "rec")
        recorder = run_recorder(clip, args.seconds, rec_dir, args.segment_seconds)
        files = recorder.pop("_files")
        # The same content without the mixed listening track (RECORDING_MIX=0): what the mix
        # costs is the difference of the two, same packets, same run.
        no_mix = run_recorder(
            clip, args.seconds, Path(tmp, "rec-no-mix"), args.segment_seconds, mix=False
        )
        no_mix.pop("_files")
        no_mix.pop("stats")
        seek = seek_ms(files[0]) if files else None
        baseline = run_baseline(clip, args.baseline_seconds, Path(tmp))
    ratio = round(baseline["cpu_pct"] / recorder["cpu_pct"], 1) if recorder["cpu_pct"] else None
    print(
        json.dumps(
            {
                "recorder": recorder,
                "recorder_no_mix": no_mix,
                "mix_cpu_pct": round(recorder["cpu_pct"] - no_mix["cpu_pct"], 3),
                "baseline": baseline,
                "ratio": ratio,
                "seek_ms": seek,
                "content": {"width": W, "height": H, "fps": FPS, "bitrate": BITRATE},
                "load": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
