"""Screenshots of the live pages as their users see them, to look at after changing them.

    .venv/bin/python tools/live_screenshots.py [OUT_DIR]      (default: giaoban-live-shots in the temp dir)

Starts its own embedded stack (temporary SQLite, Daphne on a free 127.0.0.1 port; nothing else
is touched), lets the chair start a conference from the console, lets two district operators
join, gives one of them the floor and opens a roll call, then saves PNGs of:
- the operator's room at 1366×768 (PC), 820×1180 (tablet) and 390×844 (phone), with the roll
  call asked in the dock;
- the chair console at 1366×768 and the 390×844 phone;
- the same operator page after the conference ended.
Needs Debian's Chromium and Playwright (requirements-dev.txt). The test suite checks the same
layouts (controls inside the window) in tests/browser/test_live_layout.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.live_stack import CHROMIUM_ARGS, daphne, login, prepare  # noqa: E402

VIEWPORTS = {"pc": (1366, 768), "tablet": (820, 1180), "phone": (390, 844)}
T = 30_000


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="giaoban-shots-") as tmp:
        var = Path(tmp) / "var"
        info = prepare(var, site_keys=["15-UBND", "140", "138", "137", "04630", "04633"])
        code, sites = info["code"], info["sites"]
        with daphne(var) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=T
            )
            try:

                def page_for(user: str, size: tuple[int, int]):
                    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
                    context.set_default_timeout(T)
                    page = context.new_page()
                    login(page, base, user)
                    return page

                chair = page_for("chutri.tinh", VIEWPORTS["pc"])
                chair.on("dialog", lambda d: d.accept())
                chair.goto(f"{base}/conferences/{code}/console/")
                chair.wait_for_selector("body[data-ws=open]")
                chair.click("[data-action=start]")
                chair.wait_for_selector("body[data-media=connected]")
                ops = {}
                for name, size in VIEWPORTS.items():
                    user = "kythuat.vanchan" if name != "phone" else "kythuat.tranyen"
                    if name == "tablet":
                        user = "kythuat.mucangchai"
                    page = page_for(user, size)
                    page.goto(f"{base}/")
                    page.click("[data-entry=join]")
                    page.wait_for_selector("body[data-devices=ok]")
                    page.click("[data-action=join]")
                    page.wait_for_selector("body[data-media=connected]")
                    ops[name] = page
                chair.wait_for_timeout(1500)
                chair.screenshot(path=out / "console-1366x768-nobody-has-the-floor.png")
                ops["pc"].screenshot(path=out / "operator-1366x768-chair-on-stage.png")
                chair.click(f".site-tile[data-code='{sites['140']}']")
                chair.click("#selected-site [data-action='floor.give']")
                chair.click("[data-action='rollcall.start']")
                for name, page in ops.items():
                    page.wait_for_selector("#rollcall-form:not([hidden])")
                    page.wait_for_timeout(1500)
                    w, h = VIEWPORTS[name]
                    page.screenshot(path=out / f"operator-{w}x{h}-{name}-rollcall.png")
                ops["phone"].screenshot(
                    path=out / "operator-390x844-phone-full.png", full_page=True
                )
                chair.wait_for_timeout(500)
                chair.screenshot(path=out / "console-1366x768-floor-and-rollcall.png")
                chair.set_viewport_size({"width": 390, "height": 844})
                chair.screenshot(path=out / "console-390x844.png", full_page=True)
                chair.set_viewport_size({"width": 1366, "height": 768})
                chair.click("[data-action=end]")
                ops["pc"].wait_for_selector("body[data-status=ended]")
                ops["pc"].wait_for_timeout(500)
                ops["pc"].screenshot(path=out / "operator-1366x768-ended.png")
                chair.screenshot(path=out / "console-1366x768-ended.png")
            finally:
                browser.close()
    for png in sorted(out.glob("*.png")):
        print(png)


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(tempfile.gettempdir()) / "giaoban-live-shots"
    )
