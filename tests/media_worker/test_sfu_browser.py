"""Two headless Chromiums through a Room: Full HD camera in, Full HD out.

Signalling goes through ``page.evaluate`` (SDP strings back and forth); the page is
served by Playwright's request interception, so no HTTP server runs. Media stays on
127.0.0.1: the SFU offers and accepts loopback only, Chromium gets
``--allow-loopback-in-peer-connection`` and no mDNS.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from media_worker.sfu import NetworkPolicy, Room

pytestmark = [pytest.mark.browser, pytest.mark.media, pytest.mark.timeout(180)]

W, H, FPS = 1920, 1080, 30
PAGE_URL = "http://localhost/sfu-test.html"
STATIC = Path(__file__).resolve().parents[2] / "static" / "conferences" / "live"

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream=fps=30",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    # Chromium keeps only the last --disable-features: everything goes in this one.
    "--disable-features=WebRtcHideLocalIpsWithMdns,Translate,MediaRouter,OptimizationHints",
]

PAGE = """<!doctype html><html><body><div id="videos"></div>
<script type="module">
// Written from docs/sfu.md: the client offers; m-lines in the SFU's fixed order.
// offerOpusNack: the pages' own audio-NACK munging, served from static/ (see open_page)
import { offerOpusNack } from "/static/conferences/live/media.js";
const state = window.sfu = { pc: null, tracks: {}, ready: false, log: [] };
window.sfuOffer = async ({ publish, thumbnails, maxBitrate, encodings, opusNack }) => {
  const pc = state.pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
  pc.oniceconnectionstatechange = () => state.log.push("ice " + pc.iceConnectionState);
  pc.ontrack = (e) => {
    state.tracks[e.transceiver.mid] = e.track;
    const v = document.createElement("video");
    v.autoplay = true; v.muted = true; v.playsInline = true;
    v.srcObject = new MediaStream([e.track]);
    document.getElementById("videos").appendChild(v);
  };
  if (publish) {
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: 1920, height: 1080, frameRate: 30 }, audio: true });
    pc.addTransceiver(media.getVideoTracks()[0],
      { direction: "sendonly", sendEncodings: encodings || [{ maxBitrate }] });
    pc.addTransceiver(media.getAudioTracks()[0], { direction: "sendonly" });
  } else {
    pc.addTransceiver("video", { direction: "inactive" });
    pc.addTransceiver("audio", { direction: "inactive" });
  }
  for (const kind of ["video", "audio", "video", "audio"]) pc.addTransceiver(kind, { direction: "recvonly" });
  for (let i = 0; i < thumbnails; i++) pc.addTransceiver("video", { direction: "recvonly" });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(opusNack ? { type: "offer", sdp: offerOpusNack(offer.sdp) } : offer);
  // No trickle: wait for gathering to finish (bounded).
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const t = setTimeout(resolve, 5000);
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); } };
  });
  return pc.localDescription.sdp;
};
window.sfuAccept = async ({ sdp, maxBitrate }) => {
  const pc = state.pc;
  await pc.setRemoteDescription({ type: "answer", sdp });
  const sender = pc.getTransceivers()[0].sender;
  if (sender.track) {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    if (params.encodings && params.encodings.length === 1) params.encodings[0].maxBitrate = maxBitrate;
    await sender.setParameters(params);
  }
  state.ready = true;
};
// simulcast: the SFU's publish_layers event, as the join page applies it
window.sfuLayers = async (layers) => {
  const sender = state.pc.getTransceivers()[0].sender;
  const params = sender.getParameters();
  for (const e of params.encodings) if (e.rid && e.rid in layers) e.active = !!layers[e.rid];
  await sender.setParameters(params);
  return params.encodings.map((e) => [e.rid, e.active]);
};
window.sfuOutboundLayers = async () => {
  const out = {};
  for (const r of (await state.pc.getStats()).values()) {
    if (r.type === "outbound-rtp" && r.kind === "video")
      out[r.rid || "-"] = { width: r.frameWidth || 0, bytes: r.bytesSent, active: r.active };
  }
  return out;
};
window.sfuInbound = async (mid) => {
  const stats = await state.pc.getStats();
  for (const r of stats.values()) {
    if (r.type === "inbound-rtp" && r.kind === "video" && r.mid === mid) {
      return { width: r.frameWidth || 0, height: r.frameHeight || 0, bytes: r.bytesReceived,
               frames: r.framesDecoded || 0, t: r.timestamp };
    }
  }
  return null;
};
window.sfuRepair = async (mid) => {
  const stats = await state.pc.getStats();
  for (const r of stats.values()) {
    if (r.type === "inbound-rtp" && r.kind === "video" && r.mid === mid) {
      return { nacks: r.nackCount || 0, lost: r.packetsLost || 0,
               rtx: r.retransmittedPacketsReceived ?? null, frames: r.framesDecoded || 0,
               packets: r.packetsReceived || 0 };
    }
  }
  return null;
};
window.sfuAudioOut = async () => {
  for (const r of (await state.pc.getStats()).values()) {
    if (r.type === "outbound-rtp" && r.kind === "audio")
      return { packets: r.packetsSent, retransmitted: r.retransmittedPacketsSent ?? null };
  }
  return null;
};
window.sfuOutbound = async () => {
  const stats = await state.pc.getStats();
  for (const r of stats.values()) {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      return { width: r.frameWidth || 0, height: r.frameHeight || 0, bytes: r.bytesSent,
               fps: r.framesPerSecond || 0, limit: r.qualityLimitationReason };
    }
  }
  return null;
};
</script></body></html>"""


def write_y4m(path: Path, frames: int = 30) -> None:
    """A one-second Full HD I420 loop of random 16x8 luma blocks that change every frame.

    Busy enough that the encoder needs its whole bitrate, cheap enough for software VP8 on
    a shared 2-core machine (pure noise drops Chromium's encoder to ~1 fps).
    """
    bw, bh = 16, 8
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n")
            for _ in range(H // bh):
                row = bytes(b for b in os.urandom(W // bw) for _ in range(bw))
                f.write(row * bh)
            for _ in range(2):
                f.write(bytes([128]) * (W * H // 4))


async def open_page(playwright, chromium_path: str, extra: list[str], console: list[str]):
    browser = await playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS + extra
    )
    page = await browser.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))

    async def serve(route):
        await route.fulfill(status=200, content_type="text/html", body=PAGE)

    async def static(route):
        name = route.request.url.rsplit("/", 1)[-1]
        path = STATIC / name
        if path.suffix != ".js" or not path.is_file():
            await route.fulfill(status=404, body="")
            return
        await route.fulfill(status=200, content_type="text/javascript", body=path.read_text())

    await page.route(PAGE_URL, serve)
    await page.route("http://localhost/static/conferences/live/*", static)
    await page.goto(PAGE_URL)
    await page.wait_for_function("() => typeof window.sfuOffer === 'function'", timeout=30_000)
    return browser, page


async def test_full_hd_camera_reaches_another_browser_at_full_hd(chromium_path, tmp_path):
    from playwright.async_api import async_playwright

    clip = tmp_path / "camera.y4m"
    write_y4m(clip)
    # 3.5 Mbit/s start hint (default 2.5): the fake camera's block noise otherwise hovers right
    # at 2.0-2.5 Mbit/s, a coin toss against the 2 Mbit/s bar on a loaded 2-core machine.
    room = Room(
        "browser-room", thumbnails=1, policy=NetworkPolicy.loopback(), start_bitrate_kbps=3500
    )
    console: list[str] = []
    max_bitrate = 4_000_000
    browsers = []
    try:
        async with async_playwright() as p:
            pub_browser, pub = await open_page(
                p, chromium_path, [f"--use-file-for-fake-video-capture={clip}"], console
            )
            browsers.append(pub_browser)
            sub_browser, sub = await open_page(p, chromium_path, [], console)
            browsers.append(sub_browser)

            offer = await pub.evaluate(
                "o => window.sfuOffer(o)",
                {"publish": True, "thumbnails": 1, "maxBitrate": max_bitrate},
            )
            answer = await room.join("publisher", {"type": "offer", "sdp": offer})
            assert "x-google-start-bitrate=3500" in answer["sdp"]
            await pub.evaluate(
                "a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": max_bitrate}
            )
            room.set_floor("publisher")

            offer = await sub.evaluate(
                "o => window.sfuOffer(o)",
                {"publish": False, "thumbnails": 1, "maxBitrate": max_bitrate},
            )
            answer = await room.join("viewer", {"type": "offer", "sdp": offer})
            await sub.evaluate(
                "a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": max_bitrate}
            )
            main_mid = answer["slots"]["main"]["video_mid"]

            # Wait (bounded, generous: the machine is shared) for the viewer to connect.
            for _ in range(300):
                if room.peers["viewer"].state == "connected":
                    break
                await asyncio.sleep(0.1)
            assert room.peers["viewer"].state == "connected", console
            start = time.monotonic()
            samples: list[tuple[float, dict]] = []
            reached: dict | None = None
            while time.monotonic() - start < 5.0 and reached is None:
                await asyncio.sleep(0.25)
                stats = await sub.evaluate("m => window.sfuInbound(m)", main_mid)
                if not stats:
                    continue
                now = time.monotonic()
                samples.append((now, stats))
                # A sustained rate: the window starts after the first (huge) key frame has
                # been decoded, and frames keep being decoded inside it.
                window = [s for s in samples if now - s[0] <= 1.05 and s[1]["frames"] >= 1]
                if not window:
                    continue
                t0, s0 = window[0]
                if now - t0 >= 0.7 and stats["frames"] > s0["frames"]:
                    bitrate = (stats["bytes"] - s0["bytes"]) * 8 / (now - t0)
                    if stats["width"] == W and stats["height"] == H and bitrate >= 2_000_000:
                        reached = {**stats, "bitrate": bitrate, "after": now - start}
            outbound = await pub.evaluate("() => window.sfuOutbound()")
            detail = {
                "samples": [(round(t - start, 2), s) for t, s in samples],
                "publisher": outbound,
                "sfu": room.stats()["participants"],
                "console": console[-20:],
            }
            if reached is None:  # the assertion message gets truncated: print it all
                waiting = {
                    k: o.waiting_keyframe for k, o in room.slots["main/video"].outputs.items()
                }
                print("FULLHD-FAIL", detail, room.stats()["slots"], waiting, flush=True)
            assert reached is not None, detail
            assert reached["frames"] > 0
            print("FULLHD", reached, outbound)
    finally:
        for b in browsers:
            try:
                await b.close()
            except Exception:  # the browser may already be gone
                pass
        await room.close()


async def test_a_chromium_subscriber_gets_retransmissions_on_rtx(chromium_path):
    """Packets the SFU 'loses' towards Chromium come back on the slot's RTX stream."""
    from playwright.async_api import async_playwright
    from sfu_helpers import Client, connect

    from media_worker.sfu import rtp

    room = Room("browser-rtx", thumbnails=0, policy=NetworkPolicy.loopback())
    console: list[str] = []
    publisher = Client(thumbnails=0, luma=200)
    browsers = []
    try:
        await connect(room, "publisher", publisher)
        room.set_floor("publisher")
        async with async_playwright() as p:
            browser, sub = await open_page(p, chromium_path, [], console)
            browsers.append(browser)
            offer = await sub.evaluate(
                "o => window.sfuOffer(o)", {"publish": False, "thumbnails": 0, "maxBitrate": 0}
            )
            assert "rtx" in offer
            answer = await room.join("viewer", {"type": "offer", "sdp": offer})
            slot = room.slots["main/video"]
            assert f"a=ssrc-group:FID {slot.ssrc} {slot.rtx_ssrc}" in answer["sdp"]
            await sub.evaluate("a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": 0})
            mid = answer["slots"]["main"]["video_mid"]
            viewer = room.peers["viewer"]
            for _ in range(300):
                if viewer.tx is not None:
                    break
                await asyncio.sleep(0.1)
            assert viewer.tx is not None, console
            for _ in range(100):  # decoding before the loss starts
                stats = await sub.evaluate("m => window.sfuRepair(m)", mid)
                if stats and stats["frames"] >= 5:
                    break
                await asyncio.sleep(0.1)
            # from now on drop (the first send of) every 25th main-video packet to Chromium
            inner = viewer.tx
            dropped: set[int] = set()

            def lossy(data: bytes) -> None:
                header = rtp.parse_rtp_header(data)
                if (
                    header is not None
                    and header.ssrc == slot.ssrc
                    and header.seq % 25 == 0
                    and header.seq not in dropped
                ):
                    dropped.add(header.seq)
                    return
                inner(data)

            viewer.tx = lossy
            frames_at_loss = (await sub.evaluate("m => window.sfuRepair(m)", mid))["frames"]
            for _ in range(150):
                await asyncio.sleep(0.1)
                out = slot.outputs["viewer"]
                if len(dropped) >= 8 and out.retransmitted_rtx >= 8:
                    break
            stats = await sub.evaluate("m => window.sfuRepair(m)", mid)
            out = slot.outputs["viewer"]
            detail = {"chromium": stats, "dropped": len(dropped), "console": console[-10:]}
            assert len(dropped) >= 8, detail
            assert stats["nacks"] >= len(dropped) // 2, detail  # Chromium asked ...
            assert out.retransmitted_rtx >= 8, detail  # ... and got them on RTX
            assert room.counters()["rtx_out"] >= 8
            assert stats["rtx"] is not None and stats["rtx"] >= 8, detail  # Chromium's count
            # (Chromium's packetsLost still counts them: it is kept for the media SSRC alone)
            assert stats["frames"] >= frames_at_loss + 30, detail  # the picture went on
            print("RTX", detail)
    finally:
        for b in browsers:
            try:
                await b.close()
            except Exception:
                pass
        await publisher.close()
        await room.close()


