"""The unit filter takes a name ("Văn Chấn", any case, with or without diacritics) or a code,
and offers the units within the user's reach as they type; nothing outside it is matched."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conferences.history_helpers import attend, ended_conference

UNIT_SPELLINGS = [
    "140",
    "Văn Chấn",
    "van chan",
    "VĂN CHẤN",
    "Huyện Văn Chấn",
    "huyen van chan",
    "Huyện Văn Chấn (140)",
]


@pytest.fixture
def history(org):
    province = ended_conference(dt.date(2022, 3, 1), title="Giao ban tỉnh quý I")
    attend(province, "15-UBND", headcount=30)
    attend(province, "140", headcount=12)
    attend(province, "138", status="absent_excused", reason="Trùng lịch công tác")
    vanchan = ended_conference(
        dt.date(2022, 5, 1),
        host="140",
        level="district_to_commune",
        title="Giao ban Văn Chấn với các xã",
    )
    attend(vanchan, "140", headcount=15)
    attend(vanchan, "04630", headcount=6)
    return province, vanchan


def test_a_leader_filters_by_the_district_name_as_typed(history, leader, client_for):
    client = client_for(leader)
    expected = client.get("/api/v1/dashboard/", {"unit": "140"}).json()
    assert expected["conferences"] == 2 and {r["code"] for r in expected["by_unit"]} == {
        "140",
        "04630",
    }
    for spelling in UNIT_SPELLINGS:
        assert client.get("/api/v1/dashboard/", {"unit": spelling}).json() == expected, spelling
        page = client.get("/history/", {"unit": spelling})
        assert page.status_code == 200, spelling
        assert client.get("/history/search/", {"unit": spelling}).status_code == 200, spelling
        assert client.get("/history/export/search.xlsx", {"unit": spelling}).status_code == 200, (
            spelling
        )


def test_a_name_outside_the_reach_is_the_same_error_as_an_unknown_one(
    history, vanchan_clerk, client_for
):
    client = client_for(vanchan_clerk)
    for name in ("Trấn Yên", "Huyện Trấn Yên (138)", "138", "Không có huyện này"):
        page = client.get("/history/", {"unit": name})
        assert page.status_code == 400, name
        assert "Không có đơn vị này trong phạm vi của bạn" in page.content.decode(), name
    assert client.get("/history/", {"unit": "Văn Chấn"}).status_code == 200


def test_two_communes_of_one_name_ask_to_pick_one(history, leader, client_for):
    client = client_for(leader)
    page = client.get("/history/", {"unit": "Xã Tân Thịnh"})
    assert page.status_code == 400
    html = page.content.decode()
    assert (
        "Có nhiều đơn vị tên này" in html
        and "Xã Tân Thịnh (04279)" in html
        and "Xã Tân Thịnh (04696)" in html
    )
    assert client.get("/history/", {"unit": "Xã Tân Thịnh (04696)"}).status_code == 200


def test_the_autocomplete_offers_units_within_reach_only(
    history, leader, vanchan_clerk, outsider, client_for
):
    client = client_for(leader)
    data = client.get("/history/units/", {"q": "van chan"}).json()
    assert data["results"][0] == {
        "label": "Huyện Văn Chấn",
        "value": "Huyện Văn Chấn (140)",
        "code": "140",
    }
    assert data["exact"]["code"] == "140"
    communes = client.get("/history/units/", {"q": "tan thinh"}).json()["results"]
    assert {r["label"] for r in communes} >= {
        "Xã Tân Thịnh — Huyện Văn Chấn",
        "Xã Tân Thịnh — Thành phố Yên Bái",
    }
    assert client.get("/history/units/", {"q": "tran yen"}).json()["results"][0]["code"] == "138"

    client = client_for(vanchan_clerk)
    assert client.get("/history/units/", {"q": "tran yen"}).json() == {"results": [], "exact": None}
    in_reach = client.get("/history/units/", {"q": "xa"}).json()["results"]
    assert in_reach and all(r["label"].endswith("Huyện Văn Chấn") for r in in_reach)
    assert (
        client.get("/history/units/", {"q": "tan thinh"}).json()["exact"]["code"] == "04696"
    )  # the one in reach

    client = client_for(outsider)
    assert client.get("/history/units/", {"q": "van chan"}).json() == {"results": [], "exact": None}
    client.logout()
    assert client.get("/history/units/", {"q": "van chan"}).status_code == 302


def test_the_filter_form_renders_the_autocomplete(history, leader, client_for):
    html = client_for(leader).get("/history/").content.decode()
    assert 'data-suggest-url="/history/units/"' in html and "conferences/suggest.js" in html
