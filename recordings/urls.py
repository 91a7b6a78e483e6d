from __future__ import annotations

from django.urls import path

from recordings import views

urlpatterns = [
    path(
        "recordings/<uuid:code>/segments/<int:index>/",
        views.segment_file,
        name="recording_segment",
    ),
    path("recordings/<uuid:code>/mode/", views.set_mode, name="recording_mode"),
    path("recordings/policy/", views.policy, name="recording_policy"),
]
