"""Every live command: check → write + one audit entry → events and room sync on commit.

Contract: each command is keyword-only, runs in one transaction, locks the conference row
first (so every change of a conference is ordered, and its events' versions follow commit
order), checks permission once, writes the change and exactly ONE audit entry
(``conferences.audit``), queues its events (``conferences.events.broadcast``) and — when the
media room must enforce the change (floor, broadcast, mutes) — tells the room after commit
(``conferences.live.rooms.room_sync``). Nothing leaves when the transaction rolls back. The
socket, the HTTP views, tasks and the admin call these and nothing else. [zulip
``zerver/actions``: ``check_*`` then ``do_*`` with ``send_event_on_commit``]

Sites are referred to by their UUID ``code`` as a string: the participant id in the media room.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.live import notify
from conferences.live.lifecycle import conference_end, conference_start
from conferences.live.participants import Participant
from conferences.models import (
    AgendaItem,
    AttendanceSource,
    AttendanceStatus,
    Conference,
    LiveState,
    PresenceInterval,
    RollCall,
    RollCallAnswer,
    Status,
)
from conferences.services import rollcall
from portal.models import Site

logger = logging.getLogger(__name__)

__all__ = [
    "absent_call",
    "agenda_goto",
    "broadcast_set",
    "conference_end",
    "conference_start",
    "floor_clear",
    "floor_give",
    "hand_lower",
    "hand_raise",
    "mute_all",
    "mute_set",
    "rollcall_answer",
    "rollcall_end",
    "rollcall_start",
]

ABSENT = frozenset({AttendanceStatus.ABSENT, AttendanceStatus.ABSENT_EXCUSED})


# --- checks ----------------------------------------------------------------------------------


def _lock(conference: Conference) -> Conference:
    return (
        Conference.objects.select_for_update(of=("self",))
        .select_related("chair_site", "host_unit")
        .get(pk=conference.pk)
    )


def _state(conference: Conference) -> LiveState:
    LiveState.objects.get_or_create(conference=conference)
    return LiveState.objects.select_for_update().get(conference=conference)


def _require_chair(actor: Any, conference: Conference) -> None:
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError(_("Chỉ chủ trì mới được điều khiển hội nghị."))


def _require_site(participant: Participant) -> Site:
    if participant.site is None:
        raise PermissionDeniedError(_("Người theo dõi không thay mặt điểm cầu nào."))
    return participant.site


def _require_live(conference: Conference) -> None:
    if conference.status != Status.LIVE:
        raise ConferenceError("not_live", _("Hội nghị chưa diễn ra hoặc đã kết thúc."))


def _member_sites(conference: Conference) -> set[str]:
    codes = {str(c) for c in conference.invitations.values_list("site__code", flat=True)}
    if conference.chair_site is not None:
        codes.add(str(conference.chair_site.code))
    return codes


def _check_site(conference: Conference, site: str | None) -> str:
    if not isinstance(site, str) or site not in _member_sites(conference):
        raise ConferenceError("not_invited", _("Điểm cầu không tham dự hội nghị này."), status=404)
    return site


def _site(code: str | None) -> Site | None:
    return Site.objects.filter(code=code).first() if code else None


# --- writes ----------------------------------------------------------------------------------


def _room_sync_on_commit(conference: Conference) -> None:
    code = str(conference.code)

    def sync() -> None:
        from conferences.live import rooms

        rooms.room_sync(code)

    transaction.on_commit(sync, robust=True)


def _change(
    conference: Conference,
    state: LiveState,
    *,
    actor: Any,
    action: str,
    site: str | None = None,
    data: dict[str, Any] | None = None,
    room: bool = False,
    **fields: Any,
) -> LiveState:
    """Set ``fields`` on the live state, audit ``action`` once, queue one event per field."""
    for name, value in fields.items():
        setattr(state, name, value)
    if fields:
        state.save(update_fields=[*fields, "updated_at"])
    audit_log(conference=conference, actor=actor, action=action, site=_site(site), data=data)
    for name in fields:
        value = getattr(state, name)
        if name in ("floor", "broadcast"):
            value = value or None
        events.broadcast(conference, {"type": name, name: value})
    if room:
        _room_sync_on_commit(conference)
    return state


# --- chair controls --------------------------------------------------------------------------


@transaction.atomic
def floor_give(*, actor: Any, conference: Conference, site: str | None) -> LiveState:
    """Give ``site`` the floor (lowering its hand); ``site=None`` takes the floor back."""
    if site is None:
        return floor_clear(actor=actor, conference=conference)
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    site = _check_site(conference, site)
    state = _state(conference)
    fields: dict[str, Any] = {"floor": site}
    if site in state.hands:
        fields["hands"] = [s for s in state.hands if s != site]
    state = _change(
        conference, state, actor=actor, action="live.floor.give", site=site, room=True, **fields
    )
    _content_after_floor(conference, state, actor=actor)
    return state


@transaction.atomic
def floor_clear(*, actor: Any, conference: Conference) -> LiveState:
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    state = _state(conference)
    state = _change(
        conference,
        state,
        actor=actor,
        action="live.floor.clear",
        site=state.floor or None,
        room=True,
        floor="",
    )
    _content_after_floor(conference, state, actor=actor)
    return state


def _content_after_floor(conference: Conference, state: LiveState, *, actor: Any) -> None:
    from conferences.live import presenting  # presenting builds on these commands

    presenting.content_after_floor(conference, state, actor=actor)


@transaction.atomic
def broadcast_set(*, actor: Any, conference: Conference, site: str | None) -> LiveState:
    """Broadcast ``site`` (it takes the main slot over the floor); ``None`` stops it."""
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    if site is not None:
        site = _check_site(conference, site)
    state = _state(conference)
    return _change(
        conference,
        state,
        actor=actor,
        action="live.broadcast.set" if site else "live.broadcast.clear",
        site=site or state.broadcast or None,
        room=True,
        broadcast=site or "",
    )


@transaction.atomic
def mute_set(*, actor: Any, conference: Conference, site: str, muted: bool) -> LiveState:
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    site = _check_site(conference, site)
    state = _state(conference)
    new = [s for s in state.muted if s != site] + ([site] if muted else [])
    return _change(
        conference,
        state,
        actor=actor,
        action="live.mute.set" if muted else "live.mute.clear",
        site=site,
        data={"muted": muted},
        room=True,
        muted=new,
    )


@transaction.atomic
def mute_all(*, actor: Any, conference: Conference, muted: bool = True) -> LiveState:
    """Mute every site but the chair site (``muted=True``), or unmute every site."""
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    chair = str(conference.chair_site.code) if conference.chair_site else None
    new = sorted(s for s in _member_sites(conference) if s != chair) if muted else []
    return _change(
        conference,
        _state(conference),
        actor=actor,
        action="live.mute.all" if muted else "live.unmute.all",
        data={"muted": muted},
        room=True,
        muted=new,
    )


@transaction.atomic
def agenda_goto(*, actor: Any, conference: Conference, item: int | None) -> LiveState:
    conference = _lock(conference)
    _require_chair(actor, conference)
    agenda_item = None
    if item is not None:
        agenda_item = AgendaItem.objects.filter(conference=conference, pk=item).first()
        if agenda_item is None:
            raise ConferenceError(
                "not_found", _("Không có nội dung này trong chương trình."), status=404
            )
    state = _state(conference)
    now = timezone.now()
    if state.current_item_id and state.current_item_id != item:
        AgendaItem.objects.filter(pk=state.current_item_id, actual_end__isnull=True).update(
            actual_end=now
        )
    if agenda_item is not None and agenda_item.actual_start is None:
        agenda_item.actual_start = now
        agenda_item.save(update_fields=["actual_start"])
    state.current_item = agenda_item
    state.save(update_fields=["current_item", "updated_at"])
    audit_log(conference=conference, actor=actor, action="live.agenda.goto", data={"item": item})
    events.broadcast(conference, {"type": "agenda", "current_item": item})
    return state


# --- sites ------------------------------------------------------------------------------------


@transaction.atomic
def hand_raise(*, actor: Any, conference: Conference, participant: Participant) -> LiveState:
    site = _require_site(participant)
    conference = _lock(conference)
    _require_live(conference)
    if conference.chair_site_id == site.pk:
        raise ConferenceError("invalid", _("Điểm cầu chủ trì không cần giơ tay."))
    state = _state(conference)
    if participant.site_code in state.hands:
        return state
    return _change(
        conference,
        state,
        actor=actor,
        action="live.hand.raise",
        site=participant.site_code,
        hands=[*state.hands, participant.site_code],
    )


@transaction.atomic
def hand_lower(
    *, actor: Any, conference: Conference, participant: Participant, site: str | None = None
) -> LiveState:
    """Lower the participant's own hand, or (chair) any site's."""
    _require_site(participant)
    conference = _lock(conference)
    target = site or participant.site_code
    if target != participant.site_code:
        _require_chair(actor, conference)
    state = _state(conference)
    if target not in state.hands:
        return state
    return _change(
        conference,
        state,
        actor=actor,
        action="live.hand.lower",
        site=target,
        hands=[s for s in state.hands if s != target],
    )


# --- roll call (the roll-call service writes; these resolve the socket's participant) ---------


def rollcall_start(*, actor: Any, conference: Conference) -> RollCall:
    return rollcall.rollcall_start(actor=actor, conference=conference)


def rollcall_answer(
    *,
    actor: Any,
    conference: Conference,
    participant: Participant,
    headcount: Any,
    site: str | None = None,
) -> RollCallAnswer:
    """Answer the open roll call for the participant's site, or (chair) for ``site``."""
    _require_site(participant)
    if not isinstance(headcount, int) or isinstance(headcount, bool):
        raise ConferenceError("invalid", _("Số người dự phải là một số nguyên."))
    call = rollcall.open_roll_call(conference)
    if call is None:
        raise ConferenceError("roll_call_closed", _("Không có lượt điểm danh nào đang mở."))
    if site and site != participant.site_code:
        if not participant.chair:
            raise PermissionDeniedError(_("Chỉ chủ trì mới trả lời thay điểm cầu khác."))
        invitation = conference.invitations.filter(site__code=_check_site(conference, site)).first()
        source = AttendanceSource.CLERK
    else:
        invitation = participant.invitation
        source = (
            AttendanceSource.SITE
            if perms.can_operate(actor, conference, _require_site(participant))
            else AttendanceSource.CLERK
        )
    if invitation is None:
        raise ConferenceError(
            "not_invited", _("Điểm cầu không được mời dự hội nghị này."), status=404
        )
    return rollcall.rollcall_answer(
        actor=actor, roll_call=call, invitation=invitation, headcount=headcount, source=source
    )


