"""Operators' pages: my conferences, and one site's page (confirm, readiness, roll call)."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from conferences.models import RollCallAnswer, Status
from conferences.services.rollcall import rollcall_start
from tests.conferences.factories import ConferenceFactory, invite


def test_my_conferences_lists_invited_conferences_upcoming_first(client_for, vanchan_operator):
    later = ConferenceFactory(
        title="Họp tuần sau", planned_start=timezone.now() + dt.timedelta(days=7)
    )
    sooner = ConferenceFactory(
        title="Họp ngày mai", planned_start=timezone.now() + dt.timedelta(days=1)
    )
    past = ConferenceFactory(
        title="Họp tháng trước",
        status=Status.ENDED,
        planned_start=timezone.now() - dt.timedelta(days=30),
    )
    draft = ConferenceFactory(title="Họp còn nháp", status=Status.DRAFT)
    other = ConferenceFactory(title="Họp không mời Văn Chấn")
    for conf in (later, sooner, past, draft):
        invite(conf, "140")
    invite(other, "138")
    html = client_for(vanchan_operator).get(reverse("my_conferences")).content.decode()
    assert html.index("Họp ngày mai") < html.index("Họp tuần sau") < html.index("Họp tháng trước")
    assert "Họp còn nháp" not in html and "Họp không mời Văn Chấn" not in html


def test_operator_confirms_and_answers_roll_call_with_leader(client_for, vanchan_operator, chair):
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    c = client_for(vanchan_operator)
    url = reverse("operator_conference", args=[conf.code, inv.site.code])
    assert c.post(url, {"action": "confirm"}).status_code == 302
    rollcall_start(actor=chair, conference=conf)
    assert "Trả lời điểm danh" in c.get(url).content.decode()
    response = c.post(
        url,
        {
            "action": "answer",
            "headcount": "17",
            "leader_name": "Phạm Văn Đức",
            "leader_title": "Chủ tịch UBND huyện",
        },
    )
    assert response.status_code == 302
    inv.refresh_from_db()
    assert (inv.status, inv.headcount, inv.leader_name) == ("present", 17, "Phạm Văn Đức")
    assert RollCallAnswer.objects.get(invitation=inv).source == "site"
    assert "Đã trả lời" in c.get(url).content.decode()


def test_duplicate_answer_from_the_page_is_refused(client_for, vanchan_operator, chair):
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    rollcall_start(actor=chair, conference=conf)
    c = client_for(vanchan_operator)
    url = reverse("operator_conference", args=[conf.code, inv.site.code])
    c.post(url, {"action": "answer", "headcount": "17"})
    response = c.post(url, {"action": "answer", "headcount": "40"})
    assert response.status_code == 400 and "đã trả lời" in response.content.decode()
    inv.refresh_from_db()
    assert inv.headcount == 17 and RollCallAnswer.objects.filter(invitation=inv).count() == 1


def test_bad_headcount_is_a_field_error(client_for, vanchan_operator, chair):
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    rollcall_start(actor=chair, conference=conf)
    url = reverse("operator_conference", args=[conf.code, inv.site.code])
    response = client_for(vanchan_operator).post(url, {"action": "answer", "headcount": "-3"})
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    assert not RollCallAnswer.objects.exists()


def test_answer_without_open_roll_call_is_refused(client_for, vanchan_operator):
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    url = reverse("operator_conference", args=[conf.code, inv.site.code])
    response = client_for(vanchan_operator).post(url, {"action": "answer", "headcount": "5"})
    assert response.status_code == 400
    inv.refresh_from_db()
    assert inv.status == "invited"
