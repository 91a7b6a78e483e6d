"""The live socket's guards, from outside (issue 11 item 7): the Origin check refuses a page of
another site before anything is said, and a socket that floods is told ``rate_limited`` and
keeps its connection, with nothing of the flood changed or audited.

Real ``portal.asgi.application`` through ``WebsocketCommunicator``.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from conferences.models import AuditEntry, Status
from portal.asgi import application
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request, session_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


async def _connect(conf, user, origin: bytes | None):
    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    key = await database_sync_to_async(session_key)(user)
    headers.append((b"cookie", f"sessionid={key}".encode()))
    comm = WebsocketCommunicator(application, f"/ws/conferences/{conf.code}/", headers=headers)
    connected, code = await comm.connect(timeout=10)
    return comm, connected, code


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example.test", b"http://127.0.0.1.evil.example.test", b"null"],
)
async def test_a_page_from_another_origin_is_refused_before_anything_is_sent(
    conf, vanchan_operator, origin
):
    comm, connected, _code = await _connect(conf, vanchan_operator, origin)
    assert not connected  # the handshake is refused: no snapshot, no state leaks
    await comm.disconnect()


async def test_a_socket_without_origin_header_is_refused(conf, vanchan_operator):
    comm, connected, _code = await _connect(conf, vanchan_operator, None)
    assert not connected
    await comm.disconnect()


async def test_the_portals_own_origin_is_admitted(conf, vanchan_operator):
    comm, connected, _code = await _connect(conf, vanchan_operator, b"http://127.0.0.1")
    assert connected
    first = json.loads((await comm.receive_output(timeout=10))["text"])
    assert first["type"] == "snapshot"
    await comm.disconnect()


async def test_a_flood_is_told_rate_limited_and_the_socket_stays_up(conf, vanchan_operator):
    comm, _snap = await open_socket(conf, vanchan_operator)
    try:
        before = await database_sync_to_async(AuditEntry.objects.count)()
        for i in range(120):  # far above 50 a second
            await comm.send_to(text_data=json.dumps({"type": "ping", "id": f"p{i}"}))
        frames = await drain(comm, quiet=0.5)
        limited = [
            f for f in frames if f.get("type") == "error" and f.get("code") == "rate_limited"
        ]
        pongs = [f for f in frames if f.get("type") == "pong"]
        assert limited, "no rate_limited error for 120 messages in well under a second"
        assert len(pongs) <= 60 and len(pongs) + len(limited) == 120
        assert all(f["type"] != "close" for f in frames)
        assert await database_sync_to_async(AuditEntry.objects.count)() == before
        # the next second, the same socket is served again
        await comm.receive_nothing(1.1)
        reply, _ = await request(comm, {"type": "ping"})
        assert reply["type"] == "pong"
    finally:
        await close_all(comm)


async def test_a_flood_of_hand_toggles_does_not_reach_the_others_as_a_flood(
    conf, vanchan_operator, tranyen_operator_user
):
    op, _snap = await open_socket(conf, vanchan_operator)
    other, _ = await open_socket(conf, tranyen_operator_user)
    try:
        for i in range(200):
            kind = "hand.raise" if i % 2 == 0 else "hand.lower"
            await op.send_to(text_data=json.dumps({"type": kind, "id": f"h{i}"}))
        await drain(op, quiet=0.5)
        seen = await drain(other, quiet=0.5)
        hands = [f for f in seen if f.get("type") == "hands"]
        # the rate limit caps what one socket can make the others receive in one second
        assert 1 <= len(hands) <= 50, len(hands)
    finally:
        await close_all(op, other)


@pytest.fixture
def tranyen_operator_user(org):
    from portal.models import Site
    from tests.conftest import UserFactory

    user = UserFactory(username="operator_tranyen_guards")
    Site.objects.get(key="138").operators.add(user)
    return user
