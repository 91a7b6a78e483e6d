"""Simulcast negotiation and layer binding (RFC 8851 ``a=rid``, RFC 8853 ``a=simulcast``).

aiortc has no simulcast: its answer carries neither ``a=rid`` nor ``a=simulcast`` and it only
knows the MID and abs-send-time header extensions for video. The SFU forwards RTP itself, so
it only needs the browser to *send* the layers:

- :func:`parse_simulcast` reads the publish-video section of an offer: the rids it will send,
  in the order of its ``a=simulcast:send`` list, and the ids of the ``rtp-stream-id`` and
  ``repaired-rtp-stream-id`` header extensions.
- :func:`add_simulcast_to_answer` writes into aiortc's answer what makes Chromium keep all of
  them: the two extensions (with the offer's ids), ``a=rid:<rid> recv`` per layer and
  ``a=simulcast:recv <list>``. Without them Chromium falls back to one encoding.
- :func:`stream_id` reads a packet's rid (or repaired rid) from its header extension, so an
  SSRC never signalled in the SDP (Chromium signals none with rids) is bound to its layer.

Layers are ranked in the order of the ``a=simulcast`` list, lowest first: libwebrtc requires
VP8 simulcast encodings to go from the smallest to the largest, and the join page sends them
so. Clients that offer one encoding (aiortc, older browsers, H.264 publishers) have no
``a=simulcast`` and are handled exactly as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, TypeVar

from . import rtp

URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MAX_LAYERS = 3
_RID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class SimulcastError(ValueError):
    """A malformed simulcast offer (the caller turns it into ``bad_layout``)."""


@dataclass(frozen=True)
class SimulcastOffer:
    """What a publisher offered: its layers (lowest first) and the extension ids."""

    rids: tuple[str, ...]
    rid_ext: int  # id of rtp-stream-id in the offer
    repaired_ext: int  # id of repaired-rtp-stream-id, 0 if not offered

    def rank(self, rid: str) -> int:
        """0 for the lowest layer, len(rids) - 1 for the highest; -1 if not offered."""
        try:
            return self.rids.index(rid)
        except ValueError:
            return -1


def _section(sdp: str, mid: str) -> str | None:
    for section in re.split(r"(?=^m=)", sdp, flags=re.M):
        if section.startswith("m=") and re.search(rf"^a=mid:{re.escape(mid)}\r?$", section, re.M):
            return section
    return None


def parse_simulcast(sdp: str, mid: str) -> SimulcastOffer | None:
    """The simulcast offer in m-section ``mid``, or None if it offers one encoding.

    Raises :class:`SimulcastError` for rids that are malformed, not declared ``send``,
    duplicated or more than :data:`MAX_LAYERS`. An offer with ``a=simulcast`` but no
    ``rtp-stream-id`` extension cannot be bound to layers and is treated as one encoding.
    """
    section = _section(sdp, mid)
    if section is None:
        return None
    lines = section.splitlines()
    sim = [ln[len("a=simulcast:") :].strip() for ln in lines if ln.startswith("a=simulcast:")]
    if not sim:
        return None
    declared: dict[str, str] = {}
    for ln in lines:
        if ln.startswith("a=rid:"):
            parts = ln[len("a=rid:") :].split()
            if len(parts) < 2 or not _RID.match(parts[0]):
                raise SimulcastError(f"malformed a=rid line {ln[:60]!r}")
            declared[parts[0]] = parts[1]
    words = sim[0].split()
    if len(words) < 2 or words[0] != "send":
        raise SimulcastError("a=simulcast must be 'send <rid list>' on the publish line")
    rids: list[str] = []
    for alternatives in words[1].split(";"):
        # "a,b" lists alternatives: the first is the one sent; "~a" is a paused layer
        rid = alternatives.split(",")[0].lstrip("~")
        if not _RID.match(rid) or declared.get(rid) != "send" or rid in rids:
            raise SimulcastError(f"simulcast rid {rid!r} is not a declared 'send' rid")
        rids.append(rid)
    if len(rids) > MAX_LAYERS:
        raise SimulcastError(f"at most {MAX_LAYERS} simulcast layers, got {len(rids)}")
    extensions: dict[str, int] = {}
    for ln in lines:
        m = re.match(r"^a=extmap:(\d+)(?:/\w+)? (\S+)", ln)
        if m:
            extensions[m.group(2)] = int(m.group(1))
    rid_ext = extensions.get(URI_RID, 0)
    if not rid_ext or len(rids) < 2:
        return None
    return SimulcastOffer(tuple(rids), rid_ext, extensions.get(URI_REPAIRED_RID, 0))


def add_simulcast_to_answer(sdp: str, mid: str, offer: SimulcastOffer) -> str:
    """aiortc's answer with the rid extensions, ``a=rid`` and ``a=simulcast:recv`` on ``mid``."""
    out = []
    for section in re.split(r"(?=^m=)", sdp, flags=re.M):
        if section.startswith("m=video") and re.search(
            rf"^a=mid:{re.escape(mid)}\r?$", section, re.M
        ):
            added = [f"a=extmap:{offer.rid_ext} {URI_RID}"]
            if offer.repaired_ext:
                added.append(f"a=extmap:{offer.repaired_ext} {URI_REPAIRED_RID}")
            # extmap lines next to aiortc's own (before a=mid), rid/simulcast at the end
            extmaps = "\r\n".join(added) + "\r\n"
            at = re.search(rf"^a=mid:{re.escape(mid)}\r?$", section, re.M)
            if at is not None:
                section = section[: at.start()] + extmaps + section[at.start() :]
            tail = [f"a=rid:{rid} recv" for rid in offer.rids]
            tail.append("a=simulcast:recv " + ";".join(offer.rids))
            if not section.endswith("\n"):
                section += "\r\n"
            section += "\r\n".join(tail) + "\r\n"
        out.append(section)
    return "".join(out)


