"""The tests start vnettop with the interpreter that runs them, never with whatever `python3` is on PATH;
and the tmux servers they drive vnettop in are their own, killed with their socket file removed.

Why the interpreter: the README's test command runs pytest from a virtual environment that holds
vnettop's dependencies; the system's `python3` may hold none of them. On a fresh CI machine a test that
ran `python3 -m vnettop dump` got a vnettop without psutil: no tun/tap holders were read, and an OVS
port's device could no longer be told from a same-name decoy. The test failed for the machine, not for
vnettop.

Why the tmux servers: a session on the default server could meet an operator's own; and a killed tmux
server leaves its socket file in /tmp/tmux-UID, which every CI run added to (a dozen files a run) until
the kill went through `tmuxkit.kill_server`.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
#: A command that starts vnettop through a bare `python3`: as an argv list or as a shell string.
BARE = re.compile(r"""["']python3["']\s*,\s*["']-m["']\s*,\s*["']vnettop|["']python3 -m vnettop""")


def test_no_test_starts_vnettop_with_the_python3_on_path() -> None:
    offenders = [f"{path.relative_to(TESTS)}:{n}" for path in sorted(TESTS.rglob("*.py"))
                 if path != Path(__file__).resolve()  # (this file names both forms, below)
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if BARE.search(line)]
    assert not offenders, f"start vnettop with sys.executable, not python3 from PATH: {offenders}"


def test_the_check_finds_both_forms() -> None:
    assert BARE.search('run(["python3", "-m", "vnettop", "dump"])')
    assert BARE.search("tmux.start('python3 -m vnettop --demo')")
    assert not BARE.search("run([sys.executable, '-m', 'vnettop'])")
    assert not BARE.search("`python3 -m vnettop --load -` in a docstring")


#: A tmux command on the default server (no `-L NAME` first), or a server killed other than by `tmuxkit`.
DEFAULT_SERVER = re.compile(r"""\[\s*["']tmux["']\s*,\s*["'](?!-L["'])""")
KILL = re.compile(r"""["']kill-server["']""")
TMUXKIT = TESTS / "tmuxkit.py"


def test_tmux_servers_are_the_tests_own_and_killed_through_tmuxkit() -> None:
    offenders = [f"{path.relative_to(TESTS)}:{n}" for path in sorted(TESTS.rglob("*.py"))
                 if path not in (Path(__file__).resolve(), TMUXKIT)
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if DEFAULT_SERVER.search(line) or KILL.search(line)]
    assert not offenders, f"use tests.tmuxkit (a server of the test's own, its socket file removed): {offenders}"


def test_the_tmux_check_finds_the_default_server_and_a_bare_kill() -> None:
    assert DEFAULT_SERVER.search('subprocess.run(["tmux", "new-session", "-d", "-s", session, cmd])')
    assert not DEFAULT_SERVER.search('subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"])')
    assert KILL.search('self.cmd("kill-server", check=False)')
