"""Units of the history filter by name: the leader types "Văn Chấn" or "van chan", not 140.

Only units within the user's reach are ever matched or suggested
(``filters.units_within_reach``); an unknown unit and one outside the reach look the same.
Names are compared folded (``conferences.folding``) and also without their administrative
prefix ("Huyện", "Xã", "Thị trấn"…), so "Văn Chấn" is "Huyện Văn Chấn". Codes still work, and so
does the "Name (code)" a suggestion fills in, which two communes of the same name need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conferences.folding import fold_words
from portal.models import Unit, UnitKind

# Folded administrative prefixes, longest first.
PREFIXES = ("thanh pho ", "thi tran ", "thi xa ", "huyen ", "phuong ", "tinh ", "xa ")
SUGGESTIONS = 15
_CODE_SUFFIX = re.compile(r"\(([^()]{1,40})\)\s*$")


@dataclass(frozen=True)
class UnitChoice:
    unit: Unit
    parent_name: str

    @property
    def label(self) -> str:
        return f"{self.unit.name} — {self.parent_name}" if self.parent_name else self.unit.name

    @property
    def value(self) -> str:
        """What a suggestion puts in the field: unambiguous and readable."""
        return f"{self.unit.name} ({self.unit.code})"


class Ambiguous(Exception):
    def __init__(self, choices: list[UnitChoice]) -> None:
        super().__init__("ambiguous unit name")
        self.choices = choices


def _bare(folded: str) -> str:
    for prefix in PREFIXES:
        if folded.startswith(prefix):
            return folded[len(prefix) :]
    return folded


def _choices(units) -> list[UnitChoice]:
    rows = list(
        units.select_related("parent").only(
            "id", "code", "name", "path", "depth", "kind", "valid_to", "parent__name"
        )
    )
    return [
        UnitChoice(u, u.parent.name if u.parent_id and u.kind == UnitKind.COMMUNE else "")
        for u in rows
    ]


def resolve_unit(units, text: str) -> Unit | None:
    """The unit of ``units`` that ``text`` names (code, "Name (code)", or a name); ``None`` if
    none does; ``Ambiguous`` if several units share that name."""
    text = " ".join((text or "").split())
    if not text:
        return None
    code = _CODE_SUFFIX.search(text)
    for candidate in filter(None, [text, code.group(1).strip() if code else None]):
        unit = units.filter(code__iexact=candidate).first()
        if unit is not None:
            return unit
    folded = fold_words(text)
    if not folded:
        return None
    choices = _choices(units)
    for same in (
        lambda c: fold_words(c.unit.name) == folded,
        lambda c: _bare(fold_words(c.unit.name)) == _bare(folded),
    ):
        found = [c for c in choices if same(c)]
        if len(found) == 1:
            return found[0].unit
        if len(found) > 1:
            raise Ambiguous(found)
    return None


def suggest_units(units, text: str, *, limit: int = SUGGESTIONS) -> list[UnitChoice]:
    """Units whose name has every typed word as a word prefix (any order), the closest first."""
    words = fold_words(text).split()
    if not words:
        return []
    out = []
    for choice in _choices(units):
        name = fold_words(choice.unit.name)
        name_words = name.split() + choice.unit.code.lower().split()
        if all(any(w.startswith(word) for w in name_words) for word in words):
            exact = _bare(name) == _bare(" ".join(words))
            out.append((not exact, choice.unit.depth, choice.unit.path, choice))
    out.sort(key=lambda row: row[:3])
    return [row[3] for row in out[:limit]]
