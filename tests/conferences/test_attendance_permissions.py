"""The privilege matrix of the attendance pages, tested from outside over HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conferences.models import AttendanceEntry, PresenceInterval, RollCall, RollCallAnswer, Status
from conferences.services.rollcall import rollcall_start
from tests.conferences.factories import ConferenceFactory, invite

TABS = [
    "conference_sites",
    "conference_attendance",
    "conference_attendance_xlsx",
    "conference_minutes",
    "conference_minutes_docx",
]


@pytest.fixture
def district_conf(org):
    """Hosted by Văn Chấn, inviting its district site and a commune."""
    conf = ConferenceFactory(host_unit=org["140"], level="district_to_commune", status=Status.LIVE)
    invite(conf, "140", "04630")
    return conf


@pytest.mark.parametrize("name", TABS)
def test_anonymous_is_sent_to_login(client, district_conf, name):
    response = client.get(reverse(name, args=[district_conf.code]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("name", TABS)
def test_another_districts_clerk_sees_nothing(client_for, tranyen_clerk, district_conf, name):
    assert (
        client_for(tranyen_clerk).get(reverse(name, args=[district_conf.code])).status_code == 404
    )


@pytest.mark.parametrize("name", TABS)
def test_host_clerk_and_province_leader_read_the_tabs(
    client_for, vanchan_clerk, leader, district_conf, name
):
    for user in (vanchan_clerk, leader):
        assert client_for(user).get(reverse(name, args=[district_conf.code])).status_code == 200


def test_another_districts_clerk_cannot_post_attendance(client_for, tranyen_clerk, district_conf):
    site = district_conf.invitations.get(site__key="04630").site
    url = reverse("conference_attendance", args=[district_conf.code])
    c = client_for(tranyen_clerk)
    inv = district_conf.invitations.get(site=site)
    for data in ({"action": "table", f"st-{inv.pk}": "absent"}, {"action": "rollcall_start"}):
        assert c.post(url, data).status_code == 404
    assert not AttendanceEntry.objects.exists() and not RollCall.objects.exists()


def test_leader_reads_but_cannot_record(client_for, leader, district_conf):
    site = district_conf.invitations.get(site__key="04630").site
    url = reverse("conference_attendance", args=[district_conf.code])
    inv = district_conf.invitations.get(site=site)
    response = client_for(leader).post(url, {"action": "table", f"st-{inv.pk}": "absent"})
    assert response.status_code == 403
    assert not AttendanceEntry.objects.exists()


def test_rows_of_another_conference_in_the_clerks_table_are_ignored(
    client_for, vanchan_clerk, district_conf, org
):
    other = ConferenceFactory(host_unit=org["140"], status=Status.LIVE)
    (foreign,) = invite(other, "138")  # exists, but belongs to another conference
    url = reverse("conference_attendance", args=[district_conf.code])
    response = client_for(vanchan_clerk).post(
        url, {"action": "table", f"st-{foreign.pk}": "present", f"hc-{foreign.pk}": "3"}
    )
    assert response.status_code == 302
    assert not AttendanceEntry.objects.exists()


def test_correction_of_another_conferences_entry_is_refused(
    client_for, vanchan_clerk, district_conf, org
):
    from conferences.services.attendance import attendance_record

    other = ConferenceFactory(host_unit=org["140"], status=Status.LIVE)
    (inv,) = invite(other, "140")
    entry = attendance_record(
        actor=vanchan_clerk, invitation=inv, status="present", headcount=3, source="clerk"
    )
    url = reverse("conference_attendance", args=[district_conf.code])
    response = client_for(vanchan_clerk).post(
        url,
        {
            "action": "correct",
            "correct-entry": entry.pk,
            "correct-headcount": "9",
            "correct-reason": "x",
        },
    )
    assert response.status_code == 400
    assert AttendanceEntry.objects.count() == 1


def test_uninvited_operator_gets_404_on_operator_page(client_for, org):
    from portal import services
    from tests.conftest import UserFactory

    tranyen_op = UserFactory(username="op_tranyen")
    services.membership_grant(user=tranyen_op, unit=org["138"], role="operator")
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    url = reverse("operator_conference", args=[conf.code, inv.site.code])
    assert client_for(tranyen_op).get(url).status_code == 404
    assert client_for(tranyen_op).post(url, {"action": "ready"}).status_code == 404
    assert (
        client_for(tranyen_op).get(reverse("conference_attendance", args=[conf.code])).status_code
        == 404
    )


def test_operator_cannot_answer_for_another_site_by_forging_the_url(
    client_for, vanchan_operator, chair
):
    conf = ConferenceFactory(status=Status.LIVE)
    _own, other = invite(conf, "140", "138")
    rollcall_start(actor=chair, conference=conf)
    url = reverse("operator_conference", args=[conf.code, other.site.code])
    assert (
        client_for(vanchan_operator).post(url, {"action": "answer", "headcount": "5"}).status_code
        == 404
    )
    assert not RollCallAnswer.objects.exists()


def test_operator_of_invited_site_cannot_use_clerk_tabs(client_for, vanchan_operator):
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    c = client_for(vanchan_operator)
    assert c.get(reverse("conference_attendance", args=[conf.code])).status_code == 403
    response = c.post(
        reverse("conference_attendance", args=[conf.code]),
        {
            "action": "presence",
            "presence-site": inv.site.code,
            "presence-joined_at": "2026-01-01T08:00",
        },
    )
    assert response.status_code == 403
    assert not PresenceInterval.objects.exists()


def test_anonymous_cannot_post_to_operator_page(client, org):
    conf = ConferenceFactory(status=Status.LIVE)
    (inv,) = invite(conf, "140")
    response = client.post(
        reverse("operator_conference", args=[conf.code, inv.site.code]), {"action": "ready"}
    )
    assert response.status_code == 302 and "/login/" in response["Location"]
    inv.refresh_from_db()
    assert inv.ready_at is None
