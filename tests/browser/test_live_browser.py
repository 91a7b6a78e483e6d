"""The live conference through the real pages in headless Chromium, on 127.0.0.1:

- ``embedded``: no Redis; Daphne runs the portal and the media rooms in one process against a
  temporary SQLite database;
- ``celery``: REDIS_URL and DATABASE_URL set; Daphne plus a Celery media worker subprocess
  (as in the Procfile) against a scratch PostgreSQL database and a separate Redis database.

The chair runs the console; two district sites join through the join page.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from tests.browser.live_stack import (
    CHROMIUM_ARGS,
    attendance,
    daphne,
    env_for,
    login,
    media_worker,
    prepare,
    scratch_postgres,
)
from tests.conftest import require

pytestmark = [pytest.mark.browser, pytest.mark.fullstack, pytest.mark.timeout(240)]

T = 30_000  # ms: the machine is shared, stalls happen

# Frames decoded by the element showing a slot, and the inbound RTP counters of that slot.
SLOT_JS = """(slot) => {
  const v = document.querySelector(`[data-slot=${slot}]`);
  return {width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames};
}"""
INBOUND_JS = """async () => {
  const live = window.giaoban.live, pc = live.media.pc, out = {};
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp') out[live.media.midToSlot[r.mid]] = {packets: r.packetsReceived, frames: r.framesDecoded || 0};
  });
  return out;
}"""

# Date.now() of the first frame decoded on the main video slot beyond `before`.
WATCH_JS = """(before) => {
  window.__firstNewFrame = null;
  window.__announced = null;
  const live = window.giaoban.live, site = document.body.dataset.mainSite;
  const timer = setInterval(async () => {
    if (window.__announced === null && document.body.dataset.mainSite !== site) window.__announced = Date.now();
    const pc = live.media.pc;
    if (!pc) return;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && live.media.midToSlot[r.mid] === 'main/video' && (r.framesDecoded || 0) > before
          && window.__firstNewFrame === null) {
        window.__firstNewFrame = Date.now();
        clearInterval(timer);
      }
    });
  }, 20);
}"""
# Per audio m-line of the media connection's offer and answer: has its Opus "nack"?
OPUS_NACK_JS = r"""() => {
  const pc = window.giaoban.live.media.pc;
  const nack = (sdp) => sdp.split(/(?=^m=)/m).filter((s) => s.startsWith('m=audio')).map((s) => {
    const m = /^a=rtpmap:(\d+) opus\//mi.exec(s);
    return !!m && new RegExp(`^a=rtcp-fb:${m[1]} nack\r?$`, 'm').test(s);
  });
  return {offer: nack(pc.localDescription.sdp), answer: nack(pc.remoteDescription.sdp)};
}"""
CLICK_CLOCK_JS = """(selector) => {
  window.__clickedAt = null;
  document.querySelector(selector).addEventListener('click', () => { window.__clickedAt = Date.now(); }, {capture: true, once: true});
}"""


def wait_until(check, timeout: float = 30, interval: float = 0.25, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(interval)


def frames_advance(page, slot: str, timeout: float = 30) -> None:
    first = wait_until(
        lambda: (s := page.evaluate(SLOT_JS, slot))["width"] > 0 and s,
        timeout,
        what=f"{slot} video size",
    )
    wait_until(
        lambda: page.evaluate(SLOT_JS, slot)["frames"] >= first["frames"] + 10,
        timeout,
        what=f"{slot} frames advancing",
    )


def packets(page, slot: str) -> int:
    return (page.evaluate(INBOUND_JS).get(slot) or {}).get("packets", 0)


def decoded(page, slot: str) -> int:
    return (page.evaluate(INBOUND_JS).get(slot) or {}).get("frames", 0)


def floor_change_latency(chair, a, site: str) -> float:
    """Give ``site`` the floor from the console; seconds from the click until ``a`` decodes the
    first frame of it on its main slot. Both times are taken inside the browser, so Playwright's
    own latency does not count; the holder's own stage shows its local camera, so count frames
    the receiver decodes."""
    before = decoded(a, "main/video")
    a.evaluate(WATCH_JS, before)
    chair.click(f".site-tile[data-code='{site}']")
    chair.evaluate(CLICK_CLOCK_JS, "#selected-site [data-action='floor.give']")
    chair.click("#selected-site [data-action='floor.give']")
    a.wait_for_function("window.__firstNewFrame !== null", timeout=10_000)
    a.wait_for_selector(f"body[data-main-site='{site}']")
    clicked = chair.evaluate("window.__clickedAt")
    latency = (a.evaluate("window.__firstNewFrame") - clicked) / 1000
    announced = (a.evaluate("window.__announced") - clicked) / 1000
    print(
        f"floor change: event after {announced:.2f} s, first decoded frame of the new holder after {latency:.2f} s"
    )
    return latency


def same_as_server(page) -> None:
    """The page's LiveView (protocol.js) applies events exactly like conferences.live.reducer's,
    including dropping events that arrive after a newer one (out of order)."""
    import random

    from conferences.live.reducer import LiveView

    snapshot = page.evaluate("window.giaoban.state()")
    snapshot.pop("speaking", None)
    site = snapshot["site_order"][-1]
    item = snapshot["agenda"][-1]["id"]
    base = snapshot["version"]
    events = [
        {"type": "floor", "floor": site},
        {"type": "broadcast", "broadcast": site},
        {"type": "muted", "muted": [site]},
        {"type": "hands", "hands": [site]},
        {"type": "media", "site": site, "video": True, "audio": False},
        {"type": "presence", "site": site, "joined_at": "2026-01-01T08:00:00+07:00"},
        {"type": "presence", "site": site, "left_at": "2026-01-01T09:00:00+07:00"},
        {"type": "presence", "site": "no-such-site", "joined_at": "2026-01-01T08:00:00+07:00"},
        {"type": "attendance", "site": site, "status": "present", "headcount": 12},
        {"type": "roll_call_started", "roll_call": 99, "started_at": "2026-01-01T08:05:00+07:00"},
        {
            "type": "roll_call_answer",
            "roll_call": 99,
            "started_at": "2026-01-01T08:05:00+07:00",
            "site": site,
            "headcount": 12,
        },
        {"type": "hands", "hands": []},
        {"type": "muted", "muted": []},
        {"type": "agenda", "current_item": item},
        {"type": "absent.called", "sites": [site], "notified": 1},
        {"type": "conference", "conference": {**snapshot["conference"], "status": "ended"}},
        {"type": "roll_call_ended", "roll_call": 99, "answered": 1, "invited": 4},
    ]
    events.append({"type": "chat_enabled", "chat_enabled": False})
    events = [{**e, "version": base + i + 1} for i, e in enumerate(events)]
    events.append({"type": "something.new", "x": 1})
    # chat messages carry no version: appended by id once, whatever the order
    known = snapshot["chat"]["messages"]
    message = {"at": "2026-01-01T08:06:00+07:00", "site": site, "site_name": "S", "author": "A"}
    events += [
        {
            "type": "chat",
            "message": {**message, "id": 10**6 + i, "to": "all", "text": f"<b>{i}</b>"},
        }
        for i in range(3)
    ]
    events += [{"type": "chat", "message": m} for m in known[-1:]]
    for order in (events, list(reversed(events)), random.Random(7).sample(events, len(events))):
        view = LiveView(snapshot)
        for event in order:
            view.apply(event)
        got = page.evaluate(
            """async ([snap, events]) => {
              const { LiveView } = await import('/static/conferences/live/protocol.js');
              const view = new LiveView(snap);
              for (const e of events) view.apply(e);
              return view.state;
            }""",
            [snapshot, order],
        )
        assert got == view.state


CHAT_MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script> & đậm'
CHAT_ITEMS_JS = """() => [...document.querySelectorAll('#chat .chat-list li')].map((li) => ({
  text: li.querySelector('.chat-text').textContent, html: li.querySelector('.chat-text').innerHTML,
  toChair: li.classList.contains('to-chair'), site: li.dataset.site}))"""


def chat(chair, a, b, base: str, code: str) -> None:
    """Văn Chấn types a message with markup: it reaches Trấn Yên's page and the console as text
    (no element made of it), then one to the chair that only the console shows; the chair turns
    chat off and Trấn Yên's box is disabled; the conference timeline shows the messages."""
    a.fill("#chat-text", CHAT_MARKUP)
    a.press("#chat-text", "Enter")
    for page in (b, chair, a):
        page.wait_for_selector("#chat[data-count='1']", timeout=10_000)
        (item,) = page.evaluate(CHAT_ITEMS_JS)
        assert item["text"] == CHAT_MARKUP and "&lt;script&gt;" in item["html"], item
        assert page.evaluate("document.querySelectorAll('#chat img, #chat script').length") == 0
        assert page.evaluate("window.__pwned") is None
    assert a.input_value("#chat-text") == ""
    a.select_option("#chat-to", "chair")
    a.fill("#chat-text", "Văn Chấn xin phát biểu sau")
    a.click("#chat [type=submit]")
    chair.wait_for_selector("#chat[data-count='2'] li.to-chair", timeout=10_000)
    a.wait_for_selector("#chat[data-count='2']", timeout=10_000)
    assert b.get_attribute("#chat", "data-count") == "1"  # not Trấn Yên's business
    chair.click("#chat [data-action='chat.toggle']")  # confirm dialog accepted
    b.wait_for_selector(
        "#chat[data-enabled='0'] [data-role=chat-off]:not([hidden])", timeout=10_000
    )
    assert b.is_disabled("#chat-text")
    chair.click("#chat [data-action='chat.toggle']")
    b.wait_for_selector("#chat[data-enabled='1']", timeout=10_000)
    # the conference's timeline ("Nhật ký") shows both, the markup as text
    history = chair.context.new_page()
    try:
        history.goto(f"{base}/history/conferences/{code}/")
        timeline = history.inner_text(".timeline")
        assert CHAT_MARKUP in timeline and "Văn Chấn xin phát biểu sau" in timeline
        assert "Tắt tin nhắn" in timeline and "Bật tin nhắn" in timeline
        assert (
            history.evaluate("document.querySelectorAll('.timeline img, .timeline script').length")
            == 0
        )
    finally:
        history.close()


