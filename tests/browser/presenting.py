"""Presenting to every site through the real pages (issue 14 "done when", items 1–5), on the
embedded stack with the default media settings: the scenario behind
``tests/browser/test_presenting.py``, which runs it inside a loopback-only network namespace.

    python -m tests.browser.presenting      (prints "PRESENTING-JSON {...}" at the end)

1. the chair starts the conference on the console; two operators (a PC, a phone) join; every
   page is reached by clicking from the home page the login leads to, as a user would;
2. the chair selects the PC's site and clicks "Giao quyền trình chiếu"; the PC's page offers
   "Trình chiếu màn hình" and shares its screen — Chromium 156 headless gives getDisplayMedia a
   fake 1280×720 "screen:-3:0" with ``--use-fake-ui-for-media-stream`` *and*
   ``--use-fake-device-for-media-stream`` (fake-ui alone: NotReadableError; without fake-ui the
   picker waits forever; ``--auto-select-desktop-capture-source`` changes nothing here);
3. the phone shows a moving content video received from the network (``getStats()``
   inbound-rtp ``framesDecoded`` of the content track increasing) beside the speaker, and the
   console says who presents;
4. the chair revokes: the content stops everywhere (the content stage hides, the presenter's
   capture is stopped);
5. the chair grants again and the PC shows the agenda PDF page by page: its second page
   reaches the phone (the phone's page image is page 2);
6. the PC's screen share ends "from the browser's bar" (the track's ``ended`` event): the page
   stops presenting by itself;
7. the phone opts out of content (issue 14 item 1): it goes home (the brand link) and back to
   the join page ("Vào phòng họp"), ticks "Không nhận video trình chiếu màn hình" before
   joining (kept in localStorage ``giaoban.noContent``), and its offer carries the content slot
   (the last m-line) ``inactive``; with the PC sharing again the phone's stage says who
   presents and that it does not receive it; "Nhận video trình chiếu" turns it back on (a new
   offer, ``recvonly``, moving content again) and "Không nhận video trình chiếu" off once more;
8. a chat message from the PC reaches the phone and the conference's timeline.

In step 3 the phone's page is also laid out as a tablet (820×1180, then 1180×820): content
large, the speaker beside it, nothing wider than the screen. With ``PRESENTING_SHOTS=<dir>``
the join page (PC 1366×768, phone 390×844), the tablet layouts and the phone's opted-out stage
are saved there as PNG files.
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

from tests.browser.briefing import (
    INBOUND_VIDEO_JS,
    _addresses,
    env_defaults,
    sign_in,
    video_moves,
    wait_until,
)
from tests.browser.live_stack import CHROMIUM_ARGS, PYTHON, ROOT, daphne, prepare

T = 30_000

UPLOAD = r"""
from django.core.files.uploadedfile import SimpleUploadedFile
from fpdf import FPDF
from conferences.models import Conference
from conferences.services import documents
from django.contrib.auth import get_user_model
User = get_user_model()
conf = Conference.objects.get(code=CODE)
pdf = FPDF()
for n in (1, 2, 3):
    pdf.add_page(); pdf.set_font("helvetica", size=60); pdf.cell(text=f"Trang {n}")
