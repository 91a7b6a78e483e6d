"""The observers the managing clerk invites to watch a live conference (docs/protocol.md §1).

Contract: only a manager of the conference (``permissions.can_manage``) adds or removes one;
an observer is an active user holding a role in the host unit's subtree or in an invited unit's
subtree (``observer_candidates``), so the clerk cannot reach into the rest of the province's
accounts; ended or cancelled conferences are not changed. Each change writes one audit entry
(``observer.added`` / ``observer.removed``). An observer watches main, content and audio from
the watch page, never occupies a site and is never counted as one.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from conferences import permissions as perms
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import Conference, ConferenceObserver, Status

CLOSED = frozenset({Status.ENDED, Status.CANCELLED})


def observer_candidates(conference: Conference) -> QuerySet:
    """Active users with a role in the host unit's subtree or an invited unit's subtree."""
    paths = {conference.host_unit.path}
    paths.update(conference.invitations.values_list("unit__path", flat=True))
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(memberships__unit__path__startswith=path)
    return get_user_model().objects.filter(q, is_active=True).distinct().order_by("username")


def _check(actor, conference: Conference) -> None:
    if not perms.can_manage(actor, conference):
        raise PermissionDeniedError(_("Chỉ văn thư quản lý hội nghị mới mời được người theo dõi."))
    if conference.status in CLOSED:
        raise ConferenceError(
            "conference_closed", _("Hội nghị đã kết thúc hoặc đã hủy: không đổi người theo dõi.")
        )


@transaction.atomic
def observer_add(*, actor, conference: Conference, user) -> ConferenceObserver:
    conference = Conference.objects.select_for_update(of=("self",)).get(pk=conference.pk)
    _check(actor, conference)
    if user is None or not observer_candidates(conference).filter(pk=user.pk).exists():
        raise ConferenceError(
            "bad_observer",
            _(
                "Người theo dõi phải là người dùng đang hoạt động có vai trò tại đơn vị chủ trì "
                "hoặc đơn vị được mời."
            ),
        )
    if ConferenceObserver.objects.filter(conference=conference, user=user).exists():
        raise ConferenceError("duplicate", _("Người này đã được mời theo dõi."))
    try:
        with transaction.atomic():
            row = ConferenceObserver.objects.create(
                conference=conference, user=user, added_by=actor
            )
    except IntegrityError:
        raise ConferenceError("duplicate", _("Người này đã được mời theo dõi.")) from None
    audit_log(
        conference=conference,
        actor=actor,
        action="observer.added",
        data={"user": user.get_username()},
    )
    return row


@transaction.atomic
def observer_remove(*, actor, conference: Conference, user) -> None:
    conference = Conference.objects.select_for_update(of=("self",)).get(pk=conference.pk)
    _check(actor, conference)
    deleted, _rows = ConferenceObserver.objects.filter(conference=conference, user=user).delete()
    if not deleted:
        raise ConferenceError("not_found", _("Người này không có trong danh sách theo dõi."))
    audit_log(
        conference=conference,
        actor=actor,
        action="observer.removed",
        data={"user": user.get_username()},
    )
