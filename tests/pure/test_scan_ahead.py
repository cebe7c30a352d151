"""The forked child of a one-shot collect: when it may fork, how the namespaces are shared, what comes back.

The child's real work is tested against the real kernel (tests/kernel/test_scan_ahead.py); here it is
replaced, so what is checked is the guard (a fork copies one thread: with another alive, or with a single
processor to run on, it must not fork), the marks on the shared page (each side stops at the other's),
and the answers' way back (whole records come back equal, whatever their size; a cut or foreign one is
left out, so the collector scans and reads in-process what it lacks).
"""

from __future__ import annotations

import mmap
import os
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kernelkit import poll_until
from vnettop.collect import scan_ahead
from vnettop.collect.decode import NamespaceDump
from vnettop.collect.events import EventHub
from vnettop.collect.types import Discovery, NsEntry, ProcScan, TunFd
from vnettop.model import CollectError, NsFd, Process

ANSWER = ProcScan((TunFd(40, 5, "vnttap0", 4026531840, True),),
                  {4026531840: (Process(40, "qemu", "qemu -nic tap", "root"),)},
                  (CollectError("proc", "one process vanished"),), {40: (7,)}, complete=True,
                  ns_fds={4026532001: (NsFd(41, 3),)})


DISCOVERY = Discovery((NsEntry(4026531840, (), True, "/proc/1/ns/net", (1,)),), {1: 4026531840}, pids=frozenset({1}))


def test_forks_only_with_no_other_thread_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(scan_ahead, "SAFE_THREADS", threading.active_count())
    assert scan_ahead.worth_forking()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not scan_ahead.worth_forking()
    finally:
        stop.set()
        other.join()


def test_no_fork_with_one_processor_to_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(scan_ahead, "SAFE_THREADS", threading.active_count() + 1)
    assert not scan_ahead.worth_forking()


def run_child(monkeypatch: pytest.MonkeyPatch, child: Callable[..., None]) -> scan_ahead.ScanAhead:
    """Start a ScanAhead whose child runs `child(answers_fd, board)` instead of the real work, then exits."""
    def fake(fd: int, board: mmap.mmap, *args: object) -> None:
        try:
            child(fd, board, args[-1])  # (the last: the pipe that says the discovery is there)
        finally:
            os._exit(0)

    monkeypatch.setattr(scan_ahead, "_child", fake)
    started = scan_ahead.ScanAhead.start()
    assert started is not None
    return started


def dump_of(inode: int) -> NamespaceDump:
    return NamespaceDump((), (CollectError(f"netns {inode}", "read by the child"),))


def test_the_answers_come_back_equal_whatever_their_size(monkeypatch: pytest.MonkeyPatch) -> None:
    big = {4026532000 + i: dump_of(4026532000 + i) for i in range(30000)}
    started = run_child(monkeypatch, lambda fd, board, ready: (scan_ahead._write(fd, DISCOVERY), scan_ahead._write(fd, ANSWER),
                                                        scan_ahead._write(fd, big)))
    assert started.result() == (ANSWER, big)


def test_a_cut_or_foreign_answer_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def cut(fd: int, board: object, ready: int) -> None:
        scan_ahead._write(fd, DISCOVERY)
        scan_ahead._write(fd, ANSWER)
        scan_ahead._write(fd, {1: dump_of(1)})
        whole = scan_ahead._LEN.pack(999) + b"only part of a record"
        os.write(fd, whole)

    assert run_child(monkeypatch, cut).result() == (ANSWER, {1: dump_of(1)})
    foreign = run_child(monkeypatch, lambda fd, board, ready: (scan_ahead._write(fd, DISCOVERY),
                                                        scan_ahead._write(fd, {"not": "a scan"})))
    assert foreign.result() == (None, {})
    assert run_child(monkeypatch, lambda fd, board, ready: None).result() == (None, {})


def test_the_discovery_is_taken_once_the_child_says_it_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    def child(fd: int, board: mmap.mmap, ready: int) -> None:
        scan_ahead._write(fd, DISCOVERY)
        os.write(ready, b"d")
        scan_ahead._write(fd, ANSWER)

    started = run_child(monkeypatch, child)
    assert started.discovery() == DISCOVERY
    assert started.result() == (ANSWER, {})
    # A child that dies before its discovery: none (this process discovers itself), and no wait.
    died = run_child(monkeypatch, lambda fd, board, ready: scan_ahead._write(fd, DISCOVERY))
    assert died.discovery() is None
    assert died.result() == (None, {})


