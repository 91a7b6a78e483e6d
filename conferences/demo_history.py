"""Demo history for ``seed_demo``: 2021–2022 as the province reported it, plus 2023 up to yesterday.

2021–2022 reproduces the seed's figures exactly: 409 ended conferences — 9 across four levels,
248 from the province to its districts, 152 from a district to its communes — 19 of them tagged
COVID-19. Invitations go to the sites of the time with the unit they belonged to, headcounts,
a few absences with reasons and late joins; each conference gets agenda items with actual times
and an audit trail (start, agenda, floor, roll call, end) for its timeline.

Deterministic (fixed random seed, UUIDs derived from the row number) and idempotent: the first
conference's code is the marker; if it exists nothing is generated again. Everything is written
with ``bulk_create`` in one transaction (a few seconds on SQLite).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from conferences.models import (
    AgendaItem,
    AttendanceEntry,
    AttendanceSource,
    AttendanceStatus,
    AuditEntry,
    Conference,
    Invitation,
    Level,
    PresenceInterval,
    Status,
)
from conferences.services.topics import topics_for_names
from portal.models import Site, UnitKind

logger = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("5f0c6a52-7d1e-4f43-9a55-1b2f3e0d2021")
# Conferences per year and level; 2021 + 2022 are the seed's figures (9 / 248 / 152 = 409).
PLAN: dict[int, dict[str, int]] = {
    2021: {Level.FOUR_LEVEL: 5, Level.PROVINCE_TO_DISTRICT: 126, Level.DISTRICT_TO_COMMUNE: 77},
    2022: {Level.FOUR_LEVEL: 4, Level.PROVINCE_TO_DISTRICT: 122, Level.DISTRICT_TO_COMMUNE: 75},
    2023: {Level.FOUR_LEVEL: 3, Level.PROVINCE_TO_DISTRICT: 70, Level.DISTRICT_TO_COMMUNE: 48},
    2024: {Level.FOUR_LEVEL: 2, Level.PROVINCE_TO_DISTRICT: 64, Level.DISTRICT_TO_COMMUNE: 40},
    2025: {Level.FOUR_LEVEL: 1, Level.PROVINCE_TO_DISTRICT: 30, Level.DISTRICT_TO_COMMUNE: 20},
}
COVID_PER_YEAR = {2021: 13, 2022: 6}
TOPICS = [
    # The names clerks type (demo_upcoming too), so one topic each: "COVID-19", not a variant.
    ("covid-19", "COVID-19"),
    ("kinh-te-xa-hoi", "Kinh tế - xã hội"),
    ("nong-thon-moi", "Nông thôn mới"),
    ("cai-cach-hanh-chinh", "Cải cách hành chính"),
    ("chuyen-doi-so", "Chuyển đổi số"),
    ("quoc-phong-an-ninh", "Quốc phòng, an ninh"),
    ("phong-chong-thien-tai", "Phòng, chống thiên tai"),
    ("xay-dung-dang", "Xây dựng Đảng, hệ thống chính trị"),
]
TITLES = {
    "kinh-te-xa-hoi": "giao ban tình hình kinh tế – xã hội",
    "nong-thon-moi": "triển khai Chương trình mục tiêu quốc gia xây dựng nông thôn mới",
    "cai-cach-hanh-chinh": "đánh giá công tác cải cách hành chính",
    "chuyen-doi-so": "triển khai chuyển đổi số, chính quyền số",
    "quoc-phong-an-ninh": "bảo đảm quốc phòng, an ninh, trật tự an toàn xã hội",
    "phong-chong-thien-tai": "phòng, chống thiên tai, tìm kiếm cứu nạn mùa mưa lũ",
    "xay-dung-dang": "quán triệt nghị quyết, xây dựng Đảng và hệ thống chính trị",
    "covid-19": "triển khai các biện pháp cấp bách phòng, chống dịch COVID-19",
}
REASONS = [
    "Trùng lịch công tác",
    "Mất điện",
    "Sự cố đường truyền",
    "Mưa lũ, sạt lở chia cắt",
    "Lãnh đạo đi công tác",
    "",
]
AUDIT_TIME_FIELDS = [
    (AuditEntry, "at"),
    (AttendanceEntry, "recorded_at"),
    (Invitation, "created_at"),
    (Conference, "created_at"),
]


def _code(index: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"giaoban-demo-history/{index}")


@contextlib.contextmanager
def _keep_given_times():
    """Let bulk_create store the historical times we set instead of "now" (auto_now_add)."""
    fields = [model._meta.get_field(name) for model, name in AUDIT_TIME_FIELDS]
    saved = [field.auto_now_add for field in fields]
    for field in fields:
        field.auto_now_add = False
    try:
        yield
    finally:
        for field, value in zip(fields, saved, strict=True):
            field.auto_now_add = value


# After mid-2025 the demo goes on up to yesterday at this rate a year (the leader's overview
# compares this month and year with last year), so it depends on the day it is seeded.
RECENT_PER_YEAR = {
    Level.FOUR_LEVEL: 2,
    Level.PROVINCE_TO_DISTRICT: 60,
    Level.DISTRICT_TO_COMMUNE: 40,
}
RECENT_FROM = dt.date(2025, 7, 1)


def _windows(today: dt.date) -> list[tuple[dt.date, dt.date, dict[str, int]]]:
    """(first day, last day, conferences per level) of each stretch of the demo history."""
    out = [
        (dt.date(year, 1, 4), dt.date(2025, 6, 27) if year == 2025 else dt.date(year, 12, 30), plan)
        for year, plan in PLAN.items()
    ]
    first, yesterday = RECENT_FROM, today - dt.timedelta(days=1)
    while first <= yesterday:
        last = min(dt.date(first.year, 12, 30), yesterday)
        share = ((last - first).days + 1) / 365
        plan = {level: round(n * share) for level, n in RECENT_PER_YEAR.items()}
        if sum(plan.values()):
            out.append((first, last, plan))
        first = dt.date(first.year + 1, 1, 2)
    return out


def _workdays(rng: random.Random, first: dt.date, last: dt.date, count: int) -> list[dt.date]:
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return sorted(rng.choices(days, k=count))


def seed(report: dict[str, Any]) -> None:
    base = settings.SITE_URL
    report["urls"]["history"] = f"{base}/history/?date_from=2021-01-01&date_to=2022-12-31"
    report["urls"]["history_search"] = f"{base}/history/search/"
    report["urls"]["api"] = f"{base}/api/docs/"
    if Conference.objects.filter(code=_code(0)).exists():
        from conferences.services.history import history_refresh_dirty

        history_refresh_dirty()  # e.g. months an upgrade marked dirty (no beat in embedded mode)
        return
    if not Site.objects.filter(key="15-UBND").exists():
        logger.warning("demo history skipped: the shipped organisation tree is not loaded")
        return
    started = time.monotonic()
    with transaction.atomic(), _keep_given_times():
        counts = generate()
        # bulk_create bypasses the services that mark months dirty: rebuild the summaries once.
        from conferences.services.history import history_rebuild

        counts["summary_rows"] = history_rebuild()
    logger.info("demo history: %s in %.1fs", counts, time.monotonic() - started)


def generate() -> dict[str, int]:
    rng = random.Random(2022)
    tz = timezone.get_default_timezone()
    topics = {}
    for code, name in TOPICS:
        (topics[code],) = topics_for_names([name])
    clerk = get_user_model().objects.filter(username="vanthu.tinh").first()

    sites = list(Site.objects.select_related("unit", "unit__parent").filter(is_active=True))
    by_key = {s.key: s for s in sites}
    province_sites = [s for s in sites if s.unit.kind not in (UnitKind.DISTRICT, UnitKind.COMMUNE)]
    agencies = [s for s in province_sites if s.unit.kind in (UnitKind.AGENCY, UnitKind.PARTY_BOARD)]
    districts = [s for s in sites if s.unit.kind == UnitKind.DISTRICT]
    communes_of: dict[int, list[Site]] = {}
    for s in sites:
        if s.unit.kind == UnitKind.COMMUNE and s.unit.parent_id:
            communes_of.setdefault(s.unit.parent_id, []).append(s)
    ubnd, tu = by_key["15-UBND"], by_key.get("15-TU", by_key["15-UBND"])
    other_topics = [slug for slug, _name in TOPICS if slug != "covid-19"]

    confs: list[Conference] = []
    invited: list[list[Site]] = []
    conf_topics: list[str] = []
    index = 0
    for first_day, last_day, plan in _windows(timezone.localdate()):
        year = first_day.year
        specs = [level for level, n in plan.items() for _ in range(n)]
        rng.shuffle(specs)
        covid = set(
            rng.sample(
                range(len(specs)), COVID_PER_YEAR.get(year, 0) if first_day < RECENT_FROM else 0
            )
        )
        for i, (day, level) in enumerate(
            zip(_workdays(rng, first_day, last_day, len(specs)), specs, strict=True)
        ):
            topic = "covid-19" if i in covid else rng.choice(other_topics)
            if level == Level.FOUR_LEVEL:
                host_site = tu if rng.random() < 0.3 else ubnd
                guests = sites
                what = f"Hội nghị trực tuyến toàn quốc 4 cấp: {TITLES[topic]}"
            elif level == Level.PROVINCE_TO_DISTRICT:
                host_site = ubnd if rng.random() < 0.85 else tu
                guests = [host_site, *rng.sample(agencies, rng.randint(4, 12)), *districts]
                what = f"Hội nghị trực tuyến tỉnh – huyện: {TITLES[topic]}"
            else:
                host_site = rng.choice(districts)
                guests = [host_site, *communes_of.get(host_site.unit_id, [])]
                what = f"Giao ban {host_site.unit.name} với các xã, thị trấn: {TITLES[topic]}"
            hour = 8 if rng.random() < 0.7 else 14
            planned_start = dt.datetime.combine(day, dt.time(hour, 0), tzinfo=tz)
            minutes = (
                rng.choice([90, 120, 150, 180, 210])
                if level != Level.FOUR_LEVEL
                else rng.choice([180, 210, 240])
            )
            actual_start = planned_start + dt.timedelta(minutes=rng.randint(0, 12))
            actual_end = actual_start + dt.timedelta(minutes=minutes + rng.randint(-20, 25))
            title = f"{what} tháng {day.month}/{day.year}"
            confs.append(
                Conference(
                    code=_code(index),
                    title=title,
                    level=level,
                    host_unit=host_site.unit,
                    chair_site=host_site,
                    chair_name="",
                    planned_start=planned_start,
                    planned_end=planned_start + dt.timedelta(minutes=minutes),
                    actual_start=actual_start,
                    actual_end=actual_end,
                    status=Status.ENDED,
                    created_by=clerk,
                    created_at=planned_start - dt.timedelta(days=rng.randint(2, 10)),
                    conclusions="Các đơn vị triển khai thực hiện theo kết luận của đồng chí chủ trì.",
                )
            )
            invited.append(guests)
            conf_topics.append(topic)
            index += 1
    Conference.objects.bulk_create(confs, batch_size=500)
    ids = dict(
        Conference.objects.filter(code__in=[c.code for c in confs]).values_list("code", "id")
    )
    for conf in confs:
        conf.pk = ids[conf.code]

    Through = Conference.topics.through
    Through.objects.bulk_create(
        [
            Through(conference_id=c.pk, topic_id=topics[t].pk)
            for c, t in zip(confs, conf_topics, strict=True)
        ],
        batch_size=1000,
    )

    invitations: list[Invitation] = []
    for conf, guests in zip(confs, invited, strict=True):
        covid_year = conf.planned_start.year == 2021
        for site in guests:
            roll = rng.random()
            is_host = site.pk == conf.chair_site_id
            absence = 0.02 if covid_year else 0.05
            if is_host or roll > absence:
                status = (
                    AttendanceStatus.PRESENT if rng.random() > 0.02 else AttendanceStatus.CONNECTED
                )
                if site.unit.kind == UnitKind.COMMUNE:
                    headcount = rng.randint(4, 14)
                elif site.unit.kind == UnitKind.DISTRICT:
                    headcount = rng.randint(8, 25)
                else:
                    headcount = rng.randint(2, 6)
                if is_host:
                    headcount = rng.randint(20, 45)
                if rng.random() < 0.08:
                    headcount = None  # not recorded: savings use the default
                late = rng.random() < 0.07
                joined = conf.planned_start + dt.timedelta(
                    minutes=rng.randint(6, 35) if late else -rng.randint(0, 25)
                )
                invitations.append(
                    Invitation(
                        conference=conf,
                        site=site,
                        unit=site.unit,
                        status=status,
                        headcount=headcount,
                        confirmed_at=conf.planned_start - dt.timedelta(days=1),
                        ready_at=joined - dt.timedelta(minutes=5),
                        first_joined_at=joined,
                        created_at=conf.created_at,
                    )
                )
            else:
                excused = roll > absence * 0.25
                invitations.append(
                    Invitation(
                        conference=conf,
                        site=site,
                        unit=site.unit,
                        status=AttendanceStatus.ABSENT_EXCUSED
                        if excused
                        else AttendanceStatus.ABSENT,
                        absence_reason=rng.choice(REASONS[:-1]) if excused else "",
                        created_at=conf.created_at,
                    )
                )
    Invitation.objects.bulk_create(invitations, batch_size=2000)
    conf_by_id = {c.pk: c for c in confs}
    saved = list(
        Invitation.objects.filter(conference_id__in=ids.values())
        .select_related("site")
        .order_by("id")
    )

    entries, presence, audit, agenda = [], [], [], []
    attended_by_conf: dict[int, list[Invitation]] = {}
    invited_count: dict[int, list[int]] = {}
    for inv in saved:
        conf = conf_by_id[inv.conference_id]
        invited_count.setdefault(conf.pk, []).append(inv.pk)
        entries.append(
            AttendanceEntry(
                invitation=inv,
                status=inv.status,
                headcount=inv.headcount,
                absence_reason=inv.absence_reason,
                source=AttendanceSource.ROLL_CALL if inv.headcount else AttendanceSource.CLERK,
                recorded_by=conf.created_by,
                recorded_at=conf.actual_start + dt.timedelta(minutes=10),
            )
        )
        if inv.first_joined_at:
            presence.append(
                PresenceInterval(
                    invitation=inv, joined_at=inv.first_joined_at, left_at=conf.actual_end
                )
            )
            attended_by_conf.setdefault(conf.pk, []).append(inv)
    parts = [
        ("Khai mạc, quán triệt nội dung", 0.1),
        ("Báo cáo tình hình, kết quả thực hiện", 0.45),
        ("Thảo luận, ý kiến của các điểm cầu", 0.3),
        ("Kết luận của đồng chí chủ trì", 0.15),
    ]
    for conf in confs:
        length, at = conf.actual_end - conf.actual_start, conf.actual_start
        for position, (title, share) in enumerate(parts, start=1):
            end = at + length * share
            agenda.append(
                AgendaItem(
                    conference=conf,
                    position=position,
                    title=title,
                    actual_start=at,
                    actual_end=end,
                    planned_minutes=max(5, round(length.total_seconds() / 60 * share)),
                )
            )
            at = end
    AgendaItem.objects.bulk_create(agenda, batch_size=2000)
    # The audit actions and data are those conferences.audit.ACTIONS lists and the services write.
    for conf, items in zip(
        confs, (agenda[i : i + len(parts)] for i in range(0, len(agenda), len(parts))), strict=True
    ):
        actor, attendees = conf.created_by, attended_by_conf.get(conf.pk, [])
        audit.append(
            AuditEntry(
                conference=conf, actor=actor, action="live.start", data={}, at=conf.actual_start
            )
        )
        for item in items:
            audit.append(
                AuditEntry(
                    conference=conf,
                    actor=actor,
                    action="live.agenda.goto",
                    data={"item": item.pk},
                    at=item.actual_start,
                )
            )
            if item.position == 1:
                audit.append(
                    AuditEntry(
                        conference=conf,
                        actor=actor,
                        action="rollcall.start",
                        data={},
                        at=item.actual_start + dt.timedelta(minutes=2),
                    )
                )
                audit.append(
                    AuditEntry(
                        conference=conf,
                        actor=actor,
                        action="rollcall.end",
                        at=item.actual_start + dt.timedelta(minutes=6),
                        data={"answered": len(attendees), "invited": len(invited_count[conf.pk])},
                    )
                )
            if item.position == 3 and attendees:
                for k, inv in enumerate(rng.sample(attendees, min(3, len(attendees)))):
                    audit.append(
                        AuditEntry(
                            conference=conf,
                            actor=actor,
                            action="live.floor.give",
                            site=inv.site,
                            data={"site": inv.site.key},
                            at=item.actual_start + dt.timedelta(minutes=3 + 12 * k),
                        )
                    )
        audit.append(
            AuditEntry(conference=conf, actor=actor, action="live.end", data={}, at=conf.actual_end)
        )
    AttendanceEntry.objects.bulk_create(entries, batch_size=2000)
    PresenceInterval.objects.bulk_create(presence, batch_size=2000)
    AuditEntry.objects.bulk_create(audit, batch_size=2000)
    return {
        "conferences": len(confs),
        "invitations": len(saved),
        "entries": len(entries),
        "audit": len(audit),
    }
