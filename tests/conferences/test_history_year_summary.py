"""The yearly roll-up of the attendance summary: the sums of its months after every refresh, read
for whole years only (edge months from the monthly rows), true to the tree of the time, and
giving the dashboard the same figures as the invitations."""

from __future__ import annotations

import datetime as dt
import importlib
from collections import Counter

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F

from conferences import demo_history
from conferences.models import Conference, HistorySummary, HistoryYearSummary, Status
from conferences.reports.dashboard import (
    _attendance_from_invitations,
    _attendance_from_summary,
    dashboard_figures,
)
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod
from conferences.reports.search import history_invitations
from conferences.reports.summary import summary_applies, summary_row_parts
from conferences.services import attendance
from conferences.services.history import (
    history_rebuild,
    history_refresh_dirty,
    history_refresh_months,
)
from portal.models import Site, Unit
from tests.conferences.history_helpers import attend, ended_conference

KEY = ("level", "host_unit_id", "unit_id", "absence_reason")
COUNTS = (
    "invited",
    "attended",
    "excused",
    "absent",
    "late",
    "headcount",
    "attended_without_headcount",
)
YEAR_2022 = {"date_from": dt.date(2022, 1, 1), "date_to": dt.date(2022, 12, 31)}


def _year_rows() -> dict[tuple, tuple]:
    return {
        (r["year"].year, *(r[k] for k in KEY)): tuple(r[c] for c in (*COUNTS, "late_minutes"))
        for r in HistoryYearSummary.objects.values("year", *KEY, *COUNTS, "late_minutes")
    }


def _months_summed() -> dict[tuple, tuple]:
    """The monthly rows summed per year and key, in Python: what the roll-up must hold."""
    sums: dict[tuple, Counter] = {}
    late: dict[tuple, int] = {}
    for r in HistorySummary.objects.values("month", *KEY, *COUNTS, "late_minutes"):
        key = (r["month"].year, *(r[k] for k in KEY))
        sums.setdefault(key, Counter()).update({c: r[c] for c in COUNTS})
        late[key] = min(late.get(key, r["late_minutes"]), r["late_minutes"])
    return {key: (*(s[c] for c in COUNTS), late[key]) for key, s in sums.items()}


@pytest.fixture
def two_years(org, province_clerk, settings, django_capture_on_commit_callbacks):
    """March and April 2022 and June 2021, with an absence recorded through the service."""
    settings.HISTORY_LATE_MINUTES = 5
    settings.HISTORY_CACHE_SECONDS = 0
    march = ended_conference(dt.date(2022, 3, 7))
    april = ended_conference(dt.date(2022, 4, 4))
    june = ended_conference(dt.date(2021, 6, 14))
    attend(march, "138", headcount=4, late_minutes=10)
    attend(april, "138", headcount=3)
    attend(april, "140")  # present, no headcount recorded
    attend(june, "138", headcount=8)
    with django_capture_on_commit_callbacks(execute=True):  # as if the service committed
        entry = attendance.attendance_record(
            actor=province_clerk,
            invitation=attend(march, "140", status="invited"),
            status="absent",
            absence_reason="Mất điện",
            source="clerk",
        )
    history_refresh_months(months=[dt.date(2022, 3, 1), dt.date(2022, 4, 1)])
    return {"march": march, "april": april, "june": june, "entry": entry}


def test_the_yearly_rows_are_the_sums_of_the_months_after_every_refresh(
    two_years, province_clerk, settings, django_capture_on_commit_callbacks
):
    p2d, ubnd = "province_to_district", Unit.objects.get(code="15-UBND").pk
    u138, u140 = Unit.objects.get(code="138").pk, Unit.objects.get(code="140").pk
    assert _year_rows() == {
        # invited, attended, excused, absent, late, headcount, without headcount, late minutes
        (2022, p2d, ubnd, u138, ""): (2, 2, 0, 0, 1, 7, 0, 5),
        (2022, p2d, ubnd, u140, ""): (1, 1, 0, 0, 0, 0, 1, 5),
        (2022, p2d, ubnd, u140, "Mất điện"): (1, 0, 0, 1, 0, 0, 0, 5),
        (2021, p2d, ubnd, u138, ""): (1, 1, 0, 0, 0, 8, 0, 5),
    }
    assert _year_rows() == _months_summed()

    # A correction through the service marks March; the beat's refresh rewrites 2022 only.
    settings.HISTORY_SUMMARY_REFRESH = "beat"
    untouched = HistoryYearSummary.objects.get(year=dt.date(2021, 1, 1)).pk
    with django_capture_on_commit_callbacks(execute=True):
        attendance.attendance_correct(
            actor=province_clerk,
            entry=two_years["entry"],
            status="present",
            headcount=6,
            reason="Ghi nhầm",
        )
    assert history_refresh_dirty() == [dt.date(2022, 3, 1)]
    rows = _year_rows()
    assert rows[(2022, p2d, ubnd, u140, "")] == (2, 2, 0, 0, 0, 6, 1, 5)
    assert (2022, p2d, ubnd, u140, "Mất điện") not in rows
    assert rows == _months_summed()
    assert HistoryYearSummary.objects.get(year=dt.date(2021, 1, 1)).pk == untouched

    # The last conference of a year goes: its yearly rows go with it.
    two_years["june"].delete()
    history_refresh_months(months=[dt.date(2021, 6, 1)])
    assert not HistoryYearSummary.objects.filter(year=dt.date(2021, 1, 1)).exists()
    assert _year_rows() == _months_summed()

    # A rebuild writes the same roll-up, and the migration's fill from the months too.
    before = _year_rows()
    history_rebuild()
    assert _year_rows() == before
    HistoryYearSummary.objects.all().delete()
    migration = importlib.import_module("conferences.migrations.0014_history_year_summary")
    migration.fill_from_months(apps, None)
    assert _year_rows() == before


