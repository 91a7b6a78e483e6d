"""Conference chat from the outside, over the real socket (issue 14 item 6): who sends and who
reads (sites, the chair, observers, a confidential conference, an uninvited site, another
conference), the chair's switch, a flood, an oversized message, markup stored and shown as text,
the timeline and the minutes.

Real ``portal.asgi.application`` through ``WebsocketCommunicator``, PostgreSQL.
"""

from __future__ import annotations

import io
import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone
from docx import Document as Docx

from conferences.live import chat
from conferences.models import AuditEntry, ChatMessage, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request, send
from tests.conftest import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

MARKUP = '<img src=x onerror="alert(1)"><script>alert("x")</script> & <b>đậm</b>'


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


def _chats(frames: list[dict]) -> list[dict]:
    return [f["message"] for f in frames if f.get("type") == "chat"]


def _stored(conf) -> list[ChatMessage]:
    return list(ChatMessage.objects.filter(conference=conf).order_by("id"))


async def test_a_message_to_everyone_reaches_every_site_the_chair_and_an_observer(
    conf, chair, vanchan_operator, tranyen, listed
):
    ch, _ = await open_socket(conf, chair)
    op, snap = await open_socket(conf, vanchan_operator)
    tr, _ = await open_socket(conf, tranyen)
    ob, ob_snap = await open_socket(conf, listed, watch=True)
    try:
        assert snap["chat"] == {"enabled": True, "messages": []}
        assert snap["me"]["chat"] == {"read": True, "send": True}
        assert ob_snap["me"]["chat"] == {"read": True, "send": False}
        reply, _ = await request(op, {"type": "chat.send", "text": "  Văn Chấn đã sẵn sàng.  "})
        assert reply == {"type": "ack", "id": reply["id"], "for": "chat.send"}
        for comm in (ch, op, tr, ob):
            (message,) = _chats(await drain(comm))
            assert message["text"] == "Văn Chấn đã sẵn sàng."
            assert message["site"] == snap["me"]["site"] and message["to"] == "all"
            assert message["author"] == vanchan_operator.get_full_name() or "operator_vanchan"
        (stored,) = await database_sync_to_async(_stored)(conf)
        audit = await database_sync_to_async(
            lambda: list(AuditEntry.objects.filter(action__startswith="live.chat."))
        )()
        assert [(a.action, a.data["message"], a.actor_id) for a in audit] == [
            ("live.chat.message", stored.pk, vanchan_operator.pk)
        ]
        # a page that connects later gets it in its snapshot
        await close_all(tr)
        tr, later = await open_socket(conf, tranyen)
        assert [m["text"] for m in later["chat"]["messages"]] == ["Văn Chấn đã sẵn sàng."]
        # an observer reads but does not send
        reply, _ = await request(ob, {"type": "chat.send", "text": "xin chào"})
        assert reply["code"] == "forbidden"
    finally:
        await close_all(ch, op, tr, ob)
    assert len(await database_sync_to_async(_stored)(conf)) == 1


async def test_a_message_to_the_chair_reaches_only_the_chair_and_its_sender(
    conf, chair, vanchan_operator, tranyen, listed
):
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    tr, _ = await open_socket(conf, tranyen)
    ob, _ = await open_socket(conf, listed, watch=True)
    try:
        reply, _ = await request(
            op, {"type": "chat.send", "text": "Xin phát biểu ý kiến", "to": "chair"}
        )
        assert reply["type"] == "ack"
        for comm in (ch, op):
            (message,) = _chats(await drain(comm))
            assert (message["to"], message["text"]) == ("chair", "Xin phát biểu ý kiến")
        for comm in (tr, ob):
            assert _chats(await drain(comm)) == []
        # the chair site writes to everyone; "to" must be one of the two
        reply, _ = await request(ch, {"type": "chat.send", "text": "x", "to": "chair"})
        assert reply["code"] == "invalid"
        reply, _ = await request(op, {"type": "chat.send", "text": "x", "to": "everyone"})
        assert reply["code"] == "invalid"
        # snapshots agree: the chair and the sender see it, the other site and the observer not
        for user, kwargs, expected in (
            (chair, {"takeover": True}, 1),
            (tranyen, {"takeover": True}, 0),
            (listed, {"watch": True}, 0),
        ):
            comm, snap = await open_socket(conf, user, **kwargs)
            assert len(snap["chat"]["messages"]) == expected, user
            await close_all(comm)
    finally:
        await close_all(ch, op, tr, ob)
    audit = await database_sync_to_async(
        lambda: list(AuditEntry.objects.filter(action="live.chat.to_chair"))
    )()
    assert len(audit) == 1


