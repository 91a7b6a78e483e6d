"""What the media plane reports about a live conference: presence, published media, speaking.

Contract: ``report(code, event)`` applies one room event (``participant_connection`` with
``state="connected"``, ``participant_left``, ``participant_media``, ``speaking``) to the
database and sends the matching events after commit. Every write is idempotent — a join for a
site that is already connected, or a leave for one that is not, changes nothing — so the room
host may retry a report until it is written. No actor: these are the system's entries.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from conferences import events
from conferences.errors import ConferenceError
from conferences.models import AttendanceSource, Conference, Invitation, LiveState
from conferences.services import attendance

logger = logging.getLogger(__name__)


def _invitation(conference: Conference, site_code: str) -> Invitation | None:
    return conference.invitations.filter(site__code=site_code).select_related("site").first()


@transaction.atomic
def media_connected(*, conference: Conference, site_code: str, at: Any = None) -> None:
    """A site's peer connection came up: open its presence interval (an open one continues)."""
    invitation = _invitation(conference, site_code)
    if invitation is None or invitation.presence.filter(left_at__isnull=True).exists():
        return
    try:
        attendance.presence_join(
            invitation=invitation, at=at or timezone.now(), source=AttendanceSource.MEDIA
        )
    except ConferenceError as exc:
        logger.info("presence join of %s ignored: %s", site_code, exc.code)


@transaction.atomic
def media_left(*, conference: Conference, site_code: str, at: Any = None) -> None:
    """A site's peer left (or stopped sending): close its interval and clear what it publishes."""
    invitation = _invitation(conference, site_code)
    if invitation is not None and invitation.presence.filter(left_at__isnull=True).exists():
        try:
            attendance.presence_leave(
                invitation=invitation, at=at or timezone.now(), source=AttendanceSource.MEDIA
            )
        except ConferenceError as exc:
            logger.info("presence leave of %s ignored: %s", site_code, exc.code)
    LiveState.objects.get_or_create(conference=conference)
    state = LiveState.objects.select_for_update().get(conference=conference)
    if state.media.pop(site_code, None) is not None:
        state.save(update_fields=["media", "updated_at"])
        events.broadcast(
            conference, {"type": "media", "site": site_code, "video": False, "audio": False}
        )


@transaction.atomic
def media_published(*, conference: Conference, site_code: str, video: bool, audio: bool) -> None:
    LiveState.objects.get_or_create(conference=conference)
    state = LiveState.objects.select_for_update().get(conference=conference)
    wanted = {"video": bool(video), "audio": bool(audio)}
    if state.media.get(site_code) == wanted:
        return
    state.media[site_code] = wanted
    state.save(update_fields=["media", "updated_at"])
    events.broadcast(conference, {"type": "media", "site": site_code, **wanted})


def report(code: str, event: dict[str, Any]) -> None:
    """Apply one event of the room of conference ``code``; raises on a database failure (the
    room host retries)."""
    kind = event.get("type")
    site = event.get("participant")
    if kind == "speaking":
        events.transient(code, {"type": "speaking", "site": site})
        return
    conference = Conference.objects.filter(code=code).first()
    if conference is None or not isinstance(site, str):
        return
    if kind == "participant_connection" and event.get("state") == "connected":
        media_connected(conference=conference, site_code=site)
    elif kind == "participant_left":
        media_left(conference=conference, site_code=site)
    elif kind == "participant_media":
        media_published(
            conference=conference,
            site_code=site,
            video=bool(event.get("video")),
            audio=bool(event.get("audio")),
        )
