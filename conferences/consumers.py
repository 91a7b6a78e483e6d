"""The live conference WebSocket (docs/protocol.md): transport only.

Parse and validate a frame, call a service of ``conferences.services.live`` through
``database_sync_to_async``, reply; the media room is reached only through
``media_worker.dispatch``. Whatever ends the connection (close, replacement, Daphne cancelling
the consumer at shutdown), ``_cleanup`` leaves the media room.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ValidationError

from conferences.errors import DomainError, PermissionDeniedError
from conferences.joinlinks import JoinLinkError, join_link_read, join_link_user
from conferences.models import Conference, Status
from conferences.services import live
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
        "broadcast.set",
        "mute.set",
        "mute.all",
        "agenda.goto",
        "rollcall.start",
        "rollcall.end",
        "absent.call",
    }
)
ROOM_STATE_TYPES = frozenset({"floor.give", "floor.clear", "broadcast.set", "mute.set", "mute.all"})


class Rejected(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _authorise(
    user, code: str, token: str | None, site: str | None
) -> tuple[Conference, live.Participant]:
    try:
        conference = Conference.objects.select_related("chair_site", "host_unit").get(code=code)
    except (Conference.DoesNotExist, ValidationError, ValueError):
        raise Rejected(4404, "not_found") from None
    if token is not None:
        try:
            link = join_link_read(token, conference_code=str(conference.code))
            user = join_link_user(link)
        except JoinLinkError as exc:
            raise Rejected(4403, exc.code) from None
        try:
            return conference, live.participant_resolve(
                user=user, conference=conference, site_code=link.site_code
            )
        except PermissionDeniedError:
            raise Rejected(4403, "join_link_invalid") from None
    if not getattr(user, "is_authenticated", False):
        raise Rejected(4401, "unauthenticated")
    try:
        return conference, live.participant_resolve(
            user=user, conference=conference, site_code=site
        )
    except PermissionDeniedError:
        raise Rejected(4403, "forbidden") from None


class ConferenceConsumer(AsyncWebsocketConsumer):
    conference: Conference | None = None
    participant: live.Participant | None = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()

    # --- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        self.in_room = False
        self.replaced = False
        self.cleaned = False
        self.window = (0.0, 0)
        code = str(self.scope["url_route"]["kwargs"]["code"])
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = query.get("t", [None])[0]
        site = query.get("site", [None])[0]
        try:
            self.conference, self.participant = await database_sync_to_async(_authorise)(
                self.scope.get("user"), code, token, site
            )
        except Rejected as exc:
            # Accept first: a close before the handshake completes reaches the browser as 1006
            # with no code or reason.
            await self.accept()
            await self.close(code=exc.code, reason=exc.reason)
            return
        self.code = str(self.conference.code)
        self.group = f"conference.{self.code}"
        self.site_group = f"conference.{self.code}.site.{self.participant.site_code}"
        layer = self.channel_layer
        await layer.group_send(self.site_group, {"type": "live.replace", "by": self.channel_name})
        await layer.group_add(self.site_group, self.channel_name)
        await layer.group_add(self.group, self.channel_name)
        await self.accept()
        snapshot = await database_sync_to_async(live.live_snapshot)(
            conference=self.conference, participant=self.participant
        )
        await self.send_json(snapshot)

    async def disconnect(self, code) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        if getattr(self, "cleaned", True) or self.participant is None:
            return
        self.cleaned = True
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.site_group, self.channel_name)
        except Exception:
            logger.exception("could not leave the groups of %s", self.code)
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
                    reply_to=self.channel_name,
                )
            except Exception:
                logger.exception("could not leave the media room of %s", self.code)

    # --- from the channel layer --------------------------------------------------------------

    async def conference_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def media_reply(self, message: dict[str, Any]) -> None:
        await self.send_json(message["reply"])

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
        if not self._within_rate():
            await self.error("rate_limited", "Quá nhiều thông điệp.")
            return
        raw = text_data if text_data is not None else bytes_data or b""
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size > MAX_FRAME:
            await self.error("too_large", f"Thông điệp lớn hơn {MAX_FRAME} byte.")
            return
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.error("bad_json", "Thông điệp phải là một đối tượng JSON có trường “type”.")
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
            await self.error("invalid", "Trường “id” không hợp lệ.")
            return
        kind = message["type"]
        handler = HANDLERS.get(kind)
        if handler is None:
            await self.error("unknown_type", f"Không biết loại thông điệp “{kind[:40]}”.", ident)
            return
        if kind in CHAIR_TYPES and not self.participant.chair:
            await self.error("forbidden", "Chỉ chủ trì mới được điều khiển hội nghị.", ident)
            return
        try:
            reply = await handler(self, message)
        except DomainError as exc:
            await self.error(exc.code, exc.message, ident)
            return
        except dispatch.MediaUnavailable:
            await self.error(
                "media_unavailable",
                "Phòng họp đang khởi động, vui lòng gửi lại sau giây lát.",
                ident,
            )
            return
        except Exception:
            logger.exception("live message %s failed in %s", kind, self.code)
            await self.error("server_error", "Lỗi máy chủ; thao tác chưa được thực hiện.", ident)
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

    async def _sync_room(self) -> None:
        state = await database_sync_to_async(live.room_state)(self.conference)
        await dispatch.room_command(self.code, state)

    # --- handlers: each returns a reply frame or None (→ ack) ------------------------------

    async def on_ping(self, message):
        return {"type": "pong"}

    async def on_ice(self, message):
        return None

    async def on_offer(self, message):
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp:
            raise DomainError("invalid", "Thiếu “sdp”.")
        status = await database_sync_to_async(
            lambda: Conference.objects.values_list("status", flat=True).get(pk=self.conference.pk)
        )()
        if status != Status.LIVE:
            raise DomainError("not_live", "Hội nghị chưa diễn ra hoặc đã kết thúc.")
        self.in_room = True
        reply = await dispatch.room_signal(
            self.code,
            {
                "type": "offer",
                "sdp": sdp,
                "participant": self.participant.site_code,
                "conn": self.channel_name,
                "id": message.get("id"),
            },
            reply_to=self.channel_name,
        )
        if reply is not None:
            await self.send_json(reply)
        return None

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
                reply_to=self.channel_name,
            )
        return None

    async def on_start(self, message):
        self.conference = await self._call(live.live_start)

    async def on_end(self, message):
        self.conference = await self._call(live.live_end)

    async def on_floor_give(self, message):
        await self._call(live.floor_give, site=_site(message))
        await self._sync_room()

    async def on_floor_clear(self, message):
        await self._call(live.floor_give, site=None)
        await self._sync_room()

    async def on_broadcast_set(self, message):
        await self._call(live.broadcast_set, site=_site(message, allow_none=True))
        await self._sync_room()

    async def on_mute_set(self, message):
        muted = message.get("muted")
        if not isinstance(muted, bool):
            raise DomainError("invalid", "Trường “muted” phải là true/false.")
        await self._call(live.mute_set, site=_site(message), muted=muted)
        await self._sync_room()

    async def on_mute_all(self, message):
        muted = message.get("muted", True)
        if not isinstance(muted, bool):
            raise DomainError("invalid", "Trường “muted” phải là true/false.")
        await self._call(live.mute_all, muted=muted)
        await self._sync_room()

    async def on_agenda_goto(self, message):
        item = message.get("item")
        if item is not None and (not isinstance(item, int) or isinstance(item, bool)):
            raise DomainError("invalid", "Trường “item” phải là mã nội dung.")
        await self._call(live.agenda_goto, item=item)

    async def on_hand_raise(self, message):
        await self._call(live.hand_raise, participant=self.participant)

    async def on_hand_lower(self, message):
        await self._call(
            live.hand_lower, participant=self.participant, site=_site(message, allow_none=True)
        )

    async def on_rollcall_start(self, message):
        await self._call(live.rollcall_start)

    async def on_rollcall_answer(self, message):
        await self._call(
            live.rollcall_answer,
            participant=self.participant,
            headcount=message.get("headcount"),
            site=_site(message, allow_none=True),
        )

    async def on_rollcall_end(self, message):
        await self._call(live.rollcall_end)

    async def on_absent_call(self, message):
        await self._call(live.absent_call)


def _site(message: dict[str, Any], *, allow_none: bool = False) -> str | None:
    site = message.get("site")
    if site is None and allow_none:
        return None
    if not isinstance(site, str) or not 0 < len(site) <= 64:
        raise DomainError("invalid", "Trường “site” phải là mã điểm cầu.")
    return site


HANDLERS = {
    "ping": ConferenceConsumer.on_ping,
    "ice": ConferenceConsumer.on_ice,
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
}
