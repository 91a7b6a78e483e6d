"""The only path from scheduled to live and from live to ended.

Contract: ``conference_start`` / ``conference_end`` lock the conference, check the chair's right
once, change the status, write ONE audit entry (``live.start`` / ``live.end``) and send the
``conference`` event after commit. Ending also closes every open presence interval at the end
time (durations stop growing), closes an open roll call (``rollcall.end`` with
``reason: conference_end``, and its ``roll_call_ended`` event) and, after commit, closes the
media room. The overview page, the
socket, the admin and ``scheduling.conference_transition`` all come here, so a conference ends
the same way whichever of them asks.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AttendanceSource, Conference, LiveState, PresenceInterval, Status
from conferences.services import attendance, history, rollcall

STARTABLE = frozenset({Status.SCHEDULED})
ENDABLE = frozenset({Status.SCHEDULED, Status.LIVE})


def _lock(conference: Conference) -> Conference:
    return (
        Conference.objects.select_for_update(of=("self",))
        .select_related("chair_site", "host_unit")
        .get(pk=conference.pk)
    )


def _refuse(conference: Conference, to: str) -> ConferenceError:
    return ConferenceError(
        "bad_transition",
        _("Không thể chuyển hội nghị từ “%(from)s” sang “%(to)s”.")
        % {"from": Status(conference.status).label, "to": Status(to).label},
    )


def _conference_event(conference: Conference) -> dict[str, Any]:
    from conferences.live.selectors import conference_data

    return {"type": "conference", "conference": conference_data(conference)}


def _after_commit(fn_name: str, code: str) -> None:
    def run() -> None:
        from conferences.live import rooms

        getattr(rooms, fn_name)(code)

    transaction.on_commit(run, robust=True)


@transaction.atomic
def conference_start(*, actor: Any, conference: Conference) -> Conference:
    conference = _lock(conference)
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError(_("Chỉ chủ trì mới được bắt đầu hội nghị."))
    if conference.status not in STARTABLE:
        raise _refuse(conference, Status.LIVE)
    conference.status = Status.LIVE
    conference.actual_start = conference.actual_start or timezone.now()
    conference.save()
    LiveState.objects.get_or_create(conference=conference)
    audit_log(conference=conference, actor=actor, action="live.start")
    events.broadcast(conference, _conference_event(conference))
    _after_commit("room_ensure", str(conference.code))
    return conference


def close_presence(conference: Conference, at: Any) -> int:
    """Close every open presence interval of the conference at ``at`` (not before it opened)."""
    closed = 0
    for interval in PresenceInterval.objects.filter(
        invitation__conference=conference, left_at__isnull=True
    ).select_related("invitation"):
        attendance.presence_leave(
            invitation=interval.invitation,
            at=max(at, interval.joined_at),
            source=AttendanceSource.MEDIA,
        )
        closed += 1
    return closed


@transaction.atomic
def conference_end(*, actor: Any, conference: Conference) -> Conference:
    conference = _lock(conference)
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError(_("Chỉ chủ trì mới được kết thúc hội nghị."))
    if conference.status not in ENDABLE:
        raise _refuse(conference, Status.ENDED)
    was_live = conference.status == Status.LIVE
    now = timezone.now()
    conference.status = Status.ENDED
    conference.actual_end = now
    conference.save()
    history.history_mark_dirty(conference=conference)
    close_presence(conference, now)
    open_call = rollcall.open_roll_call(conference)
    if open_call is not None:  # nobody can answer it any more
        rollcall.rollcall_end(actor=actor, roll_call=open_call, reason="conference_end")
    from conferences.live.presenting import content_drop  # presenting builds on lifecycle

    state = LiveState.objects.filter(conference=conference).first()
    if state is not None and state.content:
        content_drop(conference=conference, site_code=state.content.get("site"), reason="end")
    audit_log(conference=conference, actor=actor, action="live.end")
    events.broadcast(conference, _conference_event(conference))
    if was_live:
        _after_commit("room_close", str(conference.code))
    return conference
