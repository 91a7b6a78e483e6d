"""Who joins a live conference as whom — the one place that decides it (docs/protocol.md §1).

Contract:
- ``participant_for_socket(user=, code=, token=, site=)`` turns a WebSocket's credentials (the
  session user, a personal join link ``?t=``, a chosen ``?site=``) into the conference and the
  ``Participant`` the connection speaks for, or raises ``JoinRefused`` with the close code and
  reason the socket closes with;
- ``participant_resolve(user=, conference=, site_code=)`` decides the (user, site) pair for a
  known user, or raises ``PermissionDeniedError``: only a site's operators speak for an invited
  site, holders of chair rights for the chair site, and whoever may watch
  (``permissions.can_watch``) but speaks for no site is a watch-only observer (``watch=True``
  asks for that);
- ``participant_for_link(user=, conference=, site_code=)``: a personal join link speaks for the
  invited site it was issued for.
A participant is a (user, site) pair: the site is the identity in the room, on the floor, in the
hand queue and in the attendance log. Join links are verified by ``conferences.joinlinks``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from conferences import permissions as perms
from conferences.errors import PermissionDeniedError
from conferences.joinlinks import JoinLinkError, join_link_read, join_link_user
from conferences.models import Conference, Invitation
from portal.models import Site


class JoinRefused(Exception):
    """The socket must close with ``code`` (4401/4403/4404) and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


SITE = "site"
CHAIR = "chair"
OBSERVER = "observer"
OBSERVER_PREFIX = "observer-"


def is_observer_id(participant_id: str) -> bool:
    """Media-room ids of observers (sites are UUIDs)."""
    return isinstance(participant_id, str) and participant_id.startswith(OBSERVER_PREFIX)


def _observer_id() -> str:
    return OBSERVER_PREFIX + uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Participant:
    """Who a connection speaks for: a user, as a site — or, for a watch-only observer, as
    nobody (``site`` None; ``site_code`` is then a per-connection id in the media room that is
    never a site's, so the observer is in no slot, no presence, no attendance)."""

    user: Any
    site: Site | None
    invitation: Invitation | None
    chair: bool
    organiser: bool
    role: str = SITE
    observer_id: str = field(default_factory=_observer_id)

    @property
    def observer(self) -> bool:
        return self.role == OBSERVER

    @property
    def site_code(self) -> str:
        return str(self.site.code) if self.site is not None else self.observer_id


def participant_resolve(
    *, user, conference: Conference, site_code: str | None = None, watch: bool = False
) -> Participant:
    """The participant ``user`` is in ``conference`` (see docs/protocol.md §1).

    Only a site's operators (named on the site, or holding the operator role over its unit)
    speak for an invited site; holders of chair rights speak for the chair site. A role over an
    invited site's unit (clerk, chair, leader of a district) does not make its holder that
    site: the site has one connection, and taking it would cut its real operator off. Whoever
    speaks for no site but may watch (``permissions.can_watch``) is an observer; ``watch=True``
    asks for that even when the user could speak for a site.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDeniedError()
    organiser = perms.is_organiser(user, conference)
    chair = perms.can_chair(user, conference)
    invitations = conference.invitations.select_related("site", "unit")
    chair_site = conference.chair_site

    def as_site(site: Site, invitation: Invitation | None, role: str = SITE) -> Participant:
        return Participant(
            user=user, site=site, invitation=invitation, chair=chair, organiser=organiser, role=role
        )

    def observer() -> Participant:
        if not perms.can_watch(user, conference):
            raise PermissionDeniedError(_("Bạn không được mời theo dõi hội nghị này."))
        return Participant(
            user=user, site=None, invitation=None, chair=False, organiser=organiser, role=OBSERVER
        )

    if watch:
        return observer()

    def chair_participant() -> Participant:
        if chair_site is None:
            raise PermissionDeniedError(_("Hội nghị chưa có điểm cầu chủ trì."))
        return as_site(chair_site, invitations.filter(site=chair_site).first(), CHAIR)

    if site_code:
        invitation = invitations.filter(site__code=site_code).first()
        if invitation is not None and perms.can_operate(user, conference, invitation.site):
            return as_site(invitation.site, invitation)
        if chair and chair_site is not None and str(chair_site.code) == str(site_code):
            return chair_participant()
        raise PermissionDeniedError(_("Bạn không phải cán bộ kỹ thuật của điểm cầu này."))
    if chair:
        return chair_participant()
    invitation = (
        perms.operated_invitations(user, conference)
        .select_related("site", "unit")
        .order_by("unit__path", "site__key")
        .first()
    )
    if invitation is None:
        return observer()
    return as_site(invitation.site, invitation)


def participant_for_link(*, user, conference: Conference, site_code: str) -> Participant:
    """A personal join link speaks for the site it was issued for, while that site is invited
    (the clerk chose its holder: ``services.join_links.may_hold``)."""
    invitation = (
        conference.invitations.select_related("site", "unit").filter(site__code=site_code).first()
    )
    if invitation is None or not user.is_active:
        raise PermissionDeniedError()
    return Participant(
        user=user,
        site=invitation.site,
        invitation=invitation,
        chair=perms.can_chair(user, conference),
        organiser=perms.is_organiser(user, conference),
    )


def participant_for_socket(
    *, user: Any, code: str, token: str | None, site: str | None, watch: bool = False
) -> tuple[Conference, Participant]:
    """The conference and participant of a connection, or ``JoinRefused``.

    A join-link token fixes both user and site and is used even when a session exists; a bad
    token is never silently replaced by the session.
    """
    try:
        conference = Conference.objects.select_related("chair_site", "host_unit").get(code=code)
    except (Conference.DoesNotExist, ValidationError, ValueError):
        raise JoinRefused(4404, "not_found") from None
    if token is not None:
        try:
            link = join_link_read(token, conference_code=str(conference.code))
            user = join_link_user(link)
        except JoinLinkError as exc:
            raise JoinRefused(4403, exc.code) from None
        try:
            return conference, participant_for_link(
                user=user, conference=conference, site_code=link.site_code
            )
        except PermissionDeniedError:
            raise JoinRefused(4403, "join_link_invalid") from None
    if not getattr(user, "is_authenticated", False):
        raise JoinRefused(4401, "unauthenticated")
    try:
        return conference, participant_resolve(
            user=user, conference=conference, site_code=site, watch=watch
        )
    except PermissionDeniedError:
        raise JoinRefused(4403, "forbidden") from None
