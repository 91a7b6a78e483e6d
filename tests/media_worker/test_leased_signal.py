"""In celery mode ``RoomRouter.signal`` returns the reply of a real media worker process at once
(channels_redis). The reply channel uses the process's default prefix: with a prefix of its own
it sat behind the consumers' blocking receives until the 10 s timeout (the celery-mode failover
and browser tests, which run consumers, cover that case)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from conferences.models import Status
from media_worker import router as router_module
from tests.conferences.factories import ConferenceFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.timeout(60)]


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