async def test_a_chromium_publishers_lost_audio_is_recovered_with_opus_nack(chromium_path):
    """The pages' ``offerOpusNack`` makes Chromium negotiate ``nack`` for Opus: the SFU's
    NACKs for audio lost on the publisher's leg are answered, and the packets reach an
    aiortc subscriber in their place."""
    from playwright.async_api import async_playwright
    from sfu_helpers import Client, connect, drop_upstream

    room = Room("browser-audio-nack", thumbnails=0, policy=NetworkPolicy.loopback())
    console: list[str] = []
    viewer = Client(thumbnails=0, luma=None, tone=None)
    browsers = []
    try:
        async with async_playwright() as p:
            browser, pub = await open_page(p, chromium_path, [], console)
            browsers.append(browser)
            offer = await pub.evaluate(
                "o => window.sfuOffer(o)",
                {"publish": True, "thumbnails": 0, "maxBitrate": 500_000, "opusNack": True},
            )
            answer = await room.join("publisher", {"type": "offer", "sdp": offer})
            await pub.evaluate("a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": 0})
            peer = room.peers["publisher"]
            assert peer.layout is not None
            assert peer.layout.publish_audio.mid in peer.nack_mids, answer["sdp"]
            room.set_floor("publisher")
            await connect(room, "viewer", viewer)
            slot = room.slots["main/audio"]
            for _ in range(300):  # bounded: 30 s on a shared machine
                if peer.audio is not None and slot.ssrc in viewer.rtp_log:
                    break
                await asyncio.sleep(0.1)
            audio = peer.audio
            assert audio is not None and slot.ssrc in viewer.rtp_log, console
            assert audio.nack.enabled
            start = audio.max_seq
            dropped = drop_upstream(
                room,
                "publisher",
                lambda ssrc, seq: (
                    ssrc == audio.ssrc and (seq - start) % 25 == 12 and len(dropped) < 10
                ),
            )
            for _ in range(300):
                await asyncio.sleep(0.1)
                if len(dropped) >= 10:
                    break
            await asyncio.sleep(1.0)
            lost = {(seq + slot.munger.seq_offset) & 0xFFFF for _, seq in dropped}
            got = {q for q, _ in viewer.rtp_log[slot.ssrc]}
            out = await pub.evaluate("() => window.sfuAudioOut()")
            detail = {
                "dropped": len(dropped),
                "missing": len(lost - got),
                "chromium": out,
                "counters": room.counters(),
                "console": console[-10:],
            }
            assert len(dropped) >= 10, detail
            assert lost <= got, detail  # every dropped audio packet reached the viewer
            assert room.stats()["participants"]["publisher"]["recovered"] >= len(dropped), detail
            if out is not None and out["retransmitted"] is not None:
                assert out["retransmitted"] >= len(dropped), detail  # Chromium's own count
            print("AUDIO-NACK", detail)
    finally:
        for b in browsers:
            try:
                await b.close()
            except Exception:
                pass
        await viewer.close()
        await room.close()
