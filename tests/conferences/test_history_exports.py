"""Exports in Vietnamese formats, opened and checked: XLSX cells are numbers, rates and dates
with number formats, frozen headers and set widths; the PDFs print 01/01/2021 – 31/12/2022,
12.345 and 97,3 %, and rendered to an image (PDFium, as the province's browsers draw them) show
that text in ink, accents included; the savings page and its exports never show settings' names
to leaders."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import unicodedata

import pypdfium2
import pytest
from django.contrib.auth import get_user_model
from openpyxl import load_workbook

from conferences import history_exports
from tests.conferences.history_helpers import attend, ended_conference

PERIOD = {"date_from": "2021-01-01", "date_to": "2022-12-31"}


@pytest.fixture
def history(org):
    conf = ended_conference(dt.date(2022, 3, 7), title="Hội nghị phòng, chống dịch COVID-19")
    attend(conf, "15-UBND", headcount=30)
    attend(conf, "140", headcount=12)
    attend(conf, "138", status="absent_excused", reason="Trùng lịch công tác")
    other = ended_conference(
        dt.date(2021, 6, 1),
        host="140",
        level="district_to_commune",
        title="Giao ban Văn Chấn với các xã",
    )
    attend(other, "140", headcount=15)
    attend(other, "04630", headcount=6, late_minutes=20)
    return conf, other


def _xlsx(client, what, **params):
    response = client.get(f"/history/export/{what}.xlsx", {**PERIOD, **params})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(response.content))


def _header_row(ws) -> int:
    return int(ws.freeze_panes[1:]) - 1


def _pdf_text(content: bytes) -> str:
    pdf = pypdfium2.PdfDocument(content)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def _check_layout(ws):
    header = _header_row(ws)
    assert header >= 2, ws.title
    assert all(cell.font.bold for cell in ws[header] if cell.value), ws.title
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{header}")
    assert ws["A1"].font.bold
    widths = [ws.column_dimensions[chr(65 + i)].width for i in range(ws.max_column)]
    assert all(w and w >= 6 for w in widths), (ws.title, widths)


def test_dashboard_xlsx_keeps_numbers_rates_and_periods_in_vietnamese_formats(
    history, leader, client_for
):
    wb = _xlsx(client_for(leader), "dashboard")
    for ws in wb.worksheets:
        _check_layout(ws)
    ws = wb["Tổng quan"]
    assert ws["A2"].value == "Kỳ báo cáo: 01/01/2021 – 31/12/2022"
    values = {
        row[0].value: row[1] for row in ws.iter_rows(min_row=_header_row(ws) + 1) if row[0].value
    }
    assert values["Số hội nghị"].value == 2 and values["Số hội nghị"].number_format == "#,##0"
    rate = values["Tỷ lệ tham dự"]
    assert (
        isinstance(rate.value, float)
        and rate.value == pytest.approx(4 / 5)
        and rate.number_format == "0.0%"
    )
    saving = values["Kinh phí tiết kiệm ước tính"]
    assert isinstance(saving.value, int) and saving.number_format == '#,##0 "đ"'
    units = wb["Chuyên cần theo đơn vị"]
    header = [c.value for c in units[_header_row(units)]]
    rates = [
        row[header.index("Tỷ lệ dự")] for row in units.iter_rows(min_row=_header_row(units) + 1)
    ]
    assert rates and all(
        isinstance(c.value, int | float) and c.number_format == "0.0%" for c in rates
    )


def test_search_xlsx_has_real_dates_counts_and_rates(history, leader, client_for):
    wb = _xlsx(client_for(leader), "search")
    ws = wb.active
    _check_layout(ws)
    header = [c.value for c in ws[_header_row(ws)]]
    first = next(ws.iter_rows(min_row=_header_row(ws) + 1))
    day = first[header.index("Ngày")]
    assert day.value == dt.datetime(2022, 3, 7, 8, 0) and day.number_format == "dd/mm/yyyy hh:mm"
    assert (
        first[header.index("Điểm cầu mời")].value == 3
        and first[header.index("Điểm cầu mời")].number_format == "#,##0"
    )
    rate = first[header.index("Tỷ lệ dự")]
    assert rate.value == pytest.approx(2 / 3) and rate.number_format == "0.0%"
    assert first[header.index("Tiết kiệm")].number_format == '#,##0 "đ"'


def test_pdfs_print_vietnamese_periods_numbers_and_percentages(history, leader, client_for):
    client = client_for(leader)
    for what in ("dashboard", "search", "savings"):
        response = client.get(f"/history/export/{what}.pdf", PERIOD)
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf", what
        text = _pdf_text(response.content)
        assert "01/01/2021 – 31/12/2022" in text, what
        assert "SAVINGS_" not in text, what
    dashboard = _pdf_text(client.get("/history/export/dashboard.pdf", PERIOD).content)
    assert "80,0 %" in dashboard  # 4 of 5 invited sites attended
    assert "07/03/2022 08:00" in _pdf_text(client.get("/history/export/search.pdf", PERIOD).content)


def test_savings_page_and_exports_show_values_not_settings_names_to_leaders(
    history, leader, client_for, settings
):
    settings.SAVINGS_COST_PER_KM = 12_345
    client = client_for(leader)
    html = client.get("/history/savings/", PERIOD).content.decode()
    assert "SAVINGS_" not in html
    assert "12.345 đ" in html and "quản trị hệ thống" in html
    assert "/history/export/savings.xlsx" in html and "/history/export/savings.pdf" in html
    wb = _xlsx(client, "savings")
    assert wb.sheetnames == ["Tổng hợp", "Theo đơn vị", "Theo hội nghị"]
    for ws in wb.worksheets:
        _check_layout(ws)
        assert ws["A2"].value == "Kỳ báo cáo: 01/01/2021 – 31/12/2022", ws.title
    for title, formats in (
        ("Theo đơn vị", {"Lượt tham dự": "#,##0", "Tiết kiệm": '#,##0 "đ"'}),
        ("Theo hội nghị", {"Ngày": "dd/mm/yyyy hh:mm", "Điểm cầu dự": "#,##0", "Tiết kiệm": '#,##0 "đ"'}),
    ):  # fmt: skip
        ws = wb[title]
        header = [c.value for c in ws[_header_row(ws)]]
        rows = list(ws.iter_rows(min_row=_header_row(ws) + 1))
        assert rows, title
        for name, number_format in formats.items():
            cells = [row[header.index(name)] for row in rows]
            assert all(
                not isinstance(c.value, str) and c.number_format == number_format for c in cells
            ), (title, name)
    summary = wb["Tổng hợp"]
    values = {
        row[0].value: row[1]
        for row in summary.iter_rows(min_row=_header_row(summary) + 1)
        if row[0].value
    }
    cost = values["Chi phí đi lại mỗi km (một xe mỗi điểm cầu, tính khứ hồi)"]
    assert cost.value == 12_345 and cost.number_format == '#,##0 "đ"'
    assert not any(
        "SAVINGS_" in str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
    )
    by_conference = wb["Theo hội nghị"]
    assert by_conference.max_row - _header_row(by_conference) == 2

    admin = get_user_model().objects.create_superuser(
        "exp_admin", "e@example.test", "pw-Test-12345"
    )
    assert "SAVINGS_COST_PER_KM" in client_for(admin).get("/history/savings/").content.decode()


def test_exports_of_another_districts_unit_are_refused(history, vanchan_clerk, client_for):
    client = client_for(vanchan_clerk)
    for what in ("dashboard", "search", "savings"):
        for fmt in ("xlsx", "pdf"):
            assert client.get(f"/history/export/{what}.{fmt}", {"unit": "138"}).status_code == 400


# --- PDFs as a leader sees them -----------------------------------------------------------------

RENDER_SCALE = 4  # 288 dpi: a 13 pt title is ~52 px high, the gap under an accent several px
INK = 128  # a pixel darker than this (of 255) is ink
PDF_TITLES = {
    "dashboard": "Báo cáo lịch sử giao ban điện tử",
    "search": "Lịch sử hội nghị",
    "savings": "Kinh phí tiết kiệm nhờ họp trực tuyến",
}
SECTION_TITLES = {
    "Tổng quan",
    "Tổng hợp và phương pháp tính",
    "Theo đơn vị dự",
    "Theo hội nghị",
    *(title for title, _cols, _rows in history_exports._dashboard_tables({
        "by_level": [], "by_period": [], "by_host": [], "by_topic": [], "by_unit": [],
        "absence_reasons": [],
    })),
}  # fmt: skip
# an English or raw rendering of a figure: 97.3%, 0.973, 1,234, 1234567 (no separators)
NOT_VIETNAMESE = re.compile(r"\d\.\d{1,2} ?%|\b0\.\d|\d,\d{3}\b|\d{4,}(?!/)\s*đ")
ABOVE = {"\u0300", "\u0301", "\u0302", "\u0303", "\u0306", "\u0309"}


def _rendered(content: bytes, find: tuple[str, ...]):
    """Each page as (grayscale image, its text, {string of ``find`` on it: its glyphs' pixel
    boxes}), read through PDFium's text layer."""
    pdf = pypdfium2.PdfDocument(content)
    pages = []
    try:
        for page in pdf:
            image = page.render(scale=RENDER_SCALE).to_pil().convert("L")
            textpage = page.get_textpage()
            height = page.get_height()
            boxes = {}
            for text in find:
                found = textpage.search(text, match_case=True).get_next()
                if found:
                    start, count = found
                    boxes[text] = [
                        (
                            round(left * RENDER_SCALE),
                            round((height - top) * RENDER_SCALE),
                            round(right * RENDER_SCALE) + 1,
                            round((height - bottom) * RENDER_SCALE) + 1,
                        )
                        for left, bottom, right, top in map(
                            textpage.get_charbox, range(start, start + count)
                        )
                    ]
            pages.append((image, textpage.get_text_range(), boxes))
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return pages


