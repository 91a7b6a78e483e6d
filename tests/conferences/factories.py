"""Factories for conference tests. ``conference(...)`` builds a scheduled conference quickly;
``invite(conf, "140", "04630")`` invites sites by key (the unit code of the shipped tree)."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from conferences.models import Conference, Invitation, Level, Status
from portal.models import Site, Unit


class ConferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conference

    title = factory.Sequence(lambda n: f"Hội nghị giao ban số {n}")
    level = Level.PROVINCE_TO_DISTRICT
    host_unit = factory.LazyFunction(lambda: Unit.objects.get(code="15-UBND"))
    chair_site = factory.LazyFunction(lambda: Site.objects.get(key="15-UBND"))
    planned_start = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=2))
    planned_end = factory.LazyAttribute(lambda c: c.planned_start + dt.timedelta(hours=2))
    status = Status.SCHEDULED


def invite(conference: Conference, *site_keys: str) -> list[Invitation]:
    out = []
    for key in site_keys:
        site = Site.objects.select_related("unit").get(key=key)
        inv, _ = Invitation.objects.get_or_create(
            conference=conference, site=site, defaults={"unit": site.unit}
        )
        out.append(inv)
    return out
