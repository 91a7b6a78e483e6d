"""The recorder on real RTP (aiortc's encoders and packetisers), without a network.

Every file written is opened and fully decoded with PyAV: duration, frames, which source's
pictures are in it (each source has its own grey level) and that nothing fails to decode.
"""

from __future__ import annotations

import random

import av
import pytest
from recording_helpers import Source, probe

from media_worker.sfu.recording import Recorder, RecorderConfig
from media_worker.sfu.recording.depacketize import FrameAssembler, h264_sps_size

T0 = 1_700_000_000.0


class Sim:
    """Feeds packets to a recorder on a simulated wall clock, calling tick() every second."""

    def __init__(self, tmp_path, **config) -> None:
        self.now = T0
        self.events: list[dict] = []
        self.keyframe_requests = 0
        self.sources: dict[str, Source] = {}
        self.recorder = Recorder(
            RecorderConfig(directory=tmp_path, **config),
            on_segment=self.events.append,
            request_keyframe=self._keyframe,
            clock=lambda: self.now,
        )
        self._next_tick = T0 + 1

    def _keyframe(self) -> None:
        self.keyframe_requests += 1
        for source in self.sources.values():
            source.force_keyframe = True

    def feed(self, packets, *, video: Source | None, floor: bool = True, drop=None) -> None:
        self.sources = {"video": video} if video else {}
        for arrival, kind, data in packets:
            self.now = arrival
            while self.now >= self._next_tick:
                self.recorder.tick()
                self._next_tick += 1
            if drop is not None and drop(kind, data):
                continue
            track = "video" if kind == "video" else ("floor" if floor else "chair")
            self.recorder.push(track, data, arrival)

    def run(self, source: Source, seconds: float, **kw) -> None:
        """Generate frame by frame (so key-frame requests take effect, as from a browser)."""
        start = self.now
        step = 1 / source.fps
        frames = int(seconds * source.fps)
        audio_next = start
        for i in range(frames):
            t = start + i * step
            batch = [(t + 0.0005 * k, "video", p) for k, p in enumerate(source.video_frame())]
            while audio_next < t + step:
                batch.append((audio_next, "audio", source.audio_frame()))
                audio_next += 0.02
            batch.sort(key=lambda x: x[0])
            self.feed(batch, video=source, **kw)
        self.now = start + seconds

    def closed(self) -> list[dict]:
        return [e for e in self.events if e["state"] == "closed"]


def test_a_recorded_segment_opens_has_its_duration_and_decodes(tmp_path):
    sim = Sim(tmp_path)
    a = Source(60)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 6.0)
    sim.recorder.close()
    [seg] = sim.closed()
    path = tmp_path / seg["name"]
    assert path.suffix == ".webm" and path.exists()
    assert not list(tmp_path.glob("*.part"))
    info = probe(path)
    assert info["errors"] == 0
    assert abs(info["duration"] - 6.0) <= 1.0
    assert info["streams"][0] == ("video", "vp8")
    assert [t for t, _ in info["streams"][1:]] == ["audio", "audio", "audio"]
    assert info["titles"][1:] == ["hội nghị (trộn)", "phát biểu", "chủ trì"]
    assert info["frames"] >= 6 * 15 - 3
    assert info["size"] == (320, 240)
    assert all(abs(luma - 60) < 25 for luma in info["lumas"])
    # The mix and the floor track both carry ~6 s of sound.
    assert info["audio"][1] >= 48000 * 5 and info["audio"][2] >= 48000 * 5
    assert abs(seg["duration_ms"] - 6000) < 1000
    assert seg["keyframes_ms"][0] < 200
    assert seg["ended_at"] - seg["started_at"] == pytest.approx(seg["duration_ms"] / 1000)


