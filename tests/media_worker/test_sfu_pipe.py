"""Cascaded rooms (media_worker/sfu/pipe.py): two Rooms of one conference joined by a pipe.

Two rooms on one event loop stand for two media workers: real UDP sockets on 127.0.0.1
between them, real aiortc peers publishing on room A and subscribing on room B, frames
decoded and their luma checked as in the other SFU tests. A UDP relay between the two ends
plays the network where a test needs loss, capture or injection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Callable

import pylibsrtp
import pytest
from sfu_helpers import Client, connect, wait_for

from media_worker.sfu import NetworkPolicy, PipeError, Room, RoomPipe, pipe_key, rtp
from media_worker.sfu.pipe import KEY_LENGTH, PROFILE

pytestmark = [pytest.mark.media, pytest.mark.timeout(120)]

BRIGHT, DARK = 200, 40


def near(value: int | None, target: int, tolerance: int = 25) -> bool:
    return value is not None and abs(value - target) <= tolerance


class Relay(asyncio.DatagramProtocol):
    """A one-way network hop ``A -> relay -> B``: forwards every datagram to ``target``,
    except RTP that ``drop(ssrc, seq)`` picks (the first time only, as a lossy link would;
    the SRTP header is in the clear). Keeps the RTP datagrams it forwarded, for replays."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.drop: Callable[[int, int], bool] | None = None
        self.dropped: set[tuple[int, int]] = set()
        self.forwarded: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) >= 12 and not 192 <= data[1] <= 223:
            seq, _, ssrc = struct.unpack_from("!HII", data, 2)
            if (ssrc, seq) not in self.dropped and self.drop and self.drop(ssrc, seq):
                self.dropped.add((ssrc, seq))
                return
            if len(self.forwarded) < 200:
                self.forwarded.append(data)
        assert self.transport is not None
        self.transport.sendto(data, self.target)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]


class Cascade:
    """Room A and room B of one conference, a pipe between them, and their clients."""

    def __init__(self) -> None:
        self.key = pipe_key()
        self.a = Room("conf", thumbnails=1, policy=NetworkPolicy.loopback())
        self.b = Room("conf", thumbnails=1, policy=NetworkPolicy.loopback())
        self.clients: list[Client] = []
        self.relay: Relay | None = None
        self.pa: RoomPipe
        self.pb: RoomPipe

    async def open(self, *, relay: bool = False, leads: bool = False) -> None:
        self.pa = await RoomPipe.open(self.a, key=self.key, name="w1", peer_name="w2", leads=leads)
        self.pb = await RoomPipe.open(self.b, key=self.key, name="w2", peer_name="w1")
        target = self.pb.address
        if relay:
            loop = asyncio.get_running_loop()
            self.relay = Relay(target)
            await loop.create_datagram_endpoint(lambda: self.relay, local_addr=("127.0.0.1", 0))
            target = self.relay.address
        self.pa.connect(*target)
        self.pb.connect(*self.pa.address)

    def set_floor(self, pid: str | None) -> None:
        """A slot decision, applied on both workers (as the control plane will)."""
        self.a.set_floor(pid)
        self.b.set_floor(pid)

    async def join(self, room: Room, pid: str, **kwargs) -> Client:
        client = Client(thumbnails=room.thumbnails, **kwargs)
        self.clients.append(client)
        await connect(room, pid, client)
        return client

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
        await self.a.close()
        await self.b.close()
        if self.relay is not None and self.relay.transport is not None:
            self.relay.transport.close()


@contextlib.asynccontextmanager
async def cascade(*, relay: bool = False, leads: bool = False):
    c = Cascade()
    try:
        await c.open(relay=relay, leads=leads)
        yield c
    finally:
        await c.close()


async def receiving(client: Client, frames: int = 10) -> None:
    await wait_for(lambda: client.slot("main") is not None and client.slot("main").frames >= frames)


async def test_a_subscriber_on_room_b_receives_a_publisher_on_room_a():
    async with cascade() as c:
        await c.join(c.a, "a", luma=BRIGHT, tone=8000)
        c.set_floor("a")
        s = await c.join(c.b, "s", luma=None, tone=None)
        await receiving(s)
        await wait_for(
            lambda: s.slot("main", "audio") is not None and s.slot("main", "audio").frames >= 10
        )
        assert near(s.slot("main").luma, BRIGHT)
        assert c.b.stats()["slots"]["main/video"]["source"] == "a"
        assert c.b.stats()["remotes"] == ["a"] and "a" not in c.b.peers
        assert c.a.counters()["pipe_out"] > 0 and c.b.counters()["pipe_in"] > 0
        assert c.b.counters()["pipe_rejected"] == 0
        # B's own publisher is offered back, but nobody on A wants it: nothing crosses
        assert c.pb.stats()["crossing"] == 0


