"""Demo data: one live-ready conference for trying the join page and the chair console.

Idempotent: the conference has a fixed UUID ``code``. It is scheduled to start at the moment of
seeding and to last 8 hours; the chair (``chutri.tinh``) starts it from the console, then the
operators join. Once it has ended, seeding again moves it to the next day as a fresh scheduled
conference would be (a new code derived from the date), so a trial never finds it closed.

``report["live"]`` gets the conference, its join and console URLs, the chair's login, four
site operators' logins and one personal join link (a phone participant, no login needed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from conferences import joinlinks
from conferences.models import AgendaItem, Conference, Invitation, Level, Status
from portal.demo import DEMO_PASSWORD
from portal.models import Site, Unit

NAMESPACE = uuid.UUID("6a1e3c55-0b7e-4d7e-9f57-2c0de1ce0001")
TITLE = "Giao ban trực tuyến tuần (demo trực tiếp)"
CHAIR = "chutri.tinh"
CHAIR_SITE = "15-UBND"
# site key, operator username (portal.demo.DEMO_USERS)
SITES = [
    ("140", "kythuat.vanchan"),
    ("138", "kythuat.tranyen"),
    ("137", "kythuat.mucangchai"),
    ("04630", "kythuat.tule"),
]
AGENDA = [
    ("Khai mạc, điểm danh các điểm cầu", "Chánh Văn phòng UBND tỉnh", 10),
    ("Báo cáo tình hình tuần, nhiệm vụ tuần tới", "Giám đốc Sở Kế hoạch và Đầu tư", 20),
    ("Các huyện, xã phát biểu", "", 40),
    ("Kết luận của Chủ tịch UBND tỉnh", "Chủ tịch UBND tỉnh", 10),
]


def _url(names: tuple[str, ...], conference: Conference, fallback: str) -> str:
    for name in names:
        try:
            return settings.SITE_URL + reverse(name, kwargs={"code": conference.code})
        except NoReverseMatch:
            continue
    return settings.SITE_URL + fallback


def _conference(now: dt.datetime) -> Conference:
    code = uuid.uuid5(NAMESPACE, now.date().isoformat())
    existing = Conference.objects.filter(code=code).first()
    if existing is not None and existing.status in (Status.SCHEDULED, Status.LIVE):
        return existing
    if existing is not None:  # ended today: the next trial uses tomorrow's
        now = now + dt.timedelta(days=1)
        code = uuid.uuid5(NAMESPACE, now.date().isoformat())
        existing = Conference.objects.filter(code=code).first()
        if existing is not None:
            return existing
    chair_site = Site.objects.get(key=CHAIR_SITE)
    conference = Conference.objects.create(
        code=code,
        title=TITLE,
        description="Hội nghị mẫu để thử trang tham dự và bàn điều khiển của chủ trì.",
        level=Level.PROVINCE_TO_DISTRICT,
        host_unit=Unit.objects.get(code=CHAIR_SITE),
        chair_site=chair_site,
        chair_name="Trần Văn Minh, Chủ tịch UBND tỉnh",
        planned_start=now,
        planned_end=now + dt.timedelta(hours=8),
        status=Status.SCHEDULED,
        created_by=get_user_model().objects.filter(username="vanthu.tinh").first(),
    )
    for key, _operator in SITES:
        site = Site.objects.select_related("unit").get(key=key)
        Invitation.objects.get_or_create(
            conference=conference, site=site, defaults={"unit": site.unit}
        )
    for position, (title, presenter, minutes) in enumerate(AGENDA, start=1):
        AgendaItem.objects.create(
            conference=conference,
            position=position,
            title=title,
            presenter_name=presenter,
            planned_minutes=minutes,
        )
    return conference


@transaction.atomic
def seed(report: dict[str, Any]) -> None:
    if not Site.objects.filter(key=CHAIR_SITE).exists():
        return
    conference = _conference(timezone.now())
    join_url = _url(
        ("conferences:conference_join", "conference_join"),
        conference,
        f"/conferences/{conference.code}/join/",
    )
    console_url = _url(
        ("conferences:conference_console", "conference_console"),
        conference,
        f"/conferences/{conference.code}/console/",
    )
    User = get_user_model()
    operators = []
    phone_link = None
    for key, username in SITES:
        user = User.objects.filter(username=username).first()
        site = Site.objects.get(key=key)
        if user is None:
            continue
        operators.append(
            {"username": username, "password": DEMO_PASSWORD, "site": key, "site_name": site.name}
        )
        if phone_link is None:
            phone_link = joinlinks.join_link_url(conference=conference, user=user, site=site)
    report["live"] = {
        "conference": str(conference.code),
        "title": conference.title,
        "status": conference.status,
        "join_url": join_url,
        "console_url": console_url,
        "websocket": f"/ws/conferences/{conference.code}/",
        "chair": {"username": CHAIR, "password": DEMO_PASSWORD, "site": CHAIR_SITE},
        "operators": operators,
        "personal_join_link": phone_link,
        "how": "Đăng nhập chủ trì, mở bàn điều khiển và bấm Bắt đầu; các điểm cầu đăng nhập và mở trang tham dự.",
    }
    report["urls"]["live_join"] = join_url
    report["urls"]["live_console"] = console_url
