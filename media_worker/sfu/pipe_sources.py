"""What crosses a pipe (``pipe.py``): a local stream as a pipe offers it (:class:`Export`, a
sink fed with the egress slots) and a participant of another worker as a room sees it
(:class:`RemoteParticipant`). See docs/sfu.md, "Cascading".
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from . import rtp
from .ingress import PublisherStream
from .munger import Munger

if TYPE_CHECKING:
    from .pipe import RoomPipe

MAX_RETRANSMIT = 64  # packets resent for one NACK

_pack_seq_ts_ssrc = struct.Struct("!HII").pack_into


class Export:
    """A local publisher stream as one pipe offers it under its own SSRC.

    While the other side wants it, it sits in the stream's ``slots`` and each packet crosses
    once; its :class:`~.munger.Munger` keeps the pipe's numbering continuous when it stops
    and starts again or the source restarts (so no SRTP index is ever reused for a new
    packet), and maps the other side's NACKs back to the source packet.
    """

    def __init__(self, pipe: RoomPipe, stream: PublisherStream, role: str, ssrc: int) -> None:
        self.pipe = pipe
        self.stream = stream
        self.role = role  # video / audio / content
        self.ssrc = ssrc
        self.munger = Munger(ssrc, stream.kind)
        self.munger.waiting_keyframe = False  # the remote slots wait for key frames themselves
        self.sending = False
        self.packets = 0
        self.octets = 0

    def describe(self, rids: tuple[str, ...]) -> dict[str, Any]:
        s = self.stream
        return {
            "s": self.ssrc,
            "o": s.owner,
            "m": self.role,
            "r": s.rid,
            "l": s.layer,
            "rids": list(rids),
            "c": {str(pt): name for pt, name in s.codecs.items()},
            "ck": {str(pt): key for pt, key in s.codec_keys.items()},
            "x": {uri: i for i, uri in s.uri_by_id.items()},
        }

    def attach(self) -> None:
        self.sending = True
        self.munger.resync()  # continue the pipe's numbering where it stopped, no gap
        self.stream.slots.append(self)

    def detach(self) -> None:
        self.sending = False
        if self in self.stream.slots:
            self.stream.slots.remove(self)

    # --- StreamSink: called by the publisher's ingest, as the egress slots are ---------

    def forward(
        self,
        data: bytes,
        header: rtp.RtpHeader,
        elements: list[tuple[int, int, int]],
        keyframe: bool,
        now: float,
    ) -> int:
        tx = self.pipe._tx
        if tx is None:
            return 0
        numbered = self.munger.rewrite(self.stream, header.seq, header.timestamp, keyframe, now)
        if numbered is None:
            return 0
        buf = bytearray(data)
        _pack_seq_ts_ssrc(buf, 2, numbered[0], numbered[1], self.ssrc)
        try:
            tx(bytes(buf))
        except Exception:  # a full or dead socket must not stop the publisher's fan-out
            self.pipe.send_errors += 1
            return 0
        self.packets += 1
        self.octets += header.payload_end - header.payload_start
        self.pipe.counters.pipe_out += 1
        return 1

    def resync(self) -> None:
        """The source restarted its numbering (or audio was muted): re-base, and forget
        which pipe numbers were which source packets -- an old number must never be resent
        with a new packet's bytes (the same SRTP nonce over different data)."""
        self.munger.resync()
        self.munger.forget(self.stream)

    def retransmit(self, seqs: list[int]) -> int:
        """Resend what the other side lost on the pipe, from the origin's history."""
        tx = self.pipe._tx
        if tx is None or not self.sending:
            return 0
        sent = 0
        for out_seq in seqs[:MAX_RETRANSMIT]:
            entry = self.munger.lookup(out_seq)
            if entry is None:
                continue  # never sent (lost on the way in: the origin's own NACKs ask for it)
            source, src_seq, out_ts = entry
            data = source.stored(src_seq)
            if data is None:
                continue
            buf = bytearray(data)
            _pack_seq_ts_ssrc(buf, 2, out_seq, out_ts, self.ssrc)
            try:
                tx(bytes(buf))
            except Exception:
                self.pipe.send_errors += 1
                continue
            sent += 1
        return sent


class RemoteParticipant:
    """A participant hosted by another worker, as this room sees it through a pipe.

    It has what a room asks of a local :class:`~.peer.Peer` to fill slots: the bound
    streams by role, the simulcast layers, ``request_keyframe``. ``watched`` is set by the
    room (the layers its slots want) and carried back to the origin by the pipe.
    """

    def __init__(self, participant_id: str) -> None:
        self.participant_id = participant_id
        self.video: PublisherStream | None = None
        self.audio: PublisherStream | None = None
        self.content: PublisherStream | None = None
        self.layers: dict[str, PublisherStream] = {}
        self.layer_rids: tuple[str, ...] = ()
        self.streams: dict[int, PublisherStream] = {}  # pipe SSRC -> stream
        self.watched: list[str] = []

    @property
    def layer_count(self) -> int:
        return len(self.layer_rids) or 1

    def video_layers(self) -> list[PublisherStream]:
        if self.layers:
            return sorted(self.layers.values(), key=lambda s: s.layer)
        return [self.video] if self.video is not None else []

    def request_keyframe(self, stream: PublisherStream, *, forced: bool) -> None:
        if stream.keyframe_requests is not None:
            stream.keyframe_requests.request(forced=forced)

    def _drop(self, stream: PublisherStream) -> None:
        for ssrc, s in list(self.streams.items()):
            if s is stream:
                del self.streams[ssrc]
        for rid, s in list(self.layers.items()):
            if s is stream:
                del self.layers[rid]
        if self.audio is stream:
            self.audio = None
        if self.content is stream:
            self.content = None
        if self.video is stream:
            layers = self.video_layers()
            self.video = layers[0] if layers else None
