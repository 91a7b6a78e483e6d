"""Writes to the organisation: importing the tree, keeping paths, granting roles.

Every service is keyword-only, runs in one transaction, and raises ``DomainError`` on bad input
without changing anything.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from portal.errors import DomainError
from portal.models import Membership, Role, Site, Unit, UnitKind
from portal.text import fold

logger = logging.getLogger(__name__)

_KINDS = set(UnitKind.values)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    sites_created: int = 0
    sites_updated: int = 0
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Row:
    index: int
    code: str
    parent_code: str | None
    fields: dict[str, Any]
    sites: list[dict[str, Any]]


def _flatten_tree(nodes: list[dict[str, Any]], parent_code: str | None, out: list[dict[str, Any]]) -> None:
    for node in nodes:
        row = {k: v for k, v in node.items() if k != "children"}
        row.setdefault("parent_code", parent_code)
        out.append(row)
        _flatten_tree(node.get("children") or [], row.get("code"), out)


def _parse_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    return dt.date.fromisoformat(str(value))


def _validate(data: Any) -> tuple[dict[str, Any] | None, list[_Row]]:
    """Check every row; raise one DomainError listing all bad rows, or return the parsed rows."""
    if not isinstance(data, dict):
        raise DomainError("bad_file", "Tệp không đúng định dạng: cần một đối tượng JSON có khóa 'units'.")
    raw_rows = data.get("units")
    if raw_rows is None and isinstance(data.get("tree"), list):
        raw_rows = []
        _flatten_tree(data["tree"], None, raw_rows)
    if not isinstance(raw_rows, list) or not raw_rows:
        raise DomainError("bad_file", "Tệp không có danh sách đơn vị ('units').")

    province = None
    meta = data.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("province"), dict):
        province = meta["province"]
        if not province.get("code") or not province.get("name"):
            raise DomainError("bad_file", "meta.province cần có 'code' và 'name'.")

    errors: list[str] = []
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rows, start=1):
        if not isinstance(raw, dict):
            errors.append(f"dòng {index}: không phải một đối tượng")
            continue
        code = str(raw.get("code") or "").strip()
        label = f"dòng {index} ({code or 'không có mã'})"
        row_errors: list[str] = []
        if not code:
            row_errors.append("thiếu mã (code)")
        elif "/" in code:
            row_errors.append("mã không được chứa '/'")
        elif code in seen:
            row_errors.append(f"trùng mã với dòng {seen[code]}")
        name = str(raw.get("name") or "").strip()
        if not name:
            row_errors.append("thiếu tên (name)")
        kind = raw.get("kind")
        if kind not in _KINDS:
            row_errors.append(f"loại không hợp lệ: {kind!r}")
        try:
            valid_from = _parse_date(raw.get("valid_from"))
            valid_to = _parse_date(raw.get("valid_to"))
            if valid_from and valid_to and valid_to < valid_from:
                row_errors.append("valid_to trước valid_from")
        except ValueError:
            row_errors.append("ngày hiệu lực không hợp lệ (cần YYYY-MM-DD)")
            valid_from = valid_to = None
        try:
            distance = Decimal(str(raw.get("distance_km") or 0))
            if distance < 0 or distance > 10000:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            row_errors.append(f"khoảng cách không hợp lệ: {raw.get('distance_km')!r}")
            distance = Decimal(0)
        sites = raw.get("sites") or []
        if not isinstance(sites, list) or any(not isinstance(s, dict) or not s.get("key") for s in sites):
            row_errors.append("'sites' phải là danh sách có 'key'")
            sites = []
        if row_errors:
            errors.append(f"{label}: " + "; ".join(row_errors))
        if code and code not in seen:
            seen[code] = index
        parent_code = raw.get("parent_code")
        if parent_code is None and province:
            parent_code = str(province["code"])
        if not row_errors:
            aliases = [str(a) for a in (raw.get("aliases") or [])]
            rows.append(
                _Row(
                    index=index,
                    code=code,
                    parent_code=str(parent_code) if parent_code else None,
                    fields={
                        "official_code": str(raw.get("official_code") or ""),
                        "kind": kind,
                        "division_type": str(raw.get("division_type") or ""),
                        "name": name,
                        "name_en": str(raw.get("name_en") or ""),
                        "aliases": aliases,
                        "valid_from": valid_from,
                        "valid_to": valid_to,
                        "distance_km": distance,
                        "distance_is_estimate": bool(raw.get("distance_is_estimate", False)),
                        "sort_order": index,
                    },
                    sites=sites if sites else ([{"key": code}] if raw.get("is_endpoint", True) else []),
                )
            )

    file_codes = {row.code for row in rows} | set(seen)
    if province:
        file_codes.add(str(province["code"]))
    parent_of = {row.code: row.parent_code for row in rows}
    missing = {row.parent_code for row in rows if row.parent_code and row.parent_code not in file_codes}
    known_in_db = set(Unit.objects.filter(code__in=missing).values_list("code", flat=True))
    for row in rows:
        if row.parent_code and row.parent_code not in file_codes and row.parent_code not in known_in_db:
            errors.append(f"dòng {row.index} ({row.code}): không tìm thấy đơn vị cấp trên {row.parent_code!r}")
    for row in rows:
        chain = {row.code}
        current = parent_of.get(row.code)
        while current is not None and current in parent_of:
            if current in chain:
                errors.append(f"dòng {row.index} ({row.code}): vòng lặp trong cây đơn vị ({' → '.join(sorted(chain))})")
                break
            chain.add(current)
            current = parent_of.get(current)
    if errors:
        raise DomainError("bad_rows", f"Tệp có {len(errors)} dòng lỗi; không nhập gì.", details=errors)
    return province, rows


def _rebuild_paths() -> None:
    """Recompute path/depth of every unit from the roots down (a few thousand rows at most)."""
    children: dict[int | None, list[Unit]] = {}
    for unit in Unit.objects.only("id", "code", "parent_id", "path", "depth"):
        children.setdefault(unit.parent_id, []).append(unit)
    changed: list[Unit] = []
    stack = [(root, "/") for root in children.get(None, [])]
    while stack:
        unit, prefix = stack.pop()
        path = f"{prefix}{unit.code}/"
        depth = path.count("/") - 2
        if unit.path != path or unit.depth != depth:
            unit.path, unit.depth = path, depth
            changed.append(unit)
        stack.extend((child, path) for child in children.get(unit.id, []))
    Unit.objects.bulk_update(changed, ["path", "depth"], batch_size=500)


def _search_text(fields: dict[str, Any], code: str) -> str:
    return fold(" ".join([fields["name"], fields.get("name_en", ""), *fields.get("aliases", []), code]))


@transaction.atomic
def org_tree_import(*, data: Any) -> ImportResult:
    """Import a tree in the format of ``portal/data/yen_bai_2022.json``: all rows or none.

    Re-importing the same file updates units and sites in place; it never duplicates them.
    Units absent from the file are left alone (history refers to them).
    """
    province, rows = _validate(data)
    result = ImportResult()
    existing = {u.code: u for u in Unit.objects.all()}

    ordered: list[tuple[str, str | None, dict[str, Any], list[dict[str, Any]]]] = []
    if province:
        fields = {"kind": UnitKind.PROVINCE, "name": str(province["name"]), "name_en": str(province.get("name_en", "")),
                  "aliases": [], "official_code": str(province["code"]), "sort_order": 0}
        ordered.append((str(province["code"]), None, fields, []))
    ordered.extend((row.code, row.parent_code, row.fields, row.sites) for row in rows)

    for code, _parent, fields, _sites in ordered:
        values = dict(fields, search_text=_search_text(fields, code))
        unit = existing.get(code)
        if unit is None:
            unit = Unit(code=code, path=f"/{code}/", **values)
            unit.save()
            existing[code] = unit
            result.created += 1
        else:
            dirty = [name for name, value in values.items() if getattr(unit, name) != value]
            if dirty:
                for name in dirty:
                    setattr(unit, name, values[name])
                unit.save(update_fields=dirty)
                result.updated += 1

    for code, parent_code, _fields, _sites in ordered:
        unit = existing[code]
        parent_id = existing[parent_code].id if parent_code else None
        if unit.parent_id != parent_id:
            unit.parent_id = parent_id
            unit.save(update_fields=["parent"])
    _rebuild_paths()

    sites = {s.key: s for s in Site.objects.all()}
    for code, _parent, fields, site_rows in ordered:
        for spec in site_rows:
            key = str(spec["key"])
            values = {
                "unit": existing[code],
                "name": str(spec.get("name") or f"Điểm cầu {fields['name']}"),
                "location": str(spec.get("location") or ""),
                "contact_phone": str(spec.get("contact_phone") or ""),
            }
            site = sites.get(key)
            if site is None:
                Site.objects.create(key=key, **values)
                result.sites_created += 1
            else:
                dirty = [n for n, v in values.items() if getattr(site, n) != v and not (n in {"location", "contact_phone"} and not v)]
                if dirty:
                    for n in dirty:
                        setattr(site, n, values[n])
                    site.save(update_fields=dirty)
                    result.sites_updated += 1

    for row in rows:
        kind = row.fields["kind"]
        result.counts[kind] = result.counts.get(kind, 0) + len(row.sites)
    logger.info("org tree imported: %s created, %s updated", result.created, result.updated)
    return result


@transaction.atomic
def membership_grant(*, user: AbstractBaseUser, unit: Unit, role: str) -> Membership:
    if role not in Role.values:
        raise DomainError("bad_role", f"Vai trò không hợp lệ: {role}")
    membership, _created = Membership.objects.get_or_create(user=user, unit=unit, role=role)
    return membership


@transaction.atomic
def site_update(*, site: Site, name: str, location: str, contact_phone: str) -> Site:
    site.name, site.location, site.contact_phone = name, location, contact_phone
    site.full_clean()
    site.save(update_fields=["name", "location", "contact_phone"])
    return site
