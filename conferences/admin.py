from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from conferences import models
from conferences.errors import DomainError
from conferences.folding import fold_words
from conferences.live import lifecycle
from conferences.reports.expressions import month_of
from conferences.services.history import history_mark_dirty


def _ended_month(conference_id) -> list:
    """The stored month of an ended conference (before an admin edit moves or deletes it)."""
    start = (
        models.Conference.objects.filter(pk=conference_id, status=models.Status.ENDED)
        .values_list("planned_start", flat=True)
        .first()
    )
    return [month_of(start)] if start else []


class InvitationInline(admin.TabularInline):
    model = models.Invitation
    extra = 0
    raw_id_fields = ["site", "unit", "ready_by"]


class AgendaInline(admin.TabularInline):
    model = models.AgendaItem
    extra = 0
    raw_id_fields = ["presenter_unit", "presenter_site"]


@admin.register(models.Conference)
class ConferenceAdmin(admin.ModelAdmin):
    list_display = ["title", "level", "host_unit", "planned_start", "status", "confidential"]
    list_filter = ["status", "level", "confidential", "topics"]
    search_fields = ["title", "host_unit__name"]
    date_hierarchy = "planned_start"
    raw_id_fields = ["host_unit", "chair_site", "created_by"]
    # The status moves only through the services (conferences.live.lifecycle for live/ended):
    # editing it here would end a conference without closing presence or the media room.
    readonly_fields = [
        "code",
        "status",
        "actual_start",
        "actual_end",
        "sequence",
        "created_at",
        "updated_at",
    ]
    inlines = [AgendaInline, InvitationInline]
    actions = ["start_live", "end_live"]

    def _each(self, request, queryset, command, done: str) -> None:
        for conference in queryset:
            try:
                command(actor=request.user, conference=conference)
            except DomainError as exc:
                self.message_user(request, f"{conference}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{conference}: {done}", messages.SUCCESS)

    @admin.action(description=_("Bắt đầu hội nghị (trực tuyến)"))
    def start_live(self, request, queryset) -> None:
        self._each(request, queryset, lifecycle.conference_start, str(_("đã bắt đầu")))

    @admin.action(description=_("Kết thúc hội nghị"))
    def end_live(self, request, queryset) -> None:
        self._each(request, queryset, lifecycle.conference_end, str(_("đã kết thúc")))

    # The admin edits ended conferences outside the services: mark their months for the history
    # summaries like the services do (the month before and after the edit).
    def save_model(self, request, obj, form, change) -> None:
        before = _ended_month(obj.pk) if obj.pk else []
        super().save_model(request, obj, form, change)
        history_mark_dirty(conference=obj, months=before)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        history_mark_dirty(conference=form.instance)

    def delete_model(self, request, obj) -> None:
        history_mark_dirty(conference=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for conference in queryset:
            history_mark_dirty(conference=conference)
        super().delete_queryset(request, queryset)


class TopicForm(forms.ModelForm):
    class Meta:
        model = models.Topic
        fields = ["name", "slug"]

    def clean_name(self) -> str:
        """One topic per folded name (the database refuses a second one; say so here)."""
        name = " ".join(self.cleaned_data["name"].split())
        key = fold_words(name)
        if not key:
            raise forms.ValidationError(_("Tên chủ đề cần có chữ hoặc số."))
        clash = models.Topic.objects.filter(key=key).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(
                _("Trùng với chủ đề “%(name)s” (không phân biệt dấu, hoa thường).")
                % {"name": clash.name}
            )
        return name


@admin.register(models.Topic)
class TopicAdmin(admin.ModelAdmin):
    form = TopicForm
    list_display = ["name", "slug", "key"]
    readonly_fields = ["key"]
    search_fields = ["name", "key"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(models.AttendanceEntry)
class AttendanceEntryAdmin(admin.ModelAdmin):
    list_display = ["invitation", "status", "headcount", "source", "recorded_by", "recorded_at"]
    list_filter = ["status", "source"]
    raw_id_fields = ["invitation", "corrects", "recorded_by"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # append-only: corrections are new entries

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["site", "conference", "unit", "status", "headcount", "ready_at"]
    list_filter = ["status"]
    search_fields = ["site__name", "conference__title"]
    raw_id_fields = ["conference", "site", "unit", "ready_by"]

    def save_model(self, request, obj, form, change) -> None:
        before = (
            models.Invitation.objects.filter(pk=obj.pk)
            .values_list("conference_id", flat=True)
            .first()
            if obj.pk
            else None
        )
        super().save_model(request, obj, form, change)
        history_mark_dirty(conference=obj.conference, months=_ended_month(before) if before else [])

    def delete_model(self, request, obj) -> None:
        history_mark_dirty(conference=obj.conference)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for invitation in queryset.select_related("conference"):
            history_mark_dirty(conference=invitation.conference)
        super().delete_queryset(request, queryset)


@admin.register(models.AgendaItem)
class AgendaItemAdmin(admin.ModelAdmin):
    list_display = ["title", "conference", "position", "planned_minutes", "actual_start"]
    search_fields = ["title", "conference__title"]
    raw_id_fields = ["conference", "presenter_unit", "presenter_site"]


@admin.register(models.ConferenceObserver)
class ConferenceObserverAdmin(admin.ModelAdmin):
    """Read-only: clerks invite and remove observers on the conference's "Người theo dõi" tab
    (audited)."""

    list_display = ["conference", "user", "added_by", "added_at"]
    list_select_related = ["conference", "user", "added_by"]
    raw_id_fields = ["conference", "user", "added_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.PersonalJoinLink)
class PersonalJoinLinkAdmin(admin.ModelAdmin):
    """Read-only: clerks issue and revoke links on the conference's join-link tab (audited)."""

    list_display = ["conference", "site", "user", "expires_at", "revoked_at", "sent_at"]
    list_select_related = ["conference", "site", "user"]
    raw_id_fields = ["conference", "site", "user", "created_by", "revoked_by"]
    exclude = ["token"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Live state, the audit trail, the chat and what the roll call and the media plane wrote
    change only through their commands (conferences.live), never by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


for model in (
    models.LiveState,
    models.RollCall,
    models.RollCallAnswer,
    models.AuditEntry,
    models.ChatMessage,
):
    admin.site.register(model, ReadOnlyAdmin)
for model in (models.PresenceInterval, models.Document, models.CalendarFeed):
    admin.site.register(model)


@admin.register(models.HistorySummary)
class HistorySummaryAdmin(admin.ModelAdmin):
    """Derived data (``conferences.services.history``): readable, never edited by hand."""

    list_display = ["month", "level", "host_unit", "unit", "invited", "attended", "late"]
    list_filter = ["level"]
    list_select_related = ["host_unit", "unit"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.HistoryYearSummary)
class HistoryYearSummaryAdmin(HistorySummaryAdmin):
    list_display = ["year", "level", "host_unit", "unit", "invited", "attended", "late"]


@admin.register(models.HistoryConferenceSummary)
class HistoryConferenceSummaryAdmin(HistorySummaryAdmin):
    list_display = ["month", "level", "host_unit", "topic", "conferences"]
    list_select_related = ["host_unit", "topic"]


@admin.register(models.HistoryDirtyMonth)
class HistoryDirtyMonthAdmin(HistorySummaryAdmin):
    """Months waiting for the refresh (``manage.py history_summary --dirty`` or Celery beat)."""

    list_display = ["month", "marked_at"]
    list_filter = []
    list_select_related = []
