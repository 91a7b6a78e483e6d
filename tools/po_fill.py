"""Fill empty msgstr entries of a .po file from a JSON glossary {msgid: msgstr}.

Usage: python tools/po_fill.py locale/en/LC_MESSAGES/django.po glossary.json
Plural entries take the same text for both forms unless the glossary gives a list [one, other].
Entries already translated are left alone; fuzzy flags on filled entries are removed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def _unquote(lines: list[str]) -> str:
    return "".join(json.loads(line) for line in lines)


def main(po_path: str, glossary_path: str) -> None:
    glossary = json.loads(Path(glossary_path).read_text(encoding="utf-8"))
    blocks = Path(po_path).read_text(encoding="utf-8").split("\n\n")
    missing = []
    out = []
    for block in blocks:
        lines = block.split("\n")
        ids = [i for i, line in enumerate(lines) if line.startswith("msgid ")]
        if not ids:
            out.append(block)
            continue
        start = ids[0]
        end = start + 1
        while end < len(lines) and lines[end].startswith('"'):
            end += 1
        msgid = _unquote([lines[start][6:], *lines[start + 1 : end]])
        if not msgid:
            out.append(block)
            continue
        translation = glossary.get(msgid)
        plural = any(line.startswith("msgid_plural") for line in lines)
        current = [line for line in lines if line.startswith("msgstr")]
        already = all(not re.fullmatch(r'msgstr(\[\d\])? ""', line) for line in current)
        if already:
            out.append(block)
            continue
        if translation is None:
            missing.append(msgid)
            out.append(block)
            continue
        keep = [line.replace(", fuzzy", "") for line in lines[: lines.index(current[0])] if line != "#, fuzzy"]
        if plural:
            one, other = translation if isinstance(translation, list) else (translation, translation)
            keep += [f"msgstr[0] {json.dumps(one, ensure_ascii=False)}", f"msgstr[1] {json.dumps(other, ensure_ascii=False)}"]
        else:
            keep.append(f"msgstr {json.dumps(translation, ensure_ascii=False)}")
        out.append("\n".join(keep))
    Path(po_path).write_text("\n\n".join(out), encoding="utf-8")
    if missing:
        print(f"{len(missing)} untranslated:", *missing, sep="\n  ")


if __name__ == "__main__":
    main(*sys.argv[1:3])
