"""Attendance of invited sites: an append-only log, the join/leave log, and their audit trail.

Contract:
- ``attendance_record`` appends an ``AttendanceEntry`` and refreshes the denormalised fields of
  the invitation; ``attendance_correct`` appends a correction (``corrects`` + a required reason).
  Nothing is ever updated in place or deleted.
- The invitation shows the *effective* log: every original entry takes the value of its newest
  correction, in the place of the original, and the last one wins. Correcting an old entry
  therefore fixes history without overriding what happened later.
- ``presence_join``/``presence_leave`` write ``PresenceInterval`` rows: called without an actor by
  the live media code, or by a clerk from the attendance page.
Every change writes an ``AuditEntry`` and broadcasts an event after commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import (
    AttendanceEntry,
    AttendanceSource,
    AttendanceStatus,
    Conference,
    Invitation,
    PresenceInterval,
    Status,
)
from conferences.services import history

ABSENT = frozenset({AttendanceStatus.ABSENT, AttendanceStatus.ABSENT_EXCUSED})
# What a site's own operator may report about itself; the rest is the clerk's call.
SITE_STATUSES = frozenset(
    {AttendanceStatus.CONFIRMED, AttendanceStatus.READY, AttendanceStatus.PRESENT}
)
OPEN_STATUSES = frozenset({Status.SCHEDULED, Status.LIVE, Status.ENDED})
MAX_HEADCOUNT = 10_000
# Whether a site took part is recorded by hand (clerk or site) only once the conference has
# started; an excused absence may be announced before it.
ATTENDED = frozenset(
    {AttendanceStatus.PRESENT, AttendanceStatus.CONNECTED, AttendanceStatus.ABSENT}
)
# Order of the statuses a site goes through before it is counted; a join never moves a site back.
PROGRESS = [
    AttendanceStatus.INVITED,
    AttendanceStatus.CONFIRMED,
    AttendanceStatus.READY,
    AttendanceStatus.CONNECTED,
]


def has_started(conference: Conference, now: dt.datetime | None = None) -> bool:
    """Live or ended, or its planned start has passed (a meeting nobody started in the portal)."""
    if conference.status in (Status.LIVE, Status.ENDED) or conference.actual_start is not None:
        return True
    return conference.planned_start <= (now or timezone.now())


def check_started(conference: Conference, status: str) -> None:
    if status in ATTENDED and not has_started(conference):
        raise ConferenceError(
            "not_started",
            _(
                "Hội nghị chưa bắt đầu: chưa ghi được có mặt hoặc vắng (trước giờ họp chỉ ghi được "
                "“vắng có lý do”)."
            ),
        )


def _lock(invitation: Invitation) -> Invitation:
    """Re-read the invitation under a row lock so concurrent writers append in order."""
    # Lock the invitation and its conference (ordered with the conference's end, so the history
    # mark sees the final status) but not the unit and site rows everybody else references.
    return (
        Invitation.objects.select_for_update(of=("self", "conference"))
        .select_related("conference", "site", "unit")
        .get(pk=invitation.pk)
    )


def _check_values(*, status: str, headcount: int | None, absence_reason: str) -> None:
    if status not in AttendanceStatus.values:
        raise ConferenceError("bad_status", _("Trạng thái điểm danh không hợp lệ."))
    if headcount is not None and not 0 <= headcount <= MAX_HEADCOUNT:
        raise ConferenceError(
            "bad_headcount", _("Số người dự phải từ 0 đến %(max)d.") % {"max": MAX_HEADCOUNT}
        )
    if status in ABSENT and headcount:
        raise ConferenceError("headcount_for_absent", _("Điểm cầu vắng không thể có số người dự."))
    if status == AttendanceStatus.ABSENT_EXCUSED and not absence_reason.strip():
        raise ConferenceError("reason_required", _("Cần ghi lý do vắng."))


def _may_record(actor, invitation: Invitation, status: str, source: str) -> bool:
    conference = invitation.conference
    if source == AttendanceSource.MEDIA:
        return actor is None or perms.can_chair(actor, conference)
    if actor is None:
        return False
    if perms.can_manage(actor, conference):
        return True
    if source == AttendanceSource.ROLL_CALL:
        return perms.can_chair(actor, conference) or perms.can_operate(
            actor, conference, invitation.site
        )
    if source == AttendanceSource.SITE:
        return status in SITE_STATUSES and perms.can_operate(actor, conference, invitation.site)
    return False


def effective_entries(
    invitation: Invitation, entries: list[AttendanceEntry] | None = None
) -> list[AttendanceEntry]:
    """The log as it stands after corrections: one entry per original, in the original's place."""
    entries = list(invitation.entries.order_by("recorded_at", "id")) if entries is None else entries
    by_id = {e.pk: e for e in entries}

    def root(entry: AttendanceEntry) -> int:
        while entry.corrects_id is not None and entry.corrects_id in by_id:
            entry = by_id[entry.corrects_id]
        return entry.pk

    latest: dict[int, AttendanceEntry] = {}
    for entry in entries:  # ordered oldest first, so the newest correction wins
        latest[root(entry)] = entry
    return [latest[e.pk] for e in entries if e.corrects_id is None]


