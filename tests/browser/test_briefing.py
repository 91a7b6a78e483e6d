"""Issue 9's "done when": a whole briefing run only by clicking (tests/browser/briefing.py)
inside a network namespace whose only interface is loopback, with the DEFAULT media settings:
nothing tells the SFU which address to use, so this also proves the loopback fallback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import require

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(600)]


def test_a_briefing_run_only_by_clicking_in_a_loopback_only_namespace(chromium_path, tmp_path):
    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "needs root and unshare(1) for a network namespace",
    )
    shots = tmp_path / "shots"
    # lo up; a default route over lo so browsers that want one (Firefox) have it
    inside = f'ip link set lo up && ip route add default dev lo src 127.0.0.1 && exec "{sys.executable}" -m tests.browser.briefing "{shots}"'
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
        timeout=540,
    )
    print(done.stdout[-20000:])
    print(done.stderr[-8000:])
    assert done.returncode == 0, "the briefing scenario failed (output above)"
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BRIEFING-JSON "))
    result = json.loads(line.removeprefix("BRIEFING-JSON "))
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
