"""The domain's one door to the media plane: where rooms run is decided by
``media_worker.router.router()`` (``settings.MEDIA_ROOM_MODE``); these functions only forward.

All are coroutines; ``room_ensure_sync`` is for synchronous callers (after commit, tasks).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from media_worker.host import RoomHost
from media_worker.layout import slot_layout
from media_worker.router import MediaUnavailable, local_router, router

__all__ = [
    "MediaUnavailable",
    "local_rooms",
    "mode",
    "room_close",
    "room_command",
    "room_ensure",
    "room_ensure_sync",
    "room_signal",
    "slot_layout",
]


def mode() -> str:
    return str(settings.MEDIA_ROOM_MODE)


async def room_ensure(code: str) -> None:
    await router().ensure(str(code))


async def room_signal(code: str, message: dict[str, Any]) -> dict[str, Any] | None:
    return await router().signal(str(code), message)


async def room_command(code: str, command: dict[str, Any]) -> None:
    await router().command(str(code), command)


async def room_close(code: str) -> None:
    await router().close(str(code))


def room_ensure_sync(code: str) -> None:
    async_to_sync(room_ensure)(code)


def local_rooms() -> dict[str, RoomHost]:
    """The rooms hosted in this process in inprocess mode (tests, diagnostics)."""
    return local_router().rooms


async def _local_room(code: str) -> RoomHost:
    """Open (or get) the in-process room of ``code`` (tests)."""
    return await local_router()._room(str(code))
