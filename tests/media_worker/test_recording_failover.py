"""The recording survives ``kill -9`` of its media worker: real worker subprocesses (Celery,
Redis, PostgreSQL), an aiortc publisher on 127.0.0.1. Every segment finished before the kill
plays; the segment being written is finished by the worker that takes the room over (or lost,
at most that one); the new worker records on with the next numbers."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from channels.db import database_sync_to_async
from recording_helpers import probe
from sfu_helpers import wait_for
from test_runner_failover import BRIGHT, Worker, join, lease_owner_pid, loopback_clients, poll

from conferences.models import Status
from media_worker.router import lease_key
from recordings.models import RecordingSegment
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, open_socket, recv, request, send

__all__ = ["loopback_clients"]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.fullstack,
    pytest.mark.media,
    pytest.mark.timeout(240),
]


class RecordingWorker(Worker):
    def __init__(self, name, tmp, media_root):
        import os

        old = dict(os.environ)
        os.environ["MEDIA_ROOT"] = str(media_root)
        os.environ["RECORDING_SEGMENT_SECONDS"] = "3"
        os.environ["RECORDING_KEYFRAME_SECONDS"] = "1"
        try:
            super().__init__(name, tmp)
        finally:
            os.environ.clear()
            os.environ.update(old)


def _segments(conf):
    return list(
        RecordingSegment.objects.filter(recording__conference=conf)
        .order_by("index")
        .values("index", "state", "file", "reason", "duration_ms", "room_epoch")
    )


async def test_kill_9_keeps_earlier_segments_and_the_new_worker_records_on(
    redis_url, postgres_required, loopback_clients, tmp_path, org, chair, vanchan_operator
):
    media = tmp_path / "media"
    store = redis.Redis.from_url(redis_url)
    conf = await database_sync_to_async(lambda: ConferenceFactory(status=Status.SCHEDULED))()
    await database_sync_to_async(lambda: invite(conf, "140"))()
    code = str(conf.code)
    folder = media / "recordings" / code
    first = RecordingWorker("rec1", tmp_path, media)
    second = None
    sockets, clients = [], []
    try:
        await asyncio.to_thread(first.wait_ready)
        ch, _ = await open_socket(conf, chair)
        a_ws, a_snap = await open_socket(conf, vanchan_operator)
        sockets += [ch, a_ws]
        reply, _ = await request(ch, {"type": "start"})
        assert reply["type"] == "ack", reply
        assert await poll(
            lambda: asyncio.to_thread(lambda: lease_owner_pid(store, code) == first.proc.pid), 20
        )
        a = await join(a_ws, BRIGHT, clients)
        reply, _ = await request(ch, {"type": "floor.give", "site": a_snap["me"]["site"]})
        assert reply["type"] == "ack"

        def complete():
            return [s for s in _segments(conf) if s["state"] == "complete"]

        # two finished segments and a third being written
        assert await poll(
            lambda: database_sync_to_async(lambda: len(complete()) >= 2)(), timeout=40
        ), "segments were not written"
        await wait_for(lambda: any(folder.glob("*.part")), timeout=10)
        second = RecordingWorker("rec2", tmp_path, media)
        await asyncio.to_thread(second.wait_ready)
        killed_at = time.monotonic()
        await asyncio.to_thread(first.kill9)
        # the segment being written when it died is the .part on disk (the takeover that
        # finishes it waits for the lease to expire)
        [part] = list(folder.glob("*.part"))
        cut = int(part.name.split("-", 1)[1].split(".", 1)[0])
        before_kill = await database_sync_to_async(complete)()
        assert before_kill and max(s["index"] for s in before_kill) < cut
        # what the killed worker finished plays, untouched
        for seg in before_kill:
            info = probe(media / seg["file"])
            assert info["errors"] == 0 and info["frames"] > 0, seg
            assert abs(info["duration"] - seg["duration_ms"] / 1000) <= 1.0
        assert await poll(
            lambda: asyncio.to_thread(lambda: lease_owner_pid(store, code) == second.proc.pid),
            15,
        )
        assert time.monotonic() - killed_at <= 12
        for _ in range(50):
            frame = await recv(a_ws, timeout=15)
            if frame["type"] == "media.restart":
                break
        await a.close()
        a = await join(a_ws, BRIGHT, clients)

        def after():
            return [s for s in complete() if s["index"] > cut]

        assert await poll(
            lambda: database_sync_to_async(lambda: len(after()) >= 1)(), timeout=40
        ), "segments were not written"
        await send(ch, {"type": "end", "id": "end"})

        def settled():
            # ending closes the room: its last segment is finished and reported
            names = sorted(p.name for p in folder.glob("*.webm"))
            done = sorted(s["file"].rsplit("/", 1)[1] for s in complete())
            return not any(folder.glob("*.part")) and names == done

        assert await poll(lambda: database_sync_to_async(settled)(), timeout=30)
        rows = await database_sync_to_async(_segments)(conf)
    finally:
        for client in clients:
            await client.close()
        await close_all(*sockets)
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)
        store.delete(lease_key(code))
        store.close()
    by_index = {s["index"]: s for s in rows}
    # at most the one segment being written at the kill is lost; if anything of it reached the
    # disk, the new worker finished it and reported it as recovered
    cut_row = by_index.get(cut)
    if cut_row is not None and cut_row["state"] == "complete":
        assert cut_row["reason"] == "recovered"
    later = [s for s in rows if s["index"] > cut and s["state"] == "complete"]
    assert later and all(s["room_epoch"] > before_kill[0]["room_epoch"] for s in later)
    assert not list(folder.glob("*.part"))
    for seg in [s for s in rows if s["state"] == "complete"]:
        info = probe(media / seg["file"])
        assert info["errors"] == 0 and info["frames"] > 0, seg
    # numbers run on without reuse: every file is one row, one index
    assert sorted(p.name for p in folder.glob("*.webm")) == sorted(
        s["file"].rsplit("/", 1)[1] for s in rows if s["state"] == "complete"
    )
