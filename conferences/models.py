"""Conferences and everything recorded about them.

History must stay true: an invitation keeps the unit the site belonged to on the conference
date, attendance is append-only (``AttendanceEntry``; ``Invitation.status``/``headcount`` are the
latest entry, denormalised for reports), and every change made during a live conference leaves
an ``AuditEntry``.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conferences.folding import FoldWords
from portal.models import Site, Unit


class Level(models.TextChoices):
    FOUR_LEVEL = "four_level", _("4 cấp (Trung ương → tỉnh → huyện → xã)")
    PROVINCE_TO_DISTRICT = "province_to_district", _("Tỉnh → huyện")
    DISTRICT_TO_COMMUNE = "district_to_commune", _("Huyện → xã")
    INTERNAL = "internal", _("Nội bộ")
    OTHER = "other", _("Khác")


class Status(models.TextChoices):
    DRAFT = "draft", _("Nháp")
    SCHEDULED = "scheduled", _("Đã lên lịch")
    LIVE = "live", _("Đang diễn ra")
    ENDED = "ended", _("Đã kết thúc")
    CANCELLED = "cancelled", _("Đã hủy")


class Topic(models.Model):
    """A tag of conferences. Names are matched by ``key`` — the name folded to words
    (``conferences.folding``: "Chuyển đổi số", "chuyen doi so" and "CHUYỂN ĐỔI SỐ" are one
    topic); the database computes it, and it is unique. Created through
    ``conferences.services.topics``."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(_("chủ đề"), max_length=120)
    key = models.GeneratedField(
        expression=FoldWords("name"), output_field=models.CharField(max_length=120), db_persist=True
    )

    class Meta:
        verbose_name = _("chủ đề")
        verbose_name_plural = _("chủ đề")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["key"], name="topic_key_unique")]

    def __str__(self) -> str:
        return self.name


