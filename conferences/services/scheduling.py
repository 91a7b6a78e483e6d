"""Scheduling conferences: create, edit and move them through their statuses.

Site selections are resolved in ``conferences.services.site_selection``.

Every service is keyword-only, runs in one transaction, checks permission once through
``conferences.permissions`` and raises ``ConferenceError`` without changing anything on bad input.
Every change leaves an ``AuditEntry``. Changes that invited sites must hear about (time, agenda,
cancellation) raise ``Conference.sequence`` (the iCalendar SEQUENCE) and, after commit, call
``conferences.services.notifications.conference_changed`` when that module exists.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import permissions
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import Conference, Invitation, Level, Status, Topic
from conferences.services import site_selection
from conferences.services.topics import topics_for_names
from portal.models import Site, Unit

logger = logging.getLogger(__name__)

# Allowed transitions: ended and cancelled are final; a live conference cannot be cancelled.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.DRAFT: frozenset({Status.SCHEDULED, Status.CANCELLED}),
    Status.SCHEDULED: frozenset({Status.LIVE, Status.ENDED, Status.CANCELLED}),
    Status.LIVE: frozenset({Status.ENDED}),
    Status.ENDED: frozenset(),
    Status.CANCELLED: frozenset(),
}
EDITABLE = frozenset({Status.DRAFT, Status.SCHEDULED})
CLOSED = frozenset({Status.ENDED, Status.CANCELLED})


# --- Conferences ------------------------------------------------------------------------------


def _audit(conference: Conference, actor, action: str, **data: Any) -> None:
    audit_log(conference=conference, actor=actor, action=action, data=data)


def notify_after_commit(conference: Conference, kind: str):
    """After commit, tell the invitation mailer (``services.notifications``) if it is installed;
    returns its ``Delivery`` (who is told, who cannot be) or ``None`` without a mailer.

    The mailer is optional here so that scheduling works before and without it; a failure to send
    is logged and never undoes the saved change.
    """
    name = "conferences.services.notifications"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
    return module.conference_changed(conference, kind)


def _check_times(planned_start: dt.datetime, planned_end: dt.datetime) -> None:
    if planned_start is None or planned_end is None:
        raise ConferenceError("missing_time", _("Cần nhập thời gian bắt đầu và kết thúc."))
    if planned_end <= planned_start:
        raise ConferenceError(
            "end_before_start", _("Thời gian kết thúc phải sau thời gian bắt đầu.")
        )


def conference_day(conference_or_start: Conference | dt.datetime) -> dt.date:
    start = (
        conference_or_start.planned_start
        if isinstance(conference_or_start, Conference)
        else conference_or_start
    )
    return timezone.localdate(start)


def _check_fields(
    *,
    title: str,
    level: str,
    host_unit: Unit,
    chair_site: Site | None,
    day: dt.date,
    sites: list[Site],
) -> None:
    if not title or not title.strip():
        raise ConferenceError("missing_title", _("Cần nhập tên hội nghị."))
    if level not in Level.values:
        raise ConferenceError("bad_level", _("Cấp hội nghị không hợp lệ."))
    if not host_unit.is_valid_on(day):
        raise ConferenceError(
            "host_not_valid",
            _("Đơn vị chủ trì không còn hiệu lực ngày %(day)s.") % {"day": f"{day:%d/%m/%Y}"},
        )
    if chair_site is not None and not chair_site.unit.is_valid_on(day):
        raise ConferenceError(
            "chair_not_valid",
            _("Điểm cầu chủ trì không thuộc cây tổ chức ngày %(day)s.")
            % {"day": f"{day:%d/%m/%Y}"},
        )
    stale = [s.name for s in sites if not s.unit.is_valid_on(day)]
    if stale:
        raise ConferenceError(
            "bad_selection", _("Có điểm cầu không thuộc cây tổ chức ngày họp."), details=stale
        )


def _check_scope(
    *, actor, level: str, host_unit: Unit, chair_site: Site | None, sites: list[Site]
) -> None:
    """The level, host and the clerk's subtrees decide who may be invited (the chair site too)."""
    scope = site_selection.invitation_scope(actor=actor, level=level, host_unit=host_unit)
    everyone = [*sites, *([chair_site] if chair_site is not None else [])]
    site_selection.scope_check(scope=scope, level=level, host_unit=host_unit, sites=everyone)


def topics_from_names(names: Iterable[str]) -> list[Topic]:
    """Topic tags by name, matched case- and diacritic-insensitively (``services.topics``)."""
    return topics_for_names(names)


