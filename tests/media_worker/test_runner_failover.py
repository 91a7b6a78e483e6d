"""Celery-dispatched rooms with leases: real media worker subprocesses, Redis and PostgreSQL.

The conference is started over the real WebSocket; the room is dispatched through Celery to a
media worker (its own process group, killed by pid); aiortc clients on 127.0.0.1 get their
answers over the channel layer. ``kill -9`` of that worker: a second worker takes the room within
the lease TTL (+ a watchdog pass), the sockets get ``media.restart``, the clients re-offer and
media flows again; the presence log shows the outage as a gap (the dead worker's intervals
closed when its lease expired, new ones opened when the sites came back). A worker frozen with
SIGSTOP past its lease and resumed with SIGCONT writes nothing: its epoch is fenced.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aioice.ice
import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from sfu_helpers import Client, wait_for

from conferences.models import PresenceInterval, Status
from media_worker.router import lease_key
from portal.models import Site
from tests.conferences.factories import ConferenceFactory, invite
from tests.conferences.live_helpers import close_all, drain, open_socket, recv, request, send
from tests.conftest import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.fullstack,
    pytest.mark.media,
    pytest.mark.timeout(240),
]

ROOT = Path(__file__).resolve().parents[2]
BRIGHT, DARK = 200, 40


@pytest.fixture
def loopback_clients(monkeypatch):
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class Worker:
    """A ``celery -A portal worker -Q media --pool solo`` subprocess in its own process group."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.log = tmp / f"{name}.log"
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_ICE_ADDRESSES": "127.0.0.1",
            "MEDIA_ICE_ACCEPT_NETWORKS": "127.0.0.0/8",
            "GIAOBAN_VAR_DIR": str(tmp / "var"),
            "LOG_LEVEL": "INFO",
        }
        if db.get("PASSWORD"):
            env["DATABASE_URL"] = env["DATABASE_URL"].replace(
                f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@"
            )
        self.handle = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "portal",
                "worker",
                "-Q",
                "media",
                "--pool",
                "solo",
                "-n",
                f"{name}@test",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        for _ in range(int(timeout / 0.2)):
            if "media runner started" in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(
            f"media worker did not start:\n{self.log.read_text(errors='replace')[-3000:]}"
        )

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.handle.close()


def pairs(conf):
    """Per site, its presence intervals in order (two expected after one outage)."""
    out = {}
    for row in PresenceInterval.objects.filter(invitation__conference=conf).order_by("joined_at"):
        out.setdefault(row.invitation_id, []).append(row)
    assert all(len(rows) == 2 for rows in out.values()), out
    return list(out.values())


def lease_owner_pid(client: redis.Redis, code: str) -> int | None:
    value = client.get(lease_key(code))
    return int(value.decode().split(":")[1]) if value else None


async def poll(predicate, timeout: float, step: float = 0.2):
    for _ in range(int(timeout / step)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(step)
    return None


async def join(comm, luma: int, clients: list[Client], attempts: int = 30) -> Client:
    """Offer until a room answers (``media_unavailable`` while the room starts); a new peer each time."""
    for _ in range(attempts):
        client = Client(luma=luma, tone=8000)
        clients.append(client)
        reply, _ = await request(
            comm, {"type": "offer", "sdp": (await client.offer())["sdp"]}, timeout=30
        )
        if reply["type"] == "answer":
            await client.accept(reply)
            return client
        assert reply["code"] == "media_unavailable", reply
        await client.close()
        await asyncio.sleep(0.5)
    raise AssertionError("no room answered")


async def test_room_runs_on_a_media_worker_and_survives_kill_9(
    redis_url, postgres_required, loopback_clients, tmp_path, org, chair, vanchan_operator
):
    store = redis.Redis.from_url(redis_url)
    tranyen = await database_sync_to_async(lambda: UserFactory(username="operator_tranyen"))()
    await database_sync_to_async(lambda: Site.objects.get(key="138").operators.add(tranyen))()
    conf = await database_sync_to_async(lambda: ConferenceFactory(status=Status.SCHEDULED))()
    await database_sync_to_async(lambda: invite(conf, "140", "138"))()
    code = str(conf.code)
    first = Worker("media1", tmp_path)
    second = None
    sockets, clients = [], []
    try:
        await asyncio.to_thread(first.wait_ready)
        ch, _ = await open_socket(conf, chair)
        a_ws, a_snap = await open_socket(conf, vanchan_operator)
        b_ws, _ = await open_socket(conf, tranyen)
        sockets += [ch, a_ws, b_ws]
        reply, _ = await request(ch, {"type": "start"})
        assert reply["type"] == "ack", reply
        owner = await poll(lambda: asyncio.to_thread(lease_owner_pid, store, code), timeout=20)
        assert owner == first.proc.pid

        a = await join(a_ws, BRIGHT, clients)
        b = await join(b_ws, DARK, clients)
        reply, _ = await request(ch, {"type": "floor.give", "site": a_snap["me"]["site"]})
        assert reply["type"] == "ack"
        await wait_for(
            lambda: (
                b.slot("main") is not None
                and b.slot("main").frames >= 5
                and abs(b.slot("main").luma - BRIGHT) < 25
            ),
            timeout=30,
        )

        def presence():
            rows = PresenceInterval.objects.filter(invitation__conference=conf)
            return rows.filter(left_at__isnull=True).count(), rows.filter(
                left_at__isnull=False
            ).count()

        assert await poll(
            lambda: database_sync_to_async(lambda: presence() == (2, 0))(), timeout=10
        )

        second = Worker("media2", tmp_path)
        await asyncio.to_thread(second.wait_ready)
        await drain(b_ws, quiet=0.2)
        killed_at = time.monotonic()
        await asyncio.to_thread(first.kill9)

        async def taken_over():
            return await asyncio.to_thread(lease_owner_pid, store, code) == second.proc.pid

        assert await poll(taken_over, timeout=15), "the second worker did not take the room"
        took = time.monotonic() - killed_at
        assert took <= 10, f"the second worker took {took:.1f}s"
        for comm in (a_ws, b_ws):
            for _ in range(50):
                frame = await recv(comm, timeout=15)
                if frame["type"] == "media.restart":
                    break
            else:
                raise AssertionError("no media.restart")
        for client in (a, b):
            await client.close()
        a = await join(a_ws, BRIGHT, clients)
        b = await join(b_ws, DARK, clients)
        await wait_for(
            lambda: (
                b.slot("main") is not None
                and b.slot("main").frames >= 5
                and abs(b.slot("main").luma - BRIGHT) < 25
            ),
            timeout=30,
        )
        # the outage is a gap: each site's first interval closed at the lease's expiry, before
        # the second one opened
        assert await poll(lambda: database_sync_to_async(lambda: presence() == (2, 2))(), 15)
        for first_interval, second_interval in await database_sync_to_async(pairs)(conf):
            assert first_interval.left_at is not None and second_interval.left_at is None
            assert first_interval.left_at < second_interval.joined_at
        await send(ch, {"type": "end", "id": "end"})
    finally:
        for client in clients:
            await client.close()
        await close_all(*sockets)
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)
        store.delete(lease_key(code))
        store.close()