async def test_each_stream_crosses_once_whatever_the_number_of_subscribers():
    async with cascade() as c:
        await c.join(c.a, "a", luma=BRIGHT, tone=8000)
        c.set_floor("a")
        subs = [await c.join(c.b, f"s{i}", luma=None, tone=None) for i in range(2)]
        for s in subs:
            await receiving(s, 20)
        stats = c.pa.stats()
        assert stats["crossing"] == 2  # a's video and audio, not one per subscriber or slot
        peer = c.a.peers["a"]
        published = sum(stream.packets for stream in peer.streams.values())
        # every packet crossed at most once (the remote side fans it out to both)
        assert 0 < c.a.counters()["pipe_out"] <= published
        assert c.b.counters()["packets_out"] > 1.5 * c.b.counters()["pipe_in"]
        for s in subs:
            assert near(s.slot("main").luma, BRIGHT)


async def test_a_key_frame_request_on_room_b_reaches_the_publisher_on_room_a():
    async with cascade() as c:
        a = await c.join(c.a, "a", luma=BRIGHT, tone=None)
        c.set_floor("a")
        s = await c.join(c.b, "s", luma=None, tone=None)
        await receiving(s)
        await asyncio.sleep(1.5)  # past the key-frame managers' intervals on both rooms
        before, pipe_before = a.plis_received(), c.pa.plis_in
        ssrc = c.b.slots["main/video"].ssrc
        dtls = s.pc.getTransceivers()[0].receiver.transport
        await dtls._send_rtp(rtp.build_pli(1234, ssrc))  # RTCP: aiortc protects it as such
        await wait_for(lambda: a.plis_received() > before, timeout=10)
        assert c.pb.plis_out >= 1 and c.pa.plis_in > pipe_before


async def test_a_packet_lost_on_the_pipe_is_recovered_by_nack_from_the_origin():
    async with cascade(relay=True) as c:
        await c.join(c.a, "a", luma=BRIGHT, tone=None)
        c.set_floor("a")
        s = await c.join(c.b, "s", luma=None, tone=None)
        await receiving(s, 5)
        remote = c.b.remotes["a"].video
        assert c.relay is not None and remote is not None
        start = remote.max_seq

        def drop(ssrc: int, seq: int) -> bool:
            count = len(c.relay.dropped)
            return ssrc == remote.ssrc and count < 8 and (seq - start) % 30 == 15

        c.relay.drop = drop
        await wait_for(lambda: len(c.relay.dropped) >= 8, timeout=30)
        await asyncio.sleep(1.0)
        slot = c.b.slots["main/video"]
        lost = {(seq + slot.munger.seq_offset) & 0xFFFF for _, seq in c.relay.dropped}
        got = {q for q, _ in s.rtp_log[slot.ssrc]}
        assert lost <= got, "every packet lost on the pipe reached the subscriber on B"
        assert remote.nack.recovered >= 8 and c.pb.nacks_out >= 1
        assert c.pa.retransmitted >= 8 and c.a.counters()["pipe_retransmitted"] >= 8
        assert near(s.slot("main").luma, BRIGHT)


