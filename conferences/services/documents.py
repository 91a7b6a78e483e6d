"""Documents of a conference or of one agenda item: checked on the way in, stored through
Django's storage API, served only by a permission-checked view.

The check trusts the bytes, not the name: the extension must be one we accept AND the content must
be that type (magic bytes via ``filetype``; OOXML files are zip archives, so we also look inside for
the main part of a Word, Excel or PowerPoint document). A renamed executable or random bytes are
rejected with a clear message and nothing is stored.

Stricter checks, because a file that is two things at once (a polyglot) is opened as the other
thing by some reader: Office files carrying macros (``vbaProject.bin``, macro-enabled content
types) or inflating past ``CONFERENCE_DOCUMENT_MAX_INFLATED_BYTES`` (every member is decompressed
against that budget, so lying size fields do not help) are refused; a PDF must start with
``%PDF-`` and end with ``%%EOF``, and may carry no scripts (``/JavaScript``, ``/Launch``); a PNG
must be a clean chunk sequence from IHDR to IEND with valid CRCs and nothing after it. No accepted
file may contain HTML/SVG markup anywhere (PDF scripts are looked for in the uncompressed
dictionaries only: a PDF is still opened by a reader, never by the browser as a page).
"""

from __future__ import annotations

import logging
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from conferences import permissions
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AgendaItem, Conference, Document, DocumentKind
from conferences.services import document_pages

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_INFLATED_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
_CHUNK = 1024 * 1024
# Markup a browser or SVG reader would act on, anywhere in an accepted file.
_MARKUP = re.compile(
    rb"<\s*(?:html|script|svg|iframe|body|head|object|embed|meta|!doctype|\?xml-stylesheet)[\s>/]",
    re.IGNORECASE,
)
_PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFile|RichMedia)\b")
_MACRO_PARTS = re.compile(
    r"(^|/)(vbaProject\.bin|vbaData\.xml|activeX\d*\.(bin|xml))$", re.IGNORECASE
)


@dataclass(frozen=True)
class FileType:
    magic: frozenset[str]  # filetype's extensions that the magic bytes may report
    mime: str
    ooxml_part: str = ""  # zip member that must exist
    ooxml_type: str = ""  # main content type that [Content_Types].xml must declare


_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_ZIPS = frozenset({"zip", "docx", "xlsx", "pptx"})

ACCEPTED: dict[str, FileType] = {
    ".pdf": FileType(frozenset({"pdf"}), "application/pdf"),
    ".docx": FileType(_ZIPS, _DOCX, "word/document.xml", "wordprocessingml.document.main+xml"),
    ".xlsx": FileType(_ZIPS, _XLSX, "xl/workbook.xml", "spreadsheetml.sheet.main+xml"),
    ".pptx": FileType(_ZIPS, _PPTX, "ppt/presentation.xml", "presentationml.presentation.main+xml"),
    ".png": FileType(frozenset({"png"}), "image/png"),
    ".jpg": FileType(frozenset({"jpg"}), "image/jpeg"),
    ".jpeg": FileType(frozenset({"jpg"}), "image/jpeg"),
}


