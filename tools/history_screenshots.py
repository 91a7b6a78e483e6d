"""Screenshots of the leaders' history pages as a leader sees them: signs in through the login
page as ``lanhdao.tinh`` and opens the overview, the dashboard, a word search, a unit typed by
name, the savings; a clerk's conference form offering topics as he types. At 1366×768, on a
tablet (1024×768 and 768×1024) and on a 390×844 phone.

    .venv/bin/python tools/history_screenshots.py --base http://127.0.0.1:8103 --out SHOTS_DIR

against a portal with the demo data (``make run PORT=8103``). Prints the browser's console
errors; exits non-zero if a page answered an error or a readiness flag never came.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PASSWORD = "GiaoBan@2026"  # noqa: S105 - the demo users' published password
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORTS = {
    "desktop": (1366, 768),
    "tablet": (1024, 768),
    "tablet-portrait": (768, 1024),
    "phone": (390, 844),
}
LEADER_PAGES = [
    ("overview", "/history/overview/", None),
    ("dashboard", "/history/?date_from=2021-01-01&date_to=2022-12-31", "[data-charts-ready]"),
    ("search-words", "/history/search/?q=phong+chong+dich", None),
    (
        "unit-by-name",
        "/history/?unit=V%C4%83n+Ch%E1%BA%A5n&date_from=2021-01-01&date_to=2022-12-31",
        "[data-charts-ready]",
    ),
    ("savings", "/history/savings/?date_from=2021-01-01&date_to=2022-12-31", None),
]


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=15000)


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8103")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"]
        )
        for label, (width, height) in VIEWPORTS.items():
            context = browser.new_context(
                viewport={"width": width, "height": height}, locale="vi-VN"
            )
            page = context.new_page()
            page.on(
                "console",
                lambda msg: msg.type == "error" and print(f"console: {msg.text}", file=sys.stderr),
            )
            sign_in(page, args.base, "lanhdao.tinh")
            for name, path, ready in LEADER_PAGES:
                response = page.goto(args.base + path)
                if response is None or response.status != 200:
                    print(f"{name}: HTTP {response.status if response else '?'}", file=sys.stderr)
                    problems += 1
                if ready:
                    page.wait_for_selector(f"html{ready}", state="attached", timeout=15000)
                page.screenshot(path=str(args.out / f"{name}-{label}.png"), full_page=True)
            # The unit field offers units within reach as the leader types.
            page.goto(f"{args.base}/history/")
            page.fill("input[name=unit]", "")
            page.type("input[name=unit]", "van ch", delay=40)
            page.wait_for_selector(".suggestions li", timeout=15000)
            page.screenshot(path=str(args.out / f"unit-suggest-{label}.png"))
            context.close()
            if label in ("desktop", "phone"):
                context = browser.new_context(
                    viewport={"width": width, "height": height}, locale="vi-VN"
                )
                page = context.new_page()
                sign_in(page, args.base, "vanthu.tinh")
                page.goto(f"{args.base}/conferences/new/")
                page.type("input[name=topics]", "covid, chuyen doi", delay=40)
                page.wait_for_selector(".suggestions li", timeout=15000)
                page.locator("input[name=topics]").scroll_into_view_if_needed()
                page.screenshot(path=str(args.out / f"topic-suggest-{label}.png"))
                context.close()
        browser.close()
    print(f"screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
