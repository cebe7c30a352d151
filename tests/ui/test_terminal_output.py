"""A terminal that has gone away (SSH dropped) cannot make vnettop's exit raise or hang.

The tmux tests (tests/kernel/test_terminal_signals.py) end a real vnettop; these pin the two parts
underneath: the hang-up check, and the driver's output surviving writes that fail with EIO.
"""

from __future__ import annotations

import errno
import io
import os
import threading

from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

from vnettop.ui.terminal import TolerantOutput, terminal_gone


class GoneTerminal(io.StringIO):
    """Writes and flushes fail as on a terminal after a hang-up."""

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


def _finishes(work: threading.Thread, timeout: float = 5.0) -> bool:
    work.start()
    work.join(timeout)
    return not work.is_alive()


def test_the_writer_thread_outlives_a_gone_terminal() -> None:
    """Textual's writer thread dies on the first failed write; its queue then fills and the next write
    (the exit's own "leave the alternate screen") blocks forever. Through TolerantOutput it drains."""
    failures: list[int] = []
    out = TolerantOutput(GoneTerminal(), on_failure=lambda: failures.append(1))
    writer = WriterThread(out)  # type: ignore[arg-type]
    writer.start()

    def write_a_lot() -> None:
        for _ in range(MAX_QUEUED_WRITES * 3):
            writer.write("\x1b[?1049l")
        writer.stop()

    assert _finishes(threading.Thread(target=write_a_lot, daemon=True)), "writes to a gone terminal hung"
    assert out.failed and failures, "the failure was noticed (stdout and stderr silenced)"


def test_terminal_gone_sees_a_hang_up_and_nothing_else() -> None:
    master, slave = os.openpty()
    try:
        os.write(master, b"typed but not read yet")
        assert not terminal_gone(slave), "pending input is not a hang-up"
        os.close(master)
        master = -1
        assert terminal_gone(slave)
    finally:
        if master != -1:
            os.close(master)
        os.close(slave)