def _set_invitations(conference: Conference, sites: Iterable[Site]) -> dict[str, list[str]]:
    """Make the invitations exactly ``sites`` (plus the chair site); unit = the site's unit."""
    wanted = {s.pk: s for s in sites}
    if conference.chair_site_id and conference.chair_site_id not in wanted:
        wanted[conference.chair_site_id] = conference.chair_site
    existing = {inv.site_id: inv for inv in conference.invitations.all()}
    removed = [pk for pk in existing if pk not in wanted]
    added = [s for pk, s in wanted.items() if pk not in existing]
    if removed:
        # Attendance is append-only: a site that has answered (confirmed, readiness, roll call,
        # joined) stays invited; the clerk records its absence instead.
        used = (
            conference.invitations.filter(site_id__in=removed)
            .filter(
                Q(entries__isnull=False)
                | Q(presence__isnull=False)
                | Q(roll_call_answers__isnull=False)
            )
            .select_related("site")
            .distinct()
        )
        if used:
            raise ConferenceError(
                "invitation_in_use",
                _(
                    "Không thể bỏ mời điểm cầu đã xác nhận hoặc đã có ghi nhận tham dự; hãy ghi vắng thay vì bỏ mời."
                ),
                details=[inv.site.name for inv in used],
            )
        conference.invitations.filter(site_id__in=removed).delete()
    Invitation.objects.bulk_create(
        [Invitation(conference=conference, site=s, unit=s.unit) for s in added]
    )
    return {"added": [s.key for s in added], "removed": [existing[pk].site.key for pk in removed]}


@transaction.atomic
def conference_create(
    *,
    actor,
    title: str,
    level: str,
    host_unit: Unit,
    chair_site: Site | None,
    planned_start: dt.datetime,
    planned_end: dt.datetime,
    topics: Iterable[str] = (),
    confidential: bool = False,
    description: str = "",
    sites: Iterable[Site] = (),
    chair_name: str = "",
) -> Conference:
    """A new conference in ``draft`` hosted by ``host_unit``, with one invitation per site
    (the chair site is always invited)."""
    if not permissions.can_create_for(actor, host_unit):
        raise PermissionDeniedError(_("Bạn không có quyền tạo hội nghị cho đơn vị này."))
    _check_times(planned_start, planned_end)
    day = conference_day(planned_start)
    sites = list(sites)
    _check_fields(
        title=title, level=level, host_unit=host_unit, chair_site=chair_site, day=day, sites=sites
    )
    _check_scope(actor=actor, level=level, host_unit=host_unit, chair_site=chair_site, sites=sites)
    conference = Conference.objects.create(
        title=title.strip(),
        level=level,
        host_unit=host_unit,
        chair_site=chair_site,
        chair_name=chair_name.strip(),
        planned_start=planned_start,
        planned_end=planned_end,
        confidential=confidential,
        description=description,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    conference.topics.set(topics_from_names(topics))
    changes = _set_invitations(conference, sites)
    _audit(
        conference,
        actor,
        "conference.created",
        title=conference.title,
        level=level,
        host_unit=host_unit.code,
        planned_start=planned_start.isoformat(),
        planned_end=planned_end.isoformat(),
        sites=changes["added"],
    )
    return conference


_UPDATABLE = (
    "title",
    "level",
    "host_unit",
    "chair_site",
    "chair_name",
    "planned_start",
    "planned_end",
    "confidential",
    "description",
)


@transaction.atomic
def conference_update(
    *,
    actor,
    conference: Conference,
    topics: Iterable[str] | None = None,
    sites: Iterable[Site] | None = None,
    **fields: Any,
) -> Conference:
    """Change a draft or scheduled conference. ``fields`` are any of ``_UPDATABLE``;
    ``sites`` (when given) replaces the invited sites. A new time raises the SEQUENCE."""
    unknown = set(fields) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"conference_update() got unexpected fields {sorted(unknown)}")
    conference = (
        Conference.objects.select_for_update(of=("self",))
        .select_related("host_unit", "chair_site__unit")
        .get(pk=conference.pk)
    )
    if not permissions.can_manage(actor, conference):
        raise PermissionDeniedError(_("Bạn không quản lý hội nghị này."))
    if conference.status not in EDITABLE:
        raise ConferenceError(
            "not_editable", _("Chỉ sửa được hội nghị ở trạng thái nháp hoặc đã lên lịch.")
        )
    new_host = fields.get("host_unit", conference.host_unit)
    if new_host != conference.host_unit and not permissions.can_create_for(actor, new_host):
        raise PermissionDeniedError(
            _("Bạn không có quyền chuyển hội nghị sang đơn vị chủ trì này.")
        )
    start = fields.get("planned_start", conference.planned_start)
    end = fields.get("planned_end", conference.planned_end)
    _check_times(start, end)
    day = conference_day(start)
    site_list = (
        list(sites)
        if sites is not None
        else [inv.site for inv in conference.invitations.select_related("site__unit")]
    )
    new_level = fields.get("level", conference.level)
    new_chair = fields.get("chair_site", conference.chair_site)
    _check_fields(
        title=fields.get("title", conference.title),
        level=new_level,
        host_unit=new_host,
        chair_site=new_chair,
        day=day,
        sites=site_list,
    )
    # Who may be invited is checked when it could change, so that editing the title of an older
    # conference does not fail on invitations made under earlier rules.
    wanted = {s.pk for s in site_list} | ({new_chair.pk} if new_chair is not None else set())
    invited_before = set(conference.invitations.values_list("site_id", flat=True))
    if (
        new_level != conference.level
        or new_host != conference.host_unit
        or new_chair != conference.chair_site
        or wanted != invited_before
    ):
        _check_scope(
            actor=actor, level=new_level, host_unit=new_host, chair_site=new_chair, sites=site_list
        )
    changed: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "title":
            value = value.strip()
        old = getattr(conference, name)
        if old != value:
            changed[name] = _jsonable(value)
            setattr(conference, name, value)
    time_changed = "planned_start" in changed or "planned_end" in changed
    if time_changed:
        conference.sequence += 1
    conference.save()
    if topics is not None:
        new_topics = topics_from_names(topics)
        if {t.pk for t in new_topics} != set(conference.topics.values_list("pk", flat=True)):
            conference.topics.set(new_topics)
            changed["topics"] = [t.name for t in new_topics]
    if sites is not None or "chair_site" in changed:
        invites = _set_invitations(conference, site_list)
        if invites["added"] or invites["removed"]:
            changed["sites"] = invites
    conference.delivery = None
    if changed:
        _audit(conference, actor, "conference.updated", **changed)
        if conference.status == Status.SCHEDULED:
            conference.delivery = notify_after_commit(conference, "updated")
    return conference


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Unit):
        return value.code
    if isinstance(value, Site):
        return value.key
    return value