async def test_a_confidential_conference_keeps_chat_from_uninvited_observers(
    conf, chair, vanchan_operator, listed
):
    await database_sync_to_async(
        lambda: type(conf).objects.filter(pk=conf.pk).update(confidential=True)
    )()
    op, _ = await open_socket(conf, vanchan_operator)
    await request(op, {"type": "chat.send", "text": "trước khi theo dõi"})
    ob, snap = await open_socket(conf, listed, watch=True)
    try:
        assert snap["me"]["role"] == "observer"
        assert snap["chat"] == {"enabled": True, "messages": []}
        assert snap["me"]["chat"] == {"read": False, "send": False}
        reply, _ = await request(op, {"type": "chat.send", "text": "mật"})
        assert reply["type"] == "ack"
        assert _chats(await drain(ob, quiet=0.5)) == []
    finally:
        await close_all(op, ob)


async def test_an_uninvited_site_and_another_conferences_participant_reach_nobody(
    org, conf, chair, vanchan_operator
):
    uninvited = await database_sync_to_async(UserFactory)(username="operator_mucangchai")
    await database_sync_to_async(lambda: Site.objects.get(key="137").operators.add(uninvited))()
    _comm, frame = await open_socket(conf, uninvited)
    assert (frame["type"], frame["code"]) == ("close", 4403)
    # naming the uninvited site explicitly is refused the same way
    site_137 = await database_sync_to_async(lambda: str(Site.objects.get(key="137").code))()
    _comm, frame = await open_socket(conf, uninvited, site=site_137)
    assert (frame["type"], frame["code"]) == ("close", 4403)

    other = await database_sync_to_async(
        lambda: ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    )()
    await database_sync_to_async(invite)(other, "137")
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    elsewhere, _ = await open_socket(other, uninvited)
    try:
        for to in ("all", "chair"):
            reply, _ = await request(
                elsewhere, {"type": "chat.send", "text": "nhầm phòng", "to": to}
            )
            assert reply["type"] == "ack"
        for comm in (ch, op):
            assert _chats(await drain(comm)) == []
        _c, snap = await open_socket(conf, chair, takeover=True)
        assert snap["chat"]["messages"] == []
        await close_all(_c)
    finally:
        await close_all(ch, op, elsewhere)
    assert await database_sync_to_async(_stored)(conf) == []


