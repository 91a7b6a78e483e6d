"""Celery entry points of the media workers (queue ``media``, see ``CELERY_TASK_ROUTES``).

A media worker is ``celery -A portal worker -Q media --pool solo -n media@%h``: when it is ready it
starts this process's :mod:`media_worker.runner` (one asyncio loop on its own thread hosting many
rooms); ``host_room`` only hands a conference to that loop and returns, so the worker slot is
never held by a long-running task.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from media_worker import ports, runner
from media_worker.router import lease_key

logger = logging.getLogger(__name__)


@shared_task(name="media_worker.tasks.host_room", ignore_result=True)
def host_room(conference_code: str) -> bool:
    """Host the conference's room here unless another worker holds its lease."""
    return runner.hand_over(str(conference_code))


@shared_task(name="media_worker.tasks.rooms_watchdog", ignore_result=True)
def rooms_watchdog() -> int:
    """(Celery beat) dispatch every live conference whose room lease has expired; returns the count."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    codes = [code for code in ports.domain().live_codes() if not client.exists(lease_key(code))]
    for code in codes:
        host_room.delay(code)
    return len(codes)


def _consumes_media(sender) -> bool:
    try:
        return "media" in sender.app.amqp.queues.consume_from
    except Exception:  # an unexpected Celery layout: start only when told to by a task
        return False


@worker_ready.connect
def _start_runner(sender=None, **kwargs) -> None:
    if sender is not None and _consumes_media(sender):
        runner.ensure_started()
        logger.info("media runner started in this worker")


@worker_shutdown.connect
def _stop_runner(**kwargs) -> None:
    runner.shutdown()
