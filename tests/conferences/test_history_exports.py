"""Exports in Vietnamese formats, opened and checked: XLSX cells are numbers, rates and dates
with number formats, frozen headers and set widths; the PDFs print 01/01/2021 – 31/12/2022,
12.345 and 97,3 %; the savings page and its exports never show settings' names to leaders."""

from __future__ import annotations

import datetime as dt
import io

import pypdfium2
import pytest
from django.contrib.auth import get_user_model
from openpyxl import load_workbook

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
