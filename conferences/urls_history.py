"""URLs of the leaders' history: dashboard, search, conference history, savings, exports, API."""

from __future__ import annotations

from django.urls import include, path, re_path

from conferences.views import history

urlpatterns = [
    path("history/", history.history_dashboard, name="history_dashboard"),
    path("history/overview/", history.history_overview, name="history_overview"),
    path("history/search/", history.history_search, name="history_search"),
    path("history/savings/", history.history_savings, name="history_savings"),
    path("history/conferences/<uuid:code>/", history.history_conference, name="history_conference"),
    re_path(
        r"^history/export/(?P<what>dashboard|search|savings)\.(?P<fmt>xlsx|pdf)$",
        history.history_export,
        name="history_export",
    ),
    path("history/units/", history.history_unit_suggest, name="history_unit_suggest"),
    path("topics/suggest/", history.topic_suggest, name="topic_suggest"),
    path("api/", include("conferences.api.urls")),
]
