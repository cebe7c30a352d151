"""`vnettop --load -`: the snapshot comes from standard input, the keys from the terminal.

Run for real: a tmux pane (a real terminal, on a tmux server of the test's own) pipes a saved snapshot
into `python3 -m vnettop --load -`; the inspector must draw it, answer keys typed into the pane, and
exit 0 on `q`. Without a controlling terminal the command must say so in one line and read nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_snapshots import compute_node
from tests.kernelkit import poll_until
from tests.tmuxkit import Tmux
from vnettop.render.json import snapshot_to_json

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "compute.json"
    path.write_text(snapshot_to_json(compute_node()), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["pipe", "redirect"])
def test_load_from_stdin_opens_the_inspector_on_the_terminal(tmux: Tmux, saved: Path, tmp_path: Path,
                                                              how: str) -> None:
    status = tmp_path / "status"
    vnettop = f"{shlex.quote(sys.executable)} -m vnettop --load -"
    feed = (f"cat {shlex.quote(str(saved))} | {vnettop}" if how == "pipe"
            else f"{vnettop} < {shlex.quote(str(saved))}")
    script = f"cd {shlex.quote(str(REPO))} && {feed}; echo $? > {shlex.quote(str(status))}; sleep 60"
    tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", script)

    def drawn_screen() -> str:
        screen = tmux.screen()
        if status.exists():  # vnettop ended before drawing: show what it said
            raise AssertionError(f"exited {status.read_text().strip()} without drawing:\n{screen.strip()}")
        return screen if "q Quit" in screen else ""

    drawn = poll_until(drawn_screen, timeout=30, interval=0.1)
    header = drawn.splitlines()[0]
    assert "compute01" in header and "standard input" in header, drawn
    assert "needs a terminal" not in drawn

    tmux("send-keys", "-t", "t", "2")  # a key typed into the terminal reaches the inspector
    poll_until(lambda: "2 Bridges" in tmux.screen(), timeout=15, interval=0.1)

    tmux("send-keys", "-t", "t", "q")
    code = poll_until(lambda: status.exists() and status.read_text().strip(), timeout=15, interval=0.1)
    assert code == "0", tmux.screen()


def test_load_from_stdin_without_a_terminal_is_one_line_and_reads_nothing(saved: Path) -> None:
    """Standard output on a terminal, but no controlling terminal to read keys from (a new session,
    as under cron or `setsid`): one line naming the way out, exit 2, and the snapshot left unread."""
    master, slave = os.openpty()
    try:
        with open(saved, "rb") as snapshot:
            done = subprocess.run([sys.executable, "-m", "vnettop", "--load", "-"], stdin=snapshot,
                                  stdout=slave, stderr=subprocess.PIPE, cwd=REPO, timeout=60,
                                  start_new_session=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
            unread = os.lseek(snapshot.fileno(), 0, os.SEEK_CUR) == 0  # the child shares the offset
    finally:
        os.close(slave)
        os.close(master)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("vnettop: ") and "Traceback" not in err
    assert "/dev/tty" in err and "vnettop dump --load -" in err
    assert unread, "the snapshot was read although it could not be shown"
