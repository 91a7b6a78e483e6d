"""RTP/RTCP byte-level helpers for the forwarding hot path.

Everything here works on raw, already-decrypted packets with ``struct`` and never builds
aiortc's ``RtpPacket`` objects: parsing and re-serialising through them costs ~6-7 µs a
packet, which is most of the budget of a forwarded packet (MEDIA_NOTES).

Functions return ``None`` (or raise ``ValueError`` for the RTCP builders' inputs) on
malformed data instead of raising, because the callers drop bad packets and carry on.
"""

from __future__ import annotations

import struct
import time
from typing import NamedTuple

MAX_RTP_SIZE = 1500
"""Larger datagrams cannot be a sane RTP packet on an Ethernet path; they are dropped."""

ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_RTPFB = 205
RTCP_PSFB = 206
RTPFB_NACK = 1
PSFB_PLI = 1
PSFB_FIR = 4
PSFB_APP = 15

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

NTP_EPOCH_OFFSET = 2208988800

_unpack_hii = struct.Struct("!HII").unpack_from
_unpack_hh = struct.Struct("!HH").unpack_from
_unpack_h = struct.Struct("!H").unpack_from
_unpack_i = struct.Struct("!I").unpack_from


class RtpHeader(NamedTuple):
    """The fields of an RTP header the SFU needs; offsets index into the raw packet."""

    marker_pt: int
    seq: int
    timestamp: int
    ssrc: int
    ext_start: int  # first byte of the extension elements (== ext_end when none)
    ext_end: int
    two_byte_ext: bool
    payload_start: int
    payload_end: int


def parse_rtp_header(data: bytes) -> RtpHeader | None:
    """Validate and split an RTP packet, or return ``None`` if it is malformed.

    Checks version 2, CSRC list, extension block and padding bounds against the length,
    and that at least one payload byte is present.
    """
    n = len(data)
    if n < 13 or n > MAX_RTP_SIZE:
        return None
    b0 = data[0]
    if b0 & 0xC0 != 0x80:
        return None
    seq, ts, ssrc = _unpack_hii(data, 2)
    pos = 12 + 4 * (b0 & 0x0F)
    ext_start = ext_end = pos
    two_byte = False
    if b0 & 0x10:
        if pos + 4 > n:
            return None
        profile, words = _unpack_hh(data, pos)
        ext_start = pos + 4
        ext_end = ext_start + 4 * words
        if profile != ONE_BYTE_PROFILE:
            if profile & TWO_BYTE_PROFILE_MASK != TWO_BYTE_PROFILE:
                # An unknown profile is legal RTP; its elements are just not ours to read.
                ext_start = ext_end
            else:
                two_byte = True
        pos = ext_end
    end = n
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0:
            return None
        end = n - pad
    if pos >= end:
        return None
    return RtpHeader(data[1], seq, ts, ssrc, ext_start, ext_end, two_byte, pos, end)


def extension_elements(data: bytes, header: RtpHeader) -> list[tuple[int, int, int]] | None:
    """List ``(offset, id, length)`` of each header extension element (RFC 8285).

    ``offset`` is the element's first (id) byte; the data starts 1 (one-byte form) or 2
    (two-byte form) bytes later. Returns ``None`` if an element runs past the block.
    """
    out: list[tuple[int, int, int]] = []
    i = header.ext_start
    end = header.ext_end
    if header.two_byte_ext:
        while i < end:
            ext_id = data[i]
            if ext_id == 0:
                i += 1
                continue
            if i + 2 > end:
                return None
            length = data[i + 1]
            if i + 2 + length > end:
                return None
            out.append((i, ext_id, length))
            i += 2 + length
        return out
    while i < end:
        b = data[i]
        if b == 0:
            i += 1
            continue
        ext_id = b >> 4
        if ext_id == 15:
            break
        length = (b & 0x0F) + 1
        if i + 1 + length > end:
            return None
        out.append((i, ext_id, length))
        i += 1 + length
    return out


def element_value(data: bytes, header: RtpHeader, offset: int, length: int) -> bytes:
    start = offset + (2 if header.two_byte_ext else 1)
    return data[start : start + length]


def rewrite_extensions(
    buf: bytearray,
    two_byte: bool,
    elements: list[tuple[int, int, int]],
    id_map: dict[int, int],
) -> None:
    """Rewrite extension ids in place; ids missing from ``id_map`` become padding.

    Blanking (id 0 bytes are padding in both RFC 8285 forms) keeps the packet length, so
    nothing else in the header moves. The subscriber negotiated its own ids, and an
    element it did not negotiate -- notably the publisher's MID -- must not reach it.
    """
    get = id_map.get
    if two_byte:
        for offset, ext_id, length in elements:
            new = get(ext_id, 0)
            if new == 0 or new > 255:
                buf[offset : offset + 2 + length] = bytes(2 + length)
            elif new != ext_id:
                buf[offset] = new
        return
    for offset, ext_id, length in elements:
        new = get(ext_id, 0)
        if new == 0 or new > 14:
            buf[offset : offset + 1 + length] = bytes(1 + length)
        elif new != ext_id:
            buf[offset] = (new << 4) | (length - 1)


