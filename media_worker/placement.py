"""Placement by load: which media worker hosts a new room.

- Every media worker publishes a heartbeat (:class:`WorkerLoad`: its rooms and their peers, its
  peer budget, CPU and egress over the last interval) every ``runner.HEARTBEAT`` seconds to
  ``giaoban:media:worker:<node>`` with a TTL of ``WORKER_TTL``, and indexes it in the sorted
  set ``giaoban:media:workers`` (score: the heartbeat's time). ``<node>`` is the Celery node
  name (``-n media1@host``); the worker consumes its own queue ``media.<node>`` besides the
  shared ``media``.
- :func:`choose` is pure: among the workers heard from within ``WORKER_TTL`` (older heartbeats
  are ignored even when their key is still there) it takes the one with the lowest
  ``load = max(peers / budget, cpu)``, then the fewest rooms, then the node name. Each room
  counts at least ``MEDIA_ROOM_PEERS_ESTIMATE`` peers, and rooms placed on a worker that its
  heartbeat does not list yet (``giaoban:media:placed:<node>``, kept ``PLACED_TTL``) count too, so
  rooms placed in a burst between two heartbeats spread instead of all landing on one worker.
- :func:`place` returns the queue to send ``host_room`` to: the chosen worker's own queue, or
  the shared ``media`` queue when no live heartbeat is known (a worker that takes it from there
  hosts the room, as before placement existed).
- :func:`overflow_target` is the hook for a room whose worker is over its budget: the worker
  its new joins should go to. Sending them there needs cascaded rooms (a pipe between the
  room's workers); until then the router reports the overflow and keeps joins on the room's
  worker.

The lease (``giaoban:media:lease:<code>``) stays the only authority on who hosts a room:
placement only decides where ``host_room`` is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

WORKER_PREFIX = "giaoban:media:worker:"
WORKERS_INDEX = "giaoban:media:workers"
PLACED_PREFIX = "giaoban:media:placed:"
SHARED_QUEUE = "media"
WORKER_TTL = 6.0  # seconds a heartbeat counts (= runner.LEASE_TTL, three heartbeats)
PLACED_TTL = 10.0  # seconds a placement counts before the worker's heartbeat lists the room
INDEX_KEEP = 3600.0  # index entries older than this are pruned by the next heartbeat


def worker_key(node: str) -> str:
    return f"{WORKER_PREFIX}{node}"


def placed_key(node: str) -> str:
    return f"{PLACED_PREFIX}{node}"


def worker_queue(node: str) -> str:
    return f"{SHARED_QUEUE}.{node}"


def room_estimate() -> int:
    return int(getattr(settings, "MEDIA_ROOM_PEERS_ESTIMATE", 10))


def peer_budget() -> int:
    return int(getattr(settings, "MEDIA_WORKER_PEER_BUDGET", 200))


@dataclass(frozen=True)
class WorkerLoad:
    """One media worker's heartbeat."""

    node: str  # Celery node name; its own queue is media.<node>
    lease_id: str  # the id its room leases hold (runner.MediaRunner.worker_id)
    rooms: Mapping[str, int] = field(default_factory=dict)  # room code -> peers
    budget: int = 200  # peers it is meant to carry (MEDIA_WORKER_PEER_BUDGET)
    cpu: float = 0.0  # share of one core used over the last interval
    egress_pps: float = 0.0  # RTP packets/s forwarded to subscribers over the last interval
    at: float = 0.0  # wall-clock time of the heartbeat (time.time())
    metrics: str = ""  # host:port of its /metrics endpoint, "" when off

    @property
    def queue(self) -> str:
        return worker_queue(self.node)

    @property
    def peers(self) -> int:
        return sum(self.rooms.values())

    @property
    def over_budget(self) -> bool:
        return self.peers > self.budget

    def load(self, pending: Iterable[str] = (), *, estimate: int | None = None) -> float:
        """max(peers / budget, cpu), each room (and each pending one) counted at least
        ``estimate`` peers."""
        floor = room_estimate() if estimate is None else estimate
        peers = sum(max(p, floor) for p in self.rooms.values())
        peers += floor * len(set(pending) - set(self.rooms))
        return max(peers / max(self.budget, 1), self.cpu)

    def encode(self) -> str:
        return json.dumps({**asdict(self), "rooms": dict(self.rooms)}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> WorkerLoad | None:
        try:
            data = json.loads(raw)
            return cls(
                node=str(data["node"]),
                lease_id=str(data.get("lease_id", "")),
                rooms={str(k): int(v) for k, v in dict(data.get("rooms") or {}).items()},
                budget=int(data.get("budget", 200)),
                cpu=float(data.get("cpu", 0.0)),
                egress_pps=float(data.get("egress_pps", 0.0)),
                at=float(data.get("at", 0.0)),
                metrics=str(data.get("metrics", "")),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def fresh(workers: Iterable[WorkerLoad], now: float) -> list[WorkerLoad]:
    """The workers heard from within ``WORKER_TTL`` (a heartbeat from the future, a clock a
    little ahead, counts as fresh)."""
    return [w for w in workers if now - w.at <= WORKER_TTL]


def choose(
    workers: Iterable[WorkerLoad],
    *,
    now: float,
    pending: Mapping[str, Iterable[str]] | None = None,
    exclude: Iterable[str] = (),
    estimate: int | None = None,
) -> WorkerLoad | None:
    """The least-loaded live worker (not in ``exclude``), None when none is live."""
    pending = pending or {}
    skip = set(exclude)
    best: tuple[float, int, str] | None = None
    chosen: WorkerLoad | None = None
    for w in fresh(workers, now):
        if w.node in skip:
            continue
        mine = set(pending.get(w.node, ())) - set(w.rooms)
        key = (w.load(mine, estimate=estimate), len(w.rooms) + len(mine), w.node)
        if best is None or key < best:
            best, chosen = key, w
    return chosen


def _decode_all(raws: Iterable[Any]) -> list[WorkerLoad]:
    return [w for w in (WorkerLoad.decode(r) for r in raws if r) if w is not None]


def _worker_keys(nodes: Iterable[Any]) -> list[str]:
    return [worker_key(n.decode() if isinstance(n, bytes) else str(n)) for n in nodes]


def _pending(raw: Mapping[Any, Any], now: float) -> tuple[set[str], list[str]]:
    """(codes placed within ``PLACED_TTL``, the older ones to prune)."""
    recent: set[str] = set()
    old: list[str] = []
    for key, at in raw.items():
        code = key.decode() if isinstance(key, bytes) else str(key)
        try:
            young = now - float(at) <= PLACED_TTL
        except ValueError:
            young = False
        if young:
            recent.add(code)
        else:
            old.append(code)
    return recent, old


def _decide(
    live: list[WorkerLoad], placed: list[Mapping[Any, Any]], *, now: float, exclude: Iterable[str]
) -> tuple[WorkerLoad | None, list[str]]:
    """The worker to place on, given each live worker's placed-rooms hash (same order), and
    that worker's expired placements to prune."""
    found = {w.node: _pending(raw, now) for w, raw in zip(live, placed, strict=True)}
    chosen = choose(live, now=now, pending={n: p[0] for n, p in found.items()}, exclude=exclude)
    return chosen, found[chosen.node][1] if chosen is not None else []


def _record(pipe: Any, node: str, code: str, now: float, prune: list[str]) -> None:
    """Queue on ``pipe`` the placement of ``code`` on ``node`` (and the pruning)."""
    if prune:
        pipe.hdel(placed_key(node), *prune)
    pipe.hset(placed_key(node), code, repr(now))
    pipe.pexpire(placed_key(node), int(PLACED_TTL * 1000))


# --- Redis, asyncio (router, runner) --------------------------------------------------------


async def publish(client: Any, load: WorkerLoad) -> None:
    """Write a worker's heartbeat (the runner, every heartbeat)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(worker_key(load.node), load.encode(), px=int(WORKER_TTL * 1000))
        pipe.zadd(WORKERS_INDEX, {load.node: load.at})
        pipe.zremrangebyscore(WORKERS_INDEX, "-inf", load.at - INDEX_KEEP)
        await pipe.execute()


async def withdraw(client: Any, node: str) -> None:
    """A worker that stops takes itself out of placement at once."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.delete(worker_key(node), placed_key(node))
        pipe.zrem(WORKERS_INDEX, node)
        await pipe.execute()


async def workers(client: Any, *, now: float | None = None) -> list[WorkerLoad]:
    """The live workers' heartbeats."""
    now = time.time() if now is None else now
    nodes = await client.zrangebyscore(WORKERS_INDEX, now - WORKER_TTL, "+inf")
    return fresh(_decode_all(await client.mget(_worker_keys(nodes))), now) if nodes else []


async def place(client: Any, code: str, *, exclude: Iterable[str] = ()) -> str:
    """The queue ``host_room`` of ``code`` goes to; records the placement."""
    now = time.time()
    live = await workers(client, now=now)
    if not live:
        return SHARED_QUEUE
    async with client.pipeline(transaction=False) as pipe:
        for w in live:
            pipe.hgetall(placed_key(w.node))
        placed = await pipe.execute()
    chosen, prune = _decide(live, placed, now=now, exclude=exclude)
    if chosen is None:
        return SHARED_QUEUE
    async with client.pipeline(transaction=False) as pipe:
        _record(pipe, chosen.node, code, now, prune)
        await pipe.execute()
    return chosen.queue


async def overflow_target(client: Any, holder: str) -> tuple[WorkerLoad, WorkerLoad | None] | None:
    """For the room whose lease ``holder`` (a lease id) holds: None while its worker is within
    budget (or unknown); else (that worker, the least-loaded other live worker or None).

    The hook for issue 16 item 1 (cascaded rooms): a new join of an over-budget room would be
    sent to the second worker, which pipes the room's streams from the first. Without the pipes
    the caller only reports it."""
    live = await workers(client)
    mine = next((w for w in live if w.lease_id == holder), None)
    if mine is None or not mine.over_budget:
        return None
    return mine, choose(live, now=time.time(), exclude={mine.node})


# --- Redis, synchronous (Celery beat, the technicians' page): the same steps ----------------


def workers_sync(client: Any, *, now: float | None = None) -> list[WorkerLoad]:
    now = time.time() if now is None else now
    nodes = client.zrangebyscore(WORKERS_INDEX, now - WORKER_TTL, "+inf")
    return fresh(_decode_all(client.mget(_worker_keys(nodes))), now) if nodes else []


def place_sync(client: Any, code: str) -> str:
    now = time.time()
    live = workers_sync(client, now=now)
    if not live:
        return SHARED_QUEUE
    pipe = client.pipeline(transaction=False)
    for w in live:
        pipe.hgetall(placed_key(w.node))
    chosen, prune = _decide(live, pipe.execute(), now=now, exclude=())
    if chosen is None:
        return SHARED_QUEUE
    pipe = client.pipeline(transaction=False)
    _record(pipe, chosen.node, code, now, prune)
    pipe.execute()
    return chosen.queue
