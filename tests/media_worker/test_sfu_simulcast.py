"""Simulcast: the offer's rids, the answer the SFU writes, layers bound by rid, the layer
each slot shows, and which layers a publisher is told to send."""

from __future__ import annotations

import re
import struct

import pytest
from aiortc import sdp as aiortc_sdp
from sfu_helpers import Client

from media_worker.sfu import NetworkPolicy, Room, SignallingError, rtp
from media_worker.sfu.simulcast import (
    URI_REPAIRED_RID,
    URI_RID,
    SimulcastError,
    add_simulcast_to_answer,
    parse_simulcast,
    pick_layer,
    slot_rank,
    stream_id,
)

# What Chromium 156 offers for sendEncodings [{rid: "l"}, {rid: "m"}, {rid: "h"}] (trimmed)
CHROMIUM_SECTION = """m=video 9 UDP/TLS/RTP/SAVPF 96 97
a=mid:0
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=rtpmap:96 VP8/90000
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rid:l send
a=rid:m send
a=rid:h send
a=simulcast:send l;m;h
""".replace("\n", "\r\n")

RID_LINES = (
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
    "a=rid:l send\r\na=rid:m send\r\na=rid:h send\r\na=simulcast:send l;m;h\r\n"
)


def packet(seq: int, ssrc: int, exts: list[tuple[int, bytes]], payload: bytes, pt: int) -> bytes:
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in exts)
    body += bytes(-len(body) % 4)
    ext = struct.pack("!HH", rtp.ONE_BYTE_PROFILE, len(body) // 4) + body
    return struct.pack("!BBHII", 0x90, pt, seq, seq * 3000, ssrc) + ext + payload


VP8_KEY = b"\x10\x00\x9d\x01\x2a" + bytes(20)


def test_chromiums_simulcast_offer_is_read_lowest_layer_first():
    offer = parse_simulcast(CHROMIUM_SECTION, "0")
    assert offer is not None
    assert offer.rids == ("l", "m", "h")
    assert (offer.rid_ext, offer.repaired_ext) == (10, 11)
    assert [offer.rank(r) for r in ("l", "m", "h", "x")] == [0, 1, 2, -1]
    assert parse_simulcast(CHROMIUM_SECTION, "1") is None  # another m-line
    one = re.sub(r"a=simulcast:[^\r]*\r\n", "", CHROMIUM_SECTION)
    assert parse_simulcast(one, "0") is None  # one encoding: handled as before
    no_ext = CHROMIUM_SECTION.replace("a=extmap:10 ", "a=extmap:12 urn:x ")
    assert parse_simulcast(no_ext, "0") is None  # cannot be bound: one encoding


@pytest.mark.parametrize(
    "change",
    [
        ("a=simulcast:send l;m;h", "a=simulcast:send l;m;h;x"),  # undeclared rid
        ("a=rid:h send", "a=rid:h recv"),  # not a send rid
        ("a=simulcast:send l;m;h", "a=simulcast:recv l;m;h"),
        ("a=simulcast:send l;m;h", "a=simulcast:send l;m;m"),  # duplicate
        ("a=rid:l send", "a=rid:l send\r\na=rid:x send"),  # ... fine alone, but 4 layers:
    ],
)
def test_malformed_simulcast_offers_are_refused(change):
    text = CHROMIUM_SECTION.replace(*change)
    if change[1].endswith("a=rid:x send"):
        text = text.replace("a=simulcast:send l;m;h", "a=simulcast:send l;m;h;x")
    with pytest.raises(SimulcastError):
        parse_simulcast(text, "0")
    with pytest.raises(SimulcastError):
        parse_simulcast(CHROMIUM_SECTION.replace("a=rid:l send", "a=rid:l/ send"), "0")


def test_paused_and_alternative_rids_keep_their_first_name():
    text = CHROMIUM_SECTION.replace("send l;m;h", "send ~l;m,x;h").replace(
        "a=rid:h send", "a=rid:h send\r\na=rid:x send"
    )
    offer = parse_simulcast(text, "0")
    assert offer is not None and offer.rids == ("l", "m", "h")


def test_the_answer_gets_rids_simulcast_and_both_extensions_with_the_offers_ids():
    answer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n"
        "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\na=mid:1\r\n"
        "a=rtpmap:96 VP8/90000\r\n"
    )
    offer = parse_simulcast(CHROMIUM_SECTION, "0")
    assert offer is not None
    out = add_simulcast_to_answer(answer, "0", offer)
    first, second = re.split(r"(?=^m=)", out, flags=re.M)[1:]
    assert "a=rid:l recv\r\na=rid:m recv\r\na=rid:h recv\r\na=simulcast:recv l;m;h\r\n" in first
    assert "rid" not in second and "simulcast" not in second
    media = aiortc_sdp.SessionDescription.parse(out).media[0]
    exts = {e.uri: e.id for e in media.rtp.headerExtensions}
    assert exts[URI_RID] == 10 and exts[URI_REPAIRED_RID] == 11


def test_a_packets_rid_is_read_from_its_header_extension():
    data = packet(1, 5, [(9, b"0"), (10, b"h")], VP8_KEY, 96)
    header = rtp.parse_rtp_header(data)
    assert header is not None
    elements = rtp.extension_elements(data, header)
    assert elements is not None
    assert stream_id(data, header, elements, 10) == "h"
    assert stream_id(data, header, elements, 11) is None
    assert stream_id(data, header, elements, 0) is None
    bad = packet(1, 5, [(10, b"\xff\xfe")], VP8_KEY, 96)
    h2 = rtp.parse_rtp_header(bad)
    assert h2 is not None
    assert stream_id(bad, h2, rtp.extension_elements(bad, h2) or [], 10) is None


