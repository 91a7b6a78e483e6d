"""Mail the live commands send, off the thread the sockets share.

Contract: ``absent_sites_later(conference_id=, invitation_ids=)`` — called inside the command's
transaction — sends, after commit, one e-mail per site to its active operators saying the
conference is live and the site is not connected. With a broker (``REDIS_URL``) it is the Celery
task ``conferences.tasks.absent_call_notify`` (queue ``celery``); in the embedded mode (tasks run
eagerly) a single background thread with a bounded queue sends it. Either way the consumer's
``database_sync_to_async`` thread — shared by every live socket of the process — never waits on
a mail server. ``DROPPED`` counts notifications refused because the embedded queue was full.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import connections, transaction
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

QUEUE_SIZE = 100
_jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=QUEUE_SIZE)
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
DROPPED = 0


def send_absent_mail(conference_id: int, invitation_ids: list[int]) -> int:
    """Send the mails now (the task body); the number of sites mailed."""
    from conferences.models import Conference, Invitation

    conference = Conference.objects.filter(pk=conference_id).first()
    if conference is None:
        return 0
    link = f"{settings.SITE_URL}/conferences/{conference.code}/"
    subject = _("[Giao ban] Điểm cầu chưa kết nối: %(title)s") % {"title": conference.title}
    sent = 0
    for inv in (
        Invitation.objects.filter(conference=conference, pk__in=invitation_ids)
        .select_related("site")
        .prefetch_related("site__operators")
    ):
        emails = sorted({u.email for u in inv.site.operators.all() if u.email and u.is_active})
        if not emails:
            continue
        body = _(
            "Hội nghị “%(title)s” đang diễn ra; điểm cầu %(site)s chưa kết nối.\nVui lòng vào: %(link)s"
        ) % {"title": conference.title, "site": inv.site.name, "link": link}
        send_mail(subject, body, None, emails, fail_silently=True)
        sent += 1
    return sent


def _run() -> None:
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception:
            logger.exception("a live notification failed")
        finally:
            connections.close_all()  # this thread's connection must not outlive the job
            _jobs.task_done()


def _in_background(job: Callable[[], None]) -> None:
    global _worker, DROPPED
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="live-notify", daemon=True)
            _worker.start()
    try:
        _jobs.put_nowait(job)
    except queue.Full:
        DROPPED += 1
        logger.error("live notification queue full (%s): notification dropped", QUEUE_SIZE)


def absent_sites_later(*, conference_id: int, invitation_ids: list[int]) -> None:
    if not invitation_ids:
        return
    ids = list(invitation_ids)

    def queue_it() -> None:
        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):

            def job() -> None:
                send_absent_mail(conference_id, ids)

            _in_background(job)
            return
        from conferences.tasks import absent_call_notify

        absent_call_notify.delay(conference_id, ids)

    transaction.on_commit(queue_it, robust=True)


def wait_idle(timeout: float = 10.0) -> bool:
    """Tests: wait until the embedded queue is empty."""
    done = threading.Event()

    def waiter() -> None:
        _jobs.join()
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    return done.wait(timeout)
