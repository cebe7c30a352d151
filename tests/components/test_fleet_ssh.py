"""`vnettop fleet dump` over a real OpenSSH sshd: the fleet account's forced command, and every way a
host fails (garbage, a closed port, a host that never answers), with the others unaffected."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.components.base import REPO, poll_until
from tests.components.sshd import Sshd
from tests.tmuxkit import Tmux
from vnettop.fleet.fleetfile import read_fleet


def fleet_dump(sshd: Sshd, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", "fleet", "dump", "--ssh-config", str(sshd.config),
                           *argv], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_a_fleet_of_real_ssh_hosts(sshd: Sshd, tmp_path: Path) -> None:
    out = tmp_path / "fleet.jsonl"
    start = time.monotonic()
    done = fleet_dump(sshd, "vnt-ok", "vnt-garbage", "vnt-closed", "vnt-slow", "vnt-ok", "--timeout", "4",
                      "-o", str(out))
    assert time.monotonic() - start < 30  # the slow host is cut at its deadline, the rest did not wait
    assert done.returncode == 1
    assert done.stderr == "vnettop: 3 of 5 hosts failed (vnt-garbage, vnt-closed, vnt-slow)\n"
    entries, notes = read_fleet(str(out))
    assert notes == [] and [e.host for e in entries] == ["vnt-ok", "vnt-garbage", "vnt-closed", "vnt-slow", "vnt-ok"]
    ok = entries[0]
    assert ok.ok and ok.snapshot().host.hostname  # a real snapshot of this host, checked field by field
    assert any(link.name == "lo" for link in ok.snapshot().links)
    errors = {e.host: e.error for e in entries if not e.ok}
    assert errors["vnt-garbage"] is not None and errors["vnt-garbage"].startswith("output is not a vnettop snapshot")
    assert errors["vnt-closed"] is not None and errors["vnt-closed"].startswith("ssh failed: ") and \
        "refused" in errors["vnt-closed"].lower()
    assert errors["vnt-slow"] == "no answer within 4 s"
    # The questions work on what came back.
    found = subprocess.run([sys.executable, "-m", "vnettop", "fleet", "find", "lo", str(out), "-f", "json"],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    doc = json.loads(found.stdout)
    assert {m["host"] for m in doc["matches"]} == {"vnt-ok"}
    assert {f["host"] for f in doc["not_searched"]} == {"vnt-garbage", "vnt-closed", "vnt-slow"}


def test_progress_line_on_a_terminal(sshd: Sshd, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    out = tmp_path / "fleet.jsonl"
    cmd = (f"cd {REPO} && {sys.executable} -m vnettop fleet dump --ssh-config {sshd.config} vnt-ok vnt-slow "
           f"--timeout 8 -o {out}; echo EXIT=$?; sleep 30")
    tmux = Tmux()  # a server of the test's own: no session of anyone else's is touched
    tmux("new-session", "-d", "-x", "120", "-y", "10", "-s", "t", cmd)
    try:
        def pane() -> str:
            return tmux.screen()

        during = poll_until(lambda: "1/2 done" in pane() and pane(), timeout=20)
        assert "fleet: 1/2 done, 0 failed, 1 running" in during
        after = poll_until(lambda: "EXIT=" in pane() and pane(), timeout=30)
        assert "EXIT=1" in after and "fleet:" not in after  # the progress line is wiped at the end
        assert "vnettop: 1 of 2 hosts failed (vnt-slow)" in after
    finally:
        tmux.kill()