def test_each_side_stops_at_the_others_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child claims from the end; this process must stop at the child's mark, and the child must
    not claim below this process's, as `_read_from_the_end` does with real namespaces."""
    claimed: list[int] = []

    def child(fd: int, board: mmap.mmap, ready: int) -> None:
        scan_ahead._write(fd, DISCOVERY)
        scan_ahead._write(fd, None)
        scan_ahead._U32.pack_into(board, scan_ahead._CHILD_FROM, 6)  # claims 6..9
        scan_ahead._write(fd, {4026532000 + i: dump_of(4026532000 + i) for i in range(6, 10)})

    started = run_child(monkeypatch, child)
    poll_until(lambda: scan_ahead._U32.unpack_from(started._board, scan_ahead._CHILD_FROM)[0] == 6, timeout=10)
    for i in range(10):
        if not started.claim(i):
            break
        claimed.append(i)
    scan, dumps = started.result()
    assert claimed == [0, 1, 2, 3, 4, 5] and scan is None
    assert sorted(dumps) == [4026532000 + i for i in range(6, 10)]


def test_the_child_stops_claiming_once_this_process_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    """`result()` moves this process's mark past every namespace: a child still claiming finds nothing
    left (it would otherwise read namespaces nobody waits for)."""
    def child(fd: int, board: mmap.mmap, ready: int) -> None:
        scan_ahead._write(fd, DISCOVERY)  # (the first records are always the discovery and the scan)
        scan_ahead._write(fd, None)
        while scan_ahead._U32.unpack_from(board, scan_ahead._PARENT_NEXT)[0] < 10:
            time.sleep(0.001)
        scan_ahead._write(fd, {0: dump_of(0)})

    started = run_child(monkeypatch, child)
    assert started.result() == (None, {0: dump_of(0)})