def _refresh(invitation: Invitation) -> None:
    """Set the invitation's denormalised fields from the effective log."""
    log = effective_entries(invitation)
    fields = {
        "status": AttendanceStatus.INVITED,
        "headcount": None,
        "leader_name": "",
        "leader_title": "",
        "absence_reason": "",
    }
    for entry in log:
        fields["status"] = entry.status
        if entry.status in ABSENT:
            fields.update(
                headcount=None, leader_name="", leader_title="", absence_reason=entry.absence_reason
            )
            continue
        fields["absence_reason"] = ""
        if entry.headcount is not None:
            fields["headcount"] = entry.headcount
        if entry.leader_name:
            fields["leader_name"] = entry.leader_name
            fields["leader_title"] = entry.leader_title
    for name, value in fields.items():
        setattr(invitation, name, value)
    invitation.save(update_fields=list(fields))
    history.history_mark_dirty(conference=invitation.conference)


def _event(invitation: Invitation, entry: AttendanceEntry) -> dict[str, Any]:
    return {
        "type": "attendance",
        "site": str(invitation.site.code),
        "site_key": invitation.site.key,
        "status": invitation.status,
        "headcount": invitation.headcount,
        "leader_name": invitation.leader_name,
        "leader_title": invitation.leader_title,
        "entry": entry.pk,
        "source": entry.source,
    }


def _append(
    *,
    actor,
    invitation: Invitation,
    source: str,
    note: str = "",
    corrects: AttendanceEntry | None = None,
    **values: Any,
) -> AttendanceEntry:
    entry = AttendanceEntry.objects.create(
        invitation=invitation,
        source=source,
        note=note,
        corrects=corrects,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
        **values,
    )
    _refresh(invitation)
    audit_log(
        conference=invitation.conference,
        actor=actor,
        site=invitation.site,
        action="attendance.correct" if corrects else "attendance.record",
        data={
            "site": invitation.site.key,
            "entry": entry.pk,
            "status": entry.status,
            "headcount": entry.headcount,
            "source": source,
            **({"corrects": corrects.pk, "reason": note} if corrects else {}),
        },
    )
    events.broadcast(invitation.conference, _event(invitation, entry))
    return entry


@transaction.atomic
def attendance_record(
    *,
    actor,
    invitation: Invitation,
    status: str,
    headcount: int | None = None,
    leader_name: str = "",
    leader_title: str = "",
    absence_reason: str = "",
    source: str,
) -> AttendanceEntry:
    invitation = _lock(invitation)
    if source not in AttendanceSource.values or source == AttendanceSource.CORRECTION:
        raise ConferenceError("bad_source", _("Nguồn ghi nhận không hợp lệ."))
    if not _may_record(actor, invitation, status, source):
        raise PermissionDeniedError()
    if invitation.conference.status not in OPEN_STATUSES:
        raise ConferenceError(
            "conference_closed", _("Hội nghị chưa lên lịch hoặc đã hủy: không ghi nhận điểm danh.")
        )
    _check_values(status=status, headcount=headcount, absence_reason=absence_reason)
    if source in (AttendanceSource.CLERK, AttendanceSource.SITE):
        check_started(invitation.conference, status)
    # Keep the readiness board true when the clerk records on a site's behalf.
    stamps = []
    if (
        status in {AttendanceStatus.CONFIRMED, AttendanceStatus.READY}
        and invitation.confirmed_at is None
    ):
        invitation.confirmed_at = timezone.now()
        stamps.append("confirmed_at")
    if status == AttendanceStatus.READY and invitation.ready_at is None:
        invitation.ready_at, invitation.ready_by = (
            timezone.now(),
            actor if getattr(actor, "is_authenticated", False) else None,
        )
        stamps += ["ready_at", "ready_by"]
    if stamps:
        invitation.save(update_fields=stamps)
    return _append(
        actor=actor,
        invitation=invitation,
        source=source,
        status=status,
        headcount=headcount,
        leader_name=leader_name.strip(),
        leader_title=leader_title.strip(),
        absence_reason=absence_reason.strip() if status in ABSENT else "",
    )


