"""OpenSSH: a vnettop dump over a real sshd with the forced-command key pattern of a fleet account."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.components.sshd import Sshd


def test_forced_command_key_returns_a_vnettop_snapshot_and_nothing_else(sshd: Sshd) -> None:
    canary = sshd.comp.dir / "canary"
    code, out, err = sshd.ssh("vnt-ok", f"touch {canary}")
    assert code == 0, err
    snap = json.loads(out)
    assert snap["schema"].startswith("vnettop") and snap["host"]["hostname"] == socket.gethostname()
    assert any(ln["name"] == "lo" for ln in snap["links"])
    assert not canary.exists(), "the forced command let the client's own command run"


def test_other_aliases_fail_the_way_fleet_tests_need(sshd: Sshd) -> None:
    code, out, _ = sshd.ssh("vnt-garbage")
    assert code == 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
    code, _, err = sshd.ssh("vnt-closed", "true")
    assert code == 255 and "refused" in err.lower(), err
    with pytest.raises(subprocess.TimeoutExpired):
        sshd.ssh("vnt-slow", timeout=1.5)


def test_twenty_parallel_logins_all_answer(sshd: Sshd) -> None:
    procs = [subprocess.Popen(["ssh", "-F", str(sshd.config), "vnt-garbage"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(20)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, [e for _, e in results]
