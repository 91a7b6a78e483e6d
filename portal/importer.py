"""Import an organisation tree (``manage.py load_org_tree``): all rows or none, strictly checked.

Contract: ``org_tree_import(data=…)`` either writes the whole file or raises one ``DomainError``
(code ``bad_file`` or ``bad_rows``) listing every bad row, and changes nothing. Nothing is ever
truncated or coerced: every field has a type and a length, codes match ``CODE_PATTERN``, the tree
is at most ``MAX_DEPTH`` levels below the province, so a unit's path always fits its column.
A file may not silently move things that decide who may do what: a site key that belongs to
another unit, or an existing unit under a new parent, is refused unless the row says where it
moves from (``"moved_from": "<current unit code>"`` on the site, ``"moved_from": "<current
parent code>"`` on the unit).

Bounds: validation is iterative and linear in the number of units (no recursion: a 100,000-deep
chain is refused in seconds); writes are batched. 100,000 units with their sites import within
the time and memory stated in docs/benchmarks.md (``benchmarks/abuse.py --import-units``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from portal.errors import DomainError
from portal.models import Site, Unit, UnitKind
from portal.text import fold

logger = logging.getLogger(__name__)

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
MAX_DEPTH = 12  # levels below the province (the real tree has 3)
MAX_ERRORS_LISTED = 200
MAX_ALIASES = 50
BATCH = 1000

_KINDS = frozenset(UnitKind.values)
_CODE_MAX = Unit._meta.get_field("code").max_length or 40
_SITE_KEY_MAX = Site._meta.get_field("key").max_length or 60
# The longest path the checks allow: the province plus MAX_DEPTH levels of the longest code.
PATH_MAX = 1 + (MAX_DEPTH + 1) * (_CODE_MAX + 1)
if PATH_MAX > (Unit._meta.get_field("path").max_length or 0):  # pragma: no cover - a model change
    raise RuntimeError("Unit.path is shorter than the longest path the importer accepts")

# (field, max length) of the free-text fields of a unit and of a site; None/"" mean empty.
_UNIT_TEXT = {"name": 200, "name_en": 200, "official_code": 20, "division_type": 20}
_SITE_TEXT = {"name": 200, "location": 300, "contact_phone": 40}


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
    moved_from: str | None = None


class _Errors:
    """Row errors, keeping the first MAX_ERRORS_LISTED and counting the rest."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.total = 0

    def add(self, text: str) -> None:
        self.total += 1
        if len(self.items) < MAX_ERRORS_LISTED:
            self.items.append(text)

    def raise_if_any(self) -> None:
        if not self.total:
            return
        details = list(self.items)
        if self.total > len(details):
            details.append(f"… và {self.total - len(details)} lỗi khác")
        raise DomainError("bad_rows", f"Tệp có {self.total} lỗi; không nhập gì.", details=details)


# --- reading one value ------------------------------------------------------------------------


def _text(
    raw: dict[str, Any], key: str, limit: int, problems: list[str], *, required: bool = False
) -> str:
    value = raw.get(key)
    missing = "thiếu tên (name)" if key == "name" else f"thiếu {key}"
    if value is None or value == "":
        if required:
            problems.append(missing)
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} phải là chuỗi, không phải {type(value).__name__}")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(missing)
    if len(value) > limit:
        problems.append(f"{key} dài {len(value)} ký tự, tối đa {limit}")
    return value


def _code(value: Any, what: str, limit: int, problems: list[str]) -> str:
    if not isinstance(value, str):
        problems.append(f"{what} phải là chuỗi, không phải {type(value).__name__}")
        return ""
    if len(value) > limit:
        problems.append(f"{what} dài {len(value)} ký tự, tối đa {limit}")
        return ""
    if not CODE_PATTERN.match(value):
        problems.append(f"{what} {value!r} không hợp lệ (chỉ chữ, số, '-' và '_')")
        return ""
    return value


