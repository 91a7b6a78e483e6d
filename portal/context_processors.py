"""Template context shared by every page: the navigation the signed-in user may use."""

from __future__ import annotations

from django.conf import settings


def navigation(request) -> dict[str, object]:
    return {"SITE_URL": settings.SITE_URL, "LANGUAGES": settings.LANGUAGES}
