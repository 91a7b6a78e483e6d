"""A headless Chromium publishing three VP8 layers (rids l, m, h) through a Room to another:
``main`` arrives at Full HD while the thumbnail of the same source arrives at the smallest
layer; the layers nobody watches are paused by the publisher (``active: false``).

Signalling as in ``test_sfu_browser.py`` (its page and helpers); media on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from test_sfu_browser import H, W, open_page, write_y4m

from media_worker.sfu import NetworkPolicy, Room

pytestmark = [pytest.mark.browser, pytest.mark.media, pytest.mark.timeout(180)]

ENCODINGS = [
    {"rid": "l", "scaleResolutionDownBy": 4, "maxBitrate": 200_000},
    {"rid": "m", "scaleResolutionDownBy": 2, "maxBitrate": 700_000},
    {"rid": "h", "maxBitrate": 3_000_000},
]


async def test_main_arrives_at_full_hd_and_the_thumbnail_of_the_same_source_small(
    chromium_path, tmp_path
):
    from playwright.async_api import async_playwright

    clip = tmp_path / "camera.y4m"
    write_y4m(clip)
    events: list[dict] = []
    room = Room(
        "simulcast-browser",
        thumbnails=1,
        policy=NetworkPolicy.loopback(),
        start_bitrate_kbps=3500,
        on_event=events.append,
    )
    console: list[str] = []
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
                {"publish": True, "thumbnails": 1, "maxBitrate": 0, "encodings": ENCODINGS},
            )
            assert "a=simulcast:send l;m;h" in offer
            answer = await room.join("publisher", {"type": "offer", "sdp": offer})
            assert "a=simulcast:recv l;m;h" in answer["sdp"]
            await pub.evaluate("a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": 0})
            room.set_floor("publisher")
            room.set_thumbnails(["publisher"])

            offer = await sub.evaluate(
                "o => window.sfuOffer(o)", {"publish": False, "thumbnails": 1, "maxBitrate": 0}
            )
            answer = await room.join("viewer", {"type": "offer", "sdp": offer})
            await sub.evaluate("a => window.sfuAccept(a)", {"sdp": answer["sdp"], "maxBitrate": 0})
            main_mid = answer["slots"]["main"]["video_mid"]
            thumb_mid = answer["slots"]["thumb0"]["video_mid"]

            # what the join page does with the room's publish_layers event
            applied: dict | None = None
            start = time.monotonic()
            main = thumb = None
            seen: list[tuple[float, dict | None, dict | None]] = []
            while time.monotonic() - start < 40:
                await asyncio.sleep(0.25)
                layers = [e for e in events if e["type"] == "publish_layers"]
                if layers and layers[-1]["layers"] != applied:
                    applied = layers[-1]["layers"]
                    await pub.evaluate("l => window.sfuLayers(l)", applied)
                main = await sub.evaluate("m => window.sfuInbound(m)", main_mid)
                thumb = await sub.evaluate("m => window.sfuInbound(m)", thumb_mid)
                seen.append((round(time.monotonic() - start, 2), main, thumb))
                if (
                    main
                    and thumb
                    and main["width"] == W
                    and main["height"] == H
                    and 0 < thumb["width"] <= 480
                    and thumb["frames"] > 10
                    and main["frames"] > 10
                ):
                    break
            peer = room.peers["publisher"]
            detail = {
                "seen": seen[-6:],
                "layers": {r: s.packets for r, s in peer.layers.items()},
                "applied": applied,
                "publisher": await pub.evaluate("() => window.sfuOutboundLayers()"),
                "console": console[-10:],
            }
            assert main is not None and thumb is not None, detail
            assert (main["width"], main["height"]) == (W, H), detail
            assert 0 < thumb["width"] <= 480, detail
            # the SFU bound all three layers by rid and sends main from "h", thumb0 from "l"
            assert set(peer.layers) == {"l", "m", "h"}, detail
            assert room.slots["main/video"].source is peer.layers["h"]
            assert room.slots["thumb0/video"].source is peer.layers["l"]
            # nobody watches "m" (no chair): the publisher was told, and stopped sending it
            assert applied == {"l": True, "m": False, "h": True}, detail
            m_packets = peer.layers["m"].packets
            await asyncio.sleep(1.5)
            assert peer.layers["m"].packets - m_packets <= 5, detail
            # the chair slot wants "m": asked for again, it arrives
            room.set_chair("publisher")
            layers = [e for e in events if e["type"] == "publish_layers"]
            assert layers[-1]["layers"] == {"l": True, "m": True, "h": True}
            await pub.evaluate("l => window.sfuLayers(l)", layers[-1]["layers"])
            for _ in range(100):
                await asyncio.sleep(0.1)
                if peer.layers["m"].packets - m_packets > 50:
                    break
            assert peer.layers["m"].packets - m_packets > 50, detail
            print("SIMULCAST", detail)
    finally:
        for b in browsers:
            try:
                await b.close()
            except Exception:  # the browser may already be gone
                pass
        await room.close()
