"""Readiness: the site's operator marks the technical check done; the clerk sees the board."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conferences.errors import DomainError
from conferences.models import AttendanceEntry, Status
from conferences.services.invitations import invitation_confirm, invitation_mark_ready
from tests.conferences.factories import ConferenceFactory, invite


def test_operator_marks_ready_from_own_page(client_for, vanchan_operator):
    conf = ConferenceFactory()
    (inv,) = invite(conf, "140")
    url = reverse("operator_conference", args=[conf.code, inv.site.code])
    response = client_for(vanchan_operator).post(url, {"action": "ready"})
    assert response.status_code == 302
    inv.refresh_from_db()
    assert inv.ready_at is not None and inv.ready_by == vanchan_operator and inv.status == "ready"
    entry = AttendanceEntry.objects.get(invitation=inv)
    assert (entry.status, entry.source, entry.recorded_by) == ("ready", "site", vanchan_operator)
    assert conf.audit.filter(action="invitation.ready").exists()


def test_confirm_then_ready_keeps_history(vanchan_operator, org):
    conf = ConferenceFactory()
    (inv,) = invite(conf, "140")
    invitation_confirm(actor=vanchan_operator, invitation=inv)
    invitation_confirm(actor=vanchan_operator, invitation=inv)  # twice is harmless
    invitation_mark_ready(actor=vanchan_operator, invitation=inv)
    inv.refresh_from_db()
    assert inv.confirmed_at is not None and inv.status == "ready"
    assert list(inv.entries.values_list("status", flat=True)) == ["confirmed", "ready"]


@pytest.mark.parametrize("status", [Status.LIVE, Status.ENDED, Status.CANCELLED])
def test_readiness_only_before_start(vanchan_operator, org, status):
    conf = ConferenceFactory(status=status)
    (inv,) = invite(conf, "140")
    with pytest.raises(DomainError) as err:
        invitation_mark_ready(actor=vanchan_operator, invitation=inv)
    assert err.value.code == "not_before_start"
    inv.refresh_from_db()
    assert inv.ready_at is None and not inv.entries.exists()


def test_readiness_board_shows_every_invited_site_with_counts(
    client_for, province_clerk, vanchan_operator
):
    conf = ConferenceFactory()
    ready, _waiting = invite(conf, "140", "138")
    invitation_mark_ready(actor=vanchan_operator, invitation=ready)
    page = client_for(province_clerk).get(reverse("conference_sites", args=[conf.code]))
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        'data-count="invited">2<' in html
        and 'data-count="ready">1<' in html
        and 'data-count="not_ready">1<' in html
    )
    assert ready.site.name in html and _waiting.site.name in html
    assert vanchan_operator.username in html or vanchan_operator.get_full_name() in html
    assert "Chưa kiểm tra" in html


def test_leader_reads_readiness_board_but_operator_does_not(client_for, leader, vanchan_operator):
    conf = ConferenceFactory()
    invite(conf, "140")
    assert client_for(leader).get(reverse("conference_sites", args=[conf.code])).status_code == 200
    assert (
        client_for(vanchan_operator).get(reverse("conference_sites", args=[conf.code])).status_code
        == 403
    )


def test_clerk_recording_ready_for_a_site_stamps_the_board(province_clerk, org):
    from conferences.services.attendance import attendance_record

    conf = ConferenceFactory()
    (inv,) = invite(conf, "140")
    attendance_record(actor=province_clerk, invitation=inv, status="ready", source="clerk")
    inv.refresh_from_db()
    assert (
        inv.ready_by == province_clerk and inv.ready_at is not None and inv.confirmed_at is not None
    )
