"""Ways into the live room, from the outside (HTTP and e-mail): every page that shows a
conference gives an invited site's operator "Vào phòng họp" and the chair / managing clerk
"Bàn điều khiển" while the room is open (live, or from 60 minutes before the start); the chair
site's technician gets a page saying the host room runs from the console; the home page lists
live conferences first."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from conferences.models import Status
from conferences.services import notifications
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


def soon(minutes: int = 30, **kwargs) -> dict:
    start = timezone.now() + dt.timedelta(minutes=minutes)
    return {"planned_start": start, "planned_end": start + dt.timedelta(hours=2), **kwargs}


def join(conf, site_key: str) -> str:
    code = Site.objects.get(key=site_key).code
    return f'href="/conferences/{conf.code}/join/?site={code}"'


def console(conf) -> str:
    return f'href="/conferences/{conf.code}/console/"'


def entries(html: str) -> list[str]:
    return re.findall(r'data-entry="(\w+)"', html)


@pytest.fixture
def host_operator(org):
    """The technician of the chair site (15-UBND): named on that site only."""
    user = UserFactory(username="kythuat_ubnd")
    Site.objects.get(key="15-UBND").operators.add(user)
    return user


@pytest.fixture
def live_conf(org):
    conf = ConferenceFactory(
        title="Giao ban đang họp", status=Status.LIVE, actual_start=timezone.now()
    )
    invite(conf, "15-UBND", "140", "138")
    return conf


def test_home_lists_live_conferences_first_even_behind_six_earlier_ones(
    client_for, vanchan_operator, org
):
    for i in range(7):
        invite(ConferenceFactory(title=f"Sắp họp {i}", **soon(120 + i * 60)), "140")
    # a live conference that started long ago and is overrunning its planned end
    started = timezone.now() - dt.timedelta(days=1)
    overdue = ConferenceFactory(
        title="Đang họp kéo dài",
        status=Status.LIVE,
        planned_start=started,
        planned_end=started + dt.timedelta(hours=2),
        actual_start=started,
    )
    invite(overdue, "140")
    html = client_for(vanchan_operator).get(reverse("home")).content.decode()
    titles = re.findall(r'<a href="/conferences/[^"]+/">([^<]+)</a>', html)
    assert titles[0] == "Đang họp kéo dài"
    assert len(titles) == 6
    assert join(overdue, "140") in html


def test_operator_gets_the_room_button_on_every_page_while_live(
    client_for, vanchan_operator, live_conf
):
    client = client_for(vanchan_operator)
    pages = {
        "home": reverse("home"),
        "mine": reverse("my_conferences"),
        "operator": reverse(
            "operator_conference", args=[live_conf.code, Site.objects.get(key="140").code]
        ),
        "detail": reverse("conference_detail", args=[live_conf.code]),
    }
    for name, url in pages.items():
        html = client.get(url).content.decode()
        assert join(live_conf, "140") in html, name
        assert "Vào phòng họp" in html, name
        assert console(live_conf) not in html, name  # an operator has no console
        assert "host" not in entries(html), name  # nor the host room


def test_the_room_opens_sixty_minutes_before_the_start(client_for, vanchan_operator, org):
    early = ConferenceFactory(title="Họp sau 30 phút", **soon(30))
    later = ConferenceFactory(title="Họp sau 3 giờ", **soon(180))
    invite(early, "140")
    invite(later, "140")
    client = client_for(vanchan_operator)
    for url in (reverse("home"), reverse("my_conferences")):
        html = client.get(url).content.decode()
        assert join(early, "140") in html
        assert f"/conferences/{later.code}/join/" not in html
    page = client.get(
        reverse("operator_conference", args=[later.code, Site.objects.get(key="140").code])
    )
    opens = timezone.localtime(later.planned_start - dt.timedelta(minutes=60)).strftime("%H:%M")
    assert "Phòng họp mở lúc" in page.content.decode() and opens in page.content.decode()
    assert entries(page.content.decode()) == []


def test_no_room_button_once_ended_or_cancelled(client_for, vanchan_operator, org):
    ended = ConferenceFactory(title="Đã họp xong", status=Status.ENDED, **soon(-30))
    cancelled = ConferenceFactory(title="Đã hủy họp", status=Status.CANCELLED, **soon(20))
    invite(ended, "140")
    invite(cancelled, "140")
    client = client_for(vanchan_operator)
    for conf in (ended, cancelled):
        html = client.get(reverse("conference_detail", args=[conf.code])).content.decode()
        assert entries(html) == [] and "/join/" not in html
    assert "/join/" not in client.get(reverse("my_conferences")).content.decode()


@pytest.mark.parametrize("persona", ["chair", "province_clerk"])
def test_chair_and_managing_clerk_get_the_console(request, client_for, persona, live_conf):
    user = request.getfixturevalue(persona)
    client = client_for(user)
    for url in (reverse("home"), reverse("conference_detail", args=[live_conf.code])):
        html = client.get(url).content.decode()
        assert console(live_conf) in html and "Bàn điều khiển" in html
        assert entries(html) == ["console"]


def test_clerk_of_another_district_and_outsider_get_no_way_in(
    client_for, tranyen_clerk, outsider, live_conf
):
    # Trấn Yên's clerk sees the conference (its site is invited) but runs neither it nor a site
    html = client_for(tranyen_clerk).get(reverse("home")).content.decode()
    assert "Giao ban đang họp" in html and entries(html) == []
    assert (
        client_for(outsider).get(reverse("conference_detail", args=[live_conf.code])).status_code
        == 404
    )
    assert "Giao ban đang họp" not in client_for(outsider).get(reverse("home")).content.decode()


def test_operator_of_two_invited_sites_gets_one_button_per_site(
    client_for, vanchan_operator, live_conf
):
    invite(live_conf, "04630")
    Site.objects.get(key="04630").operators.add(vanchan_operator)
    html = (
        client_for(vanchan_operator)
        .get(reverse("conference_detail", args=[live_conf.code]))
        .content.decode()
    )
    assert join(live_conf, "140") in html and join(live_conf, "04630") in html
    assert Site.objects.get(key="04630").name in html


def test_chair_site_technician_gets_the_host_room_page_not_a_404(
    client_for, host_operator, live_conf
):
    client = client_for(host_operator)
    html = client.get(reverse("home")).content.decode()
    assert entries(html) == ["host"]
    response = client.get(f"/conferences/{live_conf.code}/join/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "là điểm cầu chủ trì của hội nghị này" in body and "Bàn điều khiển" in body
    assert "live-config" not in body  # no socket: it would cut the console off
    code = Site.objects.get(key="15-UBND").code
    assert client.get(f"/conferences/{live_conf.code}/join/?site={code}").status_code == 200


def test_the_host_room_page_says_whether_the_conference_is_recorded(
    client_for, host_operator, live_conf, org
):
    """Participants must know they are recorded on every page: the chair site's page too."""
    from recordings.models import Recording

    client = client_for(host_operator)

    def pill(conf) -> str:
        body = client.get(f"/conferences/{conf.code}/join/").content.decode()
        found = re.findall(r'<span class="pill[^"]*" data-role="recording">([^<]*)</span>', body)
        return found[0] if found else ""

    assert pill(live_conf) == "● Đang ghi hình"  # recorded by default
    Recording.objects.create(conference=live_conf, paused=True)
    assert pill(live_conf) == "Ghi hình tạm dừng"  # the chair paused it
    Recording.objects.filter(conference=live_conf).update(paused=False, mode="off")
    assert pill(live_conf) == ""  # the clerk turned it off
    secret = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now(), confidential=True)
    invite(secret, "15-UBND", "140")
    assert pill(secret) == ""  # confidential: not recorded unless the clerk turns it on
    later = ConferenceFactory(**soon(30))
    invite(later, "15-UBND", "140")
    assert pill(later) == "Hội nghị sẽ được ghi hình"  # before it starts


