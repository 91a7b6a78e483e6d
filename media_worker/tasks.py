"""Celery entry points of the media workers (queue ``media``, see ``CELERY_TASK_ROUTES``).

A media worker is ``celery -A portal worker -Q media --pool solo -n media1@%h``: when it is ready
it also consumes its own queue ``media.<node name>`` (placement sends a room there:
:mod:`media_worker.placement`) and starts this process's :mod:`media_worker.runner` (one asyncio
loop on its own thread hosting many rooms); ``host_room`` only hands a conference to that loop
and returns, so the worker slot is never held by a long-running task.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from media_worker import placement, ports, runner
from media_worker.router import lease_key

logger = logging.getLogger(__name__)

# A host_room not taken from its queue within this many seconds is discarded when a worker
# finally reads it (the room was placed again meanwhile: watchdogs re-send every few seconds).
HOST_ROOM_EXPIRES = 60


@shared_task(name="media_worker.tasks.host_room", ignore_result=True)
def host_room(conference_code: str) -> bool:
    """Host the conference's room here unless another worker holds its lease."""
    delivery = getattr(host_room.request, "delivery_info", None) or {}
    logger.info("host_room %s from queue %s", conference_code, delivery.get("routing_key", "-"))
    return runner.hand_over(str(conference_code))


def send_host_room(code: str, queue: str = placement.SHARED_QUEUE) -> None:
    """Send ``host_room`` to ``queue`` (a worker's own, from placement, or the shared one)."""
    host_room.apply_async((str(code),), queue=queue, expires=HOST_ROOM_EXPIRES)


@shared_task(name="media_worker.tasks.rooms_watchdog", ignore_result=True)
def rooms_watchdog() -> int:
    """(Celery beat) dispatch every live conference whose room lease has expired; returns the count."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    codes = [code for code in ports.domain().live_codes() if not client.exists(lease_key(code))]
    for code in codes:
        send_host_room(code, placement.place_sync(client, code))
    return len(codes)


def _consumes_media(sender) -> bool:
    try:
        return "media" in sender.app.amqp.queues.consume_from
    except Exception:  # an unexpected Celery layout: start only when told to by a task
        return False


@worker_ready.connect
def _start_runner(sender=None, **kwargs) -> None:
    if sender is not None and _consumes_media(sender):
        node = str(getattr(sender, "hostname", "") or "")
        if node:
            own = placement.worker_queue(node)
            try:
                sender.add_task_queue(own, exchange=own, routing_key=own)
            except Exception:  # placement then never picks this worker: it publishes no load
                logger.exception("could not consume %s", own)
                node = ""
        runner.ensure_started(node=node)
        logger.info("media runner started in this worker (node %s)", node or "-")


@worker_shutdown.connect
def _stop_runner(**kwargs) -> None:
    runner.shutdown()
