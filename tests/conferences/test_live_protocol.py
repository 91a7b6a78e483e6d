"""The live WebSocket from outside: who may connect, the snapshot, control, bad input, replacement.

Real ``portal.asgi.application`` through ``WebsocketCommunicator``; transactional database so
the consumer's threads see the data and events leave after commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from channels.db import database_sync_to_async
from django.core import mail
from django.core.mail.backends import locmem
from django.utils import timezone

from conferences import joinlinks
from conferences.consumers import CHAIR_TYPES
from conferences.live import commands, notify, selectors
from conferences.live.reducer import LiveView, validate_event
from conferences.models import AgendaItem, AuditEntry, Conference, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, recv, request, send
from tests.conftest import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def embedded(settings):
    """One process: in-memory channel layer, rooms in this process (as with no REDIS_URL)."""
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # embedded: notifications on the background thread


@pytest.fixture
def tranyen_operator(org):
    user = UserFactory(username="operator_tranyen", email="op138@example.test")
    Site.objects.get(key="138").operators.add(user)
    return user


@pytest.fixture
def conf(org, chair, vanchan_operator, tranyen_operator):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138", "141")
    AgendaItem.objects.create(conference=conference, position=1, title="Khai mạc")
    AgendaItem.objects.create(conference=conference, position=2, title="Báo cáo tình hình")
    return conference


def _unversioned(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "version"}


def code_of(key: str) -> str:
    return str(Site.objects.get(key=key).code)


async def site_code(key: str) -> str:
    return await database_sync_to_async(code_of)(key)


async def test_operator_gets_one_snapshot_as_their_site_and_chair_joins_as_chair_site(
    conf, chair, vanchan_operator
):
    op, snap = await open_socket(conf, vanchan_operator)
    ch, chair_snap = await open_socket(conf, chair)
    try:
        assert snap["type"] == "snapshot"
        assert snap["me"]["site"] == await site_code("140")
        assert snap["me"]["chair"] is False
        assert snap["conference"]["status"] == "live"
        assert [a["title"] for a in snap["agenda"]] == ["Khai mạc", "Báo cáo tình hình"]
        assert set(snap["sites"]) == {await site_code(k) for k in ("140", "138", "141", "15-UBND")}
        assert snap["sites"][await site_code("15-UBND")]["chair"] is True
        assert chair_snap["me"]["site"] == await site_code("15-UBND")
        assert chair_snap["me"]["chair"] is True
        assert await op.receive_nothing(0.2)  # exactly one snapshot
    finally:
        await close_all(op, ch)


async def test_uninvited_operator_outsider_anonymous_and_unknown_conference_are_closed(
    conf, outsider, org
):
    other_op = await database_sync_to_async(lambda: UserFactory(username="operator_mucangchai"))()
    await database_sync_to_async(lambda: Site.objects.get(key="139").operators.add(other_op))()
    for user, expected in (
        (other_op, (4403, "forbidden")),
        (outsider, (4403, "forbidden")),
        (None, (4401, "unauthenticated")),
    ):
        _comm, frame = await open_socket(conf, user)
        assert (frame["type"], frame["code"], frame["reason"]) == ("close", *expected), user
    _comm, frame = await open_socket(conf, outsider, code="6f1d0b8e-0000-4000-8000-000000000000")
    assert (frame["code"], frame["reason"]) == (4404, "not_found")


async def test_join_link_admits_without_session_and_forged_or_stale_links_are_closed(
    conf, tranyen_operator
):
    def tokens():
        site = Site.objects.get(key="138")
        good = joinlinks.join_link_token(conference=conf, user=tranyen_operator, site=site)
        stale = joinlinks.join_link_token(
            conference=conf,
            user=tranyen_operator,
            site=site,
            expires_at=timezone.now() - dt.timedelta(seconds=1),
        )
        other = ConferenceFactory(status=Status.LIVE)
        foreign = joinlinks.join_link_token(conference=other, user=tranyen_operator, site=site)
        uninvited_site = joinlinks.join_link_token(
            conference=conf, user=tranyen_operator, site=Site.objects.get(key="139")
        )
        return good, stale, foreign, uninvited_site

    good, stale, foreign, uninvited_site = await database_sync_to_async(tokens)()
    comm, snap = await open_socket(conf, None, token=good)
    assert snap["type"] == "snapshot" and snap["me"]["site"] == await site_code("138")
    await close_all(comm)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for token, reason in (
        (forged, "join_link_invalid"),
        ("garbage", "join_link_invalid"),
        (stale, "join_link_expired"),
        (foreign, "join_link_invalid"),
        (uninvited_site, "join_link_invalid"),
    ):
        _, frame = await open_socket(conf, None, token=token)
        assert (frame["type"], frame["code"], frame["reason"]) == ("close", 4403, reason), token


CHAIR_PAYLOADS = {
    "start": {},
    "end": {},
    "floor.give": {"site": "x"},
    "floor.clear": {},
    "broadcast.set": {"site": None},
    "mute.set": {"site": "x", "muted": True},
    "mute.all": {},
    "agenda.goto": {"item": None},
    "rollcall.start": {},
    "rollcall.end": {},
    "absent.call": {},
    "recording.pause": {},
    "recording.resume": {},
    "presenter.grant": {"site": "x"},
    "presenter.revoke": {},
    "presenter.floor": {"allowed": True},
    "chat.set": {"enabled": False},
}


async def test_every_chair_message_from_a_participant_is_forbidden_and_changes_nothing(
    conf, vanchan_operator
):
    assert set(CHAIR_PAYLOADS) == CHAIR_TYPES
    op, snap = await open_socket(conf, vanchan_operator)
    try:
        for kind, payload in CHAIR_PAYLOADS.items():
            payload = dict(payload)
            if "site" in payload and payload["site"] == "x":
                payload["site"] = snap["me"]["site"]
            reply, _ = await request(op, {"type": kind, **payload})
            assert (reply["type"], reply["code"]) == ("error", "forbidden"), kind
        # Acting on another site is a chair's privilege too.
        reply, _ = await request(op, {"type": "hand.lower", "site": await site_code("138")})
        assert reply["code"] == "forbidden"
        await database_sync_to_async(
            lambda: commands.rollcall_start(actor=_chair(conf), conference=conf)
        )()
        await drain(op)
        reply, _ = await request(
            op, {"type": "rollcall.answer", "headcount": 5, "site": await site_code("138")}
        )
        assert reply["code"] == "forbidden"
        reply, _ = await request(op, {"type": "ping"})
        assert reply["type"] == "pong"
    finally:
        await close_all(op)
    actions = await database_sync_to_async(
        lambda: list(
            AuditEntry.objects.filter(conference=conf, action__startswith="live.").values_list(
                "action", flat=True
            )
        )
    )()
    assert actions == []
    status = await database_sync_to_async(lambda: Conference.objects.get(pk=conf.pk).status)()
    assert status == Status.LIVE


def _chair(conf):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="chair_province")


async def test_bad_input_gets_an_error_frame_and_the_socket_stays_up(conf, vanchan_operator):
    op, _ = await open_socket(conf, vanchan_operator)
    try:
        await send(op, "{not json")
        assert (await recv(op))["code"] == "bad_json"
        await send(op, "[1, 2]")
        assert (await recv(op))["code"] == "bad_json"
        await send(op, {"no": "type"})
        assert (await recv(op))["code"] == "bad_json"
        reply, _ = await request(op, {"type": "teleport"})
        assert reply["code"] == "unknown_type"
        await send(op, {"type": "ping", "pad": "x" * (70 * 1024)})
        assert (await recv(op))["code"] == "too_large"
        reply, _ = await request(op, {"type": "rollcall.answer", "headcount": "many"})
        assert reply["code"] == "invalid"
        reply, _ = await request(op, {"type": "offer", "sdp": "v=0 nonsense"})
        assert reply["type"] == "error"
        reply, _ = await request(op, {"type": "ping"})
        assert reply["type"] == "pong"
    finally:
        await close_all(op)


async def test_second_connection_for_the_same_site_replaces_the_first(conf, vanchan_operator):
    first, _ = await open_socket(conf, vanchan_operator)
    second, snap = await open_socket(conf, vanchan_operator, takeover=True)
    assert snap["type"] == "snapshot"
    assert (await recv(first)) == {"type": "replaced"}
    closed = await recv(first)
    assert (closed["type"], closed["code"]) == ("close", 4409)
    reply, _ = await request(second, {"type": "ping"})
    assert reply["type"] == "pong"
    await close_all(second)


async def test_chair_control_is_audited_before_it_is_broadcast_to_everyone(
    conf, chair, vanchan_operator, tranyen_operator
):
    op, snap = await open_socket(conf, vanchan_operator)
    ch, _ = await open_socket(conf, chair)
    vanchan = snap["me"]["site"]
    try:
        reply, _ = await request(op, {"type": "hand.raise"})
        assert reply["type"] == "ack"
        reply, _ = await request(ch, {"type": "floor.give", "site": vanchan})
        assert reply == {"type": "ack", "id": reply["id"], "for": "floor.give"}
        events = await drain(op, quiet=1.0)  # hands events may be coalesced (0.5 s)
        assert {"type": "floor", "floor": vanchan} in [_unversioned(e) for e in events]
        assert {"type": "hands", "hands": []} in [
            _unversioned(e) for e in events
        ]  # lowers the hand
        reply, _ = await request(ch, {"type": "mute.set", "site": vanchan, "muted": True})
        assert {"type": "muted", "muted": [vanchan]} in [_unversioned(e) for e in await drain(op)]
        reply, _ = await request(
            ch, {"type": "floor.give", "site": "00000000-0000-4000-8000-000000000000"}
        )
        assert reply["code"] == "not_invited"
        mail.outbox.clear()
        reply, _ = await request(ch, {"type": "absent.call"})
        assert reply["type"] == "ack"
        called = [e for e in await drain(op) if e["type"] == "absent.called"]
        assert len(called) == 1 and await site_code("138") in called[0]["sites"]
        assert await asyncio.to_thread(notify.wait_idle)
        assert any("op138@example.test" in m.to for m in mail.outbox)
    finally:
        await close_all(op, ch)
    audit = await database_sync_to_async(
        lambda: list(
            AuditEntry.objects.filter(conference=conf, action__startswith="live.").values_list(
                "action", "actor__username", "site__key", "data"
            )
        )
    )()
    assert ("live.floor.give", "chair_province", "140", {"site": "140"}) in audit
    assert ("live.mute.set", "chair_province", "140", {"site": "140", "muted": True}) in audit
    assert ("live.hand.raise", "operator_vanchan", "140", {"site": "140"}) in audit
    assert any(a[0] == "live.absent.call" for a in audit)


async def test_snapshot_plus_events_equals_a_fresh_snapshot(
    conf, chair, vanchan_operator, tranyen_operator
):
    op, snap = await open_socket(conf, vanchan_operator)
    ch, _ = await open_socket(conf, chair)
    tr, _ = await open_socket(conf, tranyen_operator)
    vanchan, tranyen = snap["me"]["site"], await site_code("138")
    items = [a["id"] for a in snap["agenda"]]
    events: list[dict] = []
    try:
        for comm, message in [
            (tr, {"type": "hand.raise"}),
            (op, {"type": "hand.raise"}),
            (ch, {"type": "floor.give", "site": tranyen}),
            (ch, {"type": "broadcast.set", "site": vanchan}),
            (ch, {"type": "mute.all"}),
            (ch, {"type": "mute.set", "site": tranyen, "muted": False}),
            (ch, {"type": "agenda.goto", "item": items[1]}),
            (ch, {"type": "rollcall.start"}),
            (op, {"type": "rollcall.answer", "headcount": 12}),
            (tr, {"type": "rollcall.answer", "headcount": 7}),
            (ch, {"type": "rollcall.end"}),
            (ch, {"type": "rollcall.start"}),
            (op, {"type": "rollcall.answer", "headcount": 11}),
            (ch, {"type": "hand.lower", "site": vanchan}),
        ]:
            reply, before = await request(comm, message)
            assert reply["type"] == "ack", (message, reply)
            if comm is op:
                events += before
        events += await drain(op, quiet=1.0)  # hands events may be coalesced (0.5 s)
        view = LiveView(snap)
        for event in events:
            validate_event(event)
            view.apply(event)
        state = view.state
        fresh = await database_sync_to_async(
            lambda: selectors.live_snapshot(conference=conf, participant=None)
        )()
        state.pop("me")
        assert state == fresh
        assert fresh["rollcall"]["answers"] == {vanchan: 11}
        assert fresh["sites"][tranyen]["headcount"] == 7
        assert fresh["current_item"] == items[1]
    finally:
        await close_all(op, ch, tr)


async def test_chair_starts_and_ends_a_scheduled_conference(org, chair, vanchan_operator):
    conference = await database_sync_to_async(lambda: ConferenceFactory(status=Status.SCHEDULED))()
    await database_sync_to_async(lambda: invite(conference, "140"))()
    ch, snap = await open_socket(conference, chair)
    op, _ = await open_socket(conference, vanchan_operator)
    try:
        assert snap["conference"]["status"] == "scheduled"
        reply, _ = await request(op, {"type": "offer", "sdp": "v=0"})
        assert reply["code"] == "not_live"
        reply, _ = await request(ch, {"type": "start"})
        assert reply["type"] == "ack"
        started = [e for e in await drain(op) if e["type"] == "conference"]
        assert started[-1]["conference"]["status"] == "live"
        reply, _ = await request(ch, {"type": "end"})
        assert reply["type"] == "ack"
        ended = [e for e in await drain(op) if e["type"] == "conference"]
        assert ended[-1]["conference"]["status"] == "ended"
        reply, _ = await request(ch, {"type": "end"})
        assert reply["code"] == "bad_transition"
    finally:
        await close_all(ch, op)
    actions = await database_sync_to_async(
        lambda: list(
            AuditEntry.objects.filter(conference=conference).values_list("action", flat=True)
        )
    )()
    assert "live.start" in actions and "live.end" in actions


async def test_a_leader_without_chair_rights_cannot_knock_the_chair_off(conf, chair, leader):
    chair_socket, snapshot = await open_socket(conf, chair)
    assert snapshot["type"] == "snapshot"
    await drain(chair_socket)
    leader_socket, first = await open_socket(conf, leader)
    # a watch-only observer (issue 9 item 3): not the chair site, no chair rights
    assert first["type"] == "snapshot", first
    assert (first["me"]["role"], first["me"]["site"], first["me"]["chair"]) == (
        "observer",
        None,
        False,
    )
    reply, events = await request(chair_socket, {"type": "ping"})
    assert reply["type"] == "pong"
    assert all(e.get("type") != "replaced" for e in events)
    await close_all(chair_socket, leader_socket)


class SlowMailBackend(locmem.EmailBackend):
    """A mail server that takes 3 s per message (outside this machine, so it is mocked)."""

    def send_messages(self, messages):
        time.sleep(3)
        return super().send_messages(messages)


async def test_a_slow_mail_server_does_not_freeze_the_live_sockets(
    conf, chair, vanchan_operator, settings
):
    settings.EMAIL_BACKEND = f"{__name__}.SlowMailBackend"
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    try:
        mail.outbox.clear()
        started = time.monotonic()
        reply, _ = await request(ch, {"type": "absent.call"})
        assert reply["type"] == "ack"
        reply, _ = await request(op, {"type": "hand.raise"})  # a database call on the shared thread
        assert reply["type"] == "ack"
        assert time.monotonic() - started < 2.5, "the sockets waited for the mail server"
        assert await asyncio.to_thread(notify.wait_idle, 20)
        assert any("op138@example.test" in m.to for m in mail.outbox)
    finally:
        await close_all(op, ch)
