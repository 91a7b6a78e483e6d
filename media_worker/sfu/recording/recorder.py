"""The recorder of one conference: RTP packets in, a list of seekable segment files out.

Inputs are plain RTP packets (bytes + wall-clock arrival time) of three tracks — ``video``
(what the main slot shows), ``floor`` (the main slot's audio) and ``chair`` (the chair's
audio) — and ``switch(track, source)`` when a track's source changes (floor given, broadcast,
chair replaced). Nothing is decoded but the two audio streams for the mixed track (``mixer``).

- **Timeline.** Each track maps its RTP timestamps to wall-clock time, anchored at the first
  packet of each source (and again if they drift apart by over a second): a new source
  continues the same timeline, so timestamps in a file are continuous across switches and
  audio and video stay together.
- **Video** starts on a key frame: after a switch, after a loss (an incomplete frame is
  dropped, then every frame until the next key frame, and a key frame is requested), and at
  every segment start. The recorder also asks for a key frame every ``keyframe_seconds`` so a
  player can seek anywhere without decoding minutes of video.
- **Segments** of about ``segment_seconds``: when one is due, a key frame is requested and the
  new segment starts on it. Each file is written as ``<name>.part`` and renamed when finished,
  so a crash leaves every earlier segment whole and loses at most the current one.
  ``on_segment`` reports ``started`` and ``closed`` (with the file's facts) for each.
- **Pause/resume** close the current segment and open a new one on resume.

Memory is bounded whatever the input: the frame assembler, the audio reorder buffers, the
waiting buffer and the mixer all have fixed limits, and a segment holds no frames in memory.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import rtp
from .depacketize import Frame, FrameAssembler, avcc_record
from .mixer import AudioMixer
from .muxer import AudioTrack, SegmentWriter, opus_duration_ms

logger = logging.getLogger(__name__)

AUDIO_TRACKS = ("floor", "chair")
REANCHOR = 1.0  # seconds between a track's RTP time and arrival time that mean a new anchor
AUDIO_REORDER = 0.08  # seconds an audio packet waits for an earlier one
AUDIO_HOLD = 16  # audio packets held at most per track while reordering
MIX_LATENCY_MS = 200  # the mix trails the newest audio by this much (late packets fit in)
WAIT_BUFFER = 500  # audio packets kept while a segment waits for its first key frame
VIDEO_WAIT = 2.0  # seconds to wait for a key frame before starting a segment without video
KEYFRAME_RETRY = 1.0

EventCallback = Callable[[dict[str, Any]], None]

DEFAULT_PAYLOAD_TYPES = {96: "vp8", 102: "h264", 111: "opus"}


@dataclass
class RecorderConfig:
    directory: Path
    prefix: str = "segment-"
    first_index: int = 1
    segment_seconds: float = 300.0
    keyframe_seconds: float = 10.0
    payload_types: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_PAYLOAD_TYPES))
    mix: bool = True
    metadata: dict[str, str] = field(default_factory=dict)


class TrackClock:
    """RTP timestamps of one track → wall-clock seconds, continuous across sources."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.anchor_wall: float | None = None
        self.anchor_ts = 0
        self.reanchors = 0

    def reset(self) -> None:
        self.anchor_wall = None

    def wall(self, ts: int, arrival: float) -> float:
        if self.anchor_wall is None:
            self.anchor_wall, self.anchor_ts = arrival, ts
            return arrival
        diff = ((ts - self.anchor_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        t = self.anchor_wall + diff / self.rate
        if abs(t - arrival) > REANCHOR:
            self.reanchors += 1
            self.anchor_wall, self.anchor_ts = arrival, ts
            return arrival
        if diff > 60 * self.rate:  # keep the signed difference far from wrapping
            self.anchor_wall, self.anchor_ts = t, ts
        return t


class _AudioInput:
    def __init__(self) -> None:
        self.clock = TrackClock(48000)
        self.source: str | None = None
        self.heap: list[tuple[int, int, float, bytes]] = []  # (ext seq, ts, arrival, payload)
        self.max_seq = -1
        self.next_seq = -1
        self.late = 0

    def reset(self) -> None:
        self.clock.reset()
        self.heap.clear()
        self.max_seq = -1
        self.next_seq = -1

    def push(
        self, seq: int, ts: int, payload: bytes, arrival: float
    ) -> list[tuple[int, float, bytes]]:
        if self.max_seq < 0:
            ext = seq
        else:
            delta = (seq - self.max_seq) & 0xFFFF
            ext = self.max_seq + delta if delta < 0x8000 else self.max_seq + delta - 0x10000
        self.max_seq = max(self.max_seq, ext)
        if ext < self.next_seq or any(e == ext for e, *_ in self.heap):
            self.late += 1
            return []
        heapq.heappush(self.heap, (ext, ts, arrival, payload))
        out = []
        while self.heap:
            ext0, ts0, arr0, data0 = self.heap[0]
            if not (
                ext0 == self.next_seq
                or self.next_seq < 0
                or arrival - arr0 > AUDIO_REORDER
                or len(self.heap) > AUDIO_HOLD
            ):
                break
            heapq.heappop(self.heap)
            self.next_seq = ext0 + 1
            out.append((ts0, arr0, data0))
        return out


class _Segment:
    def __init__(self, index: int, path: Path, start: float, writer: SegmentWriter) -> None:
        self.index = index
        self.path = path
        self.start = start
        self.writer = writer
        self.frames_lost_at_start = 0

    def ms(self, wall: float) -> int:
        return round((wall - self.start) * 1000)


class Recorder:
    """See the module docstring. All methods run on one thread/loop; none blocks for long
    (a segment roll writes the old file's cues, a few milliseconds)."""

    def __init__(
        self,
        config: RecorderConfig,
        *,
        on_segment: EventCallback | None = None,
        request_keyframe: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.on_segment = on_segment
        self._request_keyframe = request_keyframe
        self.clock = clock
        self.assembler = FrameAssembler(on_loss=self.keyframe_wanted)
        self.video_clock = TrackClock(90000)
        self.video_source: str | None = None
        self.audio = {t: _AudioInput() for t in AUDIO_TRACKS}
        self.mixer = AudioMixer(AUDIO_TRACKS) if config.mix else None
        self.active = False
        self.closed = False
        self.segment: _Segment | None = None
        self.next_index = config.first_index
        self._waiting_since: float | None = None
        self._waiting_audio: list[tuple[str, float, bytes]] = []
        self._roll_due = False
        self._last_keyframe_request = 0.0
        self._last_keyframe_written = 0.0
        self._latest_audio_ms = 0
        self.segments_written = 0
        self.errors = 0
        config.directory.mkdir(parents=True, exist_ok=True)

    # --- control ------------------------------------------------------------------------

    def start(self) -> None:
        """Record from now on (also: resume after a pause)."""
        if self.closed or self.active:
            return
        self.active = True
        self._waiting_since = self.clock()
        self._waiting_audio.clear()
        self.keyframe_wanted(force=True)

    def pause(self, reason: str = "paused") -> None:
        """Stop recording; the current segment is finished now."""
        if not self.active:
            return
        self.active = False
        self._waiting_since = None
        self._waiting_audio.clear()
        self._close_segment(reason)

    def close(self, reason: str = "stopped") -> None:
        """Finish the current segment and stop for good. Safe twice."""
        if self.closed:
            return
        self.pause(reason)
        self.closed = True

    def switch(self, track: str, source: str | None) -> None:
        """``track``'s packets now come from ``source`` (a participant id, None = nobody)."""
        if track == "video":
            if source == self.video_source:
                return
            self.video_source = source
            self.assembler.reset()
            self.video_clock.reset()
            if source is not None:
                self.keyframe_wanted(force=True)
            return
        audio = self.audio.get(track)
        if audio is None or audio.source == source:
            return
        audio.source = source
        audio.reset()
        if self.mixer is not None:
            self.mixer.reset_track(track)
            same = self.audio["floor"].source is not None and (
                self.audio["floor"].source == self.audio["chair"].source
            )
            # The chair holding the floor is one voice, not two: mix it once.
            self.mixer.muted = {"floor"} if same else set()

    def keyframe_wanted(self, force: bool = False) -> None:
        """Ask the video source for a key frame (at most one request a second)."""
        now = self.clock()
        if self._request_keyframe is None or self.video_source is None:
            return
        if not force and now - self._last_keyframe_request < KEYFRAME_RETRY:
            return
        self._last_keyframe_request = now
        try:
            self._request_keyframe()
        except Exception:
            logger.exception("key frame request failed")

    def tick(self) -> None:
        """Periodic work (call about once a second): segment rolls, key-frame requests, the
        start of an audio-only segment when no key frame comes."""
        if not self.active:
            return
        now = self.clock()
        seg = self.segment
        if seg is None:
            if self._waiting_since is not None:
                if self.video_source is not None:
                    self.keyframe_wanted()
                if now - self._waiting_since > VIDEO_WAIT and self._waiting_audio:
                    self._open_audio_only()
            return
        if self.video_source is not None and (
            seg.writer.video is None or self.assembler.need_keyframe
        ):
            # A segment without video waits to roll onto one; after a switch or a loss the
            # first request may have been lost or ignored: keep asking (at most 1/s).
            self.keyframe_wanted()
        if now - seg.start >= self.config.segment_seconds:
            self._roll_due = True
            if seg.writer.video is None or self.video_source is None:
                self._close_segment("duration")
                self._waiting_since = now
                return
            self.keyframe_wanted()
        elif (
            self.config.keyframe_seconds
            and now - self._last_keyframe_written >= self.config.keyframe_seconds
        ):
            self.keyframe_wanted()

    # --- input --------------------------------------------------------------------------

    def push(self, track: str, data: bytes, arrival: float) -> None:
        """One RTP packet of ``track`` that arrived at ``arrival`` (wall-clock seconds)."""
        if self.closed:
            return
        header = rtp.parse_rtp_header(data)
        if header is None:
            return
        codec = self.config.payload_types.get(header.marker_pt & 0x7F)
        payload = data[header.payload_start : header.payload_end]
        try:
            if track == "video":
                if codec in ("vp8", "h264"):
                    marker = bool(header.marker_pt & 0x80)
                    for frame in self.assembler.push(
                        header.seq, header.timestamp, marker, payload, codec, arrival
                    ):
                        self._video_frame(frame)
            elif track in self.audio and codec == "opus":
                audio = self.audio[track]
                for ts, arr, packet in audio.push(header.seq, header.timestamp, payload, arrival):
                    self._audio_packet(track, audio.clock.wall(ts, arr), packet)
        except Exception:
            self.errors += 1
            logger.exception("recorder: %s packet failed; starting a new segment", track)
            self._close_segment("error")
            if self.active:
                self._waiting_since = self.clock()

    # --- internals ----------------------------------------------------------------------

    def _video_frame(self, frame: Frame) -> None:
        if not self.active:
            return
        wall = self.video_clock.wall(frame.timestamp, frame.arrival)
        seg = self.segment
        if frame.keyframe:
            if seg is None or seg.writer.video_codec != frame.codec or self._roll_due:
                self._roll(frame, wall)
                return
        if seg is None or seg.writer.video is None:
            return
        self._write_video(seg, frame, wall)

    def _write_video(self, seg: _Segment, frame: Frame, wall: float) -> None:
        seg.writer.write_video(frame.data, seg.ms(wall), keyframe=frame.keyframe)
        if frame.keyframe:
            self._last_keyframe_written = self.clock()

    def _audio_packet(self, track: str, wall: float, packet: bytes) -> None:
        if not self.active:
            return
        seg = self.segment
        if seg is None:
            if self._waiting_since is None:
                return
            self._waiting_audio.append((track, wall, packet))
            if len(self._waiting_audio) > WAIT_BUFFER:
                del self._waiting_audio[: len(self._waiting_audio) - WAIT_BUFFER]
            if self.video_source is None and self.clock() - self._waiting_since > 0.5:
                self._open_audio_only()
            return
        self._write_audio(seg, track, wall, packet)

    def _write_audio(self, seg: _Segment, track: str, wall: float, packet: bytes) -> None:
        pts = seg.ms(wall)
        if pts < 0:
            return
        seg.writer.write_audio(track, packet, pts, opus_duration_ms(packet))
        if self.mixer is not None:
            self.mixer.add(track, packet, pts)
            self._latest_audio_ms = max(self._latest_audio_ms, pts)
            for data, mpts, dur in self.mixer.pull(self._latest_audio_ms - MIX_LATENCY_MS):
                seg.writer.write_audio("mix", data, mpts, dur)

    def _roll(self, frame: Frame, wall: float) -> None:
        """Start a new segment on this key frame (closing the current one)."""
        self._close_segment("duration" if self.segment is not None else "start")
        start = wall
        waiting = [w for w in self._waiting_audio if w[1] >= wall - VIDEO_WAIT]
        if waiting:
            start = min(start, min(w[1] for w in waiting))
        avcc = avcc_record(frame.sps, frame.pps) if frame.codec == "h264" else b""
        seg = self._open(start, frame.codec, frame.width, frame.height, avcc)
        if seg is None:
            return
        for track, w, packet in waiting:
            self._write_audio(seg, track, w, packet)
        self._waiting_audio.clear()
        self._write_video(seg, frame, wall)

    def _open_audio_only(self) -> None:
        waiting = self._waiting_audio
        start = min((w[1] for w in waiting), default=self.clock())
        seg = self._open(start, None, 0, 0, b"")
        if seg is None:
            return
        for track, w, packet in waiting:
            self._write_audio(seg, track, w, packet)
        self._waiting_audio = []

    def _open(
        self, start: float, codec: str | None, width: int, height: int, avcc: bytes
    ) -> _Segment | None:
        index = self.next_index
        self.next_index += 1
        ext = "mkv" if codec == "h264" else "webm"
        final = self.config.directory / f"{self.config.prefix}{index:04d}.{ext}"
        part = final.with_name(final.name + ".part")
        tracks = []
        if self.mixer is not None:
            tracks.append(AudioTrack("mix", "hội nghị (trộn)", self.mixer.start(), default=True))
        tracks += [
            AudioTrack("floor", "phát biểu", default=self.mixer is None),
            AudioTrack("chair", "chủ trì"),
        ]
        try:
            writer = SegmentWriter(
                part,
                video_codec=codec,
                width=width,
                height=height,
                avcc=avcc,
                audio=tracks,
                metadata={**self.config.metadata, "segment": str(index)},
            )
        except Exception:
            self.errors += 1
            logger.exception("recorder: cannot open %s", part)
            return None
        self.segment = _Segment(index, final, start, writer)
        self._roll_due = False
        self._waiting_since = None
        self._latest_audio_ms = 0
        self._emit(
            {
                "type": "recording_segment",
                "state": "started",
                "index": index,
                "name": final.name,
                "started_at": start,
                "video_codec": codec,
            }
        )
        return self.segment

    def _close_segment(self, reason: str) -> None:
        seg = self.segment
        if seg is None:
            return
        self.segment = None
        writer = seg.writer
        ok = True
        try:
            if self.mixer is not None:
                for data, pts, dur in self.mixer.finish():
                    writer.write_audio("mix", data, pts, dur)
        except Exception:
            logger.exception("recorder: finishing the mix of %s failed", seg.path.name)
        try:
            stats = writer.close()
            os.replace(seg.path.with_name(seg.path.name + ".part"), seg.path)
        except Exception:
            ok = False
            self.errors += 1
            stats = writer.stats
            logger.exception("recorder: closing %s failed", seg.path.name)
        self.segments_written += ok
        size = seg.path.stat().st_size if ok and seg.path.exists() else 0
        self._emit(
            {
                "type": "recording_segment",
                "state": "closed" if ok else "failed",
                "index": seg.index,
                "name": seg.path.name,
                "started_at": seg.start,
                "ended_at": seg.start + stats.last_ms / 1000,
                "duration_ms": stats.last_ms,
                "bytes": size,
                "video_codec": writer.video_codec,
                "width": writer.video.codec_context.width if writer.video is not None else 0,
                "height": writer.video.codec_context.height if writer.video is not None else 0,
                "video_frames": stats.video_frames,
                "keyframes_ms": stats.keyframes_ms,
                "audio_packets": stats.audio_packets,
                "reason": reason,
            }
        )

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_segment is None:
            return
        try:
            self.on_segment(event)
        except Exception:
            logger.exception("recorder: on_segment raised")

    def stats(self) -> dict[str, Any]:
        a = self.assembler
        return {
            "active": self.active,
            "segment": self.segment.index if self.segment else None,
            "segments_written": self.segments_written,
            "video_frames": a.frames,
            "keyframes": a.keyframes,
            "lost_frames": a.lost_frames,
            "skipped_frames": a.skipped_frames,
            "late_packets": a.late_packets + sum(x.late for x in self.audio.values()),
            "reanchors": self.video_clock.reanchors
            + sum(x.clock.reanchors for x in self.audio.values()),
            "errors": self.errors,
        }
