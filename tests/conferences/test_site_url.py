"""Links use the address the portal is served at (issue 9, item 16): ``seed_demo``'s output, the
invitation e-mails and their .ics files all take ``SITE_URL`` (``make run`` sets it from PORT)."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core import mail
from django.core.management import call_command
from icalendar import Calendar

from conferences.services import notifications
from tests.conferences.factories import ConferenceFactory, invite

BASE = "http://127.0.0.1:8101"


@pytest.fixture(autouse=True)
def served_at(settings):
    settings.SITE_URL = BASE
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _urls(value) -> list[str]:
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return [value] if isinstance(value, str) and value.startswith("http") else []


@pytest.mark.django_db
def test_seed_demo_prints_every_link_at_the_served_address(org):
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    urls = _urls(json.loads(out.getvalue()))
    assert len(urls) >= 10
    assert all(u.startswith(BASE + "/") for u in urls), [u for u in urls if not u.startswith(BASE)]
    out = io.StringIO()
    call_command("seed_demo", stdout=out)  # the text a user reads after make run
    text = out.getvalue()
    assert f"{BASE}/login/" in text and ":8000" not in text


@pytest.mark.django_db
def test_invitation_mail_and_its_calendar_file_link_to_the_served_address(
    org, vanchan_operator, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory(title="Giao ban tháng 12")
    invite(conf, "140")
    with django_capture_on_commit_callbacks(execute=True):
        notifications.conference_changed(conf, "scheduled")
    (message,) = mail.outbox
    links = re.findall(r"https?://[^\s<>\"]+", message.body)
    assert links and all(link.startswith(BASE + "/") for link in links)
    html = message.alternatives[0][0]
    assert all(u.startswith(BASE + "/") for u in re.findall(r'href="([^"]+)"', html))
    (attachment,) = message.attachments
    (event,) = Calendar.from_ical(attachment[1]).walk("VEVENT")
    assert str(event["URL"]).startswith(BASE + "/conferences/")
