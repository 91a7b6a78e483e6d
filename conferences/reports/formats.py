"""Vietnamese formats of the history's figures: pages and PDFs print text, XLSX keeps numbers.

Text (pages, PDF): 12.345 (dot thousands), 97,3 % (comma decimals), 1.234.000 đ, 01/01/2021 –
31/12/2022. XLSX: the same figures stay numbers and dates with number formats
(``XLSX_FORMATS``): a spreadsheet sums and sorts them and shows them with the reader's separators
(dots and commas on a Vietnamese system); rates are fractions shown as percentages.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

XLSX_FORMATS = {
    "int": "#,##0",
    "decimal": "#,##0.0",
    "percent": "0.0%",
    "money": '#,##0 "đ"',
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
}


def vn_number(value: float | int | None, decimals: int = 0) -> str:
    """12345.6 → "12.345,6" (decimals=1); None → "—"."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def vn_percent(ratio: float | None, decimals: int = 1) -> str:
    """0.973 → "97,3 %"."""
    if ratio is None:
        return "—"
    return f"{vn_number(ratio * 100, decimals)} %"


def vn_money(value: int | float | None) -> str:
    return "—" if value is None else f"{vn_number(value)} đ"


def vn_money_short(value: int) -> str:
    """A big amount at a glance: "1,25 tỷ đồng", "350,5 triệu đồng"."""
    if value >= 1_000_000_000:
        return f"{vn_number(value / 1_000_000_000, 2)} {_('tỷ đồng')}"
    if value >= 1_000_000:
        return f"{vn_number(value / 1_000_000, 1)} {_('triệu đồng')}"
    return vn_money(value)


def vn_date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value)
    return value.strftime("%d/%m/%Y")


def vn_datetime(value: dt.datetime | None) -> str:
    return "—" if value is None else timezone.localtime(value).strftime("%d/%m/%Y %H:%M")


def vn_period(date_from: dt.date | None, date_to: dt.date | None) -> str:
    """ "01/01/2021 – 31/12/2022", or an open end in words."""
    if date_from and date_to:
        return f"{vn_date(date_from)} – {vn_date(date_to)}"
    if date_from:
        return _("từ %(d)s") % {"d": vn_date(date_from)}
    if date_to:
        return _("đến %(d)s") % {"d": vn_date(date_to)}
    return _("toàn bộ lịch sử")


def xlsx_value(value):
    """A value openpyxl can store: aware datetimes become local naive ones (XLSX has no zones)."""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)
    return value