def test_a_year_starts_at_midnight_in_the_portals_time_zone(org, settings):
    """00:30 on 1 January in Hà Nội is still 31 December in UTC: it counts in the new year."""
    settings.HISTORY_LATE_MINUTES = 5
    tz = dt.timezone(dt.timedelta(hours=7))
    for start in (
        dt.datetime(2022, 12, 31, 23, 30, tzinfo=tz),
        dt.datetime(2023, 1, 1, 0, 30, tzinfo=tz),
    ):
        conf = Conference.objects.create(
            title="Giao ban",
            level="province_to_district",
            host_unit=Unit.objects.get(code="15-UBND"),
            planned_start=start,
            planned_end=start + dt.timedelta(hours=1),
            status=Status.ENDED,
        )
        attend(conf, "138", headcount=start.day)
    history_rebuild()
    by_year = dict(HistoryYearSummary.objects.values_list("year", "headcount"))
    assert by_year == {dt.date(2022, 1, 1): 31, dt.date(2023, 1, 1): 1}


def _parts(f: HistoryFilter, user) -> list[tuple[str, dt.date | None, dt.date | None]]:
    """Which table each part reads and the span of periods it holds."""
    out = []
    for rows in summary_row_parts(user, f):
        field = "year" if rows.model is HistoryYearSummary else "month"
        periods = sorted(rows.values_list(field, flat=True).distinct())
        out.append((field, periods[0] if periods else None, periods[-1] if periods else None))
    return out


def test_whole_years_come_from_the_roll_up_and_the_edge_months_from_the_months(org, leader):
    for day in (dt.date(2020, 11, 3), dt.date(2021, 2, 2), dt.date(2021, 12, 6)):
        attend(ended_conference(day), "138", headcount=1)
    for day in (dt.date(2022, 1, 10), dt.date(2022, 6, 6), dt.date(2023, 3, 6)):
        attend(ended_conference(day), "138", headcount=1)
    y = dt.date
    cases = [
        (HistoryFilter(), [("year", y(2020, 1, 1), y(2023, 1, 1))]),
        (HistoryFilter(**YEAR_2022), [("year", y(2022, 1, 1), y(2022, 1, 1))]),
        (
            HistoryFilter(date_from=y(2020, 12, 1), date_to=y(2022, 2, 28)),
            [("year", y(2021, 1, 1), y(2021, 1, 1)), ("month", y(2022, 1, 1), y(2022, 1, 1))],
        ),
        (
            HistoryFilter(date_from=y(2020, 11, 1)),
            [("year", y(2021, 1, 1), y(2023, 1, 1)), ("month", y(2020, 11, 1), y(2020, 11, 1))],
        ),
        (
            HistoryFilter(date_to=y(2022, 6, 30)),
            [("year", y(2020, 1, 1), y(2021, 1, 1)), ("month", y(2022, 1, 1), y(2022, 6, 1))],
        ),
        # No whole year inside: months only, even across a new year.
        (
            HistoryFilter(date_from=y(2021, 12, 1), date_to=y(2022, 1, 31)),
            [("month", y(2021, 12, 1), y(2022, 1, 1))],
        ),
        (
            HistoryFilter(date_from=y(2022, 2, 1), date_to=y(2022, 12, 31)),
            [("month", y(2022, 6, 1), y(2022, 6, 1))],
        ),
    ]
    for f, expected in cases:
        assert summary_applies(leader, f)
        assert _parts(f, leader) == expected, f

    # What the dashboard shows follows the table it reads: a (deliberately) wrong yearly row
    # changes the whole year's figures, not those of a period with 2022 at its edge.
    HistoryYearSummary.objects.filter(year=y(2022, 1, 1)).update(invited=F("invited") + 100)
    assert dashboard_figures(leader, HistoryFilter(**YEAR_2022))["invited"] == 102
    assert (
        dashboard_figures(leader, HistoryFilter(date_from=y(2022, 1, 1), date_to=y(2022, 11, 30)))[
            "invited"
        ]
        == 2
    )


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


