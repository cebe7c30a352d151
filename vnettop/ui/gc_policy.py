"""When the garbage collector may pause the TUI: between keypresses, not in the middle of one.

Measured at 200 namespaces (BENCHMARKS.md): CPython's automatic full collections walked every object
of the process in 30-60 ms, several times a minute, at moments decided by allocation counts, i.e.
often while a keypress was being drawn (the main cause of slow keys at p95). Two measures:

* After the first snapshot is drawn, everything alive (Textual, the widgets, the first snapshot: ~100k
  objects) is frozen: later collections skip it. Frozen objects are still freed by reference counting;
  only cyclic garbage among them is never collected, which bounds what can leak to that start-up set.
* Automatic full collections are turned off (the young generations still run, they take ~1 ms) and
  this policy runs one itself every `every` seconds once no key has come for `quiet` seconds, or
  after `at_most` seconds whatever the user does, so cyclic garbage of the older generation is still
  collected and memory stays bounded. The TUI makes such garbage fast (Textual's messages and
  renders: ~12 MB a minute at 200 namespaces while keys are pressed): with a collection every 30 s
  and 2 s of quiet, a user typing steadily saw RSS climb from 68 to 95 MB in two minutes; with 5 s
  and 0.5 s it stays at 76 MB (72 MB with CPython's own schedule), and a 15-40 ms collection meets
  a keypress rarely (it waits for half a second without one).
* While no key comes, the interval doubles after each full collection that found little garbage
  (fewer than `little` objects), up to `idle_every`; one that found more (a host whose namespaces come
  and go replaces tree nodes, which are cycles) brings it back to `every`. At 1000 namespaces a full
  collection costs ~15 ms: every 5 s on an idle host it was a third of a percent of a core of an idle
  TUI's budget of 3 %.
* What survives a full collection of the policy is frozen too, so the next one walks only what was made
  since (the counters that moved, the rows rebuilt), not every object alive. Measured at 1000 namespaces
  (headless app, live collector): the heap not frozen since start-up grew to ~65-85k objects, and each
  full collection walked them all in 21-50 ms; frozen after each, a collection walks a few thousand.
  Cyclic garbage among frozen objects is never found by those, so every `deep_every` seconds (10 min)
  one collection unfreezes everything first (~100 ms at 1000 namespaces, in a quiet moment like the
  others): what can leak is bounded by what a host makes in that time.

* The youngest generation is collected after 10,000 new container objects instead of CPython's 700.
  On a host whose counters move widely (a multicast flooding a bridge moves ~2000 of 5000 devices at
  1000 namespaces), each tick makes a new Link and Stats per moved device while the last tick's die, so
  the net count barely grows from tick to tick, but it passed 700 four to six times within each such
  tick: each young collection visited every fresh Link's 18 fields, and 2.6 ms of every tick (8 ms of a
  moved one) went to collections that found nothing (measured at 1000 namespaces, alternating both
  thresholds on one host: 0 collections a tick at 10,000). What the young generations hold when one
  does run is bounded by that count (a few MB), and the full collections above still run.

Process-wide, so only the CLI's app uses it (tests start many apps in one process), and `stop` puts
the collector's thresholds back.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

#: A full-generation threshold no run reaches: CPython then never starts a full collection by itself.
NEVER = 1 << 30
#: The youngest generation's threshold while the policy runs (see the module doc).
YOUNG = 10_000


class GcPolicy:
    """Freeze the start-up heap; full collections only in quiet moments (see the module doc)."""

    def __init__(self, every: float = 5.0, quiet: float = 0.5, at_most: float = 15.0,
                 clock: Callable[[], float] = time.monotonic,
                 collect: Callable[[], object] = gc.collect, idle_every: float = 30.0,
                 little: int = 5000, deep_every: float = 600.0,
                 freeze: Callable[[], None] = gc.freeze, unfreeze: Callable[[], None] = gc.unfreeze) -> None:
        self.every = every
        self.idle_every = idle_every
        self.little = little
        self._idle_every_now = every
        self.quiet = quiet
        self.at_most = at_most
        self._clock = clock
        self._collect = collect
        self._freeze = freeze
        self._unfreeze = unfreeze
        self.deep_every = deep_every
        self._last_deep = clock()
        self._saved: tuple[int, int, int] | None = None
        self._last_input = clock()
        self._last_full = clock()
        #: Full collections run by this policy (tests and benchmarks read it), and of them the deep ones.
        self.collections = 0
        self.deep_collections = 0

    @property
    def started(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        """Collect what is garbage now, freeze the rest, stop automatic full collections, and let the
        youngest generation grow to `YOUNG` objects."""
        if self._saved is not None:
            return
        self._collect()
        self._freeze()
        self._saved = gc.get_threshold()
        gen0, gen1, _ = self._saved
        gc.set_threshold(max(gen0, YOUNG), gen1, NEVER)
        self._last_full = self._last_deep = self._clock()

    def note_input(self) -> None:
        """A key (or click) arrived: the next quiet moment starts now."""
        self._last_input = self._clock()

    def tick(self) -> bool:
        """Run a full collection if it is time and the user is quiet (or it is overdue); True if run."""
        if self._saved is None:
            return False
        now = self._clock()
        since_full = now - self._last_full
        typing = self._last_input > self._last_full  # keys since the last full collection
        every = self.every if typing else self._idle_every_now
        due = since_full >= every and now - self._last_input >= self.quiet
        if not (due or (typing and since_full >= self.at_most)):
            return False
        deep = now - self._last_deep >= self.deep_every
        if deep:  # everything is looked at again, the start-up heap included
            self._unfreeze()
        found = self._collect()
        self._freeze()  # the survivors are not walked by the next collection (module doc)
        if deep:
            self._last_deep = self._clock()
            self.deep_collections += 1
        if isinstance(found, int) and found < self.little:
            self._idle_every_now = min(self.idle_every, self._idle_every_now * 2)
        else:
            self._idle_every_now = self.every
        self._last_full = self._clock()
        self.collections += 1
        return True

    def stop(self) -> None:
        """Automatic collections as before (the frozen objects stay frozen: unfreezing buys nothing
        at exit)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
