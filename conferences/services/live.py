"""Live control of a conference: who joins as whom, the snapshot, and every chair/site command.

Contract (docs/protocol.md):
- ``participant_resolve`` decides the (user, site) a connection speaks for, or raises
  ``PermissionDeniedError``;
- ``live_snapshot`` is the one snapshot sent on connect; ``apply_event`` is the reference for
  applying later events to it (snapshot + events == a fresh snapshot);
- each command service checks permission once, changes state and writes an ``AuditEntry`` in
  one transaction, and broadcasts its event after commit (``conferences.events``);
- ``media_*`` services are called by the media room host (no actor): presence and published
  media of a site.

Sites are referred to by their UUID ``code`` as a string everywhere here: it is the
participant id in the media room.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.live import lifecycle
from conferences.models import (
    AgendaItem,
    AttendanceSource,
    AttendanceStatus,
    Conference,
    Invitation,
    LiveState,
    PresenceInterval,
    Status,
)
from conferences.services import attendance, rollcall
from portal import permissions as org
from portal.models import Site

logger = logging.getLogger(__name__)

ABSENT = frozenset({AttendanceStatus.ABSENT, AttendanceStatus.ABSENT_EXCUSED})


@dataclass(frozen=True)
class Participant:
    """Who a connection speaks for: a user, as a site."""

    user: Any
    site: Site
    invitation: Invitation | None
    chair: bool
    organiser: bool

    @property
    def site_code(self) -> str:
        return str(self.site.code)


# --- who joins as whom -----------------------------------------------------------------------


def participant_resolve(
    *, user, conference: Conference, site_code: str | None = None
) -> Participant:
    """The participant ``user`` is in ``conference`` (see docs/protocol.md §1)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDeniedError()
    organiser = perms.is_organiser(user, conference)
    chair = perms.can_chair(user, conference)
    invitations = conference.invitations.select_related("site", "unit")
    chair_site = conference.chair_site

    def as_site(site: Site, invitation: Invitation | None) -> Participant:
        return Participant(
            user=user, site=site, invitation=invitation, chair=chair, organiser=organiser
        )

    def chair_participant() -> Participant:
        if chair_site is None:
            raise PermissionDeniedError("Hội nghị chưa có điểm cầu chủ trì.")
        return as_site(chair_site, invitations.filter(site=chair_site).first())

    if site_code:
        invitation = invitations.filter(site__code=site_code).first()
        if invitation is not None and _speaks_for(user, conference, invitation):
            return as_site(invitation.site, invitation)
        if chair and chair_site is not None and str(chair_site.code) == str(site_code):
            return chair_participant()
        raise PermissionDeniedError("Bạn không tham dự với điểm cầu này.")
    if chair:
        return chair_participant()
    if organiser and not perms.operated_invitations(user, conference).exists():
        # A leader without chair rights must not take over the chair site's one connection
        # (that would cut the chair off mid-conference), nor silently speak for a site.
        raise PermissionDeniedError(
            "Lãnh đạo không có quyền chủ trì theo dõi hội nghị tại điểm cầu chủ trì "
            "hoặc một điểm cầu được mời; không thể kết nối thay điểm cầu chủ trì."
        )
    invitation = (
        perms.operated_invitations(user, conference)
        .select_related("site", "unit")
        .order_by("unit__path", "site__key")
        .first()
    )
    if invitation is None:
        invitation = (
            invitations.filter(org.units_q(user, perms.ALL_ROLES, prefix="unit__"))
            .order_by("unit__path", "site__key")
            .first()
        )
    if invitation is None:
        raise PermissionDeniedError("Bạn không được mời dự hội nghị này.")
    return as_site(invitation.site, invitation)


def _speaks_for(user, conference: Conference, invitation: Invitation) -> bool:
    return perms.can_operate(user, conference, invitation.site) or org.has_role_over(
        user, perms.ALL_ROLES, invitation.unit
    )


from conferences.live.selectors import (  # noqa: E402, F401 - re-exported while moving to conferences.live
    conference_data,
    live_snapshot,
    live_state,
    room_state,
)


