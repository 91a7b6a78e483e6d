"""The port between the media plane and the domain: what a room host needs from "the
conference" without importing it.

``media_worker`` never imports ``conferences``. The domain implements :class:`RoomDomain` and
registers it once at start-up (``conferences.apps.ConferencesConfig.ready`` →
:func:`register`); room hosts call it through :func:`domain`. Every method is synchronous (hosts
call them through ``sync_to_async``) and may raise on a database failure: the host retries.
[LiveKit: the SFU reports to the room service through an interface, never the reverse]
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol


class RoomDomain(Protocol):
    def room_state(self, code: str) -> dict[str, Any] | None:
        """The ``state`` command a new room starts from, or None if the conference is not live."""

    def room_opened(self, code: str, *, worker: str, expired_at: dt.datetime | None) -> int | None:
        """A host took the room: the epoch of its lease (higher than every earlier one), or
        None when the conference is not live. Presence opened under older epochs is closed at
        ``expired_at`` (when the previous lease ran out; None: now) — an outage is a gap."""

    def report(self, code: str, epoch: int, event: dict[str, Any]) -> bool:
        """Record one room event (presence, media, speaking) of the host holding ``epoch``;
        False when ``epoch`` is no longer the room's (the event is dropped: fenced)."""

    def room_started(self, code: str, epoch: int) -> None:
        """Tell the conference's pages the room (re)started: they offer again."""

    def live_codes(self) -> list[str]:
        """Codes of the conferences that are live now (rooms that should be running)."""


_domain: RoomDomain | None = None


def register(domain: RoomDomain) -> None:
    global _domain
    _domain = domain


def domain() -> RoomDomain:
    if _domain is None:
        raise RuntimeError("no RoomDomain registered (conferences.apps registers one at start-up)")
    return _domain
