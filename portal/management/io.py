"""What the import commands share: reading a JSON file and reporting a rejected file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from portal.errors import DomainError


def read_json(path: Path) -> Any:
    """The parsed file, or a CommandError saying (in Vietnamese) why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"Không tìm thấy tệp: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"Tệp không phải JSON hợp lệ: {exc}") from None
    except RecursionError:
        raise CommandError("Tệp lồng nhau quá sâu (JSON quá nhiều cấp); không nhập gì.") from None


def rejected(exc: DomainError) -> CommandError:
    """A CommandError listing every bad row of a rejected file."""
    return CommandError("\n".join([exc.message, *(f"  - {d}" for d in exc.details)]))