def _ink(image, box=None) -> float:
    region = image.crop(box) if box else image
    histogram = region.histogram()
    return sum(histogram[:INK]) / max(1, sum(histogram))


def _ink_rows(image, box) -> list[bool]:
    region = image.crop(box)
    width, pixels = region.width, region.tobytes()
    return [any(v < INK for v in pixels[y * width : (y + 1) * width]) for y in range(region.height)]


def _accent_drawn_apart(image, box) -> bool:
    """The glyph's ink has a blank row between the mark above and the letter: an accent, not
    a .notdef box (ink on every row) or a bare letter."""
    rows = _ink_rows(image, box)
    inked = [i for i, ink in enumerate(rows) if ink]
    return bool(inked) and not all(rows[inked[0] : inked[-1] + 1])


@pytest.mark.parametrize("what", ["dashboard", "search", "savings"])
def test_pdf_rendered_as_an_image_shows_vietnamese_text_period_and_numbers(
    what, history, leader, client_for, caplog
):
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        response = client_for(leader).get(f"/history/export/{what}.pdf", PERIOD)
    assert response.status_code == 200
    assert not [r for r in caplog.records if "missing the following glyphs" in r.getMessage()]
    title, period = PDF_TITLES[what], "01/01/2021 – 31/12/2022"
    pages = _rendered(response.content, (title, period))
    for number, (image, text, _boxes) in enumerate(pages, start=1):
        # not blank, not a black page: A4 of tables and text is a few per cent ink
        assert 0.003 < _ink(image) < 0.3, (what, number, _ink(image))
        # PDFium reads the footer's page total (fpdf2's {nb} alias) as a line of its own
        match = re.fullmatch(r"(.*)\sTrang (\d+)/\s*(\d+)\s*", text, re.S)
        assert match, (what, number, text[-40:])
        body, *footer = match.groups()
        assert footer == [str(number), str(len(pages))], (what, number, footer)
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        # a section's title is never left alone at the foot of a page, its table on the next
        assert lines[-1] not in SECTION_TITLES, (what, number, lines[-3:])
        assert not NOT_VIETNAMESE.search(text), (what, number, NOT_VIETNAMESE.search(text))
    image, text, boxes = pages[0]
    assert text.splitlines()[0].strip() == title
    assert f"Kỳ báo cáo: {period}" in text
    assert "Phạm vi: tất cả hội nghị trong phạm vi của bạn" in text
    # what the text layer says is drawn where it says: ink inside every glyph of the title and
    # the period, and each accented letter of the title drawn with its accent apart
    for line in (title, period):
        assert line in boxes, (what, line)
        for char, pixel_box in zip(line, boxes[line], strict=True):
            if not char.isspace():
                assert _ink(image, pixel_box) > 0.05, (what, char, pixel_box)
    accented = [
        (char, pixel_box)
        for char, pixel_box in zip(title, boxes[title], strict=True)
        if ABOVE & set(unicodedata.normalize("NFD", char))
    ]
    assert accented, title
    for char, pixel_box in accented:
        assert _accent_drawn_apart(image, pixel_box), (what, char)
    everything = "\n".join(t for _i, t, _b in pages)
    if what in ("dashboard", "savings"):
        assert "3.840.000 đ" in everything  # the fixture's savings, dot thousands
        assert "Huyện Văn Chấn" in everything
    if what == "dashboard":
        assert "Tỷ lệ tham dự 80,0 %" in everything and "Tỷ lệ đúng giờ 75,0 %" in everything
    if what == "search":
        assert "66,7 %" in everything and "Hội nghị phòng, chống dịch COVID-19" in everything