@transaction.atomic
def conference_transition(*, actor, conference: Conference, to: str) -> Conference:
    """Move a conference along draft → scheduled → live → ended, or cancel it before it starts.

    Scheduling and cancelling are for its managers (clerk/admin over the host
    unit); starting and ending also for its chair. Ended and cancelled are final. Starting and
    ending go through ``conferences.live.lifecycle`` — the one way a conference goes live or
    ends (presence closed, the ``conference`` event sent, the media room told).
    """
    if to in (Status.LIVE, Status.ENDED):
        from conferences.live import lifecycle

        if to == Status.LIVE:
            return lifecycle.conference_start(actor=actor, conference=conference)
        return lifecycle.conference_end(actor=actor, conference=conference)
    conference = (
        Conference.objects.select_for_update(of=("self",))
        .select_related("host_unit")
        .get(pk=conference.pk)
    )
    if to not in Status.values:
        raise ConferenceError("bad_status", _("Trạng thái không hợp lệ."))
    allowed = (
        permissions.can_chair(actor, conference)
        if to in (Status.LIVE, Status.ENDED)
        else permissions.can_manage(actor, conference)
    )
    if not allowed:
        raise PermissionDeniedError(_("Bạn không quản lý hội nghị này."))
    current = conference.status
    if to not in TRANSITIONS[current]:
        raise ConferenceError(
            "bad_transition",
            _("Không thể chuyển hội nghị từ “%(old)s” sang “%(new)s”.")
            % {"old": Status(current).label, "new": Status(to).label},
        )
    now = timezone.now()
    conference.status = to
    if to == Status.LIVE:
        conference.actual_start = conference.actual_start or now
    elif to == Status.ENDED:
        conference.actual_end = now
    elif to == Status.CANCELLED:
        conference.sequence += 1
    conference.save()
    _audit(conference, actor, "conference.transition", **{"from": current, "to": to})
    # What the mailing does is kept on the returned object so the page can tell the clerk.
    conference.delivery = None
    if to == Status.SCHEDULED:
        conference.delivery = notify_after_commit(conference, "scheduled")
    elif to == Status.CANCELLED and current == Status.SCHEDULED:
        conference.delivery = notify_after_commit(conference, "cancelled")
    return conference


def conference_touch_agenda(*, conference: Conference, actor, action: str, **data: Any) -> None:
    """Record an agenda change: audit it, raise the SEQUENCE, and tell invited sites after commit.

    Called by ``services.agenda`` inside its transaction.
    """
    Conference.objects.filter(pk=conference.pk).update(
        sequence=conference.sequence + 1, updated_at=timezone.now()
    )
    conference.sequence += 1
    _audit(conference, actor, action, **data)
    if conference.status == Status.SCHEDULED:
        notify_after_commit(conference, "updated")
