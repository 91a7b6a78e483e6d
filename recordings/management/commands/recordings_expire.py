"""Delete the recordings kept longer than RECORDING_RETENTION_DAYS (files; rows stay, marked
deleted), with an audit entry per conference and a log line. Safe to run any time (cron/beat)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from recordings import services


class Command(BaseCommand):
    help = "Xóa bản ghi hình quá thời hạn lưu trữ (RECORDING_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only list what would be deleted"
        )

    def handle(self, *args, dry_run: bool = False, **options):
        if dry_run:
            for recording in services.expired():
                self.stdout.write(json.dumps({"conference": str(recording.conference.code)}))
            return
        done = services.expire()
        for row in done:
            self.stdout.write(json.dumps(row))
        self.stdout.write(f"{len(done)} recording(s) deleted")
