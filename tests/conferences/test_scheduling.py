"""Scheduling services: create/update/transition rules, audit, sequence and topic tags."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conferences.errors import ConferenceError, PermissionDeniedError
from conferences.models import AuditEntry, Conference, Level, Status, Topic
from conferences.services import scheduling
from portal.models import Site
from tests.conferences.factories import ConferenceFactory


def _start(days: int = 3) -> dt.datetime:
    return (timezone.now() + dt.timedelta(days=days)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )


def _create(actor, org, **overrides) -> Conference:
    kwargs = dict(
        actor=actor,
        title="Hội nghị giao ban kinh tế - xã hội tháng 11",
        level=Level.PROVINCE_TO_DISTRICT,
        host_unit=org["15-UBND"],
        chair_site=Site.objects.get(key="15-UBND"),
        planned_start=_start(),
        planned_end=_start() + dt.timedelta(hours=3),
        topics=["COVID-19", "Kinh tế"],
        confidential=False,
        description="",
        sites=list(Site.objects.filter(unit__kind="district")),
    )
    kwargs.update(overrides)
    return scheduling.conference_create(**kwargs)


def test_clerk_creates_a_draft_with_invitations_topics_and_an_audit_entry(province_clerk, org):
    conf = _create(province_clerk, org)
    assert conf.status == Status.DRAFT
    keys = set(conf.invitations.values_list("site__key", flat=True))
    assert len(keys) == 10 and "15-UBND" in keys and "140" in keys  # 9 districts + the chair site
    assert all(inv.unit_id == inv.site.unit_id for inv in conf.invitations.select_related("site"))
    assert sorted(t.slug for t in conf.topics.all()) == ["covid-19", "kinh-te"]
    entry = AuditEntry.objects.get(conference=conf)
    assert entry.action == "conference.created" and entry.actor == province_clerk


def test_existing_topic_is_reused_by_name(province_clerk, org):
    _create(province_clerk, org)
    _create(province_clerk, org, topics=["covid-19"])
    assert Topic.objects.filter(slug="covid-19").count() == 1


def test_end_before_start_is_rejected_and_nothing_saved(province_clerk, org):
    with pytest.raises(ConferenceError) as err:
        _create(province_clerk, org, planned_end=_start() - dt.timedelta(minutes=1))
    assert err.value.code == "end_before_start"
    assert not Conference.objects.exists()


def test_clerk_of_another_district_cannot_create_for_van_chan(tranyen_clerk, org):
    with pytest.raises(PermissionDeniedError):
        _create(tranyen_clerk, org, host_unit=org["140"], level=Level.DISTRICT_TO_COMMUNE)
    assert not Conference.objects.exists()


def test_van_chan_clerk_creates_for_own_district(vanchan_clerk, org):
    conf = _create(
        vanchan_clerk,
        org,
        host_unit=org["140"],
        chair_site=Site.objects.get(key="140"),
        sites=list(Site.objects.filter(unit__parent__code="140")),
        level=Level.DISTRICT_TO_COMMUNE,
    )
    assert conf.invitations.count() == Site.objects.filter(unit__parent__code="140").count() + 1


@pytest.mark.parametrize(
    "path, allowed",
    [
        (["scheduled", "live", "ended"], True),
        (["scheduled", "ended"], True),
        (["cancelled"], True),
        (["scheduled", "cancelled"], True),
        (["live"], False),
        (["ended"], False),
        (["scheduled", "live", "cancelled"], False),
        (["scheduled", "live", "ended", "scheduled"], False),
        (["cancelled", "scheduled"], False),
        (["scheduled", "draft"], False),
    ],
)
def test_transitions_follow_the_lifecycle(province_clerk, org, path, allowed):
    conf = _create(province_clerk, org)
    try:
        for target in path:
            before = Conference.objects.get(pk=conf.pk).status
            conf = scheduling.conference_transition(
                actor=province_clerk, conference=conf, to=target
            )
    except ConferenceError as exc:
        assert not allowed, exc.message
        assert exc.code == "bad_transition"
        assert Conference.objects.get(pk=conf.pk).status == before
    else:
        assert allowed
        assert conf.status == path[-1]


def test_transition_records_times_audit_and_cancel_raises_sequence(province_clerk, org):
    conf = _create(province_clerk, org)
    conf = scheduling.conference_transition(actor=province_clerk, conference=conf, to="scheduled")
    seq = conf.sequence
    conf = scheduling.conference_transition(actor=province_clerk, conference=conf, to="cancelled")
    assert conf.sequence == seq + 1
    actions = list(AuditEntry.objects.filter(conference=conf).values_list("action", "data"))
    assert actions[-1] == ("conference.transition", {"from": "scheduled", "to": "cancelled"})
    live = scheduling.conference_transition(
        actor=province_clerk, conference=ConferenceFactory(), to="live"
    )
    assert live.actual_start is not None
    ended = scheduling.conference_transition(actor=province_clerk, conference=live, to="ended")
    assert ended.actual_end is not None


def test_unknown_status_is_rejected(province_clerk, org):
    conf = _create(province_clerk, org)
    with pytest.raises(ConferenceError):
        scheduling.conference_transition(actor=province_clerk, conference=conf, to="archived")


def test_other_district_clerk_and_leader_cannot_transition(tranyen_clerk, leader, org):
    conf = ConferenceFactory(host_unit=org["140"])
    for actor in (tranyen_clerk, leader):
        with pytest.raises(PermissionDeniedError):
            scheduling.conference_transition(actor=actor, conference=conf, to="cancelled")
    assert Conference.objects.get(pk=conf.pk).status == Status.SCHEDULED


def test_update_time_raises_sequence_and_notifies_after_commit(
    province_clerk, org, django_capture_on_commit_callbacks
):
    conf = _create(province_clerk, org)
    conf = scheduling.conference_transition(actor=province_clerk, conference=conf, to="scheduled")
    seq = conf.sequence
    with django_capture_on_commit_callbacks() as callbacks:
        conf = scheduling.conference_update(
            actor=province_clerk,
            conference=conf,
            planned_start=_start(4),
            planned_end=_start(4) + dt.timedelta(hours=2),
        )
    assert conf.sequence == seq + 1
    assert callbacks, "an update of a scheduled conference is announced after commit"
    entry = AuditEntry.objects.filter(conference=conf, action="conference.updated").get()
    assert "planned_start" in entry.data


def test_update_rejects_end_before_start_and_keeps_the_old_times(province_clerk, org):
    conf = _create(province_clerk, org)
    with pytest.raises(ConferenceError):
        scheduling.conference_update(
            actor=province_clerk,
            conference=conf,
            planned_end=conf.planned_start - dt.timedelta(hours=1),
        )
    assert Conference.objects.get(pk=conf.pk).planned_end == conf.planned_end


def test_update_replaces_invited_sites(province_clerk, org):
    conf = _create(province_clerk, org)
    scheduling.conference_update(
        actor=province_clerk,
        conference=conf,
        sites=list(Site.objects.filter(key__in=["140", "138"])),
    )
    assert set(conf.invitations.values_list("site__key", flat=True)) == {"140", "138", "15-UBND"}


def test_ended_conference_cannot_be_edited(province_clerk, org):
    conf = ConferenceFactory(status=Status.ENDED)
    with pytest.raises(ConferenceError) as err:
        scheduling.conference_update(actor=province_clerk, conference=conf, title="Khác")
    assert err.value.code == "not_editable"


def test_a_site_that_already_answered_cannot_be_uninvited(province_clerk, org):
    from conferences.models import AttendanceEntry

    conf = _create(province_clerk, org)
    inv = conf.invitations.get(site__key="140")
    AttendanceEntry.objects.create(invitation=inv, status="confirmed", source="site")
    with pytest.raises(ConferenceError) as err:
        scheduling.conference_update(
            actor=province_clerk, conference=conf, sites=list(Site.objects.filter(key="138"))
        )
    assert err.value.code == "invitation_in_use"
    assert conf.invitations.filter(site__key="140").exists()
