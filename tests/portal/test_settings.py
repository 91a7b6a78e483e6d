from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_false_with_development_secret_key_refuses_to_start():
    result = _start({"DEBUG": "False"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_false_with_a_real_secret_key_starts():
    assert _start({"DEBUG": "False", "SECRET_KEY": "x" * 50}).returncode == 0


def test_bad_boolean_is_a_clear_error():
    result = _start({"DEBUG": "maybe"})
    assert result.returncode != 0 and "DEBUG must be a boolean" in result.stderr


def test_vietnamese_first_timezone_and_argon2():
    assert settings.LANGUAGE_CODE == "vi"
    assert settings.TIME_ZONE == "Asia/Ho_Chi_Minh"
    assert "Argon2" in settings.PASSWORD_HASHERS[0]
