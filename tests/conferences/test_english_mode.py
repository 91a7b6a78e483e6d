"""English mode shows no Vietnamese except proper names (issue 9, item 20), over HTTP: the clerk's
pages (create form with its picker, join links, attendance table, overview), the error pages and
the services' error messages, for a user who switched to English."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from conferences.models import Level, Status
from portal.models import Site, Unit
from tests.conferences.factories import ConferenceFactory, invite

pytestmark = pytest.mark.django_db

VIETNAMESE = re.compile(
    "[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]"
)
SHOWN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}


class _Visible(HTMLParser):
    """Text a user reads: text nodes outside <script>/<style>, and labelling attributes
    (including the data-label-*/data-confirm texts the page scripts show)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if value and (
                name in SHOWN_ATTRIBUTES or name.startswith("data-label") or name == "data-confirm"
            ):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data)


def proper_names() -> list[str]:
    names = list(Unit.objects.values_list("name", flat=True))
    names += list(Site.objects.values_list("name", flat=True))
    names += [u.get_full_name() for u in get_user_model().objects.all()]
    names += ["Tiếng Việt", "Giao Ban"]  # the language's own name in the switcher, the product
    return sorted({n for n in names if n}, key=len, reverse=True)


def vietnamese_left(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    names = proper_names()
    left = []
    for part in parser.parts:
        for name in names:
            part = part.replace(name, "")
        if VIETNAMESE.search(part):
            left.append(part.strip())
    return left


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(
        title="Weekly briefing",
        chair_name="Chair",
        status=Status.LIVE,
        actual_start=timezone.now() - dt.timedelta(minutes=10),
        planned_start=timezone.now() - dt.timedelta(minutes=15),
    )
    invite(conference, "15-UBND", "140", "138", "04630")
    return conference


def _page(client, user, url):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_create_form_and_picker_in_english(english, vanchan_clerk):
    html = _page(english, vanchan_clerk, reverse("conference_create"))
    assert "<h1>Create conference</h1>" in html and "May invite:" in html
    assert vietnamese_left(html) == []


def test_clerks_conference_tabs_in_english(english, province_clerk, vanchan_operator, conf):
    for name in (
        "conference_detail",
        "conference_join_links",
        "conference_attendance",
        "conference_sites",
    ):
        html = _page(english, province_clerk, reverse(name, args=[conf.code]))
        assert vietnamese_left(html) == [], name


def test_service_errors_come_in_english(english, vanchan_clerk):
    english.force_login(vanchan_clerk)
    start = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    response = english.post(
        reverse("conference_create"),
        {
            "title": "District briefing",
            "level": Level.FOUR_LEVEL,
            "host_unit": "140",
            "chair_site": str(Site.objects.get(key="140").code),
            "planned_start": f"{start}T08:00",
            "planned_end": f"{start}T10:00",
            "sel_site": [str(Site.objects.get(key="138").code)],
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "hosted by the province" in html
    assert vietnamese_left(html) == []


def test_attendance_table_errors_in_english(english, province_clerk, conf):
    english.force_login(province_clerk)
    inv = conf.invitations.get(site__key="04630")
    data = {"action": "table"}
    for i in conf.invitations.all():
        data.update({f"st-{i.pk}": i.status, f"hc-{i.pk}": "", f"rs-{i.pk}": ""})
    data[f"st-{inv.pk}"] = "absent_excused"
    response = english.post(reverse("conference_attendance", args=[conf.code]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter the reason for absence." in html
    assert vietnamese_left(html) == []


def test_error_pages_in_english(english, outsider, conf):
    english.force_login(outsider)
    for url, status in (
        ("/no-such-page/", 404),
        (reverse("conference_detail", args=[conf.code]), 404),
    ):
        response = english.get(url)
        assert response.status_code == status
        assert vietnamese_left(response.content.decode()) == []