class _L:
    def __init__(self, layer: int, last_arrival: float = 0.0) -> None:
        self.layer = layer
        self.last_arrival = last_arrival


def test_each_slot_shows_its_layer_or_the_nearest_bound_one():
    assert [slot_rank(n, 3) for n in ("main", "chair", "thumb0", "thumb3", "content")] == [
        2,
        1,
        0,
        0,
        2,
    ]
    assert [slot_rank(n, 1) for n in ("main", "chair", "thumb0")] == [0, 0, 0]
    low, mid, high = _L(0), _L(1), _L(2)
    assert pick_layer([low, mid, high], 2) is high
    assert pick_layer([low, mid, high], 1) is mid
    assert pick_layer([low, high], 1) is low
    assert pick_layer([high], 0) is high  # something until the wanted layer arrives
    assert pick_layer([], 1) is None
    # a paused layer is passed over while another one flows
    paused, flowing = _L(2, last_arrival=1.0), _L(0, last_arrival=9.5)
    assert pick_layer([flowing, paused], 2, now=10.0) is flowing
    assert pick_layer([flowing, paused], 2, now=1.5) is paused  # both flowing
    assert pick_layer([_L(0), _L(2)], 2, now=10.0).layer == 2  # none flows: as before


async def simulcast_offer(client: Client) -> dict:
    offer = await client.offer()
    sections = re.split(r"(?=^m=)", offer["sdp"], flags=re.M)
    sections[1] = sections[1] + RID_LINES  # the publish video line
    return {"type": "offer", "sdp": "".join(sections)}


@pytest.mark.media
async def test_rid_layers_bind_to_their_ssrcs_and_fill_main_chair_and_thumbnails():
    events: list[dict] = []
    room = Room("sim", thumbnails=1, policy=NetworkPolicy.loopback(), on_event=events.append)
    pub = Client(luma=None, tone=None, thumbnails=1)
    viewer = Client(luma=None, tone=None, thumbnails=1)
    try:
        # the aiortc client sends nothing on the publish line: its packets are injected
        offer = await pub.offer()
        sections = re.split(r"(?=^m=)", offer["sdp"], flags=re.M)
        sections[1] = sections[1].replace("a=inactive", "a=sendonly") + RID_LINES
        answer = await room.join("pub", {"type": "offer", "sdp": "".join(sections)})
        assert "a=simulcast:recv l;m;h" in answer["sdp"]
        assert answer["publish"]["layers"] == ["l", "m", "h"]
        await viewer.accept(await room.join("viewer", await viewer.offer()))
        room.set_floor("pub")
        room.set_chair("pub")
        room.set_thumbnails(["pub"])
        # before any packet: the wanted layers are asked for, nothing is paused early
        layers = [e for e in events if e["type"] == "publish_layers"]
        assert layers[-1] == {
            "type": "publish_layers",
            "participant": "pub",
            "layers": {"l": True, "m": True, "h": True},
        }
        peer = room.peers["pub"]
        pt = next(iter(peer.layout.publish_video.codecs))
        mid_ext = peer.layout.publish_video.extensions[rtp.URI_MID]
        for i, (rid, ssrc) in enumerate((("h", 3003), ("l", 1001), ("m", 2002))):
            await peer._on_rtp(
                packet(10 + i, ssrc, [(mid_ext, b"0"), (10, rid.encode())], VP8_KEY, pt), 0
            )
        # an SSRC without a rid (or with an unknown one) is not bound
        await peer._on_rtp(packet(1, 4004, [(mid_ext, b"0")], VP8_KEY, pt), 0)
        await peer._on_rtp(packet(1, 5005, [(10, b"x")], VP8_KEY, pt), 0)
        assert {rid: s.ssrc for rid, s in peer.layers.items()} == {"h": 3003, "l": 1001, "m": 2002}
        assert [s.rid for s in peer.video_layers()] == ["l", "m", "h"]
        assert peer.dropped == 2
        ssrc_of = {key: slot.source.ssrc for key, slot in room.slots.items() if slot.source}
        assert ssrc_of["main/video"] == 3003
        assert ssrc_of["chair/video"] == 2002
        assert ssrc_of["thumb0/video"] == 1001
        # floor elsewhere: the top layer is watched by nobody any more
        room.set_floor(None)
        layers = [e for e in events if e["type"] == "publish_layers"]
        assert layers[-1]["layers"] == {"l": True, "m": True, "h": False}
        room.set_chair(None)
        room.set_thumbnails([])
        layers = [e for e in events if e["type"] == "publish_layers"]
        assert layers[-1]["layers"] == {"l": True, "m": False, "h": False}  # l always flows
        # RTX of a layer names the rid it repairs
        rtx_pt = next(iter(peer.rtx_apt[peer.layout.publish_video.mid]), None)
        assert rtx_pt is not None
        rtx = packet(50, 9009, [(11, b"m")], b"\x00\x0c" + VP8_KEY, rtx_pt)
        await peer._on_rtp(rtx, 0)
        assert peer._rtx_streams.get(9009) is peer.layers["m"]
        assert peer.rtx_in == 1
    finally:
        await room.close()
        await pub.close()
        await viewer.close()


@pytest.mark.media
async def test_a_malformed_simulcast_offer_is_answered_bad_layout():
    room = Room("sim-bad", thumbnails=1, policy=NetworkPolicy.loopback())
    client = Client(luma=100, tone=0, thumbnails=1)
    try:
        offer = await simulcast_offer(client)
        offer["sdp"] = offer["sdp"].replace("send l;m;h", "send l;m;h;q")
        with pytest.raises(SignallingError) as info:
            await room.join("p", offer)
        assert info.value.code == "bad_layout"
        assert room.peers == {}
    finally:
        await room.close()
        await client.close()
