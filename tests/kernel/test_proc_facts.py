"""Process facts on the live /proc come from psutil, and agree with psutil and `ps`.

The processes are real children (tests/tunholder.py holding a tap, so the scanner shows them); `ps -o`
is the independent witness, psutil the library the facts are meant to come from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from tests.kernelkit import KernelKit, run
from tests.tunholder import discovery_for_tests, start_holder
from vnettop.collect.processes import ProcScanner
from vnettop.collect.procfacts import COMM_MAX, FactsSource, ProcFacts, PsutilFacts
from vnettop.model import Process

pytestmark = pytest.mark.kernel


def shown(scanner: ProcScanner, pid: int) -> Process:
    scan = scanner.scan(discovery_for_tests())
    found = [p for procs in scan.processes.values() for p in procs if p.pid == pid]
    assert len(found) == 1, f"pid {pid} not shown; errors: {scan.errors}"
    return found[0]


def ps(pid: int, field: str) -> str:
    return run(["ps", "-ww", "-o", f"{field}=", "-p", str(pid)]).stdout.strip()


def test_live_scanner_reads_facts_through_psutil() -> None:
    assert isinstance(ProcScanner().facts.source, PsutilFacts)


def test_facts_of_a_child_match_psutil_and_ps(kit: KernelKit) -> None:
    name = kit.name("pf")
    pid, _ = start_holder(kit, name)
    proc = shown(ProcScanner(), pid)
    ps_proc = psutil.Process(pid)
    assert (proc.comm, proc.cmdline, proc.user) == (ps_proc.name(), " ".join(ps_proc.cmdline()),
                                                    ps_proc.username())
    assert proc.comm == ps(pid, "comm") == Path(f"/proc/{pid}/comm").read_text().strip()
    assert proc.cmdline == ps(pid, "args")
    assert f"tests.tunholder {name}" in proc.cmdline
    assert proc.user == ps(pid, "user") == "root"


def test_a_truncated_name_is_completed_from_argv0(kit: KernelKit, tmp_path: Path) -> None:
    """The kernel keeps 15 bytes of comm; psutil (hence vnettop) shows the whole program name."""
    long_name = f"vnt{kit.tag}-long-program-name"
    exe = tmp_path / long_name
    exe.symlink_to(os.path.realpath(sys.executable))
    pid, _ = start_holder(kit, kit.name("pl"), program=str(exe))
    proc = shown(ProcScanner(), pid)
    assert ps(pid, "comm") == long_name[:COMM_MAX]
    assert proc.comm == long_name == psutil.Process(pid).name()
    assert proc.cmdline == ps(pid, "args")


class CountingSource:
    """Wraps the scanner's facts source to record which pids it is asked about."""

    def __init__(self, real: FactsSource) -> None:
        self.real = real
        self.asked: list[int] = []

    def read(self, pid: int) -> ProcFacts:
        self.asked.append(pid)
        return self.real.read(pid)


def test_facts_are_fetched_once_per_process_not_per_scan(kit: KernelKit) -> None:
    pid, _ = start_holder(kit, kit.name("pc"))
    scanner = ProcScanner()
    counting = CountingSource(scanner.facts.source)
    scanner.facts.source = counting
    first = shown(scanner, pid)
    assert counting.asked.count(pid) == 1
    # Only processes worth showing are asked about, not the whole host.
    assert len(counting.asked) < len(psutil.pids())
    for _ in range(3):
        assert shown(scanner, pid) == first
    assert counting.asked.count(pid) == 1