def max_bytes() -> int:
    return int(getattr(settings, "CONFERENCE_DOCUMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def document_check(*, upload: UploadedFile) -> FileType:
    """The accepted type of ``upload``, or ``ConferenceError`` saying why it is refused."""
    name = os.path.basename(upload.name or "")
    expected = ACCEPTED.get(_extension(name))
    if expected is None:
        raise ConferenceError(
            "bad_file_type", _("Chỉ nhận tệp PDF, DOCX, XLSX, PPTX, PNG hoặc JPEG.")
        )
    if not upload.size:
        raise ConferenceError("empty_file", _("Tệp rỗng."))
    limit = max_bytes()
    if upload.size > limit:
        raise ConferenceError(
            "file_too_large",
            _("Tệp quá lớn: tối đa %(mb)d MB.") % {"mb": limit // (1024 * 1024) or 1},
        )
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is None or kind.extension not in expected.magic:
        raise ConferenceError(
            "disguised_file",
            _("Nội dung tệp “%(name)s” không đúng định dạng %(ext)s.")
            % {"name": name, "ext": _extension(name)[1:].upper()},
        )
    if expected.ooxml_part:
        _check_ooxml(upload, expected, name)
    elif expected.mime == "application/pdf":
        _check_pdf(upload, name)
    elif expected.mime == "image/png":
        _check_png(upload, name)
    elif expected.mime == "image/jpeg":
        _check_jpeg(upload, name)
    return expected


def max_inflated_bytes() -> int:
    return int(
        getattr(settings, "CONFERENCE_DOCUMENT_MAX_INFLATED_BYTES", DEFAULT_MAX_INFLATED_BYTES)
    )


def _polyglot(name: str) -> ConferenceError:
    return ConferenceError(
        "disguised_file",
        _("Tệp “%(name)s” chứa nội dung khác loại (mã HTML/SVG hoặc dữ liệu thừa); không nhận.")
        % {"name": name},
    )


def _scan(upload: UploadedFile, pattern: re.Pattern[bytes]) -> bool:
    """Whether ``pattern`` occurs anywhere in the upload (read in chunks that overlap)."""
    upload.seek(0)
    tail = b""
    try:
        while chunk := upload.read(_CHUNK):
            if pattern.search(tail + chunk):
                return True
            tail = chunk[-64:]
        return False
    finally:
        upload.seek(0)


def _check_pdf(upload: UploadedFile, name: str) -> None:
    upload.seek(0)
    head = upload.read(5)
    upload.seek(max(0, upload.size - 1024))
    end = upload.read(1024)
    upload.seek(0)
    if head != b"%PDF-" or b"%%EOF" not in end:
        raise _polyglot(name)
    if _scan(upload, _MARKUP):
        raise _polyglot(name)
    if _scan(upload, _PDF_ACTIVE):
        raise ConferenceError(
            "active_content",
            _("Tệp PDF “%(name)s” chứa mã chạy được (JavaScript, tệp đính kèm); không nhận.")
            % {"name": name},
        )


def _check_png(upload: UploadedFile, name: str) -> None:
    upload.seek(0)
    try:
        if upload.read(8) != b"\x89PNG\r\n\x1a\n":
            raise _polyglot(name)
        first = True
        while True:
            header = upload.read(8)
            if len(header) != 8:
                raise _polyglot(name)  # ended without IEND
            length, kind = struct.unpack(">I4s", header)
            if (first and kind != b"IHDR") or length > upload.size:
                raise _polyglot(name)
            first = False
            data = upload.read(length)
            crc = upload.read(4)
            if (
                len(data) != length
                or len(crc) != 4
                or zlib.crc32(kind + data) != struct.unpack(">I", crc)[0]
            ):
                raise _polyglot(name)
            if kind in {b"tEXt", b"zTXt", b"iTXt"} and _MARKUP.search(data):
                raise _polyglot(name)
            if kind == b"IEND":
                if upload.read(1):
                    raise _polyglot(name)  # bytes after the image
                return
    finally:
        upload.seek(0)


def _check_jpeg(upload: UploadedFile, name: str) -> None:
    # Data after the EOI marker is left alone: phones append their own (motion photos).
    if _scan(upload, _MARKUP):
        raise _polyglot(name)


def _check_ooxml(upload: UploadedFile, expected: FileType, name: str) -> None:
    error = ConferenceError(
        "disguised_file",
        _("Nội dung tệp “%(name)s” không phải tài liệu Office hợp lệ.") % {"name": name},
    )
    macros = ConferenceError(
        "macro_file",
        _("Tệp “%(name)s” chứa macro (VBA/ActiveX); không nhận tệp có macro.") % {"name": name},
    )
    try:
        with zipfile.ZipFile(upload) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            if len(infos) > MAX_ZIP_MEMBERS:
                raise error
            if "[Content_Types].xml" not in names or expected.ooxml_part not in names:
                raise error
            if any(_MACRO_PARTS.search(n) for n in names):
                raise macros
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > 1024 * 1024:
                raise error
            types = archive.read(info).decode("utf-8", "replace")
            _inflate_within_budget(archive, infos, name)
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zlib.error,
        NotImplementedError,
    ) as exc:
        raise error from exc
    finally:
        upload.seek(0)
    if "macroEnabled" in types or "vbaProject" in types:
        raise macros
    if f'PartName="/{expected.ooxml_part}"' not in types or expected.ooxml_type not in types:
        raise error


def _inflate_within_budget(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], name: str
) -> None:
    """Decompress every member, refusing the file once the total passes the budget."""
    budget = max_inflated_bytes()
    too_big = ConferenceError(
        "inflates_too_much",
        _("Tệp “%(name)s” giải nén ra quá %(mb)d MB; không nhận.")
        % {"name": name, "mb": budget // (1024 * 1024)},
    )
    if sum(info.file_size for info in infos) > budget:
        raise too_big
    total = 0
    for info in infos:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                total += len(chunk)
                if total > budget:
                    raise too_big


@transaction.atomic
def document_upload(
    *,
    actor,
    conference: Conference,
    upload: UploadedFile,
    agenda_item: AgendaItem | None = None,
    kind: str = DocumentKind.MATERIAL,
) -> Document:
    """Store ``upload`` for the conference (or one of its agenda items) after checking it."""
    if not permissions.can_manage(actor, conference):
        raise PermissionDeniedError(_("Bạn không quản lý hội nghị này."))
    if agenda_item is not None and agenda_item.conference_id != conference.pk:
        raise ConferenceError("unknown_item", _("Mục chương trình không thuộc hội nghị này."))
    if kind not in DocumentKind.values:
        raise ConferenceError("bad_kind", _("Loại tài liệu không hợp lệ."))
    filetype_ = document_check(upload=upload)
    original = os.path.basename(upload.name)[:255]
    document = Document(
        conference=conference,
        agenda_item=agenda_item,
        kind=kind,
        original_name=original,
        content_type=filetype_.mime,
        size=upload.size,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )
    document.file.save(original, upload, save=False)
    stored = document.file.name
    try:
        document.save()
        audit_log(
            conference=conference,
            actor=document.uploaded_by,
            action="document.uploaded",
            data={
                "document": document.pk,
                "name": original,
                "size": document.size,
                "agenda_item": agenda_item.pk if agenda_item else None,
            },
        )
    except Exception:
        document.file.storage.delete(stored)
        raise
    return document


@transaction.atomic
def document_delete(*, actor, document: Document) -> None:
    conference = document.conference
    if not permissions.can_manage(actor, conference):
        raise PermissionDeniedError(_("Bạn không quản lý hội nghị này."))
    storage, name = document.file.storage, document.file.name
    pages = document_pages.cache_dir(document)
    audit_log(
        conference=conference,
        actor=actor,
        action="document.deleted",
        data={"document": document.pk, "name": document.original_name},
    )
    document.delete()
    transaction.on_commit(lambda: storage.delete(name))
    transaction.on_commit(lambda: document_pages.page_cache_drop(pages))