def _optional_code(raw: dict[str, Any], key: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    return _code(value, key, _CODE_MAX, problems) or None


def _bool(raw: dict[str, Any], key: str, default: bool, problems: list[str]) -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.append(f"{key} phải là true/false")
        return default
    return value


def _date(raw: dict[str, Any], key: str, problems: list[str]) -> dt.date | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"{key} phải là ngày dạng YYYY-MM-DD")
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{key}: ngày hiệu lực không hợp lệ (cần YYYY-MM-DD): {value[:20]!r}")
        return None


def _distance(raw: dict[str, Any], problems: list[str]) -> Decimal:
    value = raw.get("distance_km")
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append("distance_km phải là số")
        return Decimal(0)
    if isinstance(value, float) and not math.isfinite(value):
        problems.append("distance_km phải là số hữu hạn")
        return Decimal(0)
    try:
        distance = Decimal(str(value).strip()[:20])
        if not distance.is_finite() or distance < 0 or distance > 10000:
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"khoảng cách không hợp lệ: {str(value)[:20]!r} (0–10000 km)")
        return Decimal(0)
    return distance.quantize(Decimal("0.1"))


def _aliases(raw: dict[str, Any], problems: list[str]) -> list[str]:
    value = raw.get("aliases")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        problems.append("aliases phải là danh sách các chuỗi")
        return []
    if len(value) > MAX_ALIASES:
        problems.append(f"aliases có {len(value)} tên, tối đa {MAX_ALIASES}")
    if any(len(a) > 200 for a in value):
        problems.append("một tên trong aliases dài quá 200 ký tự")
    return [a.strip() for a in value if a.strip()]


def _sites(raw: dict[str, Any], problems: list[str]) -> list[dict[str, Any]] | None:
    value = raw.get("sites")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        problems.append("'sites' phải là danh sách đối tượng có 'key'")
        return []
    sites = []
    for n, spec in enumerate(value, start=1):
        site_problems: list[str] = []
        key = _code(spec.get("key"), "key", _SITE_KEY_MAX, site_problems) if "key" in spec else ""
        if "key" not in spec:
            site_problems.append("thiếu key")
        clean = {
            name: _text(spec, name, limit, site_problems) for name, limit in _SITE_TEXT.items()
        }
        moved_from = _optional_code(spec, "moved_from", site_problems)
        if site_problems:
            problems.append(f"điểm cầu {n}: " + ", ".join(site_problems))
            continue
        sites.append({"key": key, "moved_from": moved_from, **clean})
    return sites


# --- the file --------------------------------------------------------------------------------


def _flatten_tree(nodes: Any, errors: _Errors) -> list[Any]:
    """The nested ``tree`` format as a flat list of rows with ``parent_code`` (no recursion)."""
    out: list[Any] = []
    if not isinstance(nodes, list):
        raise DomainError("bad_file", "'tree' phải là một danh sách.")
    stack: list[tuple[Any, Any]] = [(node, None) for node in reversed(nodes)]
    while stack:
        node, parent_code = stack.pop()
        if not isinstance(node, dict):
            out.append(node)
            continue
        row = {k: v for k, v in node.items() if k != "children"}
        row.setdefault("parent_code", parent_code)
        out.append(row)
        children = node.get("children")
        if children is None:
            continue
        if not isinstance(children, list):
            errors.add(
                f"dòng {len(out)} ({str(row.get('code'))[:40]}): 'children' phải là danh sách"
            )
            continue
        stack.extend((child, row.get("code")) for child in reversed(children))
    return out


def _province(data: dict[str, Any]) -> dict[str, Any] | None:
    meta = data.get("meta")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise DomainError("bad_file", "'meta' phải là một đối tượng.")
    province = meta.get("province")
    if province is None:
        return None
    if not isinstance(province, dict):
        raise DomainError("bad_file", "meta.province phải là một đối tượng có 'code' và 'name'.")
    problems: list[str] = []
    code = province.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    code = _code(code, "meta.province.code", 20, problems)  # also its official code (20)
    name = _text(province, "name", 200, problems, required=True)
    name_en = _text(province, "name_en", 200, problems)
    if problems:
        raise DomainError("bad_file", "meta.province không hợp lệ: " + "; ".join(problems))
    return {"code": code, "name": name, "name_en": name_en}


