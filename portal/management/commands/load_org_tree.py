"""``manage.py load_org_tree PATH.json``: import an organisation tree, all rows or none."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal import services
from portal.errors import DomainError


class Command(BaseCommand):
    help = "Import (or re-import) an organisation tree in the format of portal/data/yen_bai_2022.json."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"Không tìm thấy tệp: {path}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"Tệp không phải JSON hợp lệ: {exc}") from None
        try:
            result = services.org_tree_import(data=data)
        except DomainError as exc:
            lines = [exc.message, *(f"  - {d}" for d in exc.details)]
            raise CommandError("\n".join(lines)) from None
        counts = ", ".join(f"{kind}: {n}" for kind, n in result.counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Đã nhập: {result.created} đơn vị mới, {result.updated} cập nhật; "
                f"{result.sites_created} điểm cầu mới, {result.sites_updated} cập nhật. "
                f"Điểm cầu theo loại: {counts} (tổng {sum(result.counts.values())})."
            )
        )
