"""Demo data: a few upcoming conferences of each level, with agendas and one small PDF each.

Idempotent: each conference has a fixed UUID ``code``; an existing one is left as it is. They are
built through the services (so invitations, topics and audit entries are real) while still
drafts, then marked scheduled directly: seeding must not mail 200 sites' operators.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from conferences.audit import audit_log
from conferences.models import Conference, Level, Status
from conferences.services import agenda, documents, scheduling
from conferences.services.site_selection import SelectionSpec, site_selection_resolve
from portal.models import Site, Unit
from portal.text import fold

logger = logging.getLogger(__name__)

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# code, days ahead, hour, duration (h), level, host unit, chair site, clerk, chair name, title,
# topics, confidential, selection, scheduled?, agenda [(title, presenter unit, presenter, minutes)]
UPCOMING: list[dict[str, Any]] = [
    {
        "code": "2a6f0d2e-7a51-4c55-9a0b-000000000001",
        "days": 3,
        "hour": 8,
        "hours": 3,
        "level": Level.FOUR_LEVEL,
        "host": "15-UBND",
        "chair_site": "15-UBND",
        "clerk": "vanthu.tinh",
        "chair_name": "Trần Văn Minh, Chủ tịch UBND tỉnh",
        "title": "Hội nghị trực tuyến toàn quốc triển khai nhiệm vụ phát triển kinh tế - xã hội năm 2027",
        "topics": ["Kinh tế - xã hội"],
        "confidential": False,
        "spec": SelectionSpec(kinds=["district", "commune"]),
        "scheduled": True,
        "agenda": [
            ("Khai mạc, giới thiệu đại biểu", "15-VPUBND", "Chánh Văn phòng UBND tỉnh", 10),
            (
                "Báo cáo tình hình kinh tế - xã hội năm 2026, nhiệm vụ năm 2027",
                "15-SKHDT",
                "Giám đốc Sở Kế hoạch và Đầu tư",
                30,
            ),
            ("Thảo luận tại các điểm cầu huyện, xã", None, "", 60),
            ("Phát biểu chỉ đạo, kết luận hội nghị", "15-UBND", "Chủ tịch UBND tỉnh", 20),
        ],
    },
    {
        "code": "2a6f0d2e-7a51-4c55-9a0b-000000000002",
        "days": 5,
        "hour": 14,
        "hours": 2,
        "level": Level.PROVINCE_TO_DISTRICT,
        "host": "15-UBND",
        "chair_site": "15-UBND",
        "clerk": "vanthu.tinh",
        "chair_name": "Phó Chủ tịch UBND tỉnh phụ trách khối văn hóa - xã hội",
        "title": "Hội nghị giao ban công tác phòng, chống dịch COVID-19 và dịch bệnh mùa đông xuân",
        "topics": ["COVID-19", "Y tế"],
        "confidential": False,
        "spec": SelectionSpec(kinds=["district"], subtrees=["15-SYT"]),
        "scheduled": True,
        "agenda": [
            ("Báo cáo tình hình dịch bệnh trên địa bàn tỉnh", "15-SYT", "Giám đốc Sở Y tế", 20),
            ("Ý kiến của các huyện, thị xã, thành phố", None, "", 45),
            ("Kết luận của đồng chí chủ trì", "15-UBND", "Phó Chủ tịch UBND tỉnh", 15),
        ],
    },
    {
        "code": "2a6f0d2e-7a51-4c55-9a0b-000000000003",
        "days": 4,
        "hour": 8,
        "hours": 3,
        "level": Level.DISTRICT_TO_COMMUNE,
        "host": "140",
        "chair_site": "140",
        "clerk": "vanthu.vanchan",
        "chair_name": "Phạm Văn Đức, Chủ tịch UBND huyện Văn Chấn",
        "title": "Hội nghị giao ban UBND huyện Văn Chấn với các xã, thị trấn tháng 12",
        "topics": ["Nông thôn mới"],
        "confidential": False,
        "spec": SelectionSpec(groups=[("commune", "140")]),
        "scheduled": True,
        "agenda": [
            (
                "Đánh giá kết quả thực hiện nhiệm vụ tháng 11",
                "140",
                "Chánh Văn phòng HĐND và UBND huyện",
                20,
            ),
            ("Tiến độ xây dựng nông thôn mới các xã", "04630", "Chủ tịch UBND xã Tú Lệ", 15),
            ("Thảo luận, kiến nghị của các xã, thị trấn", None, "", 60),
            ("Kết luận, giao nhiệm vụ tháng 12", "140", "Chủ tịch UBND huyện", 15),
        ],
    },
    {
        "code": "2a6f0d2e-7a51-4c55-9a0b-000000000004",
        "days": 7,
        "hour": 9,
        "hours": 2,
        "level": Level.INTERNAL,
        "host": "15-UBND",
        "chair_site": "15-UBND",
        "clerk": "vanthu.tinh",
        "chair_name": "Trưởng Ban Chỉ đạo chuyển đổi số tỉnh",
        "title": "Phiên họp Ban Chỉ đạo chuyển đổi số tỉnh quý IV",
        "topics": ["Chuyển đổi số"],
        "confidential": True,
        "spec": SelectionSpec(kinds=["agency"]),
        "scheduled": False,
        "agenda": [
            (
                "Báo cáo kết quả chuyển đổi số quý IV",
                "15-STTTT",
                "Giám đốc Sở Thông tin và Truyền thông",
                25,
            ),
            (
                "Kế hoạch chuyển đổi số năm 2027",
                "15-STTTT",
                "Phó Giám đốc Sở Thông tin và Truyền thông",
                20,
            ),
            ("Kết luận của Trưởng Ban Chỉ đạo", "15-UBND", "", 15),
        ],
    },
    {
        "code": "2a6f0d2e-7a51-4c55-9a0b-000000000005",
        "days": 10,
        "hour": 14,
        "hours": 2,
        "level": Level.OTHER,
        "host": "15-UBND",
        "chair_site": "15-UBND",
        "clerk": "vanthu.tinh",
        "chair_name": "",
        "title": "Tập huấn sử dụng hệ thống giao ban điện tử cho cán bộ kỹ thuật điểm cầu",
        "topics": ["Chuyển đổi số"],
        "confidential": False,
        "spec": SelectionSpec(kinds=["district", "party_board"]),
        "scheduled": True,
        "agenda": [
            (
                "Giới thiệu hệ thống và quy trình kiểm tra kỹ thuật",
                "15-STTTT",
                "Kỹ sư Trung tâm CNTT-TT",
                40,
            ),
            ("Thực hành điểm danh, báo sĩ số", None, "", 40),
        ],
    },
]


def _pdf(title: str, lines: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    if FONT.exists():
        pdf.add_font("DejaVu", fname=str(FONT))
        pdf.set_font("DejaVu", size=14)
        text = title
    else:  # core fonts have no Vietnamese letters
        pdf.set_font("helvetica", size=14)
        text = fold(title)
        lines = [fold(line) for line in lines]
    pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(11)
    for line in lines:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _start(days: int, hour: int) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    while day.weekday() >= 5:  # government meetings are held on working days
        day += dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0)))


@transaction.atomic
def _seed_one(row: dict[str, Any], clerk) -> Conference | None:
    code = uuid.UUID(row["code"])
    existing = Conference.objects.filter(code=code).first()
    if existing is not None:
        return existing
    host = Unit.objects.filter(code=row["host"]).first()
    if host is None:
        return None
    start = _start(row["days"], row["hour"])
    sites = site_selection_resolve(spec=row["spec"], day=timezone.localdate(start))
    conf = scheduling.conference_create(
        actor=clerk,
        title=row["title"],
        level=row["level"],
        host_unit=host,
        chair_site=Site.objects.filter(key=row["chair_site"]).first(),
        chair_name=row["chair_name"],
        planned_start=start,
        planned_end=start + dt.timedelta(hours=row["hours"]),
        topics=row["topics"],
        confidential=row["confidential"],
        description="",
        sites=sites,
    )
    Conference.objects.filter(pk=conf.pk).update(code=code)
    conf.refresh_from_db()
    units = {u.code: u for u in Unit.objects.filter(code__in=[a[1] for a in row["agenda"] if a[1]])}
    first_item = None
    for title, unit_code, presenter, minutes in row["agenda"]:
        item = agenda.agenda_item_create(
            actor=clerk,
            conference=conf,
            title=title,
            presenter_unit=units.get(unit_code),
            presenter_name=presenter,
            planned_minutes=minutes,
        )
        first_item = first_item or item
    lines = [f"{i}. {a[0]} ({a[3]} phút)" for i, a in enumerate(row["agenda"], start=1)]
    pdf = _pdf(row["title"], [f"Thời gian: {timezone.localtime(start):%H:%M %d/%m/%Y}", "", *lines])
    documents.document_upload(
        actor=clerk,
        conference=conf,
        upload=SimpleUploadedFile("Chương trình hội nghị.pdf", pdf),
        agenda_item=None,
    )
    if row["scheduled"]:
        # Set directly (not conference_transition): seeding must not send invitations.
        Conference.objects.filter(pk=conf.pk).update(status=Status.SCHEDULED)
        audit_log(
            conference=conf,
            actor=clerk,
            action="conference.transition",
            data={"from": "draft", "to": "scheduled", "seed": True},
        )
    return conf


def seed(report: dict[str, Any]) -> None:
    User = get_user_model()
    base = settings.SITE_URL
    for row in UPCOMING:
        clerk = (
            User.objects.filter(username=row["clerk"]).first()
            or User.objects.filter(is_superuser=True).first()
        )
        if clerk is None:
            logger.warning("no demo clerk %s: skipping %s", row["clerk"], row["title"])
            continue
        conf = _seed_one(row, clerk)
        if conf is not None:
            report["urls"][f"conference_{conf.level}"] = f"{base}/conferences/{conf.code}/"
    report["urls"]["conference_list"] = f"{base}/conferences/"
    report["urls"]["conference_create"] = f"{base}/conferences/new/"
