"""Celery entry points of the conferences app (queue ``celery``)."""

from __future__ import annotations

from celery import shared_task

from conferences.services.history import history_refresh_dirty


@shared_task(name="conferences.tasks.history_summary_refresh", ignore_result=True)
def history_summary_refresh() -> int:
    """(Celery beat, every HISTORY_SUMMARY_REFRESH_SECONDS) recompute the dirty history months."""
    return len(history_refresh_dirty())
