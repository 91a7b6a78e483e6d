"""In celery mode ``RoomRouter.signal`` returns the media worker's reply (channels_redis, a real
runner hosting the room): while another coroutine of the process is blocked receiving on its
own channel — as every connected consumer is — the reply still arrives at once. A reply
channel with a prefix of its own sat behind that blocking receive until the 10 s timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
import redis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.utils import timezone

from conferences.models import Status
from media_worker import router as router_module
from media_worker import runner
from tests.conferences.factories import ConferenceFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.timeout(60)]


async def test_signal_returns_the_workers_reply_while_a_consumer_is_receiving(
    redis_url, org, settings, monkeypatch
):
    settings.MEDIA_ROOM_MODE = "celery"
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 30}]},
        }
    }
    monkeypatch.setattr(runner, "WATCHDOG", 60.0)
    conf = await database_sync_to_async(
        lambda: ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    )()
    code = str(conf.code)
    store = redis.Redis.from_url(redis_url)
    store.delete(router_module.lease_key(code))
    media = runner.MediaRunner(worker_id="signal-test:1:a")
    task = asyncio.create_task(media.run())
    layer = get_channel_layer()
    # connected consumers, each blocked receiving on its own channel
    waiting = [asyncio.create_task(layer.receive(await layer.new_channel())) for _ in range(4)]
    try:
        await asyncio.wait_for(media.ready.wait(), 10)
        assert await media.host(code)
        for n in range(3):
            started = time.monotonic()
            reply = await router_module.router().signal(
                code,
                {
                    "type": "offer",
                    "sdp": "v=0 not an offer",
                    "participant": "p",
                    "conn": "c",
                    "id": n,
                },
            )
            took = time.monotonic() - started
            assert took < 2, f"the reply waited {took:.1f}s behind the consumers' receive"
            assert reply is not None and reply["type"] == "error" and reply["id"] == n
            assert reply["code"] != "media_unavailable"
    finally:
        for receiving in waiting:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiving
        media.stop()
        await asyncio.wait_for(task, 20)
        store.delete(router_module.lease_key(code))
        store.close()
        await database_sync_to_async(connections.close_all)()


@pytest.mark.fullstack
@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_signal_returns_the_reply_of_a_media_worker_process(
    redis_url, postgres_required, org, tmp_path
):
    from tests.media_worker.test_runner_failover import Worker, lease_owner_pid, poll

    conf = await database_sync_to_async(
        lambda: ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    )()
    code = str(conf.code)
    store = redis.Redis.from_url(redis_url)
    worker = Worker("signal", tmp_path)
    try:
        await asyncio.to_thread(worker.wait_ready)
        router = router_module.router()
        await router.ensure(code)
        assert await poll(lambda: asyncio.to_thread(lease_owner_pid, store, code), 30)
        started = time.monotonic()
        reply = None
        for _ in range(20):
            try:
                reply = await router.signal(
                    code,
                    {
                        "type": "offer",
                        "sdp": "v=0 not an offer",
                        "participant": "p",
                        "conn": "c",
                        "id": 7,
                    },
                )
                break
            except router_module.MediaUnavailable:
                await asyncio.sleep(0.5)
        assert reply is not None, worker.log.read_text(errors="replace")[-3000:]
        assert reply["type"] == "error" and reply["id"] == 7, reply
        assert time.monotonic() - started < 10
    finally:
        await asyncio.to_thread(worker.stop)
        store.delete(router_module.lease_key(code))
        store.close()
        await database_sync_to_async(connections.close_all)()