def _rows(raw_rows: list[Any], province: dict[str, Any] | None, errors: _Errors) -> list[_Row]:
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    site_keys: dict[str, int] = {}
    for index, raw in enumerate(raw_rows, start=1):
        if not isinstance(raw, dict):
            errors.add(f"dòng {index}: không phải một đối tượng")
            continue
        problems: list[str] = []
        code = ""
        if raw.get("code") in (None, ""):
            problems.append("thiếu mã (code)")
        else:
            code = _code(raw["code"], "mã", _CODE_MAX, problems)
        if code and code in seen:
            problems.append(f"trùng mã với dòng {seen[code]}")
        if province and code == province["code"]:
            problems.append("trùng mã với tỉnh (meta.province)")
        texts = {
            name: _text(raw, name, limit, problems, required=name == "name")
            for name, limit in _UNIT_TEXT.items()
        }
        kind = raw.get("kind")
        if not isinstance(kind, str) or kind not in _KINDS:
            problems.append(f"loại không hợp lệ: {str(kind)[:40]!r}")
        valid_from = _date(raw, "valid_from", problems)
        valid_to = _date(raw, "valid_to", problems)
        if valid_from and valid_to and valid_to < valid_from:
            problems.append("valid_to trước valid_from")
        distance = _distance(raw, problems)
        aliases = _aliases(raw, problems)
        estimate = _bool(raw, "distance_is_estimate", False, problems)
        is_endpoint = _bool(raw, "is_endpoint", True, problems)
        parent_code = _optional_code(raw, "parent_code", problems)
        moved_from = _optional_code(raw, "moved_from", problems)
        sites = _sites(raw, problems)
        if sites is None:
            sites = [{"key": code, "moved_from": None}] if is_endpoint and code else []
        for spec in sites:
            if spec["key"] in site_keys:
                problems.append(f"điểm cầu {spec['key']!r} trùng với dòng {site_keys[spec['key']]}")
            else:
                site_keys[spec["key"]] = index
        if code and code not in seen:
            seen[code] = index
        if problems:
            errors.add(
                f"dòng {index} ({code or str(raw.get('code'))[:40] or 'không có mã'}): "
                + "; ".join(problems)
            )
            continue
        if parent_code is None and province:
            parent_code = province["code"]
        rows.append(
            _Row(
                index=index,
                code=code,
                parent_code=parent_code,
                fields={
                    **texts,
                    "kind": kind,
                    "aliases": aliases,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "distance_km": distance,
                    "distance_is_estimate": estimate,
                    "sort_order": index,
                },
                sites=sites,
                moved_from=moved_from,
            )
        )
    return rows


@dataclass
class _Plan:
    province: dict[str, Any] | None
    rows: list[_Row]
    parent_of: dict[str, str | None]  # every unit, existing and in the file, after the import
    existing: dict[str, Unit]


def _depths(parent_of: dict[str, str | None]) -> tuple[dict[str, int], set[str]]:
    """Depth of every code (root = 0) and the codes on or under a cycle; linear, no recursion."""
    depth: dict[str, int] = {}
    cyclic: set[str] = set()
    for start in parent_of:
        if start in depth or start in cyclic:
            continue
        chain: list[str] = []
        on_chain: set[str] = set()
        current: str | None = start
        while current is not None and current not in depth and current not in cyclic:
            if current in on_chain:
                cyclic.update(chain)
                break
            chain.append(current)
            on_chain.add(current)
            current = parent_of.get(current)
        else:
            if current is not None and current in cyclic:
                cyclic.update(chain)
                continue
            base = -1 if current is None else depth[current]
            for code in reversed(chain):
                base += 1
                depth[code] = base
    return depth, cyclic


