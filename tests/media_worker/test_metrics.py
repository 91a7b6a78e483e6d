"""A worker's metrics text (media_worker/metrics.py) in the Prometheus exposition format."""

from __future__ import annotations

import re

from media_worker.metrics import COUNTERS, PREFIX, RoomSample, render
from media_worker.sfu import NetworkPolicy, Room

SAMPLE = re.compile(r'^([a-z_]+)\{((?:[a-z]+="(?:[^"\\]|\\.)*",?)+)\} (-?[0-9.]+)$')


def _parse(text: str) -> dict[str, dict[str, float]]:
    """metric -> labels -> value; every sample's metric has a TYPE line before it."""
    typed: set[str] = set()
    out: dict[str, dict[str, float]] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("gauge", "counter")
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, line
        assert m.group(1) in typed, line
        out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


async def test_metrics_carry_rooms_peers_counters_and_cpu_of_a_real_room():
    room = Room("r", thumbnails=0, policy=NetworkPolicy.loopback())
    try:
        room.totals.packets_in = 120
        room.totals.lost_upstream = 7
        rooms = {
            "abc": RoomSample(peers=len(room.peers), counters=room.counters()),
            'we"ird\nroom': RoomSample(peers=3),
        }
        metrics = _parse(render("worker-1", rooms, cpu_seconds=12.5))
    finally:
        await room.close()
    assert metrics[f"{PREFIX}_rooms"] == {'worker="worker-1"': 2}
    assert metrics[f"{PREFIX}_peers"]['worker="worker-1",room="we\\"ird\\nroom"'] == 3
    assert metrics[f"{PREFIX}_packets_in_total"]['worker="worker-1",room="abc"'] == 120
    assert metrics[f"{PREFIX}_lost_upstream_total"]['worker="worker-1",room="abc"'] == 7
    assert metrics[f"{PREFIX}_cpu_seconds_total"] == {'worker="worker-1"': 12.5}
    assert all(f"{PREFIX}_{name}" in metrics for name, _ in COUNTERS.values())
    assert set(room.counters()) >= set(COUNTERS)  # every exported counter exists in the SFU


def test_a_worker_without_rooms_still_reports_itself():
    metrics = _parse(render("w", {}, cpu_seconds=0))
    assert metrics == {
        f"{PREFIX}_rooms": {'worker="w"': 0},
        f"{PREFIX}_cpu_seconds_total": {'worker="w"': 0},
    }


def test_one_port_counters_are_exported_by_transport_and_event():
    ports = {"udp": {"datagrams": 10, "unknown_ufrag": 2}, "tcp": {"not_stun": 1}}
    metrics = _parse(render("w", {}, cpu_seconds=0, ports=ports))
    events = metrics[f"{PREFIX}_port_events_total"]
    assert events['worker="w",transport="udp",event="unknown_ufrag"'] == 2
    assert events['worker="w",transport="tcp",event="not_stun"'] == 1
    assert len(events) == 3
    # a worker without one-port mode exports nothing of it
    assert f"{PREFIX}_port_events_total" not in _parse(
        render("w", {}, cpu_seconds=0, ports={"udp": {}, "tcp": {}})
    )
