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
                comm, frame = await open_socket(conf, user, site=site)
                if frame["type"] == "snapshot":  # observers (issue 9 item 3): never the site
                    assert frame["me"]["site"] != vanchan, (user, site)
                    await close_all(comm)
                else:
                    assert (frame["code"], frame["reason"]) == (4403, "forbidden"), (user, site)
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
        comm, frame = await open_socket(conf, tranyen_clerk, site=tranyen)
        if frame["type"] == "snapshot":
            assert frame["me"]["site"] != tranyen
            await close_all(comm)
        else:
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
        " ('kythuat.vanchan', 'vanthu.vanchan', 'vanthu.tranyen')])"
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
    operator_key, clerk_key, other_clerk_key = keys
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
                    if frame["type"] == "snapshot":  # an observer, never Văn Chấn
                        assert frame["me"]["site"] != vanchan, query
                    else:
                        assert (frame["type"], frame["code"]) == ("error", "forbidden"), frame
                        opcode, data = ws.recv_data(control_frame=True)
                        assert opcode == websocket.ABNF.OPCODE_CLOSE
                        assert int.from_bytes(data[:2], "big") == 4403
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
