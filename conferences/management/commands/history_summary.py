"""Rebuild the history summaries from the invitations (after bulk loads or a change of
HISTORY_LATE_MINUTES): ``manage.py history_summary``."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from conferences.reports.summary import summary_rebuild


class Command(BaseCommand):
    help = "Tính lại bảng tổng hợp lịch sử hội nghị từ dữ liệu điểm danh."

    def handle(self, *args, **options):
        started = time.monotonic()
        rows = summary_rebuild()
        self.stdout.write(f"history summary: {rows} rows in {time.monotonic() - started:.1f}s")