def test_a_one_shot_hub_reads_the_name_directories_when_a_first_wait_starts(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    """A one-shot collector's hub must not list /run/netns when made (~8 ms at 1000 namespaces that a
    single collect never uses); a first wait takes what is there as its baseline, and a change after it
    still shows."""
    from vnettop.collect import events

    listed: list[object] = []
    real = events.netns_dirs_signature
    monkeypatch.setattr(events, "netns_dirs_signature", lambda dirs: listed.append(dirs) or real(dirs))
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("")
    (tmp_path / "netns").mkdir()
    (tmp_path / "netns" / "vntold").touch()
    hub = EventHub(str(tmp_path), str(mountinfo), watch_dirs=False)
    try:
        assert listed == []
        assert hub.wait(0) is False  # the baseline: vntold is not news
        assert len(listed) == 1
        (tmp_path / "netns" / "vntnew").touch()
        assert hub._netns_dirs_changed() is True
        assert ("added", str(tmp_path / "netns" / "vntnew")) in hub.recent_netns_changes()
    finally:
        hub.close()


def test_records_travel_as_constructor_calls_and_come_back_equal() -> None:
    """What the child sends (devices with their counters, bridge and tun facts, errors, a scan) comes back
    equal, loaded by calling each class with its fields: not through dataclasses' slower __setstate__."""
    from dataclasses import dataclass, field

    from vnettop.collect.types import LinkDraft
    from vnettop.model import (
        BridgeInfo,
        BridgePort,
        FdbEntry,
        Link,
        Stats,
        TunInfo,
        make_Link,
        make_Stats,
        pickled_by_constructor,
    )

    link = Link(4026532001, 7, "vnt-br", "bridge", "02:00:00:00:00:01", 1500, True, "up",
                addresses=("10.0.0.1/24",), stats=Stats(1, 2, 3, 4),
                bridge=BridgeInfo(False, False, (3,), (FdbEntry("02:00:00:00:00:02", 3, "learned", 10),)),
                bridge_port=BridgePort("forwarding", 100, 32), tun=TunInfo("tap", False, False, True, False),
                carrier=True, info=(("x", "y"),))
    record = {4026532001: NamespaceDump((LinkDraft(link, 5, 9, 0),), (CollectError("netns", "x"),)),
              "scan": ANSWER}
    data = pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(data) == record
    draft = record[4026532001].drafts[0]  # type: ignore[union-attr]
    for obj in (link, link.stats, link.bridge, link.bridge.fdb[0], link.bridge_port, link.tun, draft,  # type: ignore[union-attr]
                record[4026532001], ANSWER, ANSWER.tun_fds[0], ANSWER.errors[0], ANSWER.ns_fds[4026532001][0],
                ANSWER.processes[4026531840][0]):
        # (a Link and its counters by the makers that set their slots: `model.slot_maker`)
        assert obj.__reduce__()[0] is {Link: make_Link, Stats: make_Stats}.get(type(obj), type(obj)), type(obj)
    assert link.__reduce__()[1][2] == "vnt-br"

    @dataclass(frozen=True, slots=True)
    class Cached:
        value: int
        memo: int = field(default=0, init=False)

    with pytest.raises(TypeError):
        pickled_by_constructor(Cached)


# -- the child's lifetime: bounded, reaped, never beyond its parent ----------------------------------


def gone_or_zombie(pid: int) -> bool:
    """Whether process `pid` has ended (reaped, or a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def reaped(pid: int) -> bool:
    """Whether our child `pid` has been reaped (waitpid finds no such child any more)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_hung_child_is_killed_and_reaped_without_a_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel without pidfd_open (before 5.3): the wait is still bounded (the pipe's end tells when the
    child exited), and the child is killed and reaped."""
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    monkeypatch.setattr(scan_ahead, "CHILD_TIMEOUT", 0.5)
    started = run_child(monkeypatch, lambda fd, board, ready: time.sleep(30))
    assert started._pidfd is None
    t0 = time.monotonic()
    assert started.result() == (None, {})
    assert time.monotonic() - t0 < 10
    assert reaped(started._pid) and gone_or_zombie(started._pid)


def test_at_the_deadline_what_the_child_wrote_whole_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that wrote its scan and a namespace, then hung (reading on): killed at the deadline, its
    answers are taken, and it is no timeout of the /proc scan. One that wrote no scan is one."""
    def wrote_then_hung(fd: int, board: object, ready: int) -> None:
        scan_ahead._write(fd, DISCOVERY)
        scan_ahead._write(fd, ANSWER)
        scan_ahead._write(fd, {7: dump_of(7)})
        time.sleep(30)

    started = run_child(monkeypatch, wrote_then_hung)
    poll_until(lambda: len(scan_ahead._records(started._answers_fd)) == 3, timeout=30)
    started._deadline = time.monotonic() + 0.2  # (the deadline comes once it has written: no race)
    assert started.result() == (ANSWER, {7: dump_of(7)})
    assert not started.timed_out
    assert reaped(started._pid)
    hung = run_child(monkeypatch, lambda fd, board, ready: (scan_ahead._write(fd, DISCOVERY), time.sleep(30)))
    poll_until(lambda: len(scan_ahead._records(hung._answers_fd)) == 1, timeout=30)
    hung._deadline = time.monotonic() + 0.2
    assert hung.result() == (None, {})
    assert hung.timed_out and reaped(hung._pid)


def test_a_child_that_ended_before_a_late_wait_is_no_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait starts after the deadline (vnettop stopped with Ctrl+Z for longer, then resumed): a child
    that ended meanwhile is seen to have ended, not killed and taken for one that timed out (it wrote no
    scan: only the wait tells the two apart)."""
    started = run_child(monkeypatch, lambda fd, board, ready: scan_ahead._write(fd, DISCOVERY))
    poll_until(lambda: gone_or_zombie(started._pid), timeout=10)
    started._deadline = time.monotonic() - 1.0
    assert started.result() == (None, {})
    assert not started.timed_out


def test_a_wait_cut_by_ctrl_c_still_kills_and_reaps_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyboardInterrupt while `result()` waits: it propagates, and the child does not outlive it."""
    real_ended = scan_ahead._ended
    calls: list[float] = []

    def interrupted(fd: int, timeout: float) -> bool:
        calls.append(timeout)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_ended(fd, timeout)

    started = run_child(monkeypatch, lambda fd, board, ready: time.sleep(30))
    monkeypatch.setattr(scan_ahead, "_ended", interrupted)
    with pytest.raises(KeyboardInterrupt):
        started.result()
    assert reaped(started._pid) and gone_or_zombie(started._pid)
    started.cancel()  # (nothing left to do: no error either)


def test_without_pid_leaves_no_trace_of_the_process() -> None:
    root, other = 4026531840, 4026532001
    disc = Discovery((NsEntry(root, (), True, "/proc/1/ns/net", (1, 50, 77)),
                      NsEntry(other, ("vntx",), False, "/proc/77/ns/net", (77, 90))),
                     {1: root, 50: root, 77: root, 90: other}, pids=frozenset({1, 50, 77, 90}))
    assert scan_ahead.without_pid(disc, 12345) is disc
    out = scan_ahead.without_pid(disc, 77)
    assert out.pid_netns == {1: root, 50: root, 90: other} and out.pids == {1, 50, 90}
    assert [(e.pids, e.path) for e in out.namespaces] == [((1, 50), "/proc/1/ns/net"), ((90,), "/proc/90/ns/net")]
    assert out.namespaces[1].names == ("vntx",)


PARENT = r"""
import os, sys, time
from vnettop.collect import namespaces, scan_ahead

class Stuck:
    def __init__(self, *args):
        pass
    def discover(self):
        time.sleep(60)

namespaces.Discoverer = Stuck  # (the child stays in its discovery: alive, doing nothing)
child = scan_ahead.ScanAhead.start()
print(child._pid, flush=True)
sys.stdin.readline()  # (the test looks at the child meanwhile)
os._exit(0)  # (dies without reaping or cancelling it, as a parent killed by SIGKILL would)
"""


def test_the_child_holds_no_stdio_ignores_no_ctrl_c_and_dies_with_its_parent() -> None:
    """The real child (its discovery stalled): its standard streams are /dev/null, SIGINT ends it (no
    Python handler that would unwind it as a second vnettop), and when its parent dies without a word
    it is killed too, rather than running on with the parent's pipes and namespaces."""
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    assert parent.stdin is not None and parent.stdout is not None
    try:
        pid = int(parent.stdout.readline())
        poll_until(lambda: os.readlink(f"/proc/{pid}/fd/1") == "/dev/null", timeout=10)
        assert {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)} == {"/dev/null"}
        masks = {line.split()[0]: int(line.split()[1], 16)
                 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if line.startswith(("SigCgt", "SigBlk", "SigIgn"))}
        assert not any(mask & (1 << 1) for mask in masks.values()), masks  # (SIGINT: bit 1)
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.wait(timeout=10) == 0
        poll_until(lambda: gone_or_zombie(pid), timeout=10)
        assert parent.stdout.read() == ""  # (end of file: nobody holds the parent's stdout any more)
    finally:
        parent.kill()
        parent.wait()


