"""``manage.py seed_demo [--json]``: demo users for every role, demo conferences and history.

Idempotent: running it again keeps existing data and adds nothing twice.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create demo users (and each app's demo data) and print the logins and URLs to try."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object instead of text"
        )

    def handle(self, *args, **options) -> None:
        report: dict[str, Any] = {"users": [], "urls": {}}
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            module.seed(report)
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
            return
        self.stdout.write(self.style.SUCCESS("Dữ liệu demo đã sẵn sàng. Đăng nhập:"))
        for user in report["users"]:
            self.stdout.write(
                f"  {user['username']:<22} {user['password']:<14} {user['role']:<9} {user['unit']:<8} {user['name']}"
            )
        self.stdout.write("Địa chỉ:")
        for name, url in report["urls"].items():
            self.stdout.write(f"  {name:<22} {url}")