class Conference(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(_("tên hội nghị"), max_length=300)
    # The title's words, folded (conferences.folding): computed by the database, searched by the
    # history (a full-text GIN index on PostgreSQL, migration 0010).
    title_words = models.GeneratedField(
        expression=FoldWords("title"), output_field=models.TextField(), db_persist=True
    )
    description = models.TextField(_("nội dung"), blank=True)
    level = models.CharField(_("cấp hội nghị"), max_length=30, choices=Level.choices)
    host_unit = models.ForeignKey(
        Unit,
        verbose_name=_("đơn vị chủ trì"),
        on_delete=models.PROTECT,
        related_name="hosted_conferences",
    )
    chair_site = models.ForeignKey(
        Site,
        verbose_name=_("điểm cầu chủ trì"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="chaired_conferences",
    )
    chair_name = models.CharField(_("người chủ trì"), max_length=200, blank=True)
    planned_start = models.DateTimeField(_("bắt đầu dự kiến"))
    planned_end = models.DateTimeField(_("kết thúc dự kiến"))
    actual_start = models.DateTimeField(_("bắt đầu thực tế"), null=True, blank=True)
    actual_end = models.DateTimeField(_("kết thúc thực tế"), null=True, blank=True)
    topics = models.ManyToManyField(
        Topic, verbose_name=_("chủ đề"), blank=True, related_name="conferences"
    )
    confidential = models.BooleanField(_("mật"), default=False)
    status = models.CharField(
        _("trạng thái"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    conclusions = models.TextField(_("kết luận"), blank=True)
    sequence = models.PositiveIntegerField(
        default=0, help_text="iCalendar SEQUENCE, raised on every change sent out"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("hội nghị")
        verbose_name_plural = _("hội nghị")
        ordering = ["-planned_start"]
        indexes = [
            models.Index(fields=["planned_start"], name="conf_planned_start"),
            models.Index(fields=["status", "planned_start"], name="conf_status_start"),
            models.Index(fields=["level", "planned_start"], name="conf_level_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__gt=models.F("planned_start")), name="conf_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class AttendanceStatus(models.TextChoices):
    INVITED = "invited", _("Được mời")
    CONFIRMED = "confirmed", _("Đã xác nhận")
    READY = "ready", _("Sẵn sàng")
    CONNECTED = "connected", _("Đã kết nối")
    PRESENT = "present", _("Có mặt")
    ABSENT_EXCUSED = "absent_excused", _("Vắng có lý do")
    ABSENT = "absent", _("Vắng")


class Invitation(models.Model):
    """A site invited to a conference, with the unit it belonged to on the conference date."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="invitations")
    site = models.ForeignKey(
        Site, verbose_name=_("điểm cầu"), on_delete=models.PROTECT, related_name="invitations"
    )
    unit = models.ForeignKey(
        Unit, verbose_name=_("đơn vị"), on_delete=models.PROTECT, related_name="invitations"
    )
    status = models.CharField(
        _("trạng thái"),
        max_length=20,
        choices=AttendanceStatus.choices,
        default=AttendanceStatus.INVITED,
    )
    headcount = models.PositiveIntegerField(_("số người dự"), null=True, blank=True)
    leader_name = models.CharField(_("người chủ trì tại điểm cầu"), max_length=200, blank=True)
    leader_title = models.CharField(_("chức vụ"), max_length=200, blank=True)
    absence_reason = models.CharField(_("lý do vắng"), max_length=300, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(_("kiểm tra kỹ thuật lúc"), null=True, blank=True)
    ready_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_joined_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("điểm cầu được mời")
        verbose_name_plural = _("điểm cầu được mời")
        ordering = ["unit__path", "site__key"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "site"], name="invitation_unique")
        ]
        indexes = [
            models.Index(fields=["site", "conference"], name="invitation_site"),
            # History: "conferences that invited this subtree" as an index-only scan.
            models.Index(fields=["unit", "conference"], name="invitation_unit_conf"),
        ]

    def __str__(self) -> str:
        return f"{self.site} @ {self.conference}"


class AttendanceSource(models.TextChoices):
    CLERK = "clerk", _("Văn thư ghi")
    SITE = "site", _("Điểm cầu tự báo")
    ROLL_CALL = "roll_call", _("Điểm danh")
    MEDIA = "media", _("Tự động từ kết nối")
    CORRECTION = "correction", _("Đính chính")


class AttendanceEntry(models.Model):
    """Append-only attendance log: corrections are new entries with who and why."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="entries")
    status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    headcount = models.PositiveIntegerField(null=True, blank=True)
    leader_name = models.CharField(max_length=200, blank=True)
    leader_title = models.CharField(max_length=200, blank=True)
    absence_reason = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=20, choices=AttendanceSource.choices)
    note = models.CharField(_("lý do đính chính"), max_length=300, blank=True)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.invitation_id}: {self.status} ({self.source})"


class PresenceInterval(models.Model):
    """One connection of a site: joined and (once it ends) left; the live issue writes these."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="presence")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=20, choices=AttendanceSource.choices, default=AttendanceSource.MEDIA
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    room_epoch = models.PositiveBigIntegerField(
        null=True, blank=True
    )  # the media room's lease epoch that opened it

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=models.F("joined_at")),
                name="presence_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitation_id}: {self.joined_at:%H:%M}–{self.left_at or ''}"

    @property
    def duration_seconds(self) -> int | None:
        return (
            None if self.left_at is None else int((self.left_at - self.joined_at).total_seconds())
        )


class RollCall(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="roll_calls")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.conference_id} @ {self.started_at:%H:%M}"


class RollCallAnswer(models.Model):
    roll_call = models.ForeignKey(RollCall, on_delete=models.CASCADE, related_name="answers")
    invitation = models.ForeignKey(
        Invitation, on_delete=models.CASCADE, related_name="roll_call_answers"
    )
    headcount = models.PositiveIntegerField()
    source = models.CharField(max_length=20, choices=AttendanceSource.choices)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["roll_call", "invitation"], name="roll_call_answer_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.invitation_id}: {self.headcount}"


class AgendaItem(models.Model):
    conference = models.ForeignKey(
        Conference, on_delete=models.CASCADE, related_name="agenda_items"
    )
    position = models.PositiveIntegerField()
    title = models.CharField(_("nội dung"), max_length=300)
    presenter_unit = models.ForeignKey(
        Unit,
        verbose_name=_("đơn vị trình bày"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    presenter_site = models.ForeignKey(
        Site,
        verbose_name=_("điểm cầu trình bày"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    presenter_name = models.CharField(_("người trình bày"), max_length=200, blank=True)
    planned_minutes = models.PositiveIntegerField(_("thời lượng (phút)"), default=10)
    notes = models.TextField(_("ghi chú"), blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class DocumentKind(models.TextChoices):
    MATERIAL = "material", _("Tài liệu")
    MINUTES = "minutes", _("Đính kèm biên bản")


def document_path(instance: Document, filename: str) -> str:
    return f"conferences/{instance.conference.code}/{uuid.uuid4().hex}{_suffix(filename)}"


def _suffix(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower()[:10] if dot >= 0 else ""


class Document(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="documents")
    agenda_item = models.ForeignKey(
        AgendaItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    kind = models.CharField(
        max_length=20, choices=DocumentKind.choices, default=DocumentKind.MATERIAL
    )
    file = models.FileField(upload_to=document_path, max_length=300)
    original_name = models.CharField(_("tên tệp"), max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class AuditEntry(models.Model):
    """Who (a user, or the system when ``actor`` is empty) did what to a conference, and when;
    written by ``conferences.audit.audit_log`` only, before the event is broadcast."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The site the action is about (floor, mute, presence, attendance…), or none.
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=60)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}"


class ChatTo(models.TextChoices):
    ALL = "all", _("tất cả")
    CHAIR = "chair", _("chủ trì")


class ChatMessage(models.Model):
    """A message of the conference chat (``conferences.live.chat``): from a site, to every
    participant or to the chair only. Stored as typed (plain text, never HTML); the site's and
    author's names are kept as they were when it was written, like the rest of the history."""

    conference = models.ForeignKey(
        Conference, on_delete=models.CASCADE, related_name="chat_messages"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    site_name = models.CharField(max_length=200)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=200)
    to = models.CharField(max_length=10, choices=ChatTo.choices, default=ChatTo.ALL)
    text = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conference", "id"], name="chat_conf_id")]

    def __str__(self) -> str:
        return f"chat {self.pk} of {self.conference_id}"


def _token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A site's private iCalendar feed URL (an unguessable token; rotate to revoke)."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"feed of {self.site}"


class PersonalJoinLink(models.Model):
    """A personal join link (``conferences.joinlinks``): lets ``user`` join the conference as
    ``site`` from a phone or tablet without signing in, until it expires or is revoked. Stored so
    that the clerk can copy, resend and revoke it; the token is unguessable and unique."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="join_links")
    site = models.ForeignKey(
        Site, verbose_name=_("điểm cầu"), on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("người dùng liên kết"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    token = models.CharField(max_length=64, unique=True, default=_token)
    expires_at = models.DateTimeField(_("hết hạn lúc"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(_("gửi lần cuối"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("thu hồi lúc"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("liên kết tham dự")
        verbose_name_plural = _("liên kết tham dự")
        ordering = ["conference", "site", "-created_at", "-id"]
        indexes = [models.Index(fields=["conference", "site"], name="joinlink_conf_site")]

    def __str__(self) -> str:
        return f"join link of {self.user_id} as {self.site_id} @ {self.conference_id}"


class ConferenceObserver(models.Model):
    """A person the managing clerk invited to watch the live conference (docs/protocol.md §1):
    main, content and audio, without a site, without controls, never counted as a site."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="observers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("người theo dõi"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("người theo dõi")
        verbose_name_plural = _("người theo dõi")
        ordering = ["conference", "added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "user"], name="observer_unique")
        ]

    def __str__(self) -> str:
        return f"observer {self.user_id} of {self.conference_id}"


class LiveState(models.Model):
    """Live control state of a conference (docs/protocol.md): who has the floor, who is broadcast,
    who is muted, the hand queue, the current agenda item and what each site publishes.

    Site references are site ``code`` strings (the participant ids in the media room), so a media
    worker that takes a room over can restore the room's state from this row alone.
    """

    conference = models.OneToOneField(
        Conference, on_delete=models.CASCADE, related_name="live_state"
    )
    floor = models.CharField(max_length=36, blank=True)
    broadcast = models.CharField(max_length=36, blank=True)
    muted = models.JSONField(default=list, blank=True)
    hands = models.JSONField(default=list, blank=True)
    media = models.JSONField(default=dict, blank=True, help_text="site code → {video, audio}")
    # Watch-only observers whose media is connected (conferences.live.media_sink): participant id
    # → the room epoch it connected under, so a room taken over drops the previous room's ones.
    watching = models.JSONField(default=dict, blank=True)
    current_item = models.ForeignKey(
        AgendaItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Presenting (conferences.live.presenting): the site the chair granted the presenter role
    # (one at a time), whether the site holding the floor may present too, and what is shown
    # now — null, or {"kind": "screen"|"document", "site", "document", "page", "pages",
    # "item", "started_at"}.
    presenter = models.CharField(max_length=36, blank=True)
    floor_may_present = models.BooleanField(default=False)
    content = models.JSONField(null=True, blank=True, default=None)
    version = models.PositiveBigIntegerField(
        default=0, help_text="raised with every event; rooms and pages ignore older ones"
    )
    # Generation of the media room's lease: a host reports with the epoch it was given and the
    # media sink drops reports of an older one (a worker frozen past its lease writes nothing).
    room_epoch = models.PositiveBigIntegerField(default=0)
    # The chair can turn the conference chat off (``conferences.live.chat.chat_set``).
    chat_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"live state of {self.conference_id}"


class HistorySummary(models.Model):
    """Attendance of ended conferences rolled up per month × level × host unit × invited unit
    (× absence reason), so history dashboards read thousands of rows instead of millions of
    invitations. Derived data, one row per key: ``conferences.services.history`` recomputes the
    months that services marked dirty (``HistoryDirtyMonth``), and everything on demand."""

    month = models.DateField()  # first day of the month of planned_start, in the portal's time zone
    level = models.CharField(max_length=30)
    host_unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    absence_reason = models.CharField(max_length=300, blank=True)  # of absent rows only
    invited = models.PositiveIntegerField(default=0)
    attended = models.PositiveIntegerField(default=0)
    excused = models.PositiveIntegerField(default=0)
    absent = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)
    late_minutes = models.PositiveIntegerField(
        default=0
    )  # HISTORY_LATE_MINUTES the row was counted with
    headcount = models.PositiveBigIntegerField(default=0)  # recorded headcount of attended sites
    attended_without_headcount = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # The row's dimensions: a month can never be counted twice.
            models.UniqueConstraint(
                fields=["month", "level", "host_unit", "unit", "absence_reason"],
                name="history_summary_key",
            ),
        ]
        indexes = [models.Index(fields=["late_minutes"], name="history_summary_late")]

    def __str__(self) -> str:
        return f"{self.month:%m/%Y} {self.level} {self.unit_id}"


class HistoryYearSummary(models.Model):
    """``HistorySummary`` rolled up per year (its twelve months summed, key for key): a dashboard
    over whole years reads these rows and only the months at the edges of its period from
    ``HistorySummary``. Derived data, rewritten from the monthly rows in the same transaction
    that rewrites a month of the year (``conferences.services.history``)."""

    year = models.DateField()  # 1 January of the year of the months summed
    level = models.CharField(max_length=30)
    host_unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    absence_reason = models.CharField(max_length=300, blank=True)
    invited = models.PositiveIntegerField(default=0)
    attended = models.PositiveIntegerField(default=0)
    excused = models.PositiveIntegerField(default=0)
    absent = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)
    # The smallest HISTORY_LATE_MINUTES among the months summed. Readers check the monthly rows'
    # thresholds (``reports.summary.summary_applies``): a year mixing two thresholds has a month
    # counted with one that is not the current setting, so it is never read.
    late_minutes = models.PositiveIntegerField(default=0)
    headcount = models.PositiveBigIntegerField(default=0)
    attended_without_headcount = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["year", "level", "host_unit", "unit", "absence_reason"],
                name="history_year_summary_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year:%Y} {self.level} {self.unit_id}"


class HistoryConferenceSummary(models.Model):
    """Ended conferences counted per month × level × host unit (× topic: rows with a topic count
    that topic's conferences, the row without one counts them all), for dashboards over years.
    Derived data maintained with ``HistorySummary`` by ``conferences.services.history``."""

    month = models.DateField()
    level = models.CharField(max_length=30)
    host_unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    conferences = models.PositiveIntegerField(default=0)
    duration = models.DurationField(null=True, blank=True)  # sum of (actual or planned) durations
    first_start = models.DateTimeField(null=True, blank=True)
    last_start = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One key per row; NULL topics are not distinct from each other here (two partial
            # constraints, since SQLite has no NULLS NOT DISTINCT).
            models.UniqueConstraint(
                fields=["month", "level", "host_unit"],
                condition=Q(topic__isnull=True),
                name="history_conf_summary_key",
            ),
            models.UniqueConstraint(
                fields=["month", "level", "host_unit", "topic"],
                condition=Q(topic__isnull=False),
                name="history_conf_summary_topic_key",
            ),
        ]
        indexes = [models.Index(fields=["month", "level"], name="history_conf_summary_month")]

    def __str__(self) -> str:
        return f"{self.month:%m/%Y} {self.level} {self.host_unit_id} {self.topic_id or ''}"


class HistoryDirtyMonth(models.Model):
    """A month whose history summaries must be recomputed: written after the commit of any
    change to an ended conference of that month (``INSERT … ON CONFLICT DO NOTHING``), consumed
    by ``conferences.services.history.history_refresh_dirty``. While a month is here the
    dashboard reads it from the invitations instead of the summaries."""

    month = models.DateField(unique=True)
    marked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["month"]

    def __str__(self) -> str:
        return f"{self.month:%m/%Y}"
