"""One rule for who sees a conference's conclusions: whoever may open its minutes
(``permissions.can_view_minutes``), on the minutes tab, its DOCX and the history page alike."""

from __future__ import annotations

import datetime as dt

import pytest

from conferences.models import Conference
from tests.conferences.history_helpers import attend, ended_conference

CONCLUSIONS = "Giao Sở Y tế chủ trì tổng hợp báo cáo trước ngày 15/3."


@pytest.fixture
def held(org):
    conf = ended_conference(dt.date(2022, 3, 1), title="Giao ban tỉnh quý I")
    attend(conf, "15-UBND", headcount=20)
    attend(conf, "140", headcount=8)  # Văn Chấn's site is invited
    Conference.objects.filter(pk=conf.pk).update(conclusions=CONCLUSIONS)
    return conf


def _sees(client, conf) -> dict[str, int | bool]:
    history = client.get(f"/history/conferences/{conf.code}/")
    return {
        "history": history.status_code,
        "conclusions_on_history": CONCLUSIONS in history.content.decode(),
        "minutes": client.get(f"/conferences/{conf.code}/minutes/").status_code,
        "docx": client.get(f"/conferences/{conf.code}/minutes.docx").status_code,
    }


def test_invited_operator_sees_the_history_page_without_the_conclusions(
    held, vanchan_operator, client_for
):
    seen = _sees(client_for(vanchan_operator), held)
    assert seen == {"history": 200, "conclusions_on_history": False, "minutes": 403, "docx": 403}


def test_clerk_of_an_invited_district_is_refused_the_conclusions_too(
    held, vanchan_clerk, client_for
):
    seen = _sees(client_for(vanchan_clerk), held)
    assert seen == {"history": 200, "conclusions_on_history": False, "minutes": 403, "docx": 403}


@pytest.mark.parametrize("persona", ["province_clerk", "leader", "chair"])
def test_organisers_see_the_conclusions_on_both_pages(held, persona, request, client_for):
    seen = _sees(client_for(request.getfixturevalue(persona)), held)
    assert seen == {"history": 200, "conclusions_on_history": True, "minutes": 200, "docx": 200}


def test_outsider_sees_neither(held, outsider, client_for):
    seen = _sees(client_for(outsider), held)
    assert seen == {"history": 404, "conclusions_on_history": False, "minutes": 404, "docx": 404}


@pytest.mark.parametrize(
    "persona",
    [
        "province_clerk",
        "leader",
        "chair",
        "vanchan_clerk",
        "tranyen_clerk",
        "vanchan_operator",
        "outsider",
    ],
)
def test_conclusions_on_the_history_page_follow_the_minutes_rule(
    held, persona, request, client_for
):
    seen = _sees(client_for(request.getfixturevalue(persona)), held)
    assert seen["conclusions_on_history"] == (seen["minutes"] == 200)
