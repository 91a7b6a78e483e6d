"""Exports of the history: the dashboard, any filtered list and the savings, as XLSX (openpyxl)
and PDF (fpdf2), in Vietnamese formats (``reports.formats``).

XLSX keeps numbers, rates and dates as such (number formats ``#,##0``, ``0.0%``, ``dd/mm/yyyy``):
a leader's spreadsheet sums and sorts them, and shows them with the reader's separators. Every
sheet has a heading (what, which period, which scope, when exported), a bold header row frozen
under it with a filter, and column widths set per column. Lists stream (write-only workbooks,
a fixed number of grouped queries); the PDF list is capped at ``PDF_MAX_ROWS`` rows and says so.
The PDF embeds DejaVu Sans (Debian package fonts-dejavu-core), which has every Vietnamese glyph;
without it the export fails loudly rather than printing boxes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Count, FloatField, Q, Sum
from django.utils import timezone
from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill

from conferences.models import Conference, Level
from conferences.reports.filters import HistoryFilter
from conferences.reports.formats import (
    XLSX_FORMATS,
    vn_datetime,
    vn_money,
    vn_number,
    vn_percent,
    vn_period,
    xlsx_value,
)
from conferences.reports.savings import SavingsMethod, saving_expression
from conferences.reports.search import (
    ATTENDED,
    history_conferences,
    history_invitations,
    newest_or_best_first,
)

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
PDF_MAX_ROWS = 1000
SECTION_KEEP_ROWS = 3  # a PDF section starts on a new page unless its header + 2 rows fit
LEVELS = dict(Level.choices)
HEADER_FILL = PatternFill("solid", fgColor="DCE6F2")


@dataclass(frozen=True)
class Col:
    title: str
    kind: str = "text"  # text | int | decimal | percent | money | date | datetime
    width: float = 14
    pdf_width: float = 0  # mm; 0 = not printed


@dataclass(frozen=True)
class Typed:
    """A cell whose kind differs from its column's (the "Giá trị" column of the summary)."""

    value: Any
    kind: str


def scope_text(f: HistoryFilter) -> str:
    """The filter in words, for headings: unit, level, topic, words, mapping."""
    parts = []
    if f.unit:
        parts.append(f"đơn vị {f.unit.name} ({f.unit.code}) và cấp dưới")
    if f.level:
        parts.append(f"cấp {LEVELS.get(f.level, f.level)}")
    if f.topic:
        parts.append(f"chủ đề {f.topic.name}")
    if f.q:
        parts.append(f"tên có các từ “{f.q}”")
    if f.successors:
        parts.append("quy về đơn vị kế thừa")
    return "; ".join(parts) or "tất cả hội nghị trong phạm vi của bạn"


def _heading(title: str, f: HistoryFilter) -> list[str]:
    return [
        title,
        f"Kỳ báo cáo: {vn_period(f.date_from, f.date_to)}",
        f"Phạm vi: {scope_text(f)}",
        f"Xuất lúc: {vn_datetime(timezone.now())} — Giao Ban",
    ]


def _text(value: Any, kind: str) -> str:
    """A cell as the PDF prints it."""
    if isinstance(value, Typed):
        value, kind = value.value, value.kind
    if value is None or value == "":
        return ""
    if kind == "int":
        return vn_number(value)
    if kind == "decimal":
        return vn_number(value, 1)
    if kind == "percent":
        return vn_percent(value)
    if kind == "money":
        return vn_money(value)
    if kind == "datetime":
        return vn_datetime(value)
    if kind == "date":
        return value.strftime("%d/%m/%Y")
    return str(value)


# --- XLSX ---------------------------------------------------------------------------------------


def _cell(ws, value: Any, kind: str, **style) -> WriteOnlyCell:
    if isinstance(value, Typed):
        value, kind = value.value, value.kind
    cell = WriteOnlyCell(ws, value=xlsx_value(value))
    if kind in XLSX_FORMATS and value is not None:
        cell.number_format = XLSX_FORMATS[kind]
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _sheet(wb: Workbook, title: str, heading: list[str], cols: list[Col], rows) -> None:
    """One table: heading lines, a blank line, the bold header (frozen, filterable), the rows."""
    ws = wb.create_sheet(title[:31])
    header_row = len(heading) + 2
    ws.freeze_panes = f"A{header_row + 1}"
    for i, col in enumerate(cols):
        ws.column_dimensions[_letter(i)].width = col.width
    ws.auto_filter.ref = f"A{header_row}:{_letter(len(cols) - 1)}{header_row}"
    for i, line in enumerate(heading):
        ws.append([_cell(ws, line, "text", font=Font(bold=i == 0, size=13 if i == 0 else 10))])
    ws.append([])
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append(
        [
            _cell(ws, c.title, "text", font=Font(bold=True), fill=HEADER_FILL, alignment=wrap)
            for c in cols
        ]
    )
    for row in rows:
        ws.append([_cell(ws, value, col.kind) for value, col in zip(row, cols, strict=True)])


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- what the dashboard exports -----------------------------------------------------------------

