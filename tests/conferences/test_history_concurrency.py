"""The history summaries stay exact when corrections and refreshes overlap (PostgreSQL, READ
COMMITTED, real concurrent transactions on their own connections).

Before the redesign, each correction re-aggregated its month inside its own transaction: two
corrections of the same month at once left the month counted twice (``invited`` 2 → 4).
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from conferences.models import HistoryDirtyMonth, HistorySummary, HistoryYearSummary
from conferences.reports.dashboard import dashboard_figures
from conferences.reports.filters import HistoryFilter
from conferences.reports.summary import summary_applies
from conferences.services import attendance
from conferences.services.history import (
    history_refresh_dirty,
    history_refresh_months,
    mark_months_dirty,
)
from tests.conferences.history_helpers import attend, ended_conference

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

MARCH = dt.date(2022, 3, 1)
MARCH_ONLY = {"date_from": MARCH, "date_to": dt.date(2022, 3, 31)}


@pytest.fixture
def march(postgres_required, org, province_clerk, settings):
    """Two conferences of March 2022: at the first the province was present (10 people) and Văn
    Chấn absent; at the second Trấn Yên absent. (Two conferences: corrections of one conference
    wait for each other on its row lock; of two conferences in one month they really overlap.)"""
    settings.HISTORY_CACHE_SECONDS = 0
    first = ended_conference(dt.date(2022, 3, 7))
    second = ended_conference(dt.date(2022, 3, 14), title="Giao ban chuyên đề")
    attend(first, "15-UBND", headcount=10)
    entries = {}
    for conf, key in ((first, "140"), (second, "138")):
        invitation = attend(conf, key, status="invited")
        entries[key] = attendance.attendance_record(
            actor=province_clerk,
            invitation=invitation,
            status="absent",
            absence_reason="Mất điện",
            source="clerk",
        )
    history_refresh_months(months=[MARCH])
    assert not HistoryDirtyMonth.objects.exists()
    return entries


def _summary_totals() -> dict[str, int]:
    """March's totals; the yearly roll-up of 2022 (March is its only month) must agree."""
    names = ("invited", "attended", "absent", "headcount")
    rows = HistorySummary.objects.filter(month=MARCH)
    totals = {name: sum(getattr(r, name) for r in rows) for name in names}
    year = HistoryYearSummary.objects.filter(year=dt.date(2022, 1, 1))
    assert {name: sum(getattr(r, name) for r in year) for name in names} == totals
    return totals


def _in_thread(target, errors: list) -> threading.Thread:
    def run():
        try:
            target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _correct(clerk, entry, headcount: int, *, before_commit=lambda: None) -> None:
    with transaction.atomic():
        attendance.attendance_correct(
            actor=clerk, entry=entry, status="present", headcount=headcount, reason="Đếm lại"
        )
        before_commit()


@pytest.mark.parametrize("mode", ["beat", "inline"])
def test_two_corrections_of_one_month_at_once_then_the_refresh_give_exact_figures(
    march, province_clerk, leader, settings, mode
):
    settings.HISTORY_SUMMARY_REFRESH = mode
    both_written = threading.Barrier(2, timeout=30)
    errors: list = []
    threads = [
        _in_thread(
            lambda key=key, n=n: _correct(
                province_clerk, march[key], n, before_commit=both_written.wait
            ),
            errors,
        )
        for key, n in (("140", 7), ("138", 5))
    ]
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    if mode == "beat":
        assert list(HistoryDirtyMonth.objects.values_list("month", flat=True)) == [MARCH]
        assert not summary_applies(leader, HistoryFilter(**MARCH_ONLY))
        history_refresh_dirty()
    assert not HistoryDirtyMonth.objects.exists()
    assert _summary_totals() == {"invited": 3, "attended": 3, "absent": 0, "headcount": 22}
    fig = dashboard_figures(leader, HistoryFilter(**MARCH_ONLY))
    assert summary_applies(leader, HistoryFilter(**MARCH_ONLY))
    assert (fig["invited"], fig["attended"], fig["absent"], fig["headcount"]) == (3, 3, 0, 22)


def test_a_correction_committed_while_the_refresh_runs_is_not_lost(
    march, province_clerk, leader, settings
):
    """The refresh claims March (an older mark) while a correction of March is written but not
    yet committed; the correction's own mark, written after its commit, brings March back."""
    settings.HISTORY_SUMMARY_REFRESH = "beat"
    mark_months_dirty([MARCH])  # an earlier change of March, not yet refreshed
    written, refreshed = threading.Event(), threading.Event()

    def hold_until_refreshed():
        written.set()
        assert refreshed.wait(30)

    errors: list = []
    thread = _in_thread(
        lambda: _correct(province_clerk, march["140"], 7, before_commit=hold_until_refreshed),
        errors,
    )
    assert written.wait(30)
    assert history_refresh_dirty() == [MARCH]  # cannot see the uncommitted correction
    assert _summary_totals()["attended"] == 1
    refreshed.set()
    thread.join(60)
    assert not errors, errors

    assert list(HistoryDirtyMonth.objects.values_list("month", flat=True)) == [MARCH]
    fig = dashboard_figures(leader, HistoryFilter(**MARCH_ONLY))  # from the invitations meanwhile
    assert (fig["attended"], fig["headcount"]) == (2, 17)
    assert history_refresh_dirty() == [MARCH]
    assert _summary_totals() == {"invited": 3, "attended": 2, "absent": 1, "headcount": 17}
    assert dashboard_figures(leader, HistoryFilter(**MARCH_ONLY)) == fig


def test_two_refreshes_at_once_wait_for_each_other(march, province_clerk, settings):
    settings.HISTORY_SUMMARY_REFRESH = "beat"
    _correct(province_clerk, march["140"], 7)
    _correct(province_clerk, march["138"], 5)
    mark_months_dirty([dt.date(2022, 4, 1), dt.date(2021, 1, 1)])
    start = threading.Barrier(2, timeout=30)
    done: list = []
    errors: list = []

    def refresh():
        start.wait()
        done.extend(history_refresh_dirty(batch=1))

    threads = [_in_thread(refresh, errors) for _ in range(2)]
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(done) == [dt.date(2021, 1, 1), MARCH, dt.date(2022, 4, 1)]  # each month once
    assert not HistoryDirtyMonth.objects.exists()
    assert _summary_totals() == {"invited": 3, "attended": 3, "absent": 0, "headcount": 22}
