"""Test doubles for the UI: a collector that serves hand-built snapshots and can be told to change,
and a mutator that records plans instead of touching the kernel."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from vnettop.actions.guards import GuardWarning, UnconfirmedWarnings, unconfirmed
from vnettop.actions.mutator import ApplyResult
from vnettop.errors import ReadOnlyError
from vnettop.model import Link, Snapshot


class FakeCollector:
    """Serves `snapshot`; `change(new)` swaps it and wakes `wait_for_change` like a kernel event would."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._changed = threading.Event()
        self._lock = threading.Lock()
        self.collects = 0
        self.waits = 0
        self.closed = False
        self.concurrent = 0  # collects running at once (must never exceed 1)
        self.max_concurrent = 0

    def collect(self) -> Snapshot:
        with self._lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            with self._lock:
                self.collects += 1
                return self._snapshot
        finally:
            with self._lock:
                self.concurrent -= 1

    def wait_for_change(self, timeout: float) -> bool:
        self.waits += 1
        if self._changed.wait(timeout):
            self._changed.clear()
            return True
        return False

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    def change(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot
        self._changed.set()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot


def later(snap: Snapshot, seconds: float = 1.0, **changes: Any) -> Snapshot:
    """A copy of `snap` taken `seconds` later, with fields replaced."""
    return replace(snap, taken_at=snap.taken_at + timedelta(seconds=seconds), **changes)


def with_links(snap: Snapshot, links: list[Link], seconds: float = 1.0) -> Snapshot:
    return later(snap, seconds, links=tuple(sorted(links, key=lambda link: link.key)))


@dataclass
class RecordingMutator:
    """Mirrors `vnettop.actions.mutator.Mutator`'s API; records plans instead of touching the kernel.

    `warnings` is what `check` returns (as the guards would); `apply` refuses unconfirmed ones the way
    the real mutator does, and refuses everything when read-only.
    """

    read_only: bool = False
    ok: bool = True
    warnings: list[GuardWarning] = field(default_factory=list)
    applied: list[Any] = field(default_factory=list)
    attempts: list[Any] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)

    def check(self, plan: Any, snapshot: Snapshot | None = None) -> list[GuardWarning]:
        self.checks.append(plan)
        return [] if self.read_only else list(self.warnings)

    def apply(self, plan: Any, confirmed_warnings: Any = (), snapshot: Snapshot | None = None) -> ApplyResult:
        self.attempts.append(plan)
        if self.read_only:
            raise ReadOnlyError(f"read-only: not done: {plan.ip_command()}")
        plan.validate()
        pending = unconfirmed(self.warnings, confirmed_warnings)
        if pending:
            raise UnconfirmedWarnings(pending)
        self.applied.append(plan)
        return ApplyResult(self.ok, plan.describe() if self.ok else "the kernel said no", plan.ip_command())
