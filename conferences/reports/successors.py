"""Mapping units of the time to their successors (the 2025 reorganisation), for reports that ask.

History is stored with the units as they were; mapping is a reporting choice applied at query
time, one hop along ``Unit.successor`` (units without a successor stay themselves).
"""

from __future__ import annotations

from django.db.models import F, Q
from django.db.models.functions import Coalesce

from portal.models import Unit


def unit_key(prefix: str, *, mapped: bool):
    """Expression giving the id of the unit to report a row under (``prefix`` e.g. ``"unit"``)."""
    if mapped:
        return Coalesce(F(f"{prefix}__successor_id"), F(f"{prefix}_id"))
    return F(f"{prefix}_id")


def subtree_q(prefix: str, unit: Unit, *, mapped: bool) -> Q:
    """Rows whose unit lies in ``unit``'s subtree (or, when mapped, whose successor does)."""
    q = Q(**{f"{prefix}__path__startswith": unit.path})
    if mapped:
        q |= Q(**{f"{prefix}__successor__path__startswith": unit.path})
    return q


def unit_subtree_q(unit: Unit, *, mapped: bool) -> Q:
    """Units in ``unit``'s subtree (or, when mapped, whose successor is): for ``unit__in=`` lists."""
    q = Q(path__startswith=unit.path)
    if mapped:
        q |= Q(successor__path__startswith=unit.path)
    return q


def successors_loaded() -> bool:
    return Unit.objects.filter(successor__isnull=False).exists()
