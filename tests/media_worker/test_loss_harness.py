"""The loss harness of benchmarks/sfu_loss.py is trustworthy: nftables really drops about the
requested share on the input hook of a private namespace (and nothing else), and the
subscribers' VP8 frame reassembly and decoder model count what crafted RTP says they should."""

from __future__ import annotations

import struct

import pytest
from loss_netns import loss_frames as lf
from loss_netns import loss_net as _loss_net
from loss_netns import run_in_loss_netns

# --- nftables loss in a namespace ---------------------------------------------------------

SEND_AND_COUNT = """
import socket, time
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
rx.bind(("127.0.0.1", 8410))
rx.setblocking(False)
lossy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
lossy.bind(("127.0.0.1", 8411))
clean = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
clean.bind(("127.0.0.1", 8412))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # towards the lossy port
back.setblocking(False)
lossy.setblocking(False)
N = {n}
out = {{"pct": {pct}, "send_errors": 0}}

def drain():
    got = {{8411: 0, 8412: 0}}
    for _ in range(100 * N):
        try:
            data, addr = rx.recvfrom(2048)
        except BlockingIOError:
            break
        got[addr[1]] += 1
    return got

def drain_back():
    got = 0
    for _ in range(100 * N):
        try:
            lossy.recv(2048)
        except BlockingIOError:
            break
        got += 1
    return got

with LossRule() as loss:
    loss.set({pct}, sport=8411)
    received = {{8411: 0, 8412: 0}}
    back_got = 0
    for i in range(N):
        for sock in (lossy, clean):
            try:
                sock.sendto(b"x" * 200, ("127.0.0.1", 8410))
            except OSError:
                out["send_errors"] += 1
        back.sendto(b"y" * 50, ("127.0.0.1", 8411))
        if i % 50 == 0:
            for k, v in drain().items():
                received[k] += v
            back_got += drain_back()
    time.sleep(0.2)
    for k, v in drain().items():
        received[k] += v
    back_got += drain_back()
    out["lossy_received"] = received[8411]
    out["clean_received"] = received[8412]
    out["back_received"] = back_got
    out["offered"], out["dropped"] = loss.counters()
    out["interfaces"] = interfaces()
    out["private"] = in_private_netns()
emit(out)
"""


@pytest.mark.parametrize("pct", [0, 5, 20])
def test_nft_input_hook_drops_the_requested_share_of_one_leg_only(pct):
    n = 4000
    r = run_in_loss_netns(SEND_AND_COUNT.format(n=n, pct=pct))
    assert r["private"] and r["interfaces"] == ["lo"]
    # Input hook: the sender never sees an error (an output-hook drop would be EPERM).
    assert r["send_errors"] == 0
    # Only datagrams FROM the lossy port are dropped; other senders and the way back are clean.
    assert r["clean_received"] == n
    assert r["back_received"] == n
    # The rule saw every datagram of the leg, and what it dropped is exactly what is missing.
    assert r["offered"] == n
    assert r["dropped"] == n - r["lossy_received"]
    # About the requested share: binomial sigma at n = 4000 is <= 0.64 points (20 %).
    measured = 100 * r["dropped"] / n
    assert abs(measured - pct) <= (0 if pct == 0 else 3.0), measured


def test_loss_rule_refuses_the_machines_own_namespace():
    if _loss_net.in_private_netns():  # pragma: no cover - a test run inside a namespace
        pytest.skip("this test process already runs in a private namespace")
    with pytest.raises(_loss_net.LossSetupError):
        _loss_net.LossRule()
    with pytest.raises(_loss_net.LossSetupError):
        _loss_net.enter_private_loopback()


# --- VP8 frame reassembly on crafted RTP --------------------------------------------------

PT = 96


def vp8_packet(
    seq: int,
    ts: int,
    *,
    start: bool,
    marker: bool,
    key: bool = False,
    ext: bool = False,
    picture_id: int | None = None,
) -> bytes:
    """An RTP packet with a VP8 payload descriptor (RFC 7741) and a fake VP8 payload."""
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | PT, seq & 0xFFFF, ts, 1234)
    if ext:  # one-byte header extension with one element (abs-send-time-like, 3 bytes)
        header = bytes([0x90]) + header[1:] + struct.pack("!HH", 0xBEDE, 1) + b"\x31\x00\x00\x00"
    desc = bytearray([(0x10 if start else 0)])
    if picture_id is not None:
        desc[0] |= 0x80
        desc.append(0x80 | 0x20)  # I and T present
        desc += struct.pack("!H", 0x8000 | picture_id)  # 15-bit picture id
        desc.append(0x40)  # TID/Y/KEYIDX
    # VP8 frame header's first byte: P bit (0x01) = 0 for a key frame.
    payload = bytes([0x00 if key else 0x01]) + b"\xaa" * 20
    return header + bytes(desc) + payload


