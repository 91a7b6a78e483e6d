"""Agenda: ordered items with presenter and minutes; add, edit, delete, reorder; frozen after the end."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AgendaItem, AuditEntry, Conference, Status
from conferences.services import agenda
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite


@pytest.fixture
def conf(org):
    conference = ConferenceFactory()
    invite(conference, "15-UBND", "140", "138")
    return conference


def _add(actor, conf, title, **kw):
    return agenda.agenda_item_create(actor=actor, conference=conf, title=title, **kw)


def test_items_are_appended_in_order_with_presenter_and_minutes(province_clerk, conf, org):
    a = _add(province_clerk, conf, "Khai mạc", planned_minutes=5, presenter_name="Trần Văn Minh")
    b = _add(
        province_clerk,
        conf,
        "Báo cáo tình hình kinh tế - xã hội",
        planned_minutes=20,
        presenter_unit=org["15-SKHDT"],
        presenter_site=Site.objects.get(key="140"),
        notes="Kèm phụ lục",
    )
    assert [a.position, b.position] == [1, 2]
    assert b.presenter_unit.code == "15-SKHDT" and b.presenter_site.key == "140"


def test_each_agenda_change_raises_sequence_and_is_audited(province_clerk, conf):
    seq = Conference.objects.get(pk=conf.pk).sequence
    item = _add(province_clerk, conf, "Khai mạc")
    agenda.agenda_item_update(
        actor=province_clerk, item=item, title="Phát biểu khai mạc", planned_minutes=7
    )
    assert Conference.objects.get(pk=conf.pk).sequence == seq + 2
    assert list(AuditEntry.objects.filter(conference=conf).values_list("action", flat=True)) == [
        "agenda.item_added",
        "agenda.item_updated",
    ]


def test_move_up_down_and_reorder(province_clerk, conf):
    a, b, c = (_add(province_clerk, conf, t) for t in ("A", "B", "C"))
    agenda.agenda_item_move(actor=province_clerk, item=c, direction="up")
    assert list(conf.agenda_items.values_list("title", flat=True)) == ["A", "C", "B"]
    agenda.agenda_item_move(
        actor=province_clerk, item=a, direction="up"
    )  # already first: nothing moves
    assert list(conf.agenda_items.values_list("title", flat=True)) == ["A", "C", "B"]
    agenda.agenda_reorder(actor=province_clerk, conference=conf, order=[b.pk, a.pk, c.pk])
    assert list(conf.agenda_items.values_list("title", "position")) == [
        ("B", 1),
        ("A", 2),
        ("C", 3),
    ]


@pytest.mark.parametrize("bad", [[], [1, 2, 3], "dup", "missing"])
def test_reorder_must_name_each_item_once(province_clerk, conf, bad):
    items = [_add(province_clerk, conf, t) for t in ("A", "B")]
    order = (
        {"dup": [items[0].pk, items[0].pk], "missing": [items[0].pk]}.get(bad, bad)
        if isinstance(bad, str)
        else bad
    )
    with pytest.raises(ConferenceError):
        agenda.agenda_reorder(actor=province_clerk, conference=conf, order=order)
    assert list(conf.agenda_items.values_list("title", flat=True)) == ["A", "B"]


def test_delete_renumbers(province_clerk, conf):
    _a, b, _c = (_add(province_clerk, conf, t) for t in ("A", "B", "C"))
    agenda.agenda_item_delete(actor=province_clerk, item=b)
    assert list(conf.agenda_items.values_list("title", "position")) == [("A", 1), ("C", 2)]


def test_bad_items_are_refused(province_clerk, conf):
    with pytest.raises(ConferenceError):
        _add(province_clerk, conf, "   ")
    with pytest.raises(ConferenceError):
        _add(province_clerk, conf, "Quá dài", planned_minutes=0)
    with pytest.raises(ConferenceError) as err:
        _add(province_clerk, conf, "Trình bày", presenter_site=Site.objects.get(key="137"))
    assert err.value.code == "presenter_not_invited"
    assert not conf.agenda_items.exists()


@pytest.mark.parametrize("status", [Status.ENDED, Status.CANCELLED])
def test_agenda_edits_after_the_end_are_rejected(province_clerk, conf, status):
    item = _add(province_clerk, conf, "Khai mạc")
    Conference.objects.filter(pk=conf.pk).update(status=status)
    conf.refresh_from_db()
    for call in (
        lambda: _add(province_clerk, conf, "Bổ sung"),
        lambda: agenda.agenda_item_update(actor=province_clerk, item=item, title="Sửa"),
        lambda: agenda.agenda_item_delete(actor=province_clerk, item=item),
        lambda: agenda.agenda_item_move(actor=province_clerk, item=item, direction="down"),
        lambda: agenda.agenda_reorder(actor=province_clerk, conference=conf, order=[item.pk]),
    ):
        with pytest.raises(ConferenceError) as err:
            call()
        assert err.value.code == "agenda_closed"
    assert list(conf.agenda_items.values_list("title", flat=True)) == ["Khai mạc"]


def test_agenda_edit_after_the_end_through_the_page_is_a_clear_400(
    client_for, province_clerk, conf
):
    item = _add(province_clerk, conf, "Khai mạc")
    Conference.objects.filter(pk=conf.pk).update(status=Status.ENDED)
    c = client_for(province_clerk)
    response = c.post(
        reverse("conference_agenda", args=[conf.code]), {"title": "Bổ sung", "planned_minutes": 5}
    )
    assert response.status_code == 400 and "đã kết thúc" in response.content.decode()
    response = c.post(reverse("agenda_item_delete", args=[conf.code, item.pk]))
    assert response.status_code == 400
    assert AgendaItem.objects.filter(conference=conf).count() == 1


def test_clerk_of_another_district_cannot_edit_agenda(
    tranyen_clerk, client_for, org, vanchan_clerk
):
    conf = ConferenceFactory(host_unit=org["140"], chair_site=Site.objects.get(key="140"))
    item = _add(vanchan_clerk, conf, "Khai mạc")
    with pytest.raises(PermissionDeniedError):
        _add(tranyen_clerk, conf, "Chen ngang")
    invite(conf, "138")  # even an invited district's clerk only reads
    c = client_for(tranyen_clerk)
    assert c.get(reverse("conference_agenda", args=[conf.code])).status_code == 200
    assert (
        c.post(
            reverse("conference_agenda", args=[conf.code]), {"title": "X", "planned_minutes": 5}
        ).status_code
        == 403
    )
    assert (
        c.post(
            reverse("agenda_item_move", args=[conf.code, item.pk]), {"direction": "down"}
        ).status_code
        == 403
    )
    assert (
        c.post(reverse("agenda_reorder", args=[conf.code]), {"order": str(item.pk)}).status_code
        == 403
    )
    assert list(conf.agenda_items.values_list("title", flat=True)) == ["Khai mạc"]


def test_agenda_pages_add_edit_move_and_reorder(client_for, province_clerk, conf, org):
    c = client_for(province_clerk)
    url = reverse("conference_agenda", args=[conf.code])
    for title in ("Khai mạc", "Báo cáo", "Kết luận"):
        assert (
            c.post(
                url, {"title": title, "planned_minutes": 10, "presenter_unit": "140"}
            ).status_code
            == 302
        )
    items = list(conf.agenda_items.all())
    assert c.get(reverse("agenda_item_edit", args=[conf.code, items[1].pk])).status_code == 200
    response = c.post(
        reverse("agenda_item_edit", args=[conf.code, items[1].pk]),
        {"title": "Báo cáo quý IV", "planned_minutes": 25, "presenter_name": "Lê Quang Huy"},
    )
    assert response.status_code == 302
    c.post(reverse("agenda_item_move", args=[conf.code, items[2].pk]), {"direction": "up"})
    assert list(conf.agenda_items.values_list("title", flat=True)) == [
        "Khai mạc",
        "Kết luận",
        "Báo cáo quý IV",
    ]
    response = c.post(
        reverse("agenda_reorder", args=[conf.code]),
        {"order": f"{items[2].pk},{items[1].pk},{items[0].pk}"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json()["ok"] is True
    assert list(conf.agenda_items.values_list("title", flat=True)) == [
        "Kết luận",
        "Báo cáo quý IV",
        "Khai mạc",
    ]
    page = c.get(url).content.decode()
    assert "Lê Quang Huy" in page and "tổng 45 phút" in page
    bad = c.post(url, {"title": "", "planned_minutes": 0})
    assert bad.status_code == 400 and conf.agenda_items.count() == 3
    forged = c.post(
        url,
        {
            "title": "X",
            "planned_minutes": 5,
            "presenter_site": "00000000-0000-0000-0000-000000000000",
        },
    )
    assert forged.status_code == 400 and conf.agenda_items.count() == 3
