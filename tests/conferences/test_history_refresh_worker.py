"""The beat task recomputes dirty months in a real Celery worker (Redis broker, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from conferences.models import HistoryDirtyMonth, HistorySummary
from conferences.services import attendance
from conferences.tasks import history_summary_refresh
from tests.conferences.history_helpers import attend, ended_conference

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.fullstack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(postgres_required, redis_url, tmp_path):
    """``celery -A portal worker`` on a queue of its own, in its own process group."""
    queue = f"history-test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "GIAOBAN_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "INFO",
    }
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/celery"), "-A", "portal", "worker", "-Q", queue, "--pool", "solo", "-n", f"{queue}@test",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        for _ in range(300):
            if "ready." in log.read_text(errors="replace") or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        yield queue, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_the_beat_task_in_a_worker_recomputes_a_corrected_month(
    worker, org, province_clerk, settings
):
    settings.HISTORY_SUMMARY_REFRESH = "beat"  # here; the worker reads its own environment
    queue, log = worker
    conf = ended_conference(dt.date(2022, 3, 7))
    entry = attendance.attendance_record(
        actor=province_clerk,
        invitation=attend(conf, "140", status="invited"),
        status="absent",
        absence_reason="Mất điện",
        source="clerk",
    )
    attendance.attendance_correct(
        actor=province_clerk, entry=entry, status="present", headcount=7, reason="Ghi nhầm"
    )
    assert HistoryDirtyMonth.objects.filter(month=dt.date(2022, 3, 1)).exists()

    history_summary_refresh.apply_async(queue=queue)
    for _ in range(150):
        if not HistoryDirtyMonth.objects.exists():
            break
        time.sleep(0.2)
    assert not HistoryDirtyMonth.objects.exists(), log.read_text(errors="replace")[-3000:]
    row = HistorySummary.objects.get(month=dt.date(2022, 3, 1), unit__code="140")
    assert (row.invited, row.attended, row.headcount, row.absent) == (1, 1, 7, 0)
    assert "history_summary_refresh" in log.read_text(errors="replace")