def frame_packets(seq: int, ts: int, count: int, *, key: bool = False, **kw) -> list[bytes]:
    return [
        vp8_packet(seq + i, ts, start=i == 0, marker=i == count - 1, key=key, **kw)
        for i in range(count)
    ]


def feed(rx: lf.Vp8Receiver, packets: list[bytes], t: float, dt: float = 0.001) -> float:
    for p in packets:
        rx.add(p, t)
        t += dt
    return t


def test_descriptor_parsing_start_key_and_extensions():
    p = vp8_packet(1, 0, start=True, marker=False, key=True, ext=True, picture_id=300)
    parsed = lf.parse_rtp(p)
    assert parsed is not None
    pt, seq, ts, marker, ssrc, pos = parsed
    assert (pt, seq, ts, marker, ssrc) == (PT, 1, 0, False, 1234)
    assert pos == 12 + 8
    assert lf.vp8_descriptor(p, pos) == (True, True)
    inter = vp8_packet(2, 0, start=True, marker=True, picture_id=301)
    assert lf.vp8_descriptor(inter, lf.parse_rtp(inter)[5]) == (True, False)
    middle = vp8_packet(3, 0, start=False, marker=False, key=True)
    assert lf.vp8_descriptor(middle, 12) == (False, False)
    assert lf.parse_rtp(b"\x00" * 20) is None  # not version 2
    assert lf.parse_rtp(p[:14]) is None  # extension runs past the end


def test_complete_frames_are_counted_and_shown_in_order():
    rx = lf.Vp8Receiver()
    t = feed(rx, frame_packets(100, 0, 5, key=True), 0.0)
    for i in range(1, 10):
        t = feed(rx, frame_packets(105 + 3 * (i - 1), 3000 * i, 3), t + 0.03)
    s = rx.summary(0, 9)
    assert (s.sent, s.complete, s.shown, s.keyframes) == (10, 10, 10, 1)
    assert [idx for idx, _ in rx.shown] == list(range(10))
    assert not rx.want_keyframe and rx.chain_breaks == 0


@pytest.mark.parametrize("lost", ["first", "middle", "marker", "whole"])
def test_a_lost_packet_makes_its_frame_incomplete_and_breaks_the_chain_until_a_key_frame(lost):
    rx = lf.Vp8Receiver(give_up=0.25)
    t = feed(rx, frame_packets(0, 0, 4, key=True), 0.0)
    seq = 4
    for i in range(1, 20):
        packets = frame_packets(seq, 3000 * i, 3, key=(i == 12))
        seq += 3
        if i == 5:
            packets = {
                "first": packets[1:],
                "middle": [packets[0], packets[2]],
                "marker": packets[:2],
                "whole": [],
            }[lost]
        t = feed(rx, packets, t + 0.033)
    s = rx.summary(0, 19)
    assert s.sent == 20
    assert s.complete == 19  # only frame 5
    assert s.keyframes == 2
    shown = [idx for idx, _ in rx.shown]
    # Frames 0-4 shown; 5 never completes; 6-11 depend on it; the key frame 12 restarts.
    assert shown == [0, 1, 2, 3, 4, *range(12, 20)]
    assert s.shown == 13
    assert rx.chain_breaks == 1
    assert rx.want_keyframe  # the subscriber would send a PLI


def test_a_retransmission_in_time_completes_the_frame_and_keeps_the_chain():
    rx = lf.Vp8Receiver(give_up=0.25)
    t = feed(rx, frame_packets(0, 0, 4, key=True), 0.0)
    late = None
    seq = 4
    for i in range(1, 8):
        packets = frame_packets(seq, 3000 * i, 3)
        seq += 3
        if i == 2:
            late = packets.pop(1)
        t = feed(rx, packets, t + 0.033)
        if i == 3:
            rx.add(late, t)  # arrives ~40 ms late, a NACK answered
            rx.add(late, t)  # and a duplicate of it
    s = rx.summary(0, 7)
    assert (s.sent, s.complete, s.shown) == (8, 8, 8)
    assert [idx for idx, _ in rx.shown] == list(range(8))
    assert rx.seqs.duplicates == 1
    assert rx.chain_breaks == 0


