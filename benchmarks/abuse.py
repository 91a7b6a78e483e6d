"""Abuse replay: the attack set of issue 11 against a real Daphne, one JSON line of counts.

    .venv/bin/python benchmarks/abuse.py [--import-units 100000] [--database-url postgres://…]

Prepares a fresh embedded portal (SQLite in a temporary directory: migrate, demo users, a
Văn Chấn conference with a secret title), starts Daphne in its own process group, then replays:
- ``pairs``: (URL × persona) — anonymous, a signed-in user with no role, the other district's
  clerk and operator — against every page and API endpoint of the Văn Chấn conference and the
  global pages; held = no 5xx, the secret title never appears, conference pages are refused.
- ``ws``: malformed WebSocket frames (bad JSON, deep nesting, oversize, wrong types, binary,
  chair commands from an operator), a malformed conference code, a hand-raise flood; held = an
  error frame and the socket still answers a ping (or the documented close code).
- ``bodies``: announced and really-sent oversized bodies, chunked bodies, a signed-in 100 MB
  upload, a legitimate 2 MB upload; held = 413 (or stored, for the legitimate one).
- ``uploads``: crafted documents (macros, zip bomb, PDF/HTML and PNG/SVG polyglots); held = 400.
- ``imports``: crafted organisation files through ``manage.py load_org_tree``; held = exit 1 with
  a row list and no traceback.
- ``import_scale``: 100,000 units with a site each, imported then re-imported (time, peak RSS).
Daphne's resident memory is sampled every 20 ms: idle baseline, peak, peak during each body.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
PASSWORD = "GiaoBan@2026"  # noqa: S105 - the demo users' published password
MB = 1024 * 1024

SETUP = r"""
import datetime as dt, json
from django.contrib.auth import get_user_model
from django.utils import timezone
from conferences.models import AgendaItem, Conference, Invitation, Level, Status
from portal.models import Site, Unit
User = get_user_model()
outsider, _ = User.objects.get_or_create(username="abuse.outsider")
outsider.set_password("GiaoBan@2026"); outsider.save()
now = timezone.now()
title = "BÍ MẬT Văn Chấn 7f3a"
conf, _ = Conference.objects.get_or_create(title=title, defaults=dict(
    level=Level.DISTRICT_TO_COMMUNE, host_unit=Unit.objects.get(code="140"),
    chair_site=Site.objects.get(key="140"), chair_name="Phạm Văn Đức",
    planned_start=now + dt.timedelta(minutes=5), planned_end=now + dt.timedelta(hours=2), status=Status.SCHEDULED))
for key in ["140", "04630"]:
    site = Site.objects.get(key=key)
    Invitation.objects.get_or_create(conference=conf, site=site, defaults={"unit": site.unit})
AgendaItem.objects.get_or_create(conference=conf, position=1, defaults={"title": "Báo cáo mật", "planned_minutes": 15})
print("SETUP-JSON " + json.dumps({"code": str(conf.code), "title": title,
    "site_140": str(Site.objects.get(key="140").code), "site_138": str(Site.objects.get(key="138").code)}))
"""


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Sampler(threading.Thread):
    """Resident memory of one process every 20 ms; ``mark()`` starts a new window."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.window_peak = self.process.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            with contextlib.suppress(psutil.Error):
                rss = self.process.memory_info().rss
                self.peak = max(self.peak, rss)
                self.window_peak = max(self.window_peak, rss)
            time.sleep(0.02)

    def mark(self) -> int:
        self.window_peak = rss = self.process.memory_info().rss
        return rss


class Tally:
    def __init__(self) -> None:
        self.sets: dict[str, dict[str, int]] = {}
        self.failures: list[str] = []

    def add(self, group: str, held: bool, what: str) -> None:
        row = self.sets.setdefault(group, {"tried": 0, "held": 0, "failed": 0})
        row["tried"] += 1
        row["held" if held else "failed"] += 1
        if not held:
            self.failures.append(f"{group}: {what}")


# --- HTTP -------------------------------------------------------------------------------------


