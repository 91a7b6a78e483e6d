"""The room host through faults, with the real media sink and PostgreSQL:

- a presence write right after the database connection was dropped is retried until written
  (issue 10 defect 8: a ``leave`` after a PostgreSQL connection drop was lost);
- the room-event queue is bounded and counts what it drops; the in-process router keeps no lock
  per conference once the room is open (defect 9).
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError, connection, connections
from django.utils import timezone

from conferences.models import PresenceInterval, Status
from media_worker import host as host_module
from media_worker import router as router_module
from media_worker.host import RoomHost
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _live():
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conf, "140")
    return conf, str(Site.objects.get(key="140").code)


def _open_intervals(conf) -> int:
    try:
        return PresenceInterval.objects.filter(
            invitation__conference=conf, left_at__isnull=True
        ).count()
    except OperationalError:  # this thread's connection is the one the test dropped
        connection.close()
        return -1


async def test_a_leave_after_a_postgres_connection_drop_is_retried_until_written(
    postgres_required, org, settings, caplog
):
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    conf, site = await database_sync_to_async(_live)()
    host = await RoomHost.open(str(conf.code), worker="test")
    assert host is not None
    try:
        host._enqueue({"type": "participant_connection", "participant": site, "state": "connected"})
        for _ in range(100):
            if await database_sync_to_async(_open_intervals)(conf) == 1:
                break
            await asyncio.sleep(0.05)
        assert await database_sync_to_async(_open_intervals)(conf) == 1
        # drop the connection the host's writes use (the shared database thread's), as a
        # PostgreSQL restart or a network cut would
        pid = await database_sync_to_async(
            lambda: connection.cursor().execute("select pg_backend_pid()").fetchone()[0]
        )()
        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute("select pg_terminate_backend(%s)", [pid])
        host._enqueue({"type": "participant_left", "participant": site})
        await asyncio.sleep(1.5)  # the host meets the dropped connection first, and retries
        assert "could not record participant_left; retrying" in caplog.text
        for _ in range(100):
            if await database_sync_to_async(_open_intervals)(conf) == 0:
                break
            await asyncio.sleep(0.1)
        assert await database_sync_to_async(_open_intervals)(conf) == 0, "the leave was lost"
    finally:
        await host.close()
        await database_sync_to_async(connections.close_all)()


async def test_the_room_event_queue_is_bounded_and_counts_drops(org, settings, monkeypatch):
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    monkeypatch.setattr(host_module, "EVENT_QUEUE", 3)
    conf, site = await database_sync_to_async(_live)()
    host = await RoomHost.open(str(conf.code), worker="test")
    assert host is not None
    host._pump.cancel()  # nothing drains: the queue fills
    while not host._events.empty():  # what the opening room reported (its first slot layout)
        host._events.get_nowait()
    try:
        for _ in range(5):
            host._enqueue(
                {"type": "participant_media", "participant": site, "video": True, "audio": True}
            )
        assert host.queued == 3 and host.dropped == 2
    finally:
        host._pump = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        await host.close()
        await database_sync_to_async(connections.close_all)()


async def test_the_in_process_router_keeps_no_lock_per_open_room(org, settings):
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    local = router_module.LocalRouter()
    codes = []
    for _ in range(3):
        conf, _site = await database_sync_to_async(_live)()
        codes.append(str(conf.code))
        await local.ensure(str(conf.code))
    try:
        assert set(local.rooms) == set(codes)
        assert local._opening == {}
    finally:
        for code in codes:
            await local.close(code)
        await database_sync_to_async(connections.close_all)()


@pytest.mark.media
async def test_a_site_that_stops_sending_is_recorded_as_left_when_its_media_stopped(org, settings):
    """The browser's network froze (no BYE, no ICE failure yet): after MEDIA_NO_MEDIA_TIMEOUT
    seconds without a packet the site is recorded as left at the moment its media stopped."""
    from tests.media_worker.sfu_helpers import Client, wait_for

    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    settings.MEDIA_NO_MEDIA_TIMEOUT = 2
    conf, site = await database_sync_to_async(_live)()
    host = await RoomHost.open(str(conf.code), worker="test")
    assert host is not None
    client = Client(luma=120, tone=8000)
    try:
        answer = await host.offer(participant=site, conn="c1", offer=await client.offer())
        await client.accept(answer)
        await wait_for(
            lambda: host.room.peers.get(site) is not None and host.room.peers[site].rtp_in > 20, 20
        )
        for _ in range(100):
            if await database_sync_to_async(_open_intervals)(conf) == 1:
                break
            await asyncio.sleep(0.1)
        assert await database_sync_to_async(_open_intervals)(conf) == 1
        ice = client.pc.getTransceivers()[0].receiver.transport.transport._connection
        for protocol in ice._protocols:  # drop everything the client sends, as a dead link would
            protocol.transport.sendto = lambda *args, **kwargs: None
        frozen = timezone.now()
        for _ in range(80):
            if await database_sync_to_async(_open_intervals)(conf) == 0:
                break
            await asyncio.sleep(0.1)
        interval = await database_sync_to_async(
            lambda: PresenceInterval.objects.get(invitation__conference=conf)
        )()
        assert interval.left_at is not None, "a silent site stayed connected"
        assert abs((interval.left_at - frozen).total_seconds()) < 1.5
        assert site not in host.room.peers
    finally:
        await client.close()
        await host.close()
        await database_sync_to_async(connections.close_all)()
