"""Issue 14's "done when" for presenting (tests/browser/presenting.py) inside a network
namespace whose only interface is loopback: the chair grants a site the presenter role, it
shares its screen, another site decodes the moving content from the network beside the speaker,
the chair revokes and it stops everywhere, a PDF is shown page by page and its second page
reaches the other site, and a share ended from the browser's bar stops presenting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import require

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(420)]


def test_a_site_presents_its_screen_and_a_document_to_the_others_in_a_loopback_namespace(
    chromium_path, tmp_path
):
    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "needs root and unshare(1) for a network namespace",
    )
    inside = f'ip link set lo up && exec "{sys.executable}" -m tests.browser.presenting'
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEDIA_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    done = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", inside],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    print(done.stdout[-20000:])
    print(done.stderr[-8000:])
    assert done.returncode == 0, "the presenting scenario failed (output above)"
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PRESENTING-JSON "))
    result = json.loads(line.removeprefix("PRESENTING-JSON "))
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