def test_chair_site_technician_gets_the_page_even_when_the_chair_site_is_not_invited(
    client_for, host_operator, org
):
    conf = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conf, "140")  # older data: the chair site is not among the invitations
    response = client_for(host_operator).get(f"/conferences/{conf.code}/join/")
    assert response.status_code == 200
    assert "là điểm cầu chủ trì của hội nghị này" in response.content.decode()


def test_technician_of_the_chair_site_and_a_district_joins_as_the_district(
    client_for, host_operator, live_conf
):
    Site.objects.get(key="140").operators.add(host_operator)
    response = client_for(host_operator).get(f"/conferences/{live_conf.code}/join/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"?site={Site.objects.get(key='140').code}" in body  # never silently the chair site
    assert Site.objects.get(key="15-UBND").name not in re.findall(
        r"<option[^>]*>([^<]+)</option>", body
    )


@pytest.fixture
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_invitation_email_carries_the_room_button(
    _locmem, settings, vanchan_operator, org, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory(title="Giao ban có phòng họp")
    invite(conf, "140")
    with django_capture_on_commit_callbacks(execute=True):
        notifications.conference_changed(conf, "scheduled")
    (message,) = mail.outbox
    link = (
        f"{settings.SITE_URL}/conferences/{conf.code}/join/?site={Site.objects.get(key='140').code}"
    )
    assert f"Vào phòng họp: {link}" in message.body
    html = message.alternatives[0][0]
    assert f'href="{link}"' in html and "Vào phòng họp" in html
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notifications.conference_changed(conf, "cancelled")
    assert "/join/" not in mail.outbox[0].body
