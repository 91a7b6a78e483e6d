"""Shared fixtures: the shipped organisation tree and fixed personas.

Who may do what (roles apply to the unit and everything below it):
- ``province_clerk``: clerk of the whole province (unit 15) — manages everything.
- ``vanchan_clerk``: clerk of Huyện Văn Chấn (140) — manages Văn Chấn and its communes only.
- ``tranyen_clerk``: clerk of Huyện Trấn Yên (138) — the "other district" in privilege tests.
- ``chair``: chair of the province — runs live conferences.
- ``leader``: leader of the province — reads everything, manages nothing.
- ``vanchan_operator``: operator of Văn Chấn's district site only.
- ``outsider``: signed in, holds no role anywhere.
"""

from __future__ import annotations

import json
import os
import shutil

import factory
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

REQUIRE_ALL = os.environ.get("GIAOBAN_REQUIRE_ALL") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip when a real component is missing here; fail instead when CI requires everything."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"GIAOBAN_REQUIRE_ALL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    require(os.path.exists(path), "Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def postgres_required() -> None:
    require(
        settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        "DATABASE_URL (PostgreSQL) is not set",
    )


@pytest.fixture(scope="session")
def redis_url() -> str:
    require(bool(settings.REDIS_URL), "REDIS_URL is not set")
    return settings.REDIS_URL


def _load_tree() -> None:
    from portal import services
    from portal.models import Site

    if not Site.objects.exists():
        data = json.loads(
            (settings.BASE_DIR / "portal" / "data" / "yen_bai_2022.json").read_text(
                encoding="utf-8"
            )
        )
        services.org_tree_import(data=data)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the shipped 210-site tree once into the test database."""
    with django_db_blocker.unblock():
        _load_tree()


@pytest.fixture
def org(db):
    """The shipped tree (reloaded if a transactional test flushed it); returns Unit by code."""
    from portal.models import Unit

    _load_tree()

    class _Units:
        def __getitem__(self, code: str) -> Unit:
            return Unit.objects.get(code=code)

    return _Units()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw-Test-12345")


def _persona(username: str, role: str | None, unit_code: str | None, org):
    from portal import services

    user = UserFactory(username=username)
    if role and unit_code:
        services.membership_grant(user=user, unit=org[unit_code], role=role)
    return user


@pytest.fixture
def province_clerk(org):
    return _persona("clerk_province", "clerk", "15", org)


@pytest.fixture
def vanchan_clerk(org):
    return _persona("clerk_vanchan", "clerk", "140", org)


@pytest.fixture
def tranyen_clerk(org):
    return _persona("clerk_tranyen", "clerk", "138", org)


@pytest.fixture
def chair(org):
    return _persona("chair_province", "chair", "15", org)


@pytest.fixture
def leader(org):
    return _persona("leader_province", "leader", "15", org)


@pytest.fixture
def vanchan_operator(org):
    from portal.models import Site

    user = _persona("operator_vanchan", None, None, org)
    Site.objects.get(key="140").operators.add(user)
    return user


@pytest.fixture
def outsider(org):
    return _persona("outsider", None, None, org)


@pytest.fixture
def client_for(client):
    """``client_for(user)``: the test client signed in as ``user``."""

    def _as(user):
        client.force_login(user)
        return client

    return _as


@pytest.fixture(autouse=True)
def _fresh_command_limits():
    """Each test starts with the live socket's per-command allowances full
    (``conferences.live.limits`` keeps them per process)."""
    from conferences.live import limits

    limits.reset()
    yield
    limits.reset()


@pytest.fixture
def no_command_limits(monkeypatch):
    """Lift the per-command limits, for tests that send every command back to back
    (the limits themselves are tested in tests/conferences/test_live_socket_input.py)."""
    from conferences.live import limits

    monkeypatch.setattr(limits, "LIMITS", {})
