"""Is batching sends on one-port mode's shared socket worth it? ``sendto`` vs ``sendmmsg``.

    .venv/bin/python benchmarks/sendmmsg.py [--packets 200000] [--batch 32] [--size 1222]

Python's standard library has no ``sendmmsg`` and no well-kept PyPI package offers it, so this
calls glibc's through ``ctypes`` with the message headers built once and only the bytes copied
per packet -- the best a small extension could do minus ctypes' own call cost. It sends
``--packets`` datagrams of ``--size`` bytes (a video RTP packet after SRTP) from one UDP
socket to a loopback sink that is drained by nobody (the kernel drops what overflows, as it
costs the sender the same), ten peers' addresses in turn, and reports the CPU time per packet
of each way. One JSON line.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import socket
import time


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


class _SockaddrIn(ctypes.Structure):
    _fields_ = [
        ("sin_family", ctypes.c_ushort),
        ("sin_port", ctypes.c_uint16),
        ("sin_addr", ctypes.c_uint8 * 4),
        ("sin_zero", ctypes.c_uint8 * 8),
    ]


def _sockaddr(host: str, port: int) -> _SockaddrIn:
    addr = _SockaddrIn()
    addr.sin_family = socket.AF_INET
    addr.sin_port = socket.htons(port)
    addr.sin_addr[:] = list(socket.inet_aton(host))
    return addr


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(packets: int, batch: int, size: int) -> dict[str, object]:
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(10)]
    for s in sinks:
        s.bind(("127.0.0.1", 0))
    addrs = [s.getsockname() for s in sinks]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    payload = bytes(range(256)) * (size // 256 + 1)
    payload = payload[:size]

    start = cpu()
    wall = time.perf_counter()
    sendto = out.sendto
    for i in range(packets):
        sendto(payload, addrs[i % 10])
    sendto_cpu = cpu() - start
    sendto_wall = time.perf_counter() - wall

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    sendmmsg = libc.sendmmsg
    sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint, ctypes.c_int]
    names = [_sockaddr(*a) for a in addrs]
    buffers = [ctypes.create_string_buffer(size) for _ in range(batch)]
    iovs = (_Iovec * batch)()
    msgs = (_Mmsghdr * batch)()
    for j in range(batch):
        iovs[j].iov_base = ctypes.cast(buffers[j], ctypes.c_void_p)
        iovs[j].iov_len = size
        msgs[j].msg_hdr.msg_iov = ctypes.pointer(iovs[j])
        msgs[j].msg_hdr.msg_iovlen = 1
        msgs[j].msg_hdr.msg_namelen = ctypes.sizeof(_SockaddrIn)
    fd = out.fileno()
    sent = 0
    start = cpu()
    wall = time.perf_counter()
    i = 0
    while i < packets:
        n = min(batch, packets - i)
        for j in range(n):  # what a batching sender does per packet: copy it, name its peer
            ctypes.memmove(buffers[j], payload, size)
            msgs[j].msg_hdr.msg_name = ctypes.addressof(names[(i + j) % 10])
        got = sendmmsg(fd, msgs, n, 0)
        if got < 0:
            raise OSError(ctypes.get_errno(), "sendmmsg failed")
        sent += got
        i += n
    mmsg_cpu = cpu() - start
    mmsg_wall = time.perf_counter() - wall
    for s in [*sinks, out]:
        s.close()
    return {
        "packets": packets,
        "size": size,
        "batch": batch,
        "sendto_us_per_packet": round(sendto_cpu / packets * 1e6, 2),
        "sendmmsg_ctypes_us_per_packet": round(mmsg_cpu / packets * 1e6, 2),
        "sendto_wall_us_per_packet": round(sendto_wall / packets * 1e6, 2),
        "sendmmsg_wall_us_per_packet": round(mmsg_wall / packets * 1e6, 2),
        "sendmmsg_sent": sent,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=1222)
    args = parser.parse_args()
    if args.packets < 1 or not 1 <= args.batch <= 1024 or not 12 <= args.size <= 1400:
        parser.error("--packets >= 1, --batch 1-1024, --size 12-1400")
    print(json.dumps(run(args.packets, args.batch, args.size)))


if __name__ == "__main__":
    main()
