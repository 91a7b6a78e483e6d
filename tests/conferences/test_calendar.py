"""Each site's private calendar feed: no login, an unguessable token, rotation revokes it."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from conferences.models import CalendarFeed, Status
from conferences.services.invitations import calendar_feed_for
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite


def _feed(client, token):
    return client.get(reverse("calendar_feed", args=[token]))


def test_feed_lists_the_sites_upcoming_and_recent_conferences(client, org):
    site = Site.objects.get(key="140")
    soon = ConferenceFactory(title="Họp sắp tới")
    recent = ConferenceFactory(
        title="Họp tuần trước",
        status=Status.ENDED,
        planned_start=timezone.now() - dt.timedelta(days=7),
    )
    old = ConferenceFactory(
        title="Họp năm ngoái",
        status=Status.ENDED,
        planned_start=timezone.now() - dt.timedelta(days=400),
    )
    draft = ConferenceFactory(title="Họp nháp", status=Status.DRAFT)
    other = ConferenceFactory(title="Họp của huyện khác")
    for conf in (soon, recent, old, draft):
        invite(conf, "140")
    invite(other, "138")
    response = _feed(client, calendar_feed_for(site).token)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    summaries = {str(e["SUMMARY"]) for e in cal.walk("VEVENT")}
    assert summaries == {"Họp sắp tới", "Họp tuần trước"}
    uids = {str(e["UID"]) for e in cal.walk("VEVENT")}
    assert f"{soon.code}@giaoban" in uids


def test_feed_hides_confidential_titles_and_marks_cancellations(client, org):
    site = Site.objects.get(key="140")
    secret = ConferenceFactory(title="Họp bàn phương án mật", confidential=True)
    cancelled = ConferenceFactory(title="Họp bị hủy", status=Status.CANCELLED)
    invite(secret, "140")
    invite(cancelled, "140")
    cal = Calendar.from_ical(_feed(client, calendar_feed_for(site).token).content)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert "mật" in str(events[f"{secret.code}@giaoban"]["SUMMARY"]).lower()
    assert "phương án" not in _feed(client, calendar_feed_for(site).token).content.decode()
    assert str(events[f"{cancelled.code}@giaoban"]["STATUS"]) == "CANCELLED"


def test_bad_token_is_404(client, org):
    calendar_feed_for(Site.objects.get(key="140"))
    assert _feed(client, "not-a-token").status_code == 404


def test_feed_tokens_are_long_and_distinct(org):
    tokens = {calendar_feed_for(site).token for site in Site.objects.all()[:20]}
    assert len(tokens) == 20 and min(len(t) for t in tokens) >= 40


def test_operator_rotates_token_and_old_url_stops_working(client_for, vanchan_operator):
    site = Site.objects.get(key="140")
    old = calendar_feed_for(site).token
    c = client_for(vanchan_operator)
    response = c.post(reverse("calendar_feed_rotate", args=[site.code]))
    assert response.status_code == 302
    new = CalendarFeed.objects.get(site=site).token
    assert new != old
    assert _feed(c, old).status_code == 404 and _feed(c, new).status_code == 200


def test_operator_page_shows_feed_url(client_for, vanchan_operator):
    conf = ConferenceFactory()
    (inv,) = invite(conf, "140")
    page = client_for(vanchan_operator).get(
        reverse("operator_conference", args=[conf.code, inv.site.code])
    )
    assert calendar_feed_for(inv.site).token in page.content.decode()


def test_another_sites_operator_cannot_rotate_the_feed(client_for, vanchan_operator):
    site = Site.objects.get(key="138")
    old = calendar_feed_for(site).token
    assert (
        client_for(vanchan_operator)
        .post(reverse("calendar_feed_rotate", args=[site.code]))
        .status_code
        == 404
    )
    assert CalendarFeed.objects.get(site=site).token == old
