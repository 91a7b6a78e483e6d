"""Recording policy and control from the outside: the room's ``record`` flag, the chair's
pause/resume over the live socket (audited, the ``recording`` event, the snapshot), the worker's
segment reports through the media sink, and the retention command."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.utils import timezone

from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.live import selectors
from conferences.live.media_sink import DOMAIN, report
from conferences.live.reducer import LiveView, validate_event
from conferences.models import AuditEntry, Level, LiveState, Status
from recordings import services
from recordings.models import Recording, RecordingMode, RecordingSegment, SegmentState
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def embedded(settings, tmp_path):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MEDIA_ROOT = tmp_path


def _live(**kw):
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now(), **kw)
    invite(conf, "140")
    return conf


def test_policy_default_confidential_clerk_choice_and_levels(org, settings, province_clerk, chair):
    plain, secret = _live(), _live(confidential=True)
    assert selectors.room_state(plain)["record"] is True
    assert selectors.room_state(secret)["record"] is False
    assert selectors.live_snapshot(conference=secret)["recording"] == "off"
    # the clerk turns it on explicitly for the confidential one (audited)
    services.set_mode(actor=province_clerk, conference=secret, mode=RecordingMode.ON)
    assert selectors.room_state(secret)["record"] is True
    assert AuditEntry.objects.filter(conference=secret, action="recording.mode").count() == 1
    # the chair may pause but not change the policy
    with pytest.raises(PermissionDeniedError):
        services.set_mode(actor=chair, conference=plain, mode=RecordingMode.OFF)
    with pytest.raises(ConferenceError) as bad:
        services.set_mode(actor=province_clerk, conference=plain, mode="sometimes")
    assert bad.value.code == "invalid"
    assert selectors.room_state(plain)["record"] is True  # nothing changed
    # levels recorded by default
    settings.RECORDING_LEVELS = [Level.FOUR_LEVEL]
    assert selectors.room_state(plain)["record"] is False
    services.set_mode(actor=province_clerk, conference=plain, mode=RecordingMode.ON)
    assert selectors.room_state(plain)["record"] is True


async def test_the_chair_pauses_and_resumes_over_the_socket_and_everyone_sees_it(
    org, chair, vanchan_operator
):
    conf = await database_sync_to_async(_live)()
    ch, snap = await open_socket(conf, chair)
    op, op_snap = await open_socket(conf, vanchan_operator)
    try:
        assert snap["recording"] == "on" and op_snap["recording"] == "on"
        view = LiveView(op_snap)
        # an operator may not pause it
        reply, _ = await request(op, {"type": "recording.pause"})
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        reply, _ = await request(ch, {"type": "recording.pause"})
        assert reply["type"] == "ack", reply
        frames = await drain(op)
        [event] = [f for f in frames if f["type"] == "recording"]
        validate_event(event)
        assert event["recording"] == "paused"
        view.apply(event)
        state = await database_sync_to_async(
            lambda: selectors.room_state(conf) | {"snap": selectors.live_snapshot(conference=conf)}
        )()
        assert state["record"] is False and state["snap"]["recording"] == "paused"
        assert view.state["recording"] == "paused"
        reply, _ = await request(ch, {"type": "recording.resume"})
        assert reply["type"] == "ack"
        [event] = [f for f in await drain(op) if f["type"] == "recording"]
        assert event["recording"] == "on"
        actions = await database_sync_to_async(
            lambda: list(
                AuditEntry.objects.filter(conference=conf, action__startswith="live.recording")
                .order_by("id")
                .values_list("action", "actor__username")
            )
        )()
        assert actions == [
            ("live.recording.pause", "chair_province"),
            ("live.recording.resume", "chair_province"),
        ]
    finally:
        await close_all(ch, op)


async def test_pausing_a_conference_that_is_not_recorded_is_refused_with_a_reason(org, chair):
    conf = await database_sync_to_async(_live)(confidential=True)
    ch, snap = await open_socket(conf, chair)
    try:
        assert snap["recording"] == "off"
        reply, _ = await request(ch, {"type": "recording.pause"})
        assert reply["type"] == "error" and reply["code"] == "not_recorded"
        reply, _ = await request(ch, {"type": "ping"})  # the socket stays up
        assert reply["type"] == "pong"
    finally:
        await close_all(ch)


def test_segment_reports_write_the_ordered_segments_idempotently(org):
    conf = _live()
    code = str(conf.code)
    t0 = 1_780_000_000.0
    started = {
        "type": "recording_segment",
        "state": "started",
        "index": 1,
        "name": "segment-0001.webm",
        "started_at": t0,
    }
    closed = {
        **started,
        "state": "closed",
        "ended_at": t0 + 300.5,
        "duration_ms": 300500,
        "bytes": 12345,
        "video_codec": "vp8",
        "width": 1920,
        "height": 1080,
        "keyframes_ms": [0, 10000],
        "reason": "duration",
    }
    assert report(code, started)
    [seg] = RecordingSegment.objects.filter(recording__conference=conf)
    assert seg.state == SegmentState.RECORDING
    assert report(code, closed) and report(code, closed)  # retried: still one row
    [seg] = RecordingSegment.objects.filter(recording__conference=conf)
    assert seg.state == SegmentState.COMPLETE and seg.size == 12345
    assert seg.file == f"recordings/{code}/segment-0001.webm"
    assert seg.started_at.timestamp() == pytest.approx(t0)
    assert seg.ended_at.timestamp() == pytest.approx(t0 + 300.5)
    assert (seg.width, seg.height, seg.keyframes_ms) == (1920, 1080, [0, 10000])
    # a report of an older epoch is still a real file: written (segments are not fenced)
    epoch = LiveState.objects.get_or_create(conference=conf)[0].room_epoch
    assert DOMAIN.report(code, epoch + 7, {**closed, "index": 2, "name": "segment-0002.webm"})
    # a name that would leave the folder is refused
    assert report(code, {**closed, "index": 3, "name": "../../etc/passwd"})
    assert list(
        RecordingSegment.objects.filter(recording__conference=conf).values_list("index", flat=True)
    ) == [1, 2]


def test_the_retention_command_deletes_expired_recordings_and_logs_it(org, settings, tmp_path):
    settings.RECORDING_RETENTION_DAYS = 30
    now = timezone.now()
    old = ConferenceFactory(status=Status.ENDED, actual_end=now - dt.timedelta(days=31))
    recent = ConferenceFactory(status=Status.ENDED, actual_end=now - dt.timedelta(days=29))
    paths = {}
    for conf in (old, recent):
        rec = Recording.objects.create(conference=conf)
        folder = tmp_path / "recordings" / str(conf.code)
        folder.mkdir(parents=True)
        (folder / "segment-0001.webm").write_bytes(b"x" * 1000)
        RecordingSegment.objects.create(
            recording=rec,
            index=1,
            file=f"recordings/{conf.code}/segment-0001.webm",
            started_at=now,
            size=1000,
            state=SegmentState.COMPLETE,
        )
        paths[conf.pk] = folder / "segment-0001.webm"
    call_command("recordings_expire")
    assert not paths[old.pk].exists() and paths[recent.pk].exists()
    assert RecordingSegment.objects.get(recording__conference=old).state == SegmentState.DELETED
    assert RecordingSegment.objects.get(recording__conference=recent).state == "complete"
    [entry] = AuditEntry.objects.filter(action="recording.expired")
    assert entry.conference_id == old.pk and entry.data["bytes"] == 1000
    call_command("recordings_expire")  # again: nothing more
    assert AuditEntry.objects.filter(action="recording.expired").count() == 1
