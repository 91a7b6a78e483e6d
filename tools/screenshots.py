"""Screenshots of the portal's pages as its users see them, at 1366×768 and on a 390×844 phone.

Run against a portal started with ``make run`` (same checkout, same environment, so this script
reads the demo conferences' codes from the same database):

    make run PORT=8105 &
    .venv/bin/python tools/screenshots.py --base http://127.0.0.1:8105 --out /tmp/shots [NAME ...]

Each shot signs in through the login page as a demo user (password ``GiaoBan@2026``), opens a
page, optionally does what a user would (types, ticks, submits), waits for the page's readiness
flag where it has one and saves ``<name>-desktop.png`` and ``<name>-phone.png``. NAME filters
shots by prefix. Add a shot by appending to ``SHOTS``; ``context`` holds the demo data the paths
need. The browser's console errors are printed, so a broken script shows up here too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "GiaoBan@2026"  # noqa: S105 - the demo users' published password
VIEWPORTS = {"desktop": (1366, 768), "phone": (390, 844)}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@dataclass
class Shot:
    name: str
    user: str | None  # None: not signed in
    path: Callable[[dict[str, Any]], str]
    act: Callable[[Any, dict[str, Any]], None] | None = None  # page, context
    ready: str | None = None  # CSS selector to wait for before the picture
    language: str = "vi"
    full_page: bool = True
    notes: list[str] = field(default_factory=list)


def demo_context() -> dict[str, Any]:
    """Codes of the demo data (``manage.py seed_demo``) the shots open."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from conferences.models import Conference, Level, Status

    def code_of(**filters) -> str:
        conf = Conference.objects.filter(**filters).order_by("planned_start").first()
        return str(conf.code) if conf else ""

    upcoming = {"status__in": [Status.SCHEDULED, Status.DRAFT, Status.LIVE]}
    return {
        "p2d": code_of(
            level=Level.PROVINCE_TO_DISTRICT,
            title__startswith="Hội nghị giao ban công tác",
            **upcoming,
        ),
        "d2c": code_of(level=Level.DISTRICT_TO_COMMUNE, host_unit__code="140", **upcoming),
        "live": code_of(title__contains="demo trực tiếp", **upcoming),
        "ended": code_of(
            status=Status.ENDED, level=Level.DISTRICT_TO_COMMUNE, host_unit__code="140"
        ),
    }


def _tick_communes(page, context) -> None:
    page.check('input[name="sel_kind"][value="commune"]')
    page.wait_for_timeout(700)


def _issue_all(page, context) -> None:
    """The clerk gives every site without one a link (nothing is issued twice)."""
    page.click('form:has(input[value="issue_missing"]) button[type="submit"]')
    page.wait_for_load_state("networkidle")


SHOTS: list[Shot] = [
    Shot("login", None, lambda c: "/login/"),
    Shot("home-clerk", "vanthu.tinh", lambda c: "/"),
    Shot(
        "create-province",
        "vanthu.tinh",
        lambda c: "/conferences/new/",
        ready="#site-picker[data-ready]",
    ),
    Shot(
        "create-district",
        "vanthu.vanchan",
        lambda c: "/conferences/new/",
        act=_tick_communes,
        ready="#site-picker[data-ready]",
    ),
    Shot(
        "links",
        "vanthu.tinh",
        lambda c: f"/conferences/{c['p2d']}/links/",
        ready="#join-links[data-ready]",
    ),
    Shot(
        "links-issued",
        "vanthu.tinh",
        lambda c: f"/conferences/{c['p2d']}/links/",
        act=_issue_all,
        ready="#join-links[data-ready]",
    ),
    Shot(
        "links-district",
        "vanthu.vanchan",
        lambda c: f"/conferences/{c['d2c']}/links/",
        ready="#join-links[data-ready]",
    ),
    Shot("attendance", "vanthu.tinh", lambda c: f"/conferences/{c['live']}/attendance/"),
    Shot(
        "attendance-district", "vanthu.vanchan", lambda c: f"/conferences/{c['ended']}/attendance/"
    ),
    Shot("overview", "vanthu.tinh", lambda c: f"/conferences/{c['p2d']}/"),
    Shot("operator-home", "kythuat.vanchan", lambda c: "/"),
    Shot("operator-list", "kythuat.vanchan", lambda c: "/my/conferences/"),
    Shot(
        "not-found",
        "kythuat.vanchan",
        lambda c: "/conferences/00000000-0000-4000-8000-000000000000/",
    ),
    Shot("forbidden", "kythuat.vanchan", lambda c: f"/conferences/{c['live']}/links/"),
    Shot(
        "create-district-en",
        "vanthu.vanchan",
        lambda c: "/conferences/new/",
        ready="#site-picker[data-ready]",
        language="en",
    ),
    Shot("links-en", "vanthu.tinh", lambda c: f"/conferences/{c['p2d']}/links/", language="en"),
    Shot(
        "attendance-en",
        "vanthu.tinh",
        lambda c: f"/conferences/{c['live']}/attendance/",
        language="en",
    ),
]


def sign_in(page, base: str, user: str) -> None:
    page.goto(f"{base}/login/")
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_load_state("networkidle")


def set_language(page, base: str, language: str) -> None:
    page.goto(f"{base}/")
    page.select_option("#lang", language)
    page.wait_for_load_state("networkidle")


def take(browser, base: str, out: Path, shot: Shot, context: dict[str, Any]) -> list[Path]:
    saved = []
    for label, (width, height) in VIEWPORTS.items():
        ctx = browser.new_context(
            viewport={"width": width, "height": height},
            is_mobile=label == "phone",
            has_touch=label == "phone",
            locale="vi-VN",
        )
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        try:
            if shot.user:
                sign_in(page, base, shot.user)
            if shot.language != "vi":
                set_language(page, base, shot.language)
            page.goto(base + shot.path(context))
            if shot.act:
                shot.act(page, context)
            if shot.ready:
                page.wait_for_selector(shot.ready, state="attached", timeout=15_000)
            page.wait_for_timeout(300)
            wider = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            if wider > 0:
                print(
                    f"  {shot.name}/{label}: the page is {wider} px wider than the screen",
                    file=sys.stderr,
                )
            path = out / f"{shot.name}-{label}.png"
            page.screenshot(path=str(path), full_page=shot.full_page)
            saved.append(path)
        finally:
            for error in errors:
                print(f"  console error on {shot.name}/{label}: {error}", file=sys.stderr)
            ctx.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=os.environ.get("SITE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("names", nargs="*", help="only shots whose name starts with one of these")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    context = demo_context()
    shots = [s for s in SHOTS if not args.names or any(s.name.startswith(n) for n in args.names)]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for shot in shots:
                for path in take(browser, args.base.rstrip("/"), out, shot, context):
                    print(path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
