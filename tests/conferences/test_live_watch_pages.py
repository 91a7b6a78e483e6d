"""The way in for watch-only observers (issue 9 item 3), over HTTP: "Theo dõi" on the home page
and the conference page while the conference is live, for those who may watch only; the watch
page refuses everyone else."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conferences.models import ConferenceObserver, Status
from tests.conferences.factories import ConferenceFactory, invite

pytestmark = pytest.mark.django_db


@pytest.fixture
def conf(org):
    conference = ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    invite(conference, "140", "138")
    return conference


def watch_buttons(client, user, url):
    client.force_login(user)
    return client.get(url).content.decode().count('data-entry="watch"')


def test_a_leader_gets_theo_doi_while_live_and_the_watch_page(client, conf, leader):
    for url in ("/", f"/conferences/{conf.code}/"):
        assert watch_buttons(client, leader, url) == 1, url
    page = client.get(f"/conferences/{conf.code}/watch/")
    assert page.status_code == 200
    assert "watch=1" in page.content.decode()
    assert "microphone=(self)" in page.headers["Permissions-Policy"]
    conf.status = Status.SCHEDULED
    conf.save()
    assert watch_buttons(client, leader, f"/conferences/{conf.code}/") == 0


def test_chairs_get_the_console_operators_their_room_not_theo_doi(
    client, conf, chair, vanchan_operator
):
    assert watch_buttons(client, chair, f"/conferences/{conf.code}/") == 0
    assert watch_buttons(client, vanchan_operator, f"/conferences/{conf.code}/") == 0


def test_the_watch_page_refuses_who_may_not_watch(
    client, conf, vanchan_clerk, tranyen_clerk, outsider, vanchan_operator
):
    url = f"/conferences/{conf.code}/watch/"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    for user, status in (
        (outsider, 404),
        (vanchan_clerk, 403),  # sees the conference (an invited unit), may not watch
        (tranyen_clerk, 403),
        (vanchan_operator, 403),
    ):
        client.force_login(user)
        assert client.get(url).status_code == status, user
    ConferenceObserver.objects.create(conference=conf, user=vanchan_clerk)
    client.force_login(vanchan_clerk)
    assert client.get(url).status_code == 200
    assert watch_buttons(client, vanchan_clerk, f"/conferences/{conf.code}/") == 1


def test_a_listed_observer_outside_every_subtree_sees_the_conference(client, conf, outsider):
    ConferenceObserver.objects.create(conference=conf, user=outsider)
    client.force_login(outsider)
    assert client.get(f"/conferences/{conf.code}/").status_code == 200
    assert client.get(f"/conferences/{conf.code}/watch/").status_code == 200
