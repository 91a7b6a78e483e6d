"""Run a piece of Python in a private network namespace (loopback only) where nftables can
drop a share of UDP on the input hook — real packet loss for tests, no netem.

    result = run_in_loss_netns('''
        with LossRule() as loss:
            loss.set(3, sport=8401)   # ~3 % of datagrams from port 8401 never arrive
            ...
            emit({"received": n})     # the one JSON line handed back
    ''')

The script runs as ``python -c`` inside ``unshare --net``; ``LossRule``, ``emit`` and the
``_loss_net`` helpers of benchmarks/_loss_net.py are already imported and ``lo`` is up. The
namespace (with its nftables table) disappears when the process ends; the process has its own
process group and is ended by its pid on timeout. Needs root and ``nft``: :func:`require_loss_netns`
skips the calling test without them (and fails it if ``GIAOBAN_REQUIRE_ALL=1``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import _loss_frames as loss_frames  # noqa: E402  (for the harness's own tests)
import _loss_net as loss_net  # noqa: E402

_loss_net = loss_net
__all__ = ["loss_frames", "loss_net", "require_loss_netns", "run_in_loss_netns"]

PRELUDE = f"""
import json, sys
sys.path.insert(0, {str(BENCHMARKS)!r})
sys.path.insert(0, {str(BENCHMARKS.parent)!r})
from _loss_net import LossRule, enter_private_loopback, interfaces, in_private_netns
enter_private_loopback()
def emit(value):
    print("RESULT " + json.dumps(value), flush=True)
"""


def require_loss_netns() -> None:
    """Skip (or fail with GIAOBAN_REQUIRE_ALL=1) unless loss namespaces can be made here."""
    try:
        _loss_net.require_tools()
    except _loss_net.LossSetupError as exc:
        message = f"no loss namespace: {exc}"
        if os.environ.get("GIAOBAN_REQUIRE_ALL") == "1":
            pytest.fail(message + " and GIAOBAN_REQUIRE_ALL=1 forbids skipping")
        pytest.skip(message)


def run_in_loss_netns(script: str, *, timeout: float = 60) -> dict:
    """Run ``script`` in a new loopback-only namespace; return what it passed to ``emit``."""
    require_loss_netns()
    code = PRELUDE + textwrap.dedent(script)
    proc = subprocess.Popen(
        _loss_net.netns_argv([sys.executable, "-c", code]),
        env=_loss_net.netns_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group: started with setsid
        proc.communicate(timeout=10)
        raise AssertionError(f"loss namespace script did not finish within {timeout}s") from None
    results = [line[len("RESULT ") :] for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not results:
        raise AssertionError(f"loss namespace script failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(results[-1])
