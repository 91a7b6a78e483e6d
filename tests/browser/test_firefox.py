"""Firefox ESR beside Chromium in one conference (tests/browser/firefox_join.py), inside a
loopback-only network namespace with the default media settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from tests.browser.bidi import firefox_path
from tests.conftest import require

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(420)]


def test_firefox_esr_joins_sends_and_receives_video_beside_chromium(chromium_path):
    require(
        firefox_path() is not None, "Firefox ESR is not installed (apt-get install firefox-esr)"
    )
    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "needs root and unshare(1) for a network namespace",
    )
    # Firefox in a namespace with only lo needs a default route to gather candidates (MEDIA_NOTES)
    inside = f'ip link set lo up && ip route add default dev lo src 127.0.0.1 && exec "{sys.executable}" -m tests.browser.firefox_join'
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
        timeout=360,
    )
    print(done.stdout[-15000:])
    print(done.stderr[-6000:])
    assert done.returncode == 0, "the Firefox scenario failed (output above)"
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("FIREFOX-JSON "))
    result = json.loads(line.removeprefix("FIREFOX-JSON "))
    assert result["firefox_frames"] >= 15 and result["chair_frames_of_firefox"] >= 15
