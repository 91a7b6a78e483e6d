"""Issue 9's "done when": a whole briefing run only by clicking (tests/browser/briefing.py)
inside a network namespace whose only interface is loopback, with the DEFAULT media settings:
nothing tells the SFU which address to use, so this also proves the loopback fallback."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.live_stack import run_scenario_in_loopback_namespace

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(600)]


def test_a_briefing_run_only_by_clicking_in_a_loopback_only_namespace(chromium_path, tmp_path):
    shots = tmp_path / "shots"
    result = run_scenario_in_loopback_namespace(
        "tests.browser.briefing", [str(shots)], "BRIEFING-JSON", timeout=540
    )
    assert result["namespace_addresses"] == ["127.0.0.1/8"]  # really loopback only
    assert result["pages_ended"] == 3
    for png in shots.glob("observer-*.png"):
        copy = os.environ.get("GIAOBAN_SHOTS_DIR")
        if copy:
            shutil.copy(png, copy)
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "console-1366x768.png",
        "observer-1366x768.png",
        "observer-390x844.png",
        "operator-1366x768-rollcall.png",
        "operator-390x844-ended.png",
        "operator-390x844-rollcall.png",
    ]
