"""`lab up` with libvirt answering makes the lab's VMs transient libvirt domains (a private libvirtd at
qemu:///system), vnettop names each VM tap's owner from the domain's runtime XML, and `lab down` removes
the domains, their runtime files, the taps and the namespaces. Without libvirt, the lab is today's."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.base import run, tag
from tests.components.libvirt import URI, Libvirt
from tests.kernel.test_lab import REPO, host_state
from vnettop.actions.lab import CRASH_ENV, Lab, _no_snapshot
from vnettop.actions.mutator import Mutator
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Snapshot

pytestmark = pytest.mark.kernel
ROLES = ("vm1", "vm2", "vm3")


def _runtime_files(prefix: str) -> list[str]:
    return sorted(glob.glob(f"/run/libvirt/qemu/{prefix}-*"))


def _collect() -> Snapshot:
    c = LiveCollector(sources=make_sources("/"))
    try:
        return c.collect()
    finally:
        c.close()


@pytest.fixture
def lab(libvirt: Libvirt, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Lab, list[str]]]:
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", URI)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")  # no container: not the point
    lines: list[str] = []
    lab = Lab(f"vnt{tag()}L", state_dir=str(tmp_path / "state"), out=lines.append, programs=False, owners=True)
    try:
        yield lab, lines
    finally:
        lab.down(Mutator(False, None, snapshot_provider=_no_snapshot))


def test_lab_up_makes_its_vms_libvirt_domains_named_on_their_taps(lab: tuple[Lab, list[str]],
                                                                 libvirt: Libvirt) -> None:
    the_lab, lines = lab
    before = host_state(the_lab.prefix)
    files_before = _runtime_files(the_lab.prefix)
    mutator = Mutator(False, None, snapshot_provider=_no_snapshot)
    assert the_lab.up(mutator) == 0, "\n".join(lines)
    names = [f"{the_lab.prefix}-{role}" for role in ROLES]
    assert sorted(n for n in libvirt.virsh("list", "--name").split() if n.startswith(the_lab.prefix)) == names
    assert the_lab.status() == 0, "\n".join(lines)
    assert sum(line.startswith("domain ") for line in lines) == 3, lines

    snap = _collect()
    (compute,) = [n for n in snap.namespaces if f"{the_lab.prefix}-compute" in n.names]
    brq = f"brq{the_lab._load()['network'][:11]}"
    assert the_lab._load().get("root_taps") == []  # every tap is back in the compute namespace
    taps: dict[str, str] = {}
    for role in ROLES:
        (named,) = [o for o in snap.owners or () if o.kind == "vm" and o.name == role]
        taps[role] = dict(named.details)["taps"]
    assert taps["vm1"] == "tap0" and all(taps[r].startswith("tap") and len(taps[r]) == 14 for r in ROLES[1:])
    for role in ROLES:
        (tap,) = [ln for ln in snap.links if ln.netns == compute.inode and ln.name == taps[role]]
        assert tap.master is not None and tap.master.name == ("br0" if role == "vm1" else brq)
        vms = [o for o in snap.owners_of_link(tap.key) if o.kind == "vm"]
        assert len(vms) == 1, (role, vms, [e.message for e in snap.errors])
        vm = vms[0]
        assert (vm.name, vm.runtime, vm.exact) == (role, "libvirt", True)
        assert vm.source == f"/run/libvirt/qemu/{the_lab.prefix}-{role}.xml"
        assert dict(vm.details)["domain"] == f"{the_lab.prefix}-{role}"
        details = dict(vm.details)
        if role != "vm1":  # the Neutron port whose uuid the Nova-style tap name carries
            assert details["ports"].startswith(taps[role][3:])
        # libvirt's qemu lives in the root namespace and its tap in the compute node's: the tap is
        # joined through qemu's own fd on it (the command-line source, merged by the domain's uuid)
        assert details["also"] == "cmdline" and tap.tun is not None
        assert vm.pids == tuple(h.pid for h in tap.tun.known_holders) and len(vm.pids) == 1

    assert the_lab.down(mutator) == 0, "\n".join(lines)
    assert [n for n in libvirt.virsh("list", "--all", "--name").split() if n.startswith(the_lab.prefix)] == []
    assert _runtime_files(the_lab.prefix) == files_before == []
    assert host_state(the_lab.prefix) == before


def test_libvirt_not_answering_is_one_line_and_the_lab_keeps_its_processes(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", f"qemu+unix:///system?socket={tmp_path / 'nobody.sock'}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    lines: list[str] = []
    lab = Lab(f"vnt{tag()}L", state_dir=str(tmp_path / "state"), out=lines.append, programs=False, owners=True)
    mutator = Mutator(False, None, snapshot_provider=_no_snapshot)
    try:
        assert lab.up(mutator) == 0, "\n".join(lines)
        notes = [line for line in lines if "VMs as qemu processes" in line]
        assert len(notes) == 1 and "libvirt does not answer" in notes[0], lines
        assert "libvirt_domains" not in lab._load()
        holders = [line for line in lines if "holder process" in line]
        assert len(holders) == 4, lines  # vm1, openvpn, vm2, vm3
        assert _runtime_files(lab.prefix) == []
    finally:
        assert lab.down(mutator) == 0


def test_down_finds_the_domains_without_the_state_file(lab: tuple[Lab, list[str]], libvirt: Libvirt) -> None:
    the_lab, lines = lab
    before = host_state(the_lab.prefix)
    mutator = Mutator(False, None, snapshot_provider=_no_snapshot)
    assert the_lab.up(mutator) == 0, "\n".join(lines)
    assert len([f for f in _runtime_files(the_lab.prefix) if f.endswith(".xml")]) == 3
    os.unlink(the_lab.state_path)  # as after a crash that lost it: `down` sweeps by the prefix
    assert the_lab.down(mutator) == 0, "\n".join(lines)
    assert sum(line.startswith("  - virsh destroy") for line in lines) == 3, lines
    assert [n for n in libvirt.virsh("list", "--all", "--name").split() if n.startswith(the_lab.prefix)] == []
    assert _runtime_files(the_lab.prefix) == []
    assert host_state(the_lab.prefix) == before


def test_a_crash_with_a_tap_in_the_root_namespace_is_cleaned_by_down(libvirt: Libvirt, tmp_path: Path) -> None:
    """`up` dies after `virsh create` of vm1, before its tap goes back into the compute namespace: `down`
    (another process) destroys the domain and deletes the tap left in the root namespace."""
    prefix = f"vnt{tag()}L"
    lab = Lab(prefix, state_dir=str(tmp_path / "state"), programs=False, owners=True)
    steps = len(lab._plans("c", "q", "brqx", "tapd", "nsd", ["tapa", "tapb"]))
    before = host_state(prefix)
    env = dict(os.environ, PYTHONPATH=REPO, LIBVIRT_DEFAULT_URI=URI, DOCKER_HOST=f"unix://{tmp_path / 'no.sock'}")
    code = ("import sys; from vnettop.actions.lab import Lab, _no_snapshot; from vnettop.actions.mutator import "
            f"Mutator; lab = Lab({prefix!r}, state_dir={str(tmp_path / 'state')!r}, programs=False, owners=True); "
            "sys.exit(lab.up(Mutator(False, None, snapshot_provider=_no_snapshot)))")
    try:
        # step steps+1 moves vm1's tap to the root namespace; steps+2 would move it back
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                              env=dict(env, **{CRASH_ENV: str(steps + 2)}), timeout=300)
        assert proc.returncode == 70, proc.stdout + proc.stderr
        assert "tap0" in run(["ip", "-o", "link", "show", "dev", "tap0"]).stdout
        assert f"{prefix}-vm1" in libvirt.virsh("list", "--name").split()
    finally:
        lines: list[str] = []
        lab = Lab(prefix, state_dir=str(tmp_path / "state"), out=lines.append, programs=False, owners=True)
        code_down = lab.down(Mutator(False, None, snapshot_provider=_no_snapshot))
    assert code_down == 0, lines
    assert [ln for ln in lines if ln.startswith("  - ip link del") and "tap0" in ln], lines
    assert [n for n in libvirt.virsh("list", "--all", "--name").split() if n.startswith(prefix)] == []
    assert _runtime_files(prefix) == []
    assert host_state(prefix) == before
