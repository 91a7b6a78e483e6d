"""Minutes of a conference: the conclusions (kết luận), attachments, and a draft record
(biên bản) assembled from the conference data as a DOCX for the clerk to finish.

The draft follows the Vietnamese administrative layout (Nghị định 30/2020/NĐ-CP): issuing unit
top-left, the national motto top-right, "BIÊN BẢN HỘI NGHỊ", Times New Roman 13–14 pt, A4 with
3 cm left margin, and signature blocks for the secretary and the chair.
"""

from __future__ import annotations

import io

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from docx import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.live.presenting import presentations
from conferences.models import (
    AttendanceStatus,
    ChatMessage,
    ChatTo,
    Conference,
    Document,
    DocumentKind,
    Status,
)
from conferences.services.attendance import ABSENT, attendance_rows
from portal.models import Unit

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FONT = "Times New Roman"
MAX_CONCLUSIONS = 50_000


@transaction.atomic
def minutes_set_conclusions(*, actor, conference: Conference, conclusions: str) -> Conference:
    conference = Conference.objects.select_for_update().get(pk=conference.pk)
    if not perms.can_manage(actor, conference):
        raise PermissionDeniedError()
    if conference.status in {Status.DRAFT, Status.CANCELLED}:
        raise ConferenceError(
            "not_held", _("Hội nghị chưa diễn ra hoặc đã hủy: chưa thể ghi kết luận.")
        )
    text = (conclusions or "").strip()
    if len(text) > MAX_CONCLUSIONS:
        raise ConferenceError("too_long", _("Kết luận quá dài."))
    if text != conference.conclusions:
        conference.conclusions = text
        conference.save(update_fields=["conclusions", "updated_at"])
        audit_log(
            conference=conference,
            actor=actor,
            action="minutes.conclusions",
            data={"length": len(text)},
        )
    return conference


def minutes_attach(*, actor, conference: Conference, upload: UploadedFile) -> Document:
    """Attach a file to the minutes, through the same checks as every conference document."""
    from conferences.services.documents import document_upload

    if conference.status in {Status.DRAFT, Status.CANCELLED}:
        raise ConferenceError("not_held", _("Hội nghị chưa diễn ra hoặc đã hủy."))
    return document_upload(
        actor=actor, conference=conference, upload=upload, kind=DocumentKind.MINUTES
    )


# --- the draft record -------------------------------------------------------------------------


def _fmt_time(value) -> str:
    return "" if value is None else timezone.localtime(value).strftime("%H giờ %M")


def _fmt_date(value) -> str:
    local = timezone.localtime(value)
    return f"ngày {local:%d} tháng {local:%m} năm {local:%Y}"


def _run(paragraph, text: str, *, bold=False, italic=False, size=13, underline=False):
    run = paragraph.add_run(text)
    run.bold, run.italic, run.underline = bold, italic, underline
    run.font.size = Pt(size)
    run.font.name = FONT
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    return run


def _para(
    doc_or_cell,
    text: str = "",
    *,
    align=None,
    bold=False,
    italic=False,
    size=13,
    underline=False,
    space_after=4,
):
    paragraph = doc_or_cell.add_paragraph()
    if text:
        _run(paragraph, text, bold=bold, italic=italic, size=size, underline=underline)
    if align is not None:
        paragraph.alignment = align
    paragraph.paragraph_format.space_after = Pt(space_after)
    return paragraph


def _setup(doc) -> None:
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(13)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)


