"""Conference chat (issue 14 item 6): messages from a site to everyone or to the chair, and the
chair's switch that turns chat off — the one path every entry point takes.

Contract:
- ``chat_send(actor=, conference=, participant=, text=, to=)`` — a site (not an observer) while
  the conference is scheduled or live and chat is on: cleans the text (``clean_text``: plain
  text, at most ``MAX_CHARS`` characters, no control characters), stores one ``ChatMessage``,
  writes ONE audit entry (``live.chat.message`` or ``live.chat.to_chair``) and, after commit,
  sends one ``chat`` event to the sockets that may read it (``groups_for``);
- ``chat_set(actor=, conference=, enabled=)`` — the chair only: sets ``LiveState.chat_enabled``,
  audits ``live.chat.on``/``live.chat.off`` and broadcasts the versioned ``chat_enabled`` event;
- ``may_read(participant, conference)`` — who reads conference-wide chat live: every site
  (and the chair site); a watch-only observer only where ``permissions.can_read_chat`` allows it
  (not in a confidential conference unless invited or chairing). Messages to the chair go to the
  chair site and the sending site only;
- ``chat_snapshot(conference=, participant=, enabled=)`` — the snapshot's ``chat``: the last
  ``KEEP`` messages the participant may read, oldest first; ``chat_rights`` its ``me.chat``.

Chat messages are records, not pieces of state: their events carry no ``version`` (they do not
raise the conference's), and a page appends them by ``id`` — the reducer keeps the last
``KEEP`` by id, which is what a fresh snapshot holds (docs/protocol.md §3).

Why text and not HTML: pages render the text with ``textContent`` and templates autoescape it,
so markup typed into a message stays visible text everywhere (page, timeline, minutes).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.live.commands import _lock, _require_chair, _require_site, _state
from conferences.live.participants import Participant
from conferences.live.reducer import CHAT_KEEP
from conferences.models import ChatMessage, ChatTo, Conference, LiveState, Status

MAX_CHARS = 1000
KEEP = CHAT_KEEP  # messages in a snapshot (and kept by a page); minutes and timeline keep all
OPEN = frozenset({Status.SCHEDULED, Status.LIVE})
ACTIONS = {ChatTo.ALL: "live.chat.message", ChatTo.CHAIR: "live.chat.to_chair"}

# bidirectional embedding/override/isolate controls: they can make a message read backwards
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_BLANK_LINES = re.compile(r"\n{3,}")


def chat_group(code: str) -> str:
    """The channel group of the sockets that read conference-wide chat."""
    return f"conference.{code}.chat"


def site_group(code: str, site: str) -> str:
    """The channel group of the connection that speaks for ``site`` (or an observer's id)."""
    return f"conference.{code}.site.{site}"


def clean_text(value: Any) -> str:
    """The message as it is stored and shown: a string with Unix newlines, without control
    characters (tab and newline kept), lone surrogates or bidi overrides, at most two blank
    lines in a row, stripped. Raises ``ConferenceError`` (``invalid``, ``too_long``)."""
    if not isinstance(value, str):
        raise ConferenceError("invalid", _("Trường “text” phải là một chuỗi."))
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI)
    )
    text = unicodedata.normalize("NFC", _BLANK_LINES.sub("\n\n", text)).strip()
    if not text:
        raise ConferenceError("invalid", _("Tin nhắn trống."))
    if len(text) > MAX_CHARS:
        raise ConferenceError(
            "too_long", _("Tin nhắn dài quá %(n)s ký tự.") % {"n": MAX_CHARS}, status=413
        )
    return text


def may_read(participant: Participant | None, conference: Conference) -> bool:
    """Whether this connection reads conference-wide chat (see the module docstring)."""
    if participant is None or not participant.observer:
        return True
    return perms.can_read_chat(participant.user, conference)


def message_data(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "at": message.at.isoformat(),
        "site": str(message.site.code),
        "site_name": message.site_name,
        "author": message.author_name,
        "to": message.to,
        "text": message.text,
    }


