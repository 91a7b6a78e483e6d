"""Clerks' pages of a conference: list, create/edit with the site picker, overview, agenda,
documents, status transitions, and the picker's count endpoint.

Views are thin: forms parse, services decide. Who may see a conference is asked once through
``selectors.conference_for_user`` (404 for everyone who may not); managing it is checked by the
services and turned into 403 here.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conferences import permissions, selectors
from conferences.errors import ConferenceError, DomainError, PermissionDeniedError
from conferences.forms import (
    AgendaItemForm,
    ConferenceFilterForm,
    ConferenceForm,
    DocumentUploadForm,
)
from conferences.models import AgendaItem, Conference, Document, Level, Status
from conferences.services import agenda as agenda_services
from conferences.services import documents as document_services
from conferences.services import scheduling, site_selection
from conferences.services.site_selection import SelectionSpec
from conferences.timeline import CHAT_MESSAGES, timeline_rows
from portal import permissions as org
from portal.models import Site

PAGE_SIZE = 20

# Buttons offered on the overview: (target status, label, css class, confirmation).
TRANSITION_BUTTONS = {
    Status.SCHEDULED: (gettext_lazy("Lên lịch và gửi giấy mời"), "primary", ""),
    Status.ENDED: (
        gettext_lazy("Đánh dấu đã kết thúc"),
        "",
        gettext_lazy("Đánh dấu hội nghị đã kết thúc? Sau đó không sửa được chương trình."),
    ),
    Status.CANCELLED: (
        gettext_lazy("Hủy hội nghị"),
        "danger",
        gettext_lazy("Hủy hội nghị này và gửi thông báo hủy tới các điểm cầu?"),
    ),
}


def _deny(exc: DomainError) -> None:
    if isinstance(exc, PermissionDeniedError):
        raise PermissionDenied(exc.message)


def _require_manage(request: HttpRequest, conference: Conference) -> None:
    if not permissions.can_manage(request.user, conference):
        raise PermissionDenied(_("Bạn không quản lý hội nghị này."))


def _base_context(request: HttpRequest, conference: Conference, tab: str) -> dict[str, object]:
    return {
        "conference": conference,
        "tab": tab,
        "can_manage": permissions.can_manage(request.user, conference),
        "can_chair": permissions.can_chair(request.user, conference),
        "can_view_documents": permissions.can_view_documents(request.user, conference),
        "is_closed": conference.status in scheduling.CLOSED,
    }


# --- List -------------------------------------------------------------------------------------


@login_required
@require_GET
def conference_list(request: HttpRequest) -> HttpResponse:
    form = ConferenceFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else {}
    page = Paginator(selectors.conference_list(user=request.user, **filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "conferences/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_create": org.has_any_role(request.user, permissions.MANAGERS),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


# --- Create / edit ----------------------------------------------------------------------------


def _picker_context(form: ConferenceForm, conference: Conference | None) -> dict[str, object]:
    start = (
        form.cleaned_data.get("planned_start")
        if form.is_bound and hasattr(form, "cleaned_data")
        else None
    )
    if start:
        day = timezone.localdate(start)
    elif conference is not None:
        day = timezone.localdate(conference.planned_start)
    else:
        day = timezone.localdate()
    if form.is_bound:
        spec = form.spec
    elif conference is not None:
        spec = SelectionSpec(
            sites=[str(c) for c in conference.invitations.values_list("site__code", flat=True)]
        )
    else:
        spec = SelectionSpec()
    return {
        "picker_day": day,
        "picker_rows": selectors.picker_rows(day=day, within=form.managed, keep=set(spec.sites)),
        "picker_kinds": selectors.picker_kind_counts(day=day, within=form.managed),
        "picker_scope": site_selection.managed_scope(form.user),
        "host_options_json": form.host_options_json(),
        "picked": {
            "kinds": set(spec.kinds),
            "subtrees": set(spec.subtrees),
            "groups": {f"{k}@{u}" for k, u in spec.groups},
            "sites": set(spec.sites),
        },
    }


@login_required
@require_http_methods(["GET", "POST"])
def conference_create(request: HttpRequest) -> HttpResponse:
    if not org.has_any_role(request.user, permissions.MANAGERS):
        raise PermissionDenied(_("Chỉ văn thư hoặc quản trị mới tạo được hội nghị."))
    if request.method == "POST":
        form = ConferenceForm(request.POST, user=request.user)
    else:
        form = ConferenceForm(
            initial=ConferenceForm.initial_for_user(request.user), user=request.user
        )
    if request.method == "POST" and form.is_valid():
        try:
            conference = scheduling.conference_create(actor=request.user, **form.service_kwargs())
        except DomainError as exc:
            _deny(exc)
            form.add_error(None, [exc.message, *exc.details])
        else:
            messages.success(
                request, _("Đã tạo hội nghị (bản nháp). Kiểm tra chương trình rồi bấm “Lên lịch”.")
            )
            return redirect("conference_detail", code=conference.code)
    return render(
        request,
        "conferences/form.html",
        {"form": form, "conference": None, **_picker_context(form, None)},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def conference_edit(request: HttpRequest, code) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    _require_manage(request, conference)
    if request.method == "POST":
        form = ConferenceForm(request.POST, user=request.user, conference=conference)
    else:
        form = ConferenceForm(
            initial=ConferenceForm.initial_for(conference), user=request.user, conference=conference
        )
    if request.method == "POST" and form.is_valid():
        try:
            updated = scheduling.conference_update(
                actor=request.user, conference=conference, **form.service_kwargs()
            )
        except DomainError as exc:
            _deny(exc)
            form.add_error(None, [exc.message, *exc.details])
        else:
            messages.success(request, _("Đã lưu thay đổi."))
            _tell_delivery(request, getattr(updated, "delivery", None))
            return redirect("conference_detail", code=conference.code)
    return render(
        request,
        "conferences/form.html",
        {"form": form, "conference": conference, **_picker_context(form, conference)},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def site_picker_counts(request: HttpRequest) -> JsonResponse:
    """How many sites a picker selection names on the conference date, and which of them are
    already invited to an overlapping conference. For clerks; 400 with reasons on bad input."""
    if not org.has_any_role(request.user, permissions.MANAGERS):
        return JsonResponse(
            {"code": "forbidden", "message": _("Chỉ văn thư mới dùng được bộ chọn điểm cầu.")},
            status=403,
        )
    start = _parse_local(request.GET.get("start", ""))
    end = _parse_local(request.GET.get("end", ""))
    day = timezone.localdate(start) if start else timezone.localdate()
    exclude = None
    try:
        exclude_code = uuid.UUID(request.GET.get("conference", ""))
    except ValueError:
        exclude_code = None
    if exclude_code is not None:
        exclude = permissions.visible_conferences(request.user).filter(code=exclude_code).first()
    scope, scope_error = _picker_scope(request)
    try:
        sites = site_selection.site_selection_resolve(
            spec=SelectionSpec.from_params(request.GET),
            day=day,
            within=permissions.managed_paths(request.user),
        )
    except DomainError as exc:
        return JsonResponse(exc.as_dict(), status=400)
    chair = _picker_chair(request)
    if chair is not None and chair.pk not in {s.pk for s in sites}:
        sites = [*sites, chair]  # the chair site is always invited: count it as it will be saved
    outside = [s.name for s in sites if scope is not None and not scope.contains(s)]
    overlaps = (
        selectors.overlapping_invitations(sites=sites, start=start, end=end, exclude=exclude)
        if start and end and end > start
        else []
    )
    visible = set(
        permissions.visible_conferences(request.user)
        .filter(pk__in={i.conference_id for i in overlaps})
        .values_list("pk", flat=True)
    )
    return JsonResponse(
        {
            "day": day.isoformat(),
            **selectors.selection_counts(sites),
            "chair_site": str(chair.code) if chair else None,
            "scope": scope.as_dict() if scope is not None else None,
            "scope_error": scope_error,
            "outside": outside,
            "overlaps": [
                {
                    "site": inv.site.name,
                    "site_code": str(inv.site.code),
                    "conference": inv.conference.title
                    if inv.conference_id in visible
                    else _("(hội nghị của đơn vị khác)"),
                    "conference_code": str(inv.conference.code)
                    if inv.conference_id in visible
                    else None,
                    "start": timezone.localtime(inv.conference.planned_start).strftime(
                        "%d/%m/%Y %H:%M"
                    ),
                    "end": timezone.localtime(inv.conference.planned_end).strftime("%H:%M"),
                }
                for inv in overlaps
            ],
        }
    )


def _picker_scope(request: HttpRequest):
    """The invitation scope for the level and host the form shows now, and why there is none
    when that host cannot hold that level; no host chosen yet: what the clerk manages."""
    host = (
        selectors.units_hostable_by(request.user, day=timezone.localdate())
        .filter(code=request.GET.get("host_unit", ""))
        .first()
    )
    level = request.GET.get("level", "")
    if host is None or level not in Level.values:
        return site_selection.managed_scope(request.user), ""
    try:
        return site_selection.invitation_scope(actor=request.user, level=level, host_unit=host), ""
    except DomainError as exc:
        return site_selection.managed_scope(request.user), exc.message


def _picker_chair(request: HttpRequest) -> Site | None:
    try:
        code = uuid.UUID(request.GET.get("chair_site", ""))
    except ValueError:
        return None
    return Site.objects.select_related("unit").filter(code=code, is_active=True).first()


def _parse_local(raw: str) -> dt.datetime | None:
    try:
        value = parse_datetime(raw) if raw else None
    except ValueError:
        return None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


# --- Overview and transitions -----------------------------------------------------------------


def _overview(
    request: HttpRequest, conference: Conference, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = _base_context(request, conference, "overview")
    buttons = []
    for target in sorted(scheduling.TRANSITIONS[conference.status], key=list(Status.values).index):
        if target in TRANSITION_BUTTONS:
            label, css, confirm = TRANSITION_BUTTONS[target]
            allowed = context["can_manage"] or (target == Status.ENDED and context["can_chair"])
            if allowed:
                buttons.append({"to": target, "label": label, "css": css, "confirm": confirm})
    context.update(
        {
            "error": error,
            "buttons": buttons,
            "topics": conference.topics.all(),
            "summary": selectors.invitation_summary(conference),
            "agenda": conference.agenda_items.select_related("presenter_unit", "presenter_site"),
            # the changes, not the conversation: chat messages are on the history page's
            # timeline and in the minutes, where a burst of them cannot push changes out
            "audit": timeline_rows(
                conference,
                exclude=CHAT_MESSAGES,
                newest_first=True,
                limit=15,
            )
            if context["can_manage"]
            else [],
        }
    )
    return render(request, "conferences/overview.html", context, status=status)


@login_required
@require_GET
def conference_detail(request: HttpRequest, code) -> HttpResponse:
    return _overview(request, selectors.conference_for_user(user=request.user, code=code))


@login_required
@require_POST
def conference_transition(request: HttpRequest, code) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    target = request.POST.get("to", "")
    try:
        conference = scheduling.conference_transition(
            actor=request.user, conference=conference, to=target
        )
    except DomainError as exc:
        _deny(exc)
        return _overview(request, conference, error=exc.message, status=400)
    messages.success(
        request, _("Trạng thái hội nghị: %(status)s.") % {"status": conference.get_status_display()}
    )
    _tell_delivery(request, getattr(conference, "delivery", None))
    return redirect("conference_detail", code=conference.code)


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return shown + (_(" và %(n)d điểm cầu khác") % {"n": more} if more > 0 else "")


def _tell_delivery(request: HttpRequest, delivery) -> None:
    """Say what the invitation mailing did: who was mailed, and which sites nobody could tell."""
    if delivery is None:
        return
    if delivery.failed:
        messages.error(
            request,
            _(
                "Không gửi được e-mail tới %(n)d cán bộ kỹ thuật (máy chủ thư lỗi); thay đổi đã được "
                "lưu — hãy báo các điểm cầu bằng cách khác hoặc thử lại sau."
            )
            % {"n": delivery.recipients},
        )
    elif delivery.recipients:
        sent = delivery.recipients if delivery.sent is None else delivery.sent
        messages.success(
            request,
            _("Đã gửi %(n)d e-mail tới cán bộ kỹ thuật của %(sites)d điểm cầu.")
            % {"n": sent, "sites": delivery.sites_reached},
        )
    else:
        messages.warning(request, _("Không có điểm cầu nào nhận được e-mail."))
    if delivery.sites_without_operator:
        messages.warning(
            request,
            _("%(n)d điểm cầu chưa có tài khoản cán bộ kỹ thuật nên chưa được báo: %(names)s.")
            % {
                "n": len(delivery.sites_without_operator),
                "names": _names(delivery.sites_without_operator),
            },
        )
    if delivery.sites_without_email:
        messages.warning(
            request,
            _("%(n)d điểm cầu có cán bộ kỹ thuật nhưng chưa có địa chỉ e-mail: %(names)s.")
            % {
                "n": len(delivery.sites_without_email),
                "names": _names(delivery.sites_without_email),
            },
        )


# --- Agenda -----------------------------------------------------------------------------------


def _agenda_page(
    request,
    conference,
    *,
    form=None,
    editing: AgendaItem | None = None,
    error: str = "",
    status: int = 200,
):
    context = _base_context(request, conference, "agenda")
    items = list(
        conference.agenda_items.select_related("presenter_unit", "presenter_site").prefetch_related(
            "documents"
        )
    )
    total = 0
    for item in items:  # planned clock time of each item, back to back from the planned start
        item.planned_at = conference.planned_start + dt.timedelta(minutes=total)
        total += item.planned_minutes
    context.update(
        {
            "items": items,
            "total_minutes": total,
            "form": form
            if form is not None
            else (AgendaItemForm(conference=conference) if context["can_manage"] else None),
            "editing": editing,
            "error": error,
        }
    )
    return render(request, "conferences/agenda.html", context, status=status)


def _item_kwargs(form: AgendaItemForm) -> dict[str, object]:
    d = form.cleaned_data
    return {
        k: d[k]
        for k in (
            "title",
            "presenter_unit",
            "presenter_site",
            "presenter_name",
            "planned_minutes",
            "notes",
        )
    }


@login_required
@require_http_methods(["GET", "POST"])
def conference_agenda(request: HttpRequest, code) -> HttpResponse:
    """The agenda; managers add an item by POSTing the form on the same page."""
    conference = selectors.conference_for_user(user=request.user, code=code)
    if request.method == "GET":
        return _agenda_page(request, conference)
    _require_manage(request, conference)
    form = AgendaItemForm(request.POST, conference=conference)
    if form.is_valid():
        try:
            agenda_services.agenda_item_create(
                actor=request.user, conference=conference, **_item_kwargs(form)
            )
        except DomainError as exc:
            _deny(exc)
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Đã thêm mục chương trình."))
            return redirect("conference_agenda", code=conference.code)
    return _agenda_page(request, conference, form=form, status=400)


def _item(conference: Conference, item_id: int) -> AgendaItem:
    item = conference.agenda_items.filter(pk=item_id).first()
    if item is None:
        raise Http404(_("Không tìm thấy mục chương trình."))
    return item


@login_required
@require_http_methods(["GET", "POST"])
def agenda_item_edit(request: HttpRequest, code, item_id: int) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    _require_manage(request, conference)
    item = _item(conference, item_id)
    if request.method == "GET":
        form = AgendaItemForm(initial=AgendaItemForm.initial_for(item), conference=conference)
        return _agenda_page(request, conference, form=form, editing=item)
    form = AgendaItemForm(request.POST, conference=conference)
    if form.is_valid():
        try:
            agenda_services.agenda_item_update(actor=request.user, item=item, **_item_kwargs(form))
        except DomainError as exc:
            _deny(exc)
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Đã lưu mục chương trình."))
            return redirect("conference_agenda", code=conference.code)
    return _agenda_page(request, conference, form=form, editing=item, status=400)


@login_required
@require_POST
def agenda_item_delete(request: HttpRequest, code, item_id: int) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    _require_manage(request, conference)
    try:
        agenda_services.agenda_item_delete(actor=request.user, item=_item(conference, item_id))
    except DomainError as exc:
        _deny(exc)
        return _agenda_page(request, conference, error=exc.message, status=400)
    messages.success(request, _("Đã xóa mục chương trình."))
    return redirect("conference_agenda", code=conference.code)


@login_required
@require_POST
def agenda_item_move(request: HttpRequest, code, item_id: int) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    _require_manage(request, conference)
    try:
        agenda_services.agenda_item_move(
            actor=request.user,
            item=_item(conference, item_id),
            direction=request.POST.get("direction", ""),
        )
    except DomainError as exc:
        _deny(exc)
        return _agenda_page(request, conference, error=exc.message, status=400)
    return redirect("conference_agenda", code=conference.code)


@login_required
@require_POST
def agenda_reorder(request: HttpRequest, code) -> HttpResponse:
    """POST ``order`` = item ids in the new order (repeated, or one comma-separated value)."""
    conference = selectors.conference_for_user(user=request.user, code=code)
    _require_manage(request, conference)
    raw = [
        part for value in request.POST.getlist("order") for part in value.split(",") if part.strip()
    ]
    try:
        order = [int(x) for x in raw]
    except ValueError:
        order = None
    try:
        if order is None:
            raise ConferenceError("bad_order", _("Thứ tự mới không hợp lệ."))
        agenda_services.agenda_reorder(actor=request.user, conference=conference, order=order)
    except DomainError as exc:
        _deny(exc)
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse(exc.as_dict(), status=400)
        return _agenda_page(request, conference, error=exc.message, status=400)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"ok": True, "order": order})
    messages.success(request, _("Đã sắp xếp lại chương trình."))
    return redirect("conference_agenda", code=conference.code)


# --- Documents --------------------------------------------------------------------------------


def _documents_page(request, conference, *, form=None, status: int = 200):
    context = _base_context(request, conference, "documents")
    documents = (
        conference.documents.select_related("agenda_item", "uploaded_by").order_by(
            "agenda_item__position", "uploaded_at"
        )
        if context["can_view_documents"]
        else []
    )
    context.update(
        {
            "documents": documents,
            "form": form
            if form is not None
            else (DocumentUploadForm(conference=conference) if context["can_manage"] else None),
            "max_mb": document_services.max_bytes() // (1024 * 1024),
            "accept": ",".join(document_services.ACCEPTED),
        }
    )
    return render(request, "conferences/documents.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def conference_documents(request: HttpRequest, code) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    if request.method == "GET":
        return _documents_page(request, conference)
    _require_manage(request, conference)
    form = DocumentUploadForm(request.POST, request.FILES, conference=conference)
    if form.is_valid():
        try:
            document_services.document_upload(
                actor=request.user,
                conference=conference,
                upload=form.cleaned_data["file"],
                agenda_item=form.cleaned_data["agenda_item"],
            )
        except DomainError as exc:
            _deny(exc)
            form.add_error("file", exc.message)
        else:
            messages.success(request, _("Đã tải lên tài liệu."))
            return redirect("conference_documents", code=conference.code)
    return _documents_page(request, conference, form=form, status=400)


def _document(request: HttpRequest, code, document_id: int) -> Document:
    conference = selectors.conference_for_user(user=request.user, code=code)
    if not permissions.can_view_documents(request.user, conference):
        raise Http404(_("Không tìm thấy tài liệu."))
    document = conference.documents.filter(pk=document_id).first()
    if document is None:
        raise Http404(_("Không tìm thấy tài liệu."))
    return document


@login_required
@require_GET
def document_download(request: HttpRequest, code, document_id: int) -> FileResponse:
    document = _document(request, code, document_id)
    try:
        handle = document.file.open("rb")
    except FileNotFoundError:
        raise Http404(_("Tệp không còn trên máy chủ.")) from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=document.original_name,
        content_type=document.content_type,
    )


@login_required
@require_POST
def document_delete(request: HttpRequest, code, document_id: int) -> HttpResponse:
    document = _document(request, code, document_id)
    _require_manage(request, document.conference)
    try:
        document_services.document_delete(actor=request.user, document=document)
    except DomainError as exc:
        _deny(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Đã xóa tài liệu."))
    return redirect("conference_documents", code=code)
