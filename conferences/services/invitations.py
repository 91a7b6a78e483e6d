"""What an invited site does before the conference: confirm, mark the technical check done;
and the site's private calendar feed.

Contract: only the operator of an invited site (or a clerk managing the conference) acts for it;
confirm/readiness append attendance entries (source "site" or "clerk") and stamp the invitation
(``confirmed_at``; ``ready_at``/``ready_by``). Readiness is a check *before* the start: it is
refused once the conference is live, ended or cancelled.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import (
    AttendanceEntry,
    AttendanceSource,
    AttendanceStatus,
    CalendarFeed,
    Invitation,
    Status,
    _token,
)
from conferences.services.attendance import PROGRESS, _append, _lock
from portal import permissions as org
from portal.models import Membership, Role, Site


def _source_for(actor, invitation: Invitation) -> str:
    conference = invitation.conference
    if perms.can_operate(actor, conference, invitation.site):
        return AttendanceSource.SITE
    if perms.can_manage(actor, conference):
        return AttendanceSource.CLERK
    raise PermissionDeniedError()


@transaction.atomic
def invitation_confirm(*, actor, invitation: Invitation) -> AttendanceEntry | None:
    """The site confirms it will attend. Confirming twice is harmless (returns ``None``)."""
    invitation = _lock(invitation)
    source = _source_for(actor, invitation)
    if invitation.conference.status not in {Status.SCHEDULED, Status.LIVE}:
        raise ConferenceError("not_running", _("Hội nghị không còn nhận xác nhận tham dự."))
    if invitation.confirmed_at is not None:
        return None
    invitation.confirmed_at = timezone.now()
    invitation.save(update_fields=["confirmed_at"])
    audit_log(
        conference=invitation.conference,
        actor=actor,
        site=invitation.site,
        action="invitation.confirm",
        data={"site": invitation.site.key},
    )
    if invitation.status in PROGRESS[:2]:  # never moves a ready/connected site back
        return _append(
            actor=actor, invitation=invitation, source=source, status=AttendanceStatus.CONFIRMED
        )
    return None


@transaction.atomic
def invitation_mark_ready(*, actor, invitation: Invitation) -> AttendanceEntry:
    """The site's technical check is done: stamp time and who, and log a "ready" entry."""
    invitation = _lock(invitation)
    source = _source_for(actor, invitation)
    if invitation.conference.status != Status.SCHEDULED:
        raise ConferenceError(
            "not_before_start", _("Chỉ kiểm tra kỹ thuật trước khi hội nghị bắt đầu.")
        )
    invitation.ready_at = timezone.now()
    invitation.ready_by = actor
    if invitation.confirmed_at is None:
        invitation.confirmed_at = invitation.ready_at
    invitation.save(update_fields=["ready_at", "ready_by", "confirmed_at"])
    audit_log(
        conference=invitation.conference,
        actor=actor,
        site=invitation.site,
        action="invitation.ready",
        data={"site": invitation.site.key},
    )
    return _append(actor=actor, invitation=invitation, source=source, status=AttendanceStatus.READY)


def calendar_feed_for(site: Site) -> CalendarFeed:
    feed, _created = CalendarFeed.objects.get_or_create(site=site)
    return feed


@transaction.atomic
def calendar_feed_rotate(*, actor, site: Site) -> CalendarFeed:
    """Give the site a new feed token; the old URL stops working at once."""
    if not (org.operates_site(actor, site) or org.can_manage_unit(actor, site.unit)):
        raise PermissionDeniedError()
    feed = calendar_feed_for(site)
    feed.token = _token()
    feed.save(update_fields=["token"])
    return feed


def site_operators(sites) -> dict[int, list]:
    """Site id → its operators: users named on the site, then holders of the operator role over
    the site's unit (two queries, whatever the number of sites)."""
    sites = list(sites)
    out: dict[int, list] = {site.pk: [] for site in sites}
    through = Site.operators.through.objects.filter(site_id__in=list(out)).select_related("user")
    for row in through:
        out[row.site_id].append(row.user)
    roles = list(Membership.objects.filter(role=Role.OPERATOR).select_related("user", "unit"))
    for site in sites:
        for m in roles:
            if site.unit.path.startswith(m.unit.path) and m.user not in out[site.pk]:
                out[site.pk].append(m.user)
    return out