SUMMARY_COLS = [Col("Chỉ tiêu", width=46, pdf_width=110), Col("Giá trị", width=22, pdf_width=60)]


def _summary_rows(fig: dict) -> list[list[Any]]:
    return [
        ["Số hội nghị", Typed(fig["conferences"], "int")],
        *([f"    {row['label']}", Typed(row["count"], "int")] for row in fig["by_level"]),
        ["Lượt điểm cầu được mời", Typed(fig["invited"], "int")],
        ["Lượt điểm cầu tham dự", Typed(fig["attended"], "int")],
        ["Tỷ lệ tham dự", Typed(fig["attendance_rate"], "percent")],
        ["Vắng có lý do", Typed(fig["excused"], "int")],
        ["Vắng không lý do", Typed(fig["absent"], "int")],
        [f"Vào muộn (quá {fig['late_minutes']} phút)", Typed(fig["late"], "int")],
        ["Tỷ lệ đúng giờ", Typed(fig["punctuality_rate"], "percent")],
        ["Điểm cầu tham dự trung bình mỗi hội nghị", Typed(fig["sites_per_conference"], "decimal")],
        ["Tổng thời lượng (giờ)", Typed(round(fig["total_minutes"] / 60, 1), "decimal")],
        ["Thời lượng trung bình (phút)", Typed(fig["average_minutes"], "int")],
        ["Tổng số người dự tại các điểm cầu", Typed(fig["headcount"], "int")],
        ["Kinh phí tiết kiệm ước tính", Typed(fig["savings"]["total"], "money")],
        ["Quãng đường đi lại tránh được (km)", Typed(fig["savings"]["km"], "int")],
    ]


UNIT_ATTENDANCE_COLS = [
    Col("Hạng", "int", 7, 12), Col("Mã", width=9, pdf_width=16), Col("Đơn vị", width=38, pdf_width=80),
    Col("Mời", "int", 9, 16), Col("Dự", "int", 9, 16), Col("Vắng có lý do", "int", 11, 22),
    Col("Vắng", "int", 9, 16), Col("Muộn", "int", 9, 16), Col("Tỷ lệ dự", "percent", 10, 20),
    Col("Tiết kiệm", "money", 16, 36),
]  # fmt: skip


def _dashboard_tables(fig: dict) -> list[tuple[str, list[Col], list[list[Any]]]]:
    name, count = Col("Đơn vị", width=44, pdf_width=150), Col("Số hội nghị", "int", 14, 30)
    return [
        (
            "Theo cấp",
            [Col("Cấp hội nghị", width=44, pdf_width=150), count],
            [[r["label"], r["count"]] for r in fig["by_level"]],
        ),
        (
            "Theo thời gian",
            [Col("Kỳ", width=14, pdf_width=40), count],
            [[r["label"], r["count"]] for r in fig["by_period"]],
        ),
        ("Theo đơn vị chủ trì", [name, count], [[r["name"], r["count"]] for r in fig["by_host"]]),
        (
            "Theo chủ đề",
            [Col("Chủ đề", width=44, pdf_width=150), count],
            [[r["name"], r["count"]] for r in fig["by_topic"]],
        ),
        (
            "Chuyên cần theo đơn vị",
            UNIT_ATTENDANCE_COLS,
            [
                [
                    r["rank"],
                    r["code"],
                    r["name"],
                    r["invited"],
                    r["attended"],
                    r["excused"],
                    r["absent"],
                    r["late"],
                    r["rate"],
                    r["saving"],
                ]
                for r in fig["by_unit"]
            ],
        ),
        (
            "Lý do vắng",
            [Col("Lý do", width=44, pdf_width=150), Col("Số lượt", "int", 12, 30)],
            [[r["reason"], r["count"]] for r in fig["absence_reasons"]],
        ),
    ]


def dashboard_xlsx(fig: dict, f: HistoryFilter) -> bytes:
    wb = Workbook(write_only=True)
    _sheet(
        wb,
        "Tổng quan",
        _heading("Báo cáo lịch sử giao ban điện tử", f),
        SUMMARY_COLS,
        _summary_rows(fig),
    )
    for title, cols, rows in _dashboard_tables(fig):
        _sheet(wb, title, _heading(f"Báo cáo lịch sử giao ban — {title.lower()}", f), cols, rows)
    return _save(wb)


# --- the filtered list --------------------------------------------------------------------------

