"""One segment file: encoded packets in, a seekable WebM/Matroska file out (PyAV, no codec).

Streams are made from templates whose codec contexts are never opened, so writing a segment
starts no encoder or decoder: PyAV/libavformat only packs the packets we give it into
clusters and, on close, writes the cues (the seek index players use) and the final sizes.
VP8 goes in WebM; H.264 needs Matroska (WebM allows only VP8/VP9/AV1).

Contract: tracks are fixed when the segment is opened; ``write_*`` take millisecond
timestamps on the segment's own timeline (0 = its start) and must be non-decreasing per
track (the recorder guarantees it); ``close()`` finishes the file and is safe twice.
"""

from __future__ import annotations

import fractions
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

MS = fractions.Fraction(1, 1000)
# What a WebRTC Opus stream declares (opus/48000/2); pre-skip 0: the stream starts mid-way.
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, 48000, 0, 0)


@dataclass(frozen=True)
class AudioTrack:
    name: str  # "mix" | "floor" | "chair"
    title: str
    extradata: bytes = OPUS_HEAD
    default: bool = False


@dataclass
class SegmentStats:
    video_frames: int = 0
    keyframes_ms: list[int] = field(default_factory=list)  # where a player can start
    audio_packets: dict[str, int] = field(default_factory=dict)
    last_ms: int = 0


class _Templates:
    """Streams of a never-written container, used only as templates for real ones."""

    def __init__(self) -> None:
        self.container: Any = av.open(io.BytesIO(), "w", format="matroska")
        self.vp8 = self.container.add_stream("vp8")
        self.h264 = self.container.add_stream("h264") if "h264" in av.codecs_available else None
        self.opus = self.container.add_stream("libopus", rate=48000)


_templates: _Templates | None = None


def _template(kind: str) -> Any:
    global _templates
    if _templates is None:
        _templates = _Templates()
    stream = getattr(_templates, kind)
    if stream is None:
        raise ValueError(f"this PyAV has no {kind} support")
    return stream


class SegmentWriter:
    """Writes one segment file at ``path`` (``.webm`` for VP8 or audio only, else ``.mkv``)."""

    def __init__(
        self,
        path: Path,
        *,
        video_codec: str | None,
        width: int = 0,
        height: int = 0,
        avcc: bytes = b"",
        audio: list[AudioTrack],
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.video_codec = video_codec
        fmt = "matroska" if video_codec == "h264" else "webm"
        # Clusters of at most a second (libavformat holds the open cluster in memory): a
        # killed recorder loses only the last one, the rest is salvaged (``repair``). The
        # interleaver must not wait for a track that is silent (the chair may never speak):
        # packets come in time order already, so one second of slack is plenty.
        self.container: Any = av.open(
            str(path),
            "w",
            format=fmt,
            options={"cluster_time_limit": "1000", "max_interleave_delta": "1000000"},
        )
        for key, value in (metadata or {}).items():
            self.container.metadata[key] = value
        self.video: Any = None
        if video_codec is not None:
            stream = self.container.add_stream_from_template(_template(video_codec), opaque=False)
            ctx = stream.codec_context
            ctx.width = width or 1280
            ctx.height = height or 720
            if avcc:
                ctx.extradata = avcc
            stream.time_base = MS
            stream.metadata["title"] = "video"
            self.video = stream
        self.audio: dict[str, Any] = {}
        for track in audio:
            stream = self.container.add_stream_from_template(_template("opus"), opaque=False)
            ctx = stream.codec_context
            ctx.sample_rate = 48000
            ctx.extradata = track.extradata
            stream.time_base = MS
            stream.metadata["title"] = track.title
            stream.metadata["handler_name"] = track.name
            stream.disposition = av.stream.Disposition.default if track.default else 0
            self.audio[track.name] = stream
        self.stats = SegmentStats(audio_packets={t.name: 0 for t in audio})
        self._last: dict[str, int] = {}
        self.closed = False

    def _packet(self, stream: Any, key: str, data: bytes, pts: int, duration: int) -> Any:
        last = self._last.get(key, -1)
        if pts <= last:
            pts = last + 1  # strictly increasing per track: the muxer refuses anything else
        self._last[key] = pts
        packet = av.Packet(data)
        packet.stream = stream
        packet.time_base = MS
        packet.pts = packet.dts = pts
        packet.duration = duration
        if pts > self.stats.last_ms:
            self.stats.last_ms = pts + duration
        return packet

    def write_video(self, data: bytes, pts_ms: int, *, keyframe: bool, duration_ms: int = 0) -> int:
        packet = self._packet(self.video, "video", data, max(0, pts_ms), duration_ms)
        packet.is_keyframe = keyframe
        self.container.mux(packet)
        self.stats.video_frames += 1
        if keyframe:
            self.stats.keyframes_ms.append(int(packet.pts))
        return int(packet.pts)

    def write_audio(self, track: str, data: bytes, pts_ms: int, duration_ms: int = 20) -> None:
        stream = self.audio.get(track)
        if stream is None or pts_ms < 0:
            return
        self.container.mux(self._packet(stream, track, data, pts_ms, duration_ms))
        self.stats.audio_packets[track] += 1

    def close(self) -> SegmentStats:
        if not self.closed:
            self.closed = True
            self.container.close()
        return self.stats


def opus_duration_ms(packet: bytes) -> int:
    """Duration of an Opus packet from its TOC byte (RFC 6716 §3.1); 20 ms if unsure."""
    if not packet:
        return 20
    toc = packet[0]
    config = toc >> 3
    if config < 12:
        frame = (10, 20, 40, 60)[config & 3]
    elif config < 16:
        frame = (10, 20)[config & 1]
    else:
        frame = (2.5, 5, 10, 20)[config & 3]  # type: ignore[assignment]
    code = toc & 3
    count = (
        1 if code == 0 else 2 if code in (1, 2) else (packet[1] & 0x3F if len(packet) > 1 else 1)
    )
    return max(1, int(frame * count))
