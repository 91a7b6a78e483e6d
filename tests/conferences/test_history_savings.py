"""Savings on a hand-computed example: SQL aggregate, per-site table and the page agree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod, conference_savings, savings_total
from conferences.reports.search import history_invitations
from portal.models import Unit
from tests.conferences.history_helpers import attend, ended_conference

METHOD = {
    "SAVINGS_COST_PER_KM": 10_000,
    "SAVINGS_PER_DIEM": 200_000,
    "SAVINGS_PER_DIEM_MIN_KM": 15,
    "SAVINGS_DEFAULT_ATTENDEES": 3,
}


def _distance(code: str, km: str) -> None:
    Unit.objects.filter(code=code).update(distance_km=Decimal(km))


@pytest.fixture
def example(org, settings):
    for name, value in METHOD.items():
        setattr(settings, name, value)
    _distance("15-UBND", "0")
    _distance("140", "40")  # Văn Chấn: 40 km, 10 people → 2×40×10 000 + 10×200 000 = 2 800 000
    _distance(
        "138", "10"
    )  # Trấn Yên: 10 km, no headcount → 2×10×10 000 = 200 000 (no per diem < 15 km)
    _distance("137", "50")  # Mù Cang Chải: absent → 0
    conf = ended_conference(dt.date(2022, 3, 1))
    attend(conf, "15-UBND", headcount=30)  # the host: 0 km → 0
    attend(conf, "140", headcount=10)
    attend(conf, "138")
    attend(conf, "137", status="absent_excused", reason="Mất điện")
    return conf


def test_savings_of_a_hand_computed_conference(example):
    admin = get_user_model().objects.create_superuser("sv_admin", "a@example.test", "pw-Test-12345")
    totals = savings_total(history_invitations(admin, HistoryFilter()))
    assert totals["total"] == 3_000_000
    assert totals["km"] == 2 * 40 + 2 * 10
    assert totals["attendees"] == 30 + 10 + 3
    rows = {
        s.invitation.site.key: s
        for s in conference_savings(example, method=SavingsMethod.from_settings())
    }
    assert (rows["140"].travel, rows["140"].per_diem, rows["140"].total) == (
        800_000,
        2_000_000,
        2_800_000,
    )
    assert (rows["138"].attendees, rows["138"].headcount_recorded, rows["138"].total) == (
        3,
        False,
        200_000,
    )
    assert rows["15-UBND"].total == 0
    assert "137" not in rows


def test_savings_use_the_distance_to_a_district_host(org, settings):
    for name, value in METHOD.items():
        setattr(settings, name, value)
    _distance("140", "60")
    _distance(
        "04630", "75"
    )  # a commune of Văn Chấn 15 km from its district seat → per diem applies
    conf = ended_conference(dt.date(2022, 5, 2), host="140", level="district_to_commune")
    attend(conf, "04630", headcount=5)
    [saving] = conference_savings(conf)
    assert saving.distance_km == Decimal(15)
    assert saving.total == 2 * 15 * 10_000 + 5 * 200_000


def test_savings_page_explains_the_method_and_shows_the_total(example, client_for, leader):
    response = client_for(leader).get("/history/savings/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-savings-total="3000000"' in html
    assert "SAVINGS_" not in html and "10.000 đ/km" in html  # values, not settings names
    page = client_for(leader).get(f"/history/conferences/{example.code}/")
    assert 'data-saving="3000000"' in page.content.decode()
