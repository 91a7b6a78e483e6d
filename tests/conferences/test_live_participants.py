"""Who speaks for a site in the live room (issue 11 item 2), from outside through the socket.

Only a site's operators (and a personal join link issued for that site) join as that site; a
clerk, chair or leader holding a role over an invited site's unit does not, and never knocks
the real operator off (4409). Real ``portal.asgi.application`` through ``WebsocketCommunicator``,
and once through a real Daphne.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conferences import joinlinks
from conferences.models import Status
from portal import services
from portal.models import Site, Unit
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request
from tests.conftest import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def conf(org, chair, vanchan_operator):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


def _role(username: str, role: str, unit_code: str):
    user = UserFactory(username=username)
    services.membership_grant(user=user, unit=Unit.objects.get(code=unit_code), role=role)
    return user


def _operator(username: str, key: str):
    user = UserFactory(username=username)
    Site.objects.get(key=key).operators.add(user)
    return user


async def role(username: str, role_name: str, unit_code: str):
    return await database_sync_to_async(_role)(username, role_name, unit_code)


async def site_code(key: str) -> str:
    return await database_sync_to_async(lambda: str(Site.objects.get(key=key).code))()


async def still_up(comm) -> list[dict]:
    """The socket answers a ping and was not replaced; the frames that came before."""
    reply, before = await request(comm, {"type": "ping"})
    assert reply["type"] == "pong"
    assert all(f.get("type") not in ("replaced", "close") for f in before), before
    return before


async def test_a_role_over_the_sites_unit_does_not_take_the_site_from_its_operator(
    conf, vanchan_operator, vanchan_clerk
):
    """Văn Chấn's clerk (a role over the invited unit 140, not its operator) used to be admitted
    AS Văn Chấn and knock its operator off with 4409."""
    op, snap = await open_socket(conf, vanchan_operator)
    vanchan = await site_code("140")
    assert snap["me"]["site"] == vanchan
    await drain(op)
    district_chair = await role("chair_vanchan", "chair", "140")
    district_leader = await role("leader_vanchan", "leader", "140")
    try:
        for user in (vanchan_clerk, district_chair, district_leader):
            for site in (None, vanchan):
                # nor an observer: a role over an invited unit is no right to watch (the
                # clerk can list them as observers, tested below)
                _comm, frame = await open_socket(conf, user, site=site)
                assert (frame["type"], frame["code"], frame["reason"]) == (
                    "close",
                    4403,
                    "forbidden",
                ), (user, site)
                await still_up(op)
    finally:
        await close_all(op)


async def test_outsiders_are_refused_and_the_operator_stays(
    conf, vanchan_operator, tranyen_clerk, outsider
):
    """Another district's clerk, an uninvited site's operator and clerk, a leader outside the
    host's subtree, an anonymous visitor: refused, whichever site they name."""
    op, _ = await open_socket(conf, vanchan_operator)
    await drain(op)
    vanchan, tranyen, mucangchai = [await site_code(k) for k in ("140", "138", "137")]
    mcc_operator = await database_sync_to_async(_operator)("operator_mcc", "137")
    mcc_clerk = await role("clerk_mcc", "clerk", "137")
    mcc_leader = await role("leader_mcc", "leader", "137")
    try:
        # Trấn Yên's clerk: Trấn Yên (138) is invited, but a clerk is not its operator
        for user, site in (
            (tranyen_clerk, vanchan),
            (mcc_operator, None),
            (mcc_operator, vanchan),
            (mcc_operator, mucangchai),
            (mcc_clerk, None),
            (mcc_clerk, vanchan),
            (mcc_leader, None),
            (mcc_leader, vanchan),
            (outsider, None),
            (outsider, vanchan),
        ):
            _comm, frame = await open_socket(conf, user, site=site)
            assert (frame["type"], frame["code"], frame["reason"]) == (
                "close",
                4403,
                "forbidden",
            ), (user, site)
            await still_up(op)
        _comm, frame = await open_socket(conf, None, site=vanchan)
        assert (frame["code"], frame["reason"]) == (4401, "unauthenticated")
        _comm, frame = await open_socket(conf, tranyen_clerk, site=tranyen)
        assert (frame["code"], frame["reason"]) == (4403, "forbidden")
        await still_up(op)
    finally:
        await close_all(op)


