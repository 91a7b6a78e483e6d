"""The one place that answers "may this user do X to Y" for the organisation.

A role held on a unit applies to that unit and every unit below it (a prefix match on the
materialised path). Superusers may do everything. ``conferences.permissions`` builds its rules
on ``roles_over`` and ``units_q`` from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from portal.models import Role, Site, Unit

# Roles that may manage the organisation data of a subtree (sites, contacts).
ORG_MANAGERS = frozenset({Role.ADMIN, Role.CLERK})


def _memberships(user) -> list[tuple[str, str]]:
    """(role, unit path) pairs of the user, cached on the user object for one request."""
    cached = getattr(user, "_giaoban_memberships", None)
    if cached is None:
        if not getattr(user, "is_authenticated", False):
            cached = []
        else:
            cached = list(user.memberships.values_list("role", "unit__path"))
        user._giaoban_memberships = cached
    return cached


def forget(user) -> None:
    """Drop the cached roles (after granting or revoking one)."""
    if hasattr(user, "_giaoban_memberships"):
        del user._giaoban_memberships


def is_superuser(user) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def roles_over(user, unit: Unit) -> set[str]:
    """Roles the user holds on ``unit`` or on any of its ancestors."""
    return {role for role, path in _memberships(user) if unit.path.startswith(path)}


def has_role_over(user, roles: Iterable[str], unit: Unit) -> bool:
    if is_superuser(user):
        return True
    wanted = set(roles)
    return any(role in wanted and unit.path.startswith(path) for role, path in _memberships(user))


def units_q(user, roles: Iterable[str], *, prefix: str = "") -> Q:
    """A filter selecting rows whose unit lies in a subtree where the user holds one of ``roles``.

    ``prefix`` names the path field relative to the queried model, e.g. ``"host__"``.
    Superusers get an always-true filter; users without such roles an always-false one.
    """
    if is_superuser(user):
        return Q()
    wanted = set(roles)
    q = Q(pk__in=[])
    for role, path in _memberships(user):
        if role in wanted:
            q |= Q(**{f"{prefix}path__startswith": path})
    return q


def has_any_role(user, roles: Iterable[str]) -> bool:
    if is_superuser(user):
        return True
    wanted = set(roles)
    return any(role in wanted for role, _path in _memberships(user))


def can_view_org(user) -> bool:
    """Every signed-in user may read the organisation tree (it is not confidential)."""
    return bool(getattr(user, "is_authenticated", False))


def can_manage_unit(user, unit: Unit) -> bool:
    return has_role_over(user, ORG_MANAGERS, unit)


def operates_site(user, site: Site) -> bool:
    """The user is this site's operator: named on the site, or operator of its unit's subtree."""
    if not getattr(user, "is_authenticated", False):
        return False
    if has_role_over(user, {Role.OPERATOR}, site.unit):
        return True
    return site.operators.filter(pk=user.pk).exists()


def can_edit_site(user, site: Site) -> bool:
    return can_manage_unit(user, site.unit) or operates_site(user, site)


def sites_operated_by(user):
    """Sites the user operates (explicitly or by an operator role over their unit)."""
    if not getattr(user, "is_authenticated", False):
        return Site.objects.none()
    return Site.objects.filter(
        Q(operators=user) | units_q(user, {Role.OPERATOR}, prefix="unit__")
    ).distinct()
