"""`vnettop fleet dump`: bounded fan-out, one line per host in order, every failure one line, no stall."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures_snapshots import compute_node
from tests.kernelkit import poll_until
from vnettop.fleet.fleetfile import SCHEMA, read_fleet
from vnettop.render.json import snapshot_to_json

FAKE = str(Path(__file__).with_name("fakessh.py"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    snap = tmp_path / "snap.json"
    snap.write_text(snapshot_to_json(compute_node(), indent=None))
    return {**os.environ, "VNT_FAKESSH_SNAPSHOT": str(snap), "VNT_FAKESSH_LOG": str(tmp_path / "calls.jsonl")}


def fleet_dump(env: dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", "fleet", "dump", "--ssh", FAKE, *argv],
                          capture_output=True, text=True, env=env, timeout=timeout)


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in out.splitlines()]


def test_every_host_answers_in_the_order_given(env: dict[str, str]) -> None:
    done = fleet_dump(env, "good1", "good2", "good3")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    got = lines(done.stdout)
    assert [g["host"] for g in got] == ["good1", "good2", "good3"]
    assert all(g["schema"] == SCHEMA and g["ok"] is True and isinstance(g["ms"], int) for g in got)
    assert got[0]["snapshot"]["host"]["hostname"] == "compute01"  # type: ignore[index]


def test_each_failure_is_one_line_with_its_reason_and_the_others_still_answer(env: dict[str, str]) -> None:
    done = fleet_dump(env, "refused", "good1", "garbage", "notasnapshot", "exits3", "nosuchhost", "hangs",
                      "good2", "--timeout", "2")
    assert done.returncode == 1
    assert done.stderr == "vnettop: 6 of 8 hosts failed (refused, garbage, notasnapshot, exits3, nosuchhost, …)\n"
    got = {g["host"]: g for g in lines(done.stdout)}
    assert [g["host"] for g in lines(done.stdout)] == ["refused", "good1", "garbage", "notasnapshot", "exits3",
                                                         "nosuchhost", "hangs", "good2"]
    assert got["good1"]["ok"] and got["good2"]["ok"]
    reasons = {h: g["error"] for h, g in got.items() if not g["ok"]}
    assert reasons == {
        "refused": "ssh failed: ssh: connect to host 127.0.0.1 port 1: Connection refused",
        "garbage": "output is not a vnettop snapshot: not JSON (Expecting value)",
        "notasnapshot": reasons["notasnapshot"],
        "exits3": "remote command exited 3: sudo: a password is required",
        "nosuchhost": "ssh failed: ssh: Could not resolve hostname nosuchhost: Name or service not known",
        "hangs": "no answer within 2 s",
    }
    assert reasons["notasnapshot"].startswith("output is not a vnettop snapshot: ")
    assert "\n" not in "".join(str(r) for r in reasons.values())


def test_a_hung_host_and_its_children_are_killed_at_the_deadline(env: dict[str, str], tmp_path: Path) -> None:
    start = time.monotonic()
    done = fleet_dump(env, "hangs", "--timeout", "1")
    assert time.monotonic() - start < 20
    assert lines(done.stdout)[0]["error"] == "no answer within 1 s"
    (call,) = lines((tmp_path / "calls.jsonl").read_text())
    # The whole process group is gone: the fake ssh and the child that kept its stdout open.
    pgid = int(call["pid"])  # type: ignore[arg-type]
    poll_until(lambda: live_in_group(pgid) == [], timeout=10)


def live_in_group(pgid: int) -> list[int]:
    """Pids of the group that are still running (a killed orphan may linger as a zombie of PID 1)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry))
    return live


def test_parallel_bounds_how_many_run_at_once(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "VNT_FAKESSH_DELAY": "0.5"}
    done = fleet_dump(env, *[f"good{i}" for i in range(6)], "--parallel", "2")
    assert done.returncode == 0
    starts = sorted(float(c["start"]) for c in lines((tmp_path / "calls.jsonl").read_text()))  # type: ignore[arg-type]
    # With 2 at a time and 0.5 s each, the 3rd and 5th starts wait for earlier hosts to finish.
    assert starts[2] - starts[0] >= 0.45 and starts[4] - starts[2] >= 0.45


def test_ssh_is_asked_in_batch_mode_with_the_users_config(env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host *\n")
    fleet_dump(env, "good1", "--ssh-config", str(cfg), "--ssh-option", "ControlMaster=auto",
               "--remote-command", "sudo -n vnettop dump --format json --read-only", "--timeout", "7")
    (call,) = lines((tmp_path / "calls.jsonl").read_text())
    assert call["argv"] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "-F", str(cfg),
                            "-o", "ControlMaster=auto", "--", "good1", "sudo -n vnettop dump --format json --read-only"]


def test_hosts_from_a_file_and_output_to_a_file(env: dict[str, str], tmp_path: Path) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# hypervisors\ngood1\n\n good2  # rack 2\n")
    out = tmp_path / "fleet.jsonl"
    done = fleet_dump(env, "-F", str(hostfile), "good3", "-o", str(out))
    assert done.returncode == 0 and done.stdout == ""
    entries, notes = read_fleet(str(out))
    assert [e.host for e in entries] == ["good3", "good1", "good2"] and notes == []
    assert entries[0].snapshot() == compute_node()


@pytest.mark.parametrize(("argv", "message"), [
    ([], "no hosts: name some, or give a host file with -F"),
    (["--", "-oProxyCommand=x"], "not a host name: '-oProxyCommand=x'"),
    (["good1", "--parallel", "0"], "--parallel must be from 1 to 1024, got 0"),
    (["good1", "--timeout", "0"], "--timeout must be more than 0 and at most 86400 seconds, got 0"),
    (["good1", "--remote-command", "vnettop 'dump"], "--remote-command is not a valid shell command: No closing quotation"),
    (["-F", "/nonexistent-vnt"], "cannot read host file /nonexistent-vnt: No such file or directory"),
])
def test_bad_arguments_are_one_line_and_ask_no_host(env: dict[str, str], tmp_path: Path, argv: list[str],
                                                    message: str) -> None:
    done = fleet_dump(env, *argv)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"vnettop: {message}\n")
    assert not (tmp_path / "calls.jsonl").exists()


def test_progress_is_shown_on_a_terminal_only(env: dict[str, str]) -> None:
    # On a pipe (as here) nothing but the fleet lines; on a terminal a progress line (checked in tmux
    # by the components tier with a real sshd).
    done = fleet_dump(env, "good1")
    assert "fleet:" not in done.stderr and "\r" not in done.stderr