def rollcall_end(*, actor: Any, conference: Conference) -> RollCall:
    call = rollcall.open_roll_call(conference)
    if call is None:
        _require_chair(actor, conference)
        raise ConferenceError("roll_call_closed", _("Không có lượt điểm danh nào đang mở."))
    return rollcall.rollcall_end(actor=actor, roll_call=call)


# --- calling absent sites ---------------------------------------------------------------------


@transaction.atomic
def absent_call(*, actor: Any, conference: Conference) -> list[str]:
    """E-mail the operators of invited sites that are not connected; their site keys.

    The mail leaves after commit on a worker (``conferences.live.notify``), never on the
    thread the sockets share: a slow mail server must not freeze every live page.
    """
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    connected = set(
        PresenceInterval.objects.filter(
            invitation__conference=conference, left_at__isnull=True
        ).values_list("invitation_id", flat=True)
    )
    absent = [
        inv
        for inv in conference.invitations.select_related("site").prefetch_related("site__operators")
        if inv.pk not in connected
        and inv.status not in ABSENT
        and inv.site_id != conference.chair_site_id
    ]
    recipients = {
        inv.pk: sorted({u.email for u in inv.site.operators.all() if u.email and u.is_active})
        for inv in absent
    }
    notified = [pk for pk, emails in recipients.items() if emails]
    sites = [inv.site.key for inv in absent]
    audit_log(
        conference=conference,
        actor=actor,
        action="live.absent.call",
        data={"sites": sites, "notified": len(notified)},
    )
    notify.absent_sites_later(conference_id=conference.pk, invitation_ids=notified)
    events.broadcast(
        conference,
        {
            "type": "absent.called",
            "sites": [str(inv.site.code) for inv in absent],
            "notified": len(notified),
        },
    )
    return sites
