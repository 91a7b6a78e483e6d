"""The chair console groups the sites by kind and district (issue 9 item 6): the page gets the
groups in its config, in organisation order, every invited site (and the chair site) in one."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from conferences.models import Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite

pytestmark = pytest.mark.django_db


def config_of(response) -> dict:
    html = response.content.decode()
    tag = '<script id="live-config" type="application/json">'
    start = html.index(tag) + len(tag)
    return json.loads(html[start : html.index("</script>", start)])


def test_console_groups_province_bodies_agencies_districts_and_each_districts_communes(
    client_for, chair, org
):
    conf = ConferenceFactory(
        status=Status.LIVE, actual_start=timezone.now()
    )  # chair site 15-UBND, not invited
    invite(conf, "15-TU", "140", "138", "04630", "04633")
    groups = config_of(client_for(chair).get(f"/conferences/{conf.code}/console/"))["groups"]
    code = {
        s.key: str(s.code)
        for s in Site.objects.filter(key__in=["15-TU", "15-UBND", "140", "138", "04630", "04633"])
    }
    by_key = {g["key"]: g for g in groups}
    assert [g["key"] for g in groups][:2] == ["province", "districts"]
    assert set(by_key["province"]["sites"]) == {code["15-TU"], code["15-UBND"]}
    assert set(by_key["districts"]["sites"]) == {code["140"], code["138"]}
    communes = [g for g in groups if g["key"].startswith("communes-")]
    assert len(communes) == 1 and "Văn Chấn" in communes[0]["label"]
    assert set(communes[0]["sites"]) == {code["04630"], code["04633"]}
    every = [c for g in groups for c in g["sites"]]
    assert sorted(every) == sorted(code.values()) and len(every) == len(set(every))