def test_a_retransmission_after_give_up_counts_complete_but_is_not_shown():
    rx = lf.Vp8Receiver(give_up=0.1)
    t = feed(rx, frame_packets(0, 0, 2, key=True), 0.0)
    late = frame_packets(2, 3000, 2)
    t = feed(rx, late[:1], t + 0.033)
    t = feed(rx, frame_packets(4, 6000, 2), t + 0.2)  # 0.2 s later: frame 1 given up
    rx.add(late[1], t + 0.01)
    s = rx.summary(0, 2)
    assert (s.complete, s.shown) == (3, 1)
    assert rx.chain_breaks == 1


def test_poll_gives_up_on_a_missing_frame_without_new_packets():
    rx = lf.Vp8Receiver(give_up=0.25)
    t = feed(rx, frame_packets(0, 0, 2, key=True), 0.0)
    feed(rx, frame_packets(4, 6000, 2), t + 0.066)  # frame 1 (seqs 2-3) never arrives
    rx.poll(0.2)
    assert rx.chain_breaks == 0
    rx.poll(0.5)
    assert rx.chain_breaks == 1 and rx.want_keyframe


def test_sequence_numbers_wrap():
    rx = lf.Vp8Receiver()
    t = feed(rx, frame_packets(65533, 90000, 4, key=True), 0.0)  # 65533..65536=0
    t = feed(rx, frame_packets(1, 93000, 3), t + 0.033)
    t = feed(rx, frame_packets(4, 96000, 3)[1:], t + 0.033)  # seq 4 lost
    s = rx.summary(0, 2)
    assert (s.sent, s.complete) == (3, 2)
    assert rx.seqs.highest == 9  # 65533 -> 0, 0 -> 3, 6 -> 9
    assert rx.seqs.received(0, 9) == 9  # all but seq 4 (extended 7)
    assert not rx.seqs.has(7)


def test_timestamps_wrap():
    rx = lf.Vp8Receiver()
    t = feed(rx, frame_packets(10, 2**32 - 3000, 2, key=True), 0.0)
    t = feed(rx, frame_packets(12, 0, 2), t + 0.03)  # the 32-bit timestamp wrapped
    feed(rx, frame_packets(14, 3000, 2), t + 0.03)
    assert sorted(rx.frames) == [0, 1, 2]
    assert [idx for idx, _ in rx.shown] == [0, 1, 2]


def test_seq_counter_residual_loss_and_duplicates():
    c = lf.SeqCounter()
    for seq in [10, 11, 13, 14, 14, 12, 17]:
        c.add(seq)
    assert c.duplicates == 1
    assert c.received(0, 7) == 6  # 10..17: 15 and 16 missing
    assert c.highest == 7
    assert c.add(5) == (-5, False)  # older than the first one seen: ignored


def test_freeze_seconds():
    shown = [0.0, 0.033, 0.066, 0.5, 0.533, 1.0]
    # gaps: 0.434 (0.066 -> 0.5) and 0.467 (0.533 -> 1.0) exceed 0.2; edge gap 1.0 -> 1.3
    assert lf.freeze_seconds(shown, 0.0, 1.3) == pytest.approx(0.434 + 0.467 + 0.3)
    assert lf.freeze_seconds([], 0.0, 2.0) == pytest.approx(2.0)
    assert lf.freeze_seconds([0.1 * i for i in range(21)], 0.0, 2.0) == 0.0


def test_rtx_retransmission_is_unwrapped_into_the_original_packet():
    original = vp8_packet(700, 9000, start=False, marker=True, ext=True)
    parsed = lf.parse_rtp(original)
    pos = parsed[5]
    # RTX: own payload type, SSRC and sequence number; payload = original seq + payload.
    rtx = bytearray(original[:pos])
    rtx[1] = (rtx[1] & 0x80) | 97
    rtx[2:4] = (40000).to_bytes(2, "big")
    rtx[8:12] = (999).to_bytes(4, "big")
    rtx = bytes(rtx) + (700).to_bytes(2, "big") + original[pos:]
    assert lf.unwrap_rtx(rtx, PT, 1234) == original
    padding_only = rtx[:pos] + b"\x00\x00"  # too short to carry a payload
    assert lf.unwrap_rtx(padding_only, PT, 1234) is None
