"""One key-frame request manager per publisher video stream.

Everything that wants a key frame from a source -- a subscriber joining or connecting, a slot
re-pointed to it, a subscriber's PLI/FIR, the recorder, the NACK generator giving up on a
packet -- calls :meth:`KeyframeRequester.request`. The manager turns those into PLIs to the
publisher:

- **pending**: once a PLI is sent, more requests are coalesced into it until a key frame
  arrives (any key frame starting after the request satisfies everyone who asked);
- **retry**: a PLI can be lost or ignored, so while pending it is repeated every
  ``RETRY_TIMEOUT`` (at most ``MAX_RETRIES`` times without a new request);
- **throttle**: two PLIs are at least ``FORCED_INTERVAL`` apart (joins, switches, loss) or
  ``INTERVAL`` (a subscriber's own PLI/FIR). A request inside the interval is deferred to its
  end, never dropped, and every request in between joins it. Chromium ignores requests within
  300 ms of the last one, and a join storm must not make a browser send key frames several
  times a second: 50 joins in a burst are one or two PLIs.

A key frame that arrives while a deferred request waits satisfies it too, and cancels it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .counters import RoomCounters

FORCED_INTERVAL = 0.5  # s between two PLIs for joins, switches and unrecoverable loss
INTERVAL = 1.0  # s between two PLIs for subscribers' PLI/FIR
RETRY_TIMEOUT = 1.0  # s pending without a key frame before the PLI is repeated
MAX_RETRIES = 30


class KeyframeRequester:
    """Pending / deferred / retry state of key-frame requests to one source."""

    def __init__(self, send: Callable[[], None], counters: RoomCounters | None = None) -> None:
        self._send_pli = send
        self.counters = counters if counters is not None else RoomCounters()
        self.pending = False  # a PLI went out and no key frame came since
        self.sent_at = float("-inf")
        self.requests = 0  # calls to request()
        self.sent = 0  # PLIs sent
        self.received = 0  # key frames seen
        self.retries = 0
        self._deferred = False
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    def request(self, *, forced: bool, now: float | None = None) -> None:
        """Someone needs a key frame from this source."""
        if self.closed:
            return
        self.requests += 1
        self.retries = 0  # (still) wanted: keep retrying while pending
        if now is None:
            now = time.monotonic()
        if self.pending:
            return  # coalesced into the PLI already out
        due = self.sent_at + (FORCED_INTERVAL if forced else INTERVAL)
        if now >= due:
            self._send(now)
        elif not self._deferred or forced:
            self._deferred = True
            self._arm(due - now)

    def keyframe(self) -> None:
        """A key frame (its first packet) arrived from the source."""
        self.received += 1
        self.pending = False
        self._deferred = False
        self.retries = 0
        self._cancel()

    def _send(self, now: float) -> None:
        self._deferred = False
        self.pending = True
        self.sent_at = now
        self.sent += 1
        self.counters.keyframes_requested += 1
        self._send_pli()
        self._arm(RETRY_TIMEOUT)

    def _arm(self, delay: float) -> None:
        self._cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven by hand in unit tests: fire() is called directly
            return
        self._timer = loop.call_later(max(0.0, delay), self.fire)

    def fire(self, now: float | None = None) -> None:
        """The timer: send a deferred request, or repeat a pending one."""
        self._timer = None
        if self.closed:
            return
        if now is None:
            now = time.monotonic()
        if self._deferred:
            self._send(now)
        elif self.pending:
            if self.retries >= MAX_RETRIES:
                self.pending = False  # nobody asked again: stop, the next request restarts
                return
            self.retries += 1
            self._send(now)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.closed = True
        self._cancel()
