"""The OpenAPI schema tells the truth about the API (issue 11 item 13): schemathesis generates
requests from ``/api/schema/`` (bounded examples) and checks every answer against it — status
codes, content types and bodies, no server error — as a leader with a token, against a database
with history. (schemathesis's own pytest plugin fails under pytest 9.2 — ``Function`` has no
``_nodeid`` — so each operation's strategy is run with hypothesis directly.) Every check runs but
"schema-valid data is accepted": a unit outside the caller's subtrees or a date before 2000 fits
the schema's types and is still a documented 400, which no schema can say about a caller."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conferences.history_helpers import attend, ended_conference

EXAMPLES = 40


@pytest.fixture
def api_token(org, leader):
    for day, host, level in [
        (dt.date(2022, 5, 1), "140", "district_to_commune"),
        (dt.date(2022, 6, 1), "15-UBND", "province_to_district"),
    ]:
        conference = ended_conference(day, host=host, level=level, title=f"Giao ban {host}")
        attend(conference, host, headcount=12)
    return Token.objects.create(user=leader).key


@pytest.fixture
def keep_test_connection():
    """Requests through the plain WSGI handler must not close the test's database connection
    (request_started/finished → close_old_connections), as Django's own test client ensures."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(api_token, keep_test_connection):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        get_wsgi_application(),
        headers={"Authorization": f"Token {api_token}"},
    )


OPERATIONS = [
    ("/api/v1/conferences/", "GET"),
    ("/api/v1/conferences/{code}/", "GET"),
    ("/api/v1/conferences/{code}/attendance/", "GET"),
    ("/api/v1/dashboard/", "GET"),
]


@pytest.mark.parametrize("path, method", OPERATIONS)
def test_api_answers_match_the_schema(api_schema, api_token, path, method):
    operation = api_schema[path][method]
    seen: dict[int, int] = {}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        response = case.call_and_validate(
            headers={"Authorization": f"Token {api_token}"},
            excluded_checks=[positive_data_acceptance],
        )
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    check()
    assert sum(seen.values()) >= 1 and all(code < 500 for code in seen), seen


def test_schema_lists_every_api_operation(api_schema):
    assert {
        (op.path, op.method.upper()) for op in (r.ok() for r in api_schema.get_all_operations())
    } == set(OPERATIONS)


def test_list_is_documented_as_a_paginated_object(client, api_token):
    spec = client.get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Token {api_token}").json()
    op = spec["paths"]["/api/v1/conferences/"]["get"]
    assert {"200", "400", "401"} <= set(op["responses"])
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][ref]["properties"]) == {
        "count",
        "page",
        "page_size",
        "results",
    }
    params = {p["name"]: p["schema"] for p in op["parameters"]}
    assert params["page_size"]["maximum"] == 200 and params["page"]["minimum"] == 1
    assert "404" in spec["paths"]["/api/v1/conferences/{code}/"]["get"]["responses"]
