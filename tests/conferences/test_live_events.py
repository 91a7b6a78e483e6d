"""The event-consistency harness, for every live command through every entry point.

For each action (a socket message, an HTTP form post, a media-sink report): take a fresh
snapshot, do the action, collect every event the conference group received, validate each
against its schema (``conferences.live.reducer.validate_event``), and check that the snapshot
plus the events — applied in arrival order, in reverse, and shuffled — equals a fresh snapshot.
The whole session is checked the same way at the end. [zulip ``test_events.verify_action``]
Out-of-order delivery (two Daphnes, a media worker) is what the reverse/shuffled runs stand for:
events carry versions and the reducer drops older ones (issue 10 defect 4).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from conferences.consumers import HANDLERS
from conferences.live import media_sink, selectors
from conferences.live.reducer import LiveView, validate_event
from conferences.models import AgendaItem, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request
from tests.conftest import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]


@pytest.fixture(autouse=True)
def embedded(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # embedded: notifications on the background thread


def _fresh(conf) -> dict:
    return selectors.live_snapshot(conference=conf, participant=None)


def _same(view: LiveView, fresh: dict) -> None:
    state = dict(view.state)
    state.pop("me", None)
    assert state == fresh


class Harness:
    """Listens to the conference group; ``verify(label, action)`` checks one action."""

    def __init__(self, conf) -> None:
        self.conf = conf
        self.layer = get_channel_layer()
        self.checked: list[str] = []
        self.all_events: list[dict] = []
        self.first: dict | None = None

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(f"conference.{self.conf.code}", self.channel)
        # conference-wide chat goes to the sockets that read it (conferences.live.chat)
        await self.layer.group_add(f"conference.{self.conf.code}.chat", self.channel)
        self.first = await database_sync_to_async(_fresh)(self.conf)

    async def _events(self) -> list[dict]:
        out = []
        for _ in range(500):
            try:
                message = await asyncio.wait_for(self.layer.receive(self.channel), 0.4)
            except TimeoutError:
                return out
            out.append(message["event"])
        raise AssertionError("too many events")

    async def verify(self, label: str, action, *, expect_events: bool = True) -> list[dict]:
        before = await database_sync_to_async(_fresh)(self.conf)
        await action()
        events = await self._events()
        for event in events:
            validate_event(event)
        durable = [e for e in events if e["type"] not in ("speaking", "media.restart")]
        if expect_events:
            assert durable, f"{label}: no event"
        fresh = await database_sync_to_async(_fresh)(self.conf)
        orders = [durable, list(reversed(durable))]
        shuffled = list(durable)
        random.Random(label).shuffle(shuffled)
        orders.append(shuffled)
        for order in orders:
            view = LiveView(before)
            for event in order:
                view.apply(event)
            _same(view, fresh)
        self.checked.append(label)
        self.all_events += durable
        return events

    async def verify_session(self) -> None:
        fresh = await database_sync_to_async(_fresh)(self.conf)
        assert self.first is not None
        for seed in range(3):
            order = list(self.all_events)
            random.Random(seed).shuffle(order)
            view = LiveView(self.first)
            for event in order:
                view.apply(event)
            _same(view, fresh)


@pytest.fixture
def people(org, chair, vanchan_operator, province_clerk):
    tranyen = UserFactory(username="operator_tranyen", email="op138@example.test")
    Site.objects.get(key="138").operators.add(tranyen)
    return {
        "chair": chair,
        "vanchan": vanchan_operator,
        "tranyen": tranyen,
        "clerk": province_clerk,
    }


def _conference():
    conf = ConferenceFactory(status=Status.SCHEDULED)
    invite(conf, "140", "138", "141")
    AgendaItem.objects.create(conference=conf, position=1, title="Khai mạc")
    AgendaItem.objects.create(conference=conf, position=2, title="Báo cáo")
    return conf


def _pdf(conf, clerk) -> int:
    from conferences.services import documents
    from tests.conferences.test_document_pages import pdf_bytes

    upload = SimpleUploadedFile("bao-cao.pdf", pdf_bytes(3))
    return documents.document_upload(actor=clerk, conference=conf, upload=upload).pk


async def test_every_socket_command_keeps_snapshot_plus_events_equal_to_a_fresh_snapshot(
    people, no_command_limits
):
    conf = await database_sync_to_async(_conference)()
    h = Harness(conf)
    await h.start()
    ch, _ = await open_socket(conf, people["chair"])
    op, snap = await open_socket(conf, people["vanchan"])
    tr, _ = await open_socket(conf, people["tranyen"])
    vanchan = snap["me"]["site"]
    tranyen = await database_sync_to_async(lambda: str(Site.objects.get(key="138").code))()
    items = [a["id"] for a in snap["agenda"]]
    doc = await database_sync_to_async(_pdf)(conf, people["clerk"])

    def send(comm, message):
        async def go():
            reply, _ = await request(comm, dict(message))
            assert reply["type"] == "ack", (message, reply)

        return go

    steps = [
        ("start", ch, {"type": "start"}),
        ("hand.raise", tr, {"type": "hand.raise"}),
        ("hand.raise", op, {"type": "hand.raise"}),
        ("floor.give", ch, {"type": "floor.give", "site": tranyen}),
        ("floor.clear", ch, {"type": "floor.clear"}),
        ("broadcast.set", ch, {"type": "broadcast.set", "site": vanchan}),
        ("broadcast.set", ch, {"type": "broadcast.set", "site": None}),
        ("mute.set", ch, {"type": "mute.set", "site": tranyen, "muted": True}),
        ("mute.set", ch, {"type": "mute.set", "site": tranyen, "muted": False}),
        ("mute.all", ch, {"type": "mute.all"}),
        ("mute.all", ch, {"type": "mute.all", "muted": False}),
        ("agenda.goto", ch, {"type": "agenda.goto", "item": items[1]}),
        ("agenda.goto", ch, {"type": "agenda.goto", "item": None}),
        ("rollcall.start", ch, {"type": "rollcall.start"}),
        ("rollcall.answer", op, {"type": "rollcall.answer", "headcount": 12}),
        ("rollcall.answer", ch, {"type": "rollcall.answer", "headcount": 7, "site": tranyen}),
        ("rollcall.end", ch, {"type": "rollcall.end"}),
        ("hand.lower", ch, {"type": "hand.lower", "site": vanchan}),
        ("hand.raise", op, {"type": "hand.raise"}),
        ("hand.lower", op, {"type": "hand.lower"}),
        ("absent.call", ch, {"type": "absent.call"}),
        ("presenter.grant", ch, {"type": "presenter.grant", "site": tranyen}),
        ("content.start", tr, {"type": "content.start", "kind": "document", "document": doc}),
        ("content.page", tr, {"type": "content.page", "page": 2}),
        ("content.stop", tr, {"type": "content.stop"}),
        ("content.start", tr, {"type": "content.start", "kind": "screen"}),
        ("presenter.floor", ch, {"type": "presenter.floor", "allowed": True}),
        ("presenter.grant", ch, {"type": "presenter.grant", "site": vanchan}),  # stops tranyen
        ("content.start", op, {"type": "content.start", "kind": "screen"}),
        ("presenter.revoke", ch, {"type": "presenter.revoke"}),
        ("floor.give", ch, {"type": "floor.give", "site": vanchan}),
        ("content.start", op, {"type": "content.start", "kind": "screen"}),
        ("floor.clear", ch, {"type": "floor.clear"}),  # the floor's right to present goes
        ("chat.send", op, {"type": "chat.send", "text": "Văn Chấn đã sẵn sàng"}),
        ("chat.send", ch, {"type": "chat.send", "text": "Chủ trì: bắt đầu"}),
        ("chat.set", ch, {"type": "chat.set", "enabled": False}),
        ("chat.set", ch, {"type": "chat.set", "enabled": True}),
        ("recording.pause", ch, {"type": "recording.pause"}),
        ("recording.resume", ch, {"type": "recording.resume"}),
        ("end", ch, {"type": "end"}),
    ]
    try:
        for label, comm, message in steps:
            await h.verify(label, send(comm, message))
        await h.verify_session()
        for comm in (op, tr):  # the participants saw the same stream: drain them
            await drain(comm, quiet=0.2)
    finally:
        await close_all(ch, op, tr)
    # signalling and link reports are not state changes (link: test_live_transient.py)
    control = {k for k in HANDLERS if k not in ("ping", "ice", "offer", "leave", "link")}
    assert control <= set(h.checked), control - set(h.checked)


async def test_http_entry_points_keep_the_snapshot_consistent(people):
    conf = await database_sync_to_async(_conference)()
    h = Harness(conf)
    await h.start()
    client = AsyncClient()
    await database_sync_to_async(client.force_login)(people["clerk"])
    code = conf.code
    site_138 = await database_sync_to_async(lambda: str(Site.objects.get(key="138").code))()
    inv_138 = await database_sync_to_async(lambda: conf.invitations.get(site__key="138").pk)()

    def post(name, data, expect=302):
        async def go():
            response = await client.post(reverse(name, args=[code]), data)
            assert response.status_code == expect, (name, data, response.status_code)

        return go

    now = timezone.localtime()
    try:
        await h.verify("http start", post("conference_transition", {"to": "live"}))
        await h.verify(
            "http rollcall start", post("conference_attendance", {"action": "rollcall_start"})
        )
        await h.verify(
            "http rollcall answer",
            post(
                "conference_attendance",
                {"action": "answer", "answer-site": site_138, "answer-headcount": "9"},
            ),
        )
        await h.verify(
            "http rollcall end", post("conference_attendance", {"action": "rollcall_end"})
        )
        await h.verify(
            "http attendance table",
            post(
                "conference_attendance",
                {
                    "action": "table",
                    f"st-{inv_138}": "present",
                    f"hc-{inv_138}": "11",
                    f"rs-{inv_138}": "",
                },
            ),
        )
        await h.verify(
            "http presence",
            post(
                "conference_attendance",
                {
                    "action": "presence",
                    "presence-site": site_138,
                    "presence-joined_at": (now - dt.timedelta(minutes=30)).strftime(
                        "%Y-%m-%dT%H:%M"
                    ),
                    "presence-left_at": (now - dt.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M"),
                },
            ),
        )
        await h.verify("http end", post("conference_transition", {"to": "ended"}))
        await h.verify_session()
    finally:
        await database_sync_to_async(connections.close_all)()


async def test_media_sink_reports_keep_the_snapshot_consistent(people):
    conf = await database_sync_to_async(_conference)()
    await database_sync_to_async(
        lambda: (
            type(conf)
            .objects.filter(pk=conf.pk)
            .update(status=Status.LIVE, actual_start=timezone.now())
        )
    )()
    h = Harness(conf)
    await h.start()
    code = str(conf.code)
    vanchan, tranyen = await database_sync_to_async(
        lambda: [str(Site.objects.get(key=k).code) for k in ("140", "138")]
    )()

    def report(event):
        return lambda: database_sync_to_async(media_sink.report)(code, event)

    try:
        for label, event in [
            (
                "connected",
                {"type": "participant_connection", "participant": vanchan, "state": "connected"},
            ),
            (
                "connected",
                {"type": "participant_connection", "participant": tranyen, "state": "connected"},
            ),
            (
                "media",
                {"type": "participant_media", "participant": vanchan, "video": True, "audio": True},
            ),
            (
                "media",
                {
                    "type": "participant_media",
                    "participant": tranyen,
                    "video": False,
                    "audio": True,
                },
            ),
            ("left", {"type": "participant_left", "participant": vanchan}),
        ]:
            await h.verify(label, report(event))
        # idempotent: the same join twice changes nothing and sends nothing
        await h.verify(
            "connected again",
            report(
                {"type": "participant_connection", "participant": tranyen, "state": "connected"}
            ),
            expect_events=False,
        )
        speaking = await h.verify(
            "speaking", report({"type": "speaking", "participant": tranyen}), expect_events=False
        )
        assert speaking == [{"type": "speaking", "site": tranyen}]
        await h.verify_session()
    finally:
        await database_sync_to_async(connections.close_all)()


def test_a_stale_event_never_overwrites_a_newer_one():
    """Two on-commit sends delivered out of order (two Daphne processes): the older is dropped."""
    snapshot = {
        "version": 4,
        "floor": None,
        "broadcast": None,
        "muted": [],
        "hands": ["a"],
        "rollcall": None,
        "conference": {},
        "current_item": None,
        "sites": {"a": {"connected": False}},
    }
    view = LiveView(snapshot)
    assert view.apply({"type": "hands", "version": 6, "hands": []})
    assert not view.apply({"type": "hands", "version": 5, "hands": ["a", "b"]})
    assert view.state["hands"] == []
    assert not view.apply({"type": "muted", "version": 3, "muted": ["a"]})  # before the snapshot
    assert view.state["muted"] == []
    assert view.apply({"type": "presence", "version": 8, "site": "a", "left_at": "t"})
    assert not view.apply({"type": "presence", "version": 7, "site": "a", "joined_at": "t"})
    assert view.state["sites"]["a"]["connected"] is False
    assert view.state["version"] == 8
