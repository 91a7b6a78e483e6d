"""Demo data of the conferences app, called by ``manage.py seed_demo`` after the portal's.

Each concern seeds its own part and appends logins/URLs to ``report``; all are idempotent.
"""

from __future__ import annotations

import importlib
from typing import Any

PARTS = ("conferences.demo_upcoming", "conferences.demo_history", "conferences.demo_live")


def seed(report: dict[str, Any]) -> None:
    for name in PARTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.seed(report)
