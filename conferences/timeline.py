"""Timelines of a conference, rendered from its audit entries (``conferences.audit``) only.

``timeline_rows(conference, ...)`` gives one row per entry — when, the action's label, a detail
(the site, the agenda item, the counts…) and who: the user, or for an entry without one the site
it is about (media presence) or "Hệ thống". The overview and the history page both use it, so an
action reads the same everywhere, and an entry without a user can never break a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from conferences.audit import ACTIONS
from conferences.models import AgendaItem, AuditEntry, Conference, Status

# What the history page shows: what happened in the conference, not its preparation.
HISTORY_ACTIONS = frozenset(
    {a for a in ACTIONS if a.startswith("live.")}
    | {"conference.transition", "rollcall.start", "rollcall.end", "attendance.correct"}
)


@dataclass(frozen=True)
class TimelineRow:
    at: dt.datetime
    action: str
    label: str
    detail: str
    who: str
    kind: str  # css class: floor, roll_call, presence, event
    recording: str = ""  # "#rec=<part>:<seconds>": the player at that moment (recordings.playback)


def timeline_rows(
    conference: Conference,
    *,
    actions: Iterable[str] | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[TimelineRow]:
    entries = conference.audit.select_related("actor", "site")
    if actions is not None:
        entries = entries.filter(action__in=list(actions))
    entries = entries.order_by("-at", "-id") if newest_first else entries.order_by("at", "id")
    if limit is not None:
        entries = entries[:limit]
    rows = list(entries)
    items = {
        item.pk: item
        for item in AgendaItem.objects.filter(
            pk__in=[e.data.get("item") for e in rows if isinstance(e.data.get("item"), int)]
        )
    }
    return [_row(entry, items) for entry in rows]


def _who(entry: AuditEntry) -> str:
    if entry.actor is not None:
        return entry.actor.get_full_name() or entry.actor.get_username()
    if entry.site is not None and entry.action.startswith("presence."):
        return entry.site.name
    return _("Hệ thống")


def _kind(action: str) -> str:
    if action.startswith(("live.content.", "live.presenter.")):
        return "present"
    if "floor" in action or "broadcast" in action:
        return "floor"
    if action.startswith("rollcall."):
        return "roll_call"
    if action.startswith("presence."):
        return "presence"
    return "event"


def _detail(entry: AuditEntry, items: dict[int, AgendaItem]) -> str:
    data = entry.data if isinstance(entry.data, dict) else {}
    action = entry.action
    statuses = dict(Status.choices)
    if action == "conference.transition":
        return f"{statuses.get(data.get('from'), '')} → {statuses.get(data.get('to'), '')}"
    if action == "live.agenda.goto":
        item = items.get(data.get("item"))  # type: ignore[arg-type]
        return f"{item.position}. {item.title}" if item else _("không có nội dung")
    if action == "rollcall.end" and "answered" in data:
        return _("%(n)s/%(m)s điểm cầu trả lời") % {
            "n": data["answered"],
            "m": data.get("invited", "?"),
        }
    if action == "live.absent.call":
        return _("%(n)s điểm cầu chưa kết nối") % {"n": len(data.get("sites") or [])}
    site = entry.site.name if entry.site is not None else ""
    if action.startswith("live.content."):
        return _content_detail(action, data, site)
    if action in ("rollcall.answer", "attendance.record", "attendance.correct"):
        count = data.get("headcount")
        if site and count is not None:
            return _("%(site)s (%(n)s người)") % {"site": site, "n": count}
        return site
    if site:
        return site
    if data.get("title") or data.get("name"):
        return str(data.get("title") or data.get("name"))
    return ""


def _content_detail(action: str, data: dict, site: str) -> str:
    if action == "live.content.page":
        return _("%(site)s: trang %(n)s") % {"site": site, "n": data.get("page")}
    what = data.get("name") or (_("màn hình") if data.get("kind") == "screen" else "")
    return f"{site}: {what}" if what else site


def _row(entry: AuditEntry, items: dict[int, AgendaItem]) -> TimelineRow:
    label = ACTIONS.get(entry.action)
    return TimelineRow(
        at=entry.at,
        action=entry.action,
        label=str(label) if label is not None else entry.action,
        detail=_detail(entry, items),
        who=_who(entry),
        kind=_kind(entry.action),
    )