SEARCH_COLS = [
    Col("Ngày", "datetime", 17, 30), Col("Tên hội nghị", width=60, pdf_width=82), Col("Cấp", width=22, pdf_width=30),
    Col("Đơn vị chủ trì", width=28, pdf_width=36), Col("Chủ đề", width=24, pdf_width=28), Col("Điểm cầu mời", "int", 11, 14),
    Col("Điểm cầu dự", "int", 11, 14), Col("Tỷ lệ dự", "percent", 10, 16), Col("Thời lượng (phút)", "int", 11, 0),
    Col("Tiết kiệm", "money", 16, 26), Col("Mã hội nghị", width=38),
]  # fmt: skip


def search_rows(user, f: HistoryFilter, *, limit: int | None = None):
    """Rows of the filtered history (newest or best match first) with counts, topics, savings.

    Four queries whatever the number of rows: conferences, grouped invitation counts, topics,
    grouped savings.
    """
    conferences = history_conferences(user, f)
    qs = newest_or_best_first(conferences, f).values_list(
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
    for pk, code, start, title, level, host, a_start, a_end, p_end in rows:
        minutes = round(((a_end or p_end) - (a_start or start)).total_seconds() / 60)
        invited, attended = counts.get(pk, (0, 0))
        yield [
            start, title, str(LEVELS.get(level, level)), host, ", ".join(sorted(topics.get(pk, []))), invited, attended,
            attended / invited if invited else None, minutes, savings.get(pk, 0), str(code),
        ]  # fmt: skip


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
    _sheet(
        wb, "Lịch sử hội nghị", _heading("Lịch sử hội nghị", f), SEARCH_COLS, search_rows(user, f)
    )
    return _save(wb)


# --- the savings --------------------------------------------------------------------------------


def method_rows(method: SavingsMethod) -> list[list[Any]]:
    """The savings method's parameters as values with their units (never the settings' names)."""
    return [
        [
            "Chi phí đi lại mỗi km (một xe mỗi điểm cầu, tính khứ hồi)",
            Typed(method.cost_per_km, "money"),
        ],
        ["Công tác phí mỗi người", Typed(method.per_diem, "money")],
        [
            "Tính công tác phí khi khoảng cách một chiều từ (km)",
            Typed(method.per_diem_min_km, "int"),
        ],
        ["Số người mỗi điểm cầu khi không ghi số người dự", Typed(method.default_attendees, "int")],
    ]


METHOD_NOTE = (
    "Các tham số do quản trị hệ thống đặt trong cấu hình máy chủ (tài liệu vận hành, mục “Kinh phí tiết kiệm”); "
    "muốn thay đổi, đề nghị liên hệ quản trị viên."
)
SAVINGS_CONF_COLS = [
    Col("Ngày", "datetime", 17, 30), Col("Tên hội nghị", width=60, pdf_width=118), Col("Đơn vị chủ trì", width=28, pdf_width=50),
    Col("Điểm cầu dự", "int", 11, 22), Col("Tiết kiệm", "money", 16, 36),
]  # fmt: skip
SAVINGS_UNIT_COLS = [
    Col("Mã", width=9, pdf_width=20),
    Col("Đơn vị", width=40, pdf_width=120),
    Col("Lượt tham dự", "int", 12, 30),
    Col("Tiết kiệm", "money", 16, 40),
]


def _savings_summary(fig: dict, method: SavingsMethod) -> list[list[Any]]:
    return [
        ["Tổng kinh phí tiết kiệm ước tính", Typed(fig["savings"]["total"], "money")],
        ["Quãng đường đi lại (khứ hồi) tránh được (km)", Typed(fig["savings"]["km"], "int")],
        ["Lượt người dự tại các điểm cầu", Typed(fig["savings"]["attendees"], "int")],
        ["Số hội nghị", Typed(fig["conferences"], "int")],
        *method_rows(method),
        ["Ghi chú", METHOD_NOTE],
    ]


def _savings_by_unit(fig: dict) -> list[list[Any]]:
    rows = sorted(fig["by_unit"], key=lambda r: (-r["saving"], r["code"]))
    return [[r["code"], r["name"], r["attended"], r["saving"]] for r in rows]


def _savings_by_conference(user, f: HistoryFilter, *, limit: int | None = None):
    for row in search_rows(user, f, limit=limit):
        yield [row[0], row[1], row[3], row[6], row[9]]


def savings_xlsx(user, f: HistoryFilter, fig: dict, method: SavingsMethod) -> bytes:
    wb = Workbook(write_only=True)
    _sheet(
        wb,
        "Tổng hợp",
        _heading("Kinh phí tiết kiệm nhờ họp trực tuyến", f),
        SUMMARY_COLS,
        _savings_summary(fig, method),
    )
    _sheet(
        wb,
        "Theo đơn vị",
        _heading("Kinh phí tiết kiệm theo đơn vị dự", f),
        SAVINGS_UNIT_COLS,
        _savings_by_unit(fig),
    )
    _sheet(
        wb,
        "Theo hội nghị",
        _heading("Kinh phí tiết kiệm theo hội nghị", f),
        SAVINGS_CONF_COLS,
        _savings_by_conference(user, f),
    )
    return _save(wb)


# --- PDF ----------------------------------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, heading: list[str]):
        super().__init__(orientation="L", unit="mm", format="A4")
        if not (FONT_DIR / "DejaVuSans.ttf").exists():
            raise RuntimeError("DejaVu fonts missing: apt-get install fonts-dejavu-core")
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.heading = heading
        self.set_auto_page_break(auto=True, margin=12)
        self.add_page()

    def header(self):
        self.set_font("DejaVu", "B", 13)
        self.cell(0, 8, self.heading[0], new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 8)
        for line in self.heading[1:]:
            self.cell(0, 4.5, line, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self):
        self.set_y(-10)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 5, f"Trang {self.page_no()}/{{nb}}", align="R")

    def section(self, title: str):
        # a title keeps its table's header and first rows with it: never alone at a page's foot
        if self.will_page_break(2 + 7 + SECTION_KEEP_ROWS * 5):
            self.add_page()
        else:
            self.ln(2)
        self.set_font("DejaVu", "B", 11)
        self.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")

    def note(self, text: str):
        self.set_font("DejaVu", "", 9)
        self.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")

    def table(self, cols: list[Col], rows):
        cols_shown = [(i, c) for i, c in enumerate(cols) if c.pdf_width]
        self.set_font("DejaVu", "", 8)
        numeric = {"int", "decimal", "percent", "money"}
        widths = [c.pdf_width for _, c in cols_shown]
        # the columns' own widths (mm), not stretched over the page: a label stays near its value
        with super().table(
            width=min(sum(widths), self.epw),
            col_widths=widths,
            align="LEFT",
            line_height=5,
            first_row_as_headings=True,
        ) as table:
            row = table.row()
            for _, c in cols_shown:
                row.cell(c.title)
            for values in rows:
                row = table.row()
                for i, c in cols_shown:
                    value = values[i]
                    kind = value.kind if isinstance(value, Typed) else c.kind
                    row.cell(_text(value, c.kind), align="RIGHT" if kind in numeric else "LEFT")