def test_a_slot_switch_starts_the_new_source_on_its_key_frame_with_continuous_time(tmp_path):
    sim = Sim(tmp_path)
    a, b = Source(50), Source(200)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 3.0)
    # The floor moves to b: its stream has other SSRC, sequence and timestamps, and it sends
    # delta frames first (its key frame comes when the recorder asks).
    b.force_keyframe = False
    b.video_frame()
    sim.sources = {"video": b}  # the SFU sends the recorder's key-frame request to b
    sim.recorder.switch("video", "b")
    sim.recorder.switch("floor", "b")
    sim.run(b, 3.0)
    sim.recorder.close()
    [seg] = sim.closed()
    info = probe(tmp_path / seg["name"])
    assert info["errors"] == 0
    assert abs(info["duration"] - 6.0) <= 1.0
    lumas = info["lumas"]
    first_b = next(i for i, v in enumerate(lumas) if v > 150)
    assert all(v < 100 for v in lumas[:first_b]) and all(v > 150 for v in lumas[first_b:])
    assert len(seg["keyframes_ms"]) >= 2
    switch_ms = seg["keyframes_ms"][1]
    assert 2900 <= switch_ms <= 3500  # b's first picture where it happened, not at 0 or later


def test_loss_skips_broken_frames_asks_for_a_key_frame_and_decodes_cleanly(tmp_path):
    sim = Sim(tmp_path, keyframe_seconds=0)
    a = Source(120, width=640, height=480)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 2.0)
    before = sim.keyframe_requests
    rnd = random.Random(7)
    sim.run(a, 3.0, drop=lambda kind, data: kind == "video" and rnd.random() < 0.05)
    sim.run(a, 1.0)
    sim.recorder.close()
    [seg] = sim.closed()
    info = probe(tmp_path / seg["name"])
    assert info["errors"] == 0
    assert sim.keyframe_requests > before
    stats = sim.recorder.stats()
    assert stats["lost_frames"] > 0
    assert info["frames"] == stats["video_frames"]
    assert info["frames"] > 2 * 15  # recovered after each loss, not frozen after the first
    assert abs(info["duration"] - 6.0) <= 1.0


def test_segments_roll_on_key_frames_and_each_file_stands_alone(tmp_path):
    sim = Sim(tmp_path, segment_seconds=3)
    a = Source(90)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("chair", "a")
    sim.recorder.start()
    sim.run(a, 10.0, floor=False)
    sim.recorder.close()
    segs = sim.closed()
    assert len(segs) >= 3
    assert [s["index"] for s in segs] == list(range(1, len(segs) + 1))
    total = 0.0
    for prev, seg in zip([None, *segs], segs, strict=False):
        info = probe(tmp_path / seg["name"])
        assert info["errors"] == 0 and info["frames"] > 0
        assert seg["keyframes_ms"][0] <= 50  # starts on a key frame
        total += info["duration"]
        if prev is not None:
            assert abs(seg["started_at"] - prev["ended_at"]) < 0.2  # no gap between files
    assert abs(total - 10.0) <= 1.0


def test_pause_closes_the_segment_and_resume_opens_a_new_one(tmp_path):
    sim = Sim(tmp_path)
    a = Source(90)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 2.0)
    sim.recorder.pause()
    sim.run(a, 2.0)  # not recorded
    sim.recorder.start()
    sim.run(a, 2.0)
    sim.recorder.close()
    first, second = sim.closed()
    assert first["reason"] == "paused"
    assert second["started_at"] - first["ended_at"] >= 1.8
    for seg in (first, second):
        assert abs(probe(tmp_path / seg["name"])["duration"] - 2.0) <= 1.0


def test_audio_only_when_nobody_shows_video(tmp_path):
    sim = Sim(tmp_path)
    a = Source(90)
    sim.recorder.switch("chair", "a")
    sim.recorder.start()
    audio = [p for p in a.packets(T0, 4.0) if p[1] == "audio"]
    sim.feed(audio, video=None, floor=False)
    sim.recorder.close()
    [seg] = sim.closed()
    info = probe(tmp_path / seg["name"])
    assert [t for t, _ in info["streams"]] == ["audio", "audio", "audio"]
    assert abs(info["duration"] - 4.0) <= 1.0 and info["errors"] == 0


