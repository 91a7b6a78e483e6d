"""Events of a conference, sent to its channel group after the transaction commits.

Contract: ``broadcast(conference, event)`` — called inside the transaction that made the change —
raises ``LiveState.version`` by one, stamps the event with it (``event["version"]``) and queues it
for the group ``conference.<code>``; consumers receive ``{"type": "conference.event", "event":
event}``. Nothing leaves before the database has the change, and a rolled-back change sends
nothing (its version bump is rolled back with it).

Why a version: events carry full values, and two processes (two Daphnes, a media worker) send
after their own commits, so the channel layer may deliver them out of commit order. Every writer
holds the conference's row lock when it bumps the version, so for any one piece of state a later
commit always carries a higher version; clients keep the version each piece was last set at and
drop an older event (``conferences.live.reducer``, ``static/conferences/live/protocol.js``).

``transient(code, event)`` sends an event that is not part of the snapshot (``speaking``,
``media.restart``) at once and without a version; ``send_on_commit(groups, event)`` sends an
unversioned record (a chat message) to chosen groups after commit.

Event types and their fields are the schemas in ``conferences.live.reducer``.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from conferences.models import Conference, LiveState

logger = logging.getLogger(__name__)


def group_name(conference: Conference | str) -> str:
    code = conference if isinstance(conference, str) else conference.code
    return f"conference.{code}"


def next_version(conference: Conference) -> int:
    """Raise the conference's live version by one in the current transaction; the new value."""
    if not LiveState.objects.filter(conference_id=conference.pk).update(version=F("version") + 1):
        LiveState.objects.get_or_create(conference_id=conference.pk)
        LiveState.objects.filter(conference_id=conference.pk).update(version=F("version") + 1)
    return (
        LiveState.objects.filter(conference_id=conference.pk)
        .values_list("version", flat=True)
        .get()
    )


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "conference.event", "event": event})
    except Exception:  # a lost event must not break the request that already committed
        logger.exception("could not broadcast %s to %s", event.get("type"), group)


def broadcast(conference: Conference, event: dict[str, Any]) -> dict[str, Any]:
    if "type" not in event:
        raise ValueError("an event needs a 'type'")
    event = {**event, "version": next_version(conference)}
    group = group_name(conference)
    transaction.on_commit(lambda: _send(group, event))
    return event


def transient(code: str, event: dict[str, Any]) -> None:
    """Send a transient event now (no version, not in the snapshot)."""
    _send(group_name(str(code)), event)


def send_on_commit(groups: list[str], event: dict[str, Any]) -> None:
    """Queue an event without a version for ``groups``, sent after the transaction commits.

    For records that are not a piece of the live state and go only to some sockets (a chat
    message to the chair reaches the chair site and its sender): the event neither raises the
    conference's version nor is seen by sockets outside ``groups``."""
    if "type" not in event:
        raise ValueError("an event needs a 'type'")
    targets = list(groups)
    transaction.on_commit(lambda: [_send(group, event) for group in targets])


def to_group(group: str, event: dict[str, Any]) -> None:
    """Send a transient event now to one channel group (e.g. one site's socket)."""
    _send(group, event)
