"""``/api/v1/…`` read-only endpoints, ``/api/schema/`` (OpenAPI 3, YAML/JSON) and ``/api/docs/``."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from conferences.api import views

urlpatterns = [
    path("v1/conferences/", views.ConferenceListView.as_view(), name="api_conferences"),
    path(
        "v1/conferences/<uuid:code>/", views.ConferenceDetailView.as_view(), name="api_conference"
    ),
    path(
        "v1/conferences/<uuid:code>/attendance/",
        views.AttendanceView.as_view(),
        name="api_attendance",
    ),
    path("v1/dashboard/", views.DashboardView.as_view(), name="api_dashboard"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", views.api_docs, name="api_docs"),
]
