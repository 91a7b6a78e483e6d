"""Conference URLs, one module per concern so that each can grow on its own.

- ``urls_core``: list, create/edit, detail (overview, agenda, documents), transitions.
- ``urls_attendance``: invitations/ICS feed, readiness, attendance, roll call, minutes, operator pages.
- ``urls_history``: leaders' history, dashboard, exports, read API.
- ``urls_live``: join page, chair console.
"""

from __future__ import annotations

import importlib

urlpatterns: list = []
for _name in ("urls_core", "urls_attendance", "urls_history", "urls_live"):
    try:
        urlpatterns += importlib.import_module(f"conferences.{_name}").urlpatterns
    except ModuleNotFoundError as exc:  # a concern not built yet
        if exc.name != f"conferences.{_name}":
            raise
