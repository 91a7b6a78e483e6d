"""media_worker imports nothing from conferences: the domain reaches the media plane through
``media_worker.dispatch``, and the media plane reports back through the port the domain
registers (``media_worker.ports``). Checked twice: statically over every module, and by
importing every module in a process where ``conferences`` is not even installed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "media_worker"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_no_media_worker_module_imports_conferences():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n == "conferences" or n.startswith("conferences.")
        )
        for path in PACKAGE.rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}
    assert len(list(PACKAGE.rglob("*.py"))) >= 8  # the walk really saw the package


def test_media_worker_imports_without_the_conferences_app():
    code = """
import sys, django
from django.conf import settings
settings.configure(INSTALLED_APPS=["media_worker"], MEDIA_ROOM_MODE="inprocess", REDIS_URL="",
                   MEDIA_THUMBNAILS=4, MEDIA_MAX_BITRATE=2500000, MEDIA_NO_MEDIA_TIMEOUT=20,
                   MEDIA_START_BITRATE_KBPS=3000, MEDIA_ICE_ADDRESSES=[], MEDIA_STUN_SERVERS=[],
                   MEDIA_TURN_SERVERS=[], MEDIA_ICE_ACCEPT_NETWORKS=["0.0.0.0/0"])
django.setup()
import media_worker.dispatch, media_worker.router, media_worker.host, media_worker.runner
import media_worker.tasks, media_worker.ports, media_worker.layout, media_worker.settings_policy
bad = sorted(m for m in sys.modules if m == "conferences" or m.startswith("conferences."))
print(bad)
sys.exit(1 if bad else 0)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
