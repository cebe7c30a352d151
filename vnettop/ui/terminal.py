"""Leaving the terminal as `q` does, however vnettop is ended.

SIGTERM (`kill`, `timeout`), SIGHUP (the SSH session dropped, the terminal window closed) and SIGQUIT
end a Python process at once by default. Textual puts the terminal back (main screen, cursor shown,
mouse reporting, bracketed paste and focus events off, line discipline restored) only when the app
exits, so each of them used to leave the shell on the alternate screen with a hidden cursor, and every
later mouse move typed escape sequences into it. Here each asks the app to exit the way `q` does, with
the status a shell gives a process ended by that signal (128 + its number: 143, 129, 131).

A hang-up does not always reach vnettop as a signal (its parent may catch SIGHUP and not pass it on:
`sudo`, a wrapper script, a shell that is not interactive); the terminal is gone all the same, Textual's
input thread then reads end-of-file in a busy loop and the orphaned process spins a CPU forever. So the
app also looks at the terminal once a second (`terminal_gone`) and exits as after SIGHUP when it is.

After a hang-up the terminal is usually gone: every write to it fails (EIO). Textual's writer thread
would die on the first failure, its bounded queue would fill and the exit would hang on the next write.
`SturdyDriver` makes those writes harmless: the first failure points the process's stdout and stderr
at /dev/null (so nothing later, not even the interpreter's last flush, fails or blocks) and the rest
of the exit runs as usual.

A SIGCONT alone resumes nothing. Textual's driver restarts the terminal (a new input thread, a new
output thread) on every SIGCONT outside `App.suspend`, as if each followed its own suspend (SIGTSTP:
`kill -TSTP`; vnettop reads Ctrl+Z as a key). But a process is also stopped and
continued by SIGSTOP and SIGCONT from outside, with the terminal left as it was: a debugger, `strace -p`
or `kill -STOP` then `kill -CONT`. Each such pair left a second and a third input thread reading the same
terminal: keys went to either (`q` did not quit), and after a hang-up the threads the exit did not stop
read end-of-file in a busy loop, keeping a process with no terminal at a full core. `SturdyDriver`
resumes only after its own suspend.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
from collections.abc import Callable
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

from vnettop.ui import input_thread

#: The signals that end vnettop like `q` does (SIGINT cannot come from the keyboard: the app reads
#: ctrl+c as a key, and a SIGINT sent with kill already ends it through KeyboardInterrupt).
EXIT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def exit_status(signo: int) -> int:
    """The status a shell reports for a process ended by signal `signo`."""
    return 128 + signo


def install_exit_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> list[int]:
    """Route EXIT_SIGNALS to `on_signal(signo)` in the event loop; returns the signals routed.

    A signal already ignored when vnettop started (`nohup vnettop`) stays ignored: the user asked
    for that. The loop's own handler wakes the loop at once, whichever thread the kernel interrupted;
    the loop removes its handlers when it closes (the terminal is back to normal by then)."""
    routed = []
    for signo in EXIT_SIGNALS:
        if signal.getsignal(signo) == signal.SIG_IGN:
            continue
        loop.add_signal_handler(signo, on_signal, int(signo))
        routed.append(int(signo))
    return routed


def terminal_gone(fd: int) -> bool:
    """True when the terminal on `fd` has hung up (the SSH session or the terminal window is gone).

    poll() always reports POLLHUP and POLLERR, even for a file registered for no events, so this
    neither waits nor consumes input the app has not read yet."""
    poller = select.poll()
    try:
        poller.register(fd, 0)
        return any(event & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
                   for _, event in poller.poll(0))
    except (OSError, ValueError):
        return True


def silence_output() -> None:
    """Point stdout and stderr at /dev/null: the terminal they wrote to is gone."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for fd in (1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


class TolerantOutput:
    """The driver's output file, for a terminal that may disappear: a failed write or flush (EIO after
    a hang-up, EBADF) silences stdout and stderr and is not raised; later writes go to /dev/null."""

    def __init__(self, stream: IO[str], on_failure: Callable[[], None] = silence_output) -> None:
        self._stream = stream
        self._on_failure = on_failure
        self.failed = False

    def _failed(self) -> None:
        self.failed = True
        self._on_failure()
        try:  # what is still buffered goes to /dev/null now, so no later flush fails
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            self._failed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._failed()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()


class SturdyDriver(LinuxDriver):
    """Textual's Linux driver writing through `TolerantOutput`: a terminal that has gone away cannot
    make the exit raise or hang. Its input thread waits for keys without waking ten times a second
    (`input_thread`)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        stream = sys.__stderr__
        if stream is not None:
            self._file = TolerantOutput(stream)  # type: ignore[assignment]
        self.exit_event: input_thread.WakingEvent = input_thread.WakingEvent()

    def run_input_thread(self) -> None:
        input_thread.run_input_thread(self, self.exit_event)

    def _sigcont_application(self, *args: Any) -> None:
        """Resume the terminal only while a suspend of Textual's own SIGTSTP handler awaits its resume
        (module docstring: a SIGCONT after a SIGSTOP from outside finds the terminal as it was, and must
        not start another input thread).

        Textual's `_must_signal_resume` says exactly that: its SIGTSTP handler sets it once the terminal
        is suspended (only when it restarts the terminal by itself, i.e. outside `App.suspend`), and it
        is cleared only when a start got through. A SIGCONT while the process is still in the background
        (`bg`) leaves it set: that start stops the process again, and the SIGCONT of `fg` resumes."""
        if self._must_signal_resume:
            super()._sigcont_application(*args)
