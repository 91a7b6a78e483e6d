"""Every page under the strict Content-Security-Policy in headless Chromium (issue 11 item 11).

Each page is opened as a user who may see it; the test fails on any CSP violation, page error
or console error (or a warning about the Permissions-Policy header), and on a page without the
policy. The live pages must still connect (the join page gets its camera and the WebSocket
opens) because Permissions-Policy allows camera and microphone there; on any other page
getUserMedia is refused. Static files carry the headers too.
The inline handlers that were moved to static/portal/behaviours.js are exercised: a delete
asks first, the language menu switches language.
"""

from __future__ import annotations

import urllib.request

import pytest
from django.urls import reverse

from tests.browser.live_stack import CHROMIUM_ARGS, daphne, login, prepare

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(300)]

T = 30_000

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} blocked=${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""
GUM = """() => navigator.mediaDevices.getUserMedia({video: true, audio: true})
  .then((s) => { s.getTracks().forEach((t) => t.stop()); return 'ok'; }, (e) => e.name)"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("csp")
    setup = prepare(var_dir, site_keys=["15-UBND", "140", "138"])
    with daphne(var_dir) as base:
        yield {"base": base, **setup}


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser, base, username=None):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(T)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            (
                (msg.type == "error" and not msg.text.startswith("Failed to load resource"))
                # Chromium warns on every page about a feature it does not know
                or "Permissions-Policy" in msg.text
            )
            and problems.append(f"console: {msg.text}")
        ),
    )
    # A missing resource is reported by URL (the favicon is another change's; a 404 for it is not ours).
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and not r.url.endswith("/favicon.ico")
            and r.request.resource_type != "document"
            and problems.append(f"{r.status} {r.url}")
        ),
    )
    if username:
        login(page, base, username)
    return context, page, problems


def _visit(page, problems, url: str, *, status: int = 200) -> None:
    response = page.goto(url)
    page.wait_for_load_state("load")
    assert response is not None and response.status == status, (
        f"{url}: {response and response.status}"
    )
    policy = response.headers.get("content-security-policy", "")
    assert (
        "default-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src-attr")[0]
    ), url
    violations = page.evaluate("window.__csp")
    assert not violations and not problems, f"{url}: {violations} {problems}"


def test_every_page_renders_under_the_policy_without_violations(stack, browser):
    base, code = stack["base"], stack["code"]
    site_140 = stack["sites"]["140"]
    pages = {
        None: ["/login/"],
        "vanthu.tinh": [
            "/",
            reverse("org_tree"),
            reverse("unit_detail", args=["140"]),
            reverse("site_detail", args=[site_140]),
            reverse("site_edit", args=[site_140]),
            reverse("conference_list"),
            reverse("conference_create"),
            reverse("conference_detail", args=[code]),
            reverse("conference_edit", args=[code]),
            reverse("conference_agenda", args=[code]),
            reverse("conference_documents", args=[code]),
            reverse("conference_sites", args=[code]),
            reverse("conference_attendance", args=[code]),
            reverse("conference_minutes", args=[code]),
            reverse("conference_join_links", args=[code]),
        ],
        "lanhdao.tinh": [
            reverse("history_dashboard"),
            reverse("history_search"),
            reverse("history_savings"),
            "/api/docs/",
            "/api/v1/conferences/",
        ],
        "kythuat.vanchan": [
            reverse("my_conferences"),
            reverse("operator_conference", args=[code, site_140]),
        ],
        "quantri": [
            "/admin/",
            "/admin/portal/unit/",
            "/admin/portal/unit/1/change/",
            "/admin/conferences/conference/add/",
        ],
    }
    for username, paths in pages.items():
        context, page, problems = _page(browser, base, username)
        try:
            for path in paths:
                _visit(page, problems, base + path)
        finally:
            context.close()


def test_live_pages_connect_and_only_they_may_use_the_camera(stack, browser):
    base, code = stack["base"], stack["code"]
    context, page, problems = _page(browser, base, "kythuat.vanchan")
    try:
        _visit(page, problems, base + reverse("org_tree"))
        assert page.evaluate(GUM) == "NotAllowedError"
        problems.clear()  # Chromium logs the refusal we just provoked
        _visit(page, problems, base + reverse("conference_join", args=[code]))
        page.wait_for_selector("body[data-devices=ok]")
        page.click("[data-action=join]")  # the pre-join check passed: enter the room
        page.wait_for_selector("body[data-ws=open]")
        assert page.evaluate(GUM) == "ok"
        assert not page.evaluate("window.__csp") and not problems, problems
    finally:
        context.close()
    context, page, problems = _page(browser, base, "chutri.tinh")
    try:
        _visit(page, problems, base + reverse("conference_console", args=[code]))
        page.wait_for_selector("body[data-ws=open]")
        assert not page.evaluate("window.__csp") and not problems, problems
    finally:
        context.close()


def test_moved_inline_handlers_still_work(stack, browser):
    base, code = stack["base"], stack["code"]
    context, page, problems = _page(browser, base, "vanthu.tinh")
    try:
        _visit(page, problems, base + reverse("conference_agenda", args=[code]))
        items = page.locator("form[data-confirm]").count()
        assert items >= 3
        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        page.locator("form[data-confirm] button[type=submit]").first.click()
        page.wait_for_timeout(500)
        assert (
            asked and page.locator("form[data-confirm]").count() == items
        )  # dismissed: nothing deleted
        page.select_option("#lang", "en")
        page.wait_for_selector("html[lang=en]")
        assert not page.evaluate("window.__csp") and not problems, problems
    finally:
        context.close()


def test_static_files_carry_the_security_headers(stack):
    with urllib.request.urlopen(stack["base"] + "/static/portal/app.css", timeout=30) as response:  # noqa: S310
        headers = response.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"


# The same stack, for a layout check that needs a real browser: on a phone the home page is one
# column, and the live/next conference card must come before the roles and the site counts.
CARD_ORDER_JS = """() => {
  const top = (sel) => { const el = document.querySelector(sel); return el ? el.getBoundingClientRect().top : null; };
  const counts = [...document.querySelectorAll('.grid.two > .card')].find((c) => c.querySelector('.kindcounts'));
  return {card: top('.upcoming-card'), counts: counts ? counts.getBoundingClientRect().top : null,
          join: top('.upcoming-card [data-entry=join]'), width: document.documentElement.clientWidth};
}"""


@pytest.mark.parametrize("size", [(390, 844), (1366, 768)], ids=["phone", "pc"])
def test_the_operators_home_page_shows_the_conference_card_first_on_a_phone(
    stack, browser, size, tmp_path
):
    context, page, problems = _page(browser, stack["base"], "kythuat.vanchan")
    try:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        _visit(page, problems, stack["base"] + "/")
        page.screenshot(path=str(tmp_path / f"home-{size[0]}x{size[1]}.png"), full_page=True)
        where = page.evaluate(CARD_ORDER_JS)
        assert where["card"] is not None and where["counts"] is not None, where
        if size[0] <= 760:
            assert where["card"] < where["counts"], where  # the card first
            assert where["join"] is not None and where["join"] < size[1], (
                where
            )  # on the first screen
        else:
            assert where["join"] is not None and where["join"] < size[1], where
    finally:
        context.close()
