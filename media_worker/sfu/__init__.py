"""Selective forwarding unit on aiortc: forwards RTP without decoding. No Django here.

Public API (see docs/sfu.md): :class:`Room`, :class:`NetworkPolicy`, :class:`IceServer`,
:class:`SignallingError`; cascading rooms across workers: :class:`RoomPipe`, :func:`pipe_key`.
"""

from __future__ import annotations

from .pipe import PipeError, RoomPipe, pipe_key
from .policy import IceServer, NetworkPolicy
from .room import Room
from .signalling import SignallingError

__all__ = [
    "IceServer",
    "NetworkPolicy",
    "PipeError",
    "Room",
    "RoomPipe",
    "SignallingError",
    "pipe_key",
]