def dashboard_pdf(fig: dict, f: HistoryFilter) -> bytes:
    pdf = _Pdf(_heading("Báo cáo lịch sử giao ban điện tử", f))
    pdf.section("Tổng quan")
    pdf.table(SUMMARY_COLS, _summary_rows(fig))
    for title, cols, rows in _dashboard_tables(fig):
        if rows:
            pdf.section(title)
            pdf.table(cols, rows)
    return bytes(pdf.output())


def search_pdf(user, f: HistoryFilter) -> bytes:
    rows = list(search_rows(user, f, limit=PDF_MAX_ROWS + 1))
    pdf = _Pdf(_heading("Lịch sử hội nghị", f))
    if len(rows) > PDF_MAX_ROWS:
        rows = rows[:PDF_MAX_ROWS]
        pdf.note(
            f"Chỉ in {vn_number(PDF_MAX_ROWS)} hội nghị đầu danh sách; bản XLSX có đầy đủ danh sách."
        )
    pdf.table(SEARCH_COLS, rows)
    return bytes(pdf.output())


def savings_pdf(user, f: HistoryFilter, fig: dict, method: SavingsMethod) -> bytes:
    pdf = _Pdf(_heading("Kinh phí tiết kiệm nhờ họp trực tuyến", f))
    pdf.section("Tổng hợp và phương pháp tính")
    pdf.table(SUMMARY_COLS, _savings_summary(fig, method)[:-1])
    pdf.note(
        "Với mỗi điểm cầu thực sự tham dự: d = |khoảng cách tới trung tâm tỉnh của đơn vị dự − của đơn vị chủ trì|; "
        "đi lại = 2 × d × chi phí mỗi km; công tác phí = số người × công tác phí mỗi người khi d đạt ngưỡng. "
        + METHOD_NOTE
    )
    units = _savings_by_unit(fig)
    if units:
        pdf.section("Theo đơn vị dự")
        pdf.table(SAVINGS_UNIT_COLS, units)
    conferences = list(_savings_by_conference(user, f, limit=PDF_MAX_ROWS + 1))
    if conferences:
        pdf.section("Theo hội nghị")
        if len(conferences) > PDF_MAX_ROWS:
            conferences = conferences[:PDF_MAX_ROWS]
            pdf.note(
                f"Chỉ in {vn_number(PDF_MAX_ROWS)} hội nghị đầu danh sách; bản XLSX có đầy đủ danh sách."
            )
        pdf.table(SAVINGS_CONF_COLS, conferences)
    return bytes(pdf.output())
