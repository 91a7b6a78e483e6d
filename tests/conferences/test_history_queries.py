"""Query counts of the history pages, exports and API do not grow with the rows shown."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.models import Site
from tests.conferences.history_helpers import attend, ended_conference

URLS = [
    "/history/",
    "/history/search/?page_size=200",
    "/history/savings/?page_size=200",
    "/history/export/dashboard.xlsx",
    "/history/export/search.xlsx",
    "/history/export/search.pdf",
    "/api/v1/conferences/?page_size=200",
    "/api/v1/dashboard/",
]


def _make(n: int) -> None:
    for i in range(n):
        conf = ended_conference(
            dt.date(2022, 1, 3) + dt.timedelta(days=i), title=f"Giao ban số {i}"
        )
        for key in ("15-UBND", "140", "138"):
            attend(conf, key, headcount=5)
        attend(conf, "137", status="absent", reason="")


@pytest.mark.parametrize("url", URLS)
def test_query_count_is_bounded(org, leader, client_for, django_assert_max_num_queries, url):
    client = client_for(leader)
    _make(2)
    with django_assert_max_num_queries(25) as few:
        assert client.get(url).status_code == 200
    _make(25)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_conference_page_query_count_does_not_grow_with_sites(
    org, leader, client_for, django_assert_max_num_queries
):
    client = client_for(leader)
    small = ended_conference(dt.date(2022, 2, 1))
    attend(small, "140")
    with django_assert_max_num_queries(30) as few:
        client.get(f"/history/conferences/{small.code}/")
    big = ended_conference(dt.date(2022, 2, 2))
    for key in Site.objects.filter(unit__kind__in=["district", "agency"]).values_list(
        "key", flat=True
    ):
        attend(big, key, headcount=4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(f"/history/conferences/{big.code}/").status_code == 200
