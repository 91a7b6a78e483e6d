from __future__ import annotations

from django.urls import reverse

from conferences.models import Status
from tests.conferences.factories import ConferenceFactory, invite


def test_home_lists_upcoming_conferences_the_user_may_see(client_for, vanchan_operator, org):
    mine = ConferenceFactory(title="Giao ban có Văn Chấn")
    invite(mine, "140")
    other = ConferenceFactory(title="Giao ban chỉ Trấn Yên")
    invite(other, "138")
    ConferenceFactory(title="Bản nháp", status=Status.DRAFT)
    html = client_for(vanchan_operator).get(reverse("home")).content.decode()
    assert "Giao ban có Văn Chấn" in html
    assert "Giao ban chỉ Trấn Yên" not in html and "Bản nháp" not in html


def test_a_live_conference_offers_the_join_button(client_for, vanchan_operator, org):
    live = ConferenceFactory(title="Đang họp", status=Status.LIVE)
    invite(live, "140")
    html = client_for(vanchan_operator).get(reverse("home")).content.decode()
    assert reverse("conference_join", args=[live.code]) in html
