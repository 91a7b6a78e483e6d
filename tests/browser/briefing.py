"""A whole briefing run only by clicking what users see, on the embedded stack with the
DEFAULT media settings (no MEDIA_* variable): the scenario behind
``tests/browser/test_briefing.py``, which runs it inside a loopback-only network namespace.

    python -m tests.browser.briefing OUT_DIR     (prints "BRIEFING-JSON {...}" at the end)

The only address typed is the portal's login page. Then:
1. the chair signs in, clicks "Bàn điều khiển" on the home page and starts the conference;
2. two operators (a PC at 1366×768, a phone at 390×844) sign in, click "Vào phòng họp" on
   their home pages, pass the pre-join check and enter: each receives moving video from the
   network (``getStats()`` inbound-rtp video ``framesDecoded`` increasing), with the controls
   and the roll-call answer inside the window and clear of each other;
3. a leader signs in and clicks "Theo dõi" on the home page, on a PC and a phone: an observer
   (no site, no controls) receiving moving video, counted on the console as "người theo dõi" and
   not as a site;
4. the chair gives the PC site the floor from the console, the phone sees it on its stage;
   the chair opens a roll call and the phone answers it;
5. the chair opens the conference page from the console and clicks "Đánh dấu đã kết thúc"
   (``END_FROM_OVERVIEW``; else ends from the console and then opens the conference page);
then every page says "Hội nghị đã kết thúc" once, and every presence interval is closed.
Screenshots of the operator pages and the console go to OUT_DIR.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.browser.live_stack import CHROMIUM_ARGS, PASSWORD, ROOT, attendance, daphne, prepare

T = 30_000
OBSERVERS = True  # watch-only observers (issue 9 item 3): a leader watches on a PC and a phone
# "Đánh dấu đã kết thúc" on the overview ends through the live end path once the conference
# lifecycle has one path to "ended" (issue 10 item 1); until then the console's end button.
END_FROM_OVERVIEW = True

# framesDecoded of a slot's inbound-rtp video stats (the receiver's own getStats(), which works
# the same in Chromium and Firefox); -1 while there is no such stream.
INBOUND_VIDEO_JS = """async (slot) => {
  const media = window.giaoban.live.media;
  if (!media.pc) return -1;
  const s = (await media.slotStats())[slot];
  return s && s.kind === 'video' ? s.frames : -1;
}"""

# Every control of the dock inside the window and on top (not covered), and the roll-call
# form (if shown) clear of the controls.
LAYOUT_JS = """() => {
  const out = {problems: []};
  const inside = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 0.5 && r.right <= innerWidth + 0.5;
  for (const b of document.querySelectorAll('.controls .btn')) {
    if (b.hidden || b.offsetParent === null) continue;
    const r = b.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!inside(r)) out.problems.push(`${b.dataset.action} outside the window`);
    else if (top !== b && !b.contains(top)) out.problems.push(`${b.dataset.action} covered`);
  }
  const form = document.querySelector('#rollcall-form');
  if (form && !form.hidden) {
    const f = form.getBoundingClientRect(), c = document.querySelector('.controls').getBoundingClientRect();
    if (!inside(f)) out.problems.push('roll-call form outside the window');
    if (f.bottom > c.top + 0.5) out.problems.push('roll-call form under the toolbar');
    const input = document.querySelector('#headcount').getBoundingClientRect();
    const top = document.elementFromPoint(input.left + input.width / 2, input.top + input.height / 2);
    if (top !== document.querySelector('#headcount')) out.problems.push('roll-call input covered');
  }
  out.scrollable = document.documentElement.scrollHeight > innerHeight;
  return out;
}"""


def env_defaults(var: Path) -> dict[str, str]:
    """Embedded mode with nothing set but where the data lives: no MEDIA_* at all."""
    drop = ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOM_MODE", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_") and k not in drop}
    env.update(
        {
            "GIAOBAN_VAR_DIR": str(var),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_until(check, timeout: float = 30, interval: float = 0.25, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(interval)


def video_moves(page, slot: str, frames: int = 15, timeout: float = 30) -> int:
    """framesDecoded of ``slot``'s inbound video grows by ``frames``: video from the network."""
    first = wait_until(
        lambda: (n := page.evaluate(INBOUND_VIDEO_JS, slot)) > 0 and n,
        timeout,
        what=f"{slot} decoding",
    )
    return wait_until(
        lambda: (n := page.evaluate(INBOUND_VIDEO_JS, slot)) >= first + frames and n,
        timeout,
        what=f"{slot} frames advancing",
    )


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_selector("body:not(:has(input[name=password]))")


