"""Who may watch or download a recording, and its chapters.

- Watch: the conference's organisers over the host unit — its managers (admin/clerk) and the
  chairs and leaders whose subtree holds the host unit. Download: managers only (audited). An
  invited site's operator, a leader of another subtree or an anonymous visitor sees nothing
  (404: a code does not reveal that a recording exists).
- Chapters come from what actually happened: each agenda item's actual start, each floor or
  broadcast given (the audit log), placed on the recording's timeline — segment and offset —
  by the segments' wall-clock start and end. A moment in a pause jumps to the next segment.
  The history page's timeline ("Nhật ký") links the same moments to the player
  (``link_timeline``), for those who may watch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from conferences import permissions as perms
from conferences.models import AuditEntry, Conference
from recordings.models import RecordingSegment, SegmentState

CHAPTER_ACTIONS = ("live.floor.give", "live.broadcast.set")
# Timeline rows linked to the player: agenda items and changes of who is seen and heard.
LINKED_ACTIONS = frozenset(
    {
        "live.start",
        "live.agenda.goto",
        "live.floor.give",
        "live.floor.clear",
        "live.broadcast.set",
        "live.broadcast.clear",
        "live.presenter.grant",
        "live.presenter.floor",
        "live.content.start",
    }
)


def can_watch(user: Any, conference: Conference) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and perms.is_organiser(user, conference)


def can_download(user: Any, conference: Conference) -> bool:
    return can_watch(user, conference) and perms.can_manage(user, conference)


def playable_segments(conference: Conference) -> list[RecordingSegment]:
    return list(
        RecordingSegment.objects.filter(
            recording__conference=conference, state=SegmentState.COMPLETE
        ).order_by("started_at", "index")
    )


@dataclass(frozen=True)
class Chapter:
    at: dt.datetime
    kind: str  # "agenda" | "floor" | "broadcast"
    title: str
    segment: int  # position in the playable list
    offset: float  # seconds into that segment


def locate(segments: list[RecordingSegment], at: dt.datetime) -> tuple[int, float] | None:
    """(position, seconds) of wall-clock ``at`` in the recording; None if after its end."""
    for i, seg in enumerate(segments):
        end = seg.ended_at or seg.started_at + dt.timedelta(milliseconds=seg.duration_ms)
        if at < seg.started_at:
            return i, 0.0  # in a pause (or before the start): where recording went on
        if at < end:
            return i, max(0.0, (at - seg.started_at).total_seconds())
    return None


def link_timeline(user: Any, conference: Conference, rows: list[Any]) -> list[Any]:
    """The history page's timeline rows, each agenda item and floor/broadcast/presenter change
    linked to the player at that moment (``row.recording = "#rec=<part>:<seconds>"``) — for
    those who may watch only; anyone else gets the rows as they were."""
    if not can_watch(user, conference):
        return rows
    segments = playable_segments(conference)
    if not segments:
        return rows
    out = []
    for row in rows:
        where = locate(segments, row.at) if row.action in LINKED_ACTIONS else None
        out.append(
            dataclasses.replace(row, recording=f"#rec={where[0]}:{where[1]:.0f}") if where else row
        )
    return out


def recording_link(conference: Conference, at: dt.datetime | None) -> str:
    """The history page's player at wall-clock ``at`` (``#rec=<part>:<seconds>``), or ""."""
    if at is None:
        return ""
    where = locate(playable_segments(conference), at)
    if where is None:
        return ""
    path = reverse("history_conference", args=[conference.code])
    return f"{settings.SITE_URL}{path}#rec={where[0]}:{where[1]:.0f}"


def chapters(conference: Conference, segments: list[RecordingSegment]) -> list[Chapter]:
    if not segments:
        return []
    moments: list[tuple[dt.datetime, str, str]] = []
    for item in conference.agenda_items.all():
        if item.actual_start is not None:
            moments.append((item.actual_start, "agenda", f"{item.position}. {item.title}"))
    entries = AuditEntry.objects.filter(
        conference=conference, action__in=CHAPTER_ACTIONS
    ).select_related("site")
    for entry in entries:
        name = entry.site.name if entry.site is not None else ""
        if not name:
            continue
        kind = "floor" if entry.action == "live.floor.give" else "broadcast"
        moments.append((entry.at, kind, name))
    out = []
    for at, kind, title in sorted(moments, key=lambda m: m[0]):
        where = locate(segments, at)
        if where is not None:
            out.append(Chapter(at, kind, title, where[0], round(where[1], 1)))
    return out
