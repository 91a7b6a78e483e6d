"""``manage.py load_org_tree PATH.json``: import an organisation tree, all rows or none."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from portal import services
from portal.errors import DomainError
from portal.management.io import read_json, rejected


class Command(BaseCommand):
    help = (
        "Import (or re-import) an organisation tree in the format of portal/data/yen_bai_2022.json."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        data = read_json(path)
        try:
            result = services.org_tree_import(data=data)
        except DomainError as exc:
            raise rejected(exc) from None
        counts = ", ".join(f"{kind}: {n}" for kind, n in result.counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Đã nhập: {result.created} đơn vị mới, {result.updated} cập nhật; "
                f"{result.sites_created} điểm cầu mới, {result.sites_updated} cập nhật. "
                f"Điểm cầu theo loại: {counts} (tổng {sum(result.counts.values())})."
            )
        )
