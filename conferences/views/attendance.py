"""Clerks' tabs of a conference: sites & readiness, attendance (log, roll call, join/leave),
minutes; and their XLSX/DOCX downloads.

Anyone who may not see the conference gets 404; invited users who are not its organisers get
403; writing is decided by the services (PermissionDeniedError → 403, other DomainError → the
form error, status 400, nothing saved).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from conferences import exports, permissions, selectors
from conferences.errors import DomainError, PermissionDeniedError
from conferences.forms_attendance import (
    ConclusionsForm,
    CorrectForm,
    MinutesUploadForm,
    PresenceForm,
    RollCallAnswerForm,
    parse_attendance_table,
)
from conferences.models import (
    AttendanceEntry,
    AttendanceSource,
    AttendanceStatus,
    Conference,
    DocumentKind,
    Status,
)
from conferences.services import attendance as attendance_services
from conferences.services import attendance_table
from conferences.services import invitations as invitation_services
from conferences.services import minutes as minutes_services
from conferences.services import rollcall as rollcall_services


def organiser_conference(request: HttpRequest, code) -> Conference:
    conference = selectors.conference_for_user(user=request.user, code=code)
    if not permissions.is_organiser(request.user, conference):
        raise PermissionDenied(_("Chỉ cán bộ tổ chức hội nghị được xem trang này."))
    return conference


def minutes_conference(request: HttpRequest, code) -> Conference:
    """The minutes tab and its DOCX: ``permissions.can_view_minutes`` (also the history page's rule)."""
    conference = selectors.conference_for_user(user=request.user, code=code)
    if not permissions.can_view_minutes(request.user, conference):
        raise PermissionDenied(_("Chỉ cán bộ tổ chức hội nghị được xem biên bản."))
    return conference


def _context(request: HttpRequest, conference: Conference, tab: str, **extra) -> dict[str, object]:
    return {
        "conference": conference,
        "tab": tab,
        "can_manage": permissions.can_manage(request.user, conference),
        "can_chair": permissions.can_chair(request.user, conference),
        **extra,
    }


def _fail(form, exc: DomainError) -> None:
    if isinstance(exc, PermissionDeniedError):
        raise PermissionDenied(exc.message)
    form.add_error(None, exc.message)


@login_required
@require_GET
def conference_sites(request: HttpRequest, code) -> HttpResponse:
    conference = organiser_conference(request, code)
    rows = attendance_services.attendance_rows(conference)
    operators = invitation_services.site_operators([r.invitation.site for r in rows])
    board = [(r, operators.get(r.invitation.site_id, [])) for r in rows]
    counts = {
        "invited": len(rows),
        "confirmed": sum(1 for r in rows if r.invitation.confirmed_at),
        "ready": sum(1 for r in rows if r.invitation.ready_at),
    }
    counts["not_ready"] = counts["invited"] - counts["ready"]
    return render(
        request,
        "conferences/sites.html",
        _context(request, conference, "sites", board=board, counts=counts),
    )


ACTIONS = {
    "correct": CorrectForm,
    "answer": RollCallAnswerForm,
    "presence": PresenceForm,
}


@login_required
@require_http_methods(["GET", "POST"])
def conference_attendance(request: HttpRequest, code) -> HttpResponse:
    conference = organiser_conference(request, code)
    forms = {name: cls(conference=conference, prefix=name) for name, cls in ACTIONS.items()}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "rollcall_start":
                rollcall_services.rollcall_start(actor=request.user, conference=conference)
                messages.success(request, _("Đã bắt đầu điểm danh."))
                return redirect("conference_attendance", code=conference.code)
            if action == "rollcall_end":
                open_call = rollcall_services.open_roll_call(conference)
                if open_call is None:
                    raise DomainError("roll_call_closed", _("Không có lượt điểm danh đang mở."))
                rollcall_services.rollcall_end(actor=request.user, roll_call=open_call)
                messages.success(request, _("Đã kết thúc điểm danh."))
                return redirect("conference_attendance", code=conference.code)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("conference_attendance", code=conference.code)
        if action == "table":
            response = _save_table(request, conference)
            if response is not None:
                return response
            return redirect(f"{request.path}#table")
        if action not in ACTIONS:
            return HttpResponse(_("Thao tác không hợp lệ."), status=400)
        form = ACTIONS[action](request.POST, conference=conference, prefix=action)
        forms[action] = form
        if form.is_valid() and _apply(request, conference, action, form):
            messages.success(request, _("Đã ghi nhận."))
            return redirect("conference_attendance", code=conference.code)
        status = 400
    correcting = None
    if request.method == "GET" and request.GET.get("correct", "").isdigit():
        correcting = (
            AttendanceEntry.objects.filter(
                pk=int(request.GET["correct"]), invitation__conference=conference
            )
            .select_related("invitation__site")
            .first()
        )
        if correcting is not None:
            forms["correct"] = CorrectForm(
                conference=conference, prefix="correct", initial={"entry": correcting.pk}
            )
    elif request.method == "POST" and request.POST.get("action") == "correct":
        correcting = (
            forms["correct"].cleaned_data.get("entry")
            if hasattr(forms["correct"], "cleaned_data")
            else None
        )
    return _attendance_page(request, conference, forms=forms, correcting=correcting, status=status)


def _attendance_page(
    request: HttpRequest,
    conference: Conference,
    *,
    forms: dict | None = None,
    correcting=None,
    status: int = 200,
    typed: dict | None = None,
    row_errors: dict | None = None,
) -> HttpResponse:
    if forms is None:
        forms = {name: cls(conference=conference, prefix=name) for name, cls in ACTIONS.items()}
    rows = attendance_services.attendance_rows(conference)
    typed, row_errors = typed or {}, row_errors or {}
    for row in rows:
        inv = row.invitation
        shown = typed.get(inv.pk)
        row.form = {
            "status": shown["status"] if shown else inv.status,
            "headcount": shown["headcount"]
            if shown
            else ("" if inv.headcount is None else str(inv.headcount)),
            "reason": shown["reason"] if shown else inv.absence_reason,
        }
        row.error = row_errors.get(inv.pk, "")
        row.warn = inv.status == AttendanceStatus.PRESENT and inv.headcount is None
        row.choices = [
            (value, label)
            for value, label in AttendanceStatus.choices
            if value in attendance_table.TABLE_STATUSES or value == inv.status
        ]
    started = attendance_services.has_started(conference)
    open_call = rollcall_services.open_roll_call(conference)
    answered = (
        set(open_call.answers.values_list("invitation_id", flat=True)) if open_call else set()
    )
    context = _context(
        request,
        conference,
        "attendance",
        rows=rows,
        forms=forms,
        counts=attendance_services.attendance_counts(conference),
        open_call=open_call,
        answered=answered,
        correcting=correcting,
        roll_calls=conference.roll_calls.prefetch_related("answers__invitation__site").order_by(
            "-started_at"
        ),
        can_roll_call=conference.status in {Status.SCHEDULED, Status.LIVE},
        started=started,
        can_edit_table=conference.status in attendance_services.OPEN_STATUSES,
        row_errors=row_errors,
    )
    return render(request, "conferences/attendance.html", context, status=status)


def _save_table(request: HttpRequest, conference: Conference) -> HttpResponse | None:
    """Save the attendance table in one go; on any bad row, the page again with every value as
    typed and the bad rows marked (status 400, nothing saved). ``None`` after saving."""
    invitations = list(conference.invitations.select_related("site"))
    rows, errors, typed = parse_attendance_table(request.POST, invitations)
    try:
        # every bad row at once: those that did not parse and those the rules refuse
        errors |= attendance_table.attendance_rows_check(
            actor=request.user, conference=conference, rows=rows
        )
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return _attendance_page(request, conference, status=400, typed=typed)
    if not errors:
        try:
            result = attendance_table.attendance_record_rows(
                actor=request.user, conference=conference, rows=rows
            )
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except attendance_table.AttendanceRowsError as exc:
            errors = exc.rows
        except DomainError as exc:
            messages.error(request, exc.message)
            return _attendance_page(request, conference, status=400, typed=typed)
        else:
            messages.success(
                request,
                _("Đã lưu điểm danh: %(n)d điểm cầu được ghi, %(same)d không đổi.")
                % {"n": result.recorded, "same": result.unchanged},
            )
            if result.present_without_headcount:
                names = result.present_without_headcount
                messages.warning(
                    request,
                    _("%(n)d điểm cầu có mặt nhưng chưa ghi số người dự: %(names)s.")
                    % {"n": len(names), "names": ", ".join(names)},
                )
            return None
    messages.error(
        request,
        _("%(n)d dòng chưa đúng, chưa lưu dòng nào: hãy sửa các dòng được đánh dấu đỏ.")
        % {"n": len(errors)},
    )
    return _attendance_page(request, conference, status=400, typed=typed, row_errors=errors)


def _apply(request: HttpRequest, conference: Conference, action: str, form) -> bool:
    data = form.cleaned_data
    try:
        if action == "correct":
            attendance_services.attendance_correct(
                actor=request.user,
                entry=data["entry"],
                reason=data["reason"],
                status=data["status"] or None,
                headcount=attendance_services._KEEP
                if data["headcount"] is None
                else data["headcount"],
                leader_name=data["leader_name"] or None,
                leader_title=data["leader_title"] or None,
                absence_reason=data["absence_reason"] or None,
            )
        elif action == "answer":
            open_call = rollcall_services.open_roll_call(conference)
            if open_call is None:
                raise DomainError("roll_call_closed", _("Không có lượt điểm danh đang mở."))
            rollcall_services.rollcall_answer(
                actor=request.user,
                roll_call=open_call,
                invitation=form.invitation(),
                headcount=data["headcount"],
                source=AttendanceSource.CLERK,
                leader_name=data["leader_name"],
                leader_title=data["leader_title"],
            )
        elif action == "presence":
            attendance_services.presence_record(
                actor=request.user,
                invitation=form.invitation(),
                joined_at=data["joined_at"],
                left_at=data["left_at"],
            )
    except DomainError as exc:
        _fail(form, exc)
        return False
    return True


@login_required
@require_GET
def conference_attendance_xlsx(request: HttpRequest, code) -> HttpResponse:
    conference = organiser_conference(request, code)
    response = HttpResponse(exports.attendance_xlsx(conference), content_type=exports.XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="diem-danh-{conference.code}.xlsx"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def conference_minutes(request: HttpRequest, code) -> HttpResponse:
    conference = minutes_conference(request, code)
    conclusions_form = ConclusionsForm(initial={"conclusions": conference.conclusions}, prefix="c")
    upload_form = MinutesUploadForm(prefix="u")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        form = (
            ConclusionsForm(request.POST, prefix="c")
            if action == "conclusions"
            else MinutesUploadForm(request.POST, request.FILES, prefix="u")
        )
        if action == "conclusions":
            conclusions_form = form
        else:
            upload_form = form
        if form.is_valid():
            try:
                if action == "conclusions":
                    minutes_services.minutes_set_conclusions(
                        actor=request.user,
                        conference=conference,
                        conclusions=form.cleaned_data["conclusions"],
                    )
                    messages.success(request, _("Đã lưu kết luận."))
                else:
                    minutes_services.minutes_attach(
                        actor=request.user, conference=conference, upload=form.cleaned_data["file"]
                    )
                    messages.success(request, _("Đã tải lên tệp đính kèm biên bản."))
                return redirect("conference_minutes", code=conference.code)
            except DomainError as exc:
                _fail(form, exc)
        status = 400
    attachments = conference.documents.filter(kind=DocumentKind.MINUTES).order_by("uploaded_at")
    context = _context(
        request,
        conference,
        "minutes",
        conclusions_form=conclusions_form,
        upload_form=upload_form,
        attachments=attachments,
    )
    return render(request, "conferences/minutes.html", context, status=status)


@login_required
@require_GET
def conference_minutes_docx(request: HttpRequest, code) -> HttpResponse:
    conference = minutes_conference(request, code)
    response = HttpResponse(
        minutes_services.minutes_docx(conference), content_type=minutes_services.DOCX_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="bien-ban-{conference.code}.docx"'
    return response
