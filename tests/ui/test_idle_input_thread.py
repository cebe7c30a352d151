"""An idle inspector does not wake ten times a second for its keyboard (`vnettop.ui.input_thread`), and
keys, a lone Esc and `q` still answer at once; after a suspend and resume, keys too.

Run for real: `python -m vnettop --demo` in a tmux pane (a tmux server of the test's own). Textual's input
thread waited 0.1 s at a time: an idle demo's threads woke ~11 times a second in all (55 voluntary
context switches in 5 s, measured); now a few times in those seconds.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

from tests.kernelkit import poll_until
from tests.tmuxkit import Tmux

REPO = Path(__file__).resolve().parents[2]
#: The window over which wake-ups are counted, and the most allowed in it (Textual's own wait: ~33).
WINDOW = 3.0
MOST_WAKEUPS = 15
#: `q` until the process has ended (~1.2-1.9 s for the demo here; the idle wait alone is 5 s).
QUIT_WITHIN = 4.0


def _wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of `pid` so far (each one a sleep that ended)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:  # a thread that just ended
            pass
    return total


def _state(pid: int) -> str:
    """The process's state letter (`T`: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _start_demo(tmux: Tmux, status: Path) -> int:
    """`vnettop --demo` in a pane of the test's tmux server, drawn; its pid."""
    vnettop = f"{shlex.quote(sys.executable)} -m vnettop --demo"
    script = f"cd {shlex.quote(str(REPO))} && {vnettop}; echo $? > {shlex.quote(str(status))}; sleep 60"
    tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", script)
    poll_until(lambda: "q Quit" in tmux.screen(), timeout=30, interval=0.1)
    shell = int(tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _filter_then_esc(tmux: Tmux) -> None:
    """Type a filter, then clear it with a lone Esc. An Esc is told from the start of a longer sequence by
    the time that follows it: the input thread must come back for it after its short wait, not its idle one."""
    tmux("send-keys", "-t", "t", "/tap0")
    poll_until(lambda: "filter: tap0" in tmux.screen(), timeout=5, interval=0.05)
    sent = time.monotonic()
    tmux("send-keys", "-t", "t", "Escape")
    poll_until(lambda: "filter: tap0" not in tmux.screen(), timeout=5, interval=0.02)
    assert time.monotonic() - sent < 1.5, "a lone Esc waited for the idle wait"


def _quit(tmux: Tmux, status: Path) -> None:
    """`q` ends the process, with status 0, at once: Textual stops the input thread by setting an event and
    joining it, and the event wakes the wait."""
    sent = time.monotonic()
    tmux("send-keys", "-t", "t", "q")
    code = poll_until(lambda: status.exists() and status.read_text().strip(), timeout=15, interval=0.05)
    assert code == "0", tmux.screen()
    took = time.monotonic() - sent
    assert took < QUIT_WITHIN, f"quitting took {took:.1f} s: the input thread slept through the exit"


def test_an_idle_inspector_sleeps_and_still_answers_keys(tmux: Tmux, tmp_path: Path) -> None:
    status = tmp_path / "status"
    pid = _start_demo(tmux, status)

    before = _wakeups(pid)
    time.sleep(WINDOW)  # (a measurement over a window of idleness, not a wait for an event)
    woke = _wakeups(pid) - before
    assert woke < MOST_WAKEUPS, f"an idle demo's threads woke {woke} times in {WINDOW} s"

    _filter_then_esc(tmux)
    _quit(tmux, status)


def test_after_a_suspend_and_resume_the_new_input_thread_answers_keys(tmux: Tmux, tmp_path: Path) -> None:
    """A suspend (SIGTSTP, as Ctrl-Z under a shell's job control) stops the input thread and closes the
    driver; SIGCONT starts a new input thread, which must wait on a wake pipe of its own (one closed with the
    driver made the new thread fail at once), and `q` must still end the process at once."""
    status = tmp_path / "status"
    pid = _start_demo(tmux, status)
    try:
        os.kill(pid, signal.SIGTSTP)
        poll_until(lambda: _state(pid) == "T", timeout=10, interval=0.05)
        os.kill(pid, signal.SIGCONT)
        poll_until(lambda: _state(pid) != "T", timeout=10, interval=0.05)
        _filter_then_esc(tmux)
        _quit(tmux, status)
    finally:
        try:  # (a failed check must not leave the process behind)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_sigcont_resumes_only_a_suspend_of_our_own() -> None:
    """`SturdyDriver._sigcont_application` restarts the terminal only while Textual's own SIGTSTP suspend
    awaits it (`_must_signal_resume`): not after a SIGSTOP from outside; and again after a start that
    gave up (a SIGCONT from `bg`: the start stops the process again, and `fg` resumes)."""
    from vnettop.ui.terminal import SturdyDriver

    driver = SturdyDriver.__new__(SturdyDriver)
    resumed: list[int] = []
    driver.resume_application_mode = lambda: resumed.append(1)  # type: ignore[method-assign]
    driver._auto_restart = True
    driver._must_signal_resume = False
    driver._sigcont_application()  # SIGSTOP then SIGCONT from outside: the terminal is as it was
    assert resumed == []
    driver._must_signal_resume = True  # our SIGTSTP handler suspended the terminal
    driver._sigcont_application()  # `bg`: the start gave up, the flag stays
    driver._sigcont_application()  # `fg`
    assert resumed == [1, 1]
