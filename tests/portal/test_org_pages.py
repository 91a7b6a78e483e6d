from __future__ import annotations

import pytest
from django.urls import reverse

from portal import selectors
from portal.models import Site


@pytest.mark.parametrize(
    "query, expected",
    [
        ("van chan", "Huyện Văn Chấn"),
        ("mu cang chai", "Huyện Mù Căng Chải"),
        ("VĂN CHẤN", "Huyện Văn Chấn"),
        ("tu le", "Xã Tú Lệ"),
    ],
)
def test_search_ignores_diacritics_and_case(org, query, expected):
    assert expected in [u.name for u in selectors.unit_search(query)]


def test_org_page_shows_tree_counts_and_search(client_for, outsider):
    page = client_for(outsider).get(reverse("org_tree"), {"q": "van chan"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Huyện Văn Chấn" in html and "Xã Tú Lệ" in html
    assert "173" in html and "210" in html


def test_anonymous_visitor_is_sent_to_login(client, org):
    for url in [reverse("home"), reverse("org_tree"), reverse("unit_detail", args=["140"])]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_login_page_answers_in_vietnamese_and_english(client, db):
    assert "Đăng nhập" in client.get(reverse("login")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/login/"})
    assert "Sign in" in client.get(reverse("login")).content.decode()


def test_unit_and_site_detail_pages(client_for, outsider, org):
    c = client_for(outsider)
    assert "Xã Tú Lệ" in c.get(reverse("unit_detail", args=["140"])).content.decode()
    site = Site.objects.get(key="140")
    assert site.name in c.get(reverse("site_detail", args=[site.code])).content.decode()


def test_vanchan_clerk_cannot_edit_a_tran_yen_site(client_for, vanchan_clerk):
    site = Site.objects.get(key="138")
    c = client_for(vanchan_clerk)
    assert c.get(reverse("site_edit", args=[site.code])).status_code == 403
    response = c.post(
        reverse("site_edit", args=[site.code]),
        {"name": "Hacked", "location": "", "contact_phone": ""},
    )
    assert response.status_code == 403
    site.refresh_from_db()
    assert site.name != "Hacked"


def test_vanchan_clerk_edits_a_commune_site_below_it(client_for, vanchan_clerk):
    site = Site.objects.get(key="04630")
    response = client_for(vanchan_clerk).post(
        reverse("site_edit", args=[site.code]),
        {
            "name": "Điểm cầu xã Tú Lệ",
            "location": "Hội trường UBND xã",
            "contact_phone": "0216 3888 123",
        },
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert site.location == "Hội trường UBND xã"


def test_province_clerk_may_edit_any_site(client_for, province_clerk):
    site = Site.objects.get(key="138")
    response = client_for(province_clerk).post(
        reverse("site_edit", args=[site.code]),
        {"name": site.name, "location": "P. họp", "contact_phone": ""},
    )
    assert response.status_code == 302


def test_operator_edits_own_site_but_gets_403_on_another(client_for, vanchan_operator):
    own, other = Site.objects.get(key="140"), Site.objects.get(key="138")
    c = client_for(vanchan_operator)
    assert (
        c.post(
            reverse("site_edit", args=[own.code]),
            {"name": own.name, "location": "Phòng họp tầng 2", "contact_phone": ""},
        ).status_code
        == 302
    )
    assert (
        c.post(
            reverse("site_edit", args=[other.code]),
            {"name": "x", "location": "", "contact_phone": ""},
        ).status_code
        == 403
    )


def test_site_form_shows_field_errors_and_keeps_data(client_for, vanchan_operator):
    site = Site.objects.get(key="140")
    response = client_for(vanchan_operator).post(
        reverse("site_edit", args=[site.code]),
        {"name": "", "location": "x", "contact_phone": "abc"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "errorlist" in html and "Số điện thoại không hợp lệ" in html
    site.refresh_from_db()
    assert site.name and site.location != "x"


def test_an_english_browser_still_gets_vietnamese_until_the_user_switches(client, db):
    html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Đăng nhập" in html and 'lang="vi"' in html
