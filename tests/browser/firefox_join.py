"""Firefox ESR in a live conference beside Chromium, on the embedded stack with the DEFAULT
media settings: the scenario behind ``tests/browser/test_firefox.py`` (run inside a
loopback-only network namespace).

    python -m tests.browser.firefox_join      (prints "FIREFOX-JSON {...}" at the end)

The chair (Chromium) starts the conference from the console; an operator in Firefox signs in,
enters from the home page's "Vào phòng họp" and decodes the chair's video from the network;
the chair gives the Firefox site the floor and decodes its VP8 video on the main stage. The
Firefox page must not churn peer connections (bounded retries, issue 9 item 17).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

from tests.browser.bidi import Firefox
from tests.browser.briefing import INBOUND_VIDEO_JS, env_defaults, sign_in, video_moves, wait_until
from tests.browser.live_stack import CHROMIUM_ARGS, PASSWORD, daphne, prepare

T = 30_000


def ff_inbound(slot: str) -> str:
    return f"({INBOUND_VIDEO_JS})({json.dumps(slot)})"


def run() -> dict:
    from playwright.sync_api import sync_playwright

    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="giaoban-firefox-") as tmp:
        var = Path(tmp) / "var"
        env = env_defaults(var)
        info = prepare(var, site_keys=["15-UBND", "140", "138"], env=env)
        code, vanchan = info["code"], info["sites"]["140"]
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(daphne(var, env))
            pw = stack.enter_context(sync_playwright())
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=T
            )
            stack.callback(browser.close)
            ff = Firefox()
            stack.callback(ff.close)
            chair = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
            chair.set_default_timeout(T)
            chair.on("dialog", lambda d: d.accept())
            try:
                sign_in(chair, base, "chutri.tinh")
                chair.click(f"[data-conference='{code}'] [data-entry=console]")
                chair.wait_for_selector("body[data-ws=open]")
                chair.click("[data-action=start]")
                chair.wait_for_selector("body[data-media=connected]")

                ff.goto(base + "/login/")
                ff.js(
                    "(() => { const f = document.querySelector('main form');"
                    f" f.username.value = 'kythuat.vanchan'; f.password.value = {json.dumps(PASSWORD)};"
                    " f.querySelector('button[type=submit]').click(); return true; })()"
                )
                ff.wait_for(
                    "document.readyState === 'complete' && !document.querySelector('input[name=password]')",
                    what="signed in",
                )
                ff.wait_for(
                    f"!!document.querySelector(\"[data-conference='{code}'] [data-entry=join]\")",
                    what="the join button",
                )
                ff.js(
                    f"document.querySelector(\"[data-conference='{code}'] [data-entry=join]\").click() || true"
                )
                ff.wait_for("document.body.dataset.devices === 'ok'", what="camera and microphone")
                ff.js("document.querySelector('#prejoin [data-action=join]').click() || true")
                ff.wait_for(
                    "document.body.dataset.media === 'connected'",
                    timeout=45,
                    what="Firefox media connected",
                )
                result["firefox_site"] = ff.js("window.giaoban.state().me.site")
                assert result["firefox_site"] == vanchan
                first = wait_until(
                    lambda: (n := ff.js(ff_inbound("chair/video"))) > 0 and n,
                    30,
                    what="chair video in Firefox",
                )
                result["firefox_frames"] = wait_until(
                    lambda: (n := ff.js(ff_inbound("chair/video"))) >= first + 15 and n,
                    30,
                    what="chair video advancing in Firefox",
                )
                # the chair sees Firefox's VP8 on the main stage once it has the floor
                chair.click(f".site-tile[data-code='{vanchan}']")
                chair.click("#selected-site [data-action='floor.give']")
                chair.wait_for_selector(f"body[data-main-site='{vanchan}']")
                result["chair_frames_of_firefox"] = video_moves(chair, "main/video")
                result["firefox_restarts"] = ff.js("window.giaoban.live.media.restarts")
                assert result["firefox_restarts"] == 0, result
                chair.click("[data-action=end]")
                ff.wait_for(
                    "document.body.dataset.status === 'ended' && document.body.dataset.camera === 'released'",
                    what="ended in Firefox",
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    print("--- Firefox media ---")
                    print(ff.js("window.giaoban.live.media.slotStats()"))
                    print(
                        ff.js(
                            "(async () => { const out = []; (await window.giaoban.live.media.pc.getStats()).forEach((r) => { if (r.type.includes('rtp')) out.push(r); }); return out; })()"
                        )
                    )
                    print(ff.js("window.giaoban.state() && window.giaoban.state().conference"))
                print("--- Firefox console ---")
                print("\n".join(ff.console[-60:]))
                print(ff.log_path.read_text()[-3000:])
                for log in sorted(var.glob("*.log")):
                    print(f"--- {log.name} ---")
                    print(log.read_text()[-4000:])
                raise
    return result


if __name__ == "__main__":
    print("FIREFOX-JSON " + json.dumps(run()))
    sys.exit(0)
