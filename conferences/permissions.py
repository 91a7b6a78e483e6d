"""Who may do what to a conference: the one module the views, consumers and API ask.

Built on ``portal.permissions`` (roles apply to a unit and its whole subtree):
- organisers of a conference: admin/clerk over the host unit manage it; chair and leader over
  the host unit take part in running or reading it;
- invited: the operators of an invited site, and anyone holding a role over an invited site's unit;
- observers: the people the managing clerk listed to watch it (``ConferenceObserver``);
- everyone else sees nothing of it (404 in views, not 403, so codes do not leak existence).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from conferences.models import Conference, ConferenceObserver, Invitation
from portal import permissions as org
from portal.models import Role, Site, Unit

MANAGERS = frozenset({Role.ADMIN, Role.CLERK})
ORGANISERS = frozenset({Role.ADMIN, Role.CLERK, Role.CHAIR, Role.LEADER})
CHAIRS = frozenset({Role.ADMIN, Role.CLERK, Role.CHAIR})
ALL_ROLES = frozenset(Role.values)


def can_create_for(user, host_unit: Unit) -> bool:
    return org.has_role_over(user, MANAGERS, host_unit)


def managed_paths(user) -> list[str] | None:
    """Unit paths of the subtrees the user manages (admin/clerk roles), outermost only;
    ``None`` for a superuser (everything)."""
    if org.is_superuser(user):
        return None
    if not getattr(user, "is_authenticated", False):
        return []
    paths = sorted(
        set(user.memberships.filter(role__in=MANAGERS).values_list("unit__path", flat=True))
    )
    return [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]


def can_manage(user, conference: Conference) -> bool:
    """Edit, schedule, cancel, build the agenda, record attendance and minutes."""
    return org.has_role_over(user, MANAGERS, conference.host_unit)


def can_chair(user, conference: Conference) -> bool:
    """Run the live conference: floor, broadcast, mute, agenda, roll call."""
    return org.has_role_over(user, CHAIRS, conference.host_unit)


def is_organiser(user, conference: Conference) -> bool:
    return org.has_role_over(user, ORGANISERS, conference.host_unit)


def can_view_minutes(user, conference: Conference) -> bool:
    """The minutes (conclusions, attachments, the draft record): the conference's organisers.

    The one rule for conclusions wherever they are shown (the minutes tab, its DOCX, the history
    page of the conference): an invited site's operator, or a leader of an invited unit, sees the
    conference but not its minutes.
    """
    return is_organiser(user, conference)


def operated_invitations(user, conference: Conference) -> QuerySet[Invitation]:
    """Invitations of this conference whose site the user operates."""
    operated = org.sites_operated_by(user).values("pk")
    return conference.invitations.filter(site__in=operated)


def can_operate(user, conference: Conference, site: Site) -> bool:
    """Answer for ``site`` (confirm, readiness, roll call): its operator, if it is invited."""
    return org.operates_site(user, site) and conference.invitations.filter(site=site).exists()


def is_invited(user, conference: Conference) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if operated_invitations(user, conference).exists():
        return True
    return conference.invitations.filter(org.units_q(user, ALL_ROLES, prefix="unit__")).exists()


def is_listed_observer(user, conference: Conference) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return ConferenceObserver.objects.filter(conference=conference, user=user).exists()


def can_watch(user, conference: Conference) -> bool:
    """Watch the live room without a site and without controls: the organisers (admins, the
    managing clerks, chairs and leaders whose role covers the host unit) and the observers the
    clerk listed. A role over an invited unit alone does not give it."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return is_organiser(user, conference) or is_listed_observer(user, conference)


def can_view(user, conference: Conference) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return (
        is_organiser(user, conference)
        or is_invited(user, conference)
        or is_listed_observer(user, conference)
    )


def can_view_documents(user, conference: Conference) -> bool:
    """Documents: invited sites' users and organisers; a confidential conference hides them
    from everyone who is neither invited nor managing/chairing it."""
    if not can_view(user, conference):
        return False
    if not conference.confidential:
        return True
    return can_chair(user, conference) or is_invited(user, conference)


def can_read_chat(user, conference: Conference) -> bool:
    """Conference-wide chat without speaking for a site (a watch-only observer, the timeline):
    whoever may view the conference; a confidential conference keeps it, like its documents, to
    invited sites' users and those who chair it. The sites in the room always read it."""
    return can_view_documents(user, conference)


def visible_conferences(user) -> QuerySet[Conference]:
    if not getattr(user, "is_authenticated", False):
        return Conference.objects.none()
    if org.is_superuser(user):
        return Conference.objects.all()
    operated = org.sites_operated_by(user).values("pk")
    # Correlated EXISTS rather than IN (subquery): PostgreSQL then checks the host first and only
    # looks at a conference's own invitations when needed, instead of hashing every invitation
    # of the subtree (millions of rows over years of history).
    q = (
        org.units_q(user, ORGANISERS, prefix="host_unit__")
        | Q(Exists(Invitation.objects.filter(conference=OuterRef("pk"), site__in=operated)))
        | Q(
            Exists(
                Invitation.objects.filter(
                    org.units_q(user, ALL_ROLES, prefix="unit__"), conference=OuterRef("pk")
                )
            )
        )
        | Q(Exists(ConferenceObserver.objects.filter(conference=OuterRef("pk"), user=user)))
    )
    return Conference.objects.filter(q)