async def test_a_worker_frozen_past_its_lease_writes_nothing_when_it_comes_back(
    redis_url, postgres_required, loopback_clients, tmp_path, org, chair, vanchan_operator
):
    store = redis.Redis.from_url(redis_url)
    tranyen = await database_sync_to_async(lambda: UserFactory(username="operator_tranyen"))()
    await database_sync_to_async(lambda: Site.objects.get(key="138").operators.add(tranyen))()
    conf = await database_sync_to_async(lambda: ConferenceFactory(status=Status.SCHEDULED))()
    await database_sync_to_async(lambda: invite(conf, "140", "138"))()
    code = str(conf.code)
    first = Worker("frozen", tmp_path)
    second = None
    sockets, clients = [], []

    def presence():
        rows = PresenceInterval.objects.filter(invitation__conference=conf)
        return rows.filter(left_at__isnull=True).count(), rows.filter(left_at__isnull=False).count()

    try:
        await asyncio.to_thread(first.wait_ready)
        ch, _ = await open_socket(conf, chair)
        a_ws, _ = await open_socket(conf, vanchan_operator)
        b_ws, _ = await open_socket(conf, tranyen)
        sockets += [ch, a_ws, b_ws]
        reply, _ = await request(ch, {"type": "start"})
        assert reply["type"] == "ack", reply
        assert (
            await poll(lambda: asyncio.to_thread(lease_owner_pid, store, code), 20)
            == first.proc.pid
        )
        a = await join(a_ws, BRIGHT, clients)
        b = await join(b_ws, DARK, clients)
        assert await poll(lambda: database_sync_to_async(lambda: presence() == (2, 0))(), 15)
        second = Worker("successor", tmp_path)
        await asyncio.to_thread(second.wait_ready)
        first.signal(signal.SIGSTOP)

        async def taken_over():
            return await asyncio.to_thread(lease_owner_pid, store, code) == second.proc.pid

        assert await poll(taken_over, timeout=20), "the second worker did not take the room"
        for client in (a, b):
            await client.close()
        await drain(a_ws, quiet=0.3)
        await drain(b_ws, quiet=0.3)
        a = await join(a_ws, BRIGHT, clients)
        b = await join(b_ws, DARK, clients)
        assert await poll(lambda: database_sync_to_async(lambda: presence() == (2, 2))(), 20)
        first.signal(signal.SIGCONT)
        # the resumed worker notices it lost the lease, closes its room and reports every peer
        # as left — with its old epoch, which the media sink drops
        for _ in range(60):
            if "lost the lease" in first.log.read_text(
                errors="replace"
            ) or "giving it up" in first.log.read_text(errors="replace"):
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(3)
        assert await database_sync_to_async(presence)() == (2, 2), "the frozen worker wrote"
        assert await asyncio.to_thread(lease_owner_pid, store, code) == second.proc.pid
        await send(ch, {"type": "end", "id": "end"})
    finally:
        if first.proc.poll() is None:
            first.signal(signal.SIGCONT)
        for client in clients:
            await client.close()
        await close_all(*sockets)
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)
        store.delete(lease_key(code))
        store.close()
