"""URLs of the live conference pages: the join page, the chair console and the personal join link."""

from __future__ import annotations

from django.urls import path

from conferences import joinlinks
from conferences.views import live

urlpatterns = [
    path("conferences/<uuid:code>/join/", live.conference_join, name="conference_join"),
    path("conferences/<uuid:code>/console/", live.conference_console, name="conference_console"),
    path("conferences/<uuid:code>/j/<str:token>/", joinlinks.join_link_view, name="join_link"),
]
