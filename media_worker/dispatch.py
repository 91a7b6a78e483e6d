"""The only place that knows where a conference's media room runs (``settings.MEDIA_ROOM_MODE``).

- ``inprocess``: rooms live in this module's registry, on the calling (Daphne) event loop. A room
  is opened by the first offer of a live conference and closed when its last peer leaves or the
  conference ends.
- ``celery``: ``room_ensure`` sends ``media_worker.tasks.host_room`` to queue ``media``; a media
  worker hosts the room under a lease (``media_worker.runner``). Signalling and commands go to
  the channel-layer group ``media.room.<code>``; replies come back to the caller's channel as
  ``{"type": "media.reply", "reply": {...}}``.

All functions are coroutines for the consumer; ``room_ensure_sync``/``room_command_sync`` are for
synchronous callers (services after commit, Celery tasks).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from media_worker import runner

logger = logging.getLogger(__name__)


class MediaUnavailable(Exception):
    """No room is running for the conference yet; the client should offer again shortly."""

    code = "media_unavailable"


_rooms: dict[str, runner.RoomHost] = {}
_opening: dict[str, asyncio.Lock] = {}


def mode() -> str:
    return settings.MEDIA_ROOM_MODE


async def _local_room(code: str) -> runner.RoomHost:
    host = _rooms.get(code)
    if host is not None:
        return host
    lock = _opening.setdefault(code, asyncio.Lock())
    async with lock:
        host = _rooms.get(code)
        if host is None:
            host = await runner.RoomHost.open(code)
            if host is None:
                raise MediaUnavailable(code)
            _rooms[code] = host
    return host


_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _redis() -> Any:
    """One Redis client per event loop (an asyncio client cannot cross loops)."""
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        client = _redis_clients[loop] = aioredis.from_url(settings.REDIS_URL)
    return client


async def lease_holder(code: str) -> str | None:
    value = await _redis().get(runner.lease_key(code))
    return value.decode() if value else None


async def room_ensure(code: str) -> None:
    """Make sure a room runs (or is being started) for a live conference."""
    code = str(code)
    if mode() == "inprocess":
        await _local_room(code)
        return
    if await lease_holder(code) is None:
        from media_worker import tasks

        await sync_to_async(tasks.host_room.delay)(code)


async def room_signal(
    code: str, message: dict[str, Any], *, reply_to: str
) -> dict[str, Any] | None:
    """Pass ``offer``/``leave`` (with ``participant``, ``conn``, ``id``) to the room.

    Returns the reply frame directly in inprocess mode; in celery mode the reply comes to
    ``reply_to`` later and this returns None. Raises :class:`MediaUnavailable`.
    """
    code = str(code)
    if mode() == "inprocess":
        if message.get("type") == "offer":
            host = await _local_room(code)
        else:
            host = _rooms.get(code)
            if host is None:
                return None
        reply = await runner.signal(host, message)
        if host.empty and message.get("type") == "leave":
            await room_close(code)
        return reply
    if message.get("type") == "offer" and await lease_holder(code) is None:
        await room_ensure(code)
        raise MediaUnavailable(code)
    await get_channel_layer().group_send(
        runner.room_group(code),
        {"type": "room.signal", "code": code, "message": message, "reply_to": reply_to},
    )
    return None


async def room_command(code: str, command: dict[str, Any]) -> None:
    """Apply a ``state`` command (``conferences.services.live.room_state``) to the running room."""
    code = str(code)
    if mode() == "inprocess":
        host = _rooms.get(code)
        if host is not None:
            host.apply(command)
        return
    await get_channel_layer().group_send(
        runner.room_group(code), {"type": "room.command", "code": code, "command": command}
    )


async def room_close(code: str) -> None:
    """Close the room (conference ended, or no one left in inprocess mode)."""
    code = str(code)
    if mode() == "inprocess":
        host = _rooms.pop(code, None)
        if host is not None:
            await host.close()
        return
    await get_channel_layer().group_send(
        runner.room_group(code), {"type": "room.close", "code": code}
    )


def room_ensure_sync(code: str) -> None:
    async_to_sync(room_ensure)(code)


def local_rooms() -> dict[str, runner.RoomHost]:
    """The rooms hosted in this process in inprocess mode (tests, diagnostics)."""
    return _rooms
