"""A :class:`Recorder` attached to a live :class:`~media_worker.sfu.Room`.

The recorder is one more subscriber of three slots (``Room.attach``): ``main/video`` (what the
main slot shows), ``main/audio`` (the floor holder's or broadcast participant's voice) and
``chair/audio``. It gets exactly what a browser gets — rewritten packets, one continuous
sequence/timestamp space per slot, video from a key frame after every switch, nothing from a
muted participant — and is told the slot's new source on each switch. Its key-frame requests
go to the main slot's current source like a subscriber's PLI (at most one a second).

``segment_seconds`` etc. come from :class:`RecorderConfig`; ``tick()`` runs every second on the
room's loop. Everything runs on the room's loop; nothing blocks for more than a segment roll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .recorder import Recorder, RecorderConfig
from .repair import recover_partial

logger = logging.getLogger(__name__)

TRACKS = {"main/video": "video", "main/audio": "floor", "chair/audio": "chair"}
PAYLOAD_TYPES = {"vp8": 96, "h264": 102, "opus": 111}  # what the recorder "negotiated"
SINK_ID = "~recorder"  # never a site code (those are UUIDs)


class _Sink:
    """One attached slot: the room's forwarding sends to ``tx``."""

    def __init__(self, owner: RoomRecorder, track: str) -> None:
        self.participant_id = f"{SINK_ID}:{track}"
        self.owner = owner
        self.track = track
        self.tx: Callable[[bytes], None] | None = self._packet
        self.packets = 0

    def _packet(self, data: bytes) -> None:
        self.packets += 1
        self.owner.recorder.push(self.track, data, time.time())

    def send_rtp(self, data: bytes) -> None:
        self._packet(data)

    def switched(self, pid: str | None) -> None:
        try:
            self.owner.recorder.switch(self.track, pid)
        except Exception:
            logger.exception("recorder: switch of %s failed", self.track)


def next_index(directory: Path, prefix: str = "segment-") -> int:
    """The index after the highest segment already in ``directory`` (a new worker continues)."""
    highest = 0
    if directory.is_dir():
        for path in directory.iterdir():
            name = path.name
            if not name.startswith(prefix):
                continue
            digits = name[len(prefix) :].split(".", 1)[0]
            if digits.isdigit():
                highest = max(highest, int(digits))
    return highest + 1


def recover_directory(directory: Path) -> list[dict[str, Any]]:
    """Finish the ``.part`` segments a killed worker left (each as a ``recovered`` event)."""
    out: list[dict[str, Any]] = []
    if not directory.is_dir():
        return out
    for part in sorted(directory.glob("*.part")):
        started = part.stat().st_mtime
        facts = recover_partial(part)
        if facts is None:
            continue
        index_text = facts["name"].split("-", 1)[-1].split(".", 1)[0]
        event = {
            "type": "recording_segment",
            "state": "closed",
            "reason": "recovered",
            "index": int(index_text) if index_text.isdigit() else 0,
            "name": facts["name"],
            # the cut file's last write is when it ended; its start is that minus its length
            "started_at": started - facts["duration_ms"] / 1000,
            "ended_at": started,
            "duration_ms": facts["duration_ms"],
            "bytes": facts["bytes"],
            "keyframes_ms": facts["keyframes_ms"],
        }
        write_sidecar(directory, event)
        out.append(event)
    return out


def write_sidecar(directory: Path, event: dict[str, Any]) -> None:
    """Keep a finished segment's report next to it (``<name>.json``): a worker killed before
    its report reached the database leaves it for the next host to send again."""
    name = event.get("name")
    if event.get("state") != "closed" or not isinstance(name, str):
        return
    target = directory / f"{name}.json"
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(event), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        logger.exception("recorder: cannot write %s", target)


def forget_sidecar(directory: Path, name: str) -> None:
    """The report of a segment kept elsewhere reached the database: nothing left to resend."""
    if name and "/" not in name:
        (directory / f"{name}.json").unlink(missing_ok=True)


def sidecar_events(directory: Path) -> list[dict[str, Any]]:
    """The reports of every finished segment in ``directory`` (sent again on open: the
    domain's writes are idempotent): those whose file is here, and those of files already
    moved to the storage (``stored``) whose report may not have reached the database."""
    out: list[dict[str, Any]] = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.json")):
        media = path.with_name(path.name[: -len(".json")])
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(event, dict) and (media.is_file() or event.get("stored")):
            out.append(event)
    return out


class RoomRecorder:
    """Records ``room`` into ``config.directory``; ``on_segment`` gets the recorder's events."""

    def __init__(
        self,
        room: Any,
        config: RecorderConfig,
        *,
        on_segment: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.room = room
        self.recorder = Recorder(config, on_segment=on_segment, request_keyframe=self._keyframe)
        self.sinks = [_Sink(self, track) for track in TRACKS.values()]
        for key, sink in zip(TRACKS, self.sinks, strict=True):
            room.attach(key, sink, PAYLOAD_TYPES)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    @property
    def active(self) -> bool:
        return self.recorder.active

    def start(self) -> None:
        self.recorder.start()

    def pause(self) -> None:
        self.recorder.pause()

    def _keyframe(self) -> None:
        slot = self.room.slots["main/video"]
        self.room._keyframe_wanted(slot.ssrc)

    async def _tick(self) -> None:
        while not self.recorder.closed:
            await asyncio.sleep(1.0)
            try:
                self.recorder.tick()
            except Exception:
                logger.exception("recorder tick failed")

    async def close(self) -> None:
        """Finish the current segment and stop (before the room closes). Safe twice."""
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker
        self.recorder.close()
        for sink in self.sinks:
            sink.tx = None

    def stats(self) -> dict[str, Any]:
        return {**self.recorder.stats(), "packets": {s.track: s.packets for s in self.sinks}}
