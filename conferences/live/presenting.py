"""Presenting to every site: the presenter role and what is shown on the content line.

Contract (docs/protocol.md, "Presenting"): the same shape as ``conferences.live.commands`` —
each command is keyword-only, runs in one transaction under the conference's row lock, checks
permission once, writes the change and ONE audit entry, queues its events and (when the media
room must enforce it) tells the room after commit.

- ``presenter_grant`` / ``presenter_revoke`` (chair): the presenter role, one site at a time; a
  new grant takes the role (and the screen, if another site was showing one) from the previous
  site, which sees it in the ``presenter`` event.
- ``presenter_floor`` (chair): whether the site holding the floor may present too.
- ``content_start`` (a site that may present, see ``may_present``): ``kind="screen"`` — its
  content m-line is forwarded to every subscriber from now on (the room forwards content from
  this site only: ``room_state["content"]``) — or ``kind="document"`` — an agenda PDF shown page
  by page from the server's page images (``conferences.services.document_pages``).
- ``content_page`` (the presenting site): turn the document's page.
- ``content_stop`` (the presenting site or the chair), and ``content_drop`` (the system: the
  presenting site's media left, or it lost the right to present).
- ``may_receive_content(participant, conference)`` — whether the media room sends this
  connection the shared screen: the rule of the conference's documents and chat
  (``chat.may_read``). A confidential briefing's screen share is the same material as its
  documents, so an uninvited watch-only observer gets neither; every site does. Decided on
  each offer (the socket passes it to the room, which enforces it).
The ``content`` piece is null or ``{"kind", "site", "document", "name", "page", "pages", "item",
"started_at"}``; the minutes read the start/stop audit entries back (``presentations``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.live.commands import (
    _check_site,
    _lock,
    _require_chair,
    _require_live,
    _require_site,
    _room_sync_on_commit,
    _site,
    _state,
)
from conferences.live.participants import Participant
from conferences.models import AuditEntry, Conference, Document, LiveState

logger = logging.getLogger(__name__)

KINDS = ("screen", "document")


def may_receive_content(participant: Participant, conference: Conference) -> bool:
    """Whether ``participant``'s connection is sent the content line (see the module
    docstring): the documents' and chat's rule, ``chat.may_read``."""
    from conferences.live.chat import may_read

    return may_read(participant, conference)


def may_present(state: LiveState, site: str | None) -> bool:
    """The granted presenter, or the site holding the floor when the chair allows that."""
    if not site:
        return False
    return site == state.presenter or (state.floor_may_present and site == state.floor)


def _presenter_event(conference: Conference, state: LiveState) -> None:
    events.broadcast(
        conference,
        {
            "type": "presenter",
            "presenter": state.presenter or None,
            "floor_may_present": bool(state.floor_may_present),
        },
    )


def _set_content(conference: Conference, state: LiveState, content: dict | None) -> None:
    screen_before = bool(state.content and state.content.get("kind") == "screen")
    state.content = content
    state.save(update_fields=["content", "updated_at"])
    events.broadcast(conference, {"type": "content", "content": content})
    if screen_before or (content and content.get("kind") == "screen"):
        _room_sync_on_commit(conference)


def _stop(conference: Conference, state: LiveState, *, actor: Any, reason: str) -> None:
    """Stop what is shown (audited ``live.content.stop`` with the reason)."""
    content = state.content
    if not content:
        return
    audit_log(
        conference=conference,
        actor=actor,
        action="live.content.stop",
        site=_site(content.get("site")),
        data={
            "kind": content.get("kind"),
            "document": content.get("document"),
            "name": content.get("name", ""),
            "item": content.get("item"),
            "started_at": content.get("started_at"),
            "reason": reason,
        },
    )
    _set_content(conference, state, None)


def content_after_floor(conference: Conference, state: LiveState, *, actor: Any) -> None:
    """Called by the floor commands in their transaction: content shown by right of the floor
    stops when the floor moves on."""
    content = state.content
    if content and not may_present(state, content.get("site")):
        _stop(conference, state, actor=actor, reason="floor")


# --- chair -----------------------------------------------------------------------------------


@transaction.atomic
def presenter_grant(*, actor: Any, conference: Conference, site: str | None) -> LiveState:
    """Make ``site`` the presenter (``None``: revoke). The previous presenter loses the role and
    what it was showing."""
    if site is None:
        return presenter_revoke(actor=actor, conference=conference)
    conference = _lock(conference)
    _require_chair(actor, conference)
    _require_live(conference)
    site = _check_site(conference, site)
    state = _state(conference)
    previous = state.presenter or None
    state.presenter = site
    state.save(update_fields=["presenter", "updated_at"])
    audit_log(
        conference=conference,
        actor=actor,
        action="live.presenter.grant",
        site=_site(site),
        data={"previous": previous, "item": state.current_item_id},
    )
    _presenter_event(conference, state)
    if state.content and not may_present(state, state.content.get("site")):
        _stop(conference, state, actor=actor, reason="revoked")
    return state


@transaction.atomic
def presenter_revoke(*, actor: Any, conference: Conference) -> LiveState:
    conference = _lock(conference)
    _require_chair(actor, conference)
    state = _state(conference)
    previous = state.presenter or None
    state.presenter = ""
    state.save(update_fields=["presenter", "updated_at"])
    audit_log(
        conference=conference,
        actor=actor,
        action="live.presenter.revoke",
        site=_site(previous),
        data={"item": state.current_item_id},
    )
    _presenter_event(conference, state)
    if state.content and not may_present(state, state.content.get("site")):
        _stop(conference, state, actor=actor, reason="revoked")
    return state


@transaction.atomic
def presenter_floor(*, actor: Any, conference: Conference, allowed: bool) -> LiveState:
    """Allow (or not) the site holding the floor to present without a grant."""
    conference = _lock(conference)
    _require_chair(actor, conference)
    state = _state(conference)
    state.floor_may_present = bool(allowed)
    state.save(update_fields=["floor_may_present", "updated_at"])
    audit_log(
        conference=conference,
        actor=actor,
        action="live.presenter.floor",
        data={"allowed": bool(allowed)},
    )
    _presenter_event(conference, state)
    if state.content and not may_present(state, state.content.get("site")):
        _stop(conference, state, actor=actor, reason="floor")
    return state


# --- the presenting site ---------------------------------------------------------------------


def _document(conference: Conference, actor: Any, document: Any) -> tuple[Document, int]:
    """The agenda PDF to show and its page count (read before the row lock: counting pages may
    start the renderer's child process)."""
    from conferences.services import document_pages

    if not isinstance(document, int) or isinstance(document, bool):
        raise ConferenceError("invalid", _("Trường “document” phải là mã tài liệu."))
    found = conference.documents.filter(pk=document).first()
    if found is None or not document_pages.presentable(found):
        raise ConferenceError("not_found", _("Không tìm thấy tài liệu."), status=404)
    if not perms.can_view_documents(actor, conference):
        raise PermissionDeniedError(_("Bạn không được xem tài liệu của hội nghị này."))
    return found, document_pages.page_count(found)


def content_start(
    *,
    actor: Any,
    conference: Conference,
    participant: Participant,
    kind: Any,
    document: Any = None,
    page: Any = 1,
) -> LiveState:
    """Start showing the participant's screen (``kind="screen"``) or an agenda PDF."""
    site = _require_site(participant)
    if kind not in KINDS:
        raise ConferenceError("invalid", _("Trường “kind” phải là “screen” hoặc “document”."))
    doc, pages = (None, 0)
    if kind == "document":
        doc, pages = _document(conference, actor, document)
        page = _page(page, pages)
    return _content_start(
        actor=actor,
        conference=conference,
        site_code=str(site.code),
        kind=kind,
        document=doc,
        page=page if doc else None,
        pages=pages,
    )


@transaction.atomic
def _content_start(
    *,
    actor: Any,
    conference: Conference,
    site_code: str,
    kind: str,
    document: Document | None,
    page: int | None,
    pages: int,
) -> LiveState:
    conference = _lock(conference)
    _require_live(conference)
    state = _state(conference)
    if not may_present(state, site_code):
        raise PermissionDeniedError(_("Điểm cầu chưa được chủ trì cho phép trình chiếu."))
    current = state.content
    if current and current.get("site") != site_code and current.get("site") == state.presenter:
        raise ConferenceError("presenting_busy", _("Một điểm cầu khác đang trình chiếu."))
    if current:
        _stop(conference, state, actor=actor, reason="replaced")
    item = document.agenda_item_id if document and document.agenda_item_id else None
    content = {
        "kind": kind,
        "site": site_code,
        "document": document.pk if document else None,
        "name": document.original_name if document else "",
        "page": page,
        "pages": pages if document else None,
        "item": item or state.current_item_id,
        "started_at": timezone.now().isoformat(),
    }
    audit_log(
        conference=conference,
        actor=actor,
        action="live.content.start",
        site=_site(site_code),
        data={k: content[k] for k in ("kind", "document", "name", "item", "started_at")},
    )
    _set_content(conference, state, content)
    return state


def _page(page: Any, pages: int) -> int:
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= pages:
        raise ConferenceError("no_page", _("Tài liệu không có trang này (1–%(n)s).") % {"n": pages})
    return page


@transaction.atomic
def content_page(
    *, actor: Any, conference: Conference, participant: Participant, page: Any
) -> LiveState:
    """The presenting site turns its document to ``page`` (1-based)."""
    site = _require_site(participant)
    conference = _lock(conference)
    state = _state(conference)
    content = state.content
    if not content or content.get("kind") != "document":
        raise ConferenceError("not_presenting", _("Không có tài liệu nào đang được trình chiếu."))
    if content.get("site") != str(site.code):
        raise PermissionDeniedError(_("Chỉ điểm cầu đang trình chiếu mới được lật trang."))
    page = _page(page, int(content.get("pages") or 0))
    if page == content.get("page"):
        return state
    audit_log(
        conference=conference,
        actor=actor,
        action="live.content.page",
        site=site,
        data={"document": content.get("document"), "page": page},
    )
    _set_content(conference, state, {**content, "page": page})
    return state


@transaction.atomic
def content_stop(*, actor: Any, conference: Conference, participant: Participant) -> LiveState:
    """Stop what is shown: the presenting site itself, or the chair for any site."""
    conference = _lock(conference)
    state = _state(conference)
    content = state.content
    if not content:
        return state
    if participant.observer or content.get("site") != participant.site_code:
        if not participant.chair:
            raise PermissionDeniedError(_("Chỉ chủ trì hoặc điểm cầu đang trình chiếu mới dừng."))
        _require_chair(actor, conference)
    _stop(conference, state, actor=actor, reason="stopped")
    return state


def content_drop(*, conference: Conference, site_code: str, reason: str) -> None:
    """The system stops what ``site_code`` shows (its media left): in the caller's transaction,
    which holds the live state's row lock."""
    state = LiveState.objects.select_for_update().filter(conference=conference).first()
    if state is None or not state.content or state.content.get("site") != site_code:
        return
    _stop(conference, state, actor=None, reason=reason)


# --- reads -----------------------------------------------------------------------------------


def presentations(conference: Conference) -> list[dict[str, Any]]:
    """Every content shown, from its start/stop audit entries: ``{"site", "site_name", "kind",
    "name", "item", "started_at", "ended_at", "actor"}`` in start order (``ended_at`` None when
    it was never stopped, e.g. the conference ended first)."""
    rows: list[dict[str, Any]] = []
    open_by_site: dict[str | None, dict[str, Any]] = {}
    entries = (
        AuditEntry.objects.filter(
            conference=conference, action__in=("live.content.start", "live.content.stop")
        )
        .select_related("site", "actor")
        .order_by("at", "pk")
    )
    for entry in entries:
        key = str(entry.site.code) if entry.site else None
        if entry.action == "live.content.start":
            row = {
                "site": key,
                "site_name": entry.site.name if entry.site else "",
                "kind": entry.data.get("kind", ""),
                "name": entry.data.get("name", ""),
                "item": entry.data.get("item"),
                "started_at": entry.at,
                "ended_at": None,
                "actor": entry.actor,
            }
            rows.append(row)
            open_by_site[key] = row
        else:
            if key in open_by_site:
                open_by_site.pop(key)["ended_at"] = entry.at
    return rows
