"""True to the tree of the time: a 2022 conference stays under the 2022 units after the 2025
merge moved its site to the new commune; a report may map old units to their successors."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from conferences.reports.dashboard import dashboard_figures
from conferences.reports.filters import HistoryFilter
from portal.models import Site, Unit
from tests.conferences.history_helpers import attend, ended_conference


@pytest.fixture
def merged(org):
    """A 2022 city-to-wards conference; then the 2025 reform merges Yên Ninh and Minh Tân into
    the new Phường Yên Bái and their meeting rooms now belong to it."""
    conf = ended_conference(dt.date(2022, 4, 5), host="132", level="district_to_commune")
    attend(conf, "132", headcount=20)
    attend(conf, "04252", headcount=6)
    attend(conf, "04255", status="absent_excused", reason="Mất điện")
    call_command("load_successors", verbosity=0)
    new_ward = Unit.objects.get(code="2025-04252")
    Site.objects.filter(key__in=["04252", "04255"]).update(unit=new_ward)
    return conf


def test_report_of_2022_keeps_the_units_of_2022_after_the_merge(merged, leader):
    fig = dashboard_figures(
        leader, HistoryFilter(date_from=dt.date(2022, 1, 1), date_to=dt.date(2022, 12, 31))
    )
    units = {row["code"]: row for row in fig["by_unit"]}
    assert set(units) == {"132", "04252", "04255"}
    assert units["04252"]["name"] == "Phường Yên Ninh" and units["04252"]["attended"] == 1
    assert units["04255"]["excused"] == 1
    assert [row["code"] for row in fig["by_host"]] == ["132"]


def test_report_can_map_old_units_to_their_successors(merged, leader):
    fig = dashboard_figures(
        leader,
        HistoryFilter(
            date_from=dt.date(2022, 1, 1), date_to=dt.date(2022, 12, 31), successors=True
        ),
    )
    units = {row["code"]: row for row in fig["by_unit"]}
    assert set(units) == {"132", "2025-04252"}
    assert units["2025-04252"]["name"] == "Phường Yên Bái"
    assert (units["2025-04252"]["invited"], units["2025-04252"]["attended"]) == (2, 1)


def test_filtering_by_a_new_unit_finds_its_predecessors_history_only_when_mapped(
    merged, leader, client_for
):
    client = client_for(leader)
    plain = client.get("/api/v1/conferences/", {"unit": "2025-04252"}).json()
    mapped = client.get("/api/v1/conferences/", {"unit": "2025-04252", "successors": "1"}).json()
    assert plain["count"] == 0
    assert mapped["count"] == 1 and mapped["results"][0]["code"] == str(merged.code)


def test_conference_page_shows_the_ward_of_the_time(merged, leader, client_for):
    html = client_for(leader).get(f"/history/conferences/{merged.code}/").content.decode()
    assert "Phường Yên Ninh" in html and "Phường Minh Tân" in html
