"""Invitation e-mails to invited sites' operators, with an .ics that calendar programs update."""

from __future__ import annotations

import pytest
from django.core import mail
from icalendar import Calendar

from conferences.models import Status
from conferences.services import notifications
from conferences.services.scheduling import conference_transition
from portal import services as org_services
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import UserFactory


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def tranyen_role_operator(org):
    user = UserFactory(username="kythuat_tranyen")
    org_services.membership_grant(user=user, unit=org["138"], role="operator")
    return user


def _ics(message) -> Calendar:
    (attachment,) = message.attachments
    filename, content, mimetype = attachment
    assert filename.endswith(".ics") and mimetype.startswith("text/calendar")
    return Calendar.from_ical(content if isinstance(content, bytes) else content.encode())


def _event(cal: Calendar):
    (event,) = cal.walk("VEVENT")
    return event


def _send(conference, kind, capture):
    with capture(execute=True):
        notifications.conference_changed(conference, kind)


def test_scheduled_conference_mails_each_operator_with_request_ics(
    org, vanchan_operator, tranyen_role_operator, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory(title="Giao ban kinh tế - xã hội tháng 11")
    invite(conf, "140", "138", "139")
    _send(conf, "scheduled", django_capture_on_commit_callbacks)
    by_to = {m.to[0]: m for m in mail.outbox}
    assert set(by_to) == {vanchan_operator.email, tranyen_role_operator.email}
    message = by_to[vanchan_operator.email]
    assert "Giấy mời" in message.subject and "Giao ban kinh tế" in message.subject
    assert (
        "Trân trọng kính mời" in message.body and Site.objects.get(key="140").name in message.body
    )
    cal = _ics(message)
    event = _event(cal)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{conf.code}@giaoban"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["SUMMARY"]) == conf.title
    assert event.decoded("DTSTART") == conf.planned_start.replace(microsecond=0)


def test_update_keeps_uid_and_raises_sequence(
    org, vanchan_operator, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory()
    invite(conf, "140")
    _send(conf, "scheduled", django_capture_on_commit_callbacks)
    conf.sequence += 1
    conf.save()
    _send(conf, "updated", django_capture_on_commit_callbacks)
    first, second = (_event(_ics(m)) for m in mail.outbox)
    assert str(first["UID"]) == str(second["UID"])
    assert int(second["SEQUENCE"]) == int(first["SEQUENCE"]) + 1
    assert "Thay đổi" in mail.outbox[1].subject


def test_cancellation_sends_cancel_with_cancelled_status(
    org, vanchan_operator, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory(status=Status.CANCELLED, sequence=2)
    invite(conf, "140")
    _send(conf, "cancelled", django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    cal = _ics(message)
    assert str(cal["METHOD"]) == "CANCEL"
    event = _event(cal)
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 2
    assert "Hủy" in message.subject and "ĐÃ BỊ HỦY" in message.body


def test_operator_of_several_invited_sites_gets_one_mail(org, django_capture_on_commit_callbacks):
    user = UserFactory(username="kythuat_vanchan_all")
    org_services.membership_grant(user=user, unit=org["140"], role="operator")
    conf = ConferenceFactory(host_unit=org["140"])
    invite(conf, "140", "04630")
    _send(conf, "scheduled", django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert message.to == [user.email]
    assert "Xã Tú Lệ" in message.body


def test_nothing_is_sent_when_the_transaction_rolls_back(
    org, vanchan_operator, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory()
    invite(conf, "140")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notifications.conference_changed(conf, "scheduled")
    assert len(callbacks) == 1 and mail.outbox == []


def test_scheduling_a_draft_sends_invitations(
    org, province_clerk, vanchan_operator, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory(status=Status.DRAFT)
    invite(conf, "140")
    with django_capture_on_commit_callbacks(execute=True):
        conference_transition(actor=province_clerk, conference=conf, to=Status.SCHEDULED)
    assert [m.to for m in mail.outbox] == [[vanchan_operator.email]]
    conf.refresh_from_db()
    assert int(_event(_ics(mail.outbox[0]))["SEQUENCE"]) == conf.sequence


def test_unknown_kind_is_refused(org):
    with pytest.raises(ValueError):
        notifications.conference_changed(ConferenceFactory(), "postponed")
