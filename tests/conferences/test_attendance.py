"""Attendance is an append-only log; the invitation shows its effective state."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conferences.errors import DomainError
from conferences.models import AttendanceEntry, AuditEntry, PresenceInterval, Status
from conferences.services import attendance as svc
from tests.conferences.factories import ConferenceFactory, invite


@pytest.fixture
def conf(org):
    return ConferenceFactory(status=Status.LIVE)


def test_clerk_records_presence_with_headcount_and_leader(conf, province_clerk):
    (inv,) = invite(conf, "140")
    svc.attendance_record(
        actor=province_clerk,
        invitation=inv,
        status="present",
        headcount=12,
        leader_name="Phạm Văn Đức",
        leader_title="Chủ tịch UBND huyện",
        source="clerk",
    )
    inv.refresh_from_db()
    assert (inv.status, inv.headcount, inv.leader_name, inv.leader_title) == (
        "present",
        12,
        "Phạm Văn Đức",
        "Chủ tịch UBND huyện",
    )
    assert AuditEntry.objects.filter(conference=conf, action="attendance.record").count() == 1


def test_correction_appends_entry_with_reason_and_keeps_original(conf, province_clerk):
    (inv,) = invite(conf, "140")
    first = svc.attendance_record(
        actor=province_clerk, invitation=inv, status="present", headcount=12, source="clerk"
    )
    fix = svc.attendance_correct(actor=province_clerk, entry=first, headcount=15, reason="Đếm lại")
    inv.refresh_from_db()
    first.refresh_from_db()
    assert inv.headcount == 15 and inv.status == "present"
    assert first.headcount == 12  # the original is untouched
    assert (
        fix.corrects == first
        and fix.note == "Đếm lại"
        and fix.source == "correction"
        and fix.recorded_by == province_clerk
    )
    assert AttendanceEntry.objects.filter(invitation=inv).count() == 2


def test_correcting_an_old_entry_does_not_override_what_came_after(conf, province_clerk):
    (inv,) = invite(conf, "140")
    ready = svc.attendance_record(
        actor=province_clerk, invitation=inv, status="ready", source="clerk"
    )
    svc.attendance_record(
        actor=province_clerk, invitation=inv, status="present", headcount=9, source="clerk"
    )
    svc.attendance_correct(
        actor=province_clerk, entry=ready, status="confirmed", reason="Chưa kiểm tra kỹ thuật"
    )
    inv.refresh_from_db()
    assert inv.status == "present" and inv.headcount == 9
    assert [e.status for e in svc.effective_entries(inv)] == ["confirmed", "present"]


def test_correction_without_reason_changes_nothing(conf, province_clerk):
    (inv,) = invite(conf, "140")
    first = svc.attendance_record(
        actor=province_clerk, invitation=inv, status="present", headcount=12, source="clerk"
    )
    with pytest.raises(DomainError) as err:
        svc.attendance_correct(actor=province_clerk, entry=first, headcount=3, reason="  ")
    assert err.value.code == "reason_required"
    assert AttendanceEntry.objects.filter(invitation=inv).count() == 1


def test_absence_excused_needs_reason_and_clears_headcount(conf, province_clerk):
    (inv,) = invite(conf, "140")
    with pytest.raises(DomainError) as err:
        svc.attendance_record(
            actor=province_clerk, invitation=inv, status="absent_excused", source="clerk"
        )
    assert err.value.code == "reason_required"
    entry = svc.attendance_record(
        actor=province_clerk, invitation=inv, status="present", headcount=4, source="clerk"
    )
    svc.attendance_correct(
        actor=province_clerk,
        entry=entry,
        status="absent_excused",
        absence_reason="Mất điện",
        reason="Nhầm điểm cầu",
    )
    inv.refresh_from_db()
    assert (inv.status, inv.headcount, inv.absence_reason) == ("absent_excused", None, "Mất điện")


def test_bad_status_and_negative_headcount_are_refused(conf, province_clerk):
    (inv,) = invite(conf, "140")
    for kwargs, code in [
        ({"status": "gone"}, "bad_status"),
        ({"status": "present", "headcount": -1}, "bad_headcount"),
        ({"status": "absent", "headcount": 3}, "headcount_for_absent"),
    ]:
        with pytest.raises(DomainError) as err:
            svc.attendance_record(actor=province_clerk, invitation=inv, source="clerk", **kwargs)
        assert err.value.code == code
    assert not AttendanceEntry.objects.exists()


def test_attendance_of_cancelled_conference_is_refused(org, province_clerk):
    conf = ConferenceFactory(status=Status.CANCELLED)
    (inv,) = invite(conf, "140")
    with pytest.raises(DomainError) as err:
        svc.attendance_record(
            actor=province_clerk, invitation=inv, status="present", headcount=3, source="clerk"
        )
    assert err.value.code == "conference_closed"


def test_operator_reports_only_own_site_and_only_site_statuses(conf, vanchan_operator):
    own, other = invite(conf, "140", "138")
    svc.attendance_record(
        actor=vanchan_operator, invitation=own, status="present", headcount=5, source="site"
    )
    for inv, status in [(other, "present"), (own, "absent")]:
        with pytest.raises(DomainError) as err:
            svc.attendance_record(
                actor=vanchan_operator, invitation=inv, status=status, source="site"
            )
        assert err.value.code == "forbidden"
    other.refresh_from_db()
    assert other.status == "invited"


def test_another_district_clerk_cannot_record_or_correct(org, vanchan_clerk, tranyen_clerk):
    conf = ConferenceFactory(host_unit=org["140"], level="district_to_commune")
    (inv,) = invite(conf, "04630")
    entry = svc.attendance_record(
        actor=vanchan_clerk, invitation=inv, status="confirmed", source="clerk"
    )
    with pytest.raises(DomainError):
        svc.attendance_record(actor=tranyen_clerk, invitation=inv, status="absent", source="clerk")
    with pytest.raises(DomainError):
        svc.attendance_correct(actor=tranyen_clerk, entry=entry, status="absent", reason="x")
    assert AttendanceEntry.objects.filter(invitation=inv).count() == 1


def test_join_leave_log_keeps_intervals_and_first_join(conf, province_clerk):
    (inv,) = invite(conf, "140")
    t0 = timezone.now().replace(microsecond=0)
    svc.presence_join(invitation=inv, at=t0, source="media")
    svc.presence_leave(invitation=inv, at=t0 + dt.timedelta(minutes=20), source="media")
    svc.presence_record(
        actor=province_clerk,
        invitation=inv,
        joined_at=t0 + dt.timedelta(minutes=30),
        left_at=t0 + dt.timedelta(minutes=45),
    )
    inv.refresh_from_db()
    assert inv.first_joined_at == t0 and inv.status == "connected"
    assert [p.duration_seconds for p in PresenceInterval.objects.filter(invitation=inv)] == [
        1200,
        900,
    ]
    (row,) = svc.attendance_rows(conf)
    assert row.connected_minutes == 35


def test_join_while_connected_and_leave_before_join_are_refused(conf, province_clerk):
    (inv,) = invite(conf, "140")
    t0 = timezone.now()
    svc.presence_join(invitation=inv, at=t0, source="media")
    with pytest.raises(DomainError) as err:
        svc.presence_join(invitation=inv, at=t0, source="media")
    assert err.value.code == "already_joined"
    with pytest.raises(DomainError) as err:
        svc.presence_leave(invitation=inv, at=t0 - dt.timedelta(minutes=1), source="media")
    assert err.value.code == "leave_before_join"
    with pytest.raises(DomainError) as err:
        svc.presence_record(
            actor=province_clerk,
            invitation=inv,
            joined_at=t0 + dt.timedelta(minutes=5),
            left_at=t0 + dt.timedelta(minutes=1),
        )
    assert err.value.code == "leave_before_join"
    assert PresenceInterval.objects.filter(invitation=inv).count() == 1


def test_clerk_recorded_interval_overlapping_another_is_refused(conf, province_clerk):
    (inv,) = invite(conf, "140")
    t0 = timezone.now()
    svc.presence_record(
        actor=province_clerk, invitation=inv, joined_at=t0, left_at=t0 + dt.timedelta(minutes=30)
    )
    with pytest.raises(DomainError) as err:
        svc.presence_record(
            actor=province_clerk,
            invitation=inv,
            joined_at=t0 + dt.timedelta(minutes=10),
            left_at=t0 + dt.timedelta(minutes=40),
        )
    assert err.value.code == "presence_overlap"
    assert PresenceInterval.objects.filter(invitation=inv).count() == 1


def test_attendance_change_is_broadcast_after_commit(
    conf, province_clerk, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"conference.{conf.code}", channel)
    (inv,) = invite(conf, "140")
    with django_capture_on_commit_callbacks(execute=True):
        svc.attendance_record(
            actor=province_clerk, invitation=inv, status="present", headcount=7, source="clerk"
        )
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "conference.event"
    assert message["event"]["type"] == "attendance" and message["event"]["headcount"] == 7


# --- the clerk's attendance page ---------------------------------------------------------------


def _page(client, conf):
    from django.urls import reverse

    return reverse("conference_attendance", args=[conf.code])


def test_clerk_records_and_corrects_from_the_page(client_for, province_clerk, conf):
    (inv,) = invite(conf, "140")
    c = client_for(province_clerk)
    url = _page(c, conf)
    response = c.post(
        url,
        {"action": "table", f"st-{inv.pk}": "present", f"hc-{inv.pk}": "11", f"rs-{inv.pk}": ""},
    )
    assert response.status_code == 302
    entry = AttendanceEntry.objects.get(invitation=inv)
    page = c.get(url, {"correct": entry.pk}).content.decode()
    assert "Đính chính bản ghi" in page and f'value="{entry.pk}"' in page
    response = c.post(
        url,
        {
            "action": "correct",
            "correct-entry": entry.pk,
            "correct-headcount": "13",
            "correct-reason": "",
        },
    )
    assert response.status_code == 400 and AttendanceEntry.objects.count() == 1
    response = c.post(
        url,
        {
            "action": "correct",
            "correct-entry": entry.pk,
            "correct-headcount": "13",
            "correct-reason": "Đếm lại",
        },
    )
    assert response.status_code == 302
    inv.refresh_from_db()
    assert inv.headcount == 13
    html = c.get(url).content.decode()
    assert "Đếm lại" in html and f"#{entry.pk}" in html


def test_clerk_runs_roll_call_from_the_page(client_for, province_clerk, conf):
    from conferences.models import RollCall

    (inv,) = invite(conf, "140")
    c = client_for(province_clerk)
    url = _page(c, conf)
    assert c.post(url, {"action": "rollcall_start"}).status_code == 302
    assert "Kết thúc điểm danh" in c.get(url).content.decode()
    assert (
        c.post(
            url, {"action": "answer", "answer-site": inv.site.code, "answer-headcount": "6"}
        ).status_code
        == 302
    )
    response = c.post(
        url, {"action": "answer", "answer-site": inv.site.code, "answer-headcount": "7"}
    )
    assert response.status_code == 400 and "đã trả lời" in response.content.decode()
    assert c.post(url, {"action": "rollcall_end"}).status_code == 302
    call = RollCall.objects.get(conference=conf)
    assert call.ended_at is not None and call.answers.get().headcount == 6


def test_clerk_records_join_leave_with_durations(client_for, province_clerk, conf):
    (inv,) = invite(conf, "140")
    c = client_for(province_clerk)
    url = _page(c, conf)
    response = c.post(
        url,
        {
            "action": "presence",
            "presence-site": inv.site.code,
            "presence-joined_at": "2026-03-02T08:00",
            "presence-left_at": "2026-03-02T07:00",
        },
    )
    assert response.status_code == 400 and not PresenceInterval.objects.exists()
    response = c.post(
        url,
        {
            "action": "presence",
            "presence-site": inv.site.code,
            "presence-joined_at": "2026-03-02T08:00",
            "presence-left_at": "2026-03-02T09:30",
        },
    )
    assert response.status_code == 302
    (interval,) = PresenceInterval.objects.filter(invitation=inv)
    assert (
        interval.duration_seconds == 90 * 60
        and interval.source == "clerk"
        and interval.recorded_by == province_clerk
    )
    assert ">90<" in c.get(url).content.decode().replace(" ", "").replace("\n", "")
