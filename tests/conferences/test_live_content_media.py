"""Who is sent the content line, through the live socket with real aiortc peers (issue 14):
a site that offers the content slot ``inactive`` (a phone that opted out) gets no content
packet while another site gets the presenter's screen."""

from __future__ import annotations

import asyncio

import aioice.ice
import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from conferences.models import Status
from media_worker import dispatch
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, open_socket, request
from tests.conftest import UserFactory
from tests.media_worker.sfu_helpers import Client, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.media, pytest.mark.timeout(180)]

CAMERA, SCREEN, CHAIR_CAMERA = 40, 200, 120  # flat lumas (the moving band stays < 256)


@pytest.fixture(autouse=True)
def embedded_loopback(settings, monkeypatch):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
def conf(org, chair, vanchan_operator):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138", "15-UBND")
    return conference


@pytest.fixture
def tranyen(org):
    user = UserFactory(username="operator_tranyen")
    Site.objects.get(key="138").operators.add(user)
    return user


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
        await wait_for(
            lambda: viewer.slot("content") is not None and viewer.slot("content").frames >= 10,
            timeout=30,
        )
        # the presenter's screen, not its camera (a frame may catch the moving band)
        assert any(near(luma, SCREEN) for luma in viewer.slot("content").lumas[-5:])
        # the phone is connected and receiving (the chair's camera) -- but no content at all
        await wait_for(
            lambda: phone.slot("chair") is not None and phone.slot("chair").frames >= 10,
            timeout=30,
        )
        room = dispatch.local_rooms()[str(conf.code)].room
        ssrc = room.slots["content/video"].ssrc
        seen = content_packets(viewer, ssrc)
        await asyncio.sleep(1.0)
        assert content_packets(viewer, ssrc) > seen  # content keeps flowing to the viewer
        assert content_packets(phone, ssrc) == 0
        assert phone.slot("content") is None or phone.slot("content").frames == 0
        assert set(room.slots["content/video"].outputs) == {chair_site, vanchan}
    finally:
        for client in clients:
            await client.close()
        await cleanup(ch, op, ph)