async def test_the_chair_turns_chat_off_and_a_site_is_refused_until_it_is_on_again(
    conf, chair, vanchan_operator, tranyen
):
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    tr, _ = await open_socket(conf, tranyen)
    try:
        reply, _ = await request(op, {"type": "chat.set", "enabled": False})
        assert reply["code"] == "forbidden"
        reply, _ = await request(ch, {"type": "chat.set", "enabled": "no"})
        assert reply["code"] == "invalid"
        reply, _ = await request(ch, {"type": "chat.set", "enabled": False})
        assert reply["type"] == "ack"
        for comm in (op, tr):
            (event,) = [f for f in await drain(comm) if f["type"] == "chat_enabled"]
            assert event["chat_enabled"] is False and isinstance(event["version"], int)
        reply, _ = await request(op, {"type": "chat.send", "text": "còn ai không?"})
        assert (reply["type"], reply["code"]) == ("error", "chat_off")
        assert _chats(await drain(tr)) == []
        _c, snap = await open_socket(conf, tranyen, takeover=True)
        assert snap["chat"]["enabled"] is False
        tr = _c
        reply, _ = await request(ch, {"type": "chat.set", "enabled": True})
        assert reply["type"] == "ack"
        reply, _ = await request(op, {"type": "chat.send", "text": "đã bật lại"})
        assert reply["type"] == "ack"
    finally:
        await close_all(ch, op, tr)
    assert [m.text for m in await database_sync_to_async(_stored)(conf)] == ["đã bật lại"]
    actions = await database_sync_to_async(
        lambda: list(
            AuditEntry.objects.filter(action__startswith="live.chat.").values_list(
                "action", flat=True
            )
        )
    )()
    assert actions == ["live.chat.off", "live.chat.on", "live.chat.message"]


async def test_a_flood_is_limited_and_the_others_get_only_what_was_allowed(
    conf, vanchan_operator, tranyen
):
    op, _ = await open_socket(conf, vanchan_operator)
    tr, _ = await open_socket(conf, tranyen)
    try:
        for i in range(40):
            await send(op, {"type": "chat.send", "text": f"spam {i}", "id": f"s{i}"})
        frames = await drain(op, quiet=0.5)
        replies = [f for f in frames if f.get("id", "").startswith("s")]
        limited = [f for f in replies if f.get("code") == "rate_limited"]
        acks = [f for f in replies if f["type"] == "ack"]
        assert len(replies) == 40 and len(acks) == 5, [f.get("code") for f in replies]
        assert len(limited) == 35 and all(f["retry_after"] > 0 for f in limited)
        assert len(_chats(await drain(tr))) == 5
        reply, _ = await request(op, {"type": "ping"})  # the socket stays up
        assert reply["type"] == "pong"
    finally:
        await close_all(op, tr)
    assert len(await database_sync_to_async(_stored)(conf)) == 5


async def test_oversized_empty_and_malformed_messages_are_refused_and_nothing_is_stored(
    conf, vanchan_operator, no_command_limits
):
    op, _ = await open_socket(conf, vanchan_operator)
    try:
        for text, code in (
            ("x" * (chat.MAX_CHARS + 1), "too_long"),
            ("   \n\t ", "invalid"),
            ("\x00\x01\u202e", "invalid"),
            (None, "invalid"),
            (["a"], "invalid"),
            ({"html": "<b>"}, "invalid"),
        ):
            reply, _ = await request(op, {"type": "chat.send", "text": text})
            assert (reply["type"], reply["code"]) == ("error", code), text
        await send(op, json.dumps({"type": "chat.send", "text": "y" * 70_000}))
        (frame,) = await drain(op)
        assert frame["code"] == "too_large"
        assert await database_sync_to_async(_stored)(conf) == []
        # the largest allowed message, control characters, a lone surrogate and a bidi
        # override are stored cleaned, not refused by the database or broken in the minutes
        reply, _ = await request(op, {"type": "chat.send", "text": "é" * chat.MAX_CHARS})
        assert reply["type"] == "ack"
        await send(
            op, '{"type": "chat.send", "id": "raw", "text": "a\\u0000b\\ud800c\\u202ed\\r\\ne"}'
        )
        frames = await drain(op)
        assert [f["type"] for f in frames if f.get("id") == "raw"] == ["ack"]
        assert _chats(frames)[-1]["text"] == "abcd\ne"
    finally:
        await close_all(op)
    assert [len(m.text) for m in await database_sync_to_async(_stored)(conf)] == [chat.MAX_CHARS, 6]


