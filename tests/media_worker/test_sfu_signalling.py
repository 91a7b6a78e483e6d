"""Offer validation, network policy, and the no-Django rule."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sfu_helpers import Client

from media_worker.sfu import NetworkPolicy, Room, SignallingError
from media_worker.sfu.signalling import (
    add_opus_options,
    add_start_bitrate,
    offer_opus_nack,
    parse_offer,
)

ROOT = Path(__file__).resolve().parents[2]


def test_sfu_imports_nothing_from_django():
    code = (
        "import sys, media_worker.sfu, media_worker.sfu.room;"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
async def offer_sdp():
    client = Client(luma=100, tone=0)
    offer = await client.offer()
    yield offer["sdp"]
    await client.close()


@pytest.mark.parametrize(
    ("offer", "code"),
    [
        (None, "invalid_message"),
        ({"type": "answer", "sdp": "v=0"}, "invalid_message"),
        ({"type": "offer"}, "invalid_message"),
        ({"type": "offer", "sdp": "x" * 70_000}, "too_large"),
        ({"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}, "no_media"),
        ({"type": "offer", "sdp": "m=video port\r\n"}, "invalid_sdp"),
    ],
)
async def test_garbage_offers_are_answered_with_an_error_code(offer, code):
    room = Room("r", policy=NetworkPolicy.loopback())
    with pytest.raises(SignallingError) as info:
        await room.join("p", offer)
    assert info.value.code == code
    assert info.value.as_dict()["code"] == code
    assert room.peers == {}
    await room.close()


@pytest.mark.media  # creates aiortc peer connections (no media flows)
async def test_offer_with_wrong_layout_or_codecs_is_rejected(offer_sdp):
    policy = NetworkPolicy.loopback()
    sections = re.split(r"(?=^m=)", offer_sdp, flags=re.M)
    # only the session part and two m-lines: not the slot layout
    short = "".join(sections[:3])
    with pytest.raises(SignallingError) as info:
        parse_offer({"type": "offer", "sdp": short}, thumbnails=4, policy=policy)
    assert info.value.code == "bad_layout"
    # too many thumbnails for the room
    with pytest.raises(SignallingError) as info:
        parse_offer({"type": "offer", "sdp": offer_sdp}, thumbnails=2, policy=policy)
    assert info.value.code == "bad_layout"
    # no codec we forward in the publish video line
    no_vp8 = re.sub(r"a=rtpmap:(\d+) (VP8|H264)/", r"a=rtpmap:\1 AV1X/", offer_sdp)
    with pytest.raises(SignallingError) as info:
        parse_offer({"type": "offer", "sdp": no_vp8}, thumbnails=4, policy=policy)
    assert info.value.code == "unsupported_codec"
    no_bundle = re.sub(r"a=group:BUNDLE[^\r\n]*\r\n", "", offer_sdp)
    with pytest.raises(SignallingError) as info:
        parse_offer({"type": "offer", "sdp": no_bundle}, thumbnails=4, policy=policy)
    assert info.value.code == "no_bundle"


@pytest.mark.media  # creates aiortc peer connections (no media flows)
async def test_candidates_outside_the_accepted_networks_are_dropped(offer_sdp):
    lan_only = NetworkPolicy(local_addresses=("127.0.0.1",), accepted_networks=("10.0.0.0/8",))
    with pytest.raises(SignallingError) as info:
        parse_offer({"type": "offer", "sdp": offer_sdp}, thumbnails=4, policy=lan_only)
    assert info.value.code == "no_candidates"
    extra = offer_sdp.replace(
        "a=mid:0\r\n",
        "a=mid:0\r\na=candidate:9 1 udp 1 192.0.2.7 5000 typ host\r\n"
        "a=candidate:8 1 udp 1 abcd.local 5000 typ host\r\n",
        1,
    )
    layout = parse_offer(
        {"type": "offer", "sdp": extra}, thumbnails=4, policy=NetworkPolicy.loopback()
    )
    assert "192.0.2.7" not in layout.sdp and ".local" not in layout.sdp
    assert "127.0.0.1" in layout.sdp


def test_network_policy_defaults_and_validation():
    policy = NetworkPolicy()
    assert policy.ice_servers == () and policy.rtc_configuration().iceServers == []
    assert policy.accepts("192.168.1.5") and not policy.accepts("host.local")
    assert "127.0.0.1" not in policy.host_addresses()
    loop = NetworkPolicy.loopback()
    assert loop.host_addresses() == ["127.0.0.1"]
    assert loop.accepts("127.0.0.1") and not loop.accepts("10.1.1.1")
    with pytest.raises(ValueError):
        NetworkPolicy(accepted_networks=("not-a-network",))


def test_start_bitrate_hint_is_added_to_the_publish_video_codecs():
    sdp = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n"
        "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=rtpmap:96 VP8/90000\r\n"
    )
    out = add_start_bitrate(sdp, "0", 2500)
    assert "a=fmtp:96 x-google-start-bitrate=2500\r\n" in out
    assert "a=fmtp:102 packetization-mode=1;x-google-start-bitrate=2500" in out
    assert out.count("x-google-start-bitrate") == 2  # the slot m-line is untouched


OPUS_OFFER = (
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n{fb}a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10\r\n"
)
AIORTC_ANSWER = (  # what aiortc answers: no rtcp-fb and no fmtp for Opus
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\na=rtpmap:111 opus/48000/2\r\n"
)


def _section(sdp: str, mid: str) -> str:
    return next(s for s in re.split(r"(?=^m=)", sdp, flags=re.M) if f"a=mid:{mid}\r\n" in s)


def test_opus_nack_and_fec_are_answered_only_where_offered():
    offer = OPUS_OFFER.format(fb="a=rtcp-fb:111 nack\r\n")
    out = add_opus_options(AIORTC_ANSWER, offer)
    first, second = _section(out, "1"), _section(out, "3")
    assert "a=rtcp-fb:111 nack\r\n" in first and "a=fmtp:111 useinbandfec=1\r\n" in first
    assert "nack" not in second and "useinbandfec" not in second  # not offered on mid 3
    assert "transport-cc" not in out and "minptime" not in out  # only nack and FEC come back
    assert add_opus_options(out, offer) == out  # nothing twice
    # no nack offered ("nack pli" is not generic NACK): none answered; FEC still is
    for fb in ("", "a=rtcp-fb:111 nack pli\r\n"):
        out = add_opus_options(AIORTC_ANSWER, OPUS_OFFER.format(fb=fb))
        assert "a=rtcp-fb:111 nack" not in out
        assert "a=fmtp:111 useinbandfec=1\r\n" in _section(out, "1")
    # an answer that has an fmtp already gets FEC appended to it
    with_fmtp = AIORTC_ANSWER.replace(
        "opus/48000/2\r\n", "opus/48000/2\r\na=fmtp:111 stereo=0\r\n", 1
    )
    out = add_opus_options(with_fmtp, offer)
    assert "a=fmtp:111 stereo=0;useinbandfec=1\r\n" in _section(out, "1")


def test_offer_opus_nack_adds_nack_to_every_opus_codec_once():
    offer = OPUS_OFFER.format(fb="")
    out = offer_opus_nack(offer)
    assert out.count("a=rtcp-fb:111 nack\r\n") == 2
    assert "a=rtcp-fb:63" not in out  # RED is not Opus
    assert "a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtcp-fb:111 nack\r\n" in out
    assert offer_opus_nack(out) == out
    video = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n"
    assert offer_opus_nack(video) == video


@pytest.mark.media  # creates aiortc peer connections (no media flows)
@pytest.mark.parametrize("opus_nack", [True, False])
async def test_the_room_answers_opus_nack_only_to_an_offer_that_asks(opus_nack):
    """aiortc's own answer drops it; the room puts it back and NACKs that audio upstream."""
    client = Client(luma=100, tone=0, thumbnails=0, opus_nack=opus_nack)
    room = Room("r", thumbnails=0, policy=NetworkPolicy.loopback())
    try:
        offer = await client.offer()
        assert ("nack" in _section(offer["sdp"], "1")) is opus_nack
        answer = await room.join("p", offer)
        audio_mids = ("1", "3", "5")
        for mid in audio_mids:
            pt = re.search(r"a=rtpmap:(\d+) opus/", _section(answer["sdp"], mid)).group(1)
            assert (f"a=rtcp-fb:{pt} nack\r\n" in _section(answer["sdp"], mid)) is opus_nack
        peer = room.peers["p"]
        assert peer.nack_mids & set(audio_mids) == (set(audio_mids) if opus_nack else set())
        assert "0" in peer.nack_mids  # video: always (aiortc offers and answers it)
    finally:
        await client.close()
        await room.close()


