"""The filter every history page, export and API call shares, and the form that parses it.

Bad input (unknown unit, a unit outside the user's subtrees, a reversed or absurd period) is a
form error, never an exception: views answer 400 with the reasons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conferences.folding import fold_words
from conferences.models import Level, Topic
from conferences.reports.units import Ambiguous, resolve_unit
from portal import permissions as org
from portal.models import Unit

MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)


@dataclass(frozen=True)
class HistoryFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    unit: Unit | None = None
    level: str = ""
    topic: Topic | None = None
    q: str = ""
    successors: bool = False

    def period_bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """Aware datetimes [start, end) of the period in the portal's time zone."""
        tz = timezone.get_current_timezone()
        start = (
            dt.datetime.combine(self.date_from, dt.time.min, tzinfo=tz) if self.date_from else None
        )
        end = (
            dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
            if self.date_to
            else None
        )
        return start, end

    def as_query(self) -> dict[str, str]:
        """The filter as GET parameters (links to exports and the API keep the same selection)."""
        out: dict[str, str] = {}
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        if self.unit:
            out["unit"] = self.unit.code
        if self.level:
            out["level"] = self.level
        if self.topic:
            out["topic"] = self.topic.slug
        if self.q:
            out["q"] = self.q
        if self.successors:
            out["successors"] = "1"
        return out


class UnitInput(forms.TextInput):
    """The unit field: type a name or a code; units within reach are offered as you type."""

    template_name = "conferences/widgets/unit_input.html"

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", **(attrs or {})})


def units_within_reach(user):
    """Units a user may filter history by: inside the subtrees where they hold a role (or succeeding one)."""
    if org.is_superuser(user):
        return Unit.objects.all()
    from conferences.permissions import ALL_ROLES

    # A successor of a unit in reach is in reach too: "map to successors" reports may name it.
    return Unit.objects.filter(
        org.units_q(user, ALL_ROLES)
        | org.units_q(user, ALL_ROLES, prefix="predecessors__")
        | Q(sites__in=org.sites_operated_by(user).values("pk"))
    ).distinct()


class HistoryFilterForm(forms.Form):
    date_from = forms.DateField(
        label=_("Từ ngày"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Đến ngày"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    unit = forms.CharField(
        label=_("Đơn vị (tên hoặc mã, gồm cả đơn vị cấp dưới)"),
        required=False,
        max_length=200,
        widget=UnitInput,
    )
    level = forms.ChoiceField(
        label=_("Cấp hội nghị"), required=False, choices=[("", _("Tất cả")), *Level.choices]
    )
    topic = forms.CharField(label=_("Chủ đề"), required=False, max_length=120)
    q = forms.CharField(label=_("Tìm theo từ trong tên"), required=False, max_length=200)
    successors = forms.BooleanField(label=_("Quy về đơn vị kế thừa (sau 07/2025)"), required=False)

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        self.fields["topic"].widget = forms.Select(
            choices=[("", _("Tất cả")), *((t.slug, t.name) for t in Topic.objects.all())]
        )

    def clean_date_from(self):
        return self._in_range(self.cleaned_data.get("date_from"))

    def clean_date_to(self):
        return self._in_range(self.cleaned_data.get("date_to"))

    @staticmethod
    def _in_range(value):
        if value and not (MIN_DATE <= value <= MAX_DATE):
            raise forms.ValidationError(_("Ngày phải nằm trong khoảng 2000–2100."))
        return value

    def clean_unit(self):
        text = (self.cleaned_data.get("unit") or "").strip()
        if not text:
            return None
        try:
            unit = resolve_unit(units_within_reach(self.user), text)
        except Ambiguous as exc:
            names = "; ".join(choice.value for choice in exc.choices[:5])
            raise forms.ValidationError(
                _("Có nhiều đơn vị tên này: %(names)s. Hãy chọn trong danh sách gợi ý.")
                % {"names": names}
            ) from None
        if unit is None:
            # One message for "unknown" and "outside your subtrees": names do not leak existence.
            raise forms.ValidationError(_("Không có đơn vị này trong phạm vi của bạn."))
        return unit

    def clean_topic(self):
        slug = (self.cleaned_data.get("topic") or "").strip()
        if not slug:
            return None
        # The slug, or the name typed in any case and with or without diacritics.
        topic = Topic.objects.filter(Q(slug=slug) | Q(key=fold_words(slug) or "-")).first()
        if topic is None:
            raise forms.ValidationError(_("Không có chủ đề này."))
        return topic

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("Ngày kết thúc phải sau ngày bắt đầu."))
        return data

    def to_filter(self) -> HistoryFilter:
        data = self.cleaned_data
        return HistoryFilter(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            unit=data.get("unit"),
            level=data.get("level") or "",
            topic=data.get("topic"),
            q=(data.get("q") or "").strip(),
            successors=bool(data.get("successors")),
        )

    def error_list(self) -> list[str]:
        return [
            f"{self.fields[name].label if name in self.fields else ''}: {msg}".lstrip(": ")
            for name, msgs in self.errors.items()
            for msg in msgs
        ]


def parse_filter(params, *, user) -> tuple[HistoryFilter | None, HistoryFilterForm]:
    form = HistoryFilterForm(params, user=user)
    if not form.is_valid():
        return None, form
    return form.to_filter(), form
