"""Recording in the live path: a room host with real aiortc peers over loopback records the main
slot and the chair's audio into segment files, follows a floor change, and each file opens and
decodes with PyAV (the recorder core itself is tested in ``test_recording_core``)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone
from recording_helpers import probe

from conferences.models import Status
from media_worker.host import RoomHost
from portal.models import Site
from recordings.models import RecordingSegment
from tests.conferences.factories import ConferenceFactory, invite
from tests.media_worker.sfu_helpers import Client, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180), pytest.mark.media]


def _live(confidential: bool = False):
    conf = ConferenceFactory(
        status=Status.LIVE, actual_start=timezone.now(), confidential=confidential
    )
    invite(conf, "140")
    return (
        conf,
        str(Site.objects.get(key="140").code),
        str(Site.objects.get(key="15-UBND").code),  # the chair site
    )


def _segments(host: RoomHost, state: str = "closed") -> list[dict]:
    return [e for e in host.sent if e.get("type") == "recording_segment" and e["state"] == state]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    settings.MEDIA_ROOT = tmp_path
    settings.RECORDING_SEGMENT_SECONDS = 5
    settings.RECORDING_KEYFRAME_SECONDS = 2
    return tmp_path


def _spy(host: RoomHost) -> None:
    """Keep a copy of every event the host reports (it still goes to the media sink; the
    recorder's reports pass through ``host._enqueue`` too)."""
    host.sent = []  # type: ignore[attr-defined]
    enqueue = host._enqueue

    def spy(event):
        host.sent.append(event)  # type: ignore[attr-defined]
        enqueue(event)

    host._enqueue = spy  # type: ignore[method-assign]


async def test_the_room_records_the_floor_and_follows_a_floor_change(org, media):
    conf, speaker, chair = await database_sync_to_async(_live)()
    code = str(conf.code)
    host = await RoomHost.open(code, worker="test")
    assert host is not None and host.recorder is not None  # recorded by default
    _spy(host)
    host.apply({"type": "state", "version": 1, "floor": speaker, "chair": chair, "record": True})
    a, b = Client(luma=60, tone=8000), Client(luma=200, tone=8000)
    try:
        for pid, client, conn in ((speaker, a, "ca"), (chair, b, "cb")):
            answer = await host.offer(participant=pid, conn=conn, offer=await client.offer())
            await client.accept(answer)
        await wait_for(lambda: _segments(host, "started"), 20)
        t_start = time.time()
        await asyncio.sleep(4.0)
        # The floor goes to the chair: the recorder asks for its key frame and goes on there.
        host.apply({"type": "state", "version": 2, "floor": chair, "chair": chair, "record": True})
        await asyncio.sleep(5.0)
        stats = host.recorder.stats()
        await host.close()
        t_end = time.time()
    finally:
        await a.close()
        await b.close()
        await host.close()
        await database_sync_to_async(connections.close_all)()

    closed = _segments(host)
    assert len(closed) >= 2, closed  # 9 s in segments of 5 s
    assert [s["index"] for s in closed] == list(range(1, len(closed) + 1))
    directory = media / "recordings" / code
    assert sorted(p.name for p in directory.glob("*.webm")) == sorted(s["name"] for s in closed)
    # each finished segment's report is kept beside it, for a host that takes the room over
    assert sorted(p.name for p in directory.glob("*.json")) == sorted(
        s["name"] + ".json" for s in closed
    )
    lumas: list[int] = []
    total = 0.0
    for seg in closed:
        info = probe(directory / seg["name"])
        assert info["errors"] == 0, seg
        assert info["streams"][0] == ("video", "vp8")
        assert abs(info["duration"] - seg["duration_ms"] / 1000) <= 1.0
        total += info["duration"]
        lumas += info["lumas"]
    # the files together last as long as the recording ran (± 1 s)
    assert abs(total - (t_end - t_start)) <= 1.0, (total, t_end - t_start)
    assert closed[-1]["ended_at"] == pytest.approx(t_end, abs=1.0)
    # the speaker's pictures, then the chair's: each decodes cleanly, none mixed up
    first_b = next(i for i, v in enumerate(lumas) if v > 150)
    assert first_b > 15 and all(v < 110 for v in lumas[:first_b])
    assert len(lumas) - first_b > 15 and all(v > 150 for v in lumas[first_b:])
    assert stats["packets"]["chair"] > 100 and stats["packets"]["floor"] > 100
    # every finished segment reached the database through the room's event queue
    rows = await database_sync_to_async(
        lambda: list(
            RecordingSegment.objects.filter(recording__conference=conf).values_list(
                "index", "state", "size", "file"
            )
        )
    )()
    assert rows == [
        (s["index"], "complete", s["bytes"], f"recordings/{code}/{s['name']}") for s in closed
    ]


async def test_pausing_closes_the_segment_and_a_confidential_room_records_nothing(org, media):
    conf, speaker, chair = await database_sync_to_async(_live)(confidential=True)
    code = str(conf.code)
    host = await RoomHost.open(code, worker="test")
    assert host is not None
    assert host.recorder is None  # confidential: not recorded unless turned on
    a = Client(luma=60, tone=8000)
    try:
        answer = await host.offer(participant=speaker, conn="ca", offer=await a.offer())
        await a.accept(answer)
        host.apply({"type": "state", "version": 1, "floor": speaker, "chair": chair})
        await asyncio.sleep(1.0)
        assert not (media / "recordings" / code).exists() or not any(
            (media / "recordings" / code).iterdir()
        )
        # the clerk turns it on; then the chair pauses
        host.apply({"type": "state", "version": 2, "floor": speaker, "record": True})
        _spy(host)
        await wait_for(lambda: _segments(host, "started"), 20)
        await asyncio.sleep(2.0)
        host.apply({"type": "state", "version": 3, "floor": speaker, "record": False})
        [seg] = _segments(host)
        assert seg["reason"] == "paused"
        await asyncio.sleep(1.0)
        assert host.recorder is not None and not host.recorder.active
        assert not list((media / "recordings" / code).glob("*.part"))  # nothing being written
    finally:
        await a.close()
        await host.close()
        await database_sync_to_async(connections.close_all)()
    info = probe(media / "recordings" / code / seg["name"])
    assert info["errors"] == 0 and abs(info["duration"] - 2.0) <= 1.0


async def test_loss_before_the_recorder_skips_broken_frames_and_the_file_decodes(org, media):
    """5 % of the main video's packets never reach the recorder (as when the publisher's uplink
    loses them and NACK does not recover them in time): broken frames are skipped, a key frame is
    requested from the publisher (a PLI over the real connection), and the file decodes."""
    import random

    conf, speaker, chair = await database_sync_to_async(_live)()
    code = str(conf.code)
    host = await RoomHost.open(code, worker="test")
    assert host is not None and host.recorder is not None
    _spy(host)
    host.apply({"type": "state", "version": 1, "floor": speaker, "chair": chair, "record": True})
    a = Client(luma=60, tone=8000)
    rnd = random.Random(5)
    [video_sink] = [s for s in host.recorder.sinks if s.track == "video"]
    deliver = video_sink._packet
    lossy = {"on": False}

    def maybe_drop(data: bytes) -> None:
        if lossy["on"] and rnd.random() < 0.05:
            return
        deliver(data)

    video_sink.tx = maybe_drop
    try:
        answer = await host.offer(participant=speaker, conn="ca", offer=await a.offer())
        await a.accept(answer)
        await wait_for(lambda: _segments(host, "started"), 20)
        await asyncio.sleep(2.0)
        plis_before = host.room.peers[speaker].plis_out
        lossy["on"] = True
        await asyncio.sleep(4.0)
        lossy["on"] = False
        await asyncio.sleep(2.0)
        stats = host.recorder.stats()
        plis_after = host.room.peers[speaker].plis_out
        await host.close()
    finally:
        await a.close()
        await host.close()
        await database_sync_to_async(connections.close_all)()
    assert stats["lost_frames"] > 0, stats
    assert plis_after > plis_before  # the recorder asked the publisher for key frames
    total_frames = 0
    for seg in _segments(host):
        info = probe(media / "recordings" / code / seg["name"])
        assert info["errors"] == 0, seg
        total_frames += info["frames"]
    assert total_frames == stats["video_frames"] > 40  # recovered after the losses


async def test_h264_publishers_are_recorded_in_matroska_across_a_floor_change(org, media):
    """Real aiortc peers publishing H.264 only (libx264 in the peer, no VP8 offered): the
    recorder writes Matroska segments of the publishers' own H.264, no re-encoding; the floor
    change starts the chair's pictures on its key frame and every file decodes cleanly."""
    conf, speaker, chair = await database_sync_to_async(_live)()
    code = str(conf.code)
    host = await RoomHost.open(code, worker="test")
    assert host is not None and host.recorder is not None
    _spy(host)
    host.apply({"type": "state", "version": 1, "floor": speaker, "chair": chair, "record": True})
    a = Client(luma=60, tone=8000, video_codec="H264")
    b = Client(luma=200, tone=8000, video_codec="H264")
    try:
        for pid, client, conn in ((speaker, a, "ca"), (chair, b, "cb")):
            offer = await client.offer()
            assert "H264" in offer["sdp"]  # its sending video m-line offers H.264 only
            answer = await host.offer(participant=pid, conn=conn, offer=offer)
            assert "H264" in answer["sdp"]
            await client.accept(answer)
        await wait_for(lambda: _segments(host, "started"), 20)
        await asyncio.sleep(3.0)
        host.apply({"type": "state", "version": 2, "floor": chair, "chair": chair, "record": True})
        await asyncio.sleep(4.0)
        await host.close()
    finally:
        await a.close()
        await b.close()
        await host.close()
        await database_sync_to_async(connections.close_all)()

    closed = _segments(host)
    assert closed and all(s["video_codec"] == "h264" for s in closed), closed
    directory = media / "recordings" / code
    lumas: list[int] = []
    for seg in closed:
        assert seg["name"].endswith(".mkv")
        info = probe(directory / seg["name"])
        assert info["errors"] == 0, seg
        assert info["streams"][0] == ("video", "h264")
        assert abs(info["duration"] - seg["duration_ms"] / 1000) <= 1.0
        assert seg["keyframes_ms"] and seg["keyframes_ms"][0] < 500
        lumas += info["lumas"]
    # the speaker's pictures, then the chair's, none mixed up
    first_b = next(i for i, v in enumerate(lumas) if v > 150)
    assert first_b > 10 and all(v < 110 for v in lumas[:first_b])
    assert len(lumas) - first_b > 10 and all(v > 150 for v in lumas[first_b:])
