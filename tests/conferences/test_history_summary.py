"""The history summary gives the dashboard the same figures as the invitations, and follows changes."""

from __future__ import annotations

import datetime as dt
import io

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F

from conferences import demo_history
from conferences.models import HistorySummary, Status
from conferences.reports.dashboard import (
    _attendance_from_invitations,
    _attendance_from_summary,
    dashboard_figures,
)
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod
from conferences.reports.search import history_invitations
from conferences.reports.summary import summary_applies, summary_rebuild
from portal.models import Unit
from tests.conferences.history_helpers import attend, ended_conference

YEAR_2022 = {"date_from": dt.date(2022, 1, 1), "date_to": dt.date(2022, 12, 31)}


def _both(user, f: HistoryFilter):
    method = SavingsMethod.from_settings()
    late_after = F("conference__planned_start") + dt.timedelta(minutes=5)
    live = _attendance_from_invitations(history_invitations(user, f), f, late_after, method)
    rolled = _attendance_from_summary(user, f, method)
    return live, rolled


def _normalised(rows):
    unit_rows, reasons = rows
    units = sorted(
        (
            {k: (round(v) if isinstance(v, float) else (v or 0)) for k, v in row.items()}
            for row in unit_rows
        ),
        key=lambda r: r["k"],
    )
    return units, reasons


FILTERS = [
    {},
    YEAR_2022,
    {**YEAR_2022, "level": "district_to_commune"},
    {"unit": "own"},
    {"unit": "own", "successors": True},
    {"date_from": dt.date(2023, 1, 1)},
]


def test_summary_gives_the_same_attendance_figures_as_the_invitations(
    org, leader, vanchan_clerk, tranyen_clerk
):
    demo_history.seed({"users": [], "urls": {}})
    superuser = get_user_model().objects.create_superuser(
        "sum_admin", "s@example.test", "pw-Test-12345"
    )
    for user, own in [
        (superuser, "140"),
        (leader, "140"),
        (vanchan_clerk, "140"),
        (tranyen_clerk, "138"),
    ]:
        for kwargs in FILTERS:
            if "unit" in kwargs:
                kwargs = {**kwargs, "unit": Unit.objects.get(code=own)}
            f = HistoryFilter(**kwargs)
            assert summary_applies(user, f)
            live, rolled = _both(user, f)
            assert live[0], (user, kwargs)
            assert _normalised(live) == _normalised(rolled), (user, kwargs)


def test_summary_is_not_used_where_it_cannot_answer_exactly(org, leader, vanchan_operator):
    assert not summary_applies(leader, HistoryFilter(date_from=dt.date(2022, 1, 15)))
    assert not summary_applies(leader, HistoryFilter(date_to=dt.date(2022, 1, 30)))
    assert not summary_applies(leader, HistoryFilter(q="giao ban"))
    assert not summary_applies(vanchan_operator, HistoryFilter())
    assert summary_applies(
        leader, HistoryFilter(date_from=dt.date(2022, 2, 1), date_to=dt.date(2022, 2, 28))
    )


def test_an_attendance_correction_changes_the_dashboard(org, leader, settings):
    settings.HISTORY_CACHE_SECONDS = 0  # the summary itself must follow, not the cache
    conf = ended_conference(dt.date(2022, 3, 7))
    attend(conf, "15-UBND", headcount=10)
    absent = attend(conf, "140", status="absent", reason="Mất điện")
    before = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    assert (before["attended"], before["absent"]) == (1, 1)
    assert before["absence_reasons"] == [{"reason": "Mất điện", "count": 1}]

    absent.status, absent.headcount, absent.absence_reason = "present", 7, ""
    absent.first_joined_at = conf.planned_start + dt.timedelta(minutes=20)
    absent.save()
    after = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    assert (after["attended"], after["absent"], after["late"], after["headcount"]) == (2, 0, 1, 17)
    assert after["absence_reasons"] == []
    assert after["savings"]["total"] > before["savings"]["total"]


