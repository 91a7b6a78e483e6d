"""Recompute the history summaries: ``manage.py history_summary`` rebuilds everything (after
bulk loads that bypass the services, or a change of HISTORY_LATE_MINUTES); ``--dirty`` only
refreshes the months marked dirty, as the Celery beat task does."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from conferences.services.history import history_rebuild, history_refresh_dirty


class Command(BaseCommand):
    help = "Tính lại bảng tổng hợp lịch sử hội nghị từ dữ liệu điểm danh."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dirty", action="store_true", help="chỉ tính lại các tháng có thay đổi"
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        if options["dirty"]:
            months = history_refresh_dirty()
            self.stdout.write(
                f"history summary: {len(months)} dirty months in {time.monotonic() - started:.1f}s"
            )
            return
        rows = history_rebuild()
        self.stdout.write(f"history summary: {rows} rows in {time.monotonic() - started:.1f}s")
