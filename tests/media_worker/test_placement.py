"""Placement by load (media_worker/placement.py) against a real Redis: a new room goes to the
least-loaded live worker's own queue, stale heartbeats are ignored, a burst of rooms spreads
before the next heartbeat, nothing known -> the shared queue; a room whose worker is over its
peer budget is reported with the worker its joins would go to (the cascaded-rooms hook)."""

from __future__ import annotations

import logging
import time

import pytest
import redis
import redis.asyncio as aioredis

from media_worker import placement
from media_worker.placement import WorkerLoad
from media_worker.router import LeasedRouter

pytestmark = [pytest.mark.redis]


def _clear(store: redis.Redis) -> None:
    keys = [
        *store.scan_iter(f"{placement.WORKER_PREFIX}*"),
        *store.scan_iter(f"{placement.PLACED_PREFIX}*"),
        placement.WORKERS_INDEX,
    ]
    store.delete(*keys)


@pytest.fixture
def store(redis_url):
    client = redis.Redis.from_url(redis_url)
    _clear(client)
    yield client
    _clear(client)
    client.close()


@pytest.fixture
async def aclient(redis_url, store):
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


def beat(node: str, rooms: dict[str, int], *, cpu: float = 0.0, budget: int = 200, ago=0.0):
    return WorkerLoad(
        node=node,
        lease_id=f"{node}:1:x",
        rooms=rooms,
        budget=budget,
        cpu=cpu,
        at=time.time() - ago,
    )


async def test_a_new_room_goes_to_the_least_loaded_workers_own_queue(aclient, settings):
    settings.MEDIA_ROOM_PEERS_ESTIMATE = 10
    await placement.publish(aclient, beat("busy@h1", {"a": 150, "b": 20}))
    await placement.publish(aclient, beat("hot@h2", {"c": 12}, cpu=0.92))  # few peers, CPU-bound
    await placement.publish(aclient, beat("idle@h3", {"d": 30, "e": 25}))
    assert await placement.place(aclient, "new-room") == "media.idle@h3"
    placed = await aclient.hgetall(placement.placed_key("idle@h3"))
    assert set(placed) == {b"new-room"}


async def test_rooms_placed_between_two_heartbeats_spread_over_the_workers(aclient, settings):
    settings.MEDIA_ROOM_PEERS_ESTIMATE = 10
    await placement.publish(aclient, beat("m1@h", {}))
    await placement.publish(aclient, beat("m2@h", {}))
    queues = [await placement.place(aclient, f"room-{n}") for n in range(6)]
    assert sorted(queues) == ["media.m1@h"] * 3 + ["media.m2@h"] * 3
    # once a heartbeat lists a placed room it counts by its real peers, not twice
    await placement.publish(aclient, beat("m1@h", {"room-0": 40, "room-2": 5, "room-4": 5}))
    assert await placement.place(aclient, "room-6") == "media.m2@h"


async def test_stale_heartbeats_are_ignored(aclient, store):
    # a heartbeat older than WORKER_TTL whose key is still there (a worker clock, a slow TTL)
    stale = beat("stale@h", {}, ago=placement.WORKER_TTL + 5)
    store.set(placement.worker_key(stale.node), stale.encode(), px=60_000)
    store.zadd(placement.WORKERS_INDEX, {stale.node: time.time()})
    # a heartbeat whose key expired
    gone = beat("gone@h", {})
    await placement.publish(aclient, gone)
    store.pexpire(placement.worker_key(gone.node), 50)
    time.sleep(0.2)
    assert await placement.workers(aclient) == []
    assert await placement.place(aclient, "r") == placement.SHARED_QUEUE
    await placement.publish(aclient, beat("live@h", {"x": 180, "y": 15}))
    assert await placement.place(aclient, "r") == "media.live@h"


async def test_with_no_heartbeat_the_room_goes_to_the_shared_queue(aclient, store):
    assert await placement.place(aclient, "r") == "media"
    assert placement.place_sync(store, "r") == "media"
    assert list(store.scan_iter(f"{placement.PLACED_PREFIX}*")) == []


def test_the_beat_watchdog_places_like_the_router(store):
    placement_now = time.time()
    for node, rooms in (("a@h", {"r1": 90}), ("b@h", {"r2": 60})):
        load = beat(node, rooms)
        store.set(placement.worker_key(node), load.encode(), px=6000)
        store.zadd(placement.WORKERS_INDEX, {node: placement_now})
    assert placement.place_sync(store, "new") == "media.b@h"
    assert {w.node for w in placement.workers_sync(store)} == {"a@h", "b@h"}


async def test_a_withdrawn_worker_is_not_placed_on(aclient):
    await placement.publish(aclient, beat("leaving@h", {}))
    await placement.publish(aclient, beat("staying@h", {"r": 100}))
    await placement.withdraw(aclient, "leaving@h")
    assert await placement.place(aclient, "new") == "media.staying@h"


async def test_an_over_budget_worker_is_reported_with_where_its_joins_would_go(
    aclient, monkeypatch, caplog
):
    await placement.publish(aclient, beat("full@h", {"big": 230}, budget=200))
    await placement.publish(aclient, beat("spare@h", {"r": 20}))
    found = await placement.overflow_target(aclient, "full@h:1:x")
    assert found is not None
    mine, other = found
    assert (mine.node, mine.peers, other.node if other else None) == ("full@h", 230, "spare@h")
    assert await placement.overflow_target(aclient, "spare@h:1:x") is None  # within budget
    assert await placement.overflow_target(aclient, "unknown:1:x") is None

    monkeypatch.setattr("media_worker.router.redis_client", lambda: aclient)
    router = LeasedRouter()
    with caplog.at_level(logging.WARNING, logger="media_worker.router"):
        await router.overflow("big", "full@h:1:x")
        await router.overflow("r", "spare@h:1:x")
    assert router.overflows == 1
    assert "over its peer budget (230 > 200)" in caplog.text and "spare@h" in caplog.text


def test_a_heartbeat_round_trips_and_garbage_is_ignored():
    load = beat("n@h", {"a": 3}, cpu=0.01)
    assert WorkerLoad.decode(load.encode()) == load
    assert WorkerLoad.decode(b"not json") is None
    assert WorkerLoad.decode(b'{"rooms": 3}') is None
    assert load.queue == "media.n@h" and load.peers == 3 and not load.over_budget
    assert load.load(estimate=10) == pytest.approx(10 / 200)  # a room counts 10 peers at least
    assert load.load({"b"}, estimate=10) == pytest.approx(20 / 200)  # and so does a placed one
