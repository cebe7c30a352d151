"""The incremental discovery's processes over a fake /proc: a new process is read at first sight, a young
one on each tick, an old one on its turn (within `rounds` calls), everyone when told to; what could not
be read stays said."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from vnettop.collect import namespaces
from vnettop.collect.namespaces import Discoverer
from vnettop.collect.rota import Rota

NS_A, NS_B, NS_C = 4026532001, 4026532002, 4026532003
ROUNDS = 4


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tree:
    def __init__(self, base: Path) -> None:
        self.proc = base / "proc"
        self.run = base / "run"
        self.proc.mkdir()
        self.run.mkdir()

    def process(self, pid: int, inode: int) -> None:
        (self.proc / str(pid) / "ns").mkdir(parents=True, exist_ok=True)
        self.enter(pid, inode)

    def enter(self, pid: int, inode: int) -> None:
        """What setns/unshare does to the process's ns/net link."""
        link = self.proc / str(pid) / "ns" / "net"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(f"net:[{inode}]")


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every /proc/PID/ns/net the discovery reads."""
    seen: list[str] = []
    real = namespaces.read_link_inode

    def counted(path: str) -> int | None:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(namespaces, "read_link_inode", counted)
    return seen


def _of(tree: Tree, reads: list[str]) -> list[str]:
    """The reads of the fake processes' links (not of the real /proc/self/ns/net)."""
    return [r for r in reads if r.startswith(str(tree.proc))]


def _discoverer(tree: Tree, clock: Clock) -> Discoverer:
    return Discoverer(str(tree.proc), str(tree.run), rota=Rota(rounds=ROUNDS, clock=clock))


def test_an_old_process_entering_a_namespace_is_seen_within_rounds_calls_each_reading_a_share(
        tree: Tree, reads: list[str]) -> None:
    for pid in range(1000, 1040):
        tree.process(pid, NS_A)
    disc = _discoverer(tree, Clock())
    first = disc.discover()
    assert first.pid_netns[1017] == NS_A
    tree.enter(1017, NS_B)  # an old process calls setns
    found_at = None
    for call in range(1, ROUNDS + 1):
        reads.clear()
        got = disc.discover()
        assert len(_of(tree, reads)) <= 40 // ROUNDS  # a share, not all 40
        if got.pid_netns[1017] == NS_B:
            found_at = call
            break
    assert found_at is not None  # within ROUNDS calls
    assert NS_B in {e.inode for e in got.namespaces} and 1017 in next(
        e for e in got.namespaces if e.inode == NS_B).pids


def test_a_young_process_is_read_on_each_of_its_first_calls(tree: Tree) -> None:
    """`unshare -n cmd`: first seen in its parent's namespace, in its own a moment later."""
    for pid in range(1000, 1040):
        tree.process(pid, NS_A)
    clock = Clock()
    disc = _discoverer(tree, clock)
    disc.discover()
    tree.process(2001, NS_A)  # started after the first call
    assert disc.discover().pid_netns[2001] == NS_A
    tree.enter(2001, NS_C)
    got = disc.discover()  # the very next call, whatever its turn
    assert got.pid_netns[2001] == NS_C and any(e.inode == NS_C for e in got.namespaces)


def test_look_at_everyone_reads_every_process_at_the_next_call(tree: Tree, reads: list[str]) -> None:
    for pid in range(1000, 1040):
        tree.process(pid, NS_A)
    disc = _discoverer(tree, Clock())
    disc.discover()
    for pid in range(1000, 1040):
        tree.enter(pid, NS_B)
    disc.look_at_everyone()
    reads.clear()
    got = disc.discover()
    assert set(got.pid_netns.values()) == {NS_B} and disc.looked_all
    assert len(_of(tree, reads)) == 40
    reads.clear()
    disc.discover()
    assert len(_of(tree, reads)) <= 40 // ROUNDS and not disc.looked_all  # once only


def test_nothing_new_gives_the_last_discovery_itself(tree: Tree) -> None:
    for pid in range(1000, 1010):
        tree.process(pid, NS_A)
    disc = _discoverer(tree, Clock())
    # A fake tree re-reads its names on every call: pretend the mount table was not touched.
    disc.discover()
    disc._mount_poll = _Quiet()  # type: ignore[assignment]
    first = disc.discover()
    assert disc.discover() is first
    tree.process(1010, NS_A)
    assert disc.discover() is not first  # a new process is news, even in a known namespace


class _Quiet:
    def poll(self, _timeout: int) -> list[tuple[int, int]]:
        return []