def audio_level(data: bytes, header: RtpHeader, elements, ext_id: int) -> int | None:
    """The ssrc-audio-level value in -dBov (0 loudest .. 127 silence), or ``None``."""
    for offset, eid, length in elements:
        if eid == ext_id and length >= 1:
            return element_value(data, header, offset, length)[0] & 0x7F
    return None


def abs_send_time(data: bytes, header: RtpHeader, elements, ext_id: int) -> int | None:
    for offset, eid, length in elements:
        if eid == ext_id and length == 3:
            v = element_value(data, header, offset, 3)
            return (v[0] << 16) | (v[1] << 8) | v[2]
    return None


def vp8_keyframe_start(data: bytes, start: int, end: int) -> bool:
    """True if the payload is the first packet of a VP8 key frame (RFC 7741 §4.2-4.3)."""
    if end - start < 2:
        return False
    b = data[start]
    if not b & 0x10 or b & 0x07:  # S bit set and partition index 0
        return False
    i = start + 1
    if b & 0x80:  # X: extension byte follows
        x = data[i]
        i += 1
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if i >= end:
                return False
            i += 2 if data[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/KEYIDX byte
            i += 1
    if i >= end:
        return False
    return not data[i] & 0x01  # P bit clear: key frame


def h264_keyframe_start(data: bytes, start: int, end: int) -> bool:
    """True if the payload starts an IDR access unit (SPS, IDR slice, or their aggregation)."""
    if end - start < 2:
        return False
    nal = data[start] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:  # STAP-A: walk the aggregated NAL units
        i = start + 1
        while i + 2 < end:
            size = _unpack_h(data, i)[0]
            if size == 0 or i + 2 + size > end:
                return False
            if data[i + 2] & 0x1F in (5, 7):
                return True
            i += 2 + size
        return False
    if nal == 28:  # FU-A: start fragment of an IDR slice
        fu = data[start + 1]
        return bool(fu & 0x80) and fu & 0x1F == 5
    return False


KEYFRAME_DETECTORS = {"vp8": vp8_keyframe_start, "h264": h264_keyframe_start}


def unwrap_rtx(data: bytes, header: RtpHeader, payload_type: int, ssrc: int) -> bytes | None:
    """The original packet inside an RTX retransmission (RFC 4588 4), or ``None``.

    The first two payload bytes are the original sequence number; padding is dropped (a
    padding-only RTX packet, as Chromium sends to probe bandwidth, gives ``None``).
    """
    start, end = header.payload_start, header.payload_end
    if end - start < 3:
        return None
    osn = _unpack_h(data, start)[0]
    head = bytearray(data[:start])
    head[0] &= 0xDF  # no padding any more
    struct.pack_into("!BH", head, 1, (header.marker_pt & 0x80) | payload_type, osn)
    struct.pack_into("!I", head, 8, ssrc)
    return bytes(head) + data[start + 2 : end]


def wrap_rtx(
    data: bytes, header: RtpHeader, payload_type: int, seq: int, ssrc: int, osn: int
) -> bytearray:
    """An RTX packet (RFC 4588 4) carrying ``data`` (whose header the caller rewrote)."""
    buf = bytearray(data[: header.payload_start])
    buf[0] &= 0xDF
    struct.pack_into("!BH", buf, 1, (header.marker_pt & 0x80) | payload_type, seq)
    struct.pack_into("!I", buf, 8, ssrc)
    buf += struct.pack("!H", osn)
    buf += data[header.payload_start : header.payload_end]
    return buf


# --- RTCP ---------------------------------------------------------------------------------


def ntp_now() -> int:
    """The current wall-clock time as a 64-bit NTP timestamp."""
    t = time.time() + NTP_EPOCH_OFFSET
    sec = int(t)
    return (sec << 32) | int((t - sec) * (1 << 32))


def _rtcp(packet_type: int, count: int, body: bytes) -> bytes:
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return _rtcp(RTCP_PSFB, PSFB_PLI, struct.pack("!II", sender_ssrc, media_ssrc))


def build_nack(sender_ssrc: int, media_ssrc: int, seqs: list[int]) -> bytes:
    """Generic NACK (RFC 4585 §6.2.1) listing ``seqs`` as PID + bitmask items."""
    body = bytearray(struct.pack("!II", sender_ssrc, media_ssrc))
    pending = sorted(set(s & 0xFFFF for s in seqs))
    while pending:
        pid = pending.pop(0)
        blp = 0
        rest = []
        for s in pending:
            d = (s - pid - 1) & 0xFFFF
            if d < 16:
                blp |= 1 << d
            else:
                rest.append(s)
        pending = rest
        body += struct.pack("!HH", pid, blp)
    return _rtcp(RTCP_RTPFB, RTPFB_NACK, bytes(body))


def build_remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    exp = 0
    mantissa = max(0, int(bitrate))
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exp += 1
    fci = b"REMB" + struct.pack(
        "!BBH", len(ssrcs), (exp << 2) | (mantissa >> 16), mantissa & 0xFFFF
    )
    fci += b"".join(struct.pack("!I", s) for s in ssrcs)
    return _rtcp(RTCP_PSFB, PSFB_APP, struct.pack("!II", sender_ssrc, 0) + fci)


class ReportBlock(NamedTuple):
    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


def _report_block(r: ReportBlock) -> bytes:
    lost = max(-0x800000, min(0x7FFFFF, r.cumulative_lost)) & 0xFFFFFF
    return struct.pack(
        "!IBBHIIII",
        r.ssrc,
        r.fraction_lost,
        lost >> 16,
        lost & 0xFFFF,
        r.highest_seq & 0xFFFFFFFF,
        r.jitter & 0xFFFFFFFF,
        r.lsr,
        r.dlsr,
    )


def build_rr(sender_ssrc: int, reports: list[ReportBlock]) -> bytes:
    body = struct.pack("!I", sender_ssrc) + b"".join(_report_block(r) for r in reports[:31])
    return _rtcp(RTCP_RR, len(reports[:31]), body)


def build_sr(ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int) -> bytes:
    body = struct.pack(
        "!IQIII", ssrc, ntp, rtp_ts & 0xFFFFFFFF, packets & 0xFFFFFFFF, octets & 0xFFFFFFFF
    )
    return _rtcp(RTCP_SR, 0, body)


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    raw = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(raw)) + raw + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    return _rtcp(RTCP_SDES, 1, chunk)


