"""`vnettop lab up / status / down` for real: it builds the article's world, its processes outlive the
command, and `down` leaves the host exactly as it found it, also after a crash halfway through `up`.

Each test runs the lab under its own prefix (`kit.name("L")`, so it never meets a developer's real
`vntlab` or another test's lab) in subprocesses, as the CLI would, and checks with iproute2 and /proc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernelkit import KernelKit, run
from vnettop.actions.lab import CRASH_ENV, Lab, _no_snapshot
from vnettop.actions.mutator import Mutator

pytestmark = pytest.mark.kernel
REPO = str(Path(__file__).resolve().parents[2])


def lab_cli(prefix: str, action: str, journal: Path, crash_at: int | None = None) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from vnettop.actions.lab import cli_lab; "
            f"sys.exit(cli_lab({action!r}, {str(journal)!r}, prefix={prefix!r}))")
    # No Docker container in these labs (tests/components/test_lab_owners.py covers it): a host's own
    # dockerd answering would add a fourth port to the brq bridge these tests count.
    env = dict(os.environ, PYTHONPATH=REPO, DOCKER_HOST="unix:///run/vnt-lab-test-no-docker.sock",
               LIBVIRT_DEFAULT_URI="qemu+unix:///system?socket=/run/vnt-lab-test-no-libvirt.sock")
    env.pop(CRASH_ENV, None)
    if crash_at is not None:
        env[CRASH_ENV] = str(crash_at)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)


def host_state(prefix: str) -> dict[str, object]:
    """What the lab could leave behind: namespaces, root links (non-test ones, and ours), mounts,
    processes mentioning the prefix, its state file."""
    root_links = sorted(d["ifname"] for d in json.loads(run(["ip", "-j", "link", "show"]).stdout)
                        if not d["ifname"].startswith("vnt") or d["ifname"].startswith(prefix))
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if prefix.encode() in f.read():
                        procs.append(int(entry))
            except OSError:
                continue
    return {
        "netns": sorted(e for e in os.listdir("/run/netns") if e.startswith(prefix)),
        "ip netns": [line for line in run(["ip", "netns", "list"]).stdout.splitlines() if prefix in line],
        "root links": root_links,
        "mounts": [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if prefix in line],
        "processes": procs,
        "state file": os.path.exists(f"/run/vnettop/{prefix}.json"),
    }


@pytest.fixture
def prefix(kit: KernelKit) -> Iterator[str]:
    """A lab prefix owned by this test; whatever the lab left is torn down even if the test fails."""
    name = kit.name("L")
    try:
        yield name
    finally:
        Lab(name, out=lambda _line: None).down(Mutator(False, None, snapshot_provider=_no_snapshot))
        for entry in os.listdir("/run/netns"):
            if entry.startswith(name):
                kit.namespaces.append(entry)


def links(netns: str) -> dict[str, dict[str, object]]:
    return {d["ifname"]: d for d in json.loads(run(["ip", "-n", netns, "-j", "-d", "link", "show"]).stdout)}


def holders(dev: str, inode: int) -> list[str]:
    """comm of every process holding a tun fd attached to `dev` in namespace `inode` (from fdinfo)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != inode:
                continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") == "/dev/net/tun":
                    with open(f"/proc/{entry}/fdinfo/{fd}") as f:
                        if f"iff:\t{dev}\n" in f.read():
                            out.append(Path(f"/proc/{entry}/comm").read_text().strip())
        except OSError:
            continue
    return sorted(out)


