"""The `proxmox` source over a recorded node (tests/data/sources/proxmox): guests named exactly by their
configuration, devices named only by pattern, garbage configurations, and the change fd."""

from __future__ import annotations

import dataclasses
import select
from pathlib import Path

import pytest

from tests.sources_fixtures import ROOT, fixture_root
from vnettop.collect.sources import scope
from vnettop.collect.sources.enrich import apply
from vnettop.collect.sources.proxmox import BadConf, ProxmoxSource, device, parse_conf
from vnettop.collect.sources.qemu_cmdline import QemuCmdline
from vnettop.model import Host, Link, LinkRef, Namespace, Owner, Process, Snapshot, TunHolder, TunInfo

CT_NS = 4026532500


def _link(ifindex: int, name: str, kind: str = "veth", netns: int = ROOT, **kw: object) -> Link:
    return Link(netns, ifindex, name, kind, None, 1500, True, "up", **kw)  # type: ignore[arg-type]


def node() -> Snapshot:
    """A node running VM 100 (net0 firewalled, net1; a tap100i2 only a snapshot names), container 101,
    VM 102 (garbage configuration), VM 103 (no configuration) and devices that only look alike."""
    tun = TunInfo("tap", False, False, True, False, holders=(TunHolder(5100, "kvm", (30, 31)),))
    links = (
        _link(1, "lo", "loopback"),
        _link(2, "vmbr0", "bridge"),
        _link(10, "tap100i0", "tap", tun=tun),
        _link(11, "fwbr100i0", "bridge"),
        _link(12, "fwpr100p0", peer=LinkRef(ROOT, 13, "fwln100i0")),
        _link(13, "fwln100i0", peer=LinkRef(ROOT, 12, "fwpr100p0")),
        _link(14, "tap100i1", "tap", tun=tun),
        _link(15, "tap100i2", "tap"),
        _link(20, "veth101i0", peer=LinkRef(CT_NS, 2, "eth0")),
        _link(30, "tap102i0", "tap"),
        _link(40, "tap103i0", "tap"),
        _link(41, "fwln103o0", "openvswitch"),
        _link(50, "tap10i0", "tap"),  # VMIDs start at 100
        _link(51, "vethabc", "veth"),
        _link(52, "fwbr100", "bridge"),
        _link(2, "eth0", netns=CT_NS, peer=LinkRef(ROOT, 20, "veth101i0")),
    )
    namespaces = (Namespace(ROOT, (), True, (1, 5100)), Namespace(CT_NS, (), False, (5200,)))
    return Snapshot(Host("pve1", "6.8.12-4-pve"), namespaces, links)


def _read(root: Path) -> tuple[list[Owner], list[str]]:
    source = ProxmoxSource(str(root))
    try:
        part = source.read(node())
    finally:
        source.close()
    assert all(e.scope == scope("proxmox") for e in part.errors)
    return list(part.owners or ()), [e.message for e in part.errors]


def _names(snap: Snapshot, owner: Owner) -> list[str]:
    return sorted(link.name for key in owner.links if (link := snap.link(*key)) is not None)


def test_a_vm_is_named_exactly_by_its_configuration(tmp_path: Path) -> None:
    owners, _ = _read(fixture_root(tmp_path, "proxmox"))
    vm = next(o for o in owners if o.id == "100" and o.exact)
    assert (vm.kind, vm.name, vm.runtime, vm.source) == ("vm", "web-1", "proxmox", "/etc/pve/qemu-server/100.conf")
    assert _names(node(), vm) == ["fwbr100i0", "fwln100i0", "fwpr100p0", "tap100i0", "tap100i1"]
    assert vm.pids == (5100,)  # its kvm holds the taps
    details = dict(vm.details)
    assert details["net0"] == "bridge=vmbr0,firewall=1,mac=BC:24:11:2E:5A:1F,model=virtio,tag=10"
    assert details["net1"] == "bridge=vmbr1,mac=BC:24:11:2E:5A:20,model=e1000"
    assert details["vmid"] == "100"


