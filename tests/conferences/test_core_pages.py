"""Clerks' pages: list with filters and pagination, create/edit with the site picker, overview tabs."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from conferences.models import Conference, Level, Status
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite


def _local(days: int, hour: int) -> str:
    day = timezone.localdate() + dt.timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:00"


def _form(**extra):
    data = {
        "title": "Hội nghị trực tuyến triển khai nhiệm vụ năm 2027",
        "level": Level.PROVINCE_TO_DISTRICT,
        "host_unit": "15-UBND",
        "chair_site": str(Site.objects.get(key="15-UBND").code),
        "chair_name": "Trần Văn Minh",
        "planned_start": _local(5, 8),
        "planned_end": _local(5, 11),
        "topics": "COVID-19, Kế hoạch",
        "description": "Triển khai kế hoạch",
        "sel_kind": ["district"],
    }
    data.update(extra)
    return data


def test_clerk_creates_conference_through_the_form(client_for, province_clerk):
    c = client_for(province_clerk)
    assert c.get(reverse("conference_create")).status_code == 200
    response = c.post(
        reverse("conference_create"),
        _form(sel_group=["commune@140"], sel_site=[str(Site.objects.get(key="15-SNV").code)]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    conf = Conference.objects.get()
    communes = Site.objects.filter(unit__parent__code="140").count()
    assert conf.invitations.count() == 9 + communes + 1 + 1
    assert conf.status == Status.DRAFT
    assert response["Location"] == reverse("conference_detail", args=[conf.code])


def test_forged_site_ids_are_field_errors_and_nothing_is_saved(client_for, province_clerk):
    c = client_for(province_clerk)
    for bad in (
        {"sel_site": ["00000000-0000-0000-0000-000000000000"]},
        {"sel_site": ["not-a-uuid"]},
        {"sel_subtree": ["99999"]},
        {"sel_kind": ["spaceship"]},
        {"sel_group": ["commune@nowhere"]},
    ):
        response = c.post(reverse("conference_create"), _form(**bad))
        assert response.status_code == 400
        assert "Lựa chọn điểm cầu không hợp lệ" in response.content.decode()
    assert not Conference.objects.exists()


def test_end_before_start_in_the_form_is_a_field_error(client_for, province_clerk):
    response = client_for(province_clerk).post(
        reverse("conference_create"), _form(planned_end=_local(5, 7))
    )
    assert response.status_code == 400
    assert "Thời gian kết thúc phải sau thời gian bắt đầu" in response.content.decode()
    assert not Conference.objects.exists()


def test_host_unit_outside_the_clerks_subtree_is_refused(client_for, vanchan_clerk):
    response = client_for(vanchan_clerk).post(reverse("conference_create"), _form(host_unit="138"))
    assert response.status_code == 400
    assert not Conference.objects.exists()


def test_list_filters_by_status_level_host_and_dates(client_for, province_clerk, org):
    ConferenceFactory(
        title="Giao ban huyện Văn Chấn", host_unit=org["140"], level=Level.DISTRICT_TO_COMMUNE
    )
    ConferenceFactory(title="Giao ban tỉnh đã hủy", status=Status.CANCELLED)
    ConferenceFactory(
        title="Giao ban tháng trước", planned_start=timezone.now() - dt.timedelta(days=40)
    )
    c = client_for(province_clerk)
    page = c.get(reverse("conference_list")).content.decode()
    assert "Giao ban huyện Văn Chấn" in page and "Giao ban tỉnh đã hủy" in page
    page = c.get(reverse("conference_list"), {"status": "cancelled"}).content.decode()
    assert "Giao ban tỉnh đã hủy" in page and "Giao ban huyện Văn Chấn" not in page
    page = c.get(reverse("conference_list"), {"level": "district_to_commune"}).content.decode()
    assert "Giao ban huyện Văn Chấn" in page and "Giao ban tỉnh đã hủy" not in page
    page = c.get(reverse("conference_list"), {"host": "140"}).content.decode()
    assert "Giao ban huyện Văn Chấn" in page and "Giao ban tỉnh đã hủy" not in page
    since = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    page = c.get(reverse("conference_list"), {"date_from": since}).content.decode()
    assert "Giao ban tháng trước" not in page and "Giao ban huyện Văn Chấn" in page
    bad = c.get(reverse("conference_list"), {"date_from": since, "date_to": "2000-01-01"})
    assert bad.status_code == 400


def test_list_is_paginated(client_for, province_clerk):
    for i in range(25):
        ConferenceFactory(
            title=f"Phiên {i:02d}", planned_start=timezone.now() + dt.timedelta(days=i + 1)
        )
    c = client_for(province_clerk)
    first = c.get(reverse("conference_list")).content.decode()
    second = c.get(reverse("conference_list"), {"page": 2}).content.decode()
    assert "Trang 1/2" in first and "Phiên 24" in first and "Phiên 00" not in first
    assert "Phiên 00" in second


def test_overview_shows_tabs_and_transition_buttons_to_managers(client_for, province_clerk, leader):
    conf = ConferenceFactory(status=Status.DRAFT)
    invite(conf, "140", "138")
    page = (
        client_for(province_clerk)
        .get(reverse("conference_detail", args=[conf.code]))
        .content.decode()
    )
    assert reverse("conference_agenda", args=[conf.code]) in page
    assert reverse("conference_documents", args=[conf.code]) in page
    assert 'name="to" value="scheduled"' in page and "2 điểm cầu được mời" in page
    page = client_for(leader).get(reverse("conference_detail", args=[conf.code])).content.decode()
    assert 'name="to"' not in page and reverse("conference_edit", args=[conf.code]) not in page


def test_transition_through_the_page_and_invalid_one_is_a_clear_400(client_for, province_clerk):
    conf = ConferenceFactory(status=Status.DRAFT)
    c = client_for(province_clerk)
    url = reverse("conference_transition", args=[conf.code])
    assert c.post(url, {"to": "scheduled"}).status_code == 302
    assert Conference.objects.get(pk=conf.pk).status == Status.SCHEDULED
    response = c.post(url, {"to": "draft"})
    assert response.status_code == 400 and "Không thể chuyển" in response.content.decode()
    assert c.post(url, {"to": "ended"}).status_code == 302
    response = c.post(url, {"to": "cancelled"})
    assert response.status_code == 400
    assert Conference.objects.get(pk=conf.pk).status == Status.ENDED


def test_edit_form_prefills_invited_sites_and_saves_changes(client_for, province_clerk):
    conf = ConferenceFactory(status=Status.DRAFT)
    invite(conf, "140")
    c = client_for(province_clerk)
    page = c.get(reverse("conference_edit", args=[conf.code])).content.decode()
    site_code = str(Site.objects.get(key="140").code)
    assert f'value="{site_code}" checked' in page
    data = _form(
        title="Tên mới", sel_kind=[], sel_site=[site_code, str(Site.objects.get(key="138").code)]
    )
    response = c.post(reverse("conference_edit", args=[conf.code]), data)
    assert response.status_code == 302
    conf.refresh_from_db()
    assert conf.title == "Tên mới"
    assert set(conf.invitations.values_list("site__key", flat=True)) == {"140", "138", "15-UBND"}


def test_demo_upcoming_seeds_each_level_once_with_agenda_and_pdf(org, settings, tmp_path):
    from conferences import demo_upcoming
    from portal import services as org_services
    from tests.conftest import UserFactory

    settings.MEDIA_ROOT = tmp_path
    for username, unit in (("vanthu.tinh", "15"), ("vanthu.vanchan", "140")):
        org_services.membership_grant(
            user=UserFactory(username=username), unit=org[unit], role="clerk"
        )
    for _ in range(2):
        report = {"users": [], "urls": {}}
        demo_upcoming.seed(report)
    seeded = Conference.objects.filter(code__in=[row["code"] for row in demo_upcoming.UPCOMING])
    assert seeded.count() == len(demo_upcoming.UPCOMING)
    assert set(seeded.values_list("level", flat=True)) == set(Level.values)
    for conf in seeded:
        assert conf.agenda_items.exists() and conf.invitations.exists()
        doc = conf.documents.get()
        assert doc.content_type == "application/pdf" and doc.file.open("rb").read(5) == b"%PDF-"
    assert report["urls"]["conference_list"].endswith("/conferences/")
