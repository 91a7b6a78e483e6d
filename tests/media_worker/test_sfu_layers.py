"""Layer switching continuity (media_worker/sfu/layers.py): sequence numbers, timestamps, VP8
picture ids and TL0PICIDX stay continuous for a subscriber moving between simulcast layers."""

from __future__ import annotations

import itertools

from media_worker.sfu.layers import LayerMunger, vp8_ids, vp8_rewrite


class Layer:
    """A simulcast layer's own numbering, as a browser sends it."""

    def __init__(self, name: str, seq: int, ts: int, pic: int, tl0: int) -> None:
        self.name = name
        self.seq, self.ts, self.pic, self.tl0 = seq, ts, pic, tl0

    def frame(self, packets: int = 2):
        """One frame: ``packets`` packets sharing a timestamp and picture id."""
        out = []
        for _ in range(packets):
            out.append((self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.pic & 0x7FFF, self.tl0))
            self.seq += 1
        self.ts += 3000
        self.pic += 1
        self.tl0 = (self.tl0 + 1) & 0xFF
        return out


def send(m: LayerMunger, layer: Layer, now: float, keyframe: bool = False):
    sent = []
    for i, (seq, ts, pic, tl0) in enumerate(layer.frame()):
        r = m.rewrite(layer, seq, ts, keyframe and i == 0, now, pic, tl0)
        if r is not None:
            sent.append(r)
    return sent


def assert_continuous(sent) -> None:
    for a, b in itertools.pairwise(sent):
        assert (b.seq - a.seq) & 0xFFFF == 1, (a, b)
        assert 0 <= (b.timestamp - a.timestamp) & 0xFFFFFFFF <= 9000, (a, b)
        assert (b.picture_id - a.picture_id) & 0x7FFF in (0, 1), (a, b)
        assert (b.tl0 - a.tl0) & 0xFF in (0, 1), (a, b)


def test_switching_layers_on_a_key_frame_keeps_seq_ts_picture_id_and_tl0_continuous():
    low = Layer("l", 65530, 4_294_960_000, 32760, 250)  # about to wrap, all four
    high = Layer("h", 1000, 123_456, 7, 3)
    m: LayerMunger[Layer] = LayerMunger(seed=4242)
    m.set_target(low)
    sent = []
    now = 0.0
    assert send(m, low, now) == []  # waits for the low layer's key frame
    sent += send(m, low, now, keyframe=True)
    for _ in range(10):
        now += 1 / 30
        sent += send(m, low, now)
        high.frame()
    m.set_target(high)
    assert m.switching
    # until the high layer's key frame: low goes on, high is not sent
    now += 1 / 30
    assert send(m, high, now) == []
    sent += send(m, low, now)
    now += 1 / 30
    switch_at = len(sent)
    sent += send(m, high, now, keyframe=True)
    assert not m.switching
    assert send(m, low, now) == []  # the old layer is no longer forwarded
    for _ in range(5):
        now += 1 / 30
        sent += send(m, high, now)
    assert_continuous(sent)
    assert sent[switch_at].picture_id == (sent[switch_at - 1].picture_id + 1) & 0x7FFF
    assert sent[switch_at].tl0 == (sent[switch_at - 1].tl0 + 1) & 0xFF
    assert m.switches == 2
    # and back down again
    m.set_target(low)
    now += 1 / 30
    sent += send(m, low, now, keyframe=True)
    now += 1 / 30
    sent += send(m, low, now)
    assert_continuous(sent)


def test_a_nack_maps_back_to_the_layer_and_its_own_sequence_number():
    low, high = Layer("l", 100, 0, 0, 0), Layer("h", 50000, 0, 0, 0)
    m: LayerMunger[Layer] = LayerMunger(seed=7)
    m.set_target(low)
    first = send(m, low, 0.0, keyframe=True)
    m.set_target(high)
    second = send(m, high, 0.1, keyframe=True)
    assert m.lookup(first[0].seq) == (low, 100)
    assert m.lookup(first[1].seq) == (low, 101)
    assert m.lookup(second[0].seq) == (high, 50000)
    assert m.lookup(second[1].seq) == (high, 50001)


def test_gaps_inside_a_layer_are_kept_and_late_packets_from_before_a_switch_dropped():
    low = Layer("l", 10, 0, 0, 0)
    m: LayerMunger[Layer] = LayerMunger()
    m.set_target(low)
    a = m.rewrite(low, 10, 0, True, 0.0)
    b = m.rewrite(low, 13, 0, False, 0.0)  # 11, 12 lost upstream
    assert a is not None and b is not None
    assert (b.seq - a.seq) & 0xFFFF == 3
    assert m.rewrite(low, 9, 0, False, 0.0) is None  # older than where this layer started
    assert m.late_dropped == 1
    late = m.rewrite(low, 11, 0, False, 0.0)  # recovered by NACK: still in its place
    assert late is not None and (late.seq - a.seq) & 0xFFFF == 1


def test_pause_forwards_nothing_and_resumes_continuous_with_time_advanced():
    low = Layer("l", 1, 90000, 5, 1)
    m: LayerMunger[Layer] = LayerMunger()
    m.set_target(low)
    before = send(m, low, 0.0, keyframe=True)
    m.set_target(None)
    assert send(m, low, 0.5, keyframe=True) == []
    m.set_target(low)
    after = send(m, low, 2.0, keyframe=True)
    assert (after[0].seq - before[-1].seq) & 0xFFFF == 1
    # two seconds later at 90 kHz, whatever the source's own timestamps did
    assert abs(((after[0].timestamp - before[-1].timestamp) & 0xFFFFFFFF) - 180_000) < 100


def test_vp8_descriptor_picture_id_and_tl0picidx_are_read_and_rewritten_in_place():
    # X=1 S=1; I=1 L=1; 15-bit picture id 0x7FFE; TL0PICIDX 0xFF; then payload
    packet = bytearray(b"\x90\xc0\xff\xfe\xff" + bytes(10))
    ids = vp8_ids(packet, 0, len(packet))
    assert ids is not None
    assert (ids.picture_id, ids.pic_bits, ids.tl0) == (0x7FFE, 15, 0xFF)
    vp8_rewrite(packet, ids, 0x8001, 0x100)  # both wrap
    again = vp8_ids(packet, 0, len(packet))
    assert again is not None
    assert (again.picture_id, again.tl0) == (1, 0)
    assert len(packet) == 15 and packet[0] == 0x90 and packet[5:] == bytes(10)
    short = bytearray(b"\x90\x80\x05" + bytes(4))  # 7-bit picture id keeps 7 bits
    ids = vp8_ids(short, 0, len(short))
    assert ids is not None and (ids.picture_id, ids.pic_bits, ids.tl0_at) == (5, 7, -1)
    vp8_rewrite(short, ids, 130, 0)
    assert short[2] == 2
    assert vp8_ids(b"\x10\x00", 0, 2) is not None  # no X: nothing to rewrite
    assert vp8_ids(b"\x90", 0, 1) is None  # truncated
    assert vp8_ids(b"\x90\x80\x80", 0, 3) is None
