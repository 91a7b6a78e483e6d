"""Crafted uploads against the documents page (issue 11 item 12): macros, zip bombs, polyglots.

Each file below used to be stored; now it is refused with a reason (400) and nothing is kept.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conferences.models import Document
from tests.conferences.factories import ConferenceFactory
from tests.conferences.test_documents import docx_bytes, image_bytes, pdf_bytes, xlsx_bytes


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _with_member(office: bytes, name: str, data: bytes, *, types_extra: str = "") -> bytes:
    src = zipfile.ZipFile(io.BytesIO(office))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "[Content_Types].xml" and types_extra:
                content = content.replace(b"</Types>", types_extra.encode() + b"</Types>")
            dst.writestr(info, content)
        if name:
            dst.writestr(name, data)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_text(text: bytes) -> bytes:
    png = image_bytes("PNG")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + _png_chunk(b"tEXt", b"Comment\x00" + text) + png[iend:]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"></svg>'
HTML = b"<html><body><script>fetch('/api/v1/conferences/')</script></body></html>"

CRAFTED = [
    (
        "macro.docx",
        lambda: _with_member(
            docx_bytes(), "word/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"\0" * 512
        ),
        "macro",
    ),
    (
        "macro.xlsx",
        lambda: _with_member(xlsx_bytes(), "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"\0" * 512),
        "macro",
    ),
    (
        "activex.docx",
        lambda: _with_member(docx_bytes(), "word/activeX/activeX1.bin", b"\0" * 64),
        "macro",
    ),
    (
        "macro-type.docx",
        lambda: _with_member(
            docx_bytes(),
            "",
            b"",
            types_extra=(
                '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
            ),
        ),
        "macro",
    ),
    (
        "bomb.docx",
        lambda: _with_member(docx_bytes(), "word/media/zeros.bin", b"\0" * (210 * 1024 * 1024)),
        "giải nén",
    ),
    ("html-after.pdf", lambda: pdf_bytes() + HTML, "HTML"),
    ("html-inside.pdf", lambda: pdf_bytes().replace(b"%%EOF", HTML + b"\n%%EOF"), "HTML"),
    ("html-first.pdf", lambda: b"%PDF-1.4\n" + HTML + b"\n%%EOF\n", "HTML"),
    (
        "js.pdf",
        lambda: pdf_bytes().replace(
            b"%%EOF", b"1 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n%%EOF"
        ),
        "JavaScript",
    ),
    ("no-eof.pdf", lambda: pdf_bytes().replace(b"%%EOF", b""), "HTML"),
    ("svg-after.png", lambda: image_bytes("PNG") + SVG, "HTML"),
    ("svg-text.png", lambda: _png_with_text(SVG), "HTML"),
    ("bad-crc.png", lambda: image_bytes("PNG")[:-5] + b"\x00" + image_bytes("PNG")[-4:], "HTML"),
    ("svg.jpg", lambda: image_bytes("JPEG") + SVG, "HTML"),
]


@pytest.mark.parametrize("name, make, reason", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_upload_is_refused_with_a_reason_and_nothing_is_stored(
    client_for, province_clerk, org, name, make, reason
):
    conf = ConferenceFactory()
    response = client_for(province_clerk).post(
        reverse("conference_documents", args=[conf.code]),
        {"file": SimpleUploadedFile(name, make())},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert reason in text, text[:2000]
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    "name, make",
    [
        ("ok.pdf", pdf_bytes),
        ("ok.docx", docx_bytes),
        ("ok.xlsx", xlsx_bytes),
        ("ok.png", lambda: image_bytes("PNG")),
        ("ok.jpg", lambda: image_bytes("JPEG")),
    ],
)
def test_ordinary_documents_are_still_accepted(client_for, province_clerk, org, name, make):
    conf = ConferenceFactory()
    response = client_for(province_clerk).post(
        reverse("conference_documents", args=[conf.code]),
        {"file": SimpleUploadedFile(name, make())},
    )
    assert response.status_code == 302
    assert Document.objects.get().original_name == name
