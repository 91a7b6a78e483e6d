"""Forms of the clerks' pages. They parse and validate input; the services decide the rules."""

from __future__ import annotations

import json

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conferences import permissions, selectors
from conferences.errors import DomainError
from conferences.forms_topics import TopicsField
from conferences.models import AgendaItem, Conference, Level, Status
from conferences.services import site_selection
from conferences.services.site_selection import SelectionSpec
from portal.models import Site, Unit

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _SelectionField(forms.Field):
    """Placeholder for the site picker: its inputs are ``sel_*`` lists read in ``clean()``."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)


class _LevelSelect(forms.Select):
    """Levels none of the clerk's hosts may hold are shown greyed out (not hidden: the clerk
    sees that they exist); a forged one still reaches ``clean()`` and gets the reason."""

    disabled_values: set[str] = set()

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if value in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


class ConferenceForm(forms.Form):
    title = forms.CharField(label=_("Tên hội nghị"), max_length=300)
    level = forms.ChoiceField(label=_("Cấp hội nghị"), choices=Level.choices, widget=_LevelSelect)
    host_unit = forms.ModelChoiceField(
        label=_("Đơn vị chủ trì"), queryset=Unit.objects.none(), to_field_name="code"
    )
    chair_site = forms.ModelChoiceField(
        label=_("Điểm cầu chủ trì"),
        queryset=Site.objects.none(),
        to_field_name="code",
        required=False,
    )
    chair_name = forms.CharField(label=_("Người chủ trì"), max_length=200, required=False)
    planned_start = forms.DateTimeField(label=_("Bắt đầu"), widget=DATETIME_WIDGET)
    planned_end = forms.DateTimeField(label=_("Kết thúc"), widget=DATETIME_WIDGET)
    topics = TopicsField(
        label=_("Chủ đề"),
        help_text=_("Cách nhau bằng dấu phẩy, ví dụ: COVID-19, Nông thôn mới"),
    )
    confidential = forms.BooleanField(
        label=_("Hội nghị mật (ẩn tài liệu với đơn vị không được mời)"), required=False
    )
    description = forms.CharField(
        label=_("Nội dung"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    sites = _SelectionField(label=_("Điểm cầu được mời"))

    def __init__(self, *args, user, conference: Conference | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.conference = conference
        today = timezone.localdate()
        hostable = selectors.units_hostable_by(user, day=today)
        if conference is not None:
            hostable = hostable | Unit.objects.filter(pk=conference.host_unit_id)
        hostable = hostable.order_by("path")
        self.fields["host_unit"].queryset = hostable
        top = min((u.depth for u in hostable), default=0)
        self.fields["host_unit"].label_from_instance = lambda u: ("— " * (u.depth - top)) + u.name
        # What each host may hold, its usual level and site: the page script reads it, and the
        # level list offers only levels some host of this clerk may hold.
        self.host_options = site_selection.host_options(units=list(hostable))
        possible = {lv for o in self.host_options.values() for lv in o.levels}
        if conference is not None:
            possible.add(conference.level)
        self.fields["level"].widget.disabled_values = set(Level.values) - possible
        self.managed = permissions.managed_paths(user)
        chair_sites = Site.objects.filter(is_active=True)
        if self.managed is not None:
            q = Q(pk=conference.chair_site_id) if conference and conference.chair_site_id else Q()
            for path in self.managed:
                q |= Q(unit__path__startswith=path)
            chair_sites = chair_sites.filter(q) if q else chair_sites.none()
        self.fields["chair_site"].queryset = chair_sites.select_related("unit").order_by(
            "unit__path", "key"
        )
        self.resolved_sites: list[Site] = []
        self.spec = SelectionSpec.from_params(self.data) if self.is_bound else SelectionSpec()

    @classmethod
    def initial_for_user(cls, user) -> dict[str, object]:
        """A new conference starts with the clerk's own unit as host, its usual level and site."""
        hostable = list(selectors.units_hostable_by(user, day=timezone.localdate()))
        options = site_selection.host_options(units=hostable)
        host = site_selection.default_host(actor=user, options=options)
        if host is None:
            return {}
        option = options[host.code]
        return {
            "host_unit": host.code,
            "level": option.default_level,
            "chair_site": str(option.site.code) if option.site else None,
        }

    def host_options_json(self) -> str:
        return json.dumps({code: o.as_dict() for code, o in self.host_options.items()})

    def clean(self):
        data = super().clean()
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", _("Thời gian kết thúc phải sau thời gian bắt đầu."))
        scope = None
        level, host = data.get("level"), data.get("host_unit")
        if level and host:
            try:
                scope = site_selection.invitation_scope(
                    actor=self.user, level=level, host_unit=host
                )
            except DomainError as exc:
                self.add_error("level", exc.message)
        if start:
            try:
                self.resolved_sites = site_selection.site_selection_resolve(
                    spec=self.spec,
                    day=timezone.localdate(start),
                    within=self.managed,
                )
            except DomainError as exc:
                self.add_error("sites", [exc.message, *exc.details])
        if scope is not None and not self.errors:
            chair = data.get("chair_site")
            try:
                site_selection.scope_check(
                    scope=scope,
                    level=level,
                    host_unit=host,
                    sites=[*self.resolved_sites, *([chair] if chair else [])],
                )
            except DomainError as exc:
                self.add_error("sites", [exc.message, *exc.details])
        return data

    def service_kwargs(self) -> dict[str, object]:
        d = self.cleaned_data
        return {
            "title": d["title"],
            "level": d["level"],
            "host_unit": d["host_unit"],
            "chair_site": d.get("chair_site"),
            "chair_name": d.get("chair_name", ""),
            "planned_start": d["planned_start"],
            "planned_end": d["planned_end"],
            "topics": d["topics"],
            "confidential": d["confidential"],
            "description": d["description"],
            "sites": self.resolved_sites,
        }

    @classmethod
    def initial_for(cls, conference: Conference) -> dict[str, object]:
        return {
            "title": conference.title,
            "level": conference.level,
            "host_unit": conference.host_unit.code,
            "chair_site": conference.chair_site.code if conference.chair_site else None,
            "chair_name": conference.chair_name,
            "planned_start": timezone.localtime(conference.planned_start),
            "planned_end": timezone.localtime(conference.planned_end),
            "topics": ", ".join(t.name for t in conference.topics.all()),
            "confidential": conference.confidential,
            "description": conference.description,
        }


