"""The pipe's wire (``pipe.py``): keys and SRTP sessions, the control messages' encoding and
their checks. No state; see docs/sfu.md, "Cascading".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import struct
from dataclasses import dataclass
from typing import Any

import pylibsrtp

KEY_LENGTH = 28  # AEAD_AES_128_GCM: 16-byte master key + 12-byte salt
PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
REPLAY_WINDOW = 2048  # packets: a retransmission this far behind still authenticates
RTCP_APP = 204
APP_NAME = b"GBPI"
INVENTORY, DESCRIBE, ANNOUNCE, WANT, DECISIONS = 1, 2, 3, 4, 5
INVENTORY_PART = 64  # pipe SSRCs per INVENTORY packet
MAX_STREAMS = 2048  # streams one side may offer over one pipe
MAX_PARTS = MAX_STREAMS // INVENTORY_PART
MAX_DESCRIBE = 32  # SSRCs asked for in one DESCRIBE
_RID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_VIDEO_CODECS = frozenset({"vp8", "h264"})


class PipeError(ValueError):
    """A pipe was opened or connected with bad arguments (the message says which)."""


def pipe_key() -> bytes:
    """A fresh per-room pipe key (random; both ends of every pipe of the room get it)."""
    return os.urandom(KEY_LENGTH)


def direction_key(key: bytes, sender: str, receiver: str) -> bytes:
    """One SRTP master key + salt per direction (HKDF-Expand with SHA-256, one block): the
    two directions never share a key stream, whatever SSRCs they pick."""
    info = b"giaoban-pipe\0" + sender.encode() + b"\0" + receiver.encode() + b"\x01"
    return hmac.new(key, info, hashlib.sha256).digest()[:KEY_LENGTH]


def session(key: bytes, *, outbound: bool) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=key,
        ssrc_type=(
            pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
        ),
        srtp_profile=PROFILE,
    )
    policy.window_size = REPLAY_WINDOW
    # A retransmission is the packet sent before, byte for byte (same index, same plaintext):
    # protecting it again reuses the nonce on identical data, which reveals nothing.
    policy.allow_repeat_tx = outbound
    return pylibsrtp.Session(policy=policy)


def app_packet(subtype: int, sender_ssrc: int, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":")).encode()
    data += b" " * (-len(data) % 4)
    body = struct.pack("!I", sender_ssrc) + APP_NAME + data
    return struct.pack("!BBH", 0x80 | subtype, RTCP_APP, len(body) // 4) + body


def check(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(what)


def ssrc_of(value: Any) -> int:
    check(isinstance(value, int) and 0 < value < 1 << 32, "bad ssrc")
    return int(value)


@dataclass(frozen=True)
class StreamDescription:
    """What an ``ANNOUNCE`` says of one stream offered over a pipe."""

    ssrc: int  # its SSRC on the pipe
    owner: str
    role: str  # video / audio / content
    rid: str | None
    layer: int
    rids: tuple[str, ...]  # the owner's simulcast layers, lowest first
    codecs: dict[int, str]  # payload type -> codec name
    codec_keys: dict[int, str]
    extensions: dict[str, int]  # uri -> id

    @property
    def kind(self) -> str:
        return "audio" if self.role == "audio" else "video"


def parse_description(d: dict[str, Any]) -> StreamDescription:
    """Check an ``ANNOUNCE`` payload; ValueError (or KeyError, TypeError) if it is not one."""
    ssrc = ssrc_of(d["s"])
    owner, role, rid, layer, rids = d["o"], d["m"], d["r"], d["l"], d["rids"]
    check(isinstance(owner, str) and 0 < len(owner) <= 200, "owner")
    check(role in ("video", "audio", "content"), "role")
    check(rid is None or (isinstance(rid, str) and bool(_RID.match(rid))), "rid")
    check(isinstance(layer, int) and 0 <= layer < 4, "layer")
    check(isinstance(rids, list) and len(rids) <= 4, "rids")
    check(all(isinstance(r, str) and _RID.match(r) for r in rids), "rids")
    names = {"opus"} if role == "audio" else _VIDEO_CODECS
    codecs: dict[int, str] = {}
    keys: dict[int, str] = {}
    check(isinstance(d["c"], dict) and isinstance(d["ck"], dict), "codecs")
    for pt_text, name in d["c"].items():
        pt = int(pt_text)
        check(0 <= pt < 128 and name in names, "codec")
        codecs[pt] = name
        key = d["ck"].get(pt_text, name)
        check(isinstance(key, str) and len(key) <= 100, "codec key")
        keys[pt] = key
    check(bool(codecs), "no codec")
    exts = d["x"]
    check(isinstance(exts, dict) and len(exts) <= 16, "extensions")
    for uri, ext_id in exts.items():
        check(isinstance(ext_id, int) and 0 < ext_id < 256 and len(uri) <= 200, "extension")
    return StreamDescription(ssrc, owner, role, rid, layer, tuple(rids), codecs, keys, exts)


def check_decisions(d: Any) -> dict[str, Any]:
    """Check a ``DECISIONS`` payload's decisions (``Room.decisions``)."""
    check(isinstance(d, dict), "decisions")
    for name in ("floor", "broadcast", "chair", "content"):
        value = d[name]
        check(value is None or (isinstance(value, str) and len(value) <= 200), name)
    for name, limit in (("thumbnails", 16), ("muted", MAX_STREAMS)):
        values = d[name]
        check(isinstance(values, list) and len(values) <= limit, name)
        check(all(isinstance(v, str) and len(v) <= 200 for v in values), name)
    return dict(d)
