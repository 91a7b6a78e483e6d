"""Random packet loss for benchmarks and tests: nftables on the input hook, in a private
network namespace with loopback only.

This kernel has no netem. A rule on the *input* hook drops a datagram after it left the
sender, as a lossy link does (a drop on the output hook returns EPERM to the sender instead).
Everything here refuses to touch the machine's own namespace: :func:`enter_private_loopback`
checks that the process is not in PID 1's network namespace before any rule is written.

    argv = netns_argv([sys.executable, "script.py", ...])  # run it in a new namespace
    # inside:
    enter_private_loopback()
    with LossRule() as loss:
        loss.set(3, sport=40000)        # drop ~3 % of UDP datagrams from port 40000
        offered, dropped = loss.counters()

The namespace lives as long as the processes in it: ending them (by pid) removes it, its
loopback and its nftables table; nothing is left behind on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

TABLE = "giaoban_loss"
CHAIN = "input"
MARKER_ENV = "GIAOBAN_LOSS_NETNS"


class LossSetupError(RuntimeError):
    """The machine cannot make loss here (not root, no nft, no namespaces)."""


def require_tools() -> None:
    """Fail clearly unless we are root and nft, unshare and ip exist."""
    missing = [tool for tool in ("nft", "unshare", "ip") if shutil.which(tool) is None]
    if missing:
        hint = " (Debian package nftables)" if "nft" in missing else ""
        raise LossSetupError(f"needs {', '.join(missing)} on PATH{hint}")
    if os.geteuid() != 0:
        raise LossSetupError("needs root: network namespaces and nftables rules")


def netns_argv(argv: list[str]) -> list[str]:
    """``argv`` run in a new network namespace (``unshare --net``), marked by environment."""
    require_tools()
    return ["unshare", "--net", "--", *argv]


def _netns_inode(pid: str = "self") -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def netns_env() -> dict[str, str]:
    """The environment for :func:`netns_argv`: records the namespace we start from, so the
    child can check that it really is somewhere else (PID 1's may not be readable)."""
    return {**os.environ, MARKER_ENV: str(_netns_inode())}


def in_private_netns() -> bool:
    """True if this process's network namespace is not the one it was started from (as
    recorded by :func:`netns_env`), nor PID 1's."""
    try:
        own = _netns_inode()
    except OSError:
        return False
    outer = os.environ.get(MARKER_ENV, "")
    if outer.isdigit():
        return own != int(outer)
    try:
        return own != _netns_inode("1")
    except OSError:
        return False


def interfaces() -> list[str]:
    """Network interfaces of this process's namespace (from /proc/self/net/dev)."""
    with open("/proc/self/net/dev") as f:
        lines = f.read().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines if ":" in line)


def enter_private_loopback() -> None:
    """Bring ``lo`` up in this (private) namespace; refuse anything else."""
    if not in_private_netns():
        raise LossSetupError("refusing to add nftables rules in the machine's own namespace")
    names = interfaces()
    if names != ["lo"]:
        raise LossSetupError(f"expected a namespace with loopback only, found {names}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


def _nft(*args: str, json_out: bool = False) -> str:
    cmd = ["nft", *(["-j"] if json_out else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise LossSetupError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


class LossRule:
    """One nftables table with an input-hook chain that drops a share of matching UDP."""

    def __init__(self, table: str = TABLE) -> None:
        if not in_private_netns():
            raise LossSetupError("refusing to add nftables rules in the machine's own namespace")
        self.table = table
        self.pct = 0.0
        self.match = ""
        _nft("add", "table", "inet", table)
        _nft(
            "add",
            "chain",
            "inet",
            table,
            CHAIN,
            "{ type filter hook input priority 0 ; policy accept ; }",
        )

    def set(self, pct: float, *, sport: int | None = None, dport: int | None = None) -> None:
        """Drop ``pct`` % (0..100, steps of 0.01) of UDP datagrams matching the ports given.

        Replaces the previous rule; counters start again from zero.
        """
        if not 0 <= pct <= 100:
            raise ValueError("pct must be between 0 and 100")
        if sport is None and dport is None:
            raise ValueError("give sport or dport: loss applies to one leg only")
        match = ["udp"]
        if sport is not None:
            match += ["sport", str(int(sport))]
        if dport is not None:
            match += ["dport", str(int(dport))]
        _nft("flush", "chain", "inet", self.table, CHAIN)
        _nft("add", "rule", "inet", self.table, CHAIN, *match, "counter", "comment", '"offered"')
        threshold = round(pct * 100)
        if threshold > 0:
            _nft(
                "add",
                "rule",
                "inet",
                self.table,
                CHAIN,
                *match,
                "numgen",
                "random",
                "mod",
                "10000",
                "<",
                str(threshold),
                "counter",
                "drop",
                "comment",
                '"dropped"',
            )
        self.pct = pct
        self.match = " ".join(match)

    def counters(self) -> tuple[int, int]:
        """``(offered, dropped)`` datagrams since the last :meth:`set`."""
        data = json.loads(_nft("list", "chain", "inet", self.table, CHAIN, json_out=True))
        found = {"offered": 0, "dropped": 0}
        for item in data.get("nftables", []):
            rule = item.get("rule")
            if not rule or rule.get("comment") not in found:
                continue
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    found[rule["comment"]] = int(expr["counter"]["packets"])
        return found["offered"], found["dropped"]

    def close(self) -> None:
        try:
            _nft("delete", "table", "inet", self.table)
        except LossSetupError:
            pass  # already gone (the namespace is ending)

    def __enter__(self) -> LossRule:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # manual check: python benchmarks/_loss_net.py
    require_tools()
    print(json.dumps({"private": in_private_netns(), "interfaces": interfaces()}))
    sys.exit(0)
