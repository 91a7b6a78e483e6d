"""Transient live facts through the socket: a site's page reports its media link and the
chair's console hears it; the room's slot layout reaches every page, and a page that connects
later is told the last one at once. Bad reports get an error frame and the socket stays up."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from conferences.live import media_sink
from conferences.models import Status
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    cache.clear()


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


async def test_a_sites_link_report_reaches_the_chairs_console(conf, chair, vanchan_operator):
    console, _ = await open_socket(conf, chair)
    site, snap = await open_socket(conf, vanchan_operator)
    try:
        await drain(console)
        reply, _ = await request(site, {"type": "link", "state": "stuck", "quality": "unknown"})
        assert reply["type"] == "ack", reply
        frames = await drain(console)
        links = [f for f in frames if f["type"] == "link"]
        assert links == [
            {"type": "link", "site": snap["me"]["site"], "state": "stuck", "quality": "unknown"}
        ]
    finally:
        await close_all(console, site)


@pytest.mark.parametrize(
    "report",
    [
        {"state": "bogus", "quality": "good"},
        {"state": "connected", "quality": "excellent"},
        {"state": ["connected"], "quality": "good"},
        {},
    ],
)
async def test_a_bad_link_report_is_an_error_frame_and_tells_nobody(
    conf, chair, vanchan_operator, report
):
    console, _ = await open_socket(conf, chair)
    site, _snap = await open_socket(conf, vanchan_operator)
    try:
        await drain(console)
        reply, _ = await request(site, {"type": "link", **report})
        assert (reply["type"], reply["code"]) == ("error", "invalid")
        pong, _ = await request(site, {"type": "ping"})
        assert pong["type"] == "pong"
        assert not [f for f in await drain(console) if f["type"] == "link"]
    finally:
        await close_all(console, site)


async def test_the_slot_layout_reaches_the_pages_and_a_later_page_at_once(
    conf, chair, vanchan_operator
):
    console, _ = await open_socket(conf, chair)
    try:
        await drain(console)
        layout = {"main": "140", "chair": "15-UBND", "thumb0": "138", "thumb1": None}
        await database_sync_to_async(media_sink.report)(
            str(conf.code), {"type": "slots", "slots": layout}
        )
        frames = await drain(console)
        assert [f for f in frames if f["type"] == "slots"] == [{"type": "slots", "slots": layout}]
        late, snap = await open_socket(conf, vanchan_operator)
        try:
            assert snap["type"] == "snapshot"
            first = await drain(late)
            assert first[:1] == [{"type": "slots", "slots": layout}], first
        finally:
            await close_all(late)
    finally:
        await close_all(console)


async def test_a_garbled_slot_report_from_the_room_changes_nothing(conf, chair):
    console, _ = await open_socket(conf, chair)
    try:
        await drain(console)
        ok = await database_sync_to_async(media_sink.report)(
            str(conf.code), {"type": "slots", "slots": "main=140"}
        )
        assert ok is True  # written off: the room must not retry it forever
        assert not [f for f in await drain(console) if f["type"] == "slots"]
    finally:
        await close_all(console)


async def test_the_rooms_publish_layers_reach_only_that_sites_page(conf, chair, vanchan_operator):
    console, _ = await open_socket(conf, chair)
    site, snap = await open_socket(conf, vanchan_operator)
    try:
        await drain(console)
        await drain(site)
        me = snap["me"]["site"]
        layers = {"l": True, "m": False, "h": True}
        ok = await database_sync_to_async(media_sink.report)(
            str(conf.code), {"type": "publish_layers", "participant": me, "layers": layers}
        )
        assert ok is True
        assert [f for f in await drain(site) if f["type"] == "publish_layers"] == [
            {"type": "publish_layers", "layers": layers}
        ]
        assert not [f for f in await drain(console) if f["type"] == "publish_layers"]
        # garbage from the room is written off and tells nobody
        for bad in ({"participant": me, "layers": "l"}, {"participant": None, "layers": layers}):
            ok = await database_sync_to_async(media_sink.report)(
                str(conf.code), {"type": "publish_layers", **bad}
            )
            assert ok is True
        assert not [f for f in await drain(site) if f["type"] == "publish_layers"]
    finally:
        await close_all(console, site)


async def test_the_rooms_quality_of_a_site_reaches_its_page_and_the_console(
    conf, chair, vanchan_operator
):
    console, _ = await open_socket(conf, chair)
    site, snap = await open_socket(conf, vanchan_operator)
    try:
        await drain(console)
        await drain(site)
        me = snap["me"]["site"]
        event = {"type": "quality", "participant": me, "quality": "reduced", "estimate": 1_480_000}
        assert await database_sync_to_async(media_sink.report)(str(conf.code), event) is True
        told = {"type": "quality", "site": me, "quality": "reduced", "estimate_kbps": 1480}
        assert [f for f in await drain(site) if f["type"] == "quality"] == [told]
        assert [f for f in await drain(console) if f["type"] == "quality"] == [told]
        # garbage from the room, and an observer's quality, tell nobody
        for bad in (
            {"participant": me, "quality": "great"},
            {"participant": None, "quality": "audio"},
            {"participant": "observer-x", "quality": "audio"},
        ):
            ok = await database_sync_to_async(media_sink.report)(
                str(conf.code), {"type": "quality", **bad}
            )
            assert ok is True
        assert not [f for f in await drain(console) if f["type"] == "quality"]
        # no estimate (a receiver that sends no REMB): null
        event = {"type": "quality", "participant": me, "quality": "full", "estimate": None}
        await database_sync_to_async(media_sink.report)(str(conf.code), event)
        assert [f["estimate_kbps"] for f in await drain(site) if f["type"] == "quality"] == [None]
    finally:
        await close_all(console, site)
