"""Firefox ESR beside Chromium in one conference (tests/browser/firefox_join.py), inside a
loopback-only network namespace with the default media settings."""

from __future__ import annotations

import pytest

from tests.browser.bidi import firefox_path
from tests.browser.live_stack import run_scenario_in_loopback_namespace
from tests.conftest import require

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(420)]


def test_firefox_esr_joins_sends_and_receives_video_beside_chromium(chromium_path):
    require(
        firefox_path() is not None, "Firefox ESR is not installed (apt-get install firefox-esr)"
    )
    # Firefox in a namespace with only lo needs a default route to gather candidates (MEDIA_NOTES)
    result = run_scenario_in_loopback_namespace(
        "tests.browser.firefox_join", [], "FIREFOX-JSON", timeout=360
    )
    assert result["firefox_frames"] >= 15 and result["chair_frames_of_firefox"] >= 15
