"""The control plane of cascaded rooms (media_worker/cascade.py) against a real Redis: the pipe
key fenced by the lease epoch, the pipe ends' addresses, and two rooms piped through them."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis.asyncio as aioredis
from sfu_helpers import Client, connect, wait_for

from media_worker import cascade
from media_worker.cascade import RoomCascade
from media_worker.sfu import NetworkPolicy, Room
from media_worker.sfu.pipe import KEY_LENGTH

pytestmark = [pytest.mark.redis]


@pytest.fixture
async def client(redis_url):
    c = aioredis.from_url(redis_url)
    yield c
    await c.aclose()


@pytest.fixture
async def code(client):
    value = f"cascade-{uuid.uuid4().hex[:8]}"
    yield value
    await client.delete(cascade.key_key(value), cascade.ends_key(value))


async def test_the_pipe_key_belongs_to_the_lease_epoch_and_a_stale_holder_gets_none(client, code):
    first = await cascade.issue_key(client, code, 3)
    assert first is not None and len(first) == KEY_LENGTH
    assert await cascade.issue_key(client, code, 3) == first  # the heartbeat: same key
    assert 0 < await client.pttl(cascade.key_key(code)) <= cascade.PIPE_TTL * 1000
    assert await cascade.read_key(client, code) == (3, first)
    rotated = await cascade.issue_key(client, code, 4)  # a new holder: a new key
    assert rotated is not None and rotated != first
    assert await cascade.issue_key(client, code, 3) is None  # the old holder is fenced off
    assert await cascade.read_key(client, code) == (4, rotated)
    assert await cascade.read_key(client, code, min_epoch=5) is None
    with pytest.raises(ValueError, match="epoch"):
        await cascade.issue_key(client, code, -1)
    with pytest.raises(ValueError, match="room code"):
        await cascade.issue_key(client, "", 1)


async def test_pipe_ends_of_another_epoch_or_malformed_are_ignored(client, code):
    await cascade.publish_end(
        client, code, name="w1", peer="w2", address=("10.0.0.1", 4000), epoch=2
    )
    await cascade.publish_end(
        client, code, name="w2", peer="w1", address=("10.0.0.2", 4001), epoch=1
    )
    await client.hset(cascade.ends_key(code), "w3>w1", "not json")
    await client.hset(cascade.ends_key(code), "w4>w1", json.dumps({"epoch": 2}))
    assert await cascade.pipe_ends(client, code, epoch=2) == {("w1", "w2"): ("10.0.0.1", 4000)}
    await cascade.withdraw_ends(client, code, name="w1")
    assert await cascade.pipe_ends(client, code, epoch=2) == {}


@pytest.mark.media
@pytest.mark.timeout(120)
async def test_two_workers_pipe_a_room_with_the_key_from_redis_and_re_pipe_on_a_new_epoch(
    client, code
):
    a = Room(code, thumbnails=1, policy=NetworkPolicy.loopback())
    b = Room(code, thumbnails=1, policy=NetworkPolicy.loopback())
    ca = RoomCascade(a, code, name="w1", leads=True)  # the lease holder
    cb = RoomCascade(b, code, name="w2")
    clients: list[Client] = []
    try:
        await cascade.issue_key(client, code, 7)  # the lease holder (w1) opened the room
        for _ in range(2):  # each side sees the other's end on its next pass
            await ca.sync(client, ["w1", "w2"])
            await cb.sync(client, ["w1", "w2"])
        assert ca.connected == {"w2"} and cb.connected == {"w1"}
        publisher = Client(thumbnails=1, luma=200, tone=None)
        viewer = Client(thumbnails=1, luma=None, tone=None)
        clients += [publisher, viewer]
        await connect(a, "a", publisher)
        a.set_floor("a")  # decided on the lease holder's room, applied on b's by the pipe
        await connect(b, "s", viewer)
        await wait_for(lambda: viewer.slot("main") is not None and viewer.slot("main").frames >= 10)
        first = cb.pipes["w1"]
        # the room changes hands: a new epoch, a new key; both workers re-pipe under it
        await cascade.issue_key(client, code, 8)
        for _ in range(2):
            await ca.sync(client, ["w1", "w2"])
            await cb.sync(client, ["w1", "w2"])
        assert first.closed and cb.pipes["w1"] is not first and cb.epoch == 8
        frames = viewer.slot("main").frames
        await wait_for(lambda: viewer.slot("main").frames > frames + 10)
        assert b.stats()["slots"]["main/video"]["source"] == "a"
        # w2 no longer hosts part of the room: its pipes close, w1's source leaves room B
        await cb.sync(client, ["w2"])
        assert cb.pipes == {}
        await wait_for(lambda: b.remotes == {}, timeout=5)
        await asyncio.sleep(0)
    finally:
        for c in clients:
            await c.close()
        await ca.close()
        await cb.close()
        await a.close()
        await b.close()
