"""Ending a conference closes an open roll call (``conferences.live.lifecycle``), whichever
entry point ends it: the console's socket or the conference page's "Đánh dấu đã kết thúc".
Before, the roll call stayed open forever: the snapshot of an ended conference still asked
for headcounts and the attendance page still showed it running."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from conferences.live import selectors
from conferences.live.reducer import LiveView, validate_event
from conferences.models import AuditEntry, RollCall, Status
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.SCHEDULED)
    invite(conference, "140", "138")
    return conference


def _closed_by_the_end(conf) -> tuple[list[RollCall], list[dict]]:
    calls = list(RollCall.objects.filter(conference=conf))
    ends = list(
        AuditEntry.objects.filter(conference=conf, action="rollcall.end").values("data", "actor")
    )
    return calls, ends


async def test_ending_from_the_console_closes_the_open_roll_call(conf, chair, vanchan_operator):
    ch, _ = await open_socket(conf, chair)
    op, _snap = await open_socket(conf, vanchan_operator)
    try:
        for message in ({"type": "start"}, {"type": "rollcall.start"}):
            reply, _ = await request(ch, message)
            assert reply["type"] == "ack", reply
        reply, _ = await request(op, {"type": "rollcall.answer", "headcount": 14})
        assert reply["type"] == "ack"
        await drain(op)
        reply, _ = await request(ch, {"type": "end"})
        assert reply["type"] == "ack"
        events = await drain(op, quiet=0.5)
        kinds = [e["type"] for e in events]
        assert "roll_call_ended" in kinds and "conference" in kinds, kinds
        for event in events:
            validate_event(event)
        late, _ = await request(op, {"type": "rollcall.answer", "headcount": 3})
        assert late["type"] == "error"
    finally:
        await close_all(ch, op)
    calls, ends = await database_sync_to_async(_closed_by_the_end)(conf)
    assert len(calls) == 1 and calls[0].ended_at is not None
    assert len(ends) == 1 and ends[0]["data"]["reason"] == "conference_end"
    assert ends[0]["data"]["answered"] == 1 and ends[0]["actor"] == chair.pk
    fresh = await database_sync_to_async(
        lambda: selectors.live_snapshot(conference=conf, participant=None)
    )()
    assert fresh["rollcall"] is None and fresh["conference"]["status"] == "ended"


async def test_ending_from_the_conference_page_closes_the_open_roll_call(
    conf, province_clerk, vanchan_operator
):
    client = AsyncClient()
    await database_sync_to_async(client.force_login)(province_clerk)
    for name, data in (
        ("conference_transition", {"to": "live"}),
        ("conference_attendance", {"action": "rollcall_start"}),
    ):
        response = await client.post(reverse(name, args=[conf.code]), data)
        assert response.status_code == 302
    op, snap = await open_socket(conf, vanchan_operator)
    try:
        assert snap["rollcall"] is not None
        response = await client.post(
            reverse("conference_transition", args=[conf.code]), {"to": "ended"}
        )
        assert response.status_code == 302
        events = await drain(op, quiet=0.5)
        view = LiveView(snap)
        for event in events:
            view.apply(event)
        assert view.state["rollcall"] is None
        assert view.state["conference"]["status"] == "ended"
    finally:
        await close_all(op)
    calls, ends = await database_sync_to_async(_closed_by_the_end)(conf)
    assert calls[0].ended_at is not None
    assert [e["data"]["reason"] for e in ends] == ["conference_end"]
    page = await client.get(reverse("conference_attendance", args=[conf.code]))
    assert page.status_code == 200
