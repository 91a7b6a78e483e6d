"""History pages, exports and the API show a user only their subtree; bad input is a clear 4xx."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from tests.conferences.history_helpers import attend, ended_conference


@pytest.fixture
def history(org):
    province = ended_conference(dt.date(2022, 3, 1), title="Giao ban tỉnh với các huyện quý I")
    attend(province, "15-UBND", headcount=30)
    attend(province, "140", headcount=12)
    attend(province, "138", status="absent_excused", reason="Trùng lịch công tác")
    tranyen = ended_conference(
        dt.date(2022, 4, 1),
        host="138",
        level="district_to_commune",
        title="Giao ban Trấn Yên riêng",
    )
    attend(tranyen, "138", headcount=15)
    vanchan = ended_conference(
        dt.date(2022, 5, 1),
        host="140",
        level="district_to_commune",
        title="Giao ban Văn Chấn với các xã",
    )
    attend(vanchan, "140", headcount=15)
    attend(vanchan, "04630", headcount=6)
    return {"province": province, "tranyen": tranyen, "vanchan": vanchan}


def test_district_clerk_dashboard_counts_only_visible_conferences_and_own_units(
    history, vanchan_clerk, client_for
):
    data = client_for(vanchan_clerk).get("/api/v1/dashboard/").json()
    assert data["conferences"] == 2  # the province's (invited) and Văn Chấn's own, not Trấn Yên's
    codes = {row["code"] for row in data["by_unit"]}
    assert codes == {
        "140",
        "04630",
    }  # Trấn Yên's absence at the province conference is not theirs to see


def test_province_leader_sees_everything(history, leader, client_for):
    data = client_for(leader).get("/api/v1/dashboard/").json()
    assert data["conferences"] == 3
    assert {"138", "140", "15-UBND", "04630"} <= {row["code"] for row in data["by_unit"]}


def test_other_districts_unit_is_a_form_error_not_a_leak(history, vanchan_clerk, client_for):
    client = client_for(vanchan_clerk)
    page = client.get("/history/", {"unit": "138"})
    assert page.status_code == 400
    assert "Không có đơn vị này trong phạm vi của bạn" in page.content.decode()
    assert client.get("/history/search/", {"unit": "nope"}).status_code == 400
    api = client.get("/api/v1/conferences/", {"unit": "138"})
    assert api.status_code == 400 and "unit" in api.json()
    assert client.get("/history/export/search.xlsx", {"unit": "138"}).status_code == 400


def test_other_districts_conference_page_is_not_found(history, vanchan_clerk, client_for):
    client = client_for(vanchan_clerk)
    code = history["tranyen"].code
    assert client.get(f"/history/conferences/{code}/").status_code == 404
    assert client.get(f"/api/v1/conferences/{code}/").status_code == 404
    assert client.get(f"/api/v1/conferences/{code}/attendance/").status_code == 404


def test_attendance_api_of_a_shared_conference_lists_only_own_sites(
    history, vanchan_clerk, leader, client_for
):
    code = history["province"].code
    own = client_for(vanchan_clerk).get(f"/api/v1/conferences/{code}/attendance/").json()
    assert [row["site"] for row in own] == ["140"]
    everyone = client_for(leader).get(f"/api/v1/conferences/{code}/attendance/").json()
    assert {row["site"] for row in everyone} == {"15-UBND", "140", "138"}


def test_exports_are_scoped_like_the_pages(history, vanchan_clerk, client_for):
    client = client_for(vanchan_clerk)
    xlsx = client.get("/history/export/search.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    titles = [
        row[1] for row in sheet.iter_rows(min_row=int(sheet.freeze_panes[1:]), values_only=True)
    ]
    assert sorted(titles) == ["Giao ban Văn Chấn với các xã", "Giao ban tỉnh với các huyện quý I"]
    pdf = client.get("/history/export/dashboard.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    dash = load_workbook(io.BytesIO(client.get("/history/export/dashboard.xlsx").content))
    ranking = dash["Chuyên cần theo đơn vị"]
    units = [
        row[2] for row in ranking.iter_rows(min_row=int(ranking.freeze_panes[1:]), values_only=True)
    ]
    assert "Huyện Trấn Yên" not in units and "Huyện Văn Chấn" in units


def test_search_is_diacritic_insensitive(history, leader, client_for):
    html = client_for(leader).get("/history/search/", {"q": "VAN CHAN voi cac xa"}).content.decode()
    assert "Giao ban Văn Chấn với các xã" in html and 'data-total="1"' in html


def test_outsider_sees_nothing_and_anonymous_is_sent_to_login(
    history, outsider, client_for, client
):
    assert client.get("/history/").status_code == 302
    assert client.get("/api/v1/dashboard/").status_code == 401  # with WWW-Authenticate: Token
    data = client_for(outsider).get("/api/v1/dashboard/").json()
    assert data["conferences"] == 0 and data["by_unit"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2022-13-40"},
        {"date_from": "2023-01-01", "date_to": "2022-01-01"},
        {"date_from": "1800-01-01"},
        {"level": "galactic"},
        {"topic": "no-such-topic"},
    ],
)
def test_bad_filters_are_400_everywhere(history, leader, client_for, params):
    client = client_for(leader)
    assert client.get("/history/", params).status_code == 400
    assert client.get("/history/search/", params).status_code == 400
    assert client.get("/api/v1/dashboard/", params).status_code == 400
    assert client.get("/history/export/dashboard.xlsx", params).status_code == 400


def test_huge_page_sizes_are_refused(history, leader, client_for):
    client = client_for(leader)
    assert client.get("/history/search/", {"page_size": "100000"}).status_code == 400
    assert client.get("/history/search/", {"page": "abc"}).status_code == 400
    assert client.get("/api/v1/conferences/", {"page_size": "100000"}).status_code == 400
    assert client.get("/api/v1/conferences/", {"page_size": "200"}).status_code == 200


def test_api_is_read_only_and_documented(history, leader, client_for):
    client = client_for(leader)
    assert client.post("/api/v1/conferences/", {}).status_code in (403, 405)
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/v1/conferences/",
        "/api/v1/dashboard/",
        "/api/v1/conferences/{code}/attendance/",
    } <= set(paths)
    assert client.get("/api/docs/").status_code == 200


def test_cached_dashboard_is_per_scope_and_sees_new_history(
    history, leader, vanchan_clerk, client_for, settings
):
    settings.HISTORY_CACHE_SECONDS = 300
    assert client_for(leader).get("/api/v1/dashboard/").json()["conferences"] == 3
    assert client_for(vanchan_clerk).get("/api/v1/dashboard/").json()["conferences"] == 2
    ended_conference(dt.date(2022, 6, 1), title="Một hội nghị mới")
    assert client_for(leader).get("/api/v1/dashboard/").json()["conferences"] == 4
