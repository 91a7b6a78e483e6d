"""Invitation e-mails with an iCalendar attachment, sent when a conference is scheduled,
changed or cancelled.

Contract: ``conference_changed(conference, kind)`` with ``kind`` in "scheduled", "updated",
"cancelled" sends — after the current transaction commits — one e-mail to every operator of an
invited site (named on the site, or holding the operator role over the site's unit), each with
``hoi-nghi.ics`` (``METHOD:REQUEST``, or ``METHOD:CANCEL`` for a cancellation). A user operating
several invited sites gets one e-mail listing them. Mail goes through Django's mail API; a failure
is logged and never undoes the change that triggered it.

``conference_changed`` returns a :class:`Delivery` so that the clerk is told what happened: how
many people are mailed, which invited sites have no operator account (nobody to tell) or whose
operators have no e-mail address, and — once the mail has left after commit — how many were sent
or that sending failed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from conferences import live_links
from conferences.calendar import invitation_ics
from conferences.models import Conference
from conferences.services.invitations import site_operators

logger = logging.getLogger(__name__)

KINDS = ("scheduled", "updated", "cancelled")
SUBJECTS = {
    "scheduled": "[Giao ban] Giấy mời họp trực tuyến: {title}",
    "updated": "[Giao ban] Thay đổi lịch họp trực tuyến: {title}",
    "cancelled": "[Giao ban] Hủy hội nghị trực tuyến: {title}",
}


@dataclass
class Delivery:
    """What an invitation mailing does. ``sent`` is ``None`` until the mail has been handed to
    the mail server after commit; ``failed`` is set when that raised."""

    kind: str
    recipients: int = 0  # people with an e-mail address who get a message
    sites_reached: int = 0  # invited sites at least one of those people operates
    sites_without_operator: list[str] = field(default_factory=list)
    sites_without_email: list[str] = field(default_factory=list)
    sent: int | None = None
    failed: bool = False


def delivery_plan(conference: Conference, kind: str) -> Delivery:
    """Who a mailing of ``kind`` reaches, without sending anything (the chair site is the host's
    own room and is not counted)."""
    invitations = list(
        conference.invitations.select_related("site", "site__unit")
        .exclude(site_id=conference.chair_site_id)
        .order_by("unit__path", "site__key")
    )
    operators = site_operators([inv.site for inv in invitations])
    delivery = Delivery(kind=kind)
    people = set()
    for inv in invitations:
        users = [u for u in operators.get(inv.site_id, []) if u.is_active]
        with_mail = [u for u in users if u.email]
        if not users:
            delivery.sites_without_operator.append(inv.site.name)
        elif not with_mail:
            delivery.sites_without_email.append(inv.site.name)
        else:
            delivery.sites_reached += 1
            people.update(u.pk for u in with_mail)
    delivery.recipients = len(people)
    return delivery


def conference_recipients(conference: Conference) -> dict[int, list]:
    """User id → invited sites they operate (explicitly or by an operator role over the unit)."""
    sites = [inv.site for inv in conference.invitations.select_related("site", "site__unit")]
    sites_of: dict[int, list] = defaultdict(list)
    for site_id, users in site_operators(sites).items():
        site = next(s for s in sites if s.pk == site_id)
        for user in users:
            sites_of[user.pk].append(site)
    return sites_of


def _messages(conference: Conference, kind: str) -> list[EmailMultiAlternatives]:
    sites_of = conference_recipients(conference)
    users = (
        get_user_model()
        .objects.filter(pk__in=list(sites_of), is_active=True)
        .exclude(email="")
        .order_by("pk")
    )
    ics = invitation_ics(conference, kind)
    method = "CANCEL" if kind == "cancelled" else "REQUEST"
    subject = SUBJECTS[kind].format(title=conference.title)[:250]
    out = []
    for user in users:
        sites = sites_of[user.pk]
        context = {
            "conference": conference,
            "kind": kind,
            "user": user,
            "sites": sites,
            # (site, its page, its live room: opens ROOM_OPENS_BEFORE the start, conferences.live_links)
            "entries": [
                (
                    s,
                    settings.SITE_URL
                    + reverse("operator_conference", args=[conference.code, s.code]),
                    settings.SITE_URL + live_links.join_url(conference, str(s.code)),
                )
                for s in sites
            ],
            "room_opens_minutes": int(live_links.ROOM_OPENS_BEFORE.total_seconds() // 60),
            "my_url": settings.SITE_URL + reverse("my_conferences"),
        }
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("conferences/email/invitation.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[user.email],
        )
        message.attach_alternative(
            render_to_string("conferences/email/invitation.html", context), "text/html"
        )
        message.attach("hoi-nghi.ics", ics, f"text/calendar; charset=utf-8; method={method}")
        out.append(message)
    return out


def conference_send(*, conference_id: int, kind: str) -> int:
    """Send the e-mails now; returns how many were sent."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    conference = Conference.objects.select_related("host_unit", "chair_site").get(pk=conference_id)
    messages = _messages(conference, kind)
    if not messages:
        return 0
    return get_connection(fail_silently=False).send_messages(messages) or 0


def conference_changed(conference: Conference, kind: str) -> Delivery:
    """Mail the invited sites' operators after commit; returns the plan, completed once sent."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    conference_id = conference.pk
    delivery = delivery_plan(conference, kind)

    def _send() -> None:
        try:
            delivery.sent = conference_send(conference_id=conference_id, kind=kind)
            logger.info(
                "sent %s invitation e-mails (%s) for conference %s",
                delivery.sent,
                kind,
                conference_id,
            )
        except Exception:
            delivery.failed = True
            logger.exception("could not send %s e-mails for conference %s", kind, conference_id)

    transaction.on_commit(_send)
    return delivery
