"""The slot layout every part of a live room agrees on, from one setting.

``MEDIA_THUMBNAILS`` (0..4, default 4) is the number of thumbnail video slots; with the main
and chair slots it fixes the offer's m-lines (docs/sfu.md). ``MEDIA_MAX_BITRATE`` caps what a
browser publishes (bit/s); ``MEDIA_SIMULCAST`` (default on) has browsers publish the camera as
three simulcast layers (docs/sfu.md). The room host builds its ``Room`` from :func:`slot_layout`, and the
live pages get the same dict in their config, so the page, the SFU and the docs cannot drift.
"""

from __future__ import annotations

from typing import TypedDict

from django.conf import settings


class SlotLayout(TypedDict):
    thumbnails: int
    max_bitrate: int
    simulcast: bool
    slots: list[str]


def slot_layout() -> SlotLayout:
    thumbnails = int(settings.MEDIA_THUMBNAILS)
    return {
        "thumbnails": thumbnails,
        "max_bitrate": int(settings.MEDIA_MAX_BITRATE),
        "simulcast": bool(settings.MEDIA_SIMULCAST),
        "slots": ["main", "chair", *(f"thumb{i}" for i in range(thumbnails))],
    }
