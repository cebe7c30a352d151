"""A Collector over a fixed snapshot: `--load FILE`, `--demo`, and tests.

It never touches the kernel. `wait_for_change` just waits (interruptibly), since nothing ever changes.
"""

from __future__ import annotations

import threading

from vnettop.model import Snapshot


class StaticCollector:
    """Returns the same snapshot on every collect."""

    #: Nothing to wait for: the UI collects once (and again only when asked).
    never_changes = True

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._closed = threading.Event()

    def collect(self) -> Snapshot:
        return self.snapshot

    def wait_for_change(self, timeout: float) -> bool:
        self._closed.wait(timeout)
        return False

    def close(self) -> None:
        self._closed.set()
