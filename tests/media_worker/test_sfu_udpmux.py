"""One-port mode (``NetworkPolicy.udp_ports``, ``MEDIA_UDP_PORT``): real aiortc peers on
127.0.0.1 share one UDP socket of the SFU, demultiplexed by ICE ufrag and remote address."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys

import aioice
import pytest
from aioice import stun
from sfu_helpers import Client, connect, wait_for

from media_worker.sfu import NetworkPolicy, Room, SignallingError, udpmux

BRIGHT, MID, DARK = 200, 120, 40


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sockets_bound_on(port: int) -> int:
    """UDP sockets of this process's network namespace bound on ``port`` (/proc/net/udp)."""
    count = 0
    with open("/proc/self/net/udp") as f:
        next(f)
        for line in f:
            local = line.split()[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def sdp_value(sdp: str, key: str) -> str:
    return next(ln.split(":", 1)[1] for ln in sdp.splitlines() if ln.startswith(f"a={key}:"))


def sfu_connection(room: Room, pid: str):
    return room.peers[pid].transport.transport.iceGatherer._connection


@pytest.fixture
async def oneport():
    port = free_udp_port()
    policy = dataclasses.replace(NetworkPolicy.loopback(), udp_ports=(port, port))
    room = Room("oneport", thumbnails=2, policy=policy)
    clients: list[Client] = []
    room.port = port
    room.clients = clients
    yield room
    for c in clients:
        await c.close()
    await room.close()


async def join(room: Room, pid: str, **kwargs) -> Client:
    client = Client(thumbnails=room.thumbnails, **kwargs)
    room.clients.append(client)
    await connect(room, pid, client)
    return client


def test_aioice_is_the_version_udpmux_was_written_against():
    """Fails loudly on an aioice upgrade: udpmux subclasses StunProtocol and sets private
    Connection attributes (see the module docstring)."""
    assert aioice.__version__ == udpmux.AIOICE_VERSION
    udpmux.check_aioice()


def test_policy_rejects_a_bad_port_range():
    with pytest.raises(ValueError, match="udp_ports"):
        NetworkPolicy(udp_ports=(5000, 4000))
    with pytest.raises(ValueError, match="udp_ports"):
        NetworkPolicy(udp_ports=(0, 10))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "None"), ("40000", "(40000, 40000)"), ("40000-40003", "(40000, 40003)")],
)
def test_media_udp_port_setting(value, expected):
    out = _settings_probe(value)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == expected


@pytest.mark.parametrize("value", ["abc", "70000", "4000-3000", "40000-"])
def test_media_udp_port_setting_rejects_garbage(value):
    out = _settings_probe(value)
    assert out.returncode != 0
    assert "MEDIA_UDP_PORT must be a port" in out.stderr


