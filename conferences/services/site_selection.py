"""Resolving what the clerk ticked in the site picker into sites, on the tree of a given day.

Whole subtrees, unit kinds ("all districts"), kinds inside a subtree ("all communes of Văn
Chấn") and single sites; every unknown or out-of-tree entry is listed in one error.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conferences.errors import ConferenceError
from portal.models import Site, Unit, UnitKind


@dataclass
class SelectionSpec:
    """What the clerk ticked in the site picker.

    - ``kinds``: every site of units of that kind ("all districts", "all agencies");
    - ``subtrees``: unit codes — that unit and everything below it;
    - ``groups``: (kind, unit code) — units of ``kind`` below that unit ("all communes of Văn Chấn");
    - ``sites``: single sites by their UUID ``code``.
    """

    kinds: list[str] = field(default_factory=list)
    subtrees: list[str] = field(default_factory=list)
    groups: list[tuple[str, str]] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: Any) -> SelectionSpec:
        """Read the picker's fields (``sel_kind``, ``sel_subtree``, ``sel_group`` = "kind@unit",
        ``sel_site``) from a QueryDict; malformed groups are kept so that resolving reports them."""
        groups = []
        for raw in params.getlist("sel_group"):
            kind, _sep, unit = raw.partition("@")
            groups.append((kind, unit))
        return cls(
            kinds=_unique(params.getlist("sel_kind")),
            subtrees=_unique(params.getlist("sel_subtree")),
            groups=_unique(groups),
            sites=_unique(params.getlist("sel_site")),
        )

    def is_empty(self) -> bool:
        return not (self.kinds or self.subtrees or self.groups or self.sites)

    def as_dict(self) -> dict[str, list]:
        return {
            "kinds": self.kinds,
            "subtrees": self.subtrees,
            "groups": [f"{k}@{u}" for k, u in self.groups],
            "sites": self.sites,
        }


def _unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def site_selection_resolve(*, spec: SelectionSpec, day: dt.date) -> list[Site]:
    """The active sites a selection names, using the organisation tree valid on ``day``.

    Unknown kinds, unit codes outside that tree, and site codes that do not exist (or whose unit
    is not in that tree) raise one ``ConferenceError`` listing every bad entry.
    """
    units = Unit.objects.valid_on(day)
    sites = Site.objects.filter(unit__in=units, is_active=True).select_related("unit")
    errors: list[str] = []
    kinds = set(UnitKind.values)

    for kind in spec.kinds:
        if kind not in kinds:
            errors.append(f"Loại đơn vị không hợp lệ: {kind!r}")
    unit_codes = set(spec.subtrees) | {u for _k, u in spec.groups}
    by_code = {u.code: u for u in units.filter(code__in=unit_codes)}
    for code in spec.subtrees:
        if code not in by_code:
            errors.append(f"Đơn vị không có trong cây tổ chức ngày {day:%d/%m/%Y}: {code!r}")
    for kind, code in spec.groups:
        if kind not in kinds:
            errors.append(f"Loại đơn vị không hợp lệ: {kind!r}")
        if code not in by_code:
            errors.append(f"Đơn vị không có trong cây tổ chức ngày {day:%d/%m/%Y}: {code!r}")

    single: dict[str, Site] = {}
    valid_codes = []
    for raw in spec.sites:
        try:
            valid_codes.append(str(_uuid(raw)))
        except ValueError:
            errors.append(f"Mã điểm cầu không hợp lệ: {raw!r}")
    if valid_codes:
        single = {str(s.code): s for s in sites.filter(code__in=valid_codes)}
        errors.extend(
            f"Điểm cầu không tồn tại hoặc không thuộc cây tổ chức ngày {day:%d/%m/%Y}: {c}"
            for c in valid_codes
            if c not in single
        )
    if errors:
        raise ConferenceError("bad_selection", "Lựa chọn điểm cầu không hợp lệ.", details=errors)

    chosen: dict[int, Site] = {s.pk: s for s in single.values()}
    if spec.kinds:
        chosen.update((s.pk, s) for s in sites.filter(unit__kind__in=spec.kinds))
    for code in spec.subtrees:
        chosen.update((s.pk, s) for s in sites.filter(unit__path__startswith=by_code[code].path))
    for kind, code in spec.groups:
        chosen.update(
            (s.pk, s)
            for s in sites.filter(unit__kind=kind, unit__path__startswith=by_code[code].path)
        )
    return sorted(chosen.values(), key=lambda s: (s.unit.path, s.key))


def _uuid(raw: str) -> uuid.UUID:
    return uuid.UUID(str(raw))