FAILOVER_BOUND = 25.0  # seconds from kill -9 until every page decodes again


def failover(stack, code: str, pages) -> None:
    """kill -9 the media worker holding the room's lease: the other worker takes the room and
    the pages decode video again, without a reload, within FAILOVER_BOUND seconds. The bound
    catches a failover that does not happen; how fast it happens is a benchmark's business.
    This test printed 7-9 s on a quiet machine and 15.7-16.9 s with the two cores loaded 10-28
    by other runs (2026-12-02), so the bound leaves room for a loaded machine."""
    import redis

    holder = redis.Redis.from_url(stack["env"]["REDIS_URL"]).get(f"giaoban:media:lease:{code}")
    assert holder, "no lease for the room"
    pid = int(holder.decode().split(":")[1])
    victim = next(w for w in stack["workers"] if w.pid == pid)  # only a process this test started
    generations = [p.evaluate("window.giaoban.live.media.generation") for p in pages]
    urls = [p.url for p in pages]
    killed = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    for page, generation in zip(pages, generations, strict=True):
        page.wait_for_function(
            f"window.giaoban.live.media.generation > {generation}",
            timeout=FAILOVER_BOUND * 1000,
        )
        left = max(1.0, FAILOVER_BOUND - (time.monotonic() - killed))
        page.wait_for_selector("body[data-media=connected]", timeout=left * 1000)
        wait_until(
            lambda p=page: decoded(p, "chair/video") > 10,
            timeout=max(1.0, FAILOVER_BOUND - (time.monotonic() - killed)),
            interval=0.2,
            what="video again after the media worker was killed",
        )
    print(
        f"pages decode again {time.monotonic() - killed:.1f} s after kill -9 of media worker {pid}"
    )
    assert time.monotonic() - killed <= FAILOVER_BOUND + 0.5
    assert [p.url for p in pages] == urls  # no reload


