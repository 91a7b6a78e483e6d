"""Recording policy and the writes of recordings — the one path for each.

- **Policy** (``wanted``): a conference is recorded when its clerk chose "on"; when "off" it is
  not; by default it is when its level is recorded by default — the province administrator's
  choice per level (``LevelPolicy``, ``set_level_policy``, the page ``/recordings/policy/``),
  else the ``RECORDING_LEVELS`` setting (empty = every level) — but a confidential conference
  only ever when the clerk turns it on. ``recording_now`` = wanted and
  not paused: what the room enforces (``room_state["record"]``) and the live pages show
  (``snapshot["recording"]``, the ``recording`` event).
- ``set_paused`` — the chair's live command (pause/resume), ``set_mode`` — the clerk's choice:
  one transaction under the conference's row lock, one audit entry, the ``recording`` event and
  the room told after commit.
- ``segment_reported`` — a media worker's ``recording_segment`` event (``started`` / ``closed`` /
  ``failed``), idempotent per (conference, index).
- ``expire`` — deletes the files of recordings older than ``RECORDING_RETENTION_DAYS``, with one
  audit entry per conference and a log line.
- ``log_download`` — the audit entry of a manager's download.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import Conference, Level, Status
from portal import permissions as org
from portal.models import Role, Unit
from recordings import storage
from recordings.models import (
    LevelPolicy,
    Recording,
    RecordingMode,
    RecordingSegment,
    SegmentState,
)

logger = logging.getLogger(__name__)


# --- policy ----------------------------------------------------------------------------------


def wanted(conference: Conference, recording: Recording | None = None) -> bool:
    if recording is None:
        recording = Recording.objects.filter(conference_id=conference.pk).first()
    mode = recording.mode if recording is not None else RecordingMode.DEFAULT
    if mode == RecordingMode.ON:
        return True
    if mode == RecordingMode.OFF or conference.confidential:
        return False
    return level_records(conference.level)


def setting_records(level: str) -> bool:
    """What ``RECORDING_LEVELS`` says (empty = every level): the default of the policy."""
    levels = list(settings.RECORDING_LEVELS)
    return not levels or level in levels


def level_records(level: str) -> bool:
    """Is a conference of ``level`` recorded by default: the province administrator's policy,
    else the setting."""
    row = LevelPolicy.objects.filter(level=level).values_list("record", flat=True).first()
    return setting_records(level) if row is None else bool(row)


def level_policy() -> list[dict[str, Any]]:
    """Every level with what applies now and where it comes from ("policy" or "setting")."""
    rows = {p.level: p for p in LevelPolicy.objects.select_related("updated_by")}
    out = []
    for value, label in Level.choices:
        row = rows.get(value)
        out.append(
            {
                "level": value,
                "label": label,
                "record": setting_records(value) if row is None else row.record,
                "default": setting_records(value),
                "source": "setting" if row is None else "policy",
                "updated_by": row.updated_by if row is not None else None,
                "updated_at": row.updated_at if row is not None else None,
            }
        )
    return out


def can_set_policy(user: Any) -> bool:
    """The province administrator: an admin over every root unit of the tree (or a superuser)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if org.is_superuser(user):
        return True
    roots = list(Unit.objects.filter(parent__isnull=True))
    return bool(roots) and all(org.has_role_over(user, {Role.ADMIN}, root) for root in roots)