def settings_probe(expression: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``print(<expression>)`` after loading Django's settings in a fresh interpreter with
    ``env`` set (a settings check fails that import, as it would a worker's start)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    code = "import django; django.setup(); from django.conf import settings; "
    code += f"print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def _settings_probe(value: str) -> subprocess.CompletedProcess[str]:
    return settings_probe("settings.MEDIA_UDP_PORTS", MEDIA_UDP_PORT=value)


@pytest.mark.media
@pytest.mark.timeout(120)
async def test_three_peers_share_one_udp_socket_and_receive_each_other(oneport):
    room = oneport
    a = await join(room, "a", luma=BRIGHT, tone=8000)
    b = await join(room, "b", luma=MID)
    c = await join(room, "c", luma=DARK)
    room.set_floor("a")
    room.set_thumbnails(["b", "c"])
    await wait_for(
        lambda: all(
            cl.slot(s) is not None and cl.slot(s).frames >= 5
            for cl, slots in ((a, ("thumb0", "thumb1")), (b, ("main", "thumb1")), (c, ("main",)))
            for s in slots
        ),
        timeout=30,
    )
    assert abs(b.slot("main").luma - BRIGHT) < 25 and abs(a.slot("thumb1").luma - DARK) < 25
    await wait_for(lambda: b.slot("main", "audio") and b.slot("main", "audio").frames >= 10)

    # exactly one socket: every peer's protocols and nominated pair use the mux's socket
    muxes = udpmux.open_muxes()
    assert len(muxes) == 1 and muxes[0].port == room.port
    shared = muxes[0].transport.get_extra_info("socket").fileno()
    for pid in "abc":
        connection = sfu_connection(room, pid)
        assert all(isinstance(p, udpmux.MuxedProtocol) for p in connection._protocols)
        assert len(connection._protocols) == 1
        pair = connection._nominated[1]
        assert pair.protocol.transport.get_extra_info("socket").fileno() == shared
        assert pair.local_addr == ("127.0.0.1", room.port)
    assert sockets_bound_on(room.port) == 1
    # the answers offer the shared port, and each peer got its own ufrag
    ufrags = set()
    for cl in (a, b, c):
        candidates = [ln for ln in cl.answer["sdp"].splitlines() if ln.startswith("a=candidate:")]
        assert candidates and all(f" 127.0.0.1 {room.port} typ host" in ln for ln in candidates)
        ufrags.add(sdp_value(cl.answer["sdp"], "ice-ufrag"))
    assert len(ufrags) == 3 and all(len(u) == udpmux.UFRAG_LENGTH for u in ufrags)
    assert set(muxes[0].by_ufrag) == ufrags
    assert muxes[0].counters["unknown_address"] == 0

    # one peer leaving does not disturb the others
    b_connection = sfu_connection(room, "b")
    b_ufrag = b_connection.local_username
    await room.leave("b")
    before = (a.slot("thumb0").frames, c.slot("main").frames)
    await wait_for(
        lambda: a.slot("thumb1").frames > before[0] + 10 and c.slot("main").frames > before[1] + 10
    )
    assert b_ufrag not in muxes[0].by_ufrag and len(muxes[0].by_ufrag) == 2
    assert all(p is not None for p in muxes[0].by_address.values())
    assert udpmux.open_muxes() == muxes and sockets_bound_on(room.port) == 1

    # the last peers leaving close the socket: a worker between rooms holds no port
    await room.leave("a")
    await room.leave("c")
    await asyncio.sleep(0.1)
    assert udpmux.open_muxes() == [] and sockets_bound_on(room.port) == 0


def _binding_request(username: str, password: str | None) -> stun.Message:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = username
    request.attributes["PRIORITY"] = 1853824767
    request.attributes["ICE-CONTROLLING"] = 12345
    if password is not None:
        request.add_message_integrity(password.encode("utf8"))
    request.add_fingerprint()
    return request


async def _exchange(sock: socket.socket, data: bytes, port: int, wait: float = 0.5):
    """Send ``data`` to the SFU's port; the reply, or None after ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    sock.sendto(data, ("127.0.0.1", port))
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 2048), wait)
    except TimeoutError:
        return None


@pytest.mark.media
@pytest.mark.timeout(120)
async def test_strangers_are_dropped_and_counted_and_a_moved_peer_is_learnt(oneport):
    room = oneport
    await join(room, "a", luma=BRIGHT)
    c = await join(room, "c", luma=None, tone=None)
    room.set_floor("a")
    await wait_for(lambda: c.slot("main") is not None and c.slot("main").frames >= 5)
    (mux,) = udpmux.open_muxes()
    sfu_ufrag = sdp_value(c.answer["sdp"], "ice-ufrag")
    sfu_pwd = sdp_value(c.answer["sdp"], "ice-pwd")
    client_ufrag = sdp_value(c.pc.localDescription.sdp, "ice-ufrag")

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.setblocking(False)
        # DTLS/SRTP-looking bytes from an address no binding request came from
        before = dict(mux.counters)
        assert await _exchange(stranger, b"\x16\xfe\xfd" + bytes(60), room.port) is None
        assert await _exchange(stranger, b"\x80\x60" + bytes(100), room.port) is None
        assert mux.counters["unknown_address"] == before["unknown_address"] + 2
        # a binding request for a ufrag no peer has
        unknown = _binding_request(f"nobodyhere123456:{client_ufrag}", sfu_pwd)
        assert await _exchange(stranger, bytes(unknown), room.port) is None
        assert mux.counters["unknown_ufrag"] == before["unknown_ufrag"] + 1
        # a peer's ufrag with the wrong password: no answer, and the address is not learnt
        forged = _binding_request(f"{sfu_ufrag}:{client_ufrag}", "wrong-password-000000000")
        assert await _exchange(stranger, bytes(forged), room.port) is None
        assert mux.counters["unauthenticated"] == before["unauthenticated"] + 1
        # a STUN response to no request of ours
        response = stun.Message(
            message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE
        )
        assert await _exchange(stranger, bytes(response), room.port) is None
        assert mux.counters["unknown_transaction"] == before["unknown_transaction"] + 1
        stranger_addr = stranger.getsockname()
        assert stranger_addr not in mux.by_address

        # the same peer from a new address (a new candidate pair): with the right
        # credentials it is answered from the shared port and the address is learnt
        moved = _binding_request(f"{sfu_ufrag}:{client_ufrag}", sfu_pwd)
        reply = await _exchange(stranger, bytes(moved), room.port, wait=5)
        assert reply is not None
        message = stun.parse_message(reply)
        assert message.message_class == stun.Class.RESPONSE
        assert message.transaction_id == moved.transaction_id
        assert message.attributes["XOR-MAPPED-ADDRESS"] == stranger_addr
        assert message.check_message_integrity(sfu_pwd.encode("utf8"))
        protocol = mux.by_address[stranger_addr]
        assert protocol.receiver is sfu_connection(room, "c")

    # nobody was disturbed: both addresses of c are known, media still flows
    frames = c.slot("main").frames
    await wait_for(lambda: c.slot("main").frames > frames + 10)
    assert len(mux.by_ufrag) == 2
    # the process totals (exported as metrics) outlive the socket, which closes with the room
    totals = udpmux.counters()
    assert totals["unknown_ufrag"] >= before["unknown_ufrag"] + 1
    await room.leave("a")
    await room.leave("c")
    await asyncio.sleep(0.1)
    assert udpmux.open_muxes() == []
    after = udpmux.counters()
    assert all(
        after[k] >= totals[k] for k in ("unknown_address", "unknown_ufrag", "unauthenticated")
    )


@pytest.mark.media
@pytest.mark.timeout(120)
async def test_a_reconnecting_peer_gets_a_new_ufrag_on_the_same_socket(oneport):
    """The project's ICE restart: a browser re-offers as a new peer (``Room.join`` replaces
    it); its new socket and ufrag work on the same port, the old ones are forgotten."""
    room = oneport
    a = await join(room, "a", luma=BRIGHT)
    c = await join(room, "c", luma=None, tone=None)
    room.set_floor("a")
    await wait_for(lambda: c.slot("main") is not None and c.slot("main").frames >= 5)
    (mux,) = udpmux.open_muxes()
    old_ufrag = sfu_connection(room, "c").local_username
    old_addresses = set(mux.by_address) - set(
        sfu_connection(room, "a")._protocols[0].remote_addresses
    )
    await c.close()
    c2 = await join(room, "c", luma=None, tone=None)
    await wait_for(lambda: c2.slot("main") is not None and c2.slot("main").frames >= 5)
    assert udpmux.open_muxes() == [mux] and sockets_bound_on(room.port) == 1
    assert (
        old_ufrag not in mux.by_ufrag and sfu_connection(room, "c").local_username in mux.by_ufrag
    )
    assert not old_addresses & set(mux.by_address)
    assert room.peers["a"].connected and a.pc.connectionState == "connected"


@pytest.mark.media
@pytest.mark.timeout(60)
async def test_a_port_in_use_fails_the_join_with_a_clear_error(oneport):
    room = oneport
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", room.port))
        client = Client(thumbnails=room.thumbnails)
        room.clients.append(client)
        with pytest.raises(SignallingError) as info:
            await room.join("a", await client.offer())
        assert info.value.code == "negotiation_failed"
        assert f"port(s) {room.port}" in str(info.value)
    assert udpmux.open_muxes() == []


@pytest.mark.media
@pytest.mark.timeout(60)
async def test_a_port_in_use_on_a_second_address_leaves_no_socket_open():
    """The first address's socket is bound and the connection attached before the second
    address fails: the failed join must not leave that attachment (and so the socket) behind."""
    port = free_udp_port()
    policy = dataclasses.replace(
        NetworkPolicy.loopback(), local_addresses=("127.0.0.1", "127.0.0.2"), udp_ports=(port, port)
    )
    room = Room("oneport-two", thumbnails=0, policy=policy)
    client = Client(thumbnails=0)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
            squatter.bind(("127.0.0.2", port))
            with pytest.raises(SignallingError) as info:
                await room.join("a", await client.offer())
            assert info.value.code == "negotiation_failed"
            assert f"127.0.0.2 on port(s) {port}" in str(info.value)
        await asyncio.sleep(0.1)
        assert udpmux.open_muxes() == [] and sockets_bound_on(port) == 0
    finally:
        await client.close()
        await room.close()
