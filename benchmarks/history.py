"""History benchmark: ten years at ten times the province's volume, then p50/p95 of the pages.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/giaoban_bench_history \
        .venv/bin/python benchmarks/history.py [--scale 1.0] [--requests 30] [--regenerate]

PostgreSQL only (DATABASE_URL required). ``--scale 1`` generates ≥ 50,000 ended conferences over
2016–2025 and ≥ 5,000,000 invitation rows (one attendance record per invited site: status,
headcount, join time — the rows every report aggregates) with COPY through psycopg, then
ANALYZE. Data already there at that scale is reused unless ``--regenerate``. It then requests
each endpoint ``--requests`` times in-process (Django test client: view + database, no HTTP
server) as the province's leader and prints ONE JSON line with p50/p95 per endpoint, next to a
baseline (a page that does no history query) measured in the same run.
It runs as production does, with ``DEBUG=False`` (and a throw-away ``SECRET_KEY`` if none is
set): with DEBUG on, Django keeps every query's SQL and time in ``connection.queries``, which is
not what a leader's request costs. An explicit ``DEBUG=1`` is honoured and shown in the JSON.
Targets (issue 17, docs/benchmarks.md): every page's p95 ≤ 200 ms at 50,000 conferences / 5M
invitations, word search over ten years and the leader's overview included; the dirty-month
refresh of one month ≤ 0.5 s; the XLSX export of a year ≤ 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFERENCES_AT_SCALE_1 = 50_000
ROWS_AT_SCALE_1 = 5_000_000
YEARS = list(range(2016, 2026))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 50k conferences / 5M rows")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--generate-only", action="store_true", help="make the data set, measure nothing"
    )
    parser.add_argument("--only", default="", help="comma-separated endpoint names (default: all)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print(
            json.dumps({"benchmark": "history", "error": "DATABASE_URL (PostgreSQL) is required"})
        )
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    generated = generate(args.scale, regenerate=args.regenerate)
    generation_s = round(time.monotonic() - started, 1)
    result = {
        "benchmark": "history",
        "scale": args.scale,
        "debug": settings.DEBUG,
        **generated,
        "generation_s": generation_s,
    }
    if args.generate_only:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    only = {name for name in args.only.split(",") if name}
    if not only or "refresh_one_month" in only:
        result["refresh_one_month"] = measure_refresh()
    result["endpoints"] = measure(args.requests, only=only)
    print(json.dumps(result, ensure_ascii=False))
    return 0


# --- data ---------------------------------------------------------------------------------------


def generate(scale: float, *, regenerate: bool) -> dict:
    from django.db import connection

    from conferences.models import Conference, Invitation
    from portal import services
    from portal.models import Site

    if not Site.objects.exists():
        services.org_tree_import(
            data=json.loads(
                (ROOT / "portal" / "data" / "yen_bai_2022.json").read_text(encoding="utf-8")
            )
        )
    want_conf = int(CONFERENCES_AT_SCALE_1 * scale)
    want_rows = int(ROWS_AT_SCALE_1 * scale)
    have_conf = Conference.objects.count()
    if have_conf >= want_conf and not regenerate:
        return {
            "conferences": have_conf,
            "invitations": _estimate("conferences_invitation"),
            "generated": False,
            **_summary(),
        }
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE conferences_conference, conferences_invitation, conferences_conference_topics, "
            "conferences_attendanceentry, conferences_presenceinterval, conferences_agendaitem, conferences_auditentry CASCADE"
        )
    _copy(want_conf, want_rows)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return {
        "conferences": Conference.objects.count(),
        "invitations": Invitation.objects.count(),
        "generated": True,
        **_summary(force=True),
    }


def _summary(*, force: bool = False) -> dict:
    """Fill the dashboard's summary tables in bulk (COPY bypasses the services that mark months
    dirty)."""
    from django.db import connection

    from conferences.models import HistorySummary, HistoryYearSummary
    from conferences.services.history import history_rebuild

    if not force and HistorySummary.objects.exists():
        return {
            "summary_rows": HistorySummary.objects.count(),
            "year_summary_rows": HistoryYearSummary.objects.count(),
            "summary_s": 0.0,
        }
    started = time.monotonic()
    rows = history_rebuild()
    with connection.cursor() as cur:
        cur.execute("ANALYZE conferences_historysummary")
        cur.execute("ANALYZE conferences_historyyearsummary")
    return {
        "summary_rows": rows,
        "year_summary_rows": HistoryYearSummary.objects.count(),
        "summary_s": round(time.monotonic() - started, 1),
    }


def _estimate(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
        return int(cur.fetchone()[0])


def _copy(want_conf: int, want_rows: int) -> None:
    """COPY conferences, then their topics and invitations, straight through psycopg."""
    from django.db import connection
    from django.utils import timezone

    from conferences.models import Conference, Invitation, Level
    from portal.models import Site, UnitKind

    rng = random.Random(10)
    tz = timezone.get_default_timezone()
    sites = list(Site.objects.select_related("unit").order_by("id"))
    everyone = [(s.id, s.unit_id, s.unit.kind) for s in sites]
    districts = [s for s in sites if s.unit.kind == UnitKind.DISTRICT]
    agencies = [
        (s.id, s.unit_id, s.unit.kind)
        for s in sites
        if s.unit.kind in (UnitKind.AGENCY, UnitKind.PARTY_BOARD)
    ]
    communes_of: dict[int, list[tuple]] = {}
    for s in sites:
        if s.unit.kind == UnitKind.COMMUNE:
            communes_of.setdefault(s.unit.parent_id, []).append((s.id, s.unit_id, s.unit.kind))
    ubnd = next(s for s in sites if s.key == "15-UBND")
    from conferences.demo_history import TITLES, TOPICS
    from conferences.services.topics import topics_for_names

    topic_ids = {code: topics_for_names([name])[0].id for code, name in TOPICS}
    topic_codes = list(topic_ids)
    # Share of province conferences inviting every site, so that the average number of sites per
    # conference (2% × 210 four-level, 38% × ~20 district, 60% × (w × 210 + (1 − w) × 20)) gives
    # want_rows rows, with 3% to spare.
    average = 1.03 * want_rows / max(want_conf, 1)
    wide_share = max(0.0, min(1.0, (average - 23.8) / 114))

    # Generated columns (title_words) are computed by PostgreSQL during the COPY.
    conf_fields = [
        f for f in Conference._meta.concrete_fields if f.name != "id" and not f.generated
    ]
    conf_cols = [f.column for f in conf_fields]
    plan = []
    per_year = want_conf // len(YEARS) + 1
    for year in YEARS:
        last = dt.date(2025, 6, 27) if year == 2025 else dt.date(year, 12, 30)
        days = (last - dt.date(year, 1, 2)).days
        for _ in range(per_year):
            if len(plan) >= want_conf:
                break
            day = dt.date(year, 1, 2) + dt.timedelta(days=rng.randrange(days))
            roll = rng.random()
            level = (
                Level.FOUR_LEVEL
                if roll < 0.02
                else Level.PROVINCE_TO_DISTRICT
                if roll < 0.62
                else Level.DISTRICT_TO_COMMUNE
            )
            host = ubnd if level != Level.DISTRICT_TO_COMMUNE else rng.choice(districts)
            plan.append((day, level, host))
    now = timezone.now()
    with connection.cursor() as cur:
        raw = cur.connection
        with (
            raw.cursor() as pc,
            pc.copy(f"COPY conferences_conference ({', '.join(conf_cols)}) FROM STDIN") as copy,
        ):
            for i, (day, level, host) in enumerate(plan):
                start = dt.datetime.combine(day, dt.time(8 if i % 3 else 14, 0), tzinfo=tz)
                minutes = 90 + (i % 5) * 30
                # Titles like the demo history's (word search over ten years has real words to
                # match); the topic follows from the title, as in the demo.
                what = TITLES[topic_codes[i % len(topic_codes)]]
                if level == "district_to_commune":
                    title = f"Giao ban {host.unit.name} với các xã, thị trấn: {what} (số {i})"
                elif level == "four_level":
                    title = f"Hội nghị trực tuyến toàn quốc 4 cấp: {what} (số {i})"
                else:
                    title = f"Hội nghị trực tuyến tỉnh – huyện: {what} (số {i})"
                values = {
                    "code": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "title": title,
                    "level": level,
                    "host_unit": host.unit_id,
                    "chair_site": host.id,
                    "planned_start": start,
                    "planned_end": start + dt.timedelta(minutes=minutes),
                    "actual_start": start + dt.timedelta(minutes=i % 9),
                    "actual_end": start + dt.timedelta(minutes=minutes + i % 17),
                    "status": "ended",
                    "created_at": now,
                    "updated_at": now,
                    "created_by": None,
                }
                row = []
                for f in conf_fields:
                    key = f.name
                    row.append(values[key] if key in values else f.get_default())
                copy.write_row(row)
        cur.execute(
            "SELECT id, level, host_unit_id, chair_site_id, planned_start FROM conferences_conference ORDER BY id"
        )
        confs = cur.fetchall()
        first_id = confs[0][0]
        with (
            raw.cursor() as pc,
            pc.copy(
                "COPY conferences_conference_topics (conference_id, topic_id) FROM STDIN"
            ) as copy,
        ):
            for conf_id, *_rest in confs:
                copy.write_row(
                    (conf_id, topic_ids[topic_codes[(conf_id - first_id) % len(topic_codes)]])
                )
        inv_fields = [f for f in Invitation._meta.concrete_fields if f.name != "id"]
        inv_cols = [f.column for f in inv_fields]
        defaults = {f.name: f.get_default() for f in inv_fields}
        with (
            raw.cursor() as pc,
            pc.copy(f"COPY conferences_invitation ({', '.join(inv_cols)}) FROM STDIN") as copy,
        ):
            for conf_id, level, host_unit_id, chair_site_id, start in confs:
                if level == "four_level" or (
                    level == "province_to_district" and rng.random() < wide_share
                ):
                    guests = everyone
                elif level == "province_to_district":
                    guests = [
                        (chair_site_id, host_unit_id, "x"),
                        *rng.sample(agencies, 10),
                        *((d.id, d.unit_id, "district") for d in districts),
                    ]
                else:
                    guests = [
                        (chair_site_id, host_unit_id, "district"),
                        *communes_of.get(host_unit_id, []),
                    ]
                seen = set()
                for site_id, unit_id, _kind in guests:
                    if site_id in seen:
                        continue
                    seen.add(site_id)
                    r = rng.random()
                    status = "present" if r > 0.05 else ("absent_excused" if r > 0.01 else "absent")
                    values = dict(defaults)
                    values.update(
                        conference=conf_id,
                        site=site_id,
                        unit=unit_id,
                        status=status,
                        created_at=now,
                    )
                    if status == "present":
                        values["headcount"] = 3 + int(r * 20)
                        values["first_joined_at"] = start + dt.timedelta(minutes=int(r * 40) - 25)
                    else:
                        values["absence_reason"] = "Mất điện" if r > 0.03 else ""
                    copy.write_row([values[f.name] for f in inv_fields])


# --- measurement --------------------------------------------------------------------------------


def measure_refresh(n: int = 21) -> dict:
    """Recompute one dirty month (about 430 conferences / 44,000 invitations at scale 1) as the
    beat task does: mark it, then ``history_refresh_dirty``; p50/p95 over ``n`` runs (months of
    2024 in turn, the first one right after the process starts), the slowest and every
    sample in order, so that one slow sample stays visible."""
    from conferences.services.history import history_refresh_dirty, mark_months_dirty

    samples = []
    for i in range(n):
        month = dt.date(2024, 1 + i % 12, 1)
        mark_months_dirty([month])
        t0 = time.perf_counter()
        assert history_refresh_dirty() == [month]
        samples.append(round((time.perf_counter() - t0) * 1000, 1))
    times = sorted(samples)
    return {
        "n": n,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": times[min(n - 1, round(0.95 * (n - 1)))],
        "max_ms": times[-1],
        "samples_ms": samples,
    }


def measure(n: int, *, only: set[str] | frozenset[str] = frozenset()) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from portal import services
    from portal.models import Unit

    User = get_user_model()
    leader, _ = User.objects.get_or_create(username="bench_leader")
    services.membership_grant(user=leader, unit=Unit.objects.get(code="15"), role="leader")
    client = Client()
    client.force_login(leader)
    year = "date_from=2024-01-01&date_to=2024-12-31"
    # Dashboards twice: "cold" computes every request (cache off), "cached" is the shipped setting.
    endpoints = {
        "baseline_api_docs": ("/api/docs/", n),
        "dashboard_year_cold": (f"/history/?{year}", n),
        "dashboard_year_cached": (f"/history/?{year}", n),
        "dashboard_year_district_cold": (f"/history/?{year}&unit=140", n),
        "dashboard_ten_years_cold": ("/history/", max(3, n // 5)),
        "dashboard_ten_years_cached": ("/history/", n),
        "api_dashboard_year_cold": (f"/api/v1/dashboard/?{year}", n),
        "search_year": (f"/history/search/?{year}", n),
        "search_text_all": ("/history/search/?q=van+chan", n),
        "search_words_ten_years": (
            "/history/search/?q=ph%C3%B2ng%2C+ch%E1%BB%91ng+d%E1%BB%8Bch",
            n,
        ),
        "search_words_prefix_ten_years": ("/history/search/?q=chuyen+doi", n),
        "search_words_rare_ten_years": ("/history/search/?q=covid+phong+chong+so+4999", n),
        "api_search_words": ("/api/v1/conferences/?q=covid+phong+chong", n),
        "search_unit_by_name": ("/history/search/?unit=V%C4%83n+Ch%E1%BA%A5n&" + year, n),
        "unit_autocomplete": ("/history/units/?q=van+chan", n),
        "overview": ("/history/overview/", n),
        "export_savings_xlsx_year": (f"/history/export/savings.xlsx?{year}", 3),
        "search_unit_all": ("/history/search/?unit=04630", n),
        "api_conferences_year": (f"/api/v1/conferences/?{year}&page_size=200", n),
        "export_xlsx_year": (f"/history/export/search.xlsx?{year}", 3),
        "export_dashboard_pdf_year": (f"/history/export/dashboard.pdf?{year}", 3),
    }
    out = {}
    for name, (url, count) in endpoints.items():
        if only and name not in only:
            continue
        cache_seconds = 0 if name.endswith("_cold") else settings.HISTORY_CACHE_SECONDS
        times = []
        size = 0
        with override_settings(HISTORY_CACHE_SECONDS=cache_seconds):
            client.get(url)  # warm-up (database buffers; fills the cache for "cached")
            for _ in range(count):
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (url, response.status_code)
                size = len(response.content)
        times.sort()
        out[name] = {
            "n": count,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
            "bytes": size,
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
