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
    budget: int,
    tracks: Sequence[Track],
    current: Mapping[str, int | None] | None = None,
    *,
    pause: bool = True,
) -> dict[str, int | None]:
    """The layer (index into ``bitrates``) per track key, or None for paused, within ``budget``.

    ``current`` is what the subscriber gets now (for the upgrade margin). Tracks with no
    bitrates (no source) are left out of the result. With ``pause`` false every track gets
    at least its smallest layer, fitting or not (what does not fit is only reduced).
    """
    current = current or {}
    order = sorted((t for t in tracks if t.bitrates), key=lambda t: priority(t.key))
    chosen: dict[str, int | None] = dict.fromkeys((t.key for t in order), None)
    left = budget

    def lift(track: Track, target: int, force: bool = False) -> None:
        nonlocal left
        target = min(target, len(track.bitrates) - 1)
        layer = chosen[track.key]
        now = current.get(track.key)
        if force and layer is None:
            chosen[track.key] = layer = 0
            left -= track.bitrates[0]
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
        lift(t, 0, not pause)
    for t in first:
        if t.key == "main/video":
            lift(t, min(1, t.preferred))
    for t in video:
        if t not in first:
            lift(t, 0, not pause)
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


# --- one subscriber's allocation over time: hysteresis -----------------------------------

DOWN_SLACK = 1.6  # the current allocation stands while it fits in estimate x this ...
DOWN_HOLD = 1.0  # s ... or until it has not fitted for this long (sustained, not one REMB)
UP_HOLD = 4.0  # s an upgrade must have fitted (with UPGRADE_MARGIN) before it is taken
PROBE_RATIO = 1.35  # an estimate this far above what is sent: the link is not the limit
PROBE_HOLD_MAX = 64.0  # s: the longest wait between two probing upgrades
FAILED_WITHIN = 6.0  # s: a downgrade this soon after an upgrade means that upgrade failed


def cost(chosen: Mapping[str, int | None], tracks: Sequence[Track]) -> int:
    """What an allocation sends, in bit/s."""
    total = 0
    for t in tracks:
        layer = chosen.get(t.key)
        if layer is not None and t.bitrates:
            total += t.bitrates[min(layer, len(t.bitrates) - 1)]
    return total


