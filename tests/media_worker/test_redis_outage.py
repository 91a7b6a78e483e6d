"""A Redis outage longer than the lease (issue 10 defect 8), on a private redis-server:

a media runner hosts a live room whose site is connected; Redis is frozen (SIGSTOP) past the
lease TTL, then resumed. The runner gives the room up while it cannot renew; when Redis is back
the room is hosted again within the lease TTL, at a new epoch, and the presence opened before
the outage is closed when the old lease expired — the outage is a gap, not continuous presence.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.db import connections
from django.utils import timezone

from conferences.models import LiveState, PresenceInterval, Status
from media_worker import runner
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import require

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120), pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path):
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield proc, url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def _setup():
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conf, "140")
    return conf, str(Site.objects.get(key="140").code)


async def test_after_a_redis_outage_the_room_returns_within_the_ttl_and_presence_has_a_gap(
    private_redis, org, settings, monkeypatch
):
    proc, url = private_redis
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": 2}]},
        }
    }
    channel_layers.backends.clear()  # a layer cached by an earlier test points elsewhere
    monkeypatch.setattr(runner, "LEASE_TTL", 3.0)
    monkeypatch.setattr(runner, "HEARTBEAT", 0.5)
    monkeypatch.setattr(runner, "WATCHDOG", 0.5)
    conf, site = await database_sync_to_async(_setup)()
    code = str(conf.code)
    media = runner.MediaRunner(worker_id="outage:1:a", redis_url=url)
    task = asyncio.create_task(media.run())
    try:
        await asyncio.wait_for(media.ready.wait(), 10)
        assert await media.host(code)
        media.rooms[code]._enqueue(
            {"type": "participant_connection", "participant": site, "state": "connected"}
        )
        for _ in range(50):
            if await database_sync_to_async(
                PresenceInterval.objects.filter(
                    invitation__conference=conf, left_at__isnull=True
                ).exists
            )():
                break
            await asyncio.sleep(0.1)
        frozen_at = timezone.now()
        os.killpg(proc.pid, signal.SIGSTOP)
        await asyncio.sleep(5.0)  # longer than the lease
        assert code not in media.rooms, "the room was kept without a renewable lease"
        os.killpg(proc.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        for _ in range(100):
            if code in media.rooms:
                break
            await asyncio.sleep(0.1)
        assert code in media.rooms, "the room did not come back"
        back_after = time.monotonic() - resumed_at
        assert back_after <= runner.LEASE_TTL, f"the room came back {back_after:.1f}s after Redis"
        epoch = await database_sync_to_async(
            lambda: LiveState.objects.get(conference=conf).room_epoch
        )()
        assert epoch == 2 == media.rooms[code].epoch
        interval = await database_sync_to_async(
            lambda: PresenceInterval.objects.get(invitation__conference=conf)
        )()
        assert interval.left_at is not None, "the outage shows as continuous presence"
        assert frozen_at - dt_slack() <= interval.left_at <= timezone.now()
    finally:
        media.stop()
        await asyncio.wait_for(task, 20)
        channel_layers.backends.clear()
        await database_sync_to_async(connections.close_all)()


def dt_slack():
    import datetime as dt

    return dt.timedelta(seconds=1)
