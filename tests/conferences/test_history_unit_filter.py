"""The unit filter of the history, from the outside: a conference belongs to a unit's history
when it was hosted in the unit's subtree or invited one of its units, once however many of them
it invited, over every year or within a period (the search page and the API agree)."""

from __future__ import annotations

import datetime as dt

import pytest

from conferences.models import Status
from tests.conferences.history_helpers import attend, ended_conference


@pytest.fixture
def histories(org, settings):
    settings.HISTORY_CACHE_SECONDS = 0
    hosted = ended_conference(dt.date(2019, 5, 6), host="140", level="district_to_commune")
    attend(hosted, "04498")  # hosted by Văn Chấn, no Văn Chấn site invited
    twice = ended_conference(dt.date(2024, 3, 4), title="Hội nghị mời hai đơn vị")
    attend(twice, "140")
    attend(twice, "04630")  # a commune of Văn Chấn too: still one conference
    other = ended_conference(dt.date(2024, 3, 5), title="Hội nghị của Trấn Yên")
    attend(other, "138")
    attend(other, "04498")
    commune = ended_conference(dt.date(2016, 2, 1), host="138", title="Hội nghị ở Tú Lệ")
    attend(commune, "04630")
    planned = ended_conference(dt.date(2024, 3, 6), host="140", title="Chưa họp")
    planned.status = Status.SCHEDULED
    planned.save(update_fields=["status"])
    attend(planned, "04630")
    return {"hosted": hosted, "twice": twice, "other": other, "commune": commune}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("unit=140", ["twice", "hosted", "commune"]),
        ("unit=V%C4%83n+Ch%E1%BA%A5n", ["twice", "hosted", "commune"]),
        ("unit=140&date_from=2024-01-01&date_to=2024-12-31", ["twice"]),
        ("unit=140&date_from=2016-01-01&date_to=2019-12-31", ["hosted", "commune"]),
        ("unit=04630", ["twice", "commune"]),
        ("unit=04630&date_from=2017-01-01", ["twice"]),
        ("unit=138", ["other", "hosted", "commune"]),  # 04498 is a commune of 138
        ("unit=04498", ["other", "hosted"]),
    ],
)
def test_the_unit_filter_counts_hosted_or_invited_conferences_once(
    histories, leader, client_for, params, expected
):
    client = client_for(leader)
    page = client.get(f"/history/search/?{params}")
    assert page.status_code == 200
    want = [histories[name].pk for name in expected]  # newest first
    assert [c.pk for c in page.context["rows"]] == want
    assert page.context["total"] == len(want)
    api = client.get(f"/api/v1/conferences/?{params}")
    assert api.status_code == 200
    body = api.json()
    assert body["count"] == len(want)
    assert [row["code"] for row in body["results"]] == [
        str(histories[name].code) for name in expected
    ]
