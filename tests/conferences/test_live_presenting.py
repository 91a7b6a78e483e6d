"""The presenter role and the content line, from the outside (the socket) — issue 14 items 3–4.

Who may present (the granted site; the floor holder only when the chair allows it; one at a
time), who may grant (the chair), page turns of a shown PDF (the presenting site only, limited),
bad input (error frame, nothing stored), a presenter who disconnects mid-share (cleaned up),
and the minutes listing who presented what under which agenda item.
"""

from __future__ import annotations

import io

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from docx import Document as Docx

from conferences.live import limits, media_sink, selectors
from conferences.models import AgendaItem, AuditEntry, Conference, Status
from conferences.services import documents
from conferences.services.minutes import minutes_docx
from conferences.timeline import timeline_rows
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, request
from tests.conferences.test_document_pages import pdf_bytes
from tests.conftest import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def embedded(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def _setup(clerk):
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conf, "140", "138", "141")
    item = AgendaItem.objects.create(conference=conf, position=1, title="Báo cáo kinh tế")
    other = ConferenceFactory()
    upload = SimpleUploadedFile("bao-cao.pdf", pdf_bytes(3))
    doc = documents.document_upload(actor=clerk, conference=conf, upload=upload)
    doc.agenda_item = item
    doc.save(update_fields=["agenda_item"])
    foreign = documents.document_upload(
        actor=clerk, conference=other, upload=SimpleUploadedFile("khac.pdf", pdf_bytes(1))
    )
    tranyen = UserFactory(username="operator_tranyen")
    Site.objects.get(key="138").operators.add(tranyen)
    codes = {k: str(Site.objects.get(key=k).code) for k in ("140", "138")}
    return conf, item, doc.pk, foreign.pk, tranyen, codes


@pytest.fixture
def live(org, chair, vanchan_operator, province_clerk):
    return _setup(province_clerk)


def _audits(conf, prefix="live.") -> list[str]:
    return list(
        AuditEntry.objects.filter(conference=conf, action__startswith=prefix)
        .order_by("at", "pk")
        .values_list("action", flat=True)
    )


async def test_only_the_granted_site_presents_and_a_new_grant_takes_the_role_over(
    live, chair, vanchan_operator
):
    conf, item, doc, _foreign, tranyen, codes = live
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    tr, _ = await open_socket(conf, tranyen)
    try:
        # nobody granted: a site's screen is refused, nothing stored
        reply, _ = await request(tr, {"type": "content.start", "kind": "screen"})
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        # a site cannot grant itself
        reply, _ = await request(tr, {"type": "presenter.grant", "site": codes["138"]})
        assert reply["code"] == "forbidden"
        assert await database_sync_to_async(_audits)(conf) == []

        reply, _ = await request(ch, {"type": "presenter.grant", "site": codes["138"]})
        assert reply["type"] == "ack"
        events = await drain(op, quiet=0.3)
        assert {"presenter": codes["138"], "floor_may_present": False} in [
            {k: e[k] for k in ("presenter", "floor_may_present")}
            for e in events
            if e["type"] == "presenter"
        ]
        reply, _ = await request(tr, {"type": "content.start", "kind": "screen"})
        assert reply["type"] == "ack"
        state = await database_sync_to_async(selectors.room_state)(conf)
        assert state["content"] == codes["138"]  # the room forwards this site's content only
        # another (ungranted) site still may not, and cannot stop it
        reply, _ = await request(op, {"type": "content.start", "kind": "screen"})
        assert reply["code"] == "forbidden"
        reply, _ = await request(op, {"type": "content.stop"})
        assert reply["code"] == "forbidden"

        # a new grant takes over: the previous presenter is told and its screen stops
        await drain(tr, quiet=0.2)
        reply, _ = await request(ch, {"type": "presenter.grant", "site": codes["140"]})
        assert reply["type"] == "ack"
        told = await drain(tr, quiet=0.3)
        assert [e["presenter"] for e in told if e["type"] == "presenter"] == [codes["140"]]
        assert [e["content"] for e in told if e["type"] == "content"] == [None]
        assert (await database_sync_to_async(selectors.room_state)(conf))["content"] is None
        reply, _ = await request(tr, {"type": "content.start", "kind": "screen"})
        assert reply["code"] == "forbidden"

        # the new presenter shows the agenda PDF; everyone gets the same page
        reply, _ = await request(op, {"type": "content.start", "kind": "document", "document": doc})
        assert reply["type"] == "ack"
        reply, _ = await request(op, {"type": "content.page", "page": 2})
        assert reply["type"] == "ack"
        seen = [e for e in await drain(tr, quiet=0.3) if e["type"] == "content"]
        assert seen[-1]["content"]["page"] == 2 and seen[-1]["content"]["pages"] == 3
        assert seen[-1]["content"]["item"] == item.pk
        assert seen[-1]["content"]["site"] == codes["140"]
        # a document is not forwarded media: the room's content source stays empty
        assert (await database_sync_to_async(selectors.room_state)(conf))["content"] is None
        # only the presenting site turns pages
        reply, _ = await request(tr, {"type": "content.page", "page": 3})
        assert reply["code"] == "forbidden"
        reply, _ = await request(ch, {"type": "presenter.revoke"})
        assert reply["type"] == "ack"
        snap = await database_sync_to_async(selectors.live_snapshot)(conference=conf)
        assert snap["presenter"] is None and snap["content"] is None
    finally:
        await close_all(ch, op, tr)
    actions = await database_sync_to_async(_audits)(conf)
    assert actions == [
        "live.presenter.grant",
        "live.content.start",
        "live.presenter.grant",
        "live.content.stop",
        "live.content.start",
        "live.content.page",
        "live.presenter.revoke",
        "live.content.stop",
    ]


