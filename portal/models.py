"""The organisation: a dated tree of units, their conference sites, and roles scoped to subtrees.

The tree is an adjacency list (``parent``) plus a materialised path of unit codes
(``/15/15-UBND/140/04546/``) kept by ``portal.services``. A subtree is one indexed prefix query
(``path LIKE '/15/15-UBND/140/%'``) on PostgreSQL and SQLite alike, which is all the reporting
and permission code needs; ordering by path gives a depth-first listing for free.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UnitKind(models.TextChoices):
    PROVINCE = "province", _("Tỉnh")
    PARTY_COMMITTEE = "party_committee", _("Tỉnh ủy")
    PEOPLES_COUNCIL = "peoples_council", _("Hội đồng nhân dân")
    PEOPLES_COMMITTEE = "peoples_committee", _("Ủy ban nhân dân")
    PARTY_BOARD = "party_board", _("Ban Đảng")
    AGENCY = "agency", _("Sở, ban, ngành")
    DISTRICT = "district", _("Cấp huyện")
    COMMUNE = "commune", _("Cấp xã")
    OTHER = "other", _("Khác")


class UnitQuerySet(models.QuerySet["Unit"]):
    def valid_on(self, day: dt.date) -> UnitQuerySet:
        """Units that existed on ``day`` (open-ended validity counts as valid)."""
        return self.filter(Q(valid_from__isnull=True) | Q(valid_from__lte=day)).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=day)
        )

    def subtree_of(self, unit: Unit) -> UnitQuerySet:
        return self.filter(path__startswith=unit.path)


class Unit(models.Model):
    code = models.CharField(_("mã"), max_length=40, unique=True)
    official_code = models.CharField(_("mã chính thức"), max_length=20, blank=True)
    kind = models.CharField(_("loại"), max_length=20, choices=UnitKind.choices)
    division_type = models.CharField(_("loại đơn vị hành chính"), max_length=20, blank=True)
    name = models.CharField(_("tên"), max_length=200)
    name_en = models.CharField(_("tên tiếng Anh"), max_length=200, blank=True)
    aliases = models.JSONField(_("tên khác"), default=list, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("đơn vị cấp trên"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    # Sized to the longest path portal.importer accepts (MAX_DEPTH levels of 40-character codes).
    path = models.CharField(max_length=600, editable=False, db_index=True)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    sort_order = models.PositiveIntegerField(default=0)
    valid_from = models.DateField(_("hiệu lực từ"), null=True, blank=True)
    valid_to = models.DateField(_("hiệu lực đến"), null=True, blank=True)
    successor = models.ForeignKey(
        "self",
        verbose_name=_("đơn vị kế thừa"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="predecessors",
    )
    distance_km = models.DecimalField(
        _("khoảng cách tới trung tâm tỉnh (km)"), max_digits=7, decimal_places=1, default=0
    )
    distance_is_estimate = models.BooleanField(default=False)
    search_text = models.TextField(editable=False, blank=True)

    objects = UnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("đơn vị")
        verbose_name_plural = _("đơn vị")
        ordering = ["path"]
        indexes = [
            models.Index(
                fields=["path"], name="unit_path_prefix", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["kind"], name="unit_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_to__gte=models.F("valid_from")),
                name="unit_validity_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or self.valid_to >= day
        )

    def is_in_subtree_of(self, other: Unit) -> bool:
        return self.path.startswith(other.path)

    def ancestor_codes(self) -> list[str]:
        return [code for code in self.path.strip("/").split("/") if code]


class Site(models.Model):
    """A conference site (điểm cầu): a meeting room of a unit, with its operators."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.CharField(_("mã điểm cầu"), max_length=60, unique=True)
    unit = models.ForeignKey(
        Unit, verbose_name=_("đơn vị"), on_delete=models.PROTECT, related_name="sites"
    )
    name = models.CharField(_("tên điểm cầu"), max_length=200)
    location = models.CharField(_("địa điểm"), max_length=300, blank=True)
    contact_phone = models.CharField(_("điện thoại liên hệ"), max_length=40, blank=True)
    operators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cán bộ kỹ thuật"),
        blank=True,
        related_name="operated_sites",
    )
    is_active = models.BooleanField(_("đang hoạt động"), default=True)

    class Meta:
        verbose_name = _("điểm cầu")
        verbose_name_plural = _("điểm cầu")
        ordering = ["unit__path", "key"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Quản trị")
    CLERK = "clerk", _("Văn thư")
    CHAIR = "chair", _("Chủ trì")
    LEADER = "leader", _("Lãnh đạo")
    OPERATOR = "operator", _("Cán bộ kỹ thuật")


class Membership(models.Model):
    """A role held on a unit; it applies to that unit and every unit below it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    unit = models.ForeignKey(
        Unit, verbose_name=_("đơn vị"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("vai trò"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("vai trò")
        verbose_name_plural = _("vai trò")
        constraints = [
            models.UniqueConstraint(fields=["user", "unit", "role"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} @ {self.unit.code}"