def _header(doc, conference: Conference) -> None:
    codes = conference.host_unit.ancestor_codes()
    parent = conference.host_unit.parent
    province = Unit.objects.filter(code=codes[0]).first() if codes else None
    place = province.name.replace("Tỉnh ", "") if province else ""
    table = doc.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    left, right = table.rows[0].cells
    left.width, right.width = Cm(6.5), Cm(9.5)
    left.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    if parent is not None and parent.depth > 0:
        _run(left.paragraphs[0], parent.name.upper(), size=13)
        _para(
            left,
            conference.host_unit.name.upper(),
            align=WD_ALIGN_PARAGRAPH.CENTER,
            bold=True,
            size=13,
        )
    else:
        _run(left.paragraphs[0], conference.host_unit.name.upper(), bold=True, size=13)
    _para(left, "Số:      /BB-HN", align=WD_ALIGN_PARAGRAPH.CENTER, size=13)
    right.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(right.paragraphs[0], "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, size=13)
    _para(
        right,
        "Độc lập - Tự do - Hạnh phúc",
        align=WD_ALIGN_PARAGRAPH.CENTER,
        bold=True,
        size=14,
        underline=True,
    )
    _para(
        right,
        f"{place}, {_fmt_date(conference.actual_start or conference.planned_start)}".lstrip(", "),
        align=WD_ALIGN_PARAGRAPH.CENTER,
        italic=True,
        size=14,
    )


def _table(doc, headers: list[str], rows: list[list[str]], widths: list[float]) -> None:
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, header, width in zip(table.rows[0].cells, headers, widths, strict=True):
        cell.width = Cm(width)
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _run(cell.paragraphs[0], header, bold=True, size=12)
    for row in rows:
        cells = table.add_row().cells
        for cell, value, width in zip(cells, row, widths, strict=True):
            cell.width = Cm(width)
            _run(cell.paragraphs[0], value, size=12)


def _presentations(doc, rows: list[dict]) -> None:
    """Who presented what under an agenda item, from when to when (issue 14 item 3)."""
    for row in rows:
        what = row["name"] or ("màn hình" if row["kind"] == "screen" else "tài liệu")
        until = f" – {_fmt_time(row['ended_at'])}" if row["ended_at"] else ""
        _para(
            doc,
            f"Trình chiếu: {row['site_name']} — {what} ({_fmt_time(row['started_at'])}{until}).",
            size=12,
        )


def _chat_appendix(doc, conference: Conference) -> None:
    """Every chat message of the conference, in order, after the signatures (the record of
    what was written; the messages to the chair marked as such). Nothing when there were none."""
    messages = list(ChatMessage.objects.filter(conference=conference).order_by("id"))
    if not messages:
        return
    _para(doc, "", space_after=6)
    _para(doc, "PHỤ LỤC: TIN NHẮN TRONG HỘI NGHỊ", align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
    _table(
        doc,
        ["Giờ", "Điểm cầu", "Người gửi", "Nội dung"],
        [
            [
                timezone.localtime(m.at).strftime("%H:%M"),
                m.site_name + (" → chủ trì" if m.to == ChatTo.CHAIR else ""),
                m.author_name,
                m.text,
            ]
            for m in messages
        ],
        [1.5, 4.5, 3.0, 7.0],
    )


def minutes_docx(conference: Conference) -> bytes:
    """Build the draft minutes of ``conference`` and return the DOCX bytes."""
    conference = Conference.objects.select_related(
        "host_unit", "host_unit__parent", "chair_site"
    ).get(pk=conference.pk)
    rows = attendance_rows(conference)
    doc = DocxDocument()
    _setup(doc)
    _header(doc, conference)

    _para(doc, "", space_after=6)
    _para(
        doc, "BIÊN BẢN HỘI NGHỊ", align=WD_ALIGN_PARAGRAPH.CENTER, bold=True, size=14, space_after=2
    )
    _para(
        doc, conference.title, align=WD_ALIGN_PARAGRAPH.CENTER, bold=True, size=14, space_after=12
    )

    start = conference.actual_start or conference.planned_start
    end = conference.actual_end or conference.planned_end
    _para(doc, "I. THỜI GIAN, HÌNH THỨC, THÀNH PHẦN", bold=True)
    _para(
        doc,
        f"- Thời gian: từ {_fmt_time(start)} đến {_fmt_time(end)}, {_fmt_date(start)}"
        + ("" if conference.actual_start else " (theo kế hoạch)")
        + ".",
    )
    _para(doc, f"- Hình thức: hội nghị trực tuyến, cấp {conference.get_level_display()}.")
    _para(doc, f"- Đơn vị chủ trì: {conference.host_unit.name}.")
    _para(doc, f"- Chủ trì: {conference.chair_name or '……………………'}.")
    if conference.chair_site_id:
        _para(doc, f"- Điểm cầu chính: {conference.chair_site.name}.")
    present = [
        r
        for r in rows
        if r.invitation.status in {AttendanceStatus.PRESENT, AttendanceStatus.CONNECTED}
    ]
    absent = [r for r in rows if r.invitation.status in ABSENT]
    unknown = [r for r in rows if r not in present and r not in absent]
    heads = sum(r.invitation.headcount or 0 for r in present)
    _para(
        doc,
        f"- Số điểm cầu được mời: {len(rows)}; có mặt: {len(present)}; vắng: {len(absent)}"
        + (f"; chưa xác định: {len(unknown)}" if unknown else "")
        + f"; tổng số đại biểu tại các điểm cầu: {heads} người.",
    )

    _para(doc, "II. CÁC ĐIỂM CẦU THAM DỰ", bold=True)
    _table(
        doc,
        ["STT", "Điểm cầu", "Số người", "Người chủ trì tại điểm cầu"],
        [
            [
                str(n),
                r.invitation.site.name,
                "" if r.invitation.headcount is None else str(r.invitation.headcount),
                ", ".join(x for x in (r.invitation.leader_name, r.invitation.leader_title) if x),
            ]
            for n, r in enumerate(present, start=1)
        ],
        [1.2, 7.3, 2.0, 5.5],
    )
    if absent or unknown:
        _para(
            doc,
            "Các điểm cầu vắng hoặc chưa xác nhận có mặt:" if unknown else "Các điểm cầu vắng:",
            italic=True,
        )
        _table(
            doc,
            ["STT", "Điểm cầu", "Tình trạng", "Lý do"],
            [
                [
                    str(n),
                    r.invitation.site.name,
                    str(r.invitation.get_status_display()),
                    r.invitation.absence_reason,
                ]
                for n, r in enumerate(absent + unknown, start=1)
            ],
            [1.2, 7.3, 3.0, 4.5],
        )

    _para(doc, "III. ĐIỂM DANH", bold=True)
    roll_calls = list(
        conference.roll_calls.prefetch_related("answers__invitation__site").order_by("started_at")
    )
    if not roll_calls:
        _para(doc, "Không tiến hành điểm danh trực tuyến.")
    for n, call in enumerate(roll_calls, start=1):
        answers = list(call.answers.all())
        _para(
            doc,
            f"Lần {n}: bắt đầu {_fmt_time(call.started_at)}"
            + (f", kết thúc {_fmt_time(call.ended_at)}" if call.ended_at else "")
            + f"; {len(answers)}/{len(rows)} điểm cầu trả lời, tổng {sum(a.headcount for a in answers)} người.",
        )

    _para(doc, "IV. CHƯƠNG TRÌNH VÀ NỘI DUNG", bold=True)
    items = list(conference.agenda_items.select_related("presenter_unit", "presenter_site"))
    from recordings.playback import recording_link  # recordings builds on conferences

    shown: dict[int | None, list[dict]] = {}
    for row in presentations(conference):
        shown.setdefault(row["item"], []).append(row)
    if not items:
        _para(doc, "……………………")
    for n, item in enumerate(items, start=1):
        when = ""
        if item.actual_start:
            when = (
                f" ({_fmt_time(item.actual_start)}"
                + (f" – {_fmt_time(item.actual_end)}" if item.actual_end else "")
                + ")"
            )
        presenter = (
            item.presenter_name
            or (item.presenter_unit.name if item.presenter_unit else "")
            or (item.presenter_site.name if item.presenter_site else "")
        )
        _para(
            doc,
            f"{n}. {item.title}{when}" + (f" — trình bày: {presenter}" if presenter else "") + ".",
        )
        link = recording_link(conference, item.actual_start)
        if link:
            _para(doc, f"Ghi hình: {link}", italic=True, size=11)
        _presentations(doc, shown.pop(item.pk, []))
    if shown:
        _para(doc, "Trình chiếu ngoài các nội dung trên:", italic=True)
        _presentations(doc, [row for rows_ in shown.values() for row in rows_])

    _para(doc, "V. KẾT LUẬN CỦA HỘI NGHỊ", bold=True)
    for line in (conference.conclusions or "……………………").splitlines():
        if line.strip():
            _para(doc, line.strip(), align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _para(
        doc,
        f"Hội nghị kết thúc lúc {_fmt_time(end)} cùng ngày. Biên bản được lập và thông qua tại hội nghị.",
        italic=True,
    )

    signatures = doc.add_table(rows=1, cols=2)
    for cell, role in zip(
        signatures.rows[0].cells, ("THƯ KÝ HỘI NGHỊ", "CHỦ TRÌ HỘI NGHỊ"), strict=True
    ):
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _run(cell.paragraphs[0], role, bold=True)
        _para(cell, "(Ký, ghi rõ họ tên)", align=WD_ALIGN_PARAGRAPH.CENTER, italic=True)
    chair_cell = signatures.rows[0].cells[1]
    for _row in range(3):
        _para(chair_cell, "")
    _para(chair_cell, conference.chair_name, align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
    _chat_appendix(doc, conference)

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
