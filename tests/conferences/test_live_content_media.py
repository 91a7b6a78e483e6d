"""Who is sent the content line, through the live socket with real aiortc peers (issue 14):
a site that offers the content slot ``inactive`` (a phone that opted out) gets no content
packet while another site gets the presenter's screen; in a confidential conference an
uninvited watch-only observer gets no content packet even when it asks for the line (the
documents' rule, enforced by the room), while an invited site does."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from conferences.live import presenting
from conferences.live.participants import participant_resolve
from conferences.models import Status
from media_worker import dispatch
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, open_socket, request
from tests.media_worker.sfu_helpers import Client, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.media,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("embedded_loopback"),
]

CAMERA, SCREEN, CHAIR_CAMERA = 40, 200, 120  # flat lumas (the moving band stays < 256)


@pytest.fixture
def conf(org, chair, vanchan_operator):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138", "15-UBND")
    return conference


def near(value: int | None, target: int, tolerance: int = 25) -> bool:
    return value is not None and abs(value - target) <= tolerance


async def join_media(comm, client: Client) -> dict:
    offer = await client.offer()  # with "content": true, as the pages send it
    reply, _ = await request(comm, offer, timeout=30)
    assert reply["type"] == "answer", reply
    await client.accept(reply)
    return reply


async def present_screen(chair_ws, presenter_ws, site: str) -> None:
    reply, _ = await request(chair_ws, {"type": "presenter.grant", "site": site})
    assert reply["type"] == "ack", reply
    reply, _ = await request(presenter_ws, {"type": "content.start", "kind": "screen"})
    assert reply["type"] == "ack", reply


def content_packets(client: Client, ssrc: int) -> int:
    return len(client.rtp_log.get(ssrc, []))


async def content_reaches_only(conf, receiver: Client, excluded: Client):
    """The receiver decodes the presenter's screen and keeps being sent content packets, while
    ``excluded`` -- connected, decoding the chair's camera -- is sent no content packet; returns
    the room."""
    await wait_for(
        lambda: receiver.slot("content") is not None and receiver.slot("content").frames >= 10,
        timeout=30,
    )
    # the presenter's screen, not its camera (a frame may catch the moving band)
    assert any(near(luma, SCREEN) for luma in receiver.slot("content").lumas[-5:])
    await wait_for(
        lambda: excluded.slot("chair") is not None and excluded.slot("chair").frames >= 10,
        timeout=30,
    )
    room = dispatch.local_rooms()[str(conf.code)].room
    ssrc = room.slots["content/video"].ssrc
    seen = content_packets(receiver, ssrc)
    await asyncio.sleep(1.0)
    assert content_packets(receiver, ssrc) > seen  # content keeps flowing to the receiver
    assert content_packets(excluded, ssrc) == 0
    return room


async def cleanup(*comms) -> None:
    await close_all(*comms)
    for code in list(dispatch.local_rooms()):
        await dispatch.room_close(code)
    await asyncio.sleep(0.1)
    await database_sync_to_async(connections.close_all)()


async def test_a_site_that_offers_the_content_slot_inactive_gets_no_content_while_another_does(
    conf, chair, vanchan_operator, tranyen
):
    vanchan, chair_site = await database_sync_to_async(
        lambda: (str(Site.objects.get(key="140").code), str(Site.objects.get(key="15-UBND").code))
    )()
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    ph, _ = await open_socket(conf, tranyen)
    presenter = Client(luma=CAMERA, tone=None, content=SCREEN)
    viewer = Client(luma=CHAIR_CAMERA, tone=None, content=None)  # the chair site
    phone = Client(luma=None, tone=None, content=None, content_slot="inactive")
    clients = (presenter, viewer, phone)
    try:
        await join_media(op, presenter)
        await join_media(ch, viewer)
        answer = await join_media(ph, phone)
        assert "content" in answer["slots"]  # the line is answered, only nothing is sent on it
        await present_screen(ch, op, vanchan)
        # the phone is connected and receiving (the chair's camera) -- but no content at all
        room = await content_reaches_only(conf, viewer, phone)
        assert phone.slot("content") is None or phone.slot("content").frames == 0
        assert set(room.slots["content/video"].outputs) == {chair_site, vanchan}
    finally:
        for client in clients:
            await client.close()
        await cleanup(ch, op, ph)


async def test_an_uninvited_observer_of_a_confidential_conference_gets_no_content_packet(
    conf, chair, vanchan_operator, tranyen, listed
):
    await database_sync_to_async(
        lambda: type(conf).objects.filter(pk=conf.pk).update(confidential=True)
    )()
    vanchan = await database_sync_to_async(lambda: str(Site.objects.get(key="140").code))()
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    tr, _ = await open_socket(conf, tranyen)
    ob, snap = await open_socket(conf, listed, watch=True)
    assert snap["me"]["role"] == "observer" and snap["me"]["chat"]["read"] is False
    presenter = Client(luma=CAMERA, tone=None, content=SCREEN)
    chair_site = Client(luma=CHAIR_CAMERA, tone=None, content=None)
    invited = Client(luma=None, tone=None, content=None)
    # the observer's peer asks for the content line (recvonly), whatever its page would do
    observer = Client(luma=None, tone=None, content=None)
    clients = [presenter, chair_site, invited, observer]
    try:
        await join_media(op, presenter)
        await join_media(ch, chair_site)
        await join_media(tr, invited)
        await join_media(ob, observer)
        await present_screen(ch, op, vanchan)
        # the observer is connected and watching the chair, but is sent no content packet
        room = await content_reaches_only(conf, invited, observer)
        observer_id = next(pid for pid in room.peers if pid.startswith("observer-"))
        assert observer_id not in room.slots["content/video"].outputs

        # the same observer once the conference is no longer confidential: its next offer
        # (a new connection) is sent the content like any reader of the documents
        await database_sync_to_async(
            lambda: type(conf).objects.filter(pk=conf.pk).update(confidential=False)
        )()
        again = Client(luma=None, tone=None, content=None)
        clients.append(again)
        await join_media(ob, again)
        await wait_for(
            lambda: again.slot("content") is not None and again.slot("content").frames >= 5,
            timeout=30,
        )
    finally:
        for client in clients:
            await client.close()
        await cleanup(ch, op, tr, ob)


def test_content_follows_the_documents_rule(conf, chair, leader, listed, vanchan_operator):
    """Sites always; an observer where it may read the documents: a listed uninvited clerk
    not in a confidential conference, a leader with a role over an invited unit always."""
    site = participant_resolve(user=vanchan_operator, conference=conf, site_code=None)
    watcher = participant_resolve(user=listed, conference=conf, site_code=None, watch=True)
    boss = participant_resolve(user=leader, conference=conf, site_code=None, watch=True)
    assert watcher.observer and boss.observer and not site.observer
    assert presenting.may_receive_content(watcher, conf)
    conf.confidential = True
    conf.save(update_fields=["confidential"])
    assert presenting.may_receive_content(site, conf)
    assert not presenting.may_receive_content(watcher, conf)
    assert presenting.may_receive_content(boss, conf)