def test_h264_is_recorded_in_matroska(tmp_path):
    if "libx264" not in av.codecs_available:
        pytest.skip("PyAV without libx264")
    sim = Sim(tmp_path)
    a = Source(70, codec="h264", width=320, height=240)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 4.0)
    sim.recorder.close()
    [seg] = sim.closed()
    assert seg["name"].endswith(".mkv") and seg["video_codec"] == "h264"
    assert (seg["width"], seg["height"]) == (320, 240)
    info = probe(tmp_path / seg["name"])
    assert info["streams"][0] == ("video", "h264")
    assert info["errors"] == 0 and info["frames"] >= 4 * 15 - 3
    assert abs(info["duration"] - 4.0) <= 1.0


def test_a_codec_change_starts_a_new_file(tmp_path):
    if "libx264" not in av.codecs_available:
        pytest.skip("PyAV without libx264")
    sim = Sim(tmp_path)
    a, b = Source(60), Source(180, codec="h264")
    sim.recorder.switch("video", "a")
    sim.recorder.start()
    sim.run(a, 2.0)
    sim.recorder.switch("video", "b")
    sim.run(b, 2.0)
    sim.recorder.close()
    first, second = sim.closed()
    assert first["name"].endswith(".webm") and second["name"].endswith(".mkv")
    assert probe(tmp_path / second["name"])["errors"] == 0


def test_frame_assembler_reorders_and_drops_duplicates():
    source = Source(100)
    packets = []
    for _ in range(5):
        packets += source.video_frame()
    frames_in_order = []
    a = FrameAssembler()
    for p in packets:
        frames_in_order += a.push(
            int.from_bytes(p[2:4], "big"),
            int.from_bytes(p[4:8], "big"),
            bool(p[1] & 0x80),
            p[12:],
            "vp8",
            0.0,
        )
    # Reordered as networks do (within a few packets), then duplicated.
    rnd = random.Random(3)
    shuffled = []
    for i in range(0, len(packets), 4):
        window = packets[i : i + 4]
        rnd.shuffle(window)
        shuffled += window
    b = FrameAssembler()
    frames = []
    for p in shuffled + shuffled[:4]:  # reordered, then duplicates
        frames += b.push(
            int.from_bytes(p[2:4], "big"),
            int.from_bytes(p[4:8], "big"),
            bool(p[1] & 0x80),
            p[12:],
            "vp8",
            0.0,
        )
    assert [f.data for f in frames] == [f.data for f in frames_in_order]
    assert len(frames) == 5 and frames[0].keyframe


def test_sps_size_is_read_from_a_real_encoder():
    if "libx264" not in av.codecs_available:
        pytest.skip("PyAV without libx264")
    source = Source(70, codec="h264", width=640, height=360)
    payloads = source.video_frame()
    frames = FrameAssembler().push
    assembler = FrameAssembler()
    out = []
    for p in payloads:
        out += assembler.push(
            int.from_bytes(p[2:4], "big"),
            int.from_bytes(p[4:8], "big"),
            bool(p[1] & 0x80),
            p[12:],
            "h264",
            0.0,
        )
    assert frames is not None
    [frame] = out
    assert frame.keyframe and h264_sps_size(frame.sps) == (640, 360)


def test_a_killed_recorder_leaves_earlier_segments_whole_and_the_cut_one_recoverable(tmp_path):
    from media_worker.sfu.recording.repair import recover_partial

    sim = Sim(tmp_path, segment_seconds=3)
    a = Source(90, width=640, height=480)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 6.5)
    sim.recorder.config.segment_seconds = 100
    sim.run(a, 6.0)
    # No close(): the process died; what libavformat had not yet written is the cut.
    done = sim.closed()
    assert len(done) >= 1
    for seg in done:
        assert probe(tmp_path / seg["name"])["errors"] == 0
    [part] = tmp_path.glob("*.part")
    recovered = recover_partial(part)
    assert not part.exists()
    assert recovered is not None  # what reached the file before the cut plays like the rest
    info = probe(tmp_path / recovered["name"])
    assert info["errors"] == 0 and info["frames"] > 0
    assert 0 < recovered["duration_ms"] <= 6500