def layout_ok(page, name: str) -> None:
    got = page.evaluate(LAYOUT_JS)
    assert not got["problems"], f"{name}: {got['problems']}"


def run(out: Path) -> dict:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"namespace_addresses": _addresses()}
    logs: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="giaoban-briefing-") as tmp:
        var = Path(tmp) / "var"
        env = env_defaults(var)
        info = prepare(var, site_keys=["15-UBND", "140", "138", "137"], env=env)
        code, sites = info["code"], info["sites"]
        vanchan, tranyen = sites["140"], sites["138"]
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(daphne(var, env))
            pw = stack.enter_context(sync_playwright())
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=T
            )
            stack.callback(browser.close)
            try:

                def person(name: str, width: int, height: int):
                    context = browser.new_context(viewport={"width": width, "height": height})
                    context.set_default_timeout(T)
                    page = context.new_page()
                    logs[name] = []
                    page.on("console", lambda m, n=name: logs[n].append(f"{m.type}: {m.text}"))
                    page.on("pageerror", lambda e, n=name: logs[n].append(f"pageerror: {e}"))
                    page.on("dialog", lambda d: d.accept())
                    sign_in(page, base, name)
                    return page

                # 1. the chair: home → Bàn điều khiển → Bắt đầu hội nghị
                chair = person("chutri.tinh", 1366, 768)
                chair.click(f"[data-conference='{code}'] [data-entry=console]")
                chair.wait_for_selector("body[data-page=console][data-ws=open]")
                chair.click("[data-action=start]")
                chair.wait_for_selector("body[data-status=live]")
                chair.wait_for_selector("body[data-media=connected]")

                # 2. two operators from their home pages into the room
                ops = {}
                for name, size, site in (
                    ("kythuat.vanchan", (1366, 768), vanchan),
                    ("kythuat.tranyen", (390, 844), tranyen),
                ):
                    page = person(name, *size)
                    page.click(f"[data-conference='{code}'] [data-entry=join]")
                    page.wait_for_selector("body[data-devices=ok]")
                    page.click("#prejoin [data-action=join]")
                    page.wait_for_selector("body[data-ws=open][data-media=connected]")
                    assert page.evaluate("window.giaoban.state().me.site") == site
                    video_moves(page, "chair/video")  # the chair, received from the SFU
                    layout_ok(page, name)
                    ops[name] = page
                a, b = ops["kythuat.vanchan"], ops["kythuat.tranyen"]
                # nobody has the floor: the stage shows the chair, labelled with its name
                assert a.get_attribute(".stage", "data-site") == sites["15-UBND"]
                assert "Ủy ban nhân dân tỉnh Yên Bái" in a.text_content("[data-role=main-label]")
                chair.wait_for_selector(f".site-tile[data-code='{vanchan}'][data-state=online]")
                chair.wait_for_selector(f".site-tile[data-code='{tranyen}'][data-state=online]")
                chair.wait_for_selector(
                    f".site-tile[data-code='{sites['15-UBND']}'][data-state=online]"
                )

                # 3. a leader watches without taking a site
                watchers = []
                if OBSERVERS:
                    for size in ((1366, 768), (390, 844)):
                        leader = person("lanhdao.tinh", *size)
                        leader.click(f"[data-conference='{code}'] [data-entry=watch]")
                        leader.wait_for_selector(
                            "body[data-page=watch][data-ws=open][data-media=connected]"
                        )
                        me = leader.evaluate("window.giaoban.state().me")
                        assert (me["role"], me["site"], me["chair"]) == ("observer", None, False)
                        video_moves(leader, "chair/video")  # from the network, not a camera
                        layout_ok(leader, f"observer {size}")
                        watchers.append(leader)
                    # counted as observers, never as a site
                    chair.wait_for_selector("[data-role=connected-count]:text('2 người theo dõi')")
                    assert "3/4 điểm cầu đã kết nối" in chair.text_content(
                        "[data-role=connected-count]"
                    )

                # 4. the floor to Văn Chấn; the phone sees it on its stage; a roll call
                chair.click(f".site-tile[data-code='{vanchan}']")
                chair.click("#selected-site [data-action='floor.give']")
                b.wait_for_selector(f"body[data-main-site='{vanchan}']")
                video_moves(b, "main/video")
                assert "Huyện Văn Chấn" in b.text_content("[data-role=main-label]")
                chair.click("[data-action='rollcall.start']")
                b.wait_for_selector("#rollcall-form:not([hidden])")
                layout_ok(b, "phone with the roll call open")
                a.wait_for_selector("#rollcall-form:not([hidden])")
                layout_ok(a, "PC with the roll call open")
                for page, name in ((a, "operator-1366x768"), (b, "operator-390x844")):
                    page.screenshot(path=out / f"{name}-rollcall.png")
                for page, name in zip(
                    watchers, ("observer-1366x768", "observer-390x844"), strict=False
                ):
                    video_moves(page, "main/video")  # the floor reaches the observers too
                    assert not page.is_visible("#rollcall-form")
                    page.screenshot(path=out / f"{name}.png")
                chair.screenshot(path=out / "console-1366x768.png")
                b.fill("#headcount", "31")
                b.click("#rollcall-form button[type=submit]")
                b.wait_for_selector("[data-role=rollcall-done]:not([hidden])")
                chair.wait_for_selector(f".site-tile[data-code='{tranyen}'][data-state=answered]")

                # 5. the end, from the conference page (END_FROM_OVERVIEW) or the console
                if END_FROM_OVERVIEW:
                    chair.click("[data-role=overview-link]")
                    chair.click("form:has(input[name=to][value=ended]) button")
                else:
                    chair.click("[data-action=end]")
                    chair.wait_for_selector("body[data-status=ended]")
                    assert chair.is_visible("[data-role=ended]")
                    chair.click("[data-role=overview-link]")
                chair.wait_for_selector(".status:text('Đã kết thúc')")
                for page in watchers:
                    page.wait_for_selector("body[data-status=ended][data-media=idle]")
                    assert page.is_visible("[data-role=ended]")
                for page in (a, b):
                    page.wait_for_selector(
                        "body[data-status=ended][data-media=idle][data-camera=released]"
                    )
                    assert page.is_visible("[data-role=ended]")
                    assert not page.is_visible("[data-action=hand]")
                    assert page.evaluate("document.body.dataset.mainSite") == ""
                    text = page.inner_text("main")
                    assert text.count("đã kết thúc") + text.count("Đã kết thúc") == 1, text
                    assert "chưa diễn ra" not in text.lower()
                b.screenshot(path=out / "operator-390x844-ended.png")
                overview = chair.inner_text("main")
                assert "Đã kết thúc" in overview
                result["pages_ended"] = 3
            except BaseException:
                for name, lines in logs.items():
                    print(f"--- console of {name} ---")
                    print("\n".join(lines[-60:]))
                for log in sorted(var.glob("*.log")):
                    print(f"--- {log.name} ---")
                    print(log.read_text()[-5000:])
                raise
        rows = attendance(env, code)
        result["presence"] = rows
        open_intervals = {k: v["open"] for k, v in rows.items() if v["open"]}
        assert not open_intervals, f"presence intervals left open: {open_intervals}"
        assert (
            rows.get("140", {}).get("intervals", 0) >= 1
            and rows.get("138", {}).get("intervals", 0) >= 1
        ), rows
    return result


def _addresses() -> list[str]:
    done = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False)
    return [
        f[3]
        for f in (line.split() for line in done.stdout.splitlines())
        if len(f) > 3 and f[2] == "inet"
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    outcome = run(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="giaoban-shots-"))
    )
    print("BRIEFING-JSON " + json.dumps(outcome))
