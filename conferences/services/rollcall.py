"""Roll call: the clerk or chair opens it, each invited site answers once with its headcount.

Contract: one open roll call per conference, only while it is scheduled or live; an answer comes
from the site's own operator (``source="site"``) or is recorded by the clerk/chair
(``source="clerk"``); a second answer for the same site in the same roll call is refused with
``duplicate_answer`` and changes nothing. Each answer also appends a "present" attendance entry.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import (
    AttendanceSource,
    AttendanceStatus,
    Conference,
    Invitation,
    RollCall,
    RollCallAnswer,
    Status,
)
from conferences.services.attendance import MAX_HEADCOUNT, _append, _lock

RUNNING = frozenset({Status.SCHEDULED, Status.LIVE})


def open_roll_call(conference: Conference) -> RollCall | None:
    return conference.roll_calls.filter(ended_at__isnull=True).order_by("-started_at").first()


@transaction.atomic
def rollcall_start(*, actor, conference: Conference) -> RollCall:
    conference = Conference.objects.select_for_update().get(pk=conference.pk)
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError()
    if conference.status not in RUNNING:
        raise ConferenceError(
            "not_running", _("Chỉ điểm danh khi hội nghị đã lên lịch hoặc đang diễn ra.")
        )
    if open_roll_call(conference) is not None:
        raise ConferenceError("roll_call_open", _("Đang có một lượt điểm danh chưa kết thúc."))
    roll_call = RollCall.objects.create(conference=conference, started_by=actor)
    audit_log(
        conference=conference,
        actor=actor,
        action="rollcall.start",
        data={"roll_call": roll_call.pk},
    )
    events.broadcast(
        conference,
        {
            "type": "roll_call_started",
            "roll_call": roll_call.pk,
            "started_at": roll_call.started_at.isoformat(),
        },
    )
    return roll_call


@transaction.atomic
def rollcall_answer(
    *,
    actor,
    roll_call: RollCall,
    invitation: Invitation,
    headcount: int,
    source: str,
    leader_name: str = "",
    leader_title: str = "",
) -> RollCallAnswer:
    roll_call = (
        RollCall.objects.select_for_update().select_related("conference").get(pk=roll_call.pk)
    )
    conference = roll_call.conference
    if invitation.conference_id != conference.pk:
        raise ConferenceError(
            "not_invited", _("Điểm cầu không được mời dự hội nghị này."), status=404
        )
    invitation = _lock(invitation)
    if source == AttendanceSource.SITE:
        allowed = perms.can_operate(actor, conference, invitation.site)
    elif source == AttendanceSource.CLERK:
        allowed = perms.can_chair(actor, conference)
    else:
        raise ConferenceError("bad_source", _("Nguồn trả lời điểm danh không hợp lệ."))
    if not allowed:
        raise PermissionDeniedError()
    if roll_call.ended_at is not None or conference.status not in RUNNING:
        raise ConferenceError("roll_call_closed", _("Lượt điểm danh đã kết thúc."))
    if headcount is None or not 1 <= headcount <= MAX_HEADCOUNT:
        raise ConferenceError(
            "bad_headcount", _("Số người dự phải từ 1 đến %(max)d.") % {"max": MAX_HEADCOUNT}
        )
    if roll_call.answers.filter(invitation=invitation).exists():
        raise ConferenceError("duplicate_answer", _("Điểm cầu này đã trả lời lượt điểm danh."))
    try:
        with transaction.atomic():
            answer = RollCallAnswer.objects.create(
                roll_call=roll_call,
                invitation=invitation,
                headcount=headcount,
                source=source,
                answered_by=actor,
            )
    except IntegrityError as exc:  # a concurrent answer won the race
        raise ConferenceError(
            "duplicate_answer", _("Điểm cầu này đã trả lời lượt điểm danh.")
        ) from exc
    audit_log(
        conference=conference,
        actor=actor,
        site=invitation.site,
        action="rollcall.answer",
        data={
            "roll_call": roll_call.pk,
            "site": invitation.site.key,
            "headcount": headcount,
            "source": source,
        },
    )
    _append(
        actor=actor,
        invitation=invitation,
        source=AttendanceSource.ROLL_CALL,
        status=AttendanceStatus.PRESENT,
        headcount=headcount,
        leader_name=leader_name.strip(),
        leader_title=leader_title.strip(),
    )
    events.broadcast(
        conference,
        {
            "type": "roll_call_answer",
            "roll_call": roll_call.pk,
            "started_at": roll_call.started_at.isoformat(),
            "site": str(invitation.site.code),
            "site_key": invitation.site.key,
            "headcount": headcount,
            "source": source,
        },
    )
    return answer


@transaction.atomic
def rollcall_end(*, actor, roll_call: RollCall, reason: str = "") -> RollCall:
    """Close the roll call; ``reason`` (e.g. ``conference_end``) goes in the audit entry."""
    roll_call = (
        RollCall.objects.select_for_update().select_related("conference").get(pk=roll_call.pk)
    )
    conference = roll_call.conference
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError()
    if roll_call.ended_at is not None:
        raise ConferenceError("roll_call_closed", _("Lượt điểm danh đã kết thúc."))
    roll_call.ended_at = timezone.now()
    roll_call.save(update_fields=["ended_at"])
    answered = roll_call.answers.count()
    invited = conference.invitations.count()
    data = {"roll_call": roll_call.pk, "answered": answered, "invited": invited}
    if reason:
        data["reason"] = reason
    audit_log(conference=conference, actor=actor, action="rollcall.end", data=data)
    events.broadcast(
        conference,
        {
            "type": "roll_call_ended",
            "roll_call": roll_call.pk,
            "answered": answered,
            "invited": invited,
        },
    )
    return roll_call
