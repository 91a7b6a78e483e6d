"""Demo data for the organisation: one user per role, printed by ``manage.py seed_demo``.

Other apps add their own demo data in a ``demo`` module with ``seed(report)``; the command calls
them in INSTALLED_APPS order after this one and they append to ``report["users"]`` and
``report["urls"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from portal import services
from portal.models import Role, Site, Unit

DEMO_PASSWORD = "GiaoBan@2026"  # noqa: S105 - printed on purpose: demo logins for a local trial
SHIPPED_TREE = Path(settings.BASE_DIR) / "portal" / "data" / "yen_bai_2022.json"

# username, full name, role, unit code, is a site operator (of that unit's main site)
DEMO_USERS: list[tuple[str, str, str, str]] = [
    ("quantri", "Quản trị hệ thống", Role.ADMIN, "15"),
    ("vanthu.tinh", "Nguyễn Thị Hà (Văn phòng UBND tỉnh)", Role.CLERK, "15"),
    ("chutri.tinh", "Trần Văn Minh (Chủ tịch UBND tỉnh)", Role.CHAIR, "15"),
    ("lanhdao.tinh", "Lê Quang Huy (Lãnh đạo tỉnh)", Role.LEADER, "15"),
    ("vanthu.vanchan", "Hoàng Thị Lan (Văn phòng UBND huyện Văn Chấn)", Role.CLERK, "140"),
    ("chutri.vanchan", "Phạm Văn Đức (Chủ tịch UBND huyện Văn Chấn)", Role.CHAIR, "140"),
    ("vanthu.tranyen", "Đỗ Thị Mai (Văn phòng UBND huyện Trấn Yên)", Role.CLERK, "138"),
    ("kythuat.ubnd", "Vũ Văn Nam (kỹ thuật UBND tỉnh)", Role.OPERATOR, "15-UBND"),
    ("kythuat.vanchan", "Bùi Văn Tú (kỹ thuật huyện Văn Chấn)", Role.OPERATOR, "140"),
    ("kythuat.tranyen", "Ngô Thị Thu (kỹ thuật huyện Trấn Yên)", Role.OPERATOR, "138"),
    ("kythuat.mucangchai", "Sùng A Páo (kỹ thuật huyện Mù Cang Chải)", Role.OPERATOR, "137"),
    ("kythuat.tule", "Lò Văn Hải (kỹ thuật xã Tú Lệ, Văn Chấn)", Role.OPERATOR, "04630"),
]


def ensure_tree() -> None:
    if not Unit.objects.filter(sites__isnull=False).exists():
        services.org_tree_import(data=json.loads(SHIPPED_TREE.read_text(encoding="utf-8")))


@transaction.atomic
def seed(report: dict[str, Any]) -> None:
    """Create (or refresh) the demo users; re-running changes nothing that exists."""
    ensure_tree()
    User = get_user_model()
    units = {u.code: u for u in Unit.objects.filter(code__in={row[3] for row in DEMO_USERS})}
    for username, full_name, role, unit_code in DEMO_USERS:
        unit = units.get(unit_code)
        if unit is None:
            continue
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": full_name[:150], "email": f"{username}@giaoban.local"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            if role == Role.ADMIN:
                user.is_staff = user.is_superuser = True
            user.save()
        if role == Role.OPERATOR:
            # Operators run one meeting room: name them on the unit's main site, not on the subtree.
            site = Site.objects.filter(unit=unit).order_by("key").first()
            if site:
                site.operators.add(user)
        else:
            services.membership_grant(user=user, unit=unit, role=role)
        report["users"].append(
            {
                "username": username,
                "password": DEMO_PASSWORD,
                "role": str(role),
                "unit": unit_code,
                "name": full_name,
            }
        )
    base = settings.SITE_URL
    report["urls"].update(
        {
            "login": f"{base}/login/",
            "home": f"{base}/",
            "org_tree": f"{base}/org/",
            "admin": f"{base}/admin/",
        }
    )
