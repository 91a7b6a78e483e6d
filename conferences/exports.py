"""Attendance of a conference as an XLSX workbook (openpyxl).

Sheets: "Điểm danh" — one row per invited site with its current (effective) state, first join and
total connected minutes; "Lịch sử" — every attendance entry, corrections included, in order;
"Vào - ra" — the join/leave log with durations. Times are local (Asia/Ho_Chi_Minh), unzoned.
"""

from __future__ import annotations

import datetime as dt
import io

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from conferences.models import AttendanceSource, AttendanceStatus, Conference
from conferences.services.attendance import attendance_rows

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUMMARY_HEADERS = [
    "STT",
    "Điểm cầu",
    "Mã điểm cầu",
    "Đơn vị",
    "Trạng thái",
    "Số người dự",
    "Người chủ trì tại điểm cầu",
    "Chức vụ",
    "Lý do vắng",
    "Xác nhận lúc",
    "Kiểm tra kỹ thuật lúc",
    "Vào lần đầu",
    "Tổng thời gian kết nối (phút)",
]
HISTORY_HEADERS = [
    "Mã bản ghi",
    "Thời điểm",
    "Điểm cầu",
    "Trạng thái",
    "Số người dự",
    "Người chủ trì",
    "Chức vụ",
    "Lý do vắng",
    "Nguồn",
    "Người ghi",
    "Đính chính bản ghi",
    "Lý do đính chính",
]
PRESENCE_HEADERS = ["Điểm cầu", "Giờ vào", "Giờ rời", "Thời lượng (phút)", "Nguồn"]


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else timezone.localtime(value).replace(tzinfo=None, microsecond=0)


def _user(user) -> str:
    return "" if user is None else (user.get_full_name() or user.username)


def _sheet(ws, headers: list[str], rows: list[list]) -> None:
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE3EA")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append(row)
    for index, header in enumerate(headers, start=1):
        width = max([len(header)] + [len(str(r[index - 1] or "")) for r in rows[:500]])
        ws.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 50)
        for cell in ws[get_column_letter(index)][1:]:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "dd/mm/yyyy hh:mm"
    ws.freeze_panes = "A2"


def attendance_xlsx(conference: Conference) -> bytes:
    status_label = dict(AttendanceStatus.choices)
    source_label = dict(AttendanceSource.choices)
    rows = attendance_rows(conference)
    wb = Workbook()
    summary = wb.active
    summary.title = "Điểm danh"
    _sheet(
        summary,
        SUMMARY_HEADERS,
        [
            [
                n,
                r.invitation.site.name,
                r.invitation.site.key,
                r.invitation.unit.name,
                str(status_label[r.invitation.status]),
                r.invitation.headcount,
                r.invitation.leader_name,
                r.invitation.leader_title,
                r.invitation.absence_reason,
                _local(r.invitation.confirmed_at),
                _local(r.invitation.ready_at),
                _local(r.invitation.first_joined_at),
                r.connected_minutes,
            ]
            for n, r in enumerate(rows, start=1)
        ],
    )
    history = [
        [
            e.pk,
            _local(e.recorded_at),
            r.invitation.site.name,
            str(status_label[e.status]),
            e.headcount,
            e.leader_name,
            e.leader_title,
            e.absence_reason,
            str(source_label[e.source]),
            _user(e.recorded_by),
            e.corrects_id,
            e.note,
        ]
        for r in rows
        for e in r.entries
    ]
    history.sort(key=lambda row: (row[1], row[0]))
    _sheet(wb.create_sheet("Lịch sử"), HISTORY_HEADERS, history)
    presence = [
        [
            r.invitation.site.name,
            _local(p.joined_at),
            _local(p.left_at),
            None if p.duration_seconds is None else round(p.duration_seconds / 60, 1),
            str(source_label[p.source]),
        ]
        for r in rows
        for p in r.intervals
    ]
    _sheet(wb.create_sheet("Vào - ra"), PRESENCE_HEADERS, presence)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