EDGE_FILTERS = [
    {},
    {"date_from": dt.date(2021, 3, 1), "date_to": dt.date(2023, 2, 28)},
    {"date_from": dt.date(2021, 1, 1), "date_to": dt.date(2024, 5, 31)},
    {"date_from": dt.date(2022, 7, 1)},
    {"date_to": dt.date(2023, 12, 31), "level": "district_to_commune"},
    {"date_from": dt.date(2022, 11, 1), "date_to": dt.date(2023, 1, 31)},
    {"date_from": dt.date(2021, 1, 1), "date_to": dt.date(2025, 12, 31), "unit": "own"},
    {"date_from": dt.date(2021, 6, 1), "unit": "own", "successors": True},
]


def test_edge_months_and_whole_years_give_the_invitations_figures_on_the_demo_history(
    org, leader, vanchan_clerk
):
    demo_history.seed({"users": [], "urls": {}})
    superuser = get_user_model().objects.create_superuser(
        "year_admin", "y@example.test", "pw-Test-12345"
    )
    method = SavingsMethod.from_settings()
    late_after = F("conference__planned_start") + dt.timedelta(minutes=5)
    with_reasons = 0
    for user in (superuser, leader, vanchan_clerk):
        for kwargs in EDGE_FILTERS:
            if "unit" in kwargs:
                kwargs = {**kwargs, "unit": Unit.objects.get(code="140")}
            f = HistoryFilter(**kwargs)
            assert summary_applies(user, f)
            live = _attendance_from_invitations(history_invitations(user, f), f, late_after, method)
            assert live[0], (user, kwargs)
            with_reasons += bool(live[1])
            assert _normalised(_attendance_from_summary(user, f, method)) == _normalised(live), (
                user,
                kwargs,
            )
    assert with_reasons >= len(EDGE_FILTERS) * 2  # the absence reasons were compared too


@pytest.fixture
def merger_year(org, settings):
    """2025, the year of the reform: in March the city's wards Yên Ninh and Minh Tân meet the
    city; from July their meeting rooms belong to the new Phường Yên Bái, which meets it in
    September."""
    settings.HISTORY_CACHE_SECONDS = 0
    march = ended_conference(dt.date(2025, 3, 4), host="132", level="district_to_commune")
    attend(march, "132", headcount=20)
    attend(march, "04252", headcount=6)
    attend(march, "04255", status="absent_excused", reason="Mất điện")
    call_command("load_successors", verbosity=0)
    Site.objects.filter(key__in=["04252", "04255"]).update(unit=Unit.objects.get(code="2025-04252"))
    september = ended_conference(dt.date(2025, 9, 9), host="132", level="district_to_commune")
    attend(september, "04252", headcount=9)
    attend(september, "04255", headcount=4)
    return march, september


def test_the_year_of_the_merger_keeps_the_units_of_the_time_and_maps_them_on_request(
    merger_year, leader
):
    year = {"date_from": dt.date(2025, 1, 1), "date_to": dt.date(2025, 12, 31)}
    assert _parts(HistoryFilter(**year), leader) == [
        ("year", dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    ]
    assert set(HistoryYearSummary.objects.values_list("unit__code", flat=True)) == {
        "132",
        "04252",
        "04255",
        "2025-04252",
    }

    plain = {r["code"]: r for r in dashboard_figures(leader, HistoryFilter(**year))["by_unit"]}
    assert set(plain) == {"132", "04252", "04255", "2025-04252"}
    assert plain["04252"]["name"] == "Phường Yên Ninh" and plain["04252"]["attended"] == 1
    assert plain["04255"]["excused"] == 1
    assert (plain["2025-04252"]["invited"], plain["2025-04252"]["attended"]) == (2, 2)

    mapped = {
        r["code"]: r
        for r in dashboard_figures(leader, HistoryFilter(**year, successors=True))["by_unit"]
    }
    assert set(mapped) == {"132", "2025-04252"}
    assert (mapped["2025-04252"]["invited"], mapped["2025-04252"]["attended"]) == (4, 3)
    assert mapped["2025-04252"]["excused"] == 1

    # The new ward's own history over the year: its predecessors only when mapped.
    method = SavingsMethod.from_settings()
    late_after = F("conference__planned_start") + dt.timedelta(minutes=5)
    new_ward = Unit.objects.get(code="2025-04252")
    for successors in (False, True):
        f = HistoryFilter(**year, unit=new_ward, successors=successors)
        live = _attendance_from_invitations(history_invitations(leader, f), f, late_after, method)
        rolled = _attendance_from_summary(leader, f, method)
        assert _normalised(rolled) == _normalised(live)
        assert sum(r["invited"] for r in rolled[0]) == (4 if successors else 2)
