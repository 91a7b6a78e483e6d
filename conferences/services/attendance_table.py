"""The clerk's attendance table: status, headcount and reason for every invited site, saved in one
submit — all rows or none.

Contract: ``attendance_record_rows(actor=, conference=, rows=)`` checks every row first (the
same rules as ``attendance.attendance_record``: values, "not before the start" for attended
statuses) and raises :class:`AttendanceRowsError` naming each bad row without writing anything;
otherwise it records every row that changes something, through ``attendance_record`` (one entry,
one audit entry and one event per site), in one transaction. "Present" without a headcount is
saved and returned as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from conferences import permissions as perms
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AttendanceSource, AttendanceStatus, Conference, Invitation
from conferences.services import attendance

# What the clerk chooses in the table; other statuses (confirmed, ready, connected) come from the
# sites and the media plane and are kept when the row is left as it is.
TABLE_STATUSES = (
    AttendanceStatus.PRESENT,
    AttendanceStatus.ABSENT_EXCUSED,
    AttendanceStatus.ABSENT,
)


@dataclass(frozen=True)
class AttendanceRow:
    invitation_id: int
    status: str
    headcount: int | None = None
    absence_reason: str = ""


@dataclass
class RowsResult:
    recorded: int = 0
    unchanged: int = 0
    present_without_headcount: list[str] = field(default_factory=list)


class AttendanceRowsError(ConferenceError):
    """Some rows are bad; ``rows`` maps invitation id → the reason. Nothing was saved."""

    def __init__(self, rows: dict[int, str], names: dict[int, str]):
        super().__init__(
            "bad_rows",
            _("%(n)d dòng chưa đúng, chưa lưu dòng nào: hãy sửa các dòng được đánh dấu.")
            % {"n": len(rows)},
            details=[f"{names.get(pk, pk)}: {msg}" for pk, msg in rows.items()],
        )
        self.rows = rows


def _changes(invitation: Invitation, row: AttendanceRow) -> bool:
    if row.status != invitation.status:
        return True
    if row.headcount is not None and row.headcount != invitation.headcount:
        return True
    return (
        row.status in attendance.ABSENT and row.absence_reason.strip() != invitation.absence_reason
    )


def _row_error(conference: Conference, invitation: Invitation, row: AttendanceRow) -> str | None:
    if row.status != invitation.status and row.status not in TABLE_STATUSES:
        return _("Trạng thái này không ghi bằng tay được.")
    try:
        attendance._check_values(
            status=row.status, headcount=row.headcount, absence_reason=row.absence_reason
        )
        attendance.check_started(conference, row.status)
    except ConferenceError as exc:
        return exc.message
    return None


def _checked(actor, conference: Conference, rows: list[AttendanceRow]):
    if not perms.can_manage(actor, conference):
        raise PermissionDeniedError()
    if conference.status not in attendance.OPEN_STATUSES:
        raise ConferenceError(
            "conference_closed", _("Hội nghị chưa lên lịch hoặc đã hủy: không ghi nhận điểm danh.")
        )
    invitations = {
        inv.pk: inv
        for inv in conference.invitations.select_related("site").filter(
            pk__in=[r.invitation_id for r in rows]
        )
    }
    errors: dict[int, str] = {}
    changed: list[tuple[Invitation, AttendanceRow]] = []
    unchanged = 0
    for row in rows:
        invitation = invitations.get(row.invitation_id)
        if invitation is None:
            errors[row.invitation_id] = _("Điểm cầu không được mời dự hội nghị này.")
            continue
        if not _changes(invitation, row):
            unchanged += 1
            continue
        message = _row_error(conference, invitation, row)
        if message:
            errors[row.invitation_id] = message
        else:
            changed.append((invitation, row))
    return invitations, errors, changed, unchanged


def attendance_rows_check(
    *, actor, conference: Conference, rows: list[AttendanceRow]
) -> dict[int, str]:
    """The bad rows (invitation id → reason) without writing anything, so that a page can mark
    them together with rows it could not even read."""
    return _checked(actor, conference, rows)[1]


@transaction.atomic
def attendance_record_rows(
    *, actor, conference: Conference, rows: list[AttendanceRow]
) -> RowsResult:
    conference = Conference.objects.select_for_update(of=("self",)).get(pk=conference.pk)
    invitations, errors, changed, unchanged = _checked(actor, conference, rows)
    if errors:
        names = {pk: inv.site.name for pk, inv in invitations.items()}
        raise AttendanceRowsError(errors, names)
    result = RowsResult(unchanged=unchanged)
    for invitation, row in changed:
        attendance.attendance_record(
            actor=actor,
            invitation=invitation,
            status=row.status,
            headcount=row.headcount,
            absence_reason=row.absence_reason,
            source=AttendanceSource.CLERK,
        )
        result.recorded += 1
    result.present_without_headcount = present_without_headcount(
        conference, ids=[r.invitation_id for r in rows]
    )
    return result


def present_without_headcount(conference: Conference, ids: list[int] | None = None) -> list[str]:
    """Names of present sites with no headcount recorded (a warning, not an error)."""
    qs = conference.invitations.filter(status=AttendanceStatus.PRESENT, headcount__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return list(qs.order_by("unit__path", "site__key").values_list("site__name", flat=True))