def cookies_of(response: http.client.HTTPResponse) -> dict[str, str]:
    out = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def sign_in(port: int, username: str) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/login/")
    page = conn.getresponse()
    cookies = cookies_of(page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    conn.request(
        "POST",
        "/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken']}",
            "Referer": f"http://127.0.0.1:{port}/login/",
        },
    )
    done = conn.getresponse()
    done.read()
    if done.status != 302:
        raise RuntimeError(f"sign-in of {username} failed: {done.status}")
    cookies.update(cookies_of(done))
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def request(
    port: int,
    method: str,
    path: str,
    cookies: dict[str, str] | None = None,
    body: bytes = b"",
    content_type: str = "application/x-www-form-urlencoded",
) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Referer": f"http://127.0.0.1:{port}{path}"}
    if cookies:
        headers["Cookie"] = cookie_header(cookies)
    if method == "POST":
        headers["Content-Type"] = content_type
        if cookies and "csrftoken" in cookies and content_type.startswith("application/x-www"):
            body = (
                body
                + (b"&" if body else b"")
                + f"csrfmiddlewaretoken={cookies['csrftoken']}".encode()
            )
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    return response.status, response.headers.get("Location", ""), text


def raw(port: int, head: str, body: bytes = b"", timeout: float = 30) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head.encode("latin-1"))
            for start in range(0, len(body), MB):
                sock.sendall(body[start : start + MB])
        data = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError, socket.timeout):
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def head(
    method: str,
    path: str,
    length: int | None,
    cookies: dict[str, str] | None = None,
    extra: str = "",
) -> str:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/octet-stream",
    ]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if cookies:
        lines.append(f"Cookie: {cookie_header(cookies)}")
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n"


