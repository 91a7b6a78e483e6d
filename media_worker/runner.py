"""Many rooms on one asyncio loop of a Celery media worker, each under a fenced Redis lease.

- A room is hosted while its lease key ``giaoban:media:lease:<code>`` holds this worker's id
  (TTL ``LEASE_TTL``, renewed every ``HEARTBEAT``). Each renewal also stamps
  ``giaoban:media:seen:<code>`` with the time, so whoever takes the room over knows when the
  previous lease ran out.
- Taking a room opens it through the domain port, which gives the acquisition an epoch (higher
  than any before); every event the room reports carries it and the domain drops events of an
  older epoch — a worker that was frozen (SIGSTOP) and comes back writes nothing. The takeover
  closes presence opened under the old epoch at the moment the old lease expired: an outage
  shows as a gap.
- The renewal time is stamped *before* the Redis call; a room whose last renewal is older than
  the TTL is treated as lost before any await (no offer is answered, no command applied), so a
  worker resumed after a freeze gives the room up instead of serving it next to its successor.
- A watchdog takes over rooms of live conferences whose lease expired; a lease that will run out
  before its next pass brings the pass forward to the expiry (a dead worker's rooms move at the
  TTL, not up to a pass later). Redis calls time out in 1 s, so after a Redis outage rooms come
  back within a watchdog pass.
- Channel messages are handled by at most ``MAX_INFLIGHT`` tasks; beyond that a message is
  dropped and counted (``dropped``), and an offer among them is answered ``media_unavailable``.
- A runner given a ``node`` (the Celery node name of a worker that consumes ``media.<node>``)
  publishes its load every heartbeat (``media_worker.placement``), before renewing its leases so
  the heartbeat of a dead worker never outlives its leases; the watchdog places a room whose
  lease expired on the least-loaded live worker (itself, or that worker's queue), so a dead
  worker's rooms spread over the others. It logs when its peers exceed its budget.
- It serves ``/metrics`` and ``/health`` on ``MEDIA_METRICS_ADDRESS`` (``media_worker.health``).

Every loop here is bounded by the runner's stop event; every room is closed in a ``finally``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from media_worker import placement, ports
from media_worker.health import HealthServer
from media_worker.host import RoomHost, _db
from media_worker.metrics import RoomSample, render
from media_worker.router import lease_key, room_group, seen_key
from media_worker.sfu import icetcp, udpmux

logger = logging.getLogger(__name__)

LEASE_TTL = 6.0
HEARTBEAT = 2.0
WATCHDOG = 2.0
MAX_INFLIGHT = 256
SEEN_TTL_MS = 3_600_000
ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('get', KEYS[2]) or ''
end
return false
"""
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

__all__ = ["LEASE_TTL", "MediaRunner", "RoomHost", "lease_key", "room_group"]


def expiry_wait(left_ms: int) -> float:
    """Seconds to sleep to look again just after a lease with ``left_ms`` left expires: a
    little after (Redis expires keys to the millisecond), jittered so that the survivors of a
    dead worker do not all ask at once (only one acquires it anyway)."""
    return max(0.05, left_ms / 1000 + random.uniform(0.02, 0.15))


