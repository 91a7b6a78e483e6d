"""Roll call: one open at a time, one answer per site, answers become attendance."""

from __future__ import annotations

import pytest

from conferences.errors import DomainError
from conferences.models import AuditEntry, RollCallAnswer, Status
from conferences.services import rollcall as svc
from tests.conferences.factories import ConferenceFactory, invite


@pytest.fixture
def conf(org):
    return ConferenceFactory(status=Status.LIVE)


def test_chair_starts_roll_call_and_sites_answer(conf, chair, vanchan_operator, province_clerk):
    own, other = invite(conf, "140", "138")
    rc = svc.rollcall_start(actor=chair, conference=conf)
    svc.rollcall_answer(
        actor=vanchan_operator,
        roll_call=rc,
        invitation=own,
        headcount=14,
        source="site",
        leader_name="Phạm Văn Đức",
        leader_title="Chủ tịch",
    )
    svc.rollcall_answer(
        actor=province_clerk, roll_call=rc, invitation=other, headcount=8, source="clerk"
    )
    svc.rollcall_end(actor=chair, roll_call=rc)
    own.refresh_from_db()
    assert (own.status, own.headcount, own.leader_name) == ("present", 14, "Phạm Văn Đức")
    assert RollCallAnswer.objects.filter(roll_call=rc).count() == 2
    assert list(
        AuditEntry.objects.filter(conference=conf, action__startswith="rollcall").values_list(
            "action", flat=True
        )
    ) == ["rollcall.start", "rollcall.answer", "rollcall.answer", "rollcall.end"]


def test_duplicate_answer_is_refused_and_changes_nothing(conf, vanchan_operator, province_clerk):
    (inv,) = invite(conf, "140")
    rc = svc.rollcall_start(actor=province_clerk, conference=conf)
    svc.rollcall_answer(
        actor=vanchan_operator, roll_call=rc, invitation=inv, headcount=14, source="site"
    )
    with pytest.raises(DomainError) as err:
        svc.rollcall_answer(
            actor=province_clerk, roll_call=rc, invitation=inv, headcount=99, source="clerk"
        )
    assert err.value.code == "duplicate_answer"
    inv.refresh_from_db()
    assert inv.headcount == 14 and inv.entries.count() == 1


def test_only_one_open_roll_call(conf, province_clerk):
    svc.rollcall_start(actor=province_clerk, conference=conf)
    with pytest.raises(DomainError) as err:
        svc.rollcall_start(actor=province_clerk, conference=conf)
    assert err.value.code == "roll_call_open"


@pytest.mark.parametrize("status", [Status.DRAFT, Status.ENDED, Status.CANCELLED])
def test_roll_call_only_while_scheduled_or_live(org, province_clerk, status):
    conf = ConferenceFactory(status=status)
    with pytest.raises(DomainError) as err:
        svc.rollcall_start(actor=province_clerk, conference=conf)
    assert err.value.code == "not_running"


def test_leader_operator_and_other_district_clerk_cannot_start(
    conf, leader, vanchan_operator, tranyen_clerk
):
    invite(conf, "140")
    for user in (leader, vanchan_operator, tranyen_clerk):
        with pytest.raises(DomainError) as err:
            svc.rollcall_start(actor=user, conference=conf)
        assert err.value.code == "forbidden"
    assert not conf.roll_calls.exists()


def test_operator_cannot_answer_for_another_site(conf, vanchan_operator, chair):
    _own, other = invite(conf, "140", "138")
    rc = svc.rollcall_start(actor=chair, conference=conf)
    for source in ("site", "clerk"):
        with pytest.raises(DomainError) as err:
            svc.rollcall_answer(
                actor=vanchan_operator, roll_call=rc, invitation=other, headcount=3, source=source
            )
        assert err.value.code == "forbidden"
    assert not rc.answers.exists()


def test_answer_after_end_and_bad_headcount_are_refused(conf, province_clerk):
    (inv,) = invite(conf, "140")
    rc = svc.rollcall_start(actor=province_clerk, conference=conf)
    with pytest.raises(DomainError) as err:
        svc.rollcall_answer(
            actor=province_clerk, roll_call=rc, invitation=inv, headcount=0, source="clerk"
        )
    assert err.value.code == "bad_headcount"
    svc.rollcall_end(actor=province_clerk, roll_call=rc)
    with pytest.raises(DomainError) as err:
        svc.rollcall_answer(
            actor=province_clerk, roll_call=rc, invitation=inv, headcount=5, source="clerk"
        )
    assert err.value.code == "roll_call_closed"
    assert not rc.answers.exists()


def test_answer_for_site_of_another_conference_is_refused(conf, org, province_clerk):
    other_conf = ConferenceFactory(status=Status.LIVE)
    (foreign,) = invite(other_conf, "140")
    rc = svc.rollcall_start(actor=province_clerk, conference=conf)
    with pytest.raises(DomainError) as err:
        svc.rollcall_answer(
            actor=province_clerk, roll_call=rc, invitation=foreign, headcount=5, source="clerk"
        )
    assert err.value.code == "not_invited"


def test_roll_call_events_reach_the_conference_group_in_order(
    conf, chair, vanchan_operator, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"conference.{conf.code}", channel)
    (inv,) = invite(conf, "140")
    with django_capture_on_commit_callbacks(execute=True):
        rc = svc.rollcall_start(actor=chair, conference=conf)
    with django_capture_on_commit_callbacks(execute=True):
        svc.rollcall_answer(
            actor=vanchan_operator, roll_call=rc, invitation=inv, headcount=9, source="site"
        )
    with django_capture_on_commit_callbacks(execute=True):
        svc.rollcall_end(actor=chair, roll_call=rc)

    async def receive_four() -> list[str]:
        # One event loop for all four reads, as a consumer has: channels_redis keeps its
        # receive buffer per loop, so separate async_to_sync calls would re-read the first.
        return [(await layer.receive(channel))["event"]["type"] for _ in range(4)]

    types = async_to_sync(receive_four)()
    assert types == ["roll_call_started", "attendance", "roll_call_answer", "roll_call_ended"]


def test_refused_answer_sends_no_event(
    conf, chair, vanchan_operator, django_capture_on_commit_callbacks
):
    _own, other = invite(conf, "140", "138")
    rc = svc.rollcall_start(actor=chair, conference=conf)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(DomainError):
        svc.rollcall_answer(
            actor=vanchan_operator, roll_call=rc, invitation=other, headcount=9, source="site"
        )
    assert callbacks == []
