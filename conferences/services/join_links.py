"""The clerk's personal join links: issue, resend by e-mail, revoke (``conferences.joinlinks``
reads and checks them).

Contract: only a manager of the conference (``permissions.can_manage``) acts; links are for an
invited site and a person who may speak for it (its operator, or a user holding a role over the
site's unit: the link is the clerk's delegation — without it only the site's operators join as
the site, ``conferences.live.participants``); a link expires at the latest 7 days after
the planned end; ended or cancelled conferences get no new links. Issuing, sending and revoking
each write one audit entry; mail leaves after commit and a failure to send is logged, never undoes
the record.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import joinlinks
from conferences import permissions as perms
from conferences.audit import audit_log as audit
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import Conference, Invitation, PersonalJoinLink, Status
from conferences.services.invitations import site_operators
from portal import permissions as org
from portal.models import Membership, Site

logger = logging.getLogger(__name__)

MAX_AFTER_END = dt.timedelta(days=7)
CLOSED = frozenset({Status.ENDED, Status.CANCELLED})


def link_state(link: PersonalJoinLink, now: dt.datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


def may_hold(user, conference: Conference, invitation: Invitation) -> bool:
    """May ``user`` hold a link for this invited site (its operator, or a role over its unit)?"""
    if not getattr(user, "is_active", False):
        return False
    return perms.can_operate(user, conference, invitation.site) or org.has_role_over(
        user, perms.ALL_ROLES, invitation.unit
    )


def holder_choices(invitations: list[Invitation]) -> dict[int, list]:
    """Site id → people a link is usually made for: the site's operators, then users holding a
    role on the site's own unit (not everybody above it: a province clerk is not a commune's
    participant). Three queries whatever the number of sites."""
    sites = [inv.site for inv in invitations]
    out = {
        site_id: [u for u in users if u.is_active]
        for site_id, users in site_operators(sites).items()
    }
    unit_sites: dict[int, list[Site]] = {}
    for site in sites:
        unit_sites.setdefault(site.unit_id, []).append(site)
    members = Membership.objects.filter(unit_id__in=list(unit_sites), user__is_active=True)
    for m in members.select_related("user").order_by("user__username"):
        for site in unit_sites[m.unit_id]:
            if m.user not in out[site.pk]:
                out[site.pk].append(m.user)
    return out


def _check_manager(actor, conference: Conference) -> None:
    if not perms.can_manage(actor, conference):
        raise PermissionDeniedError(_("Bạn không quản lý hội nghị này."))


def _check_open(conference: Conference) -> None:
    if conference.status in CLOSED:
        raise ConferenceError(
            "conference_closed", _("Hội nghị đã kết thúc hoặc đã hủy: không cấp liên kết tham dự.")
        )


def _check_expiry(conference: Conference, expires_at: dt.datetime | None) -> dt.datetime:
    expires = expires_at or joinlinks.default_expiry(conference)
    if expires <= timezone.now():
        raise ConferenceError("bad_expiry", _("Thời hạn của liên kết phải ở tương lai."))
    if expires > conference.planned_end + MAX_AFTER_END:
        raise ConferenceError(
            "bad_expiry",
            _("Liên kết chỉ có hạn tối đa 7 ngày sau giờ kết thúc dự kiến của hội nghị."),
        )
    return expires


def _issue(
    *, actor, conference: Conference, invitation: Invitation, user, expires
) -> PersonalJoinLink:
    link = joinlinks.join_link_create(
        conference=conference,
        user=user,
        site=invitation.site,
        expires_at=expires,
        created_by=actor,
    )
    audit(
        conference=conference,
        actor=actor,
        action="join_link.issued",
        data={
            "link": link.pk,
            "site": invitation.site.key,
            "user": user.get_username(),
            "expires_at": expires.isoformat(),
        },
    )
    return link


@transaction.atomic
def join_link_issue(
    *, actor, conference: Conference, site: Site, user, expires_at: dt.datetime | None = None
) -> PersonalJoinLink:
    """A new personal link for ``user`` to join as ``site`` (default expiry: planned end + 12 h)."""
    conference = Conference.objects.select_for_update(of=("self",)).get(pk=conference.pk)
    _check_manager(actor, conference)
    _check_open(conference)
    invitation = conference.invitations.select_related("site", "unit").filter(site=site).first()
    if invitation is None:
        raise ConferenceError("not_invited", _("Điểm cầu này không được mời dự hội nghị."))
    if user is None or not may_hold(user, conference, invitation):
        raise ConferenceError(
            "bad_holder",
            _(
                "Người nhận liên kết phải là cán bộ kỹ thuật hoặc người có vai trò tại đơn vị của điểm cầu."
            ),
        )
    expires = _check_expiry(conference, expires_at)
    return _issue(
        actor=actor, conference=conference, invitation=invitation, user=user, expires=expires
    )


@transaction.atomic
def join_links_issue_missing(
    *, actor, conference: Conference, expires_at: dt.datetime | None = None
) -> tuple[list[PersonalJoinLink], list[str]]:
    """A link for every invited site (but the chair's own) that has no active one, made for its
    first usual holder (``holder_choices``: its operator first). Returns the new links and the
    names of the sites nobody could be given one for (no operator account)."""
    conference = Conference.objects.select_for_update(of=("self",)).get(pk=conference.pk)
    _check_manager(actor, conference)
    _check_open(conference)
    expires = _check_expiry(conference, expires_at)
    now = timezone.now()
    covered = set(
        conference.join_links.filter(revoked_at__isnull=True, expires_at__gt=now).values_list(
            "site_id", flat=True
        )
    )
    invitations = [
        inv
        for inv in conference.invitations.select_related("site", "unit").order_by(
            "unit__path", "site__key"
        )
        if inv.site_id not in covered and inv.site_id != conference.chair_site_id
    ]
    holders = holder_choices(invitations)
    issued, nobody = [], []
    for inv in invitations:
        user = next((u for u in holders.get(inv.site_id, []) if may_hold(u, conference, inv)), None)
        if user is None:
            nobody.append(inv.site.name)
            continue
        issued.append(
            _issue(actor=actor, conference=conference, invitation=inv, user=user, expires=expires)
        )
    return issued, nobody


def _locked(link: PersonalJoinLink) -> PersonalJoinLink:
    return (
        PersonalJoinLink.objects.select_for_update(of=("self",))
        .select_related("conference__host_unit", "site__unit", "user")
        .get(pk=link.pk)
    )


@transaction.atomic
def join_link_revoke(*, actor, link: PersonalJoinLink) -> PersonalJoinLink:
    """Revoke the link: from now on the page and the socket refuse it."""
    link = _locked(link)
    _check_manager(actor, link.conference)
    if link.revoked_at is not None:
        raise ConferenceError("already_revoked", _("Liên kết này đã bị thu hồi."))
    link.revoked_at = timezone.now()
    link.revoked_by = actor if getattr(actor, "pk", None) else None
    link.save(update_fields=["revoked_at", "revoked_by"])
    audit(
        conference=link.conference,
        actor=actor,
        action="join_link.revoked",
        data={"link": link.pk, "site": link.site.key, "user": link.user.get_username()},
    )
    return link


def link_recipients(link: PersonalJoinLink) -> list[str]:
    """E-mail addresses a link is sent to: the site's operators and the person it is for."""
    users = [*site_operators([link.site]).get(link.site_id, []), link.user]
    return sorted({u.email for u in users if u.is_active and u.email})


@transaction.atomic
def join_links_send_unsent(*, actor, conference: Conference) -> tuple[int, list[str]]:
    """E-mail every active link not sent yet; returns how many were sent and the sites whose
    people have no e-mail address (their links stay to be copied by hand)."""
    _check_manager(actor, conference)
    links = conference.join_links.filter(
        revoked_at__isnull=True, expires_at__gt=timezone.now(), sent_at__isnull=True
    ).select_related("site")
    sent, unreachable = 0, []
    for link in links.order_by("site__unit__path", "site__key", "id"):
        try:
            join_link_send(actor=actor, link=link)
        except ConferenceError as exc:
            if exc.code != "no_recipient":
                raise
            unreachable.append(link.site.name)
        else:
            sent += 1
    return sent, unreachable


@transaction.atomic
def join_link_send(*, actor, link: PersonalJoinLink) -> list[str]:
    """E-mail the link (after commit) to the site's operators and its holder; returns the
    addresses. Refused for a revoked or expired link, or when nobody has an e-mail address."""
    link = _locked(link)
    _check_manager(actor, link.conference)
    state = link_state(link)
    if state != "active":
        raise ConferenceError(
            f"join_link_{state}",
            _("Liên kết đã bị thu hồi.") if state == "revoked" else _("Liên kết đã hết hạn."),
        )
    recipients = link_recipients(link)
    if not recipients:
        raise ConferenceError(
            "no_recipient",
            _(
                "Cán bộ kỹ thuật của điểm cầu chưa có địa chỉ e-mail: hãy sao chép liên kết và gửi bằng cách khác."
            ),
        )
    link.sent_at = timezone.now()
    link.save(update_fields=["sent_at"])
    audit(
        conference=link.conference,
        actor=actor,
        action="join_link.sent",
        data={"link": link.pk, "site": link.site.key, "recipients": len(recipients)},
    )
    context = {"link": link, "conference": link.conference, "url": joinlinks.link_url(link)}
    subject = f"[Giao ban] Liên kết tham dự: {link.conference.title}"[:250]
    body = render_to_string("conferences/email/join_link.txt", context)

    def _send() -> None:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
        except Exception:
            logger.exception("could not send join link %s", link.pk)

    transaction.on_commit(_send)
    return recipients
