"""The leader's overview: this month and this year against last year, the lowest attendance,
the next conferences — scoped like every history page, with a bounded number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conferences.models import Status
from conferences.reports.overview import overview_figures
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.history_helpers import attend, ended_conference

TODAY = dt.date(2026, 3, 18)


@pytest.fixture
def two_years(org):
    """March 2026: 2 conferences (one district-to-commune), 5 of 6 sites attended; March 2025:
    1 conference, both sites attended; January 2026 and June 2025 one each."""
    a = ended_conference(dt.date(2026, 3, 2))
    attend(a, "15-UBND", headcount=20)
    attend(a, "140", headcount=8)
    attend(a, "138", status="absent", reason="Mất điện")
    b = ended_conference(dt.date(2026, 3, 9), host="140", level="district_to_commune")
    for key in ("140", "04630", "04633"):
        attend(b, key, headcount=5)
    c = ended_conference(dt.date(2025, 3, 3))
    attend(c, "15-UBND", headcount=20)
    attend(c, "138", headcount=6)
    d = ended_conference(dt.date(2026, 1, 12))
    attend(d, "138", status="absent_excused", reason="Trùng lịch")
    attend(d, "140", headcount=3)
    e = ended_conference(dt.date(2025, 6, 2))
    attend(e, "140", headcount=3)
    attend(e, "138", headcount=3)


def test_this_month_and_year_against_the_same_months_of_last_year(two_years, leader):
    fig = overview_figures(leader, today=TODAY)
    month, before = fig["month"], fig["month_last_year"]
    assert (month["conferences"], month["attended"], month["invited"]) == (2, 5, 6)
    assert {r["key"]: r["count"] for r in month["by_level"]} == {
        "four_level": 0,
        "province_to_district": 1,
        "district_to_commune": 1,
    }
    assert (before["conferences"], before["attended"], before["invited"]) == (1, 2, 2)
    assert month["attendance_rate"] == pytest.approx(5 / 6) and before["attendance_rate"] == 1.0
    year, last = fig["year"], fig["year_last_year"]
    assert (year["conferences"], year["attended"], year["invited"]) == (3, 6, 8)
    assert (last["conferences"], last["attended"]) == (1, 2)  # June 2025 is after March
    assert fig["last_year"]["conferences"] == 2
    assert month["savings"] > 0
    by_month = {
        row["month"].month: (row["this_year"], row["last_year"], row["future"])
        for row in fig["monthly"]
    }
    assert (
        by_month[3] == (2, 1, False)
        and by_month[6] == (0, 1, True)
        and by_month[1] == (1, 0, False)
    )


def test_lowest_attendance_and_next_conferences(two_years, leader, org):
    upcoming = ConferenceFactory(
        status=Status.SCHEDULED,
        planned_start=timezone.now() + dt.timedelta(days=2),
        planned_end=timezone.now() + dt.timedelta(days=2, hours=2),
    )
    invite(upcoming, "140", "138")
    ConferenceFactory(
        status=Status.DRAFT,
        planned_start=timezone.now() + dt.timedelta(days=3),
        planned_end=timezone.now() + dt.timedelta(days=3, hours=1),
    )
    fig = overview_figures(leader, today=TODAY)
    lowest = fig["lowest_units"]
    assert lowest[0]["code"] == "138" and lowest[0]["rate"] == pytest.approx(
        1 / 3
    )  # attended 1 of 3
    assert [c.pk for c in fig["next_conferences"]] == [upcoming.pk]  # drafts are not announced


def test_overview_page_from_the_outside(
    two_years, leader, vanchan_clerk, outsider, client_for, django_assert_max_num_queries
):
    client = client_for(leader)
    with django_assert_max_num_queries(20):
        page = client.get("/history/overview/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-kpi="conferences"' in html and "<svg" in html and "svgchart" in html
    assert "Đơn vị tham dự thấp nhất" in html and "Hội nghị sắp tới" in html
    assert "<script" not in html.split("<main")[1].split("</main>")[0]  # charts need no script

    # A district clerk sees his district's figures only; an outsider sees nothing.
    assert client_for(vanchan_clerk).get("/history/overview/").status_code == 200
    html = client_for(outsider).get("/history/overview/").content.decode()
    assert 'data-kpi="conferences">0<' in html
    client.logout()
    assert client.get("/history/overview/").status_code == 302


def test_a_district_clerk_overview_counts_only_visible_conferences(two_years, tranyen_clerk):
    fig = overview_figures(tranyen_clerk, today=TODAY)
    # Trấn Yên was invited to the province's March conferences of both years, not to Văn Chấn's.
    assert (
        fig["month"]["conferences"] == 1
        and fig["month"]["invited"] == 1
        and fig["month"]["attended"] == 0
    )
    assert fig["month_last_year"]["attended"] == 1
