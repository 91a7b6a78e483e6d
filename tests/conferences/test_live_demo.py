"""``seed_demo`` lists a live-ready conference: join URL, chair and operators who may join it."""

from __future__ import annotations

import pytest

from conferences import demo_live, joinlinks
from conferences.live import participants as live
from conferences.models import Conference, Status
from portal import demo as portal_demo


@pytest.mark.django_db
def test_demo_live_conference_is_listed_with_chair_and_operators_who_may_join(org):
    report = {"users": [], "urls": {}}
    portal_demo.seed(report)
    demo_live.seed(report)
    again = {"users": [], "urls": {}}
    demo_live.seed(again)
    assert again["live"]["conference"] == report["live"]["conference"]  # idempotent
    data = report["live"]
    conference = Conference.objects.get(code=data["conference"])
    assert conference.status == Status.SCHEDULED
    assert data["join_url"].endswith("/join/") and report["urls"]["live_join"] == data["join_url"]
    assert len(data["operators"]) >= 3
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    chair = live.participant_resolve(
        user=users.get(username=data["chair"]["username"]), conference=conference
    )
    assert chair.chair and chair.site.key == "15-UBND"
    for op in data["operators"]:
        participant = live.participant_resolve(
            user=users.get(username=op["username"]), conference=conference
        )
        assert participant.site.key == op["site"] and not participant.chair
    token = data["personal_join_link"].rsplit("t=", 1)[-1].rstrip("/").rsplit("/", 1)[-1]
    link = joinlinks.join_link_read(token, conference_code=data["conference"])
    assert link.site_code == str(
        conference.invitations.get(site__key=data["operators"][0]["site"]).site.code
    )
