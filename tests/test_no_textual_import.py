"""`vnettop dump` and `vnettop trace` must not pay for Textual's import (~150 ms), nor the core import it.

Each case runs in a fresh interpreter: `-X importtime` lists every module the command imported, so a
stray `import textual` anywhere on the path (cli, collect, topology, render) shows up here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imported_modules(*argv: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vnettop", *argv],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    return modules, done


def textual_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == "textual" or m.startswith(("textual.", "rich")))


@pytest.mark.parametrize(
    "argv",
    [
        ("dump", "--demo", "--format", "json"),
        ("dump", "--demo", "--format", "text"),
        ("dump", "--demo", "--format", "dot"),
        ("dump", "--demo", "--format", "prom"),
        ("trace", "tap0", "--demo"),
        ("trace", "tap0", "--demo", "--format", "json"),
    ],
)
def test_offline_commands_do_not_import_textual(argv: tuple[str, ...]) -> None:
    modules, done = imported_modules(*argv)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vnettop.cli" in modules  # the probe works: it does see our own imports
    assert textual_modules(modules) == []
    assert "vnettop.ui" not in modules and "pyroute2" not in modules  # offline: no kernel library either


@pytest.mark.skipif(os.geteuid() != 0, reason="a live dump reads every namespace: needs root")
def test_live_dump_does_not_import_textual() -> None:
    modules, done = imported_modules("dump", "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vnettop.collect.collector" in modules
    assert textual_modules(modules) == []
    assert not any(m == "vnettop.ui" or m.startswith("vnettop.ui.") for m in modules)


def test_core_modules_import_without_textual() -> None:
    code = (
        "import sys\n"
        "import vnettop.cli, vnettop.topology, vnettop.model\n"
        "import vnettop.render.text, vnettop.render.dot, vnettop.render.json, vnettop.render.prom\n"
        "import vnettop.orphans, vnettop.textfile\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_a_dump_does_not_import_the_fleet_runner_to_build_its_parser() -> None:
    """A one-shot command named first builds only its own parser; any other command line builds the
    whole one, `fleet dump`'s options included: their defaults live apart from the ssh fan-out and the
    fleet file reader (with the model behind it), which only `fleet` needs."""
    modules, done = imported_modules("dump", "--demo", "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"vnettop.fleet.commands", "vnettop.fleet.fanout", "vnettop.fleet.fleetfile"} & modules == set()
    modules, done = imported_modules("--demo", "dump", "--format", "json")  # (an option first: the whole)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vnettop.fleet.commands" in modules  # the whole parser was built
    assert {"vnettop.fleet.fanout", "vnettop.fleet.fleetfile"} & modules == set()
    _, done = imported_modules("fleet", "dump", "--help")
    assert done.returncode == 0 and "--parallel N" in done.stdout and "(default 32)" in done.stdout
