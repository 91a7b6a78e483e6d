"""Join storm: N lightweight aiortc clients join ONE conference through the real WebSocket (Daphne)
and a real Celery-dispatched room (a media worker subprocess); then R rooms × 2 clients at once.

    REDIS_URL=redis://127.0.0.1:6379/9 \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/giaoban_bench_live \
        .venv/bin/python benchmarks/join_storm.py [--clients 210] [--rooms 100] [--port 8791]

PostgreSQL and Redis required (the database is migrated and the Yên Bái tree loaded if empty).
Media flows on 127.0.0.1 only. Clients do not decode: RTP is counted at the DTLS transport and
dropped. One client (the floor holder) publishes a 160×120 VP8 stream at 10 fps; every client
receives the ``main`` and ``chair`` slots. In the rooms phase the first client of each room
publishes (160×120, 5 fps) and the second receives.

Prints ONE JSON line: time until all N are connected, p50/p95 join→first media packet (from the
offer being sent to the first RTP packet on the subscriber), and for the rooms phase the media
worker's resident memory and CPU. Targets (issue 5): 210 joined in ≤ 30 s with p95 ≤ 2 s;
100 rooms on one media worker with ≤ 2 GB resident.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class Socket:
    """A minimal WebSocket client on asyncio streams (RFC 6455, text frames, client masking)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str) -> Socket:
        import base64

        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{port}\r\n\r\n"
            ).encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"handshake failed: {status[:80]!r}")
        return cls(reader, writer)

    async def send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        await self.writer.drain()

    async def recv(self) -> dict | None:
        while True:
            b1, b2 = await self.reader.readexactly(2)
            n = b2 & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(n)
            opcode = b1 & 0x0F
            if opcode == 0x8:
                return None
            if opcode == 0x1:
                return json.loads(payload)

    async def request(self, message: dict, timeout: float = 60) -> dict:
        await self.send(message)
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv()
                if frame is None:
                    raise RuntimeError("socket closed")
                if frame.get("id") == message.get("id"):
                    return frame

    def close(self) -> None:
        self.writer.close()


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from portal.demo import ensure_tree

    ensure_tree()


