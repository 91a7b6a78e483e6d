"""Reads of the live conference: the snapshot sent on connect and the state a room enforces.

Contract (docs/protocol.md §2): ``live_snapshot`` is the one snapshot a connection gets;
``conferences.live.reducer.apply_event`` applied to it with every later event gives what a
fresh ``live_snapshot`` returns. ``room_state`` is what a media room must enforce (floor,
broadcast, chair, mutes), also used to restore a room after a takeover.
"""

from __future__ import annotations

from typing import Any

from conferences.live.chat import chat_rights, chat_snapshot
from conferences.models import AttendanceStatus, Conference, Invitation, LiveState, PresenceInterval
from conferences.services import rollcall
from portal.models import Site

# --- snapshot --------------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def conference_data(conference: Conference) -> dict[str, Any]:
    return {
        "code": str(conference.code),
        "title": conference.title,
        "status": conference.status,
        "chair_name": conference.chair_name,
        "chair_site": str(conference.chair_site.code) if conference.chair_site else None,
        "planned_start": _iso(conference.planned_start),
        "planned_end": _iso(conference.planned_end),
        "actual_start": _iso(conference.actual_start),
        "actual_end": _iso(conference.actual_end),
    }


def live_state(conference: Conference) -> LiveState:
    state, _ = LiveState.objects.get_or_create(conference=conference)
    return state


def live_snapshot(*, conference: Conference, participant: Any = None) -> dict[str, Any]:
    """The snapshot at ``version``: read the version (with the rest of ``LiveState``) FIRST, so
    every change at or below it is already committed and seen by the reads that follow; a
    change committed meanwhile has a higher version and its event is applied on top."""
    state = live_state(conference)
    conference = Conference.objects.select_related("chair_site").get(pk=conference.pk)
    invitations = list(
        conference.invitations.select_related("site", "unit").order_by("unit__path", "site__key")
    )
    connected: set[str] = set(
        str(code)
        for code in PresenceInterval.objects.filter(
            invitation__conference=conference, left_at__isnull=True
        ).values_list("invitation__site__code", flat=True)
    )
    sites: dict[str, dict[str, Any]] = {}
    order: list[str] = []

    def row(site: Site, unit_name: str, invitation: Invitation | None, is_chair: bool) -> None:
        code = str(site.code)
        media = state.media.get(code, {})
        sites[code] = {
            "key": site.key,
            "name": site.name,
            "unit": unit_name,
            "chair": is_chair,
            "status": invitation.status if invitation else AttendanceStatus.INVITED.value,
            "headcount": invitation.headcount if invitation else None,
            "connected": code in connected,
            "video": bool(media.get("video")),
            "audio": bool(media.get("audio")),
        }
        order.append(code)

    chair_site = conference.chair_site
    if chair_site is not None and not any(i.site_id == chair_site.pk for i in invitations):
        row(chair_site, chair_site.unit.name, None, True)
    for inv in invitations:
        row(inv.site, inv.unit.name, inv, inv.site_id == conference.chair_site_id)
    open_call = rollcall.open_roll_call(conference)
    snapshot = {
        "type": "snapshot",
        "version": state.version,
        "conference": conference_data(conference),
        "agenda": [
            {
                "id": item.pk,
                "position": item.position,
                "title": item.title,
                "presenter_name": item.presenter_name,
                "presenter_site": str(item.presenter_site.code) if item.presenter_site else None,
                "planned_minutes": item.planned_minutes,
            }
            for item in conference.agenda_items.select_related("presenter_site")
        ],
        "current_item": state.current_item_id,
        "sites": sites,
        "site_order": order,
        "floor": state.floor or None,
        "broadcast": state.broadcast or None,
        "muted": list(state.muted),
        "hands": list(state.hands),
        "recording": _recording_status(conference),
        "chat": chat_snapshot(
            conference=conference, participant=participant, enabled=state.chat_enabled
        ),
        "rollcall": None,
        "observers": len(state.watching or {}),
        "presenter": state.presenter or None,
        "floor_may_present": bool(state.floor_may_present),
        "content": state.content or None,
    }
    if open_call is not None:
        snapshot["rollcall"] = {
            "id": open_call.pk,
            "started_at": _iso(open_call.started_at),
            "answers": {
                str(a.invitation.site.code): a.headcount
                for a in open_call.answers.select_related("invitation__site")
            },
        }
    if participant is not None:
        snapshot["me"] = {
            "user": participant.user.get_username(),
            "name": participant.user.get_full_name() or participant.user.get_username(),
            "site": None if participant.observer else participant.site_code,
            "site_name": participant.site.name if participant.site is not None else "",
            "chair": participant.chair,
            "organiser": participant.organiser,
            "role": participant.role,
            "chat": chat_rights(participant, conference),
        }
    return snapshot


def _recording_now(conference: Conference) -> bool:
    from recordings.services import recording_now  # recordings builds on conferences

    return recording_now(conference)


def _recording_status(conference: Conference) -> str:
    from recordings.services import recording_status

    return recording_status(conference)


def room_state(conference: Conference) -> dict[str, Any]:
    """What the media room must enforce, from the database (also used to restore a room)."""
    conference = Conference.objects.select_related("chair_site").get(pk=conference.pk)
    state = live_state(conference)
    return {
        "type": "state",
        "version": state.version,
        "floor": state.floor or None,
        "broadcast": state.broadcast or None,
        "chair": str(conference.chair_site.code) if conference.chair_site else None,
        "muted": list(state.muted),
        "record": _recording_now(conference),
        # whose content m-line the room forwards: the site showing its screen, nobody else's
        "content": (
            state.content.get("site")
            if state.content and state.content.get("kind") == "screen"
            else None
        ),
    }
