"""A conference's recording: its policy (record or not, paused) and its ordered segments.

The media worker writes the files (``media_worker/sfu/recording``) and reports each segment;
``recordings.services.segment_reported`` writes the rows. ``file`` is relative to ``MEDIA_ROOT``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from conferences.models import Conference, Level


class RecordingMode(models.TextChoices):
    DEFAULT = "default", _("Theo mặc định")
    ON = "on", _("Ghi hình")
    OFF = "off", _("Không ghi hình")


class Recording(models.Model):
    conference = models.OneToOneField(
        Conference, on_delete=models.CASCADE, related_name="recording"
    )
    # The clerk's choice for this conference; "default" follows the level's setting, and a
    # confidential conference is recorded only when it is "on".
    mode = models.CharField(
        _("ghi hình"), max_length=10, choices=RecordingMode.choices, default=RecordingMode.DEFAULT
    )
    paused = models.BooleanField(_("tạm dừng"), default=False)
    expired_at = models.DateTimeField(null=True, blank=True, help_text="files deleted (retention)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("bản ghi hình")
        verbose_name_plural = _("bản ghi hình")

    def __str__(self) -> str:
        return f"recording of {self.conference_id}"


class SegmentState(models.TextChoices):
    RECORDING = "recording", _("Đang ghi")
    COMPLETE = "complete", _("Hoàn tất")
    FAILED = "failed", _("Lỗi")
    DELETED = "deleted", _("Đã xóa")


class RecordingSegment(models.Model):
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="segments")
    index = models.PositiveIntegerField()
    file = models.CharField(max_length=300, help_text="path under MEDIA_ROOT")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    video_codec = models.CharField(max_length=10, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    keyframes_ms = models.JSONField(default=list, blank=True)
    state = models.CharField(
        max_length=10, choices=SegmentState.choices, default=SegmentState.RECORDING
    )
    reason = models.CharField(max_length=20, blank=True, help_text="why it ended")
    room_epoch = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["recording", "index"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "index"], name="recording_segment_index")
        ]

    def __str__(self) -> str:
        return f"{self.recording_id} #{self.index}"

    @property
    def content_type(self) -> str:
        return "video/x-matroska" if self.file.endswith(".mkv") else "video/webm"


class LevelPolicy(models.Model):
    """The province administrator's choice per level: is a conference of this level recorded by
    default (``recordings.services.level_records``)? A level without a row follows the
    ``RECORDING_LEVELS`` setting. Written by ``recordings.services.set_level_policy`` only."""

    level = models.CharField(_("cấp"), max_length=30, choices=Level.choices, unique=True)
    record = models.BooleanField(_("ghi hình mặc định"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("chính sách ghi hình theo cấp")
        verbose_name_plural = _("chính sách ghi hình theo cấp")

    def __str__(self) -> str:
        return f"{self.level}: {'on' if self.record else 'off'}"