_KEEP: Any = object()


@transaction.atomic
def attendance_correct(
    *,
    actor,
    entry: AttendanceEntry,
    reason: str,
    status: str | None = None,
    headcount: int | Any | None = _KEEP,
    leader_name: str | None = None,
    leader_title: str | None = None,
    absence_reason: str | None = None,
) -> AttendanceEntry:
    """Append a correction of ``entry``; values not given are kept from it. Clerks only."""
    invitation = _lock(entry.invitation)
    entry = AttendanceEntry.objects.get(pk=entry.pk)
    if not perms.can_manage(actor, invitation.conference):
        raise PermissionDeniedError()
    if invitation.conference.status == Status.CANCELLED:
        raise ConferenceError("conference_closed", _("Hội nghị đã hủy."))
    if not (reason or "").strip():
        raise ConferenceError("reason_required", _("Cần ghi lý do đính chính."))
    values = {
        "status": status or entry.status,
        "headcount": entry.headcount if headcount is _KEEP else headcount,
        "leader_name": (entry.leader_name if leader_name is None else leader_name).strip(),
        "leader_title": (entry.leader_title if leader_title is None else leader_title).strip(),
        "absence_reason": (
            entry.absence_reason if absence_reason is None else absence_reason
        ).strip(),
    }
    if values["status"] in ABSENT:
        values["headcount"] = None if headcount is _KEEP else values["headcount"]
    else:
        values["absence_reason"] = ""
    _check_values(
        status=values["status"],
        headcount=values["headcount"],
        absence_reason=values["absence_reason"],
    )
    return _append(
        actor=actor,
        invitation=invitation,
        source=AttendanceSource.CORRECTION,
        note=reason.strip()[:300],
        corrects=entry,
        **values,
    )


# --- join/leave log ---------------------------------------------------------------------------


def _may_log_presence(actor, invitation: Invitation) -> None:
    if actor is not None and not perms.can_manage(actor, invitation.conference):
        raise PermissionDeniedError()
    if invitation.conference.status not in {Status.LIVE, Status.ENDED, Status.SCHEDULED}:
        raise ConferenceError("conference_closed", _("Hội nghị chưa lên lịch hoặc đã hủy."))


