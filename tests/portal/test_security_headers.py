"""Security headers and production settings (issue 11 item 11), from outside: HTTP and manage.py."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from django.conf import settings
from django.test import Client
from django.urls import reverse

PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "HTTPS": "1",
    "ALLOWED_HOSTS": "giaoban.example.gov.vn",
    "CSRF_TRUSTED_ORIGINS": "https://giaoban.example.gov.vn",
}


def test_pages_carry_a_strict_policy_and_deny_camera_except_live_pages(
    client_for, province_clerk, chair, org
):
    from tests.conferences.factories import ConferenceFactory

    conf = ConferenceFactory()
    c = client_for(province_clerk)
    for url in [
        "/",
        reverse("org_tree"),
        reverse("conference_detail", args=[conf.code]),
        "/login/",
    ]:
        response = c.get(url)
        policy = response.headers["Content-Security-Policy"]
        script = re.search(r"script-src ([^;]*)", policy).group(1)
        assert "default-src 'self'" in policy and script == "'self'", policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert "camera=()" in response.headers["Permissions-Policy"], url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    live = client_for(chair).get(reverse("conference_console", args=[conf.code]))
    assert "camera=(self)" in live.headers["Permissions-Policy"]
    assert "microphone=(self)" in live.headers["Permissions-Policy"]


def test_templates_hold_no_inline_script_or_event_handler():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    offenders = []
    for path in (settings.BASE_DIR / "templates").rglob("*.html"):
        if "email" in path.parts:
            continue  # mails are read in mail clients, never served under the policy
        text = path.read_text(encoding="utf-8")
        if (
            inline_script.search(text)
            or handler.search(text)
            or "<style" in text
            or "javascript:" in text
        ):
            offenders.append(str(path.relative_to(settings.BASE_DIR)))
    assert not offenders


def test_https_deployment_redirects_plain_http_and_sends_hsts(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    c = Client()
    plain = c.get("/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = c.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200 and "max-age=31536000" in secure["Strict-Transport-Security"]


def _run(*args: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, *args],
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **PRODUCTION},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _run("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_https_setting_turns_on_redirect_hsts_and_secure_cookies():
    result = _run(
        "-c",
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
    )
    assert result.stdout.split() == ["True", "31536000", "True", "True"], result.stderr
