"""Crafted organisation files against ``manage.py load_org_tree`` (issue 11 items 8 and 9).

Every file here used to give a traceback, hang, or silently change who may do what (a truncated
path shared by two units, a site moved to another unit, ``"abc"`` read as three aliases).
Each must now be refused whole with the bad rows listed, or imported exactly as written.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from portal import services
from portal.errors import DomainError
from portal.importer import MAX_DEPTH, MAX_ERRORS_LISTED
from portal.models import Site, Unit

META = {"province": {"code": "99", "name": "Tỉnh Thử"}}


def unit(code: str, **extra) -> dict:
    return {"code": code, "name": f"Đơn vị {code}", "kind": "commune", **extra}


def _load(tmp_path, data) -> str:
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    before = (Unit.objects.count(), Site.objects.count())
    with pytest.raises(CommandError) as info:
        call_command("load_org_tree", str(path))
    assert (Unit.objects.count(), Site.objects.count()) == before, (
        "a rejected file changed something"
    )
    return str(info.value)


@pytest.mark.parametrize(
    "row, expected",
    [
        (unit("A1", kind=["commune"]), "loại không hợp lệ"),
        (unit("A1", kind={"x": 1}), "loại không hợp lệ"),
        (unit("A1", aliases=7), "aliases phải là danh sách"),
        (unit("A1", aliases="abc"), "aliases phải là danh sách"),
        (unit("A1", aliases=["ok", 3]), "aliases phải là danh sách"),
        (unit("X" * 41), "dài 41 ký tự"),
        (unit("A1", name="N" * 201), "name dài 201 ký tự"),
        (unit("A1", name=["a"]), "name phải là chuỗi"),
        (unit("A1", name_en=5), "name_en phải là chuỗi"),
        (unit("A1", official_code="1" * 21), "official_code dài 21"),
        (unit("A1", distance_km="far"), "khoảng cách không hợp lệ"),
        (unit("A1", distance_km=True), "distance_km phải là số"),
        (unit("A1", distance_km=[1]), "distance_km phải là số"),
        (unit("A1", distance_km=1e308 * 10), "distance_km phải là số hữu hạn"),
        (unit("A1", valid_from=20220101), "valid_from phải là ngày"),
        (unit("A1", valid_from="2022-13-40"), "ngày hiệu lực không hợp lệ"),
        (unit("A1", is_endpoint="yes"), "is_endpoint phải là true/false"),
        (unit("A1", sites="A1"), "'sites' phải là danh sách"),
        (unit("A1", sites=[{"key": "S" * 61}]), "key dài 61"),
        (unit("A1", sites=[{"key": "S1", "name": "N" * 201}]), "name dài 201"),
        (unit("A1", sites=[{"name": "no key"}]), "thiếu key"),
        (unit("a/b"), "không hợp lệ"),
        (unit(".."), "không hợp lệ"),
        (unit("x y"), "không hợp lệ"),
        (unit(15), "mã phải là chuỗi"),
        (unit("A1", parent_code="../15"), "parent_code '../15' không hợp lệ"),
        (unit("A1", parent_code=["15"]), "parent_code phải là chuỗi"),
    ],
)
def test_bad_types_and_lengths_are_listed_per_row_never_a_traceback(db, tmp_path, row, expected):
    text = _load(tmp_path, {"meta": META, "units": [unit("OK1"), row]})
    assert "dòng 2" in text and expected in text, text


def test_every_bad_row_of_a_file_is_listed_at_once(db, tmp_path):
    rows = [unit("A1", kind=[1]), unit("A2", aliases=1), unit("X" * 41), unit("A4", name="N" * 201)]
    text = _load(tmp_path, {"meta": META, "units": rows})
    assert all(f"dòng {n}" in text for n in range(1, 5)), text


@pytest.mark.parametrize("code", ["15/../x", "15/x", "", "a b", "15" * 11, 1.5])
def test_province_code_must_be_a_plain_code(db, tmp_path, code):
    text = _load(
        tmp_path, {"meta": {"province": {"code": code, "name": "Tỉnh"}}, "units": [unit("A1")]}
    )
    assert "province" in text


def test_bad_file_shapes_are_clear_errors(db, tmp_path):
    assert "units" in _load(tmp_path, [1, 2])
    assert "units" in _load(tmp_path, {"units": "abc"})
    assert "tree" in _load(tmp_path, {"tree": "abc"})
    assert "meta" in _load(tmp_path, {"meta": [], "units": [unit("A1")]})
    assert "dòng 2: không phải một đối tượng" in _load(tmp_path, {"units": [unit("A1"), "x"]})
    assert "children" in _load(tmp_path, {"meta": META, "tree": [dict(unit("A1"), children="x")]})


def test_deepest_accepted_tree_keeps_exact_distinct_paths(db):
    """Codes of the longest allowed length, MAX_DEPTH levels: no path is ever cut short."""
    rows, parent = [], None
    for level in range(MAX_DEPTH):
        for twin in "AB":
            code = f"{twin}{level:02d}".ljust(40, "x")
            rows.append(unit(code, parent_code=parent))
        parent = f"A{level:02d}".ljust(40, "x")
    services.org_tree_import(data={"meta": META, "units": rows})
    deepest = Unit.objects.get(code=f"B{MAX_DEPTH - 1:02d}".ljust(40, "x"))
    codes = ["99"] + [f"A{n:02d}".ljust(40, "x") for n in range(MAX_DEPTH - 1)] + [deepest.code]
    assert deepest.path == "/" + "/".join(codes) + "/"
    assert deepest.depth == MAX_DEPTH
    paths = list(Unit.objects.values_list("path", flat=True))
    assert len(paths) == len(set(paths))


def test_a_tree_deeper_than_the_limit_is_refused(db, tmp_path):
    rows = [unit("L0")] + [unit(f"L{n}", parent_code=f"L{n - 1}") for n in range(1, MAX_DEPTH + 2)]
    text = _load(tmp_path, {"meta": META, "units": rows})
    assert f"tối đa {MAX_DEPTH}" in text


def test_tree_nested_3000_deep_is_refused_without_recursion(db, tmp_path):
    root = node = dict(unit("N0"), children=[])
    for n in range(1, 3000):
        child = dict(unit(f"N{n}"), children=[])
        node["children"].append(child)
        node = child
    with pytest.raises(DomainError) as info:
        services.org_tree_import(data={"meta": META, "tree": [root]})
    assert any(f"tối đa {MAX_DEPTH}" in d for d in info.value.details)
    # The same file on disk is too deep for a JSON reader: a clear error, not a traceback.
    path = tmp_path / "deep.json"
    path.write_text(
        '{"tree": '
        + '[{"code": "N", "name": "n", "kind": "commune", "children": ' * 3000
        + "[]"
        + "}]" * 3000
        + "}",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="sâu"):
        call_command("load_org_tree", str(path))


@pytest.mark.timeout(120)  # the quadratic cycle check never finished in 300 s
def test_a_100000_deep_chain_is_refused_quickly_with_a_bounded_list(db, tmp_path):
    rows = [unit("C0")] + [unit(f"C{n}", parent_code=f"C{n - 1}") for n in range(1, 100_000)]
    text = _load(tmp_path, {"meta": META, "units": rows})
    assert "lỗi khác" in text
    assert text.count("\n  - ") == MAX_ERRORS_LISTED + 1


def test_a_cycle_is_refused(db, tmp_path):
    text = _load(
        tmp_path, {"meta": META, "units": [unit("P", parent_code="Q"), unit("Q", parent_code="P")]}
    )
    assert "vòng lặp" in text


def test_a_new_unit_cannot_take_an_existing_site_unless_the_file_says_it_moves(org, tmp_path):
    site = Site.objects.get(key="140")
    data = {"units": [unit("NEW-1", parent_code="15-UBND", sites=[{"key": "140"}])]}
    text = _load(tmp_path, data)
    assert "'140' thuộc đơn vị '140'" in text and "moved_from" in text
    assert Site.objects.get(pk=site.pk).unit.code == "140"
    assert "moved_from" in _load(
        tmp_path, {"units": [unit("NEW-2", parent_code="15-UBND", sites=[{"key": "138"}])]}
    )
    data["units"][0]["sites"][0]["moved_from"] = "140"
    services.org_tree_import(data=data)
    assert Site.objects.get(pk=site.pk).unit.code == "NEW-1"


def test_an_existing_unit_cannot_change_parent_unless_the_file_says_it_moves(org, tmp_path):
    tu_le = Unit.objects.get(code="04630")  # a commune of Văn Chấn (140)
    row = {"code": "04630", "name": tu_le.name, "kind": "commune", "parent_code": "138"}
    text = _load(tmp_path, {"units": [row]})
    assert "đang thuộc '140'" in text and "moved_from" in text
    row["moved_from"] = "140"
    services.org_tree_import(data={"units": [row]})
    tu_le.refresh_from_db()
    assert tu_le.parent.code == "138" and tu_le.path == "/15/15-UBND/138/04630/"
