"""The live conference WebSocket (docs/protocol.md): transport only.

Parse and validate a frame, call a command of ``conferences.live.commands`` through
``database_sync_to_async``, reply. Who the connection speaks for is decided by
``conferences.live.participants``; the commands themselves tell the media room after commit, so
nothing here syncs the room. Signalling (offer/leave) goes to the room through
``media_worker.dispatch``. Whatever ends the connection (close, replacement, Daphne cancelling
the consumer at shutdown), ``_cleanup`` leaves the media room.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from conferences.errors import DomainError
from conferences.live import chat, commands, holders, limits, presenting, selectors, transient
from conferences.live.participants import JoinRefused, Participant, participant_for_socket
from conferences.models import Conference, Status
from media_worker import dispatch

logger = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024
MAX_RATE = 50  # messages per second per socket
CHAIR_TYPES = frozenset(
    {
        "start",
        "end",
        "floor.give",
        "floor.clear",
        "recording.pause",
        "recording.resume",
        "broadcast.set",
        "mute.set",
        "mute.all",
        "agenda.goto",
        "rollcall.start",
        "rollcall.end",
        "absent.call",
        "presenter.grant",
        "presenter.revoke",
        "presenter.floor",
        "chat.set",
    }
)
# What only a site does: an observer (no site) is refused these as well as the chair's.
SITE_TYPES = frozenset(
    {"hand.raise", "hand.lower", "rollcall.answer", "content.start", "content.page", "chat.send"}
)
# Events a socket forwards at most once per interval (seconds), the newest winning: a burst of
# hand toggles from many sites reaches each page as one ``hands`` event per interval, however
# many were committed (each one still audited). Keyed by (type, site).
PAGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")

COALESCED = {"hands": 0.5, "slots": 0.5, "link": 2.0}


def refusal_message(reason: str) -> str:
    return {
        "unauthenticated": _("Bạn cần đăng nhập để tham dự."),
        "forbidden": _("Bạn không được mời dự hội nghị này."),
        "join_link_invalid": _("Liên kết tham dự không hợp lệ."),
        "join_link_expired": _("Liên kết tham dự đã hết hạn."),
        "join_link_revoked": _("Liên kết tham dự đã bị thu hồi."),
        "not_found": _("Không tìm thấy hội nghị."),
        "site_in_use": _(
            "Điểm cầu này đang được kết nối từ máy khác. Kết nối lại với “takeover” để tiếp quản."
        ),
    }.get(reason, reason)


class ConferenceConsumer(AsyncWebsocketConsumer):
    conference: Conference | None = None
    participant: Participant | None = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()

    # --- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        self.in_room = False
        self._offers: set[asyncio.Task[None]] = set()
        self._offer_lock = asyncio.Lock()
        self.replaced = False
        self.cleaned = False
        self.chat_group: str | None = None
        self.window = (0.0, 0)
        self._sent_at: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], dict[str, Any]] = {}
        self._flushes: dict[tuple[str, str], asyncio.Task[None]] = {}
        code = str(self.scope["url_route"]["kwargs"]["code"])
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = query.get("t", [None])[0]
        site = query.get("site", [None])[0]
        watch = query.get("watch", [""])[0] in ("1", "true")
        takeover = query.get("takeover", [""])[0] in ("1", "true")
        # the page's own random token (docs/protocol.md §5); anything else counts as none
        page = query.get("page", [""])[0]
        self.page = page if PAGE_TOKEN.fullmatch(page) else ""
        self._held_at = 0.0
        try:
            self.conference, self.participant = await database_sync_to_async(
                participant_for_socket
            )(user=self.scope.get("user"), code=code, token=token, site=site, watch=watch)
        except JoinRefused as exc:
            # Accept first: a close before the handshake completes reaches the browser as 1006
            # with no code or reason. Daphne 4.2 drops the close reason too, so the reason goes
            # in an error frame first (docs/protocol.md §1).
            await self.accept()
            await self.error(exc.reason, refusal_message(exc.reason))
            await self.close(code=exc.code, reason=exc.reason)
            return
        self.code = str(self.conference.code)
        if not self.participant.observer:
            claimed = await sync_to_async(holders.site_claim)(
                conference=self.code,
                site=self.participant.site_code,
                channel=self.channel_name,
                takeover=takeover,
                page=self.page,
            )
            if not claimed:
                # another connection speaks for the site: ask the user before taking it over
                self.participant = None
                await self.accept()
                await self.error("site_in_use", refusal_message("site_in_use"))
                await self.close(code=4423, reason="site_in_use")
                return
            self._held_at = time.monotonic()
        self.group = f"conference.{self.code}"
        self.site_group = chat.site_group(self.code, self.participant.site_code)
        # conference-wide chat reaches only the sockets that may read it (a watch-only
        # observer of a confidential conference does not): one more group, joined once
        reads_chat = await database_sync_to_async(chat.may_read)(self.participant, self.conference)
        self.chat_group = chat.chat_group(self.code) if reads_chat else None
        layer = self.channel_layer
        await layer.group_send(self.site_group, {"type": "live.replace", "by": self.channel_name})
        await layer.group_add(self.site_group, self.channel_name)
        await layer.group_add(self.group, self.channel_name)
        if self.chat_group:
            await layer.group_add(self.chat_group, self.channel_name)
        await self.accept()
        snapshot = await database_sync_to_async(selectors.live_snapshot)(
            conference=self.conference, participant=self.participant
        )
        await self.send_json(snapshot)
        slots = await sync_to_async(transient.last_slots)(self.code)
        if slots:
            await self.send_json({"type": "slots", "slots": slots})

    async def disconnect(self, code) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        if getattr(self, "cleaned", True) or self.participant is None:
            return
        self.cleaned = True
        for task in self._flushes.values():
            task.cancel()
        self._flushes.clear()
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.site_group, self.channel_name)
            if self.chat_group:
                await self.channel_layer.group_discard(self.chat_group, self.channel_name)
        except Exception:
            logger.exception("could not leave the groups of %s", self.code)
        if not self.participant.observer:
            try:
                await sync_to_async(holders.site_release)(
                    conference=self.code, site=self.participant.site_code, channel=self.channel_name
                )
            except Exception:
                logger.exception("could not free the site of %s", self.code)
        if self._offers:
            # not cancelled: a negotiation cut half-way would leave its peer open in the room
            await asyncio.wait(set(self._offers), timeout=15)
        if self.in_room and not self.replaced:
            self.in_room = False
            try:
                await dispatch.room_signal(
                    self.code,
                    {
                        "type": "leave",
                        "participant": self.participant.site_code,
                        "conn": self.channel_name,
                    },
                )
            except Exception:
                logger.exception("could not leave the media room of %s", self.code)

    # --- from the channel layer --------------------------------------------------------------

    async def conference_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        interval = COALESCED.get(event.get("type"))
        if interval is None:
            await self.send_json(event)
            return
        key = (str(event["type"]), str(event.get("site") or ""))
        now = time.monotonic()
        since = now - self._sent_at.get(key, -interval)
        if key not in self._flushes and since >= interval:
            self._sent_at[key] = now
            await self.send_json(event)
            return
        held = self._held.get(key)
        if held is None or _newer(event, held):
            self._held[key] = event
        if key not in self._flushes:
            self._flushes[key] = asyncio.create_task(self._flush(key, interval - since))

    async def _flush(self, key: tuple[str, str], delay: float) -> None:
        try:
            await asyncio.sleep(max(0.0, delay))
        finally:
            self._flushes.pop(key, None)
        event = self._held.pop(key, None)
        if event is not None and not self.replaced:
            self._sent_at[key] = time.monotonic()
            await self.send_json(event)

    async def live_replace(self, message: dict[str, Any]) -> None:
        if message.get("by") == self.channel_name or self.replaced:
            return
        self.replaced = True
        await self.send_json({"type": "replaced"})
        await self.close(code=4409, reason="replaced")

    # --- from the client ---------------------------------------------------------------------

    async def send_json(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data, ensure_ascii=False))

    async def error(self, code: str, message: str, ident: Any = None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "id": ident})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.participant is None or self.replaced:
            return
        if (
            not self.participant.observer
            and time.monotonic() - self._held_at > holders.REFRESH_EVERY
        ):
            self._held_at = time.monotonic()
            await sync_to_async(holders.site_refresh)(
                conference=self.code,
                site=self.participant.site_code,
                channel=self.channel_name,
                page=self.page,
            )
        if not self._within_rate():
            await self.error("rate_limited", _("Quá nhiều thông điệp."))
            return
        raw = text_data if text_data is not None else bytes_data or b""
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size > MAX_FRAME:
            await self.error("too_large", _("Thông điệp lớn hơn %(n)s byte.") % {"n": MAX_FRAME})
            return
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: a frame nested thousands deep is bad input, not a server fault
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.error(
                "bad_json", _("Thông điệp phải là một đối tượng JSON có trường “type”.")
            )
            return
        ident = message.get("id")
        if not (
            ident is None
            or (
                isinstance(ident, str | int)
                and not isinstance(ident, bool)
                and len(str(ident)) <= 64
            )
        ):
            await self.error("invalid", _("Trường “id” không hợp lệ."))
            return
        kind = message["type"]
        handler = HANDLERS.get(kind)
        if handler is None:
            await self.error(
                "unknown_type",
                _("Không biết loại thông điệp “%(type)s”.") % {"type": kind[:40]},
                ident,
            )
            return
        if kind in CHAIR_TYPES and not self.participant.chair:
            await self.error("forbidden", _("Chỉ chủ trì mới được điều khiển hội nghị."), ident)
            return
        if kind in SITE_TYPES and self.participant.observer:
            await self.error("forbidden", _("Người theo dõi không thay mặt điểm cầu nào."), ident)
            return
        target = message.get("site")
        wait = limits.command_wait(
            conference=self.code,
            site=self.participant.site_code,
            kind=kind,
            target=target if isinstance(target, str) else None,
        )
        if wait > 0:
            await self.send_json(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": _("Thao tác quá nhanh; thử lại sau %(s)s giây.")
                    % {"s": f"{wait:.1f}"},
                    "id": ident,
                    "retry_after": round(wait, 1),
                }
            )
            return
        try:
            reply = await handler(self, message)
        except DomainError as exc:
            await self.error(exc.code, exc.message, ident)
            return
        except dispatch.MediaUnavailable:
            await self.error(
                "media_unavailable",
                _("Phòng họp đang khởi động, vui lòng gửi lại sau giây lát."),
                ident,
            )
            return
        except Exception:
            logger.exception("live message %s failed in %s", kind, self.code)
            await self.error("server_error", _("Lỗi máy chủ; thao tác chưa được thực hiện."), ident)
            return
        if reply is not None:
            reply.setdefault("id", ident)
            await self.send_json(reply)
        elif reply is None and kind != "offer":
            await self.send_json({"type": "ack", "id": ident, "for": kind})

    def _within_rate(self) -> bool:
        now = time.monotonic()
        start, count = self.window
        if now - start >= 1.0:
            self.window = (now, 1)
            return True
        self.window = (start, count + 1)
        return count + 1 <= MAX_RATE

    async def _call(self, service, **kwargs: Any) -> Any:
        return await database_sync_to_async(service)(
            actor=self.participant.user, conference=self.conference, **kwargs
        )

    # --- handlers: each returns a reply frame or None (→ ack) ------------------------------

    async def on_ping(self, message):
        return {"type": "pong"}

    async def on_link(self, message):
        if self.participant.observer:
            return None  # an observer's link concerns nobody but itself
        ok = await sync_to_async(transient.link_reported)(
            code=self.code,
            site=self.participant.site_code,
            state=message.get("state"),
            quality=message.get("quality"),
        )
        if not ok:
            raise DomainError("invalid", _("Báo cáo đường truyền không hợp lệ."))
        return None

    async def on_ice(self, message):
        return None

    async def on_offer(self, message):
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp:
            raise DomainError("invalid", _("Thiếu “sdp”."))
        status, receive_content = await database_sync_to_async(self._offer_facts)()
        if status != Status.LIVE:
            raise DomainError("not_live", _("Hội nghị chưa diễn ra hoặc đã kết thúc."))
        content = message.get("content", False)
        if not isinstance(content, bool):
            raise DomainError("invalid", _("Trường “content” phải là true/false."))
        if self.participant.observer and publishes(sdp, content=content):
            raise DomainError(
                "forbidden", _("Người theo dõi chỉ xem và nghe: không gửi hình hoặc tiếng.")
            )
        self.in_room = True
        # Negotiation takes a while (and, on a media worker, a round trip): run it beside the
        # socket so events and other messages keep flowing; a newer offer replaces it.
        if len(self._offers) >= 2:
            raise DomainError("rate_limited", _("Đang xử lý một yêu cầu kết nối hình ảnh."))
        task = asyncio.create_task(self._offer(sdp, message.get("id"), content, receive_content))
        self._offers.add(task)
        task.add_done_callback(self._offers.discard)
        return None

    def _offer_facts(self) -> tuple[str, bool]:
        """The conference's status now, and whether this connection is sent the content line
        (``presenting.may_receive_content``: the documents' rule, asked on every offer)."""
        conference = Conference.objects.get(pk=self.conference.pk)
        return conference.status, presenting.may_receive_content(self.participant, conference)

    async def _offer(self, sdp: str, ident: Any, content: bool, receive_content: bool) -> None:
        async with self._offer_lock:  # one negotiation at a time per socket, in order
            await self._offer_now(sdp, ident, content, receive_content)

    async def _offer_now(self, sdp: str, ident: Any, content: bool, receive_content: bool) -> None:
        try:
            reply = await dispatch.room_signal(
                self.code,
                {
                    "type": "offer",
                    "sdp": sdp,
                    "content": content,
                    "receive_content": receive_content,
                    "participant": self.participant.site_code,
                    "conn": self.channel_name,
                    "id": ident,
                },
            )
        except dispatch.MediaUnavailable:
            await self.error(
                "media_unavailable",
                _("Phòng họp đang khởi động, vui lòng gửi lại sau giây lát."),
                ident,
            )
            return
        except Exception:
            logger.exception("offer failed in %s", self.code)
            await self.error("server_error", _("Lỗi máy chủ; thao tác chưa được thực hiện."), ident)
            return
        if reply is not None:
            reply.setdefault("id", ident)
            await self.send_json(reply)

    async def on_leave(self, message):
        if self.in_room:
            self.in_room = False
            await dispatch.room_signal(
                self.code,
                {
                    "type": "leave",
                    "participant": self.participant.site_code,
                    "conn": self.channel_name,
                },
            )
        return None

    async def on_start(self, message):
        self.conference = await self._call(commands.conference_start)

    async def on_end(self, message):
        self.conference = await self._call(commands.conference_end)

    async def on_floor_give(self, message):
        await self._call(commands.floor_give, site=_site(message))

    async def on_floor_clear(self, message):
        await self._call(commands.floor_clear)

    async def on_broadcast_set(self, message):
        await self._call(commands.broadcast_set, site=_site(message, allow_none=True))

    async def on_mute_set(self, message):
        muted = message.get("muted")
        if not isinstance(muted, bool):
            raise DomainError("invalid", _("Trường “muted” phải là true/false."))
        await self._call(commands.mute_set, site=_site(message), muted=muted)

    async def on_mute_all(self, message):
        muted = message.get("muted", True)
        if not isinstance(muted, bool):
            raise DomainError("invalid", _("Trường “muted” phải là true/false."))
        await self._call(commands.mute_all, muted=muted)

    async def on_agenda_goto(self, message):
        item = message.get("item")
        if item is not None and (not isinstance(item, int) or isinstance(item, bool)):
            raise DomainError("invalid", _("Trường “item” phải là mã nội dung."))
        await self._call(commands.agenda_goto, item=item)

    async def on_hand_raise(self, message):
        await self._call(commands.hand_raise, participant=self.participant)

    async def on_hand_lower(self, message):
        await self._call(
            commands.hand_lower, participant=self.participant, site=_site(message, allow_none=True)
        )

    async def on_rollcall_start(self, message):
        await self._call(commands.rollcall_start)

    async def on_rollcall_answer(self, message):
        await self._call(
            commands.rollcall_answer,
            participant=self.participant,
            headcount=message.get("headcount"),
            site=_site(message, allow_none=True),
        )

    async def on_rollcall_end(self, message):
        await self._call(commands.rollcall_end)

    async def on_absent_call(self, message):
        await self._call(commands.absent_call)

    async def on_presenter_grant(self, message):
        await self._call(presenting.presenter_grant, site=_site(message, allow_none=True))

    async def on_presenter_revoke(self, message):
        await self._call(presenting.presenter_revoke)

    async def on_presenter_floor(self, message):
        allowed = message.get("allowed")
        if not isinstance(allowed, bool):
            raise DomainError("invalid", _("Trường “allowed” phải là true/false."))
        await self._call(presenting.presenter_floor, allowed=allowed)

    async def on_content_start(self, message):
        await self._call(
            presenting.content_start,
            participant=self.participant,
            kind=message.get("kind"),
            document=message.get("document"),
            page=message.get("page", 1),
        )

    async def on_content_page(self, message):
        await self._call(
            presenting.content_page, participant=self.participant, page=message.get("page")
        )

    async def on_content_stop(self, message):
        await self._call(presenting.content_stop, participant=self.participant)

    async def on_chat_send(self, message):
        await self._call(
            chat.chat_send,
            participant=self.participant,
            text=message.get("text"),
            to=message.get("to", "all"),
        )

    async def on_chat_set(self, message):
        enabled = message.get("enabled")
        if not isinstance(enabled, bool):
            raise DomainError("invalid", _("Trường “enabled” phải là true/false."))
        await self._call(chat.chat_set, enabled=enabled)

    async def on_recording_pause(self, message):
        from recordings.services import set_paused

        await self._call(set_paused, paused=True)

    async def on_recording_resume(self, message):
        from recordings.services import set_paused

        await self._call(set_paused, paused=False)


def publishes(sdp: str, *, content: bool = False) -> bool:
    """Whether an offer sends media on its publish lines (the first two m-lines, and with
    ``content`` the second to last, docs/sfu.md): an observer's must be ``inactive`` or
    ``recvonly``."""
    sections = sdp.replace("\r\n", "\n").split("\nm=")[1:]
    sections = sections[:2] + (sections[-2:-1] if content and len(sections) >= 8 else [])
    for section in sections:
        lines = section.split("\n")
        direction = "sendrecv"  # RFC 4566: the default when no attribute says otherwise
        for line in lines:
            if line.strip() in ("a=sendonly", "a=sendrecv", "a=recvonly", "a=inactive"):
                direction = line.strip()[2:]
        if direction in ("sendonly", "sendrecv") and not lines[0].split(" ")[1:2] == ["0"]:
            return True
    return False


def _newer(event: dict[str, Any], than: dict[str, Any]) -> bool:
    """Versioned events: the higher version; transient ones: the later arrival."""
    a, b = event.get("version"), than.get("version")
    if isinstance(a, int) and isinstance(b, int):
        return a > b
    return True


def _site(message: dict[str, Any], *, allow_none: bool = False) -> str | None:
    site = message.get("site")
    if site is None and allow_none:
        return None
    if not isinstance(site, str) or not 0 < len(site) <= 64:
        raise DomainError("invalid", _("Trường “site” phải là mã điểm cầu."))
    return site


HANDLERS = {
    "ping": ConferenceConsumer.on_ping,
    "ice": ConferenceConsumer.on_ice,
    "link": ConferenceConsumer.on_link,
    "offer": ConferenceConsumer.on_offer,
    "leave": ConferenceConsumer.on_leave,
    "start": ConferenceConsumer.on_start,
    "end": ConferenceConsumer.on_end,
    "floor.give": ConferenceConsumer.on_floor_give,
    "floor.clear": ConferenceConsumer.on_floor_clear,
    "broadcast.set": ConferenceConsumer.on_broadcast_set,
    "mute.set": ConferenceConsumer.on_mute_set,
    "mute.all": ConferenceConsumer.on_mute_all,
    "agenda.goto": ConferenceConsumer.on_agenda_goto,
    "hand.raise": ConferenceConsumer.on_hand_raise,
    "hand.lower": ConferenceConsumer.on_hand_lower,
    "rollcall.start": ConferenceConsumer.on_rollcall_start,
    "rollcall.answer": ConferenceConsumer.on_rollcall_answer,
    "rollcall.end": ConferenceConsumer.on_rollcall_end,
    "absent.call": ConferenceConsumer.on_absent_call,
    "presenter.grant": ConferenceConsumer.on_presenter_grant,
    "presenter.revoke": ConferenceConsumer.on_presenter_revoke,
    "presenter.floor": ConferenceConsumer.on_presenter_floor,
    "content.start": ConferenceConsumer.on_content_start,
    "content.page": ConferenceConsumer.on_content_page,
    "content.stop": ConferenceConsumer.on_content_stop,
    "chat.send": ConferenceConsumer.on_chat_send,
    "chat.set": ConferenceConsumer.on_chat_set,
    "recording.pause": ConferenceConsumer.on_recording_pause,
    "recording.resume": ConferenceConsumer.on_recording_resume,
}