class ConferenceFilterForm(forms.Form):
    q = forms.CharField(label=_("Tìm theo tên"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Trạng thái"), required=False, choices=[("", _("Tất cả")), *Status.choices]
    )
    level = forms.ChoiceField(
        label=_("Cấp"), required=False, choices=[("", _("Tất cả")), *Level.choices]
    )
    host = forms.ModelChoiceField(
        label=_("Đơn vị chủ trì"),
        required=False,
        queryset=Unit.objects.none(),
        to_field_name="code",
        empty_label=_("Tất cả"),
    )
    date_from = forms.DateField(
        label=_("Từ ngày"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Đến ngày"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = (
            Unit.objects.filter(hosted_conferences__isnull=False).distinct().order_by("path")
        )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", _("“Đến ngày” phải sau “Từ ngày”."))
        return data

    def filters(self) -> dict[str, object]:
        if not self.is_valid():
            return {}
        d = self.cleaned_data
        return {
            "q": d.get("q") or "",
            "status": d.get("status") or "",
            "level": d.get("level") or "",
            "host_unit": d.get("host"),
            "date_from": d.get("date_from"),
            "date_to": d.get("date_to"),
        }


class AgendaItemForm(forms.Form):
    title = forms.CharField(label=_("Nội dung"), max_length=300)
    presenter_unit = forms.ModelChoiceField(
        label=_("Đơn vị trình bày"),
        required=False,
        queryset=Unit.objects.none(),
        to_field_name="code",
    )
    presenter_site = forms.ModelChoiceField(
        label=_("Điểm cầu trình bày"),
        required=False,
        queryset=Site.objects.none(),
        to_field_name="code",
    )
    presenter_name = forms.CharField(label=_("Người trình bày"), max_length=200, required=False)
    planned_minutes = forms.IntegerField(
        label=_("Thời lượng (phút)"), min_value=1, max_value=600, initial=10
    )
    notes = forms.CharField(
        label=_("Ghi chú"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, conference: Conference, **kwargs):
        super().__init__(*args, **kwargs)
        day = timezone.localdate(conference.planned_start)
        self.fields["presenter_unit"].queryset = Unit.objects.valid_on(day).order_by("path")
        self.fields["presenter_unit"].label_from_instance = lambda u: ("— " * u.depth) + u.name
        self.fields["presenter_site"].queryset = Site.objects.filter(
            invitations__conference=conference
        ).order_by("unit__path", "key")

    @classmethod
    def initial_for(cls, item: AgendaItem) -> dict[str, object]:
        return {
            "title": item.title,
            "presenter_unit": item.presenter_unit.code if item.presenter_unit else None,
            "presenter_site": item.presenter_site.code if item.presenter_site else None,
            "presenter_name": item.presenter_name,
            "planned_minutes": item.planned_minutes,
            "notes": item.notes,
        }


class DocumentUploadForm(forms.Form):
    file = forms.FileField(label=_("Tệp (PDF, DOCX, XLSX, PPTX, PNG, JPEG)"))
    agenda_item = forms.ModelChoiceField(
        label=_("Thuộc mục chương trình"),
        required=False,
        queryset=AgendaItem.objects.none(),
        empty_label=_("Tài liệu chung của hội nghị"),
    )

    def __init__(self, *args, conference: Conference, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agenda_item"].queryset = conference.agenda_items.all()
        self.fields["agenda_item"].label_from_instance = lambda i: f"{i.position}. {i.title}"