def _validate(data: Any) -> _Plan:
    if not isinstance(data, dict):
        raise DomainError(
            "bad_file", "Tệp không đúng định dạng: cần một đối tượng JSON có khóa 'units'."
        )
    errors = _Errors()
    province = _province(data)
    raw_rows = data.get("units")
    if raw_rows is None and data.get("tree") is not None:
        raw_rows = _flatten_tree(data["tree"], errors)
    if not isinstance(raw_rows, list) or not raw_rows:
        raise DomainError("bad_file", "Tệp không có danh sách đơn vị ('units').")
    rows = _rows(raw_rows, province, errors)

    existing = {unit.code: unit for unit in Unit.objects.all()}
    code_of = {unit.pk: code for code, unit in existing.items()}
    parent_of: dict[str, str | None] = {
        code: code_of.get(unit.parent_id) if unit.parent_id is not None else None
        for code, unit in existing.items()
    }
    if province:
        parent_of[province["code"]] = None
    file_codes = {row.code for row in rows}
    for row in rows:
        if (
            row.parent_code
            and row.parent_code not in file_codes
            and row.parent_code not in parent_of
        ):
            if not (province and row.parent_code == province["code"]):
                errors.add(
                    f"dòng {row.index} ({row.code}): không tìm thấy đơn vị cấp trên {row.parent_code!r}"
                )
        unit = existing.get(row.code)
        old_parent = parent_of.get(row.code) if unit is not None else None
        if unit is not None and old_parent != row.parent_code and row.moved_from != old_parent:
            errors.add(
                f"dòng {row.index} ({row.code}): đơn vị đang thuộc {old_parent!r}; muốn chuyển sang "
                f'{row.parent_code!r} thì ghi "moved_from": {old_parent!r}'
            )
        parent_of[row.code] = row.parent_code
    depth, cyclic = _depths(parent_of)
    for row in rows:
        if row.code in cyclic:
            errors.add(
                f"dòng {row.index} ({row.code}): vòng lặp trong cây đơn vị (cấp trên {row.parent_code!r})"
            )
        elif depth.get(row.code, 0) > MAX_DEPTH:
            errors.add(
                f"dòng {row.index} ({row.code}): sâu {depth[row.code]} cấp dưới tỉnh, tối đa {MAX_DEPTH}"
            )
    for code in existing.keys() - file_codes:
        if code in cyclic or depth.get(code, 0) > MAX_DEPTH:
            errors.add(f"đơn vị đã có {code}: sẽ nằm sâu quá {MAX_DEPTH} cấp hoặc trong vòng lặp")

    keys = {spec["key"]: row for row in rows for spec in row.sites}
    for key, unit_code in (
        Site.objects.filter(key__in=keys).values_list("key", "unit__code").iterator(2000)
    ):
        row = keys[key]
        spec = next(s for s in row.sites if s["key"] == key)
        if unit_code != row.code and spec.get("moved_from") != unit_code:
            errors.add(
                f"dòng {row.index} ({row.code}): điểm cầu {key!r} thuộc đơn vị {unit_code!r}; "
                f"muốn chuyển thì ghi \"moved_from\": {unit_code!r} trong 'sites'"
            )
    errors.raise_if_any()
    return _Plan(province=province, rows=rows, parent_of=parent_of, existing=existing)


# --- writing ---------------------------------------------------------------------------------


def _search_text(fields: dict[str, Any], code: str) -> str:
    return fold(
        " ".join([fields["name"], fields.get("name_en", ""), *fields.get("aliases", []), code])
    )


def _paths(parent_of: dict[str, str | None]) -> dict[str, str]:
    depth, _cyclic = _depths(parent_of)
    paths: dict[str, str] = {}
    for code in sorted(parent_of, key=depth.__getitem__):
        parent = parent_of[code]
        paths[code] = f"{paths[parent] if parent else '/'}{code}/"
    return paths


