"""Agenda PDFs as page images (issue 14 item 4): rendered once by a limited child process, cached,
served only to who may read the conference's documents — or holds its personal join link —
and never for a confidential conference to anyone but its invited sites and chairs."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from fpdf import FPDF
from PIL import Image

from conferences.joinlinks import join_link_token
from conferences.models import Document, DocumentKind
from conferences.services import document_pages, documents
from portal import services as org_services
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import UserFactory


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def pdf_bytes(pages: int = 3) -> bytes:
    pdf = FPDF()
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=40)
        pdf.cell(text=f"Trang {n}")
    return bytes(pdf.output())


@pytest.fixture
def conf(org):
    conference = ConferenceFactory()
    invite(conference, "140", "138")
    return conference


@pytest.fixture
def pdf(conf, province_clerk):
    return documents.document_upload(
        actor=province_clerk, conference=conf, upload=SimpleUploadedFile("bao-cao.pdf", pdf_bytes())
    )


def info_url(conf, doc) -> str:
    return reverse("document_pages", args=[conf.code, doc.pk])


def page_url(conf, doc, page: int, width: int | None = None) -> str:
    url = reverse("document_page", args=[conf.code, doc.pk, page])
    return f"{url}?w={width}" if width else url


def test_an_invited_operator_reads_the_page_count_and_sharp_page_images(
    client_for, vanchan_operator, conf, pdf
):
    client = client_for(vanchan_operator)
    info = client.get(info_url(conf, pdf))
    assert info.status_code == 200
    assert info.json() == {"pages": 3, "widths": [640, 1280, 1920], "name": "bao-cao.pdf"}
    response = client.get(page_url(conf, pdf, 2, 1920))
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert "immutable" in response["Cache-Control"] and "private" in response["Cache-Control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "WEBP" and image.width == 1920 and image.height > 2000  # A4 portrait
    small = Image.open(io.BytesIO(client.get(page_url(conf, pdf, 2, 640)).content))
    assert small.width == 640


def test_pages_are_different_images_and_each_is_rendered_once(
    client_for, vanchan_operator, conf, pdf, monkeypatch
):
    calls = []
    real = document_pages._run

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(document_pages, "_run", counting)
    client = client_for(vanchan_operator)
    first = client.get(page_url(conf, pdf, 1)).content
    second = client.get(page_url(conf, pdf, 2)).content
    assert first != second
    for _ in range(3):
        assert client.get(page_url(conf, pdf, 2)).content == second
    assert calls == ["info", "page", "page"]


def test_concurrent_requests_for_a_missing_page_render_it_once(conf, pdf, monkeypatch):
    calls = []
    real = document_pages._run
    monkeypatch.setattr(document_pages, "_run", lambda *a: (calls.append(a[0]), real(*a))[1])
    document_pages.page_count(pdf)
    paths = []
    threads = [
        threading.Thread(target=lambda: paths.append(document_pages.page_image(pdf, 3, 640)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(paths) == 6 and len(set(paths)) == 1
    assert calls == ["info", "page"]


def test_outsiders_and_anonymous_visitors_get_404(client_for, outsider, conf, pdf):
    assert Client().get(page_url(conf, pdf, 1)).status_code == 404
    assert Client().get(info_url(conf, pdf)).status_code == 404
    client = client_for(outsider)
    assert client.get(page_url(conf, pdf, 1)).status_code == 404
    assert client.get(info_url(conf, pdf)).status_code == 404


def test_a_document_of_another_conference_is_not_reachable_through_this_one(
    client_for, vanchan_operator, conf, province_clerk
):
    other = ConferenceFactory()
    doc = documents.document_upload(
        actor=province_clerk, conference=other, upload=SimpleUploadedFile("x.pdf", pdf_bytes(1))
    )
    assert client_for(vanchan_operator).get(page_url(conf, doc, 1)).status_code == 404


def test_a_confidential_conference_shows_pages_only_to_invited_sites_and_chairs(
    client_for, province_clerk, vanchan_operator, chair, org
):
    """As for the download: hosted by the People's Committee, inviting a Party board and the
    People's Council, a leader of the host's subtree reads the conference but no invited site
    is his, so he sees no page once the conference is confidential."""
    conf = ConferenceFactory()
    invite(conf, "15-TU-BTC", "15-HDND")
    doc = documents.document_upload(
        actor=province_clerk, conference=conf, upload=SimpleUploadedFile("mat.pdf", pdf_bytes(1))
    )
    leader = UserFactory(username="leader_ubnd")
    org_services.membership_grant(user=leader, unit=org["15-UBND"], role="leader")
    Site.objects.get(key="15-TU-BTC").operators.add(vanchan_operator)
    assert client_for(leader).get(page_url(conf, doc, 1)).status_code == 200
    type(conf).objects.filter(pk=conf.pk).update(confidential=True)
    assert client_for(leader).get(page_url(conf, doc, 1)).status_code == 404
    assert client_for(leader).get(info_url(conf, doc)).status_code == 404
    assert client_for(chair).get(page_url(conf, doc, 1)).status_code == 200
    assert client_for(vanchan_operator).get(page_url(conf, doc, 1)).status_code == 200


def test_a_personal_join_link_opens_the_pages_until_it_is_revoked(vanchan_operator, conf, pdf):
    site = Site.objects.get(key="140")
    token = join_link_token(conference=conf, user=vanchan_operator, site=site)
    client = Client()
    assert (
        client.get(
            reverse("document_page", args=[conf.code, pdf.pk, 1]) + f"?t={token}"
        ).status_code
        == 200
    )
    assert client.get(info_url(conf, pdf) + f"?t={token}").json()["pages"] == 3
    conf.join_links.update(revoked_at=timezone.now())
    assert client.get(info_url(conf, pdf) + f"?t={token}").status_code == 404
    other = ConferenceFactory()
    invite(other, "140")
    foreign = join_link_token(conference=other, user=vanchan_operator, site=site)
    assert client.get(info_url(conf, pdf) + f"?t={foreign}").status_code == 404
    assert client.get(info_url(conf, pdf) + "?t=forged-token-forged-token").status_code == 404


def test_only_pdf_materials_are_presentable(client_for, vanchan_operator, conf, province_clerk):
    client = client_for(vanchan_operator)
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    image = documents.document_upload(
        actor=province_clerk, conference=conf, upload=SimpleUploadedFile("map.png", png.getvalue())
    )
    assert client.get(info_url(conf, image)).status_code == 404
    conf.status = "ended"
    conf.save()
    attachment = documents.document_upload(
        actor=province_clerk,
        conference=conf,
        upload=SimpleUploadedFile("bien-ban.pdf", pdf_bytes(1)),
        kind=DocumentKind.MINUTES,
    )
    assert client.get(info_url(conf, attachment)).status_code == 404


def test_bad_page_numbers_and_widths_are_refused_with_a_reason(
    client_for, vanchan_operator, conf, pdf
):
    client = client_for(vanchan_operator)
    for page in (0, 4, 99999):
        response = client.get(page_url(conf, pdf, page))
        assert response.status_code == 404 and response.json()["error"] == "no_page"
    for width in ("13", "abc", "100000"):
        response = client.get(reverse("document_page", args=[conf.code, pdf.pk, 1]) + f"?w={width}")
        assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_a_broken_pdf_fails_its_render_child_and_nothing_else(
    client_for, vanchan_operator, conf, province_clerk, settings
):
    # stored behind the upload checks' back: what a PDF PDFium cannot read looks like here
    broken = Document(
        conference=conf,
        kind=DocumentKind.MATERIAL,
        original_name="hong.pdf",
        content_type="application/pdf",
        size=20,
    )
    broken.file.save("hong.pdf", ContentFile(b"%PDF-1.4 not really\n%%EOF"), save=False)
    broken.save()
    client = client_for(vanchan_operator)
    response = client.get(info_url(conf, broken))
    assert response.status_code == 400 and response.json()["error"] == "bad_document"
    assert client.get(page_url(conf, broken, 1)).json()["error"] == "bad_document"
    assert not list(document_pages.cache_dir(broken).glob("*.webp"))


def test_too_long_documents_are_refused(client_for, vanchan_operator, conf, pdf, settings):
    settings.DOCUMENT_RENDER_MAX_PAGES = 2
    response = client_for(vanchan_operator).get(info_url(conf, pdf))
    assert response.status_code == 400 and response.json()["error"] == "too_many_pages"


def test_a_render_that_runs_too_long_is_stopped(conf, pdf, settings, monkeypatch):
    """The child's wall-clock limit: a render that hangs is killed and reported, not waited on."""
    import subprocess

    real = subprocess.run

    def slow(argv, **kwargs):
        return real(["sleep", "30"], **kwargs)

    monkeypatch.setattr(document_pages.subprocess, "run", slow)
    settings.DOCUMENT_RENDER_TIMEOUT = 1
    started = timezone.now()
    with pytest.raises(document_pages.ConferenceError) as exc:
        document_pages.page_count(pdf)
    assert exc.value.code == "bad_document"
    assert (timezone.now() - started).total_seconds() < 10


def test_deleting_the_document_drops_its_cached_pages(
    client_for, vanchan_operator, conf, pdf, province_clerk, django_capture_on_commit_callbacks
):
    client_for(vanchan_operator).get(page_url(conf, pdf, 1))
    cache = document_pages.cache_dir(pdf)
    assert list(cache.glob("*.webp"))
    with django_capture_on_commit_callbacks(execute=True):
        documents.document_delete(actor=province_clerk, document=pdf)
    assert not cache.exists()
