"""Where media rooms run: one :class:`RoomRouter` interface, chosen once from settings.

- :class:`LocalRouter` (``MEDIA_ROOM_MODE=inprocess``): rooms live in this process, on the loop
  that calls it (Daphne's). A room opens with the first offer of a live conference and closes
  when its last peer leaves or the conference ends.
- :class:`LeasedRouter` (``celery``): ``ensure`` sends ``media_worker.tasks.host_room`` to the
  least-loaded live worker's own queue ``media.<node>`` (``media_worker.placement``; the shared
  queue ``media`` while no worker's load is known); a media worker hosts the room under a lease
  (``media_worker.runner``). An offer to a room whose worker is over its peer budget is
  reported (:meth:`LeasedRouter.overflow`, the hook for cascaded rooms). Signalling
  and commands go to the channel-layer group ``media.room.<code>``; a signal's reply comes back
  on a channel made for that one request, so :meth:`RoomRouter.signal` returns the reply in
  both modes and callers have no per-mode cases.

:func:`router` returns the router for the current ``MEDIA_ROOM_MODE`` (one instance per mode,
so tests that switch the setting get the other router). [LiveKit ``pkg/routing``: ``Router``
with a local and a Redis implementation, chosen once]
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from media_worker import placement
from media_worker.host import RoomHost

logger = logging.getLogger(__name__)

SIGNAL_TIMEOUT = 10.0  # seconds to wait for a media worker's reply to an offer
LEASE_PREFIX = "giaoban:media:lease:"
SEEN_PREFIX = "giaoban:media:seen:"


class MediaUnavailable(Exception):
    """No room is running for the conference yet; the client should offer again shortly."""

    code = "media_unavailable"


def room_group(code: str) -> str:
    return f"media.room.{code}"


def lease_key(code: str) -> str:
    return f"{LEASE_PREFIX}{code}"


def seen_key(code: str) -> str:
    return f"{SEEN_PREFIX}{code}"


class RoomRouter(Protocol):
    async def ensure(self, code: str) -> None:
        """Make sure a room runs (or is being started) for a live conference."""

    async def signal(self, code: str, message: dict[str, Any]) -> dict[str, Any] | None:
        """Pass ``offer``/``leave`` (with ``participant``, ``conn``, ``id``) to the room; the
        reply frame for the client (``answer`` or ``error``), None for ``leave``. Raises
        :class:`MediaUnavailable` when no room answers (yet)."""

    async def command(self, code: str, command: dict[str, Any]) -> None:
        """Apply a ``state`` command to the running room (older versions are ignored)."""

    async def close(self, code: str) -> None:
        """Close the room (the conference ended)."""


class LocalRouter:
    """Rooms hosted in this process."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomHost] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self.worker = f"inprocess:{os.getpid()}"

    async def _room(self, code: str) -> RoomHost:
        host = self.rooms.get(code)
        if host is not None:
            return host
        lock = self._opening.setdefault(code, asyncio.Lock())
        try:
            async with lock:
                host = self.rooms.get(code)
                if host is None:
                    host = await RoomHost.open(code, worker=self.worker)
                    if host is None:
                        raise MediaUnavailable(code)
                    self.rooms[code] = host
        finally:
            # pruned as soon as nobody waits on it: the dict holds only rooms being opened
            if not lock.locked() and self._opening.get(code) is lock:
                self._opening.pop(code, None)
        return host

    async def ensure(self, code: str) -> None:
        await self._room(code)

    async def signal(self, code: str, message: dict[str, Any]) -> dict[str, Any] | None:
        if message.get("type") == "offer":
            host: RoomHost | None = await self._room(code)
        else:
            host = self.rooms.get(code)
        if host is None:
            return None
        reply = await host.signal(message)
        if host.empty and message.get("type") == "leave":
            await self.close(code)
        return reply

    async def command(self, code: str, command: dict[str, Any]) -> None:
        host = self.rooms.get(code)
        if host is not None:
            host.apply(command)

    async def close(self, code: str) -> None:
        host = self.rooms.pop(code, None)
        if host is not None:
            await host.close()


