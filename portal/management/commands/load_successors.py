"""``manage.py load_successors [PATH.json]``: import the 2025 successor units and link old units.

Default file: ``portal/data/yen_bai_2022_successors_2025.json``. History keeps its units; reports
may map old units to these successors on request.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.errors import DomainError
from portal.management.io import read_json, rejected
from portal.successors import successors_import

DEFAULT = Path(settings.BASE_DIR) / "portal" / "data" / "yen_bai_2022_successors_2025.json"


class Command(BaseCommand):
    help = "Import post-2025 units (codes namespaced by era) and set valid_to/successor on the old ones."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, nargs="?", default=DEFAULT)
        parser.add_argument("--era", default="2025", help="prefix of the new codes (default 2025)")

    def handle(self, *args, path: Path, era: str, **options) -> None:
        data = read_json(path)
        try:
            result = successors_import(data=data, era=era)
        except DomainError as exc:
            raise rejected(exc) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Đã tạo {result.created} đơn vị mới; liên kết {result.linked} đơn vị cũ với đơn vị kế thừa; "
                f"đóng {result.closed} đơn vị không có kế thừa. Xã không có trong bảng: {len(result.unmapped)} "
                f"({', '.join(result.unmapped)}); mã lạ: {len(result.unknown)}."
            )
        )
