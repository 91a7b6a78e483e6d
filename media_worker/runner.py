"""Hosting media rooms on one asyncio loop.

- :class:`RoomHost` wraps one SFU :class:`~media_worker.sfu.Room` for a conference: restores the
  live state from the database, applies commands, turns the room's events into attendance and
  conference events (through ``conferences.services.live``), and knows which connection owns
  each site's peer so a replaced socket cannot remove its successor's peer.
- :class:`MediaRunner` (celery mode) hosts many rooms in one process: each room holds a lease
  (Redis key ``giaoban:media:lease:<code>``, TTL 6 s, renewed every 2 s); a watchdog takes over
  rooms of live conferences whose lease has expired; signalling and commands arrive over the
  channel layer (group ``media.room.<code>``), answers go back to the consumer's channel.

Every loop here is bounded by the runner's stop event; every room is closed in a ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from media_worker.settings_policy import network_policy
from media_worker.sfu import Room, SignallingError

logger = logging.getLogger(__name__)

LEASE_TTL = 6.0
HEARTBEAT = 2.0
WATCHDOG = 2.0
THUMBNAILS = 4
LEASE_PREFIX = "giaoban:media:lease:"
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def room_group(code: str) -> str:
    return f"media.room.{code}"


def lease_key(code: str) -> str:
    return f"{LEASE_PREFIX}{code}"


# --- database side (sync, run through sync_to_async) ----------------------------------------


def _db(fn, /, **kwargs: Any) -> Any:
    close_old_connections()
    try:
        return fn(**kwargs)
    finally:
        close_old_connections()


def _room_state(code: str) -> dict[str, Any] | None:
    from conferences.live.selectors import room_state
    from conferences.models import Conference, Status

    conference = Conference.objects.filter(code=code).first()
    if conference is None or conference.status != Status.LIVE:
        return None
    return room_state(conference)


def _media_event(code: str, event: dict[str, Any]) -> None:
    from conferences.live import media_sink

    media_sink.report(code, event)


def _live_codes() -> list[str]:
    from conferences.models import Conference, Status

    return [
        str(c) for c in Conference.objects.filter(status=Status.LIVE).values_list("code", flat=True)
    ]


# --- one room ---------------------------------------------------------------------------------


class RoomHost:
    """One conference's room on the current loop. Create with :meth:`open`."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.owners: dict[str, str] = {}
        self.version = -1
        self.room = Room(
            code,
            thumbnails=THUMBNAILS,
            policy=network_policy(),
            on_event=self._on_event,
            start_bitrate_kbps=settings.MEDIA_START_BITRATE_KBPS,
        )
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._pump_events())

    @classmethod
    async def open(cls, code: str) -> RoomHost | None:
        """Start a room restored from the live state; None when the conference is not live."""
        state = await sync_to_async(_db)(_room_state, code=code)
        if state is None:
            return None
        host = cls(code)
        host.apply(state)
        return host

    @property
    def empty(self) -> bool:
        return not self.room.peers

    async def offer(self, *, participant: str, conn: str, offer: dict[str, Any]) -> dict[str, Any]:
        """The SFU answer for a participant's offer; the connection becomes the site's owner."""
        self.owners[participant] = conn
        try:
            return await self.room.join(participant, {"type": "offer", "sdp": offer.get("sdp")})
        except SignallingError:
            if self.owners.get(participant) == conn:
                self.owners.pop(participant, None)
            raise

    async def leave(self, *, participant: str, conn: str | None = None) -> None:
        if conn is not None and self.owners.get(participant) not in (None, conn):
            return  # a newer connection owns this site's peer
        self.owners.pop(participant, None)
        await self.room.leave(participant)

    def apply(self, command: dict[str, Any]) -> None:
        """A ``state`` command (see ``live.room_state``); older versions are ignored."""
        if command.get("type") != "state" or command.get("version", 0) < self.version:
            return
        self.version = command.get("version", 0)
        room = self.room
        if room.chair != command.get("chair"):
            room.set_chair(command.get("chair"))
        if room.floor != command.get("floor"):
            room.set_floor(command.get("floor"))
        if room.broadcast != command.get("broadcast"):
            room.set_broadcast(command.get("broadcast"))
        wanted = set(command.get("muted") or [])
        for pid in wanted - room.muted:
            room.set_muted(pid, True)
        for pid in room.muted - wanted:
            room.set_muted(pid, False)

    async def close(self) -> None:
        """Close every peer, then let the pending attendance writes finish. Safe twice."""
        try:
            await self.room.close()
        finally:
            self._events.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._pump), timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                self._pump.cancel()

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") in (
            "participant_connection",
            "participant_left",
            "participant_media",
            "speaking",
        ):
            self._events.put_nowait(event)

    async def _pump_events(self) -> None:
        """Write the room's events in order (a leave must not overtake the join before it)."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            try:
                await sync_to_async(_db)(_media_event, code=self.code, event=event)
            except Exception:
                logger.exception("room %s: could not record %s", self.code, event.get("type"))


# --- many rooms, with leases (celery mode) ---------------------------------------------------


class MediaRunner:
    """Hosts rooms under Redis leases on the loop that calls :meth:`run`."""

    def __init__(self, *, worker_id: str | None = None, redis_url: str | None = None) -> None:
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.redis_url = redis_url or settings.REDIS_URL
        self.rooms: dict[str, RoomHost] = {}
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self._starting: set[str] = set()
        self._renewed: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.layer = None
        self.channel = ""
        self.redis = None

    async def run(self) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(self.redis_url)
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel("media.worker.")
        loops = [
            asyncio.create_task(c) for c in (self._receive(), self._heartbeat(), self._watchdog())
        ]
        self.ready.set()
        logger.info("media runner %s ready", self.worker_id)
        try:
            await self.stopping.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            for code in list(self.rooms):
                await self._drop(code, release=True)
            await self.redis.aclose()

    def stop(self) -> None:
        self.stopping.set()

    async def host(self, code: str) -> bool:
        """Take the room if its lease is free (or already ours); True if hosted here."""
        if code in self.rooms:
            return True
        if code in self._starting:
            return False
        self._starting.add(code)
        try:
            got = await self.redis.set(
                lease_key(code), self.worker_id, nx=True, px=int(LEASE_TTL * 1000)
            )
            if not got:
                return False
            # Listen before the room exists: an offer sent as soon as the lease is visible is
            # answered "media_unavailable" (retry) instead of being lost.
            await self.layer.group_add(room_group(code), self.channel)
            try:
                host = await RoomHost.open(code)
            except Exception:
                host = None
                logger.exception("room %s could not be opened", code)
            if host is None:
                await self.layer.group_discard(room_group(code), self.channel)
                await self.redis.eval(RELEASE, 1, lease_key(code), self.worker_id)
                return False
            self.rooms[code] = host
            self._renewed[code] = asyncio.get_running_loop().time()
            logger.info("media runner %s hosts room %s", self.worker_id, code)
            await self.layer.group_send(
                f"conference.{code}",
                {
                    "type": "conference.event",
                    "event": {"type": "media.restart", "reason": "room_started"},
                },
            )
            return True
        finally:
            self._starting.discard(code)

    async def _drop(self, code: str, *, release: bool) -> None:
        host = self.rooms.pop(code, None)
        if host is None:
            return
        try:
            await self.layer.group_discard(room_group(code), self.channel)
        finally:
            await host.close()
            if release:
                await self.redis.eval(RELEASE, 1, lease_key(code), self.worker_id)

    async def _heartbeat(self) -> None:
        """Renew every lease; give a room up when its lease is lost or cannot be renewed in time
        (Redis unreachable for a TTL means another worker may already serve it)."""
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            for code in list(self.rooms):
                try:
                    ok = await self.redis.eval(
                        RENEW, 1, lease_key(code), self.worker_id, int(LEASE_TTL * 1000)
                    )
                except Exception:
                    logger.exception("lease renewal of %s failed", code)
                    if loop.time() - self._renewed.get(code, loop.time()) < LEASE_TTL:
                        continue
                    ok = False
                if ok:
                    self._renewed[code] = loop.time()
                    continue
                logger.warning("media runner %s lost the lease of %s", self.worker_id, code)
                try:
                    await self._drop(code, release=False)
                except Exception:
                    logger.exception("closing room %s failed", code)
            await asyncio.sleep(HEARTBEAT)

    async def _watchdog(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(WATCHDOG + random.uniform(0, 0.5))
            try:
                live = set(await sync_to_async(_db)(_live_codes))
                for code in list(self.rooms):
                    if code not in live:
                        await self._drop(code, release=True)
                for code in live - set(self.rooms):
                    if not await self.redis.exists(lease_key(code)):
                        await self.host(code)
            except Exception:
                logger.exception("media watchdog pass failed")

    async def _receive(self) -> None:
        while not self.stopping.is_set():
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                logger.exception("media runner %s: channel layer receive failed", self.worker_id)
                await asyncio.sleep(0.5)
                continue
            task = asyncio.create_task(self._handle_safely(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle_safely(self, message: dict[str, Any]) -> None:
        try:
            await self._handle(message)
        except Exception:
            logger.exception("media runner %s: %s failed", self.worker_id, message.get("type"))

    async def _handle(self, message: dict[str, Any]) -> None:
        code = message.get("code", "")
        kind = message.get("type")
        host = self.rooms.get(code)
        if kind == "room.close":
            await self._drop(code, release=True)
        elif host is None:
            if kind == "room.signal" and code in self._starting and message.get("reply_to"):
                reply = {
                    "type": "error",
                    "code": "media_unavailable",
                    "message": "room starting",
                    "id": message["message"].get("id"),
                }
                await self.layer.send(message["reply_to"], {"type": "media.reply", "reply": reply})
        elif kind == "room.command":
            host.apply(message.get("command", {}))
        elif kind == "room.signal":
            reply = await signal(host, message["message"])
            if reply is not None and message.get("reply_to"):
                await self.layer.send(message["reply_to"], {"type": "media.reply", "reply": reply})


async def signal(host: RoomHost, message: dict[str, Any]) -> dict[str, Any] | None:
    """Apply a signalling message from a consumer; the reply frame for the client, if any."""
    kind = message.get("type")
    reply_id = message.get("id")
    if kind == "offer":
        try:
            answer = await host.offer(
                participant=message["participant"], conn=message["conn"], offer=message
            )
        except SignallingError as exc:
            return {**exc.as_dict(), "id": reply_id}
        return {**answer, "id": reply_id}
    if kind == "leave":
        await host.leave(participant=message["participant"], conn=message.get("conn"))
    return None


# --- the runner of a Celery media worker process --------------------------------------------

_runner: MediaRunner | None = None
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def ensure_started(timeout: float = 10.0) -> MediaRunner:
    """Start this process's runner on its own thread and loop (idempotent)."""
    global _runner, _loop, _thread
    with _lock:
        if _runner is not None and _thread is not None and _thread.is_alive():
            return _runner
        loop = asyncio.new_event_loop()
        started = threading.Event()
        holder: dict[str, MediaRunner] = {}

        def main() -> None:
            asyncio.set_event_loop(loop)

            async def go() -> None:
                holder["runner"] = MediaRunner()
                started.set()
                await holder["runner"].run()

            try:
                loop.run_until_complete(go())
            finally:
                loop.close()

        thread = threading.Thread(target=main, name="media-runner", daemon=True)
        thread.start()
        if not started.wait(timeout):
            raise RuntimeError("media runner did not start")
        _runner, _loop, _thread = holder["runner"], loop, thread
        return _runner


def hand_over(code: str, timeout: float = 15.0) -> bool:
    """From a Celery task: host ``code`` on this process's runner loop."""
    runner = ensure_started()
    assert _loop is not None
    asyncio.run_coroutine_threadsafe(runner.ready.wait(), _loop).result(timeout)
    return asyncio.run_coroutine_threadsafe(runner.host(code), _loop).result(timeout)


def shutdown(timeout: float = 15.0) -> None:
    """Close every room and release the leases (warm shutdown of the worker)."""
    if _runner is None or _loop is None or _thread is None:
        return
    _loop.call_soon_threadsafe(_runner.stop)
    _thread.join(timeout)
