"""Run by test_history_search in its own process with the embedded defaults (SQLite): migrate,
load the shipped tree and the demo history, answer each query of argv[1] (a JSON list) with the
codes of the matching conferences, best first, and print one JSON line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from conferences import demo_history  # noqa: E402
from conferences.models import Conference  # noqa: E402
from conferences.reports.filters import HistoryFilter  # noqa: E402
from conferences.reports.search import newest_or_best_first  # noqa: E402
from conferences.reports.words import search_titles  # noqa: E402
from portal import services  # noqa: E402
from portal.models import Site  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    if not Site.objects.exists():
        data = json.loads(
            (
                Path(__file__).resolve().parents[2] / "portal" / "data" / "yen_bai_2022.json"
            ).read_text(encoding="utf-8")
        )
        services.org_tree_import(data=data)
    demo_history.seed({"users": [], "urls": {}})
    ended = Conference.objects.filter(status="ended")
    results = {
        q: [
            str(code)
            for code in newest_or_best_first(
                search_titles(ended, q), HistoryFilter(q=q)
            ).values_list("code", flat=True)
        ]
        for q in json.loads(sys.argv[1])
    }
    print(json.dumps({"vendor": connection.vendor, "results": results}))


if __name__ == "__main__":
    main()