def test_the_recorder_imports_nothing_from_django():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, media_worker.sfu.recording, media_worker.sfu.recording.repair;"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _tone_levels(path, track_title: str, freqs: tuple[int, ...]) -> dict[int, float]:
    """Energy at each frequency in the decoded audio track titled ``track_title`` (past 1 s)."""
    import numpy as np

    with av.open(str(path)) as container:
        [stream] = [s for s in container.streams.audio if s.metadata.get("title") == track_title]
        pcm = np.concatenate(
            [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
        ).astype(np.float64)
    pcm = pcm[48000 : 48000 * 3]
    spectrum = np.abs(np.fft.rfft(pcm)) / len(pcm)
    hz = np.fft.rfftfreq(len(pcm), 1 / 48000)
    return {f: float(spectrum[np.abs(hz - f) < 5].max()) for f in freqs}


def test_the_mix_carries_both_voices_and_the_chair_holding_the_floor_once(tmp_path):
    """Floor at 400 Hz, chair at 1000 Hz (whole cycles per 20 ms packet: clean tones): the default track a browser plays has both; when the
    chair also holds the floor (the same source on both), it is heard once, not doubled."""
    sim = Sim(tmp_path)
    floor, chair = Source(60, tone_hz=400), Source(200, tone_hz=1000)
    sim.recorder.switch("video", "f")
    sim.recorder.switch("floor", "f")
    sim.recorder.switch("chair", "c")
    sim.recorder.start()
    packets = floor.packets(T0, 4.0) + [
        (t + 0.001, "chair", p) for t, kind, p in chair.packets(T0, 4.0) if kind == "audio"
    ]
    packets.sort(key=lambda x: x[0])
    sim.sources = {"video": floor}
    for arrival, kind, data in packets:
        sim.now = arrival
        track = {"video": "video", "audio": "floor", "chair": "chair"}[kind]
        sim.recorder.push(track, data, arrival)
    sim.recorder.close()
    [seg] = sim.closed()
    mixed = _tone_levels(tmp_path / seg["name"], "hội nghị (trộn)", (400, 1000, 725))
    assert mixed[400] > 20 * mixed[725] and mixed[1000] > 20 * mixed[725]
    assert 0.5 < mixed[400] / mixed[1000] < 2
    only_floor = _tone_levels(tmp_path / seg["name"], "phát biểu", (400, 1000))
    assert only_floor[400] > 20 * only_floor[1000]

    # The chair takes the floor: both tracks carry the chair's packets; the mix has it once.
    one = tmp_path / "one"
    sim2 = Sim(one)
    voice = Source(200, tone_hz=1000)
    for track in ("video", "floor", "chair"):
        sim2.recorder.switch(track, "c")
    sim2.recorder.start()
    sim2.sources = {"video": voice}
    for arrival, kind, data in voice.packets(T0, 4.0):
        sim2.now = arrival
        if kind == "video":
            sim2.recorder.push("video", data, arrival)
        else:
            sim2.recorder.push("floor", data, arrival)
            sim2.recorder.push("chair", data, arrival)
    sim2.recorder.close()
    [seg2] = sim2.closed()
    level_mix = _tone_levels(one / seg2["name"], "hội nghị (trộn)", (1000,))[1000]
    level_chair = _tone_levels(one / seg2["name"], "chủ trì", (1000,))[1000]
    assert 0.6 < level_mix / level_chair < 1.4  # once (a doubled voice would be ~2×)
    assert sim2.recorder.mixer is not None and sim2.recorder.mixer.muted == {"floor"}


def test_without_the_mix_the_floor_track_is_the_default(tmp_path):
    sim = Sim(tmp_path, mix=False)
    a = Source(60)
    sim.recorder.switch("video", "a")
    sim.recorder.switch("floor", "a")
    sim.recorder.start()
    sim.run(a, 3.0)
    sim.recorder.close()
    [seg] = sim.closed()
    info = probe(tmp_path / seg["name"])
    assert info["titles"][1:] == ["phát biểu", "chủ trì"] and info["errors"] == 0
    with av.open(str(tmp_path / seg["name"])) as container:
        floor = container.streams.audio[0]
        assert floor.disposition & av.stream.Disposition.default
