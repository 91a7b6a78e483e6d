"""Fixtures for the SFU tests: loopback-only ICE for aiortc clients, and Chromium lookup."""

from __future__ import annotations

import os
import shutil

import aioice.ice
import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def loopback_only_ice(monkeypatch):
    """aiortc test clients gather 127.0.0.1 only (aioice skips loopback by default).

    The SFU side does not rely on this: it applies ``NetworkPolicy.loopback()`` itself.
    """
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
def chromium_path() -> str:
    """Path of the Chromium binary; skips without one, FAILS if GIAOBAN_REQUIRE_ALL=1."""
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path:
        return path
    message = f"Chromium not found at {CHROMIUM}"
    if os.environ.get("GIAOBAN_REQUIRE_ALL") == "1":
        pytest.fail(message + " and GIAOBAN_REQUIRE_ALL=1 forbids skipping")
    pytest.skip(message)