class RtcpItem(NamedTuple):
    """One packet of a compound RTCP datagram: type, count/fmt field and body bytes."""

    packet_type: int
    fmt: int  # the count / feedback-message-type field
    body: bytes


def split_rtcp(data: bytes) -> list[RtcpItem] | None:
    """Split a compound RTCP datagram, or return ``None`` if any length is inconsistent."""
    items: list[RtcpItem] = []
    pos = 0
    n = len(data)
    if n < 4 or n > MAX_RTP_SIZE:
        return None
    while pos < n:
        if pos + 4 > n:
            return None
        b0, packet_type, words = struct.unpack_from("!BBH", data, pos)
        if b0 & 0xC0 != 0x80:
            return None
        end = pos + 4 + 4 * words
        if end > n:
            return None
        body = data[pos + 4 : end]
        if b0 & 0x20:
            if not body or body[-1] == 0 or body[-1] > len(body):
                return None
            body = body[: -body[-1]]
        items.append(RtcpItem(packet_type, b0 & 0x1F, body))
        pos = end
    return items


def parse_nack_body(body: bytes, limit: int = 64) -> tuple[int, int, list[int]] | None:
    """``(sender_ssrc, media_ssrc, lost_seqs)`` of a generic NACK body.

    Reads at most ``limit`` items' worth (each item is up to 17 sequence numbers): a NACK
    listing thousands of packets is not worth expanding, the SFU resends 64 at most.
    """
    if len(body) < 12 or len(body) % 4:
        return None
    sender, media = struct.unpack_from("!II", body, 0)
    lost: list[int] = []
    for pos in range(8, min(len(body), 8 + 4 * limit), 4):
        pid, blp = _unpack_hh(body, pos)
        lost.append(pid)
        for d in range(16):
            if blp >> d & 1:
                lost.append((pid + d + 1) & 0xFFFF)
    return sender, media, lost


def parse_remb_fci(fci: bytes) -> tuple[int, list[int]] | None:
    if len(fci) < 8 or fci[:4] != b"REMB":
        return None
    count = fci[4]
    exp = fci[5] >> 2
    bitrate = ((fci[5] & 0x03) << 16 | _unpack_h(fci, 6)[0]) << exp
    if len(fci) < 8 + 4 * count:
        return None
    return bitrate, [_unpack_i(fci, 8 + 4 * i)[0] for i in range(count)]
