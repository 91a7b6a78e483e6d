"""Issue 14's "done when" for presenting (tests/browser/presenting.py) inside a network
namespace whose only interface is loopback: the chair grants a site the presenter role, it
shares its screen, another site decodes the moving content from the network beside the speaker,
the chair revokes and it stops everywhere, a PDF is shown page by page and its second page
reaches the other site, and a share ended from the browser's bar stops presenting."""

from __future__ import annotations

import pytest

from tests.browser.live_stack import run_scenario_in_loopback_namespace

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(420)]


def test_a_site_presents_its_screen_and_a_document_to_the_others_in_a_loopback_namespace(
    chromium_path, tmp_path
):
    result = run_scenario_in_loopback_namespace(
        "tests.browser.presenting", [], "PRESENTING-JSON", timeout=400, default_route=False
    )
    assert result["namespace_addresses"] == ["127.0.0.1/8"]
    assert result["screen"]["hint"] == "detail" and result["screen"]["displaySurface"] == "monitor"
    assert result["phone_content_frames"] > 10
    layout = result["phone_layout"]
    assert layout["inside"] and layout["content"][0] > layout["speaker"][0]  # content large
    assert "đang trình chiếu" in result["console_presenting"]
    assert result["capture_after_revoke"] is True
    assert result["frames_after_revoke"] <= 3  # at most what was in flight
    assert "/pages/2/" in result["phone_page"]
    assert result["ended_from_bar"] is True
