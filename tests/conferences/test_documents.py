"""Documents: accepted types checked by content, size limit, storage through Django's storage API,
downloads only through the permission-checked view; confidential conferences hide them."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from docx import Document as DocxDocument
from fpdf import FPDF
from openpyxl import Workbook
from PIL import Image

from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import Document
from conferences.services import documents
from portal import services as org_services
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import UserFactory


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def pdf_bytes() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Bao cao tinh hinh")
    return bytes(pdf.output())


def docx_bytes() -> bytes:
    doc = DocxDocument()
    doc.add_paragraph("Báo cáo tình hình kinh tế - xã hội")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def xlsx_bytes() -> bytes:
    wb = Workbook()
    wb.active["A1"] = "Số liệu"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def pptx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'presentationml.presentation.main+xml"/></Types>',
        )
        z.writestr("ppt/presentation.xml", "<p:presentation/>")
    return out.getvalue()


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


@pytest.mark.parametrize(
    "name, make, mime",
    [
        ("Báo cáo KT-XH.pdf", pdf_bytes, "application/pdf"),
        ("Đề cương.docx", docx_bytes, documents._DOCX),
        ("Số liệu.xlsx", xlsx_bytes, documents._XLSX),
        ("Trình chiếu.pptx", pptx_bytes, documents._PPTX),
        ("Bản đồ.png", lambda: image_bytes("PNG"), "image/png"),
        ("Ảnh hiện trường.JPG", lambda: image_bytes("JPEG"), "image/jpeg"),
    ],
)
def test_accepted_types_are_stored_through_the_storage_api(province_clerk, org, name, make, mime):
    conf = ConferenceFactory()
    doc = documents.document_upload(
        actor=province_clerk, conference=conf, upload=upload(name, make())
    )
    assert doc.original_name == name and doc.content_type == mime
    assert default_storage.exists(doc.file.name) and doc.file.name.startswith(
        f"conferences/{conf.code}/"
    )
    assert doc.size == len(make())


@pytest.mark.parametrize(
    "name, content, code",
    [
        (
            "bao-cao.pdf",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200,
            "disguised_file",
        ),
        ("bao-cao.docx", os.urandom(4096), "disguised_file"),
        ("so-lieu.xlsx", None, "disguised_file"),  # a real .docx renamed .xlsx
        ("trinh-chieu.pptx", None, "disguised_file"),  # a zip without Office parts
        ("anh.png", None, "disguised_file"),  # a JPEG renamed .png
        ("virus.exe", b"MZ" + b"\x00" * 100, "bad_file_type"),
        ("ghi-chu.txt", b"hello", "bad_file_type"),
        ("khong-ten", b"%PDF-1.4", "bad_file_type"),
        ("rong.pdf", b"", "empty_file"),
    ],
)
def test_disguised_or_unknown_files_are_refused_and_nothing_is_stored(
    province_clerk, org, media_root, name, content, code
):
    if name == "so-lieu.xlsx":
        content = docx_bytes()
    elif name == "trinh-chieu.pptx":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("readme.txt", "hello")
        content = buffer.getvalue()
    elif name == "anh.png":
        content = image_bytes("JPEG")
    conf = ConferenceFactory()
    with pytest.raises(ConferenceError) as err:
        documents.document_upload(
            actor=province_clerk, conference=conf, upload=upload(name, content)
        )
    assert err.value.code == code
    assert not Document.objects.exists()
    assert not (media_root.exists() and any(p.is_file() for p in media_root.rglob("*")))


def test_oversize_file_is_refused(province_clerk, org, settings):
    settings.CONFERENCE_DOCUMENT_MAX_BYTES = 2048
    conf = ConferenceFactory()
    content = pdf_bytes() + b"\n%" + b"x" * 4096
    with pytest.raises(ConferenceError) as err:
        documents.document_upload(
            actor=province_clerk, conference=conf, upload=upload("lon.pdf", content)
        )
    assert err.value.code == "file_too_large"
    assert not Document.objects.exists()


def test_upload_page_shows_the_reason_with_400(client_for, province_clerk, org, settings):
    conf = ConferenceFactory()
    c = client_for(province_clerk)
    url = reverse("conference_documents", args=[conf.code])
    response = c.post(url, {"file": upload("bao-cao.pdf", b"MZ" + b"\x00" * 300)})
    assert response.status_code == 400 and "không đúng định dạng PDF" in response.content.decode()
    settings.CONFERENCE_DOCUMENT_MAX_BYTES = 1024
    response = c.post(url, {"file": upload("lon.pdf", pdf_bytes() + b"x" * 2048)})
    assert response.status_code == 400 and "Tệp quá lớn" in response.content.decode()
    assert not Document.objects.exists()


def test_upload_for_an_agenda_item_and_download_as_attachment(client_for, province_clerk, org):
    from conferences.services import agenda

    conf = ConferenceFactory()
    item = agenda.agenda_item_create(actor=province_clerk, conference=conf, title="Báo cáo")
    c = client_for(province_clerk)
    response = c.post(
        reverse("conference_documents", args=[conf.code]),
        {"file": upload("Báo cáo quý IV.pdf", pdf_bytes()), "agenda_item": item.pk},
    )
    assert response.status_code == 302
    doc = Document.objects.get()
    assert doc.agenda_item == item
    download = c.get(reverse("document_download", args=[conf.code, doc.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert (
        "filename*=utf-8''B%C3%A1o%20c%C3%A1o%20qu%C3%BD%20IV.pdf"
        in download["Content-Disposition"]
    )
    assert b"".join(download.streaming_content) == pdf_bytes()[:0] + doc.file.open("rb").read()
    assert (
        "Báo cáo quý IV.pdf"
        in c.get(reverse("conference_agenda", args=[conf.code])).content.decode()
    )


def test_agenda_item_of_another_conference_is_refused(province_clerk, org):
    from conferences.services import agenda

    other = ConferenceFactory()
    item = agenda.agenda_item_create(actor=province_clerk, conference=other, title="Khác")
    with pytest.raises(ConferenceError):
        documents.document_upload(
            actor=province_clerk,
            conference=ConferenceFactory(),
            upload=upload("a.pdf", pdf_bytes()),
            agenda_item=item,
        )


def test_clerk_of_another_district_cannot_upload(tranyen_clerk, client_for, org):
    conf = ConferenceFactory(host_unit=org["140"], chair_site=Site.objects.get(key="140"))
    invite(conf, "138")
    with pytest.raises(PermissionDeniedError):
        documents.document_upload(
            actor=tranyen_clerk, conference=conf, upload=upload("a.pdf", pdf_bytes())
        )
    response = client_for(tranyen_clerk).post(
        reverse("conference_documents", args=[conf.code]), {"file": upload("a.pdf", pdf_bytes())}
    )
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_invited_operator_downloads_uninvited_operator_and_outsider_get_404(
    client_for, client, province_clerk, vanchan_operator, outsider, org
):
    conf = ConferenceFactory()
    doc = documents.document_upload(
        actor=province_clerk, conference=conf, upload=upload("a.pdf", pdf_bytes())
    )
    url = reverse("document_download", args=[conf.code, doc.pk])
    assert client_for(vanchan_operator).get(url).status_code == 404
    assert client_for(outsider).get(url).status_code == 404
    invite(conf, "140")
    assert client_for(vanchan_operator).get(url).status_code == 200
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_confidential_documents_are_hidden_from_a_non_invited_leader(
    client_for, province_clerk, vanchan_operator, org
):
    """Hosted by the provincial People's Committee, confidential, inviting a Party board and the
    People's Council: a leader of the People's Committee subtree reads the conference (it is hosted in his
    subtree) but no invited site is his, so he sees no documents."""
    conf = ConferenceFactory(confidential=True)
    invite(conf, "15-TU-BTC", "15-HDND")
    doc = documents.document_upload(
        actor=province_clerk, conference=conf, upload=upload("mat.pdf", pdf_bytes())
    )
    url = reverse("document_download", args=[conf.code, doc.pk])
    ubnd_leader = UserFactory(username="leader_ubnd")
    org_services.membership_grant(user=ubnd_leader, unit=org["15-UBND"], role="leader")
    c = client_for(ubnd_leader)
    assert c.get(reverse("conference_detail", args=[conf.code])).status_code == 200
    page = c.get(reverse("conference_documents", args=[conf.code])).content.decode()
    assert "mat.pdf" not in page and "hội nghị mật" in page
    assert c.get(url).status_code == 404
    # a leader of another district's subtree does not even see the conference
    tranyen_leader = UserFactory(username="leader_tranyen")
    org_services.membership_grant(user=tranyen_leader, unit=org["138"], role="leader")
    assert client_for(tranyen_leader).get(url).status_code == 404
    assert (
        client_for(tranyen_leader).get(reverse("conference_detail", args=[conf.code])).status_code
        == 404
    )
    # the invited site's operator and the organising clerk do get them
    Site.objects.get(key="15-TU-BTC").operators.add(vanchan_operator)
    assert client_for(vanchan_operator).get(url).status_code == 200
    assert client_for(province_clerk).get(url).status_code == 200
    # the same conference without the confidential flag shows them to that leader
    type(conf).objects.filter(pk=conf.pk).update(confidential=False)
    assert client_for(ubnd_leader).get(url).status_code == 200


def test_deleting_a_document_removes_the_file(
    client_for, province_clerk, org, django_capture_on_commit_callbacks
):
    conf = ConferenceFactory()
    doc = documents.document_upload(
        actor=province_clerk, conference=conf, upload=upload("a.pdf", pdf_bytes())
    )
    name = doc.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(province_clerk).post(
            reverse("document_delete", args=[conf.code, doc.pk])
        )
    assert response.status_code == 302
    assert not Document.objects.exists() and not default_storage.exists(name)
