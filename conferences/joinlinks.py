"""Personal join links (for a phone or tablet participant invited by name): reading and checking.

A link is a stored ``PersonalJoinLink`` row naming the conference, the user and the site they
join as, and an expiry; its token is random and unguessable, so a link can be copied again,
resent and revoked (``conferences.services.join_links`` issues, sends and revokes them for the
clerk). The WebSocket accepts the token as ``?t=<token>`` (docs/protocol.md §1) and checks it
with :func:`join_link_read` + :func:`join_link_user`; the page at URL name ``join_link``
(:func:`join_link_view`) signs nobody in, it only hands the token on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences.models import Conference, PersonalJoinLink
from portal.models import Site

DEFAULT_GRACE = dt.timedelta(hours=12)
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class JoinLinkError(Exception):
    """``code`` is ``join_link_invalid``, ``join_link_expired`` or ``join_link_revoked``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class JoinLink:
    conference_code: str
    user_id: int
    site_code: str
    expires_at: dt.datetime


def default_expiry(conference: Conference) -> dt.datetime:
    """The planned end of the conference + 12 h."""
    return conference.planned_end + DEFAULT_GRACE


def join_link_create(
    *,
    conference: Conference,
    user,
    site: Site,
    expires_at: dt.datetime | None = None,
    created_by=None,
) -> PersonalJoinLink:
    """Store a new link (no permission check: ``services.join_links.join_link_issue`` is the
    clerk's way in; tests, benchmarks and the demo call this directly)."""
    return PersonalJoinLink.objects.create(
        conference=conference,
        user=user,
        site=site,
        expires_at=expires_at or default_expiry(conference),
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def join_link_token(
    *, conference: Conference, user, site: Site, expires_at: dt.datetime | None = None
) -> str:
    """The token of a usable link for ``user`` as ``site``: an existing active one (with the same
    expiry when one is asked for), else a new one."""
    now = timezone.now()
    existing = PersonalJoinLink.objects.filter(
        conference=conference, user=user, site=site, revoked_at__isnull=True, expires_at__gt=now
    )
    if expires_at is not None:
        existing = existing.filter(expires_at=expires_at)
    link = existing.order_by("-expires_at", "-id").first()
    if link is None:
        link = join_link_create(conference=conference, user=user, site=site, expires_at=expires_at)
    return link.token


def join_link_read(token: str, *, conference_code: str) -> JoinLink:
    """Check a token for this conference; raise :class:`JoinLinkError`."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        raise JoinLinkError("join_link_invalid")
    row = PersonalJoinLink.objects.select_related("conference", "site").filter(token=token).first()
    if row is None or str(row.conference.code) != str(conference_code):
        raise JoinLinkError("join_link_invalid")
    if row.revoked_at is not None:
        raise JoinLinkError("join_link_revoked")
    if row.expires_at <= timezone.now():
        raise JoinLinkError("join_link_expired")
    return JoinLink(str(row.conference.code), row.user_id, str(row.site.code), row.expires_at)


def join_link_user(link: JoinLink):
    user = get_user_model().objects.filter(pk=link.user_id, is_active=True).first()
    if user is None:
        raise JoinLinkError("join_link_invalid")
    return user


def refusal_message(code: str) -> str:
    """What a person opening a refused link reads."""
    if code == "join_link_expired":
        return _("Liên kết tham dự đã hết hạn. Đề nghị văn thư cấp liên kết mới.")
    if code == "join_link_revoked":
        return _("Liên kết tham dự đã bị thu hồi. Đề nghị văn thư cấp liên kết mới.")
    return _("Liên kết tham dự không hợp lệ.")


def join_page_path(conference: Conference) -> str:
    """The join page of the conference (URL name ``conference_join``)."""
    try:
        return reverse("conference_join", kwargs={"code": conference.code})
    except NoReverseMatch:
        return f"/conferences/{conference.code}/join/"


def link_url(link: PersonalJoinLink) -> str:
    """Absolute URL of a stored link (``SITE_URL`` + the ``join_link`` route)."""
    try:
        path = reverse("join_link", kwargs={"code": link.conference.code, "token": link.token})
    except NoReverseMatch:
        path = f"{join_page_path(link.conference)}?t={link.token}"
    return settings.SITE_URL + path


def join_link_url(
    *, conference: Conference, user, site: Site, expires_at: dt.datetime | None = None
) -> str:
    """Absolute URL of a usable personal join link (see :func:`join_link_token`)."""
    token = join_link_token(conference=conference, user=user, site=site, expires_at=expires_at)
    return link_url(PersonalJoinLink.objects.select_related("conference").get(token=token))


def join_link_view(request, code, token: str):
    """``/conferences/<code>/j/<token>/``: check the link, then open the join page with ``?t=``;
    a refused link gets the portal's 403 page saying why."""
    try:
        join_link_user(join_link_read(token, conference_code=str(code)))
    except JoinLinkError as exc:
        raise PermissionDenied(refusal_message(exc.code)) from None
    conference = Conference.objects.filter(code=code).first()
    if conference is None:
        raise PermissionDenied(refusal_message("join_link_invalid"))
    return HttpResponseRedirect(f"{join_page_path(conference)}?t={token}")