class SubscriberAllocator:
    """One subscriber's allocation, changed only when a change has a reason that lasts.

    :func:`allocate` answers "what fits now"; fed every estimate, it would flip a layer
    each time REMB crosses a layer's edge. This wraps it the way SFUs do (LiveKit's stream
    allocator, mediasoup's consumer layer selection):

    - **no estimate** (no REMB yet, or a receiver that sends none): every slot at its
      preferred layer -- nothing says the link is small;
    - **down fast**: when what is sent does not fit in ``estimate x DOWN_SLACK`` for
      :data:`DOWN_HOLD` seconds, take what fits the estimate (one low REMB moves nothing);
    - **up slow**: an upgrade must fit, with :data:`UPGRADE_MARGIN`, for :data:`UP_HOLD`
      seconds without a break;
    - **probe**: a receiver's REMB never exceeds ~1.5x what it receives (libwebrtc's
      throughput limit), so after a downgrade the estimate alone can never justify the top
      layer again. When the estimate stays :data:`PROBE_RATIO` above what is sent for the
      probe hold, the link is not the limit: the next upgrade is tried. An upgrade undone
      within :data:`FAILED_WITHIN` seconds doubles the probe hold (up to
      :data:`PROBE_HOLD_MAX`); one that lasts resets it.

    ``decide`` works in *ranks* (the source's layer numbers), not indices, so a layer that
    stops flowing (paused by its publisher: the caller leaves it out of a track's bitrates)
    changes no decision about the others. Tracks give ``ranks`` beside ``bitrates``.
    """

    def __init__(self) -> None:
        self.chosen: dict[str, int | None] = {}  # key -> rank, None = paused
        self.low_since: float | None = None
        self.up_since: float | None = None
        self.up_key: Mapping[str, int | None] | None = None
        self.probe_hold = UP_HOLD
        self.last_up = float("-inf")
        self.upgrades = 0
        self.downgrades = 0

    def decide(
        self,
        budget: int | None,
        tracks: Sequence[RankedTrack],
        now: float,
        *,
        pause: bool = True,
    ) -> dict[str, int | None]:
        """The rank per track key (None: paused) this subscriber gets now. With ``pause``
        false no video is paused, only reduced (see :func:`allocate`)."""
        plain = [t.track for t in tracks]
        current: dict[str, int | None] = {
            t.track.key: t.index(self.chosen.get(t.track.key)) for t in tracks
        }
        if budget is None:
            want: dict[str, int | None] = {
                t.track.key: min(t.track.preferred, len(t.track.bitrates) - 1) for t in tracks
            }
            return self._take(want, tracks, now, up=False)
        fresh = [t for t in tracks if t.track.key not in self.chosen]
        if fresh:  # a new slot (or source): placed at once, the others kept
            first = allocate(budget, plain, current, pause=pause)
            for t in fresh:
                self.chosen[t.track.key] = t.rank(first.get(t.track.key))
            current = {t.track.key: t.index(self.chosen.get(t.track.key)) for t in tracks}
        # a track missing from one decision (its source stopped flowing for a moment) keeps
        # its rank: coming back, it is not placed afresh, without the hysteresis
        sent = cost(current, plain)
        if sent > budget * DOWN_SLACK:
            self.up_since = None
            if self.low_since is None:
                self.low_since = now
            if now - self.low_since >= DOWN_HOLD:
                self.low_since = None
                want = allocate(budget, plain, current, pause=pause)
                if now - self.last_up < FAILED_WITHIN:
                    self.probe_hold = min(PROBE_HOLD_MAX, self.probe_hold * 2)
                return self._take(want, tracks, now, up=False)
            return self._ranks(current, tracks)
        self.low_since = None
        want = allocate(budget, plain, current, pause=pause)
        hold = UP_HOLD
        if cost(want, plain) <= sent and budget >= sent * PROBE_RATIO:
            # the estimate is at its throughput limit, not at the link's: try one step up
            want = allocate(int(budget * 2), plain, current, pause=pause)
            hold = self.probe_hold
        if cost(want, plain) <= sent or not _higher(want, current):
            self.up_since = None
            if now - self.last_up >= FAILED_WITHIN * 2:
                self.probe_hold = UP_HOLD  # the last upgrade held: probe at the normal pace
            return self._ranks(current, tracks)
        if self.up_since is None or self.up_key != want:
            self.up_since, self.up_key = now, want
        if now - self.up_since < hold:
            return self._ranks(current, tracks)
        self.up_since = None
        return self._take(want, tracks, now, up=True)

    def _take(
        self, want: Mapping[str, int | None], tracks: Sequence[RankedTrack], now: float, *, up: bool
    ) -> dict[str, int | None]:
        ranks = self._ranks(want, tracks)
        if ranks != {t.track.key: self.chosen.get(t.track.key) for t in tracks}:
            if up:
                self.upgrades += 1
                self.last_up = now
            else:
                self.downgrades += 1
        self.chosen.update(ranks)
        return ranks

    @staticmethod
    def _ranks(
        indices: Mapping[str, int | None], tracks: Sequence[RankedTrack]
    ) -> dict[str, int | None]:
        return {t.track.key: t.rank(indices.get(t.track.key)) for t in tracks}


def _higher(want: Mapping[str, int | None], current: Mapping[str, int | None]) -> bool:
    """Some track gets more than now (a resumed or a higher layer)."""
    for key, layer in want.items():
        now = current.get(key)
        if layer is not None and (now is None or layer > now):
            return True
    return False


@dataclass(frozen=True)
class RankedTrack:
    """A :class:`Track` whose ``bitrates`` are its flowing layers, with their ranks."""

    track: Track
    ranks: tuple[int, ...]  # the source's layer number of each entry of track.bitrates

    def index(self, rank: int | None) -> int | None:
        """The index of ``rank`` among the flowing layers (the nearest one below; None if
        none is at or below it)."""
        if rank is None:
            return None
        best = None
        for i, r in enumerate(self.ranks):
            if r <= rank:
                best = i
        return best

    def rank(self, index: int | None) -> int | None:
        return None if index is None else self.ranks[min(index, len(self.ranks) - 1)]
