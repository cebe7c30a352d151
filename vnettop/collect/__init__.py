"""The only code that reads the kernel: namespaces, rtnetlink in each of them, and /proc.

Importing this package is cheap and imports neither pyroute2 nor Textual; the live collector lives in
`vnettop.collect.collector` and is imported only by whoever needs it.
"""

from __future__ import annotations

from typing import Protocol

from vnettop.model import Snapshot


class Collector(Protocol):
    """What the UI and the CLI need from a source of snapshots (live, loaded from a file, or fake)."""

    def collect(self) -> Snapshot:
        """Return a complete, fresh Snapshot. Never raises for partial failures: they go in `errors`."""
        ...

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a kernel event (link added, removed, moved, up/down).

        Returns True as soon as something changed, False on timeout. A static source just sleeps
        (interruptibly) and returns False. Called from a thread worker, never from the event loop.
        """
        ...

    def close(self) -> None:
        """Release sockets and threads."""
        ...