CLOSED_STDIO = r"""
import os, sys
from vnettop.collect import scan_ahead

child = scan_ahead.ScanAhead.start()
scan, dumps = child.result()
with open(sys.argv[1], "w") as report:
    report.write(f"ok {int(scan is not None)} {child._answers_fd}")
"""


def test_a_child_started_with_the_standard_streams_closed_still_answers(tmp_path: Path) -> None:
    """vnettop started with 0, 1 and 2 closed (`<&- >&- 2>&-`, some supervisors): its memfd and pipe take
    those numbers, and the child must not put /dev/null over them (its answers would go nowhere, and the
    parent would see the pipe's end at once, then wait for the child without bound)."""
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run(["sh", "-c", 'exec "$0" -c "$1" "$2" <&- >&- 2>&-', sys.executable, CLOSED_STDIO,
                           str(out)], cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 0
    said = out.read_text().split()
    assert said[:2] == ["ok", "1"], said  # (the scan came back from the child)
    assert int(said[2]) <= 2  # (the answers' memfd did take a standard stream's number)


def test_no_fork_where_python_has_no_memfd_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python built against a C library older than glibc 2.27 has no os.memfd_create: no child, no error
    (the collect runs in-process)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(scan_ahead, "SAFE_THREADS", threading.active_count())
    assert scan_ahead.worth_forking()
    monkeypatch.delattr(os, "memfd_create")
    assert not scan_ahead.worth_forking()
    assert scan_ahead.ScanAhead.start() is None


def test_a_python_without_pidfd_still_runs_and_ends_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.pidfd_open and signal.pidfd_send_signal exist only where Python was built with the headers of
    Linux 5.3: without them the child is signalled by pid, and still killed and reaped."""
    import signal

    monkeypatch.delattr(os, "pidfd_open")
    monkeypatch.delattr(signal, "pidfd_send_signal")
    started = run_child(monkeypatch, lambda fd, board, ready: time.sleep(30))
    assert started._pidfd is None
    started.cancel()
    assert reaped(started._pid) and gone_or_zombie(started._pid)
