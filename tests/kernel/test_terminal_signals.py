"""SIGTERM, SIGHUP, SIGQUIT and a hang-up leave the terminal as `q` does, in a real terminal (tmux);
and keys that arrive together (typed fast, or in one packet over SSH) are answered in order.

`python3 -m vnettop --demo` runs in a tmux pane (its own tmux server, so nothing else's sessions are
touched); once it is drawn it is ended by `q` or a signal, and the pane's modes are read from tmux:
alternate screen, cursor, every mouse reporting mode, line wrap, keypad modes, plus the line discipline
(`stty -g` before and after) and bracketed paste (a paste reaches the shell without \\e[200~ markers).
What `q` leaves is the reference, and it is also checked against the normal state outright.

No root needed (the demo is a built-in snapshot); it lives in the slow tier because it starts real
processes in a real terminal. Skips only when tmux is missing (CI installs it).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kernelkit import poll_until
from tests.tmuxkit import kill_server

TMUX = shutil.which("tmux")
TOP = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.skipif(TMUX is None, reason="needs tmux")

MODES = ("alternate_on", "cursor_flag", "mouse_any_flag", "mouse_all_flag", "mouse_button_flag",
         "mouse_standard_flag", "mouse_sgr_flag", "mouse_utf8_flag", "wrap_flag", "keypad_flag",
         "keypad_cursor_flag", "insert_flag", "origin_flag")
#: A shell's terminal: main screen, cursor shown, no mouse reporting, lines wrap, no keypad modes.
NORMAL = {"alternate_on": "0", "cursor_flag": "1", "mouse_any_flag": "0", "mouse_all_flag": "0",
          "mouse_button_flag": "0", "mouse_standard_flag": "0", "mouse_sgr_flag": "0",
          "mouse_utf8_flag": "0", "wrap_flag": "1", "keypad_flag": "0", "keypad_cursor_flag": "0",
          "insert_flag": "0", "origin_flag": "0"}


class Tmux:
    """A private tmux server (own socket) with one 120x40 session, killed in `close`."""

    def __init__(self, workdir: Path) -> None:
        self.socket = f"vnt{secrets.token_hex(4)}"
        self.session = f"{self.socket}s"
        self.workdir = workdir

    def cmd(self, *args: str, check: bool = True) -> str:
        assert TMUX is not None
        proc = subprocess.run([TMUX, "-L", self.socket, "-f", os.devnull, *args], capture_output=True,
                              text=True, timeout=10)
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, shell_command: str) -> None:
        self.cmd("new-session", "-d", "-s", self.session, "-x", "120", "-y", "40", "-c", str(TOP),
                 shell_command)

    def screen(self) -> str:
        return self.cmd("capture-pane", "-p", "-t", self.session, check=False)

    def modes(self) -> dict[str, str]:
        out = self.cmd("display", "-p", "-t", self.session, " ".join(f"#{{{m}}}" for m in MODES)).split()
        return dict(zip(MODES, out, strict=True))

    def close(self) -> None:
        assert TMUX is not None
        kill_server(self.socket, TMUX)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path)
    try:
        yield t
    finally:
        t.close()


def _drawn(t: Tmux) -> bool:
    return "Topology" in t.screen() and t.modes()["alternate_on"] == "1"


def _read(path: Path) -> str | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return text if text.endswith("\n") else None  # written whole (each file ends with a newline)


@dataclass
class Ended:
    """What was left after vnettop ended."""

    modes: dict[str, str]
    status: int
    stty_before: str
    stty_after: str
    pasted: str


def _run_and_end(t: Tmux, ending: str) -> Ended:
    """Run the demo in the pane, end it with `ending` ("q" or a signal name), read what is left.

    The pane's shell records the line discipline, runs vnettop (whose pid a tiny `sh` writes before
    exec'ing it), records `$?` and the line discipline again, then reads one line: a bracketed paste
    sent there arrives with its \\e[200~ markers only if vnettop left bracketed paste on."""
    d = t.workdir
    vnettop = f"{shlex.quote(sys.executable)} -m vnettop --demo"
    script = (f"stty -g > {d}/stty.before; "
              f"sh -c 'echo $$ > {d}/pid; exec {vnettop}'; echo $? > {d}/rc; "
              f"stty -g > {d}/stty.after; "
              f"IFS= read -r line; printf '%s\\n' \"$line\" | od -An -c > {d}/pasted; sleep 30")
    t.start(script)
    poll_until(lambda: _drawn(t), timeout=30, interval=0.1)
    pid = int(poll_until(lambda: _read(d / "pid"), timeout=5))
    if ending == "q":
        t.cmd("send-keys", "-t", t.session, "q")
    else:
        os.kill(pid, getattr(signal, ending))
    status = int(poll_until(lambda: _read(d / "rc"), timeout=15))
    poll_until(lambda: _read(d / "stty.after"), timeout=5)
    modes = t.modes()
    t.cmd("set-buffer", "-b", "vnt", "PASTED")
    t.cmd("paste-buffer", "-p", "-b", "vnt", "-t", t.session)
    t.cmd("send-keys", "-t", t.session, "Enter")
    pasted = poll_until(lambda: _read(d / "pasted"), timeout=5)
    return Ended(modes, status, (d / "stty.before").read_text(), (d / "stty.after").read_text(),
                 " ".join(pasted.split()))


@pytest.fixture(scope="module")
def after_q(tmp_path_factory: pytest.TempPathFactory) -> Ended:
    """What `q` leaves: the reference every signal is compared with."""
    t = Tmux(tmp_path_factory.mktemp("q"))
    try:
        return _run_and_end(t, "q")
    finally:
        t.close()


def test_q_leaves_a_normal_terminal(after_q: Ended) -> None:
    assert after_q.status == 0
    assert after_q.modes == NORMAL
    assert after_q.stty_after == after_q.stty_before
    assert after_q.pasted == "P A S T E D \\n", "bracketed paste left on"


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGQUIT"])
def test_a_signal_leaves_the_terminal_as_q_does(tmux: Tmux, after_q: Ended, name: str) -> None:
    ended = _run_and_end(tmux, name)
    assert ended.modes == after_q.modes, f"{name} left the terminal in other modes than q"
    assert ended.stty_after == ended.stty_before, f"{name} left the line discipline changed"
    assert ended.pasted == after_q.pasted, f"{name} left bracketed paste on"
    assert ended.status == 128 + getattr(signal, name)


#: The pane's process when the terminal hangs up: like a login shell or sudo it is the one the kernel
#: sends SIGHUP to; it passes it on to vnettop (as bash does) or not (as a wrapper that catches it may),
#: and records vnettop's exit status (negative: killed by that signal) or "hung" after 15 s.
WRAPPER = """
import signal, subprocess, sys
out, forward = sys.argv[1], sys.argv[2] == "forward"
child = subprocess.Popen([sys.executable, "-m", "vnettop", "--demo"])
def hangup(signo, frame):
    if forward:
        child.send_signal(signal.SIGHUP)
signal.signal(signal.SIGHUP, hangup)
try:
    status = str(child.wait(timeout=15))
except subprocess.TimeoutExpired:
    status = "hung"
    child.kill()
with open(out, "w") as f:
    f.write(status + "\\n")
"""


@pytest.mark.parametrize("parent", ["forward", "swallow"])
def test_a_hang_up_ends_vnettop_with_the_sighup_status(tmux: Tmux, parent: str) -> None:
    """The terminal goes away (tmux closes the pane's terminal, as sshd does when a session drops):
    vnettop exits at once with status 129, whether the SIGHUP reaches it or not. Before, it was killed
    by the signal, or (not reached) kept running, reading end-of-file in a busy loop."""
    d = tmux.workdir
    (d / "wrapper.py").write_text(WRAPPER)
    tmux.start(f"{shlex.quote(sys.executable)} {d}/wrapper.py {d}/status {parent}")
    poll_until(lambda: _drawn(tmux), timeout=30, interval=0.1)
    tmux.cmd("kill-session", "-t", tmux.session)
    status = poll_until(lambda: _read(d / "status"), timeout=20, interval=0.1).strip()
    assert status == str(128 + signal.SIGHUP)


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_stopped_and_continued_from_outside_it_keeps_one_input_thread_and_quits_on_q(tmux: Tmux) -> None:
    """SIGSTOP then SIGCONT (a debugger, `strace -p`, `kill -STOP` / `kill -CONT`): the terminal was never
    suspended, so nothing is restarted. Before, each SIGCONT started another input and output thread on
    the same terminal: `q` went to one of them and did not quit, and after a hang-up the others spun."""
    d = tmux.workdir
    tmux.start(f"sh -c 'echo $$ > {d}/pid; exec {shlex.quote(sys.executable)} -m vnettop --demo'; "
               f"echo $? > {d}/rc; sleep 30")
    poll_until(lambda: _drawn(tmux), timeout=30, interval=0.1)
    pid = int(poll_until(lambda: _read(d / "pid"), timeout=5))
    try:
        _stop_continue_then_quit(tmux, pid)
    finally:  # (a process left with extra input threads outlives its terminal; no status: still running)
        if _read(d / "rc") is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _stop_continue_then_quit(tmux: Tmux, pid: int) -> None:
    d = tmux.workdir
    # (Textual's thread workers may add a pool thread while the first pictures come: count once steady)
    before = poll_until(lambda: _steady_threads(pid), timeout=10)
    for _ in range(2):
        os.kill(pid, signal.SIGSTOP)
        poll_until(lambda: _state(pid) == "T", timeout=5)
        os.kill(pid, signal.SIGCONT)
        poll_until(lambda: _state(pid) != "T", timeout=5)
    assert _threads(pid) < before + 2  # (each restart added an input and an output thread)
    # A suspend of its own (SIGTSTP, `kill -TSTP`) is still resumed by the next SIGCONT (as `fg` sends):
    # the terminal is restarted, with one input thread as before.
    os.kill(pid, signal.SIGTSTP)
    poll_until(lambda: _state(pid) == "T", timeout=5)
    os.kill(pid, signal.SIGCONT)
    poll_until(lambda: tmux.modes()["alternate_on"] == "1", timeout=10, interval=0.1)
    tmux.cmd("send-keys", "-t", tmux.session, "2")
    poll_until(lambda: "Bridges" in tmux.screen(), timeout=10, interval=0.1)
    assert _threads(pid) < before + 2
    tmux.cmd("send-keys", "-t", tmux.session, "q")
    assert int(poll_until(lambda: _read(d / "rc"), timeout=15)) == 0


def _steady_threads(pid: int) -> int:
    """The process's thread count if it stays the same over 0.5 s of samples (0: it moved)."""
    first = _threads(pid)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        if _threads(pid) != first:
            return 0
        time.sleep(0.05)  # (sampling a count over a span: no event tells that it stays)
    return first


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_filter_typed_in_one_write_filters_and_does_not_quit(tmux: Tmux) -> None:
    """`/qdhcp` arriving in one read: the q used to reach the tree before the filter box had focus,
    and vnettop quit (see vnettop/ui/key_order.py)."""
    tmux.start(f"{shlex.quote(sys.executable)} -m vnettop --demo; sleep 30")
    poll_until(lambda: _drawn(tmux), timeout=30, interval=0.1)
    tmux.cmd("send-keys", "-t", tmux.session, "-l", "/qdhcp")
    poll_until(lambda: "filter qdhcp" in tmux.screen(), timeout=10, interval=0.1)
    assert tmux.modes()["alternate_on"] == "1", "vnettop is still running"
