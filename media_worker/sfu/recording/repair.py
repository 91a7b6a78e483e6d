"""Salvage what a killed recorder left: a ``.part`` segment without cues or final sizes.

Matroska is written cluster by cluster, so a file cut off mid-way still holds every cluster
before the cut. ``recover_partial`` copies the packets that can be read (no decoding) into a
new, properly finished file next to it — with cues, so it seeks like any other segment — and
removes the ``.part``. Returns facts about the result, or None when nothing was readable (the
``.part`` is then removed too: it is the one segment a crash may lose).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import av

logger = logging.getLogger(__name__)


def recover_partial(part: Path) -> dict[str, Any] | None:
    if not part.name.endswith(".part"):
        raise ValueError("not a partial segment")
    final = part.with_name(part.name[: -len(".part")])
    tmp = final.with_name(final.name + ".recover")
    packets = 0
    last_ms = 0
    keyframes: list[int] = []
    try:
        with av.open(str(part)) as src:
            fmt = "matroska" if final.suffix == ".mkv" else "webm"
            with av.open(str(tmp), "w", format=fmt) as dst:
                for key, value in src.metadata.items():
                    dst.metadata[key] = value
                mapping = {}
                for stream in src.streams:
                    out = dst.add_stream_from_template(stream)
                    out.metadata.update(stream.metadata)
                    out.disposition = stream.disposition
                    mapping[stream.index] = out
                try:
                    for packet in src.demux():
                        if packet.dts is None or packet.pts is None or packet.size == 0:
                            continue
                        ms = int(packet.pts * packet.time_base * 1000)
                        if packet.stream.type == "video" and packet.is_keyframe:
                            keyframes.append(ms)
                        last_ms = max(
                            last_ms, ms + int((packet.duration or 0) * packet.time_base * 1000)
                        )
                        packet.stream = mapping[packet.stream.index]
                        dst.mux(packet)
                        packets += 1
                except (av.FFmpegError, EOFError):
                    pass  # the cut: everything before it is in
    except (av.FFmpegError, OSError, ValueError):
        logger.warning("partial segment %s is unreadable", part)
        packets = 0
    if not packets:
        tmp.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        return None
    os.replace(tmp, final)
    part.unlink(missing_ok=True)
    return {
        "name": final.name,
        "duration_ms": last_ms,
        "bytes": final.stat().st_size,
        "keyframes_ms": keyframes,
        "packets": packets,
    }