@transaction.atomic
def set_level_policy(*, actor: Any, recorded: set[str]) -> list[str]:
    """The province administrator sets which levels are recorded by default; returns the levels
    whose default changed. Applies to conferences that have not ended (a live one follows at
    its room's next state), never to a confidential one or to a clerk's explicit choice."""
    if not can_set_policy(actor):
        raise PermissionDeniedError(_("Chỉ quản trị cấp tỉnh được đặt chính sách ghi hình."))
    unknown = set(recorded) - set(Level.values)
    if unknown:
        raise ConferenceError("invalid", _("Cấp hội nghị không hợp lệ."))
    list(LevelPolicy.objects.select_for_update())  # one writer at a time
    changed = []
    for level in Level.values:
        record = level in recorded
        if level_records(level) != record:
            changed.append(level)
        LevelPolicy.objects.update_or_create(
            level=level, defaults={"record": record, "updated_by": actor}
        )
    # Live conferences that follow the default and whose level changed: recorded (or not) from
    # now on; their pages and room are told, and their audit says why.
    live = Conference.objects.filter(
        status=Status.LIVE, level__in=changed, confidential=False
    ).exclude(recording__mode__in=[RecordingMode.ON, RecordingMode.OFF])
    for conference in live.select_related("host_unit"):
        recording = Recording.objects.filter(conference=conference).first()
        now_recorded = conference.level in recorded
        before = "off" if now_recorded else ("paused" if recording and recording.paused else "on")
        audit_log(
            conference=conference,
            actor=actor,
            action="recording.policy",
            data={"level": conference.level, "record": now_recorded},
        )
        _changed(conference, before, recording)
    logger.info(
        "recording policy set by %s: recorded levels %s (changed: %s)",
        actor.get_username(),
        sorted(recorded),
        changed,
    )
    return changed


def recording_now(conference: Conference, recording: Recording | None = None) -> bool:
    if recording is None:
        recording = Recording.objects.filter(conference_id=conference.pk).first()
    return wanted(conference, recording) and not (recording is not None and recording.paused)


def recording_status(conference: Conference, recording: Recording | None = None) -> str:
    """What the live pages show: "on" (recorded now), "paused" (by the chair), "off"."""
    if recording is None:
        recording = Recording.objects.filter(conference_id=conference.pk).first()
    if not wanted(conference, recording):
        return "off"
    return "paused" if recording is not None and recording.paused else "on"


# --- commands ----------------------------------------------------------------------------------


def _locked(conference: Conference) -> tuple[Conference, Recording]:
    conference = (
        Conference.objects.select_for_update(of=("self",))
        .select_related("host_unit")
        .get(pk=conference.pk)
    )
    Recording.objects.get_or_create(conference=conference)
    return conference, Recording.objects.select_for_update().get(conference=conference)


def _changed(conference: Conference, before: str, recording: Recording | None) -> None:
    """Tell the pages and the room when what is enforced changed (after commit)."""
    now = recording_status(conference, recording)
    if now == before:
        return
    events.broadcast(conference, {"type": "recording", "recording": now})
    if conference.status == Status.LIVE:
        code = str(conference.code)

        def sync() -> None:
            from conferences.live import rooms

            rooms.room_sync(code)

        transaction.on_commit(sync, robust=True)


@transaction.atomic
def set_paused(*, actor: Any, conference: Conference, paused: bool) -> Recording:
    """The chair pauses or resumes the recording of the live conference."""
    conference, recording = _locked(conference)
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError(_("Chỉ chủ trì mới được điều khiển hội nghị."))
    if conference.status != Status.LIVE:
        raise ConferenceError("not_live", _("Hội nghị chưa diễn ra hoặc đã kết thúc."))
    if not wanted(conference, recording):
        raise ConferenceError("not_recorded", _("Hội nghị này không được ghi hình."))
    before = recording_status(conference, recording)
    recording.paused = paused
    recording.save(update_fields=["paused", "updated_at"])
    audit_log(
        conference=conference,
        actor=actor,
        action="live.recording.pause" if paused else "live.recording.resume",
    )
    _changed(conference, before, recording)
    return recording


@transaction.atomic
def set_mode(*, actor: Any, conference: Conference, mode: str) -> Recording:
    """The clerk decides whether this conference is recorded ("default", "on", "off")."""
    if mode not in RecordingMode.values:
        raise ConferenceError("invalid", _("Chế độ ghi hình không hợp lệ."))
    conference, recording = _locked(conference)
    if not perms.can_manage(actor, conference):
        raise PermissionDeniedError(_("Chỉ văn thư/quản trị của đơn vị chủ trì được đổi."))
    if conference.status in (Status.ENDED, Status.CANCELLED):
        raise ConferenceError("ended", _("Hội nghị đã kết thúc."))
    before = recording_status(conference, recording)
    recording.mode = mode
    recording.save(update_fields=["mode", "updated_at"])
    audit_log(conference=conference, actor=actor, action="recording.mode", data={"mode": mode})
    _changed(conference, before, recording)
    return recording


# --- what the media worker reports --------------------------------------------------------------


