"""URLs of invitations and attendance: the clerks' sites/attendance/minutes tabs, the operators'
pages, and each site's calendar feed."""

from __future__ import annotations

from django.urls import path

from conferences.views import attendance, operator

urlpatterns = [
    path("conferences/<uuid:code>/sites/", attendance.conference_sites, name="conference_sites"),
    path(
        "conferences/<uuid:code>/attendance/",
        attendance.conference_attendance,
        name="conference_attendance",
    ),
    path(
        "conferences/<uuid:code>/attendance.xlsx",
        attendance.conference_attendance_xlsx,
        name="conference_attendance_xlsx",
    ),
    path(
        "conferences/<uuid:code>/minutes/", attendance.conference_minutes, name="conference_minutes"
    ),
    path(
        "conferences/<uuid:code>/minutes.docx",
        attendance.conference_minutes_docx,
        name="conference_minutes_docx",
    ),
    path("my/conferences/", operator.my_conferences, name="my_conferences"),
    path(
        "my/conferences/<uuid:code>/<uuid:site_code>/",
        operator.operator_conference,
        name="operator_conference",
    ),
    path(
        "my/sites/<uuid:site_code>/calendar/rotate/",
        operator.calendar_feed_rotate,
        name="calendar_feed_rotate",
    ),
    path("calendar/<str:token>.ics", operator.calendar_feed, name="calendar_feed"),
]