async def test_garbage_forged_and_replayed_datagrams_are_counted_and_dropped():
    async with cascade(relay=True) as c:
        await c.join(c.a, "a", luma=BRIGHT, tone=None)
        c.set_floor("a")
        s = await c.join(c.b, "s", luma=None, tone=None)
        await receiving(s)
        assert c.relay is not None
        remote = c.b.remotes["a"].video
        # ahead of what arrived: an old index would fail SRTP's replay check before its tag
        ahead = (remote.max_seq + 500) & 0xFFFF
        header = struct.pack("!BBHII", 0x80, 96, ahead, 0, remote.ssrc)
        forger = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=os.urandom(KEY_LENGTH),
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=PROFILE,
            )
        )
        bad = [
            b"\x00" * 40,  # not RTP at all
            b"\x80",  # too short
            header + os.urandom(200),  # RTP in the clear: fails authentication
            forger.protect(header + os.urandom(200)),  # SRTP under another key
            forger.protect_rtcp(rtp.build_pli(1, 2)),  # SRTCP under another key
            c.relay.forwarded[-1],  # a real datagram of the pipe, replayed
        ]
        loop = asyncio.get_running_loop()
        stranger, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            for data in bad:
                stranger.sendto(data, c.pb.address)
            await wait_for(lambda: c.b.counters()["pipe_rejected"] >= len(bad), timeout=5)
        finally:
            stranger.close()
        rejected = c.pb.stats()["rejected"]
        assert rejected == {"malformed": 2, "auth": 3, "replayed": 1}
        assert c.b.counters()["pipe_rejected"] == len(bad)
        frames = s.slot("main").frames
        await wait_for(lambda: s.slot("main").frames > frames + 10)  # undisturbed
        assert near(s.slot("main").luma, BRIGHT)


async def test_closing_a_pipe_withdraws_its_sources_on_the_other_side_and_is_idempotent():
    async with cascade() as c:
        await c.join(c.a, "a", luma=BRIGHT, tone=8000)
        c.set_floor("a")
        s = await c.join(c.b, "s", luma=None, tone=None)
        await receiving(s)
        peer = c.a.peers["a"]
        assert any(slot not in c.a.slots.values() for slot in peer.video.slots)  # the sink
        await c.pa.close()
        await c.pa.close()  # safe twice
        assert c.pa.closed and c.pa.transport is not None and c.pa.transport.is_closing()
        assert all(slot in c.a.slots.values() for slot in peer.video.slots)
        assert c.pa.stats()["crossing"] == 0 and c.a.stats()["pipes"] == []
        # the other end heard the BYE: room B has no remote source and an empty main slot
        await wait_for(lambda: c.b.remotes == {} and c.pb.remote_closed, timeout=5)
        assert c.b.stats()["slots"]["main/video"]["source"] is None
        received = c.b.counters()["pipe_in"]
        await asyncio.sleep(0.5)
        assert c.b.counters()["pipe_in"] == received  # nothing crosses any more
        await c.b.close()  # closes its pipe too
        assert c.pb.closed and c.b.stats()["pipes"] == []


async def test_the_leading_rooms_slot_decisions_are_applied_on_the_other_room():
    async with cascade(leads=True) as c:  # room A's host decides
        await c.join(c.a, "a", luma=BRIGHT, tone=None)
        await c.join(c.b, "b", luma=DARK, tone=8000)
        s = await c.join(c.b, "s", luma=None, tone=None)
        c.a.set_floor("a")  # on A only
        await wait_for(lambda: c.b.floor == "a", timeout=5)
        await wait_for(lambda: s.slot("main") is not None and near(s.slot("main").luma, BRIGHT))
        c.a.set_floor("b")  # a site on B, given the floor on A
        await wait_for(lambda: near(s.slot("main").luma, DARK))
        c.a.set_muted("b", True)  # enforced where b's peer is: on B
        await wait_for(lambda: "b" in c.b.muted and c.b.peers["b"].audio.muted, timeout=5)
        # A's automatic thumbnails (its own publisher first) are B's too, not B's own order
        assert c.a.decisions()["thumbnails"] == ["a"] and c.b.thumbnail_ids == ["a"]
        c.b.set_floor(None)  # a decision taken on B does not stand ...
        await wait_for(lambda: c.b.floor == "b", timeout=5)  # ... the leader's comes back
        assert c.a.floor == "b" and c.pb.stats()["decisions_version"] >= 3


async def test_a_pipe_refuses_a_bad_key_or_names():
    room = Room("conf", policy=NetworkPolicy.loopback())
    try:
        with pytest.raises(PipeError, match="28 bytes"):
            await RoomPipe.open(room, key=b"short", name="w1", peer_name="w2")
        with pytest.raises(PipeError, match="different names"):
            await RoomPipe.open(room, key=pipe_key(), name="w1", peer_name="w1")
        pipe = await RoomPipe.open(room, key=pipe_key(), name="w1", peer_name="w2")
        with pytest.raises(PipeError, match="port"):
            pipe.connect("127.0.0.1", 0)
    finally:
        await room.close()
    assert pipe.closed
