"""The demo history reproduces the province's 2021–2022 figures exactly, and only once."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from conferences import demo_history
from conferences.models import Conference, Invitation
from conferences.reports.dashboard import dashboard_figures
from conferences.reports.filters import HistoryFilter


def _admin():
    return get_user_model().objects.create_superuser(
        "hist_admin", "a@example.test", "pw-Test-12345"
    )


def test_demo_history_reproduces_the_seed_figures_for_2021_2022(org):
    demo_history.seed({"users": [], "urls": {}})
    fig = dashboard_figures(
        _admin(), HistoryFilter(date_from=dt.date(2021, 1, 1), date_to=dt.date(2022, 12, 31))
    )
    assert fig["conferences"] == 409
    levels = {row["key"]: row["count"] for row in fig["by_level"]}
    assert levels == {"four_level": 9, "province_to_district": 248, "district_to_commune": 152}
    topics = {row["slug"]: row["count"] for row in fig["by_topic"]}
    assert topics["covid-19"] == 19
    # Realistic attendance: most sites present, some absences with reasons, some late joins.
    assert 0.9 < fig["attendance_rate"] < 1.0
    assert fig["excused"] > 0 and any(r["reason"] == "Mất điện" for r in fig["absence_reasons"])
    assert fig["late"] > 0
    assert fig["savings"]["total"] > 0
    assert Conference.objects.filter(planned_start__year__gte=2023).exists()


def test_demo_history_invites_the_sites_of_the_time(org):
    demo_history.seed({"users": [], "urls": {}})
    commune_level = Conference.objects.filter(level="district_to_commune").first()
    units = set(
        Invitation.objects.filter(conference=commune_level).values_list("unit__path", flat=True)
    )
    assert all(path.startswith(commune_level.host_unit.path) for path in units)
    assert (
        Invitation.objects.filter(
            conference__level="four_level",
            # Aware, at midnight in the portal's time zone (a date string is a naive datetime).
            conference__planned_start__lt=dt.datetime.combine(
                demo_history.RECENT_FROM, dt.time.min, tzinfo=timezone.get_default_timezone()
            ),
        )
        .values("conference")
        .distinct()
        .count()
        == 15  # 2021 – mid-2025; the demo then goes on up to yesterday
    )
    assert not Invitation.objects.exclude(unit=F("site__unit")).exists()


def test_demo_history_runs_once(org):
    report = {"users": [], "urls": {}}
    demo_history.seed(report)
    count = Conference.objects.count()
    demo_history.seed(report)
    assert Conference.objects.count() == count
    assert "history" in report["urls"]


def test_conference_history_page_shows_the_timeline_of_the_seeded_conference(
    org, leader, client_for
):
    from conferences.models import AuditEntry

    demo_history.seed({"users": [], "urls": {}})
    entry = AuditEntry.objects.filter(action="live.floor.give").select_related("conference").first()
    site = entry.site
    assert site is not None and site.key == entry.data["site"]
    html = client_for(leader).get(f"/history/conferences/{entry.conference.code}/").content.decode()
    assert "Trao quyền phát biểu" in html and site.name in html
    assert "Kết thúc điểm danh" in html and "Báo cáo tình hình, kết quả thực hiện" in html
