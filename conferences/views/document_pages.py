"""Page images of an agenda PDF for the live pages (docs/protocol.md, "Presenting a document").

``GET /conferences/<code>/documents/<id>/pages/`` → ``{"pages": N, "widths": [...]}``;
``GET /conferences/<code>/documents/<id>/pages/<n>/?w=<width>`` → the page as WebP.

Who may read them: whoever may read the conference's documents (``permissions.
can_view_documents``: invited sites' users and organisers; a confidential conference only
invited sites and its chairs), signed in — or holding a valid personal join link of this
conference (``?t=``, as the join page does), whose site is still invited. Everyone else gets
404, as for the download. Only PDF materials are served (not the minutes' attachments).

The page view is async: a cached page is answered on the event loop, and a render (a child
process, ``services.document_pages``) waits in a worker thread, so a page turn seen by 210
sites never holds the one thread that runs the sockets' database calls.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conferences import permissions
from conferences.errors import DomainError
from conferences.joinlinks import JoinLinkError, join_link_read, join_link_user
from conferences.models import Conference, Document
from conferences.services import document_pages

CACHE = "private, max-age=86400, immutable"  # the URL names one upload: its bytes never change


def _readable(user, token: str | None, code, document_id: int) -> Document:
    """The PDF material ``document_id`` of conference ``code``, if the reader may see it."""
    conference = Conference.objects.select_related("host_unit").filter(code=code).first()
    if conference is None:
        raise Http404
    if token:
        try:
            link = join_link_read(token, conference_code=str(conference.code))
            user = join_link_user(link)
        except JoinLinkError:
            raise Http404 from None
        if not conference.invitations.filter(site__code=link.site_code).exists():
            raise Http404
    if not permissions.can_view_documents(user, conference):
        raise Http404(_("Không tìm thấy tài liệu."))
    document = conference.documents.filter(pk=document_id).first()
    if document is None or not document_pages.presentable(document):
        raise Http404(_("Không tìm thấy tài liệu."))
    return document


async def _document(request: HttpRequest, code, document_id: int) -> Document:
    user = await request.auser()
    return await sync_to_async(_readable)(user, request.GET.get("t") or None, code, document_id)


def _error(exc: DomainError) -> JsonResponse:
    return JsonResponse({"error": exc.code, "message": exc.message}, status=exc.status or 400)


@require_GET
async def document_pages_info(request: HttpRequest, code, document_id: int) -> HttpResponse:
    document = await _document(request, code, document_id)
    try:
        pages = await asyncio.to_thread(document_pages.page_count, document)
    except DomainError as exc:
        return _error(exc)
    return JsonResponse(
        {"pages": pages, "widths": list(document_pages.WIDTHS), "name": document.original_name},
        headers={"Cache-Control": "private, no-cache"},
    )


@require_GET
async def document_page(request: HttpRequest, code, document_id: int, page: int) -> HttpResponse:
    document = await _document(request, code, document_id)
    try:
        width = int(request.GET.get("w") or document_pages.DEFAULT_WIDTH)
    except ValueError:
        width = 0
    if width not in document_pages.WIDTHS:
        return JsonResponse(
            {"error": "invalid", "message": _("Độ rộng ảnh không hợp lệ.")}, status=400
        )
    path = document_pages.cached_page(document, page, width)
    if path is None:
        try:
            path = await asyncio.to_thread(document_pages.page_image, document, page, width)
        except DomainError as exc:
            return _error(exc)
    data = await asyncio.to_thread(path.read_bytes)
    return HttpResponse(data, content_type="image/webp", headers={"Cache-Control": CACHE})
