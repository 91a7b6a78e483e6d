"""Issue 14's "done when" for presenting (tests/browser/presenting.py) inside a network
namespace whose only interface is loopback: the chair grants a site the presenter role, it
shares its screen, another site decodes the moving content from the network beside the speaker,
the chair revokes and it stops everywhere, a PDF is shown page by page and its second page
reaches the other site, a share ended from the browser's bar stops presenting, and a phone that
opts out of content offers the content slot inactive (and back), and a chat message reaches the
other site and the timeline."""

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
    for key in ("phone_layout", "tablet_layout", "tablet_landscape_layout"):
        layout = result[key]
        assert layout["inside"], (key, layout)  # nothing wider than the screen
        assert layout["content"][0] > layout["speaker"][0], (key, layout)  # content large
        assert layout["content"][1] > 0 and layout["speaker"][1] > 0, (key, layout)  # both shown
    assert "đang trình chiếu" in result["console_presenting"]
    assert result["capture_after_revoke"] is True
    assert result["frames_after_revoke"] <= 3  # at most what was in flight
    assert "/pages/2/" in result["phone_page"]
    assert result["ended_from_bar"] is True
    # a phone that opts out offers the content slot (the last m-line) inactive and decodes none
    out = result["opted_out_line"]
    assert out["direction"] == "inactive" and out["last"] and out["stored"] == "1"
    assert "đang trình chiếu màn hình" in result["opted_out_note"]
    assert result["opted_out_frames"][1] <= max(0, result["opted_out_frames"][0])
    assert result["opted_in_line"]["direction"] == "recvonly"
    assert result["opted_in_line"]["stored"] is None
    assert result["opted_in_frames"] > 5
    assert result["opted_out_again"]["direction"] == "inactive"
    assert result["opted_out_again"]["stored"] == "1"
    assert "đã trình chiếu xong" in result["phone_chat"] and result["timeline_has_chat"]