def test_a_device_the_running_configuration_does_not_name_is_only_a_pattern(tmp_path: Path) -> None:
    """tap100i2: only the snapshot section [before-upgrade] has a net2; as one entry after the merge."""
    owners, _ = _read(fixture_root(tmp_path, "proxmox"))
    loose = next(o for o in owners if o.id == "100" and not o.exact)
    assert loose.source == "name pattern" and _names(node(), loose) == ["tap100i2"]
    snap = apply(node(), [("proxmox", ProxmoxSource(str(fixture_root(tmp_path, "proxmox"))).read(node()))])
    assert snap.owners is not None
    merged = [o for o in snap.owners if o.id == "100"]
    assert len(merged) == 1 and merged[0].exact and merged[0].name == "web-1"
    assert dict(merged[0].details)["also"] == "name pattern" and (ROOT, 15) in merged[0].links


def test_a_container_brings_its_end_and_its_namespace(tmp_path: Path) -> None:
    owners, _ = _read(fixture_root(tmp_path, "proxmox"))
    ct = next(o for o in owners if o.id == "101")
    assert (ct.kind, ct.name, ct.exact, ct.source) == ("container", "ct-1", True, "/etc/pve/lxc/101.conf")
    assert ct.links == ((ROOT, 20), (CT_NS, 2)) and ct.namespaces == (CT_NS,)
    assert dict(ct.details)["net0"] == "bridge=vmbr0,firewall=1,ip=dhcp,mac=BC:24:11:7A:10:01,name=eth0,type=veth"


def test_a_garbage_configuration_is_one_error_and_the_names_still_count(tmp_path: Path) -> None:
    owners, errors = _read(fixture_root(tmp_path, "proxmox"))
    assert errors == ["/etc/pve/qemu-server/102.conf: line 1 is not `key: value`; guest 102 is shown by its "
                      "device names only"]
    g102 = next(o for o in owners if o.id == "102")
    assert (g102.name, g102.exact, g102.source, g102.kind) == ("VMID 102", False, "name pattern", "vm")
    assert {o.id for o in owners} == {"100", "101", "102", "103"}  # the others intact


def test_no_configuration_at_all_is_a_pattern_owner(tmp_path: Path) -> None:
    owners, errors = _read(tmp_path / "not-a-pve-node")
    assert errors == []
    assert {(o.id, o.kind, o.name, o.exact) for o in owners} == {
        ("100", "vm", "VMID 100", False), ("101", "container", "VMID 101", False),
        ("102", "vm", "VMID 102", False), ("103", "vm", "VMID 103", False)}
    g103 = next(o for o in owners if o.id == "103")
    assert _names(node(), g103) == ["fwln103o0", "tap103i0"]


def test_a_binary_configuration_is_an_error(tmp_path: Path) -> None:
    root = fixture_root(tmp_path, "proxmox")
    (root / "etc/pve/nodes/pve1/lxc/101.conf").write_bytes(b"hostname: \xff\xfe\n")
    owners, errors = _read(root)
    assert "/etc/pve/lxc/101.conf: not UTF-8 text; guest 101 is shown by its device names only" in errors
    assert next(o for o in owners if o.id == "101").exact is False


@pytest.mark.parametrize(("name", "expected"), [
    ("tap100i0", ("tap", 100, 0)), ("veth123456789i12", ("veth", 123456789, 12)), ("fwpr100p3", ("fwpr", 100, 3)),
    ("fwln100i0", ("fwln", 100, 0)), ("fwln100o0", ("fwln-o", 100, 0)), ("fwbr999i1", ("fwbr", 999, 1)),
    ("tap99i0", None), ("tap0100i0", None), ("tap100", None), ("fwpr100i0", None), ("tap100i0x", None),
])
def test_device_names(name: str, expected: tuple[str, int, int] | None) -> None:
    assert device(name) == expected


