"""The chair site belongs to the host's subtree, or to a site the scheduling clerk holds a role
over (issue 11 item 1): enforced by the scheduling service, on create and on update."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conferences.errors import DomainError
from conferences.models import Conference, Level
from conferences.services import scheduling
from portal.models import Site

pytestmark = pytest.mark.django_db


def _start() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=3)


def _create(actor, org, *, host: str, chair: str, level=Level.DISTRICT_TO_COMMUNE, sites=()):
    return scheduling.conference_create(
        actor=actor,
        title="Giao ban huyện",
        level=level,
        host_unit=org[host],
        chair_site=Site.objects.get(key=chair),
        planned_start=_start(),
        planned_end=_start() + dt.timedelta(hours=2),
        sites=[Site.objects.get(key=k) for k in sites],
    )


def test_district_clerk_cannot_make_another_districts_site_the_chair_site(vanchan_clerk, org):
    with pytest.raises(DomainError) as err:
        _create(vanchan_clerk, org, host="140", chair="138", sites=["04630"])
    assert err.value.code == "outside_scope"
    assert Site.objects.get(key="138").name in " ".join(
        [err.value.message, *(err.value.details or [])]
    )
    assert not Conference.objects.exists()


def test_district_clerk_cannot_move_the_chair_site_to_another_district_later(vanchan_clerk, org):
    conf = _create(vanchan_clerk, org, host="140", chair="140", sites=["04630"])
    with pytest.raises(DomainError) as err:
        scheduling.conference_update(
            actor=vanchan_clerk, conference=conf, chair_site=Site.objects.get(key="138")
        )
    assert err.value.code == "outside_scope"
    conf.refresh_from_db()
    assert conf.chair_site.key == "140"
    assert not conf.invitations.filter(site__key="138").exists()  # and it was not invited


def test_the_districts_own_commune_may_chair_its_conference(vanchan_clerk, org):
    conf = _create(vanchan_clerk, org, host="140", chair="04630", sites=["04633"])
    assert conf.chair_site.key == "04630"


def test_a_province_clerk_may_delegate_the_chair_to_a_site_under_their_role(province_clerk, org):
    conf = _create(
        province_clerk,
        org,
        host="15-UBND",
        chair="140",
        level=Level.PROVINCE_TO_DISTRICT,
        sites=["138"],
    )
    assert conf.chair_site.key == "140"
