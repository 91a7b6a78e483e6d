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


def _validate(data: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    if not isinstance(data, dict) or not isinstance(data.get("map"), dict) or not data["map"]:
        raise DomainError("bad_file", "Tệp không đúng định dạng: cần đối tượng JSON có 'map'.")
    province = (data.get("meta") or {}).get("new_province")
    if not isinstance(province, dict) or not province.get("code") or not province.get("name"):
        raise DomainError("bad_file", "Thiếu meta.new_province {code, name}.")
    errors = [
        f"{old}: cần 'code' và 'name'"
        for old, new in data["map"].items()
        if not isinstance(new, dict) or not new.get("code") or not new.get("name")
    ]
    if errors:
        raise DomainError("bad_rows", f"Tệp có {len(errors)} dòng lỗi; không nhập gì.", details=errors)
    return province, data["map"]


@transaction.atomic
def successors_import(*, data: Any, era: str = "2025", valid_from: dt.date = REFORM_DAY) -> SuccessorResult:
    province, mapping = _validate(data)
    result = SuccessorResult()
    closing_day = valid_from - dt.timedelta(days=1)

    old_by_code = {u.code: u for u in Unit.objects.filter(kind__in=[UnitKind.COMMUNE, UnitKind.DISTRICT, UnitKind.PROVINCE])}
    new_code = f"{era}-{province['code']}"
    root, created = Unit.objects.get_or_create(
        code=new_code,
        defaults={
            "kind": UnitKind.PROVINCE, "name": str(province["name"]), "official_code": str(province["code"]),
            "path": f"/{new_code}/", "depth": 0, "valid_from": valid_from,
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
                "kind": UnitKind.COMMUNE, "official_code": code, "name": str(spec["name"]),
                "division_type": str(spec.get("division_type") or ""), "parent": root,
                "path": f"{root.path}{namespaced}/", "depth": 1, "valid_from": valid_from,
                "distance_km": distance, "distance_is_estimate": True,
                "aliases": [u.name for u in olds],
                "search_text": fold(" ".join([str(spec["name"]), namespaced, *(u.name for u in olds)])),
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
        if unit.pk in mapped or unit.code.startswith(f"{era}-") or (unit.valid_from and unit.valid_from >= valid_from):
            continue
        if unit.kind == UnitKind.COMMUNE:
            result.unmapped.append(unit.code)
            continue
        changes = []
        if unit.valid_to != closing_day:
            unit.valid_to = closing_day
            changes.append("valid_to")
        if unit.kind == UnitKind.PROVINCE and unit.official_code == str(province["code"]) and unit.successor_id != root.pk:
            unit.successor = root
            changes.append("successor")
        if changes:
            unit.save(update_fields=changes)
            result.closed += 1
    return result
