"""One subscriber's downstream bandwidth estimate, for the allocator.

**Which signal, and why: REMB, with abs-send-time stamped by the SFU at send.** A Chromium
receiver computes a delay-based estimate (GCC's arrival-time filter and overuse detector) from
the ``abs-send-time`` header extension and sends it as REMB when the answer negotiated
``goog-remb`` and no transport-cc -- which is what aiortc answers. The alternative,
transport-wide congestion control, would make the SFU run the delay-based estimator itself
on per-packet feedback from every subscriber: another Python loop over every packet sent
(hundreds of thousands a second at 210 sites) plus a feedback parser, for an estimate the
browser already computes. REMB costs the SFU one small RTCP packet per subscriber and second.
What REMB needs from the SFU is an honest send time: the publisher's abs-send-time says when
the *publisher* sent the packet, so it carries the upstream jitter and jumps on every switch;
the SFU must overwrite it with its own clock when it sends (egress; not done yet: the
estimate is not wired to the allocator yet, see docs/sfu.md "Known limits").

REMB is delay-based only; loss is added the way a GCC sender does, from the fraction lost in
the subscriber's receiver reports about its slots: above 10 % the bound drops to
``rate x (1 - loss / 2)``, ``rate`` being what the subscriber is sent now (the estimate when
that is not known), below 2 % it grows 8 % a report, in between it holds. The estimate
is the smaller of the two; before any REMB, ``initial``.
"""

from __future__ import annotations

LOSS_HIGH = 0.10
LOSS_LOW = 0.02
GROWTH = 1.08
MIN_BPS = 50_000
MAX_BPS = 50_000_000


class DownstreamEstimate:
    """REMB from the subscriber, bounded by the loss its receiver reports show."""

    def __init__(self, initial: int = 2_500_000) -> None:
        self.remb: int | None = None
        self.remb_at = 0.0
        self.loss_bound = MAX_BPS
        self.initial = initial
        self.last_loss = 0.0

    def on_remb(self, bitrate: int, now: float) -> None:
        if bitrate > 0:
            self.remb = min(MAX_BPS, bitrate)
            self.remb_at = now

    def on_loss(self, fraction: float, now: float, sent: int | None = None) -> None:
        """``fraction`` lost since the previous report (0..1, RFC 3550 fraction / 256);
        ``sent``: what the subscriber is sent now (bit/s), the rate a cut starts from (else
        the estimate)."""
        self.last_loss = fraction
        base = min(self.loss_bound, sent if sent else self.value())
        if fraction > LOSS_HIGH:
            self.loss_bound = max(MIN_BPS, int(base * (1 - fraction / 2)))
        elif fraction < LOSS_LOW and self.loss_bound < MAX_BPS:
            self.loss_bound = min(MAX_BPS, int(self.loss_bound * GROWTH))

    def value(self) -> int:
        remb = self.remb if self.remb is not None else self.initial
        return max(MIN_BPS, min(remb, self.loss_bound))
