"""What the media plane reports about a live conference: presence, published media, speaking.

``MediaSink`` implements ``media_worker.ports.RoomDomain`` and is registered at start-up
(``conferences.apps``): the media worker never imports this package.

Contract:
- ``report(code, epoch, event)`` applies one room event (``participant_connection`` with
  ``state="connected"``, ``participant_left``, ``participant_media``, ``speaking``) at the time
  it happened (``event["at"]``) and sends the matching events after commit — only when ``epoch``
  is the room's current lease epoch, checked under the conference's row lock in the same
  transaction; events of an older epoch are dropped (fenced).
- Every write is idempotent — a join for a site that is already connected, or a leave for one
  that is not, changes nothing — so the room host retries a report until it is written.
- ``room_opened`` raises the epoch and closes the presence opened under older epochs at the
  moment the previous lease expired, so an outage shows as a gap.
No actor: these are the system's entries.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from conferences import events
from conferences.errors import ConferenceError
from conferences.live import transient
from conferences.live.participants import is_observer_id
from conferences.live.selectors import room_state
from conferences.models import (
    AttendanceSource,
    Conference,
    Invitation,
    LiveState,
    PresenceInterval,
    Status,
)
from conferences.services import attendance

logger = logging.getLogger(__name__)


def _invitation(conference: Conference, site_code: str) -> Invitation | None:
    return conference.invitations.filter(site__code=site_code).select_related("site").first()


@transaction.atomic
def media_connected(
    *, conference: Conference, site_code: str, at: Any = None, epoch: int | None = None
) -> None:
    """A site's peer connection came up: open its presence interval (an open one continues)."""
    invitation = _invitation(conference, site_code)
    if invitation is None or invitation.presence.filter(left_at__isnull=True).exists():
        return
    try:
        interval = attendance.presence_join(
            invitation=invitation, at=at or timezone.now(), source=AttendanceSource.MEDIA
        )
        if epoch is not None:
            PresenceInterval.objects.filter(pk=interval.pk).update(room_epoch=epoch)
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
    if state.content and state.content.get("site") == site_code:
        from conferences.live.presenting import content_drop

        content_drop(conference=conference, site_code=site_code, reason="left")
        state.refresh_from_db()
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


def observer_seen(*, conference: Conference, participant: str, here: bool, epoch: int) -> None:
    """A watch-only observer's media came up (``here``) or went: kept in ``LiveState.watching``
    (never a presence interval, never a site) and counted in an ``observers`` event."""
    LiveState.objects.get_or_create(conference=conference)
    state = LiveState.objects.select_for_update().get(conference=conference)
    watching = dict(state.watching or {})
    if here:
        watching[participant] = epoch
    else:
        watching.pop(participant, None)
    if watching == (state.watching or {}):
        return
    state.watching = watching
    state.save(update_fields=["watching", "updated_at"])
    events.broadcast(conference, {"type": "observers", "observers": len(watching)})


class MediaSink:
    """The conferences side of ``media_worker.ports.RoomDomain`` (registered at start-up)."""

    def room_state(self, code: str) -> dict[str, Any] | None:
        conference = Conference.objects.filter(code=code).first()
        if conference is None or conference.status != Status.LIVE:
            return None
        return room_state(conference)

    def live_codes(self) -> list[str]:
        return [
            str(c)
            for c in Conference.objects.filter(status=Status.LIVE).values_list("code", flat=True)
        ]

    @transaction.atomic
    def room_opened(self, code: str, *, worker: str, expired_at: dt.datetime | None) -> int | None:
        conference = _locked(code)
        if conference is None or conference.status != Status.LIVE:
            return None
        LiveState.objects.get_or_create(conference=conference)
        state = LiveState.objects.select_for_update().get(conference=conference)
        state.room_epoch += 1
        state.save(update_fields=["room_epoch", "updated_at"])
        at = min(expired_at or timezone.now(), timezone.now())
        stale = PresenceInterval.objects.filter(
            invitation__conference=conference, left_at__isnull=True, source=AttendanceSource.MEDIA
        ).exclude(room_epoch=state.room_epoch)
        for interval in stale.select_related("invitation"):
            # the room that opened it is gone: it ended when that room's lease ran out
            attendance.presence_leave(
                invitation=interval.invitation,
                at=max(at, interval.joined_at),
                source=AttendanceSource.MEDIA,
            )
        watching = {k: v for k, v in (state.watching or {}).items() if v == state.room_epoch}
        if watching != (state.watching or {}):  # the previous room's observers are gone
            state.watching = watching
            state.save(update_fields=["watching", "updated_at"])
            events.broadcast(conference, {"type": "observers", "observers": len(watching)})
        logger.info("room %s: epoch %s for %s", code, state.room_epoch, worker)
        return int(state.room_epoch)

    def room_started(self, code: str, epoch: int) -> None:
        events.transient(code, {"type": "media.restart", "reason": "room_started", "epoch": epoch})

    def report(self, code: str, epoch: int, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        site = event.get("participant")
        if kind == "speaking":
            events.transient(code, {"type": "speaking", "site": site})
            return True
        if kind == "slots":
            transient.slots_reported(code, event.get("slots"))
            return True
        if kind == "publish_layers":
            transient.layers_reported(code=code, site=site, layers=event.get("layers"))
            return True
        if kind == "quality":
            if isinstance(site, str) and not is_observer_id(site):
                transient.quality_reported(
                    code=code,
                    site=site,
                    quality=event.get("quality"),
                    estimate=event.get("estimate"),
                )
            return True
        if kind == "recording_segment":
            from recordings.services import segment_reported  # recordings builds on us

            return segment_reported(code, epoch, event)
        if not isinstance(site, str):
            return True
        at = _when(event.get("at"))
        with transaction.atomic():
            conference = _locked(code)
            if conference is None:
                return True
            current = (
                LiveState.objects.filter(conference=conference)
                .values_list("room_epoch", flat=True)
                .first()
            )
            if current != epoch:
                logger.info("room %s: %s of epoch %s dropped (now %s)", code, kind, epoch, current)
                return False
            if is_observer_id(site):
                if kind == "participant_connection" and event.get("state") == "connected":
                    observer_seen(conference=conference, participant=site, here=True, epoch=epoch)
                elif kind == "participant_left":
                    observer_seen(conference=conference, participant=site, here=False, epoch=epoch)
            elif kind == "participant_connection" and event.get("state") == "connected":
                media_connected(conference=conference, site_code=site, at=at, epoch=epoch)
            elif kind == "participant_left":
                media_left(conference=conference, site_code=site, at=at)
            elif kind == "participant_media":
                media_published(
                    conference=conference,
                    site_code=site,
                    video=bool(event.get("video")),
                    audio=bool(event.get("audio")),
                )
        return True


def _locked(code: str) -> Conference | None:
    """The conference under its row lock: room_opened and report serialise on it, so a report
    checks the epoch that is current when it writes."""
    return Conference.objects.select_for_update(of=("self",)).filter(code=code).first()


def _when(value: Any) -> dt.datetime:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(min(float(value), time.time()), dt.UTC)
    return timezone.now()


def report(code: str, event: dict[str, Any]) -> bool:
    """Apply one room event at the room's current epoch (tests and the in-process room)."""
    current = (
        LiveState.objects.filter(conference__code=code).values_list("room_epoch", flat=True).first()
    )
    return DOMAIN.report(code, int(current or 0), event)


DOMAIN = MediaSink()