def _when(value: Any) -> dt.datetime:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(min(float(value), time.time() + 60), dt.UTC)
    return timezone.now()


@transaction.atomic
def segment_reported(code: str, epoch: int, event: dict[str, Any]) -> bool:
    """Write one ``recording_segment`` event; True when handled (also when ignored as stale).

    A segment is a file that exists whichever worker wrote it, so it is not fenced by epoch;
    a later report of the same index completes the row (a recovered ``.part`` included)."""
    conference = Conference.objects.filter(code=code).first()
    name = event.get("name")
    state = event.get("state")
    try:
        index = int(event.get("index"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        index = -1
    if (
        conference is None
        or index < 0
        or not isinstance(name, str)
        or "/" in name
        or name.startswith(".")
        or state not in ("started", "closed", "failed")
    ):
        logger.warning("recording report for %s ignored: %r", code, event)
        return True
    recording, _created = Recording.objects.get_or_create(conference=conference)
    segment, _ = RecordingSegment.objects.select_for_update().get_or_create(
        recording=recording,
        index=index,
        defaults={
            "file": f"recordings/{code}/{name}",
            "started_at": _when(event.get("started_at")),
            "room_epoch": epoch,
        },
    )
    if state == "started":
        return True
    if segment.state == SegmentState.DELETED:
        return True
    segment.file = f"recordings/{code}/{name}"
    segment.started_at = _when(event.get("started_at"))
    segment.ended_at = _when(event.get("ended_at"))
    segment.size = max(0, int(event.get("bytes") or 0))
    segment.duration_ms = max(0, int(event.get("duration_ms") or 0))
    segment.video_codec = str(event.get("video_codec") or "")[:10]
    segment.width = max(0, int(event.get("width") or 0))
    segment.height = max(0, int(event.get("height") or 0))
    keyframes = event.get("keyframes_ms") or []
    segment.keyframes_ms = [int(k) for k in keyframes[:10_000] if isinstance(k, int | float)]
    segment.state = SegmentState.COMPLETE if state == "closed" else SegmentState.FAILED
    segment.reason = str(event.get("reason") or "")[:20]
    segment.room_epoch = epoch
    segment.save()
    return True


# --- retention -----------------------------------------------------------------------------------


def expired(now: dt.datetime | None = None) -> list[Recording]:
    """Recordings whose conference ended more than ``RECORDING_RETENTION_DAYS`` ago."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.RECORDING_RETENTION_DAYS)
    return list(
        Recording.objects.filter(
            expired_at__isnull=True,
            conference__status=Status.ENDED,
            conference__actual_end__lt=cutoff,
        ).select_related("conference")
    )


def expire(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Delete the files of every expired recording; one audit entry and log line each."""
    done = []
    for candidate in expired(now):
        with transaction.atomic():
            recording = Recording.objects.select_for_update().get(pk=candidate.pk)
            if recording.expired_at is not None:
                continue
            conference = recording.conference
            segments = list(recording.segments.exclude(state=SegmentState.DELETED))
            freed = 0
            for segment in segments:
                freed += storage.delete(segment.file)
                # a report kept beside its file (media_worker.host), where the file is local
                storage.delete(segment.file + ".json")
            folder = Path(settings.MEDIA_ROOT) / "recordings" / str(conference.code)
            for leftover in folder.glob("*.part") if folder.is_dir() else []:
                freed += leftover.stat().st_size
                leftover.unlink(missing_ok=True)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
            recording.segments.update(state=SegmentState.DELETED, size=0)
            recording.expired_at = now or timezone.now()
            recording.save(update_fields=["expired_at", "updated_at"])
            facts = {
                "segments": len(segments),
                "bytes": freed,
                "retention_days": settings.RECORDING_RETENTION_DAYS,
            }
            audit_log(conference=conference, action="recording.expired", data=facts)
            logger.info("recording of %s deleted after retention: %s", conference.code, facts)
            done.append({"conference": str(conference.code), **facts})
    return done


def log_download(*, actor: Any, segment: RecordingSegment) -> None:
    audit_log(
        conference=segment.recording.conference,
        actor=actor,
        action="recording.download",
        data={"segment": segment.index, "file": Path(segment.file).name},
    )
