"""Minutes: conclusions, attachments, and the draft record (DOCX) built from the conference."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from docx import Document as Docx

from conferences.errors import DomainError
from conferences.models import AgendaItem, Document, Status
from conferences.services import attendance as att
from conferences.services import minutes as svc
from conferences.services.rollcall import rollcall_answer, rollcall_end, rollcall_start
from tests.conferences.factories import ConferenceFactory, invite


@pytest.fixture
def held(org, province_clerk, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    start = timezone.now() - dt.timedelta(hours=3)
    conf = ConferenceFactory(
        title="Hội nghị sơ kết công tác phòng chống COVID-19",
        status=Status.LIVE,
        planned_start=start,
        chair_name="Trần Văn Minh",
        actual_start=start,
    )
    present, absent = invite(conf, "140", "138")
    AgendaItem.objects.create(
        conference=conf,
        position=1,
        title="Báo cáo tình hình dịch bệnh",
        presenter_name="Sở Y tế",
        actual_start=start,
        actual_end=start + dt.timedelta(minutes=20),
    )
    AgendaItem.objects.create(
        conference=conf, position=2, title="Ý kiến các huyện", planned_minutes=30
    )
    call = rollcall_start(actor=province_clerk, conference=conf)
    rollcall_answer(
        actor=province_clerk,
        roll_call=call,
        invitation=present,
        headcount=23,
        source="clerk",
        leader_name="Phạm Văn Đức",
        leader_title="Chủ tịch UBND huyện",
    )
    rollcall_end(actor=province_clerk, roll_call=call)
    att.attendance_record(
        actor=province_clerk,
        invitation=absent,
        status="absent_excused",
        absence_reason="Mất kết nối",
        source="clerk",
    )
    svc.minutes_set_conclusions(
        actor=province_clerk,
        conference=conf,
        conclusions="1. Tăng cường tiêm chủng.\n2. Báo cáo trước 30/11.",
    )
    return conf


def _text(docx_bytes: bytes) -> str:
    doc = Docx(io.BytesIO(docx_bytes))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts += [c.text for c in row.cells]
    return "\n".join(parts)


def test_draft_minutes_contain_agenda_attendance_and_conclusions(client_for, province_clerk, held):
    response = client_for(province_clerk).get(reverse("conference_minutes_docx", args=[held.code]))
    assert response.status_code == 200 and "wordprocessingml" in response["Content-Type"]
    text = _text(response.content)
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BIÊN BẢN HỘI NGHỊ",
        held.title,
        held.host_unit.name.upper(),
        "Trần Văn Minh",
        "Báo cáo tình hình dịch bệnh",
        "Ý kiến các huyện",
        "Sở Y tế",
        held.invitations.get(site__key="140").site.name,
        "23",
        "Phạm Văn Đức",
        held.invitations.get(site__key="138").site.name,
        "Mất kết nối",
        "1/2 điểm cầu trả lời",
        "Tăng cường tiêm chủng",
        "THƯ KÝ HỘI NGHỊ",
        "CHỦ TRÌ HỘI NGHỊ",
    ]:
        assert expected in text, expected
    doc = Docx(io.BytesIO(response.content))
    assert doc.styles["Normal"].font.name == "Times New Roman"
    assert 13 <= doc.styles["Normal"].font.size.pt <= 14


def test_conclusions_saved_from_page_and_audited(client_for, province_clerk, held):
    url = reverse("conference_minutes", args=[held.code])
    response = client_for(province_clerk).post(
        url, {"action": "conclusions", "c-conclusions": "Kết luận mới."}
    )
    assert response.status_code == 302
    held.refresh_from_db()
    assert (
        held.conclusions == "Kết luận mới."
        and held.audit.filter(action="minutes.conclusions").exists()
    )


def test_minutes_attachment_goes_through_document_checks(client_for, province_clerk, held):
    url = reverse("conference_minutes", args=[held.code])
    c = client_for(province_clerk)
    disguised = SimpleUploadedFile(
        "bien-ban.pdf", b"MZ\x90\x00 this is an exe", content_type="application/pdf"
    )
    response = c.post(url, {"action": "upload", "u-file": disguised})
    assert response.status_code == 400 and not Document.objects.exists()
    pdf = SimpleUploadedFile(
        "bien-ban-ky.pdf",
        b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        content_type="application/pdf",
    )
    response = c.post(url, {"action": "upload", "u-file": pdf})
    assert response.status_code == 302
    doc = Document.objects.get()
    assert doc.kind == "minutes" and doc.original_name == "bien-ban-ky.pdf"
    assert "bien-ban-ky.pdf" in c.get(url).content.decode()


def test_other_district_clerk_and_leader_cannot_write_minutes(
    client_for, tranyen_clerk, leader, held
):
    url = reverse("conference_minutes", args=[held.code])
    # Trấn Yên is invited here, so its clerk may see the conference, but not its minutes.
    assert (
        client_for(tranyen_clerk)
        .post(url, {"action": "conclusions", "c-conclusions": "x"})
        .status_code
        == 403
    )
    assert (
        client_for(leader).post(url, {"action": "conclusions", "c-conclusions": "x"}).status_code
        == 403
    )
    with pytest.raises(DomainError):
        svc.minutes_set_conclusions(actor=leader, conference=held, conclusions="x")
    held.refresh_from_db()
    assert held.conclusions.startswith("1. Tăng cường")


def test_conclusions_of_a_cancelled_conference_are_refused(org, province_clerk):
    conf = ConferenceFactory(status=Status.CANCELLED)
    with pytest.raises(DomainError) as err:
        svc.minutes_set_conclusions(actor=province_clerk, conference=conf, conclusions="x")
    assert err.value.code == "not_held"
