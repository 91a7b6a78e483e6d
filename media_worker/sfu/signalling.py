"""SDP offer validation and the slot layout, as plain dicts in and out.

The client offers; the SFU answers. The offer's m-lines must come in this order::

    0  video  publish camera      sendonly (or inactive/recvonly: not publishing)
    1  audio  publish microphone  sendonly (or inactive/recvonly)
    2  video  slot "main"         recvonly
    3  audio  slot "main"         recvonly
    4  video  slot "chair"        recvonly
    5  audio  slot "chair"        recvonly
    6+ video  slots "thumb0".."thumb{K-1}" recvonly (0..K of them)

and, when the offer message says ``"content": true``, two more video lines at the end::

    n-2 video  publish content (a shared screen)  sendonly (or inactive: never presents)
    n-1 video  slot "content"                       recvonly (or inactive: opts out)

all in one BUNDLE group, with the ICE candidates already in the SDP (no trickle). Errors are
:class:`SignallingError` with a machine-readable ``code``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiortc import sdp

from .policy import NetworkPolicy
from .simulcast import SimulcastError, SimulcastOffer, parse_simulcast

MAX_SDP_BYTES = 64 * 1024
VIDEO_CODECS = ("vp8", "h264")
AUDIO_CODECS = ("opus",)
PUBLISH_DIRECTIONS = ("sendonly", "sendrecv", "inactive", "recvonly")
SLOT_DIRECTIONS = ("recvonly", "sendrecv", "inactive")


class SignallingError(Exception):
    """A rejected offer. ``code`` is stable and machine-readable; ``message`` is for people.

    Codes: ``invalid_message``, ``too_large``, ``invalid_sdp``, ``no_media``,
    ``bad_layout``, ``no_bundle``, ``unsupported_codec``, ``no_candidates``,
    ``room_closed``, ``negotiation_failed``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"type": "error", "code": self.code, "message": self.message}


@dataclass
class MediaLine:
    index: int
    kind: str
    mid: str
    direction: str
    role: str  # "publish" or a slot name
    codecs: dict[int, str]  # payload type -> lower-case codec name (no rtx/red/fec)
    extensions: dict[str, int]  # uri -> id
    ssrcs: list[int] = field(default_factory=list)
    rtx_ssrcs: dict[int, int] = field(default_factory=dict)  # RTX SSRC -> primary (FID)
    simulcast: SimulcastOffer | None = None  # publish video offered as rid layers


@dataclass
class OfferLayout:
    sdp: str  # the offer with unaccepted candidates removed
    publish_video: MediaLine
    publish_audio: MediaLine
    slots: dict[str, MediaLine]  # slot name -> its video or audio line, keyed "main/video"
    publish_content: MediaLine | None = None  # the content lines were offered ("content": true)

    @property
    def publishes_video(self) -> bool:
        return self.publish_video.direction in ("sendonly", "sendrecv")

    @property
    def publishes_audio(self) -> bool:
        return self.publish_audio.direction in ("sendonly", "sendrecv")

    @property
    def publishes_content(self) -> bool:
        line = self.publish_content
        return line is not None and line.direction in ("sendonly", "sendrecv")

    @property
    def publish_lines(self) -> list[MediaLine]:
        """The publish m-lines in offer order's roles: camera, microphone(, content)."""
        lines = [self.publish_video, self.publish_audio]
        return [*lines, self.publish_content] if self.publish_content is not None else lines

    def publish_info(self) -> dict[str, str]:
        """The answer's ``publish`` entry."""
        info = {"video_mid": self.publish_video.mid, "audio_mid": self.publish_audio.mid}
        if self.publish_content is not None:
            info["content_mid"] = self.publish_content.mid
        return info

    def slot_info(self) -> dict[str, dict[str, str]]:
        """The answer's ``slots`` entry: slot name -> {"video_mid", "audio_mid"}."""
        info: dict[str, dict[str, str]] = {}
        for key, line in self.slots.items():
            name, kind = key.split("/")
            info.setdefault(name, {})[f"{kind}_mid"] = line.mid
        return info


