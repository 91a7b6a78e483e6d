"""ICE-TCP (``NetworkPolicy.tcp_ports``, ``MEDIA_TCP_PORT``): a passive TCP candidate on one
listening port per worker; Chromium connects over it when UDP is dropped."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct

import pytest
from aioice import stun
from sfu_helpers import Client, connect, wait_for
from test_sfu_udpmux import settings_probe

from media_worker.sfu import NetworkPolicy, Room, icetcp, udpmux


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def policy_with_tcp() -> NetworkPolicy:
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    return dataclasses.replace(NetworkPolicy.loopback(), udp_ports=(udp, udp), tcp_ports=(tcp, tcp))


def test_ice_tcp_needs_one_port_mode():
    with pytest.raises(ValueError, match="needs udp_ports"):
        NetworkPolicy(tcp_ports=(4443, 4443))
    with pytest.raises(ValueError, match="tcp_ports"):
        NetworkPolicy(udp_ports=(4000, 4000), tcp_ports=(9, 1))


async def _tcp_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new TCP connection to the SFU; what comes back before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def _framed(message: stun.Message) -> bytes:
    data = bytes(message)
    return struct.pack("!H", len(data)) + data


@pytest.mark.media
@pytest.mark.timeout(60)
async def test_answers_offer_a_passive_tcp_candidate_and_strangers_are_refused():
    policy = policy_with_tcp()
    room = Room("icetcp", thumbnails=0, policy=policy)
    client = Client(thumbnails=0)
    try:
        answer = await connect(room, "a", client)
        await wait_for(lambda: room.peers["a"].connected)  # over UDP: aiortc has no ICE-TCP
        tcp_port = policy.tcp_ports[0]
        lines = [ln for ln in answer["sdp"].splitlines() if ln.startswith("a=candidate:")]
        assert any(
            " tcp " in ln and f"127.0.0.1 {tcp_port} typ host tcptype passive" in ln for ln in lines
        ), lines
        (mux,) = icetcp.open_muxes()
        # garbage as the first frame: closed, counted
        assert await _tcp_exchange(tcp_port, b"\x00\x05hello") == b""
        assert mux.counters["not_stun"] == 1
        # a binding request for an unknown ufrag, then one with a wrong password
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        request.attributes["USERNAME"] = "nobodyhere123456:abcd"
        request.add_message_integrity(b"x" * 22)
        assert await _tcp_exchange(tcp_port, _framed(request)) == b""
        sfu_ufrag = room.peers["a"].transport.transport.iceGatherer._connection.local_username
        forged = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        forged.attributes["USERNAME"] = f"{sfu_ufrag}:abcd"
        forged.add_message_integrity(b"wrong-password-000000000")
        assert await _tcp_exchange(tcp_port, _framed(forged)) == b""
        assert mux.counters["unknown_ufrag"] == 1 and mux.counters["unauthenticated"] == 1
        assert mux.counters["bound"] == 0 and not mux.unbound
        # several bad frames in one segment: one connection closed, counted once
        connections = mux.counters["connections"]
        assert await _tcp_exchange(tcp_port, b"\x00\x05hello" * 3) == b""
        assert mux.counters["not_stun"] == 2 and mux.counters["connections"] == connections + 1
    finally:
        await client.close()
        await room.close()
    await asyncio.sleep(0.1)
    assert icetcp.open_muxes() == [] and udpmux.open_muxes() == []


@pytest.mark.browser
@pytest.mark.media
@pytest.mark.timeout(180)
async def test_chromium_connects_over_ice_tcp_when_udp_is_dropped(chromium_path, monkeypatch):
    """The firewall: every UDP datagram reaching the SFU's shared socket is dropped."""
    from playwright.async_api import async_playwright
    from test_sfu_browser import open_page

    dropped = []
    monkeypatch.setattr(
        udpmux.UdpMux, "datagram_received", lambda self, data, addr: dropped.append(addr)
    )
    room = Room("icetcp-browser", thumbnails=0, policy=policy_with_tcp())
    console: list[str] = []
    browsers = []
    try:
        async with async_playwright() as p:
            for pid, publish in (("pub", True), ("sub", False)):
                browser, page = await open_page(p, chromium_path, [], console)
                browsers.append((browser, page))
                offer = await page.evaluate(
                    "o => window.sfuOffer(o)",
                    {"publish": publish, "thumbnails": 0, "maxBitrate": 500_000},
                )
                assert " tcp " in offer, "Chromium offered no TCP candidate"
                answer = await room.join(pid, {"type": "offer", "sdp": offer})
                await page.evaluate(
                    "a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": 500_000}
                )
                if publish:
                    room.set_floor(pid)
                    main_mid = None
                else:
                    main_mid = answer["slots"]["main"]["video_mid"]
            await wait_for(
                lambda: all(room.peers[pid].connected for pid in ("pub", "sub")), timeout=60
            )
            for pid in ("pub", "sub"):
                pair = room.peers[pid].transport.transport.iceGatherer._connection._nominated[1]
                assert isinstance(pair.protocol, icetcp.TcpProtocol), pair
            sub = browsers[1][1]
            frames = 0
            for _ in range(200):
                stats = await sub.evaluate("m => window.sfuInbound(m)", main_mid)
                frames = stats["frames"] if stats else 0
                if frames >= 10:
                    break
                await asyncio.sleep(0.1)
            assert frames >= 10, (room.stats()["participants"], console[-10:])
            assert dropped, "the UDP 'firewall' saw nothing: the test proves nothing"
            (mux,) = icetcp.open_muxes()
            assert mux.counters["bound"] >= 2
    finally:
        for browser, _ in browsers:
            try:
                await browser.close()
            except Exception:  # the browser may already be gone
                pass
        await room.close()


def test_media_tcp_port_setting_needs_media_udp_port():
    expression = "settings.MEDIA_UDP_PORTS, settings.MEDIA_TCP_PORTS"
    ok = settings_probe(expression, MEDIA_UDP_PORT="40000", MEDIA_TCP_PORT="4443")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == "(40000, 40000) (4443, 4443)"
    alone = settings_probe(expression, MEDIA_UDP_PORT="", MEDIA_TCP_PORT="4443")
    assert alone.returncode != 0 and "MEDIA_TCP_PORT (ICE-TCP) needs MEDIA_UDP_PORT" in alone.stderr