def test_conf_forms() -> None:
    guest = parse_conf("#desc: with a colon\nname: a\nnet0: e1000=AA:BB:CC:DD:EE:FF,bridge=vmbr0\n"
                       "net4: model=virtio,macaddr=11:22:33:44:55:66,bridge=vmbr2,queues=4\n"
                       "[PENDING]\nnet5: virtio,bridge=x\n", 100, "vm")
    assert guest.name == "a" and sorted(guest.nets) == [0, 4]
    assert guest.nets[0] == {"model": "e1000", "mac": "AA:BB:CC:DD:EE:FF", "bridge": "vmbr0"}
    assert guest.nets[4]["mac"] == "11:22:33:44:55:66" and guest.nets[4]["queues"] == "4"
    with pytest.raises(BadConf):
        parse_conf("name web\n", 100, "vm")


def test_a_new_configuration_fires_the_fd(tmp_path: Path) -> None:
    root = fixture_root(tmp_path, "proxmox")
    source = ProxmoxSource(str(root))
    try:
        fd = source.fileno()
        assert fd is not None and not select.select([fd], [], [], 0)[0]
        (root / "etc/pve/nodes/pve1/qemu-server/103.conf").write_text("name: late\nnet0: virtio=AA:BB:CC:DD:EE:01\n")
        assert select.select([fd], [], [], 2)[0]
        part = source.read(node())
        assert any(o.id == "103" and o.name == "late" and o.exact for o in part.owners or ())
        assert not select.select([fd], [], [], 0)[0]
    finally:
        source.close()


#: What `qm showcmd 100` prints for such a VM (Proxmox's qemu opens the tap itself, `ifname=`).
SHOWCMD = ("/usr/bin/kvm -id 100 -name web-1,debug-threads=on -no-shutdown -pidfile /var/run/qemu-server/100.pid "
           "-smbios type=1,uuid=8d4c8f1e-3f5a-4b7e-9c2d-1e0f9a8b7c6d -m 2048 "
           "-netdev type=tap,id=net0,ifname=tap100i0,script=/var/lib/qemu-server/pve-bridge,"
           "downscript=/var/lib/qemu-server/pve-bridgedown,vhost=on "
           "-device virtio-net-pci,mac=BC:24:11:2E:5A:1F,netdev=net0,bus=pci.0,addr=0x12,id=net0 "
           "-netdev type=tap,id=net1,ifname=tap100i1,script=/var/lib/qemu-server/pve-bridge,"
           "downscript=/var/lib/qemu-server/pve-bridgedown "
           "-device e1000,mac=BC:24:11:2E:5A:20,netdev=net1,bus=pci.0,addr=0x13,id=net1 -machine type=pc+pve0")


def test_proxmoxs_qemu_merges_with_its_guest_by_vmid(tmp_path: Path) -> None:
    base = node()
    root_ns = dataclasses.replace(base.namespaces[0], processes=(Process(5100, "kvm", SHOWCMD, "root"),))
    base = dataclasses.replace(base, namespaces=(root_ns, *base.namespaces[1:]))
    qemu = QemuCmdline(str(tmp_path)).read(base)
    assert [(o.id, o.name, dict(o.details)["netdev"]) for o in qemu.owners or ()] == [
        ("100", "web-1", "net0=tap100i0 (vhost), net1=tap100i1")]
    pve = ProxmoxSource(str(fixture_root(tmp_path, "proxmox")))
    snap = apply(base, [("proxmox", pve.read(base)), ("qemu_cmdline", qemu)])
    pve.close()
    vms = [o for o in snap.owners or () if o.id == "100"]
    assert len(vms) == 1 and vms[0].exact and vms[0].runtime == "proxmox"
    assert dict(vms[0].details)["also"] in ("cmdline, name pattern", "name pattern, cmdline")