def h264_profile(profile_level_id: str) -> str:
    """The H.264 profile of a ``profile-level-id`` (RFC 6184 8.1), the level ignored.

    Constrained Baseline is spelt several ways (42e0.., 4de0.., 58c0.. and any 42 with
    constraint_set1): they are one profile for decoding, so they map to ``"cb"``.
    """
    try:
        raw = bytes.fromhex(profile_level_id)
    except ValueError:
        return "invalid"
    if len(raw) != 3:
        return "invalid"
    idc, iop = raw[0], raw[1]
    if idc == 0x42:
        return "cb" if iop & 0x40 else "baseline"
    if idc == 0x4D:
        return "cb" if iop & 0x80 else "main"
    if idc == 0x58:
        if iop & 0xC0 == 0xC0:
            return "cb"
        return "baseline" if iop & 0x80 else "extended"
    if idc == 0x64:
        return "constrained-high" if iop & 0x0C == 0x0C else "high"
    return f"{idc:02x}"


def codec_key(name: str, parameters: dict[str, object] | None = None) -> str:
    """What must match for a subscriber to decode a source's packets as they are.

    VP8 and Opus are their name; H.264 is ``h264/<profile>/<packetization-mode>``
    (defaults ``42001f`` and 0, RFC 6184), matched strictly like mediasoup's ``matchCodecs``.
    """
    name = name.lower()
    if name != "h264":
        return name
    params = parameters or {}
    plid = str(params.get("profile-level-id", "42001f"))
    mode = str(params.get("packetization-mode", "0"))
    return f"h264/{h264_profile(plid)}/{mode}"


CONTENT = "content"


def slot_order(thumbnails: int, *, content: bool = False) -> list[tuple[str, str]]:
    """``(slot name, kind)`` of every slot: m-lines 2.. in offer order, and with ``content``
    the content slot (whose m-line is the last, after the content publish line)."""
    order = [("main", "video"), ("main", "audio"), ("chair", "video"), ("chair", "audio")]
    order += [(f"thumb{i}", "video") for i in range(thumbnails)]
    return [*order, (CONTENT, "video")] if content else order


def _filter_candidates(text: str, policy: NetworkPolicy) -> tuple[str, int]:
    kept_lines = []
    kept = 0
    for line in text.splitlines():
        if line.startswith("a=candidate:"):
            parts = line[len("a=candidate:") :].split()
            if len(parts) < 8 or parts[2].lower() != "udp" or not policy.accepts(parts[4]):
                continue
            kept += 1
        kept_lines.append(line)
    return "\r\n".join(kept_lines) + "\r\n", kept


