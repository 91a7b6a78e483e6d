"""Conference domain errors: the portal's ``DomainError`` with conference-specific codes."""

from __future__ import annotations

from portal.errors import DomainError, PermissionDeniedError

__all__ = ["ConferenceError", "DomainError", "PermissionDeniedError"]


class ConferenceError(DomainError):
    """A rule of conferences was broken (bad transition, times, agenda after the end…)."""
