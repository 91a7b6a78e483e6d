"""Forms of the attendance, roll-call, join/leave, operator and minutes pages.

Site choices come only from the conference's own invitations, so a forged or foreign site code
is a field error and reaches no service.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from conferences.models import AttendanceEntry, AttendanceStatus, Conference
from conferences.services.attendance import MAX_HEADCOUNT
from conferences.services.attendance_table import AttendanceRow

DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _SiteForm(forms.Form):
    site = forms.ChoiceField(label=_("Điểm cầu"))

    def __init__(self, *args, conference: Conference, **kwargs):
        super().__init__(*args, **kwargs)
        self.conference = conference
        self.invitations = {
            str(i.site.code): i for i in conference.invitations.select_related("site", "unit")
        }
        self.fields["site"].choices = [("", "—")] + [
            (code, inv.site.name) for code, inv in self.invitations.items()
        ]

    def invitation(self):
        return self.invitations[self.cleaned_data["site"]]


def parse_attendance_table(data, invitations) -> tuple[list[AttendanceRow], dict[int, str], dict]:
    """Read the attendance table's ``st-<id>``/``hc-<id>``/``rs-<id>`` fields for the given
    invitations: the rows, the rows that do not even parse (id → reason) and the values as typed
    (id → {status, headcount, reason}), so that a refused table comes back exactly as sent."""
    rows: list[AttendanceRow] = []
    errors: dict[int, str] = {}
    typed: dict[int, dict[str, str]] = {}
    for inv in invitations:
        status = data.get(f"st-{inv.pk}")
        if status is None:
            continue
        raw = (data.get(f"hc-{inv.pk}") or "").strip()
        reason = (data.get(f"rs-{inv.pk}") or "").strip()
        typed[inv.pk] = {"status": status, "headcount": raw, "reason": reason}
        headcount = None
        if raw:
            try:
                headcount = int(raw)
            except ValueError:
                errors[inv.pk] = _("Số người dự phải là một số nguyên.")
                continue
        if len(reason) > 300:
            errors[inv.pk] = _("Lý do vắng dài quá 300 ký tự.")
            continue
        rows.append(AttendanceRow(inv.pk, status, headcount, reason))
    return rows, errors, typed


class CorrectForm(forms.Form):
    entry = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Trạng thái"),
        choices=[("", _("— giữ nguyên —")), *AttendanceStatus.choices],
        required=False,
    )
    headcount = forms.IntegerField(
        label=_("Số người dự"), required=False, min_value=0, max_value=MAX_HEADCOUNT
    )
    leader_name = forms.CharField(
        label=_("Người chủ trì tại điểm cầu"), required=False, max_length=200
    )
    leader_title = forms.CharField(label=_("Chức vụ"), required=False, max_length=200)
    absence_reason = forms.CharField(label=_("Lý do vắng"), required=False, max_length=300)
    reason = forms.CharField(label=_("Lý do đính chính"), max_length=300)

    def __init__(self, *args, conference: Conference, **kwargs):
        super().__init__(*args, **kwargs)
        self.conference = conference

    def clean_entry(self) -> AttendanceEntry:
        entry = (
            AttendanceEntry.objects.filter(
                pk=self.cleaned_data["entry"], invitation__conference=self.conference
            )
            .select_related("invitation")
            .first()
        )
        if entry is None:
            raise forms.ValidationError(_("Không tìm thấy bản ghi điểm danh của hội nghị này."))
        return entry


class RollCallAnswerForm(_SiteForm):
    headcount = forms.IntegerField(label=_("Số người dự"), min_value=1, max_value=MAX_HEADCOUNT)
    leader_name = forms.CharField(
        label=_("Người chủ trì tại điểm cầu"), required=False, max_length=200
    )
    leader_title = forms.CharField(label=_("Chức vụ"), required=False, max_length=200)


class PresenceForm(_SiteForm):
    joined_at = forms.DateTimeField(
        label=_("Giờ vào"),
        widget=DATETIME_INPUT,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    left_at = forms.DateTimeField(
        label=_("Giờ rời"),
        widget=DATETIME_INPUT,
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def clean(self):
        data = super().clean()
        if data.get("joined_at") and data.get("left_at") and data["left_at"] < data["joined_at"]:
            self.add_error("left_at", _("Giờ rời phải sau giờ vào."))
        return data


class OperatorAnswerForm(forms.Form):
    headcount = forms.IntegerField(
        label=_("Số người dự tại điểm cầu"), min_value=1, max_value=MAX_HEADCOUNT
    )
    leader_name = forms.CharField(
        label=_("Người chủ trì tại điểm cầu"), required=False, max_length=200
    )
    leader_title = forms.CharField(label=_("Chức vụ"), required=False, max_length=200)


class ConclusionsForm(forms.Form):
    conclusions = forms.CharField(
        label=_("Kết luận của hội nghị"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        max_length=50_000,
    )


class MinutesUploadForm(forms.Form):
    file = forms.FileField(label=_("Tệp đính kèm biên bản"))