def parse_offer(offer: object, *, thumbnails: int, policy: NetworkPolicy) -> OfferLayout:
    """Validate a client offer against the slot layout; raise :class:`SignallingError`."""
    if not isinstance(offer, dict) or offer.get("type") != "offer":
        raise SignallingError("invalid_message", 'expected {"type": "offer", "sdp": ...}')
    text = offer.get("sdp")
    if not isinstance(text, str) or not text.strip():
        raise SignallingError("invalid_message", "offer has no sdp string")
    if len(text) > MAX_SDP_BYTES:
        raise SignallingError("too_large", f"sdp longer than {MAX_SDP_BYTES} bytes")
    try:
        desc = sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises many types on garbage
        raise SignallingError("invalid_sdp", f"cannot parse sdp: {exc!r}") from exc
    media = [m for m in desc.media if m.kind in ("audio", "video")]
    if not media:
        raise SignallingError("no_media", "offer has no audio or video m-line")
    if len(media) != len(desc.media):
        raise SignallingError("bad_layout", "only audio and video m-lines are accepted")
    with_content = offer.get("content") is True
    extra = 2 if with_content else 0
    order = [("publish", "video"), ("publish", "audio"), *slot_order(thumbnails)]
    if len(media) < 6 + extra or len(media) > len(order) + extra:
        raise SignallingError(
            "bad_layout",
            f"expected {6 + extra}..{len(order) + extra} m-lines (publish video, audio, main "
            f"video, audio, chair video, audio, up to {thumbnails} thumbnail videos"
            + (", publish content video, content video" if with_content else "")
            + f"), got {len(media)}",
        )
    if with_content:  # the content lines come last, after however many thumbnails
        order = [*order[: len(media) - 2], ("publish", "video"), (CONTENT, "video")]
    bundle = next((g for g in desc.group if g.semantic == "BUNDLE"), None)
    lines: list[MediaLine] = []
    for index, (m, (role, kind)) in enumerate(zip(media, order, strict=False)):
        if m.kind != kind:
            raise SignallingError("bad_layout", f"m-line {index} must be {kind}, not {m.kind}")
        mid = m.rtp.muxId
        if not mid:
            raise SignallingError("bad_layout", f"m-line {index} has no a=mid")
        direction = m.direction or "sendrecv"
        allowed = PUBLISH_DIRECTIONS if role == "publish" else SLOT_DIRECTIONS
        if direction not in allowed:
            raise SignallingError("bad_layout", f"m-line {index} ({role}) cannot be {direction}")
        wanted = VIDEO_CODECS if kind == "video" else AUDIO_CODECS
        codecs = {
            c.payloadType: c.name.lower()
            for c in m.rtp.codecs
            if c.name.lower() in wanted and c.payloadType is not None
        }
        if not codecs and direction != "inactive":
            raise SignallingError(
                "unsupported_codec", f"m-line {index} offers none of {', '.join(wanted)}"
            )
        if not m.ice or not m.dtls or not m.dtls.fingerprints:
            raise SignallingError("invalid_sdp", f"m-line {index} lacks ICE or DTLS parameters")
        extensions = {e.uri: e.id for e in m.rtp.headerExtensions}
        ssrcs = [s.ssrc for s in m.ssrc]
        rtx_ssrcs = {
            int(g.items[1]): int(g.items[0])
            for g in m.ssrc_group
            if g.semantic == "FID" and len(g.items) == 2
        }
        lines.append(
            MediaLine(index, kind, mid, direction, role, codecs, extensions, ssrcs, rtx_ssrcs)
        )
    if bundle is None or {ln.mid for ln in lines} - set(bundle.items):
        raise SignallingError("no_bundle", "all m-lines must be in one BUNDLE group")
    filtered, kept = _filter_candidates(text, policy)
    if kept == 0:
        raise SignallingError(
            "no_candidates",
            "no ICE candidate in the offer is allowed by the network policy "
            "(gather candidates before sending the offer; trickle is not supported)",
        )
    video = lines[0]
    if video.direction in ("sendonly", "sendrecv"):
        try:
            video.simulcast = parse_simulcast(text, video.mid)
        except SimulcastError as exc:
            raise SignallingError("bad_layout", f"m-line 0: {exc}") from exc
    content = lines[-2] if with_content else None
    slots = {f"{ln.role}/{ln.kind}": ln for ln in lines[2:] if ln is not content}
    return OfferLayout(filtered, lines[0], lines[1], slots, content)


def add_start_bitrate(sdp: str, mid: str, kbps: int) -> str:
    """Add ``x-google-start-bitrate`` to the video codecs of m-section ``mid``.

    Chromium starts a video sender near 300 kbit/s and climbs slowly; this hint in the
    answer makes it start at Full HD bitrates (MEDIA_NOTES).
    """
    out = []
    for section in _sections(sdp):
        if section.startswith("m=video") and _section_mid(section) == mid:
            pts = section.split("\r\n", 1)[0].split()[3:]
            for pt in pts:
                rtpmap = re.search(rf"^a=rtpmap:{pt} ([^/\r\n]+)", section, re.M)
                if rtpmap and rtpmap.group(1).lower() in ("vp8", "h264"):
                    section = _add_fmtp_param(section, pt, f"x-google-start-bitrate={kbps}")
        out.append(section)
    return "".join(out)


def _add_fmtp_param(section: str, pt: str, param: str) -> str:
    """Append ``param`` to payload type ``pt``'s fmtp line, or add one after its rtpmap."""
    if re.search(rf"^a=fmtp:{pt} ", section, re.M):
        return re.sub(rf"^(a=fmtp:{pt} [^\r\n]*)", rf"\1;{param}", section, count=1, flags=re.M)
    return re.sub(
        rf"^(a=rtpmap:{pt} [^\r\n]*(\r?\n))",
        rf"\1a=fmtp:{pt} {param}\2",
        section,
        count=1,
        flags=re.M,
    )


def _sections(text: str) -> list[str]:
    """The session part, then one string per m-section (each starting with ``m=``)."""
    return re.split(r"(?=^m=)", text, flags=re.M)


def _section_mid(section: str) -> str | None:
    found = re.search(r"^a=mid:([^\r\n]+)", section, re.M)
    return found.group(1).strip() if found else None