_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
    weakref.WeakKeyDictionary()
)


def redis_client() -> Any:
    """One Redis client per event loop (an asyncio client cannot cross loops), with timeouts
    shorter than a heartbeat so an unreachable Redis fails fast instead of hanging."""
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        client = _redis_clients[loop] = aioredis.from_url(
            settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    return client


class LeasedRouter:
    """Rooms hosted by Celery media workers under Redis leases."""

    def __init__(self) -> None:
        self.overflows = 0  # offers that went to an over-budget worker (see overflow)

    async def holder(self, code: str) -> str | None:
        value = await redis_client().get(lease_key(code))
        return value.decode() if value else None

    async def ensure(self, code: str) -> None:
        if await self.holder(code) is None:
            from media_worker import tasks

            queue = await placement.place(redis_client(), code)
            await sync_to_async(tasks.send_host_room)(code, queue)

    async def overflow(self, code: str, holder: str) -> None:
        """An offer for ``code``, hosted under ``holder``'s lease: report it when that worker is
        over its peer budget.

        Hook for cascaded rooms (issue 16 item 1): the join then belongs on the worker
        :func:`placement.overflow_target` names, which would pipe the room's streams from the
        room's worker. Until those pipes exist the offer still goes to the room's worker."""
        try:
            found = await placement.overflow_target(redis_client(), holder)
        except Exception as exc:  # placement is advisory: never fail an offer over it
            logger.warning("room %s: placement unavailable: %s", code, exc)
            return
        if found is None:
            return
        mine, other = found
        self.overflows += 1
        logger.warning(
            "room %s: worker %s is over its peer budget (%s > %s); the join stays there "
            "(another worker of the room, %s, needs cascaded rooms)",
            code,
            mine.node,
            mine.peers,
            mine.budget,
            other.node if other is not None else "none live",
        )

    async def signal(self, code: str, message: dict[str, Any]) -> dict[str, Any] | None:
        kind = message.get("type")
        if kind == "offer":
            holder = await self.holder(code)
            if holder is None:
                await self.ensure(code)
                raise MediaUnavailable(code)
            await self.overflow(code, holder)
        layer = get_channel_layer()
        if kind != "offer":
            await layer.group_send(
                room_group(code), {"type": "room.signal", "code": code, "message": message}
            )
            return None
        # The default prefix on purpose: channels_redis multiplexes this process's "specific"
        # channels over one Redis list, so this receive shares it with the consumers' own
        # (a second prefix would wait behind their blocking receive and never see the reply).
        reply_to = await layer.new_channel()
        await layer.group_send(
            room_group(code),
            {"type": "room.signal", "code": code, "message": message, "reply_to": reply_to},
        )
        try:
            reply = await asyncio.wait_for(layer.receive(reply_to), SIGNAL_TIMEOUT)
        except TimeoutError:
            # the worker died with the offer in flight: the page offers again
            raise MediaUnavailable(code) from None
        result: dict[str, Any] = reply["reply"]
        if result.get("type") == "error" and result.get("code") == "media_unavailable":
            raise MediaUnavailable(code)
        return result

    async def command(self, code: str, command: dict[str, Any]) -> None:
        await get_channel_layer().group_send(
            room_group(code), {"type": "room.command", "code": code, "command": command}
        )

    async def close(self, code: str) -> None:
        await get_channel_layer().group_send(room_group(code), {"type": "room.close", "code": code})


_routers: dict[str, RoomRouter] = {}


def router() -> RoomRouter:
    mode = settings.MEDIA_ROOM_MODE
    found = _routers.get(mode)
    if found is None:
        found = _routers[mode] = LocalRouter() if mode == "inprocess" else LeasedRouter()
    return found


def local_router() -> LocalRouter:
    found = _routers.get("inprocess")
    if found is None:
        found = _routers["inprocess"] = LocalRouter()
    assert isinstance(found, LocalRouter)
    return found
