"""Scheduling tells the clerk what happened (issue 9, item 14), over HTTP: how many e-mails were
sent, which invited sites have no operator account, which operators have no address, and that
sending failed when the mail server refuses."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse

from conferences.models import Level, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import UserFactory

# on_commit callbacks run for real (the mail leaves after the scheduling transaction commits)
pytestmark = pytest.mark.django_db(transaction=True)


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


@pytest.fixture
def draft(org, vanchan_operator):
    conf = ConferenceFactory(status=Status.DRAFT, level=Level.PROVINCE_TO_DISTRICT)
    invite(conf, "15-UBND", "140", "138", "139")
    no_address = UserFactory(username="op138_nomail", email="")
    Site.objects.get(key="138").operators.add(no_address)
    return conf


def _schedule(client, conf, to=Status.SCHEDULED):
    return client.post(reverse("conference_transition", args=[conf.code]), {"to": to}, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_scheduling_says_how_many_were_mailed_and_which_sites_nobody_told(
    settings, client_for, province_clerk, vanchan_operator, draft
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = _schedule(client_for(province_clerk), draft)
    assert response.status_code == 200
    said = _messages(response)
    assert "Đã gửi 1 e-mail tới cán bộ kỹ thuật của 1 điểm cầu." in said
    tram_tau, tran_yen = Site.objects.get(key="139").name, Site.objects.get(key="138").name
    assert f"1 điểm cầu chưa có tài khoản cán bộ kỹ thuật nên chưa được báo: {tram_tau}." in said
    assert f"1 điểm cầu có cán bộ kỹ thuật nhưng chưa có địa chỉ e-mail: {tran_yen}." in said
    assert [m.to for m in mail.outbox] == [[vanchan_operator.email]]
    # the host's own site is not reported as "nobody told"
    assert not any(Site.objects.get(key="15-UBND").name in line for line in said)


def test_a_refusing_mail_server_is_reported_and_the_conference_stays_scheduled(
    settings, client_for, province_clerk, draft
):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    response = _schedule(client_for(province_clerk), draft)
    said = _messages(response)
    assert any(line.startswith("Không gửi được e-mail tới 1 cán bộ kỹ thuật") for line in said)
    draft.refresh_from_db()
    assert draft.status == Status.SCHEDULED


def test_changing_a_scheduled_conference_reports_the_update_mailing(
    settings, client_for, province_clerk, vanchan_operator, draft
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client = client_for(province_clerk)
    _schedule(client, draft)
    mail.outbox.clear()
    response = client.post(
        reverse("conference_edit", args=[draft.code]),
        {
            "title": draft.title + " (đổi giờ)",
            "level": draft.level,
            "host_unit": "15-UBND",
            "chair_site": str(draft.chair_site.code),
            "planned_start": "2031-01-05T08:00",
            "planned_end": "2031-01-05T10:00",
            "sel_site": [str(Site.objects.get(key=k).code) for k in ("140", "138", "139")],
        },
        follow=True,
    )
    said = _messages(response)
    assert "Đã lưu thay đổi." in said
    assert "Đã gửi 1 e-mail tới cán bộ kỹ thuật của 1 điểm cầu." in said
    assert len(mail.outbox) == 1 and "Thay đổi" in mail.outbox[0].subject


def test_a_draft_conference_change_sends_nothing_and_says_nothing_about_mail(
    client_for, province_clerk, draft
):
    response = client_for(province_clerk).post(
        reverse("conference_edit", args=[draft.code]),
        {
            "title": "Tên mới",
            "level": draft.level,
            "host_unit": "15-UBND",
            "chair_site": str(draft.chair_site.code),
            "planned_start": "2031-01-05T08:00",
            "planned_end": "2031-01-05T10:00",
            "sel_site": [str(Site.objects.get(key=k).code) for k in ("140", "138", "139")],
        },
        follow=True,
    )
    assert _messages(response) == ["Đã lưu thay đổi."]
