"""A real Celery media worker subprocess: it heartbeats its load, consumes its own queue
``media.<node>``, placement sends a new room there (not to the shared ``media`` queue), and the
worker serves its Prometheus metrics and health on its metrics port (scraped here)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
import redis
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from conferences.models import Status
from media_worker import placement
from media_worker import router as router_module
from tests.conferences.factories import ConferenceFactory
from tests.media_worker.test_metrics import _parse
from tests.media_worker.test_placement import _clear
from tests.media_worker.test_runner_failover import Worker, lease_owner_pid, poll

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.fullstack,
    pytest.mark.timeout(150),
]

NODE = "placed@test"


def scrape(address: str, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


async def test_a_room_lands_on_the_least_loaded_workers_own_queue_and_its_metrics_show_it(
    redis_url, postgres_required, org, tmp_path
):
    store = redis.Redis.from_url(redis_url)
    _clear(store)
    store.delete("media", placement.worker_queue(NODE))
    conf = await database_sync_to_async(
        lambda: ConferenceFactory(status=Status.LIVE, actual_start=timezone.now())
    )()
    code = str(conf.code)
    worker = Worker(NODE.split("@")[0], tmp_path)
    try:
        await asyncio.to_thread(worker.wait_ready)

        async def heard():
            found = placement.workers_sync(store)
            return next((w for w in found if w.node == NODE and w.metrics), None)

        load = await poll(heard, timeout=20)
        assert load is not None, worker.log.read_text(errors="replace")[-3000:]
        assert load.lease_id.split(":")[1] == str(worker.proc.pid) and load.rooms == {}
        assert load.metrics.startswith("127.0.0.1:")

        status, kind, text = await asyncio.to_thread(scrape, load.metrics, "/metrics")
        assert status == 200 and kind.startswith("text/plain; version=0.0.4"), (status, kind)
        before = _parse(text)
        assert before["giaoban_media_rooms"] == {f'worker="{NODE}"': 0}
        assert before["giaoban_media_peer_budget"] == {f'worker="{NODE}"': 200}
        assert (await asyncio.to_thread(scrape, load.metrics, "/health"))[0] == 200
        assert (await asyncio.to_thread(scrape, load.metrics, "/nothing"))[0] == 404

        await router_module.router().ensure(code)
        owner = await poll(lambda: asyncio.to_thread(lease_owner_pid, store, code), timeout=30)
        assert owner == worker.proc.pid, worker.log.read_text(errors="replace")[-3000:]
        # it came through the worker's own queue (one BRPOP of the worker takes from both
        # queues, so the queue is read from the delivery, which the task logs)
        line = f"host_room {code} from queue {placement.worker_queue(NODE)}"

        async def delivered():
            return line in worker.log.read_text(errors="replace")

        assert await poll(delivered, timeout=10), worker.log.read_text(errors="replace")[-3000:]
        assert f"host_room {code} from queue media\n" not in worker.log.read_text(errors="replace")

        async def hosting():
            found = [w for w in placement.workers_sync(store) if w.node == NODE]
            return found and code in found[0].rooms

        assert await poll(hosting, timeout=10)
        status, _, text = await asyncio.to_thread(scrape, load.metrics, "/metrics")
        after = _parse(text)
        labels = f'worker="{NODE}",room="{code}"'
        assert after["giaoban_media_rooms"] == {f'worker="{NODE}"': 1}
        assert after["giaoban_media_peers"] == {labels: 0}
        assert after["giaoban_media_packets_in_total"] == {labels: 0}
        assert after["giaoban_media_cpu_seconds_total"][f'worker="{NODE}"'] > 0
    finally:
        await asyncio.to_thread(worker.stop)
        left = placement.workers_sync(store)
        store.delete(router_module.lease_key(code))
        _clear(store)
        store.close()
        await database_sync_to_async(connections.close_all)()
    assert [w.node for w in left] == []  # a worker that stops withdraws its heartbeat
