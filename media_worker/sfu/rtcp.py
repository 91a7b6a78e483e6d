"""The RTCP the SFU sends, and when.

aiortc's own RTCP tasks are switched off with its receivers and senders (peer.py), so every
RTCP packet to a participant leaves through that participant's :class:`RtcpSender`:

============================  ============================================================
what                          when (who decides)
============================  ============================================================
SR per slot it receives,      every ``REPORT_INTERVAL`` (the room's ticker calls
RR for its streams, SDES      :func:`send_room_reports`), one compound datagram
REMB                          on a new estimate, at most every ``REMB_MIN_INTERVAL``;
                              repeated with the reports when none went out for
                              ``REMB_REFRESH``
NACK (generic, RFC 4585)      per missing packet, after a reordering delay and then every
                              ~RTT, a bounded number of times (``ingress.NackGenerator``)
PLI                           coalesced, throttled and retried per source
                              (``keyframes.KeyframeRequester``)
============================  ============================================================

The per-packet and per-source timers stay with the state they time (missing sequence numbers,
pending key frames); this module owns building and sending, the report schedule, the REMB
pacing and the counters of what was sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from . import rtp
from .egress import Slot
from .ingress import PublisherStream

REPORT_INTERVAL = 1.0  # s between two compound reports to a participant
REMB_MIN_INTERVAL = 0.25  # s between two REMBs sent for a new estimate
REMB_REFRESH = 1.0  # s without a REMB after which the reports carry one again


class RtcpSender:
    """Everything the SFU sends to one participant on RTCP, with the counts of it."""

    def __init__(self, ssrc: int, send: Callable[[bytes], None], cname: str) -> None:
        self.ssrc = ssrc  # our sender SSRC in this participant's RTCP
        self._send = send  # protect + sendto; a no-op while not connected
        self.cname = cname
        self.plis = 0
        self.nacks = 0
        self.remb_bitrate = 0  # the last estimate (bit/s), 0 = none yet
        self.remb_at = 0.0  # monotonic time of the last REMB sent

    def pli(self, media_ssrc: int) -> None:
        self.plis += 1
        self._send(rtp.build_pli(self.ssrc, media_ssrc))

    def nack(self, media_ssrc: int, seqs: list[int]) -> None:
        self.nacks += 1
        self._send(rtp.build_nack(self.ssrc, media_ssrc, seqs))

    def remb(self, bitrate: int, ssrcs: list[int], now: float) -> None:
        """A new estimate: sent unless one went out less than REMB_MIN_INTERVAL ago."""
        self.remb_bitrate = bitrate
        if now - self.remb_at >= REMB_MIN_INTERVAL:
            self.remb_at = now
            self._send(rtp.build_remb(self.ssrc, bitrate, ssrcs))

    def reports(
        self,
        slot_reports: list[bytes],
        blocks: list[rtp.ReportBlock],
        remb_ssrcs: list[int],
    ) -> None:
        """One compound datagram (SRs of the slots sent to it, RR of its streams, SDES),
        then the last REMB again if ``remb_ssrcs`` and none went out for REMB_REFRESH."""
        parts = list(slot_reports)
        if blocks or not parts:
            parts.append(rtp.build_rr(self.ssrc, blocks))
        parts.append(rtp.build_sdes_cname(self.ssrc, self.cname))
        self._send(b"".join(parts))
        if self.remb_bitrate and remb_ssrcs and time.monotonic() - self.remb_at > REMB_REFRESH:
            self.remb_at = time.monotonic()
            self._send(rtp.build_remb(self.ssrc, self.remb_bitrate, remb_ssrcs))


class ReportedPeer(Protocol):
    """What :func:`send_room_reports` needs of a participant (``Peer`` has it)."""

    participant_id: str
    rtcp: RtcpSender
    streams: dict[int, PublisherStream]

    @property
    def connected(self) -> bool: ...


def send_room_reports(peers: Iterable[ReportedPeer], slots: Iterable[Slot]) -> None:
    """The periodic reports of a room: to every connected participant, an SR for each slot
    it receives from someone else, an RR for each stream it publishes, and its REMB."""
    slot_list = list(slots)
    for peer in peers:
        if not peer.connected:
            continue
        pid = peer.participant_id
        reports = []
        for slot in slot_list:
            output = slot.outputs.get(pid)
            if output is None or slot.source is None or slot.source.owner == pid:
                continue
            sr = slot.sender_report(output)
            if sr is not None:
                reports.append(sr)
        streams = peer.streams
        blocks = [s.report_block() for s in streams.values() if s.packets]
        remb_ssrcs = [s.ssrc for s in streams.values() if s.kind == "video"] or list(streams)
        peer.rtcp.reports(reports, blocks, remb_ssrcs)
