"""A media worker's health in the Prometheus text exposition format (version 0.0.4).

:func:`render` turns what a worker knows -- its rooms, their peers and the SFU's room-wide
counters (``Room.counters()``, cheap to read) -- and the process's CPU time into the text a
Prometheus server scrapes. Pure: no Django, no I/O, so the endpoint that serves it and the
tests call the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PREFIX = "giaoban_media"

# SFU counter -> (metric name, help); all are totals since the room opened
COUNTERS: dict[str, tuple[str, str]] = {
    "packets_in": ("packets_in_total", "RTP datagrams received from publishers."),
    "packets_out": ("packets_out_total", "RTP packets forwarded to subscribers."),
    "lost_upstream": ("lost_upstream_total", "Packets missing on publisher-to-SFU legs."),
    "recovered": ("recovered_total", "Missing packets that arrived later (NACK, reordering)."),
    "unrecovered": ("unrecovered_total", "Missing packets given up."),
    "retransmitted_downstream": (
        "retransmitted_total",
        "Packets resent to subscribers answering their NACKs.",
    ),
    "keyframes_requested": ("keyframes_requested_total", "PLIs sent to publishers."),
    "send_errors": ("send_errors_total", "Sends to subscribers that failed."),
    "dropped": ("dropped_total", "Malformed, unknown or implausible RTP/RTCP dropped."),
}


@dataclass
class RoomSample:
    """What one hosted room contributes: its peer count and its SFU counters."""

    peers: int
    counters: Mapping[str, int] = field(default_factory=dict)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(
    worker: str,
    rooms: Mapping[str, RoomSample],
    *,
    cpu_seconds: float,
    budget: int | None = None,
    ports: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """The exposition text for one worker; ``rooms`` maps a room's code to its sample;
    ``budget`` (its peer budget, ``MEDIA_WORKER_PEER_BUDGET``) adds the budget gauges;
    ``ports`` (transport -> event -> count: ``udpmux.counters()``, ``icetcp.counters()``) the
    one-port mode's traffic and drops."""
    w = _label(worker)
    lines = [
        f"# HELP {PREFIX}_rooms Rooms hosted by this worker.",
        f"# TYPE {PREFIX}_rooms gauge",
        f'{PREFIX}_rooms{{worker="{w}"}} {len(rooms)}',
        f"# HELP {PREFIX}_peers Peer connections in the room.",
        f"# TYPE {PREFIX}_peers gauge",
    ]
    ordered = sorted(rooms.items())
    for code, sample in ordered:
        lines.append(f'{PREFIX}_peers{{worker="{w}",room="{_label(code)}"}} {sample.peers}')
    for key, (name, text) in COUNTERS.items():
        lines.append(f"# HELP {PREFIX}_{name} {text}")
        lines.append(f"# TYPE {PREFIX}_{name} counter")
        for code, sample in ordered:
            value = int(sample.counters.get(key, 0))
            lines.append(f'{PREFIX}_{name}{{worker="{w}",room="{_label(code)}"}} {value}')
    lines += [
        f"# HELP {PREFIX}_cpu_seconds_total CPU time (user + system) of the worker process.",
        f"# TYPE {PREFIX}_cpu_seconds_total counter",
        f'{PREFIX}_cpu_seconds_total{{worker="{w}"}} {cpu_seconds:.3f}',
    ]
    if budget is not None:
        peers = sum(sample.peers for sample in rooms.values())
        lines += [
            f"# HELP {PREFIX}_peer_budget Peers this worker is meant to carry.",
            f"# TYPE {PREFIX}_peer_budget gauge",
            f'{PREFIX}_peer_budget{{worker="{w}"}} {budget}',
            f"# HELP {PREFIX}_over_budget 1 while the worker's peers exceed its budget.",
            f"# TYPE {PREFIX}_over_budget gauge",
            f'{PREFIX}_over_budget{{worker="{w}"}} {int(peers > budget)}',
        ]
    if ports and any(ports.values()):
        lines += [
            f"# HELP {PREFIX}_port_events_total One-port mode / ICE-TCP: datagrams and TCP "
            "connections received on the shared ports, and those dropped, by reason.",
            f"# TYPE {PREFIX}_port_events_total counter",
        ]
        for transport, events in sorted(ports.items()):
            for event, value in sorted(events.items()):
                lines.append(
                    f'{PREFIX}_port_events_total{{worker="{w}",transport="{_label(transport)}",'
                    f'event="{_label(event)}"}} {int(value)}'
                )
    return "\n".join(lines) + "\n"
