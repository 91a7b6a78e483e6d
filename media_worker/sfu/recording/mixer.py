"""The mixed audio track: the floor holder and the chair, as a listener heard them.

A browser's ``<video>`` plays one audio track, so the track it plays must carry both voices.
The two Opus streams are decoded (ffmpeg's Opus decoder), placed on the segment's timeline by
their timestamps, added, and encoded once (libopus, mono, speech). The original packets are
also kept, untouched, in their own tracks (``muxer``): the mix is a convenience for listening,
the originals are the record. Audio is ~1 % of the recorder's bytes and the mix costs about
one Opus encode and two decodes per 20 ms; video is never decoded.

Contract: ``add(track, packet, pts_ms)`` with the recorder's non-decreasing times per track;
``pull(horizon_ms)`` returns encoded mix packets ``(data, pts_ms, duration_ms)`` for the time
before ``horizon_ms`` (later packets may still be on their way); ``finish()`` returns the rest.
Memory is bounded: at most ``MAX_AHEAD_MS`` of samples are held per track.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

RATE = 48000
FRAME = 960  # 20 ms
MAX_AHEAD_MS = 3000
BITRATE = 48000


def _decoder() -> Any:
    ctx = av.CodecContext.create("opus", "r")
    ctx.sample_rate = RATE
    ctx.layout = "stereo"
    return ctx


class AudioMixer:
    def __init__(self, tracks: tuple[str, ...] = ("floor", "chair")) -> None:
        self.tracks = tracks
        self._decoders: dict[str, Any] = {t: _decoder() for t in tracks}
        self._resamplers: dict[str, Any] = {
            t: av.AudioResampler(format="s16", layout="mono", rate=RATE) for t in tracks
        }
        self._buffers: dict[str, np.ndarray] = {}
        self._encoder: Any = None
        self._pos = 0  # next sample of the mix to encode (segment timeline)
        self._next_pts = 0
        self.muted: set[str] = set()  # tracks left out of the mix (e.g. the same source twice)
        self.decode_errors = 0

    def start(self) -> bytes:
        """A new segment (timeline at 0): a fresh encoder; returns its OpusHead."""
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.bit_rate = BITRATE
        ctx.options = {"application": "voip"}
        ctx.open()
        self._encoder = ctx
        self._pos = 0
        self._next_pts = 0
        self._buffers = {t: np.zeros(0, dtype=np.int32) for t in self.tracks}
        return bytes(ctx.extradata or b"")

    def reset_track(self, track: str) -> None:
        """The track's source changed: decode it afresh."""
        self._decoders[track] = _decoder()
        self._resamplers[track] = av.AudioResampler(format="s16", layout="mono", rate=RATE)

    def add(self, track: str, packet: bytes, pts_ms: int) -> None:
        if self._encoder is None or track not in self._decoders:
            return
        try:
            frames = self._decoders[track].decode(av.Packet(packet))
            pcm = [
                r.to_ndarray().reshape(-1)
                for f in frames
                for r in self._resamplers[track].resample(f)
            ]
        except (av.FFmpegError, ValueError):
            self.decode_errors += 1
            return
        if not pcm:
            return
        samples = np.concatenate(pcm).astype(np.int32)
        start = pts_ms * (RATE // 1000) - self._pos
        if start < 0:
            samples = samples[-start:]
            start = 0
        end = start + len(samples)
        if end > MAX_AHEAD_MS * (RATE // 1000):
            return  # far ahead of the mix: a clock jump, not audio to keep
        buf = self._buffers[track]
        if len(buf) < end:
            buf = np.concatenate([buf, np.zeros(end - len(buf), dtype=np.int32)])
        buf[start:end] += samples
        self._buffers[track] = buf

    def pull(self, horizon_ms: int) -> list[tuple[bytes, int, int]]:
        out: list[tuple[bytes, int, int]] = []
        if self._encoder is None:
            return out
        horizon = horizon_ms * (RATE // 1000)
        while self._pos + FRAME <= horizon:
            out.extend(self._encode_frame())
        return out

    def finish(self) -> list[tuple[bytes, int, int]]:
        """Encode what is held and drain the encoder (end of segment)."""
        out: list[tuple[bytes, int, int]] = []
        if self._encoder is None:
            return out
        while any(len(b) > 0 for b in self._buffers.values()):
            out.extend(self._encode_frame())
        for packet in self._encoder.encode(None):
            out.append(self._stamp(bytes(packet)))
        self._encoder = None
        return out

    def _encode_frame(self) -> list[tuple[bytes, int, int]]:
        mix = np.zeros(FRAME, dtype=np.int32)
        for track, buf in self._buffers.items():
            part = buf[:FRAME]
            if track not in self.muted and len(part):
                mix[: len(part)] += part
            self._buffers[track] = buf[FRAME:]
        frame = av.AudioFrame.from_ndarray(
            np.clip(mix, -32768, 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        frame.pts = self._pos
        self._pos += FRAME
        return [self._stamp(bytes(p)) for p in self._encoder.encode(frame)]

    def _stamp(self, data: bytes) -> tuple[bytes, int, int]:
        pts = self._next_pts
        self._next_pts += FRAME * 1000 // RATE
        return data, pts, FRAME * 1000 // RATE
