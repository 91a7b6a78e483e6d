"""Our own SVG charts for the leader's overview, drawn on the server: no library, no network,
no script — they print, and read on a tablet at any width (a viewBox scales them)."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from conferences.reports.formats import vn_number

register = template.Library()


@register.simple_tag
def monthly_bars(rows: list[dict], this_year: int, last_year: int, title: str) -> str:
    """Conferences per month: last year's bar (grey) beside this year's (blue), values on top."""
    width, height, left, bottom, top = 720, 250, 34, 30, 26
    slot = (width - left - 8) / max(len(rows), 1)
    peak = max([1, *(max(r["this_year"], r["last_year"]) for r in rows)])
    scale = (height - bottom - top) / peak
    parts = [
        f'<svg class="svgchart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="mb-title">',
        f'<title id="mb-title">{escape(title)}</title>',
        f'<line x1="{left}" x2="{width - 6}" y1="{height - bottom}" y2="{height - bottom}" class="axis"/>',
    ]
    for i, row in enumerate(rows):
        x = left + i * slot
        bar = slot * 0.36
        for j, (key, css) in enumerate((("last_year", "bar prev"), ("this_year", "bar"))):
            if key == "this_year" and row["future"]:
                continue
            value = row[key]
            h = value * scale
            bx = x + slot * 0.12 + j * (bar + 2)
            parts.append(
                f'<rect x="{bx:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" rx="2" class="{css}"><title>{value}</title></rect>'
            )
            if value:
                parts.append(
                    f'<text x="{bx + bar / 2:.1f}" y="{height - bottom - h - 4:.1f}" class="val" text-anchor="middle">{vn_number(value)}</text>'
                )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 18}" text-anchor="middle">Th{row["month"].month}</text>'
        )
    legend_y = 14
    parts.append(
        f'<rect x="{left}" y="{legend_y - 9}" width="12" height="10" class="bar prev"/><text x="{left + 16}" y="{legend_y}">{last_year}</text>'
    )
    parts.append(
        f'<rect x="{left + 70}" y="{legend_y - 9}" width="12" height="10" class="bar"/><text x="{left + 86}" y="{legend_y}">{this_year}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated value is a number or escaped


@register.simple_tag
def level_bars(
    this: list[dict], last: list[dict], this_year: int, last_year: int, title: str
) -> str:
    """Conferences by level this year so far against the same months of last year."""
    width, row_h, label_w = 520, 56, 110
    height = row_h * len(this) + 10
    peak = max([1, *(r["count"] for r in this), *(r["count"] for r in last)])
    scale = (width - label_w - 70) / peak
    parts = [
        f'<svg class="svgchart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="lb-title"><title id="lb-title">{escape(title)}</title>'
    ]
    for i, (now, before) in enumerate(zip(this, last, strict=True)):
        y = 6 + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 26}" text-anchor="end" class="label">{escape(now["label"])}</text>'
        )
        for j, (row, css, year) in enumerate(
            ((before, "bar prev", last_year), (now, "bar", this_year))
        ):
            w = max(2.0, row["count"] * scale)
            by = y + 4 + j * 22
            parts.append(
                f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="18" rx="3" class="{css}"><title>{year}: {row["count"]}</title></rect>'
            )
            parts.append(
                f'<text x="{label_w + w + 6:.1f}" y="{by + 14}" class="val">{vn_number(row["count"])}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated value is a number or escaped
