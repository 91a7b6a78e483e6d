"""The one audit writer: who (a user, or the system), did what (a namespaced action code), to
which site, with which data — for every service of a conference.

Contract: ``audit_log(conference=, action=, actor=, site=, data=)`` writes one ``AuditEntry`` in
the caller's transaction (so an entry exists exactly when the change it records does). ``actor``
is a signed-in user or ``None`` for the system (the media plane, a timeout, a worker); ``site``
is the site the action is about, or ``None``. The action must be one of ``ACTIONS`` — the
timelines (``conferences.timeline``) render every entry from this table, so an action that is
written is always an action that can be shown. [pretix ``LoggingMixin.log_action``]
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from conferences.models import AuditEntry, Conference
from portal.models import Site

# action code → timeline label. Namespaces: conference., agenda., document., invitation.,
# attendance., presence., rollcall., minutes., live. (the chair's controls).
ACTIONS: dict[str, Any] = {
    "conference.created": _("Tạo hội nghị"),
    "conference.updated": _("Sửa thông tin hội nghị"),
    "conference.transition": _("Chuyển trạng thái"),
    "agenda.item_added": _("Thêm mục chương trình"),
    "agenda.item_updated": _("Sửa mục chương trình"),
    "agenda.item_deleted": _("Xóa mục chương trình"),
    "agenda.reordered": _("Sắp xếp lại chương trình"),
    "document.uploaded": _("Tải lên tài liệu"),
    "document.deleted": _("Xóa tài liệu"),
    "join_link.issued": _("Cấp liên kết tham dự"),
    "join_link.revoked": _("Thu hồi liên kết tham dự"),
    "join_link.sent": _("Gửi liên kết tham dự"),
    "observer.added": _("Mời người theo dõi"),
    "observer.removed": _("Bỏ người theo dõi"),
    "invitation.confirm": _("Điểm cầu xác nhận tham dự"),
    "invitation.ready": _("Điểm cầu sẵn sàng kỹ thuật"),
    "attendance.record": _("Ghi nhận điểm danh"),
    "attendance.correct": _("Đính chính điểm danh"),
    "presence.join": _("Điểm cầu kết nối"),
    "presence.leave": _("Điểm cầu rời phòng họp"),
    "rollcall.start": _("Bắt đầu điểm danh"),
    "rollcall.answer": _("Điểm cầu trả lời điểm danh"),
    "rollcall.end": _("Kết thúc điểm danh"),
    "minutes.conclusions": _("Ghi kết luận"),
    "live.start": _("Bắt đầu hội nghị"),
    "live.end": _("Kết thúc hội nghị"),
    "live.agenda.goto": _("Chuyển nội dung"),
    "live.floor.give": _("Trao quyền phát biểu"),
    "live.floor.clear": _("Thu hồi quyền phát biểu"),
    "live.broadcast.set": _("Phát hình điểm cầu"),
    "live.broadcast.clear": _("Dừng phát hình điểm cầu"),
    "live.mute.set": _("Tắt tiếng điểm cầu"),
    "live.mute.clear": _("Bật tiếng điểm cầu"),
    "live.mute.all": _("Tắt tiếng tất cả"),
    "live.unmute.all": _("Bật tiếng tất cả"),
    "live.hand.raise": _("Giơ tay xin phát biểu"),
    "live.hand.lower": _("Hạ tay"),
    "live.absent.call": _("Gọi điểm cầu vắng"),
    "live.presenter.grant": _("Giao quyền trình chiếu"),
    "live.presenter.revoke": _("Thu hồi quyền trình chiếu"),
    "live.presenter.floor": _("Đổi quyền trình chiếu của điểm cầu phát biểu"),
    "live.content.start": _("Bắt đầu trình chiếu"),
    "live.content.page": _("Chuyển trang tài liệu trình chiếu"),
    "live.content.stop": _("Dừng trình chiếu"),
    "live.chat.message": _("Tin nhắn"),
    "live.chat.to_chair": _("Tin nhắn gửi chủ trì"),
    "live.chat.off": _("Tắt tin nhắn"),
    "live.chat.on": _("Bật tin nhắn"),
    "live.recording.pause": _("Tạm dừng ghi hình"),
    "live.recording.resume": _("Tiếp tục ghi hình"),
    "recording.mode": _("Đổi chế độ ghi hình"),
    "recording.policy": _("Chính sách ghi hình theo cấp thay đổi"),
    "recording.download": _("Tải xuống bản ghi hình"),
    "recording.expired": _("Xóa bản ghi hình hết hạn lưu trữ"),
}

# Codes written before the namespaces were made uniform (migration 0007 renames stored rows).
RENAMED = {
    "presence_join": "presence.join",
    "presence_leave": "presence.leave",
    "roll_call_started": "rollcall.start",
    "roll_call_answer": "rollcall.answer",
    "roll_call_ended": "rollcall.end",
    "attendance_recorded": "attendance.record",
    "attendance_corrected": "attendance.correct",
    "invitation_confirmed": "invitation.confirm",
    "site_ready": "invitation.ready",
    "minutes_conclusions": "minutes.conclusions",
}


def audit_log(
    *,
    conference: Conference,
    action: str,
    actor: Any = None,
    site: Site | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one entry in the caller's transaction; ``actor=None`` means the system."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to conferences.audit.ACTIONS")
    payload = dict(data or {})
    if site is not None:
        # Keep the key in the data as well: exports and old readers look for it there.
        payload.setdefault("site", site.key)
    return AuditEntry.objects.create(
        conference=conference,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        site=site,
        action=action,
        data=payload,
    )
