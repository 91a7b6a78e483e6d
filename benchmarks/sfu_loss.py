"""SFU under upstream loss: what N subscribers see when the publisher → SFU leg loses packets,
with the SFU's upstream NACK generator on ("loss") and off ("baseline"), in the same run.

    .venv/bin/python benchmarks/sfu_loss.py                  # N = 20, 0/1/3/5 %, 15 s each
    .venv/bin/python benchmarks/sfu_loss.py --seconds 5 --subscribers 6    # quick smoke

Needs root, nftables (`nft`, Debian package nftables), `unshare` and `ip`. The script re-runs
itself in a new network namespace with loopback only; the SFU, the publisher and the
subscribers all run there, and loss is an nftables rule on the *input* hook of that namespace
matching the publisher's UDP source port (`numgen random mod 10000 < 100·pct drop`): only the
publisher → SFU datagrams are dropped (media, retransmissions and RTCP alike), nothing else.
The namespace ends with its processes; every child runs in its own process group and is
ended by pid.

One publisher loops the fan-out benchmark's clip (VP8 1280x720 30 fps ~2.5 Mbit/s, Opus) and
restarts it at its key frame when asked (PLI/FIR), as an encoder would send a key frame.
N subscribers (10 per process) reassemble VP8 frames, NACK gaps and send a PLI when their
decoder model loses the chain (benchmarks/_loss_frames.py). For each loss rate, after a settle
time, one window of ``--seconds``: residual loss (packets missing at subscribers, video +
audio, % of sent), frames complete (% of frames sent), frames shown by the decoder model,
freeze (time without a newly shown frame for more than 200 ms, % of the window, mean over
subscribers), and the SFU's and the harness's counters. ``fanout_us_per_packet`` = CPU of the
SFU process per packet forwarded, in the 0 % window with the generator on (N subscribers);
with ``--fanout-n 100`` it is instead sfu_fanout.py's measurement (its counting-only
subscribers, no loss, 10 s) at that N, generator off and on, against this benchmark's server.

Prints ONE JSON line: {"loss": {"<pct>": {"residual_loss_pct", "frames_complete_pct",
"freeze_pct", "recovered", ...}}, "baseline": {...}, "fanout_us_per_packet": ..., ...}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from _loss_frames import median
from _loss_net import (
    LossRule,
    LossSetupError,
    enter_private_loopback,
    in_private_netns,
    netns_argv,
    netns_env,
    require_tools,
)
from sfu_fanout import Child, make_clip, rpc, start_subscribers

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_loss_worker.py"
PER_PROCESS = 10
GRACE = 1.0  # seconds after a window for late retransmissions before subscribers report
OUTER_TIMEOUT = 1800  # the whole run, seconds (bounded whatever the options)


class LossChild(Child):
    """A _loss_worker.py process in its own group; stderr kept in a file for diagnosis."""

    def __init__(self, log_dir: Path, *args: str) -> None:
        self.log = log_dir / f"{'-'.join(args[:2])}-{time.monotonic_ns()}.log"
        self.log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
            start_new_session=True,
        )

    def ask(self, line: str, timeout: float = 60) -> dict:
        self.send(line)
        return self.read(timeout)

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-2000:]
        return ""


def udp_rcvbuf_errors() -> int:
    """Datagrams this namespace's kernel dropped because a socket's buffer was full."""
    with open("/proc/self/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    header, values = rows[0], rows[1]
    return int(values[header.index("RcvbufErrors")])


def _delta(after: dict, before: dict) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def measure(
    *,
    upstream_nack: bool,
    rates: list[float],
    n: int,
    seconds: float,
    settle: float,
    clip_dir: Path,
    log_dir: Path,
) -> tuple[dict[str, dict], bool]:
    """One room, one publisher, ``n`` subscribers; one window per loss rate."""
    children: list[LossChild] = []
    port = 0
    try:
        server = LossChild(log_dir, "server", "on" if upstream_nack else "off")
        children.append(server)
        hello = server.read()
        port, switchable = hello["port"], hello["switchable"]
        server_proc = psutil.Process(server.proc.pid)
        publisher = LossChild(log_dir, "publisher", str(port), str(clip_dir))
        children.append(publisher)
        pub_port = publisher.read()["port"]
        rpc(port, {"cmd": "floor", "pid": "pub"})
        subs = []
        for start in range(0, n, PER_PROCESS):
            sub = LossChild(
                log_dir, "subscribers", str(port), f"s{start}-", str(min(PER_PROCESS, n - start))
            )
            children.append(sub)
            subs.append(sub)
        for sub in subs:
            sub.read(timeout=180)
        receiving = 0
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            receiving = sum(sub.ask("ready")["receiving"] for sub in subs)
            if receiving >= n:
                break
            time.sleep(0.5)
        if receiving < n:
            raise RuntimeError(f"only {receiving} of {n} subscribers show video")
        results: dict[str, dict] = {}
        with LossRule() as loss:
            for pct in rates:
                loss.set(pct, sport=pub_port)
                time.sleep(settle)
                for sub in subs:
                    sub.ask("reset")
                before = rpc(port, {"cmd": "stats"})
                pub0 = publisher.ask("stats")
                nft0 = loss.counters()
                rcvbuf0 = udp_rcvbuf_errors()
                cpu0 = server_proc.cpu_times()
                time.sleep(seconds)
                cpu1 = server_proc.cpu_times()
                for sub in subs:
                    sub.ask("mark")
                after = rpc(port, {"cmd": "stats"})
                pub1 = publisher.ask("stats")
                nft1 = loss.counters()
                rcvbuf1 = udp_rcvbuf_errors()
                time.sleep(GRACE)
                reports: list[dict] = []
                for sub in subs:
                    reports += sub.ask("report")["subscribers"]
                results[f"{pct:g}"] = summarise(
                    reports=reports,
                    server=(before, after),
                    publisher=_delta(pub1, pub0),
                    nft=(nft1[0] - nft0[0], nft1[1] - nft0[1]),
                    cpu=(cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
                    seconds=seconds,
                    rcvbuf_errors=rcvbuf1 - rcvbuf0,
                )
        return results, switchable
    except Exception:
        for child in children:
            sys.stderr.write(f"--- {child.proc.args[2:]} stderr:\n{child.tail()}\n")
        raise
    finally:
        if port:
            with contextlib.suppress(Exception):
                rpc(port, {"cmd": "quit"})
        for child in reversed(children):
            child.stop()
            child.log_file.close()


def fanout(*, upstream_nack: bool, n: int, window: float, clip_dir: Path, log_dir: Path) -> dict:
    """sfu_fanout.py's measurement against this server: N counting-only subscribers
    (its _sfu_worker.py, 25 per process), no loss, CPU of the SFU process per packet."""
    children: list[Child] = []
    port = 0
    try:
        server = LossChild(log_dir, "server", "on" if upstream_nack else "off")
        children.append(server)
        port = server.read()["port"]
        server_proc = psutil.Process(server.proc.pid)
        publisher = LossChild(log_dir, "publisher", str(port), str(clip_dir))
        children.append(publisher)
        publisher.read()
        rpc(port, {"cmd": "floor", "pid": "pub"})
        subs, receiving = start_subscribers(port, "sfu", n, "f", children, wait=40)
        before = rpc(port, {"cmd": "stats"})
        rcvbuf0 = udp_rcvbuf_errors()
        cpu0 = server_proc.cpu_times()
        time.sleep(window)
        cpu1 = server_proc.cpu_times()
        rcvbuf1 = udp_rcvbuf_errors()
        after = rpc(port, {"cmd": "stats"})
        received = expected = 0
        for sub in subs:
            sub.send("report")
            r = sub.read()
            received += r["received"]
            expected += r["expected"]
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        counters = _delta(after["counters"], before["counters"]) if after["counters"] else {}
        forwarded = counters.get("packets_out", after["forwarded"] - before["forwarded"])
        return {
            "us_per_packet": round(cpu / max(1, forwarded) * 1e6, 2),
            "loss_pct": round(100 * (expected - received) / max(1, expected), 3),
            "forwarded_pps": round(forwarded / window),
            "server_cpu_pct": round(100 * cpu / window, 1),
            "receiving": receiving,
            "udp_rcvbuf_errors": rcvbuf1 - rcvbuf0,
            "send_errors": counters.get("send_errors"),
        }
    finally:
        if port:
            with contextlib.suppress(Exception):
                rpc(port, {"cmd": "quit"})
        for child in reversed(children):
            child.stop()
        for child in children:
            if isinstance(child, LossChild):
                child.log_file.close()


def summarise(
    *,
    reports: list[dict],
    server: tuple[dict, dict],
    publisher: dict,
    nft: tuple[int, int],
    cpu: float,
    seconds: float,
    rcvbuf_errors: int,
) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(r[key] for r in reports)

    before, after = server
    counters = _delta(after["counters"], before["counters"]) if after["counters"] else {}
    sent_pkts = total("video_expected") + total("audio_expected")
    lost_pkts = sent_pkts - total("video_received") - total("audio_received")
    frames = total("frames_sent")
    freeze = [100 * r["freeze_s"] / r["seconds"] for r in reports if r["seconds"] > 0]
    forwarded = counters.get("packets_out", after["forwarded"] - before["forwarded"])
    if "recovered" in counters:
        recovered: int | None = counters["recovered"]
    else:  # no counter in this SFU: provably 0 only if nobody asked the publisher again
        recovered = 0 if publisher["nacked"] == 0 else None
    if "keyframes_requested" in counters:
        keyframes_requested = counters["keyframes_requested"]
    else:
        keyframes_requested = after["pub_plis_out"] - before["pub_plis_out"]
    return {
        "residual_loss_pct": round(100 * lost_pkts / max(1, sent_pkts), 3),
        "frames_complete_pct": round(100 * total("frames_complete") / max(1, frames), 2),
        "freeze_pct": round(sum(freeze) / max(1, len(freeze)), 2),
        "recovered": recovered,
        "lost_upstream": counters.get("lost_upstream"),
        "dropped_upstream": nft[1],
        "offered_upstream": nft[0],
        "dropped_upstream_pct": round(100 * nft[1] / max(1, nft[0]), 2),
        "keyframes_requested": keyframes_requested,
        "keyframes_sent": publisher["keyframes_forced"],
        "frames_shown_pct": round(100 * total("frames_shown") / max(1, frames), 2),
        "freeze_pct_median": round(median(freeze), 2) if freeze else None,
        "freeze_pct_max": round(max(freeze), 2) if freeze else None,
        "video_residual_loss_pct": round(
            100
            * (total("video_expected") - total("video_received"))
            / max(1, total("video_expected")),
            3,
        ),
        "audio_residual_loss_pct": round(
            100
            * (total("audio_expected") - total("audio_received"))
            / max(1, total("audio_expected")),
            3,
        ),
        "frames_sent_per_subscriber": round(frames / max(1, len(reports)), 1),
        "publisher_nacked": publisher["nacked"],
        "publisher_retransmitted": publisher["nacked_in_history"],
        "subscriber_nacks": total("nacks_sent"),
        "subscriber_plis": total("plis_sent"),
        "chain_breaks": total("chain_breaks"),
        "subscriber_rtx_received": total("rtx_received"),
        "subscriber_other_packets": total("other_packets"),
        "sfu": counters,
        "us_per_packet": round(cpu / max(1, forwarded) * 1e6, 2),
        "forwarded_pps": round(forwarded / seconds),
        "server_cpu_pct": round(100 * cpu / seconds, 1),
        "udp_rcvbuf_errors": rcvbuf_errors,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    enter_private_loopback()
    started = time.monotonic()
    rates = [float(r) for r in args.rates.split(",")]
    out: dict[str, Any] = {}
    switchable = False
    with tempfile.TemporaryDirectory(prefix="sfu-loss-") as tmp:
        clip_dir = Path(tmp)
        clip = make_clip(clip_dir)
        for mode in args.modes.split(","):
            results, switchable = measure(
                upstream_nack=mode == "loss",
                rates=rates,
                n=args.subscribers,
                seconds=args.seconds,
                settle=args.settle,
                clip_dir=clip_dir,
                log_dir=clip_dir,
            )
            out[mode] = results
        if args.fanout_n:
            out["fanout"] = {
                mode: fanout(
                    upstream_nack=mode == "loss",
                    n=args.fanout_n,
                    window=args.fanout_window,
                    clip_dir=clip_dir,
                    log_dir=clip_dir,
                )
                for mode in ("baseline", "loss")
            }
    if args.fanout_n:
        loss0, base0 = out["fanout"]["loss"], out["fanout"]["baseline"]
        out["fanout_n"] = args.fanout_n
    else:  # the 0 % windows above, N = --subscribers
        loss0 = out.get("loss", {}).get("0")
        base0 = out.get("baseline", {}).get("0")
        out["fanout_n"] = args.subscribers
    out["fanout_us_per_packet"] = loss0["us_per_packet"] if loss0 else None
    out["fanout_baseline_us_per_packet"] = base0["us_per_packet"] if base0 else None
    out["generator_switchable"] = switchable
    out["subscribers"] = args.subscribers
    out["window_s"] = args.seconds
    out["clip"] = clip
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    out["cpus"] = os.cpu_count()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="window per loss rate")
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--rates", default="0,1,3,5", help="upstream loss rates, %%")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before a window")
    parser.add_argument("--modes", default="baseline,loss", help="baseline and/or loss")
    parser.add_argument(
        "--fanout-n",
        type=int,
        default=0,
        help="also measure fan-out CPU at this N without loss, generator off and on, with "
        "sfu_fanout.py's counting subscribers (0 = use the 0 %% windows at --subscribers)",
    )
    parser.add_argument("--fanout-window", type=float, default=10.0)
    args = parser.parse_args()
    if not 0 <= args.fanout_n <= 200 or not 1 <= args.fanout_window <= 60:
        parser.error("--fanout-n must be 0..200 and --fanout-window 1..60")
    if not 1 <= args.seconds <= 300 or not 1 <= args.subscribers <= 100:
        parser.error("--seconds must be 1..300 and --subscribers 1..100")
    if set(args.modes.split(",")) - {"baseline", "loss"}:
        parser.error("--modes: baseline, loss")
    try:
        require_tools()
    except LossSetupError as exc:
        raise SystemExit(f"sfu_loss.py: {exc}") from exc
    if in_private_netns():
        # SIGTERM from the outer process: unwind, so every child is ended by its pid.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        print(json.dumps(run(args)), flush=True)
        return
    # Re-run this script in a new network namespace; relay its one line.
    inner = subprocess.Popen(
        netns_argv([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]),
        env=netns_env(),
        start_new_session=True,
    )
    try:
        code = inner.wait(timeout=OUTER_TIMEOUT)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        os.killpg(inner.pid, signal.SIGTERM)  # its own group: started with setsid
        try:
            inner.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(inner.pid, signal.SIGKILL)
            inner.wait(timeout=10)
        raise SystemExit("sfu_loss.py: interrupted or timed out") from None
    sys.exit(code)


if __name__ == "__main__":
    main()
