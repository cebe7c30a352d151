"""The tests start vnettop with the interpreter that runs them, never with whatever `python3` is on PATH.

Why: the README's test command runs pytest from a virtual environment that holds vnettop's dependencies;
the system's `python3` may hold none of them. On a fresh CI machine a test that ran `python3 -m vnettop
dump` got a vnettop without psutil: no tun/tap holders were read, and an OVS port's device could no
longer be told from a same-name decoy. The test failed for the machine, not for vnettop.
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