async def test_a_join_link_issued_for_the_site_speaks_for_it(conf, vanchan_operator, vanchan_clerk):
    """The clerk's delegation: a personal link for Văn Chấn, held by Văn Chấn's clerk, joins as
    Văn Chấn (the holder's role alone does not)."""
    token = await database_sync_to_async(
        lambda: joinlinks.join_link_token(
            conference=conf, user=vanchan_clerk, site=Site.objects.get(key="140")
        )
    )()
    comm, snap = await open_socket(conf, None, token=token)
    try:
        assert snap["type"] == "snapshot"
        assert snap["me"]["site"] == await site_code("140")
        assert snap["me"]["chair"] is False
    finally:
        await close_all(comm)


async def test_a_link_for_a_site_no_longer_invited_is_refused(conf, vanchan_operator):
    def token():
        site = Site.objects.get(key="138")
        value = joinlinks.join_link_token(conference=conf, user=vanchan_operator, site=site)
        conf.invitations.filter(site=site).delete()
        return value

    _comm, frame = await open_socket(conf, None, token=await database_sync_to_async(token)())
    assert (frame["code"], frame["reason"]) == (4403, "join_link_invalid")


def test_a_clerk_does_not_take_the_operators_site_through_a_real_daphne(tmp_path):
    """The same rule through Daphne 4.2 and a real WebSocket client: the demo's Văn Chấn clerk
    is refused as Văn Chấn (the reason in an error frame, then 4403) and the operator stays."""
    import websocket

    from tests.browser.live_stack import PYTHON, ROOT, daphne, env_for, prepare

    var = tmp_path / "var"
    env = env_for(var)
    info = prepare(var, site_keys=["140", "138"], env=env)
    script = (
        "from django.contrib.auth import get_user_model;"
        "from tests.conferences.live_helpers import session_key;"
        "U = get_user_model().objects;"
        "print('KEYS', *[session_key(U.get(username=n)) for n in"
        " ('kythuat.vanchan', 'vanthu.vanchan', 'vanthu.tranyen', 'lanhdao.tinh')])"
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
    keys = next(ln for ln in done.stdout.splitlines() if ln.startswith("KEYS ")).split()[1:]
    operator_key, clerk_key, other_clerk_key, leader_key = keys
    vanchan = info["sites"]["140"]
    with daphne(var, env) as base:
        url = base.replace("http://", "ws://") + f"/ws/conferences/{info['code']}/"

        def connect(key: str, query: str = ""):
            return websocket.create_connection(
                url + query, timeout=20, origin=base, cookie=f"sessionid={key}"
            )

        op = connect(operator_key)
        try:
            snap = json.loads(op.recv())
            assert snap["type"] == "snapshot" and snap["me"]["site"] == vanchan
            for key, query in (
                (clerk_key, ""),
                (clerk_key, f"?site={vanchan}"),
                (other_clerk_key, f"?site={vanchan}"),
            ):
                ws = connect(key, query)
                try:
                    frame = json.loads(ws.recv())
                    assert (frame["type"], frame["code"]) == ("error", "forbidden"), frame
                    opcode, data = ws.recv_data(control_frame=True)
                    assert opcode == websocket.ABNF.OPCODE_CLOSE
                    assert int.from_bytes(data[:2], "big") == 4403
                finally:
                    ws.close()
            # the province's leader watches: an observer, not Văn Chấn nor the chair site
            ws = connect(leader_key)
            try:
                frame = json.loads(ws.recv())
                assert frame["type"] == "snapshot", frame
                assert (frame["me"]["role"], frame["me"]["site"]) == ("observer", None)
            finally:
                ws.close()
            op.send(json.dumps({"type": "ping", "id": "p"}))
            for _ in range(50):
                frame = json.loads(op.recv())
                assert frame["type"] != "replaced", frame
                if frame.get("id") == "p":
                    assert frame["type"] == "pong"
                    break
            else:
                raise AssertionError("no pong")
        finally:
            op.close()


# --- watch-only observers (issue 9 item 3) ---------------------------------------------------

SITE_MESSAGES = (
    {"type": "hand.raise"},
    {"type": "hand.lower"},
    {"type": "rollcall.answer", "headcount": 3},
    {"type": "floor.give", "site": "x"},
    {"type": "mute.all"},
    {"type": "end"},
)


async def test_a_leader_of_the_host_watches_as_an_observer_and_speaks_for_nobody(
    conf, chair, leader, vanchan_operator
):
    ch, chair_snap = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    await drain(ch)
    await drain(op)
    watcher, snap = await open_socket(conf, leader)
    try:
        assert snap["type"] == "snapshot"
        assert snap["me"]["role"] == "observer"
        assert snap["me"]["site"] is None and snap["me"]["chair"] is False
        assert snap["observers"] == 0
        # not a site: the sites are the invited ones and the chair site, nothing added
        assert set(snap["sites"]) == set(chair_snap["sites"])
        for message in SITE_MESSAGES:
            reply, _ = await request(watcher, dict(message))
            assert (reply["type"], reply["code"]) == ("error", "forbidden"), message
        # an observer's offer may not publish: refused before it reaches the room
        publishing = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n"
        reply, _ = await request(watcher, {"type": "offer", "sdp": publishing})
        assert (reply["type"], reply["code"]) == ("error", "forbidden")
        await still_up(ch)
        await still_up(op)
        # and a second observer does not replace the first
        other, other_snap = await open_socket(conf, leader)
        assert other_snap["me"]["role"] == "observer"
        await still_up(watcher)
        await close_all(other)
    finally:
        await close_all(watcher, op, ch)


async def test_watch_asks_for_an_observer_even_for_a_chair(conf, chair):
    ch, snap = await open_socket(conf, chair, watch=True)
    try:
        assert snap["me"]["role"] == "observer" and snap["me"]["chair"] is False
        reply, _ = await request(ch, {"type": "mute.all"})
        assert reply["code"] == "forbidden"
    finally:
        await close_all(ch)


async def test_the_clerk_invites_an_observer_from_the_conference_pages(
    conf, province_clerk, vanchan_clerk, tranyen_clerk, outsider, client
):
    """Văn Chấn's clerk (a role over an invited unit) may not watch until the managing clerk
    lists them; then they watch as an observer (never as Văn Chấn); removed, refused again.
    Another district's clerk cannot edit the list; a user outside every invited or host subtree
    cannot be listed."""
    url = f"/conferences/{conf.code}/observers/"

    def post(actor, **data):
        client.force_login(actor)
        return client.post(url, data)

    _comm, frame = await open_socket(conf, vanchan_clerk, watch=True)
    assert (frame["code"], frame["reason"]) == (4403, "forbidden")
    response = await database_sync_to_async(post)(
        tranyen_clerk, action="add", user=vanchan_clerk.pk
    )
    assert response.status_code in (403, 404)
    response = await database_sync_to_async(post)(outsider, action="add", user=vanchan_clerk.pk)
    assert response.status_code == 404
    response = await database_sync_to_async(post)(province_clerk, action="add", user=outsider.pk)
    assert response.status_code == 400
    response = await database_sync_to_async(post)(
        province_clerk, action="add", user=vanchan_clerk.pk
    )
    assert response.status_code == 302

    def page_of(actor):
        client.force_login(actor)
        return client.get(url)

    page = await database_sync_to_async(page_of)(province_clerk)
    assert vanchan_clerk.username in page.content.decode()
    comm, snap = await open_socket(conf, vanchan_clerk)
    assert snap["type"] == "snapshot" and snap["me"]["role"] == "observer", snap
    assert snap["me"]["site"] is None
    await close_all(comm)
    response = await database_sync_to_async(post)(
        province_clerk, action="remove", user=vanchan_clerk.pk
    )
    assert response.status_code == 302
    _comm, frame = await open_socket(conf, vanchan_clerk)
    assert (frame["code"], frame["reason"]) == (4403, "forbidden")
    actions = await database_sync_to_async(
        lambda: list(conf.audit.values_list("action", flat=True).order_by("id"))
    )()
    assert actions.count("observer.added") == 1 and actions.count("observer.removed") == 1


# --- a second connection asks before it takes the site over (issue 11 item 2) ----------------


async def test_a_second_connection_for_a_site_is_told_site_in_use_and_takes_over_only_if_asked(
    conf, vanchan_operator, chair
):
    first, snap = await open_socket(conf, vanchan_operator)
    await drain(first)
    try:
        second, frame = await open_socket(conf, vanchan_operator)
        assert (frame["type"], frame["code"], frame["reason"]) == ("close", 4423, "site_in_use")
        assert frame["error"]["code"] == "site_in_use" and frame["error"]["message"]
        await still_up(first)  # asking changed nothing
        # the chair site too: a second console does not cut the chair off
        ch, _ = await open_socket(conf, chair)
        _c, frame = await open_socket(conf, chair)
        assert frame["reason"] == "site_in_use"
        await still_up(ch)
        await close_all(ch)
        # on "Tiếp quản": the new connection takes the site, the first is told and closed 4409
        second, snap2 = await open_socket(conf, vanchan_operator, takeover=True)
        assert snap2["type"] == "snapshot" and snap2["me"]["site"] == snap["me"]["site"]
        frames = await drain(first)
        assert {"type": "replaced"} in frames
        assert any(f["type"] == "close" and f["code"] == 4409 for f in frames), frames
        await still_up(second)
        # the replaced connection frees nothing: a third one is asked again
        _t, frame = await open_socket(conf, vanchan_operator)
        assert frame["reason"] == "site_in_use"
        await close_all(second)
        # once the holder has left, the site is free: no question
        again, snap3 = await open_socket(conf, vanchan_operator)
        assert snap3["type"] == "snapshot"
        await close_all(again)
    finally:
        await close_all(first)


async def test_a_page_reconnecting_after_a_cut_keeps_its_site_but_never_takes_it_back_silently(
    conf, vanchan_operator
):
    """The hold names the page's token: a reconnect of the same page while its old connection
    still holds the site (a network cut the server has not noticed) takes it back without
    asking; once another page has taken the site over, the old page is asked like anyone."""
    page_a, page_b = "pageAAAAaaaa1234", "pageBBBBbbbb5678"
    first, snap = await open_socket(conf, vanchan_operator, page=page_a)
    assert snap["type"] == "snapshot"
    # the cut: the server still holds the site for the first connection
    again, snap2 = await open_socket(conf, vanchan_operator, page=page_a)
    try:
        assert snap2["type"] == "snapshot", snap2
        frames = await drain(first)
        assert any(f["type"] == "close" and f["code"] == 4409 for f in frames), frames
        # another page (another machine) is asked, and takes over only on "Tiếp quản"
        _b, frame = await open_socket(conf, vanchan_operator, page=page_b)
        assert frame["reason"] == "site_in_use"
        other, snap3 = await open_socket(conf, vanchan_operator, page=page_b, takeover=True)
        assert snap3["type"] == "snapshot"
        await drain(again)
        # page A comes back from a cut of its own: asked, not silently given the site back
        _a, frame = await open_socket(conf, vanchan_operator, page=page_a)
        assert (frame["code"], frame["reason"]) == (4423, "site_in_use")
        await still_up(other)
        # a token that is not one counts as none: asked too
        _x, frame = await open_socket(conf, vanchan_operator, page="bad!")
        assert frame["reason"] == "site_in_use"
        await still_up(other)
        await close_all(other)
    finally:
        await close_all(first, again)


async def test_observers_never_hold_a_site(conf, leader):
    a, snap_a = await open_socket(conf, leader)
    b, snap_b = await open_socket(conf, leader)
    try:
        assert snap_a["me"]["role"] == snap_b["me"]["role"] == "observer"
        await still_up(a)
        await still_up(b)
    finally:
        await close_all(a, b)
