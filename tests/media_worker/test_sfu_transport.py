"""The SFU's datagram sender: fast path, ordered fallback, bounded backlog."""

from __future__ import annotations

import asyncio
import socket

from media_worker.sfu.transport import DatagramSender


async def test_backlog_of_a_peer_that_does_not_read_is_bounded_and_counted(tmp_path):
    """A receiver that stops reading fills the kernel queue; the loop queue stops at the limit.

    AF_UNIX datagram sockets refuse with EAGAIN once the receiver's queue is full (UDP on
    loopback drops at the receiver instead), so the fallback path really runs here.
    """
    path = str(tmp_path / "rx.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.setblocking(False)
    sender_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender_sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sender_sock)
    try:
        send = DatagramSender(transport, limit=64 * 1024)
        packet = bytes(1200)
        for _ in range(2000):  # 2.4 MB at a receiver that reads nothing
            send(packet, path)
        queued = transport.get_write_buffer_size()
        assert 0 < queued <= 64 * 1024
        assert send.dropped >= 2000 - 64 * 1024 // 1200 - 300  # the kernel queue takes a few
        # the receiver reads again: the backlog drains in order and the fast path resumes
        received = 0
        for _ in range(400):
            try:
                while True:
                    receiver.recv(2048)
                    received += 1
            except BlockingIOError:
                pass
            if not transport.get_write_buffer_size():
                break
            await asyncio.sleep(0.005)
        assert transport.get_write_buffer_size() == 0
        dropped = send.dropped
        send(packet, path)
        assert send.dropped == dropped and not send._backlog
        assert received + send.dropped <= 2000
    finally:
        transport.close()
        receiver.close()
