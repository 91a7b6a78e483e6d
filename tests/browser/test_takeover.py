"""A second machine for the same site asks before it takes over (issue 11 item 2), through the
real pages in headless Chromium: the second page asks "Tiếp quản?"; declined, the first keeps
the site; accepted, the first page says the site was opened on another machine and its
"Dùng lại điểm cầu ở máy này" takes it back; a reload of the same tab is not asked."""

from __future__ import annotations

import pytest

from tests.browser.live_stack import CHROMIUM_ARGS, daphne, env_for, login, prepare

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(240)]

T = 30_000


def test_a_second_page_for_a_site_asks_and_the_replaced_page_takes_it_back(chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    var = tmp_path / "var"
    env = env_for(var)
    info = prepare(var, site_keys=["15-UBND", "140"], env=env)
    url = f"/conferences/{info['code']}/join/"
    with daphne(var, env) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            pages, dialogs = [], []
            for _ in range(2):
                context = browser.new_context(viewport={"width": 1366, "height": 768})
                context.set_default_timeout(T)
                page = context.new_page()
                login(page, base, "kythuat.vanchan")
                page.goto(base + url)
                page.wait_for_selector("body[data-devices=ok]")
                pages.append(page)
            first, second = pages
            first.click("#prejoin [data-action=join]")
            first.wait_for_selector("body[data-ws=open]")

            # declined: nothing changes for the first machine
            def decline(dialog):
                dialogs.append(dialog.message)
                dialog.dismiss()

            second.once("dialog", decline)
            second.click("#prejoin [data-action=join]")
            second.wait_for_selector("body[data-ws=closed]")
            assert dialogs == ["Điểm cầu này đang được kết nối từ máy khác. Tiếp quản?"]
            assert "đang được kết nối từ máy khác" in second.inner_text("[data-role=closed]")
            assert first.get_attribute("body", "data-ws") == "open"

            # the banner's "Dùng lại điểm cầu ở máy này" takes over (the user already chose):
            # the first machine is told
            second.click("[data-action=retake]")
            second.wait_for_selector("body[data-ws=open]")
            first.wait_for_selector("body[data-ws=closed]")
            assert "Điểm cầu đã được mở trên máy khác" in first.inner_text("[data-role=closed]")
            assert first.is_visible("[data-action=retake]")

            # and the first takes it back
            first.click("[data-action=retake]")
            first.wait_for_selector("body[data-ws=open]")
            second.wait_for_selector("body[data-ws=closed]")
            assert "Điểm cầu đã được mở trên máy khác" in second.inner_text("[data-role=closed]")
            assert first.evaluate("window.giaoban.state().me.site") == info["sites"]["140"]

            # a reload of the same tab is the same page (its token is kept for the tab): it
            # takes its site back without the question, even if the server still holds the
            # site for the connection the reload closed
            first.on("dialog", decline)
            token = "window.giaoban.live.socket.page"
            kept = first.evaluate(token)
            assert kept != second.evaluate(token)  # another tab is another page
            first.reload()
            first.wait_for_selector("body[data-devices=ok]")
            first.click("#prejoin [data-action=join]")
            first.wait_for_selector("body[data-ws=open]")
            assert first.evaluate(token) == kept  # ... a reload of this one is not
            assert dialogs == ["Điểm cầu này đang được kết nối từ máy khác. Tiếp quản?"]
            assert first.evaluate("window.giaoban.state().me.site") == info["sites"]["140"]
        finally:
            browser.close()