def test_lab_up_status_down(prefix: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    before = host_state(prefix)
    up = lab_cli(prefix, "up", journal)
    assert up.returncode == 0, up.stdout + up.stderr
    # The command has exited: its processes live on, in the lab's namespaces.
    compute = f"{prefix}-compute"
    (qdhcp,) = [e for e in os.listdir("/run/netns") if e.startswith(f"{prefix}-qdhcp-")]
    ino = os.stat(f"/run/netns/{compute}").st_ino
    devs = links(compute)
    assert devs["br0"]["linkinfo"]["info_kind"] == "bridge"  # type: ignore[index]
    assert devs["tap0"]["master"] == "br0"
    (brq,) = [n for n in devs if n.startswith("brq")]
    ports = sorted(n for n, d in devs.items() if d.get("master") == brq)
    assert len(ports) == 3 and all(n.startswith("tap") and len(n) == 14 for n in ports)
    vm = "qemu-system-x86" if Path("/usr/bin/qemu-system-x86_64").exists() else "vntlab-holder"
    assert holders("tap0", ino) == [vm]
    assert holders("tun0", ino) == ["openvpn" if Path("/usr/sbin/openvpn").exists() else "vntlab-holder"]
    veth_out = next(n for n in ports if devs[n]["linkinfo"]["info_kind"] == "veth")  # type: ignore[index]
    inside = links(qdhcp)
    (ns_dev,) = [n for n in inside if n.startswith("ns-")]
    assert inside[ns_dev]["link_index"] == devs[veth_out]["ifindex"]
    addr = json.loads(run(["ip", "-n", qdhcp, "-j", "addr", "show", "dev", ns_dev]).stdout)[0]
    assert [a["local"] for a in addr["addr_info"] if a["family"] == "inet"] == ["10.0.0.2"]
    if Path("/usr/sbin/dnsmasq").exists():
        assert ":67 " in run(["ip", "netns", "exec", qdhcp, "ss", "-lun"]).stdout
    # Every change went through the mutator, hence the journal.
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(entries) >= 20 and all(e["outcome"] == "applied" for e in entries)
    assert entries[0]["ip_command"] == f"ip netns add {compute}"

    status = lab_cli(prefix, "status", journal)
    assert status.returncode == 0, status.stdout
    assert f"lab {prefix}: up" in status.stdout and "tap0" in status.stdout

    down = lab_cli(prefix, "down", journal)
    assert down.returncode == 0, down.stdout + down.stderr
    assert host_state(prefix) == before
    gone = lab_cli(prefix, "status", journal)
    assert gone.returncode == 3 and "nothing exists" in gone.stdout


@pytest.mark.parametrize("crash_at", [12, 28])
def test_down_after_a_crash_halfway_through_up(prefix: str, tmp_path: Path, crash_at: int) -> None:
    """12: between the two namespaces (no process yet); 28: after the first VM process started."""
    journal = tmp_path / "journal.jsonl"
    before = host_state(prefix)
    crashed = lab_cli(prefix, "up", journal, crash_at=crash_at)
    assert crashed.returncode == 70, crashed.stdout + crashed.stderr
    left = host_state(prefix)
    assert left["netns"] and left["state file"]
    assert bool(left["processes"]) == (crash_at > 27)
    status = lab_cli(prefix, "status", journal)
    assert status.returncode == 1 and "partly up" in status.stdout
    again = lab_cli(prefix, "up", journal)
    assert again.returncode == 1 and "lab down" in again.stdout  # refuses to build over leftovers
    down = lab_cli(prefix, "down", journal)
    assert down.returncode == 0, down.stdout + down.stderr
    assert host_state(prefix) == before


def one_stderr_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("where", ["missing-dir", "a-directory"])
def test_unwritable_journal_refuses_up_and_down_before_any_change(prefix: str, tmp_path: Path,
                                                                   where: str) -> None:
    """Root writes even a read-only file, so the journals here cannot be written by anyone: a path
    under a directory that cannot exist (/proc refuses new entries) and a directory in the file's place."""
    journal = Path("/proc/vnt-nonexistent/journal.jsonl") if where == "missing-dir" else tmp_path / "dir"
    if where == "a-directory":
        journal.mkdir()
    reason = "No such file or directory" if where == "missing-dir" else "Is a directory"
    before = host_state(prefix)
    up = lab_cli(prefix, "up", journal)
    assert up.returncode == 1, up.stdout + up.stderr
    line = one_stderr_line(up)
    assert f"cannot write the journal {journal}: {reason}; nothing was changed" in line
    assert up.stdout == "" and host_state(prefix) == before

    good = tmp_path / "journal.jsonl"
    assert lab_cli(prefix, "up", good).returncode == 0
    built = host_state(prefix)
    down = lab_cli(prefix, "down", journal)
    assert down.returncode == 1 and f"cannot write the journal {journal}" in one_stderr_line(down)
    assert host_state(prefix) == built, "down refused, so the lab is still whole"
    assert lab_cli(prefix, "status", good).returncode == 0
    assert lab_cli(prefix, "down", good).returncode == 0
    assert host_state(prefix) == before


def test_journal_failing_midway_undoes_up_and_still_removes_on_down(prefix: str, tmp_path: Path) -> None:
    """/dev/full opens fine and fails each write (ENOSPC), as a journal on a full disk does: `up` stops
    at its first change, removes what it made and exits 1; `down` removes the whole lab and exits 1;
    each says which journal and why on one line."""
    before = host_state(prefix)
    up = lab_cli(prefix, "up", Path("/dev/full"))
    assert up.returncode == 1, up.stdout + up.stderr
    assert "journal could not be written (/dev/full: No space left on device)" in one_stderr_line(up)
    assert "removing what was made" in up.stdout
    assert host_state(prefix) == before

    journal = tmp_path / "journal.jsonl"
    assert lab_cli(prefix, "up", journal).returncode == 0
    down = lab_cli(prefix, "down", Path("/dev/full"))
    assert down.returncode == 1, down.stdout + down.stderr
    assert "journal could not be written (/dev/full: No space left on device)" in one_stderr_line(down)
    assert host_state(prefix) == before, "down goes on removing the lab when the journal fails"


def test_lab_needs_write_access(prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VNETTOP_READ_ONLY", "1")
    code = ("import sys; from vnettop.actions.lab import cli_lab; "
            f"sys.exit(cli_lab('up', None, prefix={prefix!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO), timeout=60)
    assert proc.returncode == 1 and "VNETTOP_READ_ONLY" in proc.stderr
    assert not [e for e in os.listdir("/run/netns") if e.startswith(prefix)]


def test_lab_with_holder_processes_only(prefix: str) -> None:
    """Where qemu / openvpn are missing the lab still holds every device, with processes that say
    what they are (comm and argv `vntlab-holder`), and the tun holder has its UDP socket."""
    lines: list[str] = []
    lab = Lab(prefix, out=lines.append, programs=False)
    mutator = Mutator(False, None, snapshot_provider=_no_snapshot)
    before = host_state(prefix)
    assert lab.up(mutator) == 0, "\n".join(lines)
    ino = os.stat(f"/run/netns/{prefix}-compute").st_ino
    assert holders("tap0", ino) == ["vntlab-holder"]
    assert holders("tun0", ino) == ["vntlab-holder"]
    assert ":9112 " in run(["ip", "netns", "exec", f"{prefix}-compute", "ss", "-lun"]).stdout
    assert sorted(lab.processes().values()) == ["vntlab-holder"] * 4
    assert lab.status() == 0
    assert lab.down(mutator) == 0
    assert host_state(prefix) == before
