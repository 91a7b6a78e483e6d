"""URLs of the live conference pages: the join page, the chair console and the personal join link."""

from __future__ import annotations

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from conferences import joinlinks
from conferences.views import document_pages, live

urlpatterns = [
    path("conferences/<uuid:code>/join/", live.conference_join, name="conference_join"),
    path("conferences/<uuid:code>/watch/", live.conference_watch, name="conference_watch"),
    path("conferences/<uuid:code>/console/", live.conference_console, name="conference_console"),
    path("conferences/<uuid:code>/j/<str:token>/", joinlinks.join_link_view, name="join_link"),
    # an agenda PDF presented page by page (conferences.views.document_pages)
    path(
        "conferences/<uuid:code>/documents/<int:document_id>/pages/",
        document_pages.document_pages_info,
        name="document_pages",
    ),
    path(
        "conferences/<uuid:code>/documents/<int:document_id>/pages/<int:page>/",
        document_pages.document_page,
        name="document_page",
    ),
    # the live pages' scripts translate their texts with this catalog (locale/*/djangojs.po)
    path(
        "jsi18n/live/",
        JavaScriptCatalog.as_view(domain="djangojs", packages=["conferences"]),
        name="live_jsi18n",
    ),
]
