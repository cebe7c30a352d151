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
    try:
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
    finally:
        lister.close()


def test_a_thread_that_comes_and_goes_costs_a_listing_and_changes_nothing() -> None:
    lister = PidLister()
    try:
        poll_until(lambda: answered_from_memory(lister), timeout=30)
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        again = lister.pids()
        assert lister.listed  # a task was made (the tasks made moved): listed again, to be safe
        assert os.getpid() in again and t.native_id not in again  # a thread is not a /proc entry of its own
    finally:
        lister.close()


def _open_on(path: str) -> int:
    """How many of this process's fds are open on `path`."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == path
        except OSError:  # (the listing's own fd, closed by now)
            pass
    return count


def _counting_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The /proc files this process opens from now on (through `os.open`)."""
    opened: list[str] = []
    real_open = os.open

    def counting(path: str, *args: object, **kwargs: object) -> int:
        if str(path).startswith("/proc/"):
            opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting)
    return opened


def _child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)


def test_the_kernels_files_are_read_again_through_the_same_open_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real /proc: the mark read through the kept files moves when a process is made (they are read
    afresh, not as they were when opened), and no file is opened again for it."""
    files = MarkFiles("/proc")
    try:
        before = files.mark()
        assert before is not None and before[0] > 0 and before[1] > 0
        opened = _counting_opens(monkeypatch)
        child = _child()
        try:
            during = files.mark()
            assert during is not None and during[0] > before[0]  # the fork counted: read afresh
            # the same as the files opened anew say, give or take what other processes did meanwhile
            fresh = task_mark("/proc")
            assert fresh is not None and during[0] <= fresh[0]
        finally:
            child.communicate(b"")
        assert opened == []  # (task_mark opens its files with `open`, which is not counted here)
    finally:
        files.close()
    assert _open_on("/proc/stat") == 0 and _open_on("/proc/loadavg") == 0


@pytest.mark.parametrize("failing", ["read of stat", "read of loadavg", "open of loadavg"])
def test_a_failed_read_or_open_closes_both_and_the_next_call_opens_them_anew(
        monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    files = MarkFiles("/proc")
    try:
        if failing != "open of loadavg":
            assert files.mark() is not None
        opened = _counting_opens(monkeypatch)
        real_pread, real_open = os.pread, os.open
        calls = [0]

        def failing_pread(fd: int, size: int, offset: int) -> bytes:
            calls[0] += 1
            if calls[0] == (1 if failing == "read of stat" else 2):
                raise OSError(5, "Input/output error")
            return real_pread(fd, size, offset)

        def failing_open(path: str, *args: object, **kwargs: object) -> int:
            if str(path) == "/proc/loadavg" and not calls[0]:
                calls[0] += 1
                raise OSError(24, "Too many open files")
            return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

        if failing == "open of loadavg":
            monkeypatch.setattr(os, "open", failing_open)
        else:
            monkeypatch.setattr(os, "pread", failing_pread)
        assert files.mark() is None
        assert _open_on("/proc/stat") == 0 and _open_on("/proc/loadavg") == 0  # nothing left open
        again = files.mark()
        assert again is not None and again[0] > 0
        if failing != "open of loadavg":
            assert opened == ["/proc/stat", "/proc/loadavg"]  # opened anew, once
    finally:
        files.close()


def test_a_lister_of_the_real_proc_reads_through_kept_files_until_its_discoverer_closes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from vnettop.collect.namespaces import Discoverer

    disc = Discoverer()
    try:
        disc.discover()
        assert _open_on("/proc/stat") == 1 and _open_on("/proc/loadavg") == 1
        lister = disc._lister
        opened = _counting_opens(monkeypatch)
        child = _child()
        try:
            assert child.pid in lister.pids() and lister.listed  # seen at once through the kept files
        finally:
            child.communicate(b"")
        assert "/proc/stat" not in opened and "/proc/loadavg" not in opened
    finally:
        disc.close()
    assert _open_on("/proc/stat") == 0 and _open_on("/proc/loadavg") == 0
