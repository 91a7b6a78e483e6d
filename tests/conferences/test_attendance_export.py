"""The attendance XLSX opens with openpyxl and matches the database."""

from __future__ import annotations

import datetime as dt
import io

from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from conferences.models import AttendanceEntry, Status
from conferences.services import attendance as svc
from tests.conferences.factories import ConferenceFactory, invite


def test_xlsx_matches_attendance_and_history(client_for, province_clerk):
    conf = ConferenceFactory(status=Status.LIVE)
    present, excused, _silent = invite(conf, "140", "138", "139")
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    svc.presence_join(invitation=present, at=t0, source="media")
    svc.presence_leave(invitation=present, at=t0 + dt.timedelta(minutes=25), source="media")
    svc.presence_join(invitation=present, at=t0 + dt.timedelta(minutes=30), source="media")
    svc.presence_leave(invitation=present, at=t0 + dt.timedelta(minutes=50), source="media")
    first = svc.attendance_record(
        actor=province_clerk,
        invitation=present,
        status="present",
        headcount=12,
        leader_name="Phạm Văn Đức",
        leader_title="Chủ tịch",
        source="clerk",
    )
    svc.attendance_correct(actor=province_clerk, entry=first, headcount=14, reason="Đếm lại")
    svc.attendance_record(
        actor=province_clerk,
        invitation=excused,
        status="absent_excused",
        absence_reason="Họp đột xuất",
        source="clerk",
    )

    response = client_for(province_clerk).get(
        reverse("conference_attendance_xlsx", args=[conf.code])
    )
    assert response.status_code == 200 and "spreadsheetml" in response["Content-Type"]
    wb = load_workbook(io.BytesIO(response.content))
    summary, history, presence = wb["Điểm danh"], wb["Lịch sử"], wb["Vào - ra"]
    header = [c.value for c in summary[1]]
    rows = {
        r[header.index("Mã điểm cầu")]: dict(zip(header, r, strict=True))
        for r in summary.iter_rows(min_row=2, values_only=True)
    }
    assert set(rows) == {"140", "138", "139"}
    assert rows["140"]["Trạng thái"] == "Có mặt" and rows["140"]["Số người dự"] == 14
    assert rows["140"]["Người chủ trì tại điểm cầu"] == "Phạm Văn Đức"
    assert rows["140"]["Tổng thời gian kết nối (phút)"] == 45
    assert rows["140"]["Vào lần đầu"] == timezone.localtime(t0).replace(tzinfo=None)
    assert (
        rows["138"]["Trạng thái"] == "Vắng có lý do" and rows["138"]["Lý do vắng"] == "Họp đột xuất"
    )
    assert rows["139"]["Trạng thái"] == "Được mời" and rows["139"]["Số người dự"] is None
    for key, row in rows.items():
        inv = conf.invitations.get(site__key=key)
        assert row["Điểm cầu"] == inv.site.name and row["Đơn vị"] == inv.unit.name

    hist_header = [c.value for c in history[1]]
    hist_rows = [
        dict(zip(hist_header, r, strict=True))
        for r in history.iter_rows(min_row=2, values_only=True)
    ]
    assert sorted(r["Mã bản ghi"] for r in hist_rows) == sorted(
        AttendanceEntry.objects.filter(invitation__conference=conf).values_list("pk", flat=True)
    )
    (fix,) = [r for r in hist_rows if r["Đính chính bản ghi"]]
    assert (
        fix["Đính chính bản ghi"] == first.pk
        and fix["Lý do đính chính"] == "Đếm lại"
        and fix["Số người dự"] == 14
    )
    assert presence.max_row == 3  # header + two intervals


def test_xlsx_of_conference_without_sites_is_still_valid(client_for, province_clerk, org):
    conf = ConferenceFactory()
    wb = load_workbook(
        io.BytesIO(
            client_for(province_clerk)
            .get(reverse("conference_attendance_xlsx", args=[conf.code]))
            .content
        )
    )
    assert wb["Điểm danh"].max_row == 1


def test_xlsx_sheets_have_a_frozen_bold_header_set_widths_and_date_formats(
    client_for, province_clerk
):
    conf = ConferenceFactory(status=Status.LIVE)
    (present,) = invite(conf, "140")
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    svc.presence_join(invitation=present, at=t0, source="media")
    svc.presence_leave(invitation=present, at=t0 + dt.timedelta(minutes=25), source="media")
    svc.attendance_record(
        actor=province_clerk, invitation=present, status="present", headcount=12, source="clerk"
    )
    wb = load_workbook(
        io.BytesIO(
            client_for(province_clerk)
            .get(reverse("conference_attendance_xlsx", args=[conf.code]))
            .content
        )
    )
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert all(c.font.bold for c in ws[1]), ws.title
        widths = [ws.column_dimensions[chr(65 + i)].width for i in range(ws.max_column)]
        assert all(8 <= w <= 52 for w in widths), (ws.title, widths)
        dates = [
            c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, dt.datetime)
        ]
        assert dates and all(c.number_format == "dd/mm/yyyy hh:mm" for c in dates), ws.title
    header = [c.value for c in wb["Điểm danh"][1]]
    assert wb["Điểm danh"].cell(2, header.index("Số người dự") + 1).value == 12
