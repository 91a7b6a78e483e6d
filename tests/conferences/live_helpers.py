"""Helpers for the live WebSocket tests: sessions, communicators, reading frames with bounds."""

from __future__ import annotations

import asyncio
import json

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections

from portal.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_key(user) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


async def open_socket(
    conference,
    user=None,
    *,
    token: str | None = None,
    site: str | None = None,
    code: str | None = None,
    watch: bool = False,
    takeover: bool = False,
    page: str | None = None,
):
    """Connect; returns (communicator, first frame) — the snapshot, or a ``close`` dict."""
    headers = [ORIGIN]
    if user is not None:
        key = await database_sync_to_async(session_key)(user)
        headers.append((b"cookie", f"sessionid={key}".encode()))
    query = []
    if token is not None:
        query.append(f"t={token}")
    if site is not None:
        query.append(f"site={site}")
    if watch:
        query.append("watch=1")
    if takeover:
        query.append("takeover=1")
    if page is not None:
        query.append(f"page={page}")
    path = f"/ws/conferences/{code or conference.code}/" + (f"?{'&'.join(query)}" if query else "")
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    first = await comm.receive_output(timeout=10)
    if first["type"] == "websocket.close":
        return comm, {"type": "close", "code": first.get("code"), "reason": first.get("reason")}
    frame = json.loads(first["text"])
    if frame.get("type") == "error" and frame.get("id") is None:
        # a refusal: the reason as an error frame, then the close (docs/protocol.md §1)
        closing = await comm.receive_output(timeout=10)
        assert closing["type"] == "websocket.close", closing
        return comm, {
            "type": "close",
            "code": closing.get("code"),
            "reason": closing.get("reason"),
            "error": frame,
        }
    return comm, frame


async def recv(comm, timeout: float = 10) -> dict:
    out = await comm.receive_output(timeout=timeout)
    if out["type"] == "websocket.close":
        return {"type": "close", "code": out.get("code"), "reason": out.get("reason")}
    return json.loads(out["text"])


async def send(comm, message: dict | str) -> None:
    await comm.send_to(text_data=message if isinstance(message, str) else json.dumps(message))


async def request(comm, message: dict, timeout: float = 10) -> tuple[dict, list[dict]]:
    """Send a message with an id; return its reply and the events that came before it."""
    ident = message.setdefault("id", f"r{id(message)}")
    await send(comm, message)
    before: list[dict] = []
    for _ in range(200):
        frame = await recv(comm, timeout)
        if frame.get("id") == ident and frame["type"] in ("ack", "error", "answer", "pong"):
            return frame, before
        before.append(frame)
    raise AssertionError("no reply within 200 frames")


async def drain(comm, quiet: float = 0.3, limit: int = 500) -> list[dict]:
    """Every frame until none arrives for ``quiet`` seconds (bounded)."""
    frames = []
    for _ in range(limit):
        if await comm.receive_nothing(timeout=quiet):
            return frames
        frames.append(await recv(comm))
    return frames


async def until(comm, matches, timeout: float = 10, limit: int = 500) -> tuple[dict, list[dict]]:
    """Read frames until one ``matches``; return it and the frames before it (bounded in count
    and time). For coalesced events (``slots``, ``hands``), which a quiet ``drain`` can miss."""
    seen: list[dict] = []
    deadline = asyncio.get_running_loop().time() + timeout
    for _ in range(limit):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        try:
            frame = await recv(comm, timeout=left)
        except TimeoutError:
            break
        if matches(frame):
            return frame, seen
        seen.append(frame)
    raise AssertionError(f"no matching frame within {timeout} s: {seen}")


async def close_all(*comms) -> None:
    for comm in comms:
        try:
            await comm.disconnect()
        except BaseException:
            pass
    # The consumers' database work ran on a worker thread: close its connection, or PostgreSQL
    # refuses to drop the test database ("being accessed by other users").
    await database_sync_to_async(connections.close_all)()
