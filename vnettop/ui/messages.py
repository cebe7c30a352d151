"""Messages the UI's workers and screens post, each a dataclass named as the fact it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from vnettop.model import Snapshot


@dataclass
class SnapshotCollected(Message):
    """The collector finished a poll: here is the new picture."""

    snapshot: Snapshot


@dataclass
class CollectFailed(Message):
    """The collector raised (it should not; soft errors belong in the snapshot). Shown, then retried."""

    error: str


@dataclass
class ActionApplied(Message):
    """The mutator finished a plan (successfully or not)."""

    ok: bool
    message: str
    ip_command: str
    #: The plan applied (the app selects what it created or moved).
    plan: Any = None


@dataclass
class HostOpened(Message):
    """A fleet file's host has its snapshot built: show it (and select `target` in it, if any)."""

    index: int
    snapshot: Snapshot
    target: Any = None


@dataclass
class HostNotOpened(Message):
    """A fleet file's host has no picture to show (it did not answer, or its snapshot is unreadable)."""

    index: int
    reason: str


@dataclass
class HostsSummarized(Message):
    """Counts and orphans of some of a fleet file's hosts: (host index, HostSummary) pairs."""

    summaries: list[tuple[int, Any]]
