"""Writes to the organisation: importing the tree (``portal.importer``), granting roles, sites.

Every service is keyword-only, runs in one transaction, and raises ``DomainError`` on bad input
without changing anything.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from portal.errors import DomainError
from portal.importer import ImportResult, org_tree_import
from portal.models import Membership, Role, Site, Unit

logger = logging.getLogger(__name__)

__all__ = ["ImportResult", "membership_grant", "org_tree_import", "site_update"]


@transaction.atomic
def membership_grant(*, user: AbstractBaseUser, unit: Unit, role: str) -> Membership:
    if role not in Role.values:
        raise DomainError("bad_role", _("Vai trò không hợp lệ: %(role)s") % {"role": role})
    membership, _created = Membership.objects.get_or_create(user=user, unit=unit, role=role)  # type: ignore[misc]  # any user model
    return membership


@transaction.atomic
def site_update(*, site: Site, name: str, location: str, contact_phone: str) -> Site:
    site.name, site.location, site.contact_phone = name, location, contact_phone
    site.full_clean()
    site.save(update_fields=["name", "location", "contact_phone"])
    return site
