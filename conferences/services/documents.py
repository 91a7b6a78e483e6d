"""Documents of a conference or of one agenda item: checked on the way in, stored through
Django's storage API, served only by a permission-checked view.

The check trusts the bytes, not the name: the extension must be one we accept AND the content must
be that type (magic bytes via ``filetype``; OOXML files are zip archives, so we also look inside for
the main part of a Word, Excel or PowerPoint document). A renamed executable or random bytes are
rejected with a clear message and nothing is stored.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from conferences import permissions
from conferences.audit import audit_log
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AgendaItem, Conference, Document, DocumentKind

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


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
        raise ConferenceError("bad_file_type", "Chỉ nhận tệp PDF, DOCX, XLSX, PPTX, PNG hoặc JPEG.")
    if not upload.size:
        raise ConferenceError("empty_file", "Tệp rỗng.")
    limit = max_bytes()
    if upload.size > limit:
        raise ConferenceError(
            "file_too_large", f"Tệp quá lớn: tối đa {limit // (1024 * 1024) or 1} MB."
        )
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is None or kind.extension not in expected.magic:
        raise ConferenceError(
            "disguised_file",
            f"Nội dung tệp “{name}” không đúng định dạng {_extension(name)[1:].upper()}.",
        )
    if expected.ooxml_part:
        _check_ooxml(upload, expected, name)
    return expected


def _check_ooxml(upload: UploadedFile, expected: FileType, name: str) -> None:
    error = ConferenceError(
        "disguised_file", f"Nội dung tệp “{name}” không phải tài liệu Office hợp lệ."
    )
    try:
        with zipfile.ZipFile(upload) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" not in names or expected.ooxml_part not in names:
                raise error
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > 1024 * 1024:
                raise error
            types = archive.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise error from exc
    finally:
        upload.seek(0)
    if f'PartName="/{expected.ooxml_part}"' not in types or expected.ooxml_type not in types:
        raise error


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
        raise PermissionDeniedError("Bạn không quản lý hội nghị này.")
    if agenda_item is not None and agenda_item.conference_id != conference.pk:
        raise ConferenceError("unknown_item", "Mục chương trình không thuộc hội nghị này.")
    if kind not in DocumentKind.values:
        raise ConferenceError("bad_kind", "Loại tài liệu không hợp lệ.")
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
        raise PermissionDeniedError("Bạn không quản lý hội nghị này.")
    storage, name = document.file.storage, document.file.name
    audit_log(
        conference=conference,
        actor=actor,
        action="document.deleted",
        data={"document": document.pk, "name": document.original_name},
    )
    document.delete()
    transaction.on_commit(lambda: storage.delete(name))
