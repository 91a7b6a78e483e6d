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
from conferences.models import AgendaItem, AuditEntry, ChatMessage, Conference, Status

# What the history page shows: what happened in the conference, not its preparation.
HISTORY_ACTIONS = frozenset(
    {a for a in ACTIONS if a.startswith("live.")}
    | {"conference.transition", "rollcall.start", "rollcall.end", "attendance.correct"}
)
CHAT_MESSAGES = frozenset({"live.chat.message", "live.chat.to_chair"})


def chat_actions_hidden_from(user, conference: Conference) -> frozenset[str]:
    """The chat entries a timeline must leave out for ``user``: conference-wide messages unless
    they may read the chat (``permissions.can_read_chat``: not a confidential conference's
    uninvited observers), messages to the chair unless they also see the minutes."""
    from conferences import permissions as perms

    hidden = set()
    if not perms.can_read_chat(user, conference):
        hidden |= CHAT_MESSAGES
    if not perms.can_view_minutes(user, conference):
        hidden.add("live.chat.to_chair")
    return frozenset(hidden)


@dataclass(frozen=True)
class TimelineRow:
    at: dt.datetime
    action: str
    label: str
    detail: str
    who: str
    kind: str  # css class: floor, roll_call, presence, chat, event
    recording: str = ""  # "#rec=<part>:<seconds>": the player at that moment (recordings.playback)


def timeline_rows(
    conference: Conference,
    *,
    actions: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    newest_first: bool = False,
    limit: int | None = None,
) -> list[TimelineRow]:
    entries = conference.audit.select_related("actor", "site")
    if actions is not None:
        entries = entries.filter(action__in=list(actions))
    if exclude:
        entries = entries.exclude(action__in=list(exclude))
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
    chats = dict(
        ChatMessage.objects.filter(
            conference=conference,
            pk__in=[
                e.data.get("message")
                for e in rows
                if e.action in CHAT_MESSAGES and isinstance(e.data.get("message"), int)
            ],
        ).values_list("pk", "text")
    )
    return [_row(entry, items, chats) for entry in rows]


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
    if action.startswith("live.chat."):
        return "chat"
    return "event"


def _detail(entry: AuditEntry, items: dict[int, AgendaItem], chats: dict[int, str]) -> str:
    data = entry.data if isinstance(entry.data, dict) else {}
    action = entry.action
    if action in CHAT_MESSAGES:
        # the text as typed: templates escape it, so markup in a message shows as text
        text = chats.get(data.get("message"), "")  # type: ignore[arg-type]
        site = entry.site.name if entry.site is not None else ""
        return f"{site}: {text}" if site else text
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


def _row(entry: AuditEntry, items: dict[int, AgendaItem], chats: dict[int, str]) -> TimelineRow:
    label = ACTIONS.get(entry.action)
    return TimelineRow(
        at=entry.at,
        action=entry.action,
        label=str(label) if label is not None else entry.action,
        detail=_detail(entry, items, chats),
        who=_who(entry),
        kind=_kind(entry.action),
    )