def test_denied_processes_stay_reported_between_their_reads(tree: Tree, monkeypatch: pytest.MonkeyPatch,
                                                            reads: list[str]) -> None:
    for pid in range(1000, 1040):
        tree.process(pid, NS_A)
    real = namespaces.read_link_inode  # (the counting one)

    def denied(path: str) -> int | None:
        if path.endswith("/1003/ns/net"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(namespaces, "read_link_inode", denied)
    disc = _discoverer(tree, Clock())
    for _ in range(2 * ROUNDS):  # whether or not 1003 is read on a call
        got = disc.discover()
        assert not got.pids_complete and 1003 not in got.pid_netns
        assert any("pid 1003" in e.message for e in got.errors)


def test_a_patched_discovery_is_what_a_whole_one_is_and_keeps_untouched_entries(tree: Tree) -> None:
    """Processes come, go and move at random; each call's answer equals a whole `discover()` of the same
    tree, and the namespaces no process of which changed keep their entry objects."""
    rng = random.Random(11)
    inodes = [NS_A, NS_B, NS_C, 4026532004, 4026532005, 4026532006]
    for pid in range(1000, 1060):
        tree.process(pid, rng.choice(inodes))
    disc = _discoverer(tree, Clock())
    disc.discover()
    disc._mount_poll = _Quiet()  # type: ignore[assignment]
    last = disc.discover()
    reused = 0
    for _ in range(40):
        touched: set[int] = set()
        for _ in range(rng.randint(1, 3)):
            pid = rng.randrange(1000, 1080)
            link = tree.proc / str(pid) / "ns" / "net"
            if link.is_symlink() and rng.random() < 0.3:
                touched.add(namespaces.inode_from_link(os.readlink(link)) or 0)
                shutil.rmtree(tree.proc / str(pid))  # exits
            else:
                if link.is_symlink():
                    touched.add(namespaces.inode_from_link(os.readlink(link)) or 0)
                inode = rng.choice(inodes)
                tree.process(pid, inode)  # starts, or enters another namespace
                touched.add(inode)
        disc.look_at_everyone()
        got = disc.discover()
        whole = namespaces.discover(str(tree.proc), str(tree.run), "/proc/self/ns/net")
        assert got.namespaces == whole.namespaces and got.pid_netns == whole.pid_netns
        before = {e.inode: e for e in last.namespaces}
        for entry in got.namespaces:
            if entry.inode not in touched and entry.inode in before:
                assert entry is before[entry.inode]
                reused += 1
        last = got
    assert reused > 40
    # A namespace whose only process exits goes with it.
    tree.process(1200, 4026532099)
    assert any(e.inode == 4026532099 for e in disc.discover().namespaces)
    shutil.rmtree(tree.proc / "1200")
    got = disc.discover()
    assert not any(e.inode == 4026532099 for e in got.namespaces)
    assert got.namespaces == namespaces.discover(str(tree.proc), str(tree.run), "/proc/self/ns/net").namespaces


def test_settled_processes_have_no_turn(tree: Tree, reads: list[str]) -> None:
    """Kernel threads (the collector settles the /proc scan's): read when first listed and when everyone
    is looked at, never on a turn; the other processes still have theirs."""
    for pid in range(1000, 1040):
        tree.process(pid, NS_A)
    disc = _discoverer(tree, Clock())
    disc.settle(frozenset(range(1000, 1020)))
    tree.process(900, NS_A)  # not settled: read on its turns like any
    reads.clear()
    first = disc.discover()
    assert len(_of(tree, reads)) == 41 and first.pid_netns[1005] == NS_A
    disc.settle(frozenset([*range(1000, 1020), 2000]))
    tree.process(2000, NS_A)  # settled before it is first listed: still read that once
    reads.clear()
    disc.discover()
    second = {int(r.split("/")[-3]) for r in _of(tree, reads)}
    assert 2000 in second and not second & set(range(1000, 1020))  # (and the others whose turn it is)
    read_pids: set[int] = set()
    for _ in range(ROUNDS):  # every process has had its turn
        reads.clear()
        disc.discover()
        read_pids |= {int(r.split("/")[-3]) for r in _of(tree, reads)}
    assert read_pids == {900, *range(1020, 1040)}
    tree.enter(1005, NS_B)  # (what a process that took a kernel thread's pid within one tick may do)
    disc.look_at_everyone()
    reads.clear()
    got = disc.discover()
    assert disc.looked_all and len(_of(tree, reads)) == 42 and got.pid_netns[1005] == NS_B
    reads.clear()
    disc.discover()
    assert not {int(r.split("/")[-3]) for r in _of(tree, reads)} & set(range(1000, 1020))  # no turn again


def test_a_proc_that_cannot_be_listed_keeps_the_last_processes_and_says_so(
        tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing /proc fails once (EMFILE, ENOMEM): the processes and their namespaces are those of the last
    listing, with an error saying so, not "no process" (every namespace found only through a process
    would vanish from the picture for a tick); the next listing that works clears the error."""
    from vnettop.collect import pidlist

    for pid in range(1000, 1010):
        tree.process(pid, NS_A if pid % 2 else NS_B)
    clock = Clock()
    disc = _discoverer(tree, clock)
    first = disc.discover()
    assert {e.inode for e in first.namespaces} >= {NS_A, NS_B}
    real = pidlist.list_pids
    monkeypatch.setattr(pidlist, "list_pids", lambda root: None)
    disc.look_at_everyone()  # (a listing is due)
    failed = disc.discover()
    assert failed.pid_netns == first.pid_netns and {e.inode for e in failed.namespaces} >= {NS_A, NS_B}
    assert [e.message for e in failed.errors if "cannot list" in e.message], failed.errors
    assert first.pids_complete and not failed.pids_complete  # (a namespace's processes may be missing)
    monkeypatch.setattr(pidlist, "list_pids", real)
    disc.look_at_everyone()
    again = disc.discover()
    assert not [e for e in again.errors if "cannot list" in e.message] and again.pids_complete
    assert again.pid_netns == first.pid_netns
