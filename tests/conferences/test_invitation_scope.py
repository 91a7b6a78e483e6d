"""Who a clerk may invite (issue 9, items 12–13), from the outside: the create/edit forms and the
picker's count endpoint over HTTP, as the province clerk, a district clerk and another district's
clerk. A province-level or "4 cấp" conference is hosted at province level; a district invites
its own district and communes; the picker shows the scope and counts the chair site as saved."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from conferences.errors import ConferenceError
from conferences.models import Conference, Level, Status
from conferences.services import scheduling
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite

pytestmark = pytest.mark.django_db


def _local(days: int, hour: int) -> str:
    day = timezone.localdate() + dt.timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:00"


def code(key: str) -> str:
    return str(Site.objects.get(key=key).code)


def _form(**extra):
    data = {
        "title": "Giao ban huyện với các xã tháng 12",
        "level": Level.DISTRICT_TO_COMMUNE,
        "host_unit": "140",
        "chair_site": code("140"),
        "planned_start": _local(5, 8),
        "planned_end": _local(5, 11),
    }
    data.update(extra)
    return data


def van_chan_communes() -> int:
    return Site.objects.filter(unit__parent__code="140").count()


def test_district_clerk_cannot_schedule_a_four_level_conference_hosted_by_the_district(
    client_for, vanchan_clerk
):
    response = client_for(vanchan_clerk).post(
        reverse("conference_create"),
        _form(level=Level.FOUR_LEVEL, sel_subtree=["15"]),
    )
    assert response.status_code == 400
    assert "do cấp tỉnh chủ trì" in response.content.decode()
    assert not Conference.objects.exists()


def test_district_clerk_inviting_other_districts_and_the_party_committee_is_told_which(
    client_for, vanchan_clerk
):
    response = client_for(vanchan_clerk).post(
        reverse("conference_create"),
        _form(sel_site=[code("15-TU"), code("138"), code("04630")]),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "chỉ mời được điểm cầu thuộc Huyện Văn Chấn" in html
    assert "2 điểm cầu ngoài phạm vi" in html
    assert Site.objects.get(key="15-TU").name in html and Site.objects.get(key="138").name in html
    assert not Conference.objects.exists()


def test_all_communes_for_a_district_clerk_means_their_own_communes(client_for, vanchan_clerk):
    response = client_for(vanchan_clerk).post(
        reverse("conference_create"), _form(sel_kind=["commune"])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    conf = Conference.objects.get()
    keys = set(conf.invitations.values_list("site__unit__parent__code", flat=True))
    assert keys <= {"140", "15-UBND"}  # the communes' parent is 140; the district site's is 15-UBND
    assert conf.invitations.count() == van_chan_communes() + 1


def test_another_districts_clerk_cannot_host_for_van_chan_or_invite_its_communes(
    client_for, tranyen_clerk
):
    client = client_for(tranyen_clerk)
    response = client.post(reverse("conference_create"), _form())
    assert response.status_code == 400  # 140 is not among Trấn Yên's hosts
    response = client.post(
        reverse("conference_create"),
        _form(host_unit="138", chair_site=code("138"), sel_site=[code("04630")]),
    )
    assert response.status_code == 400
    assert "chỉ mời được điểm cầu thuộc Huyện Trấn Yên" in response.content.decode()
    assert not Conference.objects.exists()


def test_internal_conference_stays_inside_the_host_unit(client_for, province_clerk):
    response = client_for(province_clerk).post(
        reverse("conference_create"),
        _form(
            level=Level.INTERNAL,
            host_unit="15-UBND",
            chair_site=code("15-UBND"),
            sel_site=[code("15-TU-BTC"), code("15-SNV")],
        ),
    )
    assert response.status_code == 400
    assert "1 điểm cầu ngoài phạm vi" in response.content.decode()
    assert not Conference.objects.exists()


def test_the_service_refuses_a_chair_site_outside_the_scope(vanchan_clerk, org):
    start = timezone.now() + dt.timedelta(days=3)
    with pytest.raises(ConferenceError) as err:
        scheduling.conference_create(
            actor=vanchan_clerk,
            title="Giao ban",
            level=Level.DISTRICT_TO_COMMUNE,
            host_unit=org["140"],
            chair_site=Site.objects.get(key="138"),
            planned_start=start,
            planned_end=start + dt.timedelta(hours=2),
            sites=list(Site.objects.filter(unit__parent__code="140")),
        )
    assert err.value.code == "outside_scope" and err.value.details == [
        Site.objects.get(key="138").name
    ]


def test_editing_cannot_add_a_site_outside_the_scope(client_for, vanchan_clerk, org):
    conf = ConferenceFactory(
        level=Level.DISTRICT_TO_COMMUNE,
        host_unit=org["140"],
        chair_site=Site.objects.get(key="140"),
        status=Status.SCHEDULED,
    )
    invite(conf, "140", "04630")
    data = _form(sel_site=[code("04630"), code("138")])
    response = client_for(vanchan_clerk).post(reverse("conference_edit", args=[conf.code]), data)
    assert response.status_code == 400 and "ngoài phạm vi" in response.content.decode()
    assert set(conf.invitations.values_list("site__key", flat=True)) == {"140", "04630"}


def test_district_clerks_form_starts_with_their_district_its_usual_level_and_site(
    client_for, vanchan_clerk
):
    html = client_for(vanchan_clerk).get(reverse("conference_create")).content.decode()
    assert re.search(r'<option value="140" selected>', html)
    assert re.search(r'<option value="district_to_commune" selected>', html)
    assert re.search(rf'<option value="{code("140")}" selected>', html)
    # the levels a district cannot host are not offered; the picker shows only Văn Chấn
    assert re.search(r'<option value="four_level" disabled>', html)
    assert re.search(r'<option value="province_to_district" disabled>', html)
    assert f'value="{code("04630")}"' in html
    assert f'value="{code("138")}"' not in html and f'value="{code("15-TU")}"' not in html
    assert "Phạm vi mời:" in html and "Huyện Văn Chấn" in html


def test_province_clerk_starts_at_the_peoples_committee_then_at_what_they_host_most(
    client_for, province_clerk, org
):
    client = client_for(province_clerk)
    html = client.get(reverse("conference_create")).content.decode()
    assert re.search(r'<option value="15-UBND" selected>', html)
    assert re.search(r'<option value="province_to_district" selected>', html)
    for _ in range(2):  # the clerk has been hosting internal meetings of the Party Committee
        ConferenceFactory(
            host_unit=org["15-TU"],
            chair_site=Site.objects.get(key="15-TU"),
            level=Level.INTERNAL,
            created_by=province_clerk,
        )
    html = client.get(reverse("conference_create")).content.decode()
    assert re.search(r'<option value="15-TU" selected>', html)
    assert re.search(r'<option value="internal" selected>', html)
    assert re.search(rf'<option value="{code("15-TU")}" selected>', html)


def counts(client, **params):
    response = client.get(reverse("site_picker_counts"), params)
    assert response.status_code == 200, response.content
    return response.json()


def test_picker_count_includes_the_chair_site_and_equals_the_saved_count(
    client_for, province_clerk
):
    client = client_for(province_clerk)
    selection = {"sel_kind": ["district"], "sel_site": [code("15-SYT")]}
    result = counts(
        client,
        level=Level.PROVINCE_TO_DISTRICT,
        host_unit="15-UBND",
        chair_site=code("15-UBND"),
        start=_local(5, 8),
        end=_local(5, 11),
        **selection,
    )
    assert result["total"] == 11 and result["chair_site"] == code("15-UBND")
    assert result["outside"] == [] and result["scope_error"] == ""
    response = client.post(
        reverse("conference_create"),
        _form(
            level=Level.PROVINCE_TO_DISTRICT,
            host_unit="15-UBND",
            chair_site=code("15-UBND"),
            **selection,
        ),
    )
    assert response.status_code == 302
    assert Conference.objects.get().invitations.count() == result["total"]


def test_picker_tells_a_district_clerk_the_scope_and_what_is_outside(client_for, vanchan_clerk):
    client = client_for(vanchan_clerk)
    result = counts(
        client,
        level=Level.DISTRICT_TO_COMMUNE,
        host_unit="140",
        chair_site=code("140"),
        sel_kind=["commune"],
        sel_site=[code("138")],
    )
    assert result["scope"]["label"] == "Huyện Văn Chấn"
    assert result["total"] == van_chan_communes() + 2
    assert result["outside"] == [Site.objects.get(key="138").name]
    result = counts(client, level=Level.FOUR_LEVEL, host_unit="140")
    assert "do cấp tỉnh chủ trì" in result["scope_error"]
