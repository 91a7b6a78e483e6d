"""The content slot (issue 14 item 1) with real aiortc peers: one more video line every
subscriber receives, filled from the presenter's content line only, re-pointed without
renegotiation; subscribers that opt out and older clients without the content lines."""

from __future__ import annotations

import pytest
from sfu_helpers import Client, connect, wait_for

from media_worker.sfu import NetworkPolicy, Room, SignallingError

pytestmark = [pytest.mark.media, pytest.mark.timeout(120)]

CAMERA, SCREEN_A, SCREEN_E = 40, 230, 120


def near(value: int | None, target: int, tolerance: int = 25) -> bool:
    return value is not None and abs(value - target) <= tolerance


@pytest.fixture
async def room():
    r = Room("content-room", thumbnails=1, policy=NetworkPolicy.loopback())
    r.clients = []
    yield r
    for c in r.clients:
        await c.close()
    await r.close()


async def join(room: Room, pid: str, **kwargs) -> Client:
    client = Client(thumbnails=room.thumbnails, **kwargs)
    room.clients.append(client)
    await connect(room, pid, client)
    return client


async def test_only_the_presenters_content_reaches_every_subscriber_and_re_points_live(room):
    a = await join(room, "a", luma=CAMERA, content=SCREEN_A)  # the presenter
    e = await join(room, "e", luma=CAMERA, content=SCREEN_E)  # shares too, never granted
    b = await join(room, "b", luma=None, tone=None, content=None)  # a viewer
    old = await join(room, "old", luma=None, tone=None)  # no content lines at all
    phone = await join(room, "phone", luma=None, tone=None, content=None, content_slot="inactive")
    assert "content_mid" in a.answer["publish"] and "content" in b.answer["slots"]
    assert "content" not in old.answer["slots"] and "content_mid" not in old.answer["publish"]
    room.set_floor("a")

    # nobody presents yet: e's screen arrives at the SFU but goes nowhere
    await wait_for(lambda: room.peers["e"].content is not None)
    await wait_for(lambda: b.slot("main") is not None and b.slot("main").frames >= 5)
    assert b.slot("content") is None or b.slot("content").frames == 0

    room.set_content("a")
    await wait_for(lambda: b.slot("content") is not None and b.slot("content").frames >= 10)
    assert near(b.slot("content").luma, SCREEN_A)
    assert near(b.slot("main").luma, CAMERA)  # the camera slot is untouched
    await wait_for(lambda: e.slot("content") is not None and e.slot("content").frames >= 5)
    assert near(e.slot("content").luma, SCREEN_A)
    # the older client keeps receiving its slots; the phone that opted out gets no content
    await wait_for(lambda: old.slot("main") is not None and old.slot("main").frames >= 10)
    # a, b and e have the line (a is never sent its own); not the older client, not the phone
    assert set(room.slots["content/video"].outputs) == {"a", "b", "e"}
    assert "phone" not in room.slots["content/video"].outputs
    assert not any(r.frames for mid, r in phone.received.items() if mid == phone_mid(phone))

    # re-pointed to e without renegotiation: the same track, now e's picture
    ssrc = room.slots["content/video"].ssrc
    room.set_content("e")
    await wait_for(lambda: near(b.slot("content").luma, SCREEN_E), timeout=20)
    assert room.slots["content/video"].ssrc == ssrc

    # stopped: frames stop arriving
    room.set_content(None)
    await wait_for(lambda: room.slots["content/video"].source is None)
    before = b.slot("content").frames
    await _quiet(b, before)


def phone_mid(client: Client) -> str | None:
    assert client.answer is not None
    return client.answer["slots"].get("content", {}).get("video_mid")


async def _quiet(client: Client, before: int) -> None:
    import asyncio

    await asyncio.sleep(1.0)
    # at most the frames that were in flight when the slot was emptied
    assert client.slot("content").frames - before <= 3


async def test_an_offer_that_announces_content_lines_without_them_is_refused(room):
    client = Client(thumbnails=0)
    room.clients.append(client)
    offer = await client.offer()  # six lines, no content lines
    offer["content"] = True
    with pytest.raises(SignallingError) as info:
        await room.join("x", offer)
    assert info.value.code == "bad_layout"
    assert "x" not in room.peers
