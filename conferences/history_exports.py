"""Exports of the history: the dashboard and any filtered list, as XLSX (openpyxl) and PDF (fpdf2).

The PDF embeds DejaVu Sans (Debian package fonts-dejavu-core), which has every Vietnamese glyph;
without it the export fails loudly rather than printing boxes. XLSX lists every matching
conference with a fixed number of grouped queries (write-only workbook, streamed rows); the PDF
list is capped at ``PDF_MAX_ROWS`` rows and says so.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.db.models import Count, FloatField, Q, Sum
from django.utils import timezone
from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.styles import Font

from conferences.models import Conference, Level
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod, saving_expression
from conferences.reports.search import ATTENDED, history_conferences, history_invitations

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
PDF_MAX_ROWS = 1000
LEVELS = dict(Level.choices)


def _filter_text(fig_filter: dict[str, str]) -> str:
    if not fig_filter:
        return "Toàn bộ lịch sử"
    names = {
        "date_from": "từ",
        "date_to": "đến",
        "unit": "đơn vị",
        "level": "cấp",
        "topic": "chủ đề",
        "q": "tên",
        "successors": "quy về đơn vị kế thừa",
    }
    return "; ".join(f"{names.get(k, k)} {v}" for k, v in fig_filter.items())


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _money(value: int) -> str:
    return f"{value:,}".replace(",", ".") + " đ"


def _summary_rows(fig: dict) -> list[tuple[str, object]]:
    return [
        ("Phạm vi", _filter_text(fig["filter"])),
        ("Số hội nghị", fig["conferences"]),
        *((f"  {row['label']}", row["count"]) for row in fig["by_level"]),
        ("Lượt điểm cầu được mời", fig["invited"]),
        ("Lượt điểm cầu tham dự", fig["attended"]),
        ("Tỷ lệ tham dự", _pct(fig["attendance_rate"])),
        ("Vắng có lý do / không lý do", f"{fig['excused']} / {fig['absent']}"),
        (f"Vào muộn (quá {fig['late_minutes']} phút)", fig["late"]),
        ("Điểm cầu tham dự trung bình mỗi hội nghị", fig["sites_per_conference"]),
        ("Tổng thời lượng (giờ)", round(fig["total_minutes"] / 60, 1)),
        ("Thời lượng trung bình (phút)", fig["average_minutes"]),
        ("Tổng số người dự", fig["headcount"]),
        ("Kinh phí tiết kiệm ước tính", _money(fig["savings"]["total"])),
        ("Quãng đường đi lại tránh được (km)", fig["savings"]["km"]),
    ]


def _tables(fig: dict) -> list[tuple[str, list[str], list[list[object]]]]:
    return [
        (
            "Theo thời gian",
            ["Kỳ", "Số hội nghị"],
            [[r["label"], r["count"]] for r in fig["by_period"]],
        ),
        (
            "Theo đơn vị chủ trì",
            ["Đơn vị", "Số hội nghị"],
            [[r["name"], r["count"]] for r in fig["by_host"]],
        ),
        (
            "Theo chủ đề",
            ["Chủ đề", "Số hội nghị"],
            [[r["name"], r["count"]] for r in fig["by_topic"]],
        ),
        (
            "Chuyên cần theo đơn vị",
            ["Hạng", "Đơn vị", "Mời", "Dự", "Vắng có lý do", "Vắng", "Muộn", "Tỷ lệ"],
            [
                [
                    r["rank"],
                    r["name"],
                    r["invited"],
                    r["attended"],
                    r["excused"],
                    r["absent"],
                    r["late"],
                    _pct(r["rate"]),
                ]
                for r in fig["by_unit"]
            ],
        ),
        (
            "Lý do vắng",
            ["Lý do", "Số lượt"],
            [[r["reason"], r["count"]] for r in fig["absence_reasons"]],
        ),
    ]


# --- XLSX ---------------------------------------------------------------------------------------


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def dashboard_xlsx(fig: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "Tổng quan"
    ws.append(["Báo cáo lịch sử giao ban điện tử", timezone.localtime().strftime("%d/%m/%Y %H:%M")])
    ws["A1"].font = Font(bold=True, size=13)
    for label, value in _summary_rows(fig):
        ws.append([label, value])
    ws.column_dimensions["A"].width = 48
    ws.column_dimensions["B"].width = 40
    for title, header, rows in _tables(fig):
        sheet = wb.create_sheet(title[:31])
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
        sheet.column_dimensions["A"].width = 40 if header[0] != "Hạng" else 8
        sheet.column_dimensions["B"].width = 40
    return _save(wb)


SEARCH_HEADER = [
    "Ngày",
    "Tên hội nghị",
    "Cấp",
    "Đơn vị chủ trì",
    "Chủ đề",
    "Điểm cầu mời",
    "Điểm cầu dự",
    "Thời lượng (phút)",
    "Tiết kiệm (đ)",
    "Mã",
]


def search_rows(user, f: HistoryFilter, *, limit: int | None = None):
    """Rows of the filtered history (newest first) with counts, topics and savings.

    Four queries whatever the number of rows: conferences, grouped invitation counts, topics,
    grouped savings.
    """
    conferences = history_conferences(user, f)
    qs = conferences.order_by("-planned_start", "-id").values_list(
        "id",
        "code",
        "planned_start",
        "title",
        "level",
        "host_unit__name",
        "actual_start",
        "actual_end",
        "planned_end",
    )
    if limit is not None:
        qs = qs[:limit]
    rows = list(qs)
    ids = [r[0] for r in rows]
    scope = conferences if limit is None else Conference.objects.filter(pk__in=ids)
    invitations = history_invitations(user, f, scope)
    counts = {
        r["conference_id"]: (r["invited"], r["attended"])
        for r in invitations.values("conference_id").annotate(
            invited=Count("id"), attended=Count("id", filter=Q(status__in=ATTENDED))
        )
    }
    topics: dict[int, list[str]] = {}
    for conf_id, name in Conference.topics.through.objects.filter(
        conference__in=scope.values("pk")
    ).values_list("conference_id", "topic__name"):
        topics.setdefault(conf_id, []).append(name)
    savings = _all_savings(invitations)
    tz = timezone.get_current_timezone()
    for pk, code, start, title, level, host, a_start, a_end, p_end in rows:
        minutes = round(((a_end or p_end) - (a_start or start)).total_seconds() / 60)
        invited, attended = counts.get(pk, (0, 0))
        yield [
            start.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
            title,
            str(LEVELS.get(level, level)),
            host,
            ", ".join(sorted(topics.get(pk, []))),
            invited,
            attended,
            minutes,
            savings.get(pk, 0),
            str(code),
        ]


def _all_savings(invitations) -> dict[int, int]:
    rows = (
        invitations.filter(status__in=ATTENDED)
        .values("conference_id")
        .annotate(
            total=Sum(saving_expression(SavingsMethod.from_settings()), output_field=FloatField())
        )
    )
    return {r["conference_id"]: round(r["total"] or 0) for r in rows}


def search_xlsx(user, f: HistoryFilter) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Lịch sử hội nghị")
    ws.append(SEARCH_HEADER)
    for row in search_rows(user, f):
        ws.append(row)
    return _save(wb)


# --- PDF ----------------------------------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="L", unit="mm", format="A4")
        if not (FONT_DIR / "DejaVuSans.ttf").exists():
            raise RuntimeError("DejaVu fonts missing: apt-get install fonts-dejavu-core")
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.report_title = title
        self.set_auto_page_break(auto=True, margin=12)
        self.add_page()

    def header(self):
        self.set_font("DejaVu", "B", 13)
        self.cell(0, 8, self.report_title, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 8)
        self.cell(
            0,
            5,
            f"Giao Ban — xuất lúc {timezone.localtime().strftime('%d/%m/%Y %H:%M')}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        self.ln(2)

    def footer(self):
        self.set_y(-10)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 5, f"Trang {self.page_no()}", align="R")

    def section(self, title: str):
        self.ln(2)
        self.set_font("DejaVu", "B", 11)
        self.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list[object]], widths: list[float]):
        self.set_font("DejaVu", "", 8)
        with super().table(
            col_widths=widths, text_align="LEFT", line_height=5, first_row_as_headings=True
        ) as table:
            row = table.row()
            for h in header:
                row.cell(h)
            for values in rows:
                row = table.row()
                for v in values:
                    row.cell(str(v))


def dashboard_pdf(fig: dict) -> bytes:
    pdf = _Pdf("Báo cáo lịch sử giao ban điện tử")
    pdf.section("Tổng quan")
    pdf.table(["Chỉ tiêu", "Giá trị"], [[k.strip(), v] for k, v in _summary_rows(fig)], [110, 150])
    for title, header, rows in _tables(fig):
        if not rows:
            continue
        pdf.section(title)
        if len(header) == 2:
            widths = [190, 40]
        else:
            widths = [14, 110, 20, 20, 28, 18, 18, 22]
        pdf.table(header, rows, widths)
    return bytes(pdf.output())


def search_pdf(user, f: HistoryFilter) -> bytes:
    rows = list(search_rows(user, f, limit=PDF_MAX_ROWS + 1))
    pdf = _Pdf("Lịch sử hội nghị — " + _filter_text(f.as_query()))
    if len(rows) > PDF_MAX_ROWS:
        rows = rows[:PDF_MAX_ROWS]
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(
            0, 5, f"Chỉ in {PDF_MAX_ROWS} hội nghị mới nhất; bản XLSX có đầy đủ danh sách."
        )
    pdf.table(SEARCH_HEADER[:9], [r[:9] for r in rows], [24, 88, 30, 40, 30, 14, 14, 16, 22])
    return bytes(pdf.output())