@transaction.atomic
def presence_join(
    *, invitation: Invitation, at: dt.datetime, source: str, actor=None
) -> PresenceInterval:
    """Open a connection interval of the site at ``at``; a site has at most one open interval.

    The live media code calls this without ``actor``; a clerk recording by hand passes himself.
    The first join also moves the site to "connected" unless it is already further along.
    """
    invitation = _lock(invitation)
    _may_log_presence(actor, invitation)
    if invitation.presence.filter(left_at__isnull=True).exists():
        raise ConferenceError("already_joined", _("Điểm cầu đang kết nối: cần ghi giờ rời trước."))
    if invitation.presence.filter(joined_at__lte=at, left_at__gt=at).exists():
        raise ConferenceError("presence_overlap", _("Giờ vào trùng với một lần kết nối đã ghi."))
    interval = PresenceInterval.objects.create(
        invitation=invitation,
        joined_at=at,
        source=source,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if invitation.first_joined_at is None or at < invitation.first_joined_at:
        invitation.first_joined_at = at
        invitation.save(update_fields=["first_joined_at"])
        history.history_mark_dirty(conference=invitation.conference)
    audit_log(
        conference=invitation.conference,
        actor=actor,
        site=invitation.site,
        action="presence.join",
        data={"site": invitation.site.key, "at": at.isoformat(), "source": source},
    )
    events.broadcast(
        invitation.conference,
        {"type": "presence", "site": str(invitation.site.code), "joined_at": at.isoformat()},
    )
    if invitation.status in PROGRESS:
        _append(
            actor=actor, invitation=invitation, source=source, status=AttendanceStatus.CONNECTED
        )
    return interval


@transaction.atomic
def presence_leave(
    *, invitation: Invitation, at: dt.datetime, source: str, actor=None
) -> PresenceInterval:
    """Close the site's open interval at ``at`` (not before it opened)."""
    invitation = _lock(invitation)
    _may_log_presence(actor, invitation)
    interval = invitation.presence.filter(left_at__isnull=True).order_by("-joined_at").first()
    if interval is None:
        raise ConferenceError("not_joined", _("Điểm cầu chưa kết nối: không thể ghi giờ rời."))
    if at < interval.joined_at:
        raise ConferenceError("leave_before_join", _("Giờ rời phải sau giờ vào."))
    if invitation.presence.filter(joined_at__gt=interval.joined_at, joined_at__lt=at).exists():
        raise ConferenceError("presence_overlap", _("Giờ rời trùng với một lần kết nối đã ghi."))
    interval.left_at = at
    interval.save(update_fields=["left_at"])
    audit_log(
        conference=invitation.conference,
        actor=actor,
        site=invitation.site,
        action="presence.leave",
        data={"site": invitation.site.key, "at": at.isoformat(), "source": source},
    )
    events.broadcast(
        invitation.conference,
        {"type": "presence", "site": str(invitation.site.code), "left_at": at.isoformat()},
    )
    return interval


@transaction.atomic
def presence_record(
    *, actor, invitation: Invitation, joined_at: dt.datetime, left_at: dt.datetime | None = None
) -> PresenceInterval:
    """A clerk writes one connection by hand (join, and leave if known) — all or nothing."""
    if left_at is not None and left_at < joined_at:
        raise ConferenceError("leave_before_join", _("Giờ rời phải sau giờ vào."))
    if (
        left_at is not None
        and invitation.presence.filter(joined_at__lt=left_at, joined_at__gt=joined_at).exists()
    ):
        raise ConferenceError(
            "presence_overlap", _("Khoảng thời gian trùng với một lần kết nối đã ghi.")
        )
    interval = presence_join(
        invitation=invitation, at=joined_at, source=AttendanceSource.CLERK, actor=actor
    )
    if left_at is not None:
        interval = presence_leave(
            invitation=invitation, at=left_at, source=AttendanceSource.CLERK, actor=actor
        )
    return interval


# --- reads ------------------------------------------------------------------------------------


@dataclass
class SiteAttendance:
    invitation: Invitation
    entries: list[AttendanceEntry]
    intervals: list[PresenceInterval]

    @property
    def connected_seconds(self) -> int:
        now = timezone.now()
        return sum(int(((i.left_at or now) - i.joined_at).total_seconds()) for i in self.intervals)

    @property
    def connected_minutes(self) -> int:
        return round(self.connected_seconds / 60)


def attendance_rows(conference: Conference) -> list[SiteAttendance]:
    """Every invited site with its full log and join/leave intervals, in tree order (3 queries)."""
    invitations = list(
        conference.invitations.select_related("site", "unit", "ready_by").order_by(
            "unit__path", "site__key"
        )
    )
    entries: dict[int, list[AttendanceEntry]] = {i.pk: [] for i in invitations}
    for e in (
        AttendanceEntry.objects.filter(invitation__conference=conference)
        .select_related("recorded_by")
        .order_by("recorded_at", "id")
    ):
        entries[e.invitation_id].append(e)
    intervals: dict[int, list[PresenceInterval]] = {i.pk: [] for i in invitations}
    for p in PresenceInterval.objects.filter(invitation__conference=conference).order_by(
        "joined_at", "id"
    ):
        intervals[p.invitation_id].append(p)
    return [SiteAttendance(i, entries[i.pk], intervals[i.pk]) for i in invitations]


def attendance_counts(conference: Conference) -> dict[str, int]:
    counts = {s: 0 for s in AttendanceStatus.values}
    total_heads = 0
    for status, headcount in conference.invitations.values_list("status", "headcount"):
        counts[status] += 1
        total_heads += headcount or 0
    counts["total"] = sum(counts[s] for s in AttendanceStatus.values)
    counts["headcount"] = total_heads
    return counts
