"""The default media network settings on a host whose only address is loopback (a laptop off
the network, a test namespace): the SFU offers 127.0.0.1 instead of no candidate at all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from media_worker import settings_policy
from tests.conftest import require


@pytest.fixture
def defaults(settings):
    settings.MEDIA_ICE_ADDRESSES = []
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["0.0.0.0/0", "::/0"]
    settings.MEDIA_STUN_SERVERS = []
    settings.MEDIA_TURN_SERVERS = []


def test_a_host_with_only_loopback_offers_loopback(defaults, monkeypatch):
    monkeypatch.setattr(settings_policy, "_discover_host_addresses", lambda **kw: [])
    policy = settings_policy.network_policy()
    assert policy.host_addresses() == ["127.0.0.1"]
    assert policy.accepts("127.0.0.1")


def test_a_host_on_a_network_offers_its_addresses_found_at_each_gathering(defaults, monkeypatch):
    monkeypatch.setattr(settings_policy, "_discover_host_addresses", lambda **kw: ["10.9.8.7"])
    assert settings_policy.network_policy().local_addresses is None


def test_configured_addresses_win(defaults, settings, monkeypatch):
    monkeypatch.setattr(settings_policy, "_discover_host_addresses", lambda **kw: [])
    settings.MEDIA_ICE_ADDRESSES = ["192.0.2.10"]
    assert settings_policy.network_policy().host_addresses() == ["192.0.2.10"]


PROBE = (
    "import django; django.setup();"
    "from media_worker.settings_policy import network_policy;"
    "print('OFFER', network_policy().host_addresses())"
)


def test_default_settings_offer_loopback_inside_a_loopback_only_namespace():
    """Real discovery (no patching) in a fresh network namespace that has only ``lo``."""
    require(os.geteuid() == 0 and shutil.which("unshare") is not None, "needs root and unshare(1)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "GIAOBAN_VAR_DIR": "/tmp/live-pages-probe-var",
        }
    )
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [
            "unshare",
            "--net",
            "--",
            "sh",
            "-c",
            f'ip link set lo up && exec "{sys.executable}" -c "{PROBE}"',
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "OFFER ['127.0.0.1']" in done.stdout, done.stdout + done.stderr
