"""Events of a conference, sent to its channel group after the transaction commits.

Contract: ``broadcast(conference, event)`` queues ``event`` (a JSON-serialisable dict with a
``type``) for the group ``conference.<code>``; consumers receive it as
``{"type": "conference.event", "event": event}``. Nothing leaves before the database has the
change, so a listener that re-reads after an event always sees it; a rolled-back change sends
nothing.

Event types sent by the attendance services (all ids are public codes or row ids, never users):
- ``attendance``: ``site`` (code), ``site_key``, ``status``, ``headcount``, ``leader_name``,
  ``leader_title``, ``entry``, ``source`` — the site's state after an entry or correction;
- ``presence``: ``site`` and ``joined_at`` or ``left_at`` (ISO 8601);
- ``roll_call_started``: ``roll_call``, ``started_at``;
- ``roll_call_answer``: ``roll_call``, ``site``, ``site_key``, ``headcount``, ``source``;
- ``roll_call_ended``: ``roll_call``, ``answered``, ``invited``.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from conferences.models import Conference

logger = logging.getLogger(__name__)


def group_name(conference: Conference) -> str:
    return f"conference.{conference.code}"


def broadcast(conference: Conference, event: dict[str, Any]) -> None:
    if "type" not in event:
        raise ValueError("an event needs a 'type'")
    group = group_name(conference)

    def _send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, {"type": "conference.event", "event": event})
        except Exception:  # a lost event must not break the request that already committed
            logger.exception("could not broadcast %s to %s", event.get("type"), group)

    transaction.on_commit(_send)
