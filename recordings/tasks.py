from __future__ import annotations

from celery import shared_task

from recordings import services


@shared_task
def recordings_expire() -> int:
    """Daily (Celery beat): delete recordings past their retention period."""
    return len(services.expire())
