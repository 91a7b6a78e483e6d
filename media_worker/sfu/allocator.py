"""The bandwidth allocator: which layer of each slot one subscriber gets within its estimate.

Pure and synchronous (no I/O, no aiortc): the room calls :func:`allocate` for a subscriber
with its downstream estimate and one :class:`Track` per slot it receives, and applies the
result. Priority order, highest first (the order of :data:`PRIORITY`): main audio, chair audio,
main video, chair video, thumbnails (in slot order), then anything else.

In stages, each in priority order, each raising a track one layer at a time while it fits:

1. every audio track (a weak link goes down to audio only, never to video without sound);
2. the smallest layer of ``content``, ``main`` and ``chair`` video;
3. ``main`` up to the middle layer (a legible speaker before any thumbnail);
4. the smallest layer of the thumbnails (and any other slot);
5. every video track up to the layer its slot prefers (``Track.preferred``: main the top,
   chair the middle, thumbnails the lowest), main first.

What does not fit stays paused (``None``). A layer above the one the subscriber has now needs
:data:`UPGRADE_MARGIN` of headroom, so an estimate hovering at a layer's edge does not flip it
every second. So a link with room for everything gets every slot at its preferred layer; at
1.5 Mbit/s every picture stays on with the speaker at the middle layer; below, thumbnails are
paused from the last one up, then the chair's video, then main's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# content (a shared screen or document, issue 14: one layer, not simulcast) right after the
# speaker's voice: a presentation is the reason for the briefing
PRIORITY = ("main/audio", "content/video", "chair/audio", "main/video", "chair/video")
FIRST = ("content/video", "main/video", "chair/video")  # their smallest layer before thumbnails
UPGRADE_MARGIN = 1.15  # a layer above the current one needs this much headroom


@dataclass(frozen=True)
class Track:
    """One slot of one subscriber, as the allocator sees it.

    ``bitrates`` are the source's layers in bit/s, lowest first (one entry without
    simulcast, and for audio); ``preferred`` is the highest layer the slot wants.
    """

    key: str  # "main/video", "thumb2/video", ...
    bitrates: tuple[int, ...]
    preferred: int = 0

    @property
    def is_audio(self) -> bool:
        return self.key.endswith("/audio")


def priority(key: str) -> tuple[int, int, str]:
    """Sort key: the fixed order of :data:`PRIORITY`, then thumbnails by number, then the rest."""
    if key in PRIORITY:
        return (PRIORITY.index(key), 0, key)
    name = key.split("/", 1)[0]
    if name.startswith("thumb") and name[5:].isdigit():
        return (len(PRIORITY), int(name[5:]), key)
    return (len(PRIORITY) + 1, 0, key)


def allocate(
    budget: int, tracks: Sequence[Track], current: Mapping[str, int | None] | None = None
) -> dict[str, int | None]:
    """The layer (index into ``bitrates``) per track key, or None for paused, within ``budget``.

    ``current`` is what the subscriber gets now (for the upgrade margin). Tracks with no
    bitrates (no source) are left out of the result.
    """
    current = current or {}
    order = sorted((t for t in tracks if t.bitrates), key=lambda t: priority(t.key))
    chosen: dict[str, int | None] = dict.fromkeys((t.key for t in order), None)
    left = budget

    def lift(track: Track, target: int) -> None:
        nonlocal left
        target = min(target, len(track.bitrates) - 1)
        layer = chosen[track.key]
        now = current.get(track.key)
        while layer is None or layer < target:
            nxt = 0 if layer is None else layer + 1
            had = 0 if layer is None else track.bitrates[layer]
            step = track.bitrates[nxt] - had
            need = step
            if nxt > 0 and (now is None or nxt > now):
                need = int(track.bitrates[nxt] * UPGRADE_MARGIN) - had
            if need > left:
                return
            chosen[track.key] = layer = nxt
            left -= step

    audio = [t for t in order if t.is_audio]
    video = [t for t in order if not t.is_audio]
    first = [t for t in video if t.key in FIRST]
    for t in audio:
        lift(t, 0)
    for t in first:
        lift(t, 0)
    for t in first:
        if t.key == "main/video":
            lift(t, min(1, t.preferred))
    for t in video:
        if t not in first:
            lift(t, 0)
    for t in video:
        lift(t, t.preferred)
    return chosen


def reduced(chosen: Mapping[str, int | None], tracks: Sequence[Track]) -> str:
    """What a subscriber's quality indicator says: ``full`` (every slot at its preferred
    layer), ``reduced`` (some video lower or paused) or ``audio`` (no video at all)."""
    video = [t for t in tracks if t.bitrates and not t.is_audio]
    if video and all(chosen.get(t.key) is None for t in video):
        return "audio"
    for t in video:
        layer = chosen.get(t.key)
        if layer is None or layer < min(t.preferred, len(t.bitrates) - 1):
            return "reduced"
    return "full"
