"""Money a conference saved by meeting online instead of travelling to the host: the method.

For every invited site that actually attended (present/connected), except at zero distance:

- distance d (km, one way) = |distance of the site's unit to the provincial centre − distance of
  the host unit to the provincial centre|. Both come from ``Unit.distance_km`` (the unit *of the
  time*, ``Invitation.unit``). Units on the same road axis get their true distance; for others it
  is a lower bound (triangle inequality), so savings are never overstated.
- travel = 2 × d × SAVINGS_COST_PER_KM (one vehicle per site, round trip);
- per diem = attendees × SAVINGS_PER_DIEM when d ≥ SAVINGS_PER_DIEM_MIN_KM, where attendees is
  the recorded headcount, or SAVINGS_DEFAULT_ATTENDEES when none was recorded;
- saving = travel + per diem, rounded to whole đồng.

The settings live in ``portal/settings.py`` (environment variables of the same names). The same
formula exists twice on purpose: ``invitation_saving`` (Python, for one conference's table and
the explanation page) and ``saving_expression`` (SQL, to aggregate years of rows in one query);
a test proves they agree on a hand-computed example.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Case, FloatField, IntegerField, QuerySet, Sum, Value, When
from django.db.models.functions import Abs, Cast, Coalesce
from django.db.models.lookups import GreaterThanOrEqual

from conferences.models import Conference, Invitation

ATTENDED = ("present", "connected")


@dataclass(frozen=True)
class SavingsMethod:
    cost_per_km: int
    per_diem: int
    per_diem_min_km: int
    default_attendees: int

    @classmethod
    def from_settings(cls) -> SavingsMethod:
        return cls(
            cost_per_km=settings.SAVINGS_COST_PER_KM,
            per_diem=settings.SAVINGS_PER_DIEM,
            per_diem_min_km=settings.SAVINGS_PER_DIEM_MIN_KM,
            default_attendees=settings.SAVINGS_DEFAULT_ATTENDEES,
        )


@dataclass(frozen=True)
class SiteSaving:
    invitation: Invitation
    distance_km: Decimal
    attendees: int
    headcount_recorded: bool
    travel: int
    per_diem: int

    @property
    def total(self) -> int:
        return self.travel + self.per_diem


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def invitation_saving(
    method: SavingsMethod, invitation: Invitation, host_distance_km
) -> SiteSaving:
    distance = abs(Decimal(invitation.unit.distance_km) - Decimal(host_distance_km))
    recorded = invitation.headcount is not None
    attendees = invitation.headcount if recorded else method.default_attendees
    travel = _round(2 * distance * method.cost_per_km)
    per_diem = attendees * method.per_diem if distance >= method.per_diem_min_km else 0
    return SiteSaving(invitation, distance, attendees, recorded, travel, per_diem)


def conference_savings(
    conference: Conference,
    invitations: QuerySet[Invitation] | None = None,
    method: SavingsMethod | None = None,
) -> list[SiteSaving]:
    """Per-site savings of one conference (attended sites only), largest first."""
    method = method or SavingsMethod.from_settings()
    if invitations is None:
        invitations = conference.invitations.all()
    rows = invitations.filter(status__in=ATTENDED).select_related("unit", "site")
    host = conference.host_unit.distance_km
    out = [invitation_saving(method, inv, host) for inv in rows]
    out.sort(key=lambda s: (-s.total, s.invitation.unit.path))
    return out


def distance_expression():
    """One-way distance (km) between an invitation's unit and its conference's host unit."""
    return Abs(
        Cast("unit__distance_km", FloatField())
        - Cast("conference__host_unit__distance_km", FloatField())
    )


def attendees_expression(method: SavingsMethod):
    return Coalesce("headcount", Value(method.default_attendees), output_field=IntegerField())


def saving_expression(method: SavingsMethod):
    """SQL expression of one invitation's saving (apply to attended invitations only)."""
    distance = distance_expression()
    attendees = attendees_expression(method)
    travel = distance * Value(2.0 * method.cost_per_km)
    per_diem = Case(
        When(
            GreaterThanOrEqual(distance_expression(), Value(float(method.per_diem_min_km))),
            then=Cast(attendees, FloatField()) * Value(float(method.per_diem)),
        ),
        default=Value(0.0),
        output_field=FloatField(),
    )
    return travel + per_diem


def savings_total(
    invitations: QuerySet[Invitation], method: SavingsMethod | None = None
) -> dict[str, int]:
    method = method or SavingsMethod.from_settings()
    attended = invitations.filter(status__in=ATTENDED)
    row = attended.aggregate(
        total=Sum(saving_expression(method), output_field=FloatField()),
        km=Sum(distance_expression() * Value(2.0), output_field=FloatField()),
        attendees=Sum(
            Coalesce("headcount", Value(method.default_attendees), output_field=IntegerField())
        ),
    )
    return {
        "total": round(row["total"] or 0),
        "km": round(row["km"] or 0),
        "attendees": row["attendees"] or 0,
    }


def savings_by_conference(
    invitations: QuerySet[Invitation],
    conference_ids: list[int],
    method: SavingsMethod | None = None,
) -> dict[int, int]:
    """Saving per conference id for the given conferences (one grouped query)."""
    method = method or SavingsMethod.from_settings()
    rows = (
        invitations.filter(status__in=ATTENDED, conference_id__in=conference_ids)
        .values("conference_id")
        .annotate(total=Sum(saving_expression(method), output_field=FloatField()))
    )
    return {row["conference_id"]: round(row["total"] or 0) for row in rows}