def _opus_payload_types(section: str) -> list[str]:
    return re.findall(r"^a=rtpmap:(\d+) opus/", section, re.M | re.I)


def _has_plain_nack(section: str, pt: str) -> bool:
    """``a=rtcp-fb:<pt> nack`` alone (not ``nack pli``), or the ``*`` wildcard form."""
    return re.search(rf"^a=rtcp-fb:(?:{pt}|\*) nack[ \t]*\r?$", section, re.M) is not None


def _fmtp_params(section: str, pt: str) -> dict[str, str] | None:
    found = re.search(rf"^a=fmtp:{pt} ([^\r\n]*)", section, re.M)
    if found is None:
        return None
    params = {}
    for item in found.group(1).split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            params[key.lower()] = value.strip()
    return params


def _add_opus_nack_to_section(section: str, pt: str) -> str:
    """Insert ``a=rtcp-fb:<pt> nack`` after the codec's last rtpmap/fmtp/rtcp-fb line."""
    eol = "\r\n" if "\r\n" in section else "\n"
    lines = section.split(eol)
    at = None
    for i, line in enumerate(lines):
        if re.match(rf"a=(rtpmap|fmtp|rtcp-fb):{pt}[ \t]", line):
            at = i
    if at is None:
        return section
    lines.insert(at + 1, f"a=rtcp-fb:{pt} nack")
    return eol.join(lines)


def add_opus_options(answer_sdp: str, offer_sdp: str) -> str:
    """Put back into aiortc's answer the Opus options the offer asked for on the same mid.

    aiortc intersects the offer's ``rtcp-fb`` with its own Opus codec, which has none, and
    drops the offer's fmtp: its answers never negotiate ``nack`` or in-band FEC for audio.
    The SFU does not decode (aiortc's receiver is bypassed), and it NACKs and retransmits
    audio like video, so for each Opus payload type the answer gets

    - ``a=rtcp-fb:<pt> nack`` when the offer has it for that payload type: Chromium then
      keeps an audio send history and answers the SFU's NACKs (upstream recovery), and as a
      subscriber NACKs what it misses on the audio slots (answered from the SFU's history);
    - ``useinbandfec=1`` in its fmtp when the offer's fmtp has it: the sender adds Opus
      LBRR data, so a packet lost end to end is partly concealed from the next one.

    Nothing is added that the offer did not ask for, and nothing twice.
    """
    offered: dict[str, str] = {}
    for section in _sections(offer_sdp):
        mid = _section_mid(section) if section.startswith("m=audio") else None
        if mid is not None:
            offered[mid] = section
    out = []
    for section in _sections(answer_sdp):
        mid = _section_mid(section) if section.startswith("m=audio") else None
        offer_section = offered.get(mid) if mid is not None else None
        if offer_section is not None:
            section = _answer_opus_options(section, offer_section)
        out.append(section)
    return "".join(out)


def _answer_opus_options(section: str, offer_section: str) -> str:
    """One audio m-section of the answer with its offer's Opus ``nack`` and FEC."""
    offered_pts = _opus_payload_types(offer_section)
    for pt in _opus_payload_types(section):
        if pt not in offered_pts:
            continue
        if _has_plain_nack(offer_section, pt) and not _has_plain_nack(section, pt):
            section = _add_opus_nack_to_section(section, pt)
        wants_fec = (_fmtp_params(offer_section, pt) or {}).get("useinbandfec") == "1"
        if wants_fec and "useinbandfec" not in (_fmtp_params(section, pt) or {}):
            section = _add_fmtp_param(section, pt, "useinbandfec=1")
    return section


def offer_opus_nack(offer_sdp: str) -> str:
    """An offer with ``a=rtcp-fb:<pt> nack`` on every Opus codec that lacks it.

    For clients whose stack offers no audio NACK, as aiortc's does not (its sender answers
    NACKs for audio from its 128-packet history all the same): with it the SFU negotiates
    ``nack`` for their audio (see :func:`add_opus_options`) and recovers their lost audio.
    The pages do the same for browsers (``static/conferences/live/media.js``).
    """
    out = []
    for section in _sections(offer_sdp):
        if section.startswith("m=audio"):
            for pt in _opus_payload_types(section):
                if not _has_plain_nack(section, pt):
                    section = _add_opus_nack_to_section(section, pt)
        out.append(section)
    return "".join(out)
