"""The agenda of a conference: ordered items with presenter, planned minutes and notes.

Positions are kept as 1..n. Each change is audited, raises the iCalendar SEQUENCE and tells
invited sites after commit (through ``scheduling.conference_touch_agenda``). Once a conference has
ended or was cancelled, its agenda is frozen.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import permissions
from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AgendaItem, Conference
from conferences.services.scheduling import CLOSED, conference_touch_agenda
from portal.models import Site, Unit


def _lock(*, actor, conference: Conference) -> Conference:
    conference = (
        Conference.objects.select_for_update(of=("self",))
        .select_related("host_unit")
        .get(pk=conference.pk)
    )
    if not permissions.can_manage(actor, conference):
        raise PermissionDeniedError(_("Bạn không quản lý hội nghị này."))
    if conference.status in CLOSED:
        raise ConferenceError(
            "agenda_closed", _("Hội nghị đã kết thúc hoặc đã hủy: không thể sửa chương trình.")
        )
    return conference


def _check(
    *,
    conference: Conference,
    title: str,
    planned_minutes: int,
    presenter_site: Site | None,
    presenter_unit: Unit | None,
) -> None:
    if not title or not title.strip():
        raise ConferenceError("missing_title", _("Cần nhập nội dung mục chương trình."))
    if planned_minutes is None or planned_minutes < 1 or planned_minutes > 600:
        raise ConferenceError("bad_minutes", _("Thời lượng phải từ 1 đến 600 phút."))
    if (
        presenter_site is not None
        and not conference.invitations.filter(site=presenter_site).exists()
    ):
        raise ConferenceError(
            "presenter_not_invited", _("Điểm cầu trình bày phải là điểm cầu được mời.")
        )
    if presenter_unit is not None and not presenter_unit.is_valid_on(
        timezone.localdate(conference.planned_start)
    ):
        raise ConferenceError(
            "presenter_unit_invalid", _("Đơn vị trình bày không thuộc cây tổ chức ngày họp.")
        )


def _renumber(conference: Conference) -> list[AgendaItem]:
    items = list(conference.agenda_items.order_by("position", "id"))
    for index, item in enumerate(items, start=1):
        if item.position != index:
            item.position = index
    AgendaItem.objects.bulk_update(items, ["position"])
    return items


@transaction.atomic
def agenda_item_create(
    *,
    actor,
    conference: Conference,
    title: str,
    presenter_unit: Unit | None = None,
    presenter_site: Site | None = None,
    presenter_name: str = "",
    planned_minutes: int = 10,
    notes: str = "",
) -> AgendaItem:
    """Append an item at the end of the agenda."""
    conference = _lock(actor=actor, conference=conference)
    _check(
        conference=conference,
        title=title,
        planned_minutes=planned_minutes,
        presenter_site=presenter_site,
        presenter_unit=presenter_unit,
    )
    last = (
        conference.agenda_items.order_by("-position").values_list("position", flat=True).first()
        or 0
    )
    item = AgendaItem.objects.create(
        conference=conference,
        position=last + 1,
        title=title.strip(),
        presenter_unit=presenter_unit,
        presenter_site=presenter_site,
        presenter_name=presenter_name.strip(),
        planned_minutes=planned_minutes,
        notes=notes,
    )
    conference_touch_agenda(
        conference=conference,
        actor=actor,
        action="agenda.item_added",
        item=item.pk,
        title=item.title,
    )
    return item


@transaction.atomic
def agenda_item_update(
    *,
    actor,
    item: AgendaItem,
    title: str,
    presenter_unit: Unit | None = None,
    presenter_site: Site | None = None,
    presenter_name: str = "",
    planned_minutes: int = 10,
    notes: str = "",
) -> AgendaItem:
    conference = _lock(actor=actor, conference=item.conference)
    item = AgendaItem.objects.get(pk=item.pk, conference=conference)
    _check(
        conference=conference,
        title=title,
        planned_minutes=planned_minutes,
        presenter_site=presenter_site,
        presenter_unit=presenter_unit,
    )
    item.title = title.strip()
    item.presenter_unit = presenter_unit
    item.presenter_site = presenter_site
    item.presenter_name = presenter_name.strip()
    item.planned_minutes = planned_minutes
    item.notes = notes
    item.save()
    conference_touch_agenda(
        conference=conference,
        actor=actor,
        action="agenda.item_updated",
        item=item.pk,
        title=item.title,
    )
    return item


@transaction.atomic
def agenda_item_delete(*, actor, item: AgendaItem) -> None:
    conference = _lock(actor=actor, conference=item.conference)
    item = AgendaItem.objects.get(pk=item.pk, conference=conference)
    data = {"item": item.pk, "title": item.title}
    item.delete()
    _renumber(conference)
    conference_touch_agenda(
        conference=conference, actor=actor, action="agenda.item_deleted", **data
    )


@transaction.atomic
def agenda_item_move(*, actor, item: AgendaItem, direction: str) -> list[AgendaItem]:
    """Move an item one place ``"up"`` or ``"down"``; at either end nothing changes."""
    if direction not in ("up", "down"):
        raise ConferenceError("bad_direction", _("Hướng di chuyển không hợp lệ."))
    conference = _lock(actor=actor, conference=item.conference)
    items = _renumber(conference)
    index = next((i for i, it in enumerate(items) if it.pk == item.pk), None)
    if index is None:
        raise ConferenceError("unknown_item", _("Mục chương trình không thuộc hội nghị này."))
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]
        return _apply_order(conference=conference, actor=actor, items=items)
    return items


@transaction.atomic
def agenda_reorder(*, actor, conference: Conference, order: list[int]) -> list[AgendaItem]:
    """Put the items in ``order`` (their ids); it must name each item of the agenda exactly once."""
    conference = _lock(actor=actor, conference=conference)
    items = {it.pk: it for it in conference.agenda_items.all()}
    if len(order) != len(set(order)) or set(order) != set(items):
        raise ConferenceError(
            "bad_order", _("Thứ tự mới phải gồm đúng các mục của chương trình, mỗi mục một lần.")
        )
    return _apply_order(conference=conference, actor=actor, items=[items[pk] for pk in order])


def _apply_order(*, conference: Conference, actor, items: list[AgendaItem]) -> list[AgendaItem]:
    for index, item in enumerate(items, start=1):
        item.position = index
    AgendaItem.objects.bulk_update(items, ["position"])
    conference_touch_agenda(
        conference=conference, actor=actor, action="agenda.reordered", order=[it.pk for it in items]
    )
    return items
