"""The 2025 successor import: new units namespaced by era, old units closed and linked, idempotent."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from portal.models import Unit
from portal.successors import successors_import


def test_load_successors_links_old_communes_to_namespaced_new_units(org):
    call_command("load_successors", verbosity=0)
    yen_ninh = Unit.objects.get(code="04252")
    assert yen_ninh.name == "Phường Yên Ninh"
    assert yen_ninh.valid_to == dt.date(2025, 6, 30)
    assert yen_ninh.successor.code == "2025-04252"
    assert yen_ninh.successor.name == "Phường Yên Bái"
    assert yen_ninh.successor.valid_from == dt.date(2025, 7, 1)
    # Several old wards merged into the same new ward.
    assert set(Unit.objects.get(code="2025-04252").predecessors.values_list("code", flat=True)) >= {
        "04252",
        "04255",
        "04258",
    }
    new_root = Unit.objects.get(code="2025-15")
    assert new_root.name == "Tỉnh Lào Cai"
    assert Unit.objects.get(code="2025-04252").path == "/2025-15/2025-04252/"
    assert Unit.objects.get(code="15").successor == new_root
    district = Unit.objects.get(code="140")
    assert district.valid_to == dt.date(2025, 6, 30) and district.successor is None
    # The 2022 tree is still whole: the old ward keeps its place and its site.
    assert yen_ninh.parent.code == "132" and yen_ninh.sites.exists()


def test_load_successors_twice_changes_nothing(org):
    call_command("load_successors", verbosity=0)
    count = Unit.objects.count()
    with open("portal/data/yen_bai_2022_successors_2025.json", encoding="utf-8") as fh:
        result = successors_import(data=json.load(fh))
    assert Unit.objects.count() == count
    assert result.created == 0 and result.linked == 0 and result.closed == 0


def test_load_successors_rejects_a_bad_file_and_changes_nothing(org, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "meta": {"new_province": {"code": 15, "name": "X"}},
                "map": {"4252": {"name": "no code"}},
            }
        )
    )
    before = Unit.objects.count()
    with pytest.raises(CommandError, match="dòng lỗi"):
        call_command("load_successors", str(bad), verbosity=0)
    assert Unit.objects.count() == before
    assert Unit.objects.get(code="04252").successor is None


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"code": "a/b", "name": "x"}, "'code'"),
        ({"code": ["04252"], "name": "x"}, "'code'"),
        ({"code": "04252", "name": ["x"]}, "'name'"),
        ({"code": "04252", "name": "N" * 201}, "'name'"),
        ({"code": "04252", "name": "x", "division_type": 5}, "division_type"),
        ("04252", "cần đối tượng"),
    ],
)
def test_load_successors_refuses_bad_types_and_codes_per_row(org, tmp_path, entry, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"meta": {"new_province": {"code": 15, "name": "Tỉnh Lào Cai"}}, "map": {"4252": entry}}
        ),
        encoding="utf-8",
    )
    before = Unit.objects.count()
    with pytest.raises(CommandError) as info:
        call_command("load_successors", str(bad))
    assert "4252" in str(info.value) and expected in str(info.value)
    assert Unit.objects.count() == before


def test_load_successors_refuses_a_province_code_with_a_path_in_it(org, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "meta": {"new_province": {"code": "15/../x", "name": "x"}},
                "map": {"4252": {"code": "04252", "name": "x"}},
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="new_province"):
        call_command("load_successors", str(bad))