def _locked_state(conference: Conference) -> LiveState:
    live_state(conference)
    return LiveState.objects.select_for_update().get(conference=conference)


def apply_event(snapshot: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Apply one event to a snapshot (a new dict); unknown event types change nothing."""
    snap = copy.deepcopy(snapshot)
    kind = event.get("type")
    site = snap["sites"].get(event.get("site") or "")
    if kind == "conference":
        snap["conference"] = event["conference"]
    elif kind == "agenda":
        snap["current_item"] = event["current_item"]
    elif kind in ("floor", "broadcast", "muted", "hands"):
        snap[kind] = event[kind]
    elif kind == "media" and site is not None:
        site["video"], site["audio"] = bool(event["video"]), bool(event["audio"])
    elif kind == "presence" and site is not None:
        site["connected"] = "joined_at" in event
    elif kind == "attendance" and site is not None:
        site["status"], site["headcount"] = event["status"], event["headcount"]
    elif kind == "roll_call_started":
        snap["rollcall"] = {
            "id": event["roll_call"],
            "started_at": event["started_at"],
            "answers": {},
        }
    elif kind == "roll_call_answer":
        if snap["rollcall"] and snap["rollcall"]["id"] == event["roll_call"]:
            snap["rollcall"]["answers"][event["site"]] = event["headcount"]
    elif kind == "roll_call_ended":
        if snap["rollcall"] and snap["rollcall"]["id"] == event["roll_call"]:
            snap["rollcall"] = None
    return snap


# --- commands --------------------------------------------------------------------------------


def _require_chair(actor, conference: Conference) -> None:
    if not perms.can_chair(actor, conference):
        raise PermissionDeniedError()


def _member_sites(conference: Conference) -> set[str]:
    codes = {str(c) for c in conference.invitations.values_list("site__code", flat=True)}
    if conference.chair_site_id:
        codes.add(str(conference.chair_site.code))
    return codes


def _check_site(
    conference: Conference, site: str | None, *, allow_none: bool = False
) -> str | None:
    if site is None and allow_none:
        return None
    if not isinstance(site, str) or site not in _member_sites(conference):
        raise ConferenceError("not_invited", "Điểm cầu không tham dự hội nghị này.", status=404)
    return site


def _lock_conference(conference: Conference) -> Conference:
    return (
        Conference.objects.select_for_update(of=("self",))
        .select_related("chair_site", "host_unit")
        .get(pk=conference.pk)
    )


def _require_live(conference: Conference) -> None:
    if conference.status != Status.LIVE:
        raise ConferenceError("not_live", "Hội nghị chưa diễn ra hoặc đã kết thúc.")


def _site_obj(code: str | None) -> Site | None:
    return Site.objects.filter(code=code).first() if code else None


def _set(
    conference: Conference,
    actor,
    action: str,
    data: dict[str, Any],
    site: str | None = None,
    **fields: Any,
) -> LiveState:
    state = _locked_state(conference)
    for name, value in fields.items():
        setattr(state, name, value)
    state.version += 1
    state.save()
    audit_log(
        conference=conference, actor=actor, action=f"live.{action}", site=_site_obj(site), data=data
    )
    for name in fields:
        value = getattr(state, name)
        if name in ("floor", "broadcast"):
            value = value or None
        events.broadcast(conference, {"type": name, name: value})
    return state


def live_start(*, actor, conference: Conference) -> Conference:
    return lifecycle.conference_start(actor=actor, conference=conference)


def live_end(*, actor, conference: Conference) -> Conference:
    return lifecycle.conference_end(actor=actor, conference=conference)


@transaction.atomic
def floor_give(*, actor, conference: Conference, site: str | None) -> LiveState:
    conference = _lock_conference(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    site = _check_site(conference, site, allow_none=True)
    state = live_state(conference)
    fields: dict[str, Any] = {"floor": site or ""}
    if site in state.hands:
        fields["hands"] = [s for s in state.hands if s != site]
    return _set(
        conference,
        actor,
        "floor.give" if site else "floor.clear",
        {},
        site=site or state.floor or None,
        **fields,
    )


@transaction.atomic
def broadcast_set(*, actor, conference: Conference, site: str | None) -> LiveState:
    conference = _lock_conference(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    site = _check_site(conference, site, allow_none=True)
    previous = live_state(conference).broadcast or None
    return _set(
        conference,
        actor,
        "broadcast.set" if site else "broadcast.clear",
        {},
        site=site or previous,
        broadcast=site or "",
    )


@transaction.atomic
def mute_set(*, actor, conference: Conference, site: str, muted: bool) -> LiveState:
    conference = _lock_conference(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    site = _check_site(conference, site)
    current = list(live_state(conference).muted)
    new = [s for s in current if s != site] + ([site] if muted else [])
    return _set(
        conference,
        actor,
        "mute.set" if muted else "mute.clear",
        {"muted": muted},
        site=site,
        muted=new,
    )


@transaction.atomic
def mute_all(*, actor, conference: Conference, muted: bool = True) -> LiveState:
    conference = _lock_conference(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    chair_code = str(conference.chair_site.code) if conference.chair_site_id else None
    new = sorted(s for s in _member_sites(conference) if s != chair_code) if muted else []
    return _set(
        conference, actor, "mute.all" if muted else "unmute.all", {"muted": muted}, muted=new
    )


@transaction.atomic
def agenda_goto(*, actor, conference: Conference, item: int | None) -> LiveState:
    conference = _lock_conference(conference)
    _require_chair(actor, conference)
    agenda_item = None
    if item is not None:
        agenda_item = AgendaItem.objects.filter(conference=conference, pk=item).first()
        if agenda_item is None:
            raise ConferenceError(
                "not_found", "Không có nội dung này trong chương trình.", status=404
            )
    state = _locked_state(conference)
    now = timezone.now()
    if state.current_item_id and state.current_item_id != item:
        AgendaItem.objects.filter(pk=state.current_item_id, actual_end__isnull=True).update(
            actual_end=now
        )
    if agenda_item is not None and agenda_item.actual_start is None:
        agenda_item.actual_start = now
        agenda_item.save(update_fields=["actual_start"])
    state.current_item = agenda_item
    state.save()
    audit_log(conference=conference, actor=actor, action="live.agenda.goto", data={"item": item})
    events.broadcast(conference, {"type": "agenda", "current_item": item})
    return state


@transaction.atomic
def hand_raise(*, actor, conference: Conference, participant: Participant) -> LiveState:
    conference = _lock_conference(conference)
    _require_live(conference)
    if conference.chair_site_id == participant.site.pk:
        raise ConferenceError("invalid", "Điểm cầu chủ trì không cần giơ tay.")
    state = live_state(conference)
    if participant.site_code in state.hands:
        return state
    return _set(
        conference,
        actor,
        "hand.raise",
        {},
        site=participant.site_code,
        hands=[*state.hands, participant.site_code],
    )


@transaction.atomic
def hand_lower(
    *, actor, conference: Conference, participant: Participant, site: str | None = None
) -> LiveState:
    conference = _lock_conference(conference)
    target = site or participant.site_code
    if target != participant.site_code:
        _require_chair(actor, conference)
    state = live_state(conference)
    if target not in state.hands:
        return state
    return _set(
        conference,
        actor,
        "hand.lower",
        {},
        site=target,
        hands=[s for s in state.hands if s != target],
    )


def rollcall_start(*, actor, conference: Conference):
    return rollcall.rollcall_start(actor=actor, conference=conference)


def rollcall_answer(
    *,
    actor,
    conference: Conference,
    participant: Participant,
    headcount: Any,
    site: str | None = None,
):
    if not isinstance(headcount, int) or isinstance(headcount, bool):
        raise ConferenceError("invalid", "Số người dự phải là một số nguyên.")
    call = rollcall.open_roll_call(conference)
    if call is None:
        raise ConferenceError("roll_call_closed", "Không có lượt điểm danh nào đang mở.")
    if site and site != participant.site_code:
        if not participant.chair:
            raise PermissionDeniedError()
        invitation = conference.invitations.filter(site__code=_check_site(conference, site)).first()
        source = AttendanceSource.CLERK
    else:
        invitation = participant.invitation
        source = (
            AttendanceSource.SITE
            if perms.can_operate(actor, conference, participant.site)
            else AttendanceSource.CLERK
        )
    if invitation is None:
        raise ConferenceError("not_invited", "Điểm cầu không được mời dự hội nghị này.", status=404)
    return rollcall.rollcall_answer(
        actor=actor, roll_call=call, invitation=invitation, headcount=headcount, source=source
    )


def rollcall_end(*, actor, conference: Conference):
    call = rollcall.open_roll_call(conference)
    if call is None:
        _require_chair(actor, conference)
        raise ConferenceError("roll_call_closed", "Không có lượt điểm danh nào đang mở.")
    return rollcall.rollcall_end(actor=actor, roll_call=call)


@transaction.atomic
def absent_call(*, actor, conference: Conference) -> list[str]:
    """E-mail the operators of invited sites that are not connected; returns their site keys."""
    conference = _lock_conference(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    open_ids = set(
        PresenceInterval.objects.filter(
            invitation__conference=conference, left_at__isnull=True
        ).values_list("invitation_id", flat=True)
    )
    absent = [
        inv
        for inv in conference.invitations.select_related("site").prefetch_related("site__operators")
        if inv.pk not in open_ids
        and inv.status not in ABSENT
        and inv.site_id != conference.chair_site_id
    ]
    messages = []
    for inv in absent:
        emails = sorted({u.email for u in inv.site.operators.all() if u.email and u.is_active})
        if emails:
            messages.append((inv.site.name, emails))
    sites = [inv.site.key for inv in absent]
    audit_log(
        conference=conference,
        actor=actor,
        action="live.absent.call",
        data={"sites": sites, "notified": len(messages)},
    )
    subject = f"[Giao ban] Điểm cầu chưa kết nối: {conference.title}"
    link = f"{settings.SITE_URL}/conferences/{conference.code}/"

    def send() -> None:
        for name, emails in messages:
            body = f"Hội nghị “{conference.title}” đang diễn ra; điểm cầu {name} chưa kết nối.\nVui lòng vào: {link}"
            send_mail(subject, body, None, emails, fail_silently=True)

    transaction.on_commit(send, robust=True)
    events.broadcast(
        conference,
        {
            "type": "absent.called",
            "sites": [str(inv.site.code) for inv in absent],
            "notified": len(messages),
        },
    )
    return sites


# --- from the media room ---------------------------------------------------------------------


def _invitation_for(conference: Conference, site_code: str) -> Invitation | None:
    return conference.invitations.filter(site__code=site_code).select_related("site").first()


def media_connected(*, conference: Conference, site_code: str) -> None:
    """A site's peer connection came up: open its presence interval (continues an open one)."""
    invitation = _invitation_for(conference, site_code)
    if invitation is None or invitation.presence.filter(left_at__isnull=True).exists():
        return
    try:
        attendance.presence_join(
            invitation=invitation, at=timezone.now(), source=AttendanceSource.MEDIA
        )
    except ConferenceError as exc:
        logger.info("presence join of %s ignored: %s", site_code, exc.code)


def media_left(*, conference: Conference, site_code: str) -> None:
    invitation = _invitation_for(conference, site_code)
    if invitation is None or not invitation.presence.filter(left_at__isnull=True).exists():
        return
    try:
        attendance.presence_leave(
            invitation=invitation, at=timezone.now(), source=AttendanceSource.MEDIA
        )
    except ConferenceError as exc:
        logger.info("presence leave of %s ignored: %s", site_code, exc.code)
    with transaction.atomic():
        state = _locked_state(conference)
        if state.media.pop(site_code, None) is not None:
            state.save(update_fields=["media", "updated_at"])
            events.broadcast(
                conference, {"type": "media", "site": site_code, "video": False, "audio": False}
            )


@transaction.atomic
def media_published(*, conference: Conference, site_code: str, video: bool, audio: bool) -> None:
    state = _locked_state(conference)
    state.media[site_code] = {"video": bool(video), "audio": bool(audio)}
    state.save(update_fields=["media", "updated_at"])
    events.broadcast(
        conference, {"type": "media", "site": site_code, "video": bool(video), "audio": bool(audio)}
    )
