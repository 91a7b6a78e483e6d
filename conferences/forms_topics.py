"""The topics field of the conference form: comma-separated names, offered as you type.

``TopicsField`` cleans to a list of names, each once by its folded key (``Chuyển đổi số`` and
``chuyen doi so`` are one); the service (``services.topics``) maps them to existing topics or
creates new ones. The widget asks ``/topics/suggest/`` for existing topics as the clerk types
(``static/conferences/topic_suggest.js``); without JavaScript it is a plain text input.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from conferences.folding import fold_words
from conferences.services.topics import NAME_MAX


class TopicsInput(forms.TextInput):
    template_name = "conferences/widgets/topics_input.html"

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "data-topics-input": "1", **(attrs or {})})


class TopicsField(forms.CharField):
    widget = TopicsInput
    default_error_messages = {
        "too_long": _("Tên chủ đề dài quá %(max)s ký tự: “%(name)s”."),
        "no_words": _("Tên chủ đề cần có chữ hoặc số: “%(name)s”."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        names: list[str] = []
        seen: set[str] = set()
        for raw in text.split(","):
            name = " ".join(raw.split())
            if not name:
                continue
            if len(name) > NAME_MAX:
                raise forms.ValidationError(
                    self.error_messages["too_long"],
                    code="too_long",
                    params={"max": NAME_MAX, "name": name[:40] + "…"},
                )
            key = fold_words(name)
            if not key:
                raise forms.ValidationError(
                    self.error_messages["no_words"], code="no_words", params={"name": name}
                )
            if key not in seen:
                seen.add(key)
                names.append(name)
        return names

    def validate(self, value) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value) -> None:
        super().run_validators(", ".join(value))

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value
