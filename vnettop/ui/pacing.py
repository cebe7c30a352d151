"""When a kernel event may start a collection: at once when events are rare, spaced out in a storm (pure).

A fixed minimum gap between collections (0.3 s) guarded against a host creating hundreds of
namespaces keeping the collector and the redraws busy back to back, but it also made a lone change wait
up to 0.3 s after the interval's own collection: a floor under how fast one `ip link add` shows on a
quiet host. A token bucket keeps the guard and drops the floor: a few event-driven collections may
follow each other after only the settle delay (a lone change, and the one or two events that trail it);
beyond that they are spaced `gap` apart, so a storm costs no more than it did.

The settle delay is what one change's trailing events need (benchmarks/event_bursts.py, with the TUI's
own event wait): one `ip` command's events (a veth pair, even across namespaces, a bridge added or
removed) all come within 2.5 ms of the first, so 15 ms takes them whole with room to spare. A change
made of several commands (container plumbing: five `ip` commands) spreads over 20-100 ms, which even
the former 50 ms did not cover (3 of 10); the bucket is what bounds those. 15 ms rather than 50 ms is
35 ms less between a lone change and the screen showing it.
"""

from __future__ import annotations

#: After a kernel event, wait this long for the rest of its burst before collecting.
EVENT_SETTLE = 0.015
#: In a storm of events, never collect more often than this (a new device still shows in < 0.5 s).
MIN_GAP = 0.3
#: How many event-driven collections may come back to back (each after EVENT_SETTLE) before the
#: storm spacing applies; one more is allowed every MIN_GAP.
BURST = 2


class EventPacer:
    """A token bucket of event-driven collections: `BURST` tokens, one more every `gap` seconds."""

    def __init__(self, settle: float = EVENT_SETTLE, gap: float = MIN_GAP, burst: int = BURST) -> None:
        self.settle = settle
        self.gap = gap
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None  # when `_tokens` was last brought up to date

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) / self.gap)
        self._at = now

    def delay(self, now: float) -> float:
        """Seconds to wait, after an event seen at `now`, before collecting: the settle delay while a
        token is left, else until the next token comes (never less than the settle delay)."""
        self._refill(now)
        if self._tokens >= 1.0:
            return self.settle
        return max(self.settle, (1.0 - self._tokens) * self.gap)

    def spend(self, now: float) -> None:
        """An event-driven collection starts at `now` (collections of the interval spend nothing)."""
        self._refill(now)
        self._tokens = max(0.0, self._tokens - 1.0)
