"""One conference's media room on the current loop: :class:`RoomHost`.

Contract:
- :meth:`RoomHost.open` asks the domain port for the room's state and for an epoch (the room's
  lease generation); None when the conference is not live;
- :meth:`offer` / :meth:`leave` — signalling; the connection that offered owns the site's peer,
  so a replaced socket cannot remove its successor's peer;
- :meth:`apply` — a ``state`` command; older versions are ignored;
- the room's events (presence, published media, speaking) go, in order, through a bounded queue
  to :meth:`RoomDomain.report` with the host's epoch and the time they happened, retried until
  written (the writes are idempotent), so a database blip loses nothing; when the queue is full
  the event is dropped and counted (``dropped``);
- a site whose peer receives no packet for ``no_media_timeout`` seconds is recorded as left at
  the moment its media stopped, and its peer is removed;
- recording: a ``state`` command with ``record: true`` starts (or resumes) the room's recorder
  (``media_worker.sfu.recording.live``), ``record: false`` pauses it; segments go to
  ``MEDIA_ROOT/recordings/<code>/`` and each finished one is reported (``recording_segment``)
  like any room event. On open, ``.part`` segments a killed worker left are finished and
  reported, and numbering continues after the highest segment there. When the recordings'
  storage is not this host's ``MEDIA_ROOT`` (``RECORDING_STORAGE=s3``), each finished segment is
  uploaded first (``media_worker.segment_store``) and reported once it is there;
- :meth:`close` records every peer still in the room as left, finishes the recording, closes
  the room and waits (bounded) for the writes. Safe twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from media_worker import ports, segment_store
from media_worker.layout import slot_layout
from media_worker.settings_policy import network_policy
from media_worker.sfu import Room, SignallingError
from media_worker.sfu.recording import RecorderConfig
from media_worker.sfu.recording.live import (
    RoomRecorder,
    forget_sidecar,
    next_index,
    recover_directory,
    sidecar_events,
    write_sidecar,
)

logger = logging.getLogger(__name__)

EVENT_QUEUE = 10_000  # room events waiting to be written (presence, media, speaking)
RETRY_MAX = 2.0  # seconds between write attempts at most
CLOSE_WAIT = 10.0  # seconds close() waits for the last writes
UPLOAD_WAIT = 120.0  # seconds close() waits for finished segments to reach the storage
REPORTED = (
    "participant_connection",
    "participant_left",
    "participant_media",
    "speaking",
    "slots",
    "publish_layers",
    "quality",
)


def recording_dir(code: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "recordings" / code


def _db(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


class RoomHost:
    """One conference's room on the current loop. Create with :meth:`open`."""

    def __init__(self, code: str, *, epoch: int, worker: str = "") -> None:
        layout = slot_layout()
        self.code = code
        self.epoch = epoch
        self.worker = worker
        self.owners: dict[str, str] = {}
        self.version = -1
        self.dropped = 0
        self.no_media_timeout = float(settings.MEDIA_NO_MEDIA_TIMEOUT)
        self.room = Room(
            code,
            thumbnails=layout["thumbnails"],
            policy=network_policy(),
            on_event=self._on_event,
            start_bitrate_kbps=settings.MEDIA_START_BITRATE_KBPS,
        )
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=EVENT_QUEUE)
        self._closing = False
        self._activity: dict[str, tuple[int, float]] = {}
        loop = asyncio.get_running_loop()
        self._pump = loop.create_task(self._pump_events())
        self._watch = loop.create_task(self._watch_media())
        self.recorder: RoomRecorder | None = None
        self.recording_dir = recording_dir(code)
        self.first_index = 1
        self._uploads: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(
        cls, code: str, *, worker: str = "", expired_at: dt.datetime | None = None
    ) -> RoomHost | None:
        """Start a room restored from the live state; None when the conference is not live."""
        domain = ports.domain()
        state = await sync_to_async(_db)(domain.room_state, code)
        if state is None:
            return None
        epoch = await sync_to_async(_db)(
            domain.room_opened, code, worker=worker, expired_at=expired_at
        )
        if epoch is None:
            return None
        host = cls(code, epoch=epoch, worker=worker)
        # A worker killed mid-segment left a .part: finish it (off the loop) before recording on.
        # Reports of finished segments are sent again: one whose report died with the worker
        # reaches the database now (the writes are idempotent).
        # Numbers go on after the cut one even when nothing of it was readable (then it is the
        # one segment lost): count the .part before it is finished or removed.
        host.first_index = next_index(host.recording_dir)
        await asyncio.to_thread(recover_directory, host.recording_dir)
        for event in await asyncio.to_thread(sidecar_events, host.recording_dir):
            host._finished(event)
        host.apply(state)
        logger.info("room %s opened by %s at epoch %s", code, worker or "this process", epoch)
        return host

    @property
    def empty(self) -> bool:
        return not self.room.peers

    @property
    def queued(self) -> int:
        return self._events.qsize()

    async def offer(self, *, participant: str, conn: str, offer: dict[str, Any]) -> dict[str, Any]:
        """The SFU answer for a participant's offer; the connection becomes the site's owner.
        The content line is sent only when the domain said so (``receive_content`` true:
        ``presenting.may_receive_content``); a message without it gets none."""
        self.owners[participant] = conn
        try:
            return await self.room.join(
                participant,
                {"type": "offer", "sdp": offer.get("sdp"), "content": offer.get("content") is True},
                receives_content=offer.get("receive_content") is True,
            )
        except SignallingError:
            if self.owners.get(participant) == conn:
                self.owners.pop(participant, None)
            raise

    async def leave(self, *, participant: str, conn: str | None = None) -> None:
        if conn is not None and self.owners.get(participant) not in (None, conn):
            return  # a newer connection owns this site's peer
        self.owners.pop(participant, None)
        await self.room.leave(participant)

    async def signal(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a signalling message from a consumer; the reply frame for the client, if any."""
        kind = message.get("type")
        reply_id = message.get("id")
        if kind == "offer":
            try:
                answer = await self.offer(
                    participant=message["participant"], conn=message["conn"], offer=message
                )
            except SignallingError as exc:
                return {**exc.as_dict(), "id": reply_id}
            return {**answer, "id": reply_id}
        if kind == "leave":
            await self.leave(participant=message["participant"], conn=message.get("conn"))
        return None

    def apply(self, command: dict[str, Any]) -> None:
        """A ``state`` command (``conferences.live.selectors.room_state``); older versions are
        ignored."""
        if command.get("type") != "state" or command.get("version", 0) < self.version:
            return
        self.version = command.get("version", 0)
        room = self.room
        if room.chair != command.get("chair"):
            room.set_chair(command.get("chair"))
        if room.floor != command.get("floor"):
            room.set_floor(command.get("floor"))
        if room.broadcast != command.get("broadcast"):
            room.set_broadcast(command.get("broadcast"))
        if room.content != command.get("content"):
            room.set_content(command.get("content"))
        wanted = set(command.get("muted") or [])
        for pid in wanted - room.muted:
            room.set_muted(pid, True)
        for pid in room.muted - wanted:
            room.set_muted(pid, False)
        self._record(bool(command.get("record")))

    def _record(self, wanted: bool) -> None:
        if self._closing:
            return
        if wanted and self.recorder is None:
            config = RecorderConfig(
                directory=self.recording_dir,
                first_index=max(self.first_index, next_index(self.recording_dir)),
                segment_seconds=float(settings.RECORDING_SEGMENT_SECONDS),
                keyframe_seconds=float(settings.RECORDING_KEYFRAME_SECONDS),
                mix=bool(settings.RECORDING_MIX),
                metadata={"conference": self.code, "worker": self.worker},
            )
            self.recorder = RoomRecorder(self.room, config, on_segment=self._segment)
        if self.recorder is None:
            return
        if wanted and not self.recorder.active:
            logger.info("room %s: recording", self.code)
            self.recorder.start()
        elif not wanted and self.recorder.active:
            logger.info("room %s: recording paused", self.code)
            self.recorder.pause()

    async def close(self) -> None:
        """Record every peer as left, close every peer, then let the writes finish (bounded)."""
        if self._closing:
            return
        self._closing = True
        self._watch.cancel()
        for pid in list(self.room.peers):
            self._enqueue({"type": "participant_left", "participant": pid})
        try:
            if self.recorder is not None:
                await self.recorder.close()  # its last segment is reported before the end
            if self._uploads:  # finished segments on their way to the storage: let them land
                await asyncio.wait(set(self._uploads), timeout=UPLOAD_WAIT)
            await self.room.close()
        finally:
            try:
                self._events.put_nowait(None)
            except asyncio.QueueFull:
                self._pump.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(self._pump), timeout=CLOSE_WAIT)
            except (TimeoutError, asyncio.CancelledError):
                self._pump.cancel()
                logger.warning("room %s closed with %s events unwritten", self.code, self.queued)

    # --- the room's events ---------------------------------------------------------------

    def _segment(self, event: dict[str, Any]) -> None:
        write_sidecar(self.recording_dir, event)
        if event.get("state") == "closed":
            self._finished(event)
        else:
            self._enqueue(event)

    def _finished(self, event: dict[str, Any]) -> None:
        """A finished segment: reported at once when the storage is this directory; else
        uploaded first (off the loop) and reported when it is in the storage."""
        if event.get("stored") or segment_store.is_local():
            self._enqueue(event)
            return
        task = asyncio.get_running_loop().create_task(self._upload(event))
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _upload(self, event: dict[str, Any]) -> None:
        name = str(event.get("name") or "")
        local = self.recording_dir / name
        key = f"recordings/{self.code}/{name}"
        if not name or not await asyncio.to_thread(segment_store.upload, local, key):
            logger.error("room %s: %s not stored; left for the next host", self.code, name)
            return
        stored = {**event, "stored": True}
        # the report beside it says it is stored: a worker killed before the report reached
        # the database leaves that for the next room on this host to send again
        write_sidecar(self.recording_dir, stored)
        self._enqueue(stored)

    def _enqueue(self, event: dict[str, Any]) -> None:
        stamped = {**event, "at": event.get("at") or time.time()}
        try:
            self._events.put_nowait(stamped)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.error("room %s: event queue full, %s dropped", self.code, event.get("type"))

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") not in REPORTED:
            return
        if event.get("type") == "speaking" and self._events.qsize() > 100:
            self.dropped += 1  # transient and superseded by the next one: shed it first
            return
        if self._closing and event.get("type") == "participant_left":
            return  # close() already recorded every peer as left
        self._enqueue(event)

    async def _pump_events(self) -> None:
        """Write the room's events in order (a leave must not overtake the join before it),
        each retried until the domain has it."""
        domain = ports.domain()
        while True:
            event = await self._events.get()
            if event is None:
                return
            delay = 0.1
            while True:
                try:
                    await sync_to_async(_db)(domain.report, self.code, self.epoch, event)
                    if event.get("type") == "recording_segment" and event.get("stored"):
                        forget_sidecar(self.recording_dir, str(event.get("name") or ""))
                    break
                except Exception:
                    logger.exception(
                        "room %s: could not record %s; retrying", self.code, event.get("type")
                    )
                    await asyncio.sleep(delay)
                    delay = min(RETRY_MAX, delay * 2)

    async def _watch_media(self) -> None:
        """Remove peers whose media stopped for ``no_media_timeout`` seconds."""
        step = max(0.2, min(1.0, self.no_media_timeout / 4))
        while True:
            await asyncio.sleep(step)
            now = time.time()
            for pid, peer in list(self.room.peers.items()):
                packets = int(getattr(peer, "rtp_in", 0)) + int(getattr(peer, "rtcp_in", 0))
                last = self._activity.get(pid)
                if last is None or last[0] != packets:
                    self._activity[pid] = (packets, now)
                    continue
                if now - last[1] >= self.no_media_timeout:
                    logger.info(
                        "room %s: no media from %s for %.0fs", self.code, pid, now - last[1]
                    )
                    self._activity.pop(pid, None)
                    # left when its media stopped; the room's own leave that follows is a no-op
                    self._enqueue({"type": "participant_left", "participant": pid, "at": last[1]})
                    self.owners.pop(pid, None)
                    await self.room.leave(pid)
            for pid in list(self._activity):
                if pid not in self.room.peers:
                    self._activity.pop(pid, None)