def stream_id(
    data: bytes, header: rtp.RtpHeader, elements: list[tuple[int, int, int]], ext_id: int
) -> str | None:
    """The rid (RFC 8852 SDES item as a header extension) of a packet, or None."""
    if not ext_id:
        return None
    for offset, eid, length in elements:
        if eid == ext_id:
            value = rtp.element_value(data, header, offset, length).rstrip(b"\0")
            try:
                rid = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return rid if _RID.match(rid) else None
    return None


LIVE_FOR = 1.0  # s: a layer with no packet for longer is paused (by us, or by the browser)


class Layered(Protocol):
    layer: int
    last_arrival: float


_L = TypeVar("_L", bound=Layered)


def slot_rank(slot_name: str, layers: int) -> int:
    """The layer a slot shows when the link allows it: ``main`` the highest, ``chair`` the
    middle one, thumbnails the lowest (other slots, e.g. content, the highest)."""
    top = max(0, layers - 1)
    if slot_name.startswith("thumb"):
        return 0
    if slot_name == "chair":
        return min(1, top)
    return top


def pick_layer(streams: list[_L], rank: int, now: float | None = None) -> _L | None:
    """The bound layer closest to ``rank`` from below (``streams`` lowest first), else the
    lowest there is: a slot shows something until its layer arrives.

    With ``now``, only layers that are flowing (a packet within :data:`LIVE_FOR`) are
    considered while any is: a paused layer (unwatched until now, or dropped by the browser's
    own bandwidth allocation) would leave the slot dark until it resumes; the room re-picks
    every tick, so the slot moves up when the wanted layer flows again.
    """
    if now is not None:
        live = [s for s in streams if now - s.last_arrival <= LIVE_FOR]
        if live:
            streams = live
    best = None
    for stream in streams:
        if stream.layer <= rank:
            best = stream
    if best is None and streams:
        best = streams[0]
    return best
