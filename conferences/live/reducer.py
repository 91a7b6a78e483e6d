"""The live events' schemas and the pure reducer that applies them to a snapshot.

Contract (docs/protocol.md §2–3):
- every event the server sends is one of ``EVENTS`` — a ``TypedDict`` per event type that mypy
  checks where events are built and ``validate_event`` checks at run time (the consistency tests
  validate every event they see, like zulip's ``verify_action``);
- ``LiveView(snapshot).apply(event)`` is the reference for applying events: a snapshot plus every
  later event equals a fresh snapshot, whatever order the events arrive in. The browser's
  ``static/conferences/live/protocol.js`` mirrors it line by line.

Ordering rule: each event carries ``version`` (``conferences.events``). The view remembers the
version each piece of state was last set at (the snapshot's ``version`` for all of them) and
drops an event older than that piece — the rule media rooms use for ``state`` commands. Pieces
are: each top-level field, and per site its media, presence and attendance; the roll call is one
piece, its answers one per site.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Literal, NotRequired, TypedDict, Union


class ConferenceData(TypedDict):
    code: str
    title: str
    status: str
    chair_name: str
    chair_site: str | None
    planned_start: str | None
    planned_end: str | None
    actual_start: str | None
    actual_end: str | None


class ConferenceEvent(TypedDict):
    type: Literal["conference"]
    version: int
    conference: ConferenceData


class AgendaEvent(TypedDict):
    type: Literal["agenda"]
    version: int
    current_item: int | None


class FloorEvent(TypedDict):
    type: Literal["floor"]
    version: int
    floor: str | None


class BroadcastEvent(TypedDict):
    type: Literal["broadcast"]
    version: int
    broadcast: str | None


class MutedEvent(TypedDict):
    type: Literal["muted"]
    version: int
    muted: list[str]


class HandsEvent(TypedDict):
    type: Literal["hands"]
    version: int
    hands: list[str]


class RecordingEvent(TypedDict):
    type: Literal["recording"]
    version: int
    recording: Literal["on", "paused", "off"]  # recorded now / paused by the chair / not recorded


class ObserversEvent(TypedDict):
    """How many watch-only observers have their media up (the snapshot's ``observers``)."""

    type: Literal["observers"]
    version: int
    observers: int


class PresenterEvent(TypedDict):
    """The presenter role (``conferences.live.presenting``): one site or nobody, and whether the
    site holding the floor may present too. One piece (``presenter``)."""

    type: Literal["presenter"]
    version: int
    presenter: str | None
    floor_may_present: bool


class ContentData(TypedDict):
    kind: Literal["screen", "document"]
    site: str
    document: int | None
    name: str
    page: int | None
    pages: int | None
    item: int | None
    started_at: str


class ContentEvent(TypedDict):
    """What is shown on the content line now (null: nothing). One piece (``content``)."""

    type: Literal["content"]
    version: int
    content: ContentData | None


class MediaEvent(TypedDict):
    type: Literal["media"]
    version: int
    site: str
    video: bool
    audio: bool


class PresenceJoinedEvent(TypedDict):
    type: Literal["presence"]
    version: int
    site: str
    joined_at: str


class PresenceLeftEvent(TypedDict):
    type: Literal["presence"]
    version: int
    site: str
    left_at: str


class AttendanceEvent(TypedDict):
    type: Literal["attendance"]
    version: int
    site: str
    site_key: str
    status: str
    headcount: int | None
    leader_name: str
    leader_title: str
    entry: int
    source: str


class RollCallStartedEvent(TypedDict):
    type: Literal["roll_call_started"]
    version: int
    roll_call: int
    started_at: str


class RollCallAnswerEvent(TypedDict):
    type: Literal["roll_call_answer"]
    version: int
    roll_call: int
    started_at: str
    site: str
    site_key: str
    headcount: int
    source: str


class RollCallEndedEvent(TypedDict):
    type: Literal["roll_call_ended"]
    version: int
    roll_call: int
    answered: int
    invited: int


class AbsentCalledEvent(TypedDict):
    type: Literal["absent.called"]
    version: int
    sites: list[str]
    notified: int


class ChatEnabledEvent(TypedDict):
    """The chair turned the conference chat on or off (the snapshot's ``chat.enabled``)."""

    type: Literal["chat_enabled"]
    version: int
    chat_enabled: bool


class ChatMessageData(TypedDict):
    id: int
    at: str
    site: str
    site_name: str
    author: str
    to: Literal["all", "chair"]
    text: str


class ChatEvent(TypedDict):
    """A chat message (the snapshot's ``chat.messages``): a record, not a piece of state — no
    version; appended by ``id``, the last ``CHAT_KEEP`` kept."""

    type: Literal["chat"]
    message: ChatMessageData


class SpeakingEvent(TypedDict):
    """Transient: who is talking now (not in the snapshot, no version)."""

    type: Literal["speaking"]
    site: str | None


class MediaRestartEvent(TypedDict):
    """Transient: the media room was (re)started; close the peer connection and offer again."""

    type: Literal["media.restart"]
    reason: str
    epoch: NotRequired[int]


# event type → the schemas an event of that type may match (presence has two shapes)
EVENTS: dict[str, tuple[type, ...]] = {}
for _schema in (
    ConferenceEvent,
    AgendaEvent,
    FloorEvent,
    BroadcastEvent,
    MutedEvent,
    HandsEvent,
    RecordingEvent,
    ObserversEvent,
    PresenterEvent,
    ContentEvent,
    MediaEvent,
    PresenceJoinedEvent,
    PresenceLeftEvent,
    AttendanceEvent,
    RollCallStartedEvent,
    RollCallAnswerEvent,
    RollCallEndedEvent,
    AbsentCalledEvent,
    ChatEnabledEvent,
    ChatEvent,
    SpeakingEvent,
    MediaRestartEvent,
):
    (_kind,) = typing.get_args(typing.get_type_hints(_schema)["type"])
    EVENTS[_kind] = (*EVENTS.get(_kind, ()), _schema)
TRANSIENT = frozenset({"speaking", "media.restart"})
CHAT_KEEP = 100  # conferences.live.chat.KEEP


class SchemaError(ValueError):
    pass


def _check(value: Any, tp: Any, where: str) -> None:
    origin = typing.get_origin(tp)
    if tp is Any:
        return
    if tp is type(None):
        if value is not None:
            raise SchemaError(f"{where}: expected null, got {value!r}")
        return
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                _check(value, option, where)
                return
            except SchemaError as exc:
                errors.append(str(exc))
        raise SchemaError("; ".join(errors))
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SchemaError(f"{where}: {value!r} is not one of {typing.get_args(tp)}")
        return
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list, got {value!r}")
        for i, item in enumerate(value):
            _check(item, typing.get_args(tp)[0], f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {value!r}")
        key_type, value_type = typing.get_args(tp)
        for key, item in value.items():
            _check(key, key_type, f"{where} key")
            _check(item, value_type, f"{where}[{key!r}]")
        return
    if typing.is_typeddict(tp):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {value!r}")
        hints = typing.get_type_hints(tp)
        missing = tp.__required_keys__ - value.keys()
        extra = value.keys() - hints.keys()
        if missing or extra:
            raise SchemaError(f"{where}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for key, item in value.items():
            _check(item, hints[key], f"{where}.{key}")
        return
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaError(f"{where}: expected an integer, got {value!r}")
        return
    if not isinstance(value, tp):
        raise SchemaError(f"{where}: expected {tp.__name__}, got {value!r}")


def validate_event(event: dict[str, Any]) -> None:
    """Raise ``SchemaError`` unless ``event`` matches the schema of its type exactly."""
    schemas = EVENTS.get(event.get("type"))  # type: ignore[arg-type]
    if not schemas:
        raise SchemaError(f"unknown event type {event.get('type')!r}")
    errors = []
    for schema in schemas:
        try:
            _check(event, schema, str(event["type"]))
            return
        except SchemaError as exc:
            errors.append(str(exc))
    raise SchemaError(" | ".join(errors))


def _key(event: dict[str, Any]) -> str | None:
    kind = event["type"]
    if kind in (
        "floor",
        "broadcast",
        "muted",
        "hands",
        "conference",
        "recording",
        "observers",
        "presenter",
        "content",
    ):
        return str(kind)
    if kind == "chat_enabled":
        return "chat_enabled"
    if kind == "agenda":
        return "current_item"
    if kind in ("media", "presence", "attendance"):
        return f"{kind}:{event['site']}"
    return None


class LiveView:
    """A snapshot kept current by events (see the module docstring for the ordering rule)."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.state = copy.deepcopy(snapshot)
        self.base: int = int(snapshot.get("version") or 0)
        self.versions: dict[str, int] = {}

    def _seen(self, key: str) -> int:
        return self.versions.get(key, self.base)

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one event; False when it was dropped (older than what it sets, or unknown)."""
        kind = event.get("type")
        version = event.get("version")
        if kind in TRANSIENT or kind not in EVENTS:
            return False
        if kind == "chat":
            return self._chat(event["message"])
        assert isinstance(version, int), event
        applied = self._apply(str(kind), int(version), event)
        if applied:
            self.state["version"] = max(int(self.state.get("version") or 0), version)
        return applied

    def _apply(self, kind: str, version: int, event: dict[str, Any]) -> bool:
        snap = self.state
        if kind.startswith("roll_call"):
            return self._rollcall(kind, version, event)
        key = _key(event)
        if key is None:  # informational (absent.called): no state, only the version
            return True
        if version <= self._seen(key):
            return False
        site = snap["sites"].get(event.get("site") or "")
        if kind == "conference":
            snap["conference"] = event["conference"]
        elif kind == "agenda":
            snap["current_item"] = event["current_item"]
        elif kind in ("floor", "broadcast", "muted", "hands", "recording", "observers", "content"):
            snap[kind] = event[kind]
        elif kind == "presenter":
            snap["presenter"] = event["presenter"]
            snap["floor_may_present"] = event["floor_may_present"]
        elif kind == "chat_enabled":
            snap["chat"]["enabled"] = bool(event["chat_enabled"])
        elif site is None:
            pass  # not a site of this conference: nothing to show, the version still counts
        elif kind == "media":
            site["video"], site["audio"] = bool(event["video"]), bool(event["audio"])
        elif kind == "presence":
            site["connected"] = "joined_at" in event
        elif kind == "attendance":
            site["status"], site["headcount"] = event["status"], event["headcount"]
        self.versions[key] = version
        return True

    def _chat(self, message: dict[str, Any]) -> bool:
        """Append a message by id (once), keeping the last ``CHAT_KEEP`` in id order."""
        chat = self.state.get("chat")
        if not chat:
            return False
        messages = chat["messages"]
        if any(m["id"] == message["id"] for m in messages):
            return False
        if len(messages) >= CHAT_KEEP and message["id"] < messages[0]["id"]:
            return False  # older than everything kept: a fresh snapshot would not hold it
        messages.append(copy.deepcopy(message))
        messages.sort(key=lambda m: m["id"])
        del messages[:-CHAT_KEEP]
        return True

    def _rollcall(self, kind: str, version: int, event: dict[str, Any]) -> bool:
        current = self.state["rollcall"]
        ident = event["roll_call"]
        if kind == "roll_call_answer":
            answer_key = f"answer:{event['site']}"
            if current is not None and current["id"] == ident:
                if version <= self._seen(answer_key):
                    return False
                current["answers"][event["site"]] = event["headcount"]
            elif version > self._seen("rollcall"):
                # the answer overtook the start of its roll call: open it from the answer
                self.state["rollcall"] = {
                    "id": ident,
                    "started_at": event["started_at"],
                    "answers": {event["site"]: event["headcount"]},
                }
                self.versions["rollcall"] = version
            else:
                return False
            self.versions[answer_key] = version
            return True
        if version <= self._seen("rollcall"):
            return False
        if kind == "roll_call_started":
            kept = current["answers"] if current is not None and current["id"] == ident else {}
            self.state["rollcall"] = {
                "id": ident,
                "started_at": event["started_at"],
                "answers": kept,
            }
        elif current is None or current["id"] == ident:  # roll_call_ended
            self.state["rollcall"] = None
        self.versions["rollcall"] = version
        return True


def apply_event(snapshot: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """One event applied to a snapshot (a new dict), events in commit order. Kept for callers
    that apply a single event; ``LiveView`` is the reducer for a stream."""
    view = LiveView(snapshot)
    view.base = -1  # a lone event is always newer than the snapshot it is applied to
    view.apply(event)
    return view.state
