"""Users never meet Django's technical error pages (issue 9, item 18): 400/403/404/500 and a
CSRF failure answer with the portal's own pages, Vietnamese first; ``make run`` is
production-like (DEBUG off, a generated secret key) and says so in the Makefile's commands."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from tests.conferences.factories import ConferenceFactory

pytestmark = pytest.mark.django_db

TECHNICAL = (
    "Traceback",
    "Using the URLconf",
    "Page not found (404)",
    "You're seeing this error",
    "CSRF verification failed",
)


def _portal_page(html: str) -> None:
    assert "Giao ban điện tử" in html and "/static/portal/app.css" in html
    assert 'rel="icon"' in html
    for words in TECHNICAL:
        assert words not in html


def test_unknown_address_is_the_portals_404(client):
    response = client.get("/khong-co-trang-nay/")
    assert response.status_code == 404
    html = response.content.decode()
    _portal_page(html)
    assert "Không tìm thấy trang" in html


def test_a_conference_one_may_not_see_is_the_portals_404(client_for, outsider, org):
    conf = ConferenceFactory()
    response = client_for(outsider).get(reverse("conference_detail", args=[conf.code]))
    assert response.status_code == 404
    _portal_page(response.content.decode())


def test_refused_action_is_the_portals_403_with_the_reason(client_for, leader, org):
    conf = ConferenceFactory()
    response = client_for(leader).get(reverse("conference_join_links", args=[conf.code]))
    assert response.status_code == 403
    html = response.content.decode()
    _portal_page(html)
    assert "Không có quyền truy cập" in html and "Chỉ văn thư quản lý hội nghị" in html


@override_settings(ROOT_URLCONF="tests.portal.crash_urls")
def test_a_bug_is_the_portals_500_without_a_traceback(org):
    client = Client(raise_request_exception=False)
    response = client.get("/crash/")
    assert response.status_code == 500
    html = response.content.decode()
    _portal_page(html)
    assert "Lỗi hệ thống" in html and "a bug nobody" not in html


def test_an_expired_form_is_the_portals_csrf_page(org):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    html = response.content.decode()
    _portal_page(html)
    assert "Trang đã hết hạn" in html


def test_a_host_that_is_not_allowed_is_the_portals_400(client):
    response = client.get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    html = response.content.decode()
    _portal_page(html)
    assert "Yêu cầu không hợp lệ" in html


def test_favicon_is_served_and_linked(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith(
        "/static/portal/favicon.svg"
    )
    assert (settings.BASE_DIR / "static" / "portal" / "favicon.svg").read_text().startswith("<svg")


def _make_dry_run(*args: str) -> str:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SITE_URL", "DEBUG", "SECRET_KEY", "PORT", "HOST"}
    }
    result = subprocess.run(
        [make, "-n", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_is_production_like_and_links_use_the_port_it_serves():
    lines = _make_dry_run("run", "PORT=8101").splitlines()
    seed = next(line for line in lines if "manage.py seed_demo" in line)
    serve = next(line for line in lines if "daphne" in line)
    for line in (seed, serve):
        assert "SITE_URL=http://127.0.0.1:8101 " in line
        assert "DEBUG=${DEBUG:-0}" in line and "secret_key" in line
    assert "-p 8101" in serve


def test_make_dev_is_the_debug_variant():
    lines = _make_dry_run("dev", "PORT=8102").splitlines()
    serve = next(line for line in lines if "daphne" in line)
    assert "SITE_URL=http://127.0.0.1:8102 " in serve and "DEBUG=${DEBUG:-1}" in serve
