"""Listing /proc only when the kernel's task mark moved: a fake /proc whose `loadavg` the test moves as
the kernel would. What must hold: an unchanged mark answers without listing; a new or reaped process
moves the mark and is seen at once; a /proc of another pid namespace, a missing or malformed loadavg,
or an unlistable /proc never answer from memory; the bound forces a listing however still the mark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vnettop.collect import pidlist
from vnettop.collect.pidlist import PidLister, task_mark


class Proc:
    def __init__(self, root: Path, self_pid: int | None = None) -> None:
        self.root = root
        root.mkdir()
        (root / "self").symlink_to(str(os.getpid() if self_pid is None else self_pid))
        self.tasks, self.last = 0, 300

    def spawn(self, pid: int) -> None:
        (self.root / str(pid)).mkdir()
        self.tasks += 1
        self.last = pid
        self.loadavg()

    def reap(self, pid: int) -> None:
        (self.root / str(pid)).rmdir()
        self.tasks -= 1
        self.loadavg()

    def loadavg(self) -> None:
        (self.root / "loadavg").write_text(f"0.10 0.20 0.30 2/{self.tasks} {self.last}\n")


@pytest.fixture
def proc(tmp_path: Path) -> Proc:
    p = Proc(tmp_path / "proc")
    for pid in (1, 40, 41):
        p.spawn(pid)
    return p


def test_loadavg_gives_the_task_count_and_the_last_pid(proc: Proc) -> None:
    assert task_mark(str(proc.root)) == (3, 41)
    (proc.root / "loadavg").write_text("0.1 0.2\n")
    assert task_mark(str(proc.root)) is None


def test_an_unmoved_mark_answers_without_listing_and_any_change_is_seen_at_once(proc: Proc) -> None:
    lister = PidLister(str(proc.root))
    first = lister.pids()
    assert first == {1, 40, 41} and lister.listed
    again = lister.pids()
    assert again is first and not lister.listed

    proc.spawn(57)
    assert lister.pids() == {1, 40, 41, 57} and lister.listed
    proc.reap(40)
    assert lister.pids() == {1, 41, 57} and lister.listed
    # A process made and another reaped in one tick: the count is back, the last pid moved.
    proc.spawn(58)
    proc.reap(1)
    assert lister.pids() == {41, 57, 58} and lister.listed
    assert lister.pids() == {41, 57, 58} and not lister.listed

    # What the mark cannot see (a directory appearing with no task made) stays unseen until the bound:
    # proof that the still mark really spared the listing.
    (proc.root / "99").mkdir()
    assert lister.pids() == {41, 57, 58} and not lister.listed


def test_the_bound_lists_however_still_the_mark(proc: Proc) -> None:
    lister = PidLister(str(proc.root), every=3)
    lister.pids()
    (proc.root / "99").mkdir()
    listed, seen = [], []
    for _ in range(6):
        seen.append(99 in lister.pids())
        listed.append(lister.listed)
    assert listed == [False, False, True, False, False, True]
    assert seen == [False, False, True, True, True, True]


@pytest.mark.parametrize("spoil", ["other pid namespace", "no loadavg", "malformed loadavg"])
def test_without_a_mark_it_can_trust_every_call_lists(tmp_path: Path, spoil: str) -> None:
    proc = Proc(tmp_path / "proc", self_pid=os.getpid() + 1 if spoil == "other pid namespace" else None)
    proc.spawn(7)
    if spoil == "no loadavg":
        (proc.root / "loadavg").unlink()
    elif spoil == "malformed loadavg":
        (proc.root / "loadavg").write_text("garbage\n")
    lister = PidLister(str(proc.root))
    assert lister.pids() == {7}
    (proc.root / "8").mkdir()  # the mark (where there is one) does not move
    assert lister.pids() == {7, 8} and lister.listed


def test_a_proc_that_cannot_be_listed_gives_nothing_and_is_listed_again(
        proc: Proc, monkeypatch: pytest.MonkeyPatch) -> None:
    lister = PidLister(str(proc.root))
    real = pidlist.os.listdir

    def refused(path: str) -> list[str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pidlist.os, "listdir", refused)
    assert lister.pids() == frozenset()
    monkeypatch.setattr(pidlist.os, "listdir", real)
    assert lister.pids() == {1, 40, 41} and lister.listed
