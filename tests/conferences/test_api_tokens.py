"""The read API answers e-office systems that present a token, scoped like their user."""

from __future__ import annotations

import datetime as dt

from rest_framework.authtoken.models import Token

from tests.conferences.history_helpers import attend, ended_conference


def test_token_of_a_district_service_account_sees_only_its_subtree(client, org, vanchan_clerk):
    vanchan = ended_conference(
        dt.date(2022, 5, 1), host="140", level="district_to_commune", title="Giao ban Văn Chấn"
    )
    attend(vanchan, "140", headcount=15)
    tranyen = ended_conference(
        dt.date(2022, 4, 1), host="138", level="district_to_commune", title="Giao ban Trấn Yên"
    )
    attend(tranyen, "138", headcount=15)
    token = Token.objects.create(user=vanchan_clerk)
    response = client.get("/api/v1/conferences/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    titles = {row["title"] for row in rows}
    assert "Giao ban Văn Chấn" in titles and "Giao ban Trấn Yên" not in titles
    assert (
        client.get(
            f"/api/v1/conferences/{tranyen.code}/", HTTP_AUTHORIZATION=f"Token {token.key}"
        ).status_code
        == 404
    )


def test_a_wrong_token_or_none_is_refused(client, org):
    assert (
        client.get("/api/v1/conferences/", HTTP_AUTHORIZATION="Token not-a-real-token").status_code
        == 401
    )
    assert client.get("/api/v1/conferences/").status_code == 401
