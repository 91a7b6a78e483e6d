"""A real embedded-mode stack for browser tests: a temporary SQLite database prepared by
``manage.py`` subprocesses, and Daphne on 127.0.0.1 in its own process group.

Nothing here touches the pytest database: the pages run against ``GIAOBAN_VAR_DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PASSWORD = "GiaoBan@2026"

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream=fps=30",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

# Demo users (portal/demo.py) and one conference of the province hosted at 15-UBND.
SETUP = r"""
import datetime as dt, json, sys
from django.utils import timezone
from portal import demo
from portal.models import Site, Unit
from conferences.models import AgendaItem, Conference, Invitation, Level, Status
demo.seed({"users": [], "urls": {}, "notes": []})
now = timezone.now()
conf = Conference.objects.create(
    title="Giao ban trực tuyến kiểm thử", level=Level.PROVINCE_TO_DISTRICT,
    host_unit=Unit.objects.get(code="15-UBND"), chair_site=Site.objects.get(key="15-UBND"),
    chair_name="Trần Văn Minh", planned_start=now + dt.timedelta(minutes=5),
    planned_end=now + dt.timedelta(hours=2), status=Status.SCHEDULED)
sites = Site.objects.select_related("unit").all() if not KEYS else Site.objects.select_related("unit").filter(key__in=KEYS)
for site in sites:
    Invitation.objects.get_or_create(conference=conf, site=site, defaults={"unit": site.unit})
for pos, title in enumerate(["Báo cáo tình hình kinh tế - xã hội tháng 11", "Công tác phòng chống thiên tai", "Kết luận của Chủ tịch"], 1):
    AgendaItem.objects.create(conference=conf, position=pos, title=title, planned_minutes=15)
out = {"code": str(conf.code), "sites": {s.key: str(s.code) for s in Site.objects.filter(key__in=["15-UBND", "140", "138", "137"])},
       "invited": conf.invitations.count()}
print("SETUP-JSON " + json.dumps(out))
"""


def env_for(
    var_dir: Path, *, database_url: str | None = None, redis_url: str | None = None
) -> dict[str, str]:
    """Embedded mode (SQLite in ``var_dir``, rooms in Daphne) unless both URLs are given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOM_MODE")
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(
        {
            "GIAOBAN_VAR_DIR": str(var_dir),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "MEDIA_ICE_ADDRESSES": "127.0.0.1",
            "MEDIA_ICE_ACCEPT_NETWORKS": "127.0.0.0/8",
            "MEDIA_STUN_SERVERS": "",
            "MEDIA_TURN_SERVERS": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def prepare(
    var_dir: Path, *, site_keys: list[str] | None, env: dict[str, str] | None = None
) -> dict:
    """Migrate a fresh database and create the demo users and one scheduled conference
    inviting ``site_keys`` (None: every site)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = env or env_for(var_dir)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    script = SETUP.replace("KEYS", repr(site_keys))
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("SETUP-JSON "))
    return json.loads(line.removeprefix("SETUP-JSON "))


def free_port() -> int:
    """A free loopback port: in ``GIAOBAN_TEST_PORTS`` (``first-last``) when set, so servers a
    test starts stay in the range its runner was given; else any the system picks."""
    span = os.environ.get("GIAOBAN_TEST_PORTS", "")
    if span:
        first, last = (int(p) for p in span.split("-", 1))
        for port in range(first, last + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError(f"no free port in {span}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def media_worker(var_dir: Path, env: dict[str, str], name: str = "media"):
    """A Celery media worker exactly as the Procfile runs it; stopped by pid (process group)."""
    log = open(var_dir / f"{name}.log", "w")  # closed in finally
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            "media",
            "--pool",
            "solo",
            "-n",
            f"{name}-{os.getpid()}@%h",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in (var_dir / f"{name}.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "media worker did not start:\n" + (var_dir / f"{name}.log").read_text()
                )
            time.sleep(0.3)
        yield proc
    finally:
        _stop(proc)
        log.close()


@contextlib.contextmanager
def daphne(var_dir: Path, env: dict[str, str] | None = None):
    """Yield the base URL of a Daphne serving the portal from ``var_dir``; stop it by pid."""
    port = free_port()
    log = open(var_dir / "daphne.log", "w")  # closed in finally
    proc = subprocess.Popen(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT,
        env=env or env_for(var_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login/", timeout=5).read()  # noqa: S310 - our own loopback server
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "Daphne did not start:\n" + (var_dir / "daphne.log").read_text()
                    ) from None
                time.sleep(0.3)
        yield base
    finally:
        _stop(proc)
        log.close()


@contextlib.contextmanager
def scratch_postgres(database_url: str):
    """A fresh PostgreSQL database next to ``database_url``'s; dropped afterwards."""
    import psycopg

    parts = urlsplit(database_url)
    name = f"giaoban_browser_{os.getpid()}_{int(time.time())}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def login(page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


ATTENDANCE = r"""
import json
from conferences.models import AttendanceEntry, PresenceInterval
code = "CODE"
out = {}
def row(key):
    return out.setdefault(key, {"intervals": 0, "open": 0, "entries": 0})
for p in PresenceInterval.objects.filter(invitation__conference__code=code).select_related("invitation__site"):
    row(p.invitation.site.key)["intervals"] += 1
    row(p.invitation.site.key)["open"] += p.left_at is None
for e in AttendanceEntry.objects.filter(invitation__conference__code=code).select_related("invitation__site"):
    row(e.invitation.site.key)["entries"] += 1
print("ATTENDANCE-JSON " + json.dumps(out))
"""


def attendance(env: dict[str, str], code: str) -> dict[str, dict[str, int]]:
    """Presence intervals and attendance entries per site key, read through the ORM."""
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", ATTENDANCE.replace("CODE", code)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("ATTENDANCE-JSON "))
    return json.loads(line.removeprefix("ATTENDANCE-JSON "))


def run_scenario_in_loopback_namespace(
    module: str, args: list[str], marker: str, timeout: float, default_route: bool = True
) -> dict:
    """Run ``python -m <module> <args>`` in a new network namespace whose only interface is
    loopback (lo up; with ``default_route`` a default route over lo, which Firefox needs to
    gather candidates) and the DEFAULT media settings (no MEDIA_* variables, embedded mode:
    no DATABASE_URL/REDIS_URL). The scenario runs in its own process group and is ended by
    pid if it outlives ``timeout``. Prints the tail of its output and returns the JSON it
    printed after ``<marker> ``; fails the test if it failed or printed none."""
    from tests.conftest import require

    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "needs root and unshare(1) for a network namespace",
    )
    route = " && ip route add default dev lo src 127.0.0.1" if default_route else ""
    quoted = " ".join(f'"{a}"' for a in args)
    inside = f'ip link set lo up{route} && exec "{PYTHON}" -m {module} {quoted}'
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEDIA_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    proc = subprocess.Popen(
        ["unshare", "--net", "--", "sh", "-c", inside],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        out, err = proc.communicate()
        print(out[-20000:], err[-8000:])
        raise AssertionError(f"{module} ran past {timeout:.0f} s (output above)") from None
    print(out[-20000:])
    print(err[-8000:])
    assert proc.returncode == 0, f"{module} failed with {proc.returncode} (output above)"
    prefix = f"{marker} "
    line = next((ln for ln in out.splitlines() if ln.startswith(prefix)), None)
    assert line is not None, f"{module} printed no {marker} line (output above)"
    return json.loads(line.removeprefix(prefix))
