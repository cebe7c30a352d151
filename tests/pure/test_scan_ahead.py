"""The forked /proc scan's guards and pipe: when it may fork, and what the parent takes from the child.

The scan itself in a child is tested against the real kernel (tests/kernel/test_scan_ahead.py); here the
child's work is replaced, so what is checked is the guard (a fork copies one thread: with another alive,
or with a single processor to run on, it must not fork) and the answer's way back (a whole answer comes
back equal; a cut or foreign one, or none, gives None, so the collector scans in-process).
"""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import pytest

from vnettop.collect import scan_ahead
from vnettop.collect.events import EventHub
from vnettop.collect.types import Discovery, ProcScan, TunFd
from vnettop.model import CollectError, NsFd, Process

ANSWER = ProcScan((TunFd(40, 5, "vnttap0", 4026531840, True),),
                  {4026531840: (Process(40, "qemu", "qemu -nic tap", "root"),)},
                  (CollectError("proc", "one process vanished"),), {40: (7,)}, complete=True,
                  ns_fds={4026532001: (NsFd(41, 3),)})


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


def child_writing(data: bytes, status: int = 0):  # type: ignore[no-untyped-def]
    def child(write_fd: int, *args: object) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        os._exit(status)

    return child


def ahead(monkeypatch: pytest.MonkeyPatch, data: bytes, status: int = 0) -> ProcScan | None:
    monkeypatch.setattr(scan_ahead, "_child", child_writing(data, status))
    started = scan_ahead.ScanAhead.start(Discovery((), {}), "/proc", False)
    assert started is not None
    return started.result()


def test_a_whole_answer_comes_back_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    big = ProcScan(ANSWER.tun_fds, {i: (Process(i, "p", f"proc {i} " + "x" * 60, "root"),) for i in range(20000)})
    assert len(pickle.dumps(big)) > scan_ahead.PIPE_SIZE  # more than the pipe holds: read while written
    assert ahead(monkeypatch, pickle.dumps(ANSWER)) == ANSWER
    assert ahead(monkeypatch, pickle.dumps(big)) == big


def test_a_cut_foreign_or_missing_answer_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = pickle.dumps(ANSWER)
    assert ahead(monkeypatch, whole[:len(whole) // 2], status=1) is None
    assert ahead(monkeypatch, pickle.dumps({"not": "a scan"})) is None
    assert ahead(monkeypatch, b"", status=3) is None


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
