"""The live pages from outside: who may open the join page and the chair console, what the
pages hand to their scripts, and personal join links (no login)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from conferences.joinlinks import join_link_token
from conferences.models import Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "04630")
    return conference


def join_url(conference, query: str = "") -> str:
    return f"/conferences/{conference.code}/join/{query}"


def console_url(conference) -> str:
    return f"/conferences/{conference.code}/console/"


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="live-config" type="application/json">') + len(
        '<script id="live-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_anonymous_visitor_is_sent_to_login_from_both_pages(client, conf):
    for url in (join_url(conf), console_url(conf)):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_invited_operator_gets_the_join_page_with_the_socket_path(
    client_for, conf, vanchan_operator
):
    response = client_for(vanchan_operator).get(join_url(conf))
    assert response.status_code == 200
    config = page_config(response)
    assert config["ws_path"] == f"/ws/conferences/{conf.code}/"
    assert config["thumbnails"] == 4
    assert config["simulcast"] is True  # MEDIA_SIMULCAST's default: three camera layers
    html = response.content.decode()
    assert 'data-action="join"' in html and 'data-slot="main"' in html
    assert "conferences/live/join.js" in html
    assert console_url(conf) not in html  # no console link for a site operator


def test_invited_operator_cannot_open_the_chair_console(client_for, conf, vanchan_operator):
    assert client_for(vanchan_operator).get(console_url(conf)).status_code == 403


def test_outsider_and_uninvited_operator_get_404_from_both_pages(client_for, conf, outsider, org):
    tranyen_operator = UserFactory(username="operator_tranyen")
    Site.objects.get(key="138").operators.add(tranyen_operator)
    for user in (outsider, tranyen_operator):
        client = client_for(user)
        assert client.get(join_url(conf)).status_code == 404
        assert client.get(console_url(conf)).status_code == 404


def test_clerk_of_another_district_gets_404(client_for, conf, tranyen_clerk):
    assert client_for(tranyen_clerk).get(console_url(conf)).status_code == 404
    assert client_for(tranyen_clerk).get(join_url(conf)).status_code == 404


def test_chair_gets_the_console_with_controls(client_for, conf, chair):
    response = client_for(chair).get(console_url(conf))
    assert response.status_code == 200
    html = response.content.decode()
    for action in (
        "start",
        "end",
        "floor.give",
        "mute.all",
        "rollcall.start",
        "absent.call",
        "agenda.next",
    ):
        assert f'data-action="{action}"' in html, action
    assert page_config(response)["console"] is True
    # the chair's join page links to the console
    assert console_url(conf) in client_for(chair).get(join_url(conf)).content.decode()


def test_leader_sees_the_console_without_chair_controls(client_for, conf, leader):
    response = client_for(leader).get(console_url(conf))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="site-grid"' in html
    for action in ("start", "floor.give", "mute.set", "rollcall.start"):
        assert f'data-action="{action}"' not in html, action


def test_unknown_conference_is_404(client_for, chair, org):
    client = client_for(chair)
    assert client.get("/conferences/00000000-0000-0000-0000-000000000000/join/").status_code == 404
    assert (
        client.get("/conferences/00000000-0000-0000-0000-000000000000/console/").status_code == 404
    )


def test_operator_of_several_invited_sites_chooses_the_site(client_for, conf, vanchan_operator):
    Site.objects.get(key="04630").operators.add(vanchan_operator)
    tule = Site.objects.get(key="04630")
    client = client_for(vanchan_operator)
    html = client.get(join_url(conf)).content.decode()
    assert 'name="site"' in html and str(tule.code) in html
    response = client.get(join_url(conf, f"?site={tule.code}"))
    assert page_config(response)["ws_path"] == f"/ws/conferences/{conf.code}/?site={tule.code}"


def test_personal_join_link_opens_the_page_without_login(client, conf, org):
    person = UserFactory(username="tablet_user")
    site = Site.objects.get(key="140")
    token = join_link_token(conference=conf, user=person, site=site)
    response = client.get(f"/conferences/{conf.code}/j/{token}/")
    assert response.status_code == 302
    assert response["Location"] == join_url(conf, f"?t={token}")
    page = client.get(response["Location"])
    assert page.status_code == 200
    path, _, query = page_config(page)["ws_path"].partition("?")
    assert path == f"/ws/conferences/{conf.code}/"
    assert parse_qs(query) == {"t": [token]}


def test_forged_expired_or_foreign_join_links_are_refused(client, conf, org):
    person = UserFactory(username="tablet_user")
    site = Site.objects.get(key="140")
    good = join_link_token(conference=conf, user=person, site=site)
    expired = join_link_token(
        conference=conf, user=person, site=site, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    other = ConferenceFactory()
    foreign = join_link_token(conference=other, user=person, site=site)
    for token in (good[:-3] + "xyz", expired, foreign):
        assert client.get(join_url(conf, f"?t={token}")).status_code == 403
        assert client.get(f"/conferences/{conf.code}/j/{token}/").status_code == 403
    assert "hết hạn" in client.get(join_url(conf, f"?t={expired}")).content.decode()


def test_join_page_loads_the_script_catalog_before_its_modules(client_for, conf, vanchan_operator):
    html = client_for(vanchan_operator).get(join_url(conf)).content.decode()
    assert html.index('<script src="/jsi18n/live/">') < html.index("conferences/live/join.js")


def test_script_catalog_translates_the_live_pages_into_english_and_not_vietnamese(client):
    client.cookies["django_language"] = "en"
    english = client.get("/jsi18n/live/").content.decode()
    assert "Headcount sent: %(n)s people." in english
    assert "The browser has not allowed the camera and microphone." in english
    client.cookies["django_language"] = "vi"
    assert "Headcount sent" not in client.get("/jsi18n/live/").content.decode()
