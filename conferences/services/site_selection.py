"""Resolving what the clerk ticked in the site picker into sites, on the tree of a given day,
and which sites a conference may invite at all.

Whole subtrees, unit kinds ("all districts"), kinds inside a subtree ("all communes of Văn
Chấn") and single sites; every unknown or out-of-tree entry is listed in one error.

Who may be invited (``invitation_scope``) depends on the level, the host and the clerk:
- "4 cấp" and "tỉnh → huyện" conferences are hosted at province level (a unit that is not a
  district, a commune or inside one) and invite within the subtrees the clerk manages;
- "huyện → xã" conferences are hosted by a district and invite that district and its communes;
- "nội bộ" (internal) conferences invite within the host unit's subtree;
- "khác" (other) conferences invite within the subtrees the clerk manages.
The scheduling services refuse anything outside the scope, listing the sites; the picker shows
only what the clerk manages and marks what the level and host leave out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from conferences import permissions
from conferences.errors import ConferenceError
from conferences.models import Conference, Level, Status
from portal.models import Site, Unit, UnitKind

LOCAL_KINDS = frozenset({UnitKind.DISTRICT, UnitKind.COMMUNE})
PROVINCE_LEVELS = frozenset({Level.FOUR_LEVEL, Level.PROVINCE_TO_DISTRICT})


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


def site_selection_resolve(
    *, spec: SelectionSpec, day: dt.date, within: Iterable[str] | None = None
) -> list[Site]:
    """The active sites a selection names, using the organisation tree valid on ``day``.

    Unknown kinds, unit codes outside that tree, and site codes that do not exist (or whose unit
    is not in that tree) raise one ``ConferenceError`` listing every bad entry. ``within`` (unit
    paths) limits the quick kind choices ("all communes") to those subtrees: for a district
    clerk "all communes" means the communes they may invite. Explicit units and sites are kept
    as named, so that the scope check lists them instead of dropping them silently; the forms
    pass the subtrees the clerk manages (not the narrower scope of a level), so that "all party
    boards" in an internal meeting of the People's Committee is refused with the boards named.
    """
    units = Unit.objects.valid_on(day)
    sites = Site.objects.filter(unit__in=units, is_active=True).select_related("unit")
    within = None if within is None else list(within)
    errors: list[str] = []
    kinds = set(UnitKind.values)

    for kind in spec.kinds:
        if kind not in kinds:
            errors.append(_("Loại đơn vị không hợp lệ: %(kind)r") % {"kind": kind})
    unknown_unit = _("Đơn vị không có trong cây tổ chức ngày %(day)s: %(code)r")
    unit_codes = set(spec.subtrees) | {u for _k, u in spec.groups}
    by_code = {u.code: u for u in units.filter(code__in=unit_codes)}
    for code in spec.subtrees:
        if code not in by_code:
            errors.append(unknown_unit % {"day": f"{day:%d/%m/%Y}", "code": code})
    for kind, code in spec.groups:
        if kind not in kinds:
            errors.append(_("Loại đơn vị không hợp lệ: %(kind)r") % {"kind": kind})
        if code not in by_code:
            errors.append(unknown_unit % {"day": f"{day:%d/%m/%Y}", "code": code})

    single: dict[str, Site] = {}
    valid_codes = []
    for raw in spec.sites:
        try:
            valid_codes.append(str(_uuid(raw)))
        except ValueError:
            errors.append(_("Mã điểm cầu không hợp lệ: %(code)r") % {"code": raw})
    if valid_codes:
        single = {str(s.code): s for s in sites.filter(code__in=valid_codes)}
        errors.extend(
            _("Điểm cầu không tồn tại hoặc không thuộc cây tổ chức ngày %(day)s: %(code)s")
            % {"day": f"{day:%d/%m/%Y}", "code": c}
            for c in valid_codes
            if c not in single
        )
    if errors:
        raise ConferenceError("bad_selection", _("Lựa chọn điểm cầu không hợp lệ."), details=errors)

    chosen: dict[int, Site] = {s.pk: s for s in single.values()}
    if spec.kinds:
        by_kind = sites.filter(unit__kind__in=spec.kinds)
        if within is not None:
            by_kind = by_kind.filter(_paths_q(within, prefix="unit__"))
        chosen.update((s.pk, s) for s in by_kind)
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


def _paths_q(paths: Iterable[str], *, prefix: str = "") -> Q:
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(**{f"{prefix}path__startswith": path})
    return q


def is_local_unit(unit: Unit) -> bool:
    """A district or commune, or a unit inside one (not a province-level unit)."""
    if unit.kind in LOCAL_KINDS:
        return True
    return Unit.objects.filter(code__in=unit.ancestor_codes(), kind__in=LOCAL_KINDS).exists()


@dataclass(frozen=True)
class InvitationScope:
    """The subtrees (unit paths) a conference may invite from; ``None`` paths = the whole tree."""

    paths: tuple[str, ...] | None
    label: str

    def contains(self, site: Site) -> bool:
        return self.paths is None or any(site.unit.path.startswith(p) for p in self.paths)

    def as_dict(self) -> dict[str, Any]:
        return {"paths": None if self.paths is None else list(self.paths), "label": self.label}


def host_check(*, level: str, host_unit: Unit) -> None:
    """Refuse a host that cannot hold a conference of ``level``."""
    if level in PROVINCE_LEVELS and is_local_unit(host_unit):
        raise ConferenceError(
            "host_not_province",
            _(
                "Hội nghị 4 cấp và hội nghị tỉnh → huyện do cấp tỉnh chủ trì: hãy chọn đơn vị chủ "
                "trì cấp tỉnh, hoặc chọn cấp “Huyện → xã” cho hội nghị của huyện."
            ),
        )
    if level == Level.DISTRICT_TO_COMMUNE and host_unit.kind != UnitKind.DISTRICT:
        raise ConferenceError(
            "host_not_district",
            _("Hội nghị huyện → xã do một huyện chủ trì: hãy chọn huyện chủ trì."),
        )


def levels_for_host(host_unit: Unit) -> list[str]:
    """The levels ``host_unit`` may hold."""
    out = []
    for level in Level.values:
        try:
            host_check(level=level, host_unit=host_unit)
        except ConferenceError:
            continue
        out.append(level)
    return out


def managed_scope(actor) -> InvitationScope:
    """Everything the actor manages (clerk/admin roles); the whole tree for a superuser."""
    paths = permissions.managed_paths(actor)
    if paths is None:
        return InvitationScope(None, _("toàn tỉnh"))
    names = list(
        Unit.objects.filter(path__in=paths).order_by("path").values_list("name", flat=True)
    )
    return InvitationScope(tuple(paths), ", ".join(names) or "—")


def invitation_scope(*, actor, level: str, host_unit: Unit) -> InvitationScope:
    """Where a conference of ``level`` hosted by ``host_unit`` and scheduled by ``actor`` may
    invite sites (module docstring); raises ``ConferenceError`` for a host the level does not
    allow."""
    host_check(level=level, host_unit=host_unit)
    managed = managed_scope(actor)
    if level in (Level.DISTRICT_TO_COMMUNE, Level.INTERNAL):
        if managed.paths is None or any(host_unit.path.startswith(p) for p in managed.paths):
            return InvitationScope((host_unit.path,), host_unit.name)
        return InvitationScope(
            (), host_unit.name
        )  # not the actor's host: nothing (service says 403)
    return managed


def scope_check(
    *, scope: InvitationScope, level: str, host_unit: Unit, sites: Iterable[Site]
) -> None:
    """Refuse sites outside ``scope``, naming each."""
    outside = [s.name for s in sites if not scope.contains(s)]
    if outside:
        raise ConferenceError(
            "outside_scope",
            _(
                "Hội nghị “%(level)s” do %(host)s chủ trì chỉ mời được điểm cầu thuộc %(scope)s; "
                "%(n)d điểm cầu ngoài phạm vi:"
            )
            % {
                "level": Level(level).label,
                "host": host_unit.name,
                "scope": scope.label,
                "n": len(outside),
            },
            details=outside,
        )


# Level a unit of each kind most often holds, when its own history says nothing.
KIND_LEVEL = {
    UnitKind.DISTRICT: Level.DISTRICT_TO_COMMUNE,
    UnitKind.COMMUNE: Level.INTERNAL,
    UnitKind.OTHER: Level.OTHER,
}


@dataclass
class HostOption:
    """What the create form needs to know about a unit the clerk may host for."""

    unit: Unit
    levels: list[str]
    default_level: str
    site: Site | None  # the unit's own (first active) site: the usual chair site

    def as_dict(self) -> dict[str, Any]:
        return {
            "levels": self.levels,
            "level": self.default_level,
            "site": str(self.site.code) if self.site else "",
        }


def host_options(*, units: list[Unit]) -> dict[str, HostOption]:
    """Unit code → levels it may hold, its most common level (from the conferences it hosted,
    else by kind) and its own site; four queries whatever the number of units."""
    local = set(
        Unit.objects.filter(kind__in=LOCAL_KINDS).values_list("code", flat=True)
    )  # districts and communes, to tell local units by their path
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Conference.objects.filter(host_unit__in=units)
        .exclude(status=Status.CANCELLED)
        .values_list("host_unit_id", "level")
        .annotate(n=Count("id"))
    )
    for unit_id, level, n in rows:
        counts.setdefault(unit_id, {})[level] = n
    own_site: dict[int, Site] = {}
    for site in Site.objects.filter(unit__in=units, is_active=True).order_by("key"):
        own_site.setdefault(site.unit_id, site)
    out = {}
    for unit in units:
        is_local = unit.kind in LOCAL_KINDS or any(c in local for c in unit.ancestor_codes())
        levels = [
            lv
            for lv in Level.values
            if not (lv in PROVINCE_LEVELS and is_local)
            and not (lv == Level.DISTRICT_TO_COMMUNE and unit.kind != UnitKind.DISTRICT)
        ]
        history = {lv: n for lv, n in counts.get(unit.pk, {}).items() if lv in levels}
        if history:
            default = max(history, key=lambda lv: (history[lv], -Level.values.index(lv)))
        else:
            default = KIND_LEVEL.get(unit.kind, Level.PROVINCE_TO_DISTRICT)
            if default not in levels:
                default = levels[0]
        out[unit.code] = HostOption(unit, levels, default, own_site.get(unit.pk))
    return out


def default_host(*, actor, options: dict[str, HostOption]) -> Unit | None:
    """The clerk's own unit to start the create form with: the unit they host most often; else
    the unit of their clerk role when it has a site of its own; else the nearest unit below it
    that has one (the People's Committee first)."""
    if not options:
        return None
    by_id = {o.unit.pk: o.unit for o in options.values()}
    mine = (
        Conference.objects.filter(created_by=actor, host_unit_id__in=list(by_id))
        .exclude(status=Status.CANCELLED)
        .values_list("host_unit_id")
        .annotate(n=Count("id"))
        .order_by("-n", "host_unit_id")
        .first()
    )
    if mine:
        return by_id[mine[0]]
    paths = permissions.managed_paths(actor)
    candidates = sorted(options.values(), key=lambda o: (o.unit.depth, o.unit.path))
    roots = [o for o in candidates if paths is None or o.unit.path in paths] or candidates
    root = roots[0]
    if root.site is not None:
        return root.unit
    below = [o for o in candidates if o.site is not None and o.unit.path.startswith(root.unit.path)]
    below.sort(
        key=lambda o: (o.unit.depth, o.unit.kind != UnitKind.PEOPLES_COMMITTEE, o.unit.sort_order)
    )
    return below[0].unit if below else root.unit
