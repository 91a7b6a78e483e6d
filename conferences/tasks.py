"""Celery entry points of the conferences app (queue ``celery``): they take ids, re-fetch, act,
return."""

from __future__ import annotations

from celery import shared_task

from conferences.services.history import history_refresh_dirty


@shared_task(name="conferences.tasks.history_summary_refresh", ignore_result=True)
def history_summary_refresh() -> int:
    """(Celery beat, every HISTORY_SUMMARY_REFRESH_SECONDS) recompute the dirty history months."""
    return len(history_refresh_dirty())


@shared_task(name="conferences.tasks.absent_call_notify", ignore_result=True)
def absent_call_notify(conference_id: int, invitation_ids: list[int]) -> int:
    """E-mail the operators of sites the chair called (``conferences.live.commands.absent_call``)."""
    from conferences.live.notify import send_absent_mail

    return send_absent_mail(conference_id, invitation_ids)