def visible_messages(conference: Conference, participant: Participant | None):
    """The messages ``participant`` may read (``None``: the conference-wide ones)."""
    messages = ChatMessage.objects.filter(conference=conference).select_related("site")
    if not may_read(participant, conference):
        return messages.none()
    public = Q(to=ChatTo.ALL)
    if participant is None or participant.site is None:
        return messages.filter(public)
    if participant.site.pk == conference.chair_site_id:
        return messages  # the chair reads what was sent to it
    return messages.filter(public | Q(site=participant.site))


def chat_snapshot(
    *, conference: Conference, participant: Participant | None, enabled: bool
) -> dict[str, Any]:
    last = list(visible_messages(conference, participant).order_by("-id")[:KEEP])
    return {"enabled": enabled, "messages": [message_data(m) for m in reversed(last)]}


def chat_rights(participant: Participant, conference: Conference) -> dict[str, bool]:
    """The snapshot's ``me.chat``: whether this connection reads and may send chat."""
    return {"read": may_read(participant, conference), "send": participant.site is not None}


def groups_for(conference: Conference, message: ChatMessage) -> list[str]:
    code = str(conference.code)
    if message.to == ChatTo.ALL:
        return [chat_group(code)]
    chair = str(conference.chair_site.code) if conference.chair_site else None
    return sorted(
        {site_group(code, str(message.site.code)), *([site_group(code, chair)] if chair else [])}
    )


@transaction.atomic
def chat_send(
    *,
    actor: Any,
    conference: Conference,
    participant: Participant,
    text: Any,
    to: Any = ChatTo.ALL,
) -> ChatMessage:
    """Send a chat message from the participant's site (see the module docstring)."""
    if participant.site is None:
        raise PermissionDeniedError(_("Người theo dõi chỉ đọc tin nhắn, không gửi được."))
    site = _require_site(participant)
    if to not in ChatTo.values:
        raise ConferenceError("invalid", _("Trường “to” phải là “all” hoặc “chair”."))
    conference = _lock(conference)
    if conference.status not in OPEN:
        raise ConferenceError("chat_closed", _("Hội nghị đã kết thúc: không gửi tin nhắn được."))
    if to == ChatTo.CHAIR and (
        conference.chair_site_id is None or conference.chair_site_id == site.pk
    ):
        raise ConferenceError("invalid", _("Điểm cầu chủ trì gửi tin nhắn tới tất cả."))
    if not _state(conference).chat_enabled:
        raise ConferenceError("chat_off", _("Chủ trì đã tắt tin nhắn."))
    body = clean_text(text)
    user = actor if getattr(actor, "is_authenticated", False) else None
    message = ChatMessage.objects.create(
        conference=conference,
        site=site,
        site_name=site.name,
        author=user,
        author_name=(user.get_full_name() or user.get_username()) if user else "",
        to=to,
        text=body,
    )
    audit_log(
        conference=conference,
        actor=actor,
        action=ACTIONS[ChatTo(to)],
        site=site,
        data={"message": message.pk, "length": len(body)},
    )
    events.send_on_commit(
        groups_for(conference, message), {"type": "chat", "message": message_data(message)}
    )
    return message


@transaction.atomic
def chat_set(*, actor: Any, conference: Conference, enabled: bool) -> LiveState:
    """Turn the conference chat on or off (the chair); audited, and told to every page."""
    conference = _lock(conference)
    _require_chair(actor, conference)
    state = _state(conference)
    if state.chat_enabled == enabled:
        return state
    state.chat_enabled = enabled
    state.save(update_fields=["chat_enabled", "updated_at"])
    audit_log(
        conference=conference, actor=actor, action="live.chat.on" if enabled else "live.chat.off"
    )
    events.broadcast(conference, {"type": "chat_enabled", "chat_enabled": enabled})
    return state
