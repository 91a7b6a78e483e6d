"""Media through the live consumer in embedded (inprocess) mode: real aiortc clients on 127.0.0.1
offer over the WebSocket, the room runs on this test's loop, the floor moves the main slot,
mute stops forwarding, and presence is written from the media connection."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from conferences.models import PresenceInterval, Status
from media_worker import dispatch
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, open_socket, request, until
from tests.conftest import UserFactory
from tests.media_worker.sfu_helpers import Client, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.media,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("embedded_loopback"),
]

BRIGHT, DARK = 200, 40


@pytest.fixture
def conf(org, chair, vanchan_operator):
    user = UserFactory(username="operator_tranyen")
    Site.objects.get(key="138").operators.add(user)
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


def near(value, target, tolerance=25) -> bool:
    return value is not None and abs(value - target) <= tolerance


async def join_media(comm, client: Client) -> dict:
    reply, _ = await request(
        comm, {"type": "offer", "sdp": (await client.offer())["sdp"]}, timeout=30
    )
    assert reply["type"] == "answer", reply
    await client.accept(reply)
    return reply


def open_intervals(conference) -> dict[str, int]:
    rows = PresenceInterval.objects.filter(invitation__conference=conference)
    return {
        "open": rows.filter(left_at__isnull=True).count(),
        "closed": rows.filter(left_at__isnull=False).count(),
    }


async def test_sites_join_through_the_socket_and_the_floor_fills_main(
    conf, chair, vanchan_operator
):
    tranyen_operator = await database_sync_to_async(
        lambda: UserFactory(username="operator_tranyen")
    )()
    ch, _ = await open_socket(conf, chair)
    a_ws, a_snap = await open_socket(conf, vanchan_operator)
    b_ws, b_snap = await open_socket(conf, tranyen_operator)
    a, b = Client(luma=BRIGHT, tone=8000), Client(luma=DARK, tone=8000)
    try:
        await join_media(a_ws, a)
        await join_media(b_ws, b)
        assert list(dispatch.local_rooms()) == [str(conf.code)]
        reply, _ = await request(ch, {"type": "floor.give", "site": a_snap["me"]["site"]})
        assert reply["type"] == "ack"
        await wait_for(
            lambda: (
                b.slot("main") is not None
                and b.slot("main").frames >= 5
                and near(b.slot("main").luma, BRIGHT)
            ),
            timeout=30,
        )
        # the pages learn which site each slot shows (thumbnail and stage labels)
        # (coalesced to one event per 0.5 s, so read until it comes rather than drain)
        await until(
            ch,
            lambda f: f["type"] == "slots" and f["slots"]["main"] == a_snap["me"]["site"],
        )
        reply, _ = await request(ch, {"type": "floor.give", "site": b_snap["me"]["site"]})
        await wait_for(
            lambda: a.slot("main") is not None and near(a.slot("main").luma, DARK), timeout=30
        )
        # mute: the SFU stops forwarding the floor holder's audio
        audio = a.slot("main", "audio")
        await wait_for(lambda: audio is not None and audio.frames >= 5, timeout=30)
        reply, _ = await request(
            ch, {"type": "mute.set", "site": b_snap["me"]["site"], "muted": True}
        )
        assert reply["type"] == "ack"
        room = dispatch.local_rooms()[str(conf.code)].room
        await wait_for(lambda: b_snap["me"]["site"] in room.muted, timeout=5)
        await asyncio.sleep(0.5)  # packets already in flight
        heard = audio.frames
        await asyncio.sleep(1.5)
        assert audio.frames - heard <= 2, "muted audio still reaches the other site"
        # attendance from media: both sites connected
        for _ in range(100):
            counts = await database_sync_to_async(open_intervals)(conf)
            if counts["open"] == 2:
                break
            await asyncio.sleep(0.1)
        assert counts == {"open": 2, "closed": 0}
        reply, _ = await request(a_ws, {"type": "leave"})
        assert reply["type"] == "ack"
        for _ in range(100):
            counts = await database_sync_to_async(open_intervals)(conf)
            if counts["closed"] == 1:
                break
            await asyncio.sleep(0.1)
        assert counts == {"open": 1, "closed": 1}
    finally:
        await a.close()
        await b.close()
        await close_all(a_ws, b_ws, ch)
        for code in list(dispatch.local_rooms()):
            await dispatch.room_close(code)
        await database_sync_to_async(connections.close_all)()  # the room's attendance writes
    assert dispatch.local_rooms() == {}


async def test_a_consumer_cancelled_at_shutdown_still_closes_its_peer_and_the_room(
    conf, vanchan_operator
):
    """Daphne cancels consumers on SIGTERM without ``disconnect``: the ``finally`` must leave."""
    ws, _ = await open_socket(conf, vanchan_operator)
    client = Client(luma=BRIGHT, tone=8000)
    try:
        await join_media(ws, client)
        room = dispatch.local_rooms()[str(conf.code)].room
        await wait_for(
            lambda: (
                any(p.state == "connected" for p in room.peers.values()) if room.peers else False
            ),
            timeout=20,
        )
        ws.future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ws.future
        assert dispatch.local_rooms() == {}
        assert room.closed and room.peers == {}
    finally:
        await client.close()
        for code in list(dispatch.local_rooms()):
            await dispatch.room_close(code)
        await database_sync_to_async(connections.close_all)()  # the room's attendance writes