@pytest.mark.media  # creates aiortc peer connections (no media flows)
async def test_answer_describes_the_slot_layout_and_room_closes_twice(offer_sdp):
    room = Room("r", thumbnails=4, policy=NetworkPolicy.loopback())
    answer = await room.join("p", {"type": "offer", "sdp": offer_sdp})
    assert answer["type"] == "answer"
    assert answer["publish"] == {"video_mid": "0", "audio_mid": "1"}
    assert answer["slots"]["main"] == {"video_mid": "2", "audio_mid": "3"}
    assert answer["slots"]["chair"] == {"video_mid": "4", "audio_mid": "5"}
    assert [answer["slots"][f"thumb{i}"]["video_mid"] for i in range(4)] == ["6", "7", "8", "9"]
    candidates = re.findall(r"a=candidate:\S+ \d+ \w+ \d+ (\S+)", answer["sdp"])
    assert candidates and set(candidates) == {"127.0.0.1"}
    assert "x-google-start-bitrate=2500" in answer["sdp"]
    assert "a=msid:main main-video" in answer["sdp"]
    await room.close()
    await room.close()
    with pytest.raises(SignallingError) as info:
        await room.join("q", {"type": "offer", "sdp": offer_sdp})
    assert info.value.code == "room_closed"


@pytest.mark.media  # creates aiortc peer connections (no media flows)
async def test_policy_restricts_gathering_and_ignores_checks_from_other_networks():
    import aioice.ice

    policy = NetworkPolicy(local_addresses=("127.0.0.1",), accepted_networks=("127.0.0.0/8",))
    connection = aioice.ice.Connection(ice_controlling=False)
    seen: list[tuple[str, int]] = []
    connection.request_received = lambda message, addr, protocol: seen.append(addr)
    policy.apply_to_connection(connection)
    connection.request_received(None, ("192.0.2.9", 4000), None)  # would become prflx
    connection.request_received(None, ("127.0.0.1", 4000), None)
    assert seen == [("127.0.0.1", 4000)]
    await connection.gather_candidates()
    try:
        assert [c.host for c in connection.local_candidates] == ["127.0.0.1"]
    finally:
        await connection.close()
