"""Reads of the organisation: the tree as valid on a day, counts, and diacritic-free search."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.utils import timezone

from portal.models import Site, Unit, UnitKind
from portal.text import fold


@dataclass
class TreeNode:
    unit: Unit
    site_count: int
    children: list[TreeNode] = field(default_factory=list)
    matched: bool = False


def units_valid_on(day: dt.date | None = None) -> QuerySet[Unit]:
    return Unit.objects.valid_on(day or timezone.localdate())


def org_tree(*, day: dt.date | None = None) -> list[TreeNode]:
    """The whole tree valid on ``day`` as nested nodes, depth first, in two queries."""
    units = list(
        units_valid_on(day).annotate(n_sites=Count("sites")).order_by("depth", "sort_order", "name")
    )
    nodes = {u.id: TreeNode(unit=u, site_count=u.n_sites) for u in units}
    roots: list[TreeNode] = []
    for unit in units:
        node = nodes[unit.id]
        parent = nodes.get(unit.parent_id) if unit.parent_id else None
        (parent.children if parent else roots).append(node)
    return roots


def org_counts(*, day: dt.date | None = None) -> dict[str, object]:
    """Sites per unit kind and units per level (depth) for the tree valid on ``day``."""
    units = units_valid_on(day)
    site_by_kind = Counter(
        dict(
            Site.objects.filter(unit__in=units, is_active=True)
            .values_list("unit__kind")
            .annotate(n=Count("id"))
        )
    )
    units_by_depth = Counter(dict(units.values_list("depth").annotate(n=Count("id"))))
    kinds = [
        (k, label, site_by_kind.get(k, 0)) for k, label in UnitKind.choices if site_by_kind.get(k)
    ]
    return {
        "sites_by_kind": kinds,
        "units_by_level": sorted(units_by_depth.items()),
        "total_sites": sum(site_by_kind.values()),
        "total_units": sum(units_by_depth.values()),
    }


def unit_search(query: str, *, day: dt.date | None = None, limit: int = 50) -> list[Unit]:
    """Units whose name, English name, aliases or code contain every word of ``query``,
    ignoring case and Vietnamese diacritics ("van chan" finds "Văn Chấn")."""
    words = fold(query).split()
    if not words:
        return []
    qs = units_valid_on(day).select_related("parent")
    for word in words:
        qs = qs.filter(search_text__contains=word)
    return list(qs.order_by("depth", "name")[:limit])


def unit_ancestors(unit: Unit) -> list[Unit]:
    codes = unit.ancestor_codes()[:-1]
    by_code = {u.code: u for u in Unit.objects.filter(code__in=codes)}
    return [by_code[c] for c in codes if c in by_code]