async def test_the_floor_holder_presents_only_when_the_chair_allows_it(
    live, chair, vanchan_operator
):
    conf, _item, _doc, _foreign, _tranyen, codes = live
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    try:
        await request(ch, {"type": "floor.give", "site": codes["140"]})
        reply, _ = await request(op, {"type": "content.start", "kind": "screen"})
        assert reply["code"] == "forbidden"
        reply, _ = await request(ch, {"type": "presenter.floor", "allowed": True})
        assert reply["type"] == "ack"
        reply, _ = await request(op, {"type": "content.start", "kind": "screen"})
        assert reply["type"] == "ack"
        # the floor moves on: the screen shown by right of the floor stops
        await request(ch, {"type": "floor.give", "site": codes["138"]})
        snap = await database_sync_to_async(selectors.live_snapshot)(conference=conf)
        assert snap["content"] is None and snap["floor_may_present"] is True
    finally:
        await close_all(ch, op)
    stop = await database_sync_to_async(
        lambda: AuditEntry.objects.filter(conference=conf, action="live.content.stop").get()
    )()
    assert stop.data["reason"] == "floor"


async def test_bad_presenting_input_gets_an_error_frame_and_changes_nothing(
    live, chair, vanchan_operator, leader
):
    conf, _item, doc, foreign, _tranyen, codes = live
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    watcher, snap = await open_socket(conf, leader, watch=True)
    assert snap["me"]["role"] == "observer"
    try:
        await request(ch, {"type": "presenter.grant", "site": codes["140"]})
        cases = [
            (op, {"type": "content.start", "kind": "video"}, "invalid"),
            (op, {"type": "content.start", "kind": "document", "document": "1"}, "invalid"),
            (op, {"type": "content.start", "kind": "document", "document": foreign}, "not_found"),
            (
                op,
                {"type": "content.start", "kind": "document", "document": doc, "page": 9},
                "no_page",
            ),
            (op, {"type": "content.page", "page": 2}, "not_presenting"),
            (ch, {"type": "presenter.grant", "site": "0" * 36}, "not_invited"),
            (ch, {"type": "presenter.floor", "allowed": "yes"}, "invalid"),
            (watcher, {"type": "content.start", "kind": "screen"}, "forbidden"),
            (watcher, {"type": "presenter.grant", "site": codes["140"]}, "forbidden"),
        ]
        for comm, message, code in cases:
            limits.reset()  # each case on its own (the limits count refused commands too)
            reply, _ = await request(comm, message)
            assert reply["type"] == "error" and reply["code"] == code, (message, reply)
        # the sockets stay up
        reply, _ = await request(op, {"type": "ping"})
        assert reply["type"] == "pong"

        # a flood of page turns: a few pass, the rest are refused with retry_after
        limits.reset()
        await request(op, {"type": "content.start", "kind": "document", "document": doc})
        replies = []
        for n in range(12):
            reply, _ = await request(op, {"type": "content.page", "page": 1 + (n + 1) % 3})
            replies.append(reply)
        refused = [r for r in replies if r["type"] == "error"]
        assert refused and all(
            r["code"] == "rate_limited" and r["retry_after"] > 0 for r in refused
        )
        assert len(replies) - len(refused) <= 6
    finally:
        await close_all(ch, op, watcher)
    pages = await database_sync_to_async(
        lambda: AuditEntry.objects.filter(conference=conf, action="live.content.page").count()
    )()
    assert pages == len(replies) - len(refused)


