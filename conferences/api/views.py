"""Read-only API views. Every request is parsed with the history filter form (400 with reasons on
bad input) and scoped by ``visible_conferences``; page size above ``MAX_PAGE_SIZE`` is a 400."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.api.serializers import (
    AttendanceSerializer,
    ConferenceSerializer,
    DashboardSerializer,
)
from conferences.permissions import visible_conferences
from conferences.reports.dashboard import dashboard_figures
from conferences.reports.filters import HistoryFilter, parse_filter
from conferences.reports.search import (
    MAX_PAGE_SIZE,
    annotate_counts,
    history_invitations,
    history_page,
)

FILTER_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Từ ngày (YYYY-MM-DD), theo giờ bắt đầu dự kiến"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Đến ngày (YYYY-MM-DD), tính cả ngày này"),
    OpenApiParameter("unit", OpenApiTypes.STR, description="Mã đơn vị trong phạm vi của bạn (gồm cả cấp dưới)"),
    OpenApiParameter("level", OpenApiTypes.STR, enum=["four_level", "province_to_district", "district_to_commune", "internal", "other"]),
    OpenApiParameter("topic", OpenApiTypes.STR, description="Slug chủ đề"),
    OpenApiParameter("q", OpenApiTypes.STR, description="Tìm theo tên, không phân biệt dấu"),
    OpenApiParameter("successors", OpenApiTypes.BOOL, description="Quy đơn vị cũ về đơn vị kế thừa (sau 07/2025)"),
]
PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="Trang, từ 1"),
    OpenApiParameter("page_size", OpenApiTypes.INT, description=f"Số dòng một trang, tối đa {MAX_PAGE_SIZE}"),
]


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
    if page < 1 or page > 100_000:
        raise ValidationError({"page": ["Trang không hợp lệ."]})
    if size < 1 or size > MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"Từ 1 đến {MAX_PAGE_SIZE}."]})
    return page, size


class ConferenceListView(APIView):
    """Ended conferences you may see, newest first, filtered like the history search."""

    @extend_schema(parameters=FILTER_PARAMETERS + PAGE_PARAMETERS, responses=ConferenceSerializer(many=True))
    def get(self, request):
        f = _filter(request)
        page, size = _paging(request)
        rows, total = history_page(request.user, f, page=page, page_size=size)
        return Response({"count": total, "page": page, "page_size": size, "results": ConferenceSerializer(rows, many=True).data})


class ConferenceDetailView(APIView):
    @extend_schema(responses=ConferenceSerializer)
    def get(self, request, code):
        conference = visible_conferences(request.user).select_related("host_unit").filter(code=code).first()
        if conference is None:
            raise NotFound
        annotate_counts([conference], request.user, HistoryFilter())
        return Response(ConferenceSerializer(conference).data)


class AttendanceView(APIView):
    """Attendance of one conference: the sites of your subtrees (all of them if you organise it)."""

    @extend_schema(responses=AttendanceSerializer(many=True))
    def get(self, request, code):
        visible = visible_conferences(request.user).filter(code=code)
        conference = visible.first()
        if conference is None:
            raise NotFound
        rows = list(history_invitations(request.user, HistoryFilter(), visible).select_related("site", "unit").order_by("unit__path", "site__key"))
        late_after = conference.planned_start + dt.timedelta(minutes=settings.HISTORY_LATE_MINUTES)
        for inv in rows:
            inv.late = bool(inv.first_joined_at and inv.first_joined_at > late_after)
        return Response(AttendanceSerializer(rows, many=True).data)


class DashboardView(APIView):
    """The dashboard figures for a filter (same numbers as /history/)."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses=DashboardSerializer)
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
