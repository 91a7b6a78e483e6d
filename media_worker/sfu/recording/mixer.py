"""The mixed audio track: the floor holder and the chair, as a listener heard them.

A browser's ``<video>`` plays one audio track, so the track it plays must carry both voices.
The two Opus streams are decoded (ffmpeg's Opus decoder, straight to mono float), placed on the
segment's timeline by their timestamps, added, and encoded once (libopus, mono, 48 kbit/s, 60 ms
frames, complexity 5). The original packets are also kept, untouched, in their own tracks
(``muxer``): the mix is a convenience for listening, the originals are the record. Audio is ~1 % of the recorder's
bytes; the mix is most of its CPU (two Opus decodes per 20 ms and one encode per 60 ms:
``benchmarks/recording.py`` measures it apart). A track left out of the mix
(the chair holding the floor: one voice, not two) is not decoded at all. Video is never decoded.
``RecorderConfig(mix=False)`` (``RECORDING_MIX=0``) records without it.

Contract: ``add(track, packet, pts_ms)`` with the recorder's non-decreasing times per track;
``pull(horizon_ms)`` returns encoded mix packets ``(data, pts_ms, duration_ms)`` for the time
before ``horizon_ms`` (later packets may still be on their way); ``finish()`` returns the rest.
Memory is bounded: one fixed buffer of ``MAX_AHEAD_MS`` per track, allocated once.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

RATE = 48000
FRAME_MS = 60  # one encoded mix packet (libopus frame_duration): a third of the encoder calls
FRAME = RATE * FRAME_MS // 1000
MAX_AHEAD_MS = 3000
BITRATE = 48000
# libopus in its music/general mode (CELT: 48 kbit/s mono is transparent for speech) at
# complexity 5: measured ~0.65 % of a core against ~1.1 % for "voip" at complexity 3 and ~2 %
# for its defaults (complexity 10), on the same speech-like input (the originals are kept anyway).
APPLICATION = "audio"
COMPLEXITY = 5
CAPACITY = 2 * MAX_AHEAD_MS * (RATE // 1000)


def _decoder() -> Any:
    ctx = av.CodecContext.create("opus", "r")
    ctx.sample_rate = RATE
    ctx.layout = "mono"  # the decoder folds a stereo packet to mono itself: no resampler
    return ctx


class AudioMixer:
    def __init__(self, tracks: tuple[str, ...] = ("floor", "chair")) -> None:
        self.tracks = tracks
        self._row = {t: i for i, t in enumerate(tracks)}
        self._decoders: dict[str, Any] = {t: _decoder() for t in tracks}
        # Samples from the mix position on: column ``_read`` is sample ``_pos`` of the segment;
        # ``_high`` = one past the last column written. Compacted when the read point passes
        # half the buffer, so nothing is allocated per packet.
        self._buf = np.zeros((len(tracks), CAPACITY), dtype=np.float32)
        self._read = 0
        self._high = 0
        self._encoder: Any = None
        self._pos = 0  # next sample of the mix to encode (segment timeline)
        self._next_pts = 0
        self._muted: set[str] = set()  # tracks left out of the mix (e.g. the same source twice)
        self.decode_errors = 0

    @property
    def muted(self) -> set[str]:
        return set(self._muted)

    @muted.setter
    def muted(self, tracks: set[str]) -> None:
        for track in set(self._muted) - set(tracks):
            self.reset_track(track)  # not decoded while muted: start afresh
        self._muted = set(tracks)

    def start(self) -> bytes:
        """A new segment (timeline at 0): a fresh encoder; returns its OpusHead."""
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = RATE
        ctx.layout = "mono"
        ctx.format = "flt"
        ctx.bit_rate = BITRATE
        ctx.options = {
            "application": APPLICATION,
            "frame_duration": str(FRAME_MS),
            "compression_level": str(COMPLEXITY),
        }
        ctx.open()
        self._encoder = ctx
        self._pos = 0
        self._next_pts = 0
        self._buf[:] = 0
        self._read = self._high = 0
        return bytes(ctx.extradata or b"")

    def reset_track(self, track: str) -> None:
        """The track's source changed: decode it afresh."""
        if track in self._decoders:
            self._decoders[track] = _decoder()

    def add(self, track: str, packet: bytes, pts_ms: int) -> None:
        if self._encoder is None or track not in self._decoders or track in self._muted:
            return
        try:
            frames = self._decoders[track].decode(av.Packet(packet))
            pcm = [np.frombuffer(f.planes[0], dtype=np.float32, count=f.samples) for f in frames]
        except (av.FFmpegError, ValueError):
            self.decode_errors += 1
            return
        if not pcm:
            return
        samples = pcm[0] if len(pcm) == 1 else np.concatenate(pcm)
        start = pts_ms * (RATE // 1000) - self._pos
        if start < 0:
            samples = samples[-start:]
            start = 0
        end = start + len(samples)
        if end > MAX_AHEAD_MS * (RATE // 1000):
            return  # far ahead of the mix: a clock jump, not audio to keep
        if self._read + end > CAPACITY:
            self._compact()
        row = self._buf[self._row[track]]
        row[self._read + start : self._read + end] += samples
        self._high = max(self._high, self._read + end)

    def _compact(self) -> None:
        r, h = self._read, self._high
        self._buf[:, : h - r] = self._buf[:, r:h]
        self._buf[:, h - r :] = 0
        self._read, self._high = 0, h - r

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
        while self._high > self._read:
            out.extend(self._encode_frame())
        for packet in self._encoder.encode(None):
            out.append(self._stamp(bytes(packet)))
        self._encoder = None
        return out

    def _encode_frame(self) -> list[tuple[bytes, int, int]]:
        if self._read + FRAME > CAPACITY:
            self._compact()
        r = self._read
        window = self._buf[:, r : r + FRAME]
        rows = [self._row[t] for t in self.tracks if t not in self._muted]
        mix = window[rows].sum(axis=0) if rows else np.zeros(FRAME, dtype=np.float32)
        np.clip(mix, -1.0, 1.0, out=mix)
        window[:] = 0
        self._read = r + FRAME
        self._high = max(self._high, self._read)
        if self._read * 2 > CAPACITY:
            self._compact()
        frame = av.AudioFrame.from_ndarray(mix.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pos
        self._pos += FRAME
        return [self._stamp(bytes(p)) for p in self._encoder.encode(frame)]

    def _stamp(self, data: bytes) -> tuple[bytes, int, int]:
        pts = self._next_pts
        self._next_pts += FRAME_MS
        return data, pts, FRAME_MS