async def test_a_presenter_whose_media_leaves_stops_presenting(live, chair, vanchan_operator):
    conf, _item, _doc, _foreign, _tranyen, codes = live
    ch, _ = await open_socket(conf, chair)
    op, _ = await open_socket(conf, vanchan_operator)
    try:
        await request(ch, {"type": "presenter.grant", "site": codes["140"]})
        await request(op, {"type": "content.start", "kind": "screen"})
        code = str(conf.code)
        for event in (
            {"type": "participant_connection", "participant": codes["140"], "state": "connected"},
            {"type": "participant_left", "participant": codes["140"]},
        ):
            await database_sync_to_async(media_sink.report)(code, event)
        frames = await drain(ch, quiet=0.3)
        assert [f["content"] for f in frames if f["type"] == "content"][-1] is None
    finally:
        await close_all(ch, op)
    snap = await database_sync_to_async(selectors.live_snapshot)(conference=conf)
    assert snap["content"] is None and snap["presenter"] == codes["140"]  # the role is kept
    stop = await database_sync_to_async(
        lambda: AuditEntry.objects.filter(conference=conf, action="live.content.stop").get()
    )()
    assert stop.actor is None and stop.data["reason"] == "left"


def test_the_minutes_and_the_timeline_list_who_presented_what_under_which_item(
    live, chair, vanchan_operator
):
    from conferences.live import presenting
    from conferences.live.participants import participant_resolve

    conf, item, doc, _foreign, _tranyen, codes = live
    presenting.presenter_grant(actor=chair, conference=conf, site=codes["140"])
    participant = participant_resolve(user=vanchan_operator, conference=conf, site_code=None)
    presenting.content_start(
        actor=vanchan_operator,
        conference=conf,
        participant=participant,
        kind="document",
        document=doc,
    )
    presenting.content_stop(actor=vanchan_operator, conference=conf, participant=participant)
    presenting.content_start(
        actor=vanchan_operator, conference=conf, participant=participant, kind="screen"
    )
    rows = presenting.presentations(conf)
    assert [(r["kind"], r["name"], r["item"], r["ended_at"] is not None) for r in rows] == [
        ("document", "bao-cao.pdf", item.pk, True),
        ("screen", "", None, False),
    ]
    text = "\n".join(p.text for p in Docx(io.BytesIO(minutes_docx(conf))).paragraphs)
    under_item = text.split("Báo cáo kinh tế", 1)[1]
    site_name = Site.objects.get(key="140").name
    assert f"Trình chiếu: {site_name} — bao-cao.pdf (" in under_item
    assert f"Trình chiếu: {site_name} — màn hình (" in text
    timeline = [
        (r.label, r.detail) for r in timeline_rows(conf) if r.action.startswith("live.content.")
    ]
    assert timeline[0] == ("Bắt đầu trình chiếu", f"{site_name}: bao-cao.pdf")
    assert timeline[-1] == ("Bắt đầu trình chiếu", f"{site_name}: màn hình")
    assert Conference.objects.get(pk=conf.pk).live_state.content["kind"] == "screen"