@transaction.atomic
def org_tree_import(*, data: Any) -> ImportResult:
    """Import a tree in the format of ``portal/data/yen_bai_2022.json``: all rows or none.

    Re-importing the same file updates units and sites in place; it never duplicates them.
    Units absent from the file are left alone (history refers to them).
    """
    plan = _validate(data)
    result = ImportResult()
    existing = plan.existing
    entries: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    if plan.province:
        p = plan.province
        entries.append(
            (
                p["code"],
                {
                    "kind": UnitKind.PROVINCE,
                    "name": p["name"],
                    "name_en": p["name_en"],
                    "aliases": [],
                    "official_code": p["code"],
                    "sort_order": 0,
                },
                [],
            )
        )
    entries.extend((row.code, row.fields, row.sites) for row in plan.rows)

    paths = _paths(plan.parent_of)
    new_units: list[Unit] = []
    changed: dict[str, set[str]] = {}
    for code, fields, _sites in entries:
        values = dict(fields, search_text=_search_text(fields, code))
        unit = existing.get(code)
        if unit is None:
            unit = Unit(code=code, path=paths[code], depth=paths[code].count("/") - 2, **values)
            existing[code] = unit
            new_units.append(unit)
            continue
        dirty = {name for name, value in values.items() if getattr(unit, name) != value}
        for name in dirty:
            setattr(unit, name, values[name])
        if dirty:
            changed.setdefault(code, set()).update(dirty)
            result.updated += 1
    # One level at a time, parents first, so every parent id exists when its children go in.
    levels: dict[int, list[Unit]] = {}
    for unit in new_units:
        levels.setdefault(unit.depth, []).append(unit)
    for _depth, level in sorted(levels.items()):
        for unit in level:
            parent = plan.parent_of[unit.code]
            unit.parent_id = existing[parent].pk if parent else None
        Unit.objects.bulk_create(level, batch_size=BATCH)
        if any(u.pk is None for u in level):  # a backend that does not return ids
            ids = dict(
                Unit.objects.filter(code__in=[u.code for u in level]).values_list("code", "id")
            )
            for unit in level:
                unit.pk = ids[unit.code]
    result.created = len(new_units)
    created = {unit.code for unit in new_units}

    for code, parent in plan.parent_of.items():
        unit = existing.get(code)
        if unit is None or code in created:
            continue
        parent_id = existing[parent].pk if parent else None
        path = paths[code]
        for name, value in (
            ("parent_id", parent_id),
            ("path", path),
            ("depth", path.count("/") - 2),
        ):
            if getattr(unit, name) != value:
                setattr(unit, name, value)
                changed.setdefault(code, set()).add("parent" if name == "parent_id" else name)
    by_fields: dict[frozenset[str], list[Unit]] = {}
    for code, names in changed.items():
        by_fields.setdefault(frozenset(names), []).append(existing[code])
    for changed_fields, units in by_fields.items():
        Unit.objects.bulk_update(units, sorted(changed_fields), batch_size=BATCH)

    _write_sites(entries, existing, result)
    for row in plan.rows:
        kind = row.fields["kind"]
        result.counts[kind] = result.counts.get(kind, 0) + len(row.sites)
    logger.info("org tree imported: %s created, %s updated", result.created, result.updated)
    return result


def _site_name(unit_name: str) -> str:
    name = f"Điểm cầu {unit_name}"
    return name if len(name) <= 200 else unit_name


def _write_sites(
    entries: list[tuple[str, dict[str, Any], list[dict[str, Any]]]],
    units: dict[str, Unit],
    result: ImportResult,
) -> None:
    sites = {
        s.key: s
        for s in Site.objects.filter(
            key__in=[spec["key"] for _c, _f, specs in entries for spec in specs]
        )
    }
    new: list[Site] = []
    by_fields: dict[frozenset[str], list[Site]] = {}
    for code, fields, specs in entries:
        for spec in specs:
            values = {
                "unit_id": units[code].pk,
                "name": spec.get("name") or _site_name(fields["name"]),
                "location": spec.get("location") or "",
                "contact_phone": spec.get("contact_phone") or "",
            }
            site = sites.get(spec["key"])
            if site is None:
                new.append(Site(key=spec["key"], **values))
                continue
            # Location and phone are often kept by hand in the portal: an empty cell keeps them.
            dirty = {
                n
                for n, v in values.items()
                if getattr(site, n) != v and not (n in {"location", "contact_phone"} and not v)
            }
            for name in dirty:
                setattr(site, name, values[name])
            if dirty:
                by_fields.setdefault(
                    frozenset("unit" if n == "unit_id" else n for n in dirty), []
                ).append(site)
                result.sites_updated += 1
    Site.objects.bulk_create(new, batch_size=BATCH)
    result.sites_created = len(new)
    for names, changed in by_fields.items():
        Site.objects.bulk_update(changed, sorted(names), batch_size=BATCH)
