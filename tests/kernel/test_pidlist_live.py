"""The /proc listing spared while the kernel's task mark stands still, on the real /proc: a process
started or reaped is in or out of the very next answer, and a still host is answered without listing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from tests.kernelkit import poll_until
from vnettop.collect.pidlist import MarkFiles, PidLister, task_mark

pytestmark = pytest.mark.kernel


def answered_from_memory(lister: PidLister) -> bool:
    lister.pids()
    return not lister.listed


def test_a_process_started_or_reaped_is_seen_at_the_next_call() -> None:
    lister = PidLister()
    before = lister.pids()
    # The host is shared: wait for a moment when nothing else starts a task between two calls.
    poll_until(lambda: answered_from_memory(lister), timeout=30)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert proc.pid not in before
        assert proc.pid in lister.pids() and lister.listed
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(10)
    assert proc.pid not in lister.pids() and lister.listed


def test_a_thread_that_comes_and_goes_costs_a_listing_and_changes_nothing() -> None:
    lister = PidLister()
    poll_until(lambda: answered_from_memory(lister), timeout=30)
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    again = lister.pids()
    assert lister.listed  # a task was made (the tasks made moved): listed again, to be safe
    assert os.getpid() in again and t.native_id not in again  # a thread is not a /proc entry of its own


def test_the_kernels_files_are_read_again_through_the_same_open_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real /proc: the mark read through the kept files moves when a process is made (they are read
    afresh, not as they were when opened), no file is opened again for it, and a failed read opens them
    anew at the next call."""
    files = MarkFiles("/proc")
    try:
        before = files.mark()
        assert before is not None and before[0] > 0 and before[1] > 0
        opened: list[str] = []
        real_open = os.open

        def counting(path: str, *args: object, **kwargs: object) -> int:
            opened.append(path)
            return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", counting)
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        try:
            during = files.mark()
            assert during is not None and during[0] > before[0]  # the fork counted: read afresh
            # the same as the files opened anew say, give or take what other processes did meanwhile
            fresh = task_mark("/proc")
            assert fresh is not None and during[0] <= fresh[0]
        finally:
            child.communicate(b"")
        assert opened == []

        real_pread = os.pread
        calls = [0]

        def failing_once(fd: int, size: int, offset: int) -> bytes:
            calls[0] += 1
            if calls[0] == 1:
                raise OSError(5, "Input/output error")
            return real_pread(fd, size, offset)

        monkeypatch.setattr(os, "pread", failing_once)
        assert files.mark() is None
        assert opened == []
        again = files.mark()
        assert again is not None and again[0] >= during[0]
        assert opened == ["/proc/stat", "/proc/loadavg"]
    finally:
        files.close()