def test_a_conference_counts_once_it_ends_and_stops_counting_when_deleted(org, leader, settings):
    settings.HISTORY_CACHE_SECONDS = 0  # the summary itself must follow, not the cache
    conf = ended_conference(dt.date(2022, 5, 9))
    conf.status = Status.LIVE
    conf.save()
    attend(conf, "140", headcount=4)
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["invited"] == 0
    assert not HistorySummary.objects.exists()

    conf.status = Status.ENDED
    conf.save()
    fig = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    assert (fig["conferences"], fig["invited"], fig["attended"]) == (1, 1, 1)

    move = dt.timedelta(days=40)  # an ended conference moved to another month
    conf.planned_start, conf.planned_end, conf.actual_start, conf.actual_end = (
        t + move for t in (conf.planned_start, conf.planned_end, conf.actual_start, conf.actual_end)
    )
    conf.save()
    assert set(HistorySummary.objects.values_list("month", flat=True)) == {dt.date(2022, 6, 1)}
    fig = dashboard_figures(
        leader, HistoryFilter(date_from=dt.date(2022, 5, 1), date_to=dt.date(2022, 5, 31))
    )
    assert (fig["conferences"], fig["invited"]) == (0, 0)

    conf.delete()  # cascades to its invitations
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["invited"] == 0
    assert not HistorySummary.objects.exists()


def test_rebuild_after_a_bulk_load_restores_the_figures(org, leader, settings):
    settings.HISTORY_CACHE_SECONDS = 0  # the summary itself must follow, not the cache
    conf = ended_conference(dt.date(2022, 8, 1))
    attend(conf, "138", headcount=3)
    attend(conf, "140", status="absent_excused", reason="Trùng lịch")
    expected = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    HistorySummary.objects.all().delete()
    assert summary_rebuild() == 2
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022)) == expected

    settings.HISTORY_LATE_MINUTES = 30  # counted with another threshold: rebuilt by the command
    assert not summary_applies(leader, HistoryFilter(**YEAR_2022))
    call_command("history_summary", stdout=io.StringIO())
    assert summary_applies(leader, HistoryFilter(**YEAR_2022))
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["attended"] == expected["attended"]


LATE_KEYS = {"late", "late_minutes", "punctuality_rate"}


def _without_late(fig):
    out = {k: v for k, v in fig.items() if k not in LATE_KEYS}
    out["by_unit"] = [
        {k: v for k, v in row.items() if k not in {"late", "rank"}} for row in fig["by_unit"]
    ]
    out["by_unit"].sort(key=lambda r: r["code"])
    out["savings_method"] = None
    return out


def test_dashboard_from_the_summaries_equals_the_dashboard_from_the_conferences(
    org, leader, vanchan_clerk, settings
):
    """Counting late joins with another threshold than the summary's makes the dashboard read
    conferences and invitations again: everything but the late joins must come out the same."""
    settings.HISTORY_CACHE_SECONDS = 0
    demo_history.seed({"users": [], "urls": {}})
    superuser = get_user_model().objects.create_superuser(
        "sum_admin2", "s2@example.test", "pw-Test-12345"
    )
    for user in (superuser, leader, vanchan_clerk):
        for kwargs in [
            {},
            YEAR_2022,
            {**YEAR_2022, "level": "four_level"},
            {"date_from": dt.date(2021, 1, 1), "successors": True},
        ]:
            f = HistoryFilter(**kwargs)
            settings.HISTORY_LATE_MINUTES = 5
            assert summary_applies(user, f)
            rolled = dashboard_figures(user, f)
            settings.HISTORY_LATE_MINUTES = 6
            assert not summary_applies(user, f)
            live = dashboard_figures(user, f)
            assert _without_late(rolled) == _without_late(live), (user, kwargs)


def test_tagging_a_topic_changes_the_dashboard(org, leader, settings):
    from conferences.models import Topic

    settings.HISTORY_CACHE_SECONDS = 0
    conf = ended_conference(dt.date(2022, 9, 5))
    attend(conf, "140")
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["by_topic"] == []
    conf.topics.add(Topic.objects.create(slug="chuyen-doi-so", name="Chuyển đổi số"))
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["by_topic"] == [
        {"slug": "chuyen-doi-so", "name": "Chuyển đổi số", "count": 1}
    ]
