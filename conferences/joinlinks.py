"""Signed, expiring personal join links (for a phone or tablet participant invited by name).

A token names the conference, the user and the site they join as, and an expiry; it is signed
with ``django.core.signing`` under its own salt, so it cannot be forged or reused for another
conference. The WebSocket accepts it as ``?t=<token>`` (docs/protocol.md §1); the page at URL
name ``join_link`` (``join_link_view``) signs the person in for that page only by handing the
token on, it never creates a session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from conferences.models import Conference
from portal.models import Site

SALT = "giaoban.conferences.joinlink"
DEFAULT_GRACE = dt.timedelta(hours=12)


class JoinLinkError(Exception):
    """``code`` is ``join_link_invalid`` or ``join_link_expired``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class JoinLink:
    conference_code: str
    user_id: int
    site_code: str
    expires_at: dt.datetime


def join_link_token(
    *, conference: Conference, user, site: Site, expires_at: dt.datetime | None = None
) -> str:
    expires = expires_at or (conference.planned_end + DEFAULT_GRACE)
    payload = {
        "c": str(conference.code),
        "u": user.pk,
        "s": str(site.code),
        "e": int(expires.timestamp()),
    }
    return signing.dumps(payload, salt=SALT, compress=True)


def join_link_read(token: str, *, conference_code: str) -> JoinLink:
    """Check a token for this conference; raise :class:`JoinLinkError`."""
    try:
        data = signing.loads(token, salt=SALT)
        link = JoinLink(
            str(data["c"]),
            int(data["u"]),
            str(data["s"]),
            dt.datetime.fromtimestamp(int(data["e"]), tz=dt.UTC),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise JoinLinkError("join_link_invalid") from exc
    if link.conference_code != str(conference_code):
        raise JoinLinkError("join_link_invalid")
    if link.expires_at <= timezone.now():
        raise JoinLinkError("join_link_expired")
    return link


def join_link_user(link: JoinLink):
    user = get_user_model().objects.filter(pk=link.user_id, is_active=True).first()
    if user is None:
        raise JoinLinkError("join_link_invalid")
    return user


def join_page_path(conference: Conference) -> str:
    """The join page of the conference (URL name ``conference_join`` once the page exists)."""
    for name in ("conferences:conference_join", "conference_join"):
        try:
            return reverse(name, kwargs={"code": conference.code})
        except NoReverseMatch:
            continue
    return f"/conferences/{conference.code}/join/"


def join_link_url(
    *, conference: Conference, user, site: Site, expires_at: dt.datetime | None = None
) -> str:
    """Absolute URL of the personal join link (``SITE_URL`` + the ``join_link`` route)."""
    token = join_link_token(conference=conference, user=user, site=site, expires_at=expires_at)
    for name in ("conferences:join_link", "join_link"):
        try:
            return settings.SITE_URL + reverse(
                name, kwargs={"code": conference.code, "token": token}
            )
        except NoReverseMatch:
            continue
    return f"{settings.SITE_URL}{join_page_path(conference)}?t={token}"


def join_link_view(request, code, token: str):
    """``/conferences/<code>/j/<token>/``: check the link, then open the join page with ``?t=``.

    Route it as ``path("<uuid:code>/j/<str:token>/", joinlinks.join_link_view, name="join_link")``
    (the live pages' URL module owns the route).
    """
    from django.http import HttpResponseForbidden, HttpResponseRedirect
    from django.utils.translation import gettext as _

    try:
        join_link_user(join_link_read(token, conference_code=str(code)))
    except JoinLinkError as exc:
        message = (
            _("Liên kết tham dự đã hết hạn.")
            if exc.code == "join_link_expired"
            else _("Liên kết tham dự không hợp lệ.")
        )
        return HttpResponseForbidden(message)
    conference = Conference.objects.filter(code=code).first()
    if conference is None:
        return HttpResponseForbidden(_("Liên kết tham dự không hợp lệ."))
    return HttpResponseRedirect(f"{join_page_path(conference)}?t={token}")
