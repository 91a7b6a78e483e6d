"""Recordings on object storage (``RECORDING_STORAGE=s3``) against a real S3-compatible server:
moto's server mode as its own process on 127.0.0.1 (nothing leaves the machine).

- A live room (real aiortc peer) records into the media host's MEDIA_ROOT; every finished segment
  is uploaded to the bucket and only then reported; nothing stays on the host.
- The web side serves the segment from the bucket with range requests (206/416) and PyAV plays
  the served bytes; retention deletes the objects.
- A finished segment a killed worker left on its host (file + report, never uploaded) is
  uploaded and reported by the next room opened there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import av
import boto3
import pytest
from channels.db import database_sync_to_async
from django.core.files.storage import storages
from django.db import connections
from django.utils import timezone

from conferences.models import Status
from media_worker.host import RoomHost
from portal.models import Site
from recordings import services
from recordings.models import RecordingSegment
from tests.browser.live_stack import free_port
from tests.conferences.factories import ConferenceFactory, invite
from tests.media_worker.recording_helpers import record
from tests.media_worker.sfu_helpers import Client, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180), pytest.mark.media]

KEYS = {"AWS_ACCESS_KEY_ID": "giaoban-test", "AWS_SECRET_ACCESS_KEY": "giaoban-test-secret"}


@pytest.fixture(scope="module")
def s3_server():
    port = free_port()
    proc = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def s3(s3_server, settings, tmp_path, monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    bucket = f"rec-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **_keys())
    client.create_bucket(Bucket=bucket)
    settings.MEDIA_ROOT = tmp_path / "host-media"  # the media host's own disk
    settings.RECORDING_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "file_overwrite": True,
                "default_acl": None,
            },
        },
    }
    settings.MEDIA_ICE_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_ACCEPT_NETWORKS = ["127.0.0.0/8"]
    settings.RECORDING_SEGMENT_SECONDS = 4
    settings.RECORDING_KEYFRAME_SECONDS = 2
    return client, bucket


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": KEYS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": KEYS["AWS_SECRET_ACCESS_KEY"],
    }


def _objects(client, bucket: str) -> dict[str, int]:
    listing = client.list_objects_v2(Bucket=bucket)
    return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}


def _live():
    start = timezone.now()
    conf = ConferenceFactory(status=Status.LIVE, actual_start=start)
    invite(conf, "140")
    return conf, str(Site.objects.get(key="140").code)


async def test_segments_go_to_the_bucket_are_served_from_it_with_ranges_and_expire(
    org, s3, client_for, leader
):
    client, bucket = s3
    assert not storages["recordings"].__class__.__name__.startswith("FileSystem")
    conf, speaker = await database_sync_to_async(_live)()
    code = str(conf.code)
    host = await RoomHost.open(code, worker="test")
    assert host is not None and host.recorder is not None
    host.apply({"type": "state", "version": 1, "floor": speaker, "record": True})
    peer = Client(luma=60, tone=8000)
    rows: list = []
    try:
        answer = await host.offer(participant=speaker, conn="ca", offer=await peer.offer())
        await peer.accept(answer)
        await asyncio.sleep(6.0)  # more than one 4 s segment
        await host.close()  # the last segment is uploaded and reported before it returns
    finally:
        await peer.close()
        await host.close()
        await database_sync_to_async(connections.close_all)()

    rows = await database_sync_to_async(
        lambda: list(
            RecordingSegment.objects.filter(recording__conference=conf).values_list(
                "index", "state", "size", "file"
            )
        )
    )()
    objects = _objects(client, bucket)
    assert len(rows) >= 2 and all(state == "complete" for _, state, _, _ in rows), rows
    # every complete row has its file in the bucket, of the size reported
    assert {file: size for _, _, size, file in rows} == objects
    assert all(key.startswith(f"recordings/{code}/segment-") for key in objects)
    # nothing left on the media host: no file, no .part, no report waiting to be sent
    assert sorted(p.name for p in host.recording_dir.iterdir()) == []

    # the longest segment (a loaded machine may open a short audio-only one first)
    index, _state, _size, first = max(rows, key=lambda r: r[2])
    data = client.get_object(Bucket=bucket, Key=first)["Body"].read()
    a, b = len(data) // 4, len(data) // 2

    def serve():
        c = client_for(leader)
        url = f"/recordings/{code}/segments/{index}/"
        part = c.get(url, HTTP_RANGE=f"bytes={a}-{b}")
        assert part.status_code == 206, part.status_code
        assert part["Content-Range"] == f"bytes {a}-{b}/{len(data)}"
        assert b"".join(part.streaming_content) == data[a : b + 1]
        tail = c.get(url, HTTP_RANGE="bytes=-700")
        assert b"".join(tail.streaming_content) == data[-700:]
        assert c.get(url, HTTP_RANGE=f"bytes={len(data)}-").status_code == 416
        whole = c.get(url)
        assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
        return b"".join(whole.streaming_content)

    served = await database_sync_to_async(serve)()
    assert served == data
    with av.open(io.BytesIO(served)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 15

    # retention: the recording's objects leave the bucket
    def expire():
        conf.refresh_from_db()
        conf.status = Status.ENDED
        conf.actual_end = timezone.now() - dt.timedelta(days=4000)
        conf.save()
        return services.expire()

    [done] = await database_sync_to_async(expire)()
    assert done["segments"] == len(rows) and done["bytes"] == sum(objects.values())
    assert _objects(client, bucket) == {}


async def test_a_segment_left_on_the_host_is_uploaded_and_reported_by_the_next_room(org, s3):
    """A worker killed after finishing a segment but before uploading it leaves the file and its
    report in its MEDIA_ROOT: the next room opened on that host stores and reports it."""
    client, bucket = s3
    conf, _speaker = await database_sync_to_async(_live)()
    code = str(conf.code)
    from django.conf import settings

    from media_worker.sfu.recording.live import write_sidecar

    folder = settings.MEDIA_ROOT / "recordings" / code
    [event] = await asyncio.to_thread(record, folder, 3.0, 100)
    event = {**event, "type": "recording_segment"}
    write_sidecar(folder, event)
    assert _objects(client, bucket) == {}
    host = await RoomHost.open(code, worker="next")
    assert host is not None
    try:
        key = f"recordings/{code}/{event['name']}"
        await wait_for(lambda: key in _objects(client, bucket), 30, step=0.3)
        state = database_sync_to_async(
            lambda: (
                RecordingSegment.objects.filter(recording__conference=conf, index=1)
                .values_list("state", flat=True)
                .first()
            )
        )
        for _ in range(100):  # bounded: 20 s
            if await state() == "complete":
                break
            await asyncio.sleep(0.2)
        assert await state() == "complete"
        assert _objects(client, bucket)[key] == event["bytes"]
        await wait_for(lambda: not any(folder.iterdir()), 10, step=0.2)  # file and report gone
    finally:
        await host.close()
        await database_sync_to_async(connections.close_all)()