class MediaRunner:
    """Hosts rooms under Redis leases on the loop that calls :meth:`run`."""

    def __init__(
        self,
        *,
        worker_id: str | None = None,
        redis_url: str | None = None,
        node: str = "",
        metrics_address: str | None = None,
    ) -> None:
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.node = node  # "" : not addressable, so it publishes no load (tests, tools)
        self.budget = placement.peer_budget()
        self.metrics_address = (
            str(getattr(settings, "MEDIA_METRICS_ADDRESS", ""))
            if metrics_address is None
            else metrics_address
        )
        self.health: HealthServer | None = None
        self.over_budget = False
        self.beat_at = 0.0  # loop time of the last heartbeat that reached Redis
        self._sampled: tuple[float, float] | None = None  # (wall, cpu) of the last sample
        self._packets_out: dict[str, int] = {}
        self.load: placement.WorkerLoad | None = None
        self.redis_url = redis_url or settings.REDIS_URL
        self.rooms: dict[str, RoomHost] = {}
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self._starting: set[str] = set()
        self._renewed: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped = 0
        self.layer: Any = None
        self.channel = ""
        self.redis: Any = None

    async def run(self) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(
            self.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel()  # default prefix: see router.signal
        if self.metrics_address:
            self.health = HealthServer(
                self.metrics_address, metrics=self.metrics_text, healthy=self.healthy
            )
            try:
                bound = await self.health.start()
                logger.info("media runner %s: metrics on http://%s/metrics", self.worker_id, bound)
            except OSError as exc:
                logger.error("media runner %s: no metrics endpoint: %s", self.worker_id, exc)
                self.health = None
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
            if self.node:
                try:
                    await placement.withdraw(self.redis, self.node)
                except Exception as exc:
                    logger.warning("media runner %s: could not withdraw: %s", self.worker_id, exc)
            if self.health is not None:
                await self.health.close()
            await self.redis.aclose()

    def stop(self) -> None:
        self.stopping.set()

    def _lease_valid(self, code: str) -> bool:
        renewed = self._renewed.get(code)
        return renewed is not None and asyncio.get_running_loop().time() - renewed < LEASE_TTL

    async def host(self, code: str) -> bool:
        """Take the room if its lease is free (or already ours); True if hosted here."""
        if code in self.rooms:
            return True
        if code in self._starting:
            return False
        self._starting.add(code)
        loop = asyncio.get_running_loop()
        try:
            stamped = loop.time()
            seen = await self.redis.eval(
                ACQUIRE, 2, lease_key(code), seen_key(code), self.worker_id, int(LEASE_TTL * 1000)
            )
            if seen is None:
                return False
            expired_at = None
            if seen:
                last = float(seen) / 1000
                expired_at = dt.datetime.fromtimestamp(min(last + LEASE_TTL, time.time()), dt.UTC)
            # Listen before the room exists: an offer sent as soon as the lease is visible is
            # answered "media_unavailable" (retry) instead of being lost.
            await self.layer.group_add(room_group(code), self.channel)
            try:
                host = await RoomHost.open(code, worker=self.worker_id, expired_at=expired_at)
            except Exception:
                host = None
                logger.exception("room %s could not be opened", code)
            if host is None:
                await self.layer.group_discard(room_group(code), self.channel)
                await self.redis.eval(RELEASE, 1, lease_key(code), self.worker_id)
                return False
            self.rooms[code] = host
            self._renewed[code] = stamped
            logger.info(
                "media runner %s hosts room %s (epoch %s)", self.worker_id, code, host.epoch
            )
            await sync_to_async(_db)(ports.domain().room_started, code, host.epoch)
            return True
        finally:
            self._starting.discard(code)

    async def _drop(self, code: str, *, release: bool) -> None:
        host = self.rooms.pop(code, None)
        self._renewed.pop(code, None)
        if host is None:
            return
        try:
            await self.layer.group_discard(room_group(code), self.channel)
        except Exception:
            logger.exception("room %s: could not leave its group", code)
        finally:
            await host.close()
            if release:
                try:
                    await self.redis.eval(RELEASE, 1, lease_key(code), self.worker_id)
                except Exception:
                    logger.exception("room %s: could not release its lease", code)

    # --- load, metrics ---------------------------------------------------------------------

    def samples(self) -> dict[str, RoomSample]:
        return {
            code: RoomSample(peers=len(host.room.peers), counters=host.room.counters())
            for code, host in self.rooms.items()
        }

    def metrics_text(self) -> str:
        return render(
            self.node or self.worker_id,
            self.samples(),
            cpu_seconds=time.process_time(),
            budget=self.budget,
            ports={"udp": udpmux.counters(), "tcp": icetcp.counters()},
        )

    def healthy(self) -> bool:
        """The last heartbeat reached Redis within a lease TTL."""
        return self.beat_at > 0 and asyncio.get_running_loop().time() - self.beat_at < LEASE_TTL

    def sample_load(self) -> placement.WorkerLoad:
        """This worker's load now: CPU share and egress since the previous sample."""
        wall, cpu = time.time(), time.process_time()
        out = 0
        for code, host in self.rooms.items():
            sent = int(host.room.counters().get("packets_out", 0))
            out += max(0, sent - self._packets_out.get(code, sent))
            self._packets_out[code] = sent
        for code in set(self._packets_out) - set(self.rooms):
            self._packets_out.pop(code, None)
        share = pps = 0.0
        if self._sampled is not None and wall > self._sampled[0]:
            elapsed = wall - self._sampled[0]
            share, pps = max(0.0, (cpu - self._sampled[1]) / elapsed), out / elapsed
        self._sampled = (wall, cpu)
        load = placement.WorkerLoad(
            node=self.node,
            lease_id=self.worker_id,
            rooms={code: len(host.room.peers) for code, host in self.rooms.items()},
            budget=self.budget,
            cpu=round(share, 4),
            egress_pps=round(pps, 1),
            at=wall,
            metrics=self.health.bound if self.health is not None else "",
        )
        if load.over_budget and not self.over_budget:
            # Hook for cascaded rooms (issue 16 item 1): new joins of these rooms belong on
            # another worker of the room; the router reports each such join.
            logger.warning(
                "media worker %s is over its peer budget (%s > %s) in rooms %s",
                self.node,
                load.peers,
                self.budget,
                sorted(load.rooms),
            )
        elif self.over_budget and not load.over_budget:
            logger.info("media worker %s is back within its peer budget", self.node)
        self.over_budget = load.over_budget
        self.load = load
        return load

    async def _publish_load(self) -> None:
        load = self.sample_load()
        if not self.node:
            self.beat_at = asyncio.get_running_loop().time()
            return
        try:
            await placement.publish(self.redis, load)
            self.beat_at = asyncio.get_running_loop().time()
        except Exception as exc:
            logger.warning("media runner %s: load heartbeat failed: %s", self.worker_id, exc)

    async def _place(self, code: str) -> None:
        """A live room without a lease: host it here when this is the least-loaded worker (or
        placement knows no worker), else send it to the one that is."""
        queue = await placement.place(self.redis, code) if self.node else placement.SHARED_QUEUE
        if queue in (placement.SHARED_QUEUE, placement.worker_queue(self.node)):
            await self.host(code)
            return
        from media_worker import tasks  # tasks imports this module

        logger.info("media runner %s: room %s placed on %s", self.worker_id, code, queue)
        await sync_to_async(tasks.send_host_room)(code, queue)

    async def _heartbeat(self) -> None:
        """Publish the load, then renew every lease; give a room up when its lease is lost, or
        when it could not be renewed for a TTL (another worker may already serve it)."""
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            await self._publish_load()
            for code in list(self.rooms):
                stamped = loop.time()  # before the await: the lease runs from here at best
                try:
                    ok = await self.redis.eval(
                        RENEW,
                        2,
                        lease_key(code),
                        seen_key(code),
                        self.worker_id,
                        int(LEASE_TTL * 1000),
                        int(time.time() * 1000),
                        SEEN_TTL_MS,
                    )
                except Exception as exc:
                    logger.warning("lease renewal of %s failed: %s", code, exc)
                    if self._lease_valid(code):
                        continue
                    ok = False
                if ok and self._lease_valid(code):
                    self._renewed[code] = stamped
                    continue
                logger.warning("media runner %s lost the lease of %s", self.worker_id, code)
                try:
                    await self._drop(code, release=False)
                except Exception:
                    logger.exception("closing room %s failed", code)
            await asyncio.sleep(HEARTBEAT)

    async def _watchdog(self) -> None:
        """Every ``WATCHDOG`` s (jittered): drop rooms whose conference ended, place live ones
        without a lease. A lease of another worker that runs out before the next pass (its
        holder stopped renewing: a healthy lease always has more than ``LEASE_TTL - HEARTBEAT``
        left) brings the next pass forward to just after it expires, so a dead worker's rooms
        are taken over at the expiry, not up to a pass later."""
        wait = WATCHDOG + random.uniform(0, 0.5)
        while not self.stopping.is_set():
            await asyncio.sleep(wait)
            wait = WATCHDOG + random.uniform(0, 0.5)
            try:
                live = set(await sync_to_async(_db)(ports.domain().live_codes))
                for code in list(self.rooms):
                    if code not in live:
                        await self._drop(code, release=True)
                for code in live - set(self.rooms):
                    left_ms = await self.redis.pttl(lease_key(code))
                    if left_ms == -2:  # no lease
                        await self._place(code)
                    elif left_ms >= 0:
                        wait = min(wait, expiry_wait(left_ms))
            except Exception as exc:
                logger.warning("media watchdog pass failed: %s", exc)

    async def _receive(self) -> None:
        while not self.stopping.is_set():
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                logger.exception("media runner %s: channel layer receive failed", self.worker_id)
                await asyncio.sleep(0.5)
                continue
            if len(self._tasks) >= MAX_INFLIGHT:
                self.dropped += 1
                logger.error(
                    "media runner %s: %s in flight, message dropped", self.worker_id, MAX_INFLIGHT
                )
                await self._unavailable(message)
                continue
            task = asyncio.create_task(self._handle_safely(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _unavailable(self, message: dict[str, Any]) -> None:
        if message.get("type") == "room.signal" and message.get("reply_to"):
            reply = {
                "type": "error",
                "code": "media_unavailable",
                "message": "room starting",
                "id": message["message"].get("id"),
            }
            try:
                await self.layer.send(message["reply_to"], {"type": "media.reply", "reply": reply})
            except Exception:
                logger.exception("could not answer %s", message.get("reply_to"))

    async def _handle_safely(self, message: dict[str, Any]) -> None:
        try:
            await self._handle(message)
        except Exception:
            logger.exception("media runner %s: %s failed", self.worker_id, message.get("type"))

    async def _handle(self, message: dict[str, Any]) -> None:
        code = message.get("code", "")
        kind = message.get("type")
        host = self.rooms.get(code)
        if host is not None and not self._lease_valid(code):
            # frozen past the lease (SIGSTOP, a stalled loop): someone else may serve it now
            logger.warning("room %s: lease not renewed in time, giving it up", code)
            await self._drop(code, release=False)
            host = None
        if kind == "room.close":
            await self._drop(code, release=True)
        elif host is None:
            if kind == "room.signal" and code in self._starting:
                await self._unavailable(message)
        elif kind == "room.command":
            host.apply(message.get("command", {}))
        elif kind == "room.signal":
            reply = await host.signal(message["message"])
            if reply is not None and message.get("reply_to"):
                await self.layer.send(message["reply_to"], {"type": "media.reply", "reply": reply})


# --- the runner of a Celery media worker process --------------------------------------------

_runner: MediaRunner | None = None
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def ensure_started(timeout: float = 10.0, *, node: str = "") -> MediaRunner:
    """Start this process's runner on its own thread and loop (idempotent); ``node``: the
    Celery node name whose queue ``media.<node>`` this worker consumes (placement by load)."""
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
                holder["runner"] = MediaRunner(node=node)
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
