"""The privilege matrix of the clerks' pages, tested from outside with the HTTP client.

Anonymous → login; cannot see the conference → 404 (codes do not leak); may see but not manage →
403 on every manage action, and nothing changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conferences.models import AgendaItem, Conference, Document, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite


@pytest.fixture
def vc_conf(org):
    """A conference hosted by Văn Chấn, inviting some of its communes (not its district site)."""
    conf = ConferenceFactory(
        title="Giao ban huyện Văn Chấn",
        host_unit=org["140"],
        chair_site=Site.objects.get(key="04630"),
        level="district_to_commune",
        status=Status.DRAFT,
    )
    invite(conf, "04630", "04621")
    AgendaItem.objects.create(conference=conf, position=1, title="Khai mạc")
    return conf


def _manage_requests(conf):
    item = conf.agenda_items.get()
    code = conf.code
    return [
        ("get", reverse("conference_edit", args=[code]), {}),
        ("post", reverse("conference_edit", args=[code]), {"title": "Chiếm quyền"}),
        ("post", reverse("conference_transition", args=[code]), {"to": "scheduled"}),
        ("post", reverse("conference_transition", args=[code]), {"to": "cancelled"}),
        (
            "post",
            reverse("conference_agenda", args=[code]),
            {"title": "Chen", "planned_minutes": 5},
        ),
        ("get", reverse("agenda_item_edit", args=[code, item.pk]), {}),
        (
            "post",
            reverse("agenda_item_edit", args=[code, item.pk]),
            {"title": "Sửa", "planned_minutes": 5},
        ),
        ("post", reverse("agenda_item_delete", args=[code, item.pk]), {}),
        ("post", reverse("agenda_item_move", args=[code, item.pk]), {"direction": "down"}),
        ("post", reverse("agenda_reorder", args=[code]), {"order": str(item.pk)}),
        ("post", reverse("conference_documents", args=[code]), {}),
    ]


def _read_urls(conf):
    return [
        reverse("conference_detail", args=[conf.code]),
        reverse("conference_agenda", args=[conf.code]),
        reverse("conference_documents", args=[conf.code]),
    ]


def _unchanged(conf):
    fresh = Conference.objects.get(pk=conf.pk)
    assert fresh.status == Status.DRAFT and fresh.title == "Giao ban huyện Văn Chấn"
    assert list(fresh.agenda_items.values_list("title", flat=True)) == ["Khai mạc"]
    assert not Document.objects.exists()


def test_anonymous_visitor_is_sent_to_login_everywhere(client, vc_conf):
    urls = [
        reverse("conference_list"),
        reverse("conference_create"),
        reverse("site_picker_counts"),
        *_read_urls(vc_conf),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    for method, url, data in _manage_requests(vc_conf):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    _unchanged(vc_conf)


def test_outsider_and_uninvited_operator_get_404(client_for, vc_conf, outsider, vanchan_operator):
    for user in (outsider, vanchan_operator):
        c = client_for(user)
        for url in _read_urls(vc_conf):
            assert c.get(url).status_code == 404, (user, url)
        for method, url, data in _manage_requests(vc_conf):
            assert getattr(c, method)(url, data).status_code == 404, (user, url)
        assert "Giao ban huyện Văn Chấn" not in c.get(reverse("conference_list")).content.decode()
        assert c.get(reverse("conference_create")).status_code == 403
    _unchanged(vc_conf)


def test_clerk_of_another_district_sees_nothing_of_an_uninvited_conference(
    client_for, vc_conf, tranyen_clerk
):
    c = client_for(tranyen_clerk)
    for url in _read_urls(vc_conf):
        assert c.get(url).status_code == 404
    for method, url, data in _manage_requests(vc_conf):
        assert getattr(c, method)(url, data).status_code == 404
    _unchanged(vc_conf)


def test_clerk_of_another_district_reads_when_invited_but_cannot_edit_transition_or_upload(
    client_for, vc_conf, tranyen_clerk
):
    invite(vc_conf, "138")
    c = client_for(tranyen_clerk)
    for url in _read_urls(vc_conf):
        assert c.get(url).status_code == 200
    for method, url, data in _manage_requests(vc_conf):
        assert getattr(c, method)(url, data).status_code == 403, url
    _unchanged(vc_conf)


def test_invited_operator_reads_but_cannot_manage(client_for, vc_conf, vanchan_operator):
    invite(vc_conf, "140")
    c = client_for(vanchan_operator)
    for url in _read_urls(vc_conf):
        assert c.get(url).status_code == 200
    for method, url, data in _manage_requests(vc_conf):
        assert getattr(c, method)(url, data).status_code == 403, url
    _unchanged(vc_conf)


def test_leader_reads_but_cannot_edit(client_for, vc_conf, leader):
    c = client_for(leader)
    for url in _read_urls(vc_conf):
        assert c.get(url).status_code == 200
    assert "Giao ban huyện Văn Chấn" in c.get(reverse("conference_list")).content.decode()
    for method, url, data in _manage_requests(vc_conf):
        assert getattr(c, method)(url, data).status_code == 403, url
    assert c.get(reverse("conference_create")).status_code == 403
    _unchanged(vc_conf)


def test_host_district_clerk_and_province_clerk_manage(
    client_for, vc_conf, vanchan_clerk, province_clerk
):
    for user in (vanchan_clerk, province_clerk):
        c = client_for(user)
        assert c.get(reverse("conference_edit", args=[vc_conf.code])).status_code == 200
    response = client_for(vanchan_clerk).post(
        reverse("conference_transition", args=[vc_conf.code]), {"to": "scheduled"}
    )
    assert response.status_code == 302
    assert Conference.objects.get(pk=vc_conf.pk).status == Status.SCHEDULED


def test_unknown_conference_code_is_404(client_for, province_clerk):
    assert (
        client_for(province_clerk)
        .get(reverse("conference_detail", args=["6f1c1f8e-0000-4000-8000-000000000000"]))
        .status_code
        == 404
    )
