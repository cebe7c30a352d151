"""Process facts: the psutil source's error handling, the fake-tree source, the cache, and that the
scanner asks only about the processes it shows."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.pure.test_procfs import NS_A, Clock, FakeProc
from vnettop.collect import procfacts
from vnettop.collect.processes import ProcScanner
from vnettop.collect.procfacts import FactsCache, ProcFacts, PsutilFacts, TreeFacts, facts_source
from vnettop.collect.procfs import ProcFs


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path)


class Recorder:
    """A facts source that answers from a dict and records what it was asked."""

    def __init__(self, facts: dict[int, ProcFacts]) -> None:
        self.facts = facts
        self.asked: list[int] = []

    def read(self, pid: int) -> ProcFacts:
        self.asked.append(pid)
        if pid not in self.facts:
            raise ProcessLookupError(3, "gone")
        return self.facts[pid]


def facts(name: str = "x") -> ProcFacts:
    return ProcFacts(name, name, "root", 1.0)


# -- choosing a source ----------------------------------------------------------------------------


def test_live_proc_uses_psutil_and_a_fake_tree_its_own_files(tmp_path: Path) -> None:
    assert isinstance(facts_source(ProcFs("/proc")), PsutilFacts)
    assert isinstance(facts_source(ProcFs(str(tmp_path))), TreeFacts)
    assert isinstance(ProcScanner(str(tmp_path)).facts.source, TreeFacts)


# -- the fake-tree source -------------------------------------------------------------------------


def test_tree_facts_read_name_cmdline_user_and_create_time(fake: FakeProc) -> None:
    fake.add(11, comm="qemu-kvm", uid=0, start=250, cmdline=("qemu-kvm", "-name", "guest=P2"))
    (fake.root / "stat").write_text("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n")
    got = TreeFacts(ProcFs(str(fake.root))).read(11)
    assert got == ProcFacts("qemu-kvm", "qemu-kvm -name guest=P2", "root",
                            1700000000 + 250 / os.sysconf("SC_CLK_TCK"))


def test_tree_facts_complete_a_truncated_name_as_psutil_does(fake: FakeProc) -> None:
    fake.add(11, comm="qemu-system-x86", cmdline=("/usr/bin/qemu-system-x86_64", "-S"))
    fake.add(12, comm="qemu-system-x86", cmdline=("/usr/bin/other", "-S"))  # argv0 does not extend it
    fake.add(13, comm="short", cmdline=("/usr/bin/shorter-still",))  # not truncated: left alone
    source = TreeFacts(ProcFs(str(fake.root)))
    assert [source.read(pid).name for pid in (11, 12, 13)] == ["qemu-system-x86_64", "qemu-system-x86",
                                                               "short"]


def test_tree_facts_of_a_vanished_process_raise_process_lookup_error(fake: FakeProc) -> None:
    with pytest.raises(ProcessLookupError):
        TreeFacts(ProcFs(str(fake.root))).read(404)


# -- the psutil source: its exceptions become gone / neutral values ----------------------------------


class FakePsProcess:
    """Stands in for psutil.Process: each fact returns its value or raises the exception given."""

    def __init__(self, pid: int, **facts: Any) -> None:
        self.values = {"name": "qemu-kvm", "cmdline": ["qemu-kvm", "-S"], "username": "qemu",
                       "create_time": 5.0, **facts}

    def oneshot(self) -> Any:
        import contextlib

        return contextlib.nullcontext()

    def _get(self, key: str) -> Any:
        value = self.values[key]
        if isinstance(value, Exception):
            raise value
        return value

    def name(self) -> str:
        return str(self._get("name"))

    def cmdline(self) -> list[str]:
        return list(self._get("cmdline"))

    def username(self) -> str:
        return str(self._get("username"))

    def create_time(self) -> float:
        return float(self._get("create_time"))


def patch_process(monkeypatch: pytest.MonkeyPatch, make: Callable[[int], FakePsProcess]) -> None:
    monkeypatch.setattr(procfacts.psutil, "Process", make)


def test_psutil_facts_are_joined_into_process_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_process(monkeypatch, lambda pid: FakePsProcess(pid))
    assert PsutilFacts().read(7) == ProcFacts("qemu-kvm", "qemu-kvm -S", "qemu", 5.0)


def test_psutil_no_such_process_means_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(pid: int) -> FakePsProcess:
        raise psutil.NoSuchProcess(pid)

    patch_process(monkeypatch, missing)
    with pytest.raises(ProcessLookupError):
        PsutilFacts().read(7)
    patch_process(monkeypatch, lambda pid: FakePsProcess(pid, cmdline=psutil.NoSuchProcess(pid)))
    with pytest.raises(ProcessLookupError):  # gone between two reads
        PsutilFacts().read(7)


def test_psutil_access_denied_and_zombies_leave_neutral_values(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_process(monkeypatch, lambda pid: FakePsProcess(pid, username=psutil.AccessDenied(pid),
                                                         cmdline=psutil.ZombieProcess(pid)))
    assert PsutilFacts().read(7) == ProcFacts("qemu-kvm", "", None, 5.0)
    patch_process(monkeypatch, lambda pid: FakePsProcess(pid, name=psutil.AccessDenied(pid),
                                                         create_time=psutil.AccessDenied(pid)))
    assert PsutilFacts().read(7) == ProcFacts("?", "qemu-kvm -S", "qemu", 0.0)


# -- the cache ------------------------------------------------------------------------------------


def test_cache_fetches_once_per_pid_and_start_time() -> None:
    source = Recorder({7: facts("a")})
    cache = FactsCache(source, max_age=30.0, clock=Clock())
    assert cache.get(7, 1000) == cache.get(7, 1000) == facts("a")
    assert source.asked == [7]
    source.facts[7] = facts("b")  # the pid is reused by a new process: a new start time
    assert cache.get(7, 2000) == facts("b") and source.asked == [7, 7]


def test_cache_refetches_after_max_age_spread_by_pid() -> None:
    clock = Clock()
    source = Recorder({16: facts("a"), 24: facts("b")})
    cache = FactsCache(source, max_age=32.0, clock=clock)
    cache.get(16, 1000)  # pid % 16 == 0: kept for max_age
    cache.get(24, 1000)  # pid % 16 == 8: kept for 1.5 max_age
    source.facts = {16: facts("a2"), 24: facts("b2")}  # both renamed (prctl / setproctitle)
    clock.now += 31.0
    assert (cache.get(16, 1000), cache.get(24, 1000)) == (facts("a"), facts("b"))
    clock.now += 2.0
    assert (cache.get(16, 1000), cache.get(24, 1000)) == (facts("a2"), facts("b"))
    clock.now += 15.0
    assert cache.get(24, 1000) == facts("b2") and cache.fetches == 4


def test_cache_without_a_start_time_does_not_keep_the_answer() -> None:
    source = Recorder({7: facts("a")})
    cache = FactsCache(source, clock=Clock())
    cache.get(7, None)
    cache.get(7, None)
    assert source.asked == [7, 7]


def test_cache_forgets_processes_no_longer_shown() -> None:
    source = Recorder({7: facts("a"), 8: facts("b")})
    cache = FactsCache(source, clock=Clock())
    cache.get(7, 1)
    cache.get(8, 1)
    cache.retain({8})
    cache.get(7, 1)
    cache.get(8, 1)
    assert source.asked == [7, 8, 7]


def test_cache_passes_a_vanished_process_on() -> None:
    cache = FactsCache(Recorder({}), clock=Clock())
    with pytest.raises(ProcessLookupError):
        cache.get(9, 1)


# -- the scanner asks only about what it shows -----------------------------------------------------


def test_scanner_asks_facts_of_holders_only_and_once(fake: FakeProc) -> None:
    for pid in range(300, 340):
        fake.add(pid)
    fake.add(100, comm="qemu-kvm", fds={26: "/dev/net/tun"}, iff={26: "tap0"})
    source = Recorder({100: facts("qemu-kvm")})
    scanner = ProcScanner(str(fake.root), clock=Clock(), facts=source)
    for _ in range(3):
        scan = scanner.scan(fake.discovery())
        assert [(p.pid, p.comm) for p in scan.processes[NS_A]] == [(100, "qemu-kvm")]
    scanner.scan(fake.discovery(), full=True)  # a full scan keeps the facts: the identity is unchanged
    assert source.asked == [100]


def test_scanner_skips_a_holder_whose_facts_vanished(fake: FakeProc) -> None:
    """The process exited between its fd read and its facts: not shown, not an error."""
    fake.add(100, fds={26: "/dev/net/tun"}, iff={26: "tap0"})
    fake.add(200, comm="b", fds={27: "/dev/net/tun"}, iff={27: "tap1"})
    scan = ProcScanner(str(fake.root), facts=Recorder({200: facts("b")})).scan(fake.discovery())
    assert [p.pid for p in scan.processes[NS_A]] == [200]
    assert [e.message for e in scan.errors if "name only" not in e.message] == []


def test_scanner_refetches_facts_of_a_reused_pid(fake: FakeProc) -> None:
    fake.add(100, comm="old", start=1000, fds={3: "/dev/net/tun"}, iff={3: "tap0"})
    source = Recorder({100: facts("old")})
    scanner = ProcScanner(str(fake.root), clock=Clock(), facts=source)
    scanner.scan(fake.discovery())
    fake.set_start(100, 2000)
    source.facts[100] = facts("new")
    assert scanner.scan(fake.discovery()).processes[NS_A][0].comm == "new"
    assert source.asked == [100, 100]