def multipart(cookies: dict[str, str], name: str, content: bytes) -> tuple[str, bytes]:
    boundary = "----giaoban-abuse"
    out = io.BytesIO()
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f"{cookies['csrftoken']}\r\n".encode()
    )
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    out.write(content + f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


# --- phases -----------------------------------------------------------------------------------


def pairs(port: int, setup: dict, tally: Tally) -> None:
    from django.urls import reverse

    code, title, site = setup["code"], setup["title"], setup["site_140"]
    scoped = [
        ("GET", reverse(n, args=[code]))
        for n in (
            "conference_detail",
            "conference_edit",
            "conference_agenda",
            "conference_documents",
            "conference_sites",
            "conference_attendance",
            "conference_attendance_xlsx",
            "conference_minutes",
            "conference_minutes_docx",
            "conference_join_links",
            "conference_join",
            "conference_console",
            "history_conference",
        )
    ] + [
        ("GET", reverse("operator_conference", args=[code, site])),
        ("GET", f"/api/v1/conferences/{code}/"),
        ("GET", f"/api/v1/conferences/{code}/attendance/"),
        ("POST", reverse("conference_transition", args=[code])),
        ("POST", reverse("conference_documents", args=[code])),
        ("POST", reverse("conference_agenda", args=[code])),
        ("GET", reverse("site_edit", args=[site])),
        ("POST", reverse("site_edit", args=[site])),
    ]
    public = [
        ("GET", reverse(n))
        for n in (
            "home",
            "org_tree",
            "conference_list",
            "conference_create",
            "my_conferences",
            "history_dashboard",
            "history_search",
            "history_savings",
        )
    ] + [
        ("GET", "/api/v1/conferences/"),
        ("GET", "/api/v1/dashboard/"),
        ("GET", "/admin/"),
        ("GET", "/api/schema/"),
    ]
    personas = {"anonymous": None}
    for username in ("abuse.outsider", "vanthu.tranyen", "kythuat.tranyen", "chutri.tranyen"):
        with contextlib.suppress(Exception):
            personas[username] = sign_in(port, username)
    for persona, cookies in personas.items():
        for kind, urls in (("scoped", scoped), ("public", public)):
            for method, url in urls:
                try:
                    status, location, text = request(port, method, url, cookies)
                except OSError as exc:
                    tally.add("pairs", False, f"{persona} {method} {url}: {exc}")
                    continue
                leaked = title in text
                refused = status in (401, 403, 404, 405) or (
                    status == 302 and "/login/" in location
                )
                held = status < 500 and not leaked and (refused or kind == "public")
                tally.add(
                    "pairs", held, f"{persona} {method} {url} → {status}{' LEAK' if leaked else ''}"
                )


class WS:
    """A minimal RFC 6455 client: text/binary frames, client masking, close codes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.close_code: int | None = None

    @classmethod
    async def connect(
        cls, port: int, path: str, cookies: dict[str, str] | None
    ) -> tuple[WS | None, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        key = base64.b64encode(os.urandom(16)).decode()
        cookie = f"Cookie: {cookie_header(cookies)}\r\n" if cookies else ""
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"{cookie}\r\n"
            ).encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
        code = int(status.split(b" ", 2)[1])
        if code != 101:
            writer.close()
            return None, code
        return cls(reader, writer), 101

    async def send_raw(self, payload: bytes, opcode: int = 0x1) -> None:
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await self.writer.drain()

    async def recv(self, timeout: float = 5) -> dict | None:
        async with asyncio.timeout(timeout):
            while True:
                b1, b2 = await self.reader.readexactly(2)
                n = b2 & 0x7F
                if n == 126:
                    n = int.from_bytes(await self.reader.readexactly(2), "big")
                elif n == 127:
                    n = int.from_bytes(await self.reader.readexactly(8), "big")
                payload = await self.reader.readexactly(n)
                if b1 & 0x0F == 0x8:
                    self.close_code = (
                        int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    )
                    return None
                if b1 & 0x0F == 0x1:
                    return json.loads(payload)

    async def reply_to(self, frame_id: str | None, timeout: float = 5) -> dict | None:
        """The next error/ack/pong (for ``frame_id`` if given); None if the socket closed."""
        with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            while True:
                message = await self.recv(timeout)
                if message is None:
                    return None
                if message.get("type") in ("error", "ack", "pong") and (
                    frame_id is None or message.get("id") == frame_id
                ):
                    return message
        return None

    def close(self) -> None:
        self.writer.close()


MALFORMED: list[tuple[str, bytes, int]] = [
    ("not json", b"not json at all", 0x1),
    ("json array", b"[1, 2, 3]", 0x1),
    ("type not a string", b'{"type": 5}', 0x1),
    ("no type", b'{"id": "x"}', 0x1),
    ("unknown type", b'{"type": "format.disk", "id": "u"}', 0x1),
    ("deep nesting 30000", b'{"type": "ping", "x": ' + b"[" * 30000 + b"]" * 30000 + b"}", 0x1),
    (
        "deep nesting objects",
        b'{"type": "ping", "x": ' + b'{"a":' * 8000 + b"1" + b"}" * 8000 + b"}",
        0x1,
    ),
    ("oversize frame 200 KB", b'{"type": "ping", "pad": "' + b"x" * 200_000 + b'"}', 0x1),
    ("id too long", b'{"type": "ping", "id": "' + b"i" * 500 + b'"}', 0x1),
    ("offer sdp not a string", b'{"type": "offer", "id": "o", "sdp": 123}', 0x1),
    (
        "chair command from operator",
        b'{"type": "floor.give", "id": "f", "site": "00000000-0000-0000-0000-000000000000"}',
        0x1,
    ),
    ("mute with bad site", b'{"type": "mute.set", "id": "m", "site": [1], "muted": "yes"}', 0x1),
    (
        "rollcall headcount string",
        b'{"type": "rollcall.answer", "id": "r", "headcount": "many"}',
        0x1,
    ),
    ("huge number", b'{"type": "ping", "id": 1' + b"0" * 5000 + b"}", 0x1),
    ("NaN literal", b'{"type": "ping", "id": NaN}', 0x1),
    ("binary frame", b"\x00\x01\x02\xff", 0x2),
]


async def ws_phase(port: int, setup: dict, tally: Tally) -> None:
    operator = sign_in(port, "kythuat.vanchan")
    path = f"/ws/conferences/{setup['code']}/"
    for label, payload, opcode in MALFORMED:
        ws, status = await WS.connect(port, path, operator)
        if ws is None:
            tally.add("ws", False, f"{label}: handshake {status}")
            continue
        try:
            await ws.recv(10)  # the snapshot
            await ws.send_raw(payload, opcode)
            reply = await ws.reply_to(None, timeout=5)
            await ws.send_raw(b'{"type": "ping", "id": "alive"}')
            alive = await ws.reply_to("alive", timeout=5)
            held = reply is not None and reply.get("type") == "error" and alive is not None
            tally.add(
                "ws",
                held,
                f"{label}: reply={reply and reply.get('code')} alive={alive is not None} "
                f"close={ws.close_code}",
            )
        finally:
            ws.close()
    for bad in (
        "/ws/conferences/not-a-uuid/",
        "/ws/conferences/00000000-0000-0000-0000-000000000000/",
    ):
        ws, status = await WS.connect(port, bad, operator)
        close = None
        reason = None
        if ws is not None:
            # The refusal comes as an error frame with its reason, then the 4404 close
            # (Daphne drops close reasons, docs/protocol.md §1): read both, bounded.
            with contextlib.suppress(Exception):
                for _ in range(3):
                    message = await ws.recv(5)
                    if message is None:
                        break
                    if message.get("type") == "error":
                        reason = message.get("code")
            close = ws.close_code
            ws.close()
        tally.add(
            "ws",
            (close == 4404 and reason == "not_found") or status in (403, 404),
            f"{bad}: handshake {status} error {reason} close {close}",
        )
    # A hand-raise flood: state-changing commands must be limited or coalesced.
    chair = sign_in(port, "chutri.vanchan")
    chair_ws, _ = await WS.connect(port, path, chair)
    ws, _ = await WS.connect(port, path, operator)
    if chair_ws is None or ws is None:
        tally.add("ws", False, "flood: could not connect")
        return
    try:
        await chair_ws.recv(10)
        await chair_ws.send_raw(b'{"type": "start", "id": "go"}')
        await chair_ws.reply_to("go", timeout=15)
        await ws.recv(10)
        sent, acks, limited = 400, 0, 0
        for n in range(sent):
            kind = "hand.raise" if n % 2 == 0 else "hand.lower"
            await ws.send_raw(json.dumps({"type": kind, "id": f"h{n}"}).encode())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and acks + limited < sent:
            reply = await ws.reply_to(None, timeout=3)
            if reply is None:
                break
            if reply.get("type") == "ack":
                acks += 1
            elif reply.get("code") == "rate_limited":
                limited += 1
        # Held when at most one toggle per site every 2 s got through (issue 11 item 6).
        tally.add(
            "ws", acks <= 20, f"hand flood: {sent} sent, {acks} applied, {limited} rate_limited"
        )
    finally:
        ws.close()
        chair_ws.close()


def bodies(port: int, setup: dict, tally: Tally, sampler: Sampler, memory: dict) -> None:
    clerk = sign_in(port, "vanthu.vanchan")
    docs = f"/conferences/{setup['code']}/documents/"
    cases = [
        ("announce 300 MB to /login/", head("POST", "/login/", 300 * MB), b"", 413),
        ("push 300 MB to /login/", head("POST", "/login/", 300 * MB), b"x" * (300 * MB), 413),
        ("anonymous 1 MB", head("POST", "/login/", MB), b"x" * MB, 413),
        (
            "anonymous chunked 10 MB",
            head("POST", "/login/", None),
            (b"%x\r\n" % MB + b"x" * MB + b"\r\n") * 10 + b"0\r\n\r\n",
            413,
        ),
        (
            "forged session 5 MB",
            head("POST", "/login/", 5 * MB, {"sessionid": "forged"}),
            b"x" * (5 * MB),
            413,
        ),
        ("signed-in announce 100 MB", head("POST", docs, 100 * MB, clerk), b"", 413),
        ("signed-in push 100 MB", head("POST", docs, 100 * MB, clerk), b"x" * (100 * MB), 413),
        (
            "signed-in chunked 5 MB",
            head("POST", docs, None, clerk),
            (b"%x\r\n" % MB + b"x" * MB + b"\r\n") * 5 + b"0\r\n\r\n",
            413,
        ),
    ]
    for label, header, body, expected in cases:
        before = sampler.mark()
        status = raw(port, header, body, timeout=60)
        time.sleep(0.2)
        memory[label] = round((sampler.window_peak - before) / MB, 1)
        tally.add("bodies", status == expected, f"{label}: {status} (+{memory[label]} MB)")
        del body
    from tests.conferences.test_documents import pdf_bytes

    content = pdf_bytes().replace(b"%%EOF", b"%" + b"0" * (2 * MB) + b"\n%%EOF")
    content_type, payload = multipart(clerk, "hop-le-2mb.pdf", content)
    before = sampler.mark()
    status, _location, _text = request(port, "POST", docs, clerk, payload, content_type)
    memory["signed-in 2 MB document (accepted)"] = round((sampler.window_peak - before) / MB, 1)
    tally.add("bodies", status == 302, f"legitimate 2 MB upload: {status}")


def uploads(port: int, setup: dict, tally: Tally) -> None:
    from tests.conferences.test_document_attacks import CRAFTED

    clerk = sign_in(port, "vanthu.vanchan")
    docs = f"/conferences/{setup['code']}/documents/"
    for name, make, _reason in CRAFTED:
        content_type, payload = multipart(clerk, name, make())
        status, _location, _text = request(port, "POST", docs, clerk, payload, content_type)
        tally.add("uploads", status == 400, f"{name}: {status}")


def crafted_trees() -> list[tuple[str, str]]:
    meta = {"province": {"code": "99", "name": "Tỉnh Thử"}}

    def unit(code, **extra):
        return {"code": code, "name": f"Đơn vị {code}", "kind": "commune", **extra}

    files = {
        "kind as a list": {"meta": meta, "units": [unit("A1", kind=["commune"])]},
        "aliases as an int": {"meta": meta, "units": [unit("A1", aliases=7)]},
        "aliases as a string": {"meta": meta, "units": [unit("A1", aliases="abc")]},
        "41-character code": {"meta": meta, "units": [unit("X" * 41)]},
        "201-character name": {"meta": meta, "units": [unit("A1", name="N" * 201)]},
        "province 15/../x": {
            "meta": {"province": {"code": "15/../x", "name": "x"}},
            "units": [unit("A1")],
        },
        "code with slash": {"meta": meta, "units": [unit("a/b")]},
        "cycle": {"meta": meta, "units": [unit("P", parent_code="Q"), unit("Q", parent_code="P")]},
        "site key of another unit": {
            "units": [unit("NEW-1", parent_code="15-UBND", sites=[{"key": "140"}])]
        },
        "unit moved without saying so": {
            "units": [
                {"code": "04630", "name": "Xã Tú Lệ", "kind": "commune", "parent_code": "138"}
            ]
        },
        "sites not a list": {"meta": meta, "units": [unit("A1", sites="A1")]},
        "distance NaN": {"meta": meta, "units": [unit("A1", distance_km="NaN")]},
        "100,000-deep chain": {
            "meta": meta,
            "units": [unit("C0")]
            + [unit(f"C{n}", parent_code=f"C{n - 1}") for n in range(1, 100_000)],
        },
    }
    out = [(label, json.dumps(data, ensure_ascii=False)) for label, data in files.items()]
    nested = (
        '{"tree": '
        + '[{"code": "N", "name": "n", "kind": "commune", "children": ' * 3000
        + "[]"
        + "}]" * 3000
        + "}"
    )
    out.append(("tree nested 3,000 deep", nested))
    out.append(("not JSON", "{units: ["))
    return out


def imports(env: dict[str, str], tally: Tally, workdir: Path) -> dict[str, float]:
    seconds = {}
    for n, (label, text) in enumerate(crafted_trees()):
        path = workdir / f"crafted-{n}.json"
        path.write_text(text, encoding="utf-8")
        started = time.monotonic()
        done = subprocess.run(
            [PYTHON, "manage.py", "load_org_tree", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        took = round(time.monotonic() - started, 1)
        # Refused whole, with a message, never a traceback (the message lists the rows, or names the file).
        held = done.returncode == 1 and "Traceback" not in done.stderr and bool(done.stderr.strip())
        tally.add(
            "imports",
            held,
            f"{label}: exit {done.returncode} in {took} s {done.stderr.strip()[-160:]!r}",
        )
        seconds[label] = took
    return seconds


def import_scale(units: int, env: dict[str, str], workdir: Path) -> dict:
    rows = []
    districts = max(units // 1000, 1)
    per = units // districts - 1
    for d in range(districts):
        rows.append(
            {"code": f"D{d:03d}", "name": f"Huyện {d}", "kind": "district", "aliases": [f"H{d}"]}
        )
        rows += [
            {
                "code": f"D{d:03d}-{c:04d}",
                "name": f"Xã {d}-{c}",
                "kind": "commune",
                "parent_code": f"D{d:03d}",
                "aliases": [f"Xa {c}"],
                "distance_km": c % 80,
            }
            for c in range(per)
        ]
    path = workdir / "wide.json"
    path.write_text(
        json.dumps(
            {"meta": {"province": {"code": "77", "name": "Tỉnh Lớn"}}, "units": rows},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    out = {"units": len(rows), "file_mb": round(path.stat().st_size / MB, 1)}
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=600
    )
    for run in ("first", "again"):
        started = time.monotonic()
        proc = subprocess.Popen(
            [PYTHON, "manage.py", "load_org_tree", str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        peak = 0
        with contextlib.suppress(psutil.Error):
            watched = psutil.Process(proc.pid)
            while proc.poll() is None:
                peak = max(peak, watched.memory_info().rss)
                time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=900)
        out[run] = {
            "seconds": round(time.monotonic() - started, 1),
            "peak_rss_mb": round(peak / MB),
            "ok": proc.returncode == 0,
            "said": stdout.decode()[-120:] or stderr.decode()[-300:],
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--import-units", type=int, default=100_000, help="0 skips the import-scale run"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL for the import-scale run (default: a fresh SQLite file)",
    )
    parser.add_argument(
        "--only", default="pairs,ws,bodies,uploads,imports", help="comma-separated sets to run"
    )
    args = parser.parse_args()
    # SIGTERM ends the run through the finally blocks, so Daphne is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = set(args.only.split(","))
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="giaoban-abuse-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOM_MODE")
    }
    env.update(
        {
            "GIAOBAN_VAR_DIR": str(workdir),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "LOG_LEVEL": "ERROR",
            "MEDIA_ICE_ADDRESSES": "127.0.0.1",
            "MEDIA_ICE_ACCEPT_NETWORKS": "127.0.0.0/8",
        }
    )
    os.environ.update(
        {k: env[k] for k in ("GIAOBAN_VAR_DIR", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")}
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=600
    )
    subprocess.run(
        [PYTHON, "manage.py", "seed_demo", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=900,
        capture_output=True,
    )
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SETUP],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    setup = json.loads(
        next(ln for ln in done.stdout.splitlines() if ln.startswith("SETUP-JSON ")).split(" ", 1)[1]
    )

    import django

    django.setup()
    port = free_port()
    log = open(workdir / "daphne.log", "w")  # closed in finally
    proc = subprocess.Popen(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    tally, memory = Tally(), {}
    result: dict = {"benchmark": "abuse"}
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Daphne did not start:\n" + (workdir / "daphne.log").read_text())
            time.sleep(0.3)
        request(port, "GET", "/login/")
        sampler = Sampler(proc.pid)
        sampler.start()
        time.sleep(1)
        baseline = sampler.mark()
        if "pairs" in only:
            pairs(port, setup, tally)
        if "ws" in only:
            asyncio.run(ws_phase(port, setup, tally))
        if "bodies" in only:
            bodies(port, setup, tally, sampler, memory)
        if "uploads" in only:
            uploads(port, setup, tally)
        sampler.running = False
        result["daphne_rss_mb"] = {
            "baseline": round(baseline / MB),
            "peak": round(sampler.peak / MB),
            "peak_growth_per_body": memory,
        }
        alive = request(port, "GET", "/login/")[0] == 200
        tally.add("bodies", alive, f"server still answers after the attacks: {alive}")
    finally:
        stop(proc)
        log.close()
    if "imports" in only:
        result["import_refusal_seconds"] = imports(env, tally, workdir)
    if args.import_units:
        scale_env = dict(env)
        if args.database_url:
            scale_env["DATABASE_URL"] = args.database_url
        else:
            scale_env["GIAOBAN_VAR_DIR"] = str(workdir / "scale")
        result["import_scale"] = import_scale(args.import_units, scale_env, workdir)
    totals = {k: sum(row[k] for row in tally.sets.values()) for k in ("tried", "held", "failed")}
    result.update(totals)
    result["by_set"] = tally.sets
    result["failures"] = tally.failures[:40]
    result["seconds"] = round(time.monotonic() - started)
    shutil.rmtree(workdir, ignore_errors=True)
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
