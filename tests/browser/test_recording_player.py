"""The recording plays in headless Chromium and a chapter (and a timeline row) jumps to its
agenda item: real segments recorded by the recorder, reported through the media sink, served by
Daphne through the permission-checked view (range requests), under the page's strict CSP."""

from __future__ import annotations

import pytest

from tests.browser.live_stack import CHROMIUM_ARGS, ROOT, daphne, env_for, login, prepare

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(300)]

T = 30_000

RECORD = r"""
import datetime as dt, time
from pathlib import Path
from django.conf import settings
from conferences.live.media_sink import report
from conferences.models import AgendaItem, Conference, Status
from tests.media_worker.recording_helpers import record
conf = Conference.objects.get(code="CODE")
t0 = time.time() - 120
start = dt.datetime.fromtimestamp(t0, dt.UTC)
conf.status = Status.LIVE; conf.actual_start = start; conf.save()
folder = Path(settings.MEDIA_ROOT) / "recordings" / "CODE"
for event in record(folder, 12.0, 100, t0=t0):
    assert report("CODE", event)
items = list(conf.agenda_items.order_by("position"))
for item, (a, b) in zip(items, [(0.5, 6), (7, 11), (11, 12)]):
    item.actual_start = start + dt.timedelta(seconds=a); item.actual_end = start + dt.timedelta(seconds=b); item.save()
from conferences.audit import audit_log
from conferences.models import AuditEntry
entry = audit_log(conference=conf, action="live.agenda.goto", data={"item": items[0].pk})
AuditEntry.objects.filter(pk=entry.pk).update(at=start + dt.timedelta(seconds=3))
conf.status = Status.ENDED; conf.actual_end = start + dt.timedelta(seconds=12); conf.save()
print("RECORDED")
"""


def test_a_leader_plays_the_recording_and_jumps_to_an_agenda_item(tmp_path, chromium_path):
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    env = env_for(tmp_path)
    setup = prepare(tmp_path, site_keys=["15-UBND", "140"], env=env)
    code = setup["code"]
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", RECORD.replace("CODE", code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "RECORDED" in done.stdout, done.stderr[-3000:]
    with daphne(tmp_path, env) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(T)
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type == "error" else None,
            )
            login(page, base, "lanhdao.tinh")
            page.goto(f"{base}/history/conferences/{code}/")
            video = page.locator("[data-role=recording-video]")
            video.wait_for()
            page.wait_for_function(
                "() => document.querySelector('[data-role=recording-video]').readyState >= 1"
            )
            duration = page.evaluate(
                "() => document.querySelector('[data-role=recording-video]').duration"
            )
            assert 11 <= duration <= 13, duration
            page.evaluate(
                "() => { const v = document.querySelector('[data-role=recording-video]');"
                " v.muted = true; return v.play(); }"
            )
            page.wait_for_function(
                "() => document.querySelector('[data-role=recording-video]').currentTime > 0.5"
            )
            chapters = page.locator("[data-role=chapters] button")
            assert chapters.count() == 3
            assert "Công tác phòng chống thiên tai" in chapters.nth(1).inner_text()
            chapters.nth(1).click()
            # the second item started 7 s in: the player seeks there and plays on from it
            page.wait_for_function(
                "() => { const v = document.querySelector('[data-role=recording-video]');"
                " return !v.seeking && v.currentTime >= 7.0 && v.currentTime < 9.5; }"
            )
            page.wait_for_function(
                "() => document.querySelector('[data-role=recording-video]').currentTime > 7.6"
            )
            state = page.evaluate(
                "() => { const v = document.querySelector('[data-role=recording-video]');"
                " return {error: v.error && v.error.code, w: v.videoWidth, paused: v.paused}; }"
            )
            assert state["error"] is None and state["w"] == 320 and not state["paused"], state
            # the timeline's row of the first item ("Chuyển nội dung", 3 s in) jumps back there
            link = page.locator("[data-role=timeline-recording]")
            assert link.count() == 1 and link.get_attribute("href") == "#rec=0:3"
            link.click()
            page.wait_for_function(
                "() => { const v = document.querySelector('[data-role=recording-video]');"
                " return !v.seeking && v.currentTime >= 3.0 && v.currentTime < 5.5; }"
            )
            assert not problems, problems
        finally:
            browser.close()
