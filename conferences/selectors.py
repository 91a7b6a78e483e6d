"""Reads of conferences: lists a user may see, one conference by code, the site picker's data,
and sites already busy in an overlapping conference."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from conferences import permissions
from conferences.models import Conference, Invitation, Status
from portal import permissions as org
from portal.models import Site, Unit, UnitKind


def conference_list(
    *,
    user,
    status: str = "",
    level: str = "",
    host_unit: Unit | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    q: str = "",
) -> QuerySet[Conference]:
    """Conferences ``user`` may see, filtered; newest start first."""
    qs = permissions.visible_conferences(user).select_related("host_unit", "chair_site")
    if status:
        qs = qs.filter(status=status)
    if level:
        qs = qs.filter(level=level)
    if host_unit is not None:
        qs = qs.filter(host_unit__path__startswith=host_unit.path)
    if date_from:
        qs = qs.filter(planned_start__date__gte=date_from)
    if date_to:
        qs = qs.filter(planned_start__date__lte=date_to)
    if q:
        qs = qs.filter(title__icontains=q)
    return qs.annotate(n_sites=Count("invitations", distinct=True)).order_by(
        "-planned_start", "-id"
    )


def conference_for_user(*, user, code) -> Conference:
    """The conference with ``code`` if ``user`` may see it; otherwise 404 (never 403, so that
    codes do not reveal which conferences exist)."""
    conference = (
        Conference.objects.select_related("host_unit", "chair_site", "created_by")
        .filter(code=code)
        .first()
    )
    if conference is None or not permissions.can_view(user, conference):
        raise Http404(_("Không tìm thấy hội nghị."))
    return conference


def invitation_summary(conference: Conference) -> dict[str, object]:
    """Invited sites counted by unit kind, for the overview."""
    by_kind = Counter(
        dict(conference.invitations.values_list("unit__kind").annotate(n=Count("id")))
    )
    labels = dict(UnitKind.choices)
    return {
        "total": sum(by_kind.values()),
        "by_kind": [
            (labels.get(k, k), n) for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1])
        ],
    }


# --- Site picker ------------------------------------------------------------------------------


@dataclass
class PickerRow:
    unit: Unit
    depth: int
    sites: list[Site] = field(default_factory=list)
    n_below: int = 0  # active sites in the subtree, this unit included
    child_kinds: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, label, sites)


def picker_rows(
    *, day: dt.date, within: list[str] | None = None, keep: set[str] = frozenset()
) -> list[PickerRow]:
    """The tree valid on ``day`` as a depth-first list of rows with their sites and subtree counts.

    ``within`` (unit paths; ``None`` = everything) limits the rows to the subtrees a clerk
    manages; units holding a site code in ``keep`` (already invited) are shown whatever
    ``within`` says, so that editing never drops an invitation silently."""
    units = list(Unit.objects.valid_on(day).order_by("path"))
    sites_by_unit: dict[int, list[Site]] = {}
    for site in Site.objects.filter(unit__in=units, is_active=True).order_by("key"):
        sites_by_unit.setdefault(site.unit_id, []).append(site)
    labels = dict(UnitKind.choices)
    rows = []
    ordered = _depth_first(units)
    for unit in ordered:
        rows.append(PickerRow(unit=unit, depth=unit.depth, sites=sites_by_unit.get(unit.id, [])))
    # subtree counts and, per unit, how many sites below it belong to each kind
    for row in rows:
        below = Counter()
        total = 0
        for other in rows:
            if other.unit.path.startswith(row.unit.path):
                total += len(other.sites)
                if other is not row and other.sites:
                    below[other.unit.kind] += len(other.sites)
        row.n_below = total
        if total > len(row.sites):
            row.child_kinds = [(k, labels.get(k, k), n) for k, n in below.items()]
    if within is not None:
        rows = [
            r
            for r in rows
            if any(r.unit.path.startswith(p) for p in within)
            or any(str(s.code) in keep for s in r.sites)
        ]
    min_depth = min((r.depth for r in rows), default=0)
    for row in rows:
        row.depth -= min_depth
    return rows


def _depth_first(units: list[Unit]) -> list[Unit]:
    children: dict[int | None, list[Unit]] = {}
    ids = {u.id for u in units}
    for u in units:
        parent = u.parent_id if u.parent_id in ids else None
        children.setdefault(parent, []).append(u)
    for kids in children.values():
        kids.sort(key=lambda u: (u.sort_order, u.name))
    out: list[Unit] = []

    def walk(parent: int | None) -> None:
        for u in children.get(parent, []):
            out.append(u)
            walk(u.id)

    walk(None)
    return out


def picker_kind_counts(
    *, day: dt.date, within: list[str] | None = None
) -> list[tuple[str, str, int]]:
    """(kind, label, active sites) for every kind that has sites on ``day`` (within the subtrees
    ``within`` names, when given)."""
    sites = Site.objects.filter(unit__in=Unit.objects.valid_on(day), is_active=True)
    if within is not None:
        q = Q(pk__in=[])
        for path in within:
            q |= Q(unit__path__startswith=path)
        sites = sites.filter(q)
    counts = Counter(dict(sites.values_list("unit__kind").annotate(n=Count("id"))))
    return [(k, label, counts[k]) for k, label in UnitKind.choices if counts.get(k)]


def overlapping_invitations(
    *, sites: list[Site], start: dt.datetime, end: dt.datetime, exclude: Conference | None = None
) -> list[Invitation]:
    """Invitations of these sites to other, not cancelled, conferences whose planned time overlaps."""
    if not sites or start is None or end is None:
        return []
    qs = (
        Invitation.objects.filter(
            site__in=sites, conference__planned_start__lt=end, conference__planned_end__gt=start
        )
        .exclude(conference__status=Status.CANCELLED)
        .select_related("site", "conference")
        .order_by("conference__planned_start", "site__key")
    )
    if exclude is not None:
        qs = qs.exclude(conference=exclude)
    return list(qs)


def selection_counts(sites: list[Site]) -> dict[str, object]:
    labels = dict(UnitKind.choices)
    by_kind = Counter(s.unit.kind for s in sites)
    return {
        "total": len(sites),
        "by_kind": [
            {"kind": k, "label": str(labels.get(k, k)), "count": n}
            for k, n in by_kind.most_common()
        ],
    }


def units_hostable_by(user, *, day: dt.date) -> QuerySet[Unit]:
    """Units valid on ``day`` for which ``user`` may create conferences."""
    return (
        Unit.objects.valid_on(day).filter(org.units_q(user, permissions.MANAGERS)).order_by("path")
    )
