"""Textual's input thread, waking when a key comes or a key's escape sequence is due, not ten times a second.

Why: Textual's Linux driver reads the terminal on a thread that waits at most 0.1 s at a time, then asks
its parser whether a half-read escape sequence timed out (a lone Esc is told from the start of a longer
sequence only by the time that follows it). An idle vnettop so woke ten times a second for nothing:
0.18 % of a core on this machine kind (the thread's own processor time over 40 s, beside 1.32 % for the
whole TUI at 200 namespaces; a sleeping thread's wake-up is dear on a virtual machine).

Here the wait is short (Textual's 0.1 s) only while the parser holds a half-read sequence, and long
(`IDLE_WAIT`) otherwise. Textual stops the thread by setting its driver's `exit_event` and joining it
(on exit and on suspend): that event is a `WakingEvent`, whose `set` also writes a byte to a pipe the
thread waits on (one per run of the thread), so it ends at once, as before.

The loop is Textual's (`LinuxDriver.run_input_thread`, textual 8.2) with those two changes. Where the
parser does not say whether it holds anything (another Textual), every wait is the short one, as Textual's.
"""

from __future__ import annotations

import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import Any

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser

#: The short wait: Textual's own, while an escape sequence may be due.
SHORT_WAIT = 0.1
#: The wait while nothing is pending: a key wakes the thread at once whatever this is; only the parser's
#: own timer needs the short one.
IDLE_WAIT = 5.0


class WakingEvent(threading.Event):
    """A `threading.Event` that also wakes the input thread's wait when set: a byte on the pipe of the
    thread running now (`attach`), if any.

    The pipe belongs to one run of the input thread, made when it starts and closed when it ends: Textual
    stops the thread and closes the driver on a suspend (SIGTSTP), then starts a new thread on resume. The
    lock keeps a `set` from writing to a pipe end being closed (its fd number could be reused meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self._wake_lock = threading.Lock()
        self._wake_fd = -1

    def attach(self, wake_fd: int) -> None:
        with self._wake_lock:
            self._wake_fd = wake_fd

    def detach(self) -> None:
        with self._wake_lock:
            self._wake_fd = -1

    def set(self) -> None:
        super().set()
        with self._wake_lock:
            if self._wake_fd < 0:
                return
            try:
                os.write(self._wake_fd, b"\0")
            except OSError:  # the pipe is full: the thread is woken already
                pass


def pending(parser: Any) -> bool:
    """Whether the parser holds a half-read sequence whose timeout is still to come (True if it does not
    say: the short wait then, always)."""
    return getattr(parser, "_timeout_time", 0) is not None


def run_input_thread(driver: Any, exit_event: WakingEvent) -> None:
    """Textual's `LinuxDriver.run_input_thread` for `driver` (whose `exit_event` this is), waiting on a wake
    pipe of this run too (module docstring)."""
    wake_fd, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    exit_event.attach(wake_w)
    try:
        _run(driver, wake_fd)
    finally:
        exit_event.detach()
        os.close(wake_fd)
        os.close(wake_w)


def _run(driver: Any, wake_fd: int) -> None:
    selector = selectors.SelectSelector()
    selector.register(driver.fileno, selectors.EVENT_READ)
    selector.register(wake_fd, selectors.EVENT_READ)

    fileno = driver.fileno
    EVENT_READ = selectors.EVENT_READ

    parser = XTermParser(driver._debug)
    feed = parser.feed
    tick = parser.tick

    decode = getincrementaldecoder("utf-8")().decode
    read = os.read

    def process_selector_events(selector_events: list[tuple[selectors.SelectorKey, int]],
                                final: bool = False) -> None:
        for last, (key, mask) in loop_last(selector_events):
            if key.fd == wake_fd:
                _drain(wake_fd)
                continue
            if mask & EVENT_READ:
                unicode_data = decode(read(fileno, 1024 * 4), final=final and last)
                if not unicode_data:
                    # This can occur if the stdin is piped
                    break
                for event in feed(unicode_data):
                    driver.process_message(event)
        for event in tick():
            driver.process_message(event)

    try:
        while not driver.exit_event.is_set():
            process_selector_events(selector.select(SHORT_WAIT if pending(parser) else IDLE_WAIT))
        selector.unregister(driver.fileno)
        process_selector_events(selector.select(SHORT_WAIT), final=True)
    finally:
        selector.close()
        try:
            for _event in feed(""):
                pass
        except (EOFError, ParseError):
            pass


def _drain(fd: int) -> None:
    """Read every wake byte queued."""
    try:
        while os.read(fd, 64):
            pass
    except OSError:  # BlockingIOError: all read
        pass
