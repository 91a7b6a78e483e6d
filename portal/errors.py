"""The one domain error type: a machine-readable ``code`` and a human ``message``.

Views turn it into a 4xx response or a form error, consumers into an error frame.
"""

from __future__ import annotations

from django.utils.translation import gettext as _


class DomainError(Exception):
    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: list[str] | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details or [])
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            data["details"] = self.details
        return data


class PermissionDeniedError(DomainError):
    status = 403

    def __init__(self, message: str | None = None):
        super().__init__("forbidden", message or _("Bạn không có quyền thực hiện thao tác này."))
