"""`vnettop --load fleet.jsonl` for real: a fleet file (from a path, or piped into `--load -`) opens the
hosts view in a tmux pane; enter opens a host, H goes back, q exits 0. A fleet file with a bad line is one
line on stderr, before the screen is touched."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernelkit import poll_until
from tests.tmuxkit import Tmux
from tests.ui.fleet_fixture import fleet_text
from tests.ui.test_load_stdin_terminal import REPO


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.jsonl"
    path.write_text(fleet_text(), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["path", "pipe"])
def test_a_fleet_file_opens_the_hosts_view(tmux: Tmux, fleet_file: Path, tmp_path: Path, how: str) -> None:
    status = tmp_path / "status"
    vnettop = f"{shlex.quote(sys.executable)} -m vnettop --load"
    run = (f"{vnettop} {shlex.quote(str(fleet_file))}" if how == "path"
           else f"cat {shlex.quote(str(fleet_file))} | {vnettop} -")
    script = f"cd {shlex.quote(str(REPO))} && {run}; echo $? > {shlex.quote(str(status))}; sleep 60"
    tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", script)

    def drawn_screen() -> str:
        screen = tmux.screen()
        if status.exists():
            raise AssertionError(f"exited {status.read_text().strip()} without drawing:\n{screen.strip()}")
        # Whole: a capture may catch a frame half drawn (the header and the borders before the rows).
        whole = ("H Hosts (5)" in screen and "orphans 2 on 1 host" in screen
                 and "hv-timeout" in screen and "no answer within 30 s" in screen)
        return screen if whole else ""

    drawn = poll_until(drawn_screen, timeout=30, interval=0.1)
    source = "fleet.jsonl" if how == "path" else "standard input"
    assert f"fleet file {source}" in drawn.splitlines()[0], drawn

    tmux("send-keys", "-t", "t", "Down", "Down", "Enter")  # hv-demo
    poll_until(lambda: "1 Topology · hv-demo" in (s := tmux.screen()) and "host hv-demo 3/5" in s,
               timeout=15, interval=0.1)
    tmux("send-keys", "-t", "t", "H")
    poll_until(lambda: "H Hosts (5)" in tmux.screen(), timeout=15, interval=0.1)

    tmux("send-keys", "-t", "t", "q")
    code = poll_until(lambda: status.exists() and status.read_text().strip(), timeout=15, interval=0.1)
    assert code == "0", tmux.screen()


def test_a_fleet_file_with_a_bad_line_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.jsonl"
    lines = fleet_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n", encoding="utf-8")
    master, slave = os.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "vnettop", "--load", str(path)], stdin=slave, stdout=slave,
                              stderr=subprocess.PIPE, cwd=REPO, timeout=60,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    finally:
        os.close(slave)
        os.close(master)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path} line 2: not valid JSON" in err, err


def test_a_one_snapshot_command_over_a_fleet_file_says_what_it_is(fleet_file: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vnettop", "dump", "--load", str(fleet_file)],
                          capture_output=True, text=True, cwd=REPO, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "a fleet file (one snapshot per host)" in done.stderr
    assert f"vnettop --load {fleet_file}" in done.stderr and f"{fleet_file}@HOST" in done.stderr


def test_the_inspector_tells_a_fleet_file_from_one_snapshot(fleet_file: Path, tmp_path: Path) -> None:
    import argparse

    from tests.fixtures_snapshots import compute_node
    from vnettop.cli import _tui_source
    from vnettop.render.json import snapshot_to_json
    from vnettop.ui.fleet_hosts import FleetState

    fleet = _tui_source(argparse.Namespace(load=str(fleet_file), demo=False))
    assert isinstance(fleet, FleetState) and [e.host for e in fleet.entries][:2] == ["compute01", "hv-down"]
    assert fleet.source == "fleet.jsonl" and fleet.notes == []
    one = tmp_path / "one.json"
    one.write_text(snapshot_to_json(compute_node()), encoding="utf-8")
    snap = _tui_source(argparse.Namespace(load=str(one), demo=False))
    assert not isinstance(snap, FleetState) and snap is not None and snap.host.hostname == "compute01"
    cut = tmp_path / "cut.jsonl"  # a fan-out killed mid-write: the hosts before it, and a note
    cut.write_text(fleet_text()[:-40], encoding="utf-8")
    fleet = _tui_source(argparse.Namespace(load=str(cut), demo=False))
    assert isinstance(fleet, FleetState) and len(fleet.entries) == 4
    assert fleet.notes and "cut off" in fleet.notes[0]