def prepare(clients: int, rooms: int) -> dict:
    """Users, one big conference and ``rooms`` small ones; join-link tokens for every socket."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from conferences.joinlinks import join_link_token
    from conferences.models import Conference, Invitation, Level, Status
    from portal import services
    from portal.models import Role, Site, Unit

    User = get_user_model()
    province = Unit.objects.get(code="15")
    operator, _ = User.objects.get_or_create(username="bench.operator")
    chair, _ = User.objects.get_or_create(username="bench.chair")
    for user, role in ((operator, Role.OPERATOR), (chair, Role.CHAIR)):
        if not user.memberships.filter(unit=province, role=role).exists():
            services.membership_grant(user=user, unit=province, role=role)
    chair_site = Site.objects.get(key="15-UBND")
    sites = list(
        Site.objects.filter(is_active=True)
        .exclude(pk=chair_site.pk)
        .select_related("unit")
        .order_by("unit__path")
    )
    now = timezone.now()

    def conference(title: str, invited: list) -> Conference:
        conf = Conference.objects.create(
            title=title,
            level=Level.PROVINCE_TO_DISTRICT,
            host_unit=Unit.objects.get(code="15-UBND"),
            chair_site=chair_site,
            planned_start=now,
            planned_end=now + dt.timedelta(hours=2),
            status=Status.SCHEDULED,
        )
        Invitation.objects.bulk_create(
            [Invitation(conference=conf, site=s, unit=s.unit) for s in invited]
        )
        return conf

    big = conference("Benchmark join storm", sites[:clients])
    out = {
        "big": {
            "code": str(big.code),
            "chair": join_link_token(conference=big, user=chair, site=chair_site),
            "sites": [
                (str(s.code), join_link_token(conference=big, user=operator, site=s))
                for s in sites[:clients]
            ],
        },
        "rooms": [],
    }
    for i in range(rooms):
        pair = [sites[(2 * i) % len(sites)], sites[(2 * i + 1) % len(sites)]]
        conf = conference(f"Benchmark room {i}", pair)
        out["rooms"].append(
            {
                "code": str(conf.code),
                "chair": join_link_token(conference=conf, user=chair, site=chair_site),
                "sites": [
                    (str(s.code), join_link_token(conference=conf, user=operator, site=s))
                    for s in pair
                ],
            }
        )
    return out


class Participant:
    """One lightweight aiortc client: optional tiny VP8 publisher, counts RTP without decoding."""

    def __init__(self, *, publish_fps: int | None) -> None:
        from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection

        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.publish_fps = publish_fps
        self.offer_sent = 0.0
        self.connected_at: float | None = None
        self.first_packet_at: float | None = None
        self.packets = 0

    async def offer(self) -> str:
        pc = self.pc
        if self.publish_fps:
            pc.addTransceiver(TinyCamera(self.publish_fps), direction="sendonly")
        else:
            pc.addTransceiver("video", direction="inactive")
        pc.addTransceiver("audio", direction="inactive")
        for kind in ("video", "audio", "video", "audio"):
            pc.addTransceiver(kind, direction="recvonly")

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and self.connected_at is None:
                self.connected_at = time.monotonic()

        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def accept(self, answer: dict) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        dtls = self.pc.getTransceivers()[0].receiver.transport

        async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
            if self.first_packet_at is None:
                self.first_packet_at = time.monotonic()
            self.packets += 1  # dropped: no jitter buffer, no decoder

        dtls._handle_rtp_data = on_rtp

    async def close(self) -> None:
        await self.pc.close()


def TinyCamera(fps: int):
    import fractions

    import av
    from aiortc import VideoStreamTrack

    class _Camera(VideoStreamTrack):
        async def recv(self):
            await asyncio.sleep(1 / fps)
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            self.n = getattr(self, "n", 0) + 1
            frame.pts = self.n * (90000 // fps)
            frame.time_base = fractions.Fraction(1, 90000)
            return frame

    return _Camera()


async def connect(port: int, path: str) -> Socket:
    for attempt in range(5):  # a listen backlog overflow resets the connection: retry shortly
        try:
            return await Socket.connect(port, path)
        except (ConnectionResetError, asyncio.IncompleteReadError):
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def join(
    port: int, code: str, token: str, participant: Participant, attempts: int = 60
) -> Socket:
    ws = await connect(port, f"/ws/conferences/{code}/?t={token}")
    snapshot = await ws.recv()
    assert snapshot and snapshot["type"] == "snapshot", snapshot
    sdp = await participant.offer()
    participant.offer_sent = time.monotonic()
    for attempt in range(attempts):
        reply = await ws.request({"type": "offer", "sdp": sdp, "id": f"o{attempt}"})
        if reply["type"] == "answer":
            await participant.accept(reply)
            return ws
        if reply.get("code") != "media_unavailable":
            raise RuntimeError(reply)
        await asyncio.sleep(0.5)
    raise RuntimeError("no room answered")


async def wait_until(predicate, timeout: float) -> bool:
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return False


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


async def storm(port: int, big: dict, concurrency: int) -> dict:
    chair = await connect(port, f"/ws/conferences/{big['code']}/?t={big['chair']}")
    await chair.recv()
    reply = await chair.request({"type": "start", "id": "start"})
    assert reply["type"] == "ack", reply
    (speaker_site, speaker_token), *rest = big["sites"]
    speaker = Participant(publish_fps=10)
    sockets = [await join(port, big["code"], speaker_token, speaker)]
    reply = await chair.request({"type": "floor.give", "site": speaker_site, "id": "floor"})
    assert reply["type"] == "ack", reply
    viewers = [Participant(publish_fps=None) for _ in rest]
    started = time.monotonic()
    gate = asyncio.Semaphore(concurrency)

    async def gated(token: str, p: Participant) -> Socket:
        async with gate:
            return await join(port, big["code"], token, p)

    results = await asyncio.gather(
        *(gated(token, p) for (_, token), p in zip(rest, viewers, strict=True)),
        return_exceptions=True,
    )
    sockets += [r for r in results if isinstance(r, Socket)]
    errors = [repr(r) for r in results if not isinstance(r, Socket)]
    await wait_until(lambda: all(v.connected_at for v in viewers), timeout=120)
    await wait_until(lambda: all(v.first_packet_at for v in viewers), timeout=30)
    connected = [v.connected_at for v in viewers if v.connected_at]
    firsts = [v.first_packet_at - v.offer_sent for v in viewers if v.first_packet_at]
    out = {
        "clients": len(viewers) + 1,
        "concurrency": concurrency,
        "joined": len(connected) + 1,
        "errors": errors[:3],
        "all_connected_s": round(max(connected) - started, 2)
        if len(connected) == len(viewers)
        else None,
        "join_to_first_packet_p50_s": pct(firsts, 0.5),
        "join_to_first_packet_p95_s": pct(firsts, 0.95),
    }
    for p in [speaker, *viewers]:
        await p.close()
    for ws in [*sockets, chair]:
        ws.close()
    return out


async def rooms_phase(port: int, rooms: list[dict], worker_pid: int) -> dict:
    import psutil

    participants, sockets = [], []
    for room in rooms:
        chair = await connect(port, f"/ws/conferences/{room['code']}/?t={room['chair']}")
        await chair.recv()
        await chair.request({"type": "start", "id": "start"})
        (site_a, token_a), (_, token_b) = room["sites"]
        a, b = Participant(publish_fps=5), Participant(publish_fps=None)
        sockets += [chair, await join(port, room["code"], token_a, a)]
        await chair.request({"type": "floor.give", "site": site_a, "id": "floor"})
        sockets.append(await join(port, room["code"], token_b, b))
        participants += [a, b]
    await wait_until(lambda: all(p.connected_at for p in participants), timeout=120)
    process = psutil.Process(worker_pid)
    process.cpu_percent(None)
    await asyncio.sleep(10)
    receivers = participants[1::2]
    out = {
        "rooms": len(rooms),
        "connected": sum(1 for p in participants if p.connected_at),
        "receiving": sum(1 for p in receivers if p.packets > 0),
        "media_worker_rss_mb": round(process.memory_info().rss / 2**20, 1),
        "media_worker_cpu_percent": round(process.cpu_percent(None), 1),
    }
    for p in participants:
        await p.close()
    for ws in sockets:
        ws.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=210)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--port", type=int, default=8791)
    # 10 joins in flight already saturates this 2-core machine (all 209 connect fastest, ~15 s);
    # at 50 the generator's own DTLS/ICE work queues on the same cores, throughput drops and
    # join→first packet mostly measures that queue (docs/benchmarks.md shows both).
    parser.add_argument(
        "--concurrency", type=int, default=10, help="sockets opening/offering at once"
    )
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith(
        "postgres"
    ):
        print(json.dumps({"error": "set REDIS_URL and DATABASE_URL (PostgreSQL)"}))
        return 2
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    setup_django()
    data = prepare(args.clients, args.rooms)
    var = Path(tempfile.mkdtemp(prefix="giaoban-bench-"))
    env = {
        **os.environ,
        "MEDIA_ICE_ADDRESSES": "127.0.0.1",
        "MEDIA_ICE_ACCEPT_NETWORKS": "127.0.0.0/8",
        "GIAOBAN_VAR_DIR": str(var),
        "LOG_LEVEL": "WARNING",
    }
    logs = {name: open(var / f"{name}.log", "wb") for name in ("web", "media")}
    procs = {
        "web": subprocess.Popen(
            [
                str(ROOT / ".venv/bin/daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(args.port),
                "portal.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=logs["web"],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        "media": subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "portal",
                "worker",
                "-Q",
                "media",
                "--pool",
                "solo",
                "-n",
                "bench-media@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env={**env, "LOG_LEVEL": "INFO"},
            stdout=logs["media"],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    }
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        for _ in range(300):
            if b"media runner started" in (var / "media.log").read_bytes():
                break
            time.sleep(0.2)
        result = {"benchmark": "join_storm"}
        result["storm"] = asyncio.run(storm(args.port, data["big"], args.concurrency))
        if args.rooms:
            result["rooms_phase"] = asyncio.run(
                rooms_phase(args.port, data["rooms"], procs["media"].pid)
            )
        print(json.dumps(result))
        return 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs.values():
            log.close()


if __name__ == "__main__":
    sys.exit(main())
