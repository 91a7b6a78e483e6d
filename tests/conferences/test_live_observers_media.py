"""A watch-only observer through the live consumer with real aiortc peers (issue 9 item 3): it
publishes nothing, receives the chair's video and audio, is counted as an observer (the
``observers`` event and the snapshot) and never as a site — no presence interval, no slot."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from conferences.live import selectors
from conferences.models import Conference, PresenceInterval, Status
from media_worker import dispatch
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, recv, request
from tests.media_worker.sfu_helpers import Client, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.media,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("embedded_loopback"),
]


@pytest.fixture
def conf(org, chair, vanchan_operator):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138", "15-UBND")
    return conference


async def join_media(comm, client: Client) -> dict:
    reply, _ = await request(
        comm, {"type": "offer", "sdp": (await client.offer())["sdp"]}, timeout=30
    )
    assert reply["type"] == "answer", reply
    await client.accept(reply)
    return reply


async def observers_event(comm, count: int) -> dict:
    for _ in range(200):
        frame = await recv(comm, timeout=20)
        if frame.get("type") == "observers" and frame["observers"] == count:
            return frame
    raise AssertionError(f"no observers={count} event")


async def test_an_observer_receives_the_chair_and_is_counted_only_as_an_observer(
    conf, chair, leader
):
    ch, _ = await open_socket(conf, chair)
    watcher, snap = await open_socket(conf, leader)
    assert snap["me"]["role"] == "observer"
    publisher, observer = Client(luma=200, tone=8000), Client(luma=None, tone=None)
    try:
        await join_media(ch, publisher)
        await drain(ch)
        await join_media(watcher, observer)
        await observers_event(ch, 1)
        await wait_for(
            lambda: (
                observer.slot("chair") is not None
                and observer.slot("chair").frames >= 10
                and observer.slot("chair", "audio") is not None
                and observer.slot("chair", "audio").frames >= 10
            ),
            timeout=30,
        )
        room = dispatch.local_rooms()[str(conf.code)].room
        observer_id = next(pid for pid in room.peers if pid.startswith("observer-"))
        slots = {s.name: s.source.owner if s.source else None for s in room.slots.values()}
        assert observer_id not in slots.values()

        def facts():
            c = Conference.objects.get(pk=conf.pk)
            fresh = selectors.live_snapshot(conference=c)
            return (
                fresh["observers"],
                sorted(
                    PresenceInterval.objects.filter(invitation__conference=c).values_list(
                        "invitation__site__key", flat=True
                    )
                ),
                {code for code, site in fresh["sites"].items() if site["connected"]},
                set(fresh["sites"]),
            )

        count, presence, connected, sites = await database_sync_to_async(facts)()
        assert count == 1
        assert presence == ["15-UBND"]  # the chair site only; the observer has none
        assert len(connected) == 1 and observer_id not in sites
        # the observer leaves: the count drops, nothing else changes
        reply, _ = await request(watcher, {"type": "leave"})
        assert reply["type"] == "ack"
        await observers_event(ch, 0)
        count, presence, connected, _sites = await database_sync_to_async(facts)()
        assert (count, presence, len(connected)) == (0, ["15-UBND"], 1)
    finally:
        await publisher.close()
        await observer.close()
        await close_all(watcher, ch)
        for code in list(dispatch.local_rooms()):
            await dispatch.room_close(code)
        await asyncio.sleep(0.1)
        await database_sync_to_async(connections.close_all)()
