"""The /proc listing spared while the kernel's task mark stands still, on the real /proc: a process
started or reaped is in or out of the very next answer, and a still host is answered without listing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from tests.kernelkit import poll_until
from vnettop.collect.pidlist import PidLister

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
