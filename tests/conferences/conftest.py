"""Fixtures shared by the conference tests (the personas and ``org`` are tests/conftest.py's)."""

from __future__ import annotations

import aioice.ice
import pytest

from conferences.models import ConferenceObserver
from portal.models import Site
from tests.conftest import UserFactory, _persona


@pytest.fixture
def embedded_loopback(settings, monkeypatch):
    """Rooms in this process (inprocess mode, in-memory channel layer), ICE on 127.0.0.1 only.

    Used by the live media tests with ``pytest.mark.usefixtures("embedded_loopback")``."""
    settings.MEDIA_ROOM_MODE = "inprocess"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    # the aiortc test clients gather 127.0.0.1 only (aioice skips loopback by default)
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
def tranyen(org):
    """The operator of Trấn Yên's site (138)."""
    user = UserFactory(username="operator_tranyen")
    Site.objects.get(key="138").operators.add(user)
    return user


@pytest.fixture
def listed(org, conf):
    """A clerk of a district that is not invited, listed by the clerk to watch the test
    module's ``conf``."""
    user = _persona("clerk_yenbai", "clerk", "132", org)
    ConferenceObserver.objects.create(conference=conf, user=user)
    return user
