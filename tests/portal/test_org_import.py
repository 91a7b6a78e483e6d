from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from portal import services
from portal.errors import DomainError
from portal.models import Site, Unit

SHIPPED = settings.BASE_DIR / "portal" / "data" / "yen_bai_2022.json"


def shipped() -> dict:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_tree_gives_210_sites_by_kind(org):
    counts = Counter(Site.objects.values_list("unit__kind", flat=True))
    assert counts == {
        "party_committee": 1,
        "peoples_council": 1,
        "peoples_committee": 1,
        "party_board": 6,
        "agency": 19,
        "district": 9,
        "commune": 173,
    }
    assert Site.objects.count() == 210


def test_tree_paths_put_communes_under_their_district(org):
    van_chan = org["140"]
    tu_le = org["04630"]
    assert tu_le.parent == van_chan
    assert tu_le.path == "/15/15-UBND/140/04630/"
    assert tu_le.depth == 3
    assert Unit.objects.subtree_of(van_chan).filter(kind="commune").count() > 10
    assert not Unit.objects.subtree_of(van_chan).filter(code="138").exists()


def test_reimport_updates_and_never_duplicates(org):
    units, sites = Unit.objects.count(), Site.objects.count()
    data = shipped()
    data["units"][5]["name"] = "Tên đã đổi"
    result = services.org_tree_import(data=data)
    assert (result.created, result.updated, result.sites_created) == (0, 1, 0)
    assert (Unit.objects.count(), Site.objects.count()) == (units, sites)
    assert Unit.objects.get(code=data["units"][5]["code"]).name == "Tên đã đổi"


def test_load_org_tree_command_is_idempotent(org, capsys):
    call_command("load_org_tree", str(SHIPPED))
    call_command("load_org_tree", str(SHIPPED))
    assert Site.objects.count() == 210
    assert "tổng 210" in capsys.readouterr().out


def _bad(mutate) -> DomainError:
    data = shipped()
    mutate(data["units"])
    before = list(Unit.objects.order_by("code").values_list("code", "name", "parent_id"))
    with pytest.raises(DomainError) as info:
        services.org_tree_import(data=data)
    assert list(Unit.objects.order_by("code").values_list("code", "name", "parent_id")) == before
    return info.value


def test_bad_file_lists_every_bad_row_and_imports_nothing(db):
    def mutate(units):
        units[3]["parent_code"] = "NO-SUCH"  # missing parent
        units[10]["code"] = units[11]["code"]  # duplicate code
        units[20]["kind"] = "galaxy"  # unknown kind
        units[30]["name"] = ""  # missing name
        units[40]["parent_code"] = units[41]["code"]  # cycle between two communes
        units[41]["parent_code"] = units[40]["code"]

    error = _bad(mutate)
    text = "\n".join(error.details)
    assert "NO-SUCH" in text
    assert "trùng mã" in text
    assert "galaxy" in text
    assert "thiếu tên" in text
    assert "vòng lặp" in text
    assert len(error.details) >= 5


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda u: u[3].update(parent_code="NO-SUCH"), "NO-SUCH"),
        (lambda u: u[12].update(code=u[13]["code"]), "trùng mã"),
        (lambda u: u[20].update(kind="ministry"), "ministry"),
        (lambda u: u[30].update(name="  "), "thiếu tên"),
        (
            lambda u: (
                u[40].update(parent_code=u[41]["code"]),
                u[41].update(parent_code=u[40]["code"]),
            ),
            "vòng lặp",
        ),
        (lambda u: u[50].update(valid_from="2022-13-40"), "ngày hiệu lực"),
    ],
)
def test_each_class_of_bad_row_is_rejected_on_a_fresh_database(db, mutate, expected):
    Site.objects.all().delete()
    Unit.objects.all().update(successor=None)
    for depth in (3, 2, 1, 0):
        Unit.objects.filter(depth=depth).delete()
    error = _bad(mutate)
    assert any(expected in d for d in error.details)
    assert Unit.objects.count() == 0 and Site.objects.count() == 0


def test_command_reports_bad_rows_and_exits_nonzero(db, tmp_path):
    data = shipped()
    data["units"][7]["kind"] = "unknown-kind"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommandError) as info:
        call_command("load_org_tree", str(bad))
    assert "unknown-kind" in str(info.value)
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError, match="JSON"):
        call_command("load_org_tree", str(tmp_path / "broken.json"))


def test_nested_tree_format_is_accepted(db):
    data = shipped()
    nested = {"meta": data["meta"], "tree": copy.deepcopy(data["tree"])}
    Site.objects.all().delete()
    result = services.org_tree_import(data=nested)
    assert sum(result.counts.values()) == 210
