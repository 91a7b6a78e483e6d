"""Page images of an agenda PDF, for presenting it to every site without screen capture.

Contract:
- ``presentable(document)``: whether a document can be shown page by page (a PDF material);
- ``page_count(document)``: its number of pages (``ConferenceError`` ``bad_document`` when it
  cannot be read, ``too_many_pages`` past ``DOCUMENT_RENDER_MAX_PAGES``);
- ``page_image(document, page, width)``: the path of page ``page`` drawn ``width`` pixels wide
  (one of ``WIDTHS``) as WebP, rendered once and cached on disk beside the documents
  (``MEDIA_ROOT/page-cache/``); ``cached_page`` answers without rendering.
Permission is not checked here: callers (``conferences.views.document_pages``) take the document
from the permission-checked selector first.

Why server-side images: the network is closed and pages load no third-party script, so a
browser-side PDF renderer would have to be vendored (forbidden) — and a page image is the same
bytes for all 210 sites, cached once. The renderer is PDFium in a child process
(``conferences.pdf_render``, which says why PDFium) limited in memory, CPU and time: a broken or
hostile PDF fails that child, never the web process. Two requests for one missing page render
it once (an exclusive lock file per page); at most ``RENDER_CONCURRENCY`` renders run at a time
in a process (2 cores: a page turn in 100 conferences must not starve the live sockets).
Cached files are keyed by the stored file's name (unique per upload) and removed with the
document (``page_cache_drop``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from conferences.errors import ConferenceError
from conferences.models import Document, DocumentKind

logger = logging.getLogger(__name__)

WIDTHS = (640, 1280, 1920)  # phone, tablet, PC (the page asks for the one its screen needs)
DEFAULT_WIDTH = 1280
PDF = "application/pdf"
RENDER_CONCURRENCY = 2
_renders = threading.BoundedSemaphore(RENDER_CONCURRENCY)


def presentable(document: Document) -> bool:
    return document.kind == DocumentKind.MATERIAL and document.content_type == PDF


def _cache_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "page-cache"


def cache_dir(document: Document) -> Path:
    digest = hashlib.sha256(document.file.name.encode()).hexdigest()[:16]
    return _cache_root() / f"{document.pk}-{digest}"


def _image_path(document: Document, page: int, width: int) -> Path:
    return cache_dir(document) / f"p{page}-w{width}.webp"


def cached_page(document: Document, page: int, width: int) -> Path | None:
    """The cached image, or None (cheap: one ``stat``, fine on the event loop)."""
    path = _image_path(document, page, width)
    return path if path.exists() else None


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _source(document: Document):
    """A local path of the stored PDF (a temporary copy when the storage has no paths)."""
    try:
        yield document.file.path
        return
    except NotImplementedError:
        pass
    with document.file.open("rb") as src, tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        shutil.copyfileobj(src, tmp)
        tmp.flush()
        yield tmp.name


def _run(*args: str) -> dict:
    timeout = int(settings.DOCUMENT_RENDER_TIMEOUT)
    limits = f"{int(settings.DOCUMENT_RENDER_MAX_MEMORY)},{timeout},{64 * 1024 * 1024}"
    env = {"PATH": os.environ.get("PATH", ""), "GIAOBAN_RENDER_LIMITS": limits}
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv: our interpreter and our module
            [sys.executable, "-m", "conferences.pdf_render", *args],
            capture_output=True,
            timeout=timeout,
            env=env,
            cwd=str(Path(__file__).resolve().parents[2]),
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning("rendering %s took longer than %ss: stopped", args[:2], timeout)
        raise ConferenceError("bad_document", _("Không hiển thị được tài liệu này.")) from None
    if done.returncode != 0:
        logger.warning(
            "rendering %s failed (%s): %s", args[:2], done.returncode, done.stderr[-300:]
        )
        raise ConferenceError("bad_document", _("Không hiển thị được tài liệu này."))
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def page_count(document: Document) -> int:
    if not presentable(document):
        raise ConferenceError("bad_document", _("Chỉ trình chiếu được tài liệu PDF."))
    meta = cache_dir(document) / "meta.json"
    if not meta.exists():
        with _locked(meta.with_suffix(".lock")):
            if not meta.exists():
                with _renders, _source(document) as src:
                    info = _run("info", src)
                tmp = meta.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"pages": int(info["pages"])}))
                os.replace(tmp, meta)
    pages = int(json.loads(meta.read_text())["pages"])
    limit = int(settings.DOCUMENT_RENDER_MAX_PAGES)
    if pages > limit:
        raise ConferenceError(
            "too_many_pages",
            _("Tài liệu quá dài để trình chiếu (tối đa %(n)s trang).") % {"n": limit},
        )
    if pages < 1:
        raise ConferenceError("bad_document", _("Tài liệu không có trang nào."))
    return pages


def page_image(document: Document, page: int, width: int = DEFAULT_WIDTH) -> Path:
    """Render (once) and return the image of ``page`` (1-based) at ``width`` pixels."""
    if width not in WIDTHS:
        raise ConferenceError("invalid", _("Độ rộng ảnh không hợp lệ."))
    pages = page_count(document)
    if not 1 <= page <= pages:
        raise ConferenceError(
            "no_page", _("Tài liệu không có trang %(n)s.") % {"n": page}, status=404
        )
    path = _image_path(document, page, width)
    if path.exists():
        return path
    with _locked(path.with_suffix(".lock")):
        if not path.exists():
            with _renders, _source(document) as src:
                _run("page", src, str(page), str(width), str(path))
    return path


def page_cache_drop(path: Path) -> None:
    """Remove a deleted document's cached pages (``path`` = its ``cache_dir``, taken before)."""
    shutil.rmtree(path, ignore_errors=True)
