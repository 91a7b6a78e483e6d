"""The history summary gives the dashboard the same figures as the invitations, and follows changes."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import F

from conferences import demo_history
from conferences.models import Conference, HistoryDirtyMonth, HistorySummary, Status
from conferences.reports.dashboard import (
    _attendance_from_invitations,
    _attendance_from_summary,
    dashboard_figures,
)
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod
from conferences.reports.search import history_invitations
from conferences.reports.summary import summary_applies
from conferences.services import attendance, history, scheduling
from conferences.services.history import (
    history_rebuild,
    history_refresh_dirty,
    history_refresh_months,
    mark_months_dirty,
)
from conferences.tasks import history_summary_refresh
from portal.models import Unit
from tests.conferences.history_helpers import attend, ended_conference

YEAR_2022 = {"date_from": dt.date(2022, 1, 1), "date_to": dt.date(2022, 12, 31)}


def _both(user, f: HistoryFilter):
    method = SavingsMethod.from_settings()
    late_after = F("conference__planned_start") + dt.timedelta(minutes=5)
    live = _attendance_from_invitations(history_invitations(user, f), f, late_after, method)
    rolled = _attendance_from_summary(user, f, method)
    return live, rolled


def _live(user, f: HistoryFilter | None = None):
    return _both(user, f or HistoryFilter(**YEAR_2022))[0]


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


def test_a_dirty_month_in_the_period_makes_the_dashboard_read_the_invitations(org, leader):
    year = HistoryFilter(**YEAR_2022)
    assert summary_applies(leader, year)
    mark_months_dirty([dt.date(2022, 3, 1)])
    assert not summary_applies(leader, year)
    assert summary_applies(
        leader, HistoryFilter(date_from=dt.date(2022, 4, 1), date_to=dt.date(2022, 12, 31))
    )
    assert not summary_applies(leader, HistoryFilter())


@pytest.fixture
def march(org, province_clerk, django_capture_on_commit_callbacks):
    """An ended conference of March 2022: the province present, Văn Chấn and Trấn Yên absent
    (recorded through the service, so their entries can be corrected)."""
    conf = ended_conference(dt.date(2022, 3, 7))
    attend(conf, "15-UBND", headcount=10)
    entries = {}
    with django_capture_on_commit_callbacks(execute=True):  # as if each service call committed
        for key in ("140", "138"):
            invitation = attend(conf, key, status="invited")
            entries[key] = attendance.attendance_record(
                actor=province_clerk,
                invitation=invitation,
                status="absent",
                absence_reason="Mất điện",
                source="clerk",
            )
    history_refresh_months(months=[dt.date(2022, 3, 1)])
    return conf, entries


def _correct(clerk, entry, headcount):
    return attendance.attendance_correct(
        actor=clerk, entry=entry, status="present", headcount=headcount, reason="Ghi nhầm"
    )


def _rolled(leader):
    """The figures the summary path gives right now (asserting it is allowed to answer)."""
    f = HistoryFilter(**YEAR_2022)
    assert summary_applies(leader, f)
    return _normalised(_attendance_from_summary(leader, f, SavingsMethod.from_settings()))


def test_a_correction_marks_its_month_after_commit_and_the_beat_task_recomputes_it(
    march, leader, province_clerk, settings, django_capture_on_commit_callbacks
):
    settings.HISTORY_CACHE_SECONDS = 0
    settings.HISTORY_SUMMARY_REFRESH = "beat"
    _conf, entries = march
    before = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    assert (before["attended"], before["absent"]) == (1, 2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _correct(province_clerk, entries["140"], 7)
        assert not HistoryDirtyMonth.objects.exists()  # nothing is written inside the transaction
    (mark,) = [c for c in callbacks if isinstance(c, history._MarkAfterCommit)]
    mark()  # what the commit runs
    assert list(HistoryDirtyMonth.objects.values_list("month", flat=True)) == [dt.date(2022, 3, 1)]

    # Until the refresh, the dashboard reads the invitations: already exact.
    after = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    assert (after["attended"], after["absent"], after["headcount"]) == (2, 1, 17)
    assert history_summary_refresh() == 1  # the beat task's body
    assert not HistoryDirtyMonth.objects.exists()
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022)) == after
    assert _rolled(leader) == _normalised(_live(leader))
    assert history_summary_refresh() == 0  # idempotent: nothing left to do


def test_inline_mode_recomputes_right_after_the_commit(
    march, leader, province_clerk, settings, django_capture_on_commit_callbacks
):
    settings.HISTORY_CACHE_SECONDS = 0
    settings.HISTORY_SUMMARY_REFRESH = "inline"
    _conf, entries = march
    with django_capture_on_commit_callbacks(execute=True):
        _correct(province_clerk, entries["140"], 7)
        _correct(province_clerk, entries["138"], 5)
    assert not HistoryDirtyMonth.objects.exists()
    units, _reasons = _rolled(leader)
    assert (
        sum(row["attended"] for row in units) == 3
        and sum(row["recorded_people"] for row in units) == 22
    )


def test_a_transaction_marks_a_month_once_and_a_rolled_back_savepoint_loses_no_mark(
    march, province_clerk, django_capture_on_commit_callbacks
):
    _conf, entries = march
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for headcount in range(1, 6):
            _correct(province_clerk, entries["140"], headcount)
    assert len([c for c in callbacks if isinstance(c, history._MarkAfterCommit)]) == 1

    other = ended_conference(dt.date(2022, 4, 4))
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                history.history_mark_dirty(conference=other)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        history.history_mark_dirty(conference=other)  # registered again: the first one is gone
    assert [c.month for c in callbacks] == [dt.date(2022, 4, 1)]


def test_saving_an_invitation_no_longer_recomputes_anything(march, django_assert_num_queries):
    conf, _entries = march
    invitation = conf.invitations.first()
    invitation.headcount = 99
    with django_assert_num_queries(1):  # was 11 with the save hooks
        invitation.save()


def test_a_conference_counts_once_it_ends_through_the_service(
    org, chair, leader, settings, django_capture_on_commit_callbacks
):
    settings.HISTORY_CACHE_SECONDS = 0
    settings.HISTORY_SUMMARY_REFRESH = "inline"
    conf = ended_conference(dt.date(2022, 5, 9))
    Conference.objects.filter(pk=conf.pk).update(status=Status.LIVE)
    attend(conf, "140", headcount=4)
    history_refresh_months(months=[dt.date(2022, 5, 1)])
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["invited"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.conference_transition(actor=chair, conference=conf, to=Status.ENDED)
    fig = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    assert summary_applies(leader, HistoryFilter(**YEAR_2022))
    assert (fig["conferences"], fig["invited"], fig["attended"]) == (1, 1, 1)


def test_deleting_an_ended_conference_in_the_admin_marks_its_month(
    org, leader, client_for, settings, django_capture_on_commit_callbacks
):
    settings.HISTORY_CACHE_SECONDS = 0
    settings.HISTORY_SUMMARY_REFRESH = "beat"
    conf = ended_conference(dt.date(2022, 6, 6))
    attend(conf, "140", headcount=4)
    admin = get_user_model().objects.create_superuser(
        "sum_admin3", "s3@example.test", "pw-Test-12345"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(
            f"/admin/conferences/conference/{conf.pk}/delete/", {"post": "yes"}
        )
    assert response.status_code == 302
    assert HistoryDirtyMonth.objects.filter(month=dt.date(2022, 6, 1)).exists()
    assert (
        dashboard_figures(leader, HistoryFilter(**YEAR_2022))["invited"] == 0
    )  # read from the invitations
    history_refresh_dirty()
    assert not HistorySummary.objects.filter(month=dt.date(2022, 6, 1)).exists()
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["conferences"] == 0


def test_rebuild_after_a_bulk_load_restores_the_figures(org, leader, settings):
    settings.HISTORY_CACHE_SECONDS = 0  # the summary itself must follow, not the cache
    conf = ended_conference(dt.date(2022, 8, 1))
    attend(conf, "138", headcount=3)
    attend(conf, "140", status="absent_excused", reason="Trùng lịch")
    expected = dashboard_figures(leader, HistoryFilter(**YEAR_2022))
    HistorySummary.objects.all().delete()
    assert history_rebuild() == 2
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022)) == expected

    settings.HISTORY_LATE_MINUTES = 30  # counted with another threshold: rebuilt by the command
    assert not summary_applies(leader, HistoryFilter(**YEAR_2022))
    call_command("history_summary", stdout=io.StringIO())
    assert summary_applies(leader, HistoryFilter(**YEAR_2022))
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["attended"] == expected["attended"]
    mark_months_dirty([dt.date(2022, 8, 1)])
    out = io.StringIO()
    call_command("history_summary", "--dirty", stdout=out)
    assert "1 dirty months" in out.getvalue() and not HistoryDirtyMonth.objects.exists()


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


def test_celery_beat_runs_the_refresh_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["history-summary-refresh"]
    assert entry["task"] == history_summary_refresh.name
    assert entry["schedule"] == settings.HISTORY_SUMMARY_REFRESH_SECONDS


def test_a_month_is_aggregated_exactly_at_its_local_boundaries(org, settings):
    """The refresh aggregates in one ``INSERT … SELECT`` per table: check its rows field by field
    against figures worked out by hand, with conferences at the edges of the month in the
    portal's time zone (00:30 on the 1st is still the previous day in UTC), a late join, a
    present site without headcount, absence reasons, a topic, and conferences that must not
    count (another month, not ended)."""
    from conferences.models import HistoryConferenceSummary
    from conferences.services.topics import topics_for_names

    settings.HISTORY_LATE_MINUTES = 5
    tz = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh

    def conference(start: dt.datetime, minutes: int, status: str = Status.ENDED) -> Conference:
        return Conference.objects.create(
            title="Giao ban",
            level="province_to_district",
            host_unit=Unit.objects.get(code="15-UBND"),
            planned_start=start,
            planned_end=start + dt.timedelta(minutes=minutes),
            status=status,
        )

    first = conference(dt.datetime(2022, 3, 1, 0, 30, tzinfo=tz), 90)
    last = conference(dt.datetime(2022, 3, 31, 23, 30, tzinfo=tz), 30)
    last.topics.set(topics_for_names(["Chuyển đổi số"]))
    february = conference(dt.datetime(2022, 2, 28, 23, 59, tzinfo=tz), 60)
    scheduled = conference(dt.datetime(2022, 3, 15, 8, 0, tzinfo=tz), 60, status=Status.SCHEDULED)
    attend(first, "138", headcount=4, late_minutes=10)
    attend(first, "140")  # on time, no headcount recorded
    attend(first, "15-UBND", status="absent", reason="Mất điện")
    attend(last, "138", status="absent_excused", reason="Trùng lịch")
    attend(last, "140", headcount=2, late_minutes=5)  # at the threshold: not late
    attend(february, "138", headcount=9)
    attend(scheduled, "138", headcount=9)

    march = dt.date(2022, 3, 1)
    assert history_refresh_months(months=[march]) == 4 + 2  # attendance rows + conference rows
    fields = ("level", "host_unit__code", "unit__code", "absence_reason")
    counts = ("invited", "attended", "excused", "absent", "late", "late_minutes", "headcount")
    rows = {
        tuple(r[f] for f in fields): tuple(r[c] for c in (*counts, "attended_without_headcount"))
        for r in HistorySummary.objects.filter(month=march).values(
            *fields, *counts, "attended_without_headcount"
        )
    }
    p2d = "province_to_district"
    assert rows == {
        (p2d, "15-UBND", "138", ""): (1, 1, 0, 0, 1, 5, 4, 0),
        (p2d, "15-UBND", "140", ""): (2, 2, 0, 0, 0, 5, 2, 1),
        (p2d, "15-UBND", "15-UBND", "Mất điện"): (1, 0, 0, 1, 0, 5, 0, 0),
        (p2d, "15-UBND", "138", "Trùng lịch"): (1, 0, 1, 0, 0, 5, 0, 0),
    }
    conf_rows = {
        (r.topic.name if r.topic else None): (
            r.conferences,
            r.duration,
            r.first_start,
            r.last_start,
        )
        for r in HistoryConferenceSummary.objects.filter(month=march, level=p2d)
    }
    assert conf_rows == {
        None: (2, dt.timedelta(minutes=120), first.planned_start, last.planned_start),
        "Chuyển đổi số": (1, None, None, None),
    }
    # February holds its own conference only, and a rebuild gives back the same rows.
    assert HistorySummary.objects.get(month=dt.date(2022, 2, 1)).headcount == 9
    before = sorted(HistorySummary.objects.values_list(*fields, *counts).order_by())
    assert history_rebuild() == 5
    assert sorted(HistorySummary.objects.values_list(*fields, *counts).order_by()) == before
