"""Telling the media room what the database decided — only ever after commit.

Synchronous wrappers the commands register with ``transaction.on_commit``: they run in the
thread that committed (a consumer's database thread, a view's thread, a task) and reach the room
through ``media_worker.dispatch`` on the loop that hosts it.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync

from conferences.models import Conference
from media_worker import dispatch

logger = logging.getLogger(__name__)


def room_ensure(code: str) -> None:
    """Start the room of a conference that just went live (celery mode: dispatch it now;
    in-process rooms open with the first offer)."""
    if dispatch.mode() == "inprocess":
        return
    dispatch.room_ensure_sync(code)


def room_close(code: str) -> None:
    async_to_sync(dispatch.room_close)(code)


def room_sync(code: str) -> None:
    """Send the room the state it must enforce now (floor, broadcast, chair, mutes)."""
    from conferences.live.selectors import room_state

    conference = Conference.objects.filter(code=code).first()
    if conference is None:
        return
    async_to_sync(dispatch.room_command)(code, room_state(conference))
