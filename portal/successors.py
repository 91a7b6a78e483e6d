"""The 2025 reorganisation: import post-2025 units and link every old unit to its successor.

Input: ``portal/data/yen_bai_2022_successors_2025.json`` — ``meta.new_province`` and ``map``
from an old commune code (GSO code without leading zeros) to its new commune ``{code, name,
division_type}``. Post-2025 codes reuse old numbers (04252 was Phường Yên Ninh, is now Phường
Yên Bái), so new units are namespaced by era: ``2025-04252``, ``2025-15``.

Effect, in one transaction (re-running changes nothing):
- a new province root and its new communes, valid from ``valid_from`` (2025-07-01);
- mapped old communes: ``valid_to`` = the day before, ``successor`` = their new commune;
- old districts (abolished): ``valid_to`` only; the old province: ``successor`` = the new one.
History is not rewritten: invitations and conferences keep the units of their time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction

from portal.errors import DomainError
from portal.models import Unit, UnitKind
from portal.text import fold

REFORM_DAY = dt.date(2025, 7, 1)


@dataclass
class SuccessorResult:
    created: int = 0
    linked: int = 0
    closed: int = 0
    unmapped: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _code(value: Any, limit: int) -> str | None:
    """``value`` as a plain code (an int is read as digits), or None when it is not one."""
    from portal.importer import CODE_PATTERN

    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > limit or not CODE_PATTERN.match(value):
        return None
    return value


def _validate(data: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Types, lengths and codes of every entry (the same rules as ``portal.importer``)."""
    if not isinstance(data, dict) or not isinstance(data.get("map"), dict) or not data["map"]:
        raise DomainError("bad_file", "Tệp không đúng định dạng: cần đối tượng JSON có 'map'.")
    meta = data.get("meta")
    province = meta.get("new_province") if isinstance(meta, dict) else None
    if (
        not isinstance(province, dict)
        or not _code(province.get("code"), 20)
        or not isinstance(province.get("name"), str)
        or not province["name"].strip()
        or len(province["name"]) > 200
    ):
        raise DomainError("bad_file", "Thiếu hoặc sai meta.new_province {code, name}.")
    province = {"code": _code(province["code"], 20), "name": province["name"].strip()}
    errors: list[str] = []
    mapping: dict[str, dict[str, Any]] = {}
    for old, new in data["map"].items():
        label = str(old)[:40]
        if not _code(old, 20):
            errors.append(f"{label}: mã cũ không hợp lệ")
            continue
        if not isinstance(new, dict):
            errors.append(f"{label}: cần đối tượng có 'code' và 'name'")
            continue
        code = _code(new.get("code"), 30)  # namespaced by era ("2025-"): at most 35 of 40
        name, division = new.get("name"), new.get("division_type")
        problems = []
        if not code:
            problems.append("'code' thiếu hoặc không hợp lệ")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            problems.append("'name' thiếu, không phải chuỗi hoặc dài quá 200 ký tự")
        if division is not None and (not isinstance(division, str) or len(division) > 20):
            problems.append("'division_type' phải là chuỗi tối đa 20 ký tự")
        if problems:
            errors.append(f"{label}: " + "; ".join(problems))
            continue
        mapping[str(old)] = {**new, "code": code, "name": str(name).strip()}
    if errors:
        raise DomainError(
            "bad_rows", f"Tệp có {len(errors)} dòng lỗi; không nhập gì.", details=errors[:200]
        )
    return province, mapping


@transaction.atomic
def successors_import(
    *, data: Any, era: str = "2025", valid_from: dt.date = REFORM_DAY
) -> SuccessorResult:
    province, mapping = _validate(data)
    result = SuccessorResult()
    closing_day = valid_from - dt.timedelta(days=1)

    old_by_code = {
        u.code: u
        for u in Unit.objects.filter(
            kind__in=[UnitKind.COMMUNE, UnitKind.DISTRICT, UnitKind.PROVINCE]
        )
    }
    new_code = f"{era}-{province['code']}"
    root, created = Unit.objects.get_or_create(
        code=new_code,
        defaults={
            "kind": UnitKind.PROVINCE,
            "name": str(province["name"]),
            "official_code": str(province["code"]),
            "path": f"/{new_code}/",
            "depth": 0,
            "valid_from": valid_from,
            "search_text": fold(f"{province['name']} {new_code}"),
        },
    )
    result.created += int(created)

    predecessors: dict[str, list[Unit]] = {}
    specs: dict[str, dict[str, Any]] = {}
    for old_raw, new in mapping.items():
        old_code = str(old_raw).zfill(5)
        old = old_by_code.get(old_code)
        if old is None:
            result.unknown.append(old_code)
            continue
        predecessors.setdefault(str(new["code"]), []).append(old)
        specs[str(new["code"])] = new

    new_units: dict[str, Unit] = {}
    for code, spec in specs.items():
        namespaced = f"{era}-{code}"
        olds = predecessors[code]
        distance = min((Decimal(u.distance_km) for u in olds), default=Decimal(0))
        unit, created = Unit.objects.get_or_create(
            code=namespaced,
            defaults={
                "kind": UnitKind.COMMUNE,
                "official_code": code,
                "name": str(spec["name"]),
                "division_type": str(spec.get("division_type") or ""),
                "parent": root,
                "path": f"{root.path}{namespaced}/",
                "depth": 1,
                "valid_from": valid_from,
                "distance_km": distance,
                "distance_is_estimate": True,
                "aliases": [u.name for u in olds],
                "search_text": fold(
                    " ".join([str(spec["name"]), namespaced, *(u.name for u in olds)])
                ),
            },
        )
        result.created += int(created)
        new_units[code] = unit

    for code, olds in predecessors.items():
        for old in olds:
            if old.successor_id != new_units[code].pk or old.valid_to != closing_day:
                old.successor, old.valid_to = new_units[code], closing_day
                old.save(update_fields=["successor", "valid_to"])
                result.linked += 1

    mapped = {u.pk for olds in predecessors.values() for u in olds}
    for unit in old_by_code.values():
        if (
            unit.pk in mapped
            or unit.code.startswith(f"{era}-")
            or (unit.valid_from and unit.valid_from >= valid_from)
        ):
            continue
        if unit.kind == UnitKind.COMMUNE:
            result.unmapped.append(unit.code)
            continue
        changes = []
        if unit.valid_to != closing_day:
            unit.valid_to = closing_day
            changes.append("valid_to")
        if (
            unit.kind == UnitKind.PROVINCE
            and unit.official_code == str(province["code"])
            and unit.successor_id != root.pk
        ):
            unit.successor = root
            changes.append("successor")
        if changes:
            unit.save(update_fields=changes)
            result.closed += 1
    return result
