"""History search: which ended conferences a user may see under a filter, and one page of them.

``history_conferences`` is the base of every history figure; ``history_invitations`` narrows the
attendance rows to the units inside the user's subtrees (a district leader sees the province's
conferences they were invited to, but only their own district's attendance).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet

from conferences.models import Conference, Invitation, Status
from conferences.permissions import ALL_ROLES, ORGANISERS, visible_conferences
from conferences.reports.expressions import ABSENT, ATTENDED  # noqa: F401 (re-exported)
from conferences.reports.filters import HistoryFilter
from conferences.reports.successors import subtree_q, unit_subtree_q
from conferences.reports.words import search_titles
from portal import permissions as org
from portal.models import Unit

MAX_PAGE_SIZE = 200
MIN_START = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
MAX_END = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def history_conferences(user, f: HistoryFilter) -> QuerySet[Conference]:
    qs = visible_conferences(user).filter(status=Status.ENDED)
    start, end = f.period_bounds()
    if start:
        qs = qs.filter(planned_start__gte=start)
    if end:
        qs = qs.filter(planned_start__lt=end)
    if f.level:
        qs = qs.filter(level=f.level)
    if f.topic:
        qs = qs.filter(
            Exists(
                Conference.topics.through.objects.filter(conference=OuterRef("pk"), topic=f.topic)
            )
        )
    if f.unit:
        if f.unit.depth == 0:
            # A root's subtree holds most invitations: probe each conference's own ones.
            invited = Exists(
                Invitation.objects.filter(
                    subtree_q("unit", f.unit, mapped=f.successors), conference=OuterRef("pk")
                )
            )
            qs = qs.filter(subtree_q("host_unit", f.unit, mapped=f.successors) | Q(invited))
        else:
            # Below the root: hosted in the subtree, or invited one of its units. Both tests are
            # uncorrelated IN lists under one OR, so PostgreSQL runs each once as a hashed SubPlan
            # and checks conferences in whatever order the query wants: a page (newest first)
            # stops after its rows, a count scans the conferences once. The invited ids are
            # DISTINCT so the hash is sized by conferences (tens of thousands at most), not by
            # invitations (a district: 611,000 over ten years), which keeps it hashed; without
            # DISTINCT, or as "id IN (hosted UNION ALL invited)" (estimated at 200 rows), the
            # planner rescanned a list per conference or probed 24,000 conferences one by one.
            units = Unit.objects.filter(unit_subtree_q(f.unit, mapped=f.successors))
            invited_ids = (
                Invitation.objects.filter(unit__in=units)
                .order_by()
                .values("conference_id")
                .distinct()
            )
            if start or end:
                # The ids of the period's conferences lie between its smallest and largest id: a
                # redundant bound that lets the (unit, conference) index read only that range
                # instead of the subtree's invitations of every year.
                ids = Conference.objects.filter(
                    planned_start__gte=start or MIN_START, planned_start__lt=end or MAX_END
                ).aggregate(lo=Min("id"), hi=Max("id"))
                invited_ids = invited_ids.filter(
                    conference_id__gte=ids["lo"] or 0, conference_id__lte=ids["hi"] or 0
                )
            qs = qs.filter(Q(host_unit__in=units) | Q(pk__in=invited_ids))
    if f.q:
        qs = search_titles(qs, f.q)  # words, any order, prefixes; annotated with search_rank
    return qs


def newest_or_best_first(qs: QuerySet[Conference], f: HistoryFilter) -> QuerySet[Conference]:
    """Order of every history list: best match first when searching by words, then newest."""
    if f.q:
        return qs.order_by("-search_rank", "-planned_start", "-id")
    return qs.order_by("-planned_start", "-id")


def history_invitations(
    user, f: HistoryFilter, conferences: QuerySet[Conference] | None = None
) -> QuerySet[Invitation]:
    if conferences is None:
        conferences = history_conferences(user, f)
    inv = Invitation.objects.filter(conference__in=conferences.values("pk"))
    if not org.is_superuser(user):
        inv = inv.filter(
            org.units_q(user, ALL_ROLES, prefix="unit__")
            | org.units_q(user, ORGANISERS, prefix="conference__host_unit__")
            | Q(site__in=org.sites_operated_by(user).values("pk"))
        )
    if f.unit:
        inv = inv.filter(subtree_q("unit", f.unit, mapped=f.successors))
    return inv


def history_page(
    user, f: HistoryFilter, *, page: int, page_size: int
) -> tuple[list[Conference], int]:
    """One page of matching conferences (newest first, or best match first for a word search)
    with their site counts, and the total.

    Counts are computed for the page's ids only, so the cost does not grow with the history.
    """
    qs = history_conferences(user, f)
    total = qs.count()
    rows = list(
        newest_or_best_first(qs.select_related("host_unit"), f)[
            (page - 1) * page_size : page * page_size
        ]
    )
    annotate_counts(rows, user, f)
    return rows, total


def annotate_counts(rows: list[Conference], user, f: HistoryFilter) -> None:
    ids = [c.pk for c in rows]
    counts = {
        row["conference"]: row
        for row in history_invitations(user, f, Conference.objects.filter(pk__in=ids))
        .values("conference")
        .annotate(invited=Count("id"), attended=Count("id", filter=Q(status__in=ATTENDED)))
    }
    topics: dict[int, list[str]] = {}
    for conf_id, name in Conference.topics.through.objects.filter(
        conference_id__in=ids
    ).values_list("conference_id", "topic__name"):
        topics.setdefault(conf_id, []).append(name)
    for conf in rows:
        c = counts.get(conf.pk, {})
        conf.sites_invited = c.get("invited", 0)
        conf.sites_attended = c.get("attended", 0)
        conf.topic_names = sorted(topics.get(conf.pk, []))
