"""Fill untranslated entries of a .po file from a JSON glossary {msgid: msgstr}.

Usage:
    python tools/po_fill.py PO GLOSSARY.json [GLOSSARY2.json ...]   fill entries
    python tools/po_fill.py --todo PO                                 list entries still to do, as JSON

An entry is "to do" when its msgstr is empty (however it is wrapped over lines) or when it is
fuzzy: makemessages' fuzzy guesses come from a different msgid and are never kept as they are.
Plural entries take the same text for both forms unless the glossary gives a list [one, other].
Filled entries lose their fuzzy flag and their "#| msgid" previous-text comments. Entries that
are translated and not fuzzy are left alone, byte for byte. A filled translation whose
placeholders (%(name)s, %s, {name}, HTML tags) differ from its msgid's is reported and not written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"%\([^)]+\)[sdif]|%[sdif]|\{[A-Za-z_][A-Za-z0-9_.]*\}|</?[A-Za-z][^>]*>")


def _unquote(lines: list[str]) -> str:
    return "".join(json.loads(line) for line in lines)


def _field(lines: list[str], keyword: str) -> tuple[int, int, str] | None:
    """(start, end, text) of the field `keyword "..."` plus its continuation lines."""
    for start, line in enumerate(lines):
        if line.startswith(keyword + " "):
            end = start + 1
            while end < len(lines) and lines[end].startswith('"'):
                end += 1
            return start, end, _unquote([line[len(keyword) + 1 :], *lines[start + 1 : end]])
    return None


def _entry(block: str) -> dict | None:
    lines = block.split("\n")
    msgid = _field(lines, "msgid")
    if msgid is None or not msgid[2]:
        return None  # header, obsolete (#~) entries, comments only
    plural = _field(lines, "msgid_plural")
    forms = (
        [_field(lines, f"msgstr[{n}]") for n in range(2)] if plural else [_field(lines, "msgstr")]
    )
    fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
    ctx = _field(lines, "msgctxt")
    return {
        "lines": lines,
        "msgid": msgid[2],
        "plural": plural[2] if plural else None,
        "context": ctx[2] if ctx else None,
        "msgstr_start": min(f[0] for f in forms if f),
        "todo": fuzzy or any(f is None or not f[2] for f in forms),
        "refs": " ".join(line[3:] for line in lines if line.startswith("#: ")),
    }


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def todo(po_path: str) -> None:
    entries = [_entry(b) for b in Path(po_path).read_text(encoding="utf-8").split("\n\n")]
    out = [
        {k: e[k] for k in ("msgid", "plural", "context", "refs") if e[k] is not None}
        for e in entries
        if e and e["todo"]
    ]
    print(json.dumps(out, ensure_ascii=False, indent=1))


def fill(po_path: str, glossary_paths: list[str]) -> None:
    glossary: dict = {}
    for path in glossary_paths:
        glossary.update(json.loads(Path(path).read_text(encoding="utf-8")))
    blocks = Path(po_path).read_text(encoding="utf-8").split("\n\n")
    missing, bad, filled = [], [], 0
    out = []
    for block in blocks:
        entry = _entry(block)
        if entry is None or not entry["todo"]:
            out.append(block)
            continue
        key = (
            entry["msgid"]
            if entry["context"] is None
            else f"{entry['context']}\x04{entry['msgid']}"
        )
        translation = glossary.get(key)
        if translation is None:
            missing.append(entry["msgid"])
            out.append(block)
            continue
        if entry["plural"] is not None:
            one, other = (
                translation if isinstance(translation, list) else (translation, translation)
            )
            checks = [(entry["msgid"], one), (entry["plural"], other)]
            # the singular may drop a named count ("One site" for "%(n)s sites"), nothing else
            ok = _placeholders(other) == _placeholders(entry["plural"]) and set(
                _placeholders(one)
            ) <= set(_placeholders(entry["msgid"]) + _placeholders(entry["plural"]))
            new = [f"msgstr[0] {_quote(one)}", f"msgstr[1] {_quote(other)}"]
        else:
            checks = [(entry["msgid"], translation)]
            ok = _placeholders(translation) == _placeholders(entry["msgid"])
            new = [f"msgstr {_quote(translation)}"]
        if not ok:
            bad.append(checks)
            out.append(block)
            continue
        head = []
        for line in entry["lines"][: entry["msgstr_start"]]:
            if line.startswith("#|"):
                continue
            if line.startswith("#,"):
                flags = [
                    f.strip() for f in line[2:].split(",") if f.strip() and f.strip() != "fuzzy"
                ]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            head.append(line)
        out.append("\n".join(head + new))
        filled += 1
    Path(po_path).write_text("\n\n".join(out), encoding="utf-8")
    print(f"{filled} filled")
    for checks in bad:
        print(
            "placeholders differ, not written:", *(f"{a!r} -> {b!r}" for a, b in checks), sep="\n  "
        )
    if missing:
        print(f"{len(missing)} untranslated:", *missing, sep="\n  ")


if __name__ == "__main__":
    if sys.argv[1] == "--todo":
        todo(sys.argv[2])
    else:
        fill(sys.argv[1], sys.argv[2:])
