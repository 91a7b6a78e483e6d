"""Real RTP for the recorder's tests: aiortc's own VP8/H.264/Opus encoders and packetisers.

A :class:`Source` is one participant's camera and microphone: flat-grey pictures at its own
``luma`` (so a decoded frame tells whose it was) and a tone. ``packets(t0, seconds)`` gives
``(arrival, track kind, RTP bytes)`` in time order, as the SFU would receive them.
"""

from __future__ import annotations

import fractions
import math
import random
import struct
from pathlib import Path

import av
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket

from media_worker.sfu.recording import Recorder, RecorderConfig

PT = {"vp8": 96, "h264": 102, "opus": 111}


class Source:
    def __init__(
        self,
        luma: int,
        *,
        codec: str = "vp8",
        width: int = 320,
        height: int = 240,
        fps: int = 15,
        tone_hz: int = 440,
    ) -> None:
        self.luma = luma
        self.codec = codec
        self.width, self.height, self.fps = width, height, fps
        self.video_encoder = Vp8Encoder() if codec == "vp8" else H264Encoder()
        self.audio_encoder = OpusEncoder()
        self.video_ssrc = random.getrandbits(32)
        self.audio_ssrc = random.getrandbits(32)
        self.video_seq = random.getrandbits(16)
        self.audio_seq = random.getrandbits(16)
        self.frame_no = 0
        self.samples = 0
        self.tone = b"".join(
            struct.pack("<h", int(6000 * math.sin(2 * math.pi * tone_hz * i / 48000))) * 2
            for i in range(960)
        )
        self.force_keyframe = True

    def video_frame(self) -> list[bytes]:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        y = bytearray([self.luma]) * (self.width * self.height)
        band = (self.frame_no * 4) % (self.height - 16)
        y[band * self.width : (band + 16) * self.width] = bytes(
            (self.luma + (i * 37 + self.frame_no * 11) % 40) & 0xFF for i in range(16 * self.width)
        )
        frame.planes[0].update(bytes(y))
        frame.planes[1].update(bytes([128]) * (self.width * self.height // 4))
        frame.planes[2].update(bytes([128]) * (self.width * self.height // 4))
        frame.pts = self.frame_no * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.frame_no += 1
        payloads, ts = self.video_encoder.encode(frame, force_keyframe=self.force_keyframe)
        self.force_keyframe = False
        out = []
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=PT[self.codec],
                marker=int(i == len(payloads) - 1),
                sequence_number=self.video_seq,
                timestamp=ts,
                ssrc=self.video_ssrc,
                payload=payload,
            )
            self.video_seq = (self.video_seq + 1) & 0xFFFF
            out.append(packet.serialize())
        return out

    def audio_frame(self) -> bytes:
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(self.tone)
        frame.sample_rate = 48000
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, 48000)
        self.samples += 960
        payloads, ts = self.audio_encoder.encode(frame)
        packet = RtpPacket(
            payload_type=PT["opus"],
            marker=0,
            sequence_number=self.audio_seq,
            timestamp=ts,
            ssrc=self.audio_ssrc,
            payload=payloads[0],
        )
        self.audio_seq = (self.audio_seq + 1) & 0xFFFF
        return packet.serialize()

    def packets(self, t0: float, seconds: float) -> list[tuple[float, str, bytes]]:
        """Video and audio packets from ``t0`` for ``seconds``, by arrival time."""
        out: list[tuple[float, str, bytes]] = []
        for i in range(int(seconds * self.fps)):
            t = t0 + i / self.fps
            out += [(t + 0.0005 * k, "video", p) for k, p in enumerate(self.video_frame())]
        for i in range(int(seconds * 50)):
            out.append((t0 + i * 0.02, "audio", self.audio_frame()))
        out.sort(key=lambda x: x[0])
        return out


def probe(path: Path) -> dict:
    """Open a recorded file with PyAV and decode everything in it."""
    with av.open(str(path)) as container:
        info: dict = {
            "duration": (container.duration or 0) / 1_000_000,
            "streams": [(s.type, s.codec_context.name) for s in container.streams],
            "titles": [s.metadata.get("title") for s in container.streams],
            "frames": 0,
            "lumas": [],
            "audio": {},
            "errors": 0,
        }
        video = container.streams.video[0] if container.streams.video else None
        for packet in container.demux():
            try:
                frames = packet.decode()
            except av.FFmpegError:
                info["errors"] += 1
                continue
            for frame in frames:
                if video is not None and packet.stream is video:
                    info["frames"] += 1
                    plane = frame.planes[0]
                    row = bytes(plane)[plane.line_size * (frame.height * 3 // 4) :][:64]
                    info["lumas"].append(sum(row) // len(row))
                    info["size"] = (frame.width, frame.height)
                else:
                    idx = packet.stream.index
                    info["audio"][idx] = info["audio"].get(idx, 0) + frame.samples
    return info


def record(
    directory, seconds: float, segment_seconds: float, t0: float = 1_780_000_000.0, first: int = 1
) -> list[dict]:
    """Real segments: a VP8 source through the recorder on a simulated clock."""
    events: list[dict] = []
    now = [t0]
    source = Source(90)
    recorder = Recorder(
        RecorderConfig(
            directory=directory,
            segment_seconds=segment_seconds,
            keyframe_seconds=1,
            first_index=first,
        ),
        on_segment=events.append,
        request_keyframe=lambda: setattr(source, "force_keyframe", True),
        clock=lambda: now[0],
    )
    recorder.switch("video", "a")
    recorder.switch("floor", "a")
    recorder.start()
    next_tick = t0 + 1
    audio_at = t0
    for i in range(int(seconds * source.fps)):
        t = t0 + i / source.fps
        batch = [(t + 0.0005 * k, "video", p) for k, p in enumerate(source.video_frame())]
        while audio_at < t + 1 / source.fps:
            batch.append((audio_at, "floor", source.audio_frame()))
            audio_at += 0.02
        for arrival, track, data in sorted(batch, key=lambda b: b[0]):
            now[0] = arrival
            while now[0] >= next_tick:
                recorder.tick()
                next_tick += 1
            recorder.push(track, data, arrival)
    recorder.close()
    return [e for e in events if e["state"] == "closed"]
