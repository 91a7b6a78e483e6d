"""The per-level recording policy from the outside: only the province administrator sets it (on
``/recordings/policy/``, linked from the province's page); the ``RECORDING_LEVELS`` setting is
each level's default until then; a live conference following the default is told at once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conferences.models import AuditEntry, Level, Status
from recordings import services
from recordings.models import LevelPolicy, Recording, RecordingMode
from tests.conferences.factories import ConferenceFactory, invite
from tests.conftest import _persona

pytestmark = pytest.mark.django_db

URL = "/recordings/policy/"


@pytest.fixture
def province_admin(org):
    return _persona("admin_province", "admin", "15", org)


def test_only_the_province_administrator_sees_and_sets_the_policy(
    client, client_for, province_admin, province_clerk, leader, org
):
    district_admin = _persona("admin_vanchan", "admin", "140", org)
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]  # anonymous
    assert client.post(URL, {"record": ["internal"]}).status_code == 302
    for user in (district_admin, province_clerk, leader):
        c = client_for(user)
        assert c.get(URL).status_code == 403, user.username
        assert c.post(URL, {"record": ["internal"]}).status_code == 403, user.username
        # the province's page shows them no link to it
        assert "recording-policy-link" not in c.get("/org/units/15/").content.decode()
    assert not LevelPolicy.objects.exists()

    c = client_for(province_admin)
    province_page = c.get("/org/units/15/").content.decode()
    assert f'href="{URL}" data-role="recording-policy-link"' in province_page
    assert "recording-policy-link" not in c.get("/org/units/140/").content.decode()
    page = c.get(URL).content.decode()
    for value, _label in Level.choices:  # every level, checked: the setting records all
        assert f'name="record" value="{value}" checked' in page
    assert page.count("cấu hình hệ thống (chưa đặt)") == len(Level.choices)


def test_the_setting_is_the_default_until_the_administrator_sets_the_policy(
    client_for, province_admin, settings
):
    settings.RECORDING_LEVELS = ["internal"]
    province = ConferenceFactory(level=Level.PROVINCE_TO_DISTRICT)
    internal = ConferenceFactory(level=Level.INTERNAL)
    assert not services.wanted(province) and services.wanted(internal)

    c = client_for(province_admin)
    response = c.post(URL, {"record": ["province_to_district", "four_level"]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Đã lưu chính sách ghi hình." in page
    assert 'value="province_to_district" checked' in page and 'value="internal" checked' not in page
    assert dict(LevelPolicy.objects.values_list("level", "record")) == {
        value: value in ("province_to_district", "four_level") for value in Level.values
    }
    assert LevelPolicy.objects.filter(updated_by=province_admin).count() == len(Level.values)
    assert services.wanted(province) and not services.wanted(internal)
    # the clerk's explicit choice and the confidential rule still win over the level's default
    Recording.objects.create(conference=province, mode=RecordingMode.OFF)
    assert not services.wanted(province)
    secret = ConferenceFactory(level=Level.PROVINCE_TO_DISTRICT, confidential=True)
    assert not services.wanted(secret)
    # nothing ticked: no level recorded by default
    assert c.post(URL, {}).status_code == 200
    assert not LevelPolicy.objects.filter(record=True).exists()


def test_a_bad_level_is_refused_with_a_reason(client_for, province_admin):
    response = client_for(province_admin).post(URL, {"record": ["internal", "galactic"]})
    assert response.status_code == 400
    assert "Cấp hội nghị không hợp lệ." in response.content.decode()
    assert not LevelPolicy.objects.exists()


def test_a_live_conference_following_the_default_is_told_and_audited(
    client_for, province_admin, django_capture_on_commit_callbacks
):
    live = ConferenceFactory(
        level=Level.PROVINCE_TO_DISTRICT, status=Status.LIVE, actual_start=timezone.now()
    )
    invite(live, "140")
    chosen = ConferenceFactory(
        level=Level.PROVINCE_TO_DISTRICT, status=Status.LIVE, actual_start=timezone.now()
    )
    Recording.objects.create(conference=chosen, mode=RecordingMode.ON)
    assert services.recording_status(live) == "on"
    with django_capture_on_commit_callbacks(execute=False):
        others = [v for v in Level.values if v != Level.PROVINCE_TO_DISTRICT]
        assert client_for(province_admin).post(URL, {"record": others}).status_code == 200
    assert services.recording_status(live) == "off"
    assert services.recording_status(chosen) == "on"  # the clerk turned it on: unchanged
    [entry] = AuditEntry.objects.filter(action="recording.policy")
    assert entry.conference == live and entry.actor == province_admin
    assert entry.data == {"level": "province_to_district", "record": False}
