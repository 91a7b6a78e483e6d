"""Read-only API views. Every request is parsed with the history filter form (400 with reasons on
bad input) and scoped by ``visible_conferences``; page size above ``MAX_PAGE_SIZE`` is a 400."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.api.serializers import (
    AttendanceSerializer,
    ConferencePageSerializer,
    ConferenceSerializer,
    DashboardSerializer,
    ErrorSerializer,
)
from conferences.permissions import visible_conferences
from conferences.reports.dashboard import dashboard_figures
from conferences.reports.filters import MAX_DATE, MIN_DATE, HistoryFilter, parse_filter
from conferences.reports.search import (
    MAX_PAGE_SIZE,
    annotate_counts,
    history_invitations,
    history_page,
)

MAX_PAGE = 100_000
# Ranges stated in the schema are the ones the views enforce: outside them the answer is a 400.
FILTER_PARAMETERS = [
    OpenApiParameter(
        "date_from",
        OpenApiTypes.DATE,
        description=f"Từ ngày (YYYY-MM-DD, {MIN_DATE}…{MAX_DATE}), theo giờ bắt đầu dự kiến",
    ),
    OpenApiParameter(
        "date_to",
        OpenApiTypes.DATE,
        description=f"Đến ngày (YYYY-MM-DD, {MIN_DATE}…{MAX_DATE}), tính cả ngày này; không trước date_from",
    ),
    OpenApiParameter(
        "unit",
        {"type": "string", "maxLength": 40},
        description="Mã đơn vị trong phạm vi của bạn (gồm cả cấp dưới)",
    ),
    OpenApiParameter(
        "level",
        OpenApiTypes.STR,
        enum=["four_level", "province_to_district", "district_to_commune", "internal", "other"],
    ),
    OpenApiParameter("topic", {"type": "string", "maxLength": 60}, description="Slug chủ đề"),
    OpenApiParameter(
        "q", {"type": "string", "maxLength": 200}, description="Tìm theo tên, không phân biệt dấu"
    ),
    OpenApiParameter(
        "successors", OpenApiTypes.BOOL, description="Quy đơn vị cũ về đơn vị kế thừa (sau 07/2025)"
    ),
]
PAGE_PARAMETERS = [
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, description="Trang, từ 1"
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description=f"Số dòng một trang (mặc định 50), tối đa {MAX_PAGE_SIZE}",
    ),
]
BAD_REQUEST = OpenApiResponse(
    {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    description="Tham số không hợp lệ: mỗi tham số sai kèm danh sách lý do",
)
UNAUTHORIZED = OpenApiResponse(
    ErrorSerializer, description="Thiếu hoặc sai token / phiên đăng nhập"
)
NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="Không có hội nghị này trong phạm vi của bạn"
)


def _filter(request) -> HistoryFilter:
    f, form = parse_filter(request.query_params, user=request.user)
    if f is None:
        raise ValidationError({name: [str(m) for m in msgs] for name, msgs in form.errors.items()})
    return f


def _paging(request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("page_size", "50"))
    except ValueError:
        raise ValidationError({"page": ["Cần số nguyên."]}) from None
    if page < 1 or page > MAX_PAGE:
        raise ValidationError({"page": ["Trang không hợp lệ."]})
    if size < 1 or size > MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"Từ 1 đến {MAX_PAGE_SIZE}."]})
    return page, size


class ConferenceListView(APIView):
    """Ended conferences you may see, newest first, filtered like the history search."""

    @extend_schema(
        operation_id="conferences_list",
        parameters=FILTER_PARAMETERS + PAGE_PARAMETERS,
        responses={200: ConferencePageSerializer, 400: BAD_REQUEST, 401: UNAUTHORIZED},
    )
    def get(self, request):
        f = _filter(request)
        page, size = _paging(request)
        rows, total = history_page(request.user, f, page=page, page_size=size)
        return Response(
            {
                "count": total,
                "page": page,
                "page_size": size,
                "results": ConferenceSerializer(rows, many=True).data,
            }
        )


class ConferenceDetailView(APIView):
    @extend_schema(
        operation_id="conference_retrieve",
        responses={200: ConferenceSerializer, 401: UNAUTHORIZED, 404: NOT_FOUND},
    )
    def get(self, request, code):
        conference = (
            visible_conferences(request.user).select_related("host_unit").filter(code=code).first()
        )
        if conference is None:
            raise NotFound
        annotate_counts([conference], request.user, HistoryFilter())
        return Response(ConferenceSerializer(conference).data)


class AttendanceView(APIView):
    """Attendance of one conference: the sites of your subtrees (all of them if you organise it)."""

    @extend_schema(
        operation_id="conference_attendance",
        responses={200: AttendanceSerializer(many=True), 401: UNAUTHORIZED, 404: NOT_FOUND},
    )
    def get(self, request, code):
        visible = visible_conferences(request.user).filter(code=code)
        conference = visible.first()
        if conference is None:
            raise NotFound
        rows = list(
            history_invitations(request.user, HistoryFilter(), visible)
            .select_related("site", "unit")
            .order_by("unit__path", "site__key")
        )
        late_after = conference.planned_start + dt.timedelta(minutes=settings.HISTORY_LATE_MINUTES)
        for inv in rows:
            inv.late = bool(inv.first_joined_at and inv.first_joined_at > late_after)
        return Response(AttendanceSerializer(rows, many=True).data)


class DashboardView(APIView):
    """The dashboard figures for a filter (same numbers as /history/)."""

    @extend_schema(
        operation_id="dashboard_retrieve",
        parameters=FILTER_PARAMETERS,
        responses={200: DashboardSerializer, 400: BAD_REQUEST, 401: UNAUTHORIZED},
    )
    def get(self, request):
        f = _filter(request)
        figures = dashboard_figures(request.user, f)
        for row in figures["by_unit"]:
            row.pop("closed", None)
        for row in figures["by_host"]:
            row.pop("closed", None)
        return Response(DashboardSerializer(figures).data)


def api_docs(request):
    """A self-contained page describing the API (no CDN: the schema is linked, not rendered by Swagger UI)."""
    return render(request, "conferences/history/api_docs.html", {"max_page_size": MAX_PAGE_SIZE})