@pytest.fixture(params=["embedded", "celery"])
def stack(request, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    with contextlib.ExitStack() as stack:
        if request.param == "embedded":
            env = env_for(var)
        else:
            require(bool(settings.REDIS_URL), "REDIS_URL is not set")
            require(bool(os.environ.get("DATABASE_URL")), "DATABASE_URL (PostgreSQL) is not set")
            database_url = stack.enter_context(scratch_postgres(os.environ["DATABASE_URL"]))
            redis_url = urlunsplit(
                urlsplit(settings.REDIS_URL)._replace(path="/13")
            )  # own queues and leases
            env = env_for(var, database_url=database_url, redis_url=redis_url)
        info = prepare(var, site_keys=["140", "138", "137"], env=env)
        workers = []
        if request.param == "celery":  # two media workers: one hosts the room, one takes over
            workers = [
                stack.enter_context(media_worker(var, env, name)) for name in ("media1", "media2")
            ]
        base = stack.enter_context(daphne(var, env))
        yield {
            "base": base,
            "info": info,
            "var": var,
            "env": env,
            "mode": request.param,
            "workers": workers,
        }


def test_chair_and_two_sites_run_a_conference_through_the_pages(stack, chromium_path):
    from playwright.sync_api import sync_playwright

    base, info, var, env = stack["base"], stack["info"], stack["var"], stack["env"]
    code, sites = info["code"], info["sites"]
    vanchan, tranyen = sites["140"], sites["138"]
    logs: dict[str, list[str]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=T)
        pages = {}
        try:
            for name in ("chutri.tinh", "kythuat.vanchan", "kythuat.tranyen"):
                # Playwright's wait_for_function evaluates strings, which the pages' CSP refuses
                # ('unsafe-eval'); the policy itself is tested in tests/browser/test_csp_pages.py.
                context = browser.new_context(
                    viewport={"width": 1280, "height": 800}, bypass_csp=True
                )
                context.set_default_timeout(T)
                page = context.new_page()
                logs[name] = []
                page.on("console", lambda m, n=name: logs[n].append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e, n=name: logs[n].append(f"pageerror: {e}"))
                login(page, base, name)
                pages[name] = page
            chair, a, b = pages["chutri.tinh"], pages["kythuat.vanchan"], pages["kythuat.tranyen"]

            # Văn Chấn passes the pre-join check early and waits for the start
            a.goto(f"{base}/conferences/{code}/join/")
            a.wait_for_selector("body[data-devices=ok]")
            # the level meter moves with the fake microphone's beeps
            a.wait_for_function(
                "Number(document.querySelector('[data-role=meter]').dataset.level || 0) > 0.05"
            )
            a.click("[data-action=join]")
            a.wait_for_selector("body[data-ws=open][data-status=scheduled]")
            assert a.is_visible("[data-role=not-started]")

            # the chair opens the console and starts the conference; the waiting site connects by itself
            chair.on("dialog", lambda d: d.accept())
            chair.goto(f"{base}/conferences/{code}/console/")
            chair.wait_for_selector("body[data-ws=open]")
            chair.click("[data-action=start]")
            chair.wait_for_selector("body[data-status=live]")
            chair.wait_for_selector("body[data-media=connected]")
            b.goto(f"{base}/conferences/{code}/join/")
            b.wait_for_selector("body[data-devices=ok]")
            b.click("[data-action=join]")
            for page in (a, b):
                page.wait_for_selector("body[data-media=connected]")
                frames_advance(page, "chair")  # everyone sees the chair site
            for page in (chair, a, b):
                # media.js offers nack for Opus and the SFU answers it (audio recovery)
                nacks = page.evaluate(OPUS_NACK_JS)
                assert len(nacks["offer"]) == 3 and all(nacks["offer"] + nacks["answer"]), nacks

            # Văn Chấn raises its hand; the chair gives it the floor from the queue
            a.click("[data-action=hand]")
            chair.wait_for_selector(f"#hand-queue li[data-code='{vanchan}']")
            chair.click(f"#hand-queue li[data-code='{vanchan}'] [data-action='floor.give']")
            for page in (chair, b):
                page.wait_for_selector(f"body[data-main-site='{vanchan}']")
                frames_advance(page, "main")
            assert (
                a.evaluate("document.body.dataset.hand") == "0"
            )  # giving the floor lowers the hand

            # the floor moves to Trấn Yên: Văn Chấn's stage starts showing it within 2 s
            # (best of two tries: the shared machine stalls now and then)
            latency = floor_change_latency(chair, a, tranyen)
            if latency > 2.0:
                chair.click(f".site-tile[data-code='{vanchan}']")
                chair.click("#selected-site [data-action='floor.give']")
                a.wait_for_selector(f"body[data-main-site='{vanchan}']")
                latency = min(latency, floor_change_latency(chair, a, tranyen))
            assert latency <= 2.0, f"the main video changed after {latency:.2f} s"
            before = decoded(a, "main/video")
            wait_until(
                lambda: decoded(a, "main/video") > before + 10,
                what="the new floor holder's video advancing",
            )
            frames_advance(chair, "main")
            assert chair.evaluate("document.body.dataset.mainSite") == tranyen
            # the room tells every page which site each slot shows (labels), and each site's
            # page reports its link, which the chair's console shows on the site's tile
            a.wait_for_function(
                f"window.giaoban.live.slotSources.main === '{tranyen}'", timeout=15000
            )
            chair.wait_for_function(
                f"['good', 'fair', 'poor'].includes("
                f"document.querySelector(\".site-tile[data-code='{vanchan}']\").dataset.quality)",
                timeout=45000,
            )
            assert "đường truyền" in chair.inner_text(f".site-tile[data-code='{vanchan}']")

            # mute Trấn Yên: its audio stops reaching the others (main audio slot stops growing)
            wait_until(lambda: packets(a, "main/audio") > 0, what="main audio flowing")
            chair.click("#selected-site [data-action='mute.set']")
            b.wait_for_selector("body[data-muted-by-chair='1']")
            assert b.is_visible("[data-role=server-muted]")
            time.sleep(1.0)  # packets in flight
            still = {p: packets(p, "main/audio") for p in (a, chair)}
            time.sleep(2.0)
            for p, count in still.items():
                assert packets(p, "main/audio") - count <= 2, "muted audio is still forwarded"
            chair.click("#selected-site [data-action='mute.set']")  # unmute
            wait_until(
                lambda: packets(a, "main/audio") > still[a] + 20, what="audio back after unmute"
            )

            # roll call: each site answers from its page, the chair's board shows it
            chair.click("[data-action='rollcall.start']")
            for page, count in ((a, 25), (b, 31)):
                page.wait_for_selector("#rollcall-form:not([hidden])")
                page.fill("#headcount", str(count))
                page.click("#rollcall-form button[type=submit]")
                page.wait_for_selector("[data-role=rollcall-done]:not([hidden])")
            chair.wait_for_selector(f".site-tile[data-code='{vanchan}'][data-state=answered]")
            chair.wait_for_selector(f".site-tile[data-code='{tranyen}'][data-state=answered]")
            assert "2/4" in chair.text_content("[data-role=rollcall-board]")
            assert "56" in chair.text_content("[data-role=rollcall-board]")
            answers = chair.evaluate("window.giaoban.state().rollcall.answers")
            assert answers == {vanchan: 25, tranyen: 31}

            chat(chair, a, b, base, code)

            # agenda: next item shows on the sites' pages
            chair.click("[data-action='agenda.next']")
            b.wait_for_function(
                "document.querySelector('[data-role=agenda]').textContent.startsWith('1/3')"
            )

            # the socket drops: the page reconnects by itself, re-offers and decodes again
            generation = b.evaluate("window.giaoban.live.media.generation")
            b.evaluate("window.giaoban.live.socket.ws.close()")
            b.wait_for_function(f"window.giaoban.live.media.generation > {generation}")
            b.wait_for_selector("body[data-ws=open]")
            b.wait_for_selector("body[data-media=connected]")
            wait_until(
                lambda: decoded(b, "chair/video") > 10,
                what="video again after the socket reconnected",
            )

            # the page applies events exactly like conferences.live.reducer.LiveView
            same_as_server(chair)

            # a site whose browser refuses the camera gets a clear message (media without camera
            # permission is not tried here: Chromium then offers no loopback candidate)
            denied = pw.chromium.launch(
                executable_path=chromium_path,
                timeout=T,
                args=[a for a in CHROMIUM_ARGS if not a.startswith("--use-fake-ui")],
            )
            try:
                c = denied.new_page(viewport={"width": 390, "height": 844})
                c.set_default_timeout(T)
                login(c, base, "kythuat.mucangchai")
                c.goto(f"{base}/conferences/{code}/join/")
                c.wait_for_selector("body[data-devices=NotAllowedError]")
                assert "chưa cho phép dùng camera" in c.text_content("[data-role=device-message]")
                assert c.is_enabled("[data-action=join]")
            finally:
                denied.close()

            if stack["mode"] == "celery":
                failover(stack, code, (a, b))

            # the chair ends the conference: the pages say so and drop their media
            chair.click("[data-action=end]")
            for page in (a, b):
                page.wait_for_selector("body[data-status=ended]")
                page.wait_for_selector("body[data-media=idle]")
                assert page.is_visible("[data-role=ended]")

            # the same site opened elsewhere asks first; once confirmed it replaces this page,
            # which says so, stays off and offers to take the site back (test_takeover.py)
            again = browser.new_context(bypass_csp=True).new_page()
            asked = []
            again.on("dialog", lambda d: (asked.append(d.message), d.accept()))
            login(again, base, "kythuat.vanchan")
            again.goto(f"{base}/conferences/{code}/join/")
            again.click("[data-action=join]")
            again.wait_for_selector("body[data-ws=open]")
            assert asked == ["Điểm cầu này đang được kết nối từ máy khác. Tiếp quản?"]
            a.wait_for_selector("body[data-ws=closed]")
            assert "Điểm cầu đã được mở trên máy khác" in a.text_content("[data-role=closed]")
            assert a.is_visible("[data-action=retake]")
            time.sleep(1.5)
            assert a.evaluate("document.body.dataset.ws") == "closed"  # no reconnect after 4409
        except BaseException:
            for name, lines in logs.items():
                print(f"--- console of {name} ---")
                print("\n".join(lines[-80:]))
            for log in sorted(var.glob("*.log")):
                print(f"--- {log.name} ---")
                print(log.read_text()[-6000:])
            raise
        finally:
            browser.close()

    # the attendance log was written from the media connections (presence intervals and entries)
    rows = attendance(env, code)
    for key in ("140", "138"):
        assert rows.get(key, {}).get("intervals", 0) >= 1, rows
        assert rows[key]["open"] == 0, rows  # closed when the conference ended
        assert rows[key]["entries"] >= 1, rows
