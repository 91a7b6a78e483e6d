"""History search by words: punctuation-insensitive, any order, diacritic-insensitive, prefixes,
ranked — the same results with PostgreSQL's full-text index and with the LIKE fallback."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from conferences import demo_history
from conferences.folding import fold_words
from conferences.models import Conference
from conferences.reports.filters import HistoryFilter
from conferences.reports.search import history_conferences, newest_or_best_first
from conferences.reports.words import query_words, search_titles
from tests.conferences.history_helpers import ended_conference

ROOT = Path(__file__).resolve().parents[2]
# The issue's cases on the demo history: each finds the 19 COVID-19 conferences of 2021–2022.
COVID_QUERIES = [
    "phòng, chống dịch",
    "phòng chống dịch",
    "phong chong dich",
    "COVID phong chong",
    "dịch phòng chống",
    "PHONG CHONG DI",
    "covid-19",
]
OTHER_QUERIES = [
    "giao ban",
    "văn chấn",
    "van chan xa",
    "chuyen doi so",
    "thien tai lu",
    "quoc",
    "hội nghị 4 cấp",
    "khong co chu nay",
]


def _titles(qs):
    return list(qs.values_list("title", flat=True))


def _admin():
    return get_user_model().objects.get_or_create(
        username="search_admin", defaults={"is_superuser": True, "is_staff": True}
    )[0]


def test_query_words_fold_and_drop_punctuation():
    assert query_words("Phòng,  chống dịch; COVID-19!") == ["phong", "chong", "dich", "covid", "19"]
    assert query_words("dịch dịch DỊCH") == ["dich"]
    assert query_words(" ,;-- ") == []


def test_the_issues_cases_find_the_19_covid_conferences(org):
    demo_history.seed({"users": [], "urls": {}})
    admin = _admin()
    for q in COVID_QUERIES:
        qs = history_conferences(admin, HistoryFilter(q=q))
        assert qs.count() == 19, q
        assert all("covid" in fold_words(t) for t in _titles(qs)), q


def test_ranked_whole_words_and_the_typed_order_first_then_newest(org):
    titles = {
        "phrase_new": ("Hội nghị phòng, chống dịch COVID-19", dt.date(2022, 5, 2)),
        "phrase_old": ("Phòng chống dịch bệnh mùa đông", dt.date(2021, 5, 2)),
        "any_order": ("Chống dịch và phòng bệnh", dt.date(2022, 6, 2)),
        "prefixes": ("Phong trào chống dịch hại cây trồng", dt.date(2022, 7, 2)),
        "prefix_only": ("Phòng chốngg dịchh", dt.date(2022, 8, 2)),
        "missing_word": ("Phòng chống thiên tai", dt.date(2022, 9, 2)),
    }
    for title, day in titles.values():
        ended_conference(day, title=title)
    admin = _admin()
    for fulltext in _backends():
        ranked = newest_or_best_first(
            search_titles(Conference.objects.all(), "phòng chống dịch", fulltext=fulltext),
            HistoryFilter(q="x"),
        )
        assert _titles(ranked) == [
            titles[k][0]
            for k in ("phrase_new", "phrase_old", "prefixes", "any_order", "prefix_only")
        ], fulltext
    # "chống dịch" as typed is a phrase of four titles: they come first, newest first.
    page = _titles_of_page(admin, "chống dịch")
    assert page == [
        titles[k][0] for k in ("prefixes", "any_order", "phrase_new", "phrase_old", "prefix_only")
    ]
    assert titles["missing_word"][0] not in _titles_of_page(admin, "phòng chống dịch")


def _titles_of_page(user, q):
    from conferences.reports.search import history_page

    rows, _total = history_page(user, HistoryFilter(q=q), page=1, page_size=50)
    return [c.title for c in rows]


def _backends() -> list[bool]:
    return [True, False] if connection.vendor == "postgresql" else [False]


def test_fulltext_and_like_give_the_same_results_in_the_same_order_on_the_demo_history(
    org, postgres_required
):
    demo_history.seed({"users": [], "urls": {}})
    base = Conference.objects.filter(status="ended")
    for q in COVID_QUERIES + OTHER_QUERIES:
        ranked = [
            list(
                newest_or_best_first(
                    search_titles(base, q, fulltext=fulltext), HistoryFilter(q=q)
                ).values_list("id", flat=True)
            )
            for fulltext in (True, False)
        ]
        assert ranked[0] == ranked[1], q
    # The database folds every demo title exactly as Python does (the LIKE fallback relies on it).
    assert all(
        words == fold_words(title)
        for title, words in Conference.objects.values_list("title", "title_words")
    )


def test_the_fulltext_query_can_use_its_gin_index(org, postgres_required):
    ended_conference(dt.date(2022, 3, 3), title="Phòng chống dịch")
    qs = search_titles(Conference.objects.all(), "phong chong")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "conf_title_words_fts" in plan, plan


@pytest.mark.timeout(240)
def test_the_sqlite_fallback_gives_the_same_results_on_the_demo_history(
    org, postgres_required, tmp_path
):
    """A fresh SQLite portal (embedded defaults, its own process) with the demo history answers
    every query with the same conferences in the same order as PostgreSQL here."""
    demo_history.seed({"users": [], "urls": {}})
    queries = COVID_QUERIES + OTHER_QUERIES
    here = {
        q: list(
            newest_or_best_first(
                search_titles(Conference.objects.filter(status="ended"), q), HistoryFilter(q=q)
            ).values_list("code", flat=True)
        )
        for q in queries
    }
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GIAOBAN_VAR_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "conferences" / "sqlite_search_probe.py"),
            json.dumps(queries),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    there = json.loads(result.stdout.strip().splitlines()[-1])
    assert there["vendor"] == "sqlite"
    for q in queries:
        assert there["results"][q] == [str(code) for code in here[q]], q


def test_search_page_and_api_from_the_outside(org, leader, client_for):
    demo_history.seed({"users": [], "urls": {}})
    client = client_for(leader)
    for q in ("phòng chống dịch", "COVID phong chong"):
        page = client.get("/history/search/", {"q": q})
        assert page.status_code == 200 and 'data-total="19"' in page.content.decode(), q
        assert client.get("/api/v1/conferences/", {"q": q}).json()["count"] == 19, q
    assert 'data-total="0"' in client.get("/history/search/", {"q": "!!!"}).content.decode()
