"""Room-wide counters a monitor can read cheaply (``Room.counters()``).

One :class:`RoomCounters` per room, shared by reference with its slots, publisher streams and
peers, which bump plain integer attributes on the hot path. Reading them is one small dict:
no scan over participants or slot outputs.
"""

from __future__ import annotations


class RoomCounters:
    """Totals since the room was created."""

    def __init__(self) -> None:
        self.packets_in = 0  # RTP datagrams received from publishers (before any check)
        self.packets_out = 0  # RTP packets sent to subscribers (not counting retransmissions)
        self.dropped = 0  # malformed / unknown / implausible RTP and RTCP
        self.lost_upstream = 0  # sequence numbers found missing on a publisher -> SFU leg
        self.recovered = 0  # ... of which arrived later (answering a NACK, or reordered)
        self.unrecovered = 0  # ... of which were given up (too old, too many tries, huge gap)
        self.duplicates = 0  # packets received twice (dropped)
        self.nacks_sent = 0  # NACK packets sent to publishers
        self.nacked_packets = 0  # sequence numbers asked for in them (retries included)
        self.nacks_received = 0  # NACK packets received from subscribers
        self.retransmitted_downstream = 0  # packets resent to subscribers for their NACKs
        self.keyframes_requested = 0  # PLIs sent to publishers
        self.keyframes_received = 0  # key frames (their first packet) from publishers
        self.rtx_in = 0  # retransmissions received on a publisher's RTX stream (unwrapped)
        self.rtx_out = 0  # ... sent to subscribers on the slot's RTX stream
        self.send_errors = 0  # a send to a subscriber raised (the fan-out carried on)
        self.rtcp_limited = 0  # feedback ignored: the peer exceeded its per-second budget
        # cascading (pipe.py): RTP between this room and its other workers' rooms
        self.pipe_in = 0  # RTP packets received over pipes and accepted
        self.pipe_out = 0  # RTP packets sent over pipes (retransmissions not counted)
        self.pipe_retransmitted = 0  # ... resent over pipes for the remote side's NACKs
        self.pipe_rejected = 0  # pipe datagrams dropped: malformed, failed SRTP auth, replayed

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))
