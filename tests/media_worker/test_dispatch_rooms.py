"""media_worker.dispatch / runner / settings_policy without browsers.

- the SFU policy comes from settings, and a bad TURN entry stops the process at start;
- a runner keeps its lease alive past the TTL and gives the room up when the lease is taken;
- the beat watchdog dispatches live conferences whose lease expired.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import redis
from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from conferences.models import Status
from media_worker import runner, tasks
from media_worker.settings_policy import network_policy
from tests.conferences.factories import ConferenceFactory


async def stop_runner(media: runner.MediaRunner, task: asyncio.Task) -> None:
    """Stop a runner a test started, and close the database connection its thread used (or
    PostgreSQL refuses to drop the test database)."""
    from django.db import connections

    media.stop()
    await asyncio.wait_for(task, 20)
    await database_sync_to_async(connections.close_all)()


def test_network_policy_is_built_from_settings(settings):
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    settings.MEDIA_STUN_SERVERS = ["stun:stun.example.test:3478"]
    settings.MEDIA_TURN_SERVERS = ["turn:turn.example.test:3478|giaoban|secret"]
    policy = network_policy()
    assert policy.host_addresses() == ["127.0.0.1"]
    assert policy.accepts("127.0.0.5") and not policy.accepts("10.0.0.1")
    assert [s.urls for s in policy.ice_servers] == [
        ("stun:stun.example.test:3478",),
        ("turn:turn.example.test:3478",),
    ]
    assert policy.ice_servers[1].username == "giaoban"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MEDIA_TURN_SERVERS", ["turn.example.test|only-user"]),
        ("MEDIA_ICE_ACCEPT_NETWORKS", ["not-a-network"]),
        ("MEDIA_ICE_ADDRESSES", ["999.1.1.1"]),
    ],
)
def test_bad_media_network_settings_fail_clearly(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match="MEDIA_"):
        network_policy()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
async def test_runner_renews_its_lease_and_gives_the_room_up_when_it_is_taken(
    redis_url, org, settings, monkeypatch
):
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    monkeypatch.setattr(runner, "LEASE_TTL", 2.0)
    monkeypatch.setattr(runner, "HEARTBEAT", 0.5)
    monkeypatch.setattr(runner, "WATCHDOG", 60.0)  # this test drives hosting by hand
    conf = await database_sync_to_async(
        lambda: ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    )()
    code = str(conf.code)
    store = redis.Redis.from_url(redis_url)
    store.delete(runner.lease_key(code))
    media = runner.MediaRunner(worker_id="test-runner:1:a")
    task = asyncio.create_task(media.run())
    try:
        await asyncio.wait_for(media.ready.wait(), 10)
        assert await media.host(code) is True
        assert store.get(runner.lease_key(code)) == b"test-runner:1:a"
        assert await media.host(code) is True  # idempotent
        await asyncio.sleep(3.0)  # longer than the TTL: the heartbeat kept it
        assert store.get(runner.lease_key(code)) == b"test-runner:1:a"
        store.set(runner.lease_key(code), "someone-else:2:b", px=10_000)
        for _ in range(50):
            if code not in media.rooms:
                break
            await asyncio.sleep(0.1)
        assert code not in media.rooms
        assert store.get(runner.lease_key(code)) == b"someone-else:2:b"  # not released: not ours
        assert await media.host(code) is False
    finally:
        await stop_runner(media, task)
        store.delete(runner.lease_key(code))
        store.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_the_watchdog_takes_a_dead_workers_room_when_its_lease_expires_not_a_pass_later(
    redis_url, org, settings, monkeypatch
):
    """A lease nobody renews (its worker was killed) is placed again just after it expires: the
    pass before the expiry schedules the next one for it (here the expiry is ~1 s after the
    first pass at ~6 s, and the pass after that would only come at ~12 s)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(runner, "WATCHDOG", 6.0)
    monkeypatch.setattr(runner.random, "uniform", lambda a, b: a)  # no jitter: exact passes
    conf = await database_sync_to_async(
        lambda: ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    )()
    code = str(conf.code)
    store = redis.Redis.from_url(redis_url)
    media = runner.MediaRunner(worker_id="watchdog-test:1:a")
    loop = asyncio.get_running_loop()
    placed: list[tuple[str, float]] = []

    async def place(room: str) -> None:
        placed.append((room, loop.time()))

    monkeypatch.setattr(media, "_place", place)
    start = loop.time()
    store.set(runner.lease_key(code), "dead-worker:2:b", px=7000)  # renewed by nobody
    task = asyncio.create_task(media.run())
    try:
        for _ in range(150):
            if any(room == code for room, _ in placed):
                break
            await asyncio.sleep(0.1)
        at = next(t for room, t in placed if room == code) - start
        assert 7.0 <= at <= 10.0, f"placed {at:.2f} s after the lease was set (expires at 7 s)"
        assert runner.expiry_wait(1500) == 1.52  # just after the expiry (jitter at its minimum)
    finally:
        await stop_runner(media, task)
        store.delete(runner.lease_key(code))
        store.close()


def _queued_codes(store: redis.Redis) -> list[str]:
    """Conference codes of ``host_room`` messages waiting in the Celery ``media`` queue."""
    codes = []
    for raw in store.lrange("media", 0, -1):
        envelope = json.loads(raw)
        if envelope.get("headers", {}).get("task") == "media_worker.tasks.host_room":
            args = json.loads(base64.b64decode(envelope["body"]))[0]
            codes.append(args[0])
    return codes


@pytest.mark.django_db
def test_beat_watchdog_dispatches_live_conferences_without_a_lease(redis_url, org):
    live = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    held = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    ConferenceFactory(status=Status.SCHEDULED)
    store = redis.Redis.from_url(redis_url)
    store.set(runner.lease_key(str(held.code)), "w:1:x", px=10_000)
    try:
        assert tasks.rooms_watchdog() >= 1
        queued = _queued_codes(store)
        assert str(live.code) in queued and str(held.code) not in queued
    finally:
        store.delete(runner.lease_key(str(held.code)))
        for raw in store.lrange("media", 0, -1):
            if str(live.code).encode() in raw or b"host_room" in raw:
                store.lrem("media", 0, raw)
        store.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_runner_handles_a_bounded_number_of_messages_and_counts_the_rest(
    redis_url, org, settings, monkeypatch
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(runner, "MAX_INFLIGHT", 1)
    monkeypatch.setattr(runner, "WATCHDOG", 60.0)
    media = runner.MediaRunner(worker_id="bounded:1:a")

    async def slow(message):
        await asyncio.sleep(2)

    monkeypatch.setattr(media, "_handle", slow)
    task = asyncio.create_task(media.run())
    try:
        await asyncio.wait_for(media.ready.wait(), 10)
        layer = media.layer
        replies = await layer.new_channel("test.reply.")
        for n in range(3):
            await layer.send(
                media.channel,
                {
                    "type": "room.signal",
                    "code": "x",
                    "reply_to": replies,
                    "message": {"type": "offer", "id": n},
                },
            )
        got = [await asyncio.wait_for(layer.receive(replies), 5) for _ in range(2)]
        assert media.dropped == 2
        assert [g["reply"]["code"] for g in got] == ["media_unavailable"] * 2
        assert {g["reply"]["id"] for g in got} == {1, 2}
    finally:
        await stop_runner(media, task)
