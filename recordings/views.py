"""The recording's files, served only here: permission-checked, with HTTP range requests (206)
read from wherever the segments are kept (``recordings.storage``: MEDIA_ROOT or an S3 bucket),
and the clerk's per-conference choice. See ``recordings.playback`` for who may do what."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conferences import permissions as perms
from conferences.errors import DomainError
from conferences.models import Conference
from recordings import playback, services, storage
from recordings.models import RecordingSegment, SegmentState

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _conference(code: Any) -> Conference:
    return get_object_or_404(Conference.objects.select_related("host_unit"), code=code)


def _parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(start, end inclusive); None = no usable Range (send all); False = unsatisfiable."""
    match = RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or another unit: ignored, the whole file is sent (RFC 9110)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


@require_GET
def segment_file(request, code, index: int):
    conference = _conference(code)
    if not playback.can_watch(request.user, conference):
        raise Http404  # nobody learns that a recording exists
    segment = get_object_or_404(
        RecordingSegment,
        recording__conference=conference,
        index=index,
        state=SegmentState.COMPLETE,
    )
    download = request.GET.get("download") == "1"
    if download and not playback.can_download(request.user, conference):
        return HttpResponseForbidden("Chỉ văn thư/quản trị của đơn vị chủ trì được tải xuống.")
    size = storage.size(segment.file)
    if size is None:
        raise Http404
    wanted = _parse_range(request.headers.get("Range", ""), size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if download and (wanted is None or wanted[0] == 0):
        services.log_download(actor=request.user, segment=segment)  # once per download
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        start, end = wanted  # type: ignore[misc]
        status = 206
    length = end - start + 1
    response = StreamingHttpResponse(
        storage.chunks(segment.file, start, length),
        status=status,
        content_type=segment.content_type,
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    if download:
        response["Content-Disposition"] = (
            f'attachment; filename="{conference.code}-{Path(segment.file).name}"'
        )
    return response


@require_POST
def set_mode(request, code):
    """The clerk's choice for this conference (default / on / off); audited by the service."""
    conference = _conference(code)
    if not perms.can_view(request.user, conference):
        raise Http404
    try:
        services.set_mode(actor=request.user, conference=conference, mode=request.POST.get("mode"))
    except DomainError as exc:
        return HttpResponse(
            exc.message, status=exc.status, content_type="text/plain; charset=utf-8"
        )
    back = str(request.POST.get("next") or "")
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("conference_detail", args=[conference.code])
    return HttpResponseRedirect(back)


def policy(request):
    """The province administrator's page: which levels are recorded by default (the
    ``RECORDING_LEVELS`` setting is the default of each level until it is set here)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not services.can_set_policy(request.user):
        return HttpResponseForbidden(_("Chỉ quản trị cấp tỉnh được đặt chính sách ghi hình."))
    error = ""
    saved = False
    if request.method == "POST":
        try:
            services.set_level_policy(
                actor=request.user, recorded=set(request.POST.getlist("record"))
            )
        except DomainError as exc:
            error = exc.message
        else:
            saved = True
    elif request.method != "GET":
        return HttpResponse(status=405)
    return render(
        request,
        "recordings/policy.html",
        {"levels": services.level_policy(), "error": error, "saved": saved},
        status=400 if error else 200,
    )