async def test_markup_is_stored_and_sent_as_text_and_shown_escaped_in_the_timeline_and_minutes(
    conf, chair, vanchan_operator, province_clerk, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    op, _ = await open_socket(conf, vanchan_operator)
    ch, _ = await open_socket(conf, chair)
    try:
        reply, _ = await request(op, {"type": "chat.send", "text": MARKUP})
        assert reply["type"] == "ack"
        (message,) = _chats(await drain(ch))
        assert message["text"] == MARKUP  # as typed: the page puts it in textContent
    finally:
        await close_all(op, ch)
    (stored,) = await database_sync_to_async(_stored)(conf)
    assert stored.text == MARKUP

    def pages():
        client = Client()
        client.force_login(province_clerk)
        history = client.get(f"/history/conferences/{conf.code}/")
        docx = client.get(f"/conferences/{conf.code}/minutes.docx")
        return history, docx

    history, docx = await database_sync_to_async(pages)()
    assert history.status_code == 200, history.status_code
    html = history.content.decode()
    assert "<script>alert" not in html and "<img src=x onerror" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Tin nhắn" in html
    assert docx.status_code == 200
    text = "\n".join(
        cell.text
        for table in Docx(io.BytesIO(docx.content)).tables
        for row in table.rows
        for cell in row.cells
    )
    assert MARKUP in text and "PHỤ LỤC" in "\n".join(
        p.text for p in Docx(io.BytesIO(docx.content)).paragraphs
    )


async def test_the_timeline_shows_messages_to_the_chair_only_to_the_organisers(
    conf, chair, vanchan_operator, tranyen, province_clerk
):
    op, _ = await open_socket(conf, vanchan_operator)
    try:
        await request(op, {"type": "chat.send", "text": "công khai cho tất cả"})
        await request(op, {"type": "chat.send", "text": "riêng cho chủ trì", "to": "chair"})
    finally:
        await close_all(op)

    def history(user) -> str:
        client = Client()
        client.force_login(user)
        response = client.get(f"/history/conferences/{conf.code}/")
        assert response.status_code == 200
        return response.content.decode()

    clerk_view = await database_sync_to_async(history)(province_clerk)
    assert "công khai cho tất cả" in clerk_view and "riêng cho chủ trì" in clerk_view
    site_view = await database_sync_to_async(history)(tranyen)
    assert "công khai cho tất cả" in site_view and "riêng cho chủ trì" not in site_view

    # the overview's change log is about changes: chat stays out of it
    def overview() -> str:
        client = Client()
        client.force_login(province_clerk)
        return client.get(f"/conferences/{conf.code}/").content.decode()

    assert "công khai cho tất cả" not in await database_sync_to_async(overview)()


def test_the_reducer_appends_messages_by_id_once_and_keeps_the_last_ones():
    """Chat events carry no version: whatever order they arrive in (and again, after the
    snapshot already held them), the page keeps the last ``KEEP`` by id, as a fresh snapshot
    would."""
    import random

    from conferences.live.reducer import CHAT_KEEP, LiveView

    def msg(i: int) -> dict:
        return {
            "id": i,
            "at": "t",
            "site": "s",
            "site_name": "S",
            "author": "A",
            "to": "all",
            "text": str(i),
        }

    snapshot = {
        "version": 3,
        "sites": {},
        "chat": {
            "enabled": True,
            "messages": [msg(i) for i in range(1, CHAT_KEEP + 1)],
        },
    }
    events = [
        {"type": "chat", "message": msg(i)}
        for i in (CHAT_KEEP + 1, 50, 0, CHAT_KEEP + 2, CHAT_KEEP + 1)
    ]
    events.append({"type": "chat_enabled", "version": 4, "chat_enabled": False})
    for seed in range(4):
        order = list(events)
        random.Random(seed).shuffle(order)
        view = LiveView(snapshot)
        for event in order:
            view.apply(event)
        ids = [m["id"] for m in view.state["chat"]["messages"]]
        assert ids == list(range(3, CHAT_KEEP + 3))
        assert view.state["chat"]["enabled"] is False
        assert view.state["version"] == 4
