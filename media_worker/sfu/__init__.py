"""Selective forwarding unit on aiortc: forwards RTP without decoding. No Django here.

Public API (see docs/sfu.md): :class:`Room`, :class:`NetworkPolicy`, :class:`IceServer`,
:class:`SignallingError`.
"""

from __future__ import annotations

from .policy import IceServer, NetworkPolicy
from .room import Room
from .signalling import SignallingError

__all__ = ["IceServer", "NetworkPolicy", "Room", "SignallingError"]
