"""Timelines render from the one audit writer, and ending from the overview is the live end.

- an entry without a user (media presence) shows "Hệ thống"/the site and never breaks the page
  (issue 9 item 9: the overview was a 500 for the managing clerk once a site connected);
- every live control appears once, correctly worded, with its site (issue 9 item 11);
- "Đánh dấu đã kết thúc" on the overview ends through ``conferences.live.lifecycle``: presence
  intervals closed, the ``conference`` event sent, the media room closed (issue 9 item 10).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from conferences.audit import ACTIONS, audit_log
from conferences.live import commands as live
from conferences.models import AuditEntry, PresenceInterval, Status
from conferences.services import attendance
from conferences.timeline import timeline_rows
from media_worker import dispatch
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite


def _live(*keys: str):
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conf, *keys)
    return conf


@pytest.mark.django_db
def test_overview_shows_entries_without_a_user_as_the_system_or_the_site(
    client_for, province_clerk
):
    conf = _live("140")
    inv = conf.invitations.get(site__key="140")
    attendance.presence_join(invitation=inv, at=timezone.now(), source="media")
    audit_log(conference=conf, action="live.floor.clear")  # a system entry without a site
    response = client_for(province_clerk).get(reverse("conference_detail", args=[conf.code]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Điểm cầu kết nối" in html and "Huyện Văn Chấn" in html
    assert "Hệ thống" in html


@pytest.mark.django_db
def test_every_live_control_appears_once_worded_with_its_site(chair, org):
    conf = _live("140", "138")
    vc, ty = (str(Site.objects.get(key=k).code) for k in ("140", "138"))
    vc_name, ty_name = (Site.objects.get(key=k).name for k in ("140", "138"))
    item = conf.agenda_items.create(position=1, title="Khai mạc")
    live.floor_give(actor=chair, conference=conf, site=vc)
    live.floor_clear(actor=chair, conference=conf)
    live.broadcast_set(actor=chair, conference=conf, site=ty)
    live.broadcast_set(actor=chair, conference=conf, site=None)
    live.mute_set(actor=chair, conference=conf, site=vc, muted=True)
    live.mute_set(actor=chair, conference=conf, site=vc, muted=False)
    live.mute_all(actor=chair, conference=conf, muted=True)
    live.mute_all(actor=chair, conference=conf, muted=False)
    live.agenda_goto(actor=chair, conference=conf, item=item.pk)
    rows = [(r.label, r.detail, r.who) for r in timeline_rows(conf) if r.action.startswith("live.")]
    who = chair.get_full_name() or chair.get_username()
    assert rows == [
        ("Trao quyền phát biểu", vc_name, who),
        ("Thu hồi quyền phát biểu", vc_name, who),
        ("Phát hình điểm cầu", ty_name, who),
        ("Dừng phát hình điểm cầu", ty_name, who),
        ("Tắt tiếng điểm cầu", vc_name, who),
        ("Bật tiếng điểm cầu", vc_name, who),
        ("Tắt tiếng tất cả", "", who),
        ("Bật tiếng tất cả", "", who),
        ("Chuyển nội dung", "1. Khai mạc", who),
    ]


@pytest.mark.django_db
def test_history_page_shows_the_same_wording(client_for, chair, leader, org):
    conf = _live("140")
    vc = str(Site.objects.get(key="140").code)
    live.broadcast_set(actor=chair, conference=conf, site=vc)
    live.broadcast_set(actor=chair, conference=conf, site=None)
    live.mute_all(actor=chair, conference=conf, muted=False)
    live.conference_end(actor=chair, conference=conf)
    html = client_for(leader).get(reverse("history_conference", args=[conf.code])).content.decode()
    assert "Dừng phát hình điểm cầu: <strong>Điểm cầu Huyện Văn Chấn</strong>" in html
    assert "Bật tiếng tất cả" in html and "Tắt tiếng tất cả" not in html
    assert html.count("Kết thúc hội nghị") == 1


def test_only_known_actions_can_be_written():
    with pytest.raises(ValueError, match="unknown audit action"):
        audit_log(conference=None, action="live.teleport")  # type: ignore[arg-type]
    assert all(code.count(".") >= 1 for code in ACTIONS)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_ending_from_the_overview_is_the_live_end(settings, org, province_clerk):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    def setup():
        conf = _live("140", "138")
        for inv in conf.invitations.all():
            attendance.presence_join(
                invitation=inv, at=timezone.now() - dt.timedelta(minutes=5), source="media"
            )
        return conf

    conf = await database_sync_to_async(setup)()
    code = str(conf.code)
    host = await dispatch._local_room(code)
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(f"conference.{code}", listener)
    client = AsyncClient()
    await database_sync_to_async(client.force_login)(province_clerk)
    try:
        response = await client.post(
            reverse("conference_transition", args=[conf.code]), {"to": "ended"}
        )
        assert response.status_code == 302
        events = []
        for _ in range(50):
            try:
                message = await asyncio.wait_for(layer.receive(listener), 0.5)
            except TimeoutError:
                break
            events.append(message["event"])
        conference_events = [e for e in events if e["type"] == "conference"]
        assert conference_events and conference_events[-1]["conference"]["status"] == "ended"
        assert (
            await database_sync_to_async(
                lambda: PresenceInterval.objects.filter(
                    invitation__conference=conf, left_at__isnull=True
                ).count()
            )()
            == 0
        )
        assert code not in dispatch.local_rooms() and host.room.closed
        actions = await database_sync_to_async(
            lambda: list(
                AuditEntry.objects.filter(conference=conf).values_list("action", flat=True)
            )
        )()
        assert actions.count("live.end") == 1 and "conference.transition" not in actions
    finally:
        for left in list(dispatch.local_rooms()):
            await dispatch.room_close(left)
        from django.db import connections

        await database_sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
def test_ending_from_the_admin_is_the_live_end(admin_client, org, settings):
    settings.MEDIA_ROOM_MODE = "inprocess"
    conf = _live("140")
    inv = conf.invitations.get()
    attendance.presence_join(invitation=inv, at=timezone.now(), source="media")
    response = admin_client.post(
        reverse("admin:conferences_conference_changelist"),
        {"action": "end_live", "_selected_action": [conf.pk]},
    )
    assert response.status_code == 302
    conf.refresh_from_db()
    assert conf.status == "ended"
    assert not PresenceInterval.objects.filter(invitation=inv, left_at__isnull=True).exists()
    assert conf.audit.filter(action="live.end").count() == 1
