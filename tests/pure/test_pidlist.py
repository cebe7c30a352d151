"""Listing /proc only when the kernel's task mark moved: a fake /proc whose `stat` and `loadavg` the test
moves as the kernel does (a task attached: tasks made and tasks there both up; reaped: tasks there down).
What must hold: an unchanged mark answers without listing; a new or reaped process moves the mark and is
seen at once, a birth and a reap in one tick too; files that are not the kernel's (bind-mounted over from
elsewhere), missing or malformed ones, or an unlistable /proc never answer from memory; the bound and the
caller's ask force a listing however still the mark."""

from __future__ import annotations

from pathlib import Path

import pytest

from vnettop.collect import pidlist
from vnettop.collect.pidlist import PidLister, task_mark


class Proc:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.tasks, self.made = 0, 5000

    def spawn(self, pid: int) -> None:
        (self.root / str(pid)).mkdir()
        self.tasks += 1
        self.made += 1
        self.counts()

    def reap(self, pid: int) -> None:
        (self.root / str(pid)).rmdir()
        self.tasks -= 1
        self.counts()

    def counts(self) -> None:
        (self.root / "stat").write_text(f"cpu  1 2 3 4\nintr 5 6\nctxt 7\nbtime 8\nprocesses {self.made}\n"
                                         "procs_running 1\nprocs_blocked 0\n")
        (self.root / "loadavg").write_text(f"0.10 0.20 0.30 2/{self.tasks} {max(self.made, 300)}\n")


@pytest.fixture
def proc(tmp_path: Path) -> Proc:
    p = Proc(tmp_path / "proc")
    for pid in (1, 40, 41):
        p.spawn(pid)
    return p


def test_the_mark_is_the_tasks_made_and_the_tasks_there(proc: Proc) -> None:
    assert task_mark(str(proc.root)) == (5003, 3)
    (proc.root / "loadavg").write_text("0.1 0.2\n")
    assert task_mark(str(proc.root)) is None
    proc.counts()
    (proc.root / "stat").write_text("cpu  1 2 3 4\n")
    assert task_mark(str(proc.root)) is None


def test_an_unmoved_mark_answers_without_listing_and_any_change_is_seen_at_once(proc: Proc) -> None:
    lister = PidLister(str(proc.root))
    assert lister._files is None  # a fake tree's files are opened afresh on each call (see MarkFiles)
    first = lister.pids()
    assert first == {1, 40, 41} and lister.listed
    again = lister.pids()
    assert again is first and not lister.listed

    proc.spawn(57)
    assert lister.pids() == {1, 40, 41, 57} and lister.listed
    proc.reap(40)
    assert lister.pids() == {1, 41, 57} and lister.listed
    # A process made and another reaped in one tick: the tasks there are as many, the tasks made moved.
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


@pytest.mark.parametrize("spoil", ["loadavg from another file system", "no stat", "malformed loadavg"])
def test_without_a_mark_it_can_trust_every_call_lists(tmp_path: Path, spoil: str) -> None:
    proc = Proc(tmp_path / "proc")
    proc.spawn(7)
    if spoil == "loadavg from another file system":  # as lxcfs bind-mounts its own over a container's
        (proc.root / "loadavg").unlink()
        (proc.root / "loadavg").symlink_to("/proc/loadavg")
        assert task_mark(str(proc.root)) is not None  # readable, and still not trusted
    elif spoil == "no stat":
        (proc.root / "stat").unlink()
    elif spoil == "malformed loadavg":
        (proc.root / "loadavg").write_text("garbage\n")
    lister = PidLister(str(proc.root))
    assert lister.pids() == {7}
    (proc.root / "8").mkdir()  # the counts (where there are any) do not move
    assert lister.pids() == {7, 8} and lister.listed


def test_the_caller_may_ask_for_a_listing(proc: Proc) -> None:
    lister = PidLister(str(proc.root))
    lister.pids()
    (proc.root / "99").mkdir()
    assert 99 not in lister.pids() and not lister.listed
    assert 99 in lister.pids(listing=True) and lister.listed


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

