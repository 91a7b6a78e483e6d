from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.models import Site


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["name", "location", "contact_phone"]

    def clean_contact_phone(self) -> str:
        phone = self.cleaned_data["contact_phone"].strip()
        digits = phone.replace(" ", "").replace(".", "").replace("-", "")
        if phone and not (digits.lstrip("+").isdigit() and 6 <= len(digits.lstrip("+")) <= 15):
            raise forms.ValidationError(_("Số điện thoại không hợp lệ (6–15 chữ số)."))
        return phone


class OrgFilterForm(forms.Form):
    q = forms.CharField(label=_("Tìm đơn vị"), required=False, max_length=100)
    on = forms.DateField(
        label=_("Cây đơn vị tại ngày"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def day(self) -> dt.date | None:
        return self.cleaned_data.get("on") if self.is_valid() else None
