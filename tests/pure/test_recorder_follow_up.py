"""`vnettop record`'s loop looks again `interval` after a look that recorded a change.

A change has a tail with no kernel event of its own: the `ip` command that moved a device into a
namespace exits, and the fd it held on that namespace goes with it. Without a second look the recording
keeps that fd until the next event or `full_every` (30 s). Here a stand-in collector's picture changes
twice in a row on one kernel event: the recording must end on the second change, not the first.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.sources_fixtures import openstack_snapshot
from vnettop.model import NsFd, Snapshot
from vnettop.record import recorder
from vnettop.record.reader import Recording
from vnettop.record.timefmt import parse_stamp


class Moving:
    """A collector whose picture is `pictures` in turn (then the last again), with one kernel event: the
    first wait reports it at once (the device moved); every later wait times out."""

    def __init__(self, pictures: list[Snapshot]) -> None:
        self.pictures = pictures
        self.looks = 0
        self.events = 1

    def collect(self) -> Snapshot:
        snap = self.pictures[min(self.looks, len(self.pictures) - 1)]
        self.looks += 1
        return snap

    def wait_for_change(self, timeout: float) -> bool:
        if self.events:
            self.events -= 1
            return True
        time.sleep(timeout)  # the kernel said nothing for the whole wait
        return False

    def close(self) -> None:
        pass


def held(snap: Snapshot, fds: tuple[NsFd, ...]) -> Snapshot:
    """`snap` with `fds` held on its first namespace that is not the root."""
    i = next(i for i, ns in enumerate(snap.namespaces) if not ns.root)
    return replace(snap, namespaces=tuple(replace(ns, fds=fds) if j == i else ns
                                          for j, ns in enumerate(snap.namespaces)))


def test_the_tail_of_a_change_is_recorded_without_an_event(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    base = openstack_snapshot()
    during = held(base, (NsFd(4242, 4),))  # an `ip` command holds the namespace while it moves a device
    after = held(base, ())  # ... and exits
    fake = Moving([base, during, after])
    monkeypatch.setattr("vnettop.collect.collector.LiveCollector", lambda: fake)
    path = str(tmp_path / "rec.jsonl")
    said: list[str] = []
    assert recorder.run_live(path, interval=0.05, max_size=1 << 20, keep=1, say=said.append,
                             duration=1.0, full_every=30.0) == 0
    assert fake.looks >= 3
    with Recording.open(path) as rec:
        times = rec.change_times()
        assert len(times) == 2  # the fd came, and went
        last: Any = rec.snapshot_at(parse_stamp(times[-1]))
    i = next(i for i, ns in enumerate(base.namespaces) if not ns.root)
    assert last.namespaces[i].fds == ()
