"""A small WebDriver BiDi client for Firefox ESR (Debian's ``firefox-esr``).

Playwright drives only its own Firefox build, which cannot be downloaded here, and Debian
ships no geckodriver; Firefox itself speaks WebDriver BiDi on ``--remote-debugging-port``
(MEDIA_NOTES). This is just enough of it for the live pages: navigate, evaluate a script
(results come back as JSON text), wait for a condition. Firefox runs headless with a fresh
profile (fake camera and microphone, no permission prompt, loopback ICE candidates, no mDNS)
in its own process group, stopped by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.autoplay.default": 0,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.enabled": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
}


def firefox_path() -> str | None:
    return shutil.which("firefox-esr") or shutil.which("firefox")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Firefox:
    """One headless Firefox with one browsing context."""

    def __init__(self, *, width: int = 1366, height: int = 768, timeout: float = 60) -> None:
        import websocket

        self._dir = tempfile.TemporaryDirectory(prefix="giaoban-firefox-")
        profile = Path(self._dir.name)
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items())
        )
        port = _free_port()
        self.log_path = profile / "firefox.log"
        self._log = open(self.log_path, "w")  # closed in close()
        self.proc = subprocess.Popen(
            [
                firefox_path() or "firefox-esr",
                "--headless",
                "--no-remote",
                "--profile",
                str(profile),
                "--remote-debugging-port",
                str(port),
                "--width",
                str(width),
                "--height",
                str(height),
                "about:blank",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._next = 0
        self.console: list[str] = []
        deadline = time.monotonic() + timeout
        while "WebDriver BiDi listening" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Firefox did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.2)
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/session", timeout=timeout, suppress_origin=True
        )
        self.command("session.new", capabilities={})
        self.context = self.command("browsingContext.getTree")["contexts"][0]["context"]
        self.command("session.subscribe", events=["log.entryAdded"])

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("type") == "event":
                if message.get("method") == "log.entryAdded":
                    entry = message["params"]
                    self.console.append(f"{entry.get('level')}: {entry.get('text')}")
                continue
            if message.get("id") != ident:
                continue
            if message.get("type") == "error":
                raise RuntimeError(f"{method}: {message.get('error')}: {message.get('message')}")
            return message["result"]

    def goto(self, url: str) -> None:
        self.command("browsingContext.navigate", context=self.context, url=url, wait="complete")

    def js(self, expression: str) -> Any:
        """Evaluate ``expression`` (may be a promise) in the page; its JSON value."""
        result = self.command(
            "script.evaluate",
            expression=f"(async () => JSON.stringify(await ({expression})))()",
            target={"context": self.context},
            awaitPromise=True,
            resultOwnership="none",
        )
        if result.get("type") == "exception":
            raise RuntimeError(f"script failed: {result['exceptionDetails'].get('text')}")
        value = result["result"].get("value")
        return json.loads(value) if isinstance(value, str) else None

    def wait_for(self, expression: str, *, timeout: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(RuntimeError):  # a navigation in progress
                value = self.js(expression)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise AssertionError(f"Firefox: timed out waiting for {what or expression}")
            time.sleep(0.25)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self._dir.cleanup()
