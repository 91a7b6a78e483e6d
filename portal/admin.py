from __future__ import annotations

from django.contrib import admin

from portal.models import Membership, Site, Unit


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0
    fields = ["key", "name", "location", "contact_phone", "is_active"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "parent", "valid_from", "valid_to", "distance_km"]
    list_filter = ["kind", "depth"]
    search_fields = ["code", "name", "name_en", "search_text"]
    raw_id_fields = ["parent", "successor"]
    readonly_fields = ["path", "depth"]
    inlines = [SiteInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "unit", "contact_phone", "is_active"]
    list_filter = ["is_active", "unit__kind"]
    search_fields = ["key", "name", "unit__name"]
    raw_id_fields = ["unit"]
    filter_horizontal = ["operators"]
    readonly_fields = ["code"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "unit", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "unit__name", "unit__code"]
    raw_id_fields = ["user", "unit"]
