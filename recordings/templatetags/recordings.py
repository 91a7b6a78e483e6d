"""``{% recording_panel conference %}``: the recording's state, the clerk's choice and — for
those who may watch — the player with its chapters (history and detail pages).
``{% recording_policy_url unit as url %}``: the policy page's link on the province's page, for
the province administrator only."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from conferences import permissions as perms
from conferences.models import Status
from recordings import playback, services
from recordings.models import Recording, RecordingMode

register = template.Library()


@register.inclusion_tag("recordings/_panel.html", takes_context=True)
def recording_panel(context: dict[str, Any], conference) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    recording = Recording.objects.filter(conference_id=conference.pk).first()
    watch = playback.can_watch(user, conference)
    segments = playback.playable_segments(conference) if watch else []
    chapters = playback.chapters(conference, segments) if segments else []
    can_choose = perms.can_manage(user, conference) and conference.status not in (
        Status.ENDED,
        Status.CANCELLED,
    )
    return {
        "conference": conference,
        "status": services.recording_status(conference, recording),
        "mode": recording.mode if recording else RecordingMode.DEFAULT,
        "modes": RecordingMode.choices,
        "can_choose": can_choose,
        "expired": bool(recording and recording.expired_at),
        "watch": watch,
        "download": playback.can_download(user, conference),
        "segments": segments,
        "chapters": chapters,
        "sources": [
            {
                "src": reverse("recording_segment", args=[conference.code, s.index]),
                "type": s.content_type,
                "start": s.started_at.isoformat(),
                "duration": s.duration_ms / 1000,
            }
            for s in segments
        ],
        "next": getattr(request, "get_full_path", lambda: "")(),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag(takes_context=True)
def recording_policy_url(context: dict[str, Any], unit) -> str:
    """The recording policy page, on the province's own page, for the province administrator."""
    user = getattr(context.get("request"), "user", None)
    if unit is None or unit.parent_id is not None:
        return ""
    return reverse("recording_policy") if services.can_set_policy(user) else ""
