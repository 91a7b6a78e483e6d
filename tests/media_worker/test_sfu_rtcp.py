"""The RTCP the SFU sends (media_worker/sfu/rtcp.py) and the slot munger, without a network."""

from __future__ import annotations

import time

from media_worker.sfu import rtp
from media_worker.sfu.egress import Output, Slot
from media_worker.sfu.ingress import PublisherStream
from media_worker.sfu.munger import Munger
from media_worker.sfu.rtcp import REMB_MIN_INTERVAL, RtcpSender, send_room_reports
from tests.media_worker.test_sfu_rtp import VP8_KEY, FakePeer, feed


def _types(datagram: bytes) -> list[tuple[int, int]]:
    items = rtp.split_rtcp(datagram)
    assert items is not None
    return [(i.packet_type, i.fmt) for i in items]


def test_remb_for_new_estimates_is_paced_and_refreshed_with_the_reports():
    sent: list[bytes] = []
    rtcp = RtcpSender(77, sent.append, "c")
    now = time.monotonic()
    rtcp.remb(1_000_000, [5], now)
    rtcp.remb(2_000_000, [5], now + REMB_MIN_INTERVAL / 2)  # too soon: only remembered
    assert len(sent) == 1 and rtcp.remb_bitrate == 2_000_000
    rtcp.remb(3_000_000, [5], now + REMB_MIN_INTERVAL)
    assert len(sent) == 2
    assert rtp.parse_remb_fci(rtp.split_rtcp(sent[1])[0].body[8:]) == (3_000_000, [5])
    # a report soon after carries no REMB; one after REMB_REFRESH of silence does
    rtcp.remb_at = time.monotonic()
    rtcp.reports([], [], [5])
    assert len(sent) == 3 and _types(sent[2]) == [(rtp.RTCP_RR, 0), (rtp.RTCP_SDES, 1)]
    rtcp.remb_at = time.monotonic() - 2
    rtcp.reports([], [], [5])
    assert len(sent) == 5 and _types(sent[4]) == [(rtp.RTCP_PSFB, rtp.PSFB_APP)]


def test_pli_and_nack_are_counted_and_addressed_to_the_media_ssrc():
    sent: list[bytes] = []
    rtcp = RtcpSender(77, sent.append, "c")
    rtcp.pli(1234)
    rtcp.nack(1234, [10, 12])
    assert (rtcp.plis, rtcp.nacks) == (1, 1)
    pli, nack = (rtp.split_rtcp(d)[0] for d in sent)
    assert (pli.packet_type, pli.fmt) == (rtp.RTCP_PSFB, rtp.PSFB_PLI)
    assert int.from_bytes(pli.body[4:8], "big") == 1234
    assert rtp.parse_nack_body(nack.body)[1:] == (1234, [10, 12])


class _ReportedPeer(FakePeer):
    def __init__(self, pid: str, connected: bool = True) -> None:
        super().__init__(pid)
        self.out: list[bytes] = []
        self.rtcp = RtcpSender(9, self.out.append, pid)
        self.streams: dict[int, PublisherStream] = {}
        self._connected = connected

    @property
    def connected(self) -> bool:
        return self._connected


def test_room_reports_give_each_connected_subscriber_an_sr_per_slot_it_receives():
    pub, sub, away = _ReportedPeer("a"), _ReportedPeer("s"), _ReportedPeer("x", connected=False)
    src = PublisherStream("a", "video", 100, {96: "vp8"}, {rtp.URI_MID: 1})
    pub.streams[100] = src
    slot = Slot("main", "video", 4242)
    for peer in (pub, sub, away):
        slot.add_output(Output(peer, {"vp8": 96}, {}))
    slot.set_source("a", src)
    feed(slot, src, 1, 0, VP8_KEY)
    send_room_reports([pub, sub, away], [slot])
    assert away.out == []
    # the subscriber: the slot's SR (no RR: it publishes nothing), SDES
    assert _types(sub.out[0]) == [(rtp.RTCP_SR, 0), (rtp.RTCP_SDES, 1)]
    # the publisher: no SR of its own stream, an RR about it
    assert _types(pub.out[0]) == [(rtp.RTCP_RR, 1), (rtp.RTCP_SDES, 1)]


def test_munger_re_bases_after_a_switch_and_drops_what_is_older_than_the_new_start():
    m = Munger(4242, "video")
    a = PublisherStream("a", "video", 100, {96: "vp8"}, {})
    b = PublisherStream("b", "video", 200, {96: "vp8"}, {})
    now = time.monotonic()
    assert m.rewrite(a, 10, 0, False, now) is None  # video starts on a key frame
    first = m.rewrite(a, 10, 0, True, now)
    assert first is not None
    assert m.rewrite(a, 11, 3000, False, now) == ((first[0] + 1) & 0xFFFF, first[1] + 3000)
    m.switch()
    assert m.rewrite(b, 500, 77, False, now + 0.1) is None
    out = m.rewrite(b, 500, 77, True, now + 0.1)
    assert out is not None and out[0] == (first[0] + 2) & 0xFFFF  # no gap, no reuse
    assert out[1] - first[1] - 3000 >= 9000 - 1  # ~100 ms of 90 kHz later
    assert m.rewrite(b, 499, 70, False, now + 0.1) is None and m.late_dropped == 1
    assert m.lookup(out[0]) == (b, 500, out[1])
    m.forget(a)
    assert m.lookup(first[0]) is None and m.lookup(out[0]) is not None