clerk = User.objects.get(username="vanthu.tinh")
doc = documents.document_upload(actor=clerk, conference=conf, upload=SimpleUploadedFile("bao-cao.pdf", bytes(pdf.output())))
doc.agenda_item = conf.agenda_items.order_by("position").first(); doc.save()
print("DOC", doc.pk)
"""


def upload_pdf(env: dict[str, str], code: str) -> int:
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", UPLOAD.replace("CODE", repr(code))],
        cwd=ROOT,
        env=env,
        check=False,
        timeout=120,
        capture_output=True,
        text=True,
    )
    print(done.stderr[-3000:], file=sys.stderr)
    return int(next(ln for ln in done.stdout.splitlines() if ln.startswith("DOC ")).split()[1])


# The content slot's m-line in the page's current offer: its mid, direction, and whether it is
# the offer's last m-line (docs/sfu.md).
CONTENT_LINE_JS = """() => {
  const media = window.giaoban.live.media;
  const pc = media.pc;
  const r = (media.receivers || []).find((x) => x.key === 'content/video');
  if (!pc || !pc.localDescription || !r) return null;
  const t = pc.getTransceivers().find((x) => x.receiver === r.receiver);
  if (!t) return null;  // a new connection, not answered yet
  const sections = pc.localDescription.sdp.split(/\\r\\n(?=m=)/);
  const section = sections.find((x) => x.includes(`\\r\\na=mid:${t.mid}\\r\\n`));
  const dir = section && /\\r\\na=(sendrecv|sendonly|recvonly|inactive)\\r\\n/.exec(section);
  return {mid: t.mid, direction: dir ? dir[1] : null, last: section === sections[sections.length - 1],
          stored: localStorage.getItem('giaoban.noContent')};
}"""


# Where the content stage and the speaker's stage sit: content large, the speaker beside or
# below it, nothing wider than the screen.
LAYOUT_JS = (
    "(() => { const c = document.querySelector('[data-role=content-stage]')"
    ".getBoundingClientRect(), s = document.querySelector('.stage-col .stage')"
    ".getBoundingClientRect(); return {content: [c.width, c.height], speaker:"
    " [s.width, s.height], inside: c.right <= innerWidth + 0.5 && s.right <= innerWidth + 0.5};"
    " })()"
)


def shot(page, name: str) -> None:
    folder = os.environ.get("PRESENTING_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def content_frames(page) -> int:
    return page.evaluate(INBOUND_VIDEO_JS, "content/video")


def run() -> dict:
    from playwright.sync_api import sync_playwright

    result: dict = {"namespace_addresses": _addresses()}
    logs: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="giaoban-present-") as tmp:
        var = Path(tmp) / "var"
        env = env_defaults(var)
        info = prepare(var, site_keys=["15-UBND", "140", "138"], env=env)
        code, sites = info["code"], info["sites"]
        vanchan = sites["140"]
        doc = upload_pdf(env, code)
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

                chair = person("chutri.tinh", 1366, 768)
                chair.click(f"[data-conference='{code}'] [data-entry=console]")  # home page
                chair.wait_for_selector("body[data-page=console][data-ws=open]")
                chair.click("[data-action=start]")
                chair.wait_for_selector("body[data-status=live]")
                pc = person("kythuat.vanchan", 1366, 768)
                phone = person("kythuat.tranyen", 390, 844)
                for page in (pc, phone):
                    page.click(f"[data-conference='{code}'] [data-entry=join]")  # home page
                    page.wait_for_selector("body[data-devices=ok]")
                    shot(page, f"join-{'pc' if page is pc else 'phone'}")
                    page.click("#prejoin [data-action=join]")
                    page.wait_for_selector("body[data-media=connected]")

                # 2. the chair grants the PC's site; the PC shares its screen
                assert not pc.is_visible("[data-action=share-screen]")
                chair.click(f".site-tile[data-code='{vanchan}']")
                chair.click('#selected-site [data-action="presenter.grant"]')
                pc.wait_for_selector("[data-action=share-screen]:visible")
                pc.click("[data-action=share-screen]")
                pc.wait_for_selector("body[data-content=screen][data-sharing='1']")
                result["screen"] = pc.evaluate(
                    "(() => { const t = window.giaoban.live.media.screen; return {label: t.label,"
                    " hint: t.contentHint, ...t.getSettings()}; })()"
                )

                # 3. the phone decodes moving content next to the speaker; the console says so
                phone.wait_for_selector(
                    "body[data-content=screen] [data-role=content-stage]:visible"
                )
                result["phone_content_frames"] = video_moves(phone, "content/video", frames=10)
                result["phone_layout"] = phone.evaluate(LAYOUT_JS)
                # the same page on a tablet, portrait then landscape (issue 14 item 5)
                for name, size in (("tablet", (820, 1180)), ("tablet_landscape", (1180, 820))):
                    phone.set_viewport_size({"width": size[0], "height": size[1]})
                    phone.wait_for_timeout(300)  # layout settles
                    result[f"{name}_layout"] = phone.evaluate(LAYOUT_JS)
                    shot(phone, f"room-{name.replace('_', '-')}-content")
                phone.set_viewport_size({"width": 390, "height": 844})
                chair.wait_for_selector("[data-role=presenting]:has-text('đang trình chiếu')")
                result["console_presenting"] = chair.inner_text("[data-role=presenting]")

                # 4. revoked: the content stops everywhere
                chair.click('[data-action="presenter.revoke"]')
                for page in (phone, pc, chair):
                    page.wait_for_selector("body[data-content='']", state="attached")
                    page.wait_for_selector("[data-role=content-stage]", state="hidden")
                pc.wait_for_selector("body[data-sharing='']", state="attached")
                result["capture_after_revoke"] = pc.evaluate(
                    "window.giaoban.live.media.screen === null"
                )
                before = content_frames(phone)
                time.sleep(1.5)
                result["frames_after_revoke"] = content_frames(phone) - before

                # 5. a document page by page: the second page reaches the phone
                chair.click('#selected-site [data-action="presenter.grant"]')
                pc.wait_for_selector("[data-action=present-doc]:visible")
                pc.select_option("[data-role=present-doc]", str(doc))
                pc.click("[data-action=present-doc]")
                phone.wait_for_selector("body[data-content=document][data-content-page='1']")
                pc.click("[data-action=page-next]")
                phone.wait_for_selector("body[data-content-page='2']")
                wait_until(
                    lambda: phone.evaluate(
                        "(() => { const i = document.querySelector('[data-role=content-page]');"
                        " return i.complete && i.naturalWidth > 0 && i.src.includes('/pages/2/'); })()"
                    ),
                    what="page 2 drawn on the phone",
                )
                result["phone_page"] = phone.get_attribute("[data-role=content-page]", "src")

                # 6. a new screen share, ended from the browser's own bar ("Dừng chia sẻ")
                pc.click("[data-action=share-screen]")
                phone.wait_for_selector("body[data-content=screen]")
                pc.evaluate("window.giaoban.live.media.screen.dispatchEvent(new Event('ended'))")
                phone.wait_for_selector("body[data-content='']", state="attached")
                result["ended_from_bar"] = True

                # 7. the phone opts out of content before joining, then back in, then out
                pc.evaluate(
                    "(() => { const l = window.giaoban.live, orig = l.send.bind(l);"
                    " window.__sent = []; l.send = async (m) => { const r = await orig(m);"
                    " window.__sent.push([Date.now(), m.type, r.type, r.code || '', r.message || '']);"
                    " return r; }; })()"
                )
                pc.click("[data-action=share-screen]")
                # back to the join page as a user would: the brand link home, "Vào phòng họp"
                phone.click("header a.brand")
                phone.click(f"[data-conference='{code}'] [data-entry=join]")
                phone.wait_for_selector("body[data-devices=ok]")
                phone.check("[data-role=no-content]")
                shot(phone, "join-phone-no-content")
                phone.click("#prejoin [data-action=join]")
                try:
                    phone.wait_for_selector("body[data-media=connected][data-content=screen]")
                except Exception:  # say where it stood: socket, media, content
                    print("phone body:", phone.evaluate("({...document.body.dataset})"))
                    print("pc body:", pc.evaluate("({...document.body.dataset})"))
                    print("pc sent:", pc.evaluate("window.__sent"), "now", time.time())
                    raise
                result["opted_out_line"] = phone.evaluate(CONTENT_LINE_JS)
                phone.wait_for_selector("[data-role=content-off]:visible")
                result["opted_out_note"] = phone.inner_text("[data-role=content-off]")
                shot(phone, "room-phone-no-content")
                before = content_frames(phone)
                time.sleep(1.5)
                result["opted_out_frames"] = [before, content_frames(phone)]
                phone.click("[data-action=content-receive]")
                wait_until(
                    lambda: (
                        (line := phone.evaluate(CONTENT_LINE_JS))
                        and line["direction"] == "recvonly"
                        and line
                    ),
                    what="a new offer with the content slot recvonly",
                )
                result["opted_in_line"] = phone.evaluate(CONTENT_LINE_JS)
                result["opted_in_frames"] = video_moves(phone, "content/video", frames=5)
                phone.click("[data-action=content-decline]")
                wait_until(
                    lambda: (
                        (line := phone.evaluate(CONTENT_LINE_JS))
                        and line["direction"] == "inactive"
                    ),
                    what="the content slot inactive again",
                )
                result["opted_out_again"] = phone.evaluate(CONTENT_LINE_JS)

                # 8. a chat message from the PC reaches the phone and the conference's timeline
                pc.fill("#chat-text", "Báo cáo kinh tế đã trình chiếu xong")
                pc.press("#chat-text", "Enter")
                phone.wait_for_selector("#chat .chat-list li:has-text('đã trình chiếu xong')")
                result["phone_chat"] = phone.inner_text("#chat .chat-list")
                history = chair.context.new_page()
                try:
                    history.goto(f"{base}/history/conferences/{code}/")
                    result["timeline_has_chat"] = "đã trình chiếu xong" in history.inner_text(
                        ".timeline"
                    )
                finally:
                    history.close()
            except BaseException:
                for name, lines in logs.items():
                    print(f"--- console of {name}", file=sys.stderr)
                    print("\n".join(lines[-60:]), file=sys.stderr)
                raise
    return result


if __name__ == "__main__":
    print("PRESENTING-JSON " + json.dumps(run(), ensure_ascii=False))
