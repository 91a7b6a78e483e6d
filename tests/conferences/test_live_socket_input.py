"""Bad input, refusals and bursts on the live socket, from outside (issue 11 items 3, 5, 6):
a frame nested thousands deep is ``bad_json`` and the socket stays up; a malformed conference
code is closed with 4404, not a server error; a refusal's reason arrives as an error frame
before the close (Daphne drops close reasons — tested through a real Daphne); a site toggles
its hand at most every 2 s; a burst of hand toggles from many sites reaches each page as at
most one ``hands`` event per interval, while the audit keeps every applied toggle."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import time

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conferences import consumers
from conferences.live import limits
from conferences.models import AuditEntry, LiveState, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, recv, request, send
from tests.conftest import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


@pytest.mark.parametrize(
    "payload",
    [
        '{"type": "ping", "x": ' + "[" * 30000 + "]" * 30000 + "}",
        '{"type": "ping", "x": ' + '{"a":' * 8000 + "1" + "}" * 8000 + "}",
    ],
    ids=["arrays", "objects"],
)
async def test_a_frame_nested_thousands_deep_is_bad_json_and_the_socket_stays_up(
    conf, vanchan_operator, payload
):
    comm, _snap = await open_socket(conf, vanchan_operator)
    try:
        assert len(payload) < 64 * 1024
        await comm.send_to(text_data=payload)
        (frame,) = await drain(comm)
        assert (frame["type"], frame["code"]) == ("error", "bad_json")
        reply, _ = await request(comm, {"type": "ping"})
        assert reply["type"] == "pong"
    finally:
        await close_all(comm)


@pytest.mark.parametrize("code", ["not-a-uuid", "1", "6f1d0b8e-0000-4000-8000-00000000000Z"])
async def test_a_malformed_conference_code_is_closed_not_found(conf, vanchan_operator, code):
    _comm, frame = await open_socket(conf, vanchan_operator, code=code)
    assert (frame["type"], frame["code"], frame["reason"]) == ("close", 4404, "not_found")
    assert frame["error"]["code"] == "not_found"


async def test_a_refusal_sends_its_reason_in_an_error_frame_before_closing(conf, outsider):
    _comm, frame = await open_socket(conf, outsider)
    assert (frame["code"], frame["reason"]) == (4403, "forbidden")
    assert frame["error"]["type"] == "error" and frame["error"]["code"] == "forbidden"
    assert frame["error"]["message"]


async def test_a_site_toggles_its_hand_at_most_every_two_seconds(conf, vanchan_operator):
    comm, _snap = await open_socket(conf, vanchan_operator)
    try:
        raised, _ = await request(comm, {"type": "hand.raise"})
        assert raised["type"] == "ack"
        lowered, _ = await request(comm, {"type": "hand.lower"})
        assert (lowered["type"], lowered["code"]) == ("error", "rate_limited")
        assert 0 < lowered["retry_after"] <= 2.0
        audits = await database_sync_to_async(
            lambda: AuditEntry.objects.filter(action__startswith="live.hand").count()
        )()
        assert audits == 1  # the refused toggle wrote nothing
        await comm.receive_nothing(lowered["retry_after"] + 0.2)
        await drain(comm)
        again, _ = await request(comm, {"type": "hand.lower"})
        assert again["type"] == "ack"
    finally:
        await close_all(comm)


async def test_a_reconnecting_page_does_not_get_a_fresh_allowance(conf, vanchan_operator):
    comm, _snap = await open_socket(conf, vanchan_operator)
    raised, _ = await request(comm, {"type": "hand.raise"})
    assert raised["type"] == "ack"
    await close_all(comm)
    comm, _snap = await open_socket(conf, vanchan_operator)
    try:
        lowered, _ = await request(comm, {"type": "hand.lower"})
        assert (lowered["type"], lowered["code"]) == ("error", "rate_limited")
    finally:
        await close_all(comm)


async def test_a_hand_flood_applies_one_toggle_and_answers_the_rest_rate_limited(
    conf, vanchan_operator
):
    comm, _snap = await open_socket(conf, vanchan_operator)
    try:
        for n in range(40):
            kind = "hand.raise" if n % 2 == 0 else "hand.lower"
            await send(comm, {"type": kind, "id": f"h{n}"})
        replies = {}
        for _ in range(200):
            frame = await recv(comm)
            if frame.get("id", "").startswith("h"):
                replies[frame["id"]] = frame
            if len(replies) == 40:
                break
        acks = [k for k, f in replies.items() if f["type"] == "ack"]
        limited = [k for k, f in replies.items() if f.get("code") == "rate_limited"]
        assert acks == ["h0"] and len(limited) == 39
        audits = await database_sync_to_async(
            lambda: AuditEntry.objects.filter(action__startswith="live.hand").count()
        )()
        assert audits == 1
    finally:
        await close_all(comm)


async def test_the_chair_is_limited_only_beyond_what_people_click(conf, chair):
    assert limits.LIMITS["chair"].burst >= 10
    comm, snap = await open_socket(conf, chair)
    site = next(c for c, s in snap["sites"].items() if s["key"] == "140")
    try:
        codes = []
        for i in range(14):
            reply, _ = await request(comm, {"type": "mute.set", "site": site, "muted": i % 2 == 0})
            codes.append(reply.get("code") or reply["type"])
        assert codes[:10] == ["ack"] * 10  # a chair muting ten sites in a row is never refused
        assert "rate_limited" in codes[10:]
    finally:
        await close_all(comm)


async def test_a_burst_of_hand_toggles_reaches_each_page_as_one_hands_event_per_interval(
    conf, chair, vanchan_operator, monkeypatch
):
    """Twelve sites raise and lower their hands within a moment: each of them is audited, but
    the chair's page receives at most one ``hands`` event per coalescing interval, and the
    last one it receives is the final queue."""
    monkeypatch.setattr(consumers, "COALESCED", {**consumers.COALESCED, "hands": 1.0})

    def more_sites():
        keys = list(
            Site.objects.exclude(key__in=["140", "138"])
            .filter(unit__kind="commune", unit__path__contains="/140/")
            .order_by("key")
            .values_list("key", flat=True)[:10]
        )
        invite(conf, *keys)
        users = []
        for key in keys:
            user = UserFactory(username=f"op_{key}")
            Site.objects.get(key=key).operators.add(user)
            users.append(user)
        tranyen = UserFactory(username="op_138")
        Site.objects.get(key="138").operators.add(tranyen)
        return [vanchan_operator, tranyen, *users]

    operators = await database_sync_to_async(more_sites)()
    watcher, _snap = await open_socket(conf, chair)
    sockets = []
    try:
        for user in operators:
            comm, _s = await open_socket(conf, user)
            sockets.append(comm)
        await drain(watcher)
        started = time.monotonic()
        received: list[tuple[float, dict]] = []

        async def watch():  # timestamps frames as the chair's socket gets them
            while True:
                frame = await recv(watcher, timeout=30)
                if frame["type"] == "hands":
                    received.append((time.monotonic() - started, frame))

        reader = asyncio.create_task(watch())
        for comm in sockets:
            await send(comm, {"type": "hand.raise", "id": "up"})
        for comm in sockets:
            reply, _ = await request(comm, {"type": "ping"})
            assert reply["type"] == "pong"
        await asyncio.sleep(2.1)  # past the 2 s per-site limit: half of them lower again
        for comm in sockets[: len(sockets) // 2]:
            reply, _ = await request(comm, {"type": "hand.lower"})
            assert reply["type"] == "ack", reply
        await asyncio.sleep(2.5)  # the last held event leaves within the interval
        reader.cancel()
        applied = await database_sync_to_async(
            lambda: AuditEntry.objects.filter(
                conference=conf, action__startswith="live.hand"
            ).count()
        )()
        assert applied == len(sockets) + len(sockets) // 2  # every applied toggle audited
        assert 1 <= len(received) <= 6, [round(t, 2) for t, _ in received]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(received)]
        assert all(g >= 0.9 for g in gaps), gaps
        final = await database_sync_to_async(lambda: LiveState.objects.get(conference=conf).hands)()
        assert received[-1][1]["hands"] == final and len(final) == len(sockets) - len(sockets) // 2
    finally:
        await close_all(watcher, *sockets)


def test_an_expired_join_link_is_said_through_a_real_daphne(tmp_path):
    """Through Daphne 4.2 the close reason is lost: the page learns it from the error frame;
    a malformed code is a 4404 close there too, not an HTTP 500."""
    import websocket

    from tests.browser.live_stack import PYTHON, ROOT, daphne, env_for, prepare

    var = tmp_path / "var"
    env = env_for(var)
    info = prepare(var, site_keys=["140"], env=env)
    script = (
        "import datetime as dt; from django.utils import timezone; from conferences import joinlinks;"
        "from conferences.models import Conference; from django.contrib.auth import get_user_model;"
        "from portal.models import Site;"
        f"c = Conference.objects.get(code='{info['code']}');"
        "u = get_user_model().objects.get(username='kythuat.vanchan');"
        "print('TOKEN', joinlinks.join_link_token(conference=c, user=u, site=Site.objects.get(key='140'),"
        " expires_at=timezone.now() - dt.timedelta(minutes=1)))"
    )
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    token = next(ln for ln in done.stdout.splitlines() if ln.startswith("TOKEN ")).split()[1]
    with daphne(var, env) as base:
        ws_base = base.replace("http://", "ws://")
        for path, reason, code in (
            (f"/ws/conferences/{info['code']}/?t={token}", "join_link_expired", 4403),
            ("/ws/conferences/not-a-uuid/", "not_found", 4404),
        ):
            ws = websocket.create_connection(ws_base + path, timeout=20, origin=base)
            try:
                frame = json.loads(ws.recv())
                assert (frame["type"], frame["code"]) == ("error", reason)
                assert frame["message"]
                opcode, data = ws.recv_data(control_frame=True)
                assert opcode == websocket.ABNF.OPCODE_CLOSE
                assert int.from_bytes(data[:2], "big") == code
            finally:
                ws.close()
