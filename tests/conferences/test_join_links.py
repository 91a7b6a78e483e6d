"""The clerk's join-link screen from the outside: issue, copy, resend, revoke over HTTP, who may
use it, and the live socket (the real ASGI app) refusing revoked and expired links."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from conferences.models import AuditEntry, PersonalJoinLink, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, open_socket
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "http://portal.test:8101"


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.SCHEDULED)
    invite(conference, "15-UBND", "140", "138", "04630")
    return conference


def links_url(conf) -> str:
    return reverse("conference_join_links", args=[conf.code])


def site(key: str) -> Site:
    return Site.objects.get(key=key)


def issue(client, conf, key: str, user, **extra):
    data = {"action": "issue", "site": str(site(key).code), "user": str(user.pk), **extra}
    return client.post(links_url(conf), data)


def test_clerk_issues_a_link_and_sees_it_with_its_expiry_and_full_address(
    client_for, province_clerk, vanchan_operator, conf
):
    client = client_for(province_clerk)
    page = client.get(links_url(conf))
    assert page.status_code == 200
    html = page.content.decode()
    # the site's operator is offered as the holder; the default expiry is the planned end + 12 h
    default = timezone.localtime(conf.planned_end + dt.timedelta(hours=12)).strftime(
        "%Y-%m-%dT%H:%M"
    )
    assert f'value="{default}"' in html
    response = issue(client, conf, "140", vanchan_operator)
    assert response.status_code == 302
    link = PersonalJoinLink.objects.get(conference=conf)
    assert (link.site.key, link.user, link.created_by) == ("140", vanchan_operator, province_clerk)
    assert link.expires_at == conf.planned_end + dt.timedelta(hours=12)
    entry = AuditEntry.objects.get(conference=conf, action="join_link.issued")
    assert entry.actor == province_clerk and entry.data["site"] == "140"
    html = client.get(links_url(conf)).content.decode()
    assert f"http://portal.test:8101/conferences/{conf.code}/j/{link.token}/" in html
    assert timezone.localtime(link.expires_at).strftime("%H:%M %d/%m/%Y") in html
    assert f'data-copy="link-{link.pk}"' in html


def test_chosen_expiry_is_kept_and_a_past_or_far_expiry_is_refused(
    client_for, province_clerk, vanchan_operator, conf
):
    client = client_for(province_clerk)
    later = timezone.localtime(conf.planned_start + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M"
    )
    assert issue(client, conf, "140", vanchan_operator, expires_at=later).status_code == 302
    link = PersonalJoinLink.objects.get(conference=conf)
    assert timezone.localtime(link.expires_at).strftime("%Y-%m-%dT%H:%M") == later
    past = timezone.localtime(timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    far = timezone.localtime(conf.planned_end + dt.timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")
    for bad, words in ((past, "tương lai"), (far, "tối đa 7 ngày"), ("ngày mai", "không hợp lệ")):
        response = issue(client, conf, "140", vanchan_operator, expires_at=bad)
        assert response.status_code == 400 and words in response.content.decode()
    assert PersonalJoinLink.objects.filter(conference=conf).count() == 1


def test_a_link_is_only_for_an_invited_site_and_someone_who_speaks_for_it(
    client_for, province_clerk, vanchan_operator, outsider, conf
):
    client = client_for(province_clerk)
    response = issue(client, conf, "140", outsider)
    assert response.status_code == 400
    assert "cán bộ kỹ thuật hoặc người có vai trò" in response.content.decode()
    response = issue(client, conf, "139", vanchan_operator)  # Trạm Tấu is not invited
    assert response.status_code == 400 and "không được mời" in response.content.decode()
    assert not PersonalJoinLink.objects.exists()


def test_only_managers_of_the_conference_reach_the_screen(
    client_for, tranyen_clerk, leader, vanchan_operator, conf, client
):
    assert client.get(links_url(conf)).status_code == 302  # anonymous → login
    # another district's clerk sees Trấn Yên's invitation (138) but does not manage the conference
    assert client_for(tranyen_clerk).get(links_url(conf)).status_code == 403
    assert client_for(leader).get(links_url(conf)).status_code == 403
    assert client_for(vanchan_operator).get(links_url(conf)).status_code == 403
    response = issue(client_for(tranyen_clerk), conf, "140", vanchan_operator)
    assert response.status_code == 403
    other = ConferenceFactory(host_unit=site("140").unit, chair_site=site("140"))
    assert client_for(tranyen_clerk).get(links_url(other)).status_code == 404
    assert not PersonalJoinLink.objects.exists()


def test_resend_mails_the_link_to_the_sites_operators_and_is_audited(
    client_for, province_clerk, vanchan_operator, conf, django_capture_on_commit_callbacks
):
    client = client_for(province_clerk)
    issue(client, conf, "140", vanchan_operator)
    link = PersonalJoinLink.objects.get()
    with_mail = UserFactory(username="op140b", email="op140b@example.test")
    site("140").operators.add(with_mail)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(links_url(conf), {"action": "send", "link": link.pk})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([vanchan_operator.email, with_mail.email])
    assert f"http://portal.test:8101/conferences/{conf.code}/j/{link.token}/" in message.body
    link.refresh_from_db()
    assert link.sent_at is not None
    assert AuditEntry.objects.get(action="join_link.sent").data["recipients"] == 2


def test_revoked_link_cannot_be_sent_again_and_page_says_why(
    client_for, province_clerk, vanchan_operator, conf
):
    client = client_for(province_clerk)
    issue(client, conf, "140", vanchan_operator)
    link = PersonalJoinLink.objects.get()
    assert client.post(links_url(conf), {"action": "revoke", "link": link.pk}).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None and link.revoked_by == province_clerk
    assert AuditEntry.objects.filter(action="join_link.revoked", actor=province_clerk).count() == 1
    again = client.post(links_url(conf), {"action": "revoke", "link": link.pk})
    assert again.status_code == 400
    response = client.post(links_url(conf), {"action": "send", "link": link.pk})
    assert response.status_code == 400 and "thu hồi" in response.content.decode()
    html = client.get(links_url(conf)).content.decode()
    assert link.token not in html  # a revoked link is no longer offered for copying
    # the address itself now answers with the portal's 403 page
    client.logout()
    page = client.get(reverse("join_link", args=[conf.code, link.token]))
    assert page.status_code == 403 and "đã bị thu hồi" in page.content.decode()


def test_no_new_links_once_the_conference_has_ended(
    client_for, province_clerk, vanchan_operator, conf
):
    conf.status = Status.ENDED
    conf.save()
    client = client_for(province_clerk)
    assert "Cấp liên kết" not in client.get(links_url(conf)).content.decode()
    response = issue(client, conf, "140", vanchan_operator)
    assert response.status_code == 400 and "đã kết thúc" in response.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_socket_admits_an_issued_link_and_refuses_it_once_revoked_or_expired(settings, org):
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    def prepare():
        from django.test import Client

        from portal import services

        clerk = UserFactory(username="clerk_links")
        services.membership_grant(user=clerk, unit=org["15"], role="clerk")
        operator = UserFactory(username="op_links")
        site("140").operators.add(operator)
        conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
        invite(conference, "140", "138")
        client = Client()
        client.force_login(clerk)
        url = links_url(conference)
        for _ in range(2):
            data = {"action": "issue", "site": str(site("140").code), "user": operator.pk}
            assert client.post(url, data).status_code == 302
        first, second = PersonalJoinLink.objects.filter(conference=conference).order_by("id")
        assert client.post(url, {"action": "revoke", "link": second.pk}).status_code == 302
        # an expiry that has passed (the form only takes future minutes, so write it directly)
        expired = PersonalJoinLink.objects.create(
            conference=conference,
            site=site("140"),
            user=operator,
            expires_at=timezone.now() - dt.timedelta(seconds=1),
        )
        return conference, first.token, second.token, expired.token

    conference, good, revoked, expired = await database_sync_to_async(prepare)()
    comm, snapshot = await open_socket(conference, None, token=good)
    assert snapshot["type"] == "snapshot"
    assert snapshot["me"]["site"] == await database_sync_to_async(lambda: str(site("140").code))()
    await close_all(comm)
    for token, reason in ((revoked, "join_link_revoked"), (expired, "join_link_expired")):
        _comm, frame = await open_socket(conference, None, token=token)
        assert (frame["type"], frame["code"], frame["reason"]) == ("close", 4403, reason)


def test_links_for_every_site_at_once_and_all_unsent_ones_mailed(
    client_for, province_clerk, vanchan_operator, conf, django_capture_on_commit_callbacks
):
    client = client_for(province_clerk)
    response = client.post(links_url(conf), {"action": "issue_missing"}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert "Đã cấp 1 liên kết." in said
    nobody = [m for m in said if "chưa có tài khoản cán bộ kỹ thuật" in m]
    assert nobody and site("138").name in nobody[0] and site("04630").name in nobody[0]
    assert site("15-UBND").name not in nobody[0]  # the chair's own site gets none
    (link,) = PersonalJoinLink.objects.filter(conference=conf)
    assert (link.site.key, link.user) == ("140", vanchan_operator)
    client.post(links_url(conf), {"action": "issue_missing"})
    assert PersonalJoinLink.objects.filter(conference=conf).count() == 1  # nothing twice
    assert "Gửi qua e-mail 1 liên kết chưa gửi" in client.get(links_url(conf)).content.decode()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(links_url(conf), {"action": "send_unsent"}, follow=True)
    assert "Đã gửi 1 liên kết qua e-mail." in [str(m) for m in response.context["messages"]]
    assert [m.to for m in mail.outbox] == [[vanchan_operator.email]]
    assert "liên kết chưa gửi" not in client.get(links_url(conf)).content.decode()
